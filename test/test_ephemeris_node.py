"""The ephemeris node over DDS on simulated time: state, mount set-points, pass plan, bad TLEs."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

DATA = Path(__file__).resolve().parent / "data"
T_TCA = 1709306954.78  # 2024-03-01T15:29:14.78Z: TCA of a 52.7 deg pass of leo500_sso.tle over Ngari


def test_ephemeris_node_publishes_and_survives_bad_tles(rclpy_context):
    import rclpy
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import String

    from qsat_pat.core.ephemeris import Ephemeris, EphemerisConfig, load_tle_file, make_tle
    from qsat_pat.msg import EphemerisState, PointingCommand
    from qsat_pat.nodes.ephemeris import EphemerisNode
    from qsat_pat.nodes.pattern import Qos

    ns = "/eph_test"
    node = EphemerisNode(context=rclpy_context, cli_args=[
        "--ros-args", "-r", f"__ns:={ns}", "-p", "use_sim_time:=true", "-p", f"tle_file:={DATA / 'leo500_sso.tle'}",
        "-p", "rate_hz:=20.0", "-p", "mount_el_max_deg:=180.0", "-p", "mount_el_min_deg:=0.0"])
    client = rclpy.create_node("eph_client", namespace=ns, context=rclpy_context)
    clock_pub = client.create_publisher(Clock, "/clock", 10)
    tle_pub = client.create_publisher(String, "tle", Qos.STATE)
    states, cmds, plans, diags = [], [], [], []
    client.create_subscription(EphemerisState, "ephemeris", states.append, Qos.STATE)
    client.create_subscription(PointingCommand, "mount_setpoint", cmds.append, Qos.COMMAND)
    client.create_subscription(String, "pass_plan", plans.append, Qos.STATE)
    client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    sim_t = [T_TCA - 2.0]

    def spin_until(cond, timeout_s=15.0):
        deadline = time.monotonic() + timeout_s
        while not cond() and time.monotonic() < deadline:
            sim_t[0] += 0.05
            ns_int = int(sim_t[0] * 1e9)
            clock_pub.publish(Clock(clock=Time(sec=ns_int // 10**9, nanosec=ns_int % 10**9)))
            ex.spin_once(timeout_sec=0.02)
        return cond()

    try:
        assert node.autostart()
        assert spin_until(lambda: len(states) >= 5 and len(cmds) >= 3 and plans)
        ref = Ephemeris(load_tle_file(DATA / "leo500_sso.tle"), node.config.ephemeris_config())
        s = states[-1]
        t_s = s.header.stamp.sec + s.header.stamp.nanosec * 1e-9
        core = ref.state_at(t_s)
        assert abs(t_s - T_TCA) < 10.0
        assert s.target == "MICIUS-LIKE" and s.visible
        assert s.az_rad == pytest.approx(core.az_rad, abs=1e-9)
        assert s.el_rad == pytest.approx(core.el_rad, abs=1e-9)
        assert s.point_ahead_rad == pytest.approx(core.point_ahead_rad, abs=1e-12)
        assert 40e-6 < s.point_ahead_rad < 53e-6
        plan = json.loads(plans[-1].data)
        assert plan["pass"]["max_el_deg"] == pytest.approx(52.74, abs=0.05)
        assert plan["feasible"] and plan["mode"] in ("normal", "flipped", "over_the_top")
        c = cmds[-1]
        assert c.stage == PointingCommand.STAGE_MOUNT and c.mode == PointingCommand.MODE_POSITION
        assert "pass plan" in c.reason
        # the set-point is the refracted apparent direction (planned path == target on this pass)
        same = ref.state_at(c.header.stamp.sec + c.header.stamp.nanosec * 1e-9)
        assert math.remainder(c.axis1_rad - same.az_rad, 2 * math.pi) == pytest.approx(0.0, abs=1e-4)
        assert c.axis2_rad == pytest.approx(same.el_refracted_rad, abs=1e-4)
        assert c.axis1_rate_radps == pytest.approx(same.az_rate_radps, abs=1e-4)

        # a corrupted TLE on the topic is refused; the node keeps the good one
        good = load_tle_file(DATA / "leo500_sso.tle")
        tle_pub.publish(String(data=good.line1[:-1] + "0\n" + good.line2))
        n0 = len(states)
        assert spin_until(lambda: node.counters["rejected_bad_tle"] == 1 and len(states) > n0 + 3)
        assert states[-1].target == "MICIUS-LIKE"
        assert spin_until(lambda: any("rejected_bad_tle" in [kv.key for kv in d.status[0].values]
                                      for d in diags if d.status and d.status[0].name.startswith(ns)))

        # a valid new TLE replaces it
        new = make_tle(epoch_unix_s=T_TCA - 3600.0, inclination_rad=math.radians(51.6), raan_rad=1.0,
                       eccentricity=1e-3, arg_perigee_rad=0.0, mean_anomaly_rad=0.0,
                       mean_motion_radps=2 * math.pi / 5554.0, name="OTHER")
        tle_pub.publish(String(data=f"OTHER\n{new.line1}\n{new.line2}\n"))
        assert spin_until(lambda: states[-1].target == "OTHER")
        assert node.counters["tle_loaded"] == 2
        assert EphemerisConfig  # the node's config is an EphemerisConfig
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
