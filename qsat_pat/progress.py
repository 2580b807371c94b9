"""Progress display of long runs: :class:`ProgressBar`, a one-line text bar on a stream.

Used by ``qsat-pat sim`` (:mod:`qsat_pat.commands.sim`) and by node ``sim_world``
(:mod:`qsat_pat.sim.ros.sim_world`) as the ``progress(fraction, text)`` callback of a
simulation run.  A top-level module so that nodes need not import the CLI.  Hand-written
rather than tqdm: tqdm is here only as a runtime dependency of Basilisk
(requirements/nodeps.txt), not one of qsat_pat's own.
"""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line text progress bar on stderr (updated at most every 0.2 s)."""

    def __init__(self, label: str, stream=sys.stderr, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream, width
        self._last = 0.0

    def __call__(self, fraction: float, text: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if not self.stream.isatty():  # a log file: a line per 10 %, no carriage returns
            step = int(fraction * 10)
            if step > self._last or fraction >= 1.0 and self._last < 10:
                self._last = max(step, 10 if fraction >= 1.0 else step)
                self.stream.write(f"{self.label}: {fraction:6.1%} {text}\n")
                self.stream.flush()
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.2:
            return
        self._last = now
        filled = int(round(fraction * self.width))
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {fraction:6.1%} {text}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()
