"""Frames and the functions between them: ENU, az/el and tangent planes, LVLH, body.

Every frame a terminal points or measures in, in one module (pure computation, no state):

* **Row-wise (batched) vector helpers** of the ephemeris: ``R3`` frame rotations about z
  (:func:`rot3`, TEME -> Earth fixed by GMST), matrix-vector products per row
  (:func:`apply_rows`, :func:`apply_t_rows`), cross products (:func:`cross_rows`) and unit
  vectors (:func:`unit_rows`) over (N, 3) arrays.
* **ENU** topocentric frame of a site (:func:`enu_rotation`, rows east, north, up in
  Earth-fixed axes); azimuth from north through east, elevation above the horizon
  (:func:`enu_from_az_el`).
* **Tangent plane about a reference direction** (the OGS *ephemeris tangent frame*):
  gnomonic coordinates ``(x, y)`` about ``(az0, el0)``, x towards increasing azimuth
  (cross-elevation), y towards increasing elevation [rad] (:func:`tangent_from_enu`, its
  inverse :func:`direction_from_tangent`, :func:`mount_tangent_rad`).  Near the zenith the
  azimuth changes fast but ``(x, y)`` stay small: no keyhole.
* **LVLH** frame of the satellite (:func:`lvlh_axes`: along-track, nadir, orbit normal) and
  the boresight angles in it (:func:`lvlh_az_el`, :func:`lvlh_direction`), the two angles
  of a ``PointingCommand`` STAGE_BODY.
* **Body tangent frame** about the terminal boresight (:func:`body_tangent_axes`), where the
  satellite's camera and FSM see a line of sight (:func:`tracked_direction`,
  :func:`body_tangent_coords`, :func:`body_tangent_from_dcm`).

Invalid input of the LVLH and body functions raises
:class:`~qsat_pat.core.errors.ControlError` (they serve the control loops).

References
----------
seed 003 §2.3 (open loop from SGP4, then coarse tracking on the camera, then fine; seed 003
§3: coarse body pointing, then fine); seed 004 §2.2 (coarse camera, 1.2 deg field); seed 001
(NanoBob) §3 (body +z boresight, star tracker), §4.5 (12.6 mrad/s satellite slew at 550 km);
Vallado et al., "Revisiting Spacetrack Report #3" (AIAA 2006-6753) for the TEME -> Earth-fixed
rotation.
"""

from __future__ import annotations

import math

import numpy as np

from qsat_pat.core._checks import _finite, _finite_vec2
from qsat_pat.core.errors import ControlError

__all__ = [
    "BORESIGHT_BODY",
    "apply_rows",
    "apply_t_rows",
    "body_tangent_axes",
    "body_tangent_coords",
    "body_tangent_from_dcm",
    "cross_rows",
    "direction_from_tangent",
    "enu_from_az_el",
    "enu_rotation",
    "lvlh_axes",
    "lvlh_az_el",
    "lvlh_direction",
    "mount_tangent_rad",
    "rot3",
    "tangent_frame_axes",
    "tangent_from_enu",
    "tangent_from_enu_batch",
    "tracked_direction",
    "unit_rows",
]


# ----------------------------------------------------------------------------- row-wise vector helpers
def rot3(theta: np.ndarray) -> np.ndarray:
    """R3(theta) matrices (frame rotation about z), shape (N, 3, 3)."""
    c, s = np.cos(theta), np.sin(theta)
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, s, z], -1), np.stack([-s, c, z], -1), np.stack([z, z, o], -1)], -2)


