"""gimbal_controller's driver worker: a rotctld that stops answering never stalls the node."""

from __future__ import annotations

import math
import time

import pytest


def _wait(cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    return cond()


def test_driver_worker_reports_a_stalled_then_failed_rotator_and_keeps_the_newest_setpoint():
    from qsat_pat.drivers.fake_devices import FakeRotctld
    from qsat_pat.drivers.rotctld import RotctldMount
    from qsat_pat.drivers.worker import DriverWorker

    with FakeRotctld() as dev:
        worker = DriverWorker(RotctldMount("127.0.0.1", dev.port, timeout_s=0.3), stall_s=0.1)
        try:
            worker.submit(("set", math.radians(120.0), math.radians(30.0)))
            worker.request_reading(1.0)
            assert _wait(lambda: worker.status()[0] is not None)
            reading, fault, _ = worker.status()
            assert fault == "" and math.degrees(reading.axis1_rad) == pytest.approx(120.0, abs=1e-3)
            # the rotator hangs: while a call is blocked the worker says so (stalled), then the
            # driver's own fault; the newest set-point replaces the unsent older ones
            dev.silent = True
            calls = worker.calls
            for az in range(10, 100, 10):
                worker.submit(("set", math.radians(az), 0.5))
            assert _wait(lambda: "stalled" in worker.status()[1])
            assert _wait(lambda: worker.calls > calls and "not answering" in worker.status()[1])
            assert worker.status()[0] is None  # no stale reading while in fault
            # refused before sending (outside the rotator limits): reported, no fault
            dev.silent = False
            worker.submit(("set", math.radians(10.0), math.radians(95.0)))
            assert _wait(lambda: worker.refusals or False)
            assert "elevation" in worker.status()[2][0]
        finally:
            worker.close()
        sent = [c for c in dev.commands if c.startswith("P ")]
        # far fewer P commands than submitted: only the newest pending set-point is sent
        assert len(sent) < 1 + 9


def test_driver_worker_reports_a_driver_bug_as_a_fault():
    from qsat_pat.drivers.worker import DriverWorker

    class Buggy:
        fault_reason = ""

        def set_position(self, az_rad, el_rad):
            raise KeyError("bug")

        def close(self):
            pass

    worker = DriverWorker(Buggy(), stall_s=1.0)
    try:
        worker.submit(("set", 0.1, 0.2))
        assert _wait(lambda: "thread stopped" in worker.status()[1])
        assert "KeyError" in worker.status()[1] and worker.status()[0] is None
    finally:
        worker.close()


@pytest.mark.ros
def test_gimbal_controller_keeps_commanding_while_the_rotator_hangs(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.drivers.fake_devices import FakeRotctld
    from qsat_pat.msg import ActuatorState, EphemerisState, PointingCommand
    from qsat_pat.nodes.gimbal_controller import GimbalControllerNode
    from qsat_pat.nodes.pattern import Qos

    dev = FakeRotctld().start()
    node = GimbalControllerNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/gimbal_hang"],
        parameter_overrides=[Parameter("driver", value="rotctld"), Parameter("driver_port", value=dev.port),
                             Parameter("driver_timeout_s", value=0.3), Parameter("driver_stall_s", value=0.2),
                             Parameter("sun_source", value="fixed"), Parameter("sun_el_rad", value=-1.0),
                             Parameter("control_rate_hz", value=20.0), Parameter("max_rate_radps", value=2.0),
                             Parameter("max_acc_radps2", value=50.0)])
    client = rclpy.create_node("gimbal_hang_client", namespace="/gimbal_hang", context=rclpy_context)
    eph_pub = client.create_publisher(EphemerisState, "ephemeris", Qos.STATE)
    cmds: list[PointingCommand] = []
    states: list[ActuatorState] = []
    client.create_subscription(PointingCommand, "mount_command", cmds.append, Qos.COMMAND)
    client.create_subscription(ActuatorState, "mount_state", states.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)

    current = {}

    def spin(cond, timeout_s=10.0):
        # the ephemeris keeps coming at 10 Hz, as from the ephemeris node (else the node's
        # watchdog holds the mount when a loaded machine makes the test slow)
        deadline = time.monotonic() + timeout_s
        last = 0.0
        while not cond() and time.monotonic() < deadline:
            if current and time.monotonic() - last > 0.1:
                eph_pub.publish(current["eph"])
                last = time.monotonic()
            ex.spin_once(timeout_sec=0.02)
        return cond()

    try:
        assert node.autostart()
        current["eph"] = EphemerisState(az_rad=1.0, el_rad=0.6, el_refracted_rad=0.6, visible=True)
        assert spin(lambda: states and not states[-1].fault and abs(dev.el_deg - math.degrees(0.6)) < 0.01)
        dev.silent = True  # the rotator stops answering (connection open, no replies)
        assert spin(lambda: states and states[-1].fault and states[-1].fault_reason)
        c0, w0 = node.counters["commands"], node.driver.calls
        # the ephemeris moves on: the node keeps processing it and commanding at its own rate
        current["eph"] = EphemerisState(az_rad=1.2, el_rad=0.7, el_refracted_rad=0.7, visible=True)
        assert spin(lambda: node.counters["commands"] >= c0 + 20)
        assert cmds[-1].axis2_rad == pytest.approx(0.7, abs=1e-9)
        # each worker cycle blocks ~4 x 0.3 s on the dead rotator; were the I/O on the executor
        # thread, there would be at most one command per driver cycle
        assert node.counters["commands"] - c0 > 3 * (node.driver.calls - w0)
        assert states[-1].fault and ("stalled" in states[-1].fault_reason
                                     or "not answering" in states[-1].fault_reason)
        # the rotator answers again: the fault clears and the newest set-point reaches it
        dev.silent = False
        assert spin(lambda: states and not states[-1].fault and abs(dev.el_deg - math.degrees(0.7)) < 0.01,
                    timeout_s=15.0)
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
        dev.stop()
