"""What the simulator gives the terminals' nodes: its devices, its station and the TLEs -- nothing else.

The ``sim`` deployment runs the ``ogs`` and ``space`` nodes with their own parameter files
(the decisions: loop gains, PAT thresholds, tracker noise, offload, scan, rates), and the
simulator adds, for the simulated hardware, what a station's installation would set for its
own hardware (:func:`node_parameters`):

* **cameras**: gain, read noise and PSF of each simulated camera; its geometry as the
  controllers' calibration (pixel -> angle matrices and set-points) and the trackers' camera
  geometry; the fine loop's rate is the fine camera's frame rate;
* **FSMs**: range, bandwidth and damping of each simulated mirror;
* **the mount**: its rate and acceleration limits, the encoder rate of the simulated mount;
* **the station** (site, pass mask, weather: :data:`qsat_pat.core.site.STATION_KEYS`), from the
  scenario's site, for every node;
* **the TLEs** the terminals know (the perturbed ones).

:data:`DEVICE_KEYS` lists, per node executable, what may be set this way;
``test_sim_parameters.py`` checks that nothing else is.  The same parameters configure the
nodes of the ROS lockstep mode (a parameter file) and the in-process decision objects
(:class:`~qsat_pat.core.terminal.config.TerminalConfig`), so both fly one configuration.
"""

from __future__ import annotations

from qsat_pat.core.estimation import CameraGeometry
from qsat_pat.core.site import STATION_KEYS
from qsat_pat.sim.camera import CameraConfig
from qsat_pat.sim.scenario import Scenario

__all__ = ["DEVICE_KEYS", "camera_geometry", "node_parameters", "simulated_scenario"]

#: Per node executable: the parameters the simulator may set (its devices, station, TLEs).
DEVICE_KEYS: dict[str, frozenset[str]] = {
    "beacon_imaging": frozenset({"gain_e_per_dn", "read_noise_e", "psf_sigma_px"}),
    "fsm_controller": frozenset({"rate_hz", "range_rad", "bandwidth_hz", "damping", "setpoint_x_px", "setpoint_y_px",
                                 "rad_per_px", "coarse_setpoint_x_px", "coarse_setpoint_y_px", "coarse_rad_per_px"}),
    "track_predictor": frozenset({"boresight_x_px", "boresight_y_px", "scale_x_radppx", "scale_y_radppx",
                                  "rotation_rad", "optical_gain"}),
    "gimbal_controller": frozenset({"max_rate_radps", "max_acc_radps2", "fsm_range_rad", "control_rate_hz"}),
    "pat_manager": frozenset({"coarse_rad_per_px", "coarse_setpoint_x_px", "coarse_setpoint_y_px"}),
    "ephemeris": frozenset({"tle_line1", "tle_line2"}),
    "adcs_pointing": frozenset({"tle_line1", "tle_line2"}),
}


def simulated_scenario(scenario: Scenario) -> Scenario:
    """The scenario as the terminals' software sees it: each camera reads its full sensor.

    A fixed window cannot be used (the closed-loop spot sits at minus the point-ahead, up to
    ~50 px from the boresight at 1 urad/px) and one that followed the spot would move the
    imaging node's pixel frame under its set-point (a ``sensor_msgs/Image`` has no offset):
    the imaging stage tracks a window of its own in the full frame instead.
    """
    return scenario.replace("ogs_fine_camera", roi=(0, 0, 0, 0))


def camera_geometry(camera: CameraConfig) -> CameraGeometry:
    """Pixel -> angle geometry of a camera in its pointing frame (optical gain 1: stage readings
    are optical angles)."""
    from qsat_pat.core.control import wrap_pi

    bx, by = camera.boresight_px()
    return CameraGeometry(boresight_x_px=bx, boresight_y_px=by, scale_x_radppx=camera.pixel_ifov_rad,
                          scale_y_radppx=camera.pixel_ifov_rad,
                          rotation_rad=float(wrap_pi(-camera.rotation_rad)), optical_gain=1.0,
                          max_actuator_age_s=1.0)


def _imaging(camera: CameraConfig) -> dict:
    return {"gain_e_per_dn": camera.gain_e_per_dn, "read_noise_e": max(camera.read_noise_e, 1e-3),
            "psf_sigma_px": min(max(camera.psf_sigma_px, 0.3), 20.0)}


