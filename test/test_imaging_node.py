"""The beacon_imaging node over DDS: Image -> BeaconCentroid, ROI tracking, bad input, capture_dark."""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers import spin_until

from qsat_pat.core.camera_noise import CameraModel, render_frame

pytestmark = pytest.mark.ros




def _image(frame, encoding, stamp_s=0.0, bigendian=False):
    from sensor_msgs.msg import Image

    from qsat_pat.nodes.convert import s_to_stamp

    data = frame.astype(frame.dtype.newbyteorder(">" if bigendian else "<")).tobytes()
    msg = Image(height=frame.shape[0], width=frame.shape[1], encoding=encoding, is_bigendian=bigendian,
                step=frame.shape[1] * frame.itemsize, data=data)
    msg.header.stamp = s_to_stamp(stamp_s)
    msg.header.frame_id = "cam"
    return msg


def test_image_to_array_roundtrip_and_errors():
    from qsat_pat.core.errors import ImagingError
    from qsat_pat.nodes.convert import image_to_array

    frame = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 300
    for big in (False, True):
        np.testing.assert_array_equal(image_to_array(_image(frame, "mono16", bigendian=big)), frame)
    msg = _image(frame.astype(np.uint8), "mono8")
    msg.step = 12  # padded rows
    msg.data = np.pad(frame.astype(np.uint8), ((0, 0), (0, 2))).tobytes()
    np.testing.assert_array_equal(image_to_array(msg), frame.astype(np.uint8))
    with pytest.raises(ImagingError, match="encoding 'rgb8'"):
        image_to_array(_image(frame.astype(np.uint8), "rgb8"))
    bad = _image(frame, "mono16")
    bad.data = bad.data[:-2]
    with pytest.raises(ImagingError, match="expected step\\*height"):
        image_to_array(bad)


def _cdr_image(endian, stamp, frame_id, height, width, encoding, is_bigendian, step, data):
    """A plain-CDR sensor_msgs/Image written field by field (the layout image_from_cdr reads)."""
    import struct

    body = bytearray()

    def align4():
        body.extend(b"\x5a" * (-len(body) % 4))  # padding bytes are arbitrary (not zeroed by Fast CDR)

    def string(text):
        raw = text.encode() + b"\x00"
        align4()
        body.extend(struct.pack(endian + "I", len(raw)) + raw)

    body.extend(struct.pack(endian + "iI", *stamp))
    string(frame_id)
    align4()
    body.extend(struct.pack(endian + "II", height, width))
    string(encoding)
    body.append(is_bigendian)
    align4()
    body.extend(struct.pack(endian + "II", step, len(data)) + data)
    return (b"\x00\x01" if endian == "<" else b"\x00\x00") + b"\x00\x00" + bytes(body)


def test_image_from_cdr_reads_what_rclpy_serializes():
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from qsat_pat.core.errors import ImagingError
    from qsat_pat.nodes.convert import image_from_cdr, image_to_array

    rng = np.random.default_rng(5)
    frame16 = rng.integers(0, 4096, (7, 9)).astype(np.uint16)
    for frame_id in ("", "c", "ca", "cam", "camera_fine"):  # every string-length alignment
        for frame, enc, big in ((frame16.astype(np.uint8), "mono8", False), (frame16, "mono16", False),
                                (frame16, "mono16", True), (frame16.astype(np.uint8), "8UC1", False)):
            msg = _image(frame, enc, stamp_s=1234.000056789, bigendian=big)
            msg.header.frame_id = frame_id
            header = Header()
            fields = image_from_cdr(serialize_message(msg), header)
            assert header == msg.header
            assert (fields.height, fields.width, fields.encoding, fields.step) == (7, 9, enc, msg.step)
            assert bool(fields.is_bigendian) == big
            np.testing.assert_array_equal(image_to_array(fields), frame)
    # padded rows, and a big-endian CDR stream (the other byte order of the representation)
    padded = np.pad(frame16.astype(np.uint8), ((0, 0), (0, 3)))
    for endian in "<>":
        buf = _cdr_image(endian, (77, 5), "ab", 7, 9, "mono8", 0, 12, padded.tobytes())
        header = Header()
        fields = image_from_cdr(buf, header)
        assert (header.stamp.sec, header.stamp.nanosec, header.frame_id) == (77, 5, "ab")
        np.testing.assert_array_equal(image_to_array(fields), frame16.astype(np.uint8))
    # not plain CDR (e.g. XCDR2): left to rclpy; truncated data: an ImagingError, not a crash
    assert image_from_cdr(b"\x00\x07\x00\x00" + buf[4:], Header()) is None
    for cut in (6, 20, len(buf) - 1):
        with pytest.raises(ImagingError, match="serialized image"):
            image_from_cdr(buf[:cut], Header())


