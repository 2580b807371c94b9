"""Fast-steering mirror: its configuration, plant model and the pixel <- angle calibration.

* :class:`FsmConfig` -- range and second-order dynamics of the mirror;
* :class:`FsmModel` -- two-axis plant: command clamp to +-range, then an exactly discretised
  second-order low-pass per axis (the simulator's FSM plant and the fine loop's internal
  model);
* :class:`FsmCalibration`, :func:`fit_fsm_calibration` -- the affine map between FSM tip/tilt
  and camera pixels, fitted from commanded deflections.

References
----------
seed 004 §2.2, Table 1 (Micius uplink: PI S-330 FSM, 250 urad range); seed 003 §2.3 (Vector
OGS: 580 Hz FSM); seed 002 §II.3 (FSM calibration from a large known deflection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from qsat_pat.core._checks import _clip, _finite_vec2
from qsat_pat.core.errors import ControlError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["FsmCalibration", "FsmConfig", "FsmModel", "fit_fsm_calibration"]


@dataclass(frozen=True)
class FsmConfig(ConfigBase):
    """Fast-steering mirror: range and second-order dynamics (seed 004 Table 1, seed 003 §2.3)."""

    range_rad: float = param(250e-6, "mechanical range per axis (+-), PI S-330 class", unit="rad",
                             min_value=1e-6, max_value=0.1)
    bandwidth_hz: float = param(580.0, "natural frequency of the 2nd-order mirror response",
                                unit="Hz", min_value=1.0, max_value=2e4)
    damping: float = param(0.7, "damping ratio of the 2nd-order response", min_value=0.05,
                           max_value=5.0)


class FsmModel:
    """Two-axis FSM plant: command clamp to +-range, then a 2nd-order low-pass per axis.

    The continuous model ``p'' = wn^2 (u - p) - 2 zeta wn p'`` is discretised exactly for a
    zero-order-hold command (matrix exponential), so it is stable for any step ``dt_s``.

    Parameters
    ----------
    config : FsmConfig
    """

    def __init__(self, config: FsmConfig | None = None) -> None:
        self.config = config or FsmConfig()
        self._cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.position_rad = np.zeros(2)
        self.rate_radps = np.zeros(2)
        self.at_limit = False

    def _discrete(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        key = round(dt_s, 12)
        if key not in self._cache:
            wn = 2 * math.pi * self.config.bandwidth_hz
            z = self.config.damping
            a = np.array([[0.0, 1.0, 0.0], [-wn * wn, -2 * z * wn, wn * wn], [0.0, 0.0, 0.0]])
            m = expm(a * dt_s)
            self._cache[key] = (m[:2, :2].copy(), m[:2, 2].copy())
        return self._cache[key]

    def clamp(self, command_rad) -> tuple[np.ndarray, bool]:
        """Command limited to the range; returns (clamped (2,), at_limit)."""
        u = _finite_vec2("FSM command", command_rad)
        r = self.config.range_rad
        c = _clip(u, -r, r)
        return c, bool(abs(u[0]) >= r or abs(u[1]) >= r)

    def step(self, command_rad, dt_s: float) -> np.ndarray:
        """Advance by ``dt_s`` [s] holding ``command_rad`` (2,); return the mirror position [rad]."""
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise ControlError(f"FSM step dt_s = {dt_s!r} must be finite and > 0")
        u, self.at_limit = self.clamp(command_rad)
        ad, bd = self._discrete(float(dt_s))
        p = ad[0, 0] * self.position_rad + ad[0, 1] * self.rate_radps + bd[0] * u
        v = ad[1, 0] * self.position_rad + ad[1, 1] * self.rate_radps + bd[1] * u
        self.position_rad, self.rate_radps = p, v
        return p.copy()

    def reset(self, position_rad=(0.0, 0.0)) -> None:
        """Put the mirror at rest at ``position_rad``."""
        self.position_rad = _finite_vec2("FSM position", position_rad).copy()
        self.rate_radps = np.zeros(2)


@dataclass(frozen=True)
class FsmCalibration:
    """Affine map between FSM tip/tilt [rad] and camera pixels.

    ``px = matrix_px_per_rad @ angle_rad + offset_px``.  The 2x2 matrix holds scale and
    rotation (and any shear); seed 002 §II.3 reduces it to one scalar (a lever arm from
    one large known deflection); this is the general fit.
    """

    matrix_px_per_rad: np.ndarray
    offset_px: np.ndarray
    residual_rms_px: float

    @property
    def scale_px_per_rad(self) -> tuple[float, float]:
        """Singular values of the matrix (the two axis scales) [px/rad]."""
        s = np.linalg.svd(self.matrix_px_per_rad, compute_uv=False)
        return float(s[0]), float(s[1])

    @property
    def rotation_rad(self) -> float:
        """Rotation of the FSM axes on the camera (polar factor of the matrix) [rad]."""
        u, _, vt = np.linalg.svd(self.matrix_px_per_rad)
        r = u @ vt
        return float(math.atan2(r[1, 0], r[0, 0]))

    def px_to_rad(self, delta_px) -> np.ndarray:
        """FSM angle change (2,) [rad] that moves the spot by ``delta_px`` (2,) [px]."""
        d = np.asarray(delta_px, dtype=float)
        return np.linalg.solve(self.matrix_px_per_rad, d)

    def rad_to_px(self, angle_rad) -> np.ndarray:
        """Spot displacement (2,) [px] for an FSM angle change (2,) [rad]."""
        return self.matrix_px_per_rad @ np.asarray(angle_rad, dtype=float)


def fit_fsm_calibration(commanded_rad, measured_px) -> FsmCalibration:
    """Fit the pixel <- FSM tip/tilt map from commanded deflections (least squares).

    Parameters
    ----------
    commanded_rad : array_like, shape (N, 2)
        Commanded (tip, tilt) [rad]; at least 3 non-collinear points, ideally large
        deflections (seed 002 §II.3 uses one "large known angle").
    measured_px : array_like, shape (N, 2)
        Spot centroids (x, y) [px] measured at each deflection.

    Returns
    -------
    FsmCalibration

    Raises
    ------
    ControlError
        Shapes differ, fewer than 3 points, non-finite values, or the deflections do not
        span both axes (rank-deficient: command a pattern such as a square or a cross).

    References
    ----------
    seed 002 §II.3 (calibration of the pixel/angle relation by a known deflection).
    """
    a = np.asarray(commanded_rad, dtype=float)
    b = np.asarray(measured_px, dtype=float)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape != b.shape:
        raise ControlError(
            f"calibration needs commanded_rad and measured_px of the same shape (N, 2); got "
            f"{a.shape} and {b.shape}")
    if a.shape[0] < 3:
        raise ControlError(f"calibration needs >= 3 deflections, got {a.shape[0]}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ControlError("calibration data contain NaN/inf; drop frames without a detection")
    design = np.hstack([a, np.ones((a.shape[0], 1))])
    if np.linalg.matrix_rank(design) < 3:
        raise ControlError("commanded deflections do not span both FSM axes; command a square or cross")
    sol, *_ = np.linalg.lstsq(design, b, rcond=None)
    matrix = sol[:2].T
    offset = sol[2]
    resid = b - design @ sol
    rms = float(np.sqrt(np.mean(np.sum(resid * resid, axis=1))))
    return FsmCalibration(matrix, offset, rms)
