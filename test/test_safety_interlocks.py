"""Safety interlocks: command validation, FSM clamp, Sun cone / mask filter, laser, watchdog."""

import math

import numpy as np
import pytest

from qsat_pat.core.control import Mode, PointingCommand, Stage
from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.safety import (
    CommandWatchdog,
    LaserInterlock,
    PointingSafetyFilter,
    SafetyConfig,
    angular_separation_rad,
    clamp_fsm_command,
    validate_command,
)

DEG = math.pi / 180


def mount_cmd(t, az, el, raz=0.0, rel=0.0):
    return PointingCommand(t, Stage.MOUNT, Mode.POSITION, az, el, raz, rel, "test")


def test_default_sun_cone_is_45_deg_and_config_is_validated():
    assert SafetyConfig().sun_exclusion_rad == pytest.approx(45 * DEG)
    with pytest.raises(ConfigError):
        SafetyConfig(sun_exclusion_rad=math.nan)
    with pytest.raises(ConfigError):
        SafetyConfig(elevation_mask_rad=1.6, axis2_max_rad=1.5)


def test_angular_separation_known_values():
    assert angular_separation_rad(0.0, 0.0, math.pi / 2, 0.0) == pytest.approx(math.pi / 2)
    assert angular_separation_rad(1.0, math.pi / 2, 2.0, math.pi / 2) == pytest.approx(0.0, abs=1e-12)
    assert angular_separation_rad(0.0, 10 * DEG, 0.0, 55 * DEG) == pytest.approx(45 * DEG)


@pytest.mark.parametrize("cmd, match", [
    (PointingCommand(0.0, Stage.FSM, Mode.POSITION, 300e-6, 0.0), "outside"),
    (PointingCommand(0.0, Stage.MOUNT, Mode.POSITION, 0.5, 5 * DEG), "elevation"),
    (PointingCommand(0.0, Stage.MOUNT, Mode.POSITION, 5.0, 0.5), "azimuth"),
    (PointingCommand(0.0, Stage.MOUNT, Mode.RATE, 0.0, 0.0, 1.0, 0.0), "rate limit"),
])
def test_validate_command_rejects_out_of_range_with_reason(cmd, match):
    with pytest.raises(ControlError, match=match):
        validate_command(cmd, SafetyConfig())


def test_validate_command_accepts_good_and_hold():
    validate_command(mount_cmd(0.0, 1.0, 0.5), SafetyConfig())
    validate_command(PointingCommand(0.0, Stage.MOUNT, Mode.HOLD), SafetyConfig())
    with pytest.raises(ControlError):
        validate_command("P 10 20", SafetyConfig())


def test_nan_never_becomes_a_command():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ControlError, match="not finite"):
            mount_cmd(0.0, bad, 0.5)
        with pytest.raises(ControlError):
            clamp_fsm_command((bad, 0.0), SafetyConfig())


def test_fsm_clamp():
    c, lim = clamp_fsm_command((400e-6, -100e-6), SafetyConfig(fsm_range_rad=250e-6))
    np.testing.assert_allclose(c, (250e-6, -100e-6))
    assert lim


def test_filter_moves_target_out_of_sun_cone_and_above_mask():
    f = PointingSafetyFilter(SafetyConfig())
    sun = (1.0, 40 * DEG)
    v = f.filter(mount_cmd(0.0, 1.0, 50 * DEG), *sun)
    out = v.command
    assert v.modified and any("Sun" in r for r in v.reasons)
    assert angular_separation_rad(out.axis1_rad, out.axis2_rad, *sun) >= 45 * DEG - 1e-9
    f2 = PointingSafetyFilter(SafetyConfig())
    v2 = f2.filter(mount_cmd(0.0, 3.0, 2 * DEG), 0.0, -0.5)
    assert v2.command.axis2_rad == pytest.approx(10 * DEG)
    assert any("mask" in r for r in v2.reasons)


