"""Motion models of the line of sight and their matrices (seed 002 eq. (1)-(11)).

Holds :class:`MotionModel`, :data:`MODEL_ORDER`, :data:`STATE_DIM` and the matrices of the
two-axis polynomial models: :func:`transition_matrix` (seed 002 eq. (2), (11)),
:func:`measurement_matrix` (eq. (6)) and :func:`process_noise` (eq. (5)).

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

References
----------
seed 002 (York, "Energy efficient optical tracking for space quantum communication")
§II.5 eq. (1)-(9) and §II.6 eq. (10)-(11); Bar-Shalom, Li and Kirubarajan, *Estimation
with Applications to Tracking and Navigation* (2001), §6.2 (white-noise models) and §11.6
(IMM).
"""

from __future__ import annotations

import enum
import math

import numpy as np
from filterpy.common import Q_discrete_white_noise

from qsat_pat.core.errors import EstimationError

__all__ = [
    "MODEL_ORDER",
    "STATE_DIM",
    "MotionModel",
    "measurement_matrix",
    "process_noise",
    "transition_matrix",
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
