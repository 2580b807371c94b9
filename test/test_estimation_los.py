"""Line of sight = actuator pointing + camera residual, and the FSM/KF loop conflict (seed 002 §IV)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.core.errors import ConfigError, EstimationError
from qsat_pat.core.estimation import (
    ActuatorPointing,
    CameraGeometry,
    LosTracker,
    TrackerConfig,
    compose_line_of_sight,
)

ONE_URAD = 1e-6


def test_composition_formula_with_rotation_gain_and_rate():
    geo = CameraGeometry(boresight_x_px=100.0, boresight_y_px=50.0, scale_x_radppx=2e-6,
                         scale_y_radppx=-3e-6, rotation_rad=math.pi / 2, optical_gain=2.0)
    act = ActuatorPointing(stamp_s=10.0, axis1_rad=1e-3, axis2_rad=-2e-3, axis1_rate_radps=1e-3,
                           axis2_rate_radps=0.0)
    los, cov = compose_line_of_sight((110.0, 40.0), 10.01, act, geo, np.diag([0.04, 0.09]))
    # residual: (dx, dy) = (10, -10) px -> diag scale (2e-5, 3e-5) rad -> rotated 90 deg: (-3e-5, 2e-5)
    # actuator at the frame time: (1e-3 + 1e-5, -2e-3), times the mirror's optical gain 2
    expected = 2.0 * np.array([1.01e-3, -2e-3]) + np.array([-3e-5, 2e-5])
    np.testing.assert_allclose(los, expected, atol=1e-12)
    m = geo.pixel_to_angle()
    np.testing.assert_allclose(cov, m @ np.diag([0.04, 0.09]) @ m.T, atol=1e-24)


def test_spot_on_boresight_gives_the_actuator_pointing():
    geo = CameraGeometry(boresight_x_px=320.0, boresight_y_px=240.0, optical_gain=1.0)
    act = ActuatorPointing(0.0, 0.3, 0.7)
    los, cov = compose_line_of_sight((320.0, 240.0), 0.0, act, geo)
    np.testing.assert_allclose(los, (0.3, 0.7))
    assert cov is None


def _closed_loop(compose: bool, steps: int = 1200, dt_s: float = 0.01, seed: int = 7):
    """FSM loop centring the spot while the target moves along an accelerating arc.

    ``compose``: the filter gets the composed line of sight and drives the FSM with its
    prediction; otherwise it gets the camera residual only and the FSM integrates it.

    Returns (truth, camera residual [rad], filter estimate) per step.
    """
    rng = np.random.default_rng(seed)
    geo = CameraGeometry(boresight_x_px=64.0, boresight_y_px=64.0, scale_x_radppx=5e-6, scale_y_radppx=5e-6,
                         optical_gain=2.0)
    trk = LosTracker(TrackerConfig(model="ca", measurement_std_rad=1e-6, q_ca=1e-9, init_rate_std_radps=1e-2,
                                   init_acc_std_radps2=1e-2))
    mirror = np.zeros(2)  # mechanical FSM angles [rad]
    truth, resid, est = [], [], []
    for k in range(steps):
        t = k * dt_s
        los_true = np.array([2e-3 * t + 1e-3 * t**2, -1e-3 * t + 5e-4 * t**2])
        # camera sees what the FSM has not taken out; centroid noise 0.2 px
        off_rad = los_true - geo.optical_gain * mirror
        centroid = np.array([64.0, 64.0]) + off_rad / 5e-6 + rng.normal(0, 0.2, 2)
        act = ActuatorPointing(t, *mirror)
        if compose:
            z, _ = compose_line_of_sight(centroid, t, act, geo)
        else:  # what York fed the filter: the pixel residual alone (here as an angle)
            z = geo.pixel_to_angle() @ (centroid - 64.0)
        trk.step(t, z)
        truth.append(los_true)
        resid.append(geo.pixel_to_angle() @ (centroid - 64.0))
        est.append(trk.state[:2] if trk.has_track else np.full(2, np.nan))
        if compose and trk.has_track:
            # FSM driven by the filter's line of sight predicted to the next frame (actuation time)
            mirror = trk.predict_to(t + dt_s)[0] / geo.optical_gain
        else:
            # York's loop: integrate the camera residual (gain 0.5 per frame)
            mirror = mirror + 0.5 * (geo.pixel_to_angle() @ (centroid - 64.0)) / geo.optical_gain
    return np.array(truth), np.array(resid), np.array(est)


def test_closed_fsm_loop_no_longer_hides_the_trajectory():
    truth, resid, est = _closed_loop(compose=True)
    late = slice(300, None)
    # the loop keeps the spot centred: the camera residual is ~0 (a few urad)...
    assert np.sqrt(np.mean(resid[late] ** 2)) < 5 * ONE_URAD
    # ...yet the filter fed the composed line of sight tracks the moving target (mrad scale)
    assert np.ptp(truth[late, 0]) > 5e-3
    err = np.hypot(*(est[late] - truth[late]).T)
    assert np.sqrt(np.mean(err**2)) < 3 * ONE_URAD


def test_residual_only_filter_loses_the_trajectory():
    # the FSM/KF loop conflict of seed 002 §IV, reproduced: the residual-fed filter sees ~0
    truth, _, est = _closed_loop(compose=False)
    late = slice(300, None)
    err = np.hypot(*(est[late] - truth[late]).T)
    assert np.sqrt(np.mean(err**2)) > 1e-3


def test_bad_actuator_and_geometry_inputs():
    with pytest.raises(EstimationError, match="not finite"):
        ActuatorPointing(0.0, float("nan"), 0.0)
    with pytest.raises(ConfigError, match="non-zero"):
        CameraGeometry(scale_x_radppx=0.0)
    geo = CameraGeometry()
    act = ActuatorPointing(1.0, 0.0, 0.0)
    with pytest.raises(EstimationError, match="max_actuator_age_s"):
        compose_line_of_sight((0.0, 0.0), 2.0, act, geo)
    with pytest.raises(EstimationError, match="two finite pixel"):
        compose_line_of_sight((np.nan, 0.0), 1.0, act, geo)
    with pytest.raises(EstimationError, match="fault"):
        compose_line_of_sight((0.0, 0.0), 1.0, ActuatorPointing(1.0, 0.0, 0.0, fault=True), geo)
    # numpy scalars are accepted
    los, _ = compose_line_of_sight(np.array([1.0, 2.0]), np.float32(1.0), ActuatorPointing(np.float64(1.0), 0, 0), geo)
    assert los.shape == (2,)
