"""Node ``track_predictor``: beacon centroids (+ actuator state) -> line-of-sight track estimates.

Inputs ``beacon_centroid`` (``qsat_pat/BeaconCentroid``) and ``actuator_state``
(``qsat_pat/ActuatorState``, remap it to ``fsm_state`` or ``mount_state``).  Output
``track_estimate`` (``qsat_pat/TrackEstimate``) once per centroid message while a track
exists.

Each valid centroid is turned into the target's line of sight by
:func:`qsat_pat.core.estimation.compose_line_of_sight` (actuator pointing + camera residual,
so a closed FSM loop does not hide the trajectory) with the centroid's Cramer-Rao
covariance as the measurement covariance, and fed to
:class:`qsat_pat.core.estimation.LosTracker` (seed 002 §II.5-6 models, NIS gate,
confirmed re-acquisition).  An invalid centroid (no detection) makes the filter coast.
The estimate carries the line of sight predicted to ``now + latency_s`` (the actuation
time, to compensate the loop latency of seed 002 §IV).

With ``use_actuator`` false the actuator term is zero (camera-only tracking, York's set-up).
QoS: ``beacon_centroid`` and ``track_estimate`` are reliable with keep-last queues of
``queue_depth`` messages (default 50: 50 ms of backlog at 1 kHz before a centroid is lost).

Bad input (NaN or decreasing stamps, missing or stale actuator state, non-finite
centroids) is counted on ``/diagnostics`` and the frame is skipped (coasted where a time
stamp is usable); the node keeps running.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation import (
    ActuatorPointing,
    CameraGeometry,
    LosTracker,
    TrackerConfig,
    TrackStep,
    compose_line_of_sight,
)
from qsat_pat.core.params import param
from qsat_pat.msg import ActuatorState, BeaconCentroid, TrackEstimate
from qsat_pat.nodes.convert import actuator_from_msg, stamp_to_s, track_estimate_to_msg
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


@dataclass(frozen=True)
class TrackPredictorConfig(TrackerConfig, CameraGeometry):
    """Parameters of ``track_predictor``: tracker, camera geometry and the node's own."""

    latency_s: float = param(0.02, "look-ahead of the predicted line of sight (actuation latency)",
                             unit="s", min_value=0.0, max_value=10.0)
    max_stamp_lag_s: float = param(1.0, "a centroid older than this (node clock) is predicted from its own stamp, "
                                   "not from now", unit="s", min_value=0.0, max_value=1e6)
    use_actuator: bool = param(True, "add the actuator pointing (actuator_state) to the camera residual")
    measurement_floor_rad: float = param(0.0, "added in quadrature to each centroid's Cramer-Rao std per axis "
                                         "(turbulence tilt, vibration, stage-reading timing that the bound "
                                         "does not see)", unit="rad", min_value=0.0, max_value=1e-2)
    frame_id: str = param("ogs_fsm", "frame_id of the estimates (axes of the pointing stage)")
    queue_depth: int = param(50, "keep-last queue of the beacon_centroid subscription and of track_estimate",
                             unit="messages", min_value=1, max_value=100000, read_only=True)


def _tracker_config(cfg: TrackPredictorConfig) -> TrackerConfig:
    names = TrackerConfig.__dataclass_fields__
    return TrackerConfig(**{k: v for k, v in cfg.as_dict().items() if k in names})


def _geometry(cfg: TrackPredictorConfig) -> CameraGeometry:
    names = CameraGeometry.__dataclass_fields__
    return CameraGeometry(**{k: v for k, v in cfg.as_dict().items() if k in names})


