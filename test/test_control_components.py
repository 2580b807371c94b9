"""Control building blocks: FSM model, calibration, PID, quadrant detector, scans, point-ahead."""

import math

import numpy as np
import pytest

from qsat_pat.core.control import (
    C_MPS,
    AcquisitionScan,
    FsmConfig,
    FsmModel,
    Mode,
    Pid,
    PidConfig,
    PointingCommand,
    QuadrantDetector,
    QuadrantDetectorConfig,
    ScanConfig,
    Stage,
    fit_fsm_calibration,
    point_ahead_rad,
)
from qsat_pat.core.errors import ConfigError, ControlError

ONE_URAD = 1e-6


def test_fsm_gain_at_natural_frequency_is_one_over_two_zeta():
    # 2nd-order low-pass: |H(j wn)| = 1 / (2 zeta)
    cfg = FsmConfig(bandwidth_hz=580.0, damping=0.7)
    m = FsmModel(cfg)
    dt = 1e-5
    t = np.arange(0, 0.05, dt)
    u = 100e-6 * np.sin(2 * math.pi * 580.0 * t)
    y = np.array([m.step((ui, 0.0), dt)[0] for ui in u])
    late = t > 0.02
    gain = (y[late].max() - y[late].min()) / (u[late].max() - u[late].min())
    assert gain == pytest.approx(1 / (2 * 0.7), abs=0.02)


def test_fsm_settles_and_clamps_to_range():
    m = FsmModel(FsmConfig(range_rad=250e-6))
    for _ in range(50):
        p = m.step((100e-6, -400e-6), 1e-3)
    assert p[0] == pytest.approx(100e-6, abs=0.01 * ONE_URAD)
    assert p[1] == pytest.approx(-250e-6, abs=0.01 * ONE_URAD)
    assert m.at_limit


@pytest.mark.parametrize("bad", [(math.nan, 0.0), (0.0, math.inf), (1.0, 2.0, 3.0)])
def test_fsm_rejects_bad_commands(bad):
    with pytest.raises(ControlError):
        FsmModel().step(bad, 1e-3)


def test_fsm_config_rejects_out_of_range():
    with pytest.raises(ConfigError):
        FsmConfig(bandwidth_hz=0.0)


def test_calibration_recovers_scale_rotation_from_commanded_deflections():
    # seed 004 Table 1: fine camera 414 urad over 256 px -> 1.617 urad/px
    scale_px_per_rad = 256 / 414e-6
    rot = math.radians(27.0)
    m_true = scale_px_per_rad * np.array([[math.cos(rot), -math.sin(rot)],
                                          [math.sin(rot), math.cos(rot)]])
    m_true[:, 1] *= -1.0  # a mirror flip on one axis, as an inverted image
    rng = np.random.default_rng(4)
    cmd = np.array([[a, b] for a in (-200e-6, 0, 200e-6) for b in (-200e-6, 0, 200e-6)])
    px = cmd @ m_true.T + np.array([128.0, 120.0]) + rng.normal(0, 0.05, cmd.shape)
    cal = fit_fsm_calibration(cmd, px)
    np.testing.assert_allclose(cal.matrix_px_per_rad, m_true, rtol=2e-3)
    s1, s2 = cal.scale_px_per_rad
    assert s1 == pytest.approx(scale_px_per_rad, rel=2e-3)
    assert s2 == pytest.approx(scale_px_per_rad, rel=2e-3)
    assert cal.residual_rms_px < 0.15
    # round trip px <-> rad
    d = cal.px_to_rad(cal.rad_to_px((30e-6, -12e-6)))
    np.testing.assert_allclose(d, (30e-6, -12e-6), atol=1e-12)


def test_calibration_rejects_single_axis_pattern_and_nan():
    cmd = np.array([[0.0, 0.0], [1e-4, 0.0], [2e-4, 0.0], [-1e-4, 0.0]])
    with pytest.raises(ControlError, match="span both"):
        fit_fsm_calibration(cmd, cmd * 1e6)
    with pytest.raises(ControlError, match="NaN"):
        fit_fsm_calibration([[0, 0], [1, 0], [0, math.nan]], [[0, 0], [1, 0], [0, 1]])


def test_pid_anti_windup_recovers_faster_than_plain_integrator():
    def run(aw):
        pid = Pid(PidConfig(kp=0.0, ki_per_s=100.0, output_limit=1.0, anti_windup=aw))
        for _ in range(1000):  # error that cannot be corrected: output pinned at +1
            pid.step((10.0, 10.0), 1e-3)
        n = 0
        while pid.step((-1.0, -1.0), 1e-3)[0] >= 1.0 and n < 100_000:
            n += 1
        return n

    assert run("clamp") <= 1
    assert run("none") > 100


def test_pid_derivative_is_filtered_and_feedforward_passes_through():
    pid = Pid(PidConfig(kp=0.0, ki_per_s=0.0, kd_s=1e-3, derivative_filter_hz=50.0, output_limit=10.0))
    pid.step((0.0, 0.0), 1e-3)
    kick = pid.step((1.0, 0.0), 1e-3)[0]
    # unfiltered kick would be kd * 1/dt = 1.0; filtered alpha = dt/(tau+dt) ~ 0.24
    assert 0.1 < kick < 0.4
    out = pid.step((1.0, 0.0), 1e-3, feedforward=(0.0, 0.5))
    assert out[1] == pytest.approx(0.5)
    with pytest.raises(ControlError):
        pid.step((math.nan, 0.0), 1e-3)


