"""Direct mode: both terminals' PAT software and the simulated world in one process, no DDS.

Every control step of each terminal runs the same core step functions a node runs::

    camera frame (when due, delivered after its readout latency)
      -> BeaconImager.process                       (core/imaging.py)
      -> compose_line_of_sight + LosTracker          (core/estimation.py; Kalman prediction
                                                      to the actuation time)
      -> PatStateMachine.step                        (core/pat.py)
      -> FineTrackLoop.step (FSM) + FsmOffload       (core/control.py)
      -> coarse stage: OGS mount set-point from the perturbed-TLE ephemeris with rate
         feed-forward, + the tracked offset, + offload, + AcquisitionScan while searching;
         satellite: ADCS attitude target at the OGS (its own orbit knowledge) + tracked offset
      -> PointingSafetyFilter (mount)                (core/safety.py)
      -> plants (:class:`qsat_pat.sim.world.World`)

The per-terminal processing lives in :class:`TerminalLoop` (sensor side: frames ->
measurements -> tracker, PAT and fine loop) with the coarse-stage command in
:class:`OgsCoarseStage` and :class:`SpaceCoarseStage`; each takes core objects, so a ROS
node can hold the same objects and call the same methods from its callbacks.

Pointing frames, the point-ahead convention and what the world does not model are
described in :mod:`qsat_pat.sim.world`.  The recorded ``fine_residual_rad`` is the
tracking error against the beacon as it arrives (apparent LOS = ``true_los_rad +
turbulence_tilt_rad`` at the OGS), minus the pointing, minus the camera set-point
``-point_ahead`` (seed 004 §2.3: the point-ahead enters the fine set-point only): it is
what a noiseless fine camera would show as the tracking error, as seed 004 reports its
< 3 urad.  The disturbance budget also gives the geometric residual (without tilt).

References
----------
seed 004 §2.2-2.3, Table 1 (1 kHz fine loop, < 3 urad); seed 003 §2.3 (open loop ->
coarse -> fine); seed 002 §II.5-6, §III, §IV (Kalman prediction, cloud breaks, latency).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.coarse import OgsCoarseStage
from qsat_pat.core.control import (
    AcquisitionScan,
    FineLoopConfig,
    FineTrackLoop,
    FsmOffload,
    OffloadConfig,
    ScanConfig,
    wrap_pi,
)
from qsat_pat.core.errors import EstimationError, SimulationError
from qsat_pat.core.estimation import (
    ActuatorPointing,
    CameraGeometry,
    LosTracker,
    TrackerConfig,
    compose_line_of_sight,
)
from qsat_pat.core.imaging import BeaconImager, ImagingConfig
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.core.pat import PatConfig, PatInputs, PatState, PatStateMachine
from qsat_pat.core.safety import PointingSafetyFilter, SafetyConfig
from qsat_pat.sim.adcs import pointing_target
from qsat_pat.sim.atmosphere import z_tilt_variance_rad2
from qsat_pat.sim.camera import CameraConfig, Frame
from qsat_pat.sim.record import TERMINALS, SimRecord, TerminalRecord
from qsat_pat.sim.scenario import Scenario
from qsat_pat.sim.world import World

__all__ = [
    "DirectConfig",
    "Measurement",
    "OgsCoarseStage",
    "SpaceCoarseStage",
    "TerminalLoop",
    "camera_geometry",
    "imaging_config",
    "SoftwareLink",
    "measure_frame",
    "measurement_from_centroid",
    "run_direct",
]

TRACK_STATES = (PatState.COARSE_TRACK, PatState.FINE_TRACK)


@dataclass(frozen=True)
class DirectConfig(ConfigBase):
    """Rates and tunables of the direct mode (the scenario gives the physics)."""

    ogs_step_s: float = param(0.0, "OGS control period = lockstep period (0: the OGS fine camera's frame "
                              "period)", unit="s", min_value=0.0, max_value=0.1)
    space_step_s: float = param(0.0, "satellite control period (0: its camera's frame period)", unit="s",
                                min_value=0.0, max_value=1.0)
    chunk_s: float = param(1.0, "truth evaluated vectorised over chunks of this length", unit="s",
                           min_value=0.01, max_value=60.0)
    space_gnss_error_m: float = param(10.0, "1-sigma per axis of the satellite's own-position knowledge "
                                      "(onboard GNSS) used for its open-loop target", unit="m",
                                      min_value=0.0, max_value=1e5)
    coarse_window_px: int = param(64, "read-out window of the OGS coarse camera while tracking "
                                  "(0: configured ROI always)", unit="px", min_value=0, max_value=8192)
    fine_window_px: int = param(32, "read-out window of the OGS fine camera around the predicted spot",
                                unit="px", min_value=0, max_value=8192)
    space_window_px: int = param(32, "read-out window of the satellite camera while tracking", unit="px",
                                 min_value=0, max_value=8192)
    tracker_rate_hz: float = param(50.0, "rate at which fine-camera lines of sight feed the Kalman tracker",
                                   unit="Hz", min_value=0.1, max_value=1e4)
    los_noise_floor_rad: float = param(3e-6, "added to each measurement's std for the tracker "
                                       "(turbulence, vibration)", unit="rad", min_value=0.0, max_value=1e-2)
    ogs_fine_handover_rad: float = param(50e-6, "OGS: coarse error below which the fine loop takes over",
                                         unit="rad", min_value=1e-7, max_value=0.1)
    space_fine_handover_rad: float = param(100e-6, "satellite: camera residual below which FINE_TRACK",
                                           unit="rad", min_value=1e-7, max_value=0.1)
    offset_max_rate_radps: float = param(5e-3, "rate limit of the closed-loop offset added to the mount "
                                         "set-point (shapes steps so the mount servo does not overshoot)",
                                         unit="rad/s", min_value=1e-6, max_value=1.0)
    offset_max_acc_radps2: float = param(0.05, "acceleration limit of that offset", unit="rad/s^2",
                                         min_value=1e-6, max_value=100.0)
    mount_rate_hz: float = param(100.0, "rate of the OGS mount set-points (position + rate; the mount "
                                 "driver interpolates between them)", unit="Hz", min_value=1.0, max_value=1e4)
    at_target_rad: float = param(1e-3, "coarse stage within this of its set-point = at target", unit="rad",
                                 min_value=1e-6, max_value=0.1)
    fine_ki_per_s: float = param(50.0, "integral gain of both fine loops", unit="1/s", min_value=0.0,
                                 max_value=1e5)
    ogs_predictor_alpha: float = param(0.5, "alpha of the OGS fine loop's LOS predictor", min_value=0.01,
                                       max_value=1.0)
    ogs_predictor_beta: float = param(0.05, "beta of the OGS fine loop's LOS predictor", min_value=0.0,
                                      max_value=1.0)


# ----------------------------------------------------------------------------- measurements
@dataclass(frozen=True)
class Measurement:
    """One processed frame (what a ``BeaconCentroid`` plus the composed LOS carry).

    Attributes
    ----------
    t_s : float
        Mid-exposure time [s].
    valid : bool
    residual_rad : ndarray (2,)
        Beacon direction minus the camera's optical axis [rad] (NaN if not valid).
    los_rad : ndarray (2,)
        Composed line of sight in the pointing frame (stage + residual) [rad] (NaN if not valid).
    cov_rad2 : ndarray (2, 2)
        Centroid covariance in angle (Cramer-Rao bound) [rad^2].
    stage_rad : ndarray (2,)
        Reading of the stage(s) in front of the camera at the frame time [rad].
    """

    t_s: float
    valid: bool
    residual_rad: np.ndarray
    los_rad: np.ndarray
    cov_rad2: np.ndarray
    stage_rad: np.ndarray


def imaging_config(camera: CameraConfig) -> ImagingConfig:
    """The imager configuration that matches a camera (gain, read noise, PSF); no ROI search."""
    return ImagingConfig(gain_e_per_dn=camera.gain_e_per_dn, read_noise_e=max(camera.read_noise_e, 1e-3),
                         psf_sigma_px=min(max(camera.psf_sigma_px, 0.3), 20.0), roi_size_px=0)


def camera_geometry(camera: CameraConfig) -> CameraGeometry:
    """Pixel -> angle geometry of a camera in its pointing frame (optical gain 1: stage readings
    are optical angles)."""
    bx, by = camera.boresight_px()
    return CameraGeometry(boresight_x_px=bx, boresight_y_px=by, scale_x_radppx=camera.pixel_ifov_rad,
                          scale_y_radppx=camera.pixel_ifov_rad,
                          rotation_rad=float(wrap_pi(-camera.rotation_rad)), optical_gain=1.0,
                          max_actuator_age_s=1.0)


def measure_frame(imager: BeaconImager, geometry: CameraGeometry, frame: Frame, stage_rad,
                  predicted_xy_px=None) -> Measurement:
    """Centroid a frame and compose the line of sight with the stage reading at its time.

    Parameters
    ----------
    imager : BeaconImager
    geometry : CameraGeometry
    frame : Frame
        The (possibly windowed) frame; its ROI offset maps window pixels to full-frame ones.
    stage_rad : array_like (2,)
        Pointing of the stages in front of the camera at the frame time, in the pointing frame [rad].

    Returns
    -------
    Measurement
    """
    res = imager.process(frame.image)
    return measurement_from_centroid(res.valid, res.x_px, res.y_px, res.covariance_px2, frame, geometry,
                                     stage_rad)


def measurement_from_centroid(valid: bool, x_px: float, y_px: float, cov_px2, frame: Frame,
                              geometry: CameraGeometry, stage_rad) -> Measurement:
    """A centroid of ``frame`` (window pixels, from this process or a ``BeaconCentroid``) as a
    :class:`Measurement`: line of sight composed with the stage reading at the frame time."""
    stage = np.asarray(stage_rad, dtype=float)
    nan2 = np.full(2, np.nan)
    if not valid:
        return Measurement(frame.t_capture_s, False, nan2, nan2, np.full((2, 2), np.nan), stage)
    c = np.array([x_px + frame.roi_x0_px, y_px + frame.roi_y0_px])
    act = ActuatorPointing(frame.t_capture_s, stage[0], stage[1])
    cov_px = np.asarray(cov_px2, dtype=float).reshape(2, 2)
    if not np.all(np.isfinite(cov_px)):
        cov_px = np.eye(2) * 0.25
    los, cov = compose_line_of_sight(c, frame.t_capture_s, act, geometry, cov_px)
    return Measurement(frame.t_capture_s, True, los - stage, los, cov, stage)


class SoftwareLink:
    """Where parts of the terminals' software run outside this process (the ROS lockstep mode).

    :func:`run_direct` calls :meth:`begin_step` at every OGS step before anything else (the
    ROS mode publishes ``/clock`` there), and sends every frame of a camera in
    :attr:`remote_cameras` through :meth:`exchange` instead of centroiding it in-process:
    the remote imaging node's centroid becomes the measurement, and the remote fine
    controller's answer becomes the terminal's FSM command (held until the next answer).
    The base class is the in-process case: nothing is remote.
    """

    #: cameras ("ogs_coarse", "ogs_fine", "space") whose frames go to remote software
    remote_cameras: frozenset = frozenset()
    #: the OGS PAT manager and coarse stage (tracker, mount set-points) run remotely
    remote_ogs_control: bool = False
    #: the satellite's PAT manager runs remotely (:meth:`space_pat`)
    remote_space_pat: bool = False
    #: the satellite's attitude software (targets for the ADCS) runs remotely
    #: (:meth:`space_adcs_target`); the simulated ADCS (Basilisk) obeys it
    remote_space_adcs: bool = False

    def attach_world(self, world) -> None:
        """The run's :class:`~qsat_pat.sim.world.World` (before the first step)."""

    def _nothing_remote(self, what: str):
        raise SimulationError(f"{type(self).__name__} declares {what} remote but cannot reach it: "
                              "a link that sets a remote_* attribute implements the matching method")

    def begin_step(self, k: int, t_s: float) -> None:
        """Start of OGS step ``k`` at simulation time ``t_s`` [s]."""

    def exchange(self, camera: str, frame: Frame, stage_rad) -> tuple[tuple, np.ndarray | None]:
        """Send ``frame`` to the remote software and wait for its answers (``camera`` in
        :attr:`remote_cameras`).

        Returns
        -------
        centroid : (valid, x_px, y_px, cov_px2)
            In the frame's (window) pixels.
        fsm_command_rad : ndarray (2,) or None
            The fine controller's answer (None: it did not answer this frame).
        """
        self._nothing_remote(f"camera {camera!r}")

    def ogs_mount(self, t_s: float, position_rad, rate_radps) -> tuple[np.ndarray, np.ndarray] | None:
        """Mount control tick (:attr:`remote_ogs_control`): report the encoders (az, el and
        rates), return the answering set-point ``(position_rad, rate_feedforward_radps)``
        (None: no answer, hold the last)."""
        self._nothing_remote("the OGS coarse stage")

    def ogs_pat_state(self) -> PatState:
        """The remote OGS PAT manager's current state (:attr:`remote_ogs_control`)."""
        self._nothing_remote("the OGS PAT manager")

    def space_step(self, t_s: float, point_ahead_rad) -> None:
        """Start of a satellite control period: the point-ahead its (in-process) attitude
        software computed, in the FSM's axes [rad] (for a remote fine controller)."""

    def space_pat(self, t_s: float, visible: bool, boresight_est_rad, boresight_cmd_rad) -> PatState:
        """Satellite control step (:attr:`remote_space_pat`): report visibility and the
        estimated and commanded boresight (reference frame R, small angles [rad]); return
        the remote PAT state."""
        self._nothing_remote("the satellite's PAT manager")

    def space_adcs_target(self, t_s: float):
        """The remote attitude software's target for the ADCS flight-software period starting
        at ``t_s`` (:attr:`remote_space_adcs`), an :class:`~qsat_pat.sim.adcs.AttitudeTarget`;
        None: none yet (the ADCS keeps its last target)."""
        self._nothing_remote("the satellite's attitude software")

    def end_run(self) -> list[str]:
        """Notes for the record (what ran where, lockstep statistics)."""
        return []


