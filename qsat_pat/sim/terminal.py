"""Both terminals' software in one process: the node graph's decision objects, wired as the nodes are.

The in-process simulation flies what a station runs.  :class:`InProcessGraph` holds, for every
node of the ``sim`` deployment's lockstep (the ``ogs`` and ``space`` terminals node for node),
the decision object that node holds (:mod:`qsat_pat.core.terminal`), configured from the same
parameter files, station file and simulator parameters the nodes read
(:class:`~qsat_pat.core.terminal.config.TerminalConfig`), and connects their ports by the
deployment's namespaces and remaps.  Messages travel as wire objects through one queue, in the
order they were published; each handler's outputs join the end of it.

:class:`InProcessLink` gives the world loop (:func:`qsat_pat.sim.loop.run_direct`) the same
exchanges the ROS lockstep mode makes over DDS (:class:`qsat_pat.sim.ros.link.RosLink`),
in the same order: at each step the clock, the satellite's ADCS state (at satellite steps),
each node whose timers are due (name order), each frame, the mount encoders; after each group
the queue is drained -- what the strict lockstep calls "quiet".  Start-up is the lockstep's:
every node's first timer tick at the start time, before the first device reading.  So the two modes run the
same objects with the same inputs in the same order (``test_sim_modes.py``).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qsat_pat.core.errors import Rejected, SimulationError
from qsat_pat.core.pat import PatState
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.config import TerminalConfig
from qsat_pat.core.terminal.parts import PARTS
from qsat_pat.core.terminal.pat_inputs import PatManager
from qsat_pat.sim import devices

__all__ = ["InProcessGraph", "InProcessLink", "resolve_topic"]


def resolve_topic(namespace: str, remappings, topic: str) -> str:
    """A node's relative topic after its remaps, in its namespace (ROS 2 name resolution)."""
    name = dict(remappings).get(topic, topic)
    if name.startswith("/"):
        return name
    ns = namespace.rstrip("/")
    return f"{ns}/{name}"


class _Timer:
    """A node timer as the strict lockstep runs it (:class:`qsat_pat.nodes.lockstep.LockstepTimer`):
    due at the first turn, then every period; periods a jump skipped are not made up."""

    def __init__(self, name: str, period_s: float) -> None:
        self.name = name
        self.period_ns = int(round(float(period_s) * 1e9))
        self.next_ns: int | None = None

    def due(self, now_ns: int) -> bool:
        return self.next_ns is None or now_ns >= self.next_ns

    def fired(self, now_ns: int) -> None:
        nxt = (now_ns if self.next_ns is None else self.next_ns) + self.period_ns
        self.next_ns = nxt if nxt > now_ns else now_ns + self.period_ns


