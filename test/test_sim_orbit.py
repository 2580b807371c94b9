"""Orbit truth vs the terminals' perturbed TLE (qsat_pat/sim/orbit.py).

Must show: SGP4 truth vs the prediction from the perturbed TLE, against the configured
perturbation (seed 003 §2.3: a ~1 km TLE error gives open-loop errors of a few hundred urad).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.core.ephemeris import EphemerisConfig
from qsat_pat.core.errors import SimulationError
from qsat_pat.sim.orbit import TLE_FIT_TOLERANCE_M, OrbitConfig, OrbitTruth

ONE_URAD = 1e-6
TENERIFE = EphemerisConfig(site_lat_deg=28.30086, site_lon_deg=-16.51172, site_alt_m=2410.0)


def _sgp4(eph, t):
    r, v = eph.propagate_teme(np.atleast_1d(t))
    return r, v


@pytest.mark.parametrize("max_el_deg", [20.0, 60.0, 89.0])
def test_synthesised_pass_has_the_requested_maximum_elevation(max_el_deg):
    orbit = OrbitTruth(OrbitConfig(max_elevation_deg=max_el_deg, along_track_error_m=0.0,
                                   cross_track_error_m=0.0), TENERIFE)
    p = orbit.pass_window()
    assert math.degrees(p.max_el_rad) == pytest.approx(max_el_deg, abs=0.05)
    # the zero-range-rate point is within a few seconds of the requested TCA (Earth rotation)
    assert abs(p.tca_unix_s - orbit.tca_unix_s) < 6.0
    # altitude: 500 km over the WGS84 equatorial radius (TLE mean elements: +-10 km)
    r, _ = _sgp4(orbit.truth, orbit.tca_unix_s)
    assert np.linalg.norm(r) - 6378.137e3 == pytest.approx(500e3, abs=10e3)


@pytest.mark.parametrize("along_m, cross_m, radial_m", [(1000.0, 0.0, 0.0), (0.0, 1000.0, 0.0),
                                                         (1000.0, 300.0, 0.0), (-700.0, 500.0, 200.0)])
def test_perturbed_tle_position_error_matches_the_configured_offsets(along_m, cross_m, radial_m):
    orbit = OrbitTruth(OrbitConfig(along_track_error_m=along_m, cross_track_error_m=cross_m,
                                   radial_error_m=radial_m), TENERIFE)
    r_t, v_t = _sgp4(orbit.truth, orbit.tca_unix_s)
    r_p, _ = _sgp4(orbit.terminal, orbit.tca_unix_s)
    r_hat = r_t[0] / np.linalg.norm(r_t[0])
    n_hat = np.cross(r_t[0], v_t[0])
    n_hat /= np.linalg.norm(n_hat)
    a_hat = np.cross(n_hat, r_hat)
    d = r_p[0] - r_t[0]
    tol = TLE_FIT_TOLERANCE_M + 0.01 * math.hypot(along_m, cross_m)  # + arc curvature
    assert d @ a_hat == pytest.approx(along_m, abs=tol)
    assert d @ n_hat == pytest.approx(cross_m, abs=tol)
    assert d @ r_hat == pytest.approx(radial_m, abs=tol + 1e-5 * (along_m**2 + cross_m**2) / 1.0)


def test_along_track_error_persists_over_the_pass_and_cross_track_follows_the_plane_tilt():
    orbit = OrbitTruth(OrbitConfig(along_track_error_m=1000.0, cross_track_error_m=800.0), TENERIFE)
    dt = np.array([-240.0, -120.0, 0.0, 120.0, 240.0])
    t = orbit.tca_unix_s + dt
    r_t, v_t = _sgp4(orbit.truth, t)
    r_p, _ = _sgp4(orbit.terminal, t)
    n_hat = np.cross(r_t, v_t)
    n_hat /= np.linalg.norm(n_hat, axis=1, keepdims=True)
    a_hat = np.cross(n_hat, r_t / np.linalg.norm(r_t, axis=1, keepdims=True))
    d = r_p - r_t
    along = np.sum(d * a_hat, axis=1)
    cross = np.sum(d * n_hat, axis=1)
    mean_motion = np.linalg.norm(v_t[2]) / np.linalg.norm(r_t[2])
    # along-track: a rigid rotation in the plane keeps the offset (same period)
    np.testing.assert_allclose(along, 1000.0, atol=TLE_FIT_TOLERANCE_M + 30.0)
    # cross-track: the plane is tilted about the TCA radius' perpendicular: 800 cos(n dt)
    np.testing.assert_allclose(cross, 800.0 * np.cos(mean_motion * dt), atol=TLE_FIT_TOLERANCE_M + 30.0)


@pytest.mark.parametrize("along_m, cross_m", [(1000.0, 0.0), (0.0, 1000.0), (1000.0, 300.0)])
def test_open_loop_pointing_error_equals_the_offset_across_the_line_of_sight_over_range(along_m, cross_m):
    orbit = OrbitTruth(OrbitConfig(along_track_error_m=along_m, cross_track_error_m=cross_m), TENERIFE)
    t = orbit.tca_unix_s + np.array([-180.0, 0.0, 180.0])
    truth = orbit.truth.track(t)
    r_t, v_t = truth.r_sat_teme_m, truth.v_sat_teme_mps
    n_hat = np.cross(r_t, v_t)
    n_hat /= np.linalg.norm(n_hat, axis=1, keepdims=True)
    a_hat = np.cross(n_hat, r_t / np.linalg.norm(r_t, axis=1, keepdims=True))
    mean_motion = np.linalg.norm(v_t[1]) / np.linalg.norm(r_t[1])
    dt = t - orbit.tca_unix_s
    offset = along_m * a_hat + (cross_m * np.cos(mean_motion * dt))[:, None] * n_hat
    los = (truth.r_sat_teme_m - truth.r_site_teme_m)
    los /= np.linalg.norm(los, axis=1, keepdims=True)
    perp = offset - np.sum(offset * los, axis=1, keepdims=True) * los
    expected_rad = np.linalg.norm(perp, axis=1) / truth.range_m
    got_rad = orbit.open_loop_error_rad(t)
    # the geometry, to the TLE format's resolution (tens of metres -> < 80 urad at 570+ km)
    np.testing.assert_allclose(got_rad, expected_rad, atol=(TLE_FIT_TOLERANCE_M + 15.0) / float(truth.range_m.min()))
    # seed 003 §2.3 scale: ~1 km TLE error -> open-loop error of order 1 mrad at these ranges
    assert 300 * ONE_URAD < got_rad[1] < 2500 * ONE_URAD


def test_truth_state_geometry_is_consistent():
    orbit = OrbitTruth(OrbitConfig(), TENERIFE)
    s = orbit.state(orbit.tca_unix_s)
    assert math.degrees(s.el_rad) == pytest.approx(60.0, abs=0.05)
    assert np.linalg.norm(s.los_teme) == pytest.approx(1.0)
    # site->satellite apparent direction and satellite->site direction are opposite to < 30 urad
    ang = math.acos(min(1.0, float(-s.los_teme @ s.los_sat_to_site_teme)))
    assert ang < 30 * ONE_URAD
    # the LOS rate seen from the satellite is the NanoBob §4.5 order (~12 mrad/s at 550 km overhead)
    assert 5e-3 < np.linalg.norm(s.los_sat_to_site_rate_teme_ps) < 16e-3


def test_half_a_tle_is_refused():
    with pytest.raises(SimulationError, match="both tle_line1 and tle_line2"):
        OrbitTruth(OrbitConfig(tle_line1="1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"),
                   TENERIFE)


def test_cached_state_matches_the_direct_evaluation():
    orbit = OrbitTruth(OrbitConfig(), TENERIFE)
    for dt in (-200.0123, -0.0004, 0.0, 0.0057, 123.4567):
        t = orbit.tca_unix_s + dt
        a, b = orbit.state(t), orbit.state_exact(t)
        assert np.linalg.norm(np.cross(a.los_teme, b.los_teme)) < 1e-8
        assert np.linalg.norm(np.cross(a.los_sat_to_site_teme, b.los_sat_to_site_teme)) < 1e-8
        assert a.range_m == pytest.approx(b.range_m, abs=3e-3)  # v^2/rho dt^2/8 ~ 1.3 mm at TCA
        assert (a.az_rad, a.el_rad) == pytest.approx((b.az_rad, b.el_rad), abs=1e-8)
        np.testing.assert_allclose(a.r_sat_teme_m, b.r_sat_teme_m, atol=1e-3)
        np.testing.assert_allclose(a.los_sat_to_site_rate_teme_ps, b.los_sat_to_site_rate_teme_ps, atol=1e-9)
    with pytest.raises(SimulationError, match="finite"):
        orbit.state(float("nan"))