def test_filter_rate_limits_and_holds_instead_of_crossing_the_sun():
    cfg = SafetyConfig(max_rate_radps=0.1, max_acc_radps2=10.0)
    f = PointingSafetyFilter(cfg)
    f.filter(mount_cmd(0.0, 0.0, 0.5), 3.0, -1.0)
    v = f.filter(mount_cmd(0.1, 1.0, 0.5), 3.0, -1.0)
    assert v.command.axis1_rad == pytest.approx(0.01)       # 0.1 rad/s * 0.1 s
    assert "rate/acceleration limited" in v.reasons
    # Sun straight ahead on the way: the filter never enters the cone
    f = PointingSafetyFilter(SafetyConfig(max_rate_radps=1.0, max_acc_radps2=100.0))
    sun = (0.0, 30 * DEG)
    f.filter(mount_cmd(0.0, -90 * DEG, 30 * DEG), *sun)
    for k in range(1, 40):
        out = f.filter(mount_cmd(0.1 * k, 90 * DEG, 30 * DEG), *sun).command
        assert angular_separation_rad(out.axis1_rad, out.axis2_rad, *sun) >= 45 * DEG - 1e-9


def test_filter_rejects_bad_inputs():
    f = PointingSafetyFilter()
    with pytest.raises(ControlError):
        f.filter(PointingCommand(0.0, Stage.FSM, Mode.POSITION), 0.0, 0.0)
    with pytest.raises(ControlError):
        f.filter(mount_cmd(0.0, 0.0, 0.5), math.nan, 0.0)
    f.filter(mount_cmd(1.0, 0.0, 0.5), 3.0, -1.0)
    with pytest.raises(ControlError, match="time step"):
        f.filter(mount_cmd(0.5, 0.0, 0.5), 3.0, -1.0)
    v = f.filter(mount_cmd(10.0, 0.5, 0.5), 3.0, -1.0)  # long gap: limited as one max period
    assert any("gap" in r for r in v.reasons)


def test_laser_interlock_rules_and_timeout():
    las = LaserInterlock(SafetyConfig(tracking_lost_timeout_s=0.5))
    assert not las.evaluate(0.0, tracking=False, pointing_safe=True).enabled  # never tracked
    assert las.evaluate(1.0, tracking=True, pointing_safe=True).enabled
    assert las.evaluate(1.4, tracking=False, pointing_safe=True).enabled      # within timeout
    d = las.evaluate(1.6, tracking=False, pointing_safe=True)
    assert not d.enabled and "tracking lost" in d.reason
    assert not las.evaluate(2.0, tracking=True, pointing_safe=False).enabled
    assert las.evaluate(2.0, tracking=True, pointing_safe=True, fault=True).reason == "fault"
    assert not las.evaluate(2.0, tracking=True, pointing_safe=True, operator_enable=False).enabled


def test_watchdog_holds_when_commands_stop():
    wd = CommandWatchdog(0.2)
    assert wd.expired(0.0)
    wd.feed(1.0)
    assert not wd.expired(1.1)
    st = wd.state(1.3, Stage.FSM, (1e-6, 2e-6))
    assert st.holding and st.mode == Mode.HOLD and st.command_age_s == pytest.approx(0.3)
    with pytest.raises(ConfigError):
        CommandWatchdog(0.0)


def test_low_precision_sun_matches_skyfield():
    import datetime
    import warnings

    from skyfield.api import Loader, wgs84
    from skyfield_data import get_skyfield_data_path

    from qsat_pat.core.safety import sun_az_el_rad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # skyfield-data's leap-second file age
        ld = Loader(get_skyfield_data_path())
        eph = ld("de421.bsp")
        ts = ld.timescale(builtin=True)
    # NanoBob's OGS at Tenerife (seed 001 §3)
    site = eph["earth"] + wgs84.latlon(28.30086, -16.51172, 2410.0)
    for u in (1.6e9, 1.7e9 + 12345.0, 1.75e9 + 40000.0, 1.65e9 + 70000.0):
        t = ts.from_datetime(datetime.datetime.fromtimestamp(u, datetime.UTC))
        alt, az, _ = site.at(t).observe(eph["sun"]).apparent().altaz()
        a, e = sun_az_el_rad(u, math.radians(28.30086), math.radians(-16.51172))
        assert angular_separation_rad(a, e, az.radians, alt.radians) < math.radians(0.02)
    with pytest.raises(ControlError):
        sun_az_el_rad(math.nan, 0.0, 0.0)
