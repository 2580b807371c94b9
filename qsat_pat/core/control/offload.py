"""FSM -> coarse-stage offload: hand the mirror's mean deflection over to the mount or body.

:class:`FsmOffload` low-pass filters the FSM position and returns a LOS-frame rate for the
coarse stage: a slow continuous centring, plus a stronger gain engaged with hysteresis
when the mean deflection nears the mirror's range (:class:`OffloadConfig`).

References
----------
seed 002 §II.3 (the excess of the FSM deflection handed to the mount).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _clip, _finite_vec2
from qsat_pat.core.control.fsm import FsmConfig
from qsat_pat.core.errors import ConfigError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["FsmOffload", "OffloadConfig"]


@dataclass(frozen=True)
class OffloadConfig(ConfigBase):
    """FSM -> coarse-stage offload (seed 002 §II.3: hand the excess to the mount)."""

    engage_fraction: float = param(0.4, "engage when |mean FSM deflection| exceeds this fraction "
                                   "of the range", min_value=0.0, max_value=1.0)
    release_fraction: float = param(0.05, "release when it falls below this fraction",
                                    min_value=0.0, max_value=1.0)
    mean_time_constant_s: float = param(0.2, "time constant of the mean-deflection filter",
                                        unit="s", min_value=1e-3, max_value=100.0)
    gain_per_s: float = param(4.0, "offload rate per unit mean deflection when engaged",
                              unit="1/s", min_value=0.0, max_value=1000.0)
    continuous_gain_per_s: float = param(0.5, "offload rate gain always applied (slow centring)",
                                         unit="1/s", min_value=0.0, max_value=1000.0)
    max_offload_rate_radps: float = param(5e-3, "limit of the offload rate", unit="rad/s", min_value=0.0,
                                          max_value=1.0)

    def check(self) -> None:
        if self.release_fraction > self.engage_fraction:
            raise ConfigError("OffloadConfig.release_fraction must be <= engage_fraction (hysteresis)")


class FsmOffload:
    """Hands the FSM's mean deflection over to the coarse stage (LOS frame rates).

    Output is a rate [rad/s] in the LOS frame (x cross-elevation, y elevation) to add to
    the coarse stage; :func:`los_to_mount_rate` turns it into az/el rates.
    """

    def __init__(self, config: OffloadConfig | None = None, fsm: FsmConfig | None = None) -> None:
        self.config = config or OffloadConfig()
        self.fsm_config = fsm or FsmConfig()
        self.mean_rad = np.zeros(2)
        self.engaged = False

    def step(self, fsm_position_rad, dt_s: float) -> np.ndarray:
        """Update with the mirror position (2,) [rad]; return the offload rate (2,) [rad/s]."""
        p = _finite_vec2("FSM position", fsm_position_rad)
        c = self.config
        a = dt_s / (c.mean_time_constant_s + dt_s)
        self.mean_rad = self.mean_rad + a * (p - self.mean_rad)
        level = max(abs(self.mean_rad[0]), abs(self.mean_rad[1])) / self.fsm_config.range_rad
        if not self.engaged and level > c.engage_fraction:
            self.engaged = True
        elif self.engaged and level < c.release_fraction:
            self.engaged = False
        gain = c.continuous_gain_per_s + (c.gain_per_s if self.engaged else 0.0)
        return _clip(gain * self.mean_rad, -c.max_offload_rate_radps, c.max_offload_rate_radps)
