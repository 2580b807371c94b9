"""The OGS coarse stage (core/coarse.py), the safety filter's braking, and the sim mount driver."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.core.coarse import OgsCoarseStage, direction_from_tangent, mount_tangent_rad
from qsat_pat.core.control import Mode, PointingCommand, Stage
from qsat_pat.core.safety import PointingSafetyFilter, SafetyConfig

SUN_FAR = (0.0, -1.2)  # below the horizon: no Sun constraint


def test_mount_tangent_is_zero_on_the_ephemeris_and_small_angle_off_it():
    az0, el0 = math.radians(200.0), math.radians(55.0)
    assert np.allclose(mount_tangent_rad(az0, el0, az0, el0), 0.0, atol=1e-15)
    d = 1e-4
    xy = mount_tangent_rad(az0 + d / math.cos(el0), el0 + d, az0, el0)
    assert xy == pytest.approx([d, d], rel=2e-3)
    # the inverse: the mount at direction_from_tangent(xy) reads back xy
    az, el = direction_from_tangent((3e-3, -2e-3), az0, el0)
    assert mount_tangent_rad(az, el, az0, el0) == pytest.approx([3e-3, -2e-3], abs=1e-12)


def _slew(filt, target, dt, n, rate=(0.0, 0.0), t0=0.0):
    p0 = filt._prev.copy()  # one set-point at the start position: the filter knows the time
    filt.filter(PointingCommand(t0, Stage.MOUNT, Mode.POSITION, p0[0], p0[1], 0.0, 0.0, "start"), *SUN_FAR)
    out = []
    for k in range(1, n + 1):
        t = t0 + k * dt
        tgt = np.asarray(target, float) + np.asarray(rate) * (t - t0)
        v = filt.filter(PointingCommand(t, Stage.MOUNT, Mode.POSITION, tgt[0], tgt[1], rate[0], rate[1], "test"),
                        *SUN_FAR)
        out.append((t, tgt.copy(), v.command.position_rad.copy()))
    return out


@pytest.mark.parametrize("distance_rad", [0.05, 0.5, 2.0])
def test_safety_filter_slews_without_overshoot_in_near_minimum_time(distance_rad):
    cfg = SafetyConfig(max_rate_radps=0.2, max_acc_radps2=0.5, elevation_mask_rad=0.0)
    filt = PointingSafetyFilter(cfg, initial_position_rad=(0.0, 0.5))
    dt = 0.01
    # time-optimal rest-to-rest slew: triangle or trapezoid profile
    a, v = cfg.max_acc_radps2, cfg.max_rate_radps
    t_opt = 2 * math.sqrt(distance_rad / a) if distance_rad < v * v / a else distance_rad / v + v / a
    run = _slew(filt, (distance_rad, 0.5), dt, int((t_opt + 3.0) / dt))
    az = np.array([p[2][0] for p in run])
    # no overshoot beyond the discretisation of the braking curve (a few a dt^2; it was
    # ~distance before the filter braked)
    assert az.max() <= distance_rad + 4 * a * dt * dt, "overshoot"
    settled = np.flatnonzero(np.abs(az - distance_rad) < 1e-6)
    assert settled.size and run[settled[0]][0] <= t_opt * 1.1 + 0.1
    assert np.all(np.abs(az[settled[0]:] - distance_rad) < 1e-6), "left the target after reaching it"
    rates = np.diff(np.concatenate([[0.0], az])) / dt
    assert np.abs(rates).max() <= v * (1 + 1e-9)
    assert np.abs(np.diff(rates)).max() <= a * dt * (1 + 1e-6) + 1e-12


def test_safety_filter_catches_a_moving_target_and_then_follows_it_exactly():
    cfg = SafetyConfig(max_rate_radps=0.17, max_acc_radps2=0.17, elevation_mask_rad=0.0)
    filt = PointingSafetyFilter(cfg, initial_position_rad=(0.0, 0.8))
    run = _slew(filt, (0.01, 0.8), 0.01, 1500, rate=(-0.03, 0.005))
    err = np.array([np.hypot(*(p[2] - p[1])) for p in run])
    late = err[int(len(err) * 0.7):]
    assert late.max() < 1e-9  # on the target, moving with it
    # no ringing: once the error has fallen below 1 mrad it never grows back above it
    first = np.flatnonzero(err < 1e-3)[0]
    assert err[first:].max() < 1e-3


def test_coarse_stage_follows_ephemeris_plus_offset_with_shaped_steps():
    cfg = SafetyConfig(max_rate_radps=0.17, max_acc_radps2=0.17, elevation_mask_rad=0.0)
    stage = OgsCoarseStage(PointingSafetyFilter(cfg), 0.5, -0.3, 0.0, offset_max_rate_radps=5e-3,
                           offset_max_acc_radps2=0.05)
    az0, el0, rates = 1.0, 0.9, (-0.02, 0.004)
    mount = np.array([az0, el0])
    stage.prime(mount, rates, 0.01, t_s=100.0)
    want = np.array([1.5e-3, -1e-3])
    offsets = []
    for k in range(1, 301):
        t = 100.0 + 0.01 * k
        az, el = az0 + rates[0] * (t - 100.0), el0 + rates[1] * (t - 100.0)
        cmd = stage.command(t, az, el, rates, want, mount, sun_az_el_rad=SUN_FAR)
        mount = cmd.position_rad
        offsets.append(mount_tangent_rad(mount[0], mount[1], az, el))
    off = np.array(offsets)
    assert off[-1] == pytest.approx(want, abs=1e-7)  # ephemeris + offset after the shaped step
    steps = np.abs(np.diff(off, axis=0)) / 0.01
    assert steps.max() <= 5e-3 * 1.2  # the offset moved at its rate limit per axis, not as a jump
