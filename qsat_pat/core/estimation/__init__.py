"""Kalman prediction of the beacon's line of sight (seed 002 §II.5-6, eq. (1)-(11)).

What is estimated
-----------------
The target's line of sight (LOS) on two axes, ``x`` and ``y``.  Nodes feed it the
composed LOS of :func:`compose_line_of_sight` (actuator pointing + camera residual, in
rad) so that a closed FSM loop, which keeps the spot centred on the camera, does not hide
the trajectory from the filter (the FSM/KF loop conflict of seed 002 §IV).  The filter
itself is unit-agnostic: replaying York's logs (``qsat-pat track replay``) feeds pixel
centroids and then every "rad" below reads "px".

Modules
-------
:mod:`~qsat_pat.core.estimation.models`
    :class:`MotionModel` (``cv``, ``ca``, ``cj``, ``imm``) and the transition, measurement
    and process-noise matrices (seed 002 eq. (1)-(11), (5)).
:mod:`~qsat_pat.core.estimation.config`
    :class:`TrackerConfig` (the ``track_predictor`` node's parameters) and
    :data:`YORK_PX_CONFIG`.
:mod:`~qsat_pat.core.estimation.tracker`
    :class:`LosTracker`: NIS gating, coasting and confirmed re-acquisition; :class:`TrackStep`.
    It composes the helpers below, one per job.
:mod:`~qsat_pat.core.estimation.filters`
    The tracker's Kalman filter or IMM (predict, update in Joseph form, coasting decay,
    look-ahead; seed 002 eq. (3)-(11)).
:mod:`~qsat_pat.core.estimation.noise`
    Noise learnt from the data: :func:`estimate_measurement_cov`, :class:`NoiseLearner`
    (seed 002 §III) and the tracker's adaptive process noise.
:mod:`~qsat_pat.core.estimation.rollback`
    Blockage-onset rollback of suspect last measurements.
:mod:`~qsat_pat.core.estimation.coasting`
    Coasting a blockage on the pass model and the ephemeris track.
:mod:`~qsat_pat.core.estimation.pass_fit`
    Satellite-pass line-of-sight models fitted to measurements (:class:`PassTrajectory`,
    :class:`LocalPassFit`, :class:`EphemerisTrack`; seed 002 §II.4 and §II.6).
:mod:`~qsat_pat.core.estimation.los`
    :func:`compose_line_of_sight`, :class:`ActuatorPointing`, :class:`CameraGeometry`
    (seed 002 §II.3 and §IV).

The names below (everything the former ``estimation.py`` offered to flight code) are
importable from this package; the tracker's helpers from their modules.  The offline analysis
of logs (``replay``, ``tune``, the re-acquisition metric) is in
:mod:`qsat_pat.analysis.tracking`.

References
----------
seed 002 (York, "Energy efficient optical tracking for space quantum communication")
§II.5 eq. (1)-(9) and §II.6 eq. (10)-(11); Bar-Shalom, Li and Kirubarajan, *Estimation
with Applications to Tracking and Navigation* (2001), §6.2 (white-noise models) and §11.6
(IMM).
"""

from __future__ import annotations

from qsat_pat.core.estimation.config import YORK_PX_CONFIG, TrackerConfig
from qsat_pat.core.estimation.los import ActuatorPointing, CameraGeometry, compose_line_of_sight
from qsat_pat.core.estimation.models import (
    MODEL_ORDER,
    STATE_DIM,
    MotionModel,
    measurement_matrix,
    process_noise,
    transition_matrix,
)
from qsat_pat.core.estimation.noise import NoiseLearner, estimate_measurement_cov
from qsat_pat.core.estimation.pass_fit import (
    EphemerisFit,
    EphemerisTrack,
    LocalPassFit,
    PassTrajectory,
    fit_ephemeris_bias,
    fit_pass_trajectory,
    fit_pass_window,
)
from qsat_pat.core.estimation.tracker import LosTracker, StepStatus, TrackStep

__all__ = [
    "MODEL_ORDER",
    "STATE_DIM",
    "YORK_PX_CONFIG",
    "ActuatorPointing",
    "PassTrajectory",
    "EphemerisFit",
    "EphemerisTrack",
    "CameraGeometry",
    "MotionModel",
    "StepStatus",
    "TrackStep",
    "TrackerConfig",
    "LosTracker",
    "NoiseLearner",
    "compose_line_of_sight",
    "estimate_measurement_cov",
    "fit_pass_trajectory",
    "fit_pass_window",
    "fit_ephemeris_bias",
    "LocalPassFit",
    "measurement_matrix",
    "process_noise",
    "transition_matrix",
]
