"""Point-ahead angle of a transmitted beam: seed 004's model, an exact reference and the default.

A beam sent at time ``t`` from the station must aim where the satellite will be when
the light arrives, while the received beacon shows where it was when the light left:
the two directions differ by ``theta_PA = 2 v_t / c`` (seed 004 §2.1), up to ~53 urad
for LEO, several times the 14 urad divergence of an uplink.

Three models, all returning a :class:`PointAhead` (azimuth-axis component as in seed
004 eq. (1), i.e. *before* the ``cos(el)`` of eq. (3); elevation component eq. (2);
total angle on the sky):

* :func:`point_ahead_seed004` -- seed 004 eq. (1)-(2) as published: topocentric angular
  rates times ``2 l / c``.  The rates are Earth-fixed, so the Earth-rotation term
  ``2 (omega_E x rho)_perp / c`` is dropped (seed 004: < 0.3 urad for LEO).
* :func:`point_ahead_default` -- the project's default: ``2 (v_rel)_perp / c`` with the
  *inertial* relative velocity (satellite minus rotating station), which keeps the
  Earth-rotation term.
* :func:`point_ahead_reference` -- exact: light-time iteration in TEME (treated as
  inertial) with SGP4 evaluated at the emission time ``t - tau_down`` and the arrival
  time ``t + tau_up``, plus the moving station's aberration with opposite signs for the
  received and the transmitted light.  Used to validate the other two.

:func:`fine_camera_offset` maps a point-ahead onto the coarse and fine cameras, seed 004
eq. (3)-(8); :func:`space_point_ahead` gives the satellite's point-ahead for its downlink.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.constants import C_MPS
from qsat_pat.core.errors import EphemerisError
from qsat_pat.core.frames import apply_rows
from qsat_pat.core.params import ConfigBase, param


@dataclass(frozen=True)
class PointAhead:
    """Point-ahead components (arrays of shape (N,)) [rad].

    Attributes
    ----------
    az_rad : ndarray
        Azimuth-axis component alpha_PA (seed 004 eq. (1)); the angle on the sky is
        ``az_rad * cos(el)``.
    el_rad : ndarray
        Elevation component beta_PA (seed 004 eq. (2)).
    total_rad : ndarray
        Total angle ``hypot(az_rad cos(el), el_rad)``.
    """

    az_rad: np.ndarray
    el_rad: np.ndarray
    total_rad: np.ndarray


def _az_el_axes(az_rad: np.ndarray, el_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of increasing azimuth and elevation on the sky, ENU, shapes (N, 3)."""
    sa, ca, se, ce = np.sin(az_rad), np.cos(az_rad), np.sin(el_rad), np.cos(el_rad)
    e_az = np.stack([ca, -sa, np.zeros_like(sa)], axis=-1)
    e_el = np.stack([-sa * se, -ca * se, ce], axis=-1)
    return e_az, e_el


def _from_vector(pa_enu: np.ndarray, az_rad: np.ndarray, el_rad: np.ndarray) -> PointAhead:
    e_az, e_el = _az_el_axes(az_rad, el_rad)
    on_sky_az = np.sum(pa_enu * e_az, axis=-1)
    el_c = np.sum(pa_enu * e_el, axis=-1)
    return PointAhead(az_rad=on_sky_az / np.cos(el_rad), el_rad=el_c, total_rad=np.hypot(on_sky_az, el_c))


def point_ahead_seed004(az_rate_radps, el_rate_radps, range_m, el_rad) -> PointAhead:
    """Seed 004 eq. (1)-(2) with analytic topocentric rates.

    ``alpha_PA = d(alpha)/dt * 2 l / c``, ``beta_PA = d(beta)/dt * 2 l / c``; the total uses
    eq. (3)-(5): ``hypot(alpha_PA cos(beta), beta_PA)``.

    Parameters
    ----------
    az_rate_radps, el_rate_radps : array_like
        Topocentric (Earth-fixed) azimuth and elevation rates [rad/s].
    range_m : array_like
        Link distance l [m].
    el_rad : array_like
        Elevation beta [rad].

    Returns
    -------
    PointAhead

    References
    ----------
    seed 004 eq. (1)-(2), (3)-(5).
    """
    scale = 2.0 * np.asarray(range_m, dtype=float) / C_MPS
    a = np.asarray(az_rate_radps, dtype=float) * scale
    b = np.asarray(el_rate_radps, dtype=float) * scale
    return PointAhead(az_rad=a, el_rad=b, total_rad=np.hypot(a * np.cos(el_rad), b))


