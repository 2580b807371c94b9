"""Apparent az/el/range, analytic rates, passes, Sun, HWP and bad input (qsat_pat.core.ephemeris)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.core.ephemeris import (
    Ephemeris,
    EphemerisConfig,
    hwp_angle_rad,
    load_tle_file,
    los_rate_in_orbital_frame_radps,
    make_tle,
    parse_site,
    refraction_rad,
    slew_rate_radps,
)
from qsat_pat.core.errors import ConfigError, EphemerisError
from qsat_pat.core.sun import sun_position_teme_m

DATA = Path(__file__).resolve().parent / "data"
ARCSEC = math.radians(1.0 / 3600.0)
SITE = {"site_lat_deg": 40.0, "site_lon_deg": -75.0, "site_alt_m": 100.0}


@pytest.fixture(scope="module")
def iss():
    return load_tle_file(DATA / "iss_2019.tle")


def _skyfield_time(ts, t_unix_s):
    base = dt.datetime.fromtimestamp(math.floor(float(np.min(t_unix_s)) / 86400.0) * 86400.0, tz=dt.UTC)
    return ts.utc(base.year, base.month, base.day, 0, 0, np.asarray(t_unix_s) - base.timestamp())


@pytest.fixture(scope="module")
def best_pass(iss):
    from skyfield.api import load

    ts = load.timescale(builtin=True)
    dut1 = float(_skyfield_time(ts, np.array([iss.epoch_unix_s])).dut1[0])
    eph = Ephemeris(iss, EphemerisConfig(**SITE, dut1_s=dut1))
    p = max(eph.passes(iss.epoch_unix_s, iss.epoch_unix_s + 86400.0), key=lambda p: p.max_el_rad)
    return eph, p, ts


def test_apparent_az_el_range_match_skyfield_over_a_full_pass(best_pass, iss):
    """Independent path: skyfield's SGP4 -> ITRS -> GCRS, light-time with SGP4 at the
    emission time and aberration done in GCRS, then skyfield's own alt-az rotation."""
    from skyfield.api import EarthSatellite, wgs84
    from skyfield.positionlib import ICRF

    eph, p, ts = best_pass
    assert p.max_el_rad > math.radians(60.0)
    t = np.arange(p.aos_unix_s, p.los_unix_s, 2.0)
    tr = eph.track(t)
    sat = EarthSatellite(iss.line1, iss.line2, iss.name, ts)
    site = wgs84.latlon(SITE["site_lat_deg"], SITE["site_lon_deg"], elevation_m=SITE["site_alt_m"])
    tt = _skyfield_time(ts, t)
    st = site.at(tt)
    r_site, v_site = st.position.m, st.velocity.m_per_s
    tau = np.zeros(t.size)
    for _ in range(5):
        r_sat = sat.at(_skyfield_time(ts, t - tau)).position.m
        tau = np.linalg.norm(r_sat - r_site, axis=0) / 299_792_458.0
    rho = r_sat - r_site
    rng = np.linalg.norm(rho, axis=0)
    apparent = rho + rng * v_site / 299_792_458.0
    alt, az, _ = ICRF(apparent / 149_597_870_700.0, t=tt, center=site).altaz()
    d_az = np.mod(tr.az_rad - az.radians + math.pi, 2 * math.pi) - math.pi
    assert np.max(np.abs(d_az * np.cos(tr.el_rad))) < ARCSEC
    assert np.max(np.abs(tr.el_rad - alt.radians)) < ARCSEC
    assert np.max(np.abs(tr.range_m - rng)) < 1.0
    # the corrections are real: without them the direction moves by tens of arcsec
    geo = Ephemeris(iss, eph.config.replace(light_time=False, aberration=False)).track(t)
    sep = np.arccos(np.clip(np.sum(geo.los_enu * tr.los_enu, axis=1), -1, 1))
    assert np.max(sep) > 4 * ARCSEC  # light-time v/c ~ 25 urad


