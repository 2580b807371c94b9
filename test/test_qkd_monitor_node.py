"""The qkd_monitor node over DDS: ephemeris + tracking error -> link loss, QBER, key rate."""

from __future__ import annotations

import math
import time

import pytest

from qsat_pat.core import qkd

pytestmark = pytest.mark.ros


def _spin(ex, cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
    return cond()


def test_predictions_follow_ephemeris_and_tracking(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Float64

    from qsat_pat.msg import EphemerisState, TrackEstimate
    from qsat_pat.nodes.pattern import Qos
    from qsat_pat.nodes.qkd_monitor import QkdMonitorNode, predicted_loss_db

    node = QkdMonitorNode(context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/qkd_test"])
    client = rclpy.create_node("qkd_client", namespace="/qkd_test", context=rclpy_context)
    eph_pub = client.create_publisher(EphemerisState, "ephemeris", Qos.STATE)
    trk_pub = client.create_publisher(TrackEstimate, "track_estimate", Qos.STREAM)
    losses, qbers, rates = [], [], []
    client.create_subscription(Float64, "qkd/link_loss_db", lambda m: losses.append(m.data), Qos.STREAM)
    client.create_subscription(Float64, "qkd/qber", lambda m: qbers.append(m.data), Qos.STREAM)
    client.create_subscription(Float64, "qkd/key_rate_bps", lambda m: rates.append(m.data), Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    try:
        assert node.autostart()
        assert _spin(ex, lambda: eph_pub.get_subscription_count() > 0 and trk_pub.get_subscription_count() > 0)
        # Vector downlink at zenith, clear weather: 47.7 dB with perfect tracking
        eph_pub.publish(EphemerisState(el_rad=math.pi / 2, range_m=560e3, visible=True))
        assert _spin(ex, lambda: len(rates) >= 1)
        assert losses[0] == pytest.approx(47.7, abs=0.1)
        expected = qkd.bbm92_point(qkd.Bbm92Config(), losses[0])
        assert rates[0] == pytest.approx(expected.key_rate_bps) and qbers[0] == pytest.approx(expected.qber)
        assert rates[0] == 0.0  # 47.7 dB is beyond the 47.2 dB NanoBob limit
        # a lower-loss geometry and then a 20 urad tracking error: more loss, less key
        eph_pub.publish(EphemerisState(el_rad=math.pi / 2, range_m=300e3, visible=True))
        assert _spin(ex, lambda: len(rates) >= 2)
        trk = TrackEstimate()
        trk.predicted_covariance_rad2 = [2e-10, 0.0, 0.0, 2e-10]  # 20 urad radial RMS
        trk_pub.publish(trk)
        assert _spin(ex, lambda: node.tracking_rms_rad > 0)
        eph_pub.publish(EphemerisState(el_rad=math.pi / 2, range_m=300e3, visible=True))
        assert _spin(ex, lambda: len(rates) >= 3)
        assert losses[2] == pytest.approx(predicted_loss_db(node.config, math.pi / 2, 300e3, 20e-6))
        assert losses[2] - losses[1] == pytest.approx(4.8 * (20 / 50) ** 2, abs=0.05)  # Vector eq. (2)
        assert rates[2] < rates[1] and rates[1] > 0
        # below the horizon: counted, nothing published
        eph_pub.publish(EphemerisState(el_rad=-0.1, range_m=3e6, visible=False))
        assert _spin(ex, lambda: node.counters["below_horizon"] == 1)
        assert len(rates) == 3
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
