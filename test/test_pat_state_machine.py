"""PAT state machine: transitions, reasons, fallbacks, faults; values match PatStatus.msg."""

import math
import re
from pathlib import Path

import pytest

from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.pat import PatConfig, PatInputs, PatState, PatStateMachine

REPO = Path(__file__).resolve().parents[1]


def test_state_values_match_pat_status_msg():
    text = (REPO / "msg" / "PatStatus.msg").read_text()
    consts = {m.group(1): int(m.group(2)) for m in re.finditer(r"uint8 STATE_(\w+) = (\d+)", text)}
    assert consts == {s.name: s.value for s in PatState}


def _run(machine, t, **kw):
    return machine.step(PatInputs(t_s=t, **kw))


def test_nominal_pass_goes_through_every_tracking_state_with_reasons():
    m = PatStateMachine(PatConfig(settle_s=0.2))
    assert _run(m, 0.0, time_to_aos_s=300.0) == PatState.IDLE
    assert _run(m, 1.0, time_to_aos_s=30.0) == PatState.SLEW_TO_AOS
    assert _run(m, 20.0, time_to_aos_s=11.0, at_target=True) == PatState.SLEW_TO_AOS  # not visible
    assert _run(m, 31.0, target_visible=True, at_target=True) == PatState.ACQUIRE
    assert _run(m, 40.0, target_visible=True, coarse_detected=True,
                coarse_error_rad=1e-3) == PatState.COARSE_TRACK
    assert _run(m, 41.0, target_visible=True, coarse_detected=True, fine_detected=True,
                coarse_error_rad=50e-6) == PatState.COARSE_TRACK  # settling
    assert _run(m, 41.3, target_visible=True, coarse_detected=True, fine_detected=True,
                coarse_error_rad=40e-6) == PatState.FINE_TRACK
    assert m.tracking
    assert _run(m, 300.0, target_visible=False) == PatState.PARK
    assert _run(m, 310.0, parked=True) == PatState.IDLE
    names = [(tr.previous.name, tr.state.name) for tr in m.history]
    assert names == [("IDLE", "SLEW_TO_AOS"), ("SLEW_TO_AOS", "ACQUIRE"), ("ACQUIRE", "COARSE_TRACK"),
                     ("COARSE_TRACK", "FINE_TRACK"), ("FINE_TRACK", "PARK"), ("PARK", "IDLE")]
    assert all(tr.reason for tr in m.history)
    assert "below the elevation mask" in m.history[4].reason


def _tracking_machine():
    m = PatStateMachine(PatConfig(settle_s=0.0, fine_lost_s=0.05, coarse_lost_s=0.5, coast_timeout_s=5.0))
    _run(m, 0.0, target_visible=True)
    _run(m, 0.1, target_visible=True, at_target=True)
    _run(m, 0.2, target_visible=True, coarse_detected=True, coarse_error_rad=1e-4)
    _run(m, 0.3, target_visible=True, coarse_detected=True, fine_detected=True, coarse_error_rad=2e-5)
    assert m.state == PatState.FINE_TRACK
    return m


def test_fine_loss_falls_back_to_coarse_then_coast_then_reacquire():
    m = _tracking_machine()
    assert _run(m, 0.32, target_visible=True, coarse_detected=True) == PatState.FINE_TRACK
    assert _run(m, 0.40, target_visible=True, coarse_detected=True) == PatState.COARSE_TRACK
    assert "fine beacon lost" in m.reason
    assert _run(m, 1.0, target_visible=True) == PatState.COAST
    assert _run(m, 3.0, target_visible=True) == PatState.COAST
    assert _run(m, 6.5, target_visible=True) == PatState.ACQUIRE
    assert "re-acquiring" in m.reason


def test_coast_recovers_on_redetection_and_fine_loss_on_both_sensors_coasts():
    m = _tracking_machine()
    assert _run(m, 1.0, target_visible=True) == PatState.COAST
    assert _run(m, 2.0, target_visible=True, coarse_detected=True) == PatState.COARSE_TRACK


def test_acquire_timeout_goes_open_loop_and_detection_recovers():
    m = PatStateMachine(PatConfig(acquire_timeout_s=10.0))
    _run(m, 0.0, target_visible=True)
    _run(m, 1.0, target_visible=True, at_target=True)
    assert _run(m, 11.5, target_visible=True) == PatState.OPEN_LOOP
    assert _run(m, 20.0, target_visible=True, coarse_detected=True) == PatState.COARSE_TRACK


def test_fault_from_any_state_and_reset_only_when_cleared():
    m = _tracking_machine()
    assert _run(m, 1.0, target_visible=True, fault=True, fault_reason="rotctld timeout") == PatState.FAULT
    assert "rotctld timeout" in m.reason
    assert _run(m, 2.0, target_visible=True, fault=True, reset=True) == PatState.FAULT
    assert _run(m, 3.0, target_visible=True) == PatState.FAULT  # no reset yet
    assert _run(m, 4.0, target_visible=True, reset=True) == PatState.PARK
    assert m.previous_state == PatState.FAULT


def test_invalid_ephemeris_static_point_and_operator_stop():
    m = _tracking_machine()
    assert _run(m, 1.0, target_visible=True, ephemeris_valid=False) == PatState.STATIC_POINT
    assert _run(m, 2.0, target_visible=True, ephemeris_valid=True) == PatState.ACQUIRE
    assert _run(m, 3.0, target_visible=True, enabled=False) == PatState.PARK
    assert "operator stop" in m.reason


def test_bad_time_rejected():
    m = PatStateMachine()
    _run(m, 5.0)
    with pytest.raises(ControlError, match="backwards"):
        _run(m, 4.0)
    with pytest.raises(ControlError, match="not finite"):
        _run(m, math.nan)
    with pytest.raises(ConfigError):
        PatConfig(terminal="moon")


def test_space_terminal_same_machine():
    m = PatStateMachine(PatConfig(terminal="space", settle_s=0.0))
    _run(m, 0.0, target_visible=True)
    _run(m, 0.1, target_visible=True, at_target=True)
    _run(m, 0.2, target_visible=True, coarse_detected=True, coarse_error_rad=5e-5)
    assert _run(m, 0.3, target_visible=True, coarse_detected=True, fine_detected=True,
                coarse_error_rad=5e-5) == PatState.FINE_TRACK


def test_cancelled_pass_returns_to_idle():
    m = PatStateMachine(PatConfig(aos_lead_s=60.0))
    assert _run(m, 0.0, time_to_aos_s=30.0) == PatState.SLEW_TO_AOS
    assert _run(m, 5.0, time_to_aos_s=math.inf) == PatState.IDLE
    assert "no longer ahead" in m.reason
