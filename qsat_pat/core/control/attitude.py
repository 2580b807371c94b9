"""Space terminal coarse stage: spacecraft body pointing in the LVLH frame (``adcs_pointing``).

* :class:`BodyTarget`, :func:`body_target_from_states` -- where the boresight must point to
  see (and illuminate) the ground station: LVLH angles and rates, with the downlink
  point-ahead;
* :func:`boresight_from_attitude` -- where the body actually points, from the ADCS attitude;
* :class:`BodyPointingConfig`, :class:`BodyPointingController`, :class:`BodyCommandResult` --
  attitude targets for the ADCS with a safe hold (watchdog), a rate limit and the Sun
  exclusion (:func:`sun_safe_direction`).

The LVLH and body frames themselves are in :mod:`qsat_pat.core.frames`.

References
----------
seed 001 §3, §4.5 (NanoBob: ADCS 50 urad, telescope kept > ~45 deg from the Sun, 12.6 mrad/s
satellite slew at 550 km, point-ahead ~25-50 urad); seed 004 §2.1 (point-ahead of the
downlink).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _clip, _finite
from qsat_pat.core.constants import C_MPS
from qsat_pat.core.control.coarse_stage import wrap_pi
from qsat_pat.core.control.messages import Mode, PointingCommand, Stage
from qsat_pat.core.errors import ControlError
from qsat_pat.core.frames import BORESIGHT_BODY, lvlh_az_el
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "BodyCommandResult",
    "BodyPointingConfig",
    "BodyPointingController",
    "BodyTarget",
    "body_target_from_states",
    "boresight_from_attitude",
    "sun_safe_direction",
]


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