def point_ahead_seed004_fd(az_rad, az_next_rad, el_rad, el_next_rad, range_m, dt_s: float) -> PointAhead:
    """Seed 004 eq. (1)-(2), finite-difference form ``2 [alpha(t+dt) - alpha(t)] l / (c dt)``.

    The paper uses ``dt = 1 s``.  Azimuth differences are wrapped to (-pi, pi].

    References
    ----------
    seed 004 eq. (1)-(2) (right-hand sides).
    """
    dt = float(dt_s)
    if not (math.isfinite(dt) and dt > 0.0):
        raise EphemerisError(f"finite-difference step dt_s={dt_s} must be finite and > 0")
    d_az = np.mod(np.asarray(az_next_rad) - np.asarray(az_rad) + math.pi, 2 * math.pi) - math.pi
    d_el = np.asarray(el_next_rad) - np.asarray(el_rad)
    return point_ahead_seed004(d_az / dt, d_el / dt, range_m, el_rad)


def point_ahead_default(los_enu: np.ndarray, v_rel_enu_mps: np.ndarray, az_rad, el_rad) -> PointAhead:
    """Default point-ahead ``2 (v_rel - (v_rel . u) u) / c`` with the inertial relative velocity.

    Parameters
    ----------
    los_enu : ndarray, shape (N, 3)
        Apparent unit line of sight (station -> satellite), ENU axes.
    v_rel_enu_mps : ndarray, shape (N, 3)
        Satellite velocity minus station velocity, both inertial (TEME), in ENU axes [m/s].
    az_rad, el_rad : array_like, shape (N,)
        Apparent azimuth and elevation [rad].

    Returns
    -------
    PointAhead

    References
    ----------
    seed 004 §2.1 (theta_PA = 2 v_t / c; Earth rotation kept, which seed 004 drops).
    """
    u = np.asarray(los_enu, dtype=float)
    v = np.asarray(v_rel_enu_mps, dtype=float)
    v_t = v - np.sum(v * u, axis=-1, keepdims=True) * u
    return _from_vector(2.0 * v_t / C_MPS, np.asarray(az_rad, float), np.asarray(el_rad, float))


def _solve_light_time(eph, t: np.ndarray, r_site: np.ndarray, sign: float) -> np.ndarray:
    """Satellite TEME position at ``t + sign*tau`` with ``|r_sat - r_site(t)| = c tau`` (SGP4 each step)."""
    tau = np.zeros(t.size)
    for _ in range(4):
        r_sat, _v = eph._sgp4(t + sign * tau)
        tau = np.linalg.norm(r_sat - r_site, axis=1) / C_MPS
    r_sat, _v = eph._sgp4(t + sign * tau)
    return r_sat


def point_ahead_reference(eph, t_unix_s, los_enu: np.ndarray | None = None) -> PointAhead:
    """Exact point-ahead by light-time iteration in TEME (the validation reference).

    Received direction: satellite at ``t - tau_down``, plus aberration ``+v_site/c``;
    transmit direction: satellite at ``t + tau_up``, minus aberration (a photon leaving
    a moving station).  Both light-time equations are iterated with SGP4 itself.
    The point-ahead is the difference of the two unit vectors in the station frame.

    Parameters
    ----------
    eph : qsat_pat.core.ephemeris.Ephemeris
    t_unix_s : array_like, shape (N,)
        Time of reception of the beacon = time of transmission [UTC s].
    los_enu : ndarray, shape (N, 3), optional
        Apparent line of sight defining the az/el axes (default: the received direction).

    Returns
    -------
    PointAhead

    References
    ----------
    seed 004 Fig. 1 (A at t0, B at t0 + dt) and §2.1.
    """
    t = eph._times(t_unix_s)
    r_site, v_site, rot, _ = eph.site_teme(t)
    beta = v_site / C_MPS
    r_rx = _solve_light_time(eph, t, r_site, -1.0)
    r_tx = _solve_light_time(eph, t, r_site, +1.0)
    d_rx = r_rx - r_site
    d_tx = r_tx - r_site
    u_rx = d_rx / np.linalg.norm(d_rx, axis=1, keepdims=True) + beta
    u_tx = d_tx / np.linalg.norm(d_tx, axis=1, keepdims=True) - beta
    u_rx /= np.linalg.norm(u_rx, axis=1, keepdims=True)
    u_tx /= np.linalg.norm(u_tx, axis=1, keepdims=True)
    to_enu = eph.enu_from_ecef
    rx_enu = apply_rows(rot, u_rx) @ to_enu.T
    pa_enu = apply_rows(rot, u_tx - u_rx) @ to_enu.T
    los = rx_enu if los_enu is None else np.asarray(los_enu, dtype=float)
    az = np.mod(np.arctan2(los[:, 0], los[:, 1]), 2 * math.pi)
    el = np.arctan2(los[:, 2], np.hypot(los[:, 0], los[:, 1]))
    return _from_vector(pa_enu, az, el)


# ------------------------------------------------------------------- camera model


