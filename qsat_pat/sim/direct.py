"""Old home of the in-process simulation (re-exports; use :mod:`qsat_pat.sim.loop`).

The in-process loop used to hold its own copy of each terminal's control logic
(``TerminalLoop``, ``SpaceCoarseStage``), which had drifted from the nodes in a dozen ways.
It now flies the ``sim`` deployment's node graph as its decision objects
(:mod:`qsat_pat.sim.terminal`, :mod:`qsat_pat.core.terminal`), stepped by
:func:`qsat_pat.sim.loop.run_direct`.  These names stay importable from here for a while.
"""

from __future__ import annotations

from qsat_pat.sim.loop import DirectConfig, Measurement, measurement_from_centroid, run_direct
from qsat_pat.sim.parameters import camera_geometry

__all__ = ["DirectConfig", "Measurement", "camera_geometry", "measurement_from_centroid", "run_direct"]
