"""The PAT state machine as pure logic (time passed in; every transition has a reason).

States and numeric values are those of ``msg/PatStatus.msg``::

    IDLE -> SLEW_TO_AOS -> ACQUIRE -> COARSE_TRACK -> FINE_TRACK
                              ^  \\          |  ^           |
                              |   OPEN_LOOP  v  |           v
                              +---------- COAST <-----------+
    any -> STATIC_POINT (no valid ephemeris), any -> PARK (LOS / stop), any -> FAULT

* ACQUIRE: the coarse stage flies the ephemeris plus an acquisition scan
  (:class:`qsat_pat.core.control.AcquisitionScan`) until the beacon is detected; after
  ``acquire_timeout_s`` it falls back to OPEN_LOOP (fly the prediction, keep looking),
  as CLICK-A's flight PAT does.
* COARSE_TRACK: closed loop on the wide-field camera (seed 003 §2.3: ~50 urad RMS); when
  the fine sensor sees the beacon and the coarse error is below ``fine_handover_rad``
  for ``settle_s``, FINE_TRACK.
* FINE_TRACK: FSM loop on the fine camera / quadrant detector (seed 003: < 7 urad,
  seed 004: < 3 urad); on fine loss for ``fine_lost_s`` back to COARSE_TRACK (if the
  coarse camera still sees it) or COAST.
* COAST: beacon lost, fly the prediction; re-detection -> COARSE_TRACK; after
  ``coast_timeout_s`` re-ACQUIRE.
* STATIC_POINT: no valid ephemeris: hold a commanded fixed direction.
* PARK: pass over (target below the mask), operator stop; -> IDLE once parked.
* FAULT: a driver/actuator fault; leaves only on ``reset`` with the fault cleared (-> PARK).

The space terminal uses the same machine (coarse stage = spacecraft body via ADCS,
fine sensor = quadrant detector, seed 001 §3).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import ControlError
from qsat_pat.core.params import ConfigBase, param


class PatState(enum.IntEnum):
    """PAT states, values of ``PatStatus.STATE_*``."""

    IDLE = 0
    SLEW_TO_AOS = 1
    ACQUIRE = 2
    COARSE_TRACK = 3
    FINE_TRACK = 4
    COAST = 5
    OPEN_LOOP = 6
    STATIC_POINT = 7
    PARK = 8
    FAULT = 9


#: States in which the beacon is tracked in closed loop.
TRACKING_STATES = frozenset({PatState.COARSE_TRACK, PatState.FINE_TRACK})


@dataclass(frozen=True)
class PatConfig(ConfigBase):
    """Thresholds and timeouts of the PAT state machine."""

    terminal: str = param("ogs", "which terminal", choices=("ogs", "space"))
    aos_lead_s: float = param(60.0, "start slewing this long before AOS", unit="s", min_value=0.0,
                              max_value=3600.0)
    acquire_timeout_s: float = param(60.0, "ACQUIRE -> OPEN_LOOP after this long without detection",
                                     unit="s", min_value=0.1, max_value=3600.0)
    fine_handover_rad: float = param(100e-6, "coarse error below which the fine loop takes over "
                                     "(< FSM range / fine FOV)", unit="rad", min_value=1e-7,
                                     max_value=0.1)
    settle_s: float = param(0.2, "time the handover condition must hold", unit="s", min_value=0.0,
                            max_value=60.0)
    coarse_lost_s: float = param(0.5, "COARSE_TRACK -> COAST after the coarse beacon is missing "
                                 "this long", unit="s", min_value=0.0, max_value=60.0)
    fine_lost_s: float = param(0.05, "FINE_TRACK -> COARSE_TRACK/COAST after the fine beacon is "
                               "missing this long", unit="s", min_value=0.0, max_value=60.0)
    coast_timeout_s: float = param(5.0, "COAST -> ACQUIRE after this long", unit="s", min_value=0.0,
                                   max_value=600.0)


@dataclass(frozen=True)
class PatInputs:
    """Everything the machine looks at in one step (from ephemeris, imaging, drivers, operator).

    Attributes
    ----------
    t_s : float
        Time [s].
    enabled : bool
        Operator wants a pass (False = stop -> PARK).
    ephemeris_valid : bool
        A usable ephemeris/TLE exists (else STATIC_POINT).
    target_visible : bool
        Target above the elevation mask now.
    time_to_aos_s : float
        Time to the next acquisition of signal [s] (<= 0 when visible, inf if none).
    at_target : bool
        Coarse stage has reached the commanded direction (end of the AOS slew).
    coarse_detected : bool
        Beacon detected on the coarse (wide-field) camera this step.
    coarse_error_rad : float
        Coarse pointing error magnitude [rad] (NaN if not detected); the latest finite
        value is kept between coarse frames.
    fine_detected : bool
        Beacon detected on the fine sensor this step.
    parked : bool
        Coarse stage is at the park position.
    fault : bool
        A driver/actuator reports a fault.
    fault_reason : str
    reset : bool
        Operator acknowledges a fault.
    """

    t_s: float
    enabled: bool = True
    ephemeris_valid: bool = True
    target_visible: bool = False
    time_to_aos_s: float = math.inf
    at_target: bool = False
    coarse_detected: bool = False
    coarse_error_rad: float = math.nan
    fine_detected: bool = False
    parked: bool = False
    fault: bool = False
    fault_reason: str = ""
    reset: bool = False


@dataclass(frozen=True)
class Transition:
    """One state change (``PatStatus.previous_state``, ``state``, ``reason``, ``since``)."""

    t_s: float
    previous: PatState
    state: PatState
    reason: str


class PatStateMachine:
    """Pure-logic PAT state machine; call :meth:`step` every control period.

    Parameters
    ----------
    config : PatConfig
    t0_s : float
        Start time [s]; the machine starts in IDLE.
    """

    def __init__(self, config: PatConfig | None = None, t0_s: float = 0.0) -> None:
        self.config = config or PatConfig()
        self.state = PatState.IDLE
        self.previous_state = PatState.IDLE
        self.reason = "start"
        self.since_s = float(t0_s)
        self.history: list[Transition] = []
        self._t = float(t0_s)
        self._coarse_seen_t: float | None = None
        self._fine_seen_t: float | None = None
        self._handover_ok_since: float | None = None
        self._coarse_err = math.nan

    def _go(self, t_s: float, new: PatState, reason: str) -> None:
        if new == self.state:
            return
        tr = Transition(t_s, self.state, new, reason)
        self.history.append(tr)
        self.previous_state, self.state, self.reason, self.since_s = self.state, new, reason, t_s
        self._handover_ok_since = None

    @property
    def last_step_s(self) -> float:
        """Time of the last step (the start time before the first) [s]."""
        return self._t

    def time_in_state_s(self, t_s: float) -> float:
        """Time since the last transition [s]."""
        return float(t_s) - self.since_s

    def step(self, inp: PatInputs) -> PatState:
        """Advance with the inputs at ``inp.t_s``; returns the (possibly new) state.

        Raises
        ------
        ControlError
            Non-finite or decreasing time.
        """
        t = float(inp.t_s)
        if not math.isfinite(t):
            raise ControlError(f"PAT step time {inp.t_s!r} is not finite")
        if t < self._t:
            raise ControlError(f"PAT time went backwards ({t} < {self._t} s)")
        self._t = t
        c = self.config
        if inp.coarse_detected:
            self._coarse_seen_t = t
            if math.isfinite(inp.coarse_error_rad):
                self._coarse_err = float(inp.coarse_error_rad)
        if inp.fine_detected:
            self._fine_seen_t = t
        s = self.state
        # global rules, highest priority first
        if inp.fault:
            if s != PatState.FAULT:
                self._go(t, PatState.FAULT, f"fault: {inp.fault_reason or 'unspecified'}")
            return self.state
        if s == PatState.FAULT:
            if inp.reset:
                self._go(t, PatState.PARK, "fault cleared and reset by the operator")
            return self.state
        if not inp.enabled and s not in (PatState.IDLE, PatState.PARK):
            self._go(t, PatState.PARK, "operator stop")
            return self.state
        active = s in (PatState.SLEW_TO_AOS, PatState.ACQUIRE, PatState.COARSE_TRACK,
                       PatState.FINE_TRACK, PatState.COAST, PatState.OPEN_LOOP)
        if active and not inp.ephemeris_valid:
            self._go(t, PatState.STATIC_POINT, "ephemeris invalid: static pointing")
            return self.state
        if active and s != PatState.SLEW_TO_AOS and not inp.target_visible:
            self._go(t, PatState.PARK, "loss of signal: target below the elevation mask")
            return self.state

        coarse_age = math.inf if self._coarse_seen_t is None else t - self._coarse_seen_t
        fine_age = math.inf if self._fine_seen_t is None else t - self._fine_seen_t
        if s == PatState.IDLE:
            if inp.enabled and inp.ephemeris_valid and (inp.target_visible or inp.time_to_aos_s
                                                        <= c.aos_lead_s):
                self._go(t, PatState.SLEW_TO_AOS,
                         f"pass ahead: AOS in {max(inp.time_to_aos_s, 0.0):.1f} s, slewing")
        elif s == PatState.SLEW_TO_AOS:
            if not inp.target_visible and inp.time_to_aos_s > c.aos_lead_s:
                self._go(t, PatState.IDLE, "pass no longer ahead (AOS beyond the slew lead time)")
            elif inp.at_target and inp.target_visible:
                self._go(t, PatState.ACQUIRE, "at the predicted direction and target visible: scanning")
        elif s in (PatState.ACQUIRE, PatState.OPEN_LOOP):
            if inp.coarse_detected:
                self._go(t, PatState.COARSE_TRACK, "beacon detected on the coarse camera")
            elif s == PatState.ACQUIRE and self.time_in_state_s(t) > c.acquire_timeout_s:
                self._go(t, PatState.OPEN_LOOP,
                         f"no detection within {c.acquire_timeout_s:.1f} s: open-loop pointing")
        elif s == PatState.COARSE_TRACK:
            if coarse_age > c.coarse_lost_s and fine_age > c.fine_lost_s:
                self._go(t, PatState.COAST, f"beacon lost for {coarse_age:.3f} s: coasting")
            else:
                # sensors may run at different rates: use the latest coarse error and a
                # fine detection younger than fine_lost_s
                err = self._coarse_err
                ok = (fine_age <= c.fine_lost_s and coarse_age <= c.coarse_lost_s
                      and math.isfinite(err) and err < c.fine_handover_rad)
                if ok:
                    if self._handover_ok_since is None:
                        self._handover_ok_since = t
                    if t - self._handover_ok_since >= c.settle_s:
                        self._go(t, PatState.FINE_TRACK,
                                 f"fine sensor locked, coarse error {err * 1e6:.1f} urad < "
                                 f"{c.fine_handover_rad * 1e6:.1f} urad for {c.settle_s:.2f} s")
                else:
                    self._handover_ok_since = None
        elif s == PatState.FINE_TRACK:
            if fine_age > c.fine_lost_s:
                if coarse_age <= c.coarse_lost_s:
                    self._go(t, PatState.COARSE_TRACK,
                             f"fine beacon lost for {fine_age:.3f} s, coarse still locked")
                else:
                    self._go(t, PatState.COAST, f"beacon lost on both sensors for {fine_age:.3f} s")
        elif s == PatState.COAST:
            if inp.coarse_detected or inp.fine_detected:
                self._go(t, PatState.COARSE_TRACK, "beacon re-detected after coasting")
            elif self.time_in_state_s(t) > c.coast_timeout_s:
                self._go(t, PatState.ACQUIRE, f"coasted {c.coast_timeout_s:.1f} s: re-acquiring")
        elif s == PatState.STATIC_POINT:
            if inp.ephemeris_valid and inp.enabled:
                self._go(t, PatState.ACQUIRE if inp.target_visible else PatState.IDLE,
                         "ephemeris valid again")
        elif s == PatState.PARK:
            if inp.parked:
                self._go(t, PatState.IDLE, "parked")
        return self.state

    @property
    def tracking(self) -> bool:
        """True in COARSE_TRACK or FINE_TRACK (laser interlock input)."""
        return self.state in TRACKING_STATES


@dataclass(frozen=True)
class AcquisitionResult:
    """Outcome of :func:`simulate_acquisition`."""

    reached_fine: bool
    time_to_detect_s: float        #: ACQUIRE start -> first coarse detection [s]
    time_to_fine_s: float          #: ACQUIRE start -> FINE_TRACK [s] (inf if never)
    error_at_handover_rad: float   #: pointing error when FINE_TRACK was entered [rad]
    transitions: tuple[Transition, ...]


def simulate_acquisition(open_loop_error_rad, *, scan=None, coarse_fov_rad: float = 300e-6,
                         fine_fov_rad: float = 207e-6, coarse_rate_hz: float = 10.0,
                         coarse_gain: float = 0.3, centroid_noise_rad: float = 10e-6,
                         dt_s: float = 0.01, timeout_s: float = 120.0, pat: PatConfig | None = None,
                         seed: int = 0) -> AcquisitionResult:
    """Acquisition from an open-loop pointing error to FINE_TRACK (plant-level scenario).

    The target direction is fixed in the LOS frame (the pass motion is removed by the
    ephemeris feed-forward; what remains is the open-loop error, ~2 mrad for a 1 km TLE
    error at 550 km, seed 003 §2.3).  ACQUIRE runs an
    :class:`~qsat_pat.core.control.AcquisitionScan`; the coarse camera (``coarse_rate_hz``
    frames, 1 frame latency) detects the beacon inside ``coarse_fov_rad``; COARSE_TRACK
    integrates the centroid into the coarse-stage offset (rate/acceleration-limited
    stage); the fine sensor (FOV ``fine_fov_rad``, seed 004 Table 1: 414 urad full)
    sees it once the error is small; the machine hands over to FINE_TRACK.

    Parameters
    ----------
    open_loop_error_rad : array_like (2,)
        True target direction minus the open-loop pointing [rad].
    scan : qsat_pat.core.control.ScanConfig, optional
        Default: spiral over a 2 mrad cone, 400 urad pitch, 3 mrad/s.
    """
    from qsat_pat.core.control import (
        AcquisitionScan,
        CoarseStageConfig,
        CoarseStageModel,
        ScanConfig,
        _finite_vec2,
    )

    target = _finite_vec2("open_loop_error_rad", open_loop_error_rad)
    scan_cfg = scan or ScanConfig(pattern="spiral", cone_radius_rad=2e-3, step_rad=400e-6,
                                  speed_radps=3e-3)
    sc = AcquisitionScan(scan_cfg)
    stage = CoarseStageModel(CoarseStageConfig(stage="body", max_rate_radps=0.05, max_acc_radps2=0.5,
                                               position_gain_per_s=20.0, axis1_min_rad=-1.0,
                                               axis1_max_rad=1.0, axis2_min_rad=-1.0,
                                               axis2_max_rad=1.0), (0.0, 0.0))
    m = PatStateMachine(pat or PatConfig(), 0.0)
    rng = np.random.default_rng(seed)
    frame_dt = 1.0 / coarse_rate_hz
    next_frame = 0.0
    pending = None
    correction = np.zeros(2)
    scan_offset = np.zeros(2)
    t_acq = t_detect = t_fine = None
    err_handover = math.nan
    coarse_det = fine_det = False
    coarse_err = math.nan
    t = 0.0
    while t < timeout_s:
        state = m.state
        if state == PatState.ACQUIRE:
            if t_acq is None:
                t_acq = t
            scan_offset = sc.offset_at(t - t_acq)
        setpoint = scan_offset + correction
        pos = stage.step(dt_s, setpoint)
        err = target - pos
        coarse_det = fine_det = False
        if t >= next_frame - 1e-12:
            next_frame += frame_dt
            # the frame taken now is processed one frame later (latency)
            if pending is not None:
                e_meas = pending
                if m.state in (PatState.COARSE_TRACK, PatState.FINE_TRACK):
                    correction = correction + coarse_gain * e_meas
            visible = float(np.hypot(*err)) < coarse_fov_rad
            pending = err + rng.normal(0.0, centroid_noise_rad, 2) if visible else None
            coarse_det = visible
            coarse_err = float(np.hypot(*err)) if visible else math.nan
        fine_det = float(np.hypot(*err)) < fine_fov_rad
        prev = m.state
        m.step(PatInputs(t_s=t, target_visible=True, at_target=True, coarse_detected=coarse_det,
                         coarse_error_rad=coarse_err if coarse_det else math.nan,
                         fine_detected=fine_det))
        if prev == PatState.ACQUIRE and m.state == PatState.COARSE_TRACK:
            correction = correction + scan_offset  # freeze the scan where the beacon was seen
            scan_offset = np.zeros(2)
            if t_detect is None and t_acq is not None:
                t_detect = t - t_acq
        if m.state == PatState.FINE_TRACK:
            t_fine = t - (t_acq or 0.0)
            err_handover = float(np.hypot(*err))
            break
        t += dt_s
    return AcquisitionResult(t_fine is not None, math.inf if t_detect is None else t_detect,
                             math.inf if t_fine is None else t_fine, err_handover, tuple(m.history))
