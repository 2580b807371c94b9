"""Two-way ranging in the optical_modem node (seed 000, Jinan-1): the tag-array estimator
(core, no ROS) and the node over DDS (geometry from ``ephemeris``, range in ModemStats)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from ros_helpers import spin_until

from qsat_pat.core.errors import LinkError
from qsat_pat.core.modem import ranging
from qsat_pat.core.modem.ranging import SPEED_OF_LIGHT_MPS, RangingConfig

PS = 1e-12
MM = 1e-3


# ----------------------------------------------------------------------------- core estimator
def test_estimator_is_unbiased_and_reaches_c_sigma_t_over_sqrt_n():
    jitter_s, n, trials = 200 * PS, 64, 400
    cfg = RangingConfig(jitter_s=jitter_s, hold_s=2e-6)
    fn = ranging.linear_range_fn(1.1e6, 6500.0, 0.0)
    rng = np.random.default_rng(5)
    err_mean, err_end, rate_err = [], [], []
    est = None
    for _ in range(trials):
        t = np.sort(rng.uniform(0.0, 0.5, n))
        tags, _ = ranging.simulate_time_tags(cfg, t, fn, 4.2e-3, rng)
        est = ranging.estimate_range(*tags)
        err_mean.append(est.range_m - fn(est.t_eval_s))
        end = ranging.estimate_range(*tags, t_eval_s=0.5)
        err_end.append(end.range_m - fn(0.5))
        rate_err.append(end.range_rate_mps - 6500.0)
    law = SPEED_OF_LIGHT_MPS * jitter_s / math.sqrt(n)          # 7.5 mm
    assert est.predicted_sigma_range_m(jitter_s) == pytest.approx(law, rel=1e-9)
    assert abs(np.mean(err_mean)) < 4 * law / math.sqrt(trials)     # unbiased (clock offset cancels)
    assert np.std(err_mean) == pytest.approx(law, rel=0.12)         # chi, 400 dof: +-3.5 % (1 sigma)
    # extrapolated to the end of the window and the slope: predicted by the same jitter
    assert np.std(err_end) == pytest.approx(end.predicted_sigma_range_m(jitter_s), rel=0.2)
    assert np.std(rate_err) == pytest.approx(end.predicted_sigma_range_rate_mps(jitter_s), rel=0.2)
    assert abs(np.mean(rate_err)) < 0.05                             # m/s
    assert end.clock_offset_s == pytest.approx(4.2e-3, abs=1e-9)


def test_estimator_takes_any_tag_arrays_exact_tags_give_exact_range():
    # hand-made tags (no simulator, as a hardware TDC would give): constant 900 km, 1 ms offset
    tof = 900e3 / SPEED_OF_LIGHT_MPS
    g_tx = np.arange(5) * 1e-3
    s_rx = g_tx + tof + 1e-3
    s_tx = s_rx + 1e-6
    g_rx = s_tx - 1e-3 + tof
    est = ranging.estimate_range(g_tx, s_rx, s_tx, g_rx)
    assert est.range_m == pytest.approx(900e3, abs=1e-5)
    assert est.range_rate_mps == pytest.approx(0.0, abs=1e-3)
    assert est.clock_offset_s == pytest.approx(1e-3, abs=1e-15)
    assert est.n_markers == 5 and est.single_shot_rms_m < 1e-5


def test_estimator_and_geometry_bad_input():
    z = np.zeros(2)
    with pytest.raises(LinkError, match="at least 3"):
        ranging.estimate_range(z, z, z, z)
    with pytest.raises(LinkError, match="same shape"):
        ranging.estimate_range(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(4))
    with pytest.raises(LinkError, match="finite"):
        ranging.estimate_range(np.array([0.0, np.nan, 1.0]), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(LinkError, match="t_eval_s"):
        ranging.estimate_range(np.zeros(3), np.zeros(3), np.zeros(3), np.arange(3.0), t_eval_s=math.inf)
    for r, rdot in ((float("nan"), 0.0), (-5.0, 0.0), (0.0, 0.0), (1e6, float("inf")), (1e6, 3.1e8)):
        with pytest.raises(LinkError):
            ranging.linear_range_fn(r, rdot)
    assert ranging.linear_range_fn(np.float32(1e6), np.float64(-10.0), 2.0)(3.0) == pytest.approx(1e6 - 10.0)


# ----------------------------------------------------------------------------- node over DDS


def _stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@pytest.fixture
def ranging_modem(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import UInt8MultiArray

    from qsat_pat.msg import EphemerisState, ModemStats
    from qsat_pat.nodes.optical_modem import OpticalModemNode
    from qsat_pat.nodes.pattern import Qos

    node = OpticalModemNode(context=rclpy_context, cli_args=[
        "--ros-args", "-r", "__ns:=/modem_ranging_test", "-r", "ephemeris:=ogs_ephemeris",
        "-p", "stats_period_s:=0.25", "-p", "channel:=ideal", "-p", "timing_jitter_ps:=100.0",
        "-p", "far_clock_offset_s:=0.0025", "-p", "geometry_max_age_s:=30.0"])
    client = rclpy.create_node("ranging_client", namespace="/modem_ranging_test", context=rclpy_context)
    stats = []
    tx = client.create_publisher(UInt8MultiArray, "modem/tx", Qos.STREAM)
    eph = client.create_publisher(EphemerisState, "ogs_ephemeris", Qos.STATE)
    client.create_subscription(ModemStats, "modem/stats", stats.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    # record the normal points the node computes (their N and lever arm set the predicted sigma)
    estimates = {}
    compute = node._normal_point

    def spy(now_ns):
        est = compute(now_ns)
        estimates[now_ns] = est
        return est

    node._normal_point = spy
    assert node.autostart()
    assert spin_until(ex, lambda: tx.get_subscription_count() > 0 and eph.get_subscription_count() > 0)
    yield node, tx, eph, stats, estimates, ex
    ex.shutdown()
    client.destroy_node()
    node.destroy_node()


def _ephemeris(node, range_m, range_rate_mps, age_s=0.0):
    from rclpy.duration import Duration

    from qsat_pat.msg import EphemerisState

    msg = EphemerisState()
    msg.header.stamp = (node.get_clock().now() - Duration(nanoseconds=int(age_s * 1e9))).to_msg()
    msg.range_m = range_m
    msg.range_rate_mps = range_rate_mps
    return msg


def _send_chunks(ex, tx, seconds, period_s=0.02, octets=1500):
    from std_msgs.msg import UInt8MultiArray

    data = np.random.default_rng(3).integers(0, 256, octets, dtype=np.uint8).tobytes()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tx.publish(UInt8MultiArray(data=data))
        spin_until(ex, lambda: False, timeout_s=period_s)


@pytest.mark.ros
def test_node_measures_range_and_range_rate_from_ephemeris_geometry(ranging_modem):
    node, tx, eph, stats, estimates, ex = ranging_modem
    r0_m, rdot_mps = 1.2e6, -4000.0
    msg = _ephemeris(node, r0_m, rdot_mps)
    t0_s = _stamp_s(msg.header.stamp)
    eph.publish(msg)
    assert spin_until(ex, lambda: node.counters["geometry_updates"] == 1)
    _send_chunks(ex, tx, 1.3)
    assert spin_until(ex, lambda: sum(s.range_valid for s in stats) >= 3)
    jitter_s = 100 * PS
    valid = [s for s in stats if s.range_valid]
    z = []
    for s in valid:
        now_ns = s.header.stamp.sec * 1_000_000_000 + s.header.stamp.nanosec
        est = estimates[now_ns]
        assert est is not None and est.n_markers >= 3
        truth_m = r0_m + rdot_mps * (_stamp_s(s.header.stamp) - t0_s)
        sigma_m = est.predicted_sigma_range_m(jitter_s)      # c sigma_t sqrt(1/N + lever^2/S_tt)
        assert sigma_m < 0.05                                 # a few cm: tens of markers per interval
        assert abs(s.range_m - truth_m) < 5 * sigma_m, (s.range_m - truth_m, sigma_m, est.n_markers)
        z.append((s.range_m - truth_m) / sigma_m)
        assert s.range_rate_mps < 0.0
        assert abs(s.range_rate_mps - rdot_mps) < 5 * est.predicted_sigma_range_rate_mps(jitter_s) + 1e-3
        assert s.clock_offset_s == pytest.approx(2.5e-3, abs=1e-9)
        # the far-clock offset cancels: the range is not 0.0025 s * c / 2 = 375 km off
        assert abs(s.range_m - truth_m) < 1.0
    assert float(np.sqrt(np.mean(np.square(z)))) < 3.0
    assert node.counters["ranging_markers"] >= 30 and node.counters["range_normal_points"] >= 3


@pytest.mark.ros
def test_node_without_or_with_bad_geometry_reports_range_invalid(ranging_modem):
    node, tx, eph, stats, estimates, ex = ranging_modem
    _send_chunks(ex, tx, 0.4)
    assert spin_until(ex, lambda: any(s.frames_received > 0 for s in stats))
    assert not any(s.range_valid for s in stats)
    assert node.counters["range_invalid_no_geometry"] >= 1
    assert node.counters["ranging_markers_without_geometry"] >= 1
    for k, (r, rdot) in enumerate(((float("nan"), 0.0), (-1000.0, 10.0), (8e5, float("inf"))), start=1):
        eph.publish(_ephemeris(node, r, rdot))
        assert spin_until(ex, lambda k=k: node.counters["rejected_bad_geometry"] == k)
    assert node.geometry is None and node.counters["geometry_updates"] == 0
    # stale geometry (older than geometry_max_age_s = 30 s) is accepted but not used
    eph.publish(_ephemeris(node, 8e5, 10.0, age_s=100.0))
    assert spin_until(ex, lambda: node.counters["geometry_updates"] == 1)
    n_stats = len(stats)
    _send_chunks(ex, tx, 0.4)
    assert spin_until(ex, lambda: len(stats) > n_stats + 1)
    assert not any(s.range_valid for s in stats) and node.counters["ranging_markers"] == 0
    # a good ephemeris: the link keeps running and ranges
    eph.publish(_ephemeris(node, 8e5, 10.0))
    assert spin_until(ex, lambda: node.counters["geometry_updates"] == 2)
    _send_chunks(ex, tx, 0.6)
    assert spin_until(ex, lambda: any(s.range_valid for s in stats))
    s = next(s for s in stats if s.range_valid)
    assert s.range_m == pytest.approx(8e5, abs=20.0) and s.range_rate_mps == pytest.approx(10.0, abs=1.0)
