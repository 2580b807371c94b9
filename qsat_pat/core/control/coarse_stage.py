"""Coarse stage: the mount (OGS) or the spacecraft body as a rate- and acceleration-limited servo.

* :class:`CoarseStageConfig`, :class:`CoarseStageModel` -- the servo with rate feed-forward,
  axis limits and an azimuth error wrapped to [-pi, pi) (:func:`wrap_pi`);
* :func:`los_to_mount_rate` -- a LOS-frame rate (cross-elevation, elevation) as mount
  (az, el) rates.

References
----------
seed 004 eq. (3)-(4) (an azimuth change seen on the camera scales with cos(el)); seed 001
§4.5 (NanoBob: 13.7 mrad/s OGS slew at 550 km).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _clip, _finite_vec2
from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["CoarseStageConfig", "CoarseStageModel", "los_to_mount_rate", "wrap_pi"]


@dataclass(frozen=True)
class CoarseStageConfig(ConfigBase):
    """Mount (az/el) or spacecraft body (ADCS target) as the coarse stage."""

    stage: str = param("mount", "which coarse stage", choices=("mount", "body"))
    max_rate_radps: float = param(0.2, "rate limit per axis", unit="rad/s", min_value=1e-4,
                                  max_value=10.0)
    max_acc_radps2: float = param(0.2, "acceleration limit per axis", unit="rad/s^2",
                                  min_value=1e-4, max_value=100.0)
    position_gain_per_s: float = param(5.0, "servo position-loop gain (bandwidth)", unit="1/s",
                                       min_value=0.01, max_value=1000.0)
    axis1_min_rad: float = param(-4.71238898, "axis 1 (azimuth) lower limit", unit="rad",
                                 min_value=-10.0, max_value=10.0)
    axis1_max_rad: float = param(4.71238898, "axis 1 (azimuth) upper limit", unit="rad",
                                 min_value=-10.0, max_value=10.0)
    axis2_min_rad: float = param(-0.0872664626, "axis 2 (elevation) lower limit", unit="rad",
                                 min_value=-1.6, max_value=1.6)
    axis2_max_rad: float = param(1.65806279, "axis 2 (elevation) upper limit", unit="rad",
                                 min_value=-1.6, max_value=1.7)

    def check(self) -> None:
        if self.axis1_min_rad >= self.axis1_max_rad or self.axis2_min_rad >= self.axis2_max_rad:
            raise ConfigError("CoarseStageConfig: axis*_min_rad must be < axis*_max_rad")


def wrap_pi(angle_rad):
    """Angle(s) wrapped to [-pi, pi) [rad]."""
    return (np.asarray(angle_rad, dtype=float) + math.pi) % (2 * math.pi) - math.pi


class CoarseStageModel:
    """Rate- and acceleration-limited servo of a mount or body, with rate feed-forward.

    Rate demand per axis: ``ff_rate + k_pos * (cmd - pos)`` (azimuth error wrapped),
    limited to ``max_rate`` and to a change of ``max_acc * dt`` per step.

    Parameters
    ----------
    config : CoarseStageConfig
    position_rad : array_like (2,)
        Initial (axis1, axis2) [rad].
    """

    def __init__(self, config: CoarseStageConfig | None = None, position_rad=(0.0, 0.5)) -> None:
        self.config = config or CoarseStageConfig()
        self.position_rad = _finite_vec2("coarse stage position", position_rad).copy()
        self.rate_radps = np.zeros(2)
        self.at_limit = False

    def step(self, dt_s: float, command_rad, rate_ff_radps=(0.0, 0.0)) -> np.ndarray:
        """Advance ``dt_s`` [s] toward ``command_rad`` (2,) with feed-forward; return position."""
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise ControlError(f"coarse stage dt_s = {dt_s!r} must be finite and > 0")
        cmd = _finite_vec2("coarse command", command_rad)
        ff = _finite_vec2("coarse rate feed-forward", rate_ff_radps)
        c = self.config
        err = cmd - self.position_rad
        err[0] = float(wrap_pi(err[0])) if c.stage == "mount" else err[0]
        want = ff + c.position_gain_per_s * err
        vmax, amax = c.max_rate_radps, c.max_acc_radps2
        want_c = _clip(want, -vmax, vmax)
        dv = _clip(want_c - self.rate_radps, -amax * dt_s, amax * dt_s)
        new_rate = self.rate_radps + dv
        self.at_limit = bool(abs(want[0]) > vmax or abs(want[1]) > vmax
                             or abs(dv[0]) >= amax * dt_s or abs(dv[1]) >= amax * dt_s)
        self.position_rad = self.position_rad + 0.5 * (self.rate_radps + new_rate) * dt_s
        self.rate_radps = new_rate
        lo = np.array([c.axis1_min_rad, c.axis2_min_rad])
        hi = np.array([c.axis1_max_rad, c.axis2_max_rad])
        p = self.position_rad
        if p[0] < lo[0] or p[1] < lo[1] or p[0] > hi[0] or p[1] > hi[1]:
            self.position_rad = _clip(self.position_rad, lo, hi)
            self.rate_radps = np.where((self.position_rad <= lo) | (self.position_rad >= hi), 0.0,
                                       self.rate_radps)
            self.at_limit = True
        return self.position_rad.copy()


def los_to_mount_rate(los_rate_radps, el_rad: float, min_cos_el: float = 0.05) -> np.ndarray:
    """LOS-frame rate (cross-el, el) -> mount (az, el) rate; az divided by cos(el).

    References
    ----------
    seed 004 eq. (3)-(4) (an azimuth change seen on the camera scales with cos(el)).
    """
    v = _finite_vec2("LOS rate", los_rate_radps)
    return np.array([v[0] / max(math.cos(el_rad), min_cos_el), v[1]])
