"""Kalman prediction of the beacon's line of sight (seed 002 §II.5-6, eq. (1)-(11)).

What is estimated
-----------------
The target's line of sight (LOS) on two axes, ``x`` and ``y``.  Nodes feed it the
composed LOS of :func:`compose_line_of_sight` (actuator pointing + camera residual, in
rad) so that a closed FSM loop, which keeps the spot centred on the camera, does not hide
the trajectory from the filter (the FSM/KF loop conflict of seed 002 §IV).  The filter
itself is unit-agnostic: replaying York's logs (``qsat-pat track replay``) feeds pixel
centroids and then every "rad" below reads "px".

Models
------
The state is ordered as in ``msg/TrackEstimate.msg``:
``[x, y, x_rate, y_rate, (x_acc, y_acc, (x_jerk, y_jerk))]``.

* ``cv``: constant velocity, 4 states, seed 002 eq. (1)-(9) (transition eq. (2),
  measurement matrix eq. (6), gain eq. (7), update eq. (8)-(9)).
* ``ca``: constant acceleration, 6 states (the same equations one order higher).
* ``cj``: constant jerk, 8 states, seed 002 eq. (10)-(11).
* ``imm``: an interacting-multiple-model estimator of the three, for the
  horizon -> zenith -> horizon acceleration changes (filterpy ``IMMEstimator``; the CV
  and CA models are embedded in the 8-state space and carry the derivatives they do not
  model unchanged, without process noise, so that mixing does not pull the CA/CJ
  accelerations towards zero).  Seed 002 §II.6 instead flips the sign of the acceleration states at the zenith
  by hand; the IMM does not need to know where the zenith is.

The process noise ``Q`` (seed 002 eq. (5)) is filterpy's white-noise model of the highest
derivative, either ``continuous`` (``Q_continuous_white_noise``: consistent for the uneven
frame intervals, the default) or ``discrete`` (``Q_discrete_white_noise``, piecewise
constant per step, as in seed 002).  The covariance update is filterpy's Joseph form.

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

Beyond seed 002
---------------
* Adaptive Q: the running mean of the NIS scales Q up while the model lags (the zenith
  of a fast pass), ``adaptive_q_memory``.
* Coasting decay: while no measurement is applied, accelerations and jerks relax to zero
  with ``coast_decay_s`` (Singer model), so a long blockage does not extrapolate a cubic.
* Blockage-onset rollback (``rollback_frames``, ``rollback_nis_probability``): when the
  detections stop, the last one or two applied measurements are taken back if one of them
  had a suspect NIS (a spot partly covered by the cloud edge that ends the track), so the
  coast does not start from a biased position and velocity
  (:meth:`LosTracker._roll_back_onset`).
* :class:`NoiseLearner`: measurement noise learnt online from frame-to-frame differences
  (York's "noise" logs switch a ~25 px jitter on mid-pass).
* Ephemeris-aided pass model (``pass_model``, :class:`PassTrajectory`): a ground station
  knows from its orbit prediction when the satellite passes closest (TCA) and the pass's
  time scale ``tau = d_min / v``; the line of sight of such a pass is
  ``offset + gain * atan((t - TCA) / tau)``, whose acceleration reverses at the zenith (what
  seed 002 §II.6 emulates by flipping the sign of the acceleration states by hand).  While
  coasting, the filter's own prediction and the pass model's (fitted to the past
  measurements only, offset anchored at the last one) are fused per axis with weights from
  the filter's growing position variance and ``pass_model_std_rad``: short dropouts follow
  the filter, long blockages the pass.  Given with
  :meth:`LosTracker.set_time_of_closest_approach`; without it the filters coast alone.
  With ``pass_window_s`` > 0 the pass model used while coasting is instead fitted to the
  last ``max(pass_window_s, time coasted)`` seconds only (:func:`fit_pass_window`: the
  local rate from the measurements, the curvature from the geometry) and fused with the
  weight of its own least-squares prediction variance; a real pass (and York's FSM
  emulation) departs from the ideal shape by a few pixels, slowly, which the local fit
  absorbs.
* Ephemeris track (:class:`EphemerisTrack`, :meth:`LosTracker.set_ephemeris_track`): the
  pass's whole predicted line of sight; while coasting a blockage its time (along-track)
  and pointing bias are fitted to the recent measurements (:func:`fit_ephemeris_bias`)
  and it is blended into the coasting estimate with weights from a causal hindcast of
  both predictors over the time coasted so far.  Long blockages through the zenith then
  follow the predicted shape instead of an extrapolated curvature.

References
----------
seed 002 (York, "Energy efficient optical tracking for space quantum communication")
§II.5 eq. (1)-(9) and §II.6 eq. (10)-(11); Bar-Shalom, Li and Kirubarajan, *Estimation
with Applications to Tracking and Navigation* (2001), §6.2 (white-noise models) and §11.6
(IMM).
"""

from __future__ import annotations

import copy
import enum
import itertools
import math
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from filterpy.common import Q_discrete_white_noise, reshape_z
from filterpy.kalman import IMMEstimator, KalmanFilter
from scipy.stats import chi2

from qsat_pat.core.errors import ConfigError, EstimationError
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "MODEL_ORDER",
    "STATE_DIM",
    "YORK_PX_CONFIG",
    "ActuatorPointing",
    "PassTrajectory",
    "EphemerisFit",
    "EphemerisTrack",
    "CameraGeometry",
    "MotionModel",
    "StepStatus",
    "TrackStep",
    "TrackerConfig",
    "LosTracker",
    "NoiseLearner",
    "TuneResult",
    "GapError",
    "ReplayResult",
    "compose_line_of_sight",
    "estimate_measurement_cov",
    "find_gaps",
    "fit_pass_trajectory",
    "fit_pass_window",
    "fit_ephemeris_bias",
    "LocalPassFit",
    "measurement_quantum",
    "prediction_cost",
    "reacquisition_errors",
    "spurious_mask",
    "measurement_matrix",
    "process_noise",
    "replay",
    "transition_matrix",
    "tune",
]


