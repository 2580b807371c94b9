"""Noise levels learnt from the data: measurement noise (seed 002 §III) and the adaptive Q.

* :func:`estimate_measurement_cov`: a diagonal covariance from the frame-to-frame
  differences of the first measurements (seed 002 §III reserves the first 100 centroids
  for learning).
* :class:`NoiseLearner`: measurement noise learnt online from frame-to-frame differences
  (York's "noise" logs switch a ~25 px jitter on mid-pass).
* :class:`AdaptiveQ`: the running mean of the NIS scales Q up while the model lags (the
  zenith of a fast pass), ``adaptive_q_memory`` (beyond seed 002).

References
----------
seed 002 §III (the first 100 centroids are reserved for learning); Bar-Shalom, Li and
Kirubarajan (2001) §11.2 (adjustable process noise).
"""

from __future__ import annotations

import math

import numpy as np

from qsat_pat.core.errors import EstimationError

__all__ = [
    "AdaptiveQ",
    "NoiseLearner",
    "estimate_measurement_cov",
]


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


class AdaptiveQ:
    """Process-noise scale of :class:`~qsat_pat.core.estimation.tracker.LosTracker` from the running NIS mean.

    Parameters
    ----------
    memory : int
        Measurements in the running NIS mean (``adaptive_q_memory``; 0 = fixed Q).
    max_scale : float
        Largest factor applied (``adaptive_q_max_scale``).
    gate_nis : float
        NIS of the tracker's gate; each NIS is clipped at it.

    Attributes
    ----------
    nis_mean : float
        Running mean of the (clipped) NIS, 2 at the start (its expectation).
    scale : float
        Factor on every model's process noise, 1 = as configured.
    """

    def __init__(self, memory: int, max_scale: float, gate_nis: float) -> None:
        self.memory = memory
        self.max_scale = max_scale
        self.gate_nis = gate_nis
        self.nis_mean = 2.0
        self.scale = 1.0

    def update(self, nis: float) -> None:
        """Scale Q by the running mean of the NIS (adjustable process noise).

        A model that lags a manoeuvre (the zenith of a fast pass) shows NIS above its
        expectation, 2 for two measured coordinates; Q is then multiplied by
        ``(mean NIS / 2)**2`` (at most ``adaptive_q_max_scale``) until the innovations are
        white again.  Each NIS is clipped at the gate so one spurious detection barely
        moves the mean.  Bar-Shalom et al. (2001) §11.2.
        """
        n = self.memory
        if n <= 0 or not math.isfinite(nis):
            return
        a = 1.0 / n
        self.nis_mean = (1.0 - a) * self.nis_mean + a * min(nis, self.gate_nis)
        self.scale = min(max((self.nis_mean / 2.0) ** 2, 1.0), self.max_scale)
