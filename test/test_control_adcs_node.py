"""adcs_pointing node over DDS (in-process) with a fake ADCS publisher."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from ros_helpers import spin_until

from qsat_pat.core.terminal.wire import stamp_s

pytestmark = pytest.mark.ros




def _tle_over_station_now(overhead_in_s: float = 5.0):
    """A 550 km sun-synchronous TLE with epoch now and the (geocentric) sub-satellite point of t0 + 5 s."""
    from qsat_pat.core.control import MU_EARTH_M3PS2, R_EARTH_M
    from qsat_pat.core.ephemeris import Ephemeris, gmst1982_rad, make_tle

    t0 = time.time()
    n = math.sqrt(MU_EARTH_M3PS2 / (R_EARTH_M + 550e3) ** 3)
    tle = make_tle(epoch_unix_s=t0, inclination_rad=math.radians(97.6), raan_rad=0.5, eccentricity=0.0001,
                   arg_perigee_rad=0.0, mean_anomaly_rad=0.3, mean_motion_radps=n)
    r, _ = Ephemeris(tle).propagate_teme(t0 + overhead_in_s)
    theta, _ = gmst1982_rad(np.array([t0 + overhead_in_s]))
    c, s = math.cos(theta[0]), math.sin(theta[0])
    x, y, z = c * r[0, 0] + s * r[0, 1], -s * r[0, 0] + c * r[0, 1], r[0, 2]
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    lon = math.degrees(math.atan2(y, x))
    return tle, lat, lon


def _attitude_msg(tle, az, el, stamp, node):
    """AdcsState whose body +z points along LVLH (az, el) at ``stamp`` seconds."""
    from transforms3d.quaternions import mat2quat

    from qsat_pat.core.control import lvlh_direction
    from qsat_pat.core.ephemeris import Ephemeris
    from qsat_pat.msg import AdcsState
    from qsat_pat.nodes.convert import s_to_stamp

    r, v = Ephemeris(tle).propagate_teme(stamp)
    u = lvlh_direction(az, el, r[0], v[0])
    x = np.cross(np.cross(r[0], v[0]), u)  # roll fixed by the orbit normal (never along the boresight)
    x /= np.linalg.norm(x)
    q = mat2quat(np.column_stack([x, np.cross(u, x), u]))
    msg = AdcsState(mode="target_pointing")
    msg.header.stamp = s_to_stamp(stamp)
    msg.header.frame_id = "eci"
    msg.attitude.w, msg.attitude.x, msg.attitude.y, msg.attitude.z = (float(v) for v in q)
    return msg


def _station_node(rclpy_context, ns: str, *overrides, overhead_in_s: float = 5.0):
    """adcs_pointing on a TLE over its station (fixed Sun far away, 20 Hz), a client node in
    its namespace and an executor spinning both: (node, client, executor, tle)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.nodes.adcs_pointing import AdcsPointingNode

    tle, lat, lon = _tle_over_station_now(overhead_in_s)
    node = AdcsPointingNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", f"__ns:=/{ns}"],
        parameter_overrides=[Parameter("tle_line1", value=tle.line1), Parameter("tle_line2", value=tle.line2),
                             Parameter("site_lat_deg", value=lat), Parameter("site_lon_deg", value=lon),
                             Parameter("site_alt_m", value=0.0), Parameter("rate_hz", value=20.0),
                             Parameter("sun_source", value="fixed"), Parameter("sun_az_rad", value=math.pi),
                             Parameter("sun_el_rad", value=0.0), *overrides])
    client = rclpy.create_node(f"{ns}_client", namespace=f"/{ns}", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    return node, client, ex, tle


def test_adcs_pointing_targets_the_station_reads_back_attitude_and_keeps_out_of_the_sun(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.core.safety import angular_separation_rad
    from qsat_pat.msg import ActuatorState, AdcsState, EphemerisState, PointingCommand
    from qsat_pat.nodes.adcs_pointing import AdcsPointingNode
    from qsat_pat.nodes.pattern import Qos

    tle, lat, lon = _tle_over_station_now()
    node = AdcsPointingNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/adcs_test"],
        parameter_overrides=[Parameter("tle_line1", value=tle.line1), Parameter("tle_line2", value=tle.line2),
                             Parameter("site_lat_deg", value=lat), Parameter("site_lon_deg", value=lon),
                             Parameter("site_alt_m", value=0.0), Parameter("rate_hz", value=20.0),
                             Parameter("adcs_timeout_s", value=0.3), Parameter("sun_source", value="fixed"),
                             Parameter("sun_az_rad", value=math.pi), Parameter("sun_el_rad", value=0.0)])
    client = rclpy.create_node("adcs_client", namespace="/adcs_test", context=rclpy_context)
    adcs_pub = client.create_publisher(AdcsState, "adcs_state", Qos.STREAM)
    targets: list[PointingCommand] = []
    states: list[ActuatorState] = []
    client.create_subscription(PointingCommand, "body_target", targets.append, Qos.COMMAND)
    client.create_subscription(ActuatorState, "body_state", states.append, Qos.STREAM)
    ephs: list[EphemerisState] = []
    client.create_subscription(EphemerisState, "ogs_ephemeris", ephs.append, Qos.STATE)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    try:
        assert node.autostart()
        assert spin_until(ex, lambda: len(targets) > 2 and len(states) > 2 and ephs)
        e = ephs[-1]
        assert e.visible and e.header.frame_id == "lvlh" and 520e3 < e.range_m < 620e3
        assert math.hypot(e.point_ahead_az_rad * math.cos(e.el_rad), e.point_ahead_el_rad) == pytest.approx(
            e.point_ahead_rad, rel=1e-3)
        assert e.sun_separation_rad > math.radians(45.0)
        # no ADCS telemetry yet: fault reported, target already computed from the TLE
        assert states[-1].fault and "no ADCS telemetry" in states[-1].fault_reason
        t = targets[-1]
        assert t.stage == PointingCommand.STAGE_BODY and t.mode == PointingCommand.MODE_POSITION
        # the station is (nearly) under the satellite: boresight near nadir, slewing at ~12 mrad/s
        assert abs(t.axis1_rad) < 0.15 and abs(t.axis2_rad) < 0.15
        slew = math.hypot(t.axis1_rate_radps * math.cos(t.axis2_rad), t.axis2_rate_radps)
        assert 8e-3 < slew < 16e-3
        assert 45.0 < float(node.diagnostic_values()["point_ahead_urad"]) < 56.0

        # fake ADCS on target: the readback matches the commanded target
        def feed_on_target():
            tt = targets[-1]
            adcs_pub.publish(_attitude_msg(tle, tt.axis1_rad, tt.axis2_rad, node.now_s(), node))
            return bool(states) and not states[-1].fault

        assert spin_until(ex, feed_on_target)
        assert spin_until(ex, lambda: feed_on_target() and abs(states[-1].axis1_rad - targets[-1].axis1_rad) < 2e-3
                     and abs(states[-1].axis2_rad - targets[-1].axis2_rad) < 2e-3)
        assert not states[-1].holding and states[-1].stage == PointingCommand.STAGE_BODY
        # bad telemetry: rejected and counted, never a crash
        bad = _attitude_msg(tle, 0.0, 0.0, node.now_s(), node)
        bad.attitude.w = math.nan
        adcs_pub.publish(bad)
        skew = _attitude_msg(tle, 0.0, 0.0, node.now_s(), node)
        skew.attitude.w *= 2.0
        adcs_pub.publish(skew)
        assert spin_until(ex, lambda: node.counters["rejected_non_finite_adcs_state"] == 1
                     and node.counters["rejected_bad_quaternion"] == 1)
        # the Sun comes next to the target: the target is pushed to the 45 deg cone edge
        sun = (targets[-1].axis1_rad + 0.2, targets[-1].axis2_rad)
        node.set_parameters([Parameter("sun_az_rad", value=sun[0]), Parameter("sun_el_rad", value=sun[1])])
        n = len(targets)
        assert spin_until(ex, lambda: len(targets) > n + 2 and node.counters["sun_safe"] > 0)
        c = targets[-1]
        assert float(angular_separation_rad(c.axis1_rad, c.axis2_rad, *sun)) >= math.radians(45.0) - 1e-6
        assert "Sun" in c.reason
        # ADCS telemetry stops: fault with a reason, node keeps publishing targets
        n = len(targets)
        assert spin_until(ex, lambda: states[-1].fault and "for" in states[-1].fault_reason and len(targets) > n + 3)
        # the Sun computed from the orbit: the published separation is the satellite-centred angle
        # between the station and the Sun at the message's stamp
        from qsat_pat.core.ephemeris import Ephemeris, EphemerisConfig
        from qsat_pat.core.sun import sun_position_teme_m
        from qsat_pat.nodes.convert import stamp_to_s

        node.set_parameters([Parameter("sun_source", value="computed")])
        n = len(ephs)
        assert spin_until(ex, lambda: len(ephs) > n + 2)
        e = ephs[-1]
        t = stamp_to_s(e.header.stamp)
        eph = Ephemeris(tle, EphemerisConfig(site_lat_deg=lat, site_lon_deg=lon, site_alt_m=0.0))
        r, _ = eph.propagate_teme(t)
        r_site = eph.site_teme(t)[0]
        u = (r_site - r)[0]
        s = sun_position_teme_m(t).reshape(3) - r[0]
        expected = math.acos(float(np.dot(u, s) / np.linalg.norm(u) / np.linalg.norm(s)))
        assert e.sun_separation_rad == pytest.approx(expected, abs=1e-6)
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_adcs_pointing_follows_body_commands_rejects_bad_ones_and_holds(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.msg import ActuatorState, PointingCommand
    from qsat_pat.nodes.adcs_pointing import AdcsPointingNode
    from qsat_pat.nodes.pattern import Qos

    node = AdcsPointingNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/adcs_cmd_test"],
        parameter_overrides=[Parameter("target_source", value="command"), Parameter("sun_source", value="fixed"),
                             Parameter("rate_hz", value=20.0), Parameter("watchdog_period_s", value=0.3)])
    client = rclpy.create_node("adcs_cmd_client", namespace="/adcs_cmd_test", context=rclpy_context)
    cmd_pub = client.create_publisher(PointingCommand, "body_command", Qos.COMMAND)
    targets: list[PointingCommand] = []
    states: list[ActuatorState] = []
    client.create_subscription(PointingCommand, "body_target", targets.append, Qos.COMMAND)
    client.create_subscription(ActuatorState, "body_state", states.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)

    def cmd(stage=PointingCommand.STAGE_BODY, az=0.1, el=-0.05):
        return PointingCommand(stage=stage, mode=PointingCommand.MODE_POSITION, axis1_rad=az, axis2_rad=el,
                               reason="pat_manager scan")

    try:
        assert node.autostart()
        assert spin_until(ex, lambda: cmd_pub.get_subscription_count() > 0 and len(targets) > 0)
        assert targets[-1].mode == PointingCommand.MODE_HOLD  # nothing commanded yet
        assert spin_until(ex, lambda: (cmd_pub.publish(cmd()) or True) and targets[-1].mode == PointingCommand.MODE_POSITION)
        assert (targets[-1].axis1_rad, targets[-1].axis2_rad) == pytest.approx((0.1, -0.05), abs=1e-9)
        assert targets[-1].reason == "pat_manager scan"
        # no ADCS telemetry here: body_state only after the start-up grace (adcs_timeout_s, 1 s), as a fault
        assert spin_until(ex, lambda: (cmd_pub.publish(cmd()) or True) and states and not states[-1].holding)
        assert node.counters["waiting_for_adcs"] > 0
        assert states[-1].fault and "no ADCS telemetry received" in states[-1].fault_reason
        assert states[-1].mode == PointingCommand.MODE_POSITION
        # wrong stage and NaN: rejected with reasons, never forwarded
        cmd_pub.publish(cmd(stage=PointingCommand.STAGE_MOUNT))
        cmd_pub.publish(cmd(az=math.nan))
        assert spin_until(ex, lambda: node.counters["rejected_bad_body_command"] == 2)
        assert all(not math.isnan(t.axis1_rad) for t in targets)
        # commands stop: safe hold at the last attitude after the watchdog period
        assert spin_until(ex, lambda: targets[-1].mode == PointingCommand.MODE_HOLD and states[-1].holding)
        assert (targets[-1].axis1_rad, targets[-1].axis2_rad) == pytest.approx((0.1, -0.05), abs=1e-9)
        assert states[-1].command_age_s > 0.3
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_adcs_pointing_closes_the_coarse_loop_on_the_tracked_beacon(rclpy_context):
    """With track_enabled, a fresh beacon track (body tangent frame) moves the body target onto
    the tracked beacon; a coasting track, or one far from the predicted station, does not."""
    from rclpy.parameter import Parameter

    from qsat_pat.core.control import body_target_from_states
    from qsat_pat.core.safety import angular_separation_rad
    from qsat_pat.msg import AdcsState, PointingCommand, TrackEstimate
    from qsat_pat.nodes.convert import s_to_stamp, stamp_to_s
    from qsat_pat.nodes.pattern import Qos

    node, client, ex, tle = _station_node(rclpy_context, "adcs_track_test",
                                          Parameter("point_ahead_enabled", value=False),
                                          Parameter("track_enabled", value=True),
                                          Parameter("offload_enabled", value=False))
    adcs_pub = client.create_publisher(AdcsState, "adcs_state", Qos.STREAM)
    track_pub = client.create_publisher(TrackEstimate, "beacon_track", Qos.STREAM)
    targets: list[PointingCommand] = []
    client.create_subscription(PointingCommand, "body_target", targets.append, Qos.COMMAND)
    los = (1.0e-3, -0.5e-3)

    def geometric(t_s=None):
        now = node.now_s() if t_s is None else t_s
        return now, body_target_from_states(*node.part.orbit(now)[:4], point_ahead=False)

    def feed(los_xy, unmeasured_s=0.0):
        """Body on the predicted station; the beacon tracked at los_xy from the boresight, its
        last measurement ``unmeasured_s`` ago (> 0: a coasting estimate)."""
        now, g = geometric()
        adcs_pub.publish(_attitude_msg(tle, g.az_rad, g.el_rad, now, node))
        m = TrackEstimate(model="cv", coasting=unmeasured_s > 0.0, time_since_measurement_s=unmeasured_s)
        m.header.stamp = s_to_stamp(now)
        m.header.frame_id = "space_fsm"
        m.los_x_rad, m.los_y_rad = los_xy
        track_pub.publish(m)

    def off_station(at_attitude_time=False):
        """Separation of the last target from the predicted station at the target's own time
        (the station moves ~12 mrad/s), or at the time of the attitude the node last took: a
        tracked target is that attitude's boresight turned by the LOS, fixed in inertial space,
        so on a loaded machine (the attitude taken up to a tick before the target) only that
        comparison gives |los| (the target's time gave 0.6-0.95 mrad for 1.12)."""
        t = targets[-1]
        when = stamp_s(node.part.adcs.stamp_ns) if at_attitude_time else stamp_to_s(t.header.stamp)
        _, g = geometric(when)
        return float(angular_separation_rad(t.axis1_rad, t.axis2_rad, g.az_rad, g.el_rad))

    try:
        assert node.autostart()
        assert spin_until(ex, lambda: len(targets) > 2)
        assert "tle geometry" in targets[-1].reason
        # a fresh track: the target is the tracked beacon, |los| from the predicted station
        assert spin_until(ex, lambda: feed(los) or ("beacon track" in targets[-1].reason
                                                    and abs(off_station(True) - math.hypot(*los)) < 0.2e-3))
        assert node.counters["tracked_targets"] > 0
        # a coast between frames (10 ms unmeasured) is still the track; a long one is not
        n_tracked = node.counters["tracked_targets"]
        assert spin_until(ex, lambda: feed(los, unmeasured_s=0.01) or node.counters["tracked_targets"] > n_tracked + 3)
        assert "beacon track" in targets[-1].reason
        assert spin_until(ex, lambda: feed(los, unmeasured_s=10.0) or ("tle geometry" in targets[-1].reason
                                                                       and off_station() < 0.2e-3))
        # a track 10 mrad from the predicted station (a false lock): refused and counted
        assert spin_until(ex, lambda: feed((10e-3, 0.0)) or (node.counters["rejected_track_too_far"] > 0
                                                             and "tle geometry" in targets[-1].reason))
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_adcs_pointing_offloads_a_steady_beacon_offset_into_the_body_target(rclpy_context):
    """offload_enabled: a beacon held off the boresight (a body that lags its target) is
    integrated into the tracked target at offload_gain_per_s, in the beacon's direction (the
    body is sent further towards it), limited to offload_max_rad; it is frozen while the track
    is stale and zero when the station leaves view.  The ROS pass's satellite FSM carried
    0.25-0.5 mrad without it; the direct mode has the same continuous offload."""
    from rclpy.parameter import Parameter

    from qsat_pat.core.control import body_target_from_states
    from qsat_pat.msg import AdcsState, PointingCommand, TrackEstimate
    from qsat_pat.nodes.convert import s_to_stamp
    from qsat_pat.nodes.pattern import Qos

    node, client, ex, tle = _station_node(rclpy_context, "adcs_offload_test",
                                          Parameter("point_ahead_enabled", value=False),
                                          Parameter("track_enabled", value=True),
                                          Parameter("offload_gain_per_s", value=0.5),
                                          Parameter("offload_max_rad", value=0.3e-3))
    adcs_pub = client.create_publisher(AdcsState, "adcs_state", Qos.STREAM)
    track_pub = client.create_publisher(TrackEstimate, "beacon_track", Qos.STREAM)
    targets: list[PointingCommand] = []
    client.create_subscription(PointingCommand, "body_target", targets.append, Qos.COMMAND)
    los = np.array([0.4e-3, -0.2e-3])

    def feed(unmeasured_s=0.0):
        now = node.now_s()
        g = body_target_from_states(*node.part.orbit(now)[:4], point_ahead=False)
        adcs_pub.publish(_attitude_msg(tle, g.az_rad, g.el_rad, now, node))
        m = TrackEstimate(model="cv", coasting=unmeasured_s > 0.0, time_since_measurement_s=unmeasured_s)
        m.header.stamp = s_to_stamp(now)
        m.los_x_rad, m.los_y_rad = (float(v) for v in los)
        track_pub.publish(m)

    try:
        assert node.autostart()
        assert spin_until(ex, lambda: feed() or node.counters["tracked_targets"] > 0)
        t0, off0 = node.now_s(), node.offload_rad.copy()
        assert spin_until(ex, lambda: feed() or node.now_s() - t0 > 0.6)
        rate = (node.offload_rad - off0) / (node.now_s() - t0)
        # along the beacon's offset, at up to gain x offset (the mean filter starts from zero)
        assert float(np.dot(rate, los)) > 0.0
        cos = float(np.dot(rate, los)) / (np.linalg.norm(rate) * np.linalg.norm(los))
        assert cos > 0.99, (rate, los)
        assert 0.1 * 0.5 * np.linalg.norm(los) < np.linalg.norm(rate) <= 0.5 * np.linalg.norm(los) * 1.05
        # limited per axis
        assert spin_until(ex, lambda: feed() or abs(node.offload_rad[0]) >= 0.3e-3 - 1e-12, timeout_s=15.0)
        assert np.all(np.abs(node.offload_rad) <= 0.3e-3 + 1e-12)
        # a stale track: frozen
        n = node.counters["targets"]
        assert spin_until(ex, lambda: feed(unmeasured_s=10.0) or node.counters["targets"] > n + 8)
        held = node.offload_rad.copy()  # (the last fresh track may serve a few ticks)
        n = node.counters["targets"]
        assert spin_until(ex, lambda: feed(unmeasured_s=10.0) or node.counters["targets"] > n + 5)
        np.testing.assert_array_equal(node.offload_rad, held)
        assert node.diagnostic_values()["offload_x_urad"] == f"{held[0] * 1e6:.1f}"
        # the station out of view: reset
        node.set_parameters([Parameter("min_el_deg", value=89.0)])
        assert spin_until(ex, lambda: feed() or not np.any(node.offload_rad))
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_adcs_pointing_gives_the_fsm_the_point_ahead_in_its_own_axes(rclpy_context):
    """fsm_ephemeris carries the point-ahead in the body tangent frame: its size is the
    point-ahead, and rolling the body about the boresight rotates it the other way."""
    from rclpy.parameter import Parameter
    from transforms3d.quaternions import qmult

    from qsat_pat.msg import AdcsState, EphemerisState, PointingCommand
    from qsat_pat.nodes.pattern import Qos

    node, client, ex, tle = _station_node(rclpy_context, "adcs_pa_test", Parameter("point_ahead_enabled", value=False))
    adcs_pub = client.create_publisher(AdcsState, "adcs_state", Qos.STREAM)
    targets: list[PointingCommand] = []
    fsm_ephs: list[EphemerisState] = []
    client.create_subscription(PointingCommand, "body_target", targets.append, Qos.COMMAND)
    client.create_subscription(EphemerisState, "fsm_ephemeris", fsm_ephs.append, Qos.STATE)

    def feed(roll_rad):
        t = targets[-1]
        msg = _attitude_msg(tle, t.axis1_rad, t.axis2_rad, node.now_s(), node)
        a = msg.attitude
        q = qmult((a.w, a.x, a.y, a.z), (math.cos(roll_rad / 2), 0.0, 0.0, math.sin(roll_rad / 2)))  # about body z
        a.w, a.x, a.y, a.z = (float(v) for v in q)
        adcs_pub.publish(msg)

    try:
        assert node.autostart()
        assert spin_until(ex, lambda: len(targets) > 2)
        assert not fsm_ephs  # no attitude yet: no FSM-frame point-ahead
        assert spin_until(ex, lambda: feed(0.0) or len(fsm_ephs) > 3)
        e0 = fsm_ephs[-1]
        assert e0.header.frame_id == "body_tangent" and e0.el_rad == 0.0 and e0.visible
        pa0 = np.array([e0.point_ahead_az_rad, e0.point_ahead_el_rad])
        assert float(np.linalg.norm(pa0)) == pytest.approx(e0.point_ahead_rad, rel=0.02)
        assert 20e-6 < e0.point_ahead_rad < 60e-6  # seed 004 §2.1: tens of urad in LEO
        n = len(fsm_ephs)
        assert spin_until(ex, lambda: feed(math.pi / 2) or len(fsm_ephs) > n + 3)
        e1 = fsm_ephs[-1]
        pa1 = np.array([e1.point_ahead_az_rad, e1.point_ahead_el_rad])
        # body rolled +90 deg about z: a fixed vector's body coordinates turn by -90 deg
        expected = np.array([pa0[1], -pa0[0]]) * (np.linalg.norm(pa1) / np.linalg.norm(pa0))
        np.testing.assert_allclose(pa1, expected, atol=0.05 * np.linalg.norm(pa0))
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


@pytest.mark.parametrize("pre_point_s", [600.0, 0.0])
def test_adcs_pointing_pre_points_at_aos_instead_of_parking(rclpy_context, pre_point_s):
    """The station below the mask, overhead in 600 s (AOS a few minutes before): with pre_point_s the
    body is sent to the station's direction at AOS (a slew from park takes the ADCS ~20 s of
    the pass); with 0 it parks until AOS."""
    from rclpy.parameter import Parameter

    from qsat_pat.core.control import body_target_from_states
    from qsat_pat.core.safety import angular_separation_rad
    from qsat_pat.msg import PointingCommand
    from qsat_pat.nodes.pattern import Qos

    node, client, ex, _ = _station_node(rclpy_context, f"adcs_pre_{int(pre_point_s)}",
                                        Parameter("point_ahead_enabled", value=False),
                                        Parameter("pre_point_s", value=pre_point_s), overhead_in_s=600.0)
    targets: list[PointingCommand] = []
    client.create_subscription(PointingCommand, "body_target", targets.append, Qos.COMMAND)
    try:
        assert node.autostart()
        assert spin_until(ex, lambda: len(targets) > 3)
        now = node.now_s()
        assert not node.part.orbit(now)[4]  # below the mask
        t = targets[-1]
        if pre_point_s == 0.0:
            assert t.mode == PointingCommand.MODE_PARK and "park" in t.reason
            return
        assert t.mode == PointingCommand.MODE_POSITION and "pre-pointing at AOS in" in t.reason
        t_aos = node.part._aos[1]
        assert now < t_aos < now + 600.0 and node.part.orbit(t_aos)[4] and not node.part.orbit(t_aos - 1.0)[4]
        g = body_target_from_states(*node.part.orbit(t_aos)[:4], point_ahead=False)
        assert float(angular_separation_rad(t.axis1_rad, t.axis2_rad, g.az_rad, g.el_rad)) < 1e-6
        assert node.counters["pre_point_ticks"] > 0
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
