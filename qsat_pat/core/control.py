"""Two-stage tracking control: FSM and coarse-stage models, PID, latency handling, offload.

The fine loop closes a fast-steering mirror (FSM) on a fast camera (or a quadrant
detector); the coarse loop moves the mount (OGS) or the spacecraft body (space
terminal, ADCS attitude target).  Everything here is pure computation with time passed
in; nodes feed it centroids/ephemerides and turn its outputs into
``PointingCommand``/``ActuatorState`` messages (see :class:`PointingCommand`,
:class:`ActuatorState`, which mirror ``msg/PointingCommand.msg`` and
``msg/ActuatorState.msg`` field by field).

Sign and frame convention of the fine loop (small angles, radians):

* ``los``: direction of the received beacon relative to the coarse stage's boresight,
  in the terminal's LOS frame (x = cross-elevation / tip, y = elevation / tilt);
* ``u``: FSM deflection expressed in the same frame (after :class:`FsmCalibration`);
* the camera measures the residual ``r = los - u`` (at mid-exposure time);
* the transmitted beam points along ``u``; the fine set-point is the point-ahead
  ``pa`` (seed 004 eq. (1)-(2)), so the loop drives ``u -> los + pa`` and the camera
  residual to ``-pa``.  The point-ahead enters the set-point only (seed 004 §2.3:
  "we only modify the closed-loop point of the fine tracking").

References
----------
seed 003 §2.3 (Vector OGS: open loop ~400 urad -> coarse ~50 urad -> fine < 7 urad RMS,
580 Hz FSM); seed 004 §2.2, Table 1 (Micius uplink: 1 kHz fine camera, PI S-330 FSM,
250 urad range, two-stage PID, < 3 urad); seed 002 §II.3 (FSM calibration from a large
known deflection, excess handed to the mount), §IV (camera latency -> over-correction);
seed 001 §3, §4.5 (NanoBob: ADCS 50 urad, quadrant detector, 13.7 mrad/s OGS slew,
12.6 mrad/s satellite slew at 550 km).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm
from scipy.special import erf, erfinv

from qsat_pat.core._checks import _clip, _finite, _finite_vec2
from qsat_pat.core.constants import C_MPS, MU_EARTH_M3PS2  # noqa: F401 (MU re-exported)
from qsat_pat.core.constants import EARTH_MEAN_RADIUS_M as R_EARTH_M  # noqa: F401 (re-exported)
from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.frames import (  # noqa: F401 (re-exported: importers of core.control)
    BORESIGHT_BODY,
    body_tangent_axes,
    body_tangent_coords,
    lvlh_axes,
    lvlh_az_el,
    lvlh_direction,
    tracked_direction,
)
from qsat_pat.core.params import ConfigBase, param


# --------------------------------------------------------------------------------------
# Message-shaped dataclasses
# --------------------------------------------------------------------------------------
class Stage(enum.IntEnum):
    """Pointing stage, values of ``PointingCommand.STAGE_*``."""

    FSM = 0
    MOUNT = 1
    BODY = 2


class Mode(enum.IntEnum):
    """Command mode, values of ``PointingCommand.MODE_*``."""

    POSITION = 0
    RATE = 1
    HOLD = 2
    PARK = 3


@dataclass(frozen=True)
class PointingCommand:
    """A command to one stage; fields as ``msg/PointingCommand.msg``.

    Construction validates: every number finite (else :class:`ControlError`), so a NaN
    can never be carried to a driver.  Range checks against a stage's limits are done
    by :func:`qsat_pat.core.safety.validate_command`.

    Attributes
    ----------
    t_s : float
        Time the set-point applies to [s] (``header.stamp``).
    stage : Stage
    mode : Mode
    axis1_rad, axis2_rad : float
        FSM tip/tilt, mount az/el, or body az/el target [rad].
    axis1_rate_radps, axis2_rate_radps : float
        Rate feed-forward (POSITION) or the command (RATE) [rad/s].
    reason : str
        Why this command (for logs).
    """

    t_s: float
    stage: Stage
    mode: Mode
    axis1_rad: float = 0.0
    axis2_rad: float = 0.0
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        for f in ("t_s", "axis1_rad", "axis2_rad", "axis1_rate_radps", "axis2_rate_radps"):
            object.__setattr__(self, f, _finite(f"PointingCommand.{f}", getattr(self, f)))
        try:
            object.__setattr__(self, "stage", Stage(int(self.stage)))
            object.__setattr__(self, "mode", Mode(int(self.mode)))
        except ValueError as exc:
            raise ControlError(f"PointingCommand has an unknown stage/mode: {exc}") from None

    @property
    def position_rad(self) -> np.ndarray:
        """(axis1, axis2) [rad], shape (2,)."""
        return np.array([self.axis1_rad, self.axis2_rad])

    @property
    def rate_radps(self) -> np.ndarray:
        """(axis1, axis2) rates [rad/s], shape (2,)."""
        return np.array([self.axis1_rate_radps, self.axis2_rate_radps])


@dataclass(frozen=True)
class ActuatorState:
    """What a stage actually does; fields as ``msg/ActuatorState.msg``."""

    t_s: float
    stage: Stage
    mode: Mode
    axis1_rad: float
    axis2_rad: float
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    at_limit: bool = False
    holding: bool = False
    fault: bool = False
    fault_reason: str = ""
    command_age_s: float = 0.0


# --------------------------------------------------------------------------------------
# FSM model and calibration
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FsmConfig(ConfigBase):
    """Fast-steering mirror: range and second-order dynamics (seed 004 Table 1, seed 003 §2.3)."""

    range_rad: float = param(250e-6, "mechanical range per axis (+-), PI S-330 class", unit="rad",
                             min_value=1e-6, max_value=0.1)
    bandwidth_hz: float = param(580.0, "natural frequency of the 2nd-order mirror response",
                                unit="Hz", min_value=1.0, max_value=2e4)
    damping: float = param(0.7, "damping ratio of the 2nd-order response", min_value=0.05,
                           max_value=5.0)


class FsmModel:
    """Two-axis FSM plant: command clamp to +-range, then a 2nd-order low-pass per axis.

    The continuous model ``p'' = wn^2 (u - p) - 2 zeta wn p'`` is discretised exactly for a
    zero-order-hold command (matrix exponential), so it is stable for any step ``dt_s``.

    Parameters
    ----------
    config : FsmConfig
    """

    def __init__(self, config: FsmConfig | None = None) -> None:
        self.config = config or FsmConfig()
        self._cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.position_rad = np.zeros(2)
        self.rate_radps = np.zeros(2)
        self.at_limit = False

    def _discrete(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        key = round(dt_s, 12)
        if key not in self._cache:
            wn = 2 * math.pi * self.config.bandwidth_hz
            z = self.config.damping
            a = np.array([[0.0, 1.0, 0.0], [-wn * wn, -2 * z * wn, wn * wn], [0.0, 0.0, 0.0]])
            m = expm(a * dt_s)
            self._cache[key] = (m[:2, :2].copy(), m[:2, 2].copy())
        return self._cache[key]

    def clamp(self, command_rad) -> tuple[np.ndarray, bool]:
        """Command limited to the range; returns (clamped (2,), at_limit)."""
        u = _finite_vec2("FSM command", command_rad)
        r = self.config.range_rad
        c = _clip(u, -r, r)
        return c, bool(abs(u[0]) >= r or abs(u[1]) >= r)

    def step(self, command_rad, dt_s: float) -> np.ndarray:
        """Advance by ``dt_s`` [s] holding ``command_rad`` (2,); return the mirror position [rad]."""
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise ControlError(f"FSM step dt_s = {dt_s!r} must be finite and > 0")
        u, self.at_limit = self.clamp(command_rad)
        ad, bd = self._discrete(float(dt_s))
        p = ad[0, 0] * self.position_rad + ad[0, 1] * self.rate_radps + bd[0] * u
        v = ad[1, 0] * self.position_rad + ad[1, 1] * self.rate_radps + bd[1] * u
        self.position_rad, self.rate_radps = p, v
        return p.copy()

    def reset(self, position_rad=(0.0, 0.0)) -> None:
        """Put the mirror at rest at ``position_rad``."""
        self.position_rad = _finite_vec2("FSM position", position_rad).copy()
        self.rate_radps = np.zeros(2)


@dataclass(frozen=True)
class FsmCalibration:
    """Affine map between FSM tip/tilt [rad] and camera pixels.

    ``px = matrix_px_per_rad @ angle_rad + offset_px``.  The 2x2 matrix holds scale and
    rotation (and any shear); seed 002 §II.3 reduces it to one scalar (a lever arm from
    one large known deflection); this is the general fit.
    """

    matrix_px_per_rad: np.ndarray
    offset_px: np.ndarray
    residual_rms_px: float

    @property
    def scale_px_per_rad(self) -> tuple[float, float]:
        """Singular values of the matrix (the two axis scales) [px/rad]."""
        s = np.linalg.svd(self.matrix_px_per_rad, compute_uv=False)
        return float(s[0]), float(s[1])

    @property
    def rotation_rad(self) -> float:
        """Rotation of the FSM axes on the camera (polar factor of the matrix) [rad]."""
        u, _, vt = np.linalg.svd(self.matrix_px_per_rad)
        r = u @ vt
        return float(math.atan2(r[1, 0], r[0, 0]))

    def px_to_rad(self, delta_px) -> np.ndarray:
        """FSM angle change (2,) [rad] that moves the spot by ``delta_px`` (2,) [px]."""
        d = np.asarray(delta_px, dtype=float)
        return np.linalg.solve(self.matrix_px_per_rad, d)

    def rad_to_px(self, angle_rad) -> np.ndarray:
        """Spot displacement (2,) [px] for an FSM angle change (2,) [rad]."""
        return self.matrix_px_per_rad @ np.asarray(angle_rad, dtype=float)


def fit_fsm_calibration(commanded_rad, measured_px) -> FsmCalibration:
    """Fit the pixel <- FSM tip/tilt map from commanded deflections (least squares).

    Parameters
    ----------
    commanded_rad : array_like, shape (N, 2)
        Commanded (tip, tilt) [rad]; at least 3 non-collinear points, ideally large
        deflections (seed 002 §II.3 uses one "large known angle").
    measured_px : array_like, shape (N, 2)
        Spot centroids (x, y) [px] measured at each deflection.

    Returns
    -------
    FsmCalibration

    Raises
    ------
    ControlError
        Shapes differ, fewer than 3 points, non-finite values, or the deflections do not
        span both axes (rank-deficient: command a pattern such as a square or a cross).

    References
    ----------
    seed 002 §II.3 (calibration of the pixel/angle relation by a known deflection).
    """
    a = np.asarray(commanded_rad, dtype=float)
    b = np.asarray(measured_px, dtype=float)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape != b.shape:
        raise ControlError(
            f"calibration needs commanded_rad and measured_px of the same shape (N, 2); got "
            f"{a.shape} and {b.shape}")
    if a.shape[0] < 3:
        raise ControlError(f"calibration needs >= 3 deflections, got {a.shape[0]}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ControlError("calibration data contain NaN/inf; drop frames without a detection")
    design = np.hstack([a, np.ones((a.shape[0], 1))])
    if np.linalg.matrix_rank(design) < 3:
        raise ControlError("commanded deflections do not span both FSM axes; command a square or cross")
    sol, *_ = np.linalg.lstsq(design, b, rcond=None)
    matrix = sol[:2].T
    offset = sol[2]
    resid = b - design @ sol
    rms = float(np.sqrt(np.mean(np.sum(resid * resid, axis=1))))
    return FsmCalibration(matrix, offset, rms)


# --------------------------------------------------------------------------------------
# PID
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Fine loop with latency compensation
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Coarse stage (mount or spacecraft body) and FSM offload
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoarseStageConfig(ConfigBase):
    """Mount (az/el) or spacecraft body (ADCS target) as the coarse stage."""

    stage: str = param("mount", "which coarse stage", choices=("mount", "body"))
    max_rate_radps: float = param(0.2, "rate limit per axis", unit="rad/s", min_value=1e-4,
                                  max_value=10.0)
    max_acc_radps2: float = param(0.2, "acceleration limit per axis", unit="rad/s^2",
                                  min_value=1e-4, max_value=100.0)
    position_gain_per_s: float = param(5.0, "servo position-loop gain (bandwidth)", unit="1/s",
                                       min_value=0.01, max_value=1000.0)
    axis1_min_rad: float = param(-4.71238898, "axis 1 (azimuth) lower limit", unit="rad",
                                 min_value=-10.0, max_value=10.0)
    axis1_max_rad: float = param(4.71238898, "axis 1 (azimuth) upper limit", unit="rad",
                                 min_value=-10.0, max_value=10.0)
    axis2_min_rad: float = param(-0.0872664626, "axis 2 (elevation) lower limit", unit="rad",
                                 min_value=-1.6, max_value=1.6)
    axis2_max_rad: float = param(1.65806279, "axis 2 (elevation) upper limit", unit="rad",
                                 min_value=-1.6, max_value=1.7)

    def check(self) -> None:
        if self.axis1_min_rad >= self.axis1_max_rad or self.axis2_min_rad >= self.axis2_max_rad:
            raise ConfigError("CoarseStageConfig: axis*_min_rad must be < axis*_max_rad")


def wrap_pi(angle_rad):
    """Angle(s) wrapped to [-pi, pi) [rad]."""
    return (np.asarray(angle_rad, dtype=float) + math.pi) % (2 * math.pi) - math.pi


class CoarseStageModel:
    """Rate- and acceleration-limited servo of a mount or body, with rate feed-forward.

    Rate demand per axis: ``ff_rate + k_pos * (cmd - pos)`` (azimuth error wrapped),
    limited to ``max_rate`` and to a change of ``max_acc * dt`` per step.

    Parameters
    ----------
    config : CoarseStageConfig
    position_rad : array_like (2,)
        Initial (axis1, axis2) [rad].
    """

    def __init__(self, config: CoarseStageConfig | None = None, position_rad=(0.0, 0.5)) -> None:
        self.config = config or CoarseStageConfig()
        self.position_rad = _finite_vec2("coarse stage position", position_rad).copy()
        self.rate_radps = np.zeros(2)
        self.at_limit = False

    def step(self, dt_s: float, command_rad, rate_ff_radps=(0.0, 0.0)) -> np.ndarray:
        """Advance ``dt_s`` [s] toward ``command_rad`` (2,) with feed-forward; return position."""
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise ControlError(f"coarse stage dt_s = {dt_s!r} must be finite and > 0")
        cmd = _finite_vec2("coarse command", command_rad)
        ff = _finite_vec2("coarse rate feed-forward", rate_ff_radps)
        c = self.config
        err = cmd - self.position_rad
        err[0] = float(wrap_pi(err[0])) if c.stage == "mount" else err[0]
        want = ff + c.position_gain_per_s * err
        vmax, amax = c.max_rate_radps, c.max_acc_radps2
        want_c = _clip(want, -vmax, vmax)
        dv = _clip(want_c - self.rate_radps, -amax * dt_s, amax * dt_s)
        new_rate = self.rate_radps + dv
        self.at_limit = bool(abs(want[0]) > vmax or abs(want[1]) > vmax
                             or abs(dv[0]) >= amax * dt_s or abs(dv[1]) >= amax * dt_s)
        self.position_rad = self.position_rad + 0.5 * (self.rate_radps + new_rate) * dt_s
        self.rate_radps = new_rate
        lo = np.array([c.axis1_min_rad, c.axis2_min_rad])
        hi = np.array([c.axis1_max_rad, c.axis2_max_rad])
        p = self.position_rad
        if p[0] < lo[0] or p[1] < lo[1] or p[0] > hi[0] or p[1] > hi[1]:
            self.position_rad = _clip(self.position_rad, lo, hi)
            self.rate_radps = np.where((self.position_rad <= lo) | (self.position_rad >= hi), 0.0,
                                       self.rate_radps)
            self.at_limit = True
        return self.position_rad.copy()


@dataclass(frozen=True)
class OffloadConfig(ConfigBase):
    """FSM -> coarse-stage offload (seed 002 §II.3: hand the excess to the mount)."""

    engage_fraction: float = param(0.4, "engage when |mean FSM deflection| exceeds this fraction "
                                   "of the range", min_value=0.0, max_value=1.0)
    release_fraction: float = param(0.05, "release when it falls below this fraction",
                                    min_value=0.0, max_value=1.0)
    mean_time_constant_s: float = param(0.2, "time constant of the mean-deflection filter",
                                        unit="s", min_value=1e-3, max_value=100.0)
    gain_per_s: float = param(4.0, "offload rate per unit mean deflection when engaged",
                              unit="1/s", min_value=0.0, max_value=1000.0)
    continuous_gain_per_s: float = param(0.5, "offload rate gain always applied (slow centring)",
                                         unit="1/s", min_value=0.0, max_value=1000.0)
    max_offload_rate_radps: float = param(5e-3, "limit of the offload rate", unit="rad/s", min_value=0.0,
                                          max_value=1.0)

    def check(self) -> None:
        if self.release_fraction > self.engage_fraction:
            raise ConfigError("OffloadConfig.release_fraction must be <= engage_fraction (hysteresis)")


class FsmOffload:
    """Hands the FSM's mean deflection over to the coarse stage (LOS frame rates).

    Output is a rate [rad/s] in the LOS frame (x cross-elevation, y elevation) to add to
    the coarse stage; :func:`los_to_mount_rate` turns it into az/el rates.
    """

    def __init__(self, config: OffloadConfig | None = None, fsm: FsmConfig | None = None) -> None:
        self.config = config or OffloadConfig()
        self.fsm_config = fsm or FsmConfig()
        self.mean_rad = np.zeros(2)
        self.engaged = False

    def step(self, fsm_position_rad, dt_s: float) -> np.ndarray:
        """Update with the mirror position (2,) [rad]; return the offload rate (2,) [rad/s]."""
        p = _finite_vec2("FSM position", fsm_position_rad)
        c = self.config
        a = dt_s / (c.mean_time_constant_s + dt_s)
        self.mean_rad = self.mean_rad + a * (p - self.mean_rad)
        level = max(abs(self.mean_rad[0]), abs(self.mean_rad[1])) / self.fsm_config.range_rad
        if not self.engaged and level > c.engage_fraction:
            self.engaged = True
        elif self.engaged and level < c.release_fraction:
            self.engaged = False
        gain = c.continuous_gain_per_s + (c.gain_per_s if self.engaged else 0.0)
        return _clip(gain * self.mean_rad, -c.max_offload_rate_radps, c.max_offload_rate_radps)


def los_to_mount_rate(los_rate_radps, el_rad: float, min_cos_el: float = 0.05) -> np.ndarray:
    """LOS-frame rate (cross-el, el) -> mount (az, el) rate; az divided by cos(el).

    References
    ----------
    seed 004 eq. (3)-(4) (an azimuth change seen on the camera scales with cos(el)).
    """
    v = _finite_vec2("LOS rate", los_rate_radps)
    return np.array([v[0] / max(math.cos(el_rad), min_cos_el), v[1]])


def point_ahead_rad(az_rate_radps: float, el_rate_radps: float, el_rad: float,
                    range_m: float) -> np.ndarray:
    """Point-ahead in the LOS frame (cross-el, el) [rad].

    ``alpha_PA = 2 l/c d(alpha)/dt``, ``beta_PA = 2 l/c d(beta)/dt`` (seed 004 eq. (1)-(2)),
    with the azimuth component scaled by cos(el) onto the camera (seed 004 eq. (3)).
    """
    k = 2.0 * _finite("range_m", range_m) / C_MPS
    return np.array([k * az_rate_radps * math.cos(el_rad), k * el_rate_radps])


# --------------------------------------------------------------------------------------
# Acquisition scans
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanConfig(ConfigBase):
    """Acquisition scan over the open-loop uncertainty cone."""

    pattern: str = param("spiral", "scan pattern", choices=("spiral", "raster"))
    cone_radius_rad: float = param(2e-3, "half-angle to cover (TLE ~1 km / 550 km ~ 2 mrad)",
                                   unit="rad", min_value=1e-6, max_value=0.2)
    step_rad: float = param(300e-6, "spacing of spiral turns / raster lines (< sensor FOV)",
                            unit="rad", min_value=1e-7, max_value=0.1)
    speed_radps: float = param(5e-3, "scan speed along the path", unit="rad/s", min_value=1e-6,
                               max_value=1.0)


class AcquisitionScan:
    """Spiral (Archimedean, constant path speed) or raster scan offsets, repeating.

    ``offset_at(t)`` gives the (cross-el, el) offset [rad] to add to the open-loop pointing
    ``t`` seconds after the scan started.  The spiral ``r = step * phi / (2 pi)`` covers the
    cone with turns ``step_rad`` apart (seed 003 §2.3: open-loop error up to ~1.8 mrad).
    """

    def __init__(self, config: ScanConfig | None = None) -> None:
        self.config = config or ScanConfig()
        c = self.config
        if c.step_rad > c.cone_radius_rad:
            raise ConfigError("ScanConfig.step_rad must be <= cone_radius_rad")
        b = c.step_rad / (2 * math.pi)
        phi_max = (c.cone_radius_rad + 0.5 * c.step_rad) / b  # last turn half a step outside
        # arc length of r = b*phi from 0 to phi_max
        self._b = b
        self._phi_max = phi_max
        self.period_s = self._spiral_len(phi_max) / c.speed_radps if c.pattern == "spiral" else (
            self._raster_len() / c.speed_radps)

    def _spiral_len(self, phi: float) -> float:
        b = self._b
        return 0.5 * b * (phi * math.sqrt(1 + phi * phi) + math.asinh(phi))

    def _raster_len(self) -> float:
        c = self.config
        n = int(math.floor(2 * c.cone_radius_rad / c.step_rad)) + 1
        return n * 2 * c.cone_radius_rad + (n - 1) * c.step_rad

    def offset_at(self, t_s: float) -> np.ndarray:
        """Scan offset (2,) [rad] at ``t_s`` seconds into the scan (repeats after ``period_s``)."""
        t = _finite("scan t_s", t_s)
        if t < 0:
            raise ControlError(f"scan time {t} s is negative")
        c = self.config
        s = (t % self.period_s) * c.speed_radps
        if c.pattern == "spiral":
            # invert arc length: s ~ b/2 phi^2 for large phi; Newton from there
            phi = math.sqrt(2 * s / self._b) if s > 0 else 0.0
            for _ in range(4):
                f = self._spiral_len(phi) - s
                phi -= f / (self._b * math.sqrt(1 + phi * phi))
                phi = max(phi, 0.0)
            r = self._b * phi
            return np.array([r * math.cos(phi), r * math.sin(phi)])
        r = c.cone_radius_rad
        line = 2 * r + c.step_rad
        k = int(s // line)
        rem = s - k * line
        y = -r + k * c.step_rad
        if rem <= 2 * r:
            x = -r + rem if k % 2 == 0 else r - rem
        else:
            x = r if k % 2 == 0 else -r
            y += rem - 2 * r
        return np.array([x, min(y, r)])


# --------------------------------------------------------------------------------------
# Quadrant detector (space terminal fine sensor)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuadrantDetectorConfig(ConfigBase):
    """Quadrant detector with a Gaussian spot (NanoBob beacon receiver, seed 001 §3, §4.6)."""

    spot_sigma_rad: float = param(100e-6, "1-sigma angular size of the defocused spot", unit="rad",
                                  min_value=1e-7, max_value=0.1)
    fov_rad: float = param(4.5e-3, "half field of view (9 mrad full, seed 001 §3)", unit="rad",
                           min_value=1e-6, max_value=0.5)
    noise_e: float = param(30.0, "rms noise per quadrant", unit="e-", min_value=0.0, max_value=1e9)


class QuadrantDetector:
    """Quadrant signals of a separable Gaussian spot and their exact inversion.

    With spot centre ``(x0, y0)`` and width sigma, the normalised differences are
    ``sx = ((A+D)-(B+C))/sum = erf(x0 / (sqrt(2) sigma))`` (same for y), so
    ``x0 = sqrt(2) sigma erfinv(sx)``.  Quadrants: A (+x,+y), B (-x,+y), C (-x,-y), D (+x,-y).
    """

    def __init__(self, config: QuadrantDetectorConfig | None = None) -> None:
        self.config = config or QuadrantDetectorConfig()

    def signals(self, offset_rad, signal_e: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Photo-electrons in (A, B, C, D) for a spot at ``offset_rad`` (2,); noise if ``rng``."""
        x0, y0 = _finite_vec2("spot offset", offset_rad)
        s = math.sqrt(2) * self.config.spot_sigma_rad
        px = 0.5 * (1 + erf(x0 / s))
        py = 0.5 * (1 + erf(y0 / s))
        q = signal_e * np.array([px * py, (1 - px) * py, (1 - px) * (1 - py), px * (1 - py)])
        if abs(x0) > self.config.fov_rad or abs(y0) > self.config.fov_rad:
            q = np.zeros(4)
        if rng is not None and self.config.noise_e > 0:
            q = q + rng.normal(0.0, self.config.noise_e, 4)
        return q

    def estimate(self, quadrants_e) -> np.ndarray | None:
        """Spot offset (2,) [rad] from (A, B, C, D), or None if the total is not positive."""
        a, b, c, d = np.asarray(quadrants_e, dtype=float)
        total = a + b + c + d
        if not (math.isfinite(total) and total > 0):
            return None
        sx = np.clip(((a + d) - (b + c)) / total, -0.999999, 0.999999)
        sy = np.clip(((a + b) - (c + d)) / total, -0.999999, 0.999999)
        s = math.sqrt(2) * self.config.spot_sigma_rad
        return np.array([s * erfinv(sx), s * erfinv(sy)])


