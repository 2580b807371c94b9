"""The lockstep exchange of ``sim_world`` with the nodes: :class:`RosLink`, the ROS mode's side of
the exchanges the world loop makes with the terminals' software (:func:`qsat_pat.sim.loop.run_direct`;
the in-process side is :class:`qsat_pat.sim.terminal.InProcessLink`).  The simulated devices'
messages are :mod:`qsat_pat.sim.devices`'s, the same the in-process side hands over; the step
sequence is described in :mod:`qsat_pat.sim.ros`.
"""

from __future__ import annotations

import math
import time

import numpy as np
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import String

from qsat_pat.core.errors import SimulationError
from qsat_pat.core.pat import PatState
from qsat_pat.core.terminal import wire
from qsat_pat.msg import ActuatorState, AdcsState, BeaconCentroid, PatStatus, PointingCommand, TrackEstimate
from qsat_pat.nodes.convert import array_to_image, msg_to_wire, ns_to_stamp, wire_to_msg
from qsat_pat.nodes.lockstep import MIN_DEPTH, TIMERS_TOPIC, deepened
from qsat_pat.nodes.qos import Qos
from qsat_pat.sim import devices
from qsat_pat.sim.camera import Frame
from qsat_pat.sim.ros.lockstep import QuiescenceMonitor

#: Camera -> its frame topic, the imaging node's centroid topic and (fine cameras) the fine
#: controller's command topic that answers each frame (:data:`qsat_pat.sim.devices.CAMERAS`).
CAMERA_NODES = devices.CAMERAS
#: Cameras whose software runs as nodes in the ``sim`` deployment.
REMOTE_CAMERAS = devices.REMOTE_CAMERAS
#: Longest sleep between two looks at the lockstep counters while nodes work (a node's
#: finished callback wakes sim_world at once through the FIFO) [s].
SETTLE_WAKE_TIMEOUT_S = 0.005


