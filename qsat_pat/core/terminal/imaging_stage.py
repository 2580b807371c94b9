"""The beacon on each frame: centroiding with a tracked read-out window and a master dark.

``beacon_imaging`` (and the in-process simulation) hold an :class:`ImagingStage`.  Each frame
is centroided by :class:`~qsat_pat.core.imaging.BeaconImager` (seed 002 §II.1 pipeline as
method ``york``, the sub-pixel Cramer-Rao pipeline as ``default``).  With ``roi_size_px > 0``
and ``roi_track`` the search is a window around the last valid centroid (seed 002 §IV); after
``roi_lost_frames`` frames without a detection the whole frame is searched again.  A master
dark: :meth:`ImagingStage.start_dark_capture` median-stacks the next ``dark_capture_frames``
frames into a dark with a hot-pixel map (:func:`~qsat_pat.core.imaging.build_master_dark`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import ImagingError, Rejected
from qsat_pat.core.imaging import BeaconImager, Calibration, CentroidResult, ImagingConfig, build_master_dark
from qsat_pat.core.params import param
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart

__all__ = ["BeaconImagingConfig", "ImagingStage", "centroid_wire"]


@dataclass(frozen=True)
class BeaconImagingConfig(ImagingConfig):
    """Parameters of the ``beacon_imaging`` node: the imaging core's plus the node's own."""

    camera_id: str = param("ogs_fine", "camera name copied into BeaconCentroid.camera_id")
    roi_track: bool = param(True, "search a roi_size_px window around the last valid centroid")
    roi_lost_frames: int = param(3, "frames without detection before searching the full frame again",
                                 min_value=1, max_value=100000)
    dark_frame_file: str = param("", "master dark (.npy or image) loaded at start and written by capture_dark; "
                                 "empty = none")
    dark_capture_frames: int = param(16, "frames median-stacked by the capture_dark service",
                                     min_value=1, max_value=10000)
    qos_reliable: bool = param(False, "reliable image subscription (needs a reliable publisher); "
                               "false = best effort, as a live camera stream", read_only=True)
    queue_depth: int = param(5, "keep-last queue of the image subscription (and at least that of "
                             "beacon_centroid)", unit="messages", min_value=1, max_value=100000, read_only=True)
    opencv_threads: int = param(1, "OpenCV worker threads of the node's process (cv2.setNumThreads); 1 = none: "
                                "on a 128 px window a hand-off costs more than it saves", min_value=1, max_value=64,
                                read_only=True)


def centroid_wire(result: CentroidResult, stamp_ns: int, frame_id: str, camera_id: str) -> wire.BeaconCentroid:
    """A :class:`~qsat_pat.core.imaging.CentroidResult` of a frame as a ``BeaconCentroid``."""
    x, y, w, h = (int(v) for v in result.roi)
    return wire.BeaconCentroid(
        stamp_ns=stamp_ns, frame_id=frame_id, camera_id=camera_id, method=result.method, valid=bool(result.valid),
        reason=result.reason, saturated=bool(result.saturated), x_px=float(result.x_px), y_px=float(result.y_px),
        covariance_px2=tuple(np.asarray(result.covariance_px2, dtype=np.float64).reshape(4).tolist()),
        signal_e=float(result.signal_e), background_e=float(result.background_e), peak_dn=float(result.peak_dn),
        snr=float(result.snr), spot_area_px=float(result.spot_area_px), roi=(x, y, w, h))


class ImagingStage(TerminalPart):
    """Centroids the beacon on every frame (module docstring).

    The frames come from the node's camera subscription (``image``) or the simulator as arrays:
    :meth:`on_frame` is the input; ``beacon_centroid`` the output.
    """

    OUTPUTS = (Port("beacon_centroid", "BeaconCentroid", "stream"),)

    def __init__(self, config: BeaconImagingConfig, calibration: Calibration | None = None) -> None:
        super().__init__(config)
        self.calibration = calibration or Calibration()
        self.imager = BeaconImager(self.imaging_config(config), self.calibration)
        self.last_xy_px: tuple[float, float] | None = None
        self.misses = 0
        self.dark_frames: list[np.ndarray] | None = None
        self.last_result: CentroidResult | None = None

    @staticmethod
    def imaging_config(config: BeaconImagingConfig) -> ImagingConfig:
        return config.subset(ImagingConfig)

    def reconfigure(self, config: BeaconImagingConfig) -> None:
        self.imager = BeaconImager(self.imaging_config(config), self.calibration)
        self.config = config

    def set_calibration(self, calibration: Calibration) -> None:
        self.calibration = calibration
        self.imager = BeaconImager(self.imaging_config(self.config), calibration)

    def start_dark_capture(self) -> None:
        """Median-stack the next ``dark_capture_frames`` frames into a master dark."""
        self.dark_frames = []
        self.count("dark_captures_started")

    def _collect_dark(self, frame: np.ndarray) -> Calibration | None:
        self.dark_frames.append(frame)
        if len(self.dark_frames) < self.config.dark_capture_frames:
            return None
        frames, self.dark_frames = self.dark_frames, None
        try:
            cal = build_master_dark(frames)
        except ImagingError as exc:
            raise Rejected("dark_capture_failed", str(exc)) from None
        self.set_calibration(cal)
        self.count("dark_captures_done")
        self.notes.append(f"master dark from {len(frames)} frames; {int(cal.hot_pixel_mask.sum())} hot pixels")
        return cal

    def on_frame(self, frame: np.ndarray, stamp_ns: int, frame_id: str, now_ns: int) -> Outputs:
        """Centroid one frame (2-D uint8/uint16 array; ``stamp_ns``: mid-exposure)."""
        if self.dark_frames is not None:
            self._collect_dark(frame)
            return []
        predicted = None
        c = self.config
        if c.roi_track and c.roi_size_px > 0 and self.last_xy_px is not None:
            predicted = self.last_xy_px
        try:
            result = self.imager.process(frame, predicted)
        except ImagingError as exc:
            raise Rejected("bad_frame", str(exc)) from None
        if result.valid:
            self.last_xy_px = (result.x_px, result.y_px)
            self.misses = 0
            self.count("detections")
        else:
            self.misses += 1
            self.count("no_detection_" + result.reason)
            if self.misses >= c.roi_lost_frames:
                self.last_xy_px = None
        self.count("frames")
        self.last_result = result
        return [("beacon_centroid", centroid_wire(result, stamp_ns, frame_id, c.camera_id))]

    def diagnostic_values(self) -> dict:
        result = self.last_result
        if result is None:
            return {}
        return {"x_px": result.x_px, "y_px": result.y_px, "snr": result.snr,
                "sigma_x_px": float(np.sqrt(result.covariance_px2[0, 0])) if result.valid else float("nan")}