def _calibration(camera: CameraConfig, prefix: str = "") -> dict:
    """A controller's calibration of a camera: ``r = -M @ (c - s)`` is the angle of the beacon
    off the boresight (``M``: the camera's pixel -> angle matrix negated), ``s`` the boresight."""
    g = camera_geometry(camera)
    m = g.pixel_to_angle()
    x0, y0 = (int(camera.roi[0]), int(camera.roi[1])) if any(int(v) for v in camera.roi) else (0, 0)
    return {f"{prefix}setpoint_x_px": g.boresight_x_px - x0, f"{prefix}setpoint_y_px": g.boresight_y_px - y0,
            f"{prefix}rad_per_px": [float(v) for v in (-m).reshape(-1)]}


def _geometry(camera: CameraConfig) -> dict:
    g = camera_geometry(camera)
    return {k: getattr(g, k) for k in ("boresight_x_px", "boresight_y_px", "scale_x_radppx", "scale_y_radppx",
                                       "rotation_rad", "optical_gain")}


def node_parameters(scenario: Scenario, ogs_step_s: float = 0.0, space_step_s: float = 0.0,
                    mount_rate_hz: float = 100.0) -> dict[str, dict]:
    """The simulator's parameters of the ``sim`` deployment's nodes (module docstring).

    Parameters
    ----------
    scenario : Scenario
    ogs_step_s, space_step_s : float
        The terminals' control periods (0: their fine cameras' frame periods): the fine loops' rates.
    mount_rate_hz : float
        Rate of the simulated mount's encoder readings (each answered by one command).

    Returns
    -------
    dict
        ``{node key: {parameter: value}}`` (``/**`` for the station), a ROS parameter document.
    """
    from qsat_pat.sim.orbit import OrbitTruth

    sc = simulated_scenario(scenario)
    fine, coarse, scam = sc.ogs_fine_camera, sc.ogs_coarse_camera, sc.space_camera
    dt = ogs_step_s or 1.0 / fine.frame_rate_hz
    space_dt = space_step_s or 1.0 / scam.frame_rate_hz
    orbit = OrbitTruth(sc.orbit, sc.site)
    tle = {"tle_line1": orbit.terminal_tle.line1, "tle_line2": orbit.terminal_tle.line2}
    coarse_cal = _calibration(coarse, "coarse_")
    ogs_fsm = {"rate_hz": 1.0 / dt, **{k: getattr(sc.ogs_fsm, k) for k in ("range_rad", "bandwidth_hz", "damping")},
               **_calibration(fine), **coarse_cal}
    space_fsm = {"rate_hz": 1.0 / space_dt,
                 **{k: getattr(sc.space_fsm, k) for k in ("range_rad", "bandwidth_hz", "damping")},
                 **_calibration(scam)}
    space_cal = _calibration(scam, "coarse_")
    return {
        "/**": {k: getattr(sc.site, k) for k in STATION_KEYS},
        "/ogs/beacon_imaging": _imaging(fine),
        "/ogs/coarse_imaging": _imaging(coarse),
        "/space/beacon_imaging": _imaging(scam),
        "/ogs/fsm_controller": ogs_fsm,
        "/space/fsm_controller": space_fsm,
        "/ogs/track_predictor": _geometry(fine),
        "/ogs/coarse_track": _geometry(coarse),
        "/space/track_predictor": _geometry(scam),
        "/ogs/gimbal_controller": {"max_rate_radps": sc.ogs_mount.max_rate_radps,
                                   "max_acc_radps2": sc.ogs_mount.max_acc_radps2,
                                   "fsm_range_rad": sc.ogs_fsm.range_rad, "control_rate_hz": float(mount_rate_hz)},
        "/ogs/pat_manager": {"coarse_rad_per_px": coarse_cal["coarse_rad_per_px"],
                             "coarse_setpoint_x_px": coarse_cal["coarse_setpoint_x_px"],
                             "coarse_setpoint_y_px": coarse_cal["coarse_setpoint_y_px"]},
        "/space/pat_manager": dict(space_cal),
        "/ogs/ephemeris": dict(tle),
        "/space/adcs_pointing": dict(tle),
    }


