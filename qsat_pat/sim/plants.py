"""Actuator plants the controllers do not see: OGS mount dynamics and the FSMs.

Mount (per axis, azimuth and elevation)
---------------------------------------
A rigid axis of inertia ``J`` driven by the mount's own servo (the drive electronics,
not the PAT software): a PD position loop with velocity feed-forward tuned to the servo
bandwidth ``f_s`` (``Kp = J w^2``, ``Kd = 2 zeta J w``, ``w = 2 pi f_s``), the demanded rate
limited to ``max_rate`` and the motor torque to ``J max_acc``.  One structural mode
(frequency ``f_m``, damping ``zeta_m``) of the telescope tube is excited by the axis
acceleration, ``q'' + 2 zeta_m w_m q' + w_m^2 q = -kappa theta''``, and adds ``q`` to the optical
line of sight (the "structural vibration" the fine loop must reject).  Integration is
semi-implicit Euler on sub-steps of at most 1/(40 f_m).

FSM
---
The FSM plant is the second-order, range-limited model of :class:`qsat_pat.core.control.
FsmModel` (reused, not copied): one class for the controller's design model and the
simulator's truth, configured separately per terminal.

References
----------
NanoBob (seed 001) §4.5 (OGS slew up to 13.7 mrad/s); seed 003 §2.3 (Vector OGS: motorised
mount, 580 Hz FSM); seed 004 Table 1 (Micius: PI S-330 FSM, 250 urad range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.control import FsmConfig, FsmModel, wrap_pi
from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["FsmConfig", "FsmPlant", "MountConfig", "MountPlant", "MountState", "mount_los_error_rad"]


def mount_los_error_rad(target_az_rad: float, target_el_rad: float, pointing_az_rad: float,
                        pointing_el_rad: float) -> np.ndarray:
    """Where a target appears relative to the telescope axis: (cross-elevation, elevation) [rad].

    Exact angles in the telescope frame (x = cross-elevation, to the right when the azimuth
    grows; y = elevation): the target's ENU unit vector is rotated into the frame of the
    pointing direction, so it stays correct near the zenith (keyhole), where an azimuth
    difference alone would blow up.
    """
    ca, sa = math.cos(target_az_rad), math.sin(target_az_rad)
    ce, se = math.cos(target_el_rad), math.sin(target_el_rad)
    v = np.array([ce * sa, ce * ca, se])  # ENU
    pa, pe = pointing_az_rad, pointing_el_rad
    boresight = np.array([math.cos(pe) * math.sin(pa), math.cos(pe) * math.cos(pa), math.sin(pe)])
    x_axis = np.array([math.cos(pa), -math.sin(pa), 0.0])  # increasing azimuth
    y_axis = np.cross(boresight, x_axis) * -1.0  # increasing elevation
    z = float(v @ boresight)
    return np.array([math.atan2(float(v @ x_axis), z), math.atan2(float(v @ y_axis), z)])

#: The FSM plant is the core FSM model (second order, bandwidth, damping, range).
FsmPlant = FsmModel


@dataclass(frozen=True)
class MountConfig(ConfigBase):
    """Az/el telescope mount: inertia, servo, limits and one structural mode."""

    inertia_kgm2: tuple = param((40.0, 25.0), "axis inertia (azimuth, elevation)", unit="kg m^2",
                                min_value=0.01, max_value=1e6)
    servo_bandwidth_hz: float = param(5.0, "closed-loop bandwidth of the mount's position servo", unit="Hz",
                                      min_value=0.05, max_value=100.0)
    servo_damping: float = param(0.8, "damping ratio of the mount servo", min_value=0.1, max_value=3.0)
    max_rate_radps: float = param(0.17, "rate limit per axis (10 deg/s)", unit="rad/s", min_value=1e-3,
                                  max_value=5.0)
    max_acc_radps2: float = param(0.17, "acceleration (torque/inertia) limit per axis", unit="rad/s^2",
                                  min_value=1e-3, max_value=50.0)
    mode_frequency_hz: float = param(25.0, "first structural mode of the tube/fork", unit="Hz",
                                     min_value=1.0, max_value=500.0)
    mode_damping: float = param(0.02, "damping ratio of the structural mode", min_value=0.001, max_value=1.0)
    mode_coupling: float = param(0.02, "LOS deflection of the mode per unit axis acceleration response",
                                 min_value=0.0, max_value=1.0)
    elevation_min_rad: float = param(0.0, "elevation lower limit", unit="rad", min_value=-0.2, max_value=1.0)
    elevation_max_rad: float = param(1.5708, "elevation upper limit", unit="rad", min_value=0.5, max_value=1.7)

    def check(self) -> None:
        if len(self.inertia_kgm2) != 2:
            raise ConfigError("MountConfig.inertia_kgm2 needs 2 values (azimuth, elevation)")
        if self.elevation_min_rad >= self.elevation_max_rad:
            raise ConfigError("MountConfig.elevation_min_rad must be < elevation_max_rad")


@dataclass(frozen=True)
class MountState:
    """Mount axes after a step (``ActuatorState`` for the mount stage)."""

    t_s: float
    axis_rad: np.ndarray          # (az, el) encoder angles [rad]
    rate_radps: np.ndarray        # (az, el) rates [rad/s]
    los_offset_rad: np.ndarray    # structural-mode LOS deflection (az, el) [rad]
    at_limit: bool


class MountPlant:
    """OGS az/el mount with servo, limits and a structural mode (module notes).

    Parameters
    ----------
    config : MountConfig
    position_rad : array_like (2,)
        Initial (azimuth, elevation) [rad].
    """

    def __init__(self, config: MountConfig | None = None, position_rad=(0.0, 0.5)) -> None:
        self.config = cfg = config or MountConfig()
        p = np.asarray(position_rad, dtype=float).reshape(2)
        if not np.all(np.isfinite(p)):
            raise SimulationError(f"mount position must be finite, got {position_rad!r}")
        self.position_rad = p.copy()
        self.rate_radps = np.zeros(2)
        self.mode_q = np.zeros(2)
        self.mode_qd = np.zeros(2)
        self.t_s = 0.0
        self.at_limit = False
        self.inertia = np.asarray(cfg.inertia_kgm2, dtype=float)
        w = 2 * math.pi * cfg.servo_bandwidth_hz
        self._kp = self.inertia * w * w
        self._kd = 2.0 * cfg.servo_damping * self.inertia * w
        self._wm = 2 * math.pi * cfg.mode_frequency_hz
        self._h_max = 1.0 / (40.0 * max(cfg.mode_frequency_hz, cfg.servo_bandwidth_hz * 4))

    def step(self, dt_s: float, command_rad, rate_ff_radps=(0.0, 0.0)) -> MountState:
        """Advance ``dt_s`` [s] towards ``command_rad`` (az, el) with rate feed-forward.

        Returns
        -------
        MountState
            Encoder angles, rates and the structural LOS offset at the end of the step.

        Raises
        ------
        SimulationError
            Non-positive step or non-finite command.
        """
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise SimulationError(f"MountPlant.step dt_s={dt_s!r} must be finite and > 0")
        cmd = np.asarray(command_rad, dtype=float).reshape(2)
        ff = np.asarray(rate_ff_radps, dtype=float).reshape(2)
        if not (np.all(np.isfinite(cmd)) and np.all(np.isfinite(ff))):
            raise SimulationError(f"mount command must be finite, got {command_rad!r}, {rate_ff_radps!r}")
        c = self.config
        cmd = cmd.copy()
        cmd[1] = min(max(cmd[1], c.elevation_min_rad), c.elevation_max_rad)
        n = max(1, math.ceil(dt_s / self._h_max))
        h = dt_s / n
        amax = c.max_acc_radps2
        limited = False
        for _ in range(n):
            err = cmd - self.position_rad
            err[0] = float(wrap_pi(err[0]))
            # servo: rate demand from position error, rate-limited, then PD torque, torque-limited
            rate_dem = np.clip(ff + err * (self._kp / self._kd), -c.max_rate_radps, c.max_rate_radps)
            acc = self._kd * (rate_dem - self.rate_radps) / self.inertia
            acc_c = np.clip(acc, -amax, amax)
            limited = limited or bool(np.any(acc_c != acc)) or bool(np.any(np.abs(rate_dem) >= c.max_rate_radps))
            self.rate_radps = self.rate_radps + acc_c * h
            self.position_rad = self.position_rad + self.rate_radps * h
            qdd = -c.mode_coupling * acc_c - 2 * c.mode_damping * self._wm * self.mode_qd - self._wm**2 * self.mode_q
            self.mode_qd = self.mode_qd + qdd * h
            self.mode_q = self.mode_q + self.mode_qd * h
            if self.position_rad[1] < c.elevation_min_rad or self.position_rad[1] > c.elevation_max_rad:
                self.position_rad[1] = min(max(self.position_rad[1], c.elevation_min_rad), c.elevation_max_rad)
                self.rate_radps[1] = 0.0
                limited = True
        self.t_s += dt_s
        self.at_limit = limited
        return self.state()

    def state(self) -> MountState:
        """Current :class:`MountState`."""
        return MountState(self.t_s, self.position_rad.copy(), self.rate_radps.copy(), self.mode_q.copy(),
                          self.at_limit)

