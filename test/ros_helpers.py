"""Helpers shared by the tests that run nodes in-process over DDS."""

from __future__ import annotations

import time


def spin_until(ex, cond, timeout_s: float = 10.0) -> bool:
    """Spin executor ``ex`` until ``cond()`` is true or ``timeout_s`` passes; returns ``cond()``."""
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.02)
    return cond()
