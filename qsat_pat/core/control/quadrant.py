"""Quadrant detector, the space terminal's fine sensor: signals of a Gaussian spot and their inversion.

:class:`QuadrantDetector` gives the photo-electrons of the four quadrants for a spot offset
(with noise) and recovers the offset from them exactly (``erfinv`` of the normalised
differences); :class:`QuadrantDetectorConfig` holds spot size, field of view and noise.

References
----------
seed 001 §3, §4.6 (NanoBob: quadrant-detector beacon receiver, 9 mrad field of view).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, erfinv

from qsat_pat.core._checks import _finite_vec2
from qsat_pat.core.params import ConfigBase, param

__all__ = ["QuadrantDetector", "QuadrantDetectorConfig"]


@dataclass(frozen=True)
class QuadrantDetectorConfig(ConfigBase):
    """Quadrant detector with a Gaussian spot (NanoBob beacon receiver, seed 001 §3, §4.6)."""

    spot_sigma_rad: float = param(100e-6, "1-sigma angular size of the defocused spot", unit="rad",
                                  min_value=1e-7, max_value=0.1)
    fov_rad: float = param(4.5e-3, "half field of view (9 mrad full, seed 001 §3)", unit="rad",
                           min_value=1e-6, max_value=0.5)
    noise_e: float = param(30.0, "rms noise per quadrant", unit="e-", min_value=0.0, max_value=1e9)


class QuadrantDetector:
    """Quadrant signals of a separable Gaussian spot and their exact inversion.

    With spot centre ``(x0, y0)`` and width sigma, the normalised differences are
    ``sx = ((A+D)-(B+C))/sum = erf(x0 / (sqrt(2) sigma))`` (same for y), so
    ``x0 = sqrt(2) sigma erfinv(sx)``.  Quadrants: A (+x,+y), B (-x,+y), C (-x,-y), D (+x,-y).
    """

    def __init__(self, config: QuadrantDetectorConfig | None = None) -> None:
        self.config = config or QuadrantDetectorConfig()

    def signals(self, offset_rad, signal_e: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Photo-electrons in (A, B, C, D) for a spot at ``offset_rad`` (2,); noise if ``rng``."""
        x0, y0 = _finite_vec2("spot offset", offset_rad)
        s = math.sqrt(2) * self.config.spot_sigma_rad
        px = 0.5 * (1 + erf(x0 / s))
        py = 0.5 * (1 + erf(y0 / s))
        q = signal_e * np.array([px * py, (1 - px) * py, (1 - px) * (1 - py), px * (1 - py)])
        if abs(x0) > self.config.fov_rad or abs(y0) > self.config.fov_rad:
            q = np.zeros(4)
        if rng is not None and self.config.noise_e > 0:
            q = q + rng.normal(0.0, self.config.noise_e, 4)
        return q

    def estimate(self, quadrants_e) -> np.ndarray | None:
        """Spot offset (2,) [rad] from (A, B, C, D), or None if the total is not positive."""
        a, b, c, d = np.asarray(quadrants_e, dtype=float)
        total = a + b + c + d
        if not (math.isfinite(total) and total > 0):
            return None
        sx = np.clip(((a + d) - (b + c)) / total, -0.999999, 0.999999)
        sy = np.clip(((a + b) - (c + d)) / total, -0.999999, 0.999999)
        s = math.sqrt(2) * self.config.spot_sigma_rad
        return np.array([s * erfinv(sx), s * erfinv(sy)])
