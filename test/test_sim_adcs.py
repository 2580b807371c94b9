"""Basilisk spacecraft attitude plant (qsat_pat/sim/adcs.py).

Must show: the attitude error in steady state stays within the star-tracker noise
(NanoBob §3: 50 urad 1-sigma cross-bore), also while slewing at NanoBob §4.5's 12.6 mrad/s.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("Basilisk", reason="Basilisk (bsk==2.12.1) is not installed in this venv")

from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.sim.adcs import (
    AdcsConfig,
    BasiliskAdcs,
    dcm_to_mrp,
    dcm_to_quaternion_wxyz,
    mrp_to_dcm,
    pointing_target,
)

ONE_URAD = 1e-6
NANOBOB_ST_SIGMA_RAD = 50e-6  # NanoBob §3, 1-sigma cross-bore


def _run(cfg, target_fn, seconds, seed=3):
    adcs = BasiliskAdcs(cfg, np.random.default_rng(seed), initial_target=target_fn(0.0))
    err, est = [], []
    for _ in range(round(seconds / cfg.fsw_period_s)):
        s = adcs.step(cfg.fsw_period_s, target_fn(adcs.t_s))
        err.append(s.boresight_error_xy_rad)
        est.append(s.attitude_error_est_rad)
    return adcs, np.array(err), np.array(est)


def _fixed(t_s):
    return pointing_target([0.3, -0.2, 0.93], secondary_n=[1.0, 0.0, 0.0])


def _slewing(rate_radps):
    def target(t_s):
        b = np.array([0.0, math.sin(rate_radps * t_s), math.cos(rate_radps * t_s)])
        bd = rate_radps * np.array([0.0, math.cos(rate_radps * t_s), -math.sin(rate_radps * t_s)])
        return pointing_target(b, bd, [1.0, 0.0, 0.0], -rate_radps**2 * b)
    return target


def test_steady_state_pointing_error_is_within_the_star_tracker_noise():
    cfg = AdcsConfig(star_tracker="nanobob")
    _, err, est = _run(cfg, _fixed, 50.0)
    steady = err[100:]  # after 10 s
    rms_axis = np.sqrt(np.mean(steady**2, axis=0))
    assert np.all(rms_axis < NANOBOB_ST_SIGMA_RAD), rms_axis
    # the controller filters the knowledge noise but cannot beat it by orders of magnitude
    assert np.all(rms_axis > 0.5 * ONE_URAD)
    # what the ADCS believes its error is: the knowledge noise (two axes, Rayleigh mean ~1.25 sigma)
    assert np.mean(est[100:]) == pytest.approx(math.sqrt(math.pi / 2) * NANOBOB_ST_SIGMA_RAD, rel=0.25)


def test_tracking_the_nanobob_slew_rate_keeps_the_error_within_the_star_tracker_noise():
    cfg = AdcsConfig(star_tracker="nanobob")
    _, err, _ = _run(cfg, _slewing(12.6e-3), 40.0)  # NanoBob §4.5: 12.6 mrad/s at 550 km overhead
    steady = err[100:]
    assert np.all(np.abs(np.mean(steady, axis=0)) < 20 * ONE_URAD)  # no lag: reference rate feed-forward
    assert np.all(np.sqrt(np.mean(steady**2, axis=0)) < NANOBOB_ST_SIGMA_RAD)


def test_vector_coarse_knowledge_gives_sub_1p5_degree_pointing():
    cfg = AdcsConfig(star_tracker="vector")
    _, err, _ = _run(cfg, _fixed, 30.0)
    total = np.hypot(err[100:, 0], err[100:, 1])
    assert np.max(total) < math.radians(1.5)  # seed 003 §2.1: sub-1.5 deg coarse pointing
    assert np.sqrt(np.mean(total**2)) > 20 * ONE_URAD  # and clearly worse than the star tracker


def test_a_large_slew_converges_and_the_wheels_absorb_the_momentum():
    cfg = AdcsConfig()
    adcs = BasiliskAdcs(cfg, np.random.default_rng(0), initial_target=_fixed(0.0))
    target = pointing_target([0.0, 0.0, 1.0], secondary_n=[1.0, 0.0, 0.0])
    s = adcs.step(60.0, target)
    assert s.boresight_error_true_rad < 100 * ONE_URAD
    assert not np.allclose(s.wheel_speeds_radps, s.wheel_speeds_radps[0])  # the wheels moved differently
    assert np.all(np.abs(s.wheel_speeds_radps) < 6000 * 2 * math.pi / 60)


def test_same_seed_same_run_and_different_seed_differs():
    a = _run(AdcsConfig(), _fixed, 2.0, seed=11)[1]
    b = _run(AdcsConfig(), _fixed, 2.0, seed=11)[1]
    c = _run(AdcsConfig(), _fixed, 2.0, seed=12)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_attitude_maths_round_trip():
    rng = np.random.default_rng(5)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        sigma = q[1:] / (1 + q[0]) if q[0] >= 0 else -q[1:] / (1 - q[0])
        c = mrp_to_dcm(sigma)
        np.testing.assert_allclose(c @ c.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(dcm_to_mrp(c), sigma, atol=1e-12)
        w, x, y, z = dcm_to_quaternion_wxyz(c)
        # Hamilton rotation matrix of (w, x, y, z) maps body to inertial: [NB] = [BN]^T
        r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
        np.testing.assert_allclose(r, c.T, atol=1e-12)
    t = pointing_target([1.0, 2.0, 2.0], secondary_n=[0.0, 0.0, 1.0])
    np.testing.assert_allclose(t.dcm_rn[2], np.array([1.0, 2.0, 2.0]) / 3.0, atol=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(SimulationError, match="Generator"):
        BasiliskAdcs(AdcsConfig(), rng=None)
    adcs = BasiliskAdcs(AdcsConfig(), np.random.default_rng(0))
    with pytest.raises(SimulationError, match="multiple of fsw_period_s"):
        adcs.step(0.05)
    with pytest.raises(SimulationError, match="parallel"):
        pointing_target([0.0, 0.0, 1.0], secondary_n=[0.0, 0.0, 2.0])
    with pytest.raises(ConfigError, match="multiple of"):
        AdcsConfig(fsw_period_s=0.015, dynamics_period_s=0.01)


def test_los_tip_tilt_of_the_beacon_in_body_axes():
    target = pointing_target([0.0, 0.0, 1.0], secondary_n=[0.0, 1.0, 0.0])  # x_R = y x z = +x
    adcs = BasiliskAdcs(AdcsConfig(), np.random.default_rng(0), initial_target=target)
    # the body starts on the target: +z body = +z inertial, x body = x inertial
    tip, tilt = adcs.los_tip_tilt_rad([1e-4, -2e-4, 1.0])
    assert (tip, tilt) == pytest.approx((1e-4, -2e-4), abs=1e-10)
