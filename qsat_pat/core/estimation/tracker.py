"""The line-of-sight Kalman tracker :class:`LosTracker` (seed 002 §II.5-6, eq. (1)-(11)).

Holds :class:`LosTracker`, its per-step result :class:`TrackStep` and :class:`StepStatus`.
The tracker estimates the target's line of sight on two axes with the models of
:mod:`~qsat_pat.core.estimation.models`; it is unit-agnostic (the York replay feeds pixel
centroids and then every "rad" reads "px").  It decides what each step does with its
measurement (gate, tentative, confirm, re-lock) and composes one helper per job:

* :class:`~qsat_pat.core.estimation.filters.FilterBank`: the Kalman filter or IMM itself
  (predict, update, coasting decay, look-ahead);
* :class:`~qsat_pat.core.estimation.noise.AdaptiveQ`: the process-noise scale from the NIS;
* :class:`~qsat_pat.core.estimation.rollback.OnsetRollback`: the blockage-onset rollback;
* :class:`~qsat_pat.core.estimation.coasting.PassCoaster`: coasting on the pass model and
  the ephemeris track.

Gating and re-acquisition
-------------------------
Every measurement is gated by its normalised innovation squared (NIS) against the
chi-square quantile of ``gate_probability`` (2 degrees of freedom), so a spurious detection
is rejected.  While coasting (``z=None`` or rejected) the covariance grows with ``Q`` so the
gate widens and the re-appearing beacon is accepted.  York's first detection after a
blockage is sometimes spurious (their logs show jumps of 50 to 2400 px), so after a gap
longer than ``reacquire_after_s`` (and at start-up) a detection that passes the gate is
only held as *tentative*; it is applied (together with the next one) once the next
detection lands within ``confirm_sigma`` standard deviations of where the tentative one
predicts it.  A detection that does not confirm replaces the tentative one.  A detection
rejected by the gate is kept the same way as a re-lock candidate (position moved onto
it, rates kept): if the next detection confirms it the track follows, so a filter that
fell behind a manoeuvre is not lost for good.

References
----------
seed 002 (York, "Energy efficient optical tracking for space quantum communication")
§II.5 eq. (1)-(9) and §II.6 eq. (10)-(11); Bar-Shalom, Li and Kirubarajan (2001) §11.6 (IMM).
"""

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation.coasting import PassCoaster
from qsat_pat.core.estimation.config import TrackerConfig
from qsat_pat.core.estimation.filters import FilterBank
from qsat_pat.core.estimation.models import STATE_DIM
from qsat_pat.core.estimation.noise import AdaptiveQ
from qsat_pat.core.estimation.pass_fit import EphemerisTrack, PassTrajectory
from qsat_pat.core.estimation.rollback import OnsetRollback, RollbackPoint

__all__ = [
    "LosTracker",
    "StepStatus",
    "TrackStep",
]


class StepStatus(enum.StrEnum):
    """What :meth:`LosTracker.step` did with the measurement of one time step."""

    NO_MEASUREMENT = "no_measurement"  # z is None: coasted on the model
    ACCEPTED = "accepted"  # passed the NIS gate and was applied
    CONFIRMED = "confirmed"  # confirmed a tentative detection; both were applied
    TENTATIVE = "tentative"  # held after a gap / at start, waiting for confirmation
    REJECTED = "rejected"  # outside the NIS gate: coasted