def test_geometric_direction_matches_skyfield_topocentric(best_pass, iss):
    from skyfield.api import EarthSatellite, wgs84

    eph, p, ts = best_pass
    t = np.linspace(p.aos_unix_s, p.los_unix_s, 50)
    geo = Ephemeris(iss, eph.config.replace(light_time=False, aberration=False)).track(t)
    sat = EarthSatellite(iss.line1, iss.line2, iss.name, ts)
    site = wgs84.latlon(SITE["site_lat_deg"], SITE["site_lon_deg"], elevation_m=SITE["site_alt_m"])
    alt, az, dist = (sat - site).at(_skyfield_time(ts, t)).altaz()
    d_az = np.mod(geo.az_rad - az.radians + math.pi, 2 * math.pi) - math.pi
    assert np.max(np.abs(d_az * np.cos(geo.el_rad))) < ARCSEC
    assert np.max(np.abs(geo.el_rad - alt.radians)) < ARCSEC
    assert np.max(np.abs(geo.range_m - dist.m)) < 1.0


def test_analytic_rates_match_finite_differences(best_pass):
    eph, p, _ = best_pass
    t = np.arange(p.aos_unix_s, p.los_unix_s, 3.0)
    tr = eph.track(t)

    def central(h):  # h exactly representable next to POSIX seconds
        ta, tb = eph.track(t + h), eph.track(t - h)
        return ((np.mod(ta.az_rad - tb.az_rad + math.pi, 2 * math.pi) - math.pi) / (2 * h),
                (ta.el_rad - tb.el_rad) / (2 * h), (ta.range_m - tb.range_m) / (2 * h))

    # Richardson extrapolation of two central differences: truncation error O(h^4)
    d1, d2 = central(0.25), central(0.5)
    fd_az, fd_el, fd_rng = ((4 * a - b) / 3 for a, b in zip(d1, d2))
    assert np.max(np.abs(fd_az - tr.az_rate_radps) * np.cos(tr.el_rad)) < 2e-7
    assert np.max(np.abs(fd_el - tr.el_rate_radps)) < 2e-7
    # SGP4's analytic velocity itself differs from the derivative of its position by 1-2 cm/s
    assert np.max(np.abs(fd_rng - tr.range_rate_mps)) < 0.03
    assert np.max(np.abs(tr.range_rate_mps)) > 5000.0


def test_state_at_equals_vectorised_track(best_pass):
    eph, p, _ = best_pass
    s = eph.state_at(np.float64(p.tca_unix_s))
    tr = eph.track(np.array([p.tca_unix_s]))
    assert s.az_rad == tr.az_rad[0] and s.el_rad == tr.el_rad[0] and s.range_m == tr.range_m[0]
    assert s.point_ahead_rad == tr.point_ahead_rad[0] and s.visible
    assert s.el_refracted_rad > s.el_rad
    assert s.tle_age_s == pytest.approx(p.tca_unix_s - eph.tle.epoch_unix_s)
    assert s.target == "ISS (ZARYA)"


def test_passes_aos_los_at_mask_and_tca_at_max(best_pass):
    eph, _, _ = best_pass
    start = eph.tle.epoch_unix_s
    passes = eph.passes(start, start + 86400.0)
    assert 4 <= len(passes) <= 8
    for p in passes:
        tr = eph.track(np.array([p.aos_unix_s, p.tca_unix_s, p.los_unix_s]))
        assert tr.el_rad[0] == pytest.approx(eph.min_el_rad, abs=1e-5)
        assert tr.el_rad[2] == pytest.approx(eph.min_el_rad, abs=1e-5)
        grid = eph.track(np.linspace(p.aos_unix_s, p.los_unix_s, 400))
        assert p.max_el_rad >= np.max(grid.el_rad) - 1e-7
        assert abs(tr.el_rate_radps[1]) < 1e-5
        assert 60.0 < p.duration_s < 720.0
    # the mask matters: at 30 deg fewer and shorter passes
    high = eph.passes(start, start + 86400.0, min_el_rad=math.radians(30.0), step_s=10.0)
    assert len(high) < len(passes)


