"""Star calibration of the point-ahead camera model: image-rotation bias theta_s and scale k.

Stars drift uniformly across the sky; tracking a few bright ones with the scanning head
while logging the head's azimuth/elevation and the spot on the fine camera gives, per
star, the drift speed and direction at the head (``omega_c``, ``theta_c``) and on the
fine camera (``omega_f``, ``theta_f``).  Seed 004 eq. (7)-(8) then give one estimate per
star::

    theta_s = alpha + beta - (theta_c - theta_f)          (eq. 7, wrapped to (-180, 180])
    k       = omega_f / omega_c   [px/deg]                 (eq. 8)

and the model values are their average (seed 004 §2.3, Table 2).  Angles here are in
degrees because seed 004's table and the CLI use them; names carry the unit.

References
----------
seed 004 §2.3, eq. (3)-(8), Table 2 (theta_s = -4.65 +- 0.12 deg, k = 10798 +- 34 px/deg).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import ImagingError


def _wrap_deg(x):
    return np.mod(np.asarray(x, dtype=float) + 180.0, 360.0) - 180.0


@dataclass(frozen=True)
class StarCalibration:
    """Result of :func:`calibrate_stars`.

    Attributes
    ----------
    theta_s_deg, theta_s_err_deg : float
        Image-rotation azimuth bias and its standard error [deg].
    k_px_per_deg, k_err_px_per_deg : float
        Fine-camera scale and its standard error [px/deg].
    per_star : tuple of dict
        ``{"index", "theta_s_deg", "k_px_per_deg", "used"}`` (plus errors when given).
    rejected : tuple of int
        Indices of stars rejected as outliers.
    """

    theta_s_deg: float
    theta_s_err_deg: float
    k_px_per_deg: float
    k_err_px_per_deg: float
    per_star: tuple
    rejected: tuple

    def as_dict(self) -> dict:
        """JSON-ready dict with the keys of ``qsat-pat calibrate stars --json``."""
        return {"theta_s_deg": self.theta_s_deg, "theta_s_err_deg": self.theta_s_err_deg,
                "k_px_per_deg": self.k_px_per_deg, "k_err_px_per_deg": self.k_err_px_per_deg,
                "per_star": list(self.per_star), "rejected": list(self.rejected)}


def _combine(values: np.ndarray, errors: np.ndarray | None) -> tuple[float, float]:
    if errors is not None:
        w = 1.0 / errors**2
        return float(np.sum(w * values) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w)))
    if values.size < 2:
        raise ImagingError("at least two stars are needed to estimate the calibration error")
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(values.size))


def calibrate_stars(alpha_deg, beta_deg, omega_c_dps, theta_c_deg, omega_f_pxps, theta_f_deg, *,
                    theta_s_err_deg=None, k_err_px_per_deg=None, outlier_threshold_deg: float = 2.0
                    ) -> StarCalibration:
    """Estimate theta_s and k from star-drift observations (seed 004 §2.3, eq. (7)-(8)).

    Parameters
    ----------
    alpha_deg, beta_deg : array_like, shape (N,)
        Scanning-head azimuth and elevation of each star [deg].
    omega_c_dps, theta_c_deg : array_like, shape (N,)
        Drift speed [deg/s] and direction [deg] at the scanning head (eq. (5)-(6)).
    omega_f_pxps, theta_f_deg : array_like, shape (N,)
        Drift speed [px/s] and direction [deg] on the fine camera.
    theta_s_err_deg, k_err_px_per_deg : array_like, shape (N,), optional
        Per-star standard errors (e.g. from :func:`fit_star_drift`).  When given, the
        combination is inverse-variance weighted; otherwise it is the plain mean with
        the standard error of the mean ``std / sqrt(N)``.
    outlier_threshold_deg : float
        Stars whose theta_s is further than this from the median are rejected (a
        wrong-sign direction in a table shows up as tens of degrees).

    Returns
    -------
    StarCalibration

    Raises
    ------
    ImagingError
        Mismatched lengths, non-finite values, non-positive speeds, fewer than two
        usable stars.

    References
    ----------
    seed 004 eq. (7)-(8), Table 2.
    """
    cols = [np.atleast_1d(np.asarray(c, dtype=float)) for c in
            (alpha_deg, beta_deg, omega_c_dps, theta_c_deg, omega_f_pxps, theta_f_deg)]
    n = cols[0].size
    if any(c.shape != (n,) for c in cols):
        raise ImagingError(f"star columns must all be 1-D of the same length, got {[c.shape for c in cols]}")
    if n < 2:
        raise ImagingError(f"star calibration needs at least 2 stars, got {n}")
    for name, c in zip(("alpha_deg", "beta_deg", "omega_c_dps", "theta_c_deg", "omega_f_pxps", "theta_f_deg"),
                       cols):
        if not np.all(np.isfinite(c)):
            raise ImagingError(f"star column {name} has non-finite values: {c.tolist()}")
    alpha, beta, wc, tc, wf, tf = cols
    if np.any(wc <= 0) or np.any(wf <= 0):
        raise ImagingError("drift speeds omega_c_dps and omega_f_pxps must be > 0")
    if np.any(beta < -5.0) or np.any(beta > 95.0):
        raise ImagingError(f"star elevations {beta.tolist()} deg are outside [-5, 95] deg")
    errs = []
    for name, e in (("theta_s_err_deg", theta_s_err_deg), ("k_err_px_per_deg", k_err_px_per_deg)):
        if e is None:
            errs.append(None)
            continue
        e = np.atleast_1d(np.asarray(e, dtype=float))
        if e.shape != (n,) or not np.all(np.isfinite(e)) or np.any(e <= 0):
            raise ImagingError(f"{name} must be {n} finite positive values, got {e.tolist()}")
        errs.append(e)
    theta_s = _wrap_deg(alpha + beta - (tc - tf))  # eq. (7)
    k = wf / wc  # eq. (8)
    med = float(np.median(theta_s))
    used = np.abs(_wrap_deg(theta_s - med)) <= outlier_threshold_deg
    if np.sum(used) < 2:
        raise ImagingError(f"fewer than 2 stars agree on theta_s (per star: {np.round(theta_s, 2).tolist()} deg)")
    ts_err = None if errs[0] is None else errs[0][used]
    k_err = None if errs[1] is None else errs[1][used]
    ts_mean, ts_sem = _combine(med + _wrap_deg(theta_s[used] - med), ts_err)
    k_mean, k_sem = _combine(k[used], k_err)
    per_star = []
    for i in range(n):
        row = {"index": i, "theta_s_deg": round(float(theta_s[i]), 4), "k_px_per_deg": round(float(k[i]), 2),
               "used": bool(used[i])}
        if errs[0] is not None:
            row["theta_s_err_deg"] = float(errs[0][i])
        if errs[1] is not None:
            row["k_err_px_per_deg"] = float(errs[1][i])
        per_star.append(row)
    return StarCalibration(float(_wrap_deg(ts_mean)), ts_sem, k_mean, k_sem, tuple(per_star),
                           tuple(int(i) for i in np.nonzero(~used)[0]))


@dataclass(frozen=True)
class StarDrift:
    """Linear-fit drift of one star (inputs of :func:`calibrate_stars`) with standard errors."""

    alpha_deg: float
    beta_deg: float
    omega_c_dps: float
    theta_c_deg: float
    omega_f_pxps: float
    theta_f_deg: float
    omega_c_err_dps: float
    theta_c_err_deg: float
    omega_f_err_pxps: float
    theta_f_err_deg: float

    def theta_s_err_deg(self) -> float:
        """Standard error of this star's theta_s (eq. (7)), from the direction errors."""
        return math.hypot(self.theta_c_err_deg, self.theta_f_err_deg)

    def k_err_px_per_deg(self) -> float:
        """Standard error of this star's k (eq. (8)), from the speed errors."""
        k = self.omega_f_pxps / self.omega_c_dps
        return k * math.hypot(self.omega_f_err_pxps / self.omega_f_pxps, self.omega_c_err_dps / self.omega_c_dps)


