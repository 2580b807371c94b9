"""Space terminal coarse stage (core): LVLH boresight targets, attitude readback, Sun exclusion, hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsat_pat.core.control import (
    C_MPS,
    MU_EARTH_M3PS2,
    R_EARTH_M,
    BodyPointingConfig,
    BodyPointingController,
    Mode,
    PointingCommand,
    Stage,
    body_target_from_states,
    boresight_from_attitude,
    lvlh_axes,
    lvlh_az_el,
    lvlh_direction,
    sun_safe_direction,
)
from qsat_pat.core.ephemeris import los_rate_in_orbital_frame_radps
from qsat_pat.core.errors import ControlError
from qsat_pat.core.pointahead import space_point_ahead
from qsat_pat.core.safety import angular_separation_rad

ONE_URAD = 1e-6
H_M = 550e3


def _overhead(t_s, incl_rad=1.0471975511965976):  # 60 deg
    """Circular 550 km orbit whose ground track passes over a fixed (non-rotating) station at t = 0."""
    r = R_EARTH_M + H_M
    n = math.sqrt(MU_EARTH_M3PS2 / r ** 3)
    p = np.array([1.0, 0.0, 0.0])
    q = np.array([0.0, math.cos(incl_rad), math.sin(incl_rad)])
    ph = n * t_s
    r_sat = r * (math.cos(ph) * p + math.sin(ph) * q)
    v_sat = r * n * (-math.sin(ph) * p + math.cos(ph) * q)
    return r_sat, v_sat, R_EARTH_M * p, np.zeros(3)


def test_lvlh_axes_are_orthonormal_right_handed_and_along_track():
    r, v, _, _ = _overhead(123.0)
    a = lvlh_axes(r, v)
    np.testing.assert_allclose(a @ a.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.cross(a[0], a[1]), a[2], atol=1e-12)
    assert np.dot(a[0], v / np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-12)  # circular: e1 = velocity
    assert np.dot(a[1], -r / np.linalg.norm(r)) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ControlError, match="parallel"):
        lvlh_axes(r, 2.0 * r)
    with pytest.raises(ControlError, match="finite"):
        lvlh_axes([np.nan, 0, 0], v)


def test_lvlh_angles_round_trip_and_nadir_is_zero():
    r, v, _, _ = _overhead(-40.0)
    for az, el in [(0.0, 0.0), (0.7, -0.3), (-1.2, 0.5), (3.0, 1.0)]:
        u = lvlh_direction(az, el, r, v)
        az2, el2, _, _ = lvlh_az_el(u, r, v)
        assert (az2, el2) == pytest.approx((az, el), abs=1e-12)
    az, el, _, _ = lvlh_az_el(-r, r, v)
    assert (az, el) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_overhead_pass_slew_peaks_at_nanobob_rate_and_rates_match_finite_differences():
    t = np.arange(-200.0, 200.0, 1.0)
    slews = []
    for tk in t:
        tgt = body_target_from_states(*_overhead(tk), point_ahead=False)
        slews.append(tgt.slew_rate_radps)
        # independent formula (core.ephemeris): LOS rate relative to the orbital frame
        rs, vs, rg, vg = _overhead(tk)
        ref = los_rate_in_orbital_frame_radps(rs[None], vs[None], rg[None], vg[None])[0]
        assert tgt.slew_rate_radps == pytest.approx(ref, rel=1e-9, abs=1e-12)
    # seed 001 (NanoBob) §4.5: satellite slew ~12.6 mrad/s at the closest approach of a 550 km pass
    assert max(slews) == pytest.approx(12.6e-3, abs=0.15e-3)
    assert int(np.argmax(slews)) == int(np.argmin(np.abs(t)))
    tca = body_target_from_states(*_overhead(0.0), point_ahead=False)
    assert (tca.az_rad, tca.el_rad, tca.off_nadir_rad) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert tca.range_m == pytest.approx(H_M, rel=1e-9)
    # rates are the time derivatives of the LVLH angles (each sample in its own rotating frame)
    h = 0.01
    for tk in (-150.0, -30.0, 0.0, 75.0):
        a = body_target_from_states(*_overhead(tk - h), point_ahead=False)
        b = body_target_from_states(*_overhead(tk + h), point_ahead=False)
        mid = body_target_from_states(*_overhead(tk), point_ahead=False)
        assert mid.az_rate_radps == pytest.approx((b.az_rad - a.az_rad) / (2 * h), abs=1e-8)
        assert mid.el_rate_radps == pytest.approx((b.el_rad - a.el_rad) / (2 * h), abs=1e-8)
    # ahead of TCA the station is ahead of the satellite (az > 0), behind after it
    assert body_target_from_states(*_overhead(-100.0)).az_rad > 0.3
    assert body_target_from_states(*_overhead(100.0)).az_rad < -0.3


def test_point_ahead_is_the_space_point_ahead_vector():
    for tk in (-120.0, 0.0, 60.0):
        rs, vs, rg, vg = _overhead(tk)
        with_pa = body_target_from_states(rs, vs, rg, vg, point_ahead=True)
        geo = body_target_from_states(rs, vs, rg, vg, point_ahead=False)
        ref = space_point_ahead(rs[None], vs[None], rg[None], vg[None])
        assert with_pa.point_ahead_rad == pytest.approx(float(ref.total_rad[0]), rel=1e-9)
        assert geo.point_ahead_rad == with_pa.point_ahead_rad
        assert (geo.transmit_offset_az_rad, geo.transmit_offset_el_rad) == (
            with_pa.transmit_offset_az_rad, with_pa.transmit_offset_el_rad)
        # the transmit target is half the point-ahead from the geometric line of sight
        got = float(angular_separation_rad(with_pa.az_rad, with_pa.el_rad, geo.az_rad, geo.el_rad))
        assert got == pytest.approx(with_pa.point_ahead_rad / 2, rel=1e-4)
        assert with_pa.az_rad - with_pa.transmit_offset_az_rad == pytest.approx(geo.az_rad, abs=1e-12)
    tca = body_target_from_states(*_overhead(0.0))
    # at TCA the whole satellite velocity is transverse: point-ahead 2 v / c ~ 50.6 urad; the beam
    # leads the geometric line of sight by v / c backwards (the station moves back relative to the
    # satellite)
    v = math.sqrt(MU_EARTH_M3PS2 / (R_EARTH_M + H_M))
    assert tca.point_ahead_rad == pytest.approx(2 * v / C_MPS, rel=1e-9)
    assert tca.point_ahead_rad == pytest.approx(50.6 * ONE_URAD, abs=0.2 * ONE_URAD)
    assert tca.transmit_offset_az_rad == pytest.approx(-v / C_MPS, abs=0.05 * ONE_URAD)
    assert abs(tca.transmit_offset_el_rad) < 0.05 * ONE_URAD


def test_boresight_from_attitude_recovers_target_angles_and_rates():
    from transforms3d.quaternions import mat2quat

    rs, vs, rg, vg = _overhead(-80.0)
    tgt = body_target_from_states(rs, vs, rg, vg, point_ahead=False)
    d = rg - rs
    u = d / np.linalg.norm(d)
    u_dot = ((vg - vs) - np.dot(u, vg - vs) * u) / np.linalg.norm(d)
    x = np.cross(np.array([0.0, 0.0, 1.0]), u)
    x /= np.linalg.norm(x)
    rot = np.column_stack([x, np.cross(u, x), u])  # body -> inertial, body +z on the station
    w_inertial = np.cross(u, u_dot)
    q = mat2quat(rot)
    got = boresight_from_attitude(q, rs, vs, rot.T @ w_inertial)
    assert got == pytest.approx((tgt.az_rad, tgt.el_rad, tgt.az_rate_radps, tgt.el_rate_radps), abs=1e-9)
    with pytest.raises(ControlError, match="norm"):
        boresight_from_attitude(2 * q, rs, vs)
    with pytest.raises(ControlError, match="finite"):
        boresight_from_attitude([np.nan, 0, 0, 1], rs, vs)
    with pytest.raises(ControlError, match="finite"):
        boresight_from_attitude(q, rs, vs, [0.0, np.inf, 0.0])


def test_sun_safe_direction_pushes_to_the_cone_edge_only_when_inside():
    cone = math.radians(45.0)
    az, el, moved = sun_safe_direction(0.1, 0.2, 0.1 + math.radians(30.0), 0.2, cone)
    assert moved
    assert float(angular_separation_rad(az, el, 0.1 + math.radians(30.0), 0.2)) == pytest.approx(cone, abs=1e-8)
    # pushed directly away from the Sun: the original lies between the Sun and the result
    sun_to_target = float(angular_separation_rad(0.1, 0.2, 0.1 + math.radians(30.0), 0.2))
    assert float(angular_separation_rad(az, el, 0.1, 0.2)) == pytest.approx(cone - sun_to_target, abs=1e-8)
    assert sun_safe_direction(0.1, 0.2, 0.1 + math.radians(60.0), 0.2, cone) == (0.1, 0.2, False)
    az, el, moved = sun_safe_direction(0.3, -0.2, 0.3, -0.2, cone)  # target at the Sun
    assert moved and float(angular_separation_rad(az, el, 0.3, -0.2)) == pytest.approx(cone, abs=1e-8)


@settings(max_examples=200, deadline=None)
@given(st.floats(-math.pi, math.pi), st.floats(-1.5, 1.5), st.floats(-math.pi, math.pi), st.floats(-1.5, 1.5),
       st.floats(0.0, math.pi / 2), st.floats(-0.1, 0.1), st.floats(-0.1, 0.1), st.booleans())
def test_property_no_body_command_points_inside_the_sun_cone(az, el, s_az, s_el, cone, az_rate, el_rate, stale):
    ctl = BodyPointingController(BodyPointingConfig(sun_exclusion_rad=cone))
    ctl.request(PointingCommand(0.0, Stage.BODY, Mode.POSITION, az, el, az_rate, el_rate), 0.0)
    out = ctl.step(5.0 if stale else 0.1, s_az, s_el).command
    assert float(angular_separation_rad(out.axis1_rad, out.axis2_rad, s_az, s_el)) >= cone - 1e-9
    assert abs(out.axis1_rate_radps) <= ctl.config.max_rate_radps
    assert out.mode == (Mode.HOLD if stale else Mode.POSITION)


def test_controller_follows_holds_parks_and_rejects_other_stages():
    cfg = BodyPointingConfig(watchdog_period_s=0.5, max_rate_radps=0.01, park_az_rad=0.0, park_el_rad=0.0)
    ctl = BodyPointingController(cfg)
    # nothing requested yet: hold (at the park direction)
    first = ctl.step(0.0)
    assert first.holding and first.command.mode == Mode.HOLD
    ctl.request(PointingCommand(1.0, Stage.BODY, Mode.POSITION, 0.2, -0.1, 0.02, 0.001, "pass"), 1.0)
    out = ctl.step(1.1)
    assert out.command.mode == Mode.POSITION and not out.holding
    # extrapolated with the request's rates, feed-forward clipped to the rate limit
    assert out.command.axis1_rad == pytest.approx(0.2 + 0.02 * 0.1)
    assert out.command.axis1_rate_radps == pytest.approx(0.01) and out.rate_limited
    # requests stop: safe hold at the last commanded direction
    held = ctl.step(2.0)
    assert held.holding and held.command.mode == Mode.HOLD
    assert (held.command.axis1_rad, held.command.axis2_rad) == pytest.approx(
        (out.command.axis1_rad, out.command.axis2_rad))
    assert held.command.axis1_rate_radps == 0.0
    # the Sun drifts onto the held attitude: sun-safe
    sun = ctl.step(2.1, held.command.axis1_rad + 0.1, held.command.axis2_rad)
    assert sun.sun_safe and sun.command.mode == Mode.HOLD
    assert float(angular_separation_rad(sun.command.axis1_rad, sun.command.axis2_rad,
                                        held.command.axis1_rad + 0.1, held.command.axis2_rad)) >= cfg.sun_exclusion_rad - 1e-9
    ctl.request(PointingCommand(3.0, Stage.BODY, Mode.PARK, reason="LOS"), 3.0)
    park = ctl.step(3.0)
    assert park.command.mode == Mode.PARK and (park.command.axis1_rad, park.command.axis2_rad) == (0.0, 0.0)
    with pytest.raises(ControlError, match="STAGE_BODY"):
        ctl.request(PointingCommand(3.0, Stage.MOUNT, Mode.POSITION, 0.1, 0.2), 3.0)
    with pytest.raises(ControlError, match="not finite"):
        PointingCommand(3.0, Stage.BODY, Mode.POSITION, math.nan, 0.2)
    with pytest.raises(ControlError, match="outside"):
        ctl.request(PointingCommand(3.0, Stage.BODY, Mode.POSITION, 0.1, 2.0), 3.0)


def test_tracked_direction_inverts_the_body_tangent_coordinates():
    """A direction seen at tangent (x, y) on the terminal camera, turned back to inertial with
    the attitude, is that direction (the satellite's coarse loop on the tracked beacon)."""
    from transforms3d.euler import euler2quat
    from transforms3d.quaternions import quat2mat

    from qsat_pat.core.control import body_tangent_axes, tracked_direction

    axes = body_tangent_axes((0.0, 0.0, 1.0))
    np.testing.assert_allclose(axes, np.eye(3), atol=1e-15)
    tilted = body_tangent_axes((1.0, 0.0, 0.0))
    np.testing.assert_allclose(tilted @ tilted.T, np.eye(3), atol=1e-12)
    q = euler2quat(0.3, -1.1, 2.0)
    rot = quat2mat(q)  # body -> inertial
    for xy in ((0.0, 0.0), (2e-3, -1e-3), (0.05, 0.02)):
        d_body = np.array([xy[0], xy[1], 1.0]) / math.hypot(1.0, *xy)
        np.testing.assert_allclose(tracked_direction(q, xy), rot @ d_body, atol=1e-12)
    with pytest.raises(ControlError):
        tracked_direction((1.0, 0.0, 0.0, 0.0), (math.nan, 0.0))
    with pytest.raises(ControlError):
        tracked_direction((2.0, 0.0, 0.0, 0.0), (0.0, 0.0))