class TrackPredictorNode(QsatPatNode):
    """Kalman line-of-sight tracker (see the module docstring)."""

    config_class = TrackPredictorConfig
    default_name = "track_predictor"

    def on_setup(self) -> None:
        self.tracker = LosTracker(_tracker_config(self.config))
        self.geometry = _geometry(self.config)
        self.actuator: ActuatorPointing | None = None
        self.last_step: TrackStep | None = None
        self.out_msg = TrackEstimate()  # refilled for every estimate (no per-message allocation)
        stream = Qos.with_depth(Qos.STREAM, self.config.queue_depth)
        self.pub = self.create_lifecycle_publisher(TrackEstimate, "track_estimate", stream)
        self.subs = [
            self.create_subscription(BeaconCentroid, "beacon_centroid", self.on_centroid, stream),
            self.create_subscription(ActuatorState, "actuator_state", self.on_actuator, Qos.STREAM),
        ]

    def on_teardown(self) -> None:
        for sub in getattr(self, "subs", []) or []:
            self.destroy_subscription(sub)
        self.subs = []

    def on_config_changed(self, old, new) -> None:
        tracker_cfg = _tracker_config(new)  # raises ConfigError -> refused
        geometry = _geometry(new)
        if hasattr(self, "tracker") and tracker_cfg != self.tracker.config:
            self.tracker = LosTracker(tracker_cfg)  # a new model / noise: start a new track
        self.geometry = geometry

    def on_actuator(self, msg: ActuatorState) -> None:
        if not self.active:
            return
        try:
            self.actuator = actuator_from_msg(msg, stamp_to_s(msg.header.stamp))
        except EstimationError as exc:
            self.reject("bad_actuator_state", str(exc))

    def on_centroid(self, msg: BeaconCentroid) -> None:
        if not self.active:
            return
        t = stamp_to_s(msg.header.stamp)
        z = cov = None
        if msg.valid:
            try:
                z, cov = self._line_of_sight(msg, t)
            except EstimationError as exc:
                self.reject("bad_centroid", str(exc))
        try:
            step = self.tracker.step(t, z, cov)
        except EstimationError as exc:
            self.reject("bad_stamp", str(exc))
            return
        self.last_step = step
        self.count(f"measurement_{step.status.value}")
        if not self.tracker.has_track:
            return
        now = self.now_s()
        if now - t > self.config.max_stamp_lag_s:
            self.count("stale_stamps")  # replayed or delayed data: predict from the frame time
            now = t
        t_pred = max(now, t) + self.config.latency_s
        xy, pcov = self.tracker.predict_to(t_pred)
        self.pub.publish(track_estimate_to_msg(step, self.config.model, self.config.frame_id, t_pred, xy, pcov,
                                         self.out_msg))
        self.count("estimates")

    def _line_of_sight(self, msg: BeaconCentroid, t: float):
        cxx, cxy, cyx, cyy = (float(v) for v in msg.covariance_px2)  # scalar checks: ~10x cheaper than numpy's
        usable = all(map(math.isfinite, (cxx, cxy, cyx, cyy))) and cxx > 0 and cyy > 0
        f2, g = self.config.measurement_floor_rad ** 2, self.geometry
        c = np.array(((cxx + f2 / g.scale_x_radppx ** 2, cxy), (cyx, cyy + f2 / g.scale_y_radppx ** 2))) \
            if usable else None
        if self.config.use_actuator:
            if self.actuator is None:
                raise EstimationError("no actuator_state received yet; the line of sight cannot be composed")
            act = self.actuator
        else:
            act = ActuatorPointing(t, 0.0, 0.0)
        return compose_line_of_sight((msg.x_px, msg.y_px), t, act, self.geometry, c)

    def diagnostic_values(self) -> dict:
        out = {"model": self.config.model, "has_track": getattr(self, "tracker", None) is not None
               and self.tracker.has_track}
        if getattr(self, "tracker", None) is not None:
            out.update({"gate_rejections": self.tracker.n_rejected,
                        "tentative_dropped": self.tracker.n_tentative_dropped,
                        "q_scale": round(self.tracker.q_scale, 3)})
        if getattr(self, "last_step", None) is not None and math.isfinite(self.last_step.nis):
            out["last_nis"] = round(self.last_step.nis, 3)
        return out


NODE_CLASS = TrackPredictorNode
main = make_main(TrackPredictorNode)

if __name__ == "__main__":
    sys.exit(main())
