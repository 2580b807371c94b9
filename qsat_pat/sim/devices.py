"""The simulated devices as a terminal's software sees them: the messages they send and take.

Both ways of flying a pass hand the terminals' software the same device data: the
in-process simulation as wire objects (:mod:`qsat_pat.core.terminal.wire`), the ROS lockstep
mode as the messages made from them.  This module makes them from the world:

* camera frames: :data:`CAMERAS` names, per simulated camera, its image topic, the imaging
  node's centroid topic, the fine controller's command topic that answers each frame and the
  coarse tracker's estimate topic;
* the OGS mount's encoders (:func:`encoder_state`, ``/ogs/mount_encoder``, for
  ``gimbal_controller``'s ``sim`` driver);
* the satellite's ADCS: its attitude estimate (:func:`adcs_state`, ``/space/adcs_state``) and
  the Basilisk reference for ``adcs_pointing``'s body target (:func:`attitude_target`: LVLH
  angles turned inertial with the satellite's own TLE, the roll fixed by the orbit normal).
"""

from __future__ import annotations

import math

import numpy as np

from qsat_pat.core.control import Mode, Stage, lvlh_direction
from qsat_pat.core.terminal import wire

__all__ = ["CAMERAS", "REMOTE_CAMERAS", "adcs_state", "attitude_target", "encoder_state"]

#: Simulated camera -> its frame topic, the imaging node's centroid topic, the fine
#: controller's command topic answering each frame (None: none) and the coarse tracker's
#: estimate topic (coarse camera).
CAMERAS = {
    "ogs_coarse": {"image": "/ogs/coarse/image", "centroid": "/ogs/coarse_centroid", "command": None,
                   "estimate": "/ogs/coarse_track_estimate"},
    "ogs_fine": {"image": "/ogs/image", "centroid": "/ogs/beacon_centroid", "command": "/ogs/fsm_command"},
    "space": {"image": "/space/image", "centroid": "/space/beacon_centroid", "command": "/space/fsm_command"},
}
#: Every camera's frames go to the terminals' software (nodes or their in-process objects).
REMOTE_CAMERAS = ("ogs_coarse", "ogs_fine", "space")
#: Device topics of the satellite's ADCS and the OGS mount, and the PAT/target answers.
ENCODER_TOPIC = "/ogs/mount_encoder"
MOUNT_COMMAND_TOPIC = "/ogs/mount_command"
OGS_PAT_TOPIC = "/ogs/pat_status"
ADCS_STATE_TOPIC = "/space/adcs_state"
BODY_TARGET_TOPIC = "/space/body_target"
SPACE_PAT_TOPIC = "/space/pat_status"


def encoder_state(t_ns: int, position_rad, rate_radps) -> wire.ActuatorState:
    """The OGS mount's encoder reading (az, el and rates) at ``t_ns``."""
    return wire.ActuatorState(stamp_ns=int(t_ns), frame_id="ogs_mount", stage=int(Stage.MOUNT),
                              axis1_rad=float(position_rad[0]), axis2_rad=float(position_rad[1]),
                              axis1_rate_radps=float(rate_radps[0]), axis2_rate_radps=float(rate_radps[1]))


def adcs_state(world, t_s: float, t_ns: int) -> wire.AdcsState:
    """The satellite ADCS's attitude estimate (star tracker + gyro, body -> TEME) and body rate."""
    from transforms3d.quaternions import mat2quat

    q = mat2quat(world.space_est_dcm_bn(t_s).T)
    rate = np.asarray(world.adcs_omega_b, dtype=float).reshape(3) if world.adcs_omega_b is not None else np.zeros(3)
    return wire.AdcsState(stamp_ns=int(t_ns), frame_id="teme", attitude_wxyz=tuple(float(v) for v in q),
                          body_rate_radps=tuple(float(v) for v in rate), mode="target_pointing")


def attitude_target(world, t_s: float, body_target: wire.PointingCommand | None):
    """``adcs_pointing``'s body target (LVLH angles and rates, in the satellite's own orbit
    knowledge: its TLE) as the Basilisk controller's reference, roll fixed by the orbit normal;
    None (the ADCS keeps its last reference) for none, a hold or a non-finite target."""
    from qsat_pat.sim.adcs import pointing_target

    m = body_target
    if m is None or m.mode not in (int(Mode.POSITION), int(Mode.PARK)) or not all(
            math.isfinite(v) for v in (m.axis1_rad, m.axis2_rad, m.axis1_rate_radps, m.axis2_rate_radps)):
        return None
    eph = world.orbit.terminal
    t_unix = world.t0_unix_s + t_s
    h = 0.01
    r, v = eph.propagate_teme(np.array([t_unix, t_unix + h]))
    u0 = lvlh_direction(m.axis1_rad, m.axis2_rad, r[0], v[0])
    u1 = lvlh_direction(m.axis1_rad + m.axis1_rate_radps * h, m.axis2_rad + m.axis2_rate_radps * h, r[1], v[1])
    return pointing_target(u0, (u1 - u0) / h, np.cross(r[0], v[0]))