# --------------------------------------------------------------------------------------
# Space terminal coarse stage: spacecraft body pointing in the LVLH frame (adcs_pointing)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyTarget:
    """Where the spacecraft boresight must point to see (and illuminate) the ground station.

    Angles in the LVLH frame of :func:`lvlh_axes` [rad], rates relative to it [rad/s].
    With point-ahead, ``az_rad``/``el_rad`` are the downlink *transmit* direction
    ``u + (v_site - v_sat)_perp / c`` (geometric line of sight plus the one-way light-time
    and aberration correction); the beacon from the station then appears at
    ``u - (v_site - v_sat)_perp / c``, so transmit minus received is the full
    point-ahead ``2 (v_site - v_sat)_perp / c`` (seed 004 §2.1), ``point_ahead_rad``.
    ``transmit_offset_az_rad``/``transmit_offset_el_rad``: transmit direction minus
    geometric line of sight (half the point-ahead), given also when the target is the
    geometric line of sight (point-ahead then carried by a fine stage).
    """

    az_rad: float
    el_rad: float
    az_rate_radps: float
    el_rate_radps: float
    transmit_offset_az_rad: float
    transmit_offset_el_rad: float
    point_ahead_rad: float
    range_m: float
    off_nadir_rad: float
    slew_rate_radps: float