# ----------------------------------------------------------------------------- per-terminal loop
class TerminalLoop:
    """One terminal's PAT processing: measurements -> tracker -> PAT -> fine loop and offsets.

    Parameters
    ----------
    name : str
        "ogs" or "space".
    pat : PatStateMachine
    tracker : LosTracker
        Kalman tracker of the beacon line of sight in the pointing frame.
    fine_loop : FineTrackLoop
    offload : FsmOffload
    scan : AcquisitionScan or None
        Scan added to the coarse set-point in ACQUIRE (None: no scan).
    tracker_period_s : float
        Minimum interval between fine-sensor measurements fed to the tracker [s].
    noise_floor_rad : float
        Added (in quadrature) to each measurement's std for the tracker [rad].
    single_sensor : bool
        One camera serves as coarse and fine sensor (the satellite).
    """

    def __init__(self, name: str, *, pat: PatStateMachine, tracker: LosTracker, fine_loop: FineTrackLoop,
                 offload: FsmOffload, scan: AcquisitionScan | None, tracker_period_s: float,
                 noise_floor_rad: float, single_sensor: bool) -> None:
        self.name = name
        self.pat = pat
        self.tracker = tracker
        self.fine_loop = fine_loop
        self.offload = offload
        self.scan = scan
        self.tracker_period_s = float(tracker_period_s)
        self.noise_floor_rad2 = float(noise_floor_rad) ** 2
        self.single_sensor = single_sensor
        self.bias_rad = np.zeros(2)
        self._tracker_t = -math.inf
        self._track_state: np.ndarray | None = None
        self._scan_t0: float | None = None
        self.coarse_meas: Measurement | None = None
        self.fine_meas: Measurement | None = None
        self._new_coarse: Measurement | None = None
        self._new_fine: Measurement | None = None
        self.last_fine_valid_t = -math.inf
        self.fine_crb_rad: list[float] = []

    # -- sensors ---------------------------------------------------------------------------
    def _feed_tracker(self, m: Measurement) -> None:
        if m.t_s < self._tracker_t:
            return  # older than what the tracker has (the other sensor's latency); skip
        cov = m.cov_rad2 + np.eye(2) * self.noise_floor_rad2
        try:
            self.tracker.step(m.t_s, m.los_rad, cov)
        except EstimationError as exc:
            raise SimulationError(f"{self.name}: tracker rejected a measurement: {exc}") from None
        self._tracker_t = m.t_s
        self._track_state = (self.tracker.state[:4].copy() if self.tracker.has_track else None)

    def predicted_los_rad(self, t_s: float) -> np.ndarray:
        """Tracked line of sight extrapolated to ``t_s`` [rad], shape (2,).

        The tracker's position and rate after its last update, extrapolated linearly: for the
        constant-velocity model this is :meth:`LosTracker.predict_to`, without its per-call cost.

        Raises
        ------
        SimulationError
            No track yet.
        """
        if self._track_state is None:
            raise SimulationError(f"{self.name}: no track to predict from")
        x = self._track_state
        return x[:2] + x[2:4] * (t_s - self._tracker_t)

    @property
    def has_prediction(self) -> bool:
        """The tracker holds a confirmed track."""
        return self._track_state is not None

    @property
    def tracker_time_s(self) -> float:
        """Stamp of the last measurement given to the tracker [s] (-inf before the first)."""
        return self._tracker_t

    def on_coarse(self, m: Measurement) -> None:
        """A coarse-sensor measurement arrived (processed frame)."""
        self.coarse_meas = self._new_coarse = m
        if m.valid and self.pat.state != PatState.FINE_TRACK:
            self._feed_tracker(m)

    def on_fine(self, m: Measurement) -> None:
        """A fine-sensor measurement arrived (processed frame)."""
        self.fine_meas = self._new_fine = m
        if m.valid:
            self.last_fine_valid_t = m.t_s
            if self.pat.state == PatState.FINE_TRACK:
                self.fine_crb_rad.append(math.sqrt(0.5 * (m.cov_rad2[0, 0] + m.cov_rad2[1, 1])))
                if m.t_s - self._tracker_t >= self.tracker_period_s - 1e-9:
                    self._feed_tracker(m)

    # -- control ---------------------------------------------------------------------------
    def step(self, t_s: float, *, visible: bool, at_target: bool, fsm_rad, point_ahead_rad, dt_s: float,
             fsm_at_rad=None, time_to_aos_s: float | None = None,
             pat_state: PatState | None = None) -> tuple[PatState, np.ndarray, np.ndarray]:
        """One control period.

        Parameters
        ----------
        t_s : float
            Control time [s].
        visible : bool
            Target above the mask (ephemeris).
        time_to_aos_s : float, optional
            Time to the next acquisition of signal [s] (default: 0 if visible else inf).
        at_target : bool
            Coarse stage at its set-point.
        fsm_rad : array_like (2,)
            FSM reading now [rad].
        point_ahead_rad : array_like (2,)
            Point-ahead set-point of the fine loop [rad].
        dt_s : float
            Control period [s].
        fsm_at_rad : callable, optional
            ``fsm_at_rad(t)`` -> FSM reading at a past time (to turn a coarse-sensor residual,
            taken before the FSM, into the fine loop's residual).
        pat_state : PatState, optional
            The state of a PAT manager running elsewhere (a node): the in-process machine is
            not stepped but mirrors it, and the tracker, fine loop and offsets follow it.

        Returns
        -------
        state : PatState
        fsm_command_rad : ndarray (2,)
        coarse_offset_rad : ndarray (2,)
            Offset of the coarse set-point from the open-loop reference (tracked LOS +
            offload + scan) [rad].
        """
        nc, nf = self._new_coarse, self._new_fine
        self._new_coarse = self._new_fine = None
        coarse_det = bool(nc is not None and nc.valid)
        fine_det = bool(nf is not None and nf.valid)
        if self.single_sensor:
            coarse_err = float(np.linalg.norm(nf.residual_rad)) if fine_det else math.nan
            coarse_det = fine_det
        else:
            coarse_err = float(np.linalg.norm(nc.residual_rad)) if coarse_det else math.nan
        if time_to_aos_s is None:
            time_to_aos_s = 0.0 if visible else math.inf
        if pat_state is None:
            state = self.pat.step(PatInputs(t_s, target_visible=visible, time_to_aos_s=time_to_aos_s,
                                            at_target=at_target, coarse_detected=coarse_det,
                                            coarse_error_rad=coarse_err, fine_detected=fine_det))
        else:
            state = self.pat.state = PatState(pat_state)
        # ---- fine loop
        fsm_cmd = np.zeros(2)
        if state in TRACK_STATES:
            residual, t_meas = None, None
            if fine_det:
                residual, t_meas = nf.residual_rad, nf.t_s
            elif coarse_det and not self.single_sensor and t_s - self.last_fine_valid_t > self.pat.config.fine_lost_s:
                u_then = fsm_at_rad(nc.t_s) if fsm_at_rad is not None else np.asarray(fsm_rad, float)
                residual, t_meas = nc.residual_rad - u_then, nc.t_s
            # the point-ahead enters the fine set-point only (seed 004 §2.3): the mirror settles
            # on LOS + point-ahead, so the spot's closed-loop point on the camera is -pa
            pa = np.asarray(point_ahead_rad, dtype=float)
            out = self.fine_loop.step(t_s, residual, t_meas, pa)
            fsm_cmd = out.command_rad
        else:
            self.fine_loop.reset()
        # ---- offload (FINE_TRACK only) and coarse offset
        if state == PatState.FINE_TRACK:
            self.bias_rad = self.bias_rad + self.offload.step(fsm_rad, dt_s) * dt_s
        else:
            self.offload.mean_rad = np.zeros(2)
            self.offload.engaged = False
            self.bias_rad = np.zeros(2)
        offset = np.zeros(2)
        if state in (PatState.ACQUIRE, PatState.OPEN_LOOP) and self.scan is not None:
            if self._scan_t0 is None:
                self._scan_t0 = t_s
            if state == PatState.ACQUIRE:
                offset = self.scan.offset_at(t_s - self._scan_t0)
        else:
            self._scan_t0 = None
        if state in (*TRACK_STATES, PatState.COAST) and self._track_state is not None:
            offset = self.predicted_los_rad(t_s) + self.bias_rad
        return state, fsm_cmd, offset