def _slope(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and its standard error (residual-based)."""
    tc = t - t.mean()
    sxx = float(np.sum(tc * tc))
    slope = float(np.sum(tc * (y - y.mean())) / sxx)
    resid = y - y.mean() - slope * tc
    dof = max(t.size - 2, 1)
    return slope, math.sqrt(float(np.sum(resid**2)) / dof / sxx)


def _speed_dir(vx: float, vy: float, ex: float, ey: float) -> tuple[float, float, float, float]:
    speed = math.hypot(vx, vy)
    direction = math.degrees(math.atan2(vy, vx))
    s_err = math.sqrt((vx * ex) ** 2 + (vy * ey) ** 2) / speed
    d_err = math.degrees(math.sqrt((vy * ex) ** 2 + (vx * ey) ** 2) / speed**2)
    return speed, direction, s_err, d_err


def fit_star_drift(t_s, az_rad, el_rad, x_px, y_px) -> StarDrift:
    """Fit the uniform drift of one star at the scanning head and on the fine camera.

    Head drift from the az/el log with seed 004 eq. (3)-(6):
    ``omega_cx = -d(alpha)/dt cos(beta)``, ``omega_cy = -d(beta)/dt``; fine-camera drift from
    the spot centroid log.  Errors are the least-squares slope errors propagated to
    speed and direction.

    Parameters
    ----------
    t_s : array_like, shape (M,)
        Sample times [s], M >= 3.
    az_rad, el_rad : array_like, shape (M,)
        Scanning-head azimuth (unwrapped) and elevation [rad].
    x_px, y_px : array_like, shape (M,)
        Fine-camera spot centroid [px].

    Returns
    -------
    StarDrift

    Raises
    ------
    ImagingError
        Wrong shapes, non-finite samples, fewer than 3 samples, or no measurable drift.
    """
    arrs = [np.asarray(a, dtype=float) for a in (t_s, az_rad, el_rad, x_px, y_px)]
    m = arrs[0].size
    if any(a.shape != (m,) for a in arrs) or m < 3:
        raise ImagingError(f"star drift needs >= 3 samples of equal length, got shapes {[a.shape for a in arrs]}")
    if not all(np.all(np.isfinite(a)) for a in arrs):
        raise ImagingError("star drift log has non-finite samples")
    t, az, el, x, y = arrs
    if np.ptp(t) <= 0:
        raise ImagingError("star drift log spans no time")
    az = np.unwrap(az)
    a_dot, a_err = _slope(t, az)
    b_dot, b_err = _slope(t, el)
    cos_b = math.cos(float(np.mean(el)))
    wcx, wcy = -a_dot * cos_b, -b_dot  # eq. (3)-(4)
    if math.hypot(wcx, wcy) == 0.0:
        raise ImagingError("the star does not drift at the scanning head; track it longer")
    wc, tc, wc_err, tc_err = _speed_dir(wcx, wcy, a_err * cos_b, b_err)
    vx, ex = _slope(t, x)
    vy, ey = _slope(t, y)
    if math.hypot(vx, vy) == 0.0:
        raise ImagingError("the star does not drift on the fine camera; check the centroid log")
    wf, tf, wf_err, tf_err = _speed_dir(vx, vy, ex, ey)
    return StarDrift(math.degrees(float(np.mean(az)) % (2 * math.pi)), math.degrees(float(np.mean(el))),
                     math.degrees(wc), tc, wf, tf, math.degrees(wc_err), tc_err, wf_err, tf_err)
