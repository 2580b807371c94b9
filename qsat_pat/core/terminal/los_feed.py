"""The line-of-sight predictor: which frames feed the Kalman track, and what it publishes.

``track_predictor`` (and the in-process simulation) hold a :class:`LosPredictor`.  Each
centroid is turned into the beacon's line of sight -- the stage's reading (``actuator_state``:
the FSM, the mount in the ephemeris tangent frame, ...) plus the camera residual
(:func:`~qsat_pat.core.estimation.compose_line_of_sight`), so a closed loop that keeps the spot
centred does not hide the trajectory -- and fed to :class:`~qsat_pat.core.estimation.LosTracker`
(seed 002 §II.5-6 models, NIS gate, confirmed re-acquisition); a frame without a detection
makes the filter coast.  The estimate published for each fed frame carries the line of sight
predicted to ``now + latency_s`` (the actuation time, seed 002 §IV).

Decided once for every deployment (issue 13; the in-process loop and the node used to
differ):

* **noise floor in angle, after composition**: ``measurement_floor_rad`` is added in
  quadrature to the line-of-sight covariance (turbulence tilt, vibration and stage timing are
  angles, whatever the camera's pixel scale and rotation);
* **a bad centroid covariance** (non-finite or not positive) is replaced by 0.25 px^2 per axis
  (half a pixel), so a detection is not lost for its error estimate;
* **feed rate**: frames are fed at most at ``feed_rate_hz`` (0: every frame); the tracker
  serves the coarse loop and the link bookkeeping, for which 50 Hz is plenty, and a 1 kHz
  camera would otherwise spend a Kalman step per frame;
* **prediction** by the tracker's own model (:meth:`~qsat_pat.core.estimation.LosTracker.predict_to`).

References
----------
seed 002 §II.5-6 (Kalman line-of-sight prediction), §IV (latency); eq (1)-(11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import EstimationError, Rejected
from qsat_pat.core.estimation import (
    ActuatorPointing,
    CameraGeometry,
    LosTracker,
    TrackerConfig,
    TrackStep,
    compose_line_of_sight,
)
from qsat_pat.core.params import param
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart

__all__ = ["BAD_COVARIANCE_PX2", "LosPredictor", "TrackPredictorConfig"]

#: Centroid covariance used when the imager's is unusable [px^2] (half a pixel per axis).
BAD_COVARIANCE_PX2 = 0.25


@dataclass(frozen=True)
class TrackPredictorConfig(TrackerConfig, CameraGeometry):
    """Parameters of ``track_predictor``: tracker, camera geometry and the feed."""

    latency_s: float = param(0.02, "look-ahead of the predicted line of sight (actuation latency)",
                             unit="s", min_value=0.0, max_value=10.0)
    max_stamp_lag_s: float = param(1.0, "a centroid older than this (node clock) is predicted from its own stamp, "
                                   "not from now", unit="s", min_value=0.0, max_value=1e6)
    use_actuator: bool = param(True, "add the actuator pointing (actuator_state) to the camera residual")
    measurement_floor_rad: float = param(0.0, "added in quadrature to each line of sight's std per axis, in angle "
                                         "after composition (turbulence tilt, vibration, stage-reading timing that "
                                         "the Cramer-Rao bound does not see)", unit="rad", min_value=0.0,
                                         max_value=1e-2)
    feed_rate_hz: float = param(0.0, "frames fed to the tracker at most this often (0: every frame)", unit="Hz",
                                min_value=0.0, max_value=1e5)
    frame_id: str = param("ogs_fsm", "frame_id of the estimates (axes of the pointing stage)")
    queue_depth: int = param(50, "keep-last queue of the beacon_centroid subscription and of track_estimate",
                             unit="messages", min_value=1, max_value=100000, read_only=True)

    def tracker_config(self) -> TrackerConfig:
        return self.subset(TrackerConfig)

    def geometry(self) -> CameraGeometry:
        return self.subset(CameraGeometry)


class LosPredictor(TerminalPart):
    """Centroids (+ the stage reading) -> line-of-sight track estimates (module docstring)."""

    INPUTS = (Port("beacon_centroid", "BeaconCentroid", "stream", "on_centroid"),
              Port("actuator_state", "ActuatorState", "stream", "on_actuator"))
    OUTPUTS = (Port("track_estimate", "TrackEstimate", "stream"),)

    def __init__(self, config: TrackPredictorConfig) -> None:
        super().__init__(config)
        self.tracker = LosTracker(config.tracker_config())
        self.geometry = config.geometry()
        self.actuator: ActuatorPointing | None = None
        self.last_step: TrackStep | None = None
        self._fed_t = -math.inf

    def reconfigure(self, config: TrackPredictorConfig) -> None:
        tracker_cfg = config.tracker_config()  # ConfigError -> refused
        geometry = config.geometry()
        if tracker_cfg != self.tracker.config:
            self.tracker = LosTracker(tracker_cfg)  # a new model / noise: start a new track
        self.geometry = geometry
        self.config = config

    def on_actuator(self, msg: wire.ActuatorState, now_ns: int) -> Outputs:
        try:
            self.actuator = ActuatorPointing(
                stamp_s=wire.stamp_s(msg.stamp_ns), axis1_rad=msg.axis1_rad, axis2_rad=msg.axis2_rad,
                axis1_rate_radps=msg.axis1_rate_radps, axis2_rate_radps=msg.axis2_rate_radps, stage=int(msg.stage),
                at_limit=bool(msg.at_limit), holding=bool(msg.holding), fault=bool(msg.fault))
        except EstimationError as exc:
            raise Rejected("bad_actuator_state", str(exc)) from None
        return []

    def on_centroid(self, msg: wire.BeaconCentroid, now_ns: int) -> Outputs:
        c = self.config
        t = wire.stamp_s(msg.stamp_ns)
        if c.feed_rate_hz > 0.0 and t - self._fed_t < 1.0 / c.feed_rate_hz - 1e-9:
            self.count("not_fed_rate")
            return []
        z = cov = None
        if msg.valid:
            try:
                z, cov = self.line_of_sight(msg, t)
            except EstimationError:
                self.count("rejected_bad_centroid")
        try:
            step = self.tracker.step(t, z, cov)
        except EstimationError as exc:
            raise Rejected("bad_stamp", str(exc)) from None
        self._fed_t = t
        self.last_step = step
        self.count(f"measurement_{step.status.value}")
        if not self.tracker.has_track:
            return []
        now = wire.clock_s(now_ns)
        if now - t > c.max_stamp_lag_s:
            self.count("stale_stamps")  # replayed or delayed data: predict from the frame time
            now = t
        t_pred = max(now, t) + c.latency_s
        xy, pcov = self.tracker.predict_to(t_pred)
        self.count("estimates")
        return [("track_estimate", estimate(step, c.model, c.frame_id, t_pred, xy, pcov))]

    def line_of_sight(self, msg: wire.BeaconCentroid, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Line of sight [rad] and its covariance [rad^2] (floor included) of a valid centroid.

        Raises
        ------
        EstimationError
            No (or a stale, or a faulted) stage reading, or a non-finite centroid.
        """
        cxx, cxy, cyx, cyy = (float(v) for v in msg.covariance_px2)
        usable = all(map(math.isfinite, (cxx, cxy, cyx, cyy))) and cxx > 0 and cyy > 0
        cov_px = np.array(((cxx, cxy), (cyx, cyy))) if usable else np.eye(2) * BAD_COVARIANCE_PX2
        if self.config.use_actuator:
            if self.actuator is None:
                raise EstimationError("no actuator_state received yet; the line of sight cannot be composed")
            act = self.actuator
        else:
            act = ActuatorPointing(t, 0.0, 0.0)
        los, cov = compose_line_of_sight((msg.x_px, msg.y_px), t, act, self.geometry, cov_px)
        f = self.config.measurement_floor_rad
        return los, cov + np.eye(2) * (f * f)

    def diagnostic_values(self) -> dict:
        out = {"model": self.config.model, "has_track": self.tracker.has_track,
               "gate_rejections": self.tracker.n_rejected, "tentative_dropped": self.tracker.n_tentative_dropped,
               "q_scale": round(self.tracker.q_scale, 3)}
        if self.last_step is not None and math.isfinite(self.last_step.nis):
            out["last_nis"] = round(self.last_step.nis, 3)
        return out


def estimate(step: TrackStep, model: str, frame_id: str, predicted_s: float, predicted_xy, predicted_cov
             ) -> wire.TrackEstimate:
    """A tracker step and its prediction as a ``TrackEstimate``."""
    state = np.asarray(step.state, dtype=np.float64)
    return wire.TrackEstimate(
        stamp_ns=wire.to_ns(step.stamp_s), frame_id=frame_id, model=model,
        state=tuple(state.tolist()), covariance=tuple(np.asarray(step.covariance, dtype=np.float64).ravel().tolist()),
        los_x_rad=float(state[0]), los_y_rad=float(state[1]), los_x_rate_radps=float(state[2]),
        los_y_rate_radps=float(state[3]), predicted_stamp_ns=wire.to_ns(predicted_s),
        predicted_x_rad=float(predicted_xy[0]), predicted_y_rad=float(predicted_xy[1]),
        predicted_covariance_rad2=tuple(np.asarray(predicted_cov, dtype=np.float64).ravel().tolist()),
        nis=float(step.nis), measurement_accepted=bool(step.accepted), coasting=bool(step.coasting),
        time_since_measurement_s=float(step.time_since_measurement_s))
