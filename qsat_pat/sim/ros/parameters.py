"""Parameters of the ROS mode of the simulator: ``sim_world``'s own (:class:`SimWorldConfig`),
the scenario as the ROS mode flies it (:func:`ros_mode_config`, :func:`ros_mode_scenario`), and
the lockstep nodes' parameters that make them the same software as the direct mode
(:func:`node_parameters`), written as a ROS 2 parameter file (:func:`write_parameter_file`)
or set on running nodes (:func:`push_parameters`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsat_pat.core.errors import SimulationError
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.sim.direct import DirectConfig, camera_geometry, imaging_config
from qsat_pat.sim.scenario import Scenario


@dataclass(frozen=True)
class SimWorldConfig(ConfigBase):
    """Parameters of ``sim_world`` (ROS parameters of :func:`main`)."""

    scenario: str = param("nominal", "scenario name (config/scenarios/NAME.yaml) or scenario YAML file")
    seed: int = param(-1, "run seed (-1: the scenario's)", min_value=-1, max_value=2**31 - 1)
    duration_s: float = param(0.0, "simulated time (0: the scenario's duration)", unit="s", min_value=0.0,
                              max_value=86400.0)
    start_offset_s: float = param(0.0, "start this long after the scenario's start", unit="s", min_value=0.0,
                                  max_value=86400.0)
    out_dir: str = param("sim_out", "directory for report.json")
    answer_timeout_s: float = param(5.0, "wall-clock wait for a node's answer before the step goes on "
                                    "(counted)", unit="s", min_value=0.01, max_value=600.0)


def ros_mode_config(config: DirectConfig | None = None) -> DirectConfig:
    """The direct-mode tunables for the ROS mode: remote cameras read out their configured
    ROI (the nodes' pixel set-points assume a fixed frame; no moving read-out windows)."""
    return (config or DirectConfig()).replace(fine_window_px=0, coarse_window_px=0, space_window_px=0)


def ros_mode_scenario(scenario: Scenario) -> Scenario:
    """The scenario as the ROS mode flies it: the remote OGS fine camera reads its full sensor.

    A fixed ROI cannot be used (the closed-loop spot sits at minus the point-ahead, up to
    ~50 px from the boresight at 1 urad/px), and a read-out window that follows the spot
    would move the node's pixel frame under its set-point; the direct mode's moving window
    is a shortcut of the in-process software only.
    """
    return scenario.replace("ogs_fine_camera", roi=(0, 0, 0, 0))


def node_parameters(scenario: Scenario, config: DirectConfig | None = None) -> dict[str, dict]:
    """Parameters of the lockstep nodes that make them the same software as the direct mode.

    Returns ``{fully qualified node name: {parameter: value}}`` (the content of a ROS
    parameter file): the imaging node gets the camera's gain, read noise and PSF
    (:func:`qsat_pat.sim.direct.imaging_config`), the fine controller the direct mode's
    fine loop and FSM, and a pixel -> angle matrix and set-point that match the camera
    geometry and its fixed ROI; the ephemeris node gets the terminals' perturbed TLE and
    the site.
    """
    from qsat_pat.core.control import FineLoopConfig
    from qsat_pat.nodes.beacon_imaging import BeaconImagingConfig
    from qsat_pat.nodes.ephemeris import EphemerisNodeConfig
    from qsat_pat.nodes.fsm_controller import FsmControllerConfig
    from qsat_pat.nodes.gimbal_controller import GimbalControllerConfig
    from qsat_pat.nodes.pat_manager import PatManagerConfig
    from qsat_pat.nodes.track_predictor import TrackPredictorConfig
    from qsat_pat.sim.direct import OGS_SCAN, ogs_pat_config, ogs_safety_config, pat_config, tracker_config
    from qsat_pat.sim.orbit import OrbitTruth

    cfg = ros_mode_config(config)
    sc = ros_mode_scenario(scenario)
    cam = sc.ogs_fine_camera
    dt = cfg.ogs_step_s or 1.0 / cam.frame_rate_hz
    img = {k: v for k, v in imaging_config(cam).as_dict().items() if k in BeaconImagingConfig.__dataclass_fields__}
    img.update(camera_id="ogs_fine", roi_track=False)  # + config/sim_beacon_imaging.yaml
    geom = camera_geometry(cam)
    m = geom.pixel_to_angle()
    x0, y0 = (int(cam.roi[0]), int(cam.roi[1])) if any(int(v) for v in cam.roi) else (0, 0)
    fine = FineLoopConfig(rate_hz=1.0 / dt, ki_per_s=cfg.fine_ki_per_s, predictor_alpha=cfg.ogs_predictor_alpha,
                          predictor_beta=cfg.ogs_predictor_beta)
    fsm = {**fine.as_dict(), **sc.ogs_fsm.as_dict()}
    fsm = {k: v for k, v in fsm.items() if k in FsmControllerConfig.__dataclass_fields__}
    # the controller's residual is -rad_per_px @ (centroid - setpoint) = los - fsm, and the
    # camera maps (centroid - boresight) to +M @ d: rad_per_px = -M, set-point in ROI pixels
    fsm.update(camera_id="ogs_fine", setpoint_x_px=geom.boresight_x_px - x0, setpoint_y_px=geom.boresight_y_px - y0,
               rad_per_px=[float(v) for v in (-m).reshape(-1)], point_ahead_enabled=True, driver="none",
               watchdog_period_s=max(0.05, 5 * dt))
    # after a fine loss in COARSE_TRACK the coarse camera steers the mirror (the direct mode's
    # TerminalLoop): its geometry in the same convention, and the PAT manager's fine_lost_s
    cgeom = camera_geometry(sc.ogs_coarse_camera)
    fsm.update(follow_pat=True, fine_lost_s=ogs_pat_config(dt, cfg).fine_lost_s, coarse_camera_id="ogs_coarse",
               coarse_setpoint_x_px=cgeom.boresight_x_px, coarse_setpoint_y_px=cgeom.boresight_y_px,
               coarse_rad_per_px=[float(v) for v in (-cgeom.pixel_to_angle()).reshape(-1)])
    eph_cfg = sc.site
    orbit = OrbitTruth(sc.orbit, eph_cfg)
    eph = {k: v for k, v in eph_cfg.as_dict().items() if k in EphemerisNodeConfig.__dataclass_fields__}
    eph.update(tle_line1=orbit.terminal_tle.line1, tle_line2=orbit.terminal_tle.line2,
               rate_hz=20.0, plan_passes=False)
    coarse = {k: v for k, v in imaging_config(sc.ogs_coarse_camera).as_dict().items()
              if k in BeaconImagingConfig.__dataclass_fields__}
    coarse.update(camera_id="ogs_coarse", roi_track=False)
    # coarse tracker: the direct mode's tracker, the coarse camera's geometry (optical angles)
    track = {**tracker_config().as_dict(), **cgeom.as_dict()}
    track = {k: v for k, v in track.items() if k in TrackPredictorConfig.__dataclass_fields__}
    track.update(max_actuator_age_s=0.1, latency_s=0.0, use_actuator=True, frame_id="ogs_ephemeris_tangent",
                 measurement_floor_rad=cfg.los_noise_floor_rad)
    # gimbal: the direct mode's coarse stage (safety limits, offset shaping, scan, offload)
    site = sc.site
    gimbal = {k: v for k, v in ogs_safety_config(sc).as_dict().items()
              if k in GimbalControllerConfig.__dataclass_fields__}
    gimbal.update(control_rate_hz=cfg.mount_rate_hz, site_lat_deg=site.site_lat_deg,
                  site_lon_deg=site.site_lon_deg, sun_source="computed",
                  offset_max_rate_radps=cfg.offset_max_rate_radps, offset_max_acc_radps2=cfg.offset_max_acc_radps2,
                  scan_cone_radius_rad=OGS_SCAN.cone_radius_rad, scan_step_rad=OGS_SCAN.step_rad,
                  scan_speed_radps=OGS_SCAN.speed_radps, coarse_loop_enabled=True, track_timeout_s=1.0)
    # PAT manager: the direct mode's OGS state machine; at target = within at_target_rad of the set-point
    pat = {k: v for k, v in ogs_pat_config(dt, cfg).as_dict().items() if k in PatManagerConfig.__dataclass_fields__}
    bx, by = cgeom.boresight_x_px, cgeom.boresight_y_px
    pat.update(at_target_tolerance_rad=cfg.at_target_rad, coarse_rad_per_px=[float(v) for v in (-cgeom.pixel_to_angle()).reshape(-1)],
               coarse_setpoint_x_px=bx, coarse_setpoint_y_px=by)
    # the satellite's fine loop: its camera (full frame) and FSM, the direct mode's loop settings
    scam = sc.space_camera
    space_dt = cfg.space_step_s or 1.0 / scam.frame_rate_hz
    simg = {k: v for k, v in imaging_config(scam).as_dict().items() if k in BeaconImagingConfig.__dataclass_fields__}
    simg.update(camera_id="space_beacon", roi_track=False)
    sgeom = camera_geometry(scam)
    sx0, sy0 = (int(scam.roi[0]), int(scam.roi[1])) if any(int(v) for v in scam.roi) else (0, 0)
    sfine = FineLoopConfig(rate_hz=1.0 / space_dt, ki_per_s=cfg.fine_ki_per_s, predictor_alpha=0.5,
                           predictor_beta=0.05)
    sfsm = {k: v for k, v in {**sfine.as_dict(), **sc.space_fsm.as_dict()}.items()
            if k in FsmControllerConfig.__dataclass_fields__}
    sfsm.update(camera_id="space_beacon", setpoint_x_px=sgeom.boresight_x_px - sx0,
                setpoint_y_px=sgeom.boresight_y_px - sy0,
                rad_per_px=[float(v) for v in (-sgeom.pixel_to_angle()).reshape(-1)], point_ahead_enabled=True,
                driver="none", watchdog_period_s=max(0.05, 5 * space_dt), ephemeris_timeout_s=1.0,
                follow_pat=True, coarse_camera_id="",  # one camera: no coarse hand-back
                fine_lost_s=pat_config("space", space_dt, cfg.space_fine_handover_rad).fine_lost_s)
    spat = {k: v for k, v in pat_config("space", space_dt, cfg.space_fine_handover_rad).as_dict().items()
            if k in PatManagerConfig.__dataclass_fields__}
    spat.update(at_target_tolerance_rad=cfg.at_target_rad, coarse_rad_per_px=[float(v) for v in (-sgeom.pixel_to_angle()).reshape(-1)],
                coarse_setpoint_x_px=sgeom.boresight_x_px - sx0, coarse_setpoint_y_px=sgeom.boresight_y_px - sy0)
    # the line-of-sight predictors of both terminals: the direct mode's tracker on each fine
    # camera, line of sight = FSM (fsm_state) + camera residual in the FSM's axes
    def predictor(geometry, frame_id):
        p = {**tracker_config().as_dict(), **geometry.as_dict()}
        p = {k: v for k, v in p.items() if k in TrackPredictorConfig.__dataclass_fields__}
        p.update(use_actuator=True, max_actuator_age_s=0.05, frame_id=frame_id,
                 measurement_floor_rad=cfg.los_noise_floor_rad)
        return p

    # the satellite's attitude software: its own (perturbed) TLE, the station, one target per
    # satellite step (its body_state steps the PAT manager), the coarse loop on the tracked beacon
    adcs = {"tle_line1": orbit.terminal_tle.line1, "tle_line2": orbit.terminal_tle.line2,
            "site_lat_deg": sc.site.site_lat_deg, "site_lon_deg": sc.site.site_lon_deg,
            "site_alt_m": sc.site.site_alt_m, "min_el_deg": sc.site.min_el_deg, "rate_hz": 1.0 / space_dt,
            "point_ahead_enabled": False, "track_enabled": True, "track_timeout_s": max(0.05, 5 * space_dt),
            "sun_source": "computed", "adcs_timeout_s": 1.0, "target_source": "tle"}
    return {"/ogs/track_predictor": predictor(geom, "ogs_fsm"), "/space/adcs_pointing": adcs,
            "/space/track_predictor": predictor(sgeom, "space_fsm"),
            "/ogs/coarse_imaging": coarse, "/ogs/beacon_imaging": img, "/ogs/fsm_controller": fsm,
            "/ogs/ephemeris": eph, "/ogs/coarse_track": track, "/ogs/gimbal_controller": gimbal,
            "/ogs/pat_manager": pat, "/space/beacon_imaging": simg, "/space/fsm_controller": sfsm,
            "/space/pat_manager": spat}


def write_parameter_file(params: dict[str, dict], path: Path) -> Path:
    """Write ``{node: {param: value}}`` as a ROS 2 parameter YAML file."""
    import yaml

    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, (np.floating, np.integer, np.bool_)):
            return v.item()
        return v

    doc = {node: {"ros__parameters": {k: plain(v) for k, v in p.items()}} for node, p in params.items()}
    path.write_text("# Generated by qsat-pat sim (ROS mode) from the scenario; do not edit.\n"
                    + yaml.safe_dump(doc, sort_keys=True))
    return path


def push_parameters(node, executor, params: dict[str, dict], timeout_s: float = 30.0) -> None:
    """Set ``{node: {param: value}}`` on running nodes through their parameter services.

    Raises
    ------
    SimulationError
        A node does not answer within ``timeout_s`` or refuses a value (its reason).
    """
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    for target, values in params.items():
        client = AsyncParameterClient(node, target)
        try:
            if not client.wait_for_services(timeout_sec=timeout_s):
                raise SimulationError(f"{target}: parameter services not available after {timeout_s:.0f} s")
            plist = [Parameter(k, value=list(v) if isinstance(v, tuple) else v) for k, v in sorted(values.items())]
            fut = client.set_parameters_atomically(plist)  # one change: a TLE's two lines together
            deadline = time.monotonic() + timeout_s
            while not fut.done() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            if not fut.done():
                raise SimulationError(f"{target}: set_parameters did not answer within {timeout_s:.0f} s")
            result = fut.result().result
            if not result.successful:
                raise SimulationError(f"{target} refused its parameters: {result.reason}")
        finally:  # the client holds one service client per parameter service: release them
            for attr, value in list(vars(client).items()):
                if attr.endswith("_client") and value is not None:
                    node.destroy_client(value)
