"""Start-up of ``sim_world`` against running nodes: wait until the lockstep nodes are active
(:func:`wait_for_nodes`), frames and answers connected (:func:`wait_for_matches`), every
lockstep writer matched (:func:`wait_for_graph`) and the graph quiet (:func:`wait_for_quiet`),
then start the strict lockstep (:func:`start_strict_lockstep`), or, without counter boards,
wait for the start ephemeris (:func:`wait_for_ephemeris`).
"""

from __future__ import annotations

import time

import numpy as np
from std_msgs.msg import String

from qsat_pat.core.errors import SimulationError
from qsat_pat.deployments import get_deployment
from qsat_pat.msg import EphemerisState
from qsat_pat.nodes.lockstep import MATCH_QUERY
from qsat_pat.nodes.qos import Qos
from qsat_pat.sim.ros.link import RosLink, stamp_ns
from qsat_pat.sim.ros.lockstep import QuiescenceMonitor

#: Lifecycle nodes the lockstep waits for (must be active before time starts).
LOCKSTEP_NODES = get_deployment("sim").lockstep


def wait_for_nodes(node, executor, names=LOCKSTEP_NODES, timeout_s: float = 60.0, check=None) -> None:
    """Block until every lifecycle node in ``names`` reports ACTIVE (``get_state`` service).

    ``check()``, if given, is called while waiting (it raises when a node process died).

    Raises
    ------
    SimulationError
        A node is not active within ``timeout_s`` (its name and last state in the message).
    """
    from lifecycle_msgs.srv import GetState

    deadline = time.monotonic() + timeout_s
    pending = {n: node.create_client(GetState, f"{n}/get_state") for n in names}
    last: dict[str, str] = {n: "not discovered" for n in names}
    try:
        while pending:
            if check is not None:
                check()
            if time.monotonic() > deadline:
                raise SimulationError("nodes not active after {:.0f} s: {}".format(
                    timeout_s, ", ".join(f"{n} ({last[n]})" for n in sorted(pending))))
            for name, cli in list(pending.items()):
                if not cli.service_is_ready():
                    continue
                fut = cli.call_async(GetState.Request())
                t_end = time.monotonic() + 2.0
                while not fut.done() and time.monotonic() < t_end:
                    executor.spin_once(timeout_sec=0.02)
                if fut.done() and fut.result() is not None:
                    label = fut.result().current_state.label
                    last[name] = label
                    if label == "active":
                        node.destroy_client(cli)
                        del pending[name]
            executor.spin_once(timeout_sec=0.1)
    finally:
        for cli in pending.values():
            node.destroy_client(cli)