def test_quadrant_detector_inverts_exactly_and_has_noise_floor():
    qd = QuadrantDetector(QuadrantDetectorConfig(spot_sigma_rad=100e-6, noise_e=30.0))
    for off in [(0.0, 0.0), (20e-6, -35e-6), (-150e-6, 80e-6)]:
        est = qd.estimate(qd.signals(off, 1e5))
        np.testing.assert_allclose(est, off, atol=1e-9)
    rng = np.random.default_rng(1)
    errs = np.array([qd.estimate(qd.signals((10e-6, 0.0), 1e5, rng)) - (10e-6, 0.0) for _ in range(300)])
    sigma = errs[:, 0].std()
    # near the centre sx ~ 2x/(sqrt(2 pi) sigma_spot): sigma_x ~ sqrt(pi/2) sigma_spot * 2 n_e / S
    expect = math.sqrt(math.pi / 2) * 100e-6 * 2 * 30.0 / 1e5
    assert sigma == pytest.approx(expect, rel=0.25)
    assert qd.estimate(qd.signals((1.0, 0.0), 1e5)) is None  # out of FOV: no light


@pytest.mark.parametrize("pattern", ["spiral", "raster"])
def test_scan_covers_the_uncertainty_cone(pattern):
    cfg = ScanConfig(pattern=pattern, cone_radius_rad=2e-3, step_rad=300e-6, speed_radps=5e-3)
    scan = AcquisitionScan(cfg)
    t = np.arange(0, scan.period_s, 0.002)
    path = np.array([scan.offset_at(x) for x in t])
    rng = np.random.default_rng(0)
    r = 2e-3 * np.sqrt(rng.uniform(0, 1, 400))
    a = rng.uniform(0, 2 * math.pi, 400)
    pts = np.column_stack([r * np.cos(a), r * np.sin(a)])
    d = np.min(np.linalg.norm(pts[:, None, :] - path[None, :, :], axis=2), axis=1)
    assert d.max() < 0.75 * cfg.step_rad  # every point of the cone passes within ~step/2
    speed = np.linalg.norm(np.diff(path, axis=0), axis=1) / 0.002
    assert np.median(speed) == pytest.approx(5e-3, rel=0.05)


def test_point_ahead_reproduces_seed_numbers():
    # seed 004 §2.1: theta_PA = 2 v_t / c <= 53 urad for v_t <= 7.9 km/s
    l_m = 550e3
    pa = point_ahead_rad(0.0, 7.9e3 / l_m, 0.3, l_m)
    assert np.hypot(*pa) == pytest.approx(52.7 * ONE_URAD, abs=0.1 * ONE_URAD)
    assert np.hypot(*pa) <= 53 * ONE_URAD
    # seed 001 §4.5: one-way 1.83 ms at 550 km, 13.7 mrad/s -> ~25 urad
    assert l_m / C_MPS == pytest.approx(1.83e-3, abs=0.01e-3)
    assert np.hypot(*pa) / 2 * 13.7e-3 / (7.9e3 / l_m) == pytest.approx(25e-6, abs=0.2e-6)
    # azimuth component scaled by cos(el) (seed 004 eq. (3))
    pa2 = point_ahead_rad(0.01, 0.0, math.radians(60.0), l_m)
    assert pa2[0] == pytest.approx(2 * l_m / C_MPS * 0.01 * 0.5)


def test_pointing_command_rejects_nan_and_unknown_stage():
    with pytest.raises(ControlError, match="not finite"):
        PointingCommand(0.0, Stage.MOUNT, Mode.POSITION, math.nan, 0.3)
    with pytest.raises(ControlError, match="unknown stage"):
        PointingCommand(0.0, 7, Mode.POSITION, 0.0, 0.3)
    c = PointingCommand(np.float64(1.0), np.int64(1), 0, np.float32(0.5), 0.2)
    assert c.stage is Stage.MOUNT and c.axis1_rad == pytest.approx(0.5)


@pytest.mark.parametrize("compensation", ["smith", "none"])
def test_fine_loop_settles_on_los_plus_point_ahead(compensation):
    """Seed 004 §2.3: the point-ahead shifts the fine loop's closed-loop point, so the mirror
    settles on LOS + point-ahead (a bug once cancelled it in the Smith branch)."""
    from qsat_pat.core.control import FineLoopConfig, FineTrackLoop, FsmConfig, FsmModel

    loop = FineTrackLoop(FineLoopConfig(rate_hz=1000.0, latency_compensation=compensation), FsmConfig())
    plant = FsmModel(FsmConfig())
    los = np.array([20e-6, -5e-6])
    pa = np.array([10e-6, 3e-6])
    for k in range(3000):
        t = k * 1e-3
        plant.step(loop.command_rad, 1e-3)
        loop.step(t, los - plant.position_rad, t, pa)
    assert np.allclose(plant.position_rad, los + pa, atol=0.05e-6)
