"""Satellite ephemeris seen from a ground station: TLE -> SGP4 -> apparent az/el/range.

Frames and what is neglected
----------------------------
* **TEME** (true equator, mean equinox of date): the output frame of SGP4.  Light-time,
  aberration and point-ahead are computed here, treating TEME as inertial over the
  few milliseconds involved (its precession is ~1e-12 rad/s).
* **PEF ~ ITRS** (Earth fixed): TEME rotated about z by GMST 1982 of UT1 (Vallado's
  ``teme2ecef``, the same angle skyfield uses for TEME).  UT1 = UTC + ``dut1_s`` (give
  the IERS value; with the default 0 the error is up to 0.9 s of Earth rotation, i.e.
  up to ~0.5 km along the equator).  **Polar motion is neglected** (PEF is used as
  ITRS): <= 0.5 arcsec, i.e. <= ~15 m at the satellite and <= ~30 urad on a 500 km
  line of sight, far below the ~1 km accuracy of a TLE (seed 003 §2.3).
* **ENU** topocentric frame of a WGS84 geodetic site; azimuth from north through east.

The direction reported (``az_rad``, ``el_rad``) is the **apparent** direction of the
satellite's light at the station at the reception time ``t``: the satellite is taken
at the emission time ``t - tau`` with ``|r_sat(t - tau) - r_site(t)| = c tau`` (solved
in TEME; the satellite is moved back along its orbit with a second-order Taylor step,
error < 1 mm) and the station's annual-free, diurnal aberration ``v_site / c`` is added
(first order; the second-order term is ~1e-12 rad).  ``range_m`` is ``c tau``.  Rates
are analytic from the SGP4 velocity (no finite differences).  Atmospheric refraction is
a separate correction (:func:`refraction_rad`, Bennett's formula with Saemundsson's
pressure/temperature scaling) applied only to ``el_refracted_rad`` (mount set-points).

References
----------
seed 003 §2.3 (TLE + SGP4 -> mount, open-loop error ~400 urad RMS); seed 004 §2.1
(theta_PA = 2 v_t / c) and eq. (1)-(2); Vallado et al., "Revisiting Spacetrack Report
#3" (AIAA 2006-6753) for SGP4, TEME and GMST 1982.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qsat_pat.core import pointahead
from qsat_pat.core.constants import C_MPS, J2000_JD, MU_EARTH_M3PS2, UNIX_EPOCH_JD, WGS84_A_M, WGS84_F
from qsat_pat.core.errors import EphemerisError
from qsat_pat.core.frames import apply_rows as _apply
from qsat_pat.core.frames import apply_t_rows as _apply_t
from qsat_pat.core.frames import cross_rows as _cross
from qsat_pat.core.frames import enu_rotation
from qsat_pat.core.frames import rot3 as _rot3
from qsat_pat.core.frames import unit_rows as _unit
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.core.sun import sun_position_teme_m
from qsat_pat.core.tle import (  # noqa: F401  (the TLE functions' old home: importable from here too)
    Tle,
    _check_line,
    load_tle_file,
    make_tle,
    parse_tle,
    parse_tle_text,
    select_tle,
    tle_checksum,
)

_SGP4_ERRORS = {
    1: "mean eccentricity out of range",
    2: "mean motion below zero",
    3: "perturbed eccentricity out of range",
    4: "semi-latus rectum below zero",
    6: "the satellite has decayed",
}


# ------------------------------------------------------------------------- config


@dataclass(frozen=True)
class EphemerisConfig(ConfigBase):
    """Ground site, corrections and validity limits of an :class:`Ephemeris`."""

    site_lat_deg: float = param(32.32585, "site geodetic latitude (WGS84), north positive", unit="deg",
                                min_value=-90.0, max_value=90.0)
    site_lon_deg: float = param(80.02616, "site longitude (WGS84), east positive", unit="deg",
                                min_value=-180.0, max_value=360.0)
    site_alt_m: float = param(5047.0, "site height above the WGS84 ellipsoid", unit="m",
                              min_value=-500.0, max_value=9000.0)
    min_el_deg: float = param(10.0, "elevation mask for visibility and passes", unit="deg",
                              min_value=-5.0, max_value=89.0)
    dut1_s: float = param(0.0, "UT1 - UTC from IERS Bulletin A", unit="s", min_value=-0.9, max_value=0.9)
    light_time: bool = param(True, "take the satellite at the emission time of the received light")
    aberration: bool = param(True, "add the station's diurnal aberration to the apparent direction")
    pressure_hpa: float = param(1010.0, "air pressure at the site for refraction", unit="hPa",
                                min_value=0.0, max_value=1100.0)
    temperature_c: float = param(10.0, "air temperature at the site for refraction", unit="degC",
                                 min_value=-60.0, max_value=60.0)
    point_ahead_method: str = param("default", "point-ahead model: inertial relative velocity (default), "
                                    "seed 004 eq (1)-(2) (seed004) or light-time iteration (reference)",
                                    choices=("default", "seed004", "reference"))
    hwp_reference: str = param("orbit_normal", "satellite polarisation H axis: orbit normal or velocity",
                               choices=("orbit_normal", "along_track"))
    hwp_offset_deg: float = param(0.0, "half-wave-plate angle that aligns the bases when the reference "
                                  "axes coincide", unit="deg", min_value=-180.0, max_value=180.0)
    tle_age_warn_days: float = param(3.0, "TLE age beyond which a warning is given", unit="day",
                                     min_value=0.0, max_value=365.0)
    max_tle_age_days: float = param(30.0, "refuse times further than this after the TLE epoch", unit="day",
                                    min_value=0.1, max_value=3650.0)
    max_before_epoch_days: float = param(1.0, "refuse times further than this before the TLE epoch",
                                         unit="day", min_value=0.0, max_value=3650.0)


def site_position_ecef_m(lat_rad: float, lon_rad: float, alt_m: float) -> np.ndarray:
    """WGS84 geodetic -> Earth-fixed Cartesian position [m], shape (3,)."""
    e2 = WGS84_F * (2.0 - WGS84_F)
    sl, cl = math.sin(lat_rad), math.cos(lat_rad)
    n_m = WGS84_A_M / math.sqrt(1.0 - e2 * sl * sl)
    return np.array([(n_m + alt_m) * cl * math.cos(lon_rad), (n_m + alt_m) * cl * math.sin(lon_rad),
                     (n_m * (1.0 - e2) + alt_m) * sl])


def gmst1982_rad(t_unix_s: np.ndarray, dut1_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Greenwich mean sidereal time (IAU 1982) and its rate, as used for TEME.

    Returns
    -------
    theta_rad : ndarray
        GMST angle in [0, 2 pi).
    theta_dot_radps : ndarray
        d(theta)/dt [rad/s].

    References
    ----------
    Vallado et al. 2006, ``gstime``; skyfield ``theta_GMST1982``.
    """
    t = np.asarray(t_unix_s, dtype=float) + dut1_s
    day = np.floor(t / 86400.0)
    frac = (t - day * 86400.0) / 86400.0
    tut1 = ((day + (UNIX_EPOCH_JD - J2000_JD)) + frac) / 36525.0
    # GMST in seconds of time: 67310.54841 + (876600 h + 8640184.812866 s) T + 0.093104 T^2 - 6.2e-6 T^3.
    # 876600 h * T = 86400 s * (days since J2000.0) = 86400 (whole days - 0.5 + frac): modulo one
    # day that is 86400 frac + 43200, which keeps float64 precision.
    sec = (67310.54841 + 8640184.812866 * tut1 + (0.093104 - 6.2e-6 * tut1) * tut1 * tut1
           + 86400.0 * frac + 43200.0)
    theta = (sec % 86400.0) / 86400.0 * 2.0 * math.pi
    rate_s_per_day = (876600.0 * 3600.0 + 8640184.812866 + 2 * 0.093104 * tut1 - 3 * 6.2e-6 * tut1**2) / 36525.0
    theta_dot = rate_s_per_day * (2.0 * math.pi / 86400.0) / 86400.0
    return theta % (2.0 * math.pi), theta_dot