def wait_for_matches(link: RosLink, timeout_s: float = 30.0) -> None:
    """Block until every frame publisher has a subscriber and every answer topic a publisher."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ok = all(p.get_subscription_count() > 0 for p in link.image_pubs.values()) and all(
            link.node.count_publishers(s.topic_name) > 0 for s in link.subs)
        if ok:
            return
        link.executor.spin_once(timeout_sec=0.05)
    raise SimulationError("the imaging and controller nodes did not connect to sim_world within "
                          f"{timeout_s:.0f} s (image subscribers / centroid and command publishers missing)")


def wait_for_graph(link: RosLink, monitor: QuiescenceMonitor, timeout_s: float = 30.0) -> int:
    """Block until DDS discovery shows every counted topic with all its lockstep publishers and
    subscribers, and every lockstep writer has matched every reader the graph shows (so no
    node misses a volatile message of the first step), then 0.3 s more.  Returns the number of
    match queries it took (1: every writer had matched at the first)."""
    want: dict[str, list[int]] = {}
    for b in monitor.boards:
        b.reload()
        for role, topic in b.slots:
            want.setdefault(topic, [0, 0])[role == "sub"] += 1
    for pub in [link.clock_pub, link.timers_pub, *link.image_pubs.values()]:
        want.setdefault(pub.topic_name, [0, 0])[0] += 1
    # sim_world's own writers: matched readers (the writer's view, not only the graph's)
    own = [p for p in link.node.publishers if p.topic_name in want]
    deadline = time.monotonic() + timeout_s
    while True:
        short = [t for t, (n_pub, n_sub) in sorted(want.items())
                 if link.node.count_publishers(t) < n_pub or link.node.count_subscribers(t) < n_sub]
        short += [p.topic_name for p in own if p.get_subscription_count() < want[p.topic_name][1]]
        if not short:
            break
        if time.monotonic() > deadline:
            raise SimulationError(f"lockstep topics not connected after {timeout_s:.0f} s: {', '.join(short)}")
        link.executor.spin_once(timeout_sec=0.05)
    # every lockstep writer: matched readers, from the writer's own view (the graph showing a
    # reader does not mean each writer has matched it; a volatile message sent before the
    # match is lost to that reader and the first group would never go quiet)
    query = 0
    while True:
        query += 1
        link.timers_pub.publish(String(data=f"{MATCH_QUERY}{query}"))
        while True:
            waiting = monitor.answered(query)
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise SimulationError(f"no answer to the lockstep match query from {', '.join(waiting)}")
            link.executor.spin_once(timeout_sec=0.01)
        short = monitor.unmatched_writers(link.node.count_subscribers)
        if not short:
            break
        if time.monotonic() > deadline:
            raise SimulationError(f"lockstep writers have not matched every reader after {timeout_s:.0f} s: "
                                  f"{'; '.join(short)}")
        link.executor.spin_once(timeout_sec=0.05)
    t_end = time.monotonic() + 0.3
    while time.monotonic() < t_end:
        link.executor.spin_once(timeout_sec=0.05)
    return query


def wait_for_quiet(link: RosLink, monitor: QuiescenceMonitor, quiet_s: float = 0.3, timeout_s: float = 30.0) -> None:
    """Block until no lockstep counter has moved for ``quiet_s`` (the start-up baseline)."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        link.executor.spin_once(timeout_sec=0.02)
        now = [np.array(b.words) for b in monitor.boards]
        if last is None or any(not np.array_equal(a, b) for a, b in zip(now, last, strict=True)):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
    raise SimulationError(f"the lockstep nodes did not go quiet within {timeout_s:.0f} s")


def start_strict_lockstep(link: RosLink, monitor: QuiescenceMonitor, timeout_s: float = 30.0, check=None) -> int:
    """Start-up of the strict lockstep (:mod:`qsat_pat.nodes.lockstep`).

    Every node connected (DDS discovery) before the start time is set; quiet is the
    counters' baseline; then the nodes' timers run at the
    start time (the ephemeris node publishes the start geometry), and every subscriber of
    ``/ogs/ephemeris`` must hold it -- the PAT managers never start without the ephemeris.
    Returns the number of match queries start-up took (:func:`wait_for_graph`).

    Raises
    ------
    SimulationError
        A node without a counter board, a topic not connected, or a node without the start
        ephemeris after ``timeout_s``.
    """
    monitor.attach(timeout_s=timeout_s, check=check)
    queries = wait_for_graph(link, monitor, timeout_s=timeout_s)
    monitor.set_time_ns(link.t0_ns)
    link.begin_step(0, 0.0)  # /clock for the nodes outside the lockstep
    wait_for_quiet(link, monitor, timeout_s=timeout_s)
    link.use_monitor(monitor)
    link.fire_timers()
    missing = [n for n, k in monitor.taken_total("/ogs/ephemeris").items() if k < 1]
    if missing:
        raise SimulationError(f"no start ephemeris at {', '.join(missing)} (last imbalance {link.last_imbalance})")
    return queries


def wait_for_ephemeris(link: RosLink, timeout_s: float = 30.0) -> None:
    """Block until the OGS ephemeris node has published for the start time (so every node sees
    the same geometry at step 0, whatever the start-up order was), then 0.5 s for the others."""
    got = []
    sub = link.node.create_subscription(EphemerisState, "/ogs/ephemeris", got.append, Qos.STATE)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(stamp_ns(m.header.stamp) >= link.t0_ns - 1000 for m in got):
                # the other subscribers get the same latched message: give them a moment, so
                # every run starts with the ephemeris everywhere (repeatable start-up)
                t_end = time.monotonic() + 0.5
                while time.monotonic() < t_end:
                    link.executor.spin_once(timeout_sec=0.05)
                return
            link.begin_step(0, 0.0)  # /clock is volatile: repeat it until every node has it
            link.executor.spin_once(timeout_sec=0.05)
        raise SimulationError(f"no ephemeris for the start time from /ogs/ephemeris within {timeout_s:.0f} s")
    finally:
        link.node.destroy_subscription(sub)
