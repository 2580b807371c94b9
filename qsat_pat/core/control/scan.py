"""Acquisition scans over the open-loop uncertainty cone: spiral and raster offsets.

:class:`AcquisitionScan` gives the (cross-el, el) offset to add to the open-loop pointing
at a time into the scan (:class:`ScanConfig`: pattern, cone, line spacing, speed); the PAT
state machine runs it until the beacon is detected.

References
----------
seed 003 §2.3 (Vector: open-loop error up to ~1.8 mrad from TLE + SGP4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _finite
from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["AcquisitionScan", "ScanConfig"]


@dataclass(frozen=True)
class ScanConfig(ConfigBase):
    """Acquisition scan over the open-loop uncertainty cone."""

    pattern: str = param("spiral", "scan pattern", choices=("spiral", "raster"))
    cone_radius_rad: float = param(2e-3, "half-angle to cover (TLE ~1 km / 550 km ~ 2 mrad)",
                                   unit="rad", min_value=1e-6, max_value=0.2)
    step_rad: float = param(300e-6, "spacing of spiral turns / raster lines (< sensor FOV)",
                            unit="rad", min_value=1e-7, max_value=0.1)
    speed_radps: float = param(5e-3, "scan speed along the path", unit="rad/s", min_value=1e-6,
                               max_value=1.0)


class AcquisitionScan:
    """Spiral (Archimedean, constant path speed) or raster scan offsets, repeating.

    ``offset_at(t)`` gives the (cross-el, el) offset [rad] to add to the open-loop pointing
    ``t`` seconds after the scan started.  The spiral ``r = step * phi / (2 pi)`` covers the
    cone with turns ``step_rad`` apart (seed 003 §2.3: open-loop error up to ~1.8 mrad).
    """

    def __init__(self, config: ScanConfig | None = None) -> None:
        self.config = config or ScanConfig()
        c = self.config
        if c.step_rad > c.cone_radius_rad:
            raise ConfigError("ScanConfig.step_rad must be <= cone_radius_rad")
        b = c.step_rad / (2 * math.pi)
        phi_max = (c.cone_radius_rad + 0.5 * c.step_rad) / b  # last turn half a step outside
        # arc length of r = b*phi from 0 to phi_max
        self._b = b
        self._phi_max = phi_max
        self.period_s = self._spiral_len(phi_max) / c.speed_radps if c.pattern == "spiral" else (
            self._raster_len() / c.speed_radps)

    def _spiral_len(self, phi: float) -> float:
        b = self._b
        return 0.5 * b * (phi * math.sqrt(1 + phi * phi) + math.asinh(phi))

    def _raster_len(self) -> float:
        c = self.config
        n = int(math.floor(2 * c.cone_radius_rad / c.step_rad)) + 1
        return n * 2 * c.cone_radius_rad + (n - 1) * c.step_rad

    def offset_at(self, t_s: float) -> np.ndarray:
        """Scan offset (2,) [rad] at ``t_s`` seconds into the scan (repeats after ``period_s``)."""
        t = _finite("scan t_s", t_s)
        if t < 0:
            raise ControlError(f"scan time {t} s is negative")
        c = self.config
        s = (t % self.period_s) * c.speed_radps
        if c.pattern == "spiral":
            # invert arc length: s ~ b/2 phi^2 for large phi; Newton from there
            phi = math.sqrt(2 * s / self._b) if s > 0 else 0.0
            for _ in range(4):
                f = self._spiral_len(phi) - s
                phi -= f / (self._b * math.sqrt(1 + phi * phi))
                phi = max(phi, 0.0)
            r = self._b * phi
            return np.array([r * math.cos(phi), r * math.sin(phi)])
        r = c.cone_radius_rad
        line = 2 * r + c.step_rad
        k = int(s // line)
        rem = s - k * line
        y = -r + k * c.step_rad
        if rem <= 2 * r:
            x = -r + rem if k % 2 == 0 else r - rem
        else:
            x = r if k % 2 == 0 else -r
            y += rem - 2 * r
        return np.array([x, min(y, r)])
