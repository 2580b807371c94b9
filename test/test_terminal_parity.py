"""The nodes and the in-process simulation decide alike: the same inputs give the same outputs.

A seeded window is flown in process while every node's decision object records what it is
given (messages on its input ports, timer ticks, frames: ``InProcessGraph.trace``) and what it
answers.  Then each node of the ``sim`` deployment is built as a launcher builds it (its name,
namespace, remaps and the same resolved parameters), on simulated time, and the recorded
inputs are replayed into it as ROS messages through its own subscription callbacks and
timers, with its clock set to each input's time.  What the node publishes must be, message
for message and bit for bit, what the in-process object answered.

So the node adapters add no decision of their own, and a simulation in process flies what the
nodes would do with the same inputs; ``test_sim_modes.py`` compares the two modes whole, over
DDS.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
WINDOW = {"duration_s": 0.8, "start_offset_s": 230.0, "seed": 4}


@pytest.fixture(scope="module")
def traced():
    from qsat_pat.sim.loop import in_process_link, run_direct
    from qsat_pat.sim.scenario import load_scenario

    sc = load_scenario("nominal")
    link = in_process_link(sc, start_offset_s=WINDOW["start_offset_s"])
    traces = {fqn: link.graph.trace(fqn) for fqn in link.graph.parts}
    record = run_direct(sc, link=link, **WINDOW)
    return link.graph, traces, record


def _ports(part) -> dict[str, str]:
    return {p.topic: p.msg for p in (*part.INPUTS, *part.OUTPUTS)}


def _replay(graph, fqn: str, trace, rclpy_context):
    """Replay ``trace`` into a real node; returns [(index of the event, published wire objects)]."""
    from builtin_interfaces.msg import Time
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import String

    from qsat_pat.core.terminal import wire
    from qsat_pat.deployments import get_deployment
    from qsat_pat.nodes.convert import array_to_image, msg_to_wire, wire_to_msg
    from qsat_pat.nodes.terminal_node import message_class
    from qsat_pat.sim.terminal import resolve_topic

    spec = next(s for s in get_deployment("sim").nodes if s.fqn == fqn)
    cls = importlib.import_module(spec.module).NODE_CLASS
    params = [Parameter(k, value=list(v) if isinstance(v, tuple) else v)
              for k, v in graph.config[fqn].as_dict().items()]
    args = ["--ros-args", "-r", f"__node:={spec.name}", "-r", f"__ns:={spec.namespace}"]
    for src, dst in spec.remappings:
        args += ["-r", f"{src}:={dst}"]
    node = cls(context=rclpy_context, cli_args=args, use_global_arguments=False,
               parameter_overrides=[*params, Parameter("use_sim_time", value=True)])
    try:
        assert node.autostart()
        ports = _ports(node.part)
        published: list = []
        for topic, pub in node.pubs.items():
            wcls = None if ports[topic] == "String" else getattr(wire, ports[topic])
            pub.publish = (lambda m, t=topic, c=wcls: published.append((t, m.data if c is None else msg_to_wire(m, c))))
        # by topic and port: two ports may share a topic (the satellite's one camera is coarse and fine)
        subs = {(s.topic_name, getattr(s.callback, "__name__", "")): s for s in node.subscriptions}
        out = []
        for now_ns, what, value, _ in trace:
            node._time_source.clock_callback(Clock(clock=Time(sec=now_ns // 10**9, nanosec=now_ns % 10**9)))
            published.clear()
            if what == "frame":
                image, stamp_ns, frame_id = value
                node.on_image(array_to_image(image, Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id))
            elif what.startswith("timer:"):
                node.tick(what.split(":", 1)[1])
            else:
                kind = ports[what]
                msg = String(data=value) if kind == "String" else wire_to_msg(value, message_class(kind))
                subs[(resolve_topic(spec.namespace, spec.remappings, what), f"on_{what}")].callback(msg)
            out.append(list(published))
        return out
    finally:
        node.destroy_node()


NODES = ["/ogs/beacon_imaging", "/ogs/coarse_imaging", "/ogs/coarse_track", "/ogs/ephemeris", "/ogs/fsm_controller",
         "/ogs/gimbal_controller", "/ogs/pat_manager", "/ogs/track_predictor", "/space/adcs_pointing",
         "/space/beacon_imaging", "/space/fsm_controller", "/space/pat_manager", "/space/track_predictor"]


def test_the_window_exercises_acquisition_and_tracking(traced):
    from qsat_pat.core.pat import PatState

    graph, traces, record = traced
    assert sorted(traces) == NODES
    for name in ("ogs", "space"):
        assert int(PatState.FINE_TRACK) in set(record.terminals[name]["pat_state"].tolist()), name
    assert sum(len(t) for t in traces.values()) > 3000


@pytest.mark.parametrize("fqn", NODES)
def test_the_node_answers_its_inputs_as_the_in_process_object_did(traced, fqn, rclpy_context):
    graph, traces, _ = traced
    trace = traces[fqn]
    assert trace, f"{fqn} got no input in the window"
    got = _replay(graph, fqn, trace, rclpy_context)
    n_out = 0
    for k, ((now_ns, what, _, want), have) in enumerate(zip(trace, got, strict=True)):
        want = [(t, v) for t, v in want if t != "driver"]  # the device's share goes to the node's driver
        n_out += len(want)
        if have != want:
            for (tw, vw), (th, vh) in zip(want, have, strict=False):
                assert th == tw, (fqn, k, what)
                if vh != vw:
                    diff = {f: (getattr(vw, f), getattr(vh, f)) for f in getattr(vw, "__dataclass_fields__", ())
                            if getattr(vw, f) != getattr(vh, f) and not (isinstance(getattr(vw, f), float)
                                                                          and np.isnan(getattr(vw, f))
                                                                          and np.isnan(getattr(vh, f)))}
                    if diff:
                        raise AssertionError(f"{fqn} event {k} ({what} at {now_ns} ns): {tw} differs: {diff}")
            assert len(have) == len(want), (fqn, k, what, have, want)
    assert n_out > 0 or fqn == "/ogs/coarse_track", f"{fqn} published nothing in the window"
