"""Node ``sim_world``: the simulator in the ROS graph, in lockstep with the PAT nodes over DDS.

The world (:class:`qsat_pat.sim.world.World`: orbit truth, Basilisk ADCS, plants,
atmosphere, cameras) and the loop of :func:`qsat_pat.sim.direct.run_direct` run in this
node's process.  Frames of the cameras whose software runs as nodes (``remote_cameras``)
are published as ``sensor_msgs/Image``, and each frame is answered before simulated time
goes on::

    step k   /clock = t0 + k dt                      (every node runs on use_sim_time)
             frame due -> <ns>/image (mono16, stamp = mid-exposure time)
                 -> beacon_imaging -> <ns>/beacon_centroid -> fsm_controller -> <ns>/fsm_command
             sim_world waits for that centroid and that command (lockstep), uses the
             centroid as the terminal's measurement and the command as the FSM's
             (coarse frames: the centroid and the coarse tracker's estimate)
             mount tick (100 Hz) -> /ogs/mount_encoder -> gimbal_controller -> /ogs/mount_command,
                 gimbal's mount_state -> pat_manager -> /ogs/pat_status (both awaited)
             -> the plants advance one step -> step k+1

Simulated time is the UTC of the pass (``t0`` = the scenario's start), so the ephemeris
node on ``use_sim_time`` propagates its TLE (the terminals' perturbed TLE, given as a
parameter) at the right epoch and the fine controller takes the point-ahead from it.

**Strict lockstep** (:mod:`qsat_pat.nodes.lockstep`; ``run_ros``, ``qsat-pat up sim`` and
``sim.launch.py`` give the nodes a counter directory): every lockstep node counts, in shared
memory, the messages it published and the callbacks it finished per topic, and its timers
run only when this node gives it its turn.  Each step is a sequence of groups -- the clock;
each node whose timers are due (ephemeris 20 Hz, FSM states 50 Hz), in name order; each
frame; the mount encoders; the satellite's attitude -- and after each group this node waits
until every subscriber has finished every message published since the start ("quiet").
So every node sees its inputs in the same order at the same simulated time, and two runs
of a seed give identical records (test_sim_ros.py), whatever the machine's load.  A group
that is not quiet within ``answer_timeout_s`` (wall clock) is counted in the record's notes
and the run goes on.  Without a counter directory only the named answers are awaited (the
centroid, the FSM command, the mount command and PAT status): repeats then agree closely,
not bit for bit.

What runs where (this is what the ``sim`` deployment contains today): the whole OGS
terminal runs as the ``ogs`` deployment's nodes -- coarse and fine imaging, coarse tracker,
ephemeris, FSM controller, gimbal controller on a simulated mount (``mount_encoder`` ->
``mount_command`` at the mount rate), PAT manager stepping on each ``mount_state`` -- and so
does the satellite's fine loop (its camera -> ``beacon_imaging`` -> ``fsm_controller``; its
frames are answered at the satellite's control steps) and its ``pat_manager`` (stepping on
each ``/space/body_state``).  The satellite's attitude software is ``adcs_pointing``: this
node is its ADCS (Basilisk, star-tracker + gyro estimate) -- ``/space/adcs_state`` every
satellite step (before adcs_pointing's timer turn), ``/space/body_target`` (LVLH angles,
roll fixed by the orbit normal) flown every flight-software period; adcs_pointing targets
the beacon tracked by ``/space/track_predictor`` and gives the FSM its point-ahead
(``fsm_ephemeris``).  (``remote_space_adcs=False`` keeps the older in-process attitude
targets, which publish what adcs_pointing would.)

``qsat-pat sim`` (without ``--direct``) starts the nodes of the ``sim`` deployment as
processes and runs this node in its own process (:func:`run_ros`); on a real install
``ros2 launch qsat_pat sim.launch.py`` starts the same table, ``sim_world`` included
(:func:`main`, parameters ``scenario``, ``seed``, ``duration_s``, ``start_offset_s``, ``out_dir``).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import String

from qsat_pat.core.errors import ConfigError, QsatPatError, SimulationError
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.core.pat import PatState
from qsat_pat.deployments import get_deployment
from qsat_pat.msg import (
    ActuatorState,
    AdcsState,
    BeaconCentroid,
    EphemerisState,
    PatStatus,
    PointingCommand,
    TrackEstimate,
)
from qsat_pat.nodes.convert import array_to_image, ns_to_stamp
from qsat_pat.nodes.lockstep import (
    LOCKSTEP_DIR_ENV,
    MATCH_QUERY,
    MIN_DEPTH,
    TIMERS_TOPIC,
    deepened,
    lockstep_dir,
)
from qsat_pat.nodes.pattern import Qos
from qsat_pat.sim.camera import Frame
from qsat_pat.sim.direct import DirectConfig, SoftwareLink, camera_geometry, imaging_config, run_direct
from qsat_pat.sim.ros.lockstep import QuiescenceMonitor
from qsat_pat.sim.scenario import Scenario


@dataclass(frozen=True)
class SimWorldConfig(ConfigBase):
    """Parameters of ``sim_world`` (ROS parameters of :func:`main`)."""

    scenario: str = param("nominal", "scenario name (config/scenarios/NAME.yaml) or scenario YAML file")
    seed: int = param(-1, "run seed (-1: the scenario's)", min_value=-1, max_value=2**31 - 1)
    duration_s: float = param(0.0, "simulated time (0: the scenario's duration)", unit="s", min_value=0.0,
                              max_value=86400.0)
    start_offset_s: float = param(0.0, "start this long after the scenario's start", unit="s", min_value=0.0,
                                  max_value=86400.0)
    out_dir: str = param("sim_out", "directory for report.json")
    answer_timeout_s: float = param(5.0, "wall-clock wait for a node's answer before the step goes on "
                                    "(counted)", unit="s", min_value=0.01, max_value=600.0)


#: Camera -> its frame topic, the imaging node's centroid topic and (fine cameras) the fine
#: controller's command topic that answers each frame.
CAMERA_NODES = {
    "ogs_coarse": {"image": "/ogs/coarse/image", "centroid": "/ogs/coarse_centroid", "command": None,
                   "estimate": "/ogs/coarse_track_estimate"},
    "ogs_fine": {"image": "/ogs/image", "centroid": "/ogs/beacon_centroid", "command": "/ogs/fsm_command"},
    "space": {"image": "/space/image", "centroid": "/space/beacon_centroid", "command": "/space/fsm_command"},
}
#: Cameras whose software runs as nodes in the ``sim`` deployment.
REMOTE_CAMERAS = ("ogs_coarse", "ogs_fine", "space")
#: Longest sleep between two looks at the lockstep counters while nodes work (a node's
#: finished callback wakes sim_world at once through the FIFO) [s].
SETTLE_WAKE_TIMEOUT_S = 0.005
#: Lifecycle nodes the lockstep waits for (must be active before time starts).
LOCKSTEP_NODES = get_deployment("sim").lockstep


def ros_mode_config(config: DirectConfig | None = None) -> DirectConfig:
    """The direct-mode tunables for the ROS mode: remote cameras read out their configured
    ROI (the nodes' pixel set-points assume a fixed frame; no moving read-out windows)."""
    return (config or DirectConfig()).replace(fine_window_px=0, coarse_window_px=0, space_window_px=0)


def ros_mode_scenario(scenario: Scenario) -> Scenario:
    """The scenario as the ROS mode flies it: the remote OGS fine camera reads its full sensor.

    A fixed ROI cannot be used (the closed-loop spot sits at minus the point-ahead, up to
    ~50 px from the boresight at 1 urad/px), and a read-out window that follows the spot
    would move the node's pixel frame under its set-point; the direct mode's moving window
    is a shortcut of the in-process software only.
    """
    return scenario.replace("ogs_fine_camera", roi=(0, 0, 0, 0))


def node_parameters(scenario: Scenario, config: DirectConfig | None = None) -> dict[str, dict]:
    """Parameters of the lockstep nodes that make them the same software as the direct mode.

    Returns ``{fully qualified node name: {parameter: value}}`` (the content of a ROS
    parameter file): the imaging node gets the camera's gain, read noise and PSF
    (:func:`qsat_pat.sim.direct.imaging_config`), the fine controller the direct mode's
    fine loop and FSM, and a pixel -> angle matrix and set-point that match the camera
    geometry and its fixed ROI; the ephemeris node gets the terminals' perturbed TLE and
    the site.
    """
    from qsat_pat.core.control import FineLoopConfig
    from qsat_pat.nodes.beacon_imaging import BeaconImagingConfig
    from qsat_pat.nodes.ephemeris import EphemerisNodeConfig
    from qsat_pat.nodes.fsm_controller import FsmControllerConfig
    from qsat_pat.nodes.gimbal_controller import GimbalControllerConfig
    from qsat_pat.nodes.pat_manager import PatManagerConfig
    from qsat_pat.nodes.track_predictor import TrackPredictorConfig
    from qsat_pat.sim.direct import OGS_SCAN, ogs_pat_config, ogs_safety_config, pat_config, tracker_config
    from qsat_pat.sim.orbit import OrbitTruth

    cfg = ros_mode_config(config)
    sc = ros_mode_scenario(scenario)
    cam = sc.ogs_fine_camera
    dt = cfg.ogs_step_s or 1.0 / cam.frame_rate_hz
    img = {k: v for k, v in imaging_config(cam).as_dict().items() if k in BeaconImagingConfig.__dataclass_fields__}
    img.update(camera_id="ogs_fine", roi_track=False)  # + config/sim_beacon_imaging.yaml
    geom = camera_geometry(cam)
    m = geom.pixel_to_angle()
    x0, y0 = (int(cam.roi[0]), int(cam.roi[1])) if any(int(v) for v in cam.roi) else (0, 0)
    fine = FineLoopConfig(rate_hz=1.0 / dt, ki_per_s=cfg.fine_ki_per_s, predictor_alpha=cfg.ogs_predictor_alpha,
                          predictor_beta=cfg.ogs_predictor_beta)
    fsm = {**fine.as_dict(), **sc.ogs_fsm.as_dict()}
    fsm = {k: v for k, v in fsm.items() if k in FsmControllerConfig.__dataclass_fields__}
    # the controller's residual is -rad_per_px @ (centroid - setpoint) = los - fsm, and the
    # camera maps (centroid - boresight) to +M @ d: rad_per_px = -M, set-point in ROI pixels
    fsm.update(camera_id="ogs_fine", setpoint_x_px=geom.boresight_x_px - x0, setpoint_y_px=geom.boresight_y_px - y0,
               rad_per_px=[float(v) for v in (-m).reshape(-1)], point_ahead_enabled=True, driver="none",
               watchdog_period_s=max(0.05, 5 * dt))
    # after a fine loss in COARSE_TRACK the coarse camera steers the mirror (the direct mode's
    # TerminalLoop): its geometry in the same convention, and the PAT manager's fine_lost_s
    cgeom = camera_geometry(sc.ogs_coarse_camera)
    fsm.update(follow_pat=True, fine_lost_s=ogs_pat_config(dt, cfg).fine_lost_s, coarse_camera_id="ogs_coarse",
               coarse_setpoint_x_px=cgeom.boresight_x_px, coarse_setpoint_y_px=cgeom.boresight_y_px,
               coarse_rad_per_px=[float(v) for v in (-cgeom.pixel_to_angle()).reshape(-1)])
    eph_cfg = sc.site
    orbit = OrbitTruth(sc.orbit, eph_cfg)
    eph = {k: v for k, v in eph_cfg.as_dict().items() if k in EphemerisNodeConfig.__dataclass_fields__}
    eph.update(tle_line1=orbit.terminal_tle.line1, tle_line2=orbit.terminal_tle.line2,
               rate_hz=20.0, plan_passes=False)
    coarse = {k: v for k, v in imaging_config(sc.ogs_coarse_camera).as_dict().items()
              if k in BeaconImagingConfig.__dataclass_fields__}
    coarse.update(camera_id="ogs_coarse", roi_track=False)
    # coarse tracker: the direct mode's tracker, the coarse camera's geometry (optical angles)
    track = {**tracker_config().as_dict(), **cgeom.as_dict()}
    track = {k: v for k, v in track.items() if k in TrackPredictorConfig.__dataclass_fields__}
    track.update(max_actuator_age_s=0.1, latency_s=0.0, use_actuator=True, frame_id="ogs_ephemeris_tangent",
                 measurement_floor_rad=cfg.los_noise_floor_rad)
    # gimbal: the direct mode's coarse stage (safety limits, offset shaping, scan, offload)
    site = sc.site
    gimbal = {k: v for k, v in ogs_safety_config(sc).as_dict().items()
              if k in GimbalControllerConfig.__dataclass_fields__}
    gimbal.update(control_rate_hz=cfg.mount_rate_hz, site_lat_deg=site.site_lat_deg,
                  site_lon_deg=site.site_lon_deg, sun_source="computed",
                  offset_max_rate_radps=cfg.offset_max_rate_radps, offset_max_acc_radps2=cfg.offset_max_acc_radps2,
                  scan_cone_radius_rad=OGS_SCAN.cone_radius_rad, scan_step_rad=OGS_SCAN.step_rad,
                  scan_speed_radps=OGS_SCAN.speed_radps, coarse_loop_enabled=True, track_timeout_s=1.0)
    # PAT manager: the direct mode's OGS state machine; at target = within at_target_rad of the set-point
    pat = {k: v for k, v in ogs_pat_config(dt, cfg).as_dict().items() if k in PatManagerConfig.__dataclass_fields__}
    bx, by = cgeom.boresight_x_px, cgeom.boresight_y_px
    pat.update(at_target_tolerance_rad=cfg.at_target_rad, coarse_rad_per_px=[float(v) for v in (-cgeom.pixel_to_angle()).reshape(-1)],
               coarse_setpoint_x_px=bx, coarse_setpoint_y_px=by)
    # the satellite's fine loop: its camera (full frame) and FSM, the direct mode's loop settings
    scam = sc.space_camera
    space_dt = cfg.space_step_s or 1.0 / scam.frame_rate_hz
    simg = {k: v for k, v in imaging_config(scam).as_dict().items() if k in BeaconImagingConfig.__dataclass_fields__}
    simg.update(camera_id="space_beacon", roi_track=False)
    sgeom = camera_geometry(scam)
    sx0, sy0 = (int(scam.roi[0]), int(scam.roi[1])) if any(int(v) for v in scam.roi) else (0, 0)
    sfine = FineLoopConfig(rate_hz=1.0 / space_dt, ki_per_s=cfg.fine_ki_per_s, predictor_alpha=0.5,
                           predictor_beta=0.05)
    sfsm = {k: v for k, v in {**sfine.as_dict(), **sc.space_fsm.as_dict()}.items()
            if k in FsmControllerConfig.__dataclass_fields__}
    sfsm.update(camera_id="space_beacon", setpoint_x_px=sgeom.boresight_x_px - sx0,
                setpoint_y_px=sgeom.boresight_y_px - sy0,
                rad_per_px=[float(v) for v in (-sgeom.pixel_to_angle()).reshape(-1)], point_ahead_enabled=True,
                driver="none", watchdog_period_s=max(0.05, 5 * space_dt), ephemeris_timeout_s=1.0,
                follow_pat=True, coarse_camera_id="",  # one camera: no coarse hand-back
                fine_lost_s=pat_config("space", space_dt, cfg.space_fine_handover_rad).fine_lost_s)
    spat = {k: v for k, v in pat_config("space", space_dt, cfg.space_fine_handover_rad).as_dict().items()
            if k in PatManagerConfig.__dataclass_fields__}
    spat.update(at_target_tolerance_rad=cfg.at_target_rad, coarse_rad_per_px=[float(v) for v in (-sgeom.pixel_to_angle()).reshape(-1)],
                coarse_setpoint_x_px=sgeom.boresight_x_px - sx0, coarse_setpoint_y_px=sgeom.boresight_y_px - sy0)
    # the line-of-sight predictors of both terminals: the direct mode's tracker on each fine
    # camera, line of sight = FSM (fsm_state) + camera residual in the FSM's axes
    def predictor(geometry, frame_id):
        p = {**tracker_config().as_dict(), **geometry.as_dict()}
        p = {k: v for k, v in p.items() if k in TrackPredictorConfig.__dataclass_fields__}
        p.update(use_actuator=True, max_actuator_age_s=0.05, frame_id=frame_id,
                 measurement_floor_rad=cfg.los_noise_floor_rad)
        return p

    # the satellite's attitude software: its own (perturbed) TLE, the station, one target per
    # satellite step (its body_state steps the PAT manager), the coarse loop on the tracked beacon
    adcs = {"tle_line1": orbit.terminal_tle.line1, "tle_line2": orbit.terminal_tle.line2,
            "site_lat_deg": sc.site.site_lat_deg, "site_lon_deg": sc.site.site_lon_deg,
            "site_alt_m": sc.site.site_alt_m, "min_el_deg": sc.site.min_el_deg, "rate_hz": 1.0 / space_dt,
            "point_ahead_enabled": False, "track_enabled": True, "track_timeout_s": max(0.05, 5 * space_dt),
            "sun_source": "computed", "adcs_timeout_s": 1.0, "target_source": "tle"}
    return {"/ogs/track_predictor": predictor(geom, "ogs_fsm"), "/space/adcs_pointing": adcs,
            "/space/track_predictor": predictor(sgeom, "space_fsm"),
            "/ogs/coarse_imaging": coarse, "/ogs/beacon_imaging": img, "/ogs/fsm_controller": fsm,
            "/ogs/ephemeris": eph, "/ogs/coarse_track": track, "/ogs/gimbal_controller": gimbal,
            "/ogs/pat_manager": pat, "/space/beacon_imaging": simg, "/space/fsm_controller": sfsm,
            "/space/pat_manager": spat}


def write_parameter_file(params: dict[str, dict], path: Path) -> Path:
    """Write ``{node: {param: value}}`` as a ROS 2 parameter YAML file."""
    import yaml

    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, (np.floating, np.integer, np.bool_)):
            return v.item()
        return v

    doc = {node: {"ros__parameters": {k: plain(v) for k, v in p.items()}} for node, p in params.items()}
    path.write_text("# Generated by qsat-pat sim (ROS mode) from the scenario; do not edit.\n"
                    + yaml.safe_dump(doc, sort_keys=True))
    return path


