"""Point-ahead: seed 004 eq. (1)-(8), light-time reference, default model, space terminal."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.core.ephemeris import Ephemeris, EphemerisConfig, load_tle_file, make_tle
from qsat_pat.core.errors import EphemerisError
from qsat_pat.core.pointahead import (
    PointAheadCameraConfig,
    fine_camera_offset,
    point_ahead_seed004,
    point_ahead_seed004_fd,
    space_point_ahead,
)

DATA = Path(__file__).resolve().parent / "data"
URAD = 1e-6
NGARI = {"site_lat_deg": 32.32585, "site_lon_deg": 80.02616, "site_alt_m": 5047.0}  # seed 004 §2.2


@pytest.fixture(scope="module")
def leo_passes():
    """Six days of passes of a 500 km sun-synchronous orbit (Micius-like) over Ngari."""
    tle = load_tle_file(DATA / "leo500_sso.tle")
    eph = Ephemeris(tle, EphemerisConfig(**NGARI))
    passes = eph.passes(tle.epoch_unix_s, tle.epoch_unix_s + 6 * 86400.0)
    return eph, passes


def _pa_vector_diff(a, b, el_rad):
    return np.hypot((a.point_ahead_az_rad - b.point_ahead_az_rad) * np.cos(el_rad),
                    a.point_ahead_el_rad - b.point_ahead_el_rad)


def test_point_ahead_bounded_by_53_urad_and_near_50_at_zenith(leo_passes):
    """seed 004 §2.1: |theta_PA| <= 53 urad for LEO; max at the overhead point, ~50 urad at ~500 km."""
    eph, passes = leo_passes
    assert len(passes) >= 12
    peak = []
    for p in passes:
        tr = eph.track(np.arange(p.aos_unix_s, p.los_unix_s, 2.0))
        assert np.max(tr.point_ahead_rad) <= 53 * URAD
        peak.append((p.max_el_rad, np.max(tr.point_ahead_rad)))
    el_max, pa_max = max(peak)
    assert el_max > math.radians(85.0)
    assert pa_max == pytest.approx(50 * URAD, abs=1.5 * URAD)


def test_default_matches_light_time_reference_within_0p05_urad(leo_passes):
    """Whole passes (every 2 s, AOS..LOS at a 10 deg mask) of the LEO orbit and the ISS."""
    eph, passes = leo_passes
    iss = load_tle_file(DATA / "iss_2019.tle")
    eph_iss = Ephemeris(iss, EphemerisConfig(site_lat_deg=40.0, site_lon_deg=-75.0, site_alt_m=100.0))
    cases = [(eph, p) for p in passes[:8]] + [(eph_iss, p) for p in
                                              eph_iss.passes(iss.epoch_unix_s, iss.epoch_unix_s + 86400.0)]
    worst_default, worst_seed = 0.0, 0.0
    for e, p in cases:
        t = np.arange(p.aos_unix_s, p.los_unix_s, 2.0)
        default = e.track(t, method="default")
        ref = e.track(t, method="reference")
        seed = e.track(t, method="seed004")
        worst_default = max(worst_default, np.max(_pa_vector_diff(default, ref, default.el_rad)))
        worst_seed = max(worst_seed, np.max(_pa_vector_diff(seed, ref, default.el_rad)))
        assert np.max(np.abs(default.point_ahead_rad - ref.point_ahead_rad)) < 0.05 * URAD
    assert worst_default < 0.05 * URAD
    # seed 004's formula drops Earth rotation: sub-urad, but clearly larger than the default's error
    assert 0.1 * URAD < worst_seed < 1.0 * URAD
    print(f"max |default - reference| = {worst_default / URAD:.4f} urad; "
          f"max |seed004 - reference| = {worst_seed / URAD:.3f} urad")


def test_seed004_finite_difference_form_agrees_with_analytic_rates(leo_passes):
    eph, passes = leo_passes
    p = passes[2]
    t = np.arange(p.aos_unix_s, p.los_unix_s - 1.0, 5.0)
    a, b = eph.track(t, method="seed004"), eph.track(t + 1.0, method="seed004")
    fd = point_ahead_seed004_fd(a.az_rad, b.az_rad, a.el_rad, b.el_rad, a.range_m, 1.0)  # dt = 1 s as in seed 004
    assert np.max(np.abs(fd.total_rad - a.point_ahead_rad)) < 1.0 * URAD
    with pytest.raises(EphemerisError, match="dt_s"):
        point_ahead_seed004_fd(a.az_rad, b.az_rad, a.el_rad, b.el_rad, a.range_m, 0.0)


def test_seed004_eq1_2_definition():
    pa = point_ahead_seed004(np.array([0.01]), np.array([-0.002]), np.array([6e5]), np.array([math.radians(60)]))
    scale = 2 * 6e5 / 299_792_458.0
    assert pa.az_rad[0] == pytest.approx(0.01 * scale)
    assert pa.el_rad[0] == pytest.approx(-0.002 * scale)
    assert pa.total_rad[0] == pytest.approx(math.hypot(0.01 * scale * 0.5, 0.002 * scale))


def test_fig6_scale_30_px_on_fine_camera_at_83_deg_pass():
    """seed 004 Fig. 6(c)-(d): 83 deg max elevation, ~499 km nearest, ~30 px (50 urad) at k ~ 10798 px/deg."""
    tle = load_tle_file(DATA / "leo500_sso.tle")
    site = dict(NGARI, site_lon_deg=NGARI["site_lon_deg"] + 0.5)  # shifted so this orbit culminates at ~83 deg
    eph = Ephemeris(tle, EphemerisConfig(**site))
    t_mid = tle.epoch_unix_s + 4.656 * 86400.0
    (p,) = eph.passes(t_mid - 900.0, t_mid + 900.0)
    assert math.degrees(p.max_el_rad) == pytest.approx(83.0, abs=0.5)
    assert p.tca_range_m == pytest.approx(499e3, abs=5e3)
    tr = eph.track(np.arange(p.aos_unix_s, p.los_unix_s, 1.0))
    cam = fine_camera_offset(tr.point_ahead_az_rad, tr.point_ahead_el_rad, tr.az_rad, tr.el_rad,
                             PointAheadCameraConfig(theta_s_deg=-4.65, k_px_per_deg=10798.0))
    # "about 30 pixels (50 urad)": we get 31.7 px = 51.3 urad (Earth rotation included)
    assert np.max(cam.omega_f_px) == pytest.approx(30.0, abs=2.0)
    assert np.max(tr.point_ahead_rad) == pytest.approx(50 * URAD, abs=2 * URAD)
    assert np.allclose(np.hypot(cam.x_px, cam.y_px), cam.omega_f_px)


def test_camera_offset_follows_eq3_to_8():
    cam = PointAheadCameraConfig(theta_s_deg=-4.65, k_px_per_deg=10798.0)
    az, el = np.radians([100.0]), np.radians([30.0])
    a_pa, b_pa = np.array([40e-6]), np.array([-20e-6])
    off = fine_camera_offset(a_pa, b_pa, az, el, cam)
    wcx, wcy = -40e-6 * math.cos(math.radians(30)), 20e-6  # eq. (3), (4)
    assert off.omega_cx_rad[0] == pytest.approx(wcx) and off.omega_cy_rad[0] == pytest.approx(wcy)
    assert off.omega_c_rad[0] == pytest.approx(math.hypot(wcx, wcy))  # eq. (5)
    assert off.theta_c_rad[0] == pytest.approx(math.atan2(wcy, wcx))  # eq. (6)
    assert math.degrees(off.theta_r_rad[0]) == pytest.approx(100.0 + 30.0 + 4.65)  # eq. (7)
    assert off.omega_f_px[0] == pytest.approx(10798.0 * math.degrees(math.hypot(wcx, wcy)))  # eq. (8)
    assert math.atan2(off.y_px[0], off.x_px[0]) == pytest.approx(
        math.remainder(off.theta_c_rad[0] - off.theta_r_rad[0], 2 * math.pi))


def test_space_terminal_point_ahead_and_nanobob_light_time():
    """The downlink point-ahead has the ground's magnitude, points back along track at
    closest approach, and NanoBob §4.5's 1.83 ms / ~25 urad one-way figures at 550 km."""
    epoch = dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp()
    a = 6378137.0 + 550e3
    tle = make_tle(epoch_unix_s=epoch, inclination_rad=math.radians(97.6), raan_rad=0.3, eccentricity=1e-4,
                   arg_perigee_rad=0.0, mean_anomaly_rad=0.0, mean_motion_radps=math.sqrt(3.986004418e14 / a**3))
    eph = Ephemeris(tle, EphemerisConfig(**NGARI))
    passes = eph.passes(epoch, epoch + 2 * 86400.0)
    p = max(passes, key=lambda x: x.max_el_rad)
    tr = eph.track(np.arange(p.aos_unix_s, p.los_unix_s, 2.0))
    sp = space_point_ahead(tr.r_sat_teme_m, tr.v_sat_teme_mps, tr.r_site_teme_m, tr.v_site_teme_mps)
    assert np.allclose(sp.total_rad, tr.point_ahead_rad, atol=1e-4 * URAD)
    k = int(np.argmax(tr.el_rad))
    assert sp.along_track_rad[k] < -0.9 * sp.total_rad[k]
    if p.max_el_rad > math.radians(80.0):
        assert tr.range_m[k] / 299_792_458.0 == pytest.approx(1.83e-3, abs=0.1e-3)
        assert 0.5 * tr.point_ahead_rad[k] == pytest.approx(25 * URAD, abs=1.5 * URAD)


def test_reference_point_ahead_rejects_bad_times(leo_passes):
    eph, _ = leo_passes
    with pytest.raises(EphemerisError, match="NaN"):
        eph.track(np.array([np.nan]), method="reference")
