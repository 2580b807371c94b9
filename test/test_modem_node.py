"""The optical_modem node over DDS: bytes round-trip, ModemStats published, bad input counted."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros


def _spin(ex, cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
    return cond()


@pytest.fixture
def modem(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import UInt8MultiArray

    from qsat_pat.msg import ModemStats
    from qsat_pat.nodes.optical_modem import OpticalModemNode
    from qsat_pat.nodes.pattern import Qos

    node = OpticalModemNode(context=rclpy_context, cli_args=[
        "--ros-args", "-r", "__ns:=/modem_test", "-p", "stats_period_s:=0.2", "-p", "rx_power_w:=1e-6",
        "-p", "max_chunk_octets:=5000"])
    client = rclpy.create_node("modem_client", namespace="/modem_test", context=rclpy_context)
    got, stats = [], []
    pub = client.create_publisher(UInt8MultiArray, "modem/tx", Qos.STREAM)
    client.create_subscription(UInt8MultiArray, "modem/rx", lambda m: got.append(bytes(m.data)), Qos.STREAM)
    client.create_subscription(ModemStats, "modem/stats", stats.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    assert node.autostart()
    _spin(ex, lambda: pub.get_subscription_count() > 0 and client.count_publishers("modem/rx") > 0)
    yield node, pub, got, stats, ex
    ex.shutdown()
    client.destroy_node()
    node.destroy_node()


def test_bytes_round_trip_and_stats(modem):
    from std_msgs.msg import UInt8MultiArray

    node, pub, got, stats, ex = modem
    data = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    pub.publish(UInt8MultiArray(data=data))
    assert _spin(ex, lambda: len(got) >= 1)
    assert got[0] == data
    assert _spin(ex, lambda: any(s.frames_received > 0 for s in stats))
    s = next(s for s in stats if s.frames_received > 0)
    assert s.link_id == "downlink" and s.frames_received == 7 and s.frame_errors == 0
    assert s.bit_errors == 0 and s.ber == 0.0 and s.goodput_bps > 0 and s.line_rate_bps == 50e6
    assert not s.range_valid


def test_oversized_chunk_is_counted_and_link_keeps_running(modem):
    from std_msgs.msg import UInt8MultiArray

    node, pub, got, stats, ex = modem
    pub.publish(UInt8MultiArray(data=bytes(6000)))
    assert _spin(ex, lambda: node.counters["rejected_chunk_too_large"] == 1)
    pub.publish(UInt8MultiArray(data=b"still alive"))
    assert _spin(ex, lambda: b"still alive" in got)


def test_weak_signal_frames_dropped_and_counted(modem):
    from rclpy.parameter import Parameter
    from std_msgs.msg import UInt8MultiArray

    node, pub, got, stats, ex = modem
    assert node.set_parameters([Parameter("rx_power_w", value=140e-9)])[0].successful
    pub.publish(UInt8MultiArray(data=bytes(range(256)) * 12))
    assert _spin(ex, lambda: any(s.frame_errors + s.frames_lost > 0 for s in stats))
    s = next(s for s in stats if s.frame_errors + s.frames_lost > 0)
    assert s.ber > 1e-3 and s.frame_error_rate > 0.5
    refused = node.set_parameters([Parameter("channel", value="carrier-pigeon")])[0]
    assert not refused.successful and node.config.channel == "detector"
