"""The filters :class:`~qsat_pat.core.estimation.tracker.LosTracker` runs: one Kalman filter or an IMM.

:class:`FilterBank` builds and steps the tracker's estimator, a filterpy ``KalmanFilter``
of one motion model (``cv``, ``ca``, ``cj``) or an ``IMMEstimator`` of the three, and holds
every operation that differs between the two: dynamics (``F``, ``Q``), predict, the
innovation and its NIS, update (Joseph form), the coasting decay, the re-lock copy and the
look-ahead prediction.  The tracker decides *when* to call them (gating, re-acquisition);
the process-noise scale comes from the adaptive Q
(:class:`~qsat_pat.core.estimation.noise.AdaptiveQ`).

IMM
---
``imm``: an interacting-multiple-model estimator of the three, for the
horizon -> zenith -> horizon acceleration changes (filterpy ``IMMEstimator``; the CV
and CA models are embedded in the 8-state space and carry the derivatives they do not
model unchanged, without process noise, so that mixing does not pull the CA/CJ
accelerations towards zero).  Seed 002 §II.6 instead flips the sign of the acceleration states at the zenith
by hand; the IMM does not need to know where the zenith is.

Coasting decay
--------------
While no measurement is applied, accelerations and jerks relax to zero with
``coast_decay_s`` (Singer model), so a long blockage does not extrapolate a cubic
(:meth:`FilterBank.decay`).

References
----------
seed 002 §II.5-6 eq. (3)-(4) (prediction), (7)-(9) (correction), (10)-(11); Bar-Shalom, Li and
Kirubarajan (2001) §8.2 (Singer model) and §11.6 (IMM).
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np
from filterpy.common import reshape_z
from filterpy.kalman import IMMEstimator, KalmanFilter

from qsat_pat.core.estimation.config import TrackerConfig
from qsat_pat.core.estimation.models import (
    MODEL_ORDER,
    STATE_DIM,
    MotionModel,
    measurement_matrix,
    process_noise,
    transition_matrix,
)

__all__ = [
    "FilterBank",
]


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


class FilterBank:
    """Builds and steps the estimator of a :class:`TrackerConfig`'s model (one filter or the IMM).

    The estimators themselves (filterpy objects, copied freely by the tracker for tentative
    tracks, rollback priors and coasting references) hold the state; the bank holds the
    configuration and a small cache of ``F`` and ``Q``.  ``q_scale`` is the adaptive
    process-noise factor in force (:class:`~qsat_pat.core.estimation.noise.AdaptiveQ`).

    Parameters
    ----------
    config : TrackerConfig
        Model, noise and initial-uncertainty settings.
    """

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.model = config.motion_model
        self.dim_x = STATE_DIM[self.model]
        self._dynamics_cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}

    # ---- construction
    def new_estimator(self):
        """A fresh estimator: a single Kalman filter, or the IMM of cv, ca and cj."""
        cfg = self.config
        if self.model is not MotionModel.IMM:
            return _single_filter(self.model, cfg, self.dim_x)
        filters = [_single_filter(m, cfg, 8) for m in (MotionModel.CV, MotionModel.CA, MotionModel.CJ)]
        stay = cfg.imm_stay_probability
        trans = np.full((3, 3), (1.0 - stay) / 2.0) + np.eye(3) * (stay - (1.0 - stay) / 2.0)
        return IMMEstimator(filters, np.array([1 / 3, 1 / 3, 1 / 3]), trans)

    def _set_dynamics(self, est, dt: float, q_scale: float) -> None:
        """Set F and Q of every filter of ``est`` for a step of ``dt`` seconds."""
        cfg = self.config
        if isinstance(est, IMMEstimator):
            for kf, m in zip(est.filters, (MotionModel.CV, MotionModel.CA, MotionModel.CJ)):
                o = MODEL_ORDER[m]
                n = 2 * o
                f = np.eye(8)  # states a model lacks are carried unchanged (unbiased mixing)
                f[:n, :n] = transition_matrix(o, dt)
                q = np.zeros((8, 8))
                q[:n, :n] = process_noise(o, dt, cfg.q_of(m) * q_scale, cfg.noise_kind)
                kf.F, kf.Q = f, q
        else:
            est.F, est.Q = self._dynamics(dt, q_scale)

    def _dynamics(self, dt: float, q_scale: float) -> tuple[np.ndarray, np.ndarray]:
        """``F`` and ``Q`` of the single model for a step of ``dt`` s (the last pair is reused:
        at a steady frame rate dt and q repeat; filterpy does not modify F or Q)."""
        cfg = self.config
        o = MODEL_ORDER[self.model]
        key = (dt, cfg.q_of(self.model) * q_scale)
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

    def start(self, est, z: np.ndarray, r: np.ndarray) -> None:
        """Initialise ``est`` at the detection ``z`` (covariance ``r``), rates etc. zero."""
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
    def state_of(est) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the (combined) state and covariance of ``est``."""
        return np.asarray(est.x, float).reshape(-1).copy(), np.asarray(est.P, float).copy()

    @staticmethod
    def model_probabilities(est) -> np.ndarray:
        """IMM mode probabilities (cv, ca, cj); a single 1.0 for a single model."""
        return np.asarray(est.mu, float).copy() if isinstance(est, IMMEstimator) else np.ones(1)

    # ---- filtering primitives
    def predict(self, est, dt: float, q_scale: float) -> None:
        """Predict ``est`` over ``dt`` s (IMM: mixing, and the combined prior with the predicted
        mode probabilities)."""
        self._set_dynamics(est, dt, q_scale)
        est.predict()
        if isinstance(est, IMMEstimator):
            # the combined prior (filterpy weights it with the previous mode probabilities)
            # uses the predicted ones, as the gate and the coasting step need
            mu = est.mu
            est.mu = np.asarray(est.cbar, float)
            est._compute_state_estimate()
            est.mu = mu

    def decay(self, est, dt: float) -> None:
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
    def innovation(est, z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Predicted position, its covariance and the NIS of ``z`` (covariance ``r``) against it."""
        x, p = FilterBank.state_of(est)
        zp = x[:2]
        s = p[:2, :2] + r
        y = z - zp
        try:
            nis = float(y @ np.linalg.solve(s, y))
        except np.linalg.LinAlgError:
            nis = math.inf
        return zp, p[:2, :2], nis

    @staticmethod
    def update(est, z: np.ndarray, r: np.ndarray) -> None:
        """Apply the measurement ``z`` with covariance ``r`` (Joseph form; IMM: mode update)."""
        if isinstance(est, IMMEstimator):
            for kf in est.filters:
                kf.R = r
            est.update(z)
        else:
            est.update(z, R=r)

    @staticmethod
    def relock_trial(est, z: np.ndarray, r: np.ndarray):
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

    def peek(self, est, dt: float, q_scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Predicted state and covariance ``dt`` seconds ahead, ``est`` unchanged.

        For the IMM: each model's prediction, combined with the predicted mode
        probabilities (no re-mixing).
        """
        cfg = self.config
        if not isinstance(est, IMMEstimator):
            f, q = self._dynamics(dt, q_scale)
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
            qe[:n, :n] = process_noise(o, dt, cfg.q_of(m) * q_scale, cfg.noise_kind)
            xi = fe @ np.asarray(kf.x, float).reshape(-1)
            pi = fe @ kf.P @ fe.T + qe
            xs.append(xi)
            ps.append(pi)
        x = sum(wi * xi for wi, xi in zip(w, xs))
        p = sum(wi * (pi + np.outer(xi - x, xi - x)) for wi, xi, pi in zip(w, xs, ps))
        return x, p