class MotionModel(enum.StrEnum):
    """Kinematic model of the line of sight (TrackEstimate.model)."""

    CV = "cv"
    CA = "ca"
    CJ = "cj"
    IMM = "imm"


#: Derivatives per axis (position, rate, acceleration, jerk) of each single model.
MODEL_ORDER: dict[MotionModel, int] = {MotionModel.CV: 2, MotionModel.CA: 3, MotionModel.CJ: 4}
#: Number of states of each model's output (TrackEstimate.state length).
STATE_DIM: dict[MotionModel, int] = {MotionModel.CV: 4, MotionModel.CA: 6, MotionModel.CJ: 8, MotionModel.IMM: 8}


class StepStatus(enum.StrEnum):
    """What :meth:`LosTracker.step` did with the measurement of one time step."""

    NO_MEASUREMENT = "no_measurement"  # z is None: coasted on the model
    ACCEPTED = "accepted"  # passed the NIS gate and was applied
    CONFIRMED = "confirmed"  # confirmed a tentative detection; both were applied
    TENTATIVE = "tentative"  # held after a gap / at start, waiting for confirmation
    REJECTED = "rejected"  # outside the NIS gate: coasted


# --------------------------------------------------------------------------- matrices
def _check_order(order: int) -> int:
    order = int(order)
    if order not in (2, 3, 4):
        raise EstimationError(f"model order {order} is not supported; use 2 (cv), 3 (ca) or 4 (cj)")
    return order


def _check_dt(dt_s: float) -> float:
    dt = float(np.asarray(dt_s, dtype=float))
    if not math.isfinite(dt) or dt < 0.0:
        raise EstimationError(f"time step dt_s = {dt_s!r} s must be finite and >= 0; pass increasing stamps")
    return dt


def _poly_block(order: int, dt: float) -> np.ndarray:
    """Per-axis transition block: entry (i, j) = dt**(j-i) / (j-i)! for j >= i."""
    p = [dt**k / _FACT[k] for k in range(order)]
    block = np.zeros((order, order))
    for i in range(order):  # row i: p[0], p[1], ... from the diagonal on (the same values as before, no np.clip)
        block[i, i:] = p[: order - i]
    return block


#: Per model order n: exponents ``e = 2n-1-i-j`` and denominators ``(n-1-i)! (n-1-j)! e`` of the
#: continuous white-noise ``Q`` (:func:`process_noise`), built once.
_Q_CONTINUOUS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _q_continuous_constants(n: int) -> tuple[np.ndarray, np.ndarray]:
    const = _Q_CONTINUOUS.get(n)
    if const is None:
        k = np.arange(n)
        e = (2 * n - 1) - k[:, None] - k[None, :]
        fi = np.array([_FACT[n - 1 - i] for i in range(n)])
        const = _Q_CONTINUOUS[n] = (e, fi[:, None] * fi[None, :] * e)
    return const


_FACT = [1.0, 1.0, 2.0, 6.0, 24.0, 120.0, 720.0, 5040.0]
_I2 = np.eye(2)


def _axes(block: np.ndarray) -> np.ndarray:
    """``kron(block, I2)``: the same per-axis block on x and y, states interleaved."""
    n = block.shape[0]
    return (block[:, None, :, None] * _I2[None, :, None, :]).reshape(2 * n, 2 * n)


def transition_matrix(order: int, dt_s: float) -> np.ndarray:
    """State transition matrix of a two-axis polynomial motion model.

    Parameters
    ----------
    order : int
        Derivatives per axis: 2 (constant velocity), 3 (constant acceleration) or 4
        (constant jerk).
    dt_s : float
        Time step [s], >= 0.

    Returns
    -------
    numpy.ndarray, shape (2*order, 2*order)
        ``F`` acting on ``[x, y, x_rate, y_rate, ...]``: entry (derivative i, derivative j)
        of each axis is ``dt**(j-i) / (j-i)!`` for ``j >= i``.

    Raises
    ------
    EstimationError
        Unsupported order or a negative / non-finite ``dt_s``.

    References
    ----------
    seed 002 eq. (2) (4-state CV) and eq. (11) (8-state CJ).
    """
    return _axes(_poly_block(_check_order(order), _check_dt(dt_s)))


def measurement_matrix(order: int) -> np.ndarray:
    """Measurement matrix ``H`` (positions only), shape (2, 2*order); seed 002 eq. (6)."""
    order = _check_order(order)
    h = np.zeros((2, 2 * order))
    h[0, 0] = h[1, 1] = 1.0
    return h


