"""The track_predictor node over DDS: BeaconCentroid + ActuatorState -> TrackEstimate, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ros_helpers import spin_until

pytestmark = pytest.mark.ros




def _centroid(t_s, x_px, y_px, valid=True):
    from qsat_pat.msg import BeaconCentroid
    from qsat_pat.nodes.convert import s_to_stamp

    msg = BeaconCentroid(valid=valid, x_px=float(x_px), y_px=float(y_px), camera_id="ogs_fine", method="default")
    msg.covariance_px2 = [0.01, 0.0, 0.0, 0.01] if valid else [math.nan] * 4
    msg.header.stamp = s_to_stamp(t_s)
    return msg


def _actuator(t_s, a1, a2):
    from qsat_pat.msg import ActuatorState
    from qsat_pat.nodes.convert import s_to_stamp

    msg = ActuatorState(axis1_rad=float(a1), axis2_rad=float(a2))
    msg.header.stamp = s_to_stamp(t_s)
    return msg


def test_track_predictor_composes_tracks_predicts_and_counts_bad_input(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from qsat_pat.msg import ActuatorState, BeaconCentroid, TrackEstimate
    from qsat_pat.nodes.convert import stamp_to_s
    from qsat_pat.nodes.pattern import Qos
    from qsat_pat.nodes.track_predictor import TrackPredictorNode

    node = TrackPredictorNode(
        context=rclpy_context, cli_args=["--ros-args", "-r", "__ns:=/trk_test"],
        parameter_overrides=[Parameter("model", value="cv"), Parameter("measurement_std_rad", value=1e-6),
                             Parameter("q_cv", value=1e-12), Parameter("boresight_x_px", value=64.0),
                             Parameter("boresight_y_px", value=64.0), Parameter("scale_x_radppx", value=1e-5),
                             Parameter("scale_y_radppx", value=1e-5), Parameter("optical_gain", value=2.0),
                             Parameter("latency_s", value=0.05)])
    client = rclpy.create_node("trk_client", namespace="/trk_test", context=rclpy_context)
    cpub = client.create_publisher(BeaconCentroid, "beacon_centroid", Qos.STREAM)
    apub = client.create_publisher(ActuatorState, "actuator_state", Qos.STREAM)
    got: list[TrackEstimate] = []
    client.create_subscription(TrackEstimate, "track_estimate", got.append, Qos.STREAM)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    try:
        assert node.autostart()
        assert spin_until(ex, lambda: cpub.get_subscription_count() > 0 and apub.get_subscription_count() > 0
                     and node.pubs["track_estimate"].get_subscription_count() > 0)
        # a closed FSM loop: the mirror follows the target, the spot stays ~2 px off the boresight;
        # the line of sight moves at (1e-3, -5e-4) rad/s
        rate = np.array([1e-3, -5e-4])
        n = 40
        t0 = node.now_s()
        for k in range(n):
            t = t0 + 0.02 * k
            los = 1e-3 + rate * (t - t0)
            mirror = (los - 2e-5) / 2.0  # optical gain 2; 2e-5 rad = 2 px left in the camera
            apub.publish(_actuator(t, *mirror))
            assert spin_until(ex, lambda t=t: node.part.actuator is not None and abs(node.part.actuator.stamp_s - t) < 1e-6)
            cpub.publish(_centroid(t, 66.0, 66.0))
            assert spin_until(ex, lambda k=k: node.counters["estimates"] + node.counters["measurement_tentative"] == k + 1)
        assert spin_until(ex, lambda: len(got) == n - 1)  # the first frame is tentative: no estimate yet
        last = got[-1]
        assert last.model == "cv" and len(last.state) == 4 and len(last.covariance) == 16
        t_last = t0 + 0.02 * (n - 1)
        truth = 1e-3 + rate * (t_last - t0)
        assert (last.los_x_rad, last.los_y_rad) == (pytest.approx(truth[0], abs=2e-7),
                                                    pytest.approx(truth[1], abs=2e-7))
        assert (last.los_x_rate_radps, last.los_y_rate_radps) == (pytest.approx(rate[0], abs=5e-5),
                                                                  pytest.approx(rate[1], abs=5e-5))
        assert last.measurement_accepted and not last.coasting
        # prediction to the actuation time (node clock now + latency), along the track
        t_pred = stamp_to_s(last.predicted_stamp)
        assert t_pred >= t_last + 0.05 - 1e-6  # stamps ~1.8e9 s: float64 rounding ~2e-7 s
        assert last.predicted_x_rad == pytest.approx(truth[0] + rate[0] * (t_pred - t_last), abs=2e-6)
        assert last.predicted_y_rad == pytest.approx(truth[1] + rate[1] * (t_pred - t_last), abs=2e-6)
        assert last.predicted_covariance_rad2[0] > 0
        # no detection: the filter coasts
        cpub.publish(_centroid(t_last + 0.02, math.nan, math.nan, valid=False))
        assert spin_until(ex, lambda: len(got) == n)  # n - 1 estimates so far (first frame tentative) + this one
        assert got[-1].coasting and not got[-1].measurement_accepted and math.isnan(got[-1].nis)
        # bad input: a stamp going backwards and a stale actuator reading are counted, node keeps running
        cpub.publish(_centroid(t0 - 50.0, 66.0, 66.0))
        assert spin_until(ex, lambda: node.counters["rejected_bad_stamp"] == 1)
        cpub.publish(_centroid(t_last + 5.0, 66.0, 66.0))
        assert spin_until(ex, lambda: node.counters["rejected_bad_centroid"] == 1)
        assert spin_until(ex, lambda: len(got) == n + 1) and got[-1].coasting
        # parameters are validated by the core config
        res = node.set_parameters([Parameter("model", value="kalman")])
        assert not res[0].successful and "model" in res[0].reason
        assert node.set_parameters([Parameter("model", value="imm")])[0].successful
        assert node.tracker.model.value == "imm"
    finally:
        ex.shutdown()
        client.destroy_node()
        node.destroy_node()
