"""550 km pass: geometry (NanoBob §4.5, Vector §3.2), FSM offload to the mount, space terminal."""

import math

import numpy as np
import pytest

from qsat_pat.analysis.control_studies import circular_pass, simulate_two_stage_pass
from qsat_pat.core.control import (
    CoarseStageConfig,
    CoarseStageModel,
    FineLoopConfig,
    FineTrackLoop,
    FsmConfig,
    FsmModel,
    QuadrantDetector,
    QuadrantDetectorConfig,
)
from qsat_pat.core.errors import ControlError

ONE_URAD = 1e-6


def test_overhead_550km_slew_rates_match_nanobob():
    g = circular_pass(550e3, math.pi / 2, np.arange(-300.0, 300.0, 0.05))
    # seed 001 §4.5: OGS slew peak 13.7 mrad/s, satellite 12.6 mrad/s (Earth rotation ignored here)
    assert g.los_rate_radps.max() == pytest.approx(13.7e-3, abs=0.15e-3)
    assert g.body_rate_radps.max() == pytest.approx(12.6e-3, abs=0.15e-3)
    assert g.range_m.min() == pytest.approx(550e3, abs=1.0)


def test_560km_pass_above_20deg_lasts_328s_as_vector():
    # seed 003 §3.2: 560 km, elevation > 20 deg from -164 to +164 s
    t = np.arange(-250.0, 250.0, 0.1)
    g = circular_pass(560e3, math.pi / 2, t)
    above = t[g.el_rad > math.radians(20.0)]
    assert above[-1] - above[0] == pytest.approx(328.0, abs=6.0)


def test_circular_pass_rejects_bad_geometry():
    with pytest.raises(ControlError):
        circular_pass(-1.0, 1.0, [0.0])
    with pytest.raises(ControlError):
        circular_pass(550e3, 2.0, [0.0])


def test_pass_fsm_never_saturates_thanks_to_offload():
    # 85 deg max elevation (an az/el mount cannot follow an exact zenith pass), peak LOS rate
    # 13.75 mrad/s; along-track ephemeris error 50 ms -> up to ~0.7 mrad, more than the
    # FSM's +-250 urad.  +-10 s around culmination at 1 kHz.
    kw = dict(t_start_s=-10.0, t_end_s=10.0, ephemeris_time_error_s=0.05)
    with_off = simulate_two_stage_pass(offload=True, **kw)
    without = simulate_two_stage_pass(offload=False, **kw)
    print(f"\npass: peak LOS rate {with_off.peak_los_rate_radps * 1e3:.2f} mrad/s; with offload: "
          f"max FSM {with_off.max_fsm_fraction * 100:.0f} % of range, residual rms "
          f"{with_off.residual_rms_rad / ONE_URAD:.2f} urad, handover transient "
          f"{with_off.handover_transient_rad / ONE_URAD:.2f} urad over {with_off.offload_events} "
          f"engagements; without: saturated={without.fsm_saturated}, residual rms "
          f"{without.residual_rms_rad / ONE_URAD:.0f} urad")
    assert with_off.peak_los_rate_radps == pytest.approx(13.7e-3, abs=0.15e-3)
    assert not with_off.fsm_saturated
    assert with_off.max_fsm_fraction < 0.8
    assert with_off.offload_events >= 1
    assert with_off.residual_rms_rad < 3 * ONE_URAD
    assert with_off.handover_transient_rad < 7 * ONE_URAD   # below Vector's 7 urad fine-loop RMS
    assert without.fsm_saturated
    assert without.residual_rms_rad > 50 * ONE_URAD


def test_space_terminal_body_coarse_stage_and_quadrant_detector():
    """NanoBob: ADCS body pointing (50 urad 1-sigma jitter) + FSM on a quadrant detector."""
    rng = np.random.default_rng(11)
    dt = 1e-3
    t = np.arange(0.0, 3.0, dt)
    body = CoarseStageModel(CoarseStageConfig(stage="body", max_rate_radps=math.radians(1.0),
                                              max_acc_radps2=0.05, axis1_min_rad=-4.0,
                                              axis1_max_rad=4.0, axis2_min_rad=-1.6,
                                              axis2_max_rad=1.6), (0.0, 0.0))
    body.rate_radps = np.array([12.6e-3, 0.0])  # already slewing (ACQUIRE brought it on target)
    # body slews at 12.6 mrad/s (seed 001 §4.5) with a 50 urad rms ADCS error per axis
    # (XACT 1-sigma), modelled as three sinusoids of random phase at 0.2, 0.7 and 2 Hz
    slew = 12.6e-3 * t
    ph = rng.uniform(0, 2 * math.pi, (3, 2))
    k_err = sum(np.sin(2 * math.pi * f * t[:, None] + ph[i]) for i, f in enumerate((0.2, 0.7, 2.0)))
    k_err = 50e-6 * k_err / np.sqrt(np.mean(k_err ** 2, axis=0))
    qd = QuadrantDetector(QuadrantDetectorConfig(spot_sigma_rad=150e-6, noise_e=20.0))
    ctl = FineTrackLoop(FineLoopConfig())
    mirror = FsmModel(FsmConfig())
    cmd = np.zeros(2)
    resid = np.zeros((t.size, 2))
    prev = None
    for k in range(t.size):
        pos = body.step(dt, (slew[k], 0.0), (12.6e-3, 0.0))
        los = np.array([slew[k] - pos[0], 0.0]) + k_err[k]
        m = mirror.step(cmd, dt) if k else mirror.position_rad.copy()
        resid[k] = los - m
        est = qd.estimate(qd.signals(resid[k], 2e5, rng))
        out = ctl.step(t[k], prev[1], prev[0]) if prev is not None else ctl.step(t[k], None)
        prev = (t[k], est) if est is not None else None
        cmd = out.command_rad
    rms = float(np.sqrt(np.mean(np.sum(resid[500:] ** 2, axis=1))))
    print(f"\nspace terminal: body error rms {np.sqrt(np.mean(k_err ** 2)) / ONE_URAD:.0f} urad/axis"
          f" -> fine residual rms {rms / ONE_URAD:.2f} urad")
    assert rms < 5 * ONE_URAD
