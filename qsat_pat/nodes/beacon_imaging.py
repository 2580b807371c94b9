"""Node ``beacon_imaging``: camera frames -> beacon centroids (qsat_pat.core.imaging).

Input ``image`` (``sensor_msgs/Image``, mono8 / mono16 / 8UC1 / 16UC1).  Output
``beacon_centroid`` (``qsat_pat/BeaconCentroid``) for every frame, with ``valid = false``
and a reason when no beacon is found (seed 002 §II.1 pipeline as method ``york``, the
sub-pixel Cramer-Rao pipeline as ``default``).

Windowed ROI (seed 002 §IV): with ``roi_size_px > 0`` and ``roi_track`` true, each frame
is searched in a window around the last valid centroid; after ``roi_lost_frames``
consecutive frames without a detection the whole frame is searched again.

Master dark: the ``capture_dark`` service (``std_srvs/Trigger``) averages (median) the next
``dark_capture_frames`` frames into a master dark with a hot-pixel map, uses it from then
on, and writes it to ``dark_frame_file`` (``.npy``) if that is set.  At start the node
loads ``dark_frame_file`` if the file exists.

Frames are taken serialized (``raw=True``) and read straight from the CDR bytes
(:func:`image_from_cdr`, no ``sensor_msgs/Image`` object is built: that costs rclpy ~70 us
per 256x256 frame, the pixel copy ~5 us); data in any other representation is deserialized
by rclpy as usual.

QoS: the ``image`` subscription is best effort, keep last ``queue_depth`` (a live camera:
a frame the node cannot take in time is dropped, never queued behind); ``qos_reliable``
makes it reliable (needs a reliable publisher) for recordings and the no-drop pipeline
test.  ``beacon_centroid`` is reliable with a queue of ``max(queue_depth, 50)``.

Threads: the node sets OpenCV's worker threads of its process to ``opencv_threads``
(default 1).  The per-frame filters run on a 128 px window, where handing work to a
second thread costs more than it saves: with OpenCV's default (one thread per core) the
node used twice the CPU time per frame on a 2-core machine (``benchmarks/bench_pipeline.py``).

Bad input (wrong encoding, data size not matching width/height/step, frames of another
size than the dark) is counted on ``/diagnostics`` and skipped; the node keeps running.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.imaging import (
    BeaconImager,
    Calibration,
    CentroidResult,
    ImagingConfig,
    build_master_dark,
    load_frame,
)
from qsat_pat.core.params import param
from qsat_pat.msg import BeaconCentroid
from qsat_pat.nodes.convert import centroid_to_msg, image_from_cdr, image_to_array
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


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


class BeaconImagingNode(QsatPatNode):
    """Centroids the beacon on every camera frame (see the module docstring)."""

    config_class = BeaconImagingConfig
    default_name = "beacon_imaging"

    def on_setup(self) -> None:
        cv2.setNumThreads(self.config.opencv_threads)
        self.calibration = Calibration()
        path = self.config.dark_frame_file
        if path and Path(path).is_file():
            self.calibration = Calibration(dark_dn=load_frame(path))
            self.get_logger().info(f"master dark loaded from {path}")
        self.imager = BeaconImager(self._core_config(self.config), self.calibration)
        self.last_xy_px: tuple[float, float] | None = None
        self.misses = 0
        self.dark_frames: list[np.ndarray] | None = None
        self.last_result: CentroidResult | None = None  # for /diagnostics
        self.out_msg = BeaconCentroid()  # refilled for every frame (no per-frame allocation)
        depth = self.config.queue_depth
        self.pub = self.create_lifecycle_publisher(
            BeaconCentroid, "beacon_centroid", Qos.with_depth(Qos.STREAM, max(depth, Qos.STREAM.depth)))
        self.rx_header = Header()  # header of the frame being processed (refilled per frame)
        self.sub = self.create_subscription(Image, "image", self.on_image_cdr,
                                            Qos.camera(self.config.qos_reliable, depth), raw=True)
        self.srv = self.create_service(Trigger, "capture_dark", self.on_capture_dark)

    def on_teardown(self) -> None:
        if getattr(self, "sub", None) is not None:
            self.destroy_subscription(self.sub)
            self.sub = None
        if getattr(self, "srv", None) is not None:
            self.destroy_service(self.srv)
            self.srv = None

    @staticmethod
    def _core_config(config: BeaconImagingConfig) -> ImagingConfig:
        core_fields = ImagingConfig.__dataclass_fields__
        return ImagingConfig(**{k: v for k, v in config.as_dict().items() if k in core_fields})

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "imager"):
            self.imager = BeaconImager(self._core_config(new), self.calibration)

    def on_capture_dark(self, request, response):
        self.dark_frames = []
        response.success = True
        response.message = (f"capturing a master dark from the next {self.config.dark_capture_frames} frames; "
                            "block the beacon")
        self.count("dark_captures_started")
        return response

    def _collect_dark(self, frame: np.ndarray) -> None:
        self.dark_frames.append(frame)
        if len(self.dark_frames) < self.config.dark_capture_frames:
            return
        frames, self.dark_frames = self.dark_frames, None
        try:
            cal = build_master_dark(frames)
        except ImagingError as exc:
            self.reject("dark_capture_failed", str(exc))
            return
        self.calibration = cal
        self.imager = BeaconImager(self._core_config(self.config), cal)
        self.count("dark_captures_done")
        if self.config.dark_frame_file:
            np.save(self.config.dark_frame_file, cal.dark_dn)
        self.get_logger().info(f"master dark from {len(frames)} frames; {int(cal.hot_pixel_mask.sum())} hot pixels")

    def on_image_cdr(self, buf: bytes) -> None:
        """Subscription callback: a serialized ``sensor_msgs/Image`` (see :func:`image_from_cdr`)."""
        if not self.active:
            return
        try:
            fields = image_from_cdr(buf, self.rx_header)
            if fields is None:  # not plain CDR: let rclpy deserialize it
                msg = deserialize_message(buf, Image)
            else:
                frame = image_to_array(fields)
        except (ImagingError, RuntimeError) as exc:  # RuntimeError: rclpy's RMWError (undecodable data)
            self.reject("bad_image", str(exc))
            return
        if fields is None:
            self.on_image(msg)
        else:
            self._process(frame, self.rx_header)

    def on_image(self, msg: Image) -> None:
        """Centroid one ``sensor_msgs/Image`` message."""
        if not self.active:
            return
        try:
            frame = image_to_array(msg)
        except ImagingError as exc:
            self.reject("bad_image", str(exc))
            return
        self._process(frame, msg.header)

    def _process(self, frame: np.ndarray, header: Header) -> None:
        if self.dark_frames is not None:
            self._collect_dark(frame)
            return
        predicted = None
        if self.config.roi_track and self.config.roi_size_px > 0 and self.last_xy_px is not None:
            predicted = self.last_xy_px
        try:
            result = self.imager.process(frame, predicted)
        except ImagingError as exc:
            self.reject("bad_frame", str(exc))
            return
        if result.valid:
            self.last_xy_px = (result.x_px, result.y_px)
            self.misses = 0
            self.count("detections")
        else:
            self.misses += 1
            self.count("no_detection_" + result.reason)
            if self.misses >= self.config.roi_lost_frames:
                self.last_xy_px = None
        self.count("frames")
        self.pub.publish(centroid_to_msg(result, header, self.config.camera_id, self.out_msg))
        self.last_result = result

    def diagnostic_values(self) -> dict:
        result = getattr(self, "last_result", None)
        if result is None:
            return {}
        return {"x_px": result.x_px, "y_px": result.y_px, "snr": result.snr,
                "sigma_x_px": math.sqrt(result.covariance_px2[0, 0]) if result.valid else math.nan}


NODE_CLASS = BeaconImagingNode
main = make_main(BeaconImagingNode)

if __name__ == "__main__":
    sys.exit(main())
