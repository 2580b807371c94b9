"""fsm_controller and pat_manager nodes over DDS (in-process)."""

from __future__ import annotations

import math

import pytest
from ros_helpers import spin_until

pytestmark = pytest.mark.ros




def _centroid(camera_id, x, y, valid=True, stamp_s=None, node=None):
    from qsat_pat.msg import BeaconCentroid

    msg = BeaconCentroid(camera_id=camera_id, valid=valid, x_px=float(x), y_px=float(y))
    if node is not None:
        msg.header.stamp = node.get_clock().now().to_msg()
    return msg


def test_fsm_controller_commands_rejects_nan_and_holds(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.msg import ActuatorState, BeaconCentroid, PointingCommand
    from qsat_pat.nodes.fsm_controller import FsmControllerNode
    from qsat_pat.nodes.pattern import Qos

    node = FsmControllerNode(context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/fsm_test"],
                             parameter_overrides=[Parameter("watchdog_period_s", value=0.2),
                                                  Parameter("state_rate_hz", value=20.0)])
    client = rclpy.create_node("fsm_client", namespace="/fsm_test", context=rclpy_context)
    pub = client.create_publisher(BeaconCentroid, "beacon_centroid", Qos.STREAM)
    cmds: list[PointingCommand] = []
    states: list[ActuatorState] = []
    client.create_subscription(PointingCommand, "fsm_command", cmds.append, Qos.COMMAND)
    client.create_subscription(ActuatorState, "fsm_state", states.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    try:
        assert node.autostart()
        assert spin_until(ex, lambda: pub.get_subscription_count() > 0 and len(states) > 0)
        # closed loop through a unit plant: the beacon sits at los = -16.17 urad on tip, so the
        # spot is at 128 + (u - los) / 1.617 urad/px (10 px right at u = 0)
        u = 0.0
        for _ in range(40):
            pub.publish(_centroid("ogs_fine", 128.0 + (u + 16.17e-6) / 1.617e-6, 128.0, node=client))
            n = len(cmds)
            assert spin_until(ex, lambda n=n: len(cmds) > n)
            u = cmds[-1].axis1_rad
        last = cmds[-1]
        assert last.stage == PointingCommand.STAGE_FSM and last.mode == PointingCommand.MODE_POSITION
        assert last.axis1_rad == pytest.approx(-16.17e-6, rel=0.05)
        assert abs(last.axis2_rad) < 1e-9
        # NaN centroid: rejected, counted, no command
        n = len(cmds)
        pub.publish(_centroid("ogs_fine", math.nan, 1.0, node=client))
        pub.publish(_centroid("ogs_coarse", 1.0, 1.0, node=client))  # another camera: ignored
        assert spin_until(ex, lambda: node.counters["rejected_non_finite_centroid"] == 1
                     and node.counters["ignored_other_camera"] == 1)
        spin_until(ex, lambda: False, timeout_s=0.1)
        assert len(cmds) == n
        # no centroid for > watchdog period: holding reported
        assert spin_until(ex, lambda: states and states[-1].holding)
        assert states[-1].stage == PointingCommand.STAGE_FSM and states[-1].command_age_s > 0.2
        assert not states[-1].fault
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_fsm_controller_follows_pat_and_hands_back_to_the_coarse_camera(rclpy_context):
    """Outside COARSE_TRACK/FINE_TRACK the mirror is centred; in COARSE_TRACK with the fine
    beacon lost for fine_lost_s, coarse-camera centroids (minus the mirror) steer it onto the
    line of sight, so the spot comes back into the fine camera's field after a cloud.  The node
    runs on simulated time stepped by the test (1 ms a frame): on the wall clock the loop's
    integration depended on the machine's load (seen: 46.8 instead of 40 urad)."""
    import rclpy
    from builtin_interfaces.msg import Time
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock

    from qsat_pat.msg import BeaconCentroid, PatStatus, PointingCommand
    from qsat_pat.nodes.fsm_controller import FsmControllerNode
    from qsat_pat.nodes.pattern import Qos

    node = FsmControllerNode(context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/fsm_pat_test"],
                             parameter_overrides=[Parameter("coarse_camera_id", value="ogs_coarse"),
                                                  Parameter("fine_lost_s", value=0.02),
                                                  Parameter("use_sim_time", value=True)])
    client = rclpy.create_node("fsm_pat_client", namespace="/fsm_pat_test", context=rclpy_context)
    fine_pub = client.create_publisher(BeaconCentroid, "beacon_centroid", Qos.STREAM)
    coarse_pub = client.create_publisher(BeaconCentroid, "coarse_centroid", Qos.STREAM)
    pat_pub = client.create_publisher(PatStatus, "pat_status", Qos.STREAM)
    cmds: list[PointingCommand] = []
    client.create_subscription(PointingCommand, "fsm_command", cmds.append, Qos.COMMAND)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    clock = {"ns": 1_000 * 10**9}

    def advance(dt_s: float) -> None:
        clock["ns"] += int(round(dt_s * 1e9))
        node._time_source.clock_callback(Clock(clock=Time(sec=clock["ns"] // 10**9, nanosec=clock["ns"] % 10**9)))

    def frame(camera_id, x, y, valid=True):
        msg = BeaconCentroid(camera_id=camera_id, valid=valid, x_px=float(x), y_px=float(y))
        msg.header.stamp = Time(sec=clock["ns"] // 10**9, nanosec=clock["ns"] % 10**9)
        return msg

    def send(pub, msg):
        n_in = node.counters["commands"]
        pub.publish(msg)
        if pub is fine_pub:
            assert spin_until(ex, lambda: node.counters["commands"] > n_in and len(cmds) >= node.counters["commands"])
        else:  # taken before the next fine frame (two publishers: DDS does not order them)
            assert spin_until(ex, lambda: node.part.coarse_pending is not None)

    def pat(state):
        pat_pub.publish(PatStatus(state=state))
        assert spin_until(ex, lambda: node.part.pat_state == state)

    try:
        assert node.autostart()
        advance(0.0)
        assert spin_until(ex, lambda: min(p.get_subscription_count() for p in (fine_pub, coarse_pub, pat_pub)) > 0)
        los = 40e-6  # the beacon 40 urad off on tip; the fine spot at 128 + (u - los) / 1.617 urad/px
        # ACQUIRE: a fine detection does not move the mirror (centred, the loop restarts on lock)
        pat(PatStatus.STATE_ACQUIRE)
        advance(1e-3)
        send(fine_pub, frame("ogs_fine", 128.0 - los / 1.617e-6, 128.0))
        assert cmds[-1].axis1_rad == 0.0 and cmds[-1].reason.startswith("centred")
        # COARSE_TRACK, fine camera blind: the coarse camera (not behind the FSM: its spot at
        # 1224 - los / 8.5 urad/px) steers the mirror onto the line of sight
        pat(PatStatus.STATE_COARSE_TRACK)
        for _ in range(30):  # blind 1 kHz fine frames for longer than fine_lost_s
            advance(1e-3)
            send(fine_pub, frame("ogs_fine", math.nan, math.nan, valid=False))
            assert cmds[-1].reason == "fine coast (no detection)"
        for k in range(400):  # 0.4 s of 1 kHz fine frames, a 50 Hz coarse frame before every 20th
            if k % 20 == 0:
                send(coarse_pub, frame("ogs_coarse", 1224.0 - los / 8.5e-6, 1025.0))
            advance(1e-3)
            send(fine_pub, frame("ogs_fine", math.nan, math.nan, valid=False))
            if k % 20 == 0:
                assert cmds[-1].reason == "coarse camera (fine beacon lost)"
        assert node.counters["coarse_steered"] == 20
        assert cmds[-1].axis1_rad == pytest.approx(los, rel=0.1) and abs(cmds[-1].axis2_rad) < 1e-9
        # a coarse centroid is used once: the blind frames between coarse frames coast
        assert cmds[-1].reason == "fine coast (no detection)"
        # COAST: centred again
        pat(PatStatus.STATE_COAST)
        advance(1e-3)
        send(fine_pub, frame("ogs_fine", math.nan, math.nan, valid=False))
        assert cmds[-1].axis1_rad == 0.0 and cmds[-1].reason.startswith("centred")
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_pat_manager_reaches_fine_track_and_gates_the_laser(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.msg import BeaconCentroid, EphemerisState, PatStatus
    from qsat_pat.nodes.pat_manager import PatManagerNode
    from qsat_pat.nodes.pattern import Qos

    node = PatManagerNode(context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/pat_test"],
                          parameter_overrides=[Parameter("settle_s", value=0.0),
                                               Parameter("control_rate_hz", value=50.0)])
    client = rclpy.create_node("pat_client", namespace="/pat_test", context=rclpy_context)
    eph_pub = client.create_publisher(EphemerisState, "ephemeris", Qos.STATE)
    coarse = client.create_publisher(BeaconCentroid, "coarse_centroid", Qos.STREAM)
    fine = client.create_publisher(BeaconCentroid, "fine_centroid", Qos.STREAM)
    got: list[PatStatus] = []
    client.create_subscription(PatStatus, "pat_status", got.append, Qos.STATE)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)

    def eph(sun_sep_deg):
        return EphemerisState(az_rad=1.0, el_rad=0.8, visible=True, sun_separation_rad=math.radians(sun_sep_deg))

    def state():
        return got[-1].state_name if got else ""

    try:
        assert node.autostart()
        assert spin_until(ex, lambda: bool(got) and state() == "IDLE")
        eph_pub.publish(eph(120.0))
        assert spin_until(ex, lambda: state() == "ACQUIRE")
        assert not got[-1].laser_enabled and got[-1].inhibit_reason

        def feed_until(target):
            def cond():
                coarse.publish(_centroid("ogs_coarse", 1226.0, 1025.0))  # 2 px = 17 urad
                fine.publish(_centroid("ogs_fine", 128.0, 128.0))
                return state() == target
            return spin_until(ex, cond)

        assert feed_until("FINE_TRACK")
        assert spin_until(ex, lambda: got[-1].laser_enabled or not feed_until("FINE_TRACK"))
        assert got[-1].laser_enabled and got[-1].inhibit_reason == ""
        names = [m.state_name for m in got]
        assert "COARSE_TRACK" in names and names.index("COARSE_TRACK") < names.index("FINE_TRACK")
        # the Sun comes within the exclusion cone: laser inhibited with a reason
        eph_pub.publish(eph(30.0))
        assert spin_until(ex, lambda: (feed_until("FINE_TRACK") or True) and not got[-1].laser_enabled)
        assert "Sun" in got[-1].inhibit_reason
        # target sets: PARK then IDLE (no mount: parked at once)
        eph_pub.publish(EphemerisState(az_rad=1.0, el_rad=-0.1, visible=False, sun_separation_rad=2.0))
        assert spin_until(ex, lambda: state() == "IDLE")
        assert "PARK" in [m.state_name for m in got]
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_pat_manager_drops_a_stale_step_and_restarts_after_a_clock_reset(rclpy_context):
    """Stepped on its actuator's state stamps (the satellite's PAT manager): a message a little
    older than the last step is dropped and counted; one far older (a restarted simulation, a
    looping bag) restarts the machine in IDLE with the laser off.  Before, either stopped the
    node ("PAT time went backwards")."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.msg import ActuatorState, EphemerisState, PatStatus, PointingCommand
    from qsat_pat.nodes.convert import s_to_stamp
    from qsat_pat.nodes.pat_manager import PatManagerNode
    from qsat_pat.nodes.pattern import Qos

    node = PatManagerNode(context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/pat_clock"],
                          parameter_overrides=[Parameter("step_on", value="mount_state"),
                                               Parameter("settle_s", value=0.0),
                                               # simulated time that never runs: the stamps alone step it
                                               Parameter("use_sim_time", value=True)])
    client = rclpy.create_node("pat_clock_client", namespace="/pat_clock", context=rclpy_context)
    eph_pub = client.create_publisher(EphemerisState, "ephemeris", Qos.STATE)
    mount = client.create_publisher(ActuatorState, "mount_state", Qos.STREAM)
    got: list[PatStatus] = []
    client.create_subscription(PatStatus, "pat_status", got.append, Qos.STATE)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)

    def step(t_s):
        n = len(got)
        msg = ActuatorState(stage=PointingCommand.STAGE_BODY, mode=PointingCommand.MODE_POSITION, axis1_rad=1.0,
                            axis2_rad=0.8)
        msg.header.stamp = s_to_stamp(t_s)
        mount.publish(msg)
        return spin_until(ex, lambda: len(got) > n, timeout_s=2.0)

    try:
        assert node.autostart()
        eph = EphemerisState(az_rad=1.0, el_rad=0.8, visible=True, sun_separation_rad=2.0)
        eph.header.stamp = s_to_stamp(100.0)
        eph_pub.publish(eph)
        assert spin_until(ex, lambda: eph_pub.get_subscription_count() > 0)
        for k in range(40):  # 100.0 .. 103.9 s
            step(100.0 + 0.1 * k)
        assert got[-1].state_name not in ("IDLE", "FAULT"), got[-1].state_name
        state_before = got[-1].state_name
        assert not step(103.5)  # 0.4 s back: a stale message, no step, no status
        assert node.counters["rejected_stale_step"] == 1 and got[-1].state_name == state_before
        assert step(10.0)  # 93.9 s back: the clock was reset
        assert node.counters["clock_resets"] == 1
        assert not got[-1].laser_enabled
        assert step(10.1)  # and the node goes on stepping
        assert node.counters.get("rejected_callback_error", 0) == 0
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_gimbal_controller_drives_fake_rotctld_and_reports_fault(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.drivers.fake_devices import FakeRotctld
    from qsat_pat.msg import ActuatorState, EphemerisState, PointingCommand
    from qsat_pat.nodes.gimbal_controller import GimbalControllerNode
    from qsat_pat.nodes.pattern import Qos

    dev = FakeRotctld().start()
    node = GimbalControllerNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/gimbal_test"],
        parameter_overrides=[Parameter("driver", value="rotctld"), Parameter("driver_port", value=dev.port),
                             Parameter("driver_timeout_s", value=0.1), Parameter("sun_source", value="fixed"),
                             Parameter("sun_az_rad", value=math.radians(100.0)),
                             Parameter("sun_el_rad", value=math.radians(40.0)),
                             Parameter("control_rate_hz", value=20.0), Parameter("watchdog_period_s", value=30.0),
                             Parameter("max_rate_radps", value=2.0), Parameter("max_acc_radps2", value=50.0)])
    client = rclpy.create_node("gimbal_client", namespace="/gimbal_test", context=rclpy_context)
    eph_pub = client.create_publisher(EphemerisState, "ephemeris", Qos.STATE)
    cmds: list[PointingCommand] = []
    states: list[ActuatorState] = []
    client.create_subscription(PointingCommand, "mount_command", cmds.append, Qos.COMMAND)
    client.create_subscription(ActuatorState, "mount_state", states.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    try:
        assert node.autostart()
        # no ephemeris yet: a HOLD command and holding state
        assert spin_until(ex, lambda: any(c.mode == PointingCommand.MODE_HOLD for c in cmds) and states
                     and states[-1].holding)
        eph_pub.publish(EphemerisState(az_rad=math.radians(200.0) - 2 * math.pi, el_rad=0.7,
                                       el_refracted_rad=0.7, visible=True))
        assert spin_until(ex, lambda: any(c.startswith("P ") for c in dev.commands)
                     and abs(dev.az_deg - 200.0) < 0.01 and abs(dev.el_deg - math.degrees(0.7)) < 0.01)
        assert spin_until(ex, lambda: states and not states[-1].holding and not states[-1].fault
                     and abs(math.degrees(states[-1].axis1_rad) - 200.0) < 0.01)
        # target in the Sun cone: the command is moved out of it (45 deg from the Sun)
        eph_pub.publish(EphemerisState(az_rad=math.radians(100.0), el_rad=math.radians(45.0),
                                       el_refracted_rad=math.radians(45.0), visible=True))
        def converged():
            return (node.counters["safety_modified"] > 0 and len(cmds) > 2 and cmds[-1].mode == 0
                    and abs(cmds[-1].axis1_rad - cmds[-2].axis1_rad) < 1e-9
                    and abs(cmds[-1].axis2_rad - cmds[-2].axis2_rad) < 1e-9)

        assert spin_until(ex, converged)
        from qsat_pat.core.safety import angular_separation_rad
        c = cmds[-1]
        assert angular_separation_rad(c.axis1_rad, c.axis2_rad, math.radians(100.0),
                                      math.radians(40.0)) >= math.radians(45.0) - 1e-9
        # the rotator dies: fault reported, node keeps running
        dev.stop()
        assert spin_until(ex, lambda: states and states[-1].fault and states[-1].fault_reason)
        n = node.counters["commands"]

        def still_commanding():
            eph_pub.publish(EphemerisState(az_rad=math.radians(250.0), el_rad=0.5, el_refracted_rad=0.5,
                                           visible=True))
            return node.counters["commands"] > n + 1 and states[-1].fault

        assert spin_until(ex, still_commanding)
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
        dev.stop()
