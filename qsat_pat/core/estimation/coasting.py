"""Coasting a blockage on the pass model and the ephemeris track (beyond seed 002).

:class:`PassCoaster` is the part of :class:`~qsat_pat.core.estimation.tracker.LosTracker`
that, while no measurement is applied, pulls the filter's coasting estimate towards a
satellite-pass model (:mod:`~qsat_pat.core.estimation.pass_fit`).  It keeps the pass
geometry, the ephemeris track and the history of applied measurements the models are
fitted to.

* Ephemeris-aided pass model (``pass_model``, :class:`PassTrajectory`): while coasting,
  the filter's own prediction and the pass model's (fitted to the past measurements only,
  offset anchored at the last one) are fused per axis with weights from the filter's
  growing position variance and ``pass_model_std_rad``: short dropouts follow the filter,
  long blockages the pass.  Given with :meth:`LosTracker.set_time_of_closest_approach`;
  without it the filters coast alone.  With ``pass_window_s`` > 0 the pass model used
  while coasting is instead fitted to the last ``max(pass_window_s, time coasted)``
  seconds only (:func:`fit_pass_window`: the local rate from the measurements, the
  curvature from the geometry) and fused with the weight of its own least-squares
  prediction variance; a real pass (and York's FSM emulation) departs from the ideal
  shape by a few pixels, slowly, which the local fit absorbs.
* Ephemeris track (:class:`EphemerisTrack`, :meth:`LosTracker.set_ephemeris_track`): the
  pass's whole predicted line of sight; while coasting a blockage its time (along-track)
  and pointing bias are fitted to the recent measurements (:func:`fit_ephemeris_bias`)
  and it is blended into the coasting estimate with weights from a causal hindcast of
  both predictors over the time coasted so far.  Long blockages through the zenith then
  follow the predicted shape instead of an extrapolated curvature.

References
----------
seed 002 §II.4 and §II.6 (the emulated pass and the acceleration sign flip at its zenith);
Bar-Shalom, Li and Kirubarajan (2001) §11.2 (covariance matching) and §11.6 (combining the
estimates of competing models).
"""

from __future__ import annotations

import copy
import math

import numpy as np
from filterpy.kalman import IMMEstimator

from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation.config import TrackerConfig
from qsat_pat.core.estimation.filters import FilterBank
from qsat_pat.core.estimation.pass_fit import (
    EphemerisFit,
    EphemerisTrack,
    LocalPassFit,
    PassTrajectory,
    fit_ephemeris_bias,
    fit_pass_trajectory,
    fit_pass_window,
)

__all__ = [
    "PassCoaster",
]