def process_noise(order: int, dt_s: float, q: float, kind: str = "continuous") -> np.ndarray:
    """Process noise covariance ``Q`` of the white-noise highest-derivative model.

    Parameters
    ----------
    order : int
        2, 3 or 4 derivatives per axis (cv, ca, cj).
    dt_s : float
        Time step [s], >= 0.
    q : float
        ``continuous``: power spectral density of the white derivative driving the model
        [rad^2/s^3 (cv), rad^2/s^5 (ca), rad^2/s^7 (cj)].  ``discrete``: variance of the
        highest state derivative's change per step [rad^2/s^2 (cv), rad^2/s^4 (ca),
        rad^2/s^6 (cj)] (seed 002's sigma^2).
    kind : {"continuous", "discrete"}
        filterpy ``Q_continuous_white_noise`` (evaluated in closed form, identical) or
        ``Q_discrete_white_noise``.

    Returns
    -------
    numpy.ndarray, shape (2*order, 2*order)
        ``Q`` in the state order ``[x, y, x_rate, y_rate, ...]``.

    Raises
    ------
    EstimationError
        Bad order, ``dt_s``, negative or non-finite ``q``, unknown ``kind``.

    References
    ----------
    seed 002 eq. (5); Bar-Shalom et al. (2001) §6.2.
    """
    order = _check_order(order)
    dt = _check_dt(dt_s)
    q = float(np.asarray(q, dtype=float))
    if not math.isfinite(q) or q < 0.0:
        raise EstimationError(f"process noise q = {q!r} must be finite and >= 0")
    if dt == 0.0:
        return np.zeros((2 * order, 2 * order))
    if kind == "continuous":
        # closed form of filterpy's Q_continuous_white_noise (test_estimation_models checks it):
        # Q[i, j] = q dt^(2n-1-i-j) / ((n-1-i)! (n-1-j)! (2n-1-i-j)), derivatives i, j = 0..n-1
        e, denominator = _q_continuous_constants(order)
        return _axes(q * dt**e / denominator)
    if kind == "discrete":
        return Q_discrete_white_noise(order, dt, q, block_size=2, order_by_dim=False)
    raise EstimationError(f"process noise kind {kind!r} is unknown; use 'continuous' or 'discrete'")


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrackerConfig(ConfigBase):
    """Configuration of :class:`LosTracker` (the ``track_predictor`` node's parameters).

    Angles are in rad when the filter is fed composed lines of sight; the York replay
    feeds pixel centroids and then every "rad" reads "px".  The defaults are the York
    replay's pixel values (:data:`YORK_PX_CONFIG`) times a 10 urad/px plate scale
    (1e-5 rad/px; q and variances scale with its square).
    """

    model: str = param("imm", "kinematic model", choices=("cv", "ca", "cj", "imm"))
    measurement_std_rad: float = param(
        5e-6, "measurement noise standard deviation per axis (R = std^2 I, seed 002 eq. (7))",
        unit="rad", min_value=1e-12, max_value=1e6)
    q_cv: float = param(1e-10, "process noise of the constant-velocity model (see process_noise)",
                        unit="rad^2/s^3", min_value=0.0, max_value=1e12)
    q_ca: float = param(1e-12, "process noise of the constant-acceleration model",
                        unit="rad^2/s^5", min_value=0.0, max_value=1e12)
    q_cj: float = param(1e-15, "process noise of the constant-jerk model",
                        unit="rad^2/s^7", min_value=0.0, max_value=1e12)
    noise_kind: str = param("continuous", "process noise model (filterpy Q_*_white_noise)",
                            choices=("continuous", "discrete"))
    init_rate_std_radps: float = param(5e-4, "initial standard deviation of the rates",
                                       unit="rad/s", min_value=0.0, max_value=1e9)
    init_acc_std_radps2: float = param(5e-5, "initial standard deviation of the accelerations",
                                       unit="rad/s^2", min_value=0.0, max_value=1e9)
    init_jerk_std_radps3: float = param(5e-6, "initial standard deviation of the jerks",
                                        unit="rad/s^3", min_value=0.0, max_value=1e9)
    gate_probability: float = param(0.9999, "NIS gate: chi-square (2 dof) probability of accepting a true detection",
                                    min_value=0.5, max_value=1.0 - 1e-12)
    reacquire_after_s: float = param(0.5, "coasting longer than this makes the next detection tentative",
                                     unit="s", min_value=0.0, max_value=1e6)
    confirm_sigma: float = param(4.0, "a tentative detection is confirmed by the next one within this many sigma",
                                 min_value=0.5, max_value=100.0)
    coast_decay_s: float = param(2.0, "while coasting, accelerations and jerks decay with this time constant "
                                 "(Singer model; 0 = never, the plain seed 002 models)",
                                 unit="s", min_value=0.0, max_value=1e6)
    adaptive_q_memory: int = param(20, "measurements in the running NIS mean that scales Q up when the "
                                   "model lags a manoeuvre (0 = fixed Q)", min_value=0, max_value=100000)
    adaptive_q_max_scale: float = param(1000.0, "largest factor the adaptive Q may apply",
                                        min_value=1.0, max_value=1e9)
    imm_stay_probability: float = param(0.98, "IMM: probability of staying in the same model per step",
                                        min_value=0.0, max_value=1.0 - 1e-9)
    pass_model: bool = param(False, "while coasting, fuse the filter's prediction with a satellite-pass "
                             "line-of-sight model (PassTrajectory) fitted to the measurements applied so far; "
                             "needs the pass geometry (LosTracker.set_time_of_closest_approach)")
    pass_min_span_s: float = param(5.0, "pass model: shortest span of applied measurements before it is used",
                                   unit="s", min_value=0.0, max_value=1e6)
    pass_min_points: int = param(50, "pass model: fewest applied measurements before it is used",
                                 min_value=8, max_value=10**7)
    pass_max_points: int = param(2000, "pass model: longer histories are decimated to this many points for the fit",
                                 min_value=8, max_value=10**7)
    pass_model_std_rad: float = param(5e-5, "pass model: standard deviation of its prediction per axis; while "
                                      "coasting the filter's own prediction and the model's are fused with "
                                      "weights from this and the filter's growing covariance (0 = model only)",
                                      unit="rad", min_value=0.0, max_value=1e9)
    pass_tca_std_s: float = param(0.0, "pass model: uncertainty of the ephemeris TCA; > 0 (with "
                                  "pass_tau_rel_std) lets the measurements refine TCA and tau (MAP)",
                                  unit="s", min_value=0.0, max_value=1e6)
    pass_tau_rel_std: float = param(0.0, "pass model: relative uncertainty of the ephemeris tau = d_min / v",
                                    min_value=0.0, max_value=10.0)
    pass_robust_scale: float = param(3e-5, "pass model: residual above which the robust fit down-weights a point",
                                     unit="rad", min_value=1e-12, max_value=1e9)
    pass_window_s: float = param(0.0, "pass model: > 0 fits the pass's offset and gain while coasting only to the "
                                 "measurements of the last max(pass_window_s, time coasted) seconds (local fit, "
                                 "linear in the pass angle, fused with the weight of its own prediction variance); "
                                 "0 = one fit to every measurement, offset anchored at the last one",
                                 unit="s", min_value=0.0, max_value=1e6)
    rollback_frames: int = param(2, "blockage-onset rollback: when the detections stop, the last this many applied "
                                 "measurements are taken back if one of them had a suspect NIS (see "
                                 "rollback_nis_probability; 0 = off)", min_value=0, max_value=10)
    rollback_nis_probability: float = param(0.99, "blockage-onset rollback: an applied measurement is suspect when "
                                            "its NIS exceeds this chi-square (2 dof) quantile (well inside the gate; at "
                                            "or above gate_probability nothing is suspect)",
                                            min_value=0.5, max_value=1.0 - 1e-12)

    @property
    def motion_model(self) -> MotionModel:
        """:class:`MotionModel` of :attr:`model`."""
        return MotionModel(self.model)

    def gate_nis(self) -> float:
        """NIS threshold of the gate (chi-square quantile, 2 dof)."""
        return float(chi2.ppf(self.gate_probability, 2))

    def q_of(self, model: MotionModel) -> float:
        """Process noise of one single model."""
        return {MotionModel.CV: self.q_cv, MotionModel.CA: self.q_ca, MotionModel.CJ: self.q_cj}[model]


