"""The satellite's coarse stage: the body target -- tracked beacon, TLE, pre-point, Sun-safe.

``adcs_pointing`` (and the in-process simulation) hold an :class:`AttitudePointing`; its
node module's docstring describes the topics.  Every ``1/rate_hz`` it propagates its own TLE
(SGP4, TEME) and the ground station, and targets the station while the station sees the
satellite above ``min_el_deg`` (:func:`~qsat_pat.core.control.body_target_from_states`, with the
downlink point-ahead when ``point_ahead_enabled``); with ``track_enabled`` and a fresh beacon
track (``track_timeout_s``) the target is the tracked beacon instead -- turned to inertial with
the last attitude (:func:`~qsat_pat.core.control.tracked_direction`), plus the transmit
offset, rates from the orbit geometry: the satellite's coarse loop, which keeps the beacon
inside the FSM's few-mrad range despite a ~1-2 mrad TLE error (seed 001 §3, seed 003 §3).
With ``offload_enabled`` the tracked line of sight gets an integral term (the body loop's FSM
offload, the same :class:`~qsat_pat.core.terminal.coarse_offset.OffloadIntegrator` as the
OGS mount's): the ADCS, given angles and rates but no acceleration, lags an accelerating target
by ~acc / bandwidth^2 (0.25-0.5 mrad near TCA, measured), which the FSM would otherwise carry
for the whole pass.  A track more than ``track_max_offset_rad`` from the predicted direction is
refused and counted (a false lock must not slew the body away).  Below the mask it points at
the station's direction at the next AOS when that is within ``pre_point_s`` (and publishes that
AOS on ``pass_plan`` for the PAT manager's SLEW_TO_AOS), else parks.

Decided once (issue 13): this is the satellite's coarse pointing in every deployment; the
in-process simulation's own target (the old ``SpaceCoarseStage``: a reference frame turned by
the tracker's offset, no gating, no offload, no pre-point) is gone.

Safety (:class:`~qsat_pat.core.control.BodyPointingController`): no fresh target for
``watchdog_period_s`` -> MODE_HOLD at the last attitude; every target is kept
``sun_exclusion_rad`` from the Sun (NanoBob ~45 deg, seed 001 §3) unless the Earth hides it
(:func:`~qsat_pat.core.sun.sun_hidden_by_earth`); without an orbit the Sun cannot be checked
and the stage holds.  ``AdcsState`` that stops for ``adcs_timeout_s`` (or never comes within
``adcs_timeout_s`` of the first tick: until then no ``body_state`` is published, so a PAT
manager is not latched in FAULT by a start-up race) is reported as ``fault`` in ``body_state``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

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
from qsat_pat.core.errors import ConfigError, ControlError, QsatPatError, Rejected
from qsat_pat.core.params import param
from qsat_pat.core.safety import angular_separation_rad
from qsat_pat.core.site import station_field
from qsat_pat.core.sun import sun_hidden_by_earth, sun_position_teme_m
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart
from qsat_pat.core.terminal.coarse_offset import OffloadIntegrator

__all__ = ["AdcsPointingConfig", "AttitudePointing", "MAX_STAMP_SKEW_S"]


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



class AttitudePointing(TerminalPart):
    """Attitude targets for the space terminal (see the module docstring)."""

    INPUTS = (Port("adcs_state", "AdcsState", "stream", "on_adcs"),
              Port("body_command", "PointingCommand", "command", "on_body_command"),
              Port("tle", "String", "state", "on_tle"),
              Port("beacon_track", "TrackEstimate", "stream", "on_track"))
    OUTPUTS = (Port("body_target", "PointingCommand", "command"), Port("body_state", "ActuatorState", "stream"),
               Port("ogs_ephemeris", "EphemerisState", "state"), Port("fsm_ephemeris", "EphemerisState", "state"),
               Port("pass_plan", "String", "state"))

    def __init__(self, config: AdcsPointingConfig) -> None:
        super().__init__(config)
        self.eph: Ephemeris | None = None
        self.controller: BodyPointingController | None = None
        self.offload: OffloadIntegrator | None = None
        self._build(config)
        self.load_tle_from_parameters()
        self.adcs: wire.AdcsState | None = None
        self.adcs_t: float | None = None
        self.first_tick_t: float | None = None
        self.readback: tuple[float, float, float, float] | None = None
        self.external_t: float | None = None
        self.last = None
        self.last_target = None
        self.track: wire.TrackEstimate | None = None
        self._aos: tuple | None = None  # (when searched, AOS time or None, LVLH (az, el) there or None)
        self._aos_published: float | None = None

    def _build(self, cfg: AdcsPointingConfig) -> None:
        old = self.controller
        self.controller = BodyPointingController(cfg.subset(BodyPointingConfig))
        if old is not None:  # keep the held attitude across a parameter change
            self.controller.last_rad = old.last_rad.copy()
        self.boresight = np.asarray(cfg.boresight_body, dtype=float)
        # the body loop's offload: the core FSM offload's mean filter and continuous gain
        previous = self.offload
        self.offload = OffloadIntegrator(
            FsmOffload(OffloadConfig(continuous_gain_per_s=cfg.offload_gain_per_s, gain_per_s=0.0,
                                     mean_time_constant_s=cfg.offload_time_constant_s)), limit_rad=cfg.offload_max_rad)
        if previous is not None:
            self.offload.offload.mean_rad = previous.offload.mean_rad
            self.offload.bias_rad = previous.bias_rad
        lat, lon = math.radians(cfg.site_lat_deg), math.radians(cfg.site_lon_deg)
        self.up_ecef = enu_rotation(lat, lon)[2]
        if self.eph is not None:
            self.eph = Ephemeris(self.eph.tle, self.ephemeris_config(cfg))

    @staticmethod
    def ephemeris_config(cfg: AdcsPointingConfig) -> EphemerisConfig:
        return EphemerisConfig(site_lat_deg=cfg.site_lat_deg, site_lon_deg=cfg.site_lon_deg,
                               site_alt_m=cfg.site_alt_m, min_el_deg=cfg.min_el_deg)

    def reconfigure(self, config: AdcsPointingConfig) -> None:
        old, self.config = self.config, config
        self._build(config)
        if (old.tle_line1, old.tle_line2) != (config.tle_line1, config.tle_line2):
            self.load_tle_from_parameters()

    def timer_periods(self) -> dict[str, float]:
        return {"tick": 1.0 / self.config.rate_hz}

    @property
    def offload_rad(self) -> np.ndarray:
        """Integrated offload added to the tracked line of sight (body tangent axes) [rad]."""
        return self.offload.bias_rad

    # -- inputs ------------------------------------------------------------------------------
    def load_tle_from_parameters(self) -> None:
        cfg = self.config
        if not cfg.tle_line1:
            return
        try:
            self._use(parse_tle(cfg.tle_line1, cfg.tle_line2, cfg.tle_name or None))
        except QsatPatError as exc:
            self.count("rejected_bad_tle")
            self.notes.append(f"TLE from parameters refused: {exc}")

    def _use(self, tle) -> None:
        self.eph = Ephemeris(tle, self.ephemeris_config(self.config))
        self.count("tle_loaded")

    def on_tle(self, text: str, now_ns: int) -> Outputs:
        try:
            sets = parse_tle_text(text)
        except QsatPatError as exc:
            raise Rejected("bad_tle", f"TLE on topic refused: {exc}") from None
        self._use(select_tle(sets, self.config.tle_name))
        return []

    def orbit(self, t: float):
        """(r_sat, v_sat, r_site, v_site, station sees the satellite) in TEME at ``t``, or None."""
        if self.eph is None:
            return None
        try:
            r, v = self.eph.propagate_teme(t)
        except QsatPatError as exc:
            self.count("rejected_ephemeris_error")
            self.notes.append(str(exc))
            return None
        r_site, v_site, rot, _ = self.eph.site_teme(t)
        up = rot[0].T @ self.up_ecef
        d = r[0] - r_site[0]
        visible = float(np.dot(d, up)) / float(np.linalg.norm(d)) >= math.sin(math.radians(self.config.min_el_deg))
        return r[0], v[0], r_site[0], v_site[0], visible

    def on_adcs(self, msg: wire.AdcsState, now_ns: int) -> Outputs:
        q = tuple(msg.attitude_wxyz)
        w = tuple(msg.body_rate_radps)
        if not all(math.isfinite(x) for x in q + w):
            raise Rejected("non_finite_adcs_state", f"AdcsState with non-finite attitude {q} or rate {w}")
        if abs(math.sqrt(sum(x * x for x in q)) - 1.0) > 1e-3:
            raise Rejected("bad_quaternion", f"AdcsState quaternion {q} is not a unit quaternion")
        now = wire.clock_s(now_ns)
        t = wire.stamp_s(msg.stamp_ns)
        if not abs(t - now) <= MAX_STAMP_SKEW_S:
            self.count("adcs_stamp_replaced")
            t = now
        self.adcs, self.adcs_t = msg, now
        orbit = self.orbit(t)
        if orbit is None:
            self.readback = None
            return []
        try:
            self.readback = boresight_from_attitude(q, orbit[0], orbit[1], w, self.boresight)
        except ControlError as exc:
            self.readback = None
            raise Rejected("bad_adcs_state", str(exc)) from None
        return []

    def on_track(self, msg: wire.TrackEstimate, now_ns: int) -> Outputs:
        vals = (msg.los_x_rad, msg.los_y_rad, msg.los_x_rate_radps, msg.los_y_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            raise Rejected("bad_track", f"non-finite beacon track {vals}")
        self.track = msg
        return []

    def tracked_target(self, now: float, orbit, tgt) -> tuple[float, float] | None:
        """LVLH target angles on the tracked beacon (module docstring), or None (not usable)."""
        c, m = self.config, self.track
        if not c.track_enabled or m is None or self.adcs is None:
            return None
        # a coasting estimate between frames is still the track (its prediction): only a track
        # unmeasured for longer than track_timeout_s falls back to the TLE (checking `coasting`
        # flipped the target between track and TLE, 0.1-0.2 mrad apart, every other tick)
        if not (m.time_since_measurement_s <= c.track_timeout_s):
            return None
        age = now - wire.stamp_s(m.stamp_ns)
        if not (-c.track_timeout_s <= age <= c.track_timeout_s) or now - self.adcs_t > c.adcs_timeout_s:
            return None
        los = np.array([m.los_x_rad + m.los_x_rate_radps * age, m.los_y_rad + m.los_y_rate_radps * age])
        self.offload.step(now, los, integrate=c.offload_enabled)
        try:
            d = tracked_direction(tuple(self.adcs.attitude_wxyz), tuple(los + self.offload_rad), self.boresight)
            az, el, _, _ = lvlh_az_el(d, orbit[0], orbit[1])
        except ControlError as exc:
            self.count("rejected_bad_track")
            self.notes.append(str(exc))
            return None
        # the beacon appears half the point-ahead behind the geometric line of sight
        off_az, off_el = tgt.transmit_offset_az_rad, tgt.transmit_offset_el_rad
        geo_az, geo_el = tgt.az_rad, tgt.el_rad
        if c.point_ahead_enabled:
            geo_az, geo_el = geo_az - off_az, geo_el - off_el
        miss = float(angular_separation_rad(az + off_az, el + off_el, geo_az, geo_el))
        if miss > c.track_max_offset_rad:
            self.count("rejected_track_too_far")
            self.notes.append(f"beacon track {miss * 1e3:.2f} mrad from the predicted station "
                              f"(> track_max_offset_rad {c.track_max_offset_rad * 1e3:.2f}): refused")
            return None
        k = 2.0 if c.point_ahead_enabled else 1.0
        return az + k * off_az, el + k * off_el

    def on_body_command(self, msg: wire.PointingCommand, now_ns: int) -> Outputs:
        now = wire.clock_s(now_ns)
        try:
            cmd = CorePointingCommand(now, msg.stage, msg.mode, msg.axis1_rad, msg.axis2_rad,
                                      msg.axis1_rate_radps, msg.axis2_rate_radps, msg.reason or "body_command")
            self.controller.request(cmd, now)
        except ControlError as exc:
            raise Rejected("bad_body_command", str(exc)) from None
        self.external_t = now
        self.count("body_commands")
        return []

    # -- output ------------------------------------------------------------------------------
    def sun_lvlh(self, t: float, orbit) -> tuple[tuple[float, float] | None, bool]:
        """The Sun's LVLH (az, el) (None: unknown, no orbit) and whether the Earth hides it."""
        c = self.config
        if c.sun_source == "fixed":
            return (c.sun_az_rad, c.sun_el_rad), False
        if orbit is None:
            return None, False
        sun_teme = sun_position_teme_m(t).reshape(3)
        az, el, _, _ = lvlh_az_el(sun_teme - orbit[0], orbit[0], orbit[1])
        return (az, el), sun_hidden_by_earth(orbit[0], sun_teme)

    def on_timer(self, name: str, now_ns: int) -> Outputs:
        now = wire.clock_s(now_ns)
        c = self.config
        out: Outputs = []
        orbit = self.orbit(now)
        external_fresh = self.external_t is not None and now - self.external_t <= c.watchdog_period_s
        sun, sun_hidden = self.sun_lvlh(now, orbit)
        tgt = None
        if orbit is not None:
            try:
                tgt = body_target_from_states(*orbit[:4], point_ahead=c.point_ahead_enabled)
            except ControlError as exc:
                self.count("rejected_bad_geometry")
                self.notes.append(str(exc))
        if tgt is not None:
            self.last_target = tgt
            lvlh = self.ogs_ephemeris(now, orbit, tgt, sun)
            out.append(("ogs_ephemeris", lvlh))
            fsm = self.fsm_ephemeris(now, orbit, tgt, lvlh)
            if fsm is not None:
                out.append(("fsm_ephemeris", fsm))
        if external_fresh:
            self.offload.freeze()
        if c.target_source == "tle" and tgt is not None and not external_fresh:
            if orbit[4]:
                tracked = self.tracked_target(now, orbit, tgt)
                if not tracked:
                    self.offload.freeze()  # frozen while the track is unusable
                az, el, why = (*tracked, "beacon track") if tracked else (tgt.az_rad, tgt.el_rad, "tle geometry")
                if tracked:
                    self.count("tracked_targets")
                self.controller.request(CorePointingCommand(
                    now, Stage.BODY, Mode.POSITION, az, el, tgt.az_rate_radps, tgt.el_rate_radps,
                    f"station in view: {why}"), now)
            else:
                self.offload.reset()
                pre = self.pre_point_target(now)
                if pre is not None:
                    az, el, t_aos = pre
                    self.count("pre_point_ticks")
                    self.controller.request(CorePointingCommand(
                        now, Stage.BODY, Mode.POSITION, az, el, 0.0, 0.0,
                        f"station below the mask: pre-pointing at AOS in {t_aos - now:.0f} s"), now)
                    if self._aos_published != t_aos:
                        self._aos_published = t_aos
                        out.append(("pass_plan", json.dumps({"station": "ogs", "pass": {"aos_unix_s": t_aos}})))
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
            raise Rejected("bad_command", str(exc)) from None
        if res.sun_safe:
            self.count("sun_safe")
        if res.rate_limited:
            self.count("rate_limited")
        if res.holding:
            self.count("holding_ticks")
        self.last = res
        out.append(("body_target", wire.command_wire(res.command)))
        self.count("targets")
        if self.adcs_t is None:
            # at start-up the ADCS telemetry may come after the first tick: no body state (a
            # fault would latch the PAT manager in FAULT) until adcs_timeout_s has gone by
            self.first_tick_t = now if self.first_tick_t is None else self.first_tick_t
            if now - self.first_tick_t <= c.adcs_timeout_s:
                self.count("waiting_for_adcs")
                return out
        out.append(("body_state", wire.state_wire(self.state(now, res))))
        return out

    def pre_point_target(self, now: float) -> tuple[float, float, float] | None:
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
                o = self.orbit(now + k)
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

    def ogs_ephemeris(self, now: float, orbit, tgt, sun) -> wire.EphemerisState:
        """The station seen from the satellite, LVLH angles (the space side's ``EphemerisState``)."""
        off = (tgt.transmit_offset_az_rad, tgt.transmit_offset_el_rad) if self.config.point_ahead_enabled \
            else (0.0, 0.0)
        az, el = tgt.az_rad - off[0], tgt.el_rad - off[1]
        d, dd = orbit[2] - orbit[0], orbit[3] - orbit[1]
        return wire.EphemerisState(
            stamp_ns=wire.to_ns(max(now, 0.0)), frame_id="lvlh", target="ogs", tle_age_s=now - self.eph.tle.epoch_unix_s,
            az_rad=az, el_rad=el, el_refracted_rad=el, range_m=tgt.range_m, az_rate_radps=tgt.az_rate_radps,
            el_rate_radps=tgt.el_rate_radps, range_rate_mps=float(np.dot(d, dd)) / float(np.linalg.norm(d)),
            point_ahead_az_rad=2.0 * tgt.transmit_offset_az_rad, point_ahead_el_rad=2.0 * tgt.transmit_offset_el_rad,
            point_ahead_rad=tgt.point_ahead_rad, visible=bool(orbit[4]),
            sun_separation_rad=math.nan if sun is None else float(angular_separation_rad(az, el, *sun)))

    def fsm_ephemeris(self, now: float, orbit, tgt, lvlh: wire.EphemerisState) -> wire.EphemerisState | None:
        """``lvlh`` with the point-ahead in the body tangent frame (None without a fresh attitude)."""
        if self.adcs is None or now - self.adcs_t > self.config.adcs_timeout_s:
            return None
        q = tuple(self.adcs.attitude_wxyz)
        off_az, off_el = tgt.transmit_offset_az_rad, tgt.transmit_offset_el_rad
        geo_az, geo_el = lvlh.az_rad, lvlh.el_rad  # the geometric line of sight
        try:  # received beacon half the point-ahead behind it, transmit direction half ahead
            rx = body_tangent_coords(q, lvlh_direction(geo_az - off_az, geo_el - off_el, orbit[0], orbit[1]),
                                     self.boresight)
            tx = body_tangent_coords(q, lvlh_direction(geo_az + off_az, geo_el + off_el, orbit[0], orbit[1]),
                                     self.boresight)
        except ControlError as exc:
            self.count("rejected_bad_attitude_for_point_ahead")
            self.notes.append(str(exc))
            return None
        pa = tx - rx
        return wire.EphemerisState(
            stamp_ns=lvlh.stamp_ns, frame_id="body_tangent", target=lvlh.target, tle_age_s=lvlh.tle_age_s,
            range_m=lvlh.range_m, range_rate_mps=lvlh.range_rate_mps, point_ahead_az_rad=float(pa[0]),
            point_ahead_el_rad=float(pa[1]), point_ahead_rad=lvlh.point_ahead_rad, visible=lvlh.visible,
            sun_separation_rad=lvlh.sun_separation_rad)

    def state(self, now: float, res) -> CoreActuatorState:
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
        out = {"tle": self.eph.tle.name if self.eph is not None else "none"}
        if self.last is not None:
            cmd = self.last.command
            out.update(mode=cmd.mode.name, target_az_mrad=f"{cmd.axis1_rad * 1e3:.3f}",
                       target_el_mrad=f"{cmd.axis2_rad * 1e3:.3f}")
        out["offload_x_urad"] = f"{self.offload_rad[0] * 1e6:.1f}"
        out["offload_y_urad"] = f"{self.offload_rad[1] * 1e6:.1f}"
        if self.last_target is not None:
            out["point_ahead_urad"] = f"{self.last_target.point_ahead_rad * 1e6:.2f}"
        if self.adcs is not None:
            out["adcs_mode"] = self.adcs.mode
        return out