def body_target_from_states(r_sat_m, v_sat_mps, r_site_m, v_site_mps, *,
                            point_ahead: bool = True) -> BodyTarget:
    """Boresight target (LVLH angles and rates) of the satellite towards a ground station.

    The line of sight is ``u = (r_site - r_sat)/|.|``; its inertial rate
    ``du/dt = (d_dot - (u.d_dot) u)/|d|``; the rates returned are relative to the
    rotating LVLH frame (the body slew: ~12.6 mrad/s at the closest approach of a
    550 km overhead pass, NanoBob §4.5).  With ``point_ahead`` the target is the
    transmit direction ``u + (v_site - v_sat)_perp / c`` in the satellite's frame (the
    station moves during the light time, the transmitter moves: aberration); it lies
    half the point-ahead ``2 (v_site - v_sat)_perp / c`` (seed 004 §2.1, the vector of
    :func:`qsat_pat.core.pointahead.space_point_ahead`) from the geometric line of sight
    and the full point-ahead from the beacon's apparent direction.

    Parameters
    ----------
    r_sat_m, v_sat_mps, r_site_m, v_site_mps : array_like (3,)
        Inertial (TEME) states of the satellite and the station [m], [m/s].
    point_ahead : bool
        Add the downlink point-ahead to the target.

    Returns
    -------
    BodyTarget

    Raises
    ------
    ControlError
        Non-finite input, coincident positions or a degenerate orbit state.

    References
    ----------
    seed 001 (NanoBob) §4.5 (12.6 mrad/s satellite slew, point-ahead ~25-50 urad at
    550 km); seed 004 §2.1 (point-ahead of the downlink).
    """
    r_sat = np.asarray(r_sat_m, dtype=float).reshape(3)
    v_sat = np.asarray(v_sat_mps, dtype=float).reshape(3)
    r_site = np.asarray(r_site_m, dtype=float).reshape(3)
    v_site = np.asarray(v_site_mps, dtype=float).reshape(3)
    if not all(np.all(np.isfinite(x)) for x in (r_sat, v_sat, r_site, v_site)):
        raise ControlError("body_target_from_states needs finite states; drop this sample and hold")
    d = r_site - r_sat
    dn = float(np.linalg.norm(d))
    if dn <= 0.0:
        raise ControlError("satellite and station positions coincide")
    u = d / dn
    d_dot = v_site - v_sat
    u_dot = (d_dot - float(np.dot(u, d_dot)) * u) / dn
    az0, el0, az_rate, el_rate = lvlh_az_el(u, r_sat, v_sat, u_dot)
    pa_vec = 2.0 * (d_dot - float(np.dot(u, d_dot)) * u) / C_MPS
    az_tx, el_tx, _, _ = lvlh_az_el(u + 0.5 * pa_vec, r_sat, v_sat)
    az, el = (az_tx, el_tx) if point_ahead else (az0, el0)
    off_nadir = math.acos(max(-1.0, min(1.0, float(np.dot(u, -r_sat / np.linalg.norm(r_sat))))))
    slew = math.hypot(az_rate * math.cos(el0), el_rate)
    return BodyTarget(az, el, az_rate, el_rate, float(wrap_pi(az_tx - az0)), el_tx - el0,
                      float(np.linalg.norm(pa_vec)), dn, off_nadir, slew)