def test_sun_position_matches_de421_within_0p02_deg():
    from pathlib import Path as _P

    import skyfield_data
    from skyfield.api import load, load_file
    from skyfield.sgp4lib import TEME

    eph = load_file(str(_P(skyfield_data.__file__).parent / "data" / "de421.bsp"))
    ts = load.timescale(builtin=True)
    t = np.linspace(dt.datetime(2019, 1, 1, tzinfo=dt.UTC).timestamp(),
                    dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp(), 97)
    tt = _skyfield_time(ts, t)
    ours = sun_position_teme_m(t)
    app = eph["earth"].at(tt).observe(eph["sun"]).apparent()
    ref = np.einsum("ijn,jn->in", TEME.rotation_at(tt), app.position.m).T
    cosang = np.sum(ours * ref, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert np.max(np.degrees(np.arccos(np.clip(cosang, -1, 1)))) < 0.02
    assert np.allclose(np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1), rtol=2e-4)


def test_refraction_values_and_scaling():
    r = np.degrees(refraction_rad(np.radians([0.0, 10.0, 45.0, 90.0]))) * 60.0  # arcmin
    assert r[0] == pytest.approx(28.9, abs=1.0)  # standard horizon refraction ~29-34'
    assert r[1] == pytest.approx(5.3, abs=0.2)
    assert r[2] == pytest.approx(1.0, abs=0.05)
    assert abs(r[3]) < 0.01
    thin = refraction_rad(np.radians(10.0), pressure_hpa=550.0, temperature_c=0.0)
    assert thin == pytest.approx(refraction_rad(np.radians(10.0)) * 550 / 1010 * 283 / 273, rel=1e-9)


def _overhead_550km():
    """A circular orbit 550 km above a site right under it at t_c (NanoBob §4.5 geometry).

    The semi-major axis is adjusted (twice) so that the range at t_c is 550 km above
    the site's ellipsoid, whatever SGP4's short-period terms and the latitude do.
    """
    epoch = dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp()
    t_c = epoch + 3600.0
    a = 6378137.0 + 550e3
    e2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)
    for _ in range(3):
        tle = make_tle(epoch_unix_s=epoch, inclination_rad=math.radians(97.6), raan_rad=0.3, eccentricity=1e-4,
                       arg_perigee_rad=0.0, mean_anomaly_rad=0.0,
                       mean_motion_radps=math.sqrt(3.986004418e14 / a**3))
        probe = Ephemeris(tle, EphemerisConfig(site_lat_deg=0.0, site_lon_deg=0.0, site_alt_m=0.0))
        r, _ = probe.propagate_teme(np.array([t_c]))
        _, _, rot, _ = probe.site_teme(np.array([t_c]))
        x, y, z = rot[0] @ r[0]
        lat = math.degrees(math.atan(z / math.hypot(x, y) / (1 - e2)))  # geodetic nadir (near enough)
        lon = math.degrees(math.atan2(y, x))
        eph = Ephemeris(tle, EphemerisConfig(site_lat_deg=lat, site_lon_deg=lon, site_alt_m=0.0))
        rng = float(eph.track(np.array([t_c])).range_m[0])
        a -= rng - 550e3
    return eph, t_c


def test_nanobob_overhead_550km_slew_rates():
    """NanoBob §4.5: OGS slew peaks ~13.7 mrad/s; LOS rate in the satellite orbital frame ~12.6 mrad/s."""
    eph, t_c = _overhead_550km()
    t = np.arange(t_c - 300.0, t_c + 300.0, 0.5)
    tr = eph.track(t)
    assert np.max(tr.el_rad) > math.radians(88.0)
    assert np.min(tr.range_m) == pytest.approx(550e3, abs=2e3)
    ogs = slew_rate_radps(tr.az_rate_radps, tr.el_rate_radps, tr.el_rad)
    sat = los_rate_in_orbital_frame_radps(tr.r_sat_teme_m, tr.v_sat_teme_mps, tr.r_site_teme_m, tr.v_site_teme_mps)
    assert np.max(ogs) == pytest.approx(13.7e-3, abs=0.3e-3)
    assert np.max(sat) == pytest.approx(12.6e-3, abs=0.3e-3)
    # both peak at closest approach
    assert abs(t[np.argmax(ogs)] - t[np.argmax(tr.el_rad)]) <= 2.0


