"""Abstract driver interfaces for the pointing hardware a node talks to directly (FSM, mount).

Cameras and the satellite's ADCS plug in as topics instead (``sensor_msgs/Image``,
``AdcsState`` / ``body_target``), so the simulator replaces them by publishing those topics.
Conventions:

* angles in radians, rates in rad/s, time in seconds passed in by the caller;
* a driver never raises on a device that stops answering during normal operation: it
  enters a *fault state* (:attr:`Driver.fault`, :attr:`Driver.fault_reason`) that the
  node reports in ``ActuatorState.fault``; only programming errors and rejected
  commands raise (:class:`DriverError`, a :class:`~qsat_pat.core.errors.ControlError`);
* commands are validated (finite, in range) before any byte is sent.
"""

from __future__ import annotations

import abc

import numpy as np

from qsat_pat.core.control.messages import StageReading
from qsat_pat.core.errors import ControlError


class DriverError(ControlError):
    """A command was rejected before reaching the device, or the device refused it."""


class Driver(abc.ABC):
    """Common fault-state bookkeeping of every driver."""

    def __init__(self) -> None:
        self._fault_reason = ""

    @property
    def fault(self) -> bool:
        """True while the device does not follow commands."""
        return bool(self._fault_reason)

    @property
    def fault_reason(self) -> str:
        """Why the driver is in fault (empty if none)."""
        return self._fault_reason

    def _set_fault(self, reason: str) -> None:
        self._fault_reason = reason

    def clear_fault(self) -> None:
        """Forget the fault (the next command retries the device)."""
        self._fault_reason = ""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MountDriver(Driver):
    """Az/el mount."""

    @abc.abstractmethod
    def set_position(self, az_rad: float, el_rad: float) -> bool:
        """Command (az, el) [rad]; True if the device acknowledged, False (fault) otherwise."""

    @abc.abstractmethod
    def get_position(self, t_s: float) -> StageReading | None:
        """Current (az, el) at time ``t_s``; None (and fault) if the device does not answer."""

    @abc.abstractmethod
    def stop(self) -> bool:
        """Stop motion (safe hold)."""

    @abc.abstractmethod
    def park(self) -> bool:
        """Go to the park position."""


class FsmDriver(Driver):
    """Two-axis fast-steering mirror."""

    @abc.abstractmethod
    def set_angles(self, tip_rad: float, tilt_rad: float) -> bool:
        """Command (tip, tilt) [rad, mechanical]; True if acknowledged."""

    @abc.abstractmethod
    def get_angles(self, t_s: float) -> StageReading | None:
        """Measured (tip, tilt); None (and fault) if the device does not answer."""

    @abc.abstractmethod
    def hold(self) -> bool:
        """Hold the current position (safe state)."""


def check_finite(**values: float) -> None:
    """Raise :class:`DriverError` naming the first non-finite value."""
    for name, v in values.items():
        if not np.isfinite(np.asarray(v, dtype=float)).all():
            raise DriverError(f"{name} = {v!r} is not finite; the command was not sent")