def stamp_ns(stamp) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds (exact: simulated UTC is compared to 1 us)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class RosLink(SoftwareLink):
    """Lockstep exchange with the nodes (see the module docstring).

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

    def __init__(self, node, executor, t0_unix_s: float, remote_cameras=REMOTE_CAMERAS,
                 answer_timeout_s: float = 5.0, remote_ogs_control: bool = True,
                 remote_space_pat: bool = True, remote_space_adcs: bool = True) -> None:
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
        self.remote_ogs_control = bool(remote_ogs_control)
        self._pat_state = PatState.IDLE
        self._pat_msg = None
        self._mount_msg = None
        self._want_mount_ns: int | None = None
        self._space_pa = (0.0, 0.0)
        self.remote_space_pat = bool(remote_space_pat) and "space" in self.remote_cameras
        self.remote_space_adcs = bool(remote_space_adcs) and self.remote_space_pat
        self.world = None
        self._body_target = None
        if self.remote_space_adcs:
            # the satellite's attitude software is adcs_pointing: this node is its ADCS (Basilisk,
            # star tracker + gyro estimate) -- AdcsState out every satellite step, body targets in
            self._space_pat_state, self._space_pat_msg = PatState.IDLE, None
            self.adcs_state_pub = node.create_publisher(AdcsState, "/space/adcs_state", Qos.STREAM)
            self.subs.append(self._subscribe(PointingCommand, "/space/body_target", self._on_body_target,
                                             Qos.COMMAND))
            self.subs.append(self._subscribe(PatStatus, "/space/pat_status", self._on_space_pat, Qos.STATE))
        elif "space" in self.remote_cameras:
            # the satellite's attitude software runs in this process: it publishes the
            # point-ahead it computes, as adcs_pointing does on the real satellite
            self.space_geometry_pub = node.create_publisher(EphemerisState, "/space/ogs_ephemeris", Qos.STATE)
        if self.remote_space_pat and not self.remote_space_adcs:
            # ... and its body target / estimated attitude for the satellite's pat_manager
            self._space_pat_state, self._space_pat_msg = PatState.IDLE, None
            self.body_target_pub = node.create_publisher(PointingCommand, "/space/body_target", Qos.COMMAND)
            self.body_state_pub = node.create_publisher(ActuatorState, "/space/body_state", Qos.with_depth(Qos.STREAM, 10))
            self.subs.append(self._subscribe(PatStatus, "/space/pat_status", self._on_space_pat, Qos.STATE))
        if self.remote_ogs_control:
            self.encoder_pub = node.create_publisher(ActuatorState, "/ogs/mount_encoder", Qos.with_depth(Qos.STREAM, 10))
            self.subs.append(self._subscribe(PointingCommand, "/ogs/mount_command", self._on_mount_command,
                                                      Qos.COMMAND))
            self.subs.append(self._subscribe(PatStatus, "/ogs/pat_status", self._on_pat, Qos.STATE))
        self.stats = {"adcs_targets": 0, "adcs_targets_held": 0, "quiescence_waits": 0, "quiescence_timeouts": 0, "timer_turns": 0, "frames": 0, "centroid_timeouts": 0, "command_timeouts": 0, "stale_clock_answers": 0,
                      "mount_ticks": 0, "space_ticks": 0, "mount_timeouts": 0, "pat_timeouts": 0,
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
        self._pat_msg = msg

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
        msg = ActuatorState()
        msg.header.stamp = ns_to_stamp(self.now_ns)
        msg.header.frame_id = "ogs_mount"
        msg.stage = PointingCommand.STAGE_MOUNT
        msg.axis1_rad, msg.axis2_rad = float(position_rad[0]), float(position_rad[1])
        msg.axis1_rate_radps, msg.axis2_rate_radps = float(rate_radps[0]), float(rate_radps[1])
        self._mount_msg = None
        self._want_mount_ns = self.now_ns

        def pat_fresh() -> bool:
            return self._pat_msg is not None and abs(stamp_ns(self._pat_msg.header.stamp) - self.now_ns) < 1000

        self._publish(self.encoder_pub, msg)
        self.stats["mount_ticks"] += 1
        # the gimbal answers the reading; the PAT manager steps on the gimbal's mount_state
        if self.monitor is not None:
            self._settle()
        else:
            self._spin_until(lambda: self._mount_msg is not None and pat_fresh())
        self._want_mount_ns = None
        if not pat_fresh():
            self.stats["pat_timeouts"] += 1
        u = self._mount_msg
        if u is None:
            self.stats["mount_timeouts"] += 1
            return None
        if stamp_ns(u.header.stamp) < self.now_ns - 1000:
            self.stats["stale_clock_answers"] += 1
        if u.mode != PointingCommand.MODE_POSITION or not (math.isfinite(u.axis1_rad) and math.isfinite(u.axis2_rad)):  # not POSITION: hold
            return np.asarray(position_rad, dtype=float).copy(), np.zeros(2)
        return (np.array([u.axis1_rad, u.axis2_rad]),
                np.array([u.axis1_rate_radps, u.axis2_rate_radps]))

    def ogs_pat_state(self) -> PatState:
        return self._pat_state

    # -- the satellite's ADCS (remote_space_adcs) -------------------------------------------
    def attach_world(self, world) -> None:
        self.world = world

    def _publish_adcs_state(self, t_s: float) -> None:
        """The ADCS's attitude estimate (star tracker + gyro, body -> TEME) and body rate."""
        from transforms3d.quaternions import mat2quat

        w = self.world
        q = mat2quat(w.space_est_dcm_bn(t_s).T)
        msg = AdcsState(mode="target_pointing")
        msg.header.stamp = ns_to_stamp(self.now_ns)
        msg.header.frame_id = "teme"
        msg.attitude.w, msg.attitude.x, msg.attitude.y, msg.attitude.z = (float(v) for v in q)
        rate = np.asarray(w.adcs_omega_b, dtype=float).reshape(3) if w.adcs_omega_b is not None else np.zeros(3)
        msg.body_rate_radps.x, msg.body_rate_radps.y, msg.body_rate_radps.z = (float(v) for v in rate)
        self._publish(self.adcs_state_pub, msg)

    def _on_body_target(self, msg) -> None:
        self._body_target = msg

    def space_adcs_target(self, t_s: float):
        """adcs_pointing's last body target (LVLH angles and rates, the satellite's own orbit
        knowledge: its TLE, as adcs_pointing uses) as the Basilisk controller's reference; the
        roll about the boresight is fixed by the orbit normal."""
        from qsat_pat.core.control import lvlh_direction
        from qsat_pat.sim.adcs import pointing_target

        m = self._body_target
        if m is None or m.mode not in (PointingCommand.MODE_POSITION, PointingCommand.MODE_PARK) or not all(
                math.isfinite(v) for v in (m.axis1_rad, m.axis2_rad, m.axis1_rate_radps, m.axis2_rate_radps)):
            self.stats["adcs_targets_held"] += 1
            return None  # hold: the ADCS keeps its last reference
        eph = self.world.orbit.terminal
        t_unix = self.world.t0_unix_s + t_s
        h = 0.01
        r, v = eph.propagate_teme(np.array([t_unix, t_unix + h]))
        u0 = lvlh_direction(m.axis1_rad, m.axis2_rad, r[0], v[0])
        u1 = lvlh_direction(m.axis1_rad + m.axis1_rate_radps * h, m.axis2_rad + m.axis2_rate_radps * h, r[1], v[1])
        self.stats["adcs_targets"] += 1
        return pointing_target(u0, (u1 - u0) / h, np.cross(r[0], v[0]))

    def space_step(self, t_s: float, point_ahead_rad) -> None:
        self._space_pa = (float(point_ahead_rad[0]), float(point_ahead_rad[1]))
        if "space" in self.remote_cameras and not self.remote_space_pat:
            self._publish_space_geometry(True)
            if self.monitor is not None:
                self._settle()

    def _publish_space_geometry(self, visible: bool) -> None:
        msg = EphemerisState()
        msg.header.stamp = ns_to_stamp(self.now_ns)
        msg.header.frame_id = "space_reference"  # the satellite's pointing frame R = its FSM axes
        # fsm_controller adds (point_ahead_az * cos(el), point_ahead_el): el 0 passes them as they are
        msg.el_rad = 0.0
        msg.point_ahead_az_rad, msg.point_ahead_el_rad = self._space_pa
        msg.point_ahead_rad = float(math.hypot(*self._space_pa))
        msg.visible = bool(visible)
        msg.sun_separation_rad = math.pi  # the satellite's Sun constraint is its attitude software's
        self._publish(self.space_geometry_pub, msg)

    def space_pat(self, t_s: float, visible: bool, boresight_est_rad, boresight_cmd_rad) -> PatState:
        self.stats["space_ticks"] += 1
        if self.remote_space_adcs:
            # adcs_pointing published body_state on its turn at the start of this step and the
            # PAT manager stepped on it then (settled): its state is in
            # (none before adcs_pointing's first body state: it waits for the first AdcsState)
            fresh = self._space_pat_msg is not None and abs(stamp_ns(self._space_pat_msg.header.stamp)
                                                            - self.now_ns) < 1000
            self.stats["pat_timeouts"] += int(self._space_pat_msg is not None and not fresh)
            return self._space_pat_state
        self._publish_space_geometry(visible)
        stamp = ns_to_stamp(self.now_ns)
        cmd = PointingCommand()
        cmd.header.stamp = stamp
        cmd.header.frame_id = "space_reference"
        cmd.stage, cmd.mode = PointingCommand.STAGE_BODY, PointingCommand.MODE_POSITION
        cmd.axis1_rad, cmd.axis2_rad = float(boresight_cmd_rad[0]), float(boresight_cmd_rad[1])
        self._publish(self.body_target_pub, cmd)
        st = ActuatorState()
        st.header.stamp = stamp
        st.header.frame_id = "space_reference"
        st.stage = PointingCommand.STAGE_BODY
        st.axis1_rad, st.axis2_rad = float(boresight_est_rad[0]), float(boresight_est_rad[1])
        self._space_pat_msg = None
        self._publish(self.body_state_pub, st)
        if self.monitor is not None:
            self._settle()
        else:
            self._spin_until(lambda: self._space_pat_msg is not None)
        if self._space_pat_msg is None:
            self.stats["pat_timeouts"] += 1
        return self._space_pat_state

    def _on_space_pat(self, msg) -> None:
        try:
            self._space_pat_state = PatState(int(msg.state))
        except ValueError:
            return
        if abs(stamp_ns(msg.header.stamp) - self.now_ns) < 1000:
            self._space_pat_msg = msg

    def begin_step(self, k: int, t_s: float) -> None:
        self.now_ns = self.t0_ns + int(round(t_s * 1e9))
        self._clock_msg.clock = ns_to_stamp(self.now_ns)
        if self.monitor is not None:  # the lockstep nodes' time, then their timers' turns
            self.monitor.set_time_ns(self.now_ns)
            if self.remote_space_adcs and self.world is not None and k % self.world.space_steps == 0:
                self._publish_adcs_state(t_s)  # before adcs_pointing's turn
            self._publish(self.clock_pub, self._clock_msg)  # the other nodes (recorder, link)
            self.fire_timers()
        else:
            self._publish(self.clock_pub, self._clock_msg)
            if self.remote_space_adcs and self.world is not None and k % self.world.space_steps == 0:
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
            f"ROS lockstep mode: over DDS: {over}"
            + ("; /ogs/mount_encoder -> gimbal_controller -> /ogs/mount_command (coarse track from coarse_track, "
               "PAT from pat_manager stepping on mount_state)" if self.remote_ogs_control else "")
            + ("; /space/adcs_state (Basilisk ADCS estimate) -> adcs_pointing (targets on the tracked beacon from "
               "track_predictor) -> /space/body_target -> the Basilisk ADCS here; body_state -> pat_manager -> "
               "/space/pat_status; fsm_ephemeris (point-ahead) -> fsm_controller"
               if self.remote_space_adcs else
               ("; /space/body_state -> pat_manager -> /space/pat_status" if self.remote_space_pat else "")
               + "; in this process with the direct mode's core objects: the satellite's tracker and attitude "
               "targets, which publish its point-ahead, visibility, body target and estimated boresight"),
            f"lockstep: {s['frames']} frames, {s['mount_ticks']} mount ticks and {s['space_ticks']} satellite PAT "
            "steps exchanged; timeouts: "
            f"{s['centroid_timeouts']} centroid, {s['command_timeouts']} FSM command, {s['mount_timeouts']} mount "
            f"command, {s['pat_timeouts']} PAT status; {s['quiescence_waits']} waits for quiet "
            f"({s['quiescence_timeouts']} timed out), {s['timer_turns']} timer turns; "
            f"{s['estimates_missing']} coarse frames without a track "
            f"estimate (tentative or lost track); {s['stale_clock_answers']} answers stamped before the "
            "step's clock (wall time spent waiting: the record's lockstep statistics)",
        ] + ([f"lockstep: last group not quiet in time (t = {self.last_imbalance[4]:.3f} s): "
              f"{self.last_imbalance[0]} had finished {self.last_imbalance[2]} of {self.last_imbalance[3]} "
              f"messages on {self.last_imbalance[1]}"]
             if self.last_imbalance else [])


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