#: Settings for replaying York's pixel logs (px, px/s, ...): measurement std 1 px (the
#: replay normally learns R per file with estimate_measurement_cov), q_cv = 1 px^2/s^3,
#: q_ca = 1e-2 px^2/s^5, q_cj = 1e-5 px^2/s^7 (chosen by the grid searches in the report of
#: issue 3 over York's passes: best re-acquisition errors of each single model); the pass
#: model on (used only when the pass geometry is given), its prediction std 5 px, robust
#: fit scale 3 px, and while coasting fitted locally over the last max(6 s, time coasted)
#: (``pass_window_s``; 6 s = ~120 frames, enough to average the integer-pixel centroids).
YORK_PX_CONFIG = dict(measurement_std_rad=1.0, q_cv=1.0, q_ca=1e-2, q_cj=1e-5, init_rate_std_radps=50.0,
                      init_acc_std_radps2=5.0, init_jerk_std_radps3=0.5, pass_model=True, pass_model_std_rad=5.0,
                      pass_robust_scale=3.0, pass_window_s=6.0)


# --------------------------------------------------------------------------- results
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


# --------------------------------------------------------------------------- tracker
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


# --------------------------------------------------------------------------- satellite-pass trajectory
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


# --------------------------------------------------------------------------- line of sight
@dataclass(frozen=True)
class ActuatorPointing:
    """What a pointing stage points at (the ``ActuatorState`` message, core side).

    Attributes
    ----------
    stamp_s : float
        Time of the reading [s].
    axis1_rad, axis2_rad : float
        Measured position of the two axes [rad] (FSM: mechanical tip, tilt).
    axis1_rate_radps, axis2_rate_radps : float
        Measured rates [rad/s] (used to bring the reading to the frame time).
    stage : int
        ``PointingCommand.STAGE_*`` (0 FSM, 1 mount, 2 body).
    at_limit, holding, fault : bool
        As in ``msg/ActuatorState.msg``.
    """

    stamp_s: float
    axis1_rad: float
    axis2_rad: float
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    stage: int = 0
    at_limit: bool = False
    holding: bool = False
    fault: bool = False

    def __post_init__(self) -> None:
        for name in ("stamp_s", "axis1_rad", "axis2_rad", "axis1_rate_radps", "axis2_rate_radps"):
            v = float(np.asarray(getattr(self, name), dtype=float))
            if not math.isfinite(v):
                raise EstimationError(f"ActuatorPointing.{name} = {v!r} is not finite; drop this actuator reading")
            object.__setattr__(self, name, v)


@dataclass(frozen=True)
class CameraGeometry(ConfigBase):
    """Camera-to-line-of-sight geometry of the tracking camera behind a pointing stage.

    The 2x2 pixel-to-angle matrix is ``rotation(rotation_rad) @ diag(scale_x, scale_y)``;
    a negative scale mirrors an axis.  ``optical_gain`` converts the stage's reported
    angle to line-of-sight angle: 2 for a fold mirror whose driver reports mechanical
    angles (the beam turns by twice the mirror's tilt), 1 for a mount or an FSM driver
    calibrated in optical angle.
    """

    boresight_x_px: float = param(0.0, "column of the boresight (where the beacon sits when on target)",
                                  unit="px", min_value=-1e5, max_value=1e5)
    boresight_y_px: float = param(0.0, "row of the boresight", unit="px", min_value=-1e5, max_value=1e5)
    scale_x_radppx: float = param(1e-5, "line-of-sight angle per pixel along the camera x axis (signed)",
                                  unit="rad/px", min_value=-1.0, max_value=1.0)
    scale_y_radppx: float = param(1e-5, "line-of-sight angle per pixel along the camera y axis (signed)",
                                  unit="rad/px", min_value=-1.0, max_value=1.0)
    rotation_rad: float = param(0.0, "rotation of the camera axes relative to the stage axes",
                                unit="rad", min_value=-math.pi, max_value=math.pi)
    optical_gain: float = param(2.0, "line-of-sight angle per unit reported stage angle (2: mechanical mirror angle)",
                                min_value=-10.0, max_value=10.0)
    max_actuator_age_s: float = param(0.05, "largest |frame time - actuator reading time| accepted",
                                      unit="s", min_value=0.0, max_value=10.0)

    def check(self) -> None:
        if self.scale_x_radppx == 0.0 or self.scale_y_radppx == 0.0:
            raise ConfigError("CameraGeometry scale_x_radppx and scale_y_radppx must be non-zero")
        if self.optical_gain == 0.0:
            raise ConfigError("CameraGeometry.optical_gain must be non-zero")

    def pixel_to_angle(self) -> np.ndarray:
        """2x2 matrix mapping a pixel offset (dx, dy) [px] to an angle offset [rad] (read-only, cached)."""
        key = (self.rotation_rad, self.scale_x_radppx, self.scale_y_radppx)
        m = _PIXEL_TO_ANGLE.get(key)
        if m is None:
            if len(_PIXEL_TO_ANGLE) > 64:
                _PIXEL_TO_ANGLE.clear()
            c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
            m = np.array([[c, -s], [s, c]]) @ np.diag([self.scale_x_radppx, self.scale_y_radppx])
            m.setflags(write=False)
            _PIXEL_TO_ANGLE[key] = m
        return m


