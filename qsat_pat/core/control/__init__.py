"""Two-stage tracking control: FSM and coarse-stage models, PID, latency handling, offload.

The fine loop closes a fast-steering mirror (FSM) on a fast camera (or a quadrant
detector); the coarse loop moves the mount (OGS) or the spacecraft body (space
terminal, ADCS attitude target).  Everything here is pure computation with time passed
in; nodes feed it centroids/ephemerides and turn its outputs into
``PointingCommand``/``ActuatorState`` messages (see :class:`PointingCommand`,
:class:`ActuatorState`, which mirror ``msg/PointingCommand.msg`` and
``msg/ActuatorState.msg`` field by field).

Modules (every name is also importable from this package, as before the split):

* :mod:`~qsat_pat.core.control.messages` -- :class:`Stage`, :class:`Mode`,
  :class:`PointingCommand`, :class:`ActuatorState`, :class:`StageReading`;
* :mod:`~qsat_pat.core.control.fsm` -- FSM configuration, plant model and calibration;
* :mod:`~qsat_pat.core.control.fine_loop` -- PID, the fine tracking loop (with its sign and
  frame convention) and the point-ahead set-point;
* :mod:`~qsat_pat.core.control.coarse_stage` -- mount/body servo model, :func:`wrap_pi`,
  :func:`los_to_mount_rate`;
* :mod:`~qsat_pat.core.control.offload` -- FSM -> coarse-stage offload;
* :mod:`~qsat_pat.core.control.scan` -- acquisition scans;
* :mod:`~qsat_pat.core.control.quadrant` -- quadrant detector (space terminal fine sensor);
* :mod:`~qsat_pat.core.control.attitude` -- spacecraft body pointing in the LVLH frame.

The LVLH and body-tangent frame functions re-exported here live in
:mod:`qsat_pat.core.frames`, the constants in :mod:`qsat_pat.core.constants`; the offline
loop studies (pass geometry, rejection curves, simulated passes) in
:mod:`qsat_pat.analysis.control_studies`.

References
----------
seed 003 §2.3 (Vector OGS: open loop ~400 urad -> coarse ~50 urad -> fine < 7 urad RMS,
580 Hz FSM); seed 004 §2.2, Table 1 (Micius uplink: 1 kHz fine camera, PI S-330 FSM,
250 urad range, two-stage PID, < 3 urad); seed 002 §II.3 (FSM calibration from a large
known deflection, excess handed to the mount), §IV (camera latency -> over-correction);
seed 001 §3, §4.5 (NanoBob: ADCS 50 urad, quadrant detector, 13.7 mrad/s OGS slew,
12.6 mrad/s satellite slew at 550 km).
"""

from __future__ import annotations

# private validators, imported from here by core.pat (_finite_vec2) and core.safety (_clip)
from qsat_pat.core._checks import _clip as _clip
from qsat_pat.core._checks import _finite_vec2 as _finite_vec2
from qsat_pat.core.constants import C_MPS, MU_EARTH_M3PS2
from qsat_pat.core.constants import EARTH_MEAN_RADIUS_M as R_EARTH_M
from qsat_pat.core.control.attitude import (
    BodyCommandResult,
    BodyPointingConfig,
    BodyPointingController,
    BodyTarget,
    body_target_from_states,
    boresight_from_attitude,
    sun_safe_direction,
)
from qsat_pat.core.control.coarse_stage import CoarseStageConfig, CoarseStageModel, los_to_mount_rate, wrap_pi
from qsat_pat.core.control.fine_loop import (
    FineLoopConfig,
    FineLoopOutput,
    FineTrackLoop,
    Pid,
    PidConfig,
    point_ahead_rad,
)
from qsat_pat.core.control.fsm import FsmCalibration, FsmConfig, FsmModel, fit_fsm_calibration
from qsat_pat.core.control.messages import ActuatorState, Mode, PointingCommand, Stage, StageReading
from qsat_pat.core.control.offload import FsmOffload, OffloadConfig
from qsat_pat.core.control.quadrant import QuadrantDetector, QuadrantDetectorConfig
from qsat_pat.core.control.scan import AcquisitionScan, ScanConfig
from qsat_pat.core.frames import (
    BORESIGHT_BODY,
    body_tangent_axes,
    body_tangent_coords,
    lvlh_axes,
    lvlh_az_el,
    lvlh_direction,
    tracked_direction,
)

__all__ = [
    "StageReading",
    "BORESIGHT_BODY",
    "C_MPS",
    "MU_EARTH_M3PS2",
    "R_EARTH_M",
    "AcquisitionScan",
    "ActuatorState",
    "BodyCommandResult",
    "BodyPointingConfig",
    "BodyPointingController",
    "BodyTarget",
    "CoarseStageConfig",
    "CoarseStageModel",
    "FineLoopConfig",
    "FineLoopOutput",
    "FineTrackLoop",
    "FsmCalibration",
    "FsmConfig",
    "FsmModel",
    "FsmOffload",
    "Mode",
    "OffloadConfig",
    "Pid",
    "PidConfig",
    "PointingCommand",
    "QuadrantDetector",
    "QuadrantDetectorConfig",
    "ScanConfig",
    "Stage",
    "body_tangent_axes",
    "body_tangent_coords",
    "body_target_from_states",
    "boresight_from_attitude",
    "fit_fsm_calibration",
    "los_to_mount_rate",
    "lvlh_axes",
    "lvlh_az_el",
    "lvlh_direction",
    "point_ahead_rad",
    "sun_safe_direction",
    "tracked_direction",
    "wrap_pi",
]
