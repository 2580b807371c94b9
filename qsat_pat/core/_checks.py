"""Input checks shared by the control package and the frames (raise :class:`ControlError`).

Small validators of the hot control loops: a finite (2,) vector, a finite scalar, and a
clip without ``np.clip``'s dispatch overhead.  Any bad value raises
:class:`~qsat_pat.core.errors.ControlError` with a message that says to reject the command
and hold, so a NaN can never be carried to a driver.
"""

from __future__ import annotations

import math

import numpy as np

from qsat_pat.core.errors import ControlError


def _finite_vec2(name: str, value) -> np.ndarray:
    """``value`` as a finite float array of shape (2,), else :class:`ControlError`."""
    arr = np.asarray(value, dtype=float)
    if arr.shape != (2,):
        raise ControlError(f"{name} must have shape (2,) [rad], got shape {arr.shape}")
    if not (math.isfinite(arr[0]) and math.isfinite(arr[1])):
        raise ControlError(f"{name} = {arr.tolist()} is not finite; reject the command and hold")
    return arr


def _clip(x: np.ndarray, lo, hi) -> np.ndarray:
    """np.clip without its dispatch overhead (hot loop)."""
    return np.minimum(np.maximum(x, lo), hi)


def _finite(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} = {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ControlError(f"{name} = {x!r} is not finite; reject the command and hold")
    return x