# ----------------------------------------------------------------------------- coarse stages
class SpaceCoarseStage:
    """Satellite coarse stage: ADCS attitude target = open-loop reference turned by the offset."""

    @staticmethod
    def target(reference, offset_rad):
        """Attitude target whose boresight is at ``offset_rad`` in the reference frame R."""
        rn = reference.dcm_rn
        d_n = rn.T @ np.array([float(offset_rad[0]), float(offset_rad[1]), 1.0])
        d_n /= np.linalg.norm(d_n)
        return pointing_target(d_n, np.cross(reference.omega_rn_n_radps, d_n), rn[1])


# ----------------------------------------------------------------------------- the run
#: The OGS acquisition scan: a spiral over the TLE uncertainty cone, turns 1 mrad apart (the
#: coarse camera sees +-2.5 mrad).
OGS_SCAN = ScanConfig(cone_radius_rad=2e-3, step_rad=1e-3, speed_radps=5e-3)


def tracker_config() -> TrackerConfig:
    """The Kalman tracker of both terminals' lines of sight (constant velocity)."""
    return TrackerConfig(model="cv", measurement_std_rad=5e-6, q_cv=1e-10, init_rate_std_radps=1e-4,
                         reacquire_after_s=0.5)


def pat_config(name: str, dt_s: float, handover_rad: float) -> PatConfig:
    """PAT thresholds of a terminal whose control period is ``dt_s``."""
    return PatConfig(terminal=name, fine_handover_rad=handover_rad, fine_lost_s=max(0.05, 3 * dt_s),
                     coarse_lost_s=0.5, coast_timeout_s=5.0, acquire_timeout_s=60.0)


