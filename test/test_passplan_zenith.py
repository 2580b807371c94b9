"""Alt-az pass planning through the zenith keyhole (qsat_pat.core.passplan)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.core.ephemeris import Ephemeris, EphemerisConfig, load_tle_file
from qsat_pat.core.errors import ConfigError, EphemerisError
from qsat_pat.core.passplan import MountConfig, plan_pass, smooth_limited

DATA = Path(__file__).resolve().parent / "data"
NGARI = {"site_lat_deg": 32.32585, "site_lon_deg": 80.02616, "site_alt_m": 5047.0}
# realistic LEO tracking mount: 10 deg/s, 5 deg/s^2 on both axes; elevation over the top to 180 deg
OVER_THE_TOP = MountConfig(el_min_deg=0.0, el_max_deg=180.0, az_rate_max_dps=10.0, az_acc_max_dps2=5.0)
MICIUS_GIMBAL = MountConfig()  # seed 004 Table 1: az -270..270, el -5..95


def _pass(dlon_deg: float, days: float = 4.656):
    tle = load_tle_file(DATA / "leo500_sso.tle")
    eph = Ephemeris(tle, EphemerisConfig(**dict(NGARI, site_lon_deg=NGARI["site_lon_deg"] + dlon_deg)))
    t = tle.epoch_unix_s + days * 86400.0
    (p,) = eph.passes(t - 900.0, t + 900.0)
    return eph, p


def _check_limits(plan, mount):
    dt = mount.step_s
    assert np.max(np.abs(plan.az_rate_radps)) <= math.radians(mount.az_rate_max_dps) * 1.001
    assert np.max(np.abs(plan.el_rate_radps)) <= math.radians(mount.el_rate_max_dps) * 1.001
    assert np.max(np.abs(np.diff(plan.az_rate_radps))) / dt <= math.radians(mount.az_acc_max_dps2) * 1.05
    assert np.max(np.abs(np.diff(plan.el_rate_radps))) / dt <= math.radians(mount.el_acc_max_dps2) * 1.05
    assert np.all(plan.az_rad >= math.radians(mount.az_min_deg) - 1e-9)
    assert np.all(plan.az_rad <= math.radians(mount.az_max_deg) + 1e-9)
    assert np.all(plan.el_rad <= math.radians(mount.el_max_deg) + 1e-9)


def test_zenith_pass_planned_over_the_top_without_losing_target():
    eph, p = _pass(-0.1)
    assert math.degrees(p.max_el_rad) > 89.9
    plan = plan_pass(eph, p, OVER_THE_TOP)
    assert plan.mode == "over_the_top"
    assert plan.feasible and plan.lost_intervals == ()
    assert math.degrees(plan.max_error_rad) < 0.1  # vs 0.5 deg field of view
    # tracking the raw az/el would need ~90 deg/s: the normal configuration loses it
    assert plan.candidates["normal"] > math.radians(OVER_THE_TOP.fov_half_angle_deg)
    _check_limits(plan, OVER_THE_TOP)
    assert np.max(plan.el_rad) > math.radians(150.0)  # it really goes over the top


def test_flip_decided_before_aos_not_mid_pass():
    eph, p = _pass(-0.1)
    plan = plan_pass(eph, p, OVER_THE_TOP)
    pre = plan.t_unix_s < p.aos_unix_s
    k_aos = int(np.argmax(~pre))
    assert np.sum(pre) == round(OVER_THE_TOP.preposition_s / OVER_THE_TOP.step_s)
    # parked on the AOS point in the chosen configuration before AOS
    assert np.allclose(plan.az_rad[pre], plan.az_rad[k_aos], atol=math.radians(0.05))
    assert np.allclose(plan.el_rad[pre], plan.el_rad[k_aos], atol=math.radians(0.05))
    assert plan.error_rad[k_aos] < math.radians(0.05)
    # no configuration change during the pass: no step beyond the rate limit anywhere
    step = np.abs(np.diff(plan.az_rad))
    assert np.max(step) <= math.radians(OVER_THE_TOP.az_rate_max_dps) * OVER_THE_TOP.step_s * 1.001
    # the mount azimuth stays within a few degrees: no 180 deg swing at culmination
    assert np.ptp(plan.az_rad[~pre]) < math.radians(10.0)


def test_limited_gimbal_reports_where_target_is_lost():
    """seed 004's gimbal stops at 95 deg: the zenith keyhole cannot be crossed; the plan says when."""
    eph, p = _pass(-0.1)
    plan = plan_pass(eph, p, MICIUS_GIMBAL)
    assert plan.mode == "normal"
    assert not plan.feasible
    assert plan.lost_intervals
    for t0, t1 in plan.lost_intervals:
        assert p.tca_unix_s - 30.0 < t0 <= t1 < p.tca_unix_s + 30.0
    _check_limits(plan, MICIUS_GIMBAL)


def test_zenith_distance_larger_than_fov_is_reported_and_wider_fov_fixes_it():
    eph, p = _pass(0.0)  # culminates at 88.85 deg: 1.15 deg from the zenith
    plan = plan_pass(eph, p, OVER_THE_TOP)
    assert not plan.feasible
    (t0, t1), = plan.lost_intervals
    assert abs(0.5 * (t0 + t1) - p.tca_unix_s) < 2.0 and t1 - t0 < 20.0
    wide = plan_pass(eph, p, OVER_THE_TOP.replace(fov_half_angle_deg=1.5))
    assert wide.feasible


def test_moderate_pass_tracked_exactly_in_normal_mode():
    tle = load_tle_file(DATA / "leo500_sso.tle")
    eph = Ephemeris(tle, EphemerisConfig(**NGARI))
    p = eph.passes(tle.epoch_unix_s, tle.epoch_unix_s + 86400.0)[2]  # ~53 deg
    assert 45 < math.degrees(p.max_el_rad) < 60
    plan = plan_pass(eph, p, MICIUS_GIMBAL)
    assert plan.mode == "normal" and plan.feasible
    assert math.degrees(plan.max_error_rad) < 0.01
    _check_limits(plan, MICIUS_GIMBAL)
    # the path is continuous on the cable wrap (no 360 deg jump) even if it crosses north
    assert np.max(np.abs(np.diff(plan.az_rad))) < math.radians(1.0)


def test_smoother_respects_limits_on_a_step():
    y = np.where(np.arange(1000) < 500, 0.0, math.pi)
    out = smooth_limited(y, 0.1, math.radians(10.0), math.radians(5.0))
    assert np.max(np.abs(np.diff(out))) / 0.1 <= math.radians(10.0) * 1.001
    assert np.max(np.abs(np.diff(np.diff(out)))) / 0.01 <= math.radians(5.0) * 1.05
    assert out[0] == 0.0 and out[-1] == pytest.approx(math.pi)
    assert out[499] == pytest.approx(math.pi / 2, abs=0.05)  # symmetric about the step


def test_bad_mount_and_pass_inputs():
    with pytest.raises(ConfigError, match="span >= 360"):
        MountConfig(az_min_deg=0.0, az_max_deg=300.0)
    with pytest.raises(ConfigError, match="az_rate_max_dps"):
        MountConfig(az_rate_max_dps=-1.0)
    eph, p = _pass(-0.1)
    from dataclasses import replace

    with pytest.raises(EphemerisError, match="LOS after AOS"):
        plan_pass(eph, replace(p, los_unix_s=p.aos_unix_s - 1.0), OVER_THE_TOP)