def boresight_from_attitude(quaternion_wxyz, r_m, v_mps, body_rate_radps=None,
                            boresight_body=BORESIGHT_BODY) -> tuple[float, float, float, float]:
    """Where the body actually points: LVLH angles (and rates) of the terminal boresight.

    Parameters
    ----------
    quaternion_wxyz : array_like (4,)
        Rotation body -> inertial (w, x, y, z), as ``AdcsState.attitude``; must be a unit
        quaternion within 1e-3.
    r_m, v_mps : array_like (3,)
        Satellite inertial state in the same inertial frame as the attitude.
    body_rate_radps : array_like (3,), optional
        Body angular velocity w.r.t. inertial, body axes [rad/s] (``AdcsState.body_rate_radps``).
    boresight_body : array_like (3,)
        Terminal boresight in body axes (default body +z).

    Returns
    -------
    az_rad, el_rad, az_rate_radps, el_rate_radps : float

    Raises
    ------
    ControlError
        Non-finite or non-unit quaternion, non-finite rate.
    """
    from transforms3d.quaternions import quat2mat

    q = np.asarray(quaternion_wxyz, dtype=float).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise ControlError(f"attitude quaternion {q.tolist()} must be 4 finite numbers (w, x, y, z)")
    nq = float(np.linalg.norm(q))
    if abs(nq - 1.0) > 1e-3:
        raise ControlError(f"attitude quaternion norm {nq:.6f} is not 1; the ADCS state is corrupt")
    rot = quat2mat(q / nq)  # body -> inertial
    b = np.asarray(boresight_body, dtype=float).reshape(3)
    b = b / np.linalg.norm(b)
    u = rot @ b
    u_dot = None
    if body_rate_radps is not None:
        w = np.asarray(body_rate_radps, dtype=float).reshape(3)
        if not np.all(np.isfinite(w)):
            raise ControlError(f"body rate {w.tolist()} is not finite")
        u_dot = rot @ np.cross(w, b)
    return lvlh_az_el(u, r_m, v_mps, u_dot)