def ogs_pat_config(dt_s: float, cfg: DirectConfig) -> PatConfig:
    """The OGS PAT thresholds."""
    return pat_config("ogs", dt_s, cfg.ogs_fine_handover_rad)


def ogs_safety_config(sc: Scenario) -> SafetyConfig:
    """Safety limits of the OGS mount set-points (the mount's own rate/acceleration limits;
    commanded-elevation mask half the pass mask, so the closed-loop offset at AOS is never clipped)."""
    return SafetyConfig(elevation_mask_rad=math.radians(sc.site.min_el_deg) * 0.5,
                        max_rate_radps=sc.ogs_mount.max_rate_radps, max_acc_radps2=sc.ogs_mount.max_acc_radps2,
                        fsm_range_rad=sc.ogs_fsm.range_rad)


def _build_loop(name: str, sc: Scenario, cfg: DirectConfig, dt_s: float, fsm_cfg, handover_rad: float,
                scan: AcquisitionScan | None, single: bool, alpha: float, beta: float) -> TerminalLoop:
    pat = PatStateMachine(pat_config(name, dt_s, handover_rad), 0.0)
    fine = FineTrackLoop(FineLoopConfig(rate_hz=1.0 / dt_s, ki_per_s=cfg.fine_ki_per_s, predictor_alpha=alpha,
                                        predictor_beta=beta), fsm_cfg)
    return TerminalLoop(name, pat=pat, tracker=LosTracker(tracker_config()), fine_loop=fine,
                        offload=FsmOffload(OffloadConfig(), fsm_cfg), scan=scan,
                        tracker_period_s=1.0 / cfg.tracker_rate_hz, noise_floor_rad=cfg.los_noise_floor_rad,
                        single_sensor=single)