@dataclass(frozen=True)
class TrackStep:
    """Result of one :meth:`LosTracker.step` (what a ``TrackEstimate`` carries).

    Attributes
    ----------
    stamp_s : float
        Time of the step [s].
    status : StepStatus
        What happened to the measurement.
    prior_xy_rad : numpy.ndarray, shape (2,)
        Predicted position at ``stamp_s`` before this step's measurement (NaN before the
        track exists).
    prior_cov_rad2 : numpy.ndarray, shape (2, 2)
        Its covariance.
    state : numpy.ndarray, shape (n,)
        Posterior state (order of TrackEstimate.state; NaN before the track exists).
    covariance : numpy.ndarray, shape (n, n)
        Posterior covariance.
    nis : float
        NIS of this step's measurement against the prior (NaN if none / no track).
    time_since_measurement_s : float
        Time since the last applied measurement [s] (inf before the first).
    """

    stamp_s: float
    status: StepStatus
    prior_xy_rad: np.ndarray
    prior_cov_rad2: np.ndarray
    state: np.ndarray
    covariance: np.ndarray
    nis: float
    time_since_measurement_s: float

    @property
    def accepted(self) -> bool:
        """This step's measurement was applied to the state."""
        return self.status in (StepStatus.ACCEPTED, StepStatus.CONFIRMED)

    @property
    def coasting(self) -> bool:
        """No measurement was applied at this step."""
        return not self.accepted

    @property
    def post_xy_rad(self) -> np.ndarray:
        """Posterior position, shape (2,)."""
        return self.state[:2]