class PassCoaster:
    """Coasting of :class:`~qsat_pat.core.estimation.tracker.LosTracker` on the pass model and ephemeris track.

    Holds the pass geometry (TCA, ``tau_s``) and the ephemeris track (both kept by
    :meth:`reset`), and per track the applied measurements (:meth:`remember`), the pass fit
    anchored at the last one and the cached local and ephemeris fits.  The tracker calls
    :meth:`coast` at every step without an applied measurement.

    Parameters
    ----------
    config : TrackerConfig
        The ``pass_*`` settings (and ``reacquire_after_s``).
    bank : FilterBank
        The tracker's filters (predicts the filter's own coast from the last measurement).

    Attributes
    ----------
    n_pass_fits : int
        Pass-model fits made since the last :meth:`reset`.
    """

    def __init__(self, config: TrackerConfig, bank: FilterBank) -> None:
        self.config = config
        self._bank = bank
        self._tca_s: float | None = None
        self._tau_s: float | None = None
        self._ephemeris: EphemerisTrack | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the measurements and fits of the track (the geometry and ephemeris are kept)."""
        self._hist_t: list[float] = []
        self._hist_z: list[np.ndarray] = []
        self._coast_anchor = None
        self._local_fit: tuple[float, LocalPassFit | None] | None = None
        self._eph_blend: tuple[float, EphemerisFit | None, float] | None = None
        self.n_pass_fits = 0

    def set_time_of_closest_approach(self, tca_s: float | None, tau_s: float | None = None) -> None:
        """Keep the pass geometry (see :meth:`LosTracker.set_time_of_closest_approach`).

        Raises
        ------
        EstimationError
            ``tca_s`` not finite, ``tau_s`` not finite and > 0, or ``tau_s`` without ``tca_s``.
        """
        self._coast_anchor = None
        if tca_s is None:
            if tau_s is not None:
                raise EstimationError("tau_s needs tca_s: give the time of closest approach too")
            self._tca_s = self._tau_s = None
            return
        v = float(np.asarray(tca_s, dtype=float))
        if not math.isfinite(v):
            raise EstimationError(f"time of closest approach {tca_s!r} s must be finite (or None if unknown)")
        tau = None
        if tau_s is not None:
            tau = float(np.asarray(tau_s, dtype=float))
            if not (math.isfinite(tau) and tau > 0.0):
                raise EstimationError(f"tau_s = {tau_s!r} s (min range / speed) must be finite and > 0")
        self._tca_s, self._tau_s = v, tau

    def set_ephemeris_track(self, track: EphemerisTrack | None) -> None:
        """Keep the pass's predicted line of sight (see :meth:`LosTracker.set_ephemeris_track`).

        Raises
        ------
        EstimationError
            ``track`` is neither an :class:`EphemerisTrack` nor None.
        """
        if track is not None and not isinstance(track, EphemerisTrack):
            raise EstimationError(f"ephemeris track must be an EphemerisTrack or None, got {type(track).__name__}")
        self._ephemeris = track
        self._eph_blend = None

    def remember(self, t: float, z: np.ndarray) -> None:
        """Keep an applied measurement for the pass model; a new one ends the coast."""
        self._coast_anchor = None
        if self.config.pass_model:
            self._hist_t.append(float(t))
            self._hist_z.append(np.asarray(z, float).copy())
            if len(self._hist_t) > 4 * self.config.pass_max_points:  # bounded memory: thin evenly
                self._hist_t = self._hist_t[::2]
                self._hist_z = self._hist_z[::2]

    def forget_from(self, t_s: float) -> None:
        """Drop the measurements at or after ``t_s`` (taken back by the blockage-onset rollback)
        and the fits made with them."""
        while self._hist_t and self._hist_t[-1] >= t_s:
            self._hist_t.pop()
            self._hist_z.pop()
        self._coast_anchor = None
        self._local_fit = None
        self._eph_blend = None

    def trajectory(self) -> PassTrajectory | None:
        """The pass model fitted to the measurements applied so far (see :meth:`LosTracker.pass_trajectory`)."""
        cfg = self.config
        n = len(self._hist_t)
        if self._tca_s is None or self._tau_s is None:
            return None
        if n < max(cfg.pass_min_points, 8) or self._hist_t[-1] - self._hist_t[0] < cfg.pass_min_span_s:
            return None
        t = np.asarray(self._hist_t)
        z = np.asarray(self._hist_z)
        try:
            fit = fit_pass_trajectory(t, z, self._tca_s, cfg.pass_max_points, cfg.pass_robust_scale, self._tau_s,
                                      cfg.pass_tca_std_s, cfg.pass_tau_rel_std)
        except EstimationError:
            return None
        self.n_pass_fits += 1
        return fit if math.isfinite(fit.rms) else None

    def coast(self, est, t: float, dt: float, t_meas: float | None, last_post: np.ndarray | None,
              q_scale: float) -> None:
        """While coasting, set the kinematic states from the pass model (``config.pass_model``).

        ``t_meas`` is the time of the last applied measurement, ``last_post`` the posterior
        position after it, ``q_scale`` the adaptive Q's factor in force.

        At the first coasting step after a measurement the pass model is fitted to the
        applied measurements (only the past) and the filter's offset from it at the last
        measurement is frozen (the local pointing bias the pass model does not know); then
        every coasting step fuses, per axis, the filter's own coasting prediction (run on
        a copy from the last measurement) with the model's position + offset, rate,
        acceleration and jerk (as many as the filter has), weighted by the filter's
        position variance ``v`` against ``pass_model_std_rad**2 = s2``: ``w = v / (v + s2)``,
        with ``v`` raised to ``disagreement**2 - s2`` when the two differ by more than the
        variances allow (covariance matching).  The covariance keeps growing with the
        filter's own ``Q`` so the gate still widens.  A model that cannot be fitted (too
        few or too short measurements) leaves the filter's own prediction in place.

        With ``pass_window_s`` > 0 the model is the local fit of :meth:`_local_pass_fit`
        (no frozen offset: the window's own offset) and ``s2`` its least-squares prediction
        variance per axis (:meth:`LocalPassFit.position_variance`) instead of
        ``pass_model_std_rad**2``; the global anchored fit remains the fallback.

        References
        ----------
        seed 002 §II.6 (which instead flips the sign of the acceleration at the zenith).
        """
        if not self.config.pass_model:
            return
        if self._coast_anchor is None:
            fit = self.trajectory()
            if fit is None or t_meas is None:
                self._coast_anchor = False
            else:
                x_last = np.asarray(self._hist_z[-1], float) if last_post is None else last_post
                self._coast_anchor = (fit, x_last - fit.position(t_meas), copy.deepcopy(est))
                self._local_fit = None
                self._eph_blend = None
        elif self._coast_anchor is not False:
            pure = self._coast_anchor[2]
            self._bank.predict(pure, dt, q_scale)
            self._bank.decay(pure, dt)
        if self._coast_anchor is False:
            return
        fit, offset, pure = self._coast_anchor
        local = self._local_pass_fit(t, t_meas)
        if local is None:
            d = fit.derivatives(t, 4)
            d[0] = d[0] + offset
            s2 = np.full(2, self.config.pass_model_std_rad**2)
        else:
            d = local.trajectory.derivatives(t, 4)
            s2 = local.position_variance(t)
        xk, pk = self._bank.state_of(pure)
        # covariance matching: where the two predictions disagree by more than their stated
        # variances allow, the filter's (an extrapolated polynomial) is taken to be as wrong
        # as the disagreement shows (Bar-Shalom et al. (2001) §11.2)
        var_kf = np.maximum(np.diag(pk)[:2], (d[0] - xk[:2]) ** 2 - s2)
        w = np.where(s2 > 0, var_kf / np.maximum(var_kf + s2, 1e-300), 1.0)
        kfs = list(est.filters) if isinstance(est, IMMEstimator) else [est]
        for kf in kfs:
            x = np.asarray(kf.x, float).reshape(-1).copy()
            for k in range(min(x.shape[0] // 2, 4)):
                x[2 * k:2 * k + 2] = xk[2 * k:2 * k + 2] + w * (d[k] - xk[2 * k:2 * k + 2])
            kf.x = x
        if isinstance(est, IMMEstimator):
            est._compute_state_estimate()
        self._ephemeris_blend(est, t, t_meas)

    def _ephemeris_blend(self, est, t: float, t_meas: float | None) -> None:
        """Blend the coasting estimate with the biased ephemeris track, by their hindcast errors.

        Over a long blockage the local pass fit extrapolates a rate and a curvature from the
        recent past, whose small errors grow with the time coasted (through the zenith of a
        7 min pass, 100 px on York's logs); the ephemeris track (:class:`EphemerisTrack`)
        gives the pass's whole shape, with a time and a pointing bias fitted to the recent
        measurements (:func:`fit_ephemeris_bias`), but is off by whatever the actual pass
        departs from the prediction.  Which is better depends on the pass and on how long
        the beacon has been lost, so both are tried on the past (a hindcast, causal).  With
        ``h`` the time coasted so far and ``hc = min(h, span of the measurements -
        fit_window_s)`` (the early pass is not judged on too few points), each is fitted to
        the measurements up to ``hc`` before the last one and predicts those of the last
        ``min(hc / 2, max(1 s, hc / 4))``; its error is the per-axis median of the prediction
        errors there (the centroid jitter averages out), squared and summed: ``e_eph`` for
        the track, ``e_loc`` for the local pass fit (:func:`fit_pass_window` over
        ``max(pass_window_s, hc)``), carried from ``hc`` to ``h`` as ``(h / hc)**4`` (an
        extrapolated curvature errs with the square of the horizon; the track's biases do
        not grow).  The position and rate of every filter are then moved towards the
        track's by ``w = e_loc / (e_loc + e_eph)`` (inverse-variance weights).  Used only
        beyond ``reacquire_after_s`` (a blockage, not a missed frame) and with at least
        ``pass_min_points`` measurements before the
        hindcast's cut; refitted when ``h`` has grown by 5 %.

        References
        ----------
        seed 002 §II.4 and §II.6 (the emulated pass and its zenith); Bar-Shalom et al.
        (2001) §11.6 (combining the estimates of competing models by their likelihoods).
        """
        trk = self._ephemeris
        cfg = self.config
        if trk is None or t_meas is None or self._tca_s is None or self._tau_s is None:
            return
        h = t - t_meas
        if h <= cfg.reacquire_after_s or len(self._hist_t) < 3:
            return
        cached = self._eph_blend
        if cached is None or h > 1.05 * cached[0]:
            cached = self._eph_blend = (h, *self._ephemeris_weight(trk, h))
        _, fit, w = cached
        if fit is None or not w > 0.0:
            return
        pos, rate = fit.position(t), fit.rate(t)
        for kf in (list(est.filters) if isinstance(est, IMMEstimator) else [est]):
            x = np.asarray(kf.x, float).reshape(-1).copy()
            x[:2] += w * (pos - x[:2])
            x[2:4] += w * (rate - x[2:4])
            kf.x = x
        if isinstance(est, IMMEstimator):
            est._compute_state_estimate()

    def _ephemeris_weight(self, trk: EphemerisTrack, h: float) -> tuple[EphemerisFit | None, float]:
        """The ephemeris fit for a coast of ``h`` s and its blend weight (see :meth:`_ephemeris_blend`)."""
        cfg = self.config
        tp = np.asarray(self._hist_t)
        zp = np.asarray(self._hist_z)
        # hindcast horizon: the time coasted, but leaving a full fit window before the cut
        hc = min(h, float(tp[-1] - tp[0]) - trk.fit_window_s)
        if hc <= cfg.reacquire_after_s:
            return None, 0.0
        target = tp >= tp[-1] - min(0.5 * hc, max(1.0, 0.25 * hc))
        before = tp <= tp[-1] - hc
        if int(np.sum(before)) < max(cfg.pass_min_points, 8):
            return None, 0.0
        tq, zq = tp[target], zp[target]
        try:
            fit = fit_ephemeris_bias(trk, tp, zp, max(trk.fit_window_s, h))
            past = fit_ephemeris_bias(trk, tp[before], zp[before], max(trk.fit_window_s, hc))
            e_eph = float(np.sum(np.median(past.position(tq) - zq, axis=0) ** 2))
            loc = fit_pass_window(tp[before], zp[before], self._tca_s, self._tau_s, max(cfg.pass_window_s, hc),
                                  cfg.pass_robust_scale, min_points=8)
            e_loc = float(np.sum(np.median(loc.trajectory.position(tq) - zq, axis=0) ** 2)) * (h / hc) ** 4
        except EstimationError:
            return None, 0.0
        if not (math.isfinite(e_eph) and math.isfinite(e_loc)) or e_loc + e_eph <= 0.0:
            return None, 0.0
        return fit, e_loc / (e_loc + e_eph)

    def _local_pass_fit(self, t: float, t_meas: float | None) -> LocalPassFit | None:
        """While coasting: the pass model fitted to the last ``max(pass_window_s, coasted)`` seconds.

        The window grows with the time coasted (a longer extrapolation needs the rate from a
        longer baseline); it is refitted when it has grown by 5 %.  None when
        ``pass_window_s`` is 0 or the window holds too few measurements (then the global
        fit anchored at the last measurement is used, :meth:`coast`).
        """
        cfg = self.config
        if cfg.pass_window_s <= 0.0 or t_meas is None or not self._hist_t:
            return None
        window = max(cfg.pass_window_s, t - t_meas)
        cached = self._local_fit
        if cached is not None and window <= 1.05 * cached[0]:
            return cached[1]
        try:
            local = fit_pass_window(np.asarray(self._hist_t), np.asarray(self._hist_z), self._tca_s, self._tau_s,
                                    window, cfg.pass_robust_scale, min_points=8)
        except EstimationError:
            local = None
        self._local_fit = (window, local)
        return local