def test_node_centroids_tracks_roi_rejects_bad_input_and_captures_dark(rclpy_context, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger

    from qsat_pat.msg import BeaconCentroid
    from qsat_pat.nodes.beacon_imaging import BeaconImagingNode
    from qsat_pat.nodes.pattern import Qos

    dark_file = tmp_path / "dark.npy"
    node = BeaconImagingNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/img_test"],
        parameter_overrides=[Parameter("roi_size_px", value=64), Parameter("read_noise_e", value=3.0),
                             Parameter("dark_capture_frames", value=4),
                             Parameter("dark_frame_file", value=str(dark_file))])
    client = rclpy.create_node("img_client", namespace="/img_test", context=rclpy_context)
    pub = client.create_publisher(Image, "image", Qos.SENSOR)
    got: list[BeaconCentroid] = []
    client.create_subscription(BeaconCentroid, "beacon_centroid", got.append, Qos.STREAM)
    dark_cli = client.create_client(Trigger, "capture_dark")
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    rng = np.random.default_rng(13)
    cam8 = CameraModel(gain_e_per_dn=1.0, read_noise_e=3.0, bias_dn=10.0)
    cam16 = CameraModel(gain_e_per_dn=1.0, read_noise_e=3.0, bias_dn=100.0, bit_depth=12)
    try:
        assert node.autostart()
        assert spin_until(ex, lambda: pub.get_subscription_count() > 0 and dark_cli.service_is_ready())
        truth = [(100.3 + 2 * k, 80.7 - k) for k in range(4)]
        for k, (x, y) in enumerate(truth):
            cam, enc = (cam8, "mono8") if k % 2 == 0 else (cam16, "mono16")
            frame = render_frame((200, 240), cam, rng, x_px=x, y_px=y, signal_e=3000.0, background_e=5.0)
            pub.publish(_image(frame, enc, stamp_s=10.0 + 0.05 * k))
            assert spin_until(ex, lambda k=k: len(got) == k + 1)
        for k, msg in enumerate(got):
            assert msg.valid and msg.camera_id == "ogs_fine" and msg.method == "default"
            assert (msg.x_px, msg.y_px) == (pytest.approx(truth[k][0], abs=0.15), pytest.approx(truth[k][1], abs=0.15))
            assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 10
            assert msg.covariance_px2[0] > 0 and msg.snr > 20
        assert (got[0].roi.width, got[0].roi.height) == (240, 200)  # first frame: full frame
        assert (got[1].roi.width, got[1].roi.height) == (64, 64)  # then a window around the last centroid
        # bad input: counted, skipped, node keeps running
        pub.publish(_image(np.zeros((20, 20), np.uint8), "bgr8"))
        tiny = _image(np.zeros((4, 4), np.uint8), "mono8")
        pub.publish(tiny)
        assert spin_until(ex, lambda: node.counters["rejected_bad_image"] == 1 and node.counters["rejected_bad_frame"] == 1)
        # no beacon: a valid=false message, not silence
        pub.publish(_image(render_frame((200, 240), cam8, rng, background_e=5.0), "mono8"))
        assert spin_until(ex, lambda: len(got) == 5)
        assert not got[4].valid and got[4].reason
        # master dark capture: the next 4 frames become the dark, then centroiding resumes with it
        fut = dark_cli.call_async(Trigger.Request())
        assert spin_until(ex, fut.done) and fut.result().success
        pattern = rng.uniform(0, 20, (200, 240))
        for _ in range(4):
            pub.publish(_image(render_frame((200, 240), cam8, rng, background_e=5.0, fixed_pattern_dn=pattern), "mono8"))
        assert spin_until(ex, lambda: node.counters["dark_captures_done"] == 1)
        assert dark_file.is_file() and np.load(dark_file).shape == (200, 240)
        frame = render_frame((200, 240), cam8, rng, x_px=150.2, y_px=60.9, signal_e=3000.0, background_e=5.0,
                             fixed_pattern_dn=pattern)
        # the spot jumped outside the tracking window: roi_lost_frames (3) misses, then a full-frame search
        for k in range(3):
            pub.publish(_image(frame, "mono8"))
            assert spin_until(ex, lambda k=k: len(got) == 6 + k)
        assert [m.valid for m in got[5:8]] == [False, False, True]
        assert (got[7].roi.width, got[7].roi.height) == (240, 200)
        assert got[7].x_px == pytest.approx(150.2, abs=0.15) and got[7].y_px == pytest.approx(60.9, abs=0.15)
        # a frame of another size than the dark is a counted bad frame
        pub.publish(_image(np.zeros((100, 100), np.uint8), "mono8"))
        assert spin_until(ex, lambda: node.counters["rejected_bad_frame"] == 2)
        # data neither plain CDR nor decodable by rclpy: counted as a bad image, the node keeps running
        node.on_image_cdr(b"\x00\x07\x00\x00\x01\x02")
        assert node.counters["rejected_bad_image"] == 2
        # parameters are validated by the core config
        res = node.set_parameters([Parameter("method", value="opencv")])
        assert not res[0].successful and "method" in res[0].reason
        assert node.set_parameters([Parameter("method", value="york")])[0].successful
        assert node.imager.config.method == "york"
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