class LosTracker:
    """Line-of-sight Kalman tracker with NIS gating, coasting and confirmed re-acquisition.

    Parameters
    ----------
    config : TrackerConfig
        Model, noise, gate and re-acquisition settings.

    Notes
    -----
    Call :meth:`step` once per camera frame, with ``z=None`` when there is no detection,
    and :meth:`predict_to` for the line of sight at a future (actuation) time.  Time stamps
    must not decrease; a NaN or decreasing stamp raises :class:`EstimationError` and leaves
    the tracker unchanged.

    References
    ----------
    seed 002 §II.5-6 eq. (1)-(11).
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        self.model = self.config.motion_model
        self.dim_x = STATE_DIM[self.model]
        self._gate = self.config.gate_nis()
        self._confirm_nis = self.config.confirm_sigma**2
        self._bank = FilterBank(self.config)
        self._coast = PassCoaster(self.config, self._bank)
        self.reset()

    def set_time_of_closest_approach(self, tca_s: float | None, tau_s: float | None = None) -> None:
        """Tell the tracker the pass geometry from the ephemeris (ephemeris-aided mode).

        An optical ground station knows the time of closest approach (TCA) of a pass, and
        ``tau_s = d_min / v`` (minimum slant range over speed), from its orbit prediction
        (the ephemeris node).  With both, the pass model (``config.pass_model``, see
        :class:`PassTrajectory`) fits only the pass's image on the camera (offset and
        gain, linear; TCA and tau are refined too if ``pass_tca_std_s`` and
        ``pass_tau_rel_std`` are > 0).  The tracker uses the pass model only when both are
        given (see :meth:`pass_trajectory`).  ``None`` forgets them.

        Raises
        ------
        EstimationError
            ``tca_s`` not finite, ``tau_s`` not finite and > 0, or ``tau_s`` without ``tca_s``.
        """
        self._coast.set_time_of_closest_approach(tca_s, tau_s)

    def set_ephemeris_track(self, track: EphemerisTrack | None) -> None:
        """Give the pass's predicted line of sight (ephemeris-aided coasting of long blockages).

        While coasting with the pass model (:meth:`set_time_of_closest_approach` given),
        the tracker also fits the track's time and pointing bias to the recent
        measurements (:func:`fit_ephemeris_bias`) and blends the biased track into the
        coasting estimate, weighted by how well each of the two predicted the past
        (:meth:`~qsat_pat.core.estimation.coasting.PassCoaster._ephemeris_blend`).  ``None``
        forgets it.

        Raises
        ------
        EstimationError
            ``track`` is neither an :class:`EphemerisTrack` nor None.
        """
        self._coast.set_ephemeris_track(track)

    # ---- construction helpers
    def reset(self) -> None:
        """Forget the track (next detection starts a new tentative track)."""
        cfg = self.config
        self._t: float | None = None
        self._t_meas: float | None = None
        self._has_track = False
        self._tentative: tuple[float, np.ndarray, np.ndarray, object] | None = None
        self.n_accepted = 0
        self.n_rejected = 0
        self.n_tentative_dropped = 0
        self._adaptive_q = AdaptiveQ(cfg.adaptive_q_memory, cfg.adaptive_q_max_scale, self._gate)
        self._coast.reset()
        self._last_post: np.ndarray | None = None
        self._rollback = OnsetRollback(cfg.rollback_frames, cfg.rollback_nis_probability)
        self.n_rolled_back = 0
        self._estimator = self._bank.new_estimator()

    # ---- state access
    @property
    def has_track(self) -> bool:
        """A track exists (a detection was confirmed)."""
        return self._has_track

    @property
    def state(self) -> np.ndarray:
        """Posterior state, shape (n,) (NaN without a track)."""
        if not self._has_track:
            return np.full(self.dim_x, np.nan)
        return self._bank.state_of(self._estimator)[0]

    @property
    def covariance(self) -> np.ndarray:
        """Posterior covariance, shape (n, n) (NaN without a track)."""
        if not self._has_track:
            return np.full((self.dim_x, self.dim_x), np.nan)
        return self._bank.state_of(self._estimator)[1]

    @property
    def model_probabilities(self) -> np.ndarray:
        """IMM mode probabilities (cv, ca, cj); a single 1.0 for a single model."""
        return self._bank.model_probabilities(self._estimator)

    @property
    def q_scale(self) -> float:
        """Current factor of the adaptive process noise (1 = as configured)."""
        return self._adaptive_q.scale

    @property
    def n_pass_fits(self) -> int:
        """Pass-model fits made since the last :meth:`reset`."""
        return self._coast.n_pass_fits

    # ---- public API
    def _check_inputs(self, stamp_s, z, r_cov) -> tuple[float, np.ndarray | None, np.ndarray]:
        t = float(np.asarray(stamp_s, dtype=float))
        if not math.isfinite(t):
            raise EstimationError(f"time stamp {stamp_s!r} is not finite; drop the frame or fix its stamp")
        if self._t is not None and t < self._t:
            raise EstimationError(
                f"time stamp {t!r} s is before the previous one ({self._t!r} s); stamps must not decrease")
        if r_cov is None:
            r = np.eye(2) * self.config.measurement_std_rad**2
        else:
            try:
                r = np.asarray(r_cov, dtype=float).reshape(2, 2)
            except (TypeError, ValueError):
                raise EstimationError(f"measurement covariance {r_cov!r} must be a 2x2 array") from None
            (r00, r01), (r10, r11) = r.tolist()  # scalar checks (numpy's cost ~30 us per step at 1 kHz)
            if (not all(map(math.isfinite, (r00, r01, r10, r11))) or r00 <= 0 or r00 * r11 - r01 * r10 <= 0
                    or abs(r01 - r10) > 1e-9 * abs(r00)):
                raise EstimationError(f"measurement covariance {r.tolist()} must be finite, symmetric, positive definite")
        if z is None:
            return t, None, r
        try:
            zz = np.asarray(z, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            zz = np.full(1, np.nan)
        if zz.shape != (2,) or not (math.isfinite(zz[0]) and math.isfinite(zz[1])):
            raise EstimationError(f"measurement {z!r} must be two finite numbers (x, y); pass None for no detection")
        return t, zz, r

    def step(self, stamp_s: float, z: Sequence[float] | np.ndarray | None = None,
             r_cov: np.ndarray | None = None) -> TrackStep:
        """Advance to ``stamp_s`` and use the measurement ``z`` if it passes the gate.

        Parameters
        ----------
        stamp_s : float
            Time of the measurement [s]; must not be before the previous step's.
        z : array_like, shape (2,), or None
            Measured line of sight (x, y) [rad]; ``None`` when there is no detection (coast).
        r_cov : array_like, shape (2, 2), optional
            Covariance of this measurement [rad^2] (e.g. the centroid's Cramér-Rao bound
            times the pixel scale squared); default ``measurement_std_rad**2 * I``.

        Returns
        -------
        TrackStep
            Prior (prediction before ``z``), posterior, NIS and status.

        Raises
        ------
        EstimationError
            NaN / decreasing stamp, non-finite ``z``, bad ``r_cov``.  The tracker is left
            unchanged.

        References
        ----------
        seed 002 eq. (3)-(4) (prediction), (7)-(9) (correction).
        """
        t, zz, r = self._check_inputs(stamp_s, z, r_cov)
        est = self._estimator
        nan2 = np.full(2, np.nan)
        nan22 = np.full((2, 2), np.nan)

        if not self._has_track:
            # no track yet: a first detection is tentative, the next consistent one starts the track
            self._t = t
            if zz is None:
                return self._result(t, StepStatus.NO_MEASUREMENT, nan2, nan22, math.nan)
            if self._tentative is not None and self._confirms(t, zz, r):
                self._commit_tentative(t, zz, r)
                return self._result(t, StepStatus.CONFIRMED, nan2, nan22, math.nan)
            if self._tentative is not None:
                self.n_tentative_dropped += 1
            fresh = self._bank.new_estimator()
            self._bank.start(fresh, zz, r)
            self._tentative = (t, zz, r, fresh)
            return self._result(t, StepStatus.TENTATIVE, nan2, nan22, math.nan)

        if zz is None and self._rollback.pending:
            # the detections stop: take back the last frames if one of them was suspect
            if self._roll_back_onset():
                est = self._estimator
            self._rollback.clear()
        dt = t - self._t
        self._bank.predict(est, dt, self._adaptive_q.scale)
        self._t = t
        if zz is None:
            self._bank.decay(est, dt)
            self._pass_coast(est, t, dt)
            xp, pp = self._bank.state_of(est)
            return self._result(t, StepStatus.NO_MEASUREMENT, xp[:2], pp[:2, :2], math.nan)
        zp, pp, nis = self._bank.innovation(est, zz, r)
        nis_mean, q_scale = self._adaptive_q.nis_mean, self._adaptive_q.scale
        self._adaptive_q.update(nis)
        if self._tentative is not None:
            if self._confirms(t, zz, r):
                self._rollback.clear()
                self._commit_tentative(t, zz, r)
                return self._result(t, StepStatus.CONFIRMED, zp, pp, nis)
            self.n_tentative_dropped += 1
            self._tentative = None
        if nis > self._gate:
            # outside the gate: coast, but keep the detection as a re-lock candidate so that a
            # track that fell behind a manoeuvre is not lost for good (the next detection
            # confirms it or not)
            self.n_rejected += 1
            self._tentative = (t, zz, r, self._bank.relock_trial(est, zz, r))
            self._bank.decay(est, dt)
            self._pass_coast(est, t, dt)
            return self._result(t, StepStatus.REJECTED, zp, pp, nis)
        gap = t - self._t_meas
        if gap > self.config.reacquire_after_s:
            trial = copy.deepcopy(est)
            self._bank.update(trial, zz, r)
            self._tentative = (t, zz, r, trial)
            self._rollback.clear()  # only rejected detections since: nothing recent to take back
            self._bank.decay(est, dt)
            self._pass_coast(est, t, dt)
            return self._result(t, StepStatus.TENTATIVE, zp, pp, nis)
        if self._rollback.enabled:
            # cheap: the prior is copied only for a suspect measurement (~1 % of good frames)
            suspect = self._rollback.is_suspect(nis, nis_mean)
            self._rollback.record(None if not suspect else
                                  RollbackPoint(t, dt, copy.deepcopy(est), self._t_meas, self._last_post, nis_mean,
                                                q_scale))
        self._bank.update(est, zz, r)
        self._t_meas = t
        self._coast.remember(t, zz)
        self._last_post = self._bank.state_of(est)[0][:2]
        self.n_accepted += 1
        return self._result(t, StepStatus.ACCEPTED, zp, pp, nis)

    def _roll_back_onset(self) -> bool:
        """Blockage-onset rollback: take back the last applied measurements if one was suspect.

        Called at the first step without a detection after applied ones; which measurements
        are taken back, and why, is :class:`~qsat_pat.core.estimation.rollback.OnsetRollback`'s.
        The filter is put back to its prior at the earliest suspect one (a copy kept at that
        update: no history is replayed), that step becomes a coasting step, the time of the
        last measurement, the posterior position and the adaptive Q are restored, and that
        measurement and the ones after it are dropped from the pass-model history; the
        caller then coasts on from there.

        Returns
        -------
        bool
            True if measurements were taken back (``self._estimator`` replaced).

        References
        ----------
        seed 002 §III (the beacon blocked intermittently to mimic clouds) and eq. (7)-(9).
        """
        taken = self._rollback.take_back()
        if taken is None:
            return False
        point, n = taken
        self._bank.decay(point.prior, point.dt_s)  # the suspect frame's step becomes a coasting step
        self._estimator = point.prior
        self._t = point.stamp_s
        self._t_meas = point.t_meas_s
        self._last_post = point.last_post
        self._adaptive_q.nis_mean, self._adaptive_q.scale = point.nis_mean, point.q_scale
        self._coast.forget_from(point.stamp_s)
        self.n_accepted -= n
        self.n_rolled_back += n
        return True

    def _confirms(self, t: float, z: np.ndarray, r: np.ndarray) -> bool:
        """Does ``z`` at ``t`` land within ``confirm_sigma`` of the tentative track's prediction?"""
        t0, _, _, trial = self._tentative
        x, p = self._bank.peek(trial, t - t0, self._adaptive_q.scale)
        y = z - x[:2]
        try:
            nis = float(y @ np.linalg.solve(p[:2, :2] + r, y))
        except np.linalg.LinAlgError:
            return False
        return nis <= self._confirm_nis

    def pass_trajectory(self) -> PassTrajectory | None:
        """The pass model fitted to the measurements applied so far (None if not usable).

        Uses only the past (causal) and the pass geometry (TCA and ``tau_s``) given by
        :meth:`set_time_of_closest_approach`; without both it returns None: before the
        zenith the pass's timing cannot be told from its shape (a fit with a free
        ``tau_s`` collapses onto ``c + k / (tca - t)`` and diverges at the TCA), so the
        model is only used ephemeris-aided.
        """
        return self._coast.trajectory()

    def _pass_coast(self, est, t: float, dt: float) -> None:
        """While coasting, set the kinematic states from the pass model (``config.pass_model``;
        :meth:`~qsat_pat.core.estimation.coasting.PassCoaster.coast`)."""
        self._coast.coast(est, t, dt, self._t_meas, self._last_post, self._adaptive_q.scale)

    def _commit_tentative(self, t: float, z: np.ndarray, r: np.ndarray) -> None:
        t0, z0, _, trial = self._tentative
        self._bank.predict(trial, t - t0, self._adaptive_q.scale)
        self._bank.update(trial, z, r)
        self._estimator = trial
        self._tentative = None
        self._has_track = True
        self._t_meas = t
        self._coast.remember(t0, z0)
        self._coast.remember(t, z)
        self._last_post = self._bank.state_of(trial)[0][:2]
        self.n_accepted += 2

    def _result(self, t, status, prior_xy, prior_cov, nis) -> TrackStep:
        x, p = (self._bank.state_of(self._estimator) if self._has_track
                else (np.full(self.dim_x, np.nan), np.full((self.dim_x, self.dim_x), np.nan)))
        since = math.inf if self._t_meas is None else t - self._t_meas
        return TrackStep(t, status, np.asarray(prior_xy, float), np.asarray(prior_cov, float), x, p,
                         float(nis), since)

    def predict_to(self, stamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Predicted line of sight at a future time (the actuation time), state unchanged.

        Parameters
        ----------
        stamp_s : float
            Time to predict to [s]; not before the last step.

        Returns
        -------
        xy_rad : numpy.ndarray, shape (2,)
            Predicted position [rad].
        cov_rad2 : numpy.ndarray, shape (2, 2)
            Its covariance [rad^2].

        Raises
        ------
        EstimationError
            No track yet, or ``stamp_s`` NaN or before the last step.

        References
        ----------
        seed 002 eq. (3)-(4) applied over the latency.
        """
        t = float(np.asarray(stamp_s, dtype=float))
        if not self._has_track:
            raise EstimationError("no track to predict from; feed detections with step() first")
        if not math.isfinite(t) or t < self._t:
            raise EstimationError(f"prediction time {stamp_s!r} s must be finite and not before {self._t!r} s")
        x, p = self._bank.peek(self._estimator, t - self._t, self._adaptive_q.scale)
        return x[:2], p[:2, :2]