class InProcessGraph:
    """The decision objects of a deployment's lockstep nodes, wired by its remaps.

    Parameters
    ----------
    deployment : Deployment
        The ``sim`` deployment (:mod:`qsat_pat.deployments`).
    overrides : mapping
        ``{node key: {parameter: value}}`` given after the deployment's files (the simulator's
        devices, station and TLEs), as the ROS mode's generated parameter file.
    config_path : callable
        Parameter file name (relative to ``config/``) -> path (:func:`qsat_pat.launcher.config_path`).
    """

    def __init__(self, deployment, overrides: Mapping[str, Mapping[str, Any]], config_path: Callable[[str], Path]
                 ) -> None:
        from qsat_pat.deployments import parameter_files

        specs = [s for s in deployment.nodes if s.fqn in deployment.lockstep]
        unknown = sorted({s.executable for s in specs} - set(PARTS))
        if unknown:
            raise SimulationError(f"no in-process decision object for the node executables {unknown}")
        self.config = TerminalConfig.resolve({
            s.fqn: (PARTS[s.executable][0], [*(config_path(f) for f in parameter_files(deployment, s)), overrides])
            for s in specs})
        self.parts: dict[str, Any] = {}
        self.subscribers: dict[str, list[tuple[str, Callable, str]]] = collections.defaultdict(list)
        self.out_topics: dict[str, dict[str, str]] = {}
        self.timers: dict[str, list[_Timer]] = {}
        for s in sorted(specs, key=lambda s: s.fqn):
            cls = PARTS[s.executable][1]
            part = cls(self.config[s.fqn], 0) if cls is PatManager else cls(self.config[s.fqn])
            self.parts[s.fqn] = part
            for port in part.inputs():
                if port.handler:
                    self.subscribers[resolve_topic(s.namespace, s.remappings, port.topic)].append(
                        (s.fqn, getattr(part, port.handler), port.topic))
            self.out_topics[s.fqn] = {p.topic: resolve_topic(s.namespace, s.remappings, p.topic)
                                      for p in part.OUTPUTS}
            self.timers[s.fqn] = [_Timer(name, period) for name, period in part.timer_periods().items()]
        self.taps: dict[str, list[Callable[[Any], None]]] = collections.defaultdict(list)
        self.queue: collections.deque = collections.deque()
        self.now_ns = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self.traces: dict[str, list] = {}

    # -- the bus ---------------------------------------------------------------------------------
    def tap(self, topic: str, callback: Callable[[Any], None]) -> None:
        """Also hand every message on ``topic`` to ``callback`` (the simulator's subscriptions)."""
        self.taps[topic].append(callback)

    def publish(self, topic: str, value: Any) -> None:
        self.queue.append((topic, value))

    def trace(self, fqn: str) -> list:
        """Record from now on what node ``fqn`` is given and what it answers: a list of
        ``(now_ns, what, value, outputs)`` with ``what`` an input port's topic (value: its wire
        object), ``"timer:<name>"`` or ``"frame"`` (value: ``(image, stamp_ns, frame_id)``)."""
        return self.traces.setdefault(fqn, [])

    def call(self, fqn: str, fn: Callable, *args, what: str = "") -> None:
        """Run one handler of node ``fqn`` at the current time and queue what it publishes."""
        part = self.parts[fqn]
        try:
            outputs = fn(*args, self.now_ns)
        except Rejected as exc:
            part.count("rejected_" + exc.kind)
            self.rejected[f"{fqn} {exc.kind}"] += 1
            outputs = ()
        part.notes.clear()
        trace = self.traces.get(fqn)
        if trace is not None:
            trace.append((self.now_ns, what, args[0] if len(args) == 1 else args, list(outputs)))
        topics = self.out_topics[fqn]
        for port, value in outputs:
            topic = topics.get(port)
            if topic is not None:
                self.queue.append((topic, value))

    def drain(self) -> None:
        """Deliver every queued message, and what its handlers publish, until none is left."""
        queue, subscribers, taps = self.queue, self.subscribers, self.taps
        while queue:
            topic, value = queue.popleft()
            for tap in taps.get(topic, ()):
                tap(value)
            for fqn, handler, port in subscribers.get(topic, ()):
                self.call(fqn, handler, value, what=port)

    # -- time and timers -------------------------------------------------------------------------
    def set_time(self, now_ns: int) -> None:
        self.now_ns = int(now_ns)

    def fire_timers(self) -> int:
        """Give each node with a timer due its turn (name order), draining after each; the count."""
        turns = 0
        for fqn, timers in self.timers.items():
            due = [t for t in timers if t.due(self.now_ns)]
            if not due:
                continue
            part = self.parts[fqn]
            for t in due:
                t.fired(self.now_ns)
                self.call(fqn, lambda now_ns, name=t.name, p=part: p.on_timer(name, now_ns), what=f"timer:{t.name}")
            self.drain()
            turns += 1
        return turns

    def counters(self) -> dict[str, dict[str, int]]:
        """Every node's counters (what its /diagnostics would show)."""
        return {fqn: dict(p.counters) for fqn, p in self.parts.items()}


