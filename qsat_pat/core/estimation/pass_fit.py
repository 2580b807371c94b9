"""Satellite-pass line-of-sight models fitted to measurements (what the tracker coasts on).

* :class:`PassTrajectory`, :func:`fit_pass_trajectory`: ephemeris-aided pass model.  A
  ground station knows from its orbit prediction when the satellite passes closest (TCA)
  and the pass's time scale ``tau = d_min / v``; the line of sight of such a pass is
  ``offset + gain * atan((t - TCA) / tau)``, whose acceleration reverses at the zenith (what
  seed 002 §II.6 emulates by flipping the sign of the acceleration states by hand).
* :class:`LocalPassFit`, :func:`fit_pass_window`: the same model fitted to the last seconds
  only (the local rate from the measurements, the curvature from the geometry); a real
  pass (and York's FSM emulation) departs from the ideal shape by a few pixels, slowly,
  which the local fit absorbs.
* :class:`EphemerisTrack`, :class:`EphemerisFit`, :func:`fit_ephemeris_bias`: the pass's whole
  predicted line of sight, with its time (along-track) and pointing bias fitted to the
  recent measurements.

How :class:`~qsat_pat.core.estimation.tracker.LosTracker` uses them while coasting is in
:mod:`qsat_pat.core.estimation.coasting`.

References
----------
seed 002 §II.4 and §II.6 (the emulated S-curve pass and the acceleration sign flip at the
zenith); Bar-Shalom, Li and Kirubarajan (2001) ch. 3 (linear least squares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import EstimationError

__all__ = [
    "EphemerisFit",
    "EphemerisTrack",
    "LocalPassFit",
    "PassTrajectory",
    "fit_ephemeris_bias",
    "fit_pass_trajectory",
    "fit_pass_window",
]


@dataclass(frozen=True)
class PassTrajectory:
    """Line of sight of a straight-line satellite pass, as seen by a fixed station.

    Near its time of closest approach (TCA) a satellite on a circular orbit moves on a
    nearly straight line at nearly constant speed ``v``; the angle swept along the track
    as seen from the station is ``theta(t) = atan((t - tca_s) / tau_s)`` with
    ``tau_s = d_min / v`` (minimum slant range over ground-relative speed).  The camera
    (or composed line-of-sight) coordinates are affine in that angle::

        xy(t) = offset + gain * atan((t - tca_s) / tau_s)

    so the line-of-sight rate peaks at the TCA (the zenith of an overhead pass) and the
    acceleration changes sign there: the "horizon -> zenith -> horizon" S-curve of seed 002
    §II.4 and §II.6, whose hand-made sign flip of the acceleration at the zenith this
    model makes unnecessary.

    Attributes
    ----------
    tca_s : float
        Time of closest approach [s] (same time base as the measurements).
    tau_s : float
        ``d_min / v`` [s] (> 0); the LOS rate at TCA is ``gain / tau_s``.
    offset : numpy.ndarray, shape (2,)
        Line of sight at TCA [rad or px].
    gain : numpy.ndarray, shape (2,)
        Line of sight per radian of along-track angle [rad/rad or px/rad].
    rms : float
        RMS residual of the fit [rad or px].
    n_points : int
        Measurements used.

    References
    ----------
    seed 002 §II.4 and §II.6 (the S-curve pass and the acceleration sign flip at the zenith).
    """

    tca_s: float
    tau_s: float
    offset: np.ndarray
    gain: np.ndarray
    rms: float
    n_points: int

    def derivatives(self, stamp_s: float, order: int = 4) -> np.ndarray:
        """Position and its first ``order - 1`` time derivatives at ``stamp_s``.

        Returns
        -------
        numpy.ndarray, shape (order, 2)
            Rows: position, rate, acceleration, jerk (as many as ``order``, 1..4).
        """
        u = (float(stamp_s) - self.tca_s) / self.tau_s
        w = 1.0 + u * u
        tau = self.tau_s
        d = [math.atan(u), 1.0 / (tau * w), -2.0 * u / (tau**2 * w**2), (6.0 * u * u - 2.0) / (tau**3 * w**3)]
        out = np.empty((int(order), 2))
        out[0] = self.offset + self.gain * d[0]
        for k in range(1, int(order)):
            out[k] = self.gain * d[k]
        return out

    def position(self, stamp_s) -> np.ndarray:
        """Line of sight at ``stamp_s`` (scalar -> shape (2,), array (N,) -> (N, 2))."""
        t = np.asarray(stamp_s, float)
        th = np.arctan((t - self.tca_s) / self.tau_s)
        return self.offset + np.multiply.outer(th, self.gain)


@dataclass(frozen=True)
class EphemerisTrack:
    """The pass's predicted line of sight versus time (what the ephemeris says), sampled.

    An optical ground station predicts the whole line of sight of a pass from its orbit
    elements, not only its time of closest approach.  Two errors remain, both slowly
    varying: a pointing bias (mount model, camera alignment) and an along-track error,
    which for a satellite is mostly a *time* bias (a two-line element's error grows along
    the track).  :func:`fit_ephemeris_bias` estimates both from the recent measurements;
    the tracker (:meth:`LosTracker.set_ephemeris_track`) then coasts long blockages on
    ``position(t - time_bias) + offset``, the horizon -> zenith -> horizon shape of the
    pass (seed 002 §II.4 and §II.6) being given, not extrapolated.

    Attributes
    ----------
    times_s : numpy.ndarray, shape (N,)
        Sample times [s], strictly increasing, N >= 2.
    los : numpy.ndarray, shape (N, 2)
        Predicted line of sight at those times [rad or px]; finite.
    time_bias_max_s : float
        The time bias is searched in ``[-time_bias_max_s, time_bias_max_s]`` [s] (>= 0).
    fit_window_s : float
        Shortest window of recent measurements the biases are fitted to [s] (> 0); while
        coasting the window is ``max(fit_window_s, time coasted)``.

    Raises
    ------
    EstimationError
        Shapes, non-finite values, non-increasing times, or bad limits.

    References
    ----------
    seed 002 §II.4 (the emulated pass) and §II.6 (the acceleration reversing at the zenith).
    """

    times_s: np.ndarray
    los: np.ndarray
    time_bias_max_s: float = 0.0
    fit_window_s: float = 20.0

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s, float).reshape(-1)
        z = np.asarray(self.los, float)
        if z.ndim != 2 or z.shape != (t.shape[0], 2) or t.shape[0] < 2:
            raise EstimationError(f"EphemerisTrack needs times (N,) and los (N, 2) with N >= 2, got {t.shape} "
                                  f"and {z.shape}")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(z)) and np.all(np.diff(t) > 0)):
            raise EstimationError("EphemerisTrack needs finite line-of-sight samples at strictly increasing times")
        if not (math.isfinite(self.time_bias_max_s) and self.time_bias_max_s >= 0.0):
            raise EstimationError(f"time_bias_max_s = {self.time_bias_max_s!r} s must be finite and >= 0")
        if not (math.isfinite(self.fit_window_s) and self.fit_window_s > 0.0):
            raise EstimationError(f"fit_window_s = {self.fit_window_s!r} s must be finite and > 0")
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "los", z)

    def position(self, stamp_s, time_bias_s: float = 0.0) -> np.ndarray:
        """Predicted line of sight at ``stamp_s - time_bias_s`` (linear interpolation, held at the ends).

        Scalar -> shape (2,); array (M,) -> (M, 2).
        """
        tq = np.asarray(stamp_s, float) - float(time_bias_s)
        return np.stack([np.interp(tq, self.times_s, self.los[:, k]) for k in range(2)], axis=-1)

    def rate(self, stamp_s: float, time_bias_s: float = 0.0) -> np.ndarray:
        """Line-of-sight rate at ``stamp_s - time_bias_s`` [per s], shape (2,) (central difference)."""
        tq = float(stamp_s) - float(time_bias_s)
        i = int(np.clip(np.searchsorted(self.times_s, tq), 1, self.times_s.shape[0] - 1))
        return (self.los[i] - self.los[i - 1]) / (self.times_s[i] - self.times_s[i - 1])


@dataclass(frozen=True)
class EphemerisFit:
    """Time and pointing bias of an :class:`EphemerisTrack` fitted to measurements."""

    track: EphemerisTrack
    time_bias_s: float
    offset: np.ndarray  # (2,)
    residual: float  # median distance of the measurements from the biased track [rad or px]

    def position(self, stamp_s) -> np.ndarray:
        """Biased track at ``stamp_s`` (scalar -> (2,), array (M,) -> (M, 2))."""
        return self.track.position(stamp_s, self.time_bias_s) + self.offset

    def rate(self, stamp_s: float) -> np.ndarray:
        """Rate of the biased track at ``stamp_s``, shape (2,)."""
        return self.track.rate(stamp_s, self.time_bias_s)


def fit_ephemeris_bias(track: EphemerisTrack, times_s: np.ndarray, xy: np.ndarray, window_s: float,
                       n_bias: int = 121) -> EphemerisFit:
    """Fit the time bias and the pointing offset of ``track`` to the last ``window_s`` of measurements.

    For each of ``n_bias`` time biases evenly spread over ``+-track.time_bias_max_s`` the
    offset is the per-axis median of ``xy - track.position(t - bias)`` and the cost the
    median distance of the measurements from the biased track (robust to spurious
    detections and to a jittering centroid); the least cost wins.  Causal use: pass only
    measurements before the prediction time.

    Parameters
    ----------
    track : EphemerisTrack
    times_s : array_like, shape (N,)
        Measurement times [s], increasing.
    xy : array_like, shape (N, 2)
        Measured line of sight [rad or px].
    window_s : float
        Only measurements with ``t >= times_s[-1] - window_s`` are used [s].
    n_bias : int
        Number of time biases tried (1 when ``time_bias_max_s`` is 0).

    Returns
    -------
    EphemerisFit

    Raises
    ------
    EstimationError
        Shapes differ, non-finite values, or fewer than 3 points in the window.
    """
    t = np.asarray(times_s, float).reshape(-1)
    z = np.asarray(xy, float).reshape(-1, 2)
    if t.shape[0] != z.shape[0] or t.shape[0] == 0:
        raise EstimationError(f"fit_ephemeris_bias needs matching times and positions, got {t.shape[0]} and "
                              f"{z.shape[0]}")
    sel = t >= t[-1] - float(window_s)
    t, z = t[sel], z[sel]
    if t.shape[0] < 3 or not (np.all(np.isfinite(t)) and np.all(np.isfinite(z))):
        raise EstimationError(f"fit_ephemeris_bias: {t.shape[0]} finite points in the last {window_s!r} s, need 3")
    biases = (np.linspace(-track.time_bias_max_s, track.time_bias_max_s, max(int(n_bias), 1))
              if track.time_bias_max_s > 0.0 else np.zeros(1))
    best = None
    for b in biases:
        r = z - track.position(t, b)
        off = np.median(r, axis=0)
        cost = float(np.median(np.hypot(r[:, 0] - off[0], r[:, 1] - off[1])))
        if best is None or cost < best[0]:
            best = (cost, float(b), off)
    return EphemerisFit(track, best[1], best[2], best[0])


def _pass_linear(t: np.ndarray, z: np.ndarray, tca: float, tau: float):
    """Least-squares offset/gain for given (tca, tau) (variable projection)."""
    a = np.stack([np.ones_like(t), np.arctan((t - tca) / tau)], axis=1)
    coef, *_ = np.linalg.lstsq(a, z, rcond=None)
    return coef, z - a @ coef


def fit_pass_trajectory(times_s: np.ndarray, xy: np.ndarray, tca_s: float | None = None,
                        max_points: int = 2000, robust_scale: float = 3.0,
                        tau_s: float | None = None, tca_std_s: float = 0.0,
                        tau_rel_std: float = 0.0) -> PassTrajectory:
    """Fit :class:`PassTrajectory` to measurements (causal use: pass only the past).

    ``offset`` and ``gain`` are linear and solved by least squares for every trial
    ``(tca_s, tau_s)`` (variable projection); ``tau_s`` (and ``tca_s`` when it is not given)
    are found by a coarse grid then a robust (soft-L1, scale ``robust_scale``) nonlinear
    least-squares refinement.  With ``tca_s`` given (ephemeris-aided: the station knows
    the time of closest approach from its orbit prediction) only ``tau_s`` is searched,
    which makes the fit well conditioned from early in the pass.

    Parameters
    ----------
    times_s : array_like, shape (N,)
        Measurement times [s], N >= 8.
    xy : array_like, shape (N, 2)
        Measured line of sight [rad or px]; finite.
    tca_s : float, optional
        Known time of closest approach [s].
    tau_s : float, optional
        Known ``d_min / v`` [s] (with ``tca_s``: the whole pass geometry is known from the
        ephemeris and only ``offset`` and ``gain``, the pointing bias and the camera's
        scale and orientation, are fitted, linearly).
    tca_std_s, tau_rel_std : float
        With ``tca_s`` and ``tau_s`` given and these > 0, the ephemeris values are priors
        (standard deviations [s] and relative) and TCA and tau are refined by maximum a
        posteriori: once the measurements span the zenith they tell its time; before, the
        prior holds the fit (the data are thinned to 200 points for this step, as the
        residuals of a real pass are correlated, not white).
    max_points : int
        Longer histories are decimated evenly to this many points.
    robust_scale : float
        Residual beyond which the soft-L1 loss down-weights a point [units of xy].

    Returns
    -------
    PassTrajectory

    Raises
    ------
    EstimationError
        Fewer than 8 points, non-finite input, or a time span of zero.

    References
    ----------
    seed 002 §II.4 and §II.6.
    """
    from scipy.optimize import least_squares

    t = np.asarray(times_s, float).reshape(-1)
    z = np.asarray(xy, float).reshape(-1, 2)
    if t.shape[0] != z.shape[0] or t.shape[0] < 8:
        raise EstimationError(f"fit_pass_trajectory needs >= 8 matching points, got {t.shape[0]} times "
                              f"and {z.shape[0]} positions")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(z))):
        raise EstimationError("fit_pass_trajectory needs finite times and positions")
    if t.shape[0] > max_points:
        idx = np.unique(np.linspace(0, t.shape[0] - 1, int(max_points)).round().astype(int))
        t, z = t[idx], z[idx]
    span = float(t[-1] - t[0])
    if not span > 0.0:
        raise EstimationError("fit_pass_trajectory needs measurements spread over time")
    t_ref = float(t[-1])
    known = tca_s is not None and math.isfinite(float(tca_s))
    if known and tau_s is not None:
        if not (math.isfinite(float(tau_s)) and float(tau_s) > 0):
            raise EstimationError(f"tau_s = {tau_s!r} s must be finite and > 0")
        w = np.ones(t.shape[0])
        coef, r = _pass_linear(t, z, float(tca_s), float(tau_s))
        for _ in range(3):  # iteratively reweighted least squares with the soft-L1 weights
            w = 1.0 / np.sqrt(np.sqrt(1.0 + np.sum(r**2, axis=1) / robust_scale**2))
            a = np.stack([np.ones_like(t), np.arctan((t - float(tca_s)) / float(tau_s))], axis=1)
            coef, *_ = np.linalg.lstsq(a * w[:, None], z * w[:, None], rcond=None)
            r = z - a @ coef
        rms = float(np.sqrt(np.mean(np.sum(r**2, axis=1))))
        if tca_std_s > 0.0 and tau_rel_std > 0.0:
            tc0, lt0 = float(tca_s), math.log(float(tau_s))
            sig = max(rms / math.sqrt(2.0), 1e-12)
            sub = np.unique(np.linspace(0, t.shape[0] - 1, min(200, t.shape[0])).round().astype(int))
            ts, zs = t[sub], z[sub]

            def resid_map(p):
                data = _pass_linear(ts, zs, p[0], math.exp(p[1]))[1].ravel() / sig
                return np.concatenate([data, [(p[0] - tc0) / tca_std_s, (p[1] - lt0) / tau_rel_std]])

            sol = least_squares(resid_map, [tc0, lt0], loss="soft_l1", f_scale=3.0,
                                bounds=([tc0 - 5 * tca_std_s, lt0 - 5 * tau_rel_std],
                                        [tc0 + 5 * tca_std_s, lt0 + 5 * tau_rel_std]))
            return fit_pass_trajectory(t, z, float(sol.x[0]), max_points, robust_scale, math.exp(sol.x[1]))
        return PassTrajectory(float(tca_s), float(tau_s), coef[0].copy(), coef[1].copy(), rms, int(t.shape[0]))
    taus = span * np.logspace(-1.5, 1.5, 13)
    tcas = [float(tca_s)] if known else list(t_ref + span * np.linspace(-1.0, 2.0, 16))
    best = None
    for tc in tcas:
        for tau in taus:
            cost = float(np.sum(_pass_linear(t, z, tc, tau)[1] ** 2))
            if best is None or cost < best[0]:
                best = (cost, tc, tau)
    _, tc0, tau0 = best
    lo, hi = math.log(span * 10**-2.5), math.log(span * 10**2.5)

    def resid(p):
        tc = float(tca_s) if known else p[1]
        return _pass_linear(t, z, tc, math.exp(p[0]))[1].ravel()

    p0 = [math.log(tau0)] if known else [math.log(tau0), tc0]
    lb = [lo] if known else [lo, t_ref - 10 * span]
    ub = [hi] if known else [hi, t_ref + 10 * span]
    sol = least_squares(resid, p0, bounds=(lb, ub), loss="soft_l1", f_scale=float(robust_scale))
    tau = math.exp(sol.x[0])
    tc = float(tca_s) if known else float(sol.x[1])
    coef, r = _pass_linear(t, z, tc, tau)
    rms = float(np.sqrt(np.mean(np.sum(r**2, axis=1))))
    return PassTrajectory(tc, tau, coef[0].copy(), coef[1].copy(), rms, int(t.shape[0]))


@dataclass(frozen=True)
class LocalPassFit:
    """:class:`PassTrajectory` fitted to a recent window only, with its prediction variance.

    Attributes
    ----------
    trajectory : PassTrajectory
        Offset and gain of the window's fit (TCA and tau as given).
    theta_ref_rad : float
        Pass angle ``atan((t - tca) / tau)`` of the window's last measurement.
    normal_inv : numpy.ndarray, shape (2, 2)
        ``(A^T W A)^-1`` of the weighted least squares in ``[1, theta - theta_ref]``.
    resid_var : numpy.ndarray, shape (2,)
        Weighted residual variance per axis [rad^2 or px^2].
    """

    trajectory: PassTrajectory
    theta_ref_rad: float
    normal_inv: np.ndarray
    resid_var: np.ndarray

    def position_variance(self, stamp_s: float) -> np.ndarray:
        """Variance of the predicted position per axis at ``stamp_s``, shape (2,).

        ``resid_var * a^T (A^T W A)^-1 a`` with ``a = [1, theta(t) - theta_ref]``: the
        uncertainty of the fitted offset and gain carried to ``stamp_s`` (not the error of
        the pass shape itself, which the local window keeps small).
        """
        tr = self.trajectory
        a = np.array([1.0, math.atan((float(stamp_s) - tr.tca_s) / tr.tau_s) - self.theta_ref_rad])
        return self.resid_var * float(a @ self.normal_inv @ a)


def fit_pass_window(times_s: np.ndarray, xy: np.ndarray, tca_s: float, tau_s: float, window_s: float,
                    robust_scale: float = 3.0, min_points: int = 8) -> LocalPassFit:
    """Fit a pass's offset and gain to the measurements of its last ``window_s`` seconds only.

    With the pass geometry known (TCA and ``tau_s = d_min / v`` from the ephemeris), the
    line of sight is linear in the pass angle ``theta = atan((t - tca_s) / tau_s)``
    (:class:`PassTrajectory`).  A laboratory FSM (seed 002's York passes) or a real mount
    adds a slowly varying departure from that shape (a few pixels over the pass); fitting
    ``xy = c0 + c1 * theta`` only over a recent window takes the local rate from the
    measurements and the curvature (the acceleration reversing at the zenith, seed 002
    §II.6) from the geometry, and absorbs the slow departure into ``c0, c1``.  Causal use:
    pass only measurements before the prediction time.  Robust: iteratively reweighted
    least squares with soft-L1 weights (scale ``robust_scale``).

    Parameters
    ----------
    times_s : array_like, shape (N,)
        Measurement times [s], increasing.
    xy : array_like, shape (N, 2)
        Measured line of sight [rad or px]; finite.
    tca_s, tau_s : float
        Pass geometry [s] (``tau_s`` > 0).
    window_s : float
        Only measurements with ``t >= times_s[-1] - window_s`` are used [s].
    robust_scale : float
        Residual beyond which a point is down-weighted [units of xy].
    min_points : int
        Fewest points the window must hold (>= 3).

    Returns
    -------
    LocalPassFit

    Raises
    ------
    EstimationError
        Shapes differ, non-finite values, ``tau_s`` <= 0, or fewer than ``min_points``
        points (or no spread in the pass angle) in the window.

    References
    ----------
    seed 002 §II.4 and §II.6 (the emulated S-curve pass); Bar-Shalom et al. (2001) ch. 3
    (linear least squares and the covariance of its estimate).
    """
    t = np.asarray(times_s, float).reshape(-1)
    z = np.asarray(xy, float).reshape(-1, 2)
    if t.shape[0] != z.shape[0] or t.shape[0] == 0:
        raise EstimationError(f"fit_pass_window needs matching times and positions, got {t.shape[0]} "
                              f"and {z.shape[0]}")
    if not (math.isfinite(float(tca_s)) and math.isfinite(float(tau_s)) and float(tau_s) > 0.0):
        raise EstimationError(f"fit_pass_window needs a finite TCA and tau_s > 0, got {tca_s!r}, {tau_s!r}")
    sel = t >= t[-1] - float(window_s)
    t, z = t[sel], z[sel]
    if t.shape[0] < max(int(min_points), 3):
        raise EstimationError(f"fit_pass_window: {t.shape[0]} points in the last {window_s!r} s, "
                              f"need {max(int(min_points), 3)}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(z))):
        raise EstimationError("fit_pass_window needs finite times and positions")
    tca, tau = float(tca_s), float(tau_s)
    th = np.arctan((t - tca) / tau)
    th_ref = float(th[-1])
    a = np.stack([np.ones_like(th), th - th_ref], axis=1)
    w = np.ones(t.shape[0])
    for _ in range(4):  # iteratively reweighted least squares with soft-L1 weights
        aw = a * w[:, None]
        coef, *_ = np.linalg.lstsq(aw, z * w[:, None], rcond=None)
        r = z - a @ coef
        w = 1.0 / np.sqrt(np.sqrt(1.0 + np.sum(r**2, axis=1) / robust_scale**2))
    aw = a * w[:, None]
    normal = aw.T @ aw
    if not np.linalg.cond(normal) < 1e12:
        raise EstimationError("fit_pass_window: the window has no spread in the pass angle")
    coef = np.linalg.solve(normal, aw.T @ (z * w[:, None]))
    r = z - a @ coef
    resid_var = np.sum((r * w[:, None]) ** 2, axis=0) / max(t.shape[0] - 2, 1)
    gain = coef[1]
    offset = coef[0] - gain * th_ref
    rms = float(np.sqrt(np.mean(np.sum(r**2, axis=1))))
    traj = PassTrajectory(tca, tau, offset, gain.copy(), rms, int(t.shape[0]))
    return LocalPassFit(traj, th_ref, np.linalg.inv(normal), resid_var)
