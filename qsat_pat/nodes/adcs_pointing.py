"""Node ``adcs_pointing``: the space terminal's coarse stage (spacecraft body via the ADCS).

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

import math
import sys
from dataclasses import dataclass

import numpy as np
from std_msgs.msg import String

from qsat_pat.core.control import ActuatorState as CoreActuatorState
from qsat_pat.core.control import (
    BodyPointingConfig,
    BodyPointingController,
    FsmOffload,
    Mode,
    OffloadConfig,
    Stage,
    body_tangent_coords,
    body_target_from_states,
    boresight_from_attitude,
    lvlh_az_el,
    lvlh_direction,
    tracked_direction,
)
from qsat_pat.core.control import PointingCommand as CorePointingCommand
from qsat_pat.core.ephemeris import (
    Ephemeris,
    EphemerisConfig,
    enu_rotation,
    parse_tle,
    parse_tle_text,
    select_tle,
)
from qsat_pat.core.errors import ConfigError, ControlError, QsatPatError
from qsat_pat.core.params import param
from qsat_pat.core.safety import angular_separation_rad
from qsat_pat.core.site import station_field
from qsat_pat.core.sun import sun_hidden_by_earth, sun_position_teme_m
from qsat_pat.msg import ActuatorState, AdcsState, EphemerisState, PointingCommand, TrackEstimate
from qsat_pat.nodes.convert import actuator_state_to_msg, pointing_command_to_msg, s_to_stamp, stamp_to_s
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main

#: AdcsState stamps further than this from the node clock are replaced by the receive time [s].
MAX_STAMP_SKEW_S = 10.0


@dataclass(frozen=True)
class AdcsPointingConfig(BodyPointingConfig):
    """Parameters of ``adcs_pointing``: body pointing and interlocks + geometry source and rates."""

    target_source: str = param("tle", "targets: 'tle' (computed from the TLE and the station; a fresh "
                               "body_command overrides) or 'command' (body_command only)",
                               choices=("tle", "command"))
    tle_line1: str = param("", "the satellite's own TLE line 1 (or publish it on the tle topic)")
    tle_line2: str = param("", "TLE line 2")
    tle_name: str = param("", "satellite name (or catalogue number to pick from a tle message)")
    # the ground station it points at: the deployment's station file (qsat_pat/core/site.py)
    site_lat_deg: float = station_field("site_lat_deg")
    site_lon_deg: float = station_field("site_lon_deg")
    site_alt_m: float = station_field("site_alt_m")
    min_el_deg: float = station_field("min_el_deg")
    rate_hz: float = param(10.0, "body_target and body_state rate", unit="Hz", min_value=0.1, max_value=1000.0)
    adcs_timeout_s: float = param(1.0, "fault when no AdcsState arrives for this long", unit="s",
                                  min_value=0.01, max_value=600.0)
    sun_source: str = param("computed", "Sun direction: computed from the orbit and the clock, or fixed in "
                            "LVLH (lab tests)", choices=("computed", "fixed"))
    sun_az_rad: float = param(math.pi, "fixed Sun along-track angle (LVLH)", unit="rad", min_value=-7.0,
                              max_value=7.0)
    sun_el_rad: float = param(0.0, "fixed Sun cross-track angle (LVLH)", unit="rad", min_value=-1.5708,
                              max_value=1.5708)
    boresight_body: tuple = param((0.0, 0.0, 1.0), "terminal boresight in body axes (body +z as the simulator)",
                                  min_value=-1.0, max_value=1.0)
    track_enabled: bool = param(False, "target the tracked beacon (beacon_track) while its track is fresh "
                                "(the satellite's coarse loop)")
    track_timeout_s: float = param(0.3, "a beacon track older than this is not used", unit="s", min_value=0.001,
                                   max_value=60.0)
    track_max_offset_rad: float = param(5e-3, "refuse a tracked beacon further than this from the predicted "
                                        "direction", unit="rad", min_value=1e-6, max_value=0.5)
    offload_enabled: bool = param(True, "integrate the tracked beacon's mean offset from the boresight into the "
                                  "tracked target (the body loop's FSM offload: the ADCS lags an accelerating "
                                  "target by ~acc/bandwidth^2, 0.25-0.5 mrad near TCA, that the FSM would carry)")
    offload_gain_per_s: float = param(0.5, "offload rate per unit mean offset (the direct mode's continuous "
                                      "FSM offload)", unit="1/s", min_value=0.0, max_value=100.0)
    offload_time_constant_s: float = param(0.2, "time constant of the offset's mean filter", unit="s",
                                           min_value=1e-3, max_value=100.0)
    offload_max_rad: float = param(2e-3, "limit of the integrated offload per axis (the FSM's range)", unit="rad",
                                   min_value=0.0, max_value=0.1)
    pre_point_s: float = param(120.0, "below the mask, with AOS within this: point at the station's direction "
                               "at AOS instead of parking (0: park until AOS)", unit="s", min_value=0.0,
                               max_value=3600.0)

    def check(self) -> None:
        b = np.asarray(self.boresight_body, dtype=float)
        if b.shape != (3,) or not np.all(np.isfinite(b)) or float(np.linalg.norm(b)) < 1e-6:
            raise ConfigError(f"AdcsPointingConfig.boresight_body must be a non-zero 3-vector, got "
                              f"{self.boresight_body}")
        if bool(self.tle_line1) != bool(self.tle_line2):
            raise ConfigError("AdcsPointingConfig: give both tle_line1 and tle_line2 (or neither)")


class AdcsPointingNode(QsatPatNode):
    """Attitude targets for the space terminal (see the module docstring)."""

    config_class = AdcsPointingConfig
    default_name = "adcs_pointing"

    def on_setup(self) -> None:
        self.eph: Ephemeris | None = None
        self._build(self.config)
        self._load_tle_from_parameters()
        self.adcs: AdcsState | None = None
        self.adcs_t: float | None = None
        self.first_tick_t: float | None = None
        self.readback: tuple[float, float, float, float] | None = None
        self.external_t: float | None = None
        self.last = None
        self.last_target = None
        self.target_pub = self.create_lifecycle_publisher(PointingCommand, "body_target", Qos.COMMAND)
        self.state_pub = self.create_lifecycle_publisher(ActuatorState, "body_state", Qos.STREAM)
        self.eph_pub = self.create_lifecycle_publisher(EphemerisState, "ogs_ephemeris", Qos.STATE)
        self.fsm_eph_pub = self.create_lifecycle_publisher(EphemerisState, "fsm_ephemeris", Qos.STATE)
        self.subs = [
            self.create_subscription(AdcsState, "adcs_state", self.on_adcs, Qos.STREAM),
            self.create_subscription(PointingCommand, "body_command", self.on_body_command, Qos.COMMAND),
            self.create_subscription(String, "tle", self.on_tle, Qos.STATE),
            self.create_subscription(TrackEstimate, "beacon_track", self.on_track, Qos.STREAM),
        ]
        self.track: TrackEstimate | None = None
        self.offload_rad = np.zeros(2)  # integrated offload added to the tracked LOS (body tangent axes)
        self._offload_t: float | None = None
        self._aos: tuple | None = None  # (when searched, AOS time or None, LVLH (az, el) there or None)
        self.timer = self.create_timer(1.0 / self.config.rate_hz, self.on_timer)

    def _build(self, cfg: AdcsPointingConfig) -> None:
        d = cfg.as_dict()
        old = getattr(self, "controller", None)
        self.controller = BodyPointingController(
            BodyPointingConfig(**{k: v for k, v in d.items() if k in BodyPointingConfig.__dataclass_fields__}))
        if old is not None:  # keep the held attitude across a parameter change
            self.controller.last_rad = old.last_rad.copy()
        self.boresight = np.asarray(cfg.boresight_body, dtype=float)
        # the body loop's offload: the core FSM offload's mean filter and continuous gain
        mean = getattr(self, "_offload", None)
        self._offload = FsmOffload(OffloadConfig(continuous_gain_per_s=cfg.offload_gain_per_s, gain_per_s=0.0,
                                                 mean_time_constant_s=cfg.offload_time_constant_s))
        if mean is not None:
            self._offload.mean_rad = mean.mean_rad
        lat, lon = math.radians(cfg.site_lat_deg), math.radians(cfg.site_lon_deg)
        self.up_ecef = enu_rotation(lat, lon)[2]
        if self.eph is not None:
            self.eph = Ephemeris(self.eph.tle, self._ephemeris_config(cfg))

    @staticmethod
    def _ephemeris_config(cfg: AdcsPointingConfig) -> EphemerisConfig:
        return EphemerisConfig(site_lat_deg=cfg.site_lat_deg, site_lon_deg=cfg.site_lon_deg,
                               site_alt_m=cfg.site_alt_m, min_el_deg=cfg.min_el_deg)

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "controller"):
            self._build(new)
            if (old.tle_line1, old.tle_line2) != (new.tle_line1, new.tle_line2):
                self._load_tle_from_parameters()
            if old.rate_hz != new.rate_hz and getattr(self, "timer", None) is not None:
                self.destroy_timer(self.timer)
                self.timer = self.create_timer(1.0 / new.rate_hz, self.on_timer)

    # -- inputs ------------------------------------------------------------------------------
    def _load_tle_from_parameters(self) -> None:
        cfg = self.config
        if not cfg.tle_line1:
            return
        try:
            self._use(parse_tle(cfg.tle_line1, cfg.tle_line2, cfg.tle_name or None))
        except QsatPatError as exc:
            self.reject("bad_tle", f"TLE from parameters refused: {exc}")

    def _use(self, tle) -> None:
        self.eph = Ephemeris(tle, self._ephemeris_config(self.config))
        self.count("tle_loaded")

    def on_tle(self, msg: String) -> None:
        if not self.active:
            return
        try:
            sets = parse_tle_text(msg.data)
        except QsatPatError as exc:
            self.reject("bad_tle", f"TLE on topic refused: {exc}")
            return
        self._use(select_tle(sets, self.config.tle_name))

    def _orbit(self, t: float):
        """(r_sat, v_sat, r_site, v_site, station sees the satellite) in TEME at ``t``, or None."""
        if self.eph is None:
            return None
        try:
            r, v = self.eph.propagate_teme(t)
        except QsatPatError as exc:
            self.reject("ephemeris_error", str(exc))
            return None
        r_site, v_site, rot, _ = self.eph.site_teme(t)
        up = rot[0].T @ self.up_ecef
        d = r[0] - r_site[0]
        visible = float(np.dot(d, up)) / float(np.linalg.norm(d)) >= math.sin(math.radians(self.config.min_el_deg))
        return r[0], v[0], r_site[0], v_site[0], visible

    def on_adcs(self, msg: AdcsState) -> None:
        if not self.active:
            return
        q = (msg.attitude.w, msg.attitude.x, msg.attitude.y, msg.attitude.z)
        w = (msg.body_rate_radps.x, msg.body_rate_radps.y, msg.body_rate_radps.z)
        if not all(math.isfinite(x) for x in q + w):
            self.reject("non_finite_adcs_state", f"AdcsState with non-finite attitude {q} or rate {w}")
            return
        if abs(math.sqrt(sum(x * x for x in q)) - 1.0) > 1e-3:
            self.reject("bad_quaternion", f"AdcsState quaternion {q} is not a unit quaternion")
            return
        now = self.now_s()
        t = stamp_to_s(msg.header.stamp)
        if not abs(t - now) <= MAX_STAMP_SKEW_S:
            self.count("adcs_stamp_replaced")
            t = now
        self.adcs, self.adcs_t = msg, now
        orbit = self._orbit(t)
        if orbit is None:
            self.readback = None
            return
        try:
            self.readback = boresight_from_attitude(q, orbit[0], orbit[1], w, self.boresight)
        except ControlError as exc:
            self.reject("bad_adcs_state", str(exc))
            self.readback = None

    def on_track(self, msg: TrackEstimate) -> None:
        if not self.active:
            return
        vals = (msg.los_x_rad, msg.los_y_rad, msg.los_x_rate_radps, msg.los_y_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            self.reject("bad_track", f"non-finite beacon track {vals}")
            return
        self.track = msg

    def _tracked_target(self, now: float, orbit, tgt) -> tuple[float, float] | None:
        """LVLH target angles on the tracked beacon (module docstring), or None (not usable)."""
        c, m = self.config, self.track
        if not c.track_enabled or m is None or self.adcs is None:
            return None
        # a coasting estimate between frames is still the track (its prediction): only a track
        # unmeasured for longer than track_timeout_s falls back to the TLE (checking `coasting`
        # flipped the target between track and TLE, 0.1-0.2 mrad apart, every other tick)
        if not (m.time_since_measurement_s <= c.track_timeout_s):
            return None
        age = now - stamp_to_s(m.header.stamp)
        if not (-c.track_timeout_s <= age <= c.track_timeout_s) or now - self.adcs_t > c.adcs_timeout_s:
            return None
        a = self.adcs.attitude
        los = np.array([m.los_x_rad + m.los_x_rate_radps * age, m.los_y_rad + m.los_y_rate_radps * age])
        self._step_offload(now, los)
        try:
            d = tracked_direction((a.w, a.x, a.y, a.z), tuple(los + self.offload_rad), self.boresight)
            az, el, _, _ = lvlh_az_el(d, orbit[0], orbit[1])
        except ControlError as exc:
            self.reject("bad_track", str(exc))
            return None
        # the beacon appears half the point-ahead behind the geometric line of sight
        off_az, off_el = tgt.transmit_offset_az_rad, tgt.transmit_offset_el_rad
        geo_az, geo_el = tgt.az_rad, tgt.el_rad
        if c.point_ahead_enabled:
            geo_az, geo_el = geo_az - off_az, geo_el - off_el
        miss = float(angular_separation_rad(az + off_az, el + off_el, geo_az, geo_el))
        if miss > c.track_max_offset_rad:
            self.reject("track_too_far", f"beacon track {miss * 1e3:.2f} mrad from the predicted station "
                        f"(> track_max_offset_rad {c.track_max_offset_rad * 1e3:.2f}): refused")
            return None
        k = 2.0 if c.point_ahead_enabled else 1.0
        return az + k * off_az, el + k * off_el

    def _step_offload(self, now: float, los) -> None:
        """Integrate the tracked beacon's filtered offset from the boresight (body tangent axes)
        into :attr:`offload_rad`, which is added to the tracked LOS of the target: an integral
        outer loop around the ADCS, so the body settles with the beacon on the boresight and the
        FSM near its centre (plus the point-ahead), as the direct mode's continuous offload
        (:class:`~qsat_pat.core.control.FsmOffload`, ``continuous_gain_per_s``) does.  The
        beacon track is FSM angle + camera residual, i.e. the FSM's mean deflection while the
        fine loop holds the beacon.  Frozen while the track is unusable; reset out of view."""
        c = self.config
        dt = 0.0 if self._offload_t is None else min(max(now - self._offload_t, 0.0), 1.0)
        self._offload_t = now
        if not c.offload_enabled or dt <= 0.0:
            return
        self.offload_rad = np.clip(self.offload_rad + self._offload.step(los, dt) * dt,
                                   -c.offload_max_rad, c.offload_max_rad)

    def _reset_offload(self) -> None:
        self.offload_rad = np.zeros(2)
        self._offload.mean_rad = np.zeros(2)
        self._offload_t = None

    def on_body_command(self, msg: PointingCommand) -> None:
        if not self.active:
            return
        now = self.now_s()
        try:
            cmd = CorePointingCommand(now, msg.stage, msg.mode, msg.axis1_rad, msg.axis2_rad,
                                      msg.axis1_rate_radps, msg.axis2_rate_radps, msg.reason or "body_command")
            self.controller.request(cmd, now)
        except ControlError as exc:
            self.reject("bad_body_command", str(exc))
            return
        self.external_t = now
        self.count("body_commands")

    # -- output ------------------------------------------------------------------------------
    def _sun_lvlh(self, t: float, orbit) -> tuple[tuple[float, float] | None, bool]:
        """The Sun's LVLH (az, el) (None: unknown, no orbit) and whether the Earth hides it."""
        c = self.config
        if c.sun_source == "fixed":
            return (c.sun_az_rad, c.sun_el_rad), False
        if orbit is None:
            return None, False
        sun_teme = sun_position_teme_m(t).reshape(3)
        az, el, _, _ = lvlh_az_el(sun_teme - orbit[0], orbit[0], orbit[1])
        return (az, el), sun_hidden_by_earth(orbit[0], sun_teme)

    def on_timer(self) -> None:
        if not self.active:
            return
        now = self.now_s()
        c = self.config
        orbit = self._orbit(now)
        external_fresh = self.external_t is not None and now - self.external_t <= c.watchdog_period_s
        sun, sun_hidden = self._sun_lvlh(now, orbit)
        tgt = None
        if orbit is not None:
            try:
                tgt = body_target_from_states(*orbit[:4], point_ahead=c.point_ahead_enabled)
            except ControlError as exc:
                self.reject("bad_geometry", str(exc))
        if tgt is not None:
            self.last_target = tgt
            lvlh = self._ogs_ephemeris(now, orbit, tgt, sun)
            self.eph_pub.publish(lvlh)
            fsm = self._fsm_ephemeris(now, orbit, tgt, lvlh)
            if fsm is not None:
                self.fsm_eph_pub.publish(fsm)
        if external_fresh:
            self._offload_t = None
        if c.target_source == "tle" and tgt is not None and not external_fresh:
            if orbit[4]:
                tracked = self._tracked_target(now, orbit, tgt)
                if not tracked:
                    self._offload_t = None  # frozen while the track is unusable
                az, el, why = (*tracked, "beacon track") if tracked else (tgt.az_rad, tgt.el_rad, "tle geometry")
                if tracked:
                    self.count("tracked_targets")
                self.controller.request(CorePointingCommand(
                    now, Stage.BODY, Mode.POSITION, az, el, tgt.az_rate_radps, tgt.el_rate_radps,
                    f"station in view: {why}"), now)
            else:
                self._reset_offload()
                pre = self._pre_point_target(now)
                if pre is not None:
                    az, el, t_aos = pre
                    self.count("pre_point_ticks")
                    self.controller.request(CorePointingCommand(
                        now, Stage.BODY, Mode.POSITION, az, el, 0.0, 0.0,
                        f"station below the mask: pre-pointing at AOS in {t_aos - now:.0f} s"), now)
                else:
                    self.controller.request(CorePointingCommand(now, Stage.BODY, Mode.PARK,
                                                                reason="station below the mask: park"), now)
        hold_reason = "" if sun is not None else "Sun direction unknown (no orbit): hold"
        check_sun = sun
        if sun_hidden:
            check_sun = None  # behind the Earth: it cannot blind the terminal, no avoidance
            self.count("sun_behind_earth_ticks")
        try:
            res = self.controller.step(now, *(check_sun or (None, None)), hold_reason=hold_reason)
        except ControlError as exc:
            self.reject("bad_command", str(exc))
            return
        if res.sun_safe:
            self.count("sun_safe")
        if res.rate_limited:
            self.count("rate_limited")
        if res.holding:
            self.count("holding_ticks")
        self.last = res
        self.target_pub.publish(pointing_command_to_msg(res.command))
        self.count("targets")
        if self.adcs_t is None:
            # at start-up the ADCS telemetry may come after the first tick: no body state (a
            # fault would latch the PAT manager in FAULT) until adcs_timeout_s has gone by
            self.first_tick_t = now if self.first_tick_t is None else self.first_tick_t
            if now - self.first_tick_t <= c.adcs_timeout_s:
                self.count("waiting_for_adcs")
                return
        self.state_pub.publish(actuator_state_to_msg(self._state(now, res)))

    def _pre_point_target(self, now: float) -> tuple[float, float, float] | None:
        """LVLH (az, el) of the station at the next AOS and the AOS time, if AOS is within
        ``pre_point_s``; else None.  A slew from the park attitude takes the Basilisk ADCS ~20 s
        (0.6 rad/s bandwidth): parking until AOS cost the first full ROS pass 19 s of the pass.
        The angles are the station's at AOS; the LVLH frame turns ~1 mrad/s, so the body arrives
        within a few degrees and the remainder goes as AOS approaches.  The AOS search (1 s
        steps of the TLE) runs at most once a second."""
        c = self.config
        if c.pre_point_s <= 0.0 or self.eph is None:
            return None
        if self._aos is None or now - self._aos[0] >= 1.0 or (self._aos[1] is not None and self._aos[1] <= now):
            t_aos, target = None, None
            for k in range(1, int(math.ceil(c.pre_point_s)) + 1):
                o = self._orbit(now + k)
                if o is not None and o[4]:
                    t_aos = now + k
                    try:
                        tgt = body_target_from_states(*o[:4], point_ahead=c.point_ahead_enabled)
                        target = (tgt.az_rad, tgt.el_rad)
                    except ControlError:
                        pass
                    break
            self._aos = (now, t_aos, target)
        _, t_aos, target = self._aos
        if t_aos is None or target is None:
            return None
        return target[0], target[1], t_aos

    def _ogs_ephemeris(self, now: float, orbit, tgt, sun) -> EphemerisState:
        """The station seen from the satellite, LVLH angles (the space side's ``EphemerisState``)."""
        off = (tgt.transmit_offset_az_rad, tgt.transmit_offset_el_rad) if self.config.point_ahead_enabled \
            else (0.0, 0.0)
        az, el = tgt.az_rad - off[0], tgt.el_rad - off[1]
        d, dd = orbit[2] - orbit[0], orbit[3] - orbit[1]
        msg = EphemerisState(target="ogs", tle_age_s=now - self.eph.tle.epoch_unix_s, az_rad=az, el_rad=el,
                             el_refracted_rad=el, range_m=tgt.range_m, az_rate_radps=tgt.az_rate_radps,
                             el_rate_radps=tgt.el_rate_radps,
                             range_rate_mps=float(np.dot(d, dd)) / float(np.linalg.norm(d)),
                             point_ahead_az_rad=2.0 * tgt.transmit_offset_az_rad,
                             point_ahead_el_rad=2.0 * tgt.transmit_offset_el_rad,
                             point_ahead_rad=tgt.point_ahead_rad, visible=bool(orbit[4]))
        msg.sun_separation_rad = math.nan if sun is None else float(angular_separation_rad(az, el, *sun))
        msg.header.stamp = s_to_stamp(max(now, 0.0))
        msg.header.frame_id = "lvlh"
        return msg

    def _fsm_ephemeris(self, now: float, orbit, tgt, lvlh: EphemerisState) -> EphemerisState | None:
        """``lvlh`` with the point-ahead in the body tangent frame (None without a fresh attitude)."""
        if self.adcs is None or now - self.adcs_t > self.config.adcs_timeout_s:
            return None
        a = self.adcs.attitude
        q = (a.w, a.x, a.y, a.z)
        off_az, off_el = tgt.transmit_offset_az_rad, tgt.transmit_offset_el_rad
        geo_az, geo_el = lvlh.az_rad, lvlh.el_rad  # the geometric line of sight
        try:  # received beacon half the point-ahead behind it, transmit direction half ahead
            rx = body_tangent_coords(q, lvlh_direction(geo_az - off_az, geo_el - off_el, orbit[0], orbit[1]),
                                     self.boresight)
            tx = body_tangent_coords(q, lvlh_direction(geo_az + off_az, geo_el + off_el, orbit[0], orbit[1]),
                                     self.boresight)
        except ControlError as exc:
            self.reject("bad_attitude_for_point_ahead", str(exc))
            return None
        pa = tx - rx
        msg = EphemerisState(target=lvlh.target, tle_age_s=lvlh.tle_age_s, az_rad=0.0, el_rad=0.0,
                             el_refracted_rad=0.0, range_m=lvlh.range_m, range_rate_mps=lvlh.range_rate_mps,
                             point_ahead_az_rad=float(pa[0]), point_ahead_el_rad=float(pa[1]),
                             point_ahead_rad=lvlh.point_ahead_rad, visible=lvlh.visible,
                             sun_separation_rad=lvlh.sun_separation_rad)
        msg.header.stamp = lvlh.header.stamp
        msg.header.frame_id = "body_tangent"
        return msg

    def _state(self, now: float, res) -> CoreActuatorState:
        fault = ""
        pos, rates = (math.nan, math.nan), (math.nan, math.nan)
        if self.adcs_t is None:
            fault = f"no ADCS telemetry received within adcs_timeout_s ({self.config.adcs_timeout_s} s) of start"
        elif now - self.adcs_t > self.config.adcs_timeout_s:
            fault = f"no ADCS telemetry for {now - self.adcs_t:.2f} s (> {self.config.adcs_timeout_s} s)"
        elif self.readback is None:
            fault = "attitude not convertible to LVLH (no orbit: load a TLE)"
        else:
            pos, rates = self.readback[:2], self.readback[2:]
        age = self.controller.request_age_s(now)
        return CoreActuatorState(now, Stage.BODY, res.command.mode, float(pos[0]), float(pos[1]),
                                 float(rates[0]), float(rates[1]), bool(res.sun_safe or res.rate_limited),
                                 bool(res.holding), bool(fault), fault, age if math.isfinite(age) else -1.0)

    def diagnostic_values(self) -> dict:
        out = {"tle": self.eph.tle.name if getattr(self, "eph", None) is not None else "none"}
        if getattr(self, "last", None) is not None:
            cmd = self.last.command
            out.update(mode=cmd.mode.name, target_az_mrad=f"{cmd.axis1_rad * 1e3:.3f}",
                       target_el_mrad=f"{cmd.axis2_rad * 1e3:.3f}")
        if getattr(self, "offload_rad", None) is not None:
            out["offload_x_urad"] = f"{self.offload_rad[0] * 1e6:.1f}"
            out["offload_y_urad"] = f"{self.offload_rad[1] * 1e6:.1f}"
        if getattr(self, "last_target", None) is not None:
            out["point_ahead_urad"] = f"{self.last_target.point_ahead_rad * 1e6:.2f}"
        if getattr(self, "adcs", None) is not None:
            out["adcs_mode"] = self.adcs.mode
        return out


NODE_CLASS = AdcsPointingNode
main = make_main(AdcsPointingNode)

if __name__ == "__main__":
    sys.exit(main())