def apply_rows(mat: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """``mat[n] @ vec[n]`` for every row: (N, 3, 3) matrices times (N, 3) vectors -> (N, 3)."""
    return np.einsum("nij,nj->ni", mat, vec)


def apply_t_rows(mat: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """``mat[n].T @ vec[n]`` for every row (the inverse rotation of :func:`apply_rows`) -> (N, 3)."""
    return np.einsum("nji,nj->ni", mat, vec)


def cross_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (N, 3) arrays (np.cross is slow for small N)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def unit_rows(v: np.ndarray) -> np.ndarray:
    """``v`` divided by its norm along the last axis (unit vectors, shape of ``v``)."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- ENU, az/el, tangent planes
def enu_rotation(lat_rad: float, lon_rad: float) -> np.ndarray:
    """Rows are the east, north, up unit vectors in Earth-fixed axes, shape (3, 3)."""
    sl, cl, so, co = math.sin(lat_rad), math.cos(lat_rad), math.sin(lon_rad), math.cos(lon_rad)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def enu_from_az_el(az_rad: float, el_rad: float) -> tuple[float, float, float]:
    """Unit ENU vector of an azimuth (from north through east) and elevation [rad]."""
    ce = math.cos(el_rad)
    return ce * math.sin(az_rad), ce * math.cos(az_rad), math.sin(el_rad)


def tangent_frame_axes(az0_rad: float, el0_rad: float):
    """ENU unit vectors (ex, ey, b) of the tangent frame about (az0, el0) [rad]: ex towards
    increasing azimuth, ey towards increasing elevation, b the reference direction."""
    sa, ca, se, ce = math.sin(az0_rad), math.cos(az0_rad), math.sin(el0_rad), math.cos(el0_rad)
    ex = (ca, -sa, 0.0)
    ey = (-se * sa, -se * ca, ce)
    b = (ce * sa, ce * ca, se)
    return ex, ey, b


def tangent_from_enu(v, az0_rad: float, el0_rad: float) -> np.ndarray:
    """Tangent-plane coordinates (x cross-elevation, y elevation) of ENU direction ``v``
    about the reference direction (az0, el0) [rad], shape (2,) (gnomonic projection)."""
    ex, ey, b = tangent_frame_axes(az0_rad, el0_rad)
    vb = v[0] * b[0] + v[1] * b[1] + v[2] * b[2]
    return np.array([(v[0] * ex[0] + v[1] * ex[1]) / vb,
                     (v[0] * ey[0] + v[1] * ey[1] + v[2] * ey[2]) / vb])


def tangent_from_enu_batch(v: np.ndarray, az0: np.ndarray, el0: np.ndarray) -> np.ndarray:
    """Vectorised :func:`tangent_from_enu`: v (N, 3), az0/el0 (N,) -> (N, 2)."""
    sa, ca, se, ce = np.sin(az0), np.cos(az0), np.sin(el0), np.cos(el0)
    vb = v[:, 0] * ce * sa + v[:, 1] * ce * ca + v[:, 2] * se
    x = (v[:, 0] * ca - v[:, 1] * sa) / vb
    y = (-v[:, 0] * se * sa - v[:, 1] * se * ca + v[:, 2] * ce) / vb
    return np.stack([x, y], axis=1)


def direction_from_tangent(xy_rad, az0_rad: float, el0_rad: float) -> tuple[float, float]:
    """(az, el) [rad] of the direction at tangent coordinates ``xy_rad`` about (az0, el0)."""
    ex, ey, b = tangent_frame_axes(az0_rad, el0_rad)
    x, y = float(xy_rad[0]), float(xy_rad[1])
    v = [b[i] + x * ex[i] + y * ey[i] for i in range(3)]
    n = math.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
    az = math.atan2(v[0], v[1])
    el = math.asin(max(-1.0, min(1.0, v[2] / n)))
    return az, el


def mount_tangent_rad(mount_az_rad: float, mount_el_rad: float, eph_az_rad: float, eph_el_rad: float) -> np.ndarray:
    """Mount axis (encoder az, el) in the ephemeris tangent frame about (eph_az, eph_el) [rad], (2,)."""
    return tangent_from_enu(enu_from_az_el(mount_az_rad, mount_el_rad), eph_az_rad, eph_el_rad)


# ----------------------------------------------------------------------------- LVLH and body frames
#: Terminal boresight in body axes (body +z, as qsat_pat.sim.adcs and NanoBob §3).
BORESIGHT_BODY = (0.0, 0.0, 1.0)


def lvlh_axes(r_m, v_mps) -> np.ndarray:
    """Axes of the body-pointing LVLH frame in inertial components, rows (e1, e2, e3).

    ``e1`` = along-track (``e2 x e3 = n x r_hat``, the velocity direction of a circular
    orbit), ``e2`` = nadir (``-r/|r|``), ``e3`` = orbit normal (``r x v``
    normalised).  The frame is right-handed (``e1 x e2 = e3``).  Boresight angles in it
    (:func:`lvlh_az_el`) are the two angles of ``PointingCommand`` STAGE_BODY:

    * ``axis1`` "azimuth" = along-track angle from nadir towards the velocity,
      ``atan2(u.e1, u.e2)`` (0 at nadir, positive ahead);
    * ``axis2`` "elevation" = cross-track angle out of the orbital plane towards the orbit
      normal, ``asin(u.e3)``.

    The pole of these angles is the orbit normal, which a ground station never
    approaches (off-nadir angles stay < ~70 deg), so the nadir pass of an overhead OGS
    has no keyhole (an az/el with the pole at zenith/nadir would).

    Parameters
    ----------
    r_m, v_mps : array_like (3,)
        Satellite inertial position [m] and velocity [m/s] (TEME from SGP4).

    Raises
    ------
    ControlError
        Non-finite input or a degenerate state (zero position or r parallel to v).
    """
    r = np.asarray(r_m, dtype=float).reshape(3)
    v = np.asarray(v_mps, dtype=float).reshape(3)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))):
        raise ControlError("lvlh_axes needs a finite satellite position and velocity")
    h = np.cross(r, v)
    nr, nh = float(np.linalg.norm(r)), float(np.linalg.norm(h))
    if nr == 0.0 or nh <= 1e-9 * nr * max(float(np.linalg.norm(v)), 1e-30):
        raise ControlError("lvlh_axes: position is zero or parallel to the velocity; no orbital frame")
    e2 = -r / nr
    e3 = h / nh
    e1 = np.cross(e2, e3)
    return np.vstack([e1, e2, e3])


def _orbital_frame_rate(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inertial angular velocity of the LVLH frame, ``r x v / |r|^2`` [rad/s] (3,)."""
    return np.cross(r, v) / float(np.dot(r, r))


def lvlh_az_el(u_inertial, r_m, v_mps, u_dot_inertial=None) -> tuple[float, float, float, float]:
    """Boresight angles (and rates) of an inertial direction in the LVLH frame.

    Parameters
    ----------
    u_inertial : array_like (3,)
        Direction (need not be unit), inertial components.
    r_m, v_mps : array_like (3,)
        Satellite inertial state [m], [m/s].
    u_dot_inertial : array_like (3,), optional
        Inertial time derivative of the *unit* direction [1/s]; rates are 0 if omitted.

    Returns
    -------
    az_rad, el_rad, az_rate_radps, el_rate_radps : float
        Along-track and cross-track angles (see :func:`lvlh_axes`) and their rates
        relative to the rotating LVLH frame (what the ADCS must slew) [rad], [rad/s].

    Raises
    ------
    ControlError
        Non-finite or zero direction, degenerate orbit state.
    """
    axes = lvlh_axes(r_m, v_mps)
    u = np.asarray(u_inertial, dtype=float).reshape(3)
    nu = float(np.linalg.norm(u))
    if not (math.isfinite(nu) and nu > 0):
        raise ControlError(f"boresight direction {u.tolist()} must be finite and non-zero")
    u = u / nu
    ul = axes @ u
    az = math.atan2(ul[0], ul[1])
    el = math.asin(max(-1.0, min(1.0, ul[2])))
    if u_dot_inertial is None:
        return az, el, 0.0, 0.0
    ud = np.asarray(u_dot_inertial, dtype=float).reshape(3)
    if not np.all(np.isfinite(ud)):
        raise ControlError("boresight rate must be finite")
    r = np.asarray(r_m, dtype=float).reshape(3)
    w = _orbital_frame_rate(r, np.asarray(v_mps, dtype=float).reshape(3))
    uld = axes @ (ud - np.cross(w, u))
    rho2 = ul[0] * ul[0] + ul[1] * ul[1]
    az_rate = (ul[1] * uld[0] - ul[0] * uld[1]) / rho2 if rho2 > 1e-18 else 0.0
    el_rate = uld[2] / math.sqrt(rho2) if rho2 > 1e-18 else 0.0
    return az, el, float(az_rate), float(el_rate)


def lvlh_direction(az_rad: float, el_rad: float, r_m, v_mps) -> np.ndarray:
    """Inertial unit vector (3,) of LVLH boresight angles (inverse of :func:`lvlh_az_el`)."""
    az, el = _finite("az_rad", az_rad), _finite("el_rad", el_rad)
    ul = np.array([math.cos(el) * math.sin(az), math.cos(el) * math.cos(az), math.sin(el)])
    return lvlh_axes(r_m, v_mps).T @ ul


def body_tangent_axes(boresight_body=BORESIGHT_BODY) -> np.ndarray:
    """Rows (x, y, b) of the body tangent frame about the terminal boresight ``b``.

    ``x`` is body +x made perpendicular to ``b`` (body +y if ``b`` is along +x), ``y = b x x``;
    for the default boresight +z these are the body axes.  A line of sight measured on the
    terminal camera (through its FSM, :class:`~qsat_pat.core.estimation.LosTracker`
    composing FSM angle + camera residual) has tangent coordinates ``(x, y)`` in this frame:
    its direction is ``x_t x + y_t y + b`` normalised.
    """
    b = np.asarray(boresight_body, dtype=float).reshape(3)
    nb = float(np.linalg.norm(b))
    if not (np.all(np.isfinite(b)) and nb > 0):
        raise ControlError(f"boresight {b.tolist()} must be finite and non-zero")
    b = b / nb
    ref = np.array([1.0, 0.0, 0.0]) if abs(b[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = ref - float(ref @ b) * b
    x /= np.linalg.norm(x)
    return np.vstack([x, np.cross(b, x), b])


def tracked_direction(quaternion_wxyz, los_xy_rad, boresight_body=BORESIGHT_BODY) -> np.ndarray:
    """Inertial unit direction (3,) of a line of sight measured in the body tangent frame.

    Turns the space terminal's tracked beacon (tangent coordinates about the boresight,
    :func:`body_tangent_axes`) into the inertial direction with the ADCS attitude, so the
    body can be pointed at the tracked beacon instead of the orbit-predicted station: the
    coarse loop of the satellite (seed 001 §3: the FSM's range is a few mrad, the TLE error
    of the predicted direction ~1-2 mrad; seed 003 §3: coarse body pointing, then fine).

    Parameters
    ----------
    quaternion_wxyz : array_like (4,)
        Rotation body -> inertial (w, x, y, z), unit within 1e-3.
    los_xy_rad : array_like (2,)
        Tangent coordinates of the line of sight [rad].

    Raises
    ------
    ControlError
        Non-finite or non-unit quaternion, non-finite line of sight.
    """
    from transforms3d.quaternions import quat2mat

    q = np.asarray(quaternion_wxyz, dtype=float).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or abs(float(np.linalg.norm(q)) - 1.0) > 1e-3:
        raise ControlError(f"attitude quaternion {q.tolist()} must be 4 finite numbers of norm 1")
    xy = _finite_vec2("los_xy_rad", los_xy_rad)
    axes = body_tangent_axes(boresight_body)
    d_body = xy[0] * axes[0] + xy[1] * axes[1] + axes[2]
    d = quat2mat(q / np.linalg.norm(q)) @ d_body
    return d / np.linalg.norm(d)


def body_tangent_coords(quaternion_wxyz, u_inertial, boresight_body=BORESIGHT_BODY) -> np.ndarray:
    """Tangent coordinates (2,) [rad] of an inertial direction about the boresight (the inverse
    of :func:`tracked_direction`): where the terminal camera and its FSM see it.

    Raises
    ------
    ControlError
        Non-unit quaternion, non-finite direction, or a direction not in front of the boresight.
    """
    from transforms3d.quaternions import quat2mat

    q = np.asarray(quaternion_wxyz, dtype=float).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or abs(float(np.linalg.norm(q)) - 1.0) > 1e-3:
        raise ControlError(f"attitude quaternion {q.tolist()} must be 4 finite numbers of norm 1")
    u = np.asarray(u_inertial, dtype=float).reshape(3)
    if not np.all(np.isfinite(u)):
        raise ControlError("direction must be finite")
    d = body_tangent_axes(boresight_body) @ (quat2mat(q / np.linalg.norm(q)).T @ u)
    if d[2] <= 1e-9 * float(np.linalg.norm(d)):
        raise ControlError("direction is not in front of the boresight")
    return np.array([d[0] / d[2], d[1] / d[2]])


def body_tangent_from_dcm(dcm_bn: np.ndarray, dir_n: np.ndarray) -> np.ndarray:
    """Tangent coordinates of an inertial direction in body axes about +z [rad], (2,).

    ``dcm_bn`` is the direction-cosine matrix [BN] (inertial -> body), ``dir_n`` the direction
    in inertial components (the simulator's form of :func:`body_tangent_coords`, unchecked).
    """
    v = dcm_bn @ dir_n
    return np.array([v[0] / v[2], v[1] / v[2]])
