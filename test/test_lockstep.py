"""The strict lockstep (qsat_pat/nodes/lockstep.py): timers fired on their turn, counters in
shared memory, and the quiet test sim_world advances on (issue 6: a ROS-mode run must be
reproducible for a seed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from qsat_pat.core.errors import SimulationError
from qsat_pat.nodes.lockstep import (
    LOCKSTEP_DIR_ENV,
    MATCH_QUERY,
    TIMERS_TOPIC,
    CounterBoard,
    LockstepTimer,
)
from qsat_pat.sim.ros.lockstep import QuiescenceMonitor

MS = 1_000_000


def test_timer_fires_on_first_turn_then_each_period_without_making_up_skipped_ones():
    fired = []
    t = LockstepTimer(0.05, lambda: fired.append(True))
    assert t.timer_period_ns == 50 * MS and t.next_due_ns() is None
    assert t.fire_if_due(1000 * MS) and t.next_due_ns() == 1050 * MS
    assert not t.fire_if_due(1049 * MS)
    assert t.fire_if_due(1050 * MS) and t.next_due_ns() == 1100 * MS
    assert t.fire_if_due(1400 * MS)  # a jump: one call, and the phase restarts from now
    assert t.next_due_ns() == 1450 * MS
    t.cancel()
    assert not t.fire_if_due(2000 * MS) and t.next_due_ns() is None
    t.reset()
    assert t.fire_if_due(2001 * MS)
    assert len(fired) == 4
    with pytest.raises(ValueError):
        LockstepTimer(0.0, lambda: None)


def test_monitor_sees_every_subscriber_behind_its_publishers(tmp_path):
    pub = CounterBoard(tmp_path, "/a/talker")
    sub = CounterBoard(tmp_path, "/a/listener")
    p_x, s_x = pub.slot("pub", "/x"), sub.slot("sub", "/x")
    s_clock = sub.slot("sub", "/clock")
    mon = QuiescenceMonitor(tmp_path, ["/a/talker", "/a/listener"])
    mon.attach(timeout_s=1.0)
    mon.own_take.setdefault("/x", 0)
    pub.bump(p_x)  # before the baseline: not counted
    mon.rebase()
    assert mon.imbalance() is None
    pub.bump(p_x)
    pub.bump(p_x)
    assert mon.imbalance() == ("/a/listener", "/x", 0, 2)
    sub.bump(s_x)
    sub.bump(s_x)
    assert mon.imbalance() == ("sim_world", "/x", 0, 2)  # sim_world subscribes to /x too
    mon.count_take("/x")
    mon.count_take("/x")
    assert mon.imbalance() is None
    mon.count_publish("/clock")  # sim_world's own message
    assert mon.imbalance() == ("/a/listener", "/clock", 0, 1)
    sub.bump(s_clock)
    assert mon.imbalance() is None
    # a subscription made during the run gets its own counter, zero-based
    s_y = sub.slot("sub", "/y")
    p_y = pub.slot("pub", "/y")
    pub.bump(p_y)
    assert mon.imbalance() == ("/a/listener", "/y", 0, 1)
    sub.bump(s_y)
    assert mon.imbalance() is None
    assert mon.taken_total("/x") == {"/a/listener": 2}


def test_monitor_names_the_node_that_does_not_run_in_lockstep(tmp_path):
    CounterBoard(tmp_path, "/a/here")
    mon = QuiescenceMonitor(tmp_path, ["/a/here", "/a/missing"])
    with pytest.raises(SimulationError, match="/a/missing"):
        mon.attach(timeout_s=0.1)


def test_due_nodes_in_name_order(tmp_path):
    b1, b2, b3 = (CounterBoard(tmp_path, n) for n in ("/z/late", "/a/early", "/m/none"))
    b1.set_next_due_ns(0)  # a timer that never ran: due at the next turn
    b2.set_next_due_ns(100)
    b3.set_next_due_ns(None)
    mon = QuiescenceMonitor(tmp_path, ["/z/late", "/a/early", "/m/none"])
    mon.attach(timeout_s=1.0)
    assert mon.due_nodes(99) == ["/z/late"]
    assert mon.due_nodes(100) == ["/a/early", "/z/late"]


@pytest.mark.ros
def test_a_node_in_lockstep_counts_and_runs_its_timers_only_on_its_turn(rclpy_context, tmp_path, monkeypatch):
    """A real node (fsm_controller) joined to a lockstep directory: its time comes from the
    shared word, its 50 Hz state timer runs on its turn only, and its counters tell sim_world
    when it is done."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    from qsat_pat.msg import ActuatorState
    from qsat_pat.nodes.fsm_controller import FsmControllerNode

    monkeypatch.setenv(LOCKSTEP_DIR_ENV, str(tmp_path))
    node = FsmControllerNode(context=rclpy_context, cli_args=[
        "--ros-args", "-r", "__ns:=/lockstep_test", "-p", "use_sim_time:=true"])
    client = rclpy.create_node("lockstep_client", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    try:
        node.autostart()
        assert node._time_source._clock_sub is None  # rclpy's /clock subscription: replaced by the shared word
        assert all(isinstance(t, LockstepTimer) for t in node._lockstep_timers)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        turn_pub = client.create_publisher(String, TIMERS_TOPIC, reliable)
        states = []
        client.create_subscription(ActuatorState, "/lockstep_test/fsm_state", states.append, 50)
        mon = QuiescenceMonitor(tmp_path, ["/lockstep_test/fsm_controller"])
        mon.attach(timeout_s=5.0)
        deadline = time.monotonic() + 10.0
        while (turn_pub.get_subscription_count() < 1
               or client.count_publishers("/lockstep_test/fsm_state") < 1) and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.05)
        mon.rebase()

        def until_quiet():
            end = time.monotonic() + 10.0
            while mon.imbalance() is not None and time.monotonic() < end:
                ex.spin_once(timeout_sec=0.01)
            return mon.imbalance()

        mon.set_time_ns(100 * 10**9)  # simulated time: a shared word, no /clock message
        for _ in range(20):
            ex.spin_once(timeout_sec=0.01)
        assert states == []  # time alone runs no timer
        assert mon.due_nodes(100 * 10**9) == ["/lockstep_test/fsm_controller"]
        turn_pub.publish(String(data="/lockstep_test/other"))  # another node's turn
        mon.count_publish(TIMERS_TOPIC)
        assert mon.imbalance() == ("/lockstep_test/fsm_controller", TIMERS_TOPIC, 0, 1)
        assert until_quiet() is None
        assert states == []
        assert node.now_s() == pytest.approx(100.0)  # taken from the shared word before the callback
        turn_pub.publish(String(data="/lockstep_test/fsm_controller"))
        mon.count_publish(TIMERS_TOPIC)
        assert until_quiet() is None
        end = time.monotonic() + 5.0
        while not states and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.01)
        assert len(states) == 1 and states[0].header.stamp.sec == 100
        # the next state is due one period (50 Hz) later
        assert mon.due_nodes(100 * 10**9 + 19 * MS) == []
        assert mon.due_nodes(100 * 10**9 + 20 * MS) == ["/lockstep_test/fsm_controller"]
        board = np.array(mon.boards[0].words)
        assert board[0] == len(mon.boards[0].slots)
        # start-up's match query: the node writes each writer's matched readers (its own view)
        readers = {"/lockstep_test/fsm_state": 1}
        assert mon.answered(7) == ["/lockstep_test/fsm_controller"]
        shown = [s for s in mon.unmatched_writers(lambda t: readers.get(t, 0))]
        assert shown and all(s.endswith("0/1") for s in shown)  # nothing written yet
        turn_pub.publish(String(data=f"{MATCH_QUERY}7"))
        end = time.monotonic() + 5.0
        while mon.answered(7) and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.01)
        assert mon.answered(7) == []
        assert mon.unmatched_writers(lambda t: readers.get(t, 0)) == []
        readers["/lockstep_test/fsm_state"] = 2  # a reader the graph shows but the writer has not matched
        assert mon.unmatched_writers(lambda t: readers.get(t, 0)) == [
            "/lockstep_test/fsm_controller /lockstep_test/fsm_state 1/2"]
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()


def test_every_lockstep_node_of_the_sim_deployment_gets_the_scenario_parameters():
    """The sim deployment's lockstep list is the table sim_world waits for, and each of those
    nodes is given the scenario's parameters (a node added without them would fly defaults)."""
    from qsat_pat.deployments import get_deployment
    from qsat_pat.sim.ros.parameters import node_parameters
    from qsat_pat.sim.ros.startup import LOCKSTEP_NODES
    from qsat_pat.sim.scenario import load_scenario

    dep = get_deployment("sim")
    assert set(dep.lockstep) == set(LOCKSTEP_NODES)
    assert set(dep.lockstep) <= {s.fqn for s in dep.nodes}
    # the simulator describes its devices to the nodes that use them and its station to all
    # ("/**"); every decision is the nodes' own files' (test_sim_parameters.py)
    params = node_parameters(load_scenario("nominal"))
    assert "/**" in params and set(params) - {"/**"} <= set(LOCKSTEP_NODES)