def stamp_ns(stamp) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds (exact: simulated UTC is compared to 1 us)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class RosLink:
    """Lockstep exchange with the nodes (see :mod:`qsat_pat.sim.ros`).

    Parameters
    ----------
    node : rclpy.node.Node
        The simulator's node (publishes ``/clock`` and frames, subscribes to the answers).
    executor : rclpy.executors.Executor
        Spun while waiting for answers.
    t0_unix_s : float
        UTC of simulation time 0 (``/clock`` = t0 + t).
    remote_cameras : iterable of str
        Keys of :data:`CAMERA_NODES`.
    answer_timeout_s : float
        Wall-clock wait for one answer before the step goes on (counted).
    """

    #: every camera, the OGS mount and PAT manager, the satellite's PAT manager and attitude
    #: software are nodes (what the world loop asks of a link)
    remote_ogs_control = remote_space_pat = remote_space_adcs = True

    def __init__(self, node, executor, t0_unix_s: float, remote_cameras=REMOTE_CAMERAS,
                 answer_timeout_s: float = 5.0) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node, self.executor = node, executor
        #: Set (after the start-up baseline) to wait for quiet after each group of messages.
        self.monitor: QuiescenceMonitor | None = None
        self.last_imbalance: tuple | None = None
        self.remote_cameras = frozenset(remote_cameras)
        unknown = self.remote_cameras - set(CAMERA_NODES)
        if unknown:
            raise SimulationError(f"no node set-up for cameras {sorted(unknown)}; known: {sorted(CAMERA_NODES)}")
        self.t0_ns = int(round(t0_unix_s * 1e9))
        self.answer_timeout_s = float(answer_timeout_s)
        self.now_ns = self.t0_ns
        self.clock_pub = node.create_publisher(Clock, "/clock", QoSProfile(depth=MIN_DEPTH,
                                                                           reliability=ReliabilityPolicy.RELIABLE))
        self._clock_msg = Clock()
        self.timers_pub = node.create_publisher(String, TIMERS_TOPIC, QoSProfile(
            depth=MIN_DEPTH, reliability=ReliabilityPolicy.RELIABLE))
        self.image_pubs, self.subs = {}, []
        self._own_topics: set[str] = set()  # topics of this node's counted subscriptions
        self._estimate: dict[str, object] = {}
        self._track_alive: dict[str, bool] = {}
        self.estimate_wait_s = min(0.25, self.answer_timeout_s)
        self._centroid: dict[str, object] = {}
        self._command: dict[str, object] = {}
        self._want_stamp: dict[str, int] = {}
        for cam in sorted(self.remote_cameras):
            topics = CAMERA_NODES[cam]
            self.image_pubs[cam] = node.create_publisher(Image, topics["image"], Qos.with_depth(Qos.STREAM, 10))
            self.subs.append(self._subscribe(
                BeaconCentroid, topics["centroid"], lambda m, c=cam: self._on_centroid(c, m),
                Qos.with_depth(Qos.STREAM, 10)))
            if topics.get("estimate"):
                self.subs.append(self._subscribe(
                    TrackEstimate, topics["estimate"], lambda m, c=cam: self._on_estimate(c, m),
                    Qos.with_depth(Qos.STREAM, 10)))
            if topics["command"]:
                self.subs.append(self._subscribe(
                    PointingCommand, topics["command"], lambda m, c=cam: self._on_command(c, m), Qos.COMMAND))
        self._pat_state = PatState.IDLE
        self._space_pat_state = PatState.IDLE
        self._mount_msg = None
        self._want_mount_ns: int | None = None
        self.world = None
        self._body_target = None
        # the satellite's attitude software is adcs_pointing: this node is its ADCS (Basilisk, star
        # tracker + gyro estimate) -- AdcsState out every satellite step, body targets in
        self.adcs_state_pub = node.create_publisher(AdcsState, devices.ADCS_STATE_TOPIC, Qos.STREAM)
        self.subs.append(self._subscribe(PointingCommand, devices.BODY_TARGET_TOPIC, self._on_body_target,
                                         Qos.COMMAND))
        self.subs.append(self._subscribe(PatStatus, devices.SPACE_PAT_TOPIC, self._on_space_pat, Qos.STATE))
        # the OGS mount is a plant here: its encoders out at the mount rate, the set-point in
        self.encoder_pub = node.create_publisher(ActuatorState, devices.ENCODER_TOPIC, Qos.with_depth(Qos.STREAM, 10))
        self.subs.append(self._subscribe(PointingCommand, devices.MOUNT_COMMAND_TOPIC, self._on_mount_command,
                                         Qos.COMMAND))
        self.subs.append(self._subscribe(PatStatus, devices.OGS_PAT_TOPIC, self._on_pat, Qos.STATE))
        self.stats = {"adcs_targets": 0, "adcs_targets_held": 0, "quiescence_waits": 0, "quiescence_timeouts": 0, "timer_turns": 0, "frames": 0, "centroid_timeouts": 0, "command_timeouts": 0, "stale_clock_answers": 0,
                      "mount_ticks": 0, "space_ticks": 0, "mount_timeouts": 0,
                      "estimates_missing": 0,
                      "wait_wall_s": 0.0}

    # -- counted messages (strict lockstep) ---------------------------------------------------
    def _subscribe(self, msg_type, topic: str, callback, qos):
        def counted(msg, _cb=callback, _topic=topic):
            try:
                _cb(msg)
            finally:
                if self.monitor is not None:
                    self.monitor.count_take(_topic)
        self._own_topics.add(topic)
        return self.node.create_subscription(msg_type, topic, counted, deepened(qos))

    def _publish(self, pub, msg) -> None:
        pub.publish(msg)
        if self.monitor is not None:
            self.monitor.count_publish(pub.topic_name)

    def use_monitor(self, monitor: QuiescenceMonitor) -> None:
        """Wait for quiet (every node's work done) after each group of messages from now on."""
        for topic in sorted(self._own_topics):
            monitor.own_take.setdefault(topic, 0)
        monitor.rebase()
        self.monitor = monitor

    def _settle(self) -> None:
        """Spin until the lockstep nodes and this node have finished every message (strict
        lockstep); a graph still busy after ``answer_timeout_s`` is counted and rebased."""
        t_wait = time.monotonic()
        deadline = t_wait + self.answer_timeout_s
        self.stats["quiescence_waits"] += 1
        while True:
            self.monitor.drain()
            lag = self.monitor.imbalance()
            if lag is None:
                break
            if time.monotonic() > deadline:
                self.stats["quiescence_timeouts"] += 1
                self.last_imbalance = (*lag, (self.now_ns - self.t0_ns) * 1e-9)
                self.monitor.rebase()
                break
            if lag[0] == "sim_world":  # our own answers: taken by spinning
                self.executor.spin_once(timeout_sec=0.001)
            else:  # the nodes' work: sleep until a node finishes a callback (no polling)
                self.monitor.wait(SETTLE_WAKE_TIMEOUT_S)
        self.stats["wait_wall_s"] += time.monotonic() - t_wait

    # -- callbacks -------------------------------------------------------------------------

    def _on_centroid(self, cam: str, msg) -> None:
        want = self._want_stamp.get(cam)
        if want is not None and abs(stamp_ns(msg.header.stamp) - want) < 1000:  # copied header (float-free)
            self._centroid[cam] = msg

    def _on_estimate(self, cam: str, msg) -> None:
        want = self._want_stamp.get(cam)
        if want is not None and abs(stamp_ns(msg.header.stamp) - want) < 1000:
            self._estimate[cam] = msg

    def _on_command(self, cam: str, msg) -> None:
        if cam in self._want_stamp and self._command.get(cam, False) is None:
            self._command[cam] = msg

    def _on_pat(self, msg) -> None:
        try:
            self._pat_state = PatState(int(msg.state))
        except ValueError:
            return

    def _on_mount_command(self, msg) -> None:
        if self._want_mount_ns is not None and self._mount_msg is None:
            self._mount_msg = msg

    def _spin_until(self, done, timeout_s: float | None = None) -> None:
        t_wait = time.monotonic()
        deadline = t_wait + (self.answer_timeout_s if timeout_s is None else timeout_s)
        while not done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.005)
        self.stats["wait_wall_s"] += time.monotonic() - t_wait

    # -- SoftwareLink ----------------------------------------------------------------------
    def ogs_mount(self, t_s: float, position_rad, rate_radps):
        """Report the mount's encoders; the gimbal controller's set-point answers (None: none)."""
        msg = wire_to_msg(devices.encoder_state(self.now_ns, position_rad, rate_radps), ActuatorState)
        self._mount_msg = None
        self._want_mount_ns = self.now_ns
        self._publish(self.encoder_pub, msg)
        self.stats["mount_ticks"] += 1
        if self.monitor is not None:
            self._settle()
        else:
            self._spin_until(lambda: self._mount_msg is not None)
        self._want_mount_ns = None
        u = self._mount_msg
        if u is None:
            self.stats["mount_timeouts"] += 1
            return None
        if stamp_ns(u.header.stamp) < self.now_ns - 1000:
            self.stats["stale_clock_answers"] += 1
        if u.mode != PointingCommand.MODE_POSITION or not (math.isfinite(u.axis1_rad) and math.isfinite(u.axis2_rad)):
            return np.asarray(position_rad, dtype=float).copy(), np.zeros(2)  # not POSITION: hold
        return (np.array([u.axis1_rad, u.axis2_rad]),
                np.array([u.axis1_rate_radps, u.axis2_rate_radps]))

    def ogs_pat_state(self) -> PatState:
        return self._pat_state

    # -- the satellite's ADCS (remote_space_adcs) -------------------------------------------
    def attach_world(self, world) -> None:
        self.world = world

    def _publish_adcs_state(self, t_s: float) -> None:
        """The ADCS's attitude estimate (star tracker + gyro, body -> TEME) and body rate."""
        self._publish(self.adcs_state_pub, wire_to_msg(devices.adcs_state(self.world, t_s, self.now_ns), AdcsState))

    def _on_body_target(self, msg) -> None:
        self._body_target = msg

    def space_adcs_target(self, t_s: float):
        """adcs_pointing's last body target as the Basilisk controller's reference
        (:func:`qsat_pat.sim.devices.attitude_target`; None: hold the last)."""
        m = None if self._body_target is None else msg_to_wire(self._body_target, wire.PointingCommand)
        target = devices.attitude_target(self.world, t_s, m)
        self.stats["adcs_targets" if target is not None else "adcs_targets_held"] += 1
        return target

    def space_step(self, t_s: float, point_ahead_rad) -> None:
        """The satellite's attitude software is a node: nothing to hand over."""

    def space_pat(self, t_s: float, visible: bool, boresight_est_rad, boresight_cmd_rad) -> PatState:
        """The satellite's PAT manager's state (it steps on its own timer turns)."""
        self.stats["space_ticks"] += 1
        return self._space_pat_state

    def _on_space_pat(self, msg) -> None:
        try:
            self._space_pat_state = PatState(int(msg.state))
        except ValueError:
            return

    def begin_step(self, k: int, t_s: float) -> None:
        self.now_ns = self.t0_ns + int(round(t_s * 1e9))
        self._clock_msg.clock = ns_to_stamp(self.now_ns)
        satellite_step = self.world is not None and k % self.world.space_steps == 0
        if self.monitor is not None:  # the lockstep nodes' time, then their timers' turns
            self.monitor.set_time_ns(self.now_ns)
            if satellite_step:
                self._publish_adcs_state(t_s)  # before adcs_pointing's turn
            self._publish(self.clock_pub, self._clock_msg)  # the other nodes (recorder, link)
            self.fire_timers()
        else:
            self._publish(self.clock_pub, self._clock_msg)
            if satellite_step:
                self._publish_adcs_state(t_s)

    def fire_timers(self) -> None:
        """Give each node with a timer due its turn (name order), waiting for quiet after each."""
        for name in self.monitor.due_nodes(self.now_ns):
            self._publish(self.timers_pub, String(data=name))
            self.stats["timer_turns"] += 1
            self._settle()

    def exchange(self, camera: str, frame: Frame, stage_rad):
        capture_ns = self.t0_ns + int(round(frame.t_capture_s * 1e9))
        self._want_stamp[camera] = capture_ns
        self._centroid[camera] = None
        self._command[camera] = None if CAMERA_NODES[camera]["command"] else False  # False: no answer due
        self._estimate[camera] = None
        self._publish(self.image_pubs[camera], array_to_image(frame.image, ns_to_stamp(capture_ns), camera))
        self.stats["frames"] += 1
        if self.monitor is not None:
            # quiet: the centroid, the command and (while the tracker holds a track) the
            # coarse estimate are in, and every other consumer has taken them
            self._settle()
        else:
            self._spin_until(lambda: self._centroid[camera] is not None and self._command[camera] is not None)
        if self.monitor is None and CAMERA_NODES[camera].get("estimate") and self._centroid[camera] is not None and (
                self._centroid[camera].valid or self._track_alive.get(camera, False)):
            # the tracker answers a frame while it holds a track (a first detection is only
            # tentative): wait briefly, so the coarse loop sees this frame's estimate
            self._spin_until(lambda: self._estimate[camera] is not None, self.estimate_wait_s)
            self._track_alive[camera] = self._estimate[camera] is not None
            self.stats["estimates_missing"] += int(self._estimate[camera] is None)
        c, u = self._centroid[camera], self._command[camera]
        self._want_stamp.pop(camera, None)
        if c is None:
            self.stats["centroid_timeouts"] += 1
            centroid = (False, math.nan, math.nan, np.full((2, 2), np.nan))
        else:
            centroid = (bool(c.valid), float(c.x_px), float(c.y_px), np.reshape(np.asarray(c.covariance_px2), (2, 2)))
        if u is False:
            return centroid, None
        if u is None:
            self.stats["command_timeouts"] += 1
            return centroid, None
        if stamp_ns(u.header.stamp) < self.now_ns - 1000:  # the node's clock had not reached this step
            self.stats["stale_clock_answers"] += 1
        return centroid, np.array([u.axis1_rad, u.axis2_rad])

    def end_run(self) -> list[str]:
        s = self.stats
        over = ", ".join(f"{c} ({CAMERA_NODES[c]['image']} -> {CAMERA_NODES[c]['centroid']}"
                         + (f" -> {CAMERA_NODES[c]['command']}" if CAMERA_NODES[c]["command"] else "") + ")"
                         for c in sorted(self.remote_cameras))
        return [
            f"ROS lockstep mode: over DDS: {over}; /ogs/mount_encoder -> gimbal_controller -> /ogs/mount_command "
            "(coarse track from coarse_track); /space/adcs_state (Basilisk ADCS estimate) -> adcs_pointing "
            "(targets on the beacon tracked by track_predictor) -> /space/body_target -> the Basilisk ADCS here; "
            "both PAT managers on their own timers",
            f"lockstep: {s['frames']} frames, {s['mount_ticks']} mount ticks and {s['space_ticks']} satellite PAT "
            "steps exchanged; timeouts: "
            f"{s['centroid_timeouts']} centroid, {s['command_timeouts']} FSM command, {s['mount_timeouts']} mount "
            f"command; {s['quiescence_waits']} waits for quiet "
            f"({s['quiescence_timeouts']} timed out), {s['timer_turns']} timer turns; "
            f"{s['estimates_missing']} coarse frames without a track "
            f"estimate (tentative or lost track); {s['stale_clock_answers']} answers stamped before the "
            "step's clock (wall time spent waiting: the record's lockstep statistics)",
        ] + ([f"lockstep: last group not quiet in time (t = {self.last_imbalance[4]:.3f} s): "
              f"{self.last_imbalance[0]} had finished {self.last_imbalance[2]} of {self.last_imbalance[3]} "
              f"messages on {self.last_imbalance[1]}"]
             if self.last_imbalance else [])
