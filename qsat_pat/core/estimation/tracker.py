"""The line-of-sight Kalman tracker :class:`LosTracker` (seed 002 §II.5-6, eq. (1)-(11)).

Holds :class:`LosTracker`, its per-step result :class:`TrackStep` and :class:`StepStatus`.
The tracker estimates the target's line of sight on two axes with the models of
:mod:`~qsat_pat.core.estimation.models`; it is unit-agnostic (the York replay feeds pixel
centroids and then every "rad" reads "px").

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
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from filterpy.common import reshape_z
from filterpy.kalman import IMMEstimator, KalmanFilter
from scipy.stats import chi2

from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation.config import TrackerConfig
from qsat_pat.core.estimation.models import (
    MODEL_ORDER,
    STATE_DIM,
    MotionModel,
    measurement_matrix,
    process_noise,
    transition_matrix,
)
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


class _KalmanFilter(KalmanFilter):
    """filterpy's KalmanFilter with the measurement likelihood (used by the IMM) in closed form.

    filterpy evaluates it through ``scipy.stats.multivariate_normal`` on every update,
    which is most of an IMM step's cost; this is the same Gaussian density of the last
    innovation ``y`` with covariance ``S``.
    """

    @property
    def likelihood(self) -> float:
        y = np.asarray(self.y, float).reshape(-1)
        s = np.asarray(self.S, float)
        det = s[0, 0] * s[1, 1] - s[0, 1] * s[1, 0]
        if not det > 0.0:
            return sys.float_info.min
        m = (s[1, 1] * y[0] ** 2 - (s[0, 1] + s[1, 0]) * y[0] * y[1] + s[0, 0] * y[1] ** 2) / det
        return max(math.exp(-0.5 * m) / (2.0 * math.pi * math.sqrt(det)), sys.float_info.min)

    def update(self, z, R=None, H=None):
        """filterpy's ``KalmanFilter.update`` (Joseph form), the same arithmetic in the same order,
        keeping ``self.z`` as an array copy instead of ``copy.deepcopy`` (~30 us per step at 1 kHz)."""
        if z is None or H is not None:
            return super().update(z, R, H)
        self._log_likelihood = self._likelihood = self._mahalanobis = None
        if R is None:
            R = self.R
        elif np.isscalar(R):
            R = np.eye(self.dim_z) * R
        z = reshape_z(z, self.dim_z, self.x.ndim)
        H = self.H
        self.y = z - np.dot(H, self.x)
        pht = np.dot(self.P, H.T)
        self.S = np.dot(H, pht) + R
        self.SI = self.inv(self.S)
        self.K = np.dot(pht, self.SI)
        self.x = self.x + np.dot(self.K, self.y)
        i_kh = self._I - np.dot(self.K, H)
        self.P = np.dot(np.dot(i_kh, self.P), i_kh.T) + np.dot(np.dot(self.K, R), self.K.T)
        self.z = np.array(z, dtype=float)
        self.x_post = self.x.copy()
        self.P_post = self.P.copy()
        return None


def _single_filter(model: MotionModel, cfg: TrackerConfig, dim_x: int) -> KalmanFilter:
    kf = _KalmanFilter(dim_x=dim_x, dim_z=2)
    kf.x = np.zeros(dim_x)
    kf.H = measurement_matrix(dim_x // 2)
    kf.R = np.eye(2) * cfg.measurement_std_rad**2
    return kf


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
        self._rollback_nis = float(chi2.ppf(self.config.rollback_nis_probability, 2))
        self._tca_s: float | None = None
        self._tau_s: float | None = None
        self._ephemeris: EphemerisTrack | None = None
        self._dynamics_cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
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
        """Give the pass's predicted line of sight (ephemeris-aided coasting of long blockages).

        While coasting with the pass model (:meth:`set_time_of_closest_approach` given),
        the tracker also fits the track's time and pointing bias to the recent
        measurements (:func:`fit_ephemeris_bias`) and blends the biased track into the
        coasting estimate, weighted by how well each of the two predicted the past
        (:meth:`_ephemeris_blend`).  ``None`` forgets it.

        Raises
        ------
        EstimationError
            ``track`` is neither an :class:`EphemerisTrack` nor None.
        """
        if track is not None and not isinstance(track, EphemerisTrack):
            raise EstimationError(f"ephemeris track must be an EphemerisTrack or None, got {type(track).__name__}")
        self._ephemeris = track
        self._eph_blend = None

    # ---- construction helpers
    def reset(self) -> None:
        """Forget the track (next detection starts a new tentative track)."""
        self._t: float | None = None
        self._t_meas: float | None = None
        self._has_track = False
        self._tentative: tuple[float, np.ndarray, np.ndarray, object] | None = None
        self.n_accepted = 0
        self.n_rejected = 0
        self.n_tentative_dropped = 0
        self._nis_mean = 2.0
        self._q_scale = 1.0
        self._hist_t: list[float] = []
        self._hist_z: list[np.ndarray] = []
        self._coast_anchor = None
        self._local_fit: tuple[float, LocalPassFit | None] | None = None
        self._eph_blend: tuple[float, EphemerisFit | None, float] | None = None
        self._last_post: np.ndarray | None = None
        # blockage-onset rollback: one entry per recent applied measurement, None if its NIS was
        # not suspect, else what is needed to take it back (see _roll_back_onset)
        self._recent: deque = deque(maxlen=self.config.rollback_frames)
        self.n_rolled_back = 0
        self.n_pass_fits = 0
        self._estimator = self._new_estimator()

    def _new_estimator(self):
        cfg = self.config
        if self.model is not MotionModel.IMM:
            return _single_filter(self.model, cfg, self.dim_x)
        filters = [_single_filter(m, cfg, 8) for m in (MotionModel.CV, MotionModel.CA, MotionModel.CJ)]
        stay = cfg.imm_stay_probability
        trans = np.full((3, 3), (1.0 - stay) / 2.0) + np.eye(3) * (stay - (1.0 - stay) / 2.0)
        return IMMEstimator(filters, np.array([1 / 3, 1 / 3, 1 / 3]), trans)

    def _filters(self) -> list[KalmanFilter]:
        est = self._estimator
        return list(est.filters) if isinstance(est, IMMEstimator) else [est]

    def _set_dynamics(self, est, dt: float) -> None:
        """Set F and Q of every filter of ``est`` for a step of ``dt`` seconds."""
        cfg = self.config
        if isinstance(est, IMMEstimator):
            for kf, m in zip(est.filters, (MotionModel.CV, MotionModel.CA, MotionModel.CJ)):
                o = MODEL_ORDER[m]
                n = 2 * o
                f = np.eye(8)  # states a model lacks are carried unchanged (unbiased mixing)
                f[:n, :n] = transition_matrix(o, dt)
                q = np.zeros((8, 8))
                q[:n, :n] = process_noise(o, dt, cfg.q_of(m) * self._q_scale, cfg.noise_kind)
                kf.F, kf.Q = f, q
        else:
            est.F, est.Q = self._dynamics(dt)

    def _dynamics(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """``F`` and ``Q`` of the single model for a step of ``dt`` s (the last pair is reused:
        at a steady frame rate dt and q repeat; filterpy does not modify F or Q)."""
        cfg = self.config
        o = MODEL_ORDER[self.model]
        key = (dt, cfg.q_of(self.model) * self._q_scale)
        cached = self._dynamics_cache.get(key)
        if cached is None:
            if len(self._dynamics_cache) > 8:
                self._dynamics_cache.clear()
            cached = self._dynamics_cache[key] = (transition_matrix(o, dt), process_noise(o, dt, key[1], cfg.noise_kind))
        return cached

    def _initial_state(self, z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        x = np.zeros(self.dim_x)
        x[:2] = z
        p = np.zeros((self.dim_x, self.dim_x))
        p[:2, :2] = r
        stds = [cfg.init_rate_std_radps, cfg.init_acc_std_radps2, cfg.init_jerk_std_radps3]
        for k in range(1, self.dim_x // 2):
            p[2 * k, 2 * k] = p[2 * k + 1, 2 * k + 1] = stds[k - 1] ** 2
        return x, p

    def _start(self, est, z: np.ndarray, r: np.ndarray) -> None:
        x, p = self._initial_state(z, r)
        if isinstance(est, IMMEstimator):
            for kf in est.filters:
                kf.x, kf.P = x.copy(), p.copy()
            est.mu = np.full(3, 1 / 3)
            est._compute_mixing_probabilities()
            est._compute_state_estimate()
        else:
            est.x, est.P = x, p

    # ---- state access
    @staticmethod
    def _state_of(est) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(est.x, float).reshape(-1).copy(), np.asarray(est.P, float).copy()

    @property
    def has_track(self) -> bool:
        """A track exists (a detection was confirmed)."""
        return self._has_track

    @property
    def state(self) -> np.ndarray:
        """Posterior state, shape (n,) (NaN without a track)."""
        if not self._has_track:
            return np.full(self.dim_x, np.nan)
        return self._state_of(self._estimator)[0]

    @property
    def covariance(self) -> np.ndarray:
        """Posterior covariance, shape (n, n) (NaN without a track)."""
        if not self._has_track:
            return np.full((self.dim_x, self.dim_x), np.nan)
        return self._state_of(self._estimator)[1]

    @property
    def model_probabilities(self) -> np.ndarray:
        """IMM mode probabilities (cv, ca, cj); a single 1.0 for a single model."""
        est = self._estimator
        return np.asarray(est.mu, float).copy() if isinstance(est, IMMEstimator) else np.ones(1)

    # ---- filtering primitives
    def _predict(self, est, dt: float) -> None:
        self._set_dynamics(est, dt)
        est.predict()
        if isinstance(est, IMMEstimator):
            # the combined prior (filterpy weights it with the previous mode probabilities)
            # uses the predicted ones, as the gate and the coasting step need
            mu = est.mu
            est.mu = np.asarray(est.cbar, float)
            est._compute_state_estimate()
            est.mu = mu

    def _adapt_q(self, nis: float) -> None:
        """Scale Q by the running mean of the NIS (adjustable process noise).

        A model that lags a manoeuvre (the zenith of a fast pass) shows NIS above its
        expectation, 2 for two measured coordinates; Q is then multiplied by
        ``(mean NIS / 2)**2`` (at most ``adaptive_q_max_scale``) until the innovations are
        white again.  Each NIS is clipped at the gate so one spurious detection barely
        moves the mean.  Bar-Shalom et al. (2001) §11.2.
        """
        n = self.config.adaptive_q_memory
        if n <= 0 or not math.isfinite(nis):
            return
        a = 1.0 / n
        self._nis_mean = (1.0 - a) * self._nis_mean + a * min(nis, self._gate)
        self._q_scale = min(max((self._nis_mean / 2.0) ** 2, 1.0), self.config.adaptive_q_max_scale)

    @property
    def q_scale(self) -> float:
        """Current factor of the adaptive process noise (1 = as configured)."""
        return self._q_scale

    def _decay(self, est, dt: float) -> None:
        """End a step without a measurement: IMM mode probabilities and derivative decay.

        IMM: the mode probabilities become the predicted ones (no likelihood to weigh).
        All models: accelerations and jerks decay as exp(-dt / coast_decay_s).

        Over a long blockage a polynomial model extrapolates its acceleration and jerk
        without bound (a 2 min cloud turns a 1 px/s^2 estimate into km of error); a pass's
        line-of-sight acceleration is bounded and reverses at the zenith, so while no
        measurement is applied they relax to zero (Singer's exponentially correlated
        acceleration, Bar-Shalom et al. (2001) §8.2).  The covariance is scaled alike.
        """
        if isinstance(est, IMMEstimator):
            # no update follows: the mode probabilities are the predicted ones
            est.mu = np.asarray(est.cbar, float).copy()
            est._compute_mixing_probabilities()
            est._compute_state_estimate()
        tau = self.config.coast_decay_s
        if tau <= 0.0 or dt <= 0.0:
            return
        k = math.exp(-dt / tau)
        kfs = list(est.filters) if isinstance(est, IMMEstimator) else [est]
        for kf in kfs:
            n = np.asarray(kf.x).reshape(-1).shape[0]
            if n <= 4:
                continue
            d = np.ones(n)
            d[4:] = k
            kf.x = np.asarray(kf.x, float).reshape(-1) * d
            kf.P = kf.P * np.outer(d, d)
        if isinstance(est, IMMEstimator):
            est._compute_state_estimate()

    @staticmethod
    def _innovation(est, z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        x, p = LosTracker._state_of(est)
        zp = x[:2]
        s = p[:2, :2] + r
        y = z - zp
        try:
            nis = float(y @ np.linalg.solve(s, y))
        except np.linalg.LinAlgError:
            nis = math.inf
        return zp, p[:2, :2], nis

    @staticmethod
    def _update(est, z: np.ndarray, r: np.ndarray) -> None:
        if isinstance(est, IMMEstimator):
            for kf in est.filters:
                kf.R = r
            est.update(z)
        else:
            est.update(z, R=r)

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
            fresh = self._new_estimator()
            self._start(fresh, zz, r)
            self._tentative = (t, zz, r, fresh)
            return self._result(t, StepStatus.TENTATIVE, nan2, nan22, math.nan)

        if zz is None and self._recent:
            # the detections stop: take back the last frames if one of them was suspect
            if self._roll_back_onset():
                est = self._estimator
            self._recent.clear()
        dt = t - self._t
        self._predict(est, dt)
        self._t = t
        if zz is None:
            self._decay(est, dt)
            self._pass_coast(est, t, dt)
            xp, pp = self._state_of(est)
            return self._result(t, StepStatus.NO_MEASUREMENT, xp[:2], pp[:2, :2], math.nan)
        zp, pp, nis = self._innovation(est, zz, r)
        nis_mean, q_scale = self._nis_mean, self._q_scale
        self._adapt_q(nis)
        if self._tentative is not None:
            if self._confirms(t, zz, r):
                self._recent.clear()
                self._commit_tentative(t, zz, r)
                return self._result(t, StepStatus.CONFIRMED, zp, pp, nis)
            self.n_tentative_dropped += 1
            self._tentative = None
        if nis > self._gate:
            # outside the gate: coast, but keep the detection as a re-lock candidate so that a
            # track that fell behind a manoeuvre is not lost for good (the next detection
            # confirms it or not)
            self.n_rejected += 1
            self._tentative = (t, zz, r, self._relock_trial(est, zz, r))
            self._decay(est, dt)
            self._pass_coast(est, t, dt)
            return self._result(t, StepStatus.REJECTED, zp, pp, nis)
        gap = t - self._t_meas
        if gap > self.config.reacquire_after_s:
            trial = copy.deepcopy(est)
            self._update(trial, zz, r)
            self._tentative = (t, zz, r, trial)
            self._recent.clear()  # only rejected detections since: nothing recent to take back
            self._decay(est, dt)
            self._pass_coast(est, t, dt)
            return self._result(t, StepStatus.TENTATIVE, zp, pp, nis)
        if self._recent.maxlen:
            # cheap: the prior is copied only for a suspect measurement (~1 % of good frames)
            # suspect: NIS above the quantile, scaled by the running NIS mean / 2 while the model lags
            # a manoeuvre (then large innovations are the lag, not a biased centroid)
            suspect = nis > self._rollback_nis * max(1.0, nis_mean / 2.0)
            self._recent.append(None if not suspect else
                                (t, dt, copy.deepcopy(est), self._t_meas, self._last_post, nis_mean, q_scale))
        self._update(est, zz, r)
        self._t_meas = t
        self._remember(t, zz)
        self._last_post = self._state_of(est)[0][:2]
        self.n_accepted += 1
        return self._result(t, StepStatus.ACCEPTED, zp, pp, nis)

    def _roll_back_onset(self) -> bool:
        """Blockage-onset rollback: take back the last applied measurements if one was suspect.

        Called at the first step without a detection after applied ones.  If any of the
        last ``rollback_frames`` applied measurements was suspect, the filter is put back
        to its prior at the earliest suspect one (a copy kept at that update: no history is
        replayed), that step becomes a coasting step, and that measurement and the ones
        after it are dropped from the pass-model history; the caller then coasts on from
        there.  The result is the coast the filter would have made had those frames been
        missed.  A measurement is suspect when its NIS exceeds the chi-square (2 dof)
        quantile ``rollback_nis_probability`` (9.21 at 99 %, well inside the gate's 18.4 at
        99.99 %) times ``max(1, m / 2)``, ``m`` being the running NIS mean before it (the
        adaptive Q's, :meth:`_adapt_q`; ~2 on a steady track): while the model lags a
        manoeuvre or the noise is larger than stated, large innovations are ordinary and
        say nothing about one frame.

        Why: the obstruction that ends a track (a cloud edge, a dome slit, a branch) covers
        the beacon spot progressively, so the last frames before a blockage can see a
        partly covered spot whose centroid is pulled towards the uncovered part, as York's
        first detection after a blockage is sometimes spurious (their logs of seed 002
        §III, where the beacon is blocked to mimic clouds; cv_clean_04A row 583: the last
        detection 4.4 px behind the spot, NIS 14).  Accepted by the gate, such a frame
        shifts the position and, through the Kalman gain of the rates (seed 002 eq.
        (7)-(9)), the velocity the filter coasts on for seconds.  During a track nothing is
        taken back (the next detections correct a bad frame); at a blockage nothing will.
        A good frame after a suspect one is taken back too (the cover that biased the one
        usually biases the next; a lost good frame costs little).  Causal: only frames
        before the current step are used.  Cheap: the prior is copied only at a suspect
        update (~1 % of good frames).

        Returns
        -------
        bool
            True if measurements were taken back (``self._estimator`` replaced).

        References
        ----------
        seed 002 §III (the beacon blocked intermittently to mimic clouds) and eq. (7)-(9);
        Bar-Shalom, Li and Kirubarajan (2001) §5.4 (the NIS and its chi-square test).
        """
        entries = list(self._recent)
        first = next((k for k, e in enumerate(entries) if e is not None), None)
        if first is None:
            return False
        t_k, dt_k, prior, t_meas, last_post, nis_mean, q_scale = entries[first]
        self._decay(prior, dt_k)  # the suspect frame's step becomes a coasting step
        self._estimator = prior
        self._t = t_k
        self._t_meas = t_meas
        self._last_post = last_post
        self._nis_mean, self._q_scale = nis_mean, q_scale
        while self._hist_t and self._hist_t[-1] >= t_k:
            self._hist_t.pop()
            self._hist_z.pop()
        n = len(entries) - first
        self.n_accepted -= n
        self.n_rolled_back += n
        self._coast_anchor = None
        self._local_fit = None
        self._eph_blend = None
        return True

    @staticmethod
    def _relock_trial(est, z: np.ndarray, r: np.ndarray):
        """Copy of ``est`` moved onto ``z``: position = z with covariance r, rates kept."""
        trial = copy.deepcopy(est)
        kfs = list(trial.filters) if isinstance(trial, IMMEstimator) else [trial]
        for kf in kfs:
            x = np.asarray(kf.x, float).reshape(-1).copy()
            p = np.asarray(kf.P, float).copy()
            x[:2] = z
            p[:2, :] = 0.0
            p[:, :2] = 0.0
            p[:2, :2] = r
            kf.x, kf.P = x, p
        if isinstance(trial, IMMEstimator):
            trial._compute_state_estimate()
        return trial

    def _confirms(self, t: float, z: np.ndarray, r: np.ndarray) -> bool:
        """Does ``z`` at ``t`` land within ``confirm_sigma`` of the tentative track's prediction?"""
        t0, _, _, trial = self._tentative
        x, p = self._peek(trial, t - t0)
        y = z - x[:2]
        try:
            nis = float(y @ np.linalg.solve(p[:2, :2] + r, y))
        except np.linalg.LinAlgError:
            return False
        return nis <= self._confirm_nis

    def _peek(self, est, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Predicted state and covariance ``dt`` seconds ahead, ``est`` unchanged.

        For the IMM: each model's prediction, combined with the predicted mode
        probabilities (no re-mixing).
        """
        cfg = self.config
        if not isinstance(est, IMMEstimator):
            f, q = self._dynamics(dt)
            x = f @ np.asarray(est.x, float).reshape(-1)
            p = f @ est.P @ f.T + q
            return x, p
        w = np.asarray(est.mu, float) @ est.M
        xs, ps = [], []
        for kf, m in zip(est.filters, (MotionModel.CV, MotionModel.CA, MotionModel.CJ)):
            o = MODEL_ORDER[m]
            n = 2 * o
            f = transition_matrix(o, dt)
            fe = np.eye(8)
            fe[:n, :n] = f
            qe = np.zeros((8, 8))
            qe[:n, :n] = process_noise(o, dt, cfg.q_of(m) * self._q_scale, cfg.noise_kind)
            xi = fe @ np.asarray(kf.x, float).reshape(-1)
            pi = fe @ kf.P @ fe.T + qe
            xs.append(xi)
            ps.append(pi)
        x = sum(wi * xi for wi, xi in zip(w, xs))
        p = sum(wi * (pi + np.outer(xi - x, xi - x)) for wi, xi, pi in zip(w, xs, ps))
        return x, p

    def _remember(self, t: float, z: np.ndarray) -> None:
        """Keep an applied measurement for the pass model; a new one ends the coast."""
        self._coast_anchor = None
        if self.config.pass_model:
            self._hist_t.append(float(t))
            self._hist_z.append(np.asarray(z, float).copy())
            if len(self._hist_t) > 4 * self.config.pass_max_points:  # bounded memory: thin evenly
                self._hist_t = self._hist_t[::2]
                self._hist_z = self._hist_z[::2]

    def pass_trajectory(self) -> PassTrajectory | None:
        """The pass model fitted to the measurements applied so far (None if not usable).

        Uses only the past (causal) and the pass geometry (TCA and ``tau_s``) given by
        :meth:`set_time_of_closest_approach`; without both it returns None: before the
        zenith the pass's timing cannot be told from its shape (a fit with a free
        ``tau_s`` collapses onto ``c + k / (tca - t)`` and diverges at the TCA), so the
        model is only used ephemeris-aided.
        """
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

    def _pass_coast(self, est, t: float, dt: float) -> None:
        """While coasting, set the kinematic states from the pass model (``config.pass_model``).

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
            fit = self.pass_trajectory()
            if fit is None or self._t_meas is None:
                self._coast_anchor = False
            else:
                x_last = np.asarray(self._hist_z[-1], float) if self._last_post is None else self._last_post
                self._coast_anchor = (fit, x_last - fit.position(self._t_meas), copy.deepcopy(est))
                self._local_fit = None
                self._eph_blend = None
        elif self._coast_anchor is not False:
            pure = self._coast_anchor[2]
            self._predict(pure, dt)
            self._decay(pure, dt)
        if self._coast_anchor is False:
            return
        fit, offset, pure = self._coast_anchor
        local = self._local_pass_fit(t)
        if local is None:
            d = fit.derivatives(t, 4)
            d[0] = d[0] + offset
            s2 = np.full(2, self.config.pass_model_std_rad**2)
        else:
            d = local.trajectory.derivatives(t, 4)
            s2 = local.position_variance(t)
        xk, pk = self._state_of(pure)
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
        self._ephemeris_blend(est, t)

    def _ephemeris_blend(self, est, t: float) -> None:
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
        if trk is None or self._t_meas is None or self._tca_s is None or self._tau_s is None:
            return
        h = t - self._t_meas
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

    def _local_pass_fit(self, t: float) -> LocalPassFit | None:
        """While coasting: the pass model fitted to the last ``max(pass_window_s, coasted)`` seconds.

        The window grows with the time coasted (a longer extrapolation needs the rate from a
        longer baseline); it is refitted when it has grown by 5 %.  None when
        ``pass_window_s`` is 0 or the window holds too few measurements (then the global
        fit anchored at the last measurement is used, :meth:`_pass_coast`).
        """
        cfg = self.config
        if cfg.pass_window_s <= 0.0 or self._t_meas is None or not self._hist_t:
            return None
        window = max(cfg.pass_window_s, t - self._t_meas)
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

    def _commit_tentative(self, t: float, z: np.ndarray, r: np.ndarray) -> None:
        t0, z0, _, trial = self._tentative
        self._predict(trial, t - t0)
        self._update(trial, z, r)
        self._estimator = trial
        self._tentative = None
        self._has_track = True
        self._t_meas = t
        self._remember(t0, z0)
        self._remember(t, z)
        self._last_post = self._state_of(trial)[0][:2]
        self.n_accepted += 2

    def _result(self, t, status, prior_xy, prior_cov, nis) -> TrackStep:
        x, p = (self._state_of(self._estimator) if self._has_track
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
        x, p = self._peek(self._estimator, t - self._t)
        return x[:2], p[:2, :2]