class InProcessLink:
    """The world loop's exchanges with an :class:`InProcessGraph` (module docstring).

    Parameters
    ----------
    graph : InProcessGraph
    t0_unix_s : float
        UTC of simulation time 0 (the nodes' clock is t0 + t, in nanoseconds as the ROS mode's).
    """

    remote_cameras = frozenset(devices.REMOTE_CAMERAS)
    remote_ogs_control = True
    remote_space_pat = True
    remote_space_adcs = True

    def __init__(self, graph: InProcessGraph, t0_unix_s: float) -> None:
        self.graph = graph
        self.t0_ns = int(round(t0_unix_s * 1e9))
        self.now_ns = self.t0_ns
        self.world = None
        self.started = False
        self._answer: dict[str, Any] = {}
        self._want: dict[str, int] = {}
        self._ogs_pat = PatState.IDLE
        self._space_pat = PatState.IDLE
        self._body_target: wire.PointingCommand | None = None
        for cam, topics in devices.CAMERAS.items():
            graph.tap(topics["centroid"], lambda m, c=cam: self._on_centroid(c, m))
            if topics["command"]:
                graph.tap(topics["command"], lambda m, c=cam: self._on_command(c, m))
        graph.tap(devices.MOUNT_COMMAND_TOPIC, self._on_mount_command)
        graph.tap(devices.OGS_PAT_TOPIC, lambda m: setattr(self, "_ogs_pat", PatState(int(m.state))))
        graph.tap(devices.SPACE_PAT_TOPIC, lambda m: setattr(self, "_space_pat", PatState(int(m.state))))
        graph.tap(devices.BODY_TARGET_TOPIC, lambda m: setattr(self, "_body_target", m))
        self.stats = {"frames": 0, "mount_ticks": 0, "space_ticks": 0, "timer_turns": 0, "adcs_targets": 0,
                      "adcs_targets_held": 0, "centroid_timeouts": 0, "command_timeouts": 0, "mount_timeouts": 0}

    # -- answers ---------------------------------------------------------------------------------
    def _on_centroid(self, cam: str, msg: wire.BeaconCentroid) -> None:
        if self._want.get(cam) == msg.stamp_ns:
            self._answer[cam + ".centroid"] = msg

    def _on_command(self, cam: str, msg: wire.PointingCommand) -> None:
        if cam in self._want and self._answer.get(cam + ".command") is None:
            self._answer[cam + ".command"] = msg

    def _on_mount_command(self, msg: wire.PointingCommand) -> None:
        if "mount" in self._want and self._answer.get("mount") is None:
            self._answer["mount"] = msg

    # -- the loop's side -------------------------------------------------------------------------
    def attach_world(self, world) -> None:
        self.world = world

    def _adcs_state(self, t_s: float) -> None:
        self.graph.publish(devices.ADCS_STATE_TOPIC, devices.adcs_state(self.world, t_s, self.now_ns))

    def begin_step(self, k: int, t_s: float) -> None:
        g = self.graph
        self.now_ns = self.t0_ns + int(round(t_s * 1e9))
        g.set_time(self.now_ns)
        satellite_step = self.world is not None and k % self.world.space_steps == 0
        if not self.started:  # the strict lockstep's start: every node's first tick, before any telemetry
            self.started = True
            self.stats["timer_turns"] += g.fire_timers()
        if satellite_step:
            self._adcs_state(t_s)
        g.drain()
        self.stats["timer_turns"] += g.fire_timers()

    def exchange(self, camera: str, frame, stage_rad):
        g = self.graph
        capture_ns = self.t0_ns + int(round(frame.t_capture_s * 1e9))
        self._want[camera] = capture_ns
        self._answer[camera + ".centroid"] = None
        self._answer[camera + ".command"] = None
        self.stats["frames"] += 1
        fqn = _IMAGING_NODE[camera]
        g.call(fqn, g.parts[fqn].on_frame, frame.image, capture_ns, camera, what="frame")
        g.drain()
        self._want.pop(camera, None)
        c, u = self._answer[camera + ".centroid"], self._answer[camera + ".command"]
        if c is None:
            self.stats["centroid_timeouts"] += 1
            centroid = (False, math.nan, math.nan, np.full((2, 2), np.nan))
        else:
            centroid = (bool(c.valid), float(c.x_px), float(c.y_px), np.reshape(np.asarray(c.covariance_px2), (2, 2)))
        if not devices.CAMERAS[camera]["command"]:
            return centroid, None
        if u is None:
            self.stats["command_timeouts"] += 1
            return centroid, None
        return centroid, np.array([u.axis1_rad, u.axis2_rad])

    def ogs_mount(self, t_s: float, position_rad, rate_radps):
        g = self.graph
        self._want["mount"] = self.now_ns
        self._answer["mount"] = None
        g.publish(devices.ENCODER_TOPIC, devices.encoder_state(self.now_ns, position_rad, rate_radps))
        g.drain()
        self._want.pop("mount", None)
        self.stats["mount_ticks"] += 1
        u = self._answer["mount"]
        if u is None:
            self.stats["mount_timeouts"] += 1
            return None
        if u.mode != 0 or not (math.isfinite(u.axis1_rad) and math.isfinite(u.axis2_rad)):  # not POSITION: hold
            return np.asarray(position_rad, dtype=float).copy(), np.zeros(2)
        return np.array([u.axis1_rad, u.axis2_rad]), np.array([u.axis1_rate_radps, u.axis2_rate_radps])

    def ogs_pat_state(self) -> PatState:
        return self._ogs_pat

    def space_step(self, t_s: float, point_ahead_rad) -> None:
        """The satellite's attitude software is a decision object here: nothing to hand over."""

    def space_pat(self, t_s: float, visible: bool, boresight_est_rad, boresight_cmd_rad) -> PatState:
        self.stats["space_ticks"] += 1
        return self._space_pat

    def space_adcs_target(self, t_s: float):
        target = devices.attitude_target(self.world, t_s, self._body_target)
        self.stats["adcs_targets" if target is not None else "adcs_targets_held"] += 1
        return target

    def end_run(self) -> list[str]:
        s = self.stats
        rejected = ", ".join(f"{k} {n}" for k, n in sorted(self.graph.rejected.items())) or "none"
        return [
            "in-process mode: the sim deployment's node graph as decision objects in one process "
            f"({len(self.graph.parts)} nodes: {', '.join(sorted(self.graph.parts))}), wired by its remaps, "
            "in the strict lockstep's order",
            f"exchanges: {s['frames']} frames, {s['mount_ticks']} mount ticks, {s['space_ticks']} satellite steps, "
            f"{s['timer_turns']} timer turns, {s['adcs_targets']} ADCS targets ({s['adcs_targets_held']} held); "
            f"unanswered: {s['centroid_timeouts']} centroids, {s['command_timeouts']} FSM commands, "
            f"{s['mount_timeouts']} mount commands; inputs refused: {rejected}",
        ]


#: Camera -> the node that centroids its frames.
_IMAGING_NODE = {"ogs_coarse": "/ogs/coarse_imaging", "ogs_fine": "/ogs/beacon_imaging",
                 "space": "/space/beacon_imaging"}