def test_hwp_angle_geometry():
    los = np.array([[1.0, 0.0, 0.0]])
    up = np.array([[0.0, 0.0, 1.0]])  # OGS horizontal reference h = up x los = +y
    r = np.array([[0.0, 0.0, 7e6]])
    # orbit normal along +y: bases aligned -> 0
    assert hwp_angle_rad(los, up, np.array([[0.0, 0.0, 7e6]]), np.array([[-7e3, 0.0, 0.0]]))[0] == pytest.approx(
        0.0, abs=1e-12)
    # reference along +z (rotated +90 deg about los): polarisation rotation 90 deg -> HWP 45 deg -> wraps to -45
    val = hwp_angle_rad(los, up, r, np.array([[0.0, 0.0, 7e3]]), "along_track")[0]
    assert val == pytest.approx(-math.pi / 4, abs=1e-12)
    # 30 deg rotation -> HWP 15 deg; the offset adds directly
    v30 = np.array([[0.0, math.cos(math.radians(30)), math.sin(math.radians(30))]])
    assert hwp_angle_rad(los, up, r, v30, "along_track")[0] == pytest.approx(math.radians(15), abs=1e-12)
    assert hwp_angle_rad(los, up, r, v30, "along_track", math.radians(10))[0] == pytest.approx(
        math.radians(25), abs=1e-12)
    with pytest.raises(EphemerisError, match="unknown HWP reference"):
        hwp_angle_rad(los, up, r, v30, "sun")


def test_hwp_setpoint_is_continuous_along_a_pass(best_pass):
    eph, p, _ = best_pass
    tr = eph.track(np.arange(p.aos_unix_s, p.los_unix_s, 1.0))
    step = np.diff(tr.hwp_angle_rad)
    step = np.mod(step + math.pi / 4, math.pi / 2) - math.pi / 4  # period of a HWP set-point
    assert np.max(np.abs(step)) < math.radians(3.0)
    assert np.all(np.abs(tr.hwp_angle_rad) <= math.pi / 4)


def test_sun_separation_is_consistent_with_sun_direction(best_pass):
    eph, p, _ = best_pass
    tr = eph.track(np.array([p.tca_unix_s]))
    assert 0.0 <= tr.sun_separation_rad[0] <= math.pi


def test_bad_times_are_refused_with_clear_errors(best_pass):
    eph, p, _ = best_pass
    epoch = eph.tle.epoch_unix_s
    with pytest.raises(EphemerisError, match="NaN or infinite"):
        eph.track(np.array([p.tca_unix_s, np.nan]))
    with pytest.raises(EphemerisError, match="days after the TLE epoch"):
        eph.state_at(epoch + 40 * 86400.0)
    with pytest.raises(EphemerisError, match="before the TLE epoch"):
        eph.state_at(epoch - 2 * 86400.0)
    with pytest.raises(EphemerisError, match="no times"):
        eph.track(np.array([]))
    with pytest.raises(EphemerisError, match="unknown point-ahead method"):
        eph.track(np.array([p.tca_unix_s]), method="magic")
    with pytest.raises(EphemerisError, match="end > start"):
        eph.passes(epoch + 10.0, epoch)
    with pytest.raises(EphemerisError, match="needs a Tle"):
        Ephemeris("1 25544U ...", eph.config)  # type: ignore[arg-type]


def test_tle_age_warning(best_pass):
    eph, _, _ = best_pass
    epoch = eph.tle.epoch_unix_s
    assert eph.tle_age_warning(epoch + 86400.0) is None
    msg = eph.tle_age_warning(epoch + 5 * 86400.0)
    assert msg is not None and "5.0 days old" in msg


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"site_lat_deg": 91.0}, "site_lat_deg"), ({"site_lon_deg": -200.0}, "site_lon_deg"),
     ({"site_alt_m": 12000.0}, "site_alt_m"), ({"site_lat_deg": float("nan")}, "not finite"),
     ({"point_ahead_method": "guess"}, "point_ahead_method")],
)
def test_bad_site_config_raises(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        EphemerisConfig(**kwargs)


@pytest.mark.parametrize(
    ("text", "match"),
    [("32.3,80.0", "three comma-separated"), ("a,b,c", "non-numeric"), ("95,0,0", "latitude"),
     ("0,400,0", "longitude"), ("0,0,5047000", "metres, not km"), ("nan,0,0", "non-finite")],
)
def test_parse_site_errors(text, match):
    with pytest.raises(EphemerisError, match=match):
        parse_site(text)
    assert parse_site(" 32.3258, 80.0262 ,5047") == (32.3258, 80.0262, 5047.0)
