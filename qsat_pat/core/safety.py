"""Safety interlocks that hold in every PAT state.

* :func:`validate_command`: NaN/inf/out-of-range commands are rejected with a
  :class:`~qsat_pat.core.errors.ControlError` naming the field, so they never reach a driver.
* :class:`PointingSafetyFilter`: every mount/body set-point it emits is outside the
  Sun-exclusion cone (default 45 deg, seed 001 §3), above the elevation mask, inside the
  axis range and within the rate limit of the previous emitted set-point (acceleration
  limit applied when it does not conflict with the Sun/mask rules, which win).
* :func:`clamp_fsm_command`: FSM range clamp.
* :class:`LaserInterlock`: laser emission allowed only when pointing is safe, there is no
  fault, and tracking has not been lost for longer than a timeout.
* :class:`CommandWatchdog`: hold when commands stop for longer than a period.

Time is passed in (seconds, any epoch) everywhere.

References
----------
seed 001 §3 (star-tracker and telescope Sun exclusion ~45 deg), §4.5 (slew rates);
seed 004 Table 1 (gimbal range az +-270 deg, el -5..95 deg; FSM range 250 urad).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.constants import J2000_JD, UNIX_EPOCH_JD
from qsat_pat.core.control import ActuatorState, Mode, PointingCommand, Stage, _clip, wrap_pi
from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.params import ConfigBase, param


@dataclass(frozen=True)
class SafetyConfig(ConfigBase):
    """Limits enforced by the interlocks."""

    sun_exclusion_rad: float = param(math.radians(45.0), "half-angle of the Sun-exclusion cone",
                                     unit="rad", min_value=0.0, max_value=math.pi / 2)
    elevation_mask_rad: float = param(math.radians(10.0), "lowest commanded elevation", unit="rad",
                                      min_value=-0.1, max_value=1.5)
    max_rate_radps: float = param(0.2, "coarse-stage rate limit per axis", unit="rad/s",
                                  min_value=1e-5, max_value=10.0)
    max_acc_radps2: float = param(0.5, "coarse-stage acceleration limit per axis", unit="rad/s^2",
                                  min_value=1e-5, max_value=100.0)
    axis1_min_rad: float = param(-math.radians(270.0), "azimuth lower limit", unit="rad",
                                 min_value=-10.0, max_value=10.0)
    axis1_max_rad: float = param(math.radians(270.0), "azimuth upper limit", unit="rad",
                                 min_value=-10.0, max_value=10.0)
    axis2_max_rad: float = param(math.radians(90.0), "elevation upper limit", unit="rad",
                                 min_value=0.0, max_value=1.7)
    fsm_range_rad: float = param(250e-6, "FSM range per axis (+-)", unit="rad", min_value=1e-7,
                                 max_value=0.1)
    tracking_lost_timeout_s: float = param(0.5, "laser inhibited when tracking has been lost "
                                           "longer than this", unit="s", min_value=0.0,
                                           max_value=600.0)
    max_period_s: float = param(1.0, "longer gaps between commands are rate-limited as this period",
                                unit="s", min_value=1e-4, max_value=60.0)

    def check(self) -> None:
        if self.axis1_min_rad >= self.axis1_max_rad:
            raise ConfigError("SafetyConfig.axis1_min_rad must be < axis1_max_rad")
        if self.elevation_mask_rad >= self.axis2_max_rad:
            raise ConfigError("SafetyConfig.elevation_mask_rad must be < axis2_max_rad")
        if self.sun_exclusion_rad + self.elevation_mask_rad > math.radians(170.0):
            raise ConfigError("SafetyConfig: Sun cone + mask leave no safe sky; reduce one of them")


def unit_vector(az_rad, el_rad) -> np.ndarray:
    """East-north-up unit vector(s) of az (from north through east) / el [rad]; shape (..., 3)."""
    az = np.asarray(az_rad, dtype=float)
    el = np.asarray(el_rad, dtype=float)
    ce = np.cos(el)
    return np.stack([ce * np.sin(az), ce * np.cos(az), np.sin(el)], axis=-1)


def angular_separation_rad(az1_rad, el1_rad, az2_rad, el2_rad):
    """Great-circle angle between two az/el directions [rad] (Vincenty's atan2 form, robust
    at 0 and pi); scalars or broadcastable arrays."""
    e1 = np.asarray(el1_rad, dtype=float)
    e2 = np.asarray(el2_rad, dtype=float)
    dl = np.asarray(az2_rad, dtype=float) - np.asarray(az1_rad, dtype=float)
    s1, c1, s2, c2 = np.sin(e1), np.cos(e1), np.sin(e2), np.cos(e2)
    num = np.hypot(c2 * np.sin(dl), c1 * s2 - s1 * c2 * np.cos(dl))
    return np.arctan2(num, s1 * s2 + c1 * c2 * np.cos(dl))


def validate_command(cmd: PointingCommand, config: SafetyConfig) -> None:
    """Reject a command outside the stage's limits with a reason.

    Finiteness is checked when the :class:`PointingCommand` is built; this adds the
    ranges: FSM within +-``fsm_range_rad``; mount/body azimuth inside the axis range,
    elevation within [mask, axis2_max]; rates within ``max_rate_radps``.

    Raises
    ------
    ControlError
        Naming the field, its value and the allowed range.
    """
    if not isinstance(cmd, PointingCommand):
        raise ControlError(f"expected a PointingCommand, got {type(cmd).__name__}")
    if cmd.mode in (Mode.HOLD, Mode.PARK):
        return
    c = config
    if cmd.stage == Stage.FSM:
        for name in ("axis1_rad", "axis2_rad"):
            v = getattr(cmd, name)
            if abs(v) > c.fsm_range_rad * (1 + 1e-9):
                raise ControlError(f"FSM {name} = {v:.3e} rad is outside +-{c.fsm_range_rad:.3e} rad")
        return
    for name in ("axis1_rate_radps", "axis2_rate_radps"):
        v = getattr(cmd, name)
        if abs(v) > c.max_rate_radps * (1 + 1e-9):
            raise ControlError(f"{cmd.stage.name} {name} = {v:.4g} rad/s exceeds the rate limit "
                               f"{c.max_rate_radps:.4g} rad/s")
    if cmd.mode == Mode.POSITION:
        if not (c.axis1_min_rad <= cmd.axis1_rad <= c.axis1_max_rad):
            raise ControlError(f"{cmd.stage.name} azimuth {cmd.axis1_rad:.4f} rad is outside "
                               f"[{c.axis1_min_rad:.4f}, {c.axis1_max_rad:.4f}] rad")
        if not (c.elevation_mask_rad - 1e-12 <= cmd.axis2_rad <= c.axis2_max_rad):
            raise ControlError(f"{cmd.stage.name} elevation {cmd.axis2_rad:.4f} rad is outside "
                               f"[mask {c.elevation_mask_rad:.4f}, {c.axis2_max_rad:.4f}] rad")


def clamp_fsm_command(tip_tilt_rad, config: SafetyConfig) -> tuple[np.ndarray, bool]:
    """FSM command clamped to +-range; returns (clamped (2,), at_limit).

    Raises
    ------
    ControlError
        Non-finite input (never clamp a NaN into a valid-looking number).
    """
    u = np.asarray(tip_tilt_rad, dtype=float)
    if u.shape != (2,) or not np.all(np.isfinite(u)):
        raise ControlError(f"FSM command {u.tolist()} must be 2 finite angles [rad]")
    r = config.fsm_range_rad
    return np.clip(u, -r, r), bool(np.any(np.abs(u) > r))


@dataclass(frozen=True)
class SafetyVerdict:
    """Result of filtering one coarse-stage set-point."""

    command: PointingCommand
    modified: bool
    reasons: tuple[str, ...]


class PointingSafetyFilter:
    """Makes every emitted mount/body set-point safe (Sun cone, mask, range, rate).

    Call :meth:`filter` once per control period with the requested POSITION command and
    the Sun's az/el.  The output set-point is, in order of priority:

    1. outside the Sun cone and at or above the mask (never violated);
    2. inside the axis range;
    3. at most ``max_rate * dt`` per axis from the previous emitted set-point, with the
       implied rate changing by at most ``max_acc * dt`` (relaxed only when rule 1 needs it);
       a request out of reach is approached time-optimally (braking in time, so a slew
       does not overshoot), relative to the request's own rate feed-forward.

    If the rate-limited step toward the request would enter the cone or go below the
    mask, the step is projected onto the nearest safe direction; if no safe point within
    the rate limit exists (the Sun moved onto the held position), the filter steps away
    from the Sun at the rate limit.

    Parameters
    ----------
    config : SafetyConfig
    initial_position_rad : array_like (2,)
        (az, el) the stage is known to be at [rad]; it is made safe on the first call.
    """

    def __init__(self, config: SafetyConfig | None = None, initial_position_rad=None) -> None:
        self.config = config or SafetyConfig()
        self._prev: np.ndarray | None = None
        self._prev_rate = np.zeros(2)
        self._t: float | None = None
        if initial_position_rad is not None:
            p = np.asarray(initial_position_rad, dtype=float)
            if p.shape != (2,) or not np.all(np.isfinite(p)):
                raise ControlError("initial_position_rad must be 2 finite angles [rad]")
            self._prev = p.copy()

    def is_safe(self, az_rad: float, el_rad: float, sun_az_rad: float, sun_el_rad: float,
                margin_rad: float = 0.0) -> bool:
        """True if (az, el) is above the mask and outside the Sun cone (+ margin)."""
        c = self.config
        if el_rad < c.elevation_mask_rad - 1e-12 or el_rad > c.axis2_max_rad + 1e-12:
            return False
        # cos(separation) <= cos(cone) <=> separation >= cone (scalar math: hot path)
        cos_sep = (math.sin(el_rad) * math.sin(sun_el_rad)
                   + math.cos(el_rad) * math.cos(sun_el_rad) * math.cos(az_rad - sun_az_rad))
        return cos_sep <= math.cos(c.sun_exclusion_rad + margin_rad)

    def _safe_near(self, target: np.ndarray, sun: tuple[float, float]) -> np.ndarray:
        """Nearest safe (az, el) to ``target`` among the mask clamp and cone-boundary points."""
        c = self.config
        margin = 1e-6
        s = unit_vector(*sun)
        east = np.cross([0.0, 0.0, 1.0], s)
        if np.linalg.norm(east) < 1e-9:
            east = np.array([1.0, 0.0, 0.0])
        east /= np.linalg.norm(east)
        north = np.cross(s, east)
        ang = c.sun_exclusion_rad + 10 * margin
        phi = np.linspace(0.0, 2 * math.pi, 721)[:-1, None]  # 0.5 deg along the boundary
        v = math.cos(ang) * s + math.sin(ang) * (np.cos(phi) * east + np.sin(phi) * north)
        el = np.arcsin(np.clip(v[:, 2], -1.0, 1.0))
        az = np.arctan2(v[:, 0], v[:, 1])
        # the same boundary points raised to the mask, plus the target raised to the mask
        az_c = np.concatenate([[target[0]], az, az])
        el_c = np.concatenate([[max(target[1], c.elevation_mask_rad)], el,
                               np.maximum(el, c.elevation_mask_rad)])
        az_c = target[0] + wrap_pi(az_c - target[0])
        # the candidate's azimuth within the axis range (one turn away if the nearest is not):
        # a point the azimuth clamp would move is not a safe point (seen: a boundary point at
        # 270.1 deg clamped to 270 deg landed 0.22 mrad inside the Sun cone)
        az_c = np.where(az_c > c.axis1_max_rad, az_c - 2 * math.pi, az_c)
        az_c = np.where(az_c < c.axis1_min_rad, az_c + 2 * math.pi, az_c)
        ok = (el_c >= c.elevation_mask_rad - 1e-12) & (el_c <= c.axis2_max_rad)
        ok &= (az_c >= c.axis1_min_rad) & (az_c <= c.axis1_max_rad)
        ok &= angular_separation_rad(az_c, el_c, sun[0], sun[1]) >= c.sun_exclusion_rad + margin
        if not np.any(ok):
            # cannot happen with check(): go to the anti-Sun side just above the mask
            az = target[0] + float(wrap_pi(sun[0] + math.pi - target[0]))
            return np.array([az, c.elevation_mask_rad])
        d = angular_separation_rad(az_c[ok], el_c[ok], target[0], target[1])
        i = int(np.argmin(d))
        return np.array([az_c[ok][i], el_c[ok][i]])

    def filter(self, cmd: PointingCommand, sun_az_rad: float, sun_el_rad: float) -> SafetyVerdict:
        """Safe version of ``cmd`` (MOUNT/BODY POSITION command) for the current Sun position.

        Raises
        ------
        ControlError
            Wrong stage/mode, non-finite Sun position, or time not increasing.
        """
        c = self.config
        if cmd.stage == Stage.FSM or cmd.mode != Mode.POSITION:
            raise ControlError("PointingSafetyFilter.filter takes MOUNT/BODY POSITION commands; "
                               "HOLD/PARK/FSM commands are checked by validate_command")
        if not (math.isfinite(sun_az_rad) and math.isfinite(sun_el_rad)):
            raise ControlError("Sun position is not finite; cannot check the exclusion cone")
        sun = (float(sun_az_rad), float(sun_el_rad))
        reasons: list[str] = []
        req = cmd.position_rad
        req[0] = float(np.clip(req[0], c.axis1_min_rad, c.axis1_max_rad))
        if req[1] < c.elevation_mask_rad:
            req[1] = c.elevation_mask_rad
            reasons.append("below elevation mask: clamped to the mask")
        if req[1] > c.axis2_max_rad:
            req[1] = c.axis2_max_rad
            reasons.append("above elevation limit: clamped")
        if not self.is_safe(req[0], req[1], *sun):
            req = self._safe_near(req, sun)
            reasons.append("inside the Sun-exclusion cone: moved to its boundary")
        if self._prev is None or self._t is None:
            dt = None
        else:
            dt = cmd.t_s - self._t
            if not dt > 0.0:
                raise ControlError(f"safety filter time step {dt!r} s must be > 0 (time went backwards "
                                   "or repeated); drop the command")
            if dt > c.max_period_s:  # a gap (rejected commands): limit as for one max period
                reasons.append(f"gap of {dt:.3f} s since the last command")
                dt = c.max_period_s
        if self._prev is None:
            out = req
        elif dt is None:
            out = self._limit_step(req, self._prev, c.max_period_s, sun, reasons, cmd.rate_radps)
        else:
            out = self._limit_step(req, self._prev, dt, sun, reasons, cmd.rate_radps)
        clipped = float(np.clip(out[0], c.axis1_min_rad, c.axis1_max_rad))
        if clipped != out[0]:
            out[0] = clipped
            reasons.append("azimuth clamped to the axis range")
            if not self.is_safe(out[0], out[1], *sun) and self._prev is not None:
                out = self._prev.copy()
                reasons.append("held: azimuth limit would enter the Sun cone")
        if dt is not None:
            rate = np.array([float(wrap_pi(out[0] - self._prev[0])), out[1] - self._prev[1]]) / dt
            self._prev_rate = rate
        self._prev = out.copy()
        self._t = cmd.t_s
        rate_ff = np.clip(cmd.rate_radps, -c.max_rate_radps, c.max_rate_radps)
        if reasons:
            rate_ff = self._prev_rate if dt is not None else np.zeros(2)
            rate_ff = np.clip(rate_ff, -c.max_rate_radps, c.max_rate_radps)
        modified = bool(reasons) or abs(out[0] - cmd.axis1_rad) > 1e-12 or abs(out[1] - cmd.axis2_rad) > 1e-12
        reason = cmd.reason + ("; safety: " + "; ".join(reasons) if reasons else "")
        safe = PointingCommand(cmd.t_s, cmd.stage, Mode.POSITION, out[0], out[1], rate_ff[0],
                               rate_ff[1], reason)
        return SafetyVerdict(safe, modified, tuple(reasons))

    def _braking_step(self, step: np.ndarray, dt: float, target_rate) -> np.ndarray:
        """Per-axis step towards a request that cannot be reached this period.

        Time-optimal approach under the rate and acceleration limits: the speed relative to
        the (moving) request is held to ``sqrt(2 a |e|)``, the most from which it can still
        stop on it, so a large slew decelerates in time instead of overshooting and
        oscillating about the target (clipping the step alone does not brake).
        """
        c = self.config
        a, vmax = c.max_acc_radps2, c.max_rate_radps
        vt = np.zeros(2) if target_rate is None else np.clip(np.asarray(target_rate, dtype=float), -vmax, vmax)
        e = step - vt * dt  # what would remain of the request's offset if we moved at its rate
        ae = np.abs(e)
        # relative speed from which discrete decelerations of a*dt per period stop on it:
        # u dt / 2 + u^2 / (2 a) <= |e|; and never more than closes it in this period
        u = a * dt * (np.sqrt(0.25 + 2.0 * ae / (a * dt * dt)) - 0.5)
        v_des = vt + np.sign(e) * np.minimum(u, ae / dt)
        v = np.clip(np.clip(v_des, self._prev_rate - a * dt, self._prev_rate + a * dt), -vmax, vmax)
        return v * dt

    def _limit_step(self, req, prev, dt, sun, reasons, target_rate=None) -> np.ndarray:
        c = self.config
        step = np.array([float(wrap_pi(req[0] - prev[0])), req[1] - prev[1]])
        vmax = c.max_rate_radps * dt
        lo = self._prev_rate * dt - c.max_acc_radps2 * dt * dt
        hi = self._prev_rate * dt + c.max_acc_radps2 * dt * dt
        limited = _clip(_clip(step, lo, hi), -vmax, vmax)
        # the request is taken as is only if, after it, the stage can move on with the request's
        # own rate next period (else it would arrive too fast and overshoot)
        vt = np.zeros(2) if target_rate is None else np.asarray(target_rate, dtype=float)
        arrives_too_fast = bool(np.any(np.abs(step / dt - vt) > c.max_acc_radps2 * dt * (1 + 1e-9)))
        if abs(limited[0] - step[0]) > 1e-15 or abs(limited[1] - step[1]) > 1e-15 or arrives_too_fast:
            reasons.append("rate/acceleration limited")
            limited = self._braking_step(step, dt, target_rate)
        out = prev + limited
        if self.is_safe(out[0], out[1], *sun):
            return out
        # the rate-limited step ends unsafe: try the rate-limit-only step, then a safe point
        # reachable within the rate limit, then hold if the held point is safe, else escape
        alt = prev + _clip(step, -vmax, vmax)
        if self.is_safe(alt[0], alt[1], *sun):
            reasons.append("acceleration limit relaxed to stay out of the Sun cone / above the mask")
            return alt
        near = self._safe_near(out, sun)
        d = np.array([float(wrap_pi(near[0] - prev[0])), near[1] - prev[1]])
        if np.all(np.abs(d) <= vmax * (1 + 1e-9)):
            reasons.append("stepped to the cone boundary / mask")
            return prev + d
        if self.is_safe(prev[0], prev[1], *sun):
            reasons.append("held: the way forward crosses the Sun cone or the mask")
            return prev.copy()
        d = np.clip(d, -vmax, vmax)
        esc = prev + d
        if self.is_safe(esc[0], esc[1], *sun):
            reasons.append("escaping the Sun cone at the rate limit")
            return esc
        reasons.append("jumped to the nearest safe point (Sun entered the held position)")
        return near


@dataclass(frozen=True)
class LaserDecision:
    """Laser interlock output (``PatStatus.laser_enabled`` / ``inhibit_reason``)."""

    enabled: bool
    reason: str


class LaserInterlock:
    """Laser emission allowed only when every rule says so.

    Rules (any one inhibits): fault; pointing unsafe (Sun cone / mask); not tracking for
    longer than ``tracking_lost_timeout_s`` (or never tracked); operator disable.
    """

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        self._last_tracking_t: float | None = None

    def evaluate(self, t_s: float, *, tracking: bool, pointing_safe: bool, fault: bool = False,
                 operator_enable: bool = True) -> LaserDecision:
        """Decide at time ``t_s`` [s]; call every control period."""
        if not math.isfinite(float(t_s)):
            return LaserDecision(False, "non-finite time")
        if tracking:
            self._last_tracking_t = float(t_s)
        if fault:
            return LaserDecision(False, "fault")
        if not pointing_safe:
            return LaserDecision(False, "pointing unsafe (Sun cone or elevation mask)")
        if not operator_enable:
            return LaserDecision(False, "disabled by the operator")
        if self._last_tracking_t is None:
            return LaserDecision(False, "not tracking yet")
        lost = float(t_s) - self._last_tracking_t
        if lost > self.config.tracking_lost_timeout_s:
            return LaserDecision(False, f"tracking lost for {lost:.3f} s > "
                                        f"{self.config.tracking_lost_timeout_s:.3f} s")
        return LaserDecision(True, "")


class CommandWatchdog:
    """Hold when commands stop for longer than ``period_s`` (time passed in).

    Parameters
    ----------
    period_s : float
        Largest allowed age of the last accepted command [s].
    """

    def __init__(self, period_s: float) -> None:
        p = float(period_s)
        if not (math.isfinite(p) and p > 0):
            raise ConfigError(f"watchdog period_s = {period_s!r} must be finite and > 0")
        self.period_s = p
        self._last_t: float | None = None

    def feed(self, t_s: float) -> None:
        """A command was accepted at ``t_s`` [s]."""
        self._last_t = float(t_s)

    def command_age_s(self, t_s: float) -> float:
        """Age of the last accepted command [s] (inf if none)."""
        return math.inf if self._last_t is None else float(t_s) - self._last_t

    def expired(self, t_s: float) -> bool:
        """True when the stage must hold (no command, or too old)."""
        return self.command_age_s(t_s) > self.period_s

    def state(self, t_s: float, stage: Stage, position_rad, rate_radps=(0.0, 0.0),
              mode: Mode = Mode.POSITION, at_limit: bool = False, fault_reason: str = "") -> ActuatorState:
        """An :class:`ActuatorState` with ``holding``/``command_age_s`` filled from the watchdog."""
        p = np.asarray(position_rad, dtype=float)
        v = np.asarray(rate_radps, dtype=float)
        holding = self.expired(t_s)
        age = self.command_age_s(t_s)
        return ActuatorState(float(t_s), Stage(stage), Mode.HOLD if holding else Mode(mode),
                             float(p[0]), float(p[1]), float(v[0]), float(v[1]), bool(at_limit),
                             holding, bool(fault_reason), fault_reason,
                             age if math.isfinite(age) else -1.0)


def sun_az_el_rad(t_unix_s: float, lat_rad: float, lon_rad: float) -> tuple[float, float]:
    """Low-precision apparent Sun azimuth (from north through east) and elevation [rad].

    Astronomical Almanac low-precision solar coordinates (accuracy ~0.01 deg, 1950-2050,
    no refraction), ample for a 45 deg exclusion cone; lets a mount node check the Sun
    without an ephemeris file.

    Parameters
    ----------
    t_unix_s : float
        UTC time as Unix seconds [s].
    lat_rad, lon_rad : float
        Geodetic latitude, east longitude of the station [rad].

    Raises
    ------
    ControlError
        Non-finite input.
    """
    for name, v in (("t_unix_s", t_unix_s), ("lat_rad", lat_rad), ("lon_rad", lon_rad)):
        if not math.isfinite(float(v)):
            raise ControlError(f"sun_az_el_rad: {name} = {v!r} is not finite")
    d = float(t_unix_s) / 86400.0 + UNIX_EPOCH_JD - J2000_JD  # days since J2000.0
    g = math.radians((357.528 + 0.9856003 * d) % 360.0)
    lam = math.radians((280.460 + 0.9856474 * d) % 360.0 + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    eps = math.radians(23.439 - 4e-7 * d)
    ra = math.atan2(math.cos(eps) * math.sin(lam), math.cos(lam))
    dec = math.asin(math.sin(eps) * math.sin(lam))
    gmst = math.radians((280.46061837 + 360.98564736629 * d) % 360.0)
    h = gmst + float(lon_rad) - ra
    phi = float(lat_rad)
    el = math.asin(math.sin(phi) * math.sin(dec) + math.cos(phi) * math.cos(dec) * math.cos(h))
    az = math.atan2(-math.sin(h) * math.cos(dec),
                    math.sin(dec) * math.cos(phi) - math.cos(dec) * math.sin(phi) * math.cos(h))
    return az % (2 * math.pi), el