@dataclass(frozen=True)
class BodyPointingConfig(ConfigBase):
    """Space terminal coarse stage: body (ADCS attitude target) pointing and its interlocks."""

    point_ahead_enabled: bool = param(True, "add the downlink point-ahead to the body target (set false "
                                      "when an FSM carries it on the fine set-point)")
    sun_exclusion_rad: float = param(math.radians(45.0), "no boresight target within this angle of the Sun "
                                     "(NanoBob optics ~45 deg, seed 001 §3)", unit="rad", min_value=0.0,
                                     max_value=math.pi / 2)
    max_rate_radps: float = param(0.05, "body slew-rate limit per axis (feed-forward clipped)", unit="rad/s",
                                  min_value=1e-4, max_value=1.0)
    watchdog_period_s: float = param(1.0, "hold the last attitude when no fresh target arrives for this "
                                     "long", unit="s", min_value=1e-3, max_value=600.0)
    park_az_rad: float = param(0.0, "park (out-of-pass) boresight along-track angle (0 = nadir)", unit="rad",
                               min_value=-math.pi, max_value=math.pi)
    park_el_rad: float = param(0.0, "park boresight cross-track angle", unit="rad",
                               min_value=-math.pi / 2, max_value=math.pi / 2)


@dataclass(frozen=True)
class BodyCommandResult:
    """One :meth:`BodyPointingController.step`: the command and why it differs from the request."""

    command: PointingCommand
    sun_safe: bool       #: the target was moved out of the Sun cone
    rate_limited: bool   #: the rate feed-forward was clipped
    holding: bool        #: no fresh target: holding the last safe attitude


