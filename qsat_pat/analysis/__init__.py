"""Offline studies that are not flight code: loop-rejection curves, simulated passes, fits, logs.

The modules here may import :mod:`qsat_pat.core`; core never imports them (a flight node
needs none of this).  Tests, benchmarks and the ``qsat-pat`` commands use them.

* :mod:`qsat_pat.analysis.control_studies` -- circular-orbit pass geometry, disturbance
  rejection of the fine loop, two-stage (mount + FSM + offload) pass simulation, sine fits.
* :mod:`qsat_pat.analysis.tracking` -- York-log replay and tuning of the tracker, the
  re-acquisition metric against York's published estimates (seed 002).
"""