@dataclass(frozen=True)
class PointAheadCameraConfig(ConfigBase):
    """Image rotation and scale between scanning head and fine camera (seed 004 §2.3)."""

    theta_s_deg: float = param(-4.65, "azimuth bias theta_s of the zero image rotation (star calibration)",
                               unit="deg", min_value=-180.0, max_value=180.0)
    k_px_per_deg: float = param(10798.0, "fine-camera scale k (star calibration)", unit="px/deg",
                                min_value=1.0, max_value=1e7)


@dataclass(frozen=True)
class CameraOffset:
    """A point-ahead on the coarse camera (angles) and the fine camera (pixels); arrays (N,)."""

    omega_cx_rad: np.ndarray
    omega_cy_rad: np.ndarray
    omega_c_rad: np.ndarray
    theta_c_rad: np.ndarray
    theta_r_rad: np.ndarray
    theta_f_rad: np.ndarray
    omega_f_px: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray


def fine_camera_offset(pa_az_rad, pa_el_rad, az_rad, el_rad, camera: PointAheadCameraConfig) -> CameraOffset:
    """Seed 004 eq. (3)-(8): point-ahead -> coarse-camera angles -> fine-camera pixel offset.

    ``omega_cx = -alpha_PA cos(beta)`` (3), ``omega_cy = -beta_PA`` (4), ``omega_c`` (5),
    ``theta_c`` (6), image rotation ``theta_r = theta_c - theta_f = alpha + beta - theta_s`` (7),
    ``omega_f = k omega_c`` (8) with ``omega_c`` in degrees; ``(x, y) = omega_f (cos, sin) theta_f``.

    Parameters
    ----------
    pa_az_rad, pa_el_rad : array_like
        alpha_PA (azimuth axis, eq. (1)) and beta_PA [rad].
    az_rad, el_rad : array_like
        Scanning-head azimuth alpha and elevation beta [rad].
    camera : PointAheadCameraConfig

    Returns
    -------
    CameraOffset

    References
    ----------
    seed 004 eq. (3)-(8).
    """
    a_pa = np.asarray(pa_az_rad, dtype=float)
    b_pa = np.asarray(pa_el_rad, dtype=float)
    wcx = -a_pa * np.cos(el_rad)
    wcy = -b_pa
    wc = np.hypot(wcx, wcy)
    theta_c = np.arctan2(wcy, wcx)
    theta_r = np.asarray(az_rad) + np.asarray(el_rad) - math.radians(camera.theta_s_deg)
    theta_f = theta_c - theta_r
    wf = camera.k_px_per_deg * np.rad2deg(wc)
    return CameraOffset(wcx, wcy, wc, theta_c, theta_r, theta_f, wf, wf * np.cos(theta_f), wf * np.sin(theta_f))


# ----------------------------------------------------------------- space terminal


@dataclass(frozen=True)
class SpacePointAhead:
    """Satellite-side point-ahead for the downlink, in the orbital frame; arrays (N,) [rad].

    ``along_track_rad`` (towards the velocity), ``cross_track_rad`` (towards the orbit
    normal r x v), ``radial_rad`` (towards zenith); ``total_rad`` the angle.
    """

    along_track_rad: np.ndarray
    cross_track_rad: np.ndarray
    radial_rad: np.ndarray
    total_rad: np.ndarray


def space_point_ahead(r_sat_teme_m, v_sat_teme_mps, r_site_teme_m, v_site_teme_mps) -> SpacePointAhead:
    """Point-ahead of the satellite's downlink beam: ``2 (v_site - v_sat)_perp / c``.

    The satellite sees the ground beacon where the station was and must send its beam
    where the station will be: the same magnitude as the ground point-ahead, in the
    opposite sense along the line of sight satellite -> station.

    Parameters
    ----------
    r_sat_teme_m, v_sat_teme_mps, r_site_teme_m, v_site_teme_mps : ndarray, shape (N, 3)
        Inertial (TEME) states.

    Returns
    -------
    SpacePointAhead

    References
    ----------
    seed 004 §2.1; NanoBob §4.5 (25 urad order at 550 km).
    """
    r_sat = np.asarray(r_sat_teme_m, dtype=float)
    v_sat = np.asarray(v_sat_teme_mps, dtype=float)
    d = np.asarray(r_site_teme_m, dtype=float) - r_sat
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    v_rel = np.asarray(v_site_teme_mps, dtype=float) - v_sat
    pa = 2.0 * (v_rel - np.sum(v_rel * u, axis=1, keepdims=True) * u) / C_MPS
    radial = r_sat / np.linalg.norm(r_sat, axis=1, keepdims=True)
    normal = np.cross(r_sat, v_sat)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    along = np.cross(normal, radial)
    return SpacePointAhead(np.sum(pa * along, axis=1), np.sum(pa * normal, axis=1),
                           np.sum(pa * radial, axis=1), np.linalg.norm(pa, axis=1))