class _FsmHistory:
    """Short history of FSM readings, to look one up at a past frame time."""

    def __init__(self, maxlen: int) -> None:
        self.t: deque[float] = deque(maxlen=maxlen)
        self.p: deque[np.ndarray] = deque(maxlen=maxlen)

    def add(self, t_s: float, p: np.ndarray) -> None:
        self.t.append(t_s)
        self.p.append(p.copy())

    def at(self, t_s: float) -> np.ndarray:
        for i in range(len(self.t) - 1, -1, -1):
            if self.t[i] <= t_s + 1e-12:
                return self.p[i]
        return self.p[0] if self.p else np.zeros(2)


def run_direct(scenario: Scenario, *, seed: int | None = None, duration_s: float | None = None,
               progress=None, config: DirectConfig | None = None, start_offset_s: float = 0.0,
               link: SoftwareLink | None = None) -> SimRecord:
    """Fly a pass of both terminals in one process and record it.

    Parameters
    ----------
    scenario : Scenario
    seed : int, optional
        Run seed (default: the scenario's).
    duration_s : float, optional
        Simulated time [s] (default: the scenario's ``duration_s``).
    progress : callable, optional
        ``progress(fraction, text)`` called during the run.
    config : DirectConfig, optional
        Rates and tunables of the direct mode.
    start_offset_s : float
        Start this long after the scenario's start (e.g. near closest approach for a short
        window) [s]; the terminals start in IDLE with the mount on the truth direction.
    link : SoftwareLink, optional
        Software running outside this process (the ROS lockstep mode); default: all in-process.

    Returns
    -------
    SimRecord
        One sample per control step of each terminal (OGS every ``ogs_step_s``, satellite
        every ``space_step_s``), the disturbance budget and notes; finished (numpy arrays).
        ``record.t0_unix_s`` is the UTC of its time 0.

    Raises
    ------
    SimulationError
        Bad duration/rates, or a model that cannot be built from the scenario.
    """
    cfg = config or DirectConfig()
    sc = scenario
    if start_offset_s:
        sc = sc.replace("scenario", start_before_tca_s=sc.scenario.start_before_tca_s - float(start_offset_s))
    duration = sc.scenario.duration_s if duration_s is None else float(duration_s)
    if not (math.isfinite(duration) and duration > 0):
        raise SimulationError(f"duration_s must be finite and > 0, got {duration_s!r}")
    dt = cfg.ogs_step_s or 1.0 / sc.ogs_fine_camera.frame_rate_hz
    space_dt = cfg.space_step_s or 1.0 / sc.space_camera.frame_rate_hz
    space_steps = int(round(space_dt / dt))
    if space_steps < 1 or abs(space_steps * dt - space_dt) > 1e-9:
        raise SimulationError(f"space_step_s {space_dt} must be a multiple of ogs_step_s {dt}")
    chunk = max(space_steps, int(round(cfg.chunk_s / dt)) // space_steps * space_steps)
    wall0 = time.perf_counter()
    world = World(sc, seed, ogs_step_s=dt, space_steps=space_steps, chunk_steps=chunk,
                  space_gnss_error_m=cfg.space_gnss_error_m)
    link = link or SoftwareLink()
    link.attach_world(world)
    n_steps = int(round(duration / dt))
    # mount azimuth in [-pi, pi): inside the +-270 deg axis range whichever way the pass turns
    world.models.ogs_mount.position_rad[0] = float(wrap_pi(world.models.ogs_mount.position_rad[0]))
    site = sc.site
    safety = PointingSafetyFilter(ogs_safety_config(sc), initial_position_rad=world.models.ogs_mount.position_rad.copy())
    ogs_stage = OgsCoarseStage(safety, math.radians(site.site_lat_deg), math.radians(site.site_lon_deg),
                               world.t0_unix_s, cfg.offset_max_rate_radps, cfg.offset_max_acc_radps2)
    tru0 = world.ogs_truth(0)  # the mount was already following the satellite
    world.models.ogs_mount.rate_radps = np.array([tru0.true_az_rate_radps, tru0.true_el_rate_radps])
    ogs_stage.offset_rad = world.ogs_mount_los_rad(tru0, optical=False)  # start where the mount is
    ogs_stage.prime(world.models.ogs_mount.position_rad, world.models.ogs_mount.rate_radps, dt)
    scan = AcquisitionScan(OGS_SCAN)
    ogs = _build_loop("ogs", sc, cfg, dt, sc.ogs_fsm, cfg.ogs_fine_handover_rad, scan, False,
                      cfg.ogs_predictor_alpha, cfg.ogs_predictor_beta)
    space = _build_loop("space", sc, cfg, space_dt, sc.space_fsm, cfg.space_fine_handover_rad, None, True,
                        0.5, 0.05)
    imagers = {k: BeaconImager(imaging_config(c)) for k, c in (("ogs_coarse", sc.ogs_coarse_camera),
                                                               ("ogs_fine", sc.ogs_fine_camera),
                                                               ("space", sc.space_camera))}
    geoms = {"ogs_coarse": camera_geometry(sc.ogs_coarse_camera), "ogs_fine": camera_geometry(sc.ogs_fine_camera),
             "space": camera_geometry(sc.space_camera)}
    recs = {name: TerminalRecord(name) for name in TERMINALS}
    pending: list[tuple] = []
    fsm_hist = _FsmHistory(64)
    stats = {"ogs_resid_geo": [], "ogs_tilt_fine": [], "ogs_el_fine": [], "mount_limited": 0, "ogs_fine_n": 0,
             "space_body_err": []}
    ogs_tx_err = 0.0
    space_tx_err = 0.0
    space_cmd = np.zeros(2)
    space_state = PatState.IDLE
    coarse_center: tuple[float, float] | None = None
    fine_center: tuple[float, float] | None = None
    space_center: tuple[float, float] | None = None
    mount_cmd = world.models.ogs_mount.position_rad.copy()
    mount_ff = np.zeros(2)
    space_target = None
    space_target_t = 0.0
    mount_cmd_t = 0.0
    mount_steps = max(1, int(round(1.0 / (cfg.mount_rate_hz * dt))))
    fr = world.frame_steps
    # acquisition of signal from the terminals' ephemeris (what a pass planner gives the PAT manager)
    passes = world.orbit.terminal.passes(world.t0_unix_s, world.t0_unix_s + n_steps * dt + 120.0, step_s=10.0)
    aos_s = [p.aos_unix_s - world.t0_unix_s for p in passes]
    progress_every = max(1, n_steps // 200)
    remote = link.remote_cameras
    ogs_state = link.ogs_pat_state() if link.remote_ogs_control else ogs.pat.state
    remote_fsm = {"ogs": np.zeros(2), "space": np.zeros(2)}

    for k in range(n_steps):
        t = k * dt
        link.begin_step(k, t)
        tru = world.ogs_truth(k)
        mount = world.models.ogs_mount
        fsm_now = world.ogs_fsm_rad()
        fsm_hist.add(t, fsm_now)
        mount_opt = world.ogs_mount_los_rad(tru, optical=True)
        mount_enc = world.ogs_mount_los_rad(tru, optical=False)
        apparent = tru.true_los_rad + world.turbulence_tilt_rad
        # ---- OGS cameras: capture now, deliver after the readout latency
        p_down, loss_down = world.received_power_w("downlink", tru, space_tx_err)
        tracking = ogs_state in (*TRACK_STATES, PatState.COAST)
        if k % fr["ogs_coarse"] == 0:
            if tracking and ogs.has_prediction:
                pred = ogs.predicted_los_rad(t)
                coarse_center = _spot_px(sc.ogs_coarse_camera, pred - mount_enc)
            win = cfg.coarse_window_px if (tracking and coarse_center is not None) else 0
            f = world.render("ogs_coarse", t, apparent - mount_opt, p_down, coarse_center, win)
            pending.append((f.t_available_s, "ogs_coarse", f, mount_enc, None))
        if k % fr["ogs_fine"] == 0 and ogs_state in (*TRACK_STATES,):
            center = fine_center
            if center is None:
                bx, by = sc.ogs_fine_camera.boresight_px()
                pa_px = -tru.point_ahead_rad / sc.ogs_fine_camera.pixel_ifov_rad
                center = (bx + pa_px[0], by + pa_px[1])
            f = world.render("ogs_fine", t, apparent - mount_opt - fsm_now, p_down, center, cfg.fine_window_px)
            pending.append((f.t_available_s, "ogs_fine", f, mount_enc + fsm_now, None))
        # ---- satellite (every space step)
        if k % space_steps == 0:
            st = world.space_truth(k)
            link.space_step(t, st.point_ahead_rad)
            bn = world.space_dcm_bn(t)
            sfsm = world.models.space_fsm.position_rad.copy()
            los_body = World.body_tangent(bn, st.beacon_dir_teme)
            world.step_uplink_scintillation(space_dt, tru)
            p_up, loss_up = world.received_power_w("uplink", tru, ogs_tx_err)
            if (k // space_steps) % fr["space"] == 0:
                stracking = space.pat.state in (*TRACK_STATES, PatState.COAST)
                win = cfg.space_window_px if (stracking and space_center is not None) else 0
                f = world.render("space", t, los_body - sfsm, p_up, space_center, win)
                # the satellite composes its LOS in body axes and turns it into the reference
                # frame with its own attitude estimate at the frame time
                pending.append((f.t_available_s, "space", f, sfsm, (world.space_est_dcm_bn(t), st.reference)))
        # ---- deliver frames that are ready (in time order)
        if pending:
            # a remote satellite controller gets its frames at its own control steps (the FSM
            # command then acts when the in-process loop would have computed it)
            hold_space = "space" in remote and k % space_steps != 0
            due = [p[0] <= t + 1e-12 and not (hold_space and p[1] == "space") for p in pending]
            ready = [p for p, d in zip(pending, due, strict=True) if d]
            if ready:
                pending = [p for p, d in zip(pending, due, strict=True) if not d]
                for _, cam, f, stage, att in sorted(ready, key=lambda p: (p[0], p[1])):
                    if cam in remote:
                        (valid, x_px, y_px, cov_px2), answer = link.exchange(cam, f, stage)
                        m = measurement_from_centroid(valid, x_px, y_px, cov_px2, f, geoms[cam], stage)
                        if answer is not None and cam != "ogs_coarse":
                            remote_fsm["space" if cam == "space" else "ogs"] = np.asarray(answer, dtype=float)
                    else:
                        m = measure_frame(imagers[cam], geoms[cam], f, stage)
                    if att is not None and m.valid:
                        m = dataclasses.replace(m, los_rad=World.body_to_reference(att[0], m.los_rad, att[1]))
                    if cam == "ogs_coarse":
                        ogs.on_coarse(m)
                        if m.valid:
                            coarse_center = _spot_px(sc.ogs_coarse_camera, m.residual_rad)
                    elif cam == "ogs_fine":
                        ogs.on_fine(m)
                        if link.remote_ogs_control and m.valid and ogs_state == PatState.FINE_TRACK:
                            # the disturbance budget's sensor-noise share (the remote PAT is in FINE_TRACK)
                            ogs.fine_crb_rad.append(math.sqrt(0.5 * (m.cov_rad2[0, 0] + m.cov_rad2[1, 1])))
                        fine_center = _spot_px(sc.ogs_fine_camera, m.residual_rad) if m.valid else None
                    else:
                        space.on_fine(m)
                        if m.valid:
                            space_center = _spot_px(sc.space_camera, m.residual_rad)
        # ---- OGS control
        err_mount = np.array([float(wrap_pi(mount.position_rad[0] - mount_cmd[0])) * math.cos(mount_cmd[1]),
                              mount.position_rad[1] - mount_cmd[1]])
        time_to_aos = 0.0 if tru.visible else min((a - t for a in aos_s if a >= t), default=math.inf)
        if link.remote_ogs_control:
            # the OGS PAT manager, tracker and gimbal controller are nodes: the mount reports its
            # encoders at the mount rate and the node's set-point answers; the PAT state is the node's
            if k % mount_steps == 0:
                answer = link.ogs_mount(t, mount.position_rad, mount.rate_radps)
                if answer is not None:
                    mount_cmd, mount_ff, mount_cmd_t = answer[0], answer[1], t
            state = ogs_state = link.ogs_pat_state()
            fsm_cmd = remote_fsm["ogs"]
        else:
            state, fsm_cmd, offset = ogs.step(t, visible=tru.visible, time_to_aos_s=time_to_aos,
                                              at_target=bool(np.hypot(*err_mount) < cfg.at_target_rad),
                                              fsm_rad=fsm_now, point_ahead_rad=tru.point_ahead_rad, dt_s=dt,
                                              fsm_at_rad=fsm_hist.at)
            ogs_state = ogs.pat.state
            if "ogs_fine" in remote:  # the remote fine controller commands the FSM (it holds when idle)
                fsm_cmd = remote_fsm["ogs"]
            if state == PatState.IDLE or state == PatState.PARK:
                offset = np.zeros(2)
            if k % mount_steps == 0:
                cmd = ogs_stage.command(t, tru.eph_az_rad, tru.eph_el_rad,
                                        (tru.eph_az_rate_radps, tru.eph_el_rate_radps), offset, mount.position_rad)
                mount_cmd, mount_ff, mount_cmd_t = cmd.position_rad, cmd.rate_radps, t
        if state not in TRACK_STATES:
            fine_center = None
        # ---- record OGS (state at t)
        pointing = mount_opt + fsm_now
        resid = apparent - pointing + tru.point_ahead_rad
        ogs_tx_err = float(np.hypot(*(tru.true_los_rad + tru.point_ahead_rad - pointing)))
        fm = ogs.fine_meas
        recs["ogs"].append(
            t_s=t, pat_state=int(state), true_los_rad=tru.true_los_rad, pointing_rad=pointing,
            fine_residual_rad=resid, fsm_rad=fsm_now, fsm_saturated=bool(world.models.ogs_fsm.at_limit),
            beacon_detected=bool(fm is not None and fm.valid and t - fm.t_s < 2 * dt + 1e-9),
            beacon_blocked=world.beacon_blocked, link_loss_db=min(loss_down, 999.0),
            turbulence_tilt_rad=world.turbulence_tilt_rad.copy(), elevation_rad=tru.true_el_rad)
        if state == PatState.FINE_TRACK:
            stats["ogs_resid_geo"].append(tru.true_los_rad + tru.point_ahead_rad - pointing)
            stats["ogs_tilt_fine"].append(world.turbulence_tilt_rad.copy())
            stats["ogs_el_fine"].append(tru.true_el_rad)
            stats["mount_limited"] += int(mount.at_limit)
            stats["ogs_fine_n"] += 1
        # ---- satellite control and record
        if k % space_steps == 0:
            sm = space.fine_meas
            if space_target is None:
                at_t = True
            else:  # estimated body boresight vs the commanded one (what the satellite knows)
                z_est = world.space_est_dcm_bn(t)[2]
                z_cmd = space_target.propagated(t - space_target_t).dcm_rn[2]
                at_t = math.acos(min(1.0, float(z_est @ z_cmd))) < cfg.at_target_rad
            remote_pat = None
            if link.remote_space_pat:
                # the satellite's PAT manager is a node: it gets the estimated and commanded
                # boresight (in the reference frame R) and answers with its state
                est_r = World.body_to_reference(world.space_est_dcm_bn(t), (0.0, 0.0), st.reference)
                cmd_r = (np.zeros(2) if space_target is None else
                         World.body_to_reference(space_target.propagated(t - space_target_t).dcm_rn, (0.0, 0.0),
                                                 st.reference))
                remote_pat = link.space_pat(t, tru.visible, est_r, cmd_r)
            space_state, space_cmd, s_offset = space.step(
                t, visible=tru.visible, time_to_aos_s=time_to_aos, at_target=bool(at_t), fsm_rad=sfsm,
                point_ahead_rad=st.point_ahead_rad, dt_s=space_dt, pat_state=remote_pat)
            if "space" in remote:
                space_cmd = remote_fsm["space"]
            if space_state not in (*TRACK_STATES, PatState.COAST):
                space_center = None
            # composed LOS is in the body frame; the tracker works in the reference frame R
            if (k // space_steps) % world.adcs_space_steps == 0:
                remote_target = link.space_adcs_target(t) if link.remote_space_adcs else None
                if remote_target is not None:  # the attitude software's node commands the ADCS
                    space_target = remote_target
                elif not link.remote_space_adcs or space_target is None:
                    space_target = SpaceCoarseStage.target(st.reference, s_offset)
                space_target_t = t
                world.step_adcs(t, space_target)
            s_pointing = World.body_to_reference(bn, sfsm, st.reference)
            s_resid = st.true_los_rad - s_pointing + st.point_ahead_rad
            space_tx_err = float(np.hypot(*s_resid))
            recs["space"].append(
                t_s=t, pat_state=int(space_state), true_los_rad=st.true_los_rad, pointing_rad=s_pointing,
                fine_residual_rad=s_resid, fsm_rad=sfsm, fsm_saturated=bool(world.models.space_fsm.at_limit),
                beacon_detected=bool(sm is not None and sm.valid and t - sm.t_s < 2 * space_dt + 1e-9),
                beacon_blocked=world.beacon_blocked, link_loss_db=min(loss_up, 999.0),
                turbulence_tilt_rad=np.zeros(2), elevation_rad=tru.true_el_rad)
            if space_state == PatState.FINE_TRACK:
                stats["space_body_err"].append(World.body_to_reference(bn, (0.0, 0.0), st.reference)
                                               - st.true_los_rad)
            world.advance_space(space_dt, space_cmd)
        # ---- advance the OGS plants and the atmosphere
        # the mount driver interpolates position + rate set-points between commands
        world.advance_ogs(dt, tru, mount_cmd + mount_ff * (t - mount_cmd_t), mount_ff, fsm_cmd)
        if progress is not None and k % progress_every == 0:
            progress(k / n_steps, f"t={t:.1f} s ogs={ogs_state.name} space={space.pat.state.name}")
    if progress is not None:
        progress(1.0, "done")
    wall = time.perf_counter() - wall0
    record = SimRecord(scenario=sc.name, seed=world.seed, mode="ros" if remote else "direct", terminals=recs,
                       sim_duration_s=n_steps * dt, wall_time_s=wall)
    record.finish()
    record.t0_unix_s = world.t0_unix_s
    record.disturbance_budget = _budget(sc, world, ogs, space, stats, dt, recs)
    record.notes.extend(_notes(sc, cfg, dt, space_dt))
    record.notes.extend(link.end_run())
    return record


# ----------------------------------------------------------------------------- helpers
def _spot_px(camera: CameraConfig, residual_rad) -> tuple[float, float]:
    """Full-frame pixel of a beacon at ``residual_rad`` from the optical axis."""
    e = np.asarray(residual_rad, dtype=float) / camera.pixel_ifov_rad
    c, s = math.cos(camera.rotation_rad), math.sin(camera.rotation_rad)
    x0, y0 = camera.boresight_px()
    return x0 + c * e[0] - s * e[1], y0 + s * e[0] + c * e[1]


def _rms(x) -> float | None:
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        return None
    a = a.reshape(len(a), -1)
    return float(np.sqrt(np.mean(np.sum(a * a, axis=1))))


def _budget(sc: Scenario, world: World, ogs: TerminalLoop, space: TerminalLoop, stats: dict, dt: float,
            recs: dict[str, TerminalRecord]) -> dict:
    """Residual breakdown of the fine loops (radial RMS values in rad; None if no FINE_TRACK)."""
    totals = {}
    for name, rec in recs.items():
        fine = rec["pat_state"] == int(PatState.FINE_TRACK)
        totals[name] = (_rms(rec["fine_residual_rad"][fine]) if fine.any() else None,
                        float(rec["fsm_saturated"][fine].mean()) if fine.any() else 0.0)
    cam = sc.ogs_fine_camera
    crb = np.asarray(ogs.fine_crb_rad, dtype=float)
    tilt = np.asarray(stats["ogs_tilt_fine"], dtype=float).reshape(-1, 2)
    latency_s = cam.readout_latency_s + dt
    tilt_rate = np.diff(tilt, axis=0) / dt if len(tilt) > 2 else np.zeros((0, 2))
    el = np.asarray(stats["ogs_el_fine"], dtype=float)
    r0_zen = sc.ogs_turbulence.r0_zenith_m * (sc.downlink_beacon.wavelength_m / sc.ogs_turbulence.r0_wavelength_m) ** 1.2
    r0 = r0_zen * np.maximum(np.sin(el), 0.05) ** 0.6  # NanoBob eq. (4)-(5)
    theory = (float(np.sqrt(2 * np.mean(z_tilt_variance_rad2(cam.aperture_m, r0, sc.downlink_beacon.wavelength_m))))
              if sc.ogs_turbulence.enabled and el.size else None)
    n_fine = max(stats["ogs_fine_n"], 1)
    return {
        "units": "rad (radial RMS over the samples in FINE_TRACK unless stated)",
        "ogs": {
            "fine_residual_rad": totals["ogs"][0],
            "sensor_noise_rad": float(math.sqrt(2) * np.sqrt(np.mean(crb**2))) if crb.size else None,
            "sensor_noise_note": "fine-camera centroid Cramer-Rao bound x pixel scale, per frame (upper "
                                 "bound of its share: the loop averages it)",
            "latency_s": latency_s,
            "latency_rad": _rms(tilt_rate * latency_s) if len(tilt_rate) else None,
            "latency_note": "turbulence tilt change over readout + one frame (what an uncompensated "
                            "delay would leave; the Smith predictor removes part of it)",
            "turbulence_tilt_rad": _rms(tilt),
            "turbulence_tilt_theory_rad": theory,
            "turbulence_note": "open-loop angle-of-arrival tilt at the aperture (Noll Z-tilt, NanoBob "
                               "eq. (4)-(5) r0 scaling at each sample's elevation for theory)",
            "actuator_mount_limit_fraction": stats["mount_limited"] / n_fine,
            "actuator_fsm_saturation_fraction": totals["ogs"][1],
            "geometric_residual_rad": _rms(stats["ogs_resid_geo"]),
            "geometric_note": "true (geometric) LOS + point-ahead - pointing: the uplink beam error, "
                              "includes following the tilt",
        },
        "space": {
            "fine_residual_rad": totals["space"][0],
            "actuator_fsm_saturation_fraction": totals["space"][1],
            "star_tracker_sigma_rad": float(world.models.adcs.cross_sigma_rad),
            "body_pointing_error_rad": _rms(stats["space_body_err"]),
            "body_note": "body boresight minus the apparent OGS direction while in FINE_TRACK (what the FSM "
                         "takes out)",
            "sensor_noise_rad": float(math.sqrt(2) * np.sqrt(np.mean(np.asarray(space.fine_crb_rad) ** 2)))
            if space.fine_crb_rad else None,
        },
    }


def _notes(sc: Scenario, cfg: DirectConfig, dt: float, space_dt: float) -> list[str]:
    return [
        f"simulation loop: OGS lockstep/control period {dt * 1e3:.3g} ms, satellite {space_dt * 1e3:.3g} ms, "
        f"ADCS flight software {sc.adcs.fsw_period_s * 1e3:.3g} ms (Basilisk), truth in {cfg.chunk_s} s chunks",
        "fine_residual = apparent beacon LOS (true + turbulence tilt) - pointing + point-ahead "
        "(camera set-point -point-ahead, seed 004 §2.3)",
        f"satellite open-loop target from onboard orbit knowledge ({cfg.space_gnss_error_m} m 1-sigma), "
        "OGS open loop from the perturbed TLE",
        "not modelled: uplink angle-of-arrival at the satellite, smear within an exposure, FSM axis rotation",
    ]
