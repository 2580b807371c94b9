"""Conversions between ROS messages and core values (the one place nodes do this).

Core code works in SI floats and numpy arrays with time in seconds; messages carry
``builtin_interfaces/Time`` stamps and fixed-size arrays.
"""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time


def stamp_to_s(stamp: Time) -> float:
    """``builtin_interfaces/Time`` -> seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(t_s: float) -> Time:
    """Seconds -> ``builtin_interfaces/Time`` (floor to the nanosecond; t_s must be >= 0)."""
    if not math.isfinite(t_s) or t_s < 0.0:
        raise ValueError(f"time {t_s} s cannot be a ROS stamp (must be finite and >= 0)")
    ns = int(round(t_s * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def ns_to_stamp(t_ns: int) -> Time:
    """Integer nanoseconds -> ``builtin_interfaces/Time``."""
    return Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)