def sun_safe_direction(az_rad: float, el_rad: float, sun_az_rad: float, sun_el_rad: float,
                       exclusion_rad: float) -> tuple[float, float, bool]:
    """Move a boresight direction out of the Sun cone along the great circle from the Sun.

    Angles are of any az/el convention with the same pole (here LVLH, :func:`lvlh_axes`).
    A direction already ``>= exclusion_rad`` from the Sun is returned unchanged; one
    inside is pushed to the cone edge (the nearest safe direction); one exactly at the
    Sun is pushed along +el.

    Returns
    -------
    az_rad, el_rad : float
        Safe direction [rad].
    moved : bool

    References
    ----------
    seed 001 §3 (NanoBob: star tracker and telescope kept > ~45 deg from the Sun).
    """
    def vec(a, e):
        return np.array([math.cos(e) * math.sin(a), math.cos(e) * math.cos(a), math.sin(e)])

    t = vec(_finite("az_rad", az_rad), _finite("el_rad", el_rad))
    s = vec(_finite("sun_az_rad", sun_az_rad), _finite("sun_el_rad", sun_el_rad))
    cos_sep = float(np.clip(np.dot(t, s), -1.0, 1.0))
    # 1e-9 rad margin so the result passes a >= test after the round trip through angles
    margin = exclusion_rad + 1e-9
    if math.acos(cos_sep) >= exclusion_rad:
        return float(az_rad), float(el_rad), False
    perp = t - cos_sep * s
    if float(np.linalg.norm(perp)) < 1e-12:
        perp = np.array([0.0, 0.0, 1.0]) - s[2] * s
        if float(np.linalg.norm(perp)) < 1e-12:
            perp = np.array([1.0, 0.0, 0.0]) - s[0] * s
    perp /= np.linalg.norm(perp)
    out = math.cos(margin) * s + math.sin(margin) * perp
    return math.atan2(out[0], out[1]), math.asin(max(-1.0, min(1.0, out[2]))), True


