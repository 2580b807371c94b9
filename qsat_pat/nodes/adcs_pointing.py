"""Node ``adcs_pointing``: the space terminal's coarse stage (spacecraft body via the ADCS).

Every decision is :class:`qsat_pat.core.terminal.space_coarse.AttitudePointing`'s (the same object
the in-process simulation holds); this node is its ROS plumbing.

Inputs
    ``adcs_state`` (``qsat_pat/AdcsState``): attitude (body -> inertial quaternion) and
    body rates from the ADCS or the simulator; ``body_command``
    (``qsat_pat/PointingCommand``, STAGE_BODY) from ``pat_manager`` or an operator: a
    fresh one overrides the computed target (MODE_POSITION/RATE: that target, MODE_HOLD,
    MODE_PARK); ``tle`` (``std_msgs/String``): the satellite's own elements (as the
    ``ephemeris`` node takes them), also settable as parameters; ``beacon_track``
    (``qsat_pat/TrackEstimate``, with ``track_enabled``): the tracked uplink beacon in the
    body tangent frame about the boresight (the space ``track_predictor``: FSM angle +
    camera residual, x/y along body +x/+y for a +z boresight).
Outputs
    ``body_target`` (``qsat_pat/PointingCommand``, STAGE_BODY) at ``rate_hz``: the
    attitude target for the ADCS, boresight angles in the LVLH frame of
    :func:`~qsat_pat.core.control.lvlh_axes` (axis1 = along-track angle from nadir,
    axis2 = cross-track angle; rates relative to LVLH as feed-forward);
    ``body_state`` (``qsat_pat/ActuatorState``, STAGE_BODY) at ``rate_hz``: where the
    terminal boresight actually points, from the last ``AdcsState`` (NaN angles while in
    fault); ``ogs_ephemeris`` (``qsat_pat/EphemerisState``, latched, ``frame_id`` "lvlh")
    at ``rate_hz`` when the orbit is known: the ground station seen from the satellite
    with az/el = the LVLH angles above (geometric line of sight), rates, range, the full
    downlink point-ahead split into those angles (seed 004 §2.1; the space
    ``fsm_controller`` adds it to its fine set-point, its ``ephemeris`` input remapped
    here) and the Sun separation; ``fsm_ephemeris`` (``qsat_pat/EphemerisState``, latched,
    ``frame_id`` "body_tangent") at ``rate_hz`` while the attitude is known: the same with
    the point-ahead in the body tangent frame about the boresight -- the FSM's axes -- from
    the attitude (az/el 0 = the boresight), what the space ``fsm_controller`` adds to its
    set-point whatever the roll about the boresight is (the LVLH split is right only when
    the body x/y axes happen to lie along the LVLH angle increments).

Geometry (``target_source = "tle"``): every tick the node propagates its own TLE (SGP4,
TEME) and the ground station, and targets the station while the station sees the
satellite above ``min_el_deg`` (:func:`~qsat_pat.core.control.body_target_from_states`,
with the downlink point-ahead when ``point_ahead_enabled``); with ``track_enabled`` and a
fresh, non-coasting beacon track (``track_timeout_s``) the target is the tracked beacon
instead -- turned to inertial with the last attitude
(:func:`~qsat_pat.core.control.tracked_direction`), plus the transmit offset (the full
point-ahead with ``point_ahead_enabled``; half of it, i.e. the geometric line of sight,
without), rates from the orbit geometry: the satellite's coarse loop, which keeps the
beacon inside the FSM's few-mrad range despite a ~1-2 mrad TLE error (seed 001 §3, seed
003 §3).  With ``offload_enabled`` the tracked LOS gets an integral term (the FSM offload
of the body loop, ``offload_gain_per_s``): the ADCS, given angles and rates but no
acceleration, lags an accelerating target by ~acc / bandwidth^2 (0.25-0.5 mrad near TCA,
measured), which the FSM would otherwise carry for the whole pass.  A track more than ``track_max_offset_rad`` from the predicted direction is
refused and counted (a false lock must not slew the body away); out of the pass it parks
(``park_az_rad``/``park_el_rad``, default nadir).  With ``target_source = "command"``
only ``body_command`` sets targets.  When a fine loop closes on the uplink beacon (the
``space`` deployment) set ``point_ahead_enabled`` false: the fine loop would undo a body
offset, so the point-ahead goes on the fine set-point only (seed 004 §2.3).

Safety (:class:`~qsat_pat.core.control.BodyPointingController`): no fresh target for
``watchdog_period_s`` -> MODE_HOLD at the last attitude; every target (held ones too) is
kept ``sun_exclusion_rad`` (NanoBob ~45 deg, seed 001 §3) from the Sun, computed from
the orbit (:func:`~qsat_pat.core.sun.sun_position_teme_m`) or fixed in LVLH for lab
tests; a Sun behind the Earth (:func:`~qsat_pat.core.sun.sun_hidden_by_earth`: the night
side, where the station is often within 45 deg of the hidden Sun) is not avoided (counted as
``sun_behind_earth_ticks``); without an orbit (no TLE yet, propagation failure) the Sun
cannot be checked and the node holds.  ``AdcsState`` that stops for ``adcs_timeout_s`` (or never comes within
``adcs_timeout_s`` of the first tick: until then no ``body_state`` is published, so a PAT
manager is not latched in FAULT by a start-up race) is reported as ``fault`` in ``body_state``; bad messages (NaN, non-unit quaternion, wrong stage) are
rejected and counted on /diagnostics.

The attitude quaternion is taken relative to the inertial frame of the orbit states
(TEME, as SGP4 gives it); an ADCS working in J2000/GCRF differs by precession-nutation
(~0.36 deg in 2026) and needs that rotation applied before this node.
"""

from __future__ import annotations

import sys

from qsat_pat.core.terminal.space_coarse import AdcsPointingConfig, AttitudePointing
from qsat_pat.nodes.pattern import make_main
from qsat_pat.nodes.terminal_node import TerminalNode

__all__ = ["AdcsPointingConfig", "AdcsPointingNode"]


class AdcsPointingNode(TerminalNode):
    """Attitude targets for the space terminal (see the module docstring)."""

    config_class = AdcsPointingConfig
    part_class = AttitudePointing
    default_name = "adcs_pointing"

    def __getattr__(self, name: str):
        # what tests and tools read of the decision object (eph, track, controller, offload_rad, ...)
        part = self.__dict__.get("part")
        if part is not None and not name.startswith("_") and hasattr(part, name):
            return getattr(part, name)
        raise AttributeError(name)


NODE_CLASS = AdcsPointingNode
main = make_main(AdcsPointingNode)

if __name__ == "__main__":
    sys.exit(main())
