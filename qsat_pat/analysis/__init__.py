"""Offline studies that are not flight code: loop-rejection curves, simulated passes, fits.

The modules here may import :mod:`qsat_pat.core`; core never imports them (a flight node
needs none of this).  Tests, benchmarks and the ``qsat-pat`` commands use them.

* :mod:`qsat_pat.analysis.control_studies` -- circular-orbit pass geometry, disturbance
  rejection of the fine loop, two-stage (mount + FSM + offload) pass simulation, sine fits.
"""
