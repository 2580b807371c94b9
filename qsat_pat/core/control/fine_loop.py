"""Fine tracking loop: PID, the FSM loop with latency compensation, and its point-ahead set-point.

The fine loop closes a fast-steering mirror (FSM) on a fast camera (or a quadrant
detector).  Everything here is pure computation with time passed in.

* :class:`PidConfig`, :class:`Pid` -- two-axis PID with output limit, anti-windup and a
  filtered derivative;
* :class:`FineLoopConfig`, :class:`FineTrackLoop`, :class:`FineLoopOutput` -- the FSM loop
  with a Smith predictor for stale frames and the point-ahead as set-point feed-forward;
* :func:`point_ahead_rad` -- the point-ahead in the LOS frame from the angular rates.

Sign and frame convention of the fine loop (small angles, radians):

* ``los``: direction of the received beacon relative to the coarse stage's boresight,
  in the terminal's LOS frame (x = cross-elevation / tip, y = elevation / tilt);
* ``u``: FSM deflection expressed in the same frame (after
  :class:`~qsat_pat.core.control.fsm.FsmCalibration`);
* the camera measures the residual ``r = los - u`` (at mid-exposure time);
* the transmitted beam points along ``u``; the fine set-point is the point-ahead
  ``pa`` (seed 004 eq. (1)-(2)), so the loop drives ``u -> los + pa`` and the camera
  residual to ``-pa``.  The point-ahead enters the set-point only (seed 004 §2.3:
  "we only modify the closed-loop point of the fine tracking").

References
----------
seed 003 §2.3 (Vector OGS: open loop ~400 urad -> coarse ~50 urad -> fine < 7 urad RMS,
580 Hz FSM); seed 004 §2.2, Table 1 (Micius uplink: 1 kHz fine camera, PI S-330 FSM,
250 urad range, two-stage PID, < 3 urad), eq. (1)-(3) (point-ahead); seed 002 §IV (camera
latency -> over-correction).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _clip, _finite, _finite_vec2
from qsat_pat.core.constants import C_MPS
from qsat_pat.core.control.fsm import FsmConfig, FsmModel
from qsat_pat.core.errors import ControlError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["FineLoopConfig", "FineLoopOutput", "FineTrackLoop", "Pid", "PidConfig", "point_ahead_rad"]


@dataclass(frozen=True)
class PidConfig(ConfigBase):
    """Two-axis PID with output limit, anti-windup and a filtered derivative."""

    kp: float = param(0.2, "proportional gain", min_value=0.0, max_value=1e4)
    ki_per_s: float = param(400.0, "integral gain", unit="1/s", min_value=0.0, max_value=1e6)
    kd_s: float = param(0.0, "derivative gain", unit="s", min_value=0.0, max_value=10.0)
    derivative_filter_hz: float = param(100.0, "corner of the 1st-order derivative filter",
                                        unit="Hz", min_value=0.01, max_value=1e5)
    output_limit: float = param(250e-6, "output clamp per axis (+-), in the output's unit",
                                min_value=0.0, max_value=1e3)
    anti_windup: str = param("clamp", "integrator anti-windup", choices=("clamp", "none"))


class Pid:
    """Two-axis PID (parallel form) with conditional-integration anti-windup.

    ``u = kp e + ki integral(e) + kd d/dt(e)_filtered + feedforward``, clipped to
    ``+-output_limit``.  With ``anti_windup="clamp"`` the integrator is frozen on an axis
    while its output is saturated and the error pushes further into saturation.
    """

    def __init__(self, config: PidConfig | None = None) -> None:
        self.config = config or PidConfig()
        self.reset()

    def reset(self) -> None:
        """Zero the integrator and the derivative filter."""
        self.integral = np.zeros(2)
        self._prev_error: np.ndarray | None = None
        self._deriv = np.zeros(2)
        self.saturated = np.zeros(2, dtype=bool)

    def step(self, error, dt_s: float, feedforward=(0.0, 0.0)) -> np.ndarray:
        """One update; returns the clipped output (2,).

        Raises
        ------
        ControlError
            Non-finite error/feed-forward or a non-positive ``dt_s``.
        """
        e = _finite_vec2("PID error", error)
        ff = _finite_vec2("PID feed-forward", feedforward)
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise ControlError(f"PID dt_s = {dt_s!r} must be finite and > 0")
        c = self.config
        if c.kd_s > 0.0 and self._prev_error is not None:
            tau = 1.0 / (2 * math.pi * c.derivative_filter_hz)
            alpha = dt_s / (tau + dt_s)
            self._deriv = self._deriv + alpha * ((e - self._prev_error) / dt_s - self._deriv)
        self._prev_error = e
        cand = self.integral + c.ki_per_s * e * dt_s
        u_raw = c.kp * e + cand + c.kd_s * self._deriv + ff
        lim = c.output_limit
        u = _clip(u_raw, -lim, lim)
        self.saturated = np.abs(u_raw) > lim
        if c.anti_windup == "clamp":
            pushing = self.saturated & (np.sign(e) == np.sign(u_raw))
            self.integral = np.where(pushing, self.integral, _clip(cand, -lim, lim))
        else:
            self.integral = cand
        return u


@dataclass(frozen=True)
class FineLoopConfig(ConfigBase):
    """Fine tracking loop: FSM on a fast camera or a quadrant detector."""

    rate_hz: float = param(1000.0, "loop (fine camera) rate", unit="Hz", min_value=1.0, max_value=1e5)
    latency_compensation: str = param(
        "smith", "how stale measurements are handled: 'smith' reconstructs the LOS at the "
        "measurement time from the mirror history (Smith predictor); 'none' uses the raw residual",
        choices=("smith", "none"))
    predict_to_actuation: bool = param(True, "extrapolate the reconstructed LOS to the actuation "
                                       "time with its estimated rate")
    actuation_delay_s: float = param(0.0, "command-to-mirror delay added to the prediction horizon",
                                     unit="s", min_value=0.0, max_value=1.0)
    predictor_alpha: float = param(0.5, "alpha of the alpha-beta LOS predictor", min_value=0.01,
                                   max_value=1.0)
    predictor_beta: float = param(0.05, "beta of the alpha-beta LOS predictor", min_value=0.0,
                                  max_value=1.0)
    reference_feedforward: float = param(1.0, "gain of the predicted-LOS (reference) feed-forward "
                                         "in 'smith' mode; the PID then only trims model errors",
                                         min_value=0.0, max_value=1.0)
    kp: float = param(0.0, "proportional gain", min_value=0.0, max_value=100.0)
    ki_per_s: float = param(50.0, "integral gain (with the reference feed-forward the PID only "
                            "trims model errors)", unit="1/s", min_value=0.0, max_value=1e6)
    kd_s: float = param(0.0, "derivative gain", unit="s", min_value=0.0, max_value=1.0)
    derivative_filter_hz: float = param(100.0, "derivative filter corner", unit="Hz",
                                        min_value=0.01, max_value=1e5)
    history_s: float = param(0.5, "mirror-command history kept for the Smith predictor", unit="s",
                             min_value=0.01, max_value=10.0)


@dataclass(frozen=True)
class FineLoopOutput:
    """One fine-loop update."""

    command_rad: np.ndarray       #: FSM command (2,) [rad] (feedback + point-ahead), clamped
    feedback_rad: np.ndarray      #: feedback part (2,) [rad]
    error_rad: np.ndarray         #: error the PID saw (2,) [rad]
    los_estimate_rad: np.ndarray  #: LOS predicted to the actuation time (2,) [rad] (NaN if none)
    at_limit: bool                #: FSM command clamped
    measurement_used: bool


class FineTrackLoop:
    """FSM fine loop with point-ahead set-point, set-point feed-forward and latency handling.

    Structure (two-degree-of-freedom):

    * feedback part ``u_fb`` tracks the beacon LOS: with ``latency_compensation="smith"``
      the LOS at the measurement's mid-exposure time is reconstructed as
      ``los(t_meas) = r + u_model(t_meas)`` where ``u_model`` is an internal FSM model
      driven by the commands sent (Smith predictor); optionally it is extrapolated to the
      actuation time with an alpha-beta rate estimate; the PID acts on
      ``los_pred - u_fb_model(now)``, so a stale frame no longer makes the loop react to
      its own past motion (seed 002 §IV over-correction);
    * feed-forward part = point-ahead ``pa`` (seed 004 eq. (1)-(2)) added to the
      command directly (set-point feed-forward), never fed back.

    With ``latency_compensation="none"`` the PID acts on the raw residual plus the
    point-ahead, as a naive loop would.

    Parameters
    ----------
    config : FineLoopConfig
    fsm : FsmConfig
        The mirror (range for the clamp and the internal model).
    """

    def __init__(self, config: FineLoopConfig | None = None, fsm: FsmConfig | None = None) -> None:
        self.config = config or FineLoopConfig()
        self.fsm_config = fsm or FsmConfig()
        c = self.config
        self.pid = Pid(PidConfig(kp=c.kp, ki_per_s=c.ki_per_s, kd_s=c.kd_s,
                                 derivative_filter_hz=c.derivative_filter_hz,
                                 output_limit=self.fsm_config.range_rad))
        self.dt_s = 1.0 / c.rate_hz
        self.reset()

    def reset(self) -> None:
        """Forget history, integrator and predictor; mirror command back to zero."""
        self.pid.reset()
        self._model = FsmModel(self.fsm_config)
        self._hist_t: deque[float] = deque()
        self._hist_u: deque[np.ndarray] = deque()
        self._t_last: float | None = None
        self._los = np.full(2, np.nan)
        self._los_rate = np.zeros(2)
        self._los_t: float | None = None
        self.feedback_rad = np.zeros(2)
        self.command_rad = np.zeros(2)

    def _model_position_at(self, t_s: float) -> np.ndarray:
        """Internal-model mirror position at ``t_s`` (linear interpolation of the history)."""
        ts = self._hist_t
        if not ts or t_s >= ts[-1]:
            return self._model.position_rad.copy()
        if t_s <= ts[0]:
            return self._hist_u[0].copy()
        i = len(ts) - 1
        while ts[i - 1] > t_s:  # the measurement is normally a few frames old: walk back
            i -= 1
        t0, t1 = ts[i - 1], ts[i]
        w = (t_s - t0) / (t1 - t0)
        return (1 - w) * self._hist_u[i - 1] + w * self._hist_u[i]

    def step(self, t_s: float, residual_rad=None, t_meas_s: float | None = None,
             point_ahead_rad=(0.0, 0.0), los_rate_radps=None) -> FineLoopOutput:
        """One control period.

        Parameters
        ----------
        t_s : float
            Current time [s] (the command is applied now).
        residual_rad : array_like (2,) or None
            Measured ``los - u`` from the camera/quadrant detector, already converted to
            radians with :class:`FsmCalibration` [rad]; None when the frame had no detection.
        t_meas_s : float, optional
            Mid-exposure time of that measurement [s] (``BeaconCentroid.header.stamp``);
            default ``t_s`` (no latency).
        point_ahead_rad : array_like (2,)
            Fine set-point offset (point-ahead) [rad], seed 004 eq. (1)-(2).
        los_rate_radps : array_like (2,), optional
            LOS rate from an external estimator (``TrackEstimate``) used instead of the
            internal alpha-beta rate [rad/s].

        Returns
        -------
        FineLoopOutput

        Raises
        ------
        ControlError
            Non-finite inputs, or time going backwards.
        """
        t_s = _finite("fine loop t_s", t_s)
        pa = _finite_vec2("point_ahead_rad", point_ahead_rad)
        c = self.config
        if self._t_last is not None and t_s < self._t_last:
            raise ControlError(f"fine loop time went backwards ({t_s} < {self._t_last} s); reset the loop")
        dt = self.dt_s if self._t_last is None or t_s == self._t_last else t_s - self._t_last
        # advance the internal model of the mirror to now with the last command
        if self._t_last is not None and t_s > self._t_last:
            self._model.step(self.command_rad, t_s - self._t_last)
        self._t_last = t_s
        self._hist_t.append(t_s)
        self._hist_u.append(self._model.position_rad.copy())
        while self._hist_t and self._hist_t[0] < t_s - c.history_s:
            self._hist_t.popleft()
            self._hist_u.popleft()

        used = False
        error = np.zeros(2)
        los_pred = np.full(2, np.nan)
        if residual_rad is not None:
            r = _finite_vec2("residual_rad", residual_rad)
            tm = t_s if t_meas_s is None else _finite("t_meas_s", t_meas_s)
            if tm > t_s + 1e-9:
                raise ControlError(f"measurement time {tm} s is after the control time {t_s} s")
            used = True
            u_model_now = self._model.position_rad
            # the feed-forward part (point-ahead) is inside the model position: the loop drives
            # the feedback part towards the LOS, so the mirror settles on LOS + point-ahead
            ff_now = self.command_rad - self.feedback_rad
            if c.latency_compensation == "smith":
                # the LOS at t_meas is the residual plus where the mirror was (all of it,
                # point-ahead included): subtracting the point-ahead here would cancel it
                los_meas = r + self._model_position_at(tm)
                self._update_predictor(tm, los_meas, los_rate_radps)
                horizon = (t_s - tm) + c.actuation_delay_s if c.predict_to_actuation else 0.0
                los_pred = self._los + self._los_rate * horizon
                error = los_pred - (u_model_now - ff_now)
                self.feedback_rad = self.pid.step(error, dt, c.reference_feedforward * los_pred)
            else:
                error = r + pa
                los_pred = r + u_model_now - ff_now
                self.feedback_rad = self.pid.step(error, dt)
        # no measurement: hold the feedback part (coast)
        cmd = self.feedback_rad + pa
        r_lim = self.fsm_config.range_rad
        clamped = _clip(cmd, -r_lim, r_lim)
        at_limit = bool(abs(cmd[0]) >= r_lim or abs(cmd[1]) >= r_lim)
        self.command_rad = clamped
        return FineLoopOutput(clamped.copy(), self.feedback_rad.copy(), error, los_pred, at_limit, used)

    def _update_predictor(self, tm: float, los_meas: np.ndarray, los_rate_radps) -> None:
        c = self.config
        if self._los_t is None or not (math.isfinite(self._los[0]) and math.isfinite(self._los[1])):
            self._los, self._los_t = los_meas.copy(), tm
            self._los_rate = np.zeros(2)
        else:
            dt = tm - self._los_t
            if dt > 0:
                pred = self._los + self._los_rate * dt
                innov = los_meas - pred
                self._los = pred + c.predictor_alpha * innov
                self._los_rate = self._los_rate + c.predictor_beta * innov / dt
                self._los_t = tm
        if los_rate_radps is not None:
            self._los_rate = _finite_vec2("los_rate_radps", los_rate_radps)
        if not c.predict_to_actuation:
            self._los = los_meas.copy()


def point_ahead_rad(az_rate_radps: float, el_rate_radps: float, el_rad: float,
                    range_m: float) -> np.ndarray:
    """Point-ahead in the LOS frame (cross-el, el) [rad].

    ``alpha_PA = 2 l/c d(alpha)/dt``, ``beta_PA = 2 l/c d(beta)/dt`` (seed 004 eq. (1)-(2)),
    with the azimuth component scaled by cos(el) onto the camera (seed 004 eq. (3)).
    """
    k = 2.0 * _finite("range_m", range_m) / C_MPS
    return np.array([k * az_rate_radps * math.cos(el_rad), k * el_rate_radps])
