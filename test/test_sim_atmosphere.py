"""Atmosphere models (qsat_pat/sim/atmosphere.py).

Must show: turbulence tilt variance vs the Fried-parameter formula for the aperture,
one-axis Z-tilt 0.182 (D/r0)^(5/3) (lambda/D)^2 (Noll 1976), with NanoBob eq. (4)-(5) r0
scaling; scintillation and cloud statistics vs their stated parameters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.core.errors import SimulationError
from qsat_pat.sim.atmosphere import (
    CloudConfig,
    CloudProcess,
    Scintillation,
    ScintillationConfig,
    SkyConfig,
    TurbulenceConfig,
    TurbulenceTilt,
    sky_background_e,
    tilt_psd_displacement,
    z_tilt_variance_rad2,
)

D_M = 1.0
LAMBDA_M = 850e-9


@pytest.mark.parametrize("transverse", [False, True])
@pytest.mark.parametrize("aperture_m, r0_m", [(1.0, 0.2), (0.6, 0.1), (0.15, 0.05)])
def test_tilt_spectrum_integrates_to_the_noll_z_tilt_variance(transverse, aperture_m, r0_m):
    k = np.geomspace(1e-11, 300.0 / aperture_m, 700)
    w = tilt_psd_displacement(k, aperture_m, r0_m, LAMBDA_M, transverse)
    var = 2.0 * np.trapezoid(w, k)
    assert var == pytest.approx(float(z_tilt_variance_rad2(aperture_m, r0_m, LAMBDA_M)), rel=0.02)


def test_tilt_spectrum_has_the_frozen_flow_asymptotes():
    """W ~ k^(-2/3) well below 1/D and ~ k^(-17/3) well above (Tyler 1994)."""
    lo = tilt_psd_displacement([1e-4, 2e-4], D_M, 0.2, LAMBDA_M)
    assert math.log(lo[1] / lo[0]) / math.log(2.0) == pytest.approx(-2.0 / 3.0, abs=0.03)
    hi = tilt_psd_displacement([20.0, 40.0], D_M, 0.2, LAMBDA_M)
    assert math.log(hi[1] / hi[0]) / math.log(2.0) == pytest.approx(-17.0 / 3.0, abs=0.35)


def test_synthesised_tilt_ensemble_variance_matches_the_formula_within_sampling_error():
    cfg = TurbulenceConfig(grid_points=1 << 14)
    ratios = []
    for seed in range(60):
        tt = TurbulenceTilt(cfg, D_M, LAMBDA_M, np.random.default_rng(seed))
        x = tt.sample_unit(np.random.default_rng(1000 + seed).uniform(0.0, 1e5, 400))
        ratios.append(np.mean(x**2, axis=1) / z_tilt_variance_rad2(D_M, 1.0, LAMBDA_M))
    ratios = np.array(ratios)
    mean = ratios.mean(axis=0)
    sem = ratios.std(axis=0, ddof=1) / math.sqrt(len(ratios))
    assert np.all(np.abs(mean - 1.0) < 3.0 * sem + 0.02), (mean, sem)


def test_step_scales_with_zenith_angle_and_wavelength_as_nanobob_eq_4_5():
    cfg = TurbulenceConfig(r0_zenith_m=0.2, r0_wavelength_m=810e-9, grid_points=1 << 12)
    tt = TurbulenceTilt(cfg, D_M, LAMBDA_M, np.random.default_rng(0))
    s0 = tt.s_m
    tt.step(1e-3, math.radians(60.0))
    assert tt.r0_m == pytest.approx(0.2 * (850.0 / 810.0) ** 1.2 * math.cos(math.radians(60.0)) ** 0.6)
    # same screen point, two zenith angles: amplitude ~ r0^(-5/6), i.e. ~ cos(zeta)^(-1/2)
    tt.s_m = s0
    a = tt.step(1e-9, 0.0)
    tt.s_m = s0
    b = tt.step(1e-9, math.radians(60.0))
    assert np.linalg.norm(b) / np.linalg.norm(a) == pytest.approx(math.cos(math.radians(60.0)) ** -0.5, rel=1e-3)


def test_time_series_rms_and_correlation_time_follow_wind_speed():
    def series(wind, seed):
        cfg = TurbulenceConfig(wind_speed_mps=wind, layer_altitude_m=0.0, grid_points=1 << 15)
        tt = TurbulenceTilt(cfg, D_M, LAMBDA_M, np.random.default_rng(seed))
        return np.array([tt.step(1e-3, 0.0) for _ in range(4000)])[:, 0]

    def corr_time(x):
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[x.size - 1:]
        return np.argmax(ac < ac[0] / 2) * 1e-3

    slow = [corr_time(series(5.0, s)) for s in range(4)]
    fast = [corr_time(series(20.0, s)) for s in range(4)]
    # frozen flow: the time scale is D / v (4x the wind -> 1/4 the time), within sampling scatter
    assert np.median(slow) / np.median(fast) == pytest.approx(4.0, rel=0.35)


def test_scintillation_is_lognormal_with_the_stated_index_and_unit_mean():
    sc = Scintillation(ScintillationConfig(index_zenith=0.2, correlation_time_s=1e-3), np.random.default_rng(2))
    zen = math.radians(45.0)
    x = np.array([sc.step(1e-3, zen) for _ in range(60000)])
    index = 0.2 / math.cos(zen) ** (11 / 6)
    assert x.mean() == pytest.approx(1.0, abs=0.02)
    assert x.var() / x.mean() ** 2 == pytest.approx(index, rel=0.1)
    assert np.std(np.log(x)) == pytest.approx(math.sqrt(math.log1p(index)), rel=0.05)


def test_cloud_blockage_fraction_and_dwell_times_follow_the_markov_parameters():
    cfg = CloudConfig(enabled=True, mean_clear_s=20.0, mean_blocked_s=4.0, blocked_loss_db=30.0)
    cl = CloudProcess(cfg, np.random.default_rng(4))
    tr = np.array([cl.step(0.05) for _ in range(200000)])  # 10000 s
    blocked = tr < 1.0
    assert set(np.unique(tr)) <= {1.0, 1e-3}
    assert blocked.mean() == pytest.approx(4.0 / 24.0, abs=0.03)
    edges = np.flatnonzero(np.diff(blocked.astype(int)) == 1)
    assert len(edges) == pytest.approx(10000.0 / 24.0, rel=0.2)
    assert CloudProcess(CloudConfig(enabled=False), np.random.default_rng(0)).step(1.0) == 1.0


def test_sky_background_night_and_day():
    common = dict(wavelength_m=810e-9, aperture_m=1.0, pixel_ifov_rad=10e-6, filter_bandwidth_nm=10.0,
                  efficiency=1.0, exposure_s=1.0)
    night = sky_background_e(SkyConfig(daytime=False, night_radiance_ph=2.5e11), **common)
    # NanoBob §4.1: 2.5e11 photons /(s sr m^2) in 10 nm -> x pi/4 m^2 x 1e-10 sr
    assert night == pytest.approx(2.5e11 * math.pi / 4 * 1e-10, rel=1e-9)
    day = sky_background_e(SkyConfig(daytime=True, day_radiance_w=0.03), **common)
    assert day / night > 1e5


def test_bad_input():
    with pytest.raises(SimulationError):
        TurbulenceTilt(TurbulenceConfig(), D_M, LAMBDA_M, rng=None)
    tt = TurbulenceTilt(TurbulenceConfig(grid_points=1024), D_M, LAMBDA_M, np.random.default_rng(0))
    with pytest.raises(SimulationError, match="dt_s"):
        tt.step(0.0, 0.1)
    with pytest.raises(SimulationError, match="dt_s"):
        CloudProcess(CloudConfig(), np.random.default_rng(0)).step(float("nan"))