_PIXEL_TO_ANGLE: dict[tuple[float, float, float], np.ndarray] = {}


def compose_line_of_sight(
    centroid_xy_px: Sequence[float] | np.ndarray,
    frame_stamp_s: float,
    actuator: ActuatorPointing,
    geometry: CameraGeometry,
    centroid_cov_px2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Target line of sight = actuator pointing + measured residual on the camera.

    ``los = optical_gain * (axis(t_frame)) + M @ (centroid - boresight)`` with
    ``axis(t_frame) = axis + rate * (t_frame - actuator.stamp_s)`` and ``M`` the 2x2
    pixel-to-angle matrix of ``geometry``.  When a closed FSM loop keeps the spot on the
    boresight the residual is ~0 and the trajectory is carried by the actuator term, so
    the filter still sees the target move.

    Parameters
    ----------
    centroid_xy_px : array_like, shape (2,)
        Beacon centroid (x right, y down) [px].
    frame_stamp_s : float
        Mid-exposure time of the frame [s].
    actuator : ActuatorPointing
        Stage reading closest to the frame time.
    geometry : CameraGeometry
        Boresight, pixel scale, rotation and optical gain.
    centroid_cov_px2 : array_like, shape (2, 2), optional
        Centroid covariance [px^2]; returned as a LOS covariance ``M C M^T`` [rad^2].

    Returns
    -------
    los_rad : numpy.ndarray, shape (2,)
        Line of sight (x, y) [rad] in the stage's axes.
    cov_rad2 : numpy.ndarray, shape (2, 2) or None
        Covariance of the camera term (actuator noise not included); None if no
        ``centroid_cov_px2``.

    Raises
    ------
    EstimationError
        Non-finite centroid or stamp, or an actuator reading older/newer than
        ``geometry.max_actuator_age_s``, or a faulted stage.

    References
    ----------
    seed 002 §II.3 (pixel displacement -> FSM angle via the calibrated distance) and §IV
    (the FSM/KF loop conflict this composition removes).
    """
    c = np.asarray(centroid_xy_px, dtype=float).reshape(-1)
    if c.shape != (2,) or not (math.isfinite(c[0]) and math.isfinite(c[1])):
        raise EstimationError(f"centroid {centroid_xy_px!r} must be two finite pixel coordinates")
    t = float(np.asarray(frame_stamp_s, dtype=float))
    if not math.isfinite(t):
        raise EstimationError(f"frame stamp {frame_stamp_s!r} is not finite")
    age = t - actuator.stamp_s
    if abs(age) > geometry.max_actuator_age_s:
        raise EstimationError(
            f"actuator reading is {age:+.4f} s from the frame, more than max_actuator_age_s = "
            f"{geometry.max_actuator_age_s} s; wait for a fresh ActuatorState")
    if actuator.fault:
        raise EstimationError("actuator reports a fault; its pointing cannot be used for the line of sight")
    axes = np.array([actuator.axis1_rad + actuator.axis1_rate_radps * age,
                     actuator.axis2_rad + actuator.axis2_rate_radps * age])
    m = geometry.pixel_to_angle()
    residual = m @ (c - np.array([geometry.boresight_x_px, geometry.boresight_y_px]))
    los = geometry.optical_gain * axes + residual
    cov = None
    if centroid_cov_px2 is not None:
        cc = np.asarray(centroid_cov_px2, dtype=float).reshape(2, 2)
        if not all(map(math.isfinite, cc.ravel().tolist())):
            raise EstimationError("centroid covariance must be finite")
        cov = m @ cc @ m.T
    return los, cov


# --------------------------------------------------------------------------- replay / tuning
@dataclass(frozen=True)
class ReplayResult:
    """Per-row output of :func:`replay` (arrays of length N)."""

    time_s: np.ndarray
    prior_xy: np.ndarray  # (N, 2)
    post_xy: np.ndarray  # (N, 2)
    nis: np.ndarray
    accepted: np.ndarray  # bool
    status: list[StepStatus]
    tracker: LosTracker


def estimate_measurement_cov(measurements: np.ndarray, n_learn: int = 100, floor_std: float = 0.5,
                             outlier: float = 200.0) -> np.ndarray:
    """Diagonal measurement covariance learnt from the first measurements.

    Seed 002 §III reserves the first 100 centroids for learning; here their frame-to-frame
    differences give a robust (median absolute deviation) noise standard deviation per
    axis, ``std = 1.4826 * MAD(diff) / sqrt(2)``, never below ``floor_std``.  Differences
    larger than ``outlier`` (spurious detections) are ignored.  The motion between frames
    is assumed small against the noise (true for York's 20 frames/s logs).

    Parameters
    ----------
    measurements : array_like, shape (N, 2)
        NaN rows are skipped.
    n_learn : int
        Number of measurements used.
    floor_std : float
        Smallest standard deviation returned (the quantisation of integer centroids).
    outlier : float
        Differences above this are dropped.

    Returns
    -------
    numpy.ndarray, shape (2, 2)
        ``diag(std_x**2, std_y**2)``.

    Raises
    ------
    EstimationError
        Fewer than 3 usable measurements.
    """
    z = np.asarray(measurements, float)
    z = z[np.all(np.isfinite(z), axis=1)][: int(n_learn)]
    d = np.diff(z, axis=0)
    d = d[np.all(np.abs(d) < outlier, axis=1)]
    if d.shape[0] < 2:
        raise EstimationError("need at least 3 measurements (without jumps) to learn the measurement noise")
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
    std = np.maximum(1.4826 * mad / math.sqrt(2.0), floor_std)
    return np.diag(std**2)


class NoiseLearner:
    """Online per-axis measurement noise from frame-to-frame centroid differences.

    ``std = sqrt(pi)/2 * E|z_k - z_(k-1)|`` per axis (the mean absolute difference of two
    independent Gaussian samples), an exponentially weighted mean with ``memory`` samples,
    never below ``floor_std``.  A difference larger than ``jump_sigma`` standard deviations
    (plus ``floor_std``) is a spurious detection and is not learnt.  Causal: it learns only
    from what came before, so the noise logs whose noise is switched on mid-pass are
    followed.  The motion between frames must be small against the noise.

    References
    ----------
    seed 002 §III (the first 100 centroids are reserved for learning).
    """

    def __init__(self, floor_std: float = 1.0, memory: int = 100, jump_sigma: float = 8.0) -> None:
        if not floor_std > 0 or memory < 1 or not jump_sigma > 0:
            raise EstimationError("NoiseLearner needs floor_std > 0, memory >= 1 and jump_sigma > 0")
        self.floor_std = float(floor_std)
        self.alpha = 1.0 / float(memory)
        self.jump_sigma = float(jump_sigma)
        self._last: np.ndarray | None = None
        self._mean_abs = np.full(2, 2.0 * self.floor_std / math.sqrt(math.pi))
        self._n = 0

    @property
    def std(self) -> np.ndarray:
        """Current per-axis standard deviation, shape (2,)."""
        return np.maximum(self._mean_abs * math.sqrt(math.pi) / 2.0, self.floor_std)

    @property
    def cov(self) -> np.ndarray:
        """Current diagonal covariance, shape (2, 2)."""
        return np.diag(self.std**2)

    def update(self, z: np.ndarray | None) -> None:
        """Learn from one measurement (None: nothing to learn)."""
        if z is None:
            return
        z = np.asarray(z, float).reshape(2)
        if self._last is not None:
            d = np.abs(z - self._last)
            if np.all(d <= self.jump_sigma * self.std * math.sqrt(2.0) + self.floor_std):
                self._n += 1
                a = max(self.alpha, 1.0 / self._n)
                self._mean_abs = (1 - a) * self._mean_abs + a * d
        self._last = z


def replay(times_s: Iterable[float], measurements: np.ndarray, config: TrackerConfig,
           r_cov: np.ndarray | None = None, learner: NoiseLearner | None = None,
           tca_s: float | None = None, tau_s: float | None = None,
           ephemeris: EphemerisTrack | None = None) -> ReplayResult:
    """Run a tracker over a logged sequence (NaN rows = no detection).

    Parameters
    ----------
    times_s : array_like, shape (N,)
        Time stamps [s], non-decreasing.
    measurements : array_like, shape (N, 2)
        Measured (x, y); a row with a NaN is "no detection".
    config : TrackerConfig
    r_cov : array_like, shape (2, 2), optional
        Measurement covariance of every row (default: ``config.measurement_std_rad``),
        e.g. from :func:`estimate_measurement_cov`.
    learner : NoiseLearner, optional
        Learns the measurement covariance online; each row uses what it learnt from the
        rows before (overrides ``r_cov``).
    tca_s, tau_s : float, optional
        Time of closest approach of the pass and ``d_min / v`` [s], given to
        :meth:`LosTracker.set_time_of_closest_approach` (ephemeris-aided pass model).
    ephemeris : EphemerisTrack, optional
        The pass's predicted line of sight, given to :meth:`LosTracker.set_ephemeris_track`
        (used while coasting long blockages; needs ``tca_s`` and ``tau_s``).

    Returns
    -------
    ReplayResult

    Raises
    ------
    EstimationError
        Shapes differ, or a NaN / decreasing time stamp (with its row number).
    """
    t = np.asarray(list(times_s) if not isinstance(times_s, np.ndarray) else times_s, dtype=float)
    z = np.asarray(measurements, dtype=float)
    if z.ndim != 2 or z.shape[1] != 2 or z.shape[0] != t.shape[0]:
        raise EstimationError(f"measurements of shape {z.shape} do not match {t.shape[0]} time stamps (need (N, 2))")
    trk = LosTracker(config)
    trk.set_time_of_closest_approach(tca_s, tau_s)
    trk.set_ephemeris_track(ephemeris)
    n = t.shape[0]
    prior = np.full((n, 2), np.nan)
    post = np.full((n, 2), np.nan)
    nis = np.full(n, np.nan)
    acc = np.zeros(n, bool)
    status: list[StepStatus] = []
    for i in range(n):
        zi = None if not np.all(np.isfinite(z[i])) else z[i]
        r_i = learner.cov if learner is not None else r_cov
        try:
            res = trk.step(t[i], zi, r_i)
        except EstimationError as exc:
            raise EstimationError(f"row {i + 1}: {exc}") from None
        if learner is not None:
            learner.update(zi)
        prior[i] = res.prior_xy_rad
        post[i] = res.post_xy_rad
        nis[i] = res.nis
        acc[i] = res.accepted
        status.append(res.status)
    return ReplayResult(t, prior, post, nis, acc, status, trk)


@dataclass(frozen=True)
class TuneResult:
    """Result of :func:`tune`: best process/measurement noise and the cost grid."""

    model: str
    q: float  # best process noise of the model (imm: scale factor on q_cv, q_ca, q_cj)
    measurement_std: float
    cost: float  # RMS prediction error at the best point [measurement units]
    config: TrackerConfig
    grid: list[dict] = field(default_factory=list)


def spurious_mask(measurements: np.ndarray, threshold: float, half_window: int = 5) -> np.ndarray:
    """Rows whose measurement is further than ``threshold`` from the median of its neighbours.

    The median runs over the ``half_window`` measured rows on each side (blocked rows
    skipped).  Used to keep spurious detections (York's logs have jumps of 50-2400 px)
    out of the tuning cost; it looks at the data only, never at a filter.
    """
    z = np.asarray(measurements, float)
    idx = np.flatnonzero(np.all(np.isfinite(z), axis=1))
    out = np.zeros(z.shape[0], bool)
    zz = z[idx]
    for k in range(idx.size):
        lo, hi = max(0, k - half_window), min(idx.size, k + half_window + 1)
        med = np.median(zz[lo:hi], axis=0)
        out[idx[k]] = bool(np.hypot(*(zz[k] - med)) > threshold)
    return out


def prediction_cost(result: ReplayResult, measurements: np.ndarray, warmup: int = 100,
                    spurious_threshold: float | None = None) -> float:
    """RMS distance between the prior (one-step prediction) and the measurement.

    Only rows with a measurement after the first ``warmup`` measured rows count (seed 002
    §III reserves the first 100 centroids for the filter's learning).  Rows the gate
    rejected count too, so a filter cannot lower its cost by rejecting data; rows flagged
    by :func:`spurious_mask` (default threshold: 10 times the learnt noise std, at least
    20 units) do not.
    """
    z = np.asarray(measurements, float)
    if spurious_threshold is None:
        spurious_threshold = max(20.0, 10.0 * float(np.sqrt(np.max(np.diag(estimate_measurement_cov(z))))))
    meas = np.all(np.isfinite(z), axis=1) & ~spurious_mask(z, spurious_threshold)
    idx = np.flatnonzero(meas)[warmup:]
    d = result.prior_xy[idx] - z[idx]
    ok = np.all(np.isfinite(d), axis=1)
    if not np.any(ok):
        return math.inf
    return float(np.sqrt(np.mean(np.sum(d[ok] ** 2, axis=1))))


def tune(times_s: np.ndarray, measurements: np.ndarray, base: TrackerConfig,
         q_grid: Sequence[float], std_grid: Sequence[float], warmup: int = 100) -> TuneResult:
    """Offline grid search of Q and R minimising the RMS prediction error (seed 002 §II.5).

    Parameters
    ----------
    times_s : array_like, shape (N,)
    measurements : array_like, shape (N, 2)
        NaN rows are gaps (coasted).
    base : TrackerConfig
        Everything but the tuned values (its ``model`` is the model tuned).
    q_grid : sequence of float
        Candidate process noise of ``base.model`` (for ``imm``: a scale factor applied to
        ``q_cv``, ``q_ca`` and ``q_cj`` together).
    std_grid : sequence of float
        Candidate measurement standard deviations.
    warmup : int
        Measured rows excluded from the cost at the start.

    Returns
    -------
    TuneResult

    Raises
    ------
    EstimationError
        Empty grids or no finite cost anywhere.

    Notes
    -----
    In steady state the Kalman gain depends only on the ratio ``q / std**2``, so the
    one-step cost identifies that ratio, not both values: grid points with the same ratio
    score alike (up to the start-up transient and the gate, which does use the absolute
    R).  Learn R from the data (:func:`estimate_measurement_cov`) and tune q when R must be
    physical (gating).

    References
    ----------
    seed 002 §II.5 (automated offline grid search of Q and R minimising the RMS error).
    """
    q_grid = [float(q) for q in q_grid]
    std_grid = [float(s) for s in std_grid]
    if not q_grid or not std_grid:
        raise EstimationError("tune needs non-empty q and measurement-std grids")
    grid = []
    best = None
    z = np.asarray(measurements, float)
    threshold = max(20.0, 10.0 * float(np.sqrt(np.max(np.diag(estimate_measurement_cov(z))))))
    for q, s in itertools.product(q_grid, std_grid):
        cfg = _with_q(base, q).replace(measurement_std_rad=s)
        cost = prediction_cost(replay(times_s, z, cfg), z, warmup, threshold)
        grid.append({"q": q, "measurement_std": s, "cost": cost})
        if math.isfinite(cost) and (best is None or cost < best[0]):
            best = (cost, q, s, cfg)
    if best is None:
        raise EstimationError("no grid point gave a finite cost; check the data has measurements after warmup")
    return TuneResult(base.model, best[1], best[2], best[0], best[3], grid)


def _with_q(base: TrackerConfig, q: float) -> TrackerConfig:
    m = base.motion_model
    if m is MotionModel.IMM:
        return base.replace(q_cv=base.q_cv * q, q_ca=base.q_ca * q, q_cj=base.q_cj * q)
    return base.replace(**{f"q_{m.value}": q})


# --------------------------------------------------------------------------- re-acquisition metric
@dataclass(frozen=True)
class GapError:
    """Re-acquisition error of one blockage (rows ``first``..``last`` have no measurement)."""

    first_row: int
    last_row: int
    duration_s: float
    truth: np.ndarray  # (2,) median of the 2nd-6th measurements after the gap
    error: float  # |estimate at the last blocked row - truth|
    reference_error: float  # same for the reference (York's) estimate, NaN if not given
    truth_std: float = math.nan  # standard error of the truth per axis (scatter after the gap, quantisation)
    truth_lead: float = math.nan  # how far the spot moves from the last blocked row to the truth's median time
    error_aligned: float = math.nan  # |estimate - truth moved back to the last blocked row|
    reference_error_aligned: float = math.nan  # same for the reference


def find_gaps(measurements: np.ndarray) -> list[tuple[int, int]]:
    """Runs of rows without a measurement, as (first, last) inclusive row indices."""
    blocked = ~np.all(np.isfinite(np.asarray(measurements, float)), axis=1)
    gaps, i, n = [], 0, blocked.shape[0]
    while i < n:
        if blocked[i]:
            j = i
            while j + 1 < n and blocked[j + 1]:
                j += 1
            gaps.append((i, j))
            i = j + 1
        else:
            i += 1
    return gaps


def _truth_std(t: np.ndarray, z: np.ndarray, quantum: float = 0.0) -> float:
    """Standard error per axis of the median of 5 measurements: scatter and quantisation.

    ``sigma = 1.4826 MAD(diff) / sqrt(2)`` per axis (as :func:`estimate_measurement_cov`:
    robust to a spurious detection, and the steady motion between frames drops out with
    the median), then ``1.2533 sigma / sqrt(5)`` for the median of 5, larger axis, added in
    quadrature to ``quantum / sqrt(12)``, the standard deviation of the rounding error of a
    measurement quantised to steps of ``quantum`` (York's integer-pixel centroids:
    quantum = 1 px, 0.29 px).  A slow spot gives 5 identical integers: their scatter is 0
    but their median is still off by up to 0.5 px per axis (uniform), which averaging does
    not reduce; for a spot crossing pixel edges the rounding errors partly average, so the
    quadrature sum is then an upper bound.
    """
    q2 = (float(quantum) ** 2) / 12.0
    if t.shape[0] < 10:
        return math.sqrt(q2) if q2 > 0 else math.nan
    d = np.diff(z, axis=0)
    sigma = 1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0) / math.sqrt(2.0)
    return float(math.hypot(1.2533 * np.max(sigma) / math.sqrt(5.0), math.sqrt(q2)))


def _theil_sen_rate(t: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-axis median of the pairwise slopes (Theil-Sen): a rate robust to a spurious point."""
    i, j = np.triu_indices(t.shape[0], 1)
    dt = t[j] - t[i]
    ok = dt > 0
    if not np.any(ok):
        return np.zeros(2)
    return np.median((z[j][ok] - z[i][ok]) / dt[ok, None], axis=0)


def measurement_quantum(measurements: np.ndarray) -> float:
    """1.0 if every finite measurement is a whole number (integer-pixel centroids), else 0.0."""
    z = np.asarray(measurements, float)
    z = z[np.isfinite(z)]
    return 1.0 if z.size and np.all(z == np.round(z)) else 0.0


def reacquisition_errors(times_s: np.ndarray, measurements: np.ndarray, estimate_xy: np.ndarray,
                         reference_xy: np.ndarray | None = None, min_duration_s: float = 0.0,
                         quantum: float | None = None) -> list[GapError]:
    """Error of an estimate at the end of each blockage against the re-appearing beacon.

    Truth is the median of the 2nd-6th measurements after the gap (the 1st is skipped:
    York's first detection after a blockage is sometimes spurious).  The estimate is taken
    at the last blocked row.  A gap preceded by no measurement, or followed by fewer than
    6 measurements, is skipped; so is one shorter than ``min_duration_s`` (from the last
    measurement before to the first after).

    ``truth_std`` is the truth's own standard error per axis: the frame-to-frame scatter of
    the 2nd-16th measurements after the gap (robust, 1.4826 MAD / sqrt(2), larger axis)
    times 1.2533 / sqrt(5), the standard error of a median of 5 (NaN with fewer than 10 of
    them), in quadrature with the rounding error ``quantum / sqrt(12)`` of quantised
    measurements (:func:`_truth_std`).  On York's noise logs it is ~10 px; on the others,
    whose centroids are integers, at least 0.29 px per axis: errors below about twice it
    (theirs or ours) cannot be told apart.

    ``truth_lead`` is how far the spot moves between the last blocked row (where the
    estimates are taken) and the median time of the 2nd-6th measurements (where the truth
    is; ~4 frames, ~0.18 s, later): the post-gap rate (Theil-Sen over the 2nd-16th) times
    that delay.  It is part of every error of this metric (0.5-7 px on York's passes, from
    3 to 40 px/s), so an estimate that runs ahead of the spot is favoured.
    ``error_aligned`` and ``reference_error_aligned`` are the errors against the truth
    moved back by it, to the estimates' instant (a diagnostic beside issue 3's metric).

    Parameters
    ----------
    times_s : array_like, shape (N,)
    measurements : array_like, shape (N, 2)
        NaN rows are blocked.
    estimate_xy : array_like, shape (N, 2)
        Estimate per row (e.g. the filter's posterior, a prediction on blocked rows).
    reference_xy : array_like, shape (N, 2), optional
        A second estimate to compare (York's ``estimated_X, estimated_Y``).
    min_duration_s : float
        Shortest gap counted [s].
    quantum : float, optional
        Quantisation step of the measurements (1 for integer-pixel centroids, 0 for
        continuous ones); default: :func:`measurement_quantum` of ``measurements``.

    Returns
    -------
    list of GapError
    """
    t = np.asarray(times_s, float)
    z = np.asarray(measurements, float)
    est = np.asarray(estimate_xy, float)
    ref = None if reference_xy is None else np.asarray(reference_xy, float)
    measured = np.flatnonzero(np.all(np.isfinite(z), axis=1))
    if quantum is None:
        quantum = measurement_quantum(z)
    out = []
    for a, b in find_gaps(z):
        if a == 0:
            continue
        after = measured[measured > b]
        if after.size < 6:
            continue
        duration = float(t[after[0]] - t[a - 1])
        if duration < min_duration_s:
            continue
        truth = np.median(z[after[1:6]], axis=0)
        err = float(np.hypot(*(est[b] - truth)))
        rerr = math.nan if ref is None else float(np.hypot(*(ref[b] - truth)))
        lead = _theil_sen_rate(t[after[1:16]], z[after[1:16]]) * (float(np.median(t[after[1:6]])) - float(t[b]))
        aligned = truth - lead
        out.append(GapError(a, b, duration, truth, err, rerr, _truth_std(t[after[1:16]], z[after[1:16]], quantum),
                            float(np.hypot(*lead)), float(np.hypot(*(est[b] - aligned))),
                            math.nan if ref is None else float(np.hypot(*(ref[b] - aligned)))))
    return out