def run_lockstep(scenario: Scenario, *, seed: int | None = None, duration_s: float | None = None,
                 start_offset_s: float = 0.0, progress=None, config: DirectConfig | None = None,
                 answer_timeout_s: float = 5.0, startup_timeout_s: float = 60.0, context=None, check=None,
                 lockstep_directory: Path | None = None, log=None):
    """Run the simulator as node ``/sim_world`` against nodes already started; returns the SimRecord.

    ``lockstep_directory`` (default: :data:`qsat_pat.nodes.lockstep.LOCKSTEP_DIR_ENV`) holds
    the nodes' counter boards: with it the lockstep is strict (quiet after every group of
    messages, bit-reproducible); without it only the named answers are awaited.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor


    own = context is None
    if own:
        context = rclpy.Context()
        rclpy.init(context=context, args=[])
    node = rclpy.create_node("sim_world", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    link = None
    try:
        sc = ros_mode_scenario(scenario)
        t0 = _start_unix_s(sc, start_offset_s)
        link = RosLink(node, executor, t0, REMOTE_CAMERAS, answer_timeout_s, remote_ogs_control=True)
        directory = lockstep_dir() if lockstep_directory is None else Path(lockstep_directory)
        if directory is None:
            link.begin_step(0, 0.0)  # nodes on sim time see the start time before they are asked
        t_start = time.monotonic()

        def phase(what: str) -> None:
            if log is not None:
                log(f"[sim_world] {what} ({time.monotonic() - t_start:.1f} s)")

        wait_for_nodes(node, executor, timeout_s=startup_timeout_s, check=check)
        phase("lockstep nodes active")
        wait_for_matches(link, timeout_s=startup_timeout_s)
        phase("frames and answers connected")
        if directory is None:
            wait_for_ephemeris(link, timeout_s=startup_timeout_s)
        else:
            queries = start_strict_lockstep(link, QuiescenceMonitor(directory, LOCKSTEP_NODES), startup_timeout_s,
                                            check)
        phase("start ephemeris everywhere" if directory is None else
              f"strict lockstep started, every writer matched after {queries} quer{'y' if queries == 1 else 'ies'}")
        record = run_direct(sc, seed=seed, duration_s=duration_s, progress=progress,
                            config=ros_mode_config(config), start_offset_s=start_offset_s, link=link)
        record.lockstep = dict(link.stats)
        return record
    finally:
        if link is not None and link.monitor is not None:
            link.monitor.close()
        executor.remove_node(node)
        node.destroy_node()
        executor.shutdown()
        if own:
            rclpy.shutdown(context=context)


def _start_unix_s(scenario: Scenario, start_offset_s: float) -> float:
    from qsat_pat.sim.orbit import OrbitTruth

    orbit = OrbitTruth(scenario.orbit, scenario.site)
    return orbit.tca_unix_s - scenario.scenario.start_before_tca_s + float(start_offset_s)


def run_ros(scenario: Scenario, *, seed: int | None = None, duration_s: float | None = None,
            start_offset_s: float = 0.0, progress=None, config: DirectConfig | None = None,
            work_dir: Path, log=print, answer_timeout_s: float = 5.0, domain_id: int | None = None):
    """Start the ``sim`` deployment's nodes as processes and fly the pass in lockstep with them.

    The run's graph is private: a free ROS 2 domain ID is reserved for it
    (:func:`qsat_pat.launcher.reserve_domain_id`; never the caller's own ``ROS_DOMAIN_ID``)
    and discovery is localhost-only.  Two runs on one domain would take each other's
    ``/clock`` and messages (seen: a second run's clock 200 s ahead made the first run's
    space PAT manager stop on "PAT time went backwards"), and a simulated graph must never
    reach a real station's nodes.

    Parameters
    ----------
    work_dir : Path
        Where the generated parameter file and the nodes' logs go.
    domain_id : int, optional
        Use this domain ID (it must be free) instead of the first free one; logged either way,
        so ``ROS_DOMAIN_ID=N ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ros2 topic echo ...``
        can watch the run.

    Returns
    -------
    SimRecord
    """
    from qsat_pat.launcher import reserve_domain_id

    try:
        own_domain = int(os.environ.get("ROS_DOMAIN_ID") or 0)
    except ValueError:
        own_domain = 0
    try:
        reservation = reserve_domain_id(domain_id, avoid=(own_domain,))
    except QsatPatError as exc:
        raise SimulationError(f"no private ROS domain for the simulation: {exc}") from exc
    saved_env = {k: os.environ.get(k) for k in reservation.environment()}
    os.environ.update(reservation.environment())  # sim_world's own context (run_lockstep) too
    log(f"[sim] private graph: ROS_DOMAIN_ID={reservation.domain_id}, localhost-only discovery")
    try:
        return _run_ros_nodes(scenario, seed=seed, duration_s=duration_s, start_offset_s=start_offset_s,
                              progress=progress, config=config, work_dir=work_dir, log=log,
                              answer_timeout_s=answer_timeout_s, env_extra=reservation.environment())
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reservation.release()


def _run_ros_nodes(scenario: Scenario, *, seed, duration_s, start_offset_s, progress, config, work_dir: Path, log,
                   answer_timeout_s: float, env_extra: dict[str, str]):
    from qsat_pat.deployments import lockstep_environment
    from qsat_pat.launcher import _die_with_parent, _stop_all, node_command

    work_dir.mkdir(parents=True, exist_ok=True)
    board_dir = work_dir / "lockstep"
    shutil.rmtree(board_dir, ignore_errors=True)  # a previous run's boards must not be read
    node_params = node_parameters(scenario, config)
    node_params["/bag_recorder"] = {"output_dir": str(work_dir / "dds_bag")}
    params = write_parameter_file(node_params, work_dir / "sim_parameters.yaml")
    dep = get_deployment("sim")
    procs = []
    logs = []
    try:
        for spec in dep.nodes:
            if spec.executable == "sim_world":
                continue
            cmd = node_command(spec, dep) + ["--params-file", str(params)]
            env = {**os.environ, **env_extra}
            env.pop(LOCKSTEP_DIR_ENV, None)
            env.update(lockstep_environment(dep, spec, str(board_dir)))
            lf = open(work_dir / f"{spec.fqn.strip('/').replace('/', '.')}.log", "w")
            logs.append(lf)
            procs.append((spec, subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, start_new_session=True,
                                                 preexec_fn=_die_with_parent, env=env)))
            log(f"[sim] started {spec.fqn} (pid {procs[-1][1].pid})")

        def check() -> None:
            dead = [s.fqn for s, p in procs if p.poll() is not None]
            if dead:
                tails = "; ".join(f"{n}: {_log_tail(work_dir, n)}" for n in dead)
                raise SimulationError(f"nodes exited: {tails}")

        record = run_lockstep(scenario, seed=seed, duration_s=duration_s, start_offset_s=start_offset_s,
                              progress=progress, config=config, answer_timeout_s=answer_timeout_s, check=check,
                              lockstep_directory=board_dir, log=log)
        check()
        return record
    finally:
        _stop_all(procs, lambda *a: None)
        for lf in logs:
            lf.close()


def _log_tail(work_dir: Path, fqn: str) -> str:
    path = work_dir / f"{fqn.strip('/').replace('/', '.')}.log"
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def push_parameters(node, executor, params: dict[str, dict], timeout_s: float = 30.0) -> None:
    """Set ``{node: {param: value}}`` on running nodes through their parameter services.

    Raises
    ------
    SimulationError
        A node does not answer within ``timeout_s`` or refuses a value (its reason).
    """
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    for target, values in params.items():
        client = AsyncParameterClient(node, target)
        try:
            if not client.wait_for_services(timeout_sec=timeout_s):
                raise SimulationError(f"{target}: parameter services not available after {timeout_s:.0f} s")
            plist = [Parameter(k, value=list(v) if isinstance(v, tuple) else v) for k, v in sorted(values.items())]
            fut = client.set_parameters_atomically(plist)  # one change: a TLE's two lines together
            deadline = time.monotonic() + timeout_s
            while not fut.done() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            if not fut.done():
                raise SimulationError(f"{target}: set_parameters did not answer within {timeout_s:.0f} s")
            result = fut.result().result
            if not result.successful:
                raise SimulationError(f"{target} refused its parameters: {result.reason}")
        finally:  # the client holds one service client per parameter service: release them
            for attr, value in list(vars(client).items()):
                if attr.endswith("_client") and value is not None:
                    node.destroy_client(value)


def main(args=None) -> int:
    """``ros2 run qsat_pat sim_world`` / ``ros2 launch qsat_pat sim.launch.py``: fly the pass.

    Parameters (ROS): ``scenario`` (name or file), ``seed`` (-1: the scenario's),
    ``duration_s`` (0: the scenario's), ``start_offset_s``, ``out_dir`` (report.json goes
    there).  The scenario-dependent parameters of the lockstep nodes
    (:func:`node_parameters`) are set through their parameter services before time starts.
    Exit 0 when the pass is flown, 1 on a simulation error, 130 on Ctrl-C.
    """
    import json

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from qsat_pat.sim.report import build_report
    from qsat_pat.sim.scenario import load_scenario

    context = rclpy.Context()
    rclpy.init(context=context, args=args if args is not None else sys.argv)
    try:
        probe = rclpy.create_node("sim_world_setup", context=context)
        values = {f: probe.declare_parameter(f, getattr(SimWorldConfig(), f)).value
                  for f in SimWorldConfig.__dataclass_fields__}
        cfg = SimWorldConfig(**values)  # ConfigError names a bad value
        scenario = load_scenario(cfg.scenario)
        ex = SingleThreadedExecutor(context=context)
        ex.add_node(probe)
        t_start = time.monotonic()
        wait_for_nodes(probe, ex)
        print(f"sim_world: {len(LOCKSTEP_NODES)} lockstep nodes active after {time.monotonic() - t_start:.1f} s",
              flush=True)
        push_parameters(probe, ex, node_parameters(scenario))
        print(f"sim_world: scenario {scenario.name!r} parameters set after {time.monotonic() - t_start:.1f} s",
              flush=True)
        ex.remove_node(probe)
        probe.destroy_node()
        from qsat_pat.progress import ProgressBar

        record = run_lockstep(scenario, seed=None if cfg.seed < 0 else cfg.seed, duration_s=cfg.duration_s or None,
                              start_offset_s=cfg.start_offset_s, answer_timeout_s=cfg.answer_timeout_s,
                              context=context, log=lambda m: print(m, flush=True),
                              progress=ProgressBar(f"sim_world {scenario.name}", stream=sys.stdout))
        out_dir = Path(cfg.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(build_report(record), indent=2, allow_nan=False) + "\n")
        print(f"sim_world: report written to {out_dir / 'report.json'}", flush=True)
        return 0
    except (SimulationError, ConfigError) as exc:
        print(f"sim_world: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


CONFIG_CLASS = SimWorldConfig

if __name__ == "__main__":
    sys.exit(main())
