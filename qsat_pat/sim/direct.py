"""Old home of the in-process simulation (re-exports; use :mod:`qsat_pat.sim.loop`).

The in-process loop used to hold its own copy of each terminal's control logic
(``TerminalLoop``, ``SpaceCoarseStage``), which had drifted from the nodes in a dozen ways.
It now flies the ``sim`` deployment's node graph as its decision objects
(:mod:`qsat_pat.sim.terminal`, :mod:`qsat_pat.core.terminal`), stepped by
:func:`qsat_pat.sim.loop.run_direct`.  The names below stay importable from here for a while.
"""

from __future__ import annotations

import math

from qsat_pat.core.control import ScanConfig
from qsat_pat.core.errors import SimulationError
from qsat_pat.core.estimation import TrackerConfig
from qsat_pat.core.imaging import ImagingConfig
from qsat_pat.core.pat import PatConfig, PatState
from qsat_pat.core.safety import SafetyConfig
from qsat_pat.sim.camera import CameraConfig
from qsat_pat.sim.loop import DirectConfig, Measurement, measurement_from_centroid, run_direct
from qsat_pat.sim.parameters import camera_geometry
from qsat_pat.sim.scenario import Scenario

__all__ = ["DirectConfig", "Measurement", "SoftwareLink", "camera_geometry", "imaging_config",
           "measurement_from_centroid", "run_direct"]

#: The OGS acquisition scan: a spiral over the TLE uncertainty cone (gimbal_controller.yaml's).
OGS_SCAN = ScanConfig(cone_radius_rad=2e-3, step_rad=1e-3, speed_radps=5e-3)


def imaging_config(camera: CameraConfig) -> ImagingConfig:
    """The imager configuration that matches a camera (gain, read noise, PSF); no ROI search."""
    return ImagingConfig(gain_e_per_dn=camera.gain_e_per_dn, read_noise_e=max(camera.read_noise_e, 1e-3),
                         psf_sigma_px=min(max(camera.psf_sigma_px, 0.3), 20.0), roi_size_px=0)


def tracker_config() -> TrackerConfig:
    """The Kalman tracker of both terminals' lines of sight (constant velocity)."""
    return TrackerConfig(model="cv", measurement_std_rad=5e-6, q_cv=1e-10, init_rate_std_radps=1e-4,
                         reacquire_after_s=0.5)


def pat_config(name: str, dt_s: float, handover_rad: float) -> PatConfig:
    """PAT thresholds of a terminal whose control period is ``dt_s``."""
    return PatConfig(terminal=name, fine_handover_rad=handover_rad, fine_lost_s=max(0.05, 3 * dt_s),
                     coarse_lost_s=0.5, coast_timeout_s=5.0, acquire_timeout_s=60.0)


def ogs_pat_config(dt_s: float, cfg: DirectConfig) -> PatConfig:
    """The OGS PAT thresholds."""
    return pat_config("ogs", dt_s, cfg.ogs_fine_handover_rad)


def ogs_safety_config(sc: Scenario) -> SafetyConfig:
    """Safety limits of the OGS mount set-points (the mount's own rate/acceleration limits;
    commanded-elevation mask half the pass mask)."""
    return SafetyConfig(elevation_mask_rad=math.radians(sc.site.min_el_deg) * 0.5,
                        max_rate_radps=sc.ogs_mount.max_rate_radps, max_acc_radps2=sc.ogs_mount.max_acc_radps2,
                        fsm_range_rad=sc.ogs_fsm.range_rad)


class SoftwareLink:
    """Base of the ROS mode's link (``RosLink``): the exchanges :func:`run_direct` makes with
    the terminals' software (see :class:`qsat_pat.sim.terminal.InProcessLink` for the in-process one)."""

    remote_cameras: frozenset = frozenset()
    remote_ogs_control: bool = False
    remote_space_pat: bool = False
    remote_space_adcs: bool = False

    def attach_world(self, world) -> None:
        """The run's :class:`~qsat_pat.sim.world.World` (before the first step)."""

    def _nothing_remote(self, what: str):
        raise SimulationError(f"{type(self).__name__} declares {what} remote but cannot reach it: "
                              "a link that sets a remote_* attribute implements the matching method")

    def begin_step(self, k: int, t_s: float) -> None:
        """Start of OGS step ``k`` at simulation time ``t_s`` [s]."""

    def exchange(self, camera: str, frame, stage_rad):
        self._nothing_remote(f"camera {camera!r}")

    def ogs_mount(self, t_s: float, position_rad, rate_radps):
        self._nothing_remote("the OGS coarse stage")

    def ogs_pat_state(self) -> PatState:
        self._nothing_remote("the OGS PAT manager")

    def space_step(self, t_s: float, point_ahead_rad) -> None:
        """Start of a satellite control period."""

    def space_pat(self, t_s: float, visible: bool, boresight_est_rad, boresight_cmd_rad) -> PatState:
        self._nothing_remote("the satellite's PAT manager")

    def space_adcs_target(self, t_s: float):
        self._nothing_remote("the satellite's attitude software")

    def end_run(self) -> list[str]:
        return []
