"""Node ``beacon_imaging``: camera frames -> beacon centroids.

Input ``image`` (``sensor_msgs/Image``, mono8 / mono16 / 8UC1 / 16UC1).  Output
``beacon_centroid`` (``qsat_pat/BeaconCentroid``) for every frame, with ``valid = false``
and a reason when no beacon is found.  Centroiding, the tracked read-out window and the master
dark are :class:`qsat_pat.core.terminal.imaging_stage.ImagingStage`'s (the same object the
in-process simulation holds); this node is its ROS plumbing.

Master dark: the ``capture_dark`` service (``std_srvs/Trigger``) averages (median) the next
``dark_capture_frames`` frames into a master dark with a hot-pixel map, uses it from then
on, and writes it to ``dark_frame_file`` (``.npy``) if that is set.  At start the node
loads ``dark_frame_file`` if the file exists.

Frames are taken serialized (``raw=True``) and read straight from the CDR bytes
(:func:`~qsat_pat.nodes.convert.image_from_cdr`, no ``sensor_msgs/Image`` object is built: that
costs rclpy ~70 us per 256x256 frame, the pixel copy ~5 us); data in any other representation
is deserialized by rclpy as usual.

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

import sys
from pathlib import Path

import cv2
import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.imaging import Calibration, load_frame
from qsat_pat.core.terminal.imaging_stage import BeaconImagingConfig, ImagingStage
from qsat_pat.nodes.convert import image_from_cdr, image_to_array
from qsat_pat.nodes.pattern import Qos, make_main
from qsat_pat.nodes.terminal_node import TerminalNode

__all__ = ["BeaconImagingConfig", "BeaconImagingNode"]


class BeaconImagingNode(TerminalNode):
    """Centroids the beacon on every camera frame (see the module docstring)."""

    config_class = BeaconImagingConfig
    part_class = ImagingStage
    default_name = "beacon_imaging"

    def make_part(self, config) -> ImagingStage:
        cv2.setNumThreads(config.opencv_threads)
        calibration = Calibration()
        path = config.dark_frame_file
        if path and Path(path).is_file():
            calibration = Calibration(dark_dn=load_frame(path))
            self.get_logger().info(f"master dark loaded from {path}")
        return ImagingStage(config, calibration)

    def qos_for(self, port):
        return Qos.with_depth(Qos.STREAM, max(self.config.queue_depth, Qos.STREAM.depth))

    def setup_device(self) -> None:
        self.rx_header = Header()  # header of the frame being processed (refilled per frame)
        self.sub = self.create_subscription(Image, "image", self.on_image_cdr,
                                            Qos.camera(self.config.qos_reliable, self.config.queue_depth), raw=True)
        self.srv = self.create_service(Trigger, "capture_dark", self.on_capture_dark)

    def on_capture_dark(self, request, response):
        self.part.start_dark_capture()
        response.success = True
        response.message = (f"capturing a master dark from the next {self.config.dark_capture_frames} frames; "
                            "block the beacon")
        return response

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
        stamp_ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        was_capturing = self.part.dark_frames is not None
        self.dispatch(self.part.on_frame, frame, stamp_ns, header.frame_id)
        if was_capturing and self.part.dark_frames is None and self.config.dark_frame_file \
                and self.part.calibration.dark_dn is not None:
            np.save(self.config.dark_frame_file, self.part.calibration.dark_dn)

    @property
    def imager(self):
        return self.part.imager


NODE_CLASS = BeaconImagingNode
main = make_main(BeaconImagingNode)

if __name__ == "__main__":
    sys.exit(main())