class BodyPointingController:
    """Attitude targets for the space terminal's coarse stage, with safe hold and Sun exclusion.

    Each :meth:`step` takes the latest requested target (from the geometry or a
    ``PointingCommand`` STAGE_BODY of the PAT manager) or None, and returns the command
    to send to the ADCS:

    * a fresh request (age <= ``watchdog_period_s``) -> MODE_POSITION with its rates as
      feed-forward (clipped to ``max_rate_radps``), or MODE_PARK / MODE_HOLD as asked;
    * no fresh request -> MODE_HOLD at the last commanded direction (safe hold);
    * every commanded direction (also the held one, since the Sun moves) is kept
      ``>= sun_exclusion_rad`` from the Sun (:func:`sun_safe_direction`); when the Sun
      forces a change the rates are zeroed (the feed-forward would slew into the cone).

    Parameters
    ----------
    config : BodyPointingConfig
    """

    def __init__(self, config: BodyPointingConfig | None = None) -> None:
        self.config = config or BodyPointingConfig()
        c = self.config
        self.last_rad = np.array([c.park_az_rad, c.park_el_rad])
        self._request: PointingCommand | None = None
        self._request_t: float | None = None

    def request(self, cmd: PointingCommand, t_s: float) -> None:
        """Accept a requested body target received at ``t_s`` [s].

        Raises
        ------
        ControlError
            Not a STAGE_BODY command, or a POSITION/RATE target with an elevation
            outside [-pi/2, pi/2].
        """
        if not isinstance(cmd, PointingCommand) or cmd.stage != Stage.BODY:
            raise ControlError(f"adcs pointing accepts only STAGE_BODY commands, got "
                               f"{getattr(cmd, 'stage', type(cmd).__name__)!s}")
        if cmd.mode == Mode.POSITION and abs(cmd.axis2_rad) > math.pi / 2:
            raise ControlError(f"body target cross-track angle {cmd.axis2_rad:.4f} rad is outside +-pi/2")
        self._request, self._request_t = cmd, _finite("t_s", t_s)

    def request_age_s(self, t_s: float) -> float:
        """Age of the last request [s] (inf if none)."""
        return math.inf if self._request_t is None else float(t_s) - self._request_t

    def step(self, t_s: float, sun_az_rad: float | None = None, sun_el_rad: float | None = None,
             hold_reason: str = "") -> BodyCommandResult:
        """The command at ``t_s`` [s].

        Parameters
        ----------
        t_s : float
            Time [s].
        sun_az_rad, sun_el_rad : float or None
            Sun direction in LVLH angles; None: the Sun is not checked (the caller must
            then hold, see ``hold_reason``).
        hold_reason : str
            Non-empty: hold the last attitude whatever was requested, for this reason
            (e.g. the Sun direction or the orbit is unknown).
        """
        t = _finite("t_s", t_s)
        c = self.config
        req = self._request
        holding = req is None or self.request_age_s(t) > c.watchdog_period_s or bool(hold_reason)
        rates = np.zeros(2)
        limited = False
        if holding:
            mode, target = Mode.HOLD, self.last_rad.copy()
            reason = hold_reason or "no fresh target: hold last attitude"
        elif req.mode == Mode.PARK:
            mode, target, reason = Mode.PARK, np.array([c.park_az_rad, c.park_el_rad]), req.reason or "park"
        elif req.mode == Mode.HOLD:
            mode, target, reason = Mode.HOLD, self.last_rad.copy(), req.reason or "hold"
        else:
            mode, reason = Mode.POSITION, req.reason or "target"
            # extrapolate the request to now with its rates (a 10 Hz geometry feeding a faster loop)
            dt = max(0.0, t - req.t_s) if req.mode == Mode.POSITION else 0.0
            target = req.position_rad + req.rate_radps * min(dt, c.watchdog_period_s)
            rates = req.rate_radps
            clipped = _clip(rates, -c.max_rate_radps, c.max_rate_radps)
            limited = bool(np.any(clipped != rates))
            rates = clipped
        target[0] = float(wrap_pi(target[0]))
        target[1] = min(max(target[1], -math.pi / 2), math.pi / 2)
        sun_safe = False
        if sun_az_rad is not None and sun_el_rad is not None:
            az, el, sun_safe = sun_safe_direction(target[0], target[1], sun_az_rad, sun_el_rad,
                                                  c.sun_exclusion_rad)
            if sun_safe:
                target = np.array([az, el])
                rates = np.zeros(2)
                reason = f"{reason}; moved out of the Sun cone"
        self.last_rad = target.copy()
        cmd = PointingCommand(t, Stage.BODY, mode, float(target[0]), float(target[1]), float(rates[0]),
                              float(rates[1]), reason)
        return BodyCommandResult(cmd, sun_safe, limited, holding)
