"""Stage commands and actuator states: the core mirrors of two messages.

:class:`PointingCommand` and :class:`ActuatorState` carry the fields of
``msg/PointingCommand.msg`` and ``msg/ActuatorState.msg`` field by field, with the stage
(:class:`Stage`) and command mode (:class:`Mode`) as enums; nodes convert them to and from
the messages (``qsat_pat.nodes.convert``).  A :class:`PointingCommand` validates on
construction: every number finite, else :class:`~qsat_pat.core.errors.ControlError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _finite
from qsat_pat.core.errors import ControlError

__all__ = ["ActuatorState", "Mode", "PointingCommand", "Stage"]


class Stage(enum.IntEnum):
    """Pointing stage, values of ``PointingCommand.STAGE_*``."""

    FSM = 0
    MOUNT = 1
    BODY = 2


class Mode(enum.IntEnum):
    """Command mode, values of ``PointingCommand.MODE_*``."""

    POSITION = 0
    RATE = 1
    HOLD = 2
    PARK = 3


@dataclass(frozen=True)
class PointingCommand:
    """A command to one stage; fields as ``msg/PointingCommand.msg``.

    Construction validates: every number finite (else :class:`ControlError`), so a NaN
    can never be carried to a driver.  Range checks against a stage's limits are done
    by :func:`qsat_pat.core.safety.validate_command`.

    Attributes
    ----------
    t_s : float
        Time the set-point applies to [s] (``header.stamp``).
    stage : Stage
    mode : Mode
    axis1_rad, axis2_rad : float
        FSM tip/tilt, mount az/el, or body az/el target [rad].
    axis1_rate_radps, axis2_rate_radps : float
        Rate feed-forward (POSITION) or the command (RATE) [rad/s].
    reason : str
        Why this command (for logs).
    """

    t_s: float
    stage: Stage
    mode: Mode
    axis1_rad: float = 0.0
    axis2_rad: float = 0.0
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        for f in ("t_s", "axis1_rad", "axis2_rad", "axis1_rate_radps", "axis2_rate_radps"):
            object.__setattr__(self, f, _finite(f"PointingCommand.{f}", getattr(self, f)))
        try:
            object.__setattr__(self, "stage", Stage(int(self.stage)))
            object.__setattr__(self, "mode", Mode(int(self.mode)))
        except ValueError as exc:
            raise ControlError(f"PointingCommand has an unknown stage/mode: {exc}") from None

    @property
    def position_rad(self) -> np.ndarray:
        """(axis1, axis2) [rad], shape (2,)."""
        return np.array([self.axis1_rad, self.axis2_rad])

    @property
    def rate_radps(self) -> np.ndarray:
        """(axis1, axis2) rates [rad/s], shape (2,)."""
        return np.array([self.axis1_rate_radps, self.axis2_rate_radps])


@dataclass(frozen=True)
class ActuatorState:
    """What a stage actually does; fields as ``msg/ActuatorState.msg``."""

    t_s: float
    stage: Stage
    mode: Mode
    axis1_rad: float
    axis2_rad: float
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    at_limit: bool = False
    holding: bool = False
    fault: bool = False
    fault_reason: str = ""
    command_age_s: float = 0.0


@dataclass(frozen=True)
class StageReading:
    """A stage's position reading (what a driver reports and ``ActuatorState`` carries).

    Attributes
    ----------
    t_s : float
        Time of the reading [s].
    axis1_rad, axis2_rad : float
        Position [rad].
    axis1_rate_radps, axis2_rate_radps : float
        Rates [rad/s].
    """

    t_s: float
    axis1_rad: float
    axis2_rad: float
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