def refraction_rad(el_rad: np.ndarray, pressure_hpa: float = 1010.0, temperature_c: float = 10.0) -> np.ndarray:
    """Atmospheric refraction to ADD to a true (airless) elevation.

    Bennett's formula as modified by Saemundsson, scaled by ``P/1010 * 283/(273+T)``;
    ~0.1 arcmin accuracy above 15 deg, a few arcmin near the horizon.  Elevations
    below -1 deg get the -1 deg value (no physical meaning there).

    Parameters
    ----------
    el_rad : array_like
        True elevation [rad].
    pressure_hpa, temperature_c : float
        Site air pressure [hPa] and temperature [degC].

    Returns
    -------
    ndarray
        Refraction [rad], >= 0.

    References
    ----------
    Saemundsson, Sky & Telescope 72, 70 (1986); Meeus, Astronomical Algorithms eq. (16.4).
    """
    h_deg = np.maximum(np.rad2deg(np.asarray(el_rad, dtype=float)), -1.0)
    r_arcmin = 1.02 / np.tan(np.deg2rad(h_deg + 10.3 / (h_deg + 5.11))) + 0.0019279
    r_arcmin = np.maximum(r_arcmin, 0.0) * (pressure_hpa / 1010.0) * (283.0 / (273.0 + temperature_c))
    return np.deg2rad(r_arcmin / 60.0)


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class EphemerisTrack:
    """Ephemeris over N times (all arrays shape (N,) unless noted).  SI units, radians."""

    t_unix_s: np.ndarray
    az_rad: np.ndarray
    el_rad: np.ndarray
    el_refracted_rad: np.ndarray
    range_m: np.ndarray
    az_rate_radps: np.ndarray
    el_rate_radps: np.ndarray
    range_rate_mps: np.ndarray
    point_ahead_az_rad: np.ndarray
    point_ahead_el_rad: np.ndarray
    point_ahead_rad: np.ndarray
    sun_separation_rad: np.ndarray
    hwp_angle_rad: np.ndarray
    visible: np.ndarray
    tle_age_s: np.ndarray
    #: apparent line-of-sight unit vector, ENU, shape (N, 3)
    los_enu: np.ndarray
    #: inertial (TEME) relative velocity satellite(emission) - station, in ENU axes [m/s], (N, 3)
    v_rel_inertial_enu_mps: np.ndarray
    #: satellite TEME position at emission [m] and velocity [m/s], (N, 3)
    r_sat_teme_m: np.ndarray
    v_sat_teme_mps: np.ndarray
    #: station TEME position [m] and velocity [m/s], (N, 3)
    r_site_teme_m: np.ndarray
    v_site_teme_mps: np.ndarray


