"""One terminal's decisions, held by the nodes and by the in-process simulation alike.

Each node of a terminal is a thin adapter around one object of this package, and the
in-process simulation (:mod:`qsat_pat.sim.terminal`) holds the same objects and hands them
the same inputs in the same order, so a simulated pass flies exactly what a station runs:

==================  =========================================  ===========================
object              decides                                    node
==================  =========================================  ===========================
``ImagingStage``    the beacon on each frame, ROI tracking      ``beacon_imaging``
``LosPredictor``    which frames feed the line-of-sight track   ``track_predictor``
``FineStage``       FSM command; coarse hand-back after a loss  ``fsm_controller``
``MountStage``      mount set-point: scan, coarse track,        ``gimbal_controller``
                    offload by PAT state; safety filter
``PatManager``      PAT inputs (at target, time to AOS, coarse  ``pat_manager``
                    error), state machine, laser interlock
``AttitudePointing``  the satellite's body target: tracked      ``adcs_pointing``
                    beacon, TLE, pre-point, Sun-safe
``EphemerisFeed``   where the other terminal is, pass plan      ``ephemeris``
==================  =========================================  ===========================

They talk in :mod:`~qsat_pat.core.terminal.wire` types through the ports they declare
(:class:`~qsat_pat.core.terminal.base.Port`), take time as integer nanoseconds, and refuse
bad input with :class:`~qsat_pat.core.errors.Rejected`.  Their configurations are the nodes'
parameters; :mod:`~qsat_pat.core.terminal.config` reads them from the deployment's parameter
files for both.
"""
