"""Which decision object (and configuration) each node executable holds.

The node adapters name their ``config_class`` and ``part_class`` themselves; the in-process
simulation looks them up here by executable, and ``test_terminal_parts.py`` holds the two
against each other, so a node and the simulation cannot hold different objects.
"""

from __future__ import annotations

from qsat_pat.core.terminal.coarse_offset import GimbalControllerConfig, MountStage
from qsat_pat.core.terminal.ephemeris_feed import EphemerisFeed, EphemerisNodeConfig
from qsat_pat.core.terminal.fine_stage import FineStage, FsmControllerConfig
from qsat_pat.core.terminal.imaging_stage import BeaconImagingConfig, ImagingStage
from qsat_pat.core.terminal.los_feed import LosPredictor, TrackPredictorConfig
from qsat_pat.core.terminal.pat_inputs import PatManager, PatManagerConfig
from qsat_pat.core.terminal.space_coarse import AdcsPointingConfig, AttitudePointing

__all__ = ["PARTS"]

#: node executable -> (config class, decision object class)
PARTS = {
    "beacon_imaging": (BeaconImagingConfig, ImagingStage),
    "track_predictor": (TrackPredictorConfig, LosPredictor),
    "fsm_controller": (FsmControllerConfig, FineStage),
    "gimbal_controller": (GimbalControllerConfig, MountStage),
    "pat_manager": (PatManagerConfig, PatManager),
    "adcs_pointing": (AdcsPointingConfig, AttitudePointing),
    "ephemeris": (EphemerisNodeConfig, EphemerisFeed),
}