@dataclass(frozen=True)
class EphemerisState:
    """One tick of :class:`EphemerisTrack` as plain floats (fields of msg/EphemerisState.msg)."""

    t_unix_s: float
    target: str
    tle_age_s: float
    az_rad: float
    el_rad: float
    el_refracted_rad: float
    range_m: float
    az_rate_radps: float
    el_rate_radps: float
    range_rate_mps: float
    point_ahead_az_rad: float
    point_ahead_el_rad: float
    point_ahead_rad: float
    sun_separation_rad: float
    hwp_angle_rad: float
    visible: bool


@dataclass(frozen=True)
class Pass:
    """One pass above the elevation mask (apparent elevation, no refraction)."""

    aos_unix_s: float
    tca_unix_s: float
    los_unix_s: float
    max_el_rad: float
    aos_az_rad: float
    tca_az_rad: float
    los_az_rad: float
    tca_range_m: float
    #: True if the pass was already in progress at the search start / not over at its end
    truncated: bool = False

    @property
    def duration_s(self) -> float:
        """Time above the mask [s]."""
        return self.los_unix_s - self.aos_unix_s


# ---------------------------------------------------------------------- ephemeris


class Ephemeris:
    """SGP4 ephemeris of one satellite seen from one ground site.

    Parameters
    ----------
    tle : Tle
        Validated elements (:func:`parse_tle`).
    config : EphemerisConfig
        Site, corrections and limits.

    Notes
    -----
    :meth:`track` is vectorised over time (600k samples in one call); :meth:`state_at`
    is the per-tick call of the ephemeris node and returns exactly the fields of
    ``msg/EphemerisState.msg``.
    """

    def __init__(self, tle: Tle, config: EphemerisConfig | None = None) -> None:
        if not isinstance(tle, Tle):
            raise EphemerisError(f"Ephemeris needs a Tle from parse_tle(), got {type(tle).__name__}")
        self.tle = tle
        self.config = config if config is not None else EphemerisConfig()
        cfg = self.config
        self.lat_rad = math.radians(cfg.site_lat_deg)
        self.lon_rad = math.radians(cfg.site_lon_deg)
        self.site_ecef_m = site_position_ecef_m(self.lat_rad, self.lon_rad, cfg.site_alt_m)
        self.enu_from_ecef = enu_rotation(self.lat_rad, self.lon_rad)
        self.min_el_rad = math.radians(cfg.min_el_deg)

    # -- time validation -------------------------------------------------------------
    def _times(self, t_unix_s) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t_unix_s, dtype=float))
        if t.ndim != 1:
            raise EphemerisError(f"times must be a scalar or 1-D array, got shape {t.shape}")
        if t.size == 0:
            raise EphemerisError("no times given")
        if not np.all(np.isfinite(t)):
            raise EphemerisError(f"{int(np.sum(~np.isfinite(t)))} requested time(s) are NaN or infinite")
        age_d = (t - self.tle.epoch_unix_s) / 86400.0
        if np.max(age_d) > self.config.max_tle_age_days:
            raise EphemerisError(
                f"requested time is {np.max(age_d):.1f} days after the TLE epoch of {self.tle.name}, "
                f"beyond max_tle_age_days={self.config.max_tle_age_days}: load a newer TLE"
            )
        if np.min(age_d) < -self.config.max_before_epoch_days:
            raise EphemerisError(
                f"requested time is {-np.min(age_d):.2f} days before the TLE epoch of {self.tle.name} "
                f"(max_before_epoch_days={self.config.max_before_epoch_days}): use a TLE older than the request"
            )
        return t

    def tle_age_warning(self, t_unix_s: float) -> str | None:
        """A warning text if the TLE is older than ``tle_age_warn_days`` at ``t``, else None."""
        age_d = (float(t_unix_s) - self.tle.epoch_unix_s) / 86400.0
        if age_d > self.config.tle_age_warn_days:
            return (f"TLE of {self.tle.name} is {age_d:.1f} days old (> {self.config.tle_age_warn_days} d): "
                    "open-loop pointing degrades by ~1 km/day; fetch a fresh TLE")
        return None

    # -- SGP4 ------------------------------------------------------------------------
    def propagate_teme(self, t_unix_s) -> tuple[np.ndarray, np.ndarray]:
        """SGP4 position [m] and velocity [m/s] in TEME at UTC times, shapes (N, 3).

        Raises
        ------
        EphemerisError
            Invalid times (see class notes) or an SGP4 error (e.g. decayed satellite).
        """
        t = self._times(t_unix_s)
        return self._sgp4(t)

    def _sgp4(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        day = np.floor(t / 86400.0)
        jd = day + UNIX_EPOCH_JD
        fr = (t - day * 86400.0) / 86400.0
        err, r_km, v_kmps = self.tle.satrec.sgp4_array(jd, fr)
        if np.any(err):
            code = int(err[np.nonzero(err)[0][0]])
            raise EphemerisError(
                f"SGP4 failed for {self.tle.name}: {_SGP4_ERRORS.get(code, f'error {code}')} "
                f"(at t={t[np.nonzero(err)[0][0]]:.0f} s UTC): the elements are not usable at that time"
            )
        return r_km * 1e3, v_kmps * 1e3

    def site_teme(self, t_unix_s) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Station position [m] and velocity [m/s] in TEME, the TEME->ECEF matrices and GMST rate."""
        t = np.atleast_1d(np.asarray(t_unix_s, dtype=float))
        theta, theta_dot = gmst1982_rad(t, self.config.dut1_s)
        rot = _rot3(theta)  # TEME -> ECEF
        r_site = _apply_t(rot, np.broadcast_to(self.site_ecef_m, (t.size, 3)))
        omega = np.zeros((t.size, 3))
        omega[:, 2] = theta_dot
        v_site = _cross(omega, r_site)
        return r_site, v_site, rot, theta_dot

    # -- main computation ------------------------------------------------------------
    def track(self, t_unix_s, method: str | None = None) -> EphemerisTrack:
        """Apparent az/el/range, analytic rates, point-ahead, Sun separation and HWP set-point.

        Parameters
        ----------
        t_unix_s : float or array_like, shape (N,)
            Reception times, UTC seconds since 1970-01-01.
        method : {"default", "seed004", "reference"}, optional
            Point-ahead model (default: ``config.point_ahead_method``); see
            :mod:`qsat_pat.core.pointahead`.

        Returns
        -------
        EphemerisTrack

        Raises
        ------
        EphemerisError
            NaN times, times too far from the TLE epoch, SGP4 errors, unknown method.
        """
        t = self._times(t_unix_s)
        method = self.config.point_ahead_method if method is None else method
        if method not in ("default", "seed004", "reference"):
            raise EphemerisError(f"unknown point-ahead method {method!r}; use default, seed004 or reference")
        cfg = self.config
        r_sat, v_sat = self._sgp4(t)
        r_site, v_site, rot, theta_dot = self.site_teme(t)
        n = t.size
        omega = np.zeros((n, 3))
        omega[:, 2] = theta_dot

        # light-time: satellite at the emission time t - tau (Taylor step along the orbit)
        acc = -MU_EARTH_M3PS2 * r_sat / np.linalg.norm(r_sat, axis=1, keepdims=True) ** 3
        tau = np.zeros((n, 1))
        if cfg.light_time:
            for _ in range(4):
                r_emit = r_sat - v_sat * tau + 0.5 * acc * tau**2
                tau = np.linalg.norm(r_emit - r_site, axis=1, keepdims=True) / C_MPS
        r_emit = r_sat - v_sat * tau + 0.5 * acc * tau**2
        v_emit = v_sat - acc * tau
        rho = r_emit - r_site
        rng = np.linalg.norm(rho, axis=1, keepdims=True)
        rho_hat = rho / rng
        if cfg.light_time:
            tau_dot = np.sum(rho_hat * (v_emit - v_site), axis=1, keepdims=True) / (
                C_MPS + np.sum(rho_hat * v_emit, axis=1, keepdims=True))
            rho_dot = v_emit * (1.0 - tau_dot) - v_site
            range_rate = C_MPS * tau_dot[:, 0]
        else:
            rho_dot = v_emit - v_site
            range_rate = np.sum(rho_hat * rho_dot, axis=1)

        # aberration: apparent vector p = rho + |rho| v_site / c
        p, p_dot = rho, rho_dot
        if cfg.aberration:
            beta = v_site / C_MPS
            beta_dot = _cross(omega, v_site) / C_MPS
            p = rho + rng * beta
            p_dot = rho_dot + range_rate[:, None] * beta + rng * beta_dot

        # TEME -> ECEF -> ENU
        p_ecef = _apply(rot, p)
        p_dot_ecef = _apply(rot, p_dot) - _cross(omega, p_ecef)
        q = p_ecef @ self.enu_from_ecef.T
        q_dot = p_dot_ecef @ self.enu_from_ecef.T
        e, nn, u = q[:, 0], q[:, 1], q[:, 2]
        ed, nd, ud = q_dot[:, 0], q_dot[:, 1], q_dot[:, 2]
        hor2 = e * e + nn * nn
        hor = np.sqrt(hor2)
        q2 = hor2 + u * u
        az = np.mod(np.arctan2(e, nn), 2.0 * math.pi)
        el = np.arctan2(u, hor)
        az_rate = (ed * nn - nd * e) / hor2
        el_rate = (ud * hor2 - u * (e * ed + nn * nd)) / (q2 * hor)
        los_enu = q / np.sqrt(q2)[:, None]

        v_rel_enu = _apply(rot, v_emit - v_site) @ self.enu_from_ecef.T
        if method == "default":
            pa = pointahead.point_ahead_default(los_enu, v_rel_enu, az, el)
        elif method == "seed004":
            pa = pointahead.point_ahead_seed004(az_rate, el_rate, rng[:, 0], el)
        else:
            pa = pointahead.point_ahead_reference(self, t, los_enu=los_enu)
        sun = sun_position_teme_m(t) - r_site
        cos_sun = np.sum(_unit(sun) * _unit(p), axis=1)
        sun_sep = np.arccos(np.clip(cos_sun, -1.0, 1.0))
        up_teme = _apply_t(rot, np.broadcast_to(self.enu_from_ecef[2], (n, 3)))
        hwp = hwp_angle_rad(_unit(p), up_teme, r_emit, v_emit, cfg.hwp_reference,
                            math.radians(cfg.hwp_offset_deg))
        el_refr = el + refraction_rad(el, cfg.pressure_hpa, cfg.temperature_c)
        return EphemerisTrack(
            t_unix_s=t, az_rad=az, el_rad=el, el_refracted_rad=el_refr, range_m=rng[:, 0],
            az_rate_radps=az_rate, el_rate_radps=el_rate, range_rate_mps=range_rate,
            point_ahead_az_rad=pa.az_rad, point_ahead_el_rad=pa.el_rad, point_ahead_rad=pa.total_rad,
            sun_separation_rad=sun_sep, hwp_angle_rad=hwp, visible=el >= self.min_el_rad,
            tle_age_s=t - self.tle.epoch_unix_s, los_enu=los_enu, v_rel_inertial_enu_mps=v_rel_enu,
            r_sat_teme_m=r_emit, v_sat_teme_mps=v_emit, r_site_teme_m=r_site, v_site_teme_mps=v_site,
        )

    def state_at(self, t_unix_s: float) -> EphemerisState:
        """Everything ``msg/EphemerisState.msg`` carries, at one reception time [UTC s].

        Raises
        ------
        EphemerisError
            As :meth:`track`.
        """
        tr = self.track(np.array([float(np.asarray(t_unix_s, dtype=float))]))
        return EphemerisState(
            t_unix_s=float(tr.t_unix_s[0]), target=self.tle.name, tle_age_s=float(tr.tle_age_s[0]),
            az_rad=float(tr.az_rad[0]), el_rad=float(tr.el_rad[0]),
            el_refracted_rad=float(tr.el_refracted_rad[0]), range_m=float(tr.range_m[0]),
            az_rate_radps=float(tr.az_rate_radps[0]), el_rate_radps=float(tr.el_rate_radps[0]),
            range_rate_mps=float(tr.range_rate_mps[0]), point_ahead_az_rad=float(tr.point_ahead_az_rad[0]),
            point_ahead_el_rad=float(tr.point_ahead_el_rad[0]), point_ahead_rad=float(tr.point_ahead_rad[0]),
            sun_separation_rad=float(tr.sun_separation_rad[0]), hwp_angle_rad=float(tr.hwp_angle_rad[0]),
            visible=bool(tr.visible[0]),
        )

    # -- passes ----------------------------------------------------------------------
    def _el(self, t: float) -> float:
        return float(self.track(np.array([t]), method="default").el_rad[0])

    def passes(self, start_unix_s: float, end_unix_s: float, min_el_rad: float | None = None,
               step_s: float = 30.0) -> list[Pass]:
        """Passes above ``min_el_rad`` (default: the config mask) between two UTC times.

        A coarse grid of ``step_s`` finds the rises and sets, which are refined to
        ~1 ms by bisection; TCA is the zero of the analytic elevation rate.  Passes
        shorter than ``step_s`` can be missed (use a smaller step for high masks).

        Raises
        ------
        EphemerisError
            Non-finite or reversed interval, bad step, or times outside the TLE validity.
        """
        start, end = float(start_unix_s), float(end_unix_s)
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise EphemerisError(f"pass search interval [{start}, {end}] must be finite with end > start")
        if not (math.isfinite(step_s) and 0.1 <= step_s <= 120.0):
            raise EphemerisError(f"pass search step {step_s} s must be in [0.1, 120] s")
        mask = self.min_el_rad if min_el_rad is None else float(min_el_rad)
        if not (math.isfinite(mask) and -0.1 <= mask < math.pi / 2):
            raise EphemerisError(f"elevation mask {mask} rad must be in [-0.1, pi/2)")
        grid = np.arange(start, end, step_s)
        grid = np.append(grid, end)
        out: list[Pass] = []
        for k0 in range(0, grid.size, 20000):  # bounded memory for long searches
            chunk = grid[k0:min(k0 + 20001, grid.size)]
            el = self.track(chunk, method="default").el_rad
            if k0 == 0:
                el_all, t_all = [el], [chunk]
            else:
                el_all.append(el[1:])
                t_all.append(chunk[1:])
        el = np.concatenate(el_all) - mask
        t = np.concatenate(t_all)
        above = el >= 0.0
        idx = 0
        while idx < t.size:
            if not above[idx]:
                idx += 1
                continue
            j = idx
            while j + 1 < t.size and above[j + 1]:
                j += 1
            trunc_start = idx == 0
            trunc_end = j == t.size - 1
            aos = t[idx] if trunc_start else self._bisect(t[idx - 1], t[idx], mask)
            los = t[j] if trunc_end else self._bisect(t[j], t[j + 1], mask)
            tca = self._tca(aos, los)
            tr = self.track(np.array([aos, tca, los]), method="default")
            out.append(Pass(aos_unix_s=float(aos), tca_unix_s=float(tca), los_unix_s=float(los), max_el_rad=float(tr.el_rad[1]),
                            aos_az_rad=float(tr.az_rad[0]), tca_az_rad=float(tr.az_rad[1]),
                            los_az_rad=float(tr.az_rad[2]), tca_range_m=float(tr.range_m[1]),
                            truncated=bool(trunc_start or trunc_end)))
            idx = j + 1
        return out

    def _bisect(self, t_lo: float, t_hi: float, mask: float) -> float:
        f_lo = self._el(t_lo) - mask
        for _ in range(60):
            if t_hi - t_lo < 1e-3:
                break
            mid = 0.5 * (t_lo + t_hi)
            f_mid = self._el(mid) - mask
            if (f_mid >= 0.0) == (f_lo >= 0.0):
                t_lo, f_lo = mid, f_mid
            else:
                t_hi = mid
        return 0.5 * (t_lo + t_hi)

    def _tca(self, t_lo: float, t_hi: float) -> float:
        grid = np.linspace(t_lo, t_hi, 41)
        tr = self.track(grid, method="default")
        k = int(np.argmax(tr.el_rad))
        a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]

        def rate(x: float) -> float:
            return float(self.track(np.array([x]), method="default").el_rate_radps[0])

        ra, rb = rate(a), rate(b)
        if ra <= 0.0 or rb >= 0.0:
            return float(grid[k])
        for _ in range(60):
            if b - a < 1e-3:
                break
            mid = 0.5 * (a + b)
            if rate(mid) > 0.0:
                a = mid
            else:
                b = mid
        return 0.5 * (a + b)


def hwp_angle_rad(los_teme: np.ndarray, up_teme: np.ndarray, r_sat_teme_m: np.ndarray,
                  v_sat_teme_mps: np.ndarray, reference: str = "orbit_normal",
                  offset_rad: float = 0.0) -> np.ndarray:
    """Half-wave-plate set-point that aligns the OGS polarisation basis with the satellite's.

    The OGS horizontal reference is the horizontal unit vector normal to the line of
    sight, ``h = up x los`` (the "horizontal plane of the OGS" of seed 003 §2.4); the
    satellite's H axis is its orbit normal (``r x v``) or velocity, projected on the
    plane normal to the line of sight.  The polarisation rotation ``psi`` is the angle
    from ``h`` to that projection, right-handed about ``los`` (station -> satellite);
    the HWP set-point is ``psi / 2 + offset`` wrapped to [-pi/4, pi/4) (a HWP at angle
    ``x`` rotates linear polarisation by ``2 x``; polarisation has period pi).
    Neglected: the polarisation rotation of the telescope's own mirrors (Coude path).

    Parameters
    ----------
    los_teme, up_teme : ndarray, shape (N, 3)
        Unit line of sight and local vertical, TEME.
    r_sat_teme_m, v_sat_teme_mps : ndarray, shape (N, 3)
        Satellite position and velocity, TEME.
    reference : {"orbit_normal", "along_track"}
    offset_rad : float

    Returns
    -------
    ndarray, shape (N,)
        HWP angle [rad].

    References
    ----------
    seed 003 §2.4 (HWP2 driven by the predicted trajectory); NanoBob §4.2.
    """
    if reference == "orbit_normal":
        ref = _cross(r_sat_teme_m, v_sat_teme_mps)
    elif reference == "along_track":
        ref = np.asarray(v_sat_teme_mps, dtype=float)
    else:
        raise EphemerisError(f"unknown HWP reference {reference!r}; use orbit_normal or along_track")
    ref = ref - np.sum(ref * los_teme, axis=1, keepdims=True) * los_teme
    h = _cross(up_teme, los_teme)
    h_norm = np.linalg.norm(h, axis=1, keepdims=True)
    h = np.where(h_norm > 1e-12, h / np.maximum(h_norm, 1e-300), np.array([1.0, 0.0, 0.0]))
    psi = np.arctan2(np.sum(_cross(h, ref) * los_teme, axis=1), np.sum(h * ref, axis=1))
    return np.mod(0.5 * psi + offset_rad + math.pi / 4, math.pi / 2) - math.pi / 4


def los_rate_in_orbital_frame_radps(r_sat_teme_m: np.ndarray, v_sat_teme_mps: np.ndarray,
                                    r_site_teme_m: np.ndarray, v_site_teme_mps: np.ndarray) -> np.ndarray:
    """Angular rate of the satellite->station line of sight relative to the satellite's orbital frame.

    The orbital (LVLH) frame rotates at ``omega_orb = r x v / |r|^2``; the line of sight
    ``u`` rotates inertially at ``u x du/dt``; the satellite body must slew at
    ``|du/dt - omega_orb x u|`` to keep ``u`` fixed in a nadir-locked body.

    Returns
    -------
    ndarray, shape (N,)
        Rate [rad/s].

    References
    ----------
    NanoBob §4.5 (~12.6 mrad/s at closest approach of a 550 km overhead pass).
    """
    d = np.asarray(r_site_teme_m) - np.asarray(r_sat_teme_m)
    d_dot = np.asarray(v_site_teme_mps) - np.asarray(v_sat_teme_mps)
    dn = np.linalg.norm(d, axis=1, keepdims=True)
    u = d / dn
    u_dot = (d_dot - np.sum(u * d_dot, axis=1, keepdims=True) * u) / dn
    r = np.asarray(r_sat_teme_m)
    w_orb = _cross(r, v_sat_teme_mps) / np.sum(r * r, axis=1, keepdims=True)
    return np.linalg.norm(u_dot - _cross(w_orb, u), axis=1)


def slew_rate_radps(az_rate_radps: np.ndarray, el_rate_radps: np.ndarray, el_rad: np.ndarray) -> np.ndarray:
    """Angular speed of the line of sight on the sky, ``sqrt((az_rate cos el)^2 + el_rate^2)`` [rad/s]."""
    return np.hypot(np.asarray(az_rate_radps) * np.cos(el_rad), el_rate_radps)


def parse_site(text: str) -> tuple[float, float, float]:
    """``"LAT_DEG,LON_DEG,ALT_M"`` -> floats, validated.

    Raises
    ------
    EphemerisError
        Wrong number of fields, non-numbers or values outside their ranges.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3:
        raise EphemerisError(f"site {text!r} must be LAT_DEG,LON_DEG,ALT_M (three comma-separated numbers)")
    try:
        lat, lon, alt = (float(p) for p in parts)
    except ValueError:
        raise EphemerisError(f"site {text!r} has a non-numeric field; expected LAT_DEG,LON_DEG,ALT_M") from None
    if not all(math.isfinite(x) for x in (lat, lon, alt)):
        raise EphemerisError(f"site {text!r} has a non-finite value")
    if not -90.0 <= lat <= 90.0:
        raise EphemerisError(f"site latitude {lat} deg is outside [-90, 90] deg")
    if not -180.0 <= lon <= 360.0:
        raise EphemerisError(f"site longitude {lon} deg is outside [-180, 360] deg")
    if not -500.0 <= alt <= 9000.0:
        raise EphemerisError(f"site altitude {alt} m is outside [-500, 9000] m (metres, not km?)")
    return lat, lon, alt


def format_passes(passes: Sequence[Pass]) -> list[dict]:
    """Passes as JSON-ready dicts (degrees, seconds, ISO 8601 UTC)."""
    from datetime import UTC, datetime

    def iso(x: float) -> str:
        return datetime.fromtimestamp(x, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return [{
        "aos_utc": iso(p.aos_unix_s), "tca_utc": iso(p.tca_unix_s), "los_utc": iso(p.los_unix_s),
        "max_el_deg": round(math.degrees(p.max_el_rad), 4), "duration_s": round(float(p.duration_s), 3),
        "aos_az_deg": round(math.degrees(p.aos_az_rad), 4), "tca_az_deg": round(math.degrees(p.tca_az_rad), 4),
        "los_az_deg": round(math.degrees(p.los_az_rad), 4), "tca_range_m": round(p.tca_range_m, 1),
        "truncated": p.truncated,
    } for p in passes]
