"""Where the other terminal is: the ephemeris tick, the mount set-point and the pass plan.

``ephemeris`` (and the in-process simulation) hold an :class:`EphemerisFeed`; its node
module's docstring describes the TLE sources and the topics.  Every ``1/rate_hz`` it gives the
apparent direction with rates, point-ahead, Sun separation and visibility
(:meth:`~qsat_pat.core.ephemeris.Ephemeris.state_at`), a mount set-point (from the whole-pass
plan of :func:`~qsat_pat.core.passplan.plan_pass` while a planned pass is on, else the
refracted apparent direction while the target is above the mask) and, once per pass, the
pass plan (JSON with the pass's AOS/LOS as UTC and as ``aos_unix_s``/``los_unix_s``: the PAT
manager's time to AOS).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.control import Mode, Stage
from qsat_pat.core.ephemeris import (
    Ephemeris,
    EphemerisConfig,
    format_passes,
    load_tle_file,
    parse_tle,
    parse_tle_text,
    select_tle,
)
from qsat_pat.core.errors import QsatPatError, Rejected
from qsat_pat.core.params import param
from qsat_pat.core.passplan import MountConfig, PassPlan, plan_pass
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart

__all__ = ["EphemerisFeed", "EphemerisNodeConfig", "ephemeris_wire", "plan_setpoint"]


@dataclass(frozen=True)
class EphemerisNodeConfig(EphemerisConfig):
    """Parameters of the ``ephemeris`` node: :class:`EphemerisConfig` plus source, rate and mount."""

    tle_file: str = param("", "TLE file (used when tle_line1/2 are empty)")
    tle_line1: str = param("", "TLE line 1 (takes precedence over tle_file)")
    tle_line2: str = param("", "TLE line 2")
    tle_name: str = param("", "satellite name (or catalogue number to pick from tle_file)")
    rate_hz: float = param(10.0, "publication rate", unit="Hz", min_value=0.1, max_value=1000.0)
    plan_passes: bool = param(True, "plan each pass for the mount before AOS (else raw az/el set-points)")
    plan_search_days: float = param(1.0, "how far ahead to look for the next pass", unit="day",
                                    min_value=0.01, max_value=7.0)
    mount_az_min_deg: float = param(-270.0, "mount lowest azimuth", unit="deg", min_value=-720.0, max_value=0.0)
    mount_az_max_deg: float = param(270.0, "mount highest azimuth", unit="deg", min_value=0.0, max_value=720.0)
    mount_el_min_deg: float = param(-5.0, "mount lowest elevation", unit="deg", min_value=-30.0, max_value=30.0)
    mount_el_max_deg: float = param(95.0, "mount highest elevation", unit="deg", min_value=60.0, max_value=185.0)
    mount_az_rate_max_dps: float = param(10.0, "mount azimuth rate limit", unit="deg/s", min_value=0.01,
                                         max_value=200.0)
    mount_az_acc_max_dps2: float = param(5.0, "mount azimuth acceleration limit", unit="deg/s^2",
                                         min_value=0.01, max_value=500.0)
    mount_el_rate_max_dps: float = param(10.0, "mount elevation rate limit", unit="deg/s", min_value=0.01,
                                         max_value=200.0)
    mount_el_acc_max_dps2: float = param(5.0, "mount elevation acceleration limit", unit="deg/s^2",
                                         min_value=0.01, max_value=500.0)
    mount_fov_half_angle_deg: float = param(0.5, "acquisition field-of-view half-angle", unit="deg",
                                            min_value=0.001, max_value=10.0)

    def ephemeris_config(self) -> EphemerisConfig:
        """The core ephemeris part of this configuration."""
        return self.subset(EphemerisConfig)

    def mount_config(self) -> MountConfig:
        """The mount limits of this configuration."""
        return MountConfig(
            az_min_deg=self.mount_az_min_deg, az_max_deg=self.mount_az_max_deg,
            el_min_deg=self.mount_el_min_deg, el_max_deg=self.mount_el_max_deg,
            az_rate_max_dps=self.mount_az_rate_max_dps, az_acc_max_dps2=self.mount_az_acc_max_dps2,
            el_rate_max_dps=self.mount_el_rate_max_dps, el_acc_max_dps2=self.mount_el_acc_max_dps2,
            fov_half_angle_deg=self.mount_fov_half_angle_deg)


def plan_setpoint(plan: PassPlan, t_s: float) -> tuple[float, float, float, float] | None:
    """Interpolated (az, el, az_rate, el_rate) of a plan at ``t_s``, or None outside it."""
    if not plan.t_unix_s[0] <= t_s <= plan.t_unix_s[-1]:
        return None
    return tuple(float(np.interp(t_s, plan.t_unix_s, a)) for a in
                 (plan.az_rad, plan.el_rad, plan.az_rate_radps, plan.el_rate_radps))


def ephemeris_wire(state) -> wire.EphemerisState:
    """A ``core.ephemeris.EphemerisState`` as a message."""
    return wire.EphemerisState(
        stamp_ns=wire.to_ns(state.t_unix_s), target=state.target, tle_age_s=float(state.tle_age_s),
        az_rad=float(state.az_rad), el_rad=float(state.el_rad), el_refracted_rad=float(state.el_refracted_rad),
        range_m=float(state.range_m), az_rate_radps=float(state.az_rate_radps),
        el_rate_radps=float(state.el_rate_radps), range_rate_mps=float(state.range_rate_mps),
        point_ahead_az_rad=float(state.point_ahead_az_rad), point_ahead_el_rad=float(state.point_ahead_el_rad),
        point_ahead_rad=float(state.point_ahead_rad), sun_separation_rad=float(state.sun_separation_rad),
        hwp_angle_rad=float(state.hwp_angle_rad), visible=bool(state.visible))


class EphemerisFeed(TerminalPart):
    """Publishes the ephemeris, mount set-points and pass plan (module docstring)."""

    INPUTS = (Port("tle", "String", "state", "on_tle"),)
    OUTPUTS = (Port("ephemeris", "EphemerisState", "state"), Port("mount_setpoint", "PointingCommand", "command"),
               Port("pass_plan", "String", "state"))

    def __init__(self, config: EphemerisNodeConfig) -> None:
        super().__init__(config)
        self.eph: Ephemeris | None = None
        self.plan: PassPlan | None = None
        self.next_pass = None
        self.no_pass_until_s = -math.inf
        self.last_state = None
        self.load_tle_from_parameters()

    def timer_periods(self) -> dict[str, float]:
        return {"tick": 1.0 / self.config.rate_hz}

    def reconfigure(self, new: EphemerisNodeConfig) -> None:
        old, self.config = self.config, new
        tle_fields = ("tle_line1", "tle_line2", "tle_file", "tle_name")
        if any(getattr(old, f) != getattr(new, f) for f in tle_fields):
            self.load_tle_from_parameters()  # a new TLE by parameter (ros2 param set, a simulator)
            return
        if self.eph is not None:
            self.eph = Ephemeris(self.eph.tle, new.ephemeris_config())
            self.plan = None

    # -- TLE sources ---------------------------------------------------------------------------
    def load_tle_from_parameters(self) -> None:
        cfg = self.config
        try:
            if cfg.tle_line1 or cfg.tle_line2:
                self._use(parse_tle(cfg.tle_line1, cfg.tle_line2, cfg.tle_name or None))
            elif cfg.tle_file:
                self._use(load_tle_file(cfg.tle_file, cfg.tle_name or None))
        except QsatPatError as exc:
            self.count("rejected_bad_tle")
            self.notes.append(f"TLE from parameters refused: {exc}")

    def _use(self, tle) -> None:
        self.eph = Ephemeris(tle, self.config.ephemeris_config())
        self.plan = None
        self.next_pass = None
        self.no_pass_until_s = -math.inf
        self.count("tle_loaded")

    def on_tle(self, text: str, now_ns: int) -> Outputs:
        try:
            sets = parse_tle_text(text)
        except QsatPatError as exc:
            raise Rejected("bad_tle", f"TLE on topic refused, keeping {self.tle_name()}: {exc}") from None
        self._use(select_tle(sets, self.config.tle_name))
        return []

    def tle_name(self) -> str:
        return self.eph.tle.name if self.eph is not None else "no TLE"

    # -- periodic output -------------------------------------------------------------------------
    def on_timer(self, name: str, now_ns: int) -> Outputs:
        if self.eph is None:
            self.count("no_tle_ticks")
            return []
        t = wire.clock_s(now_ns)
        try:
            state = self.eph.state_at(t)
        except QsatPatError as exc:
            raise Rejected("ephemeris_error", str(exc)) from None
        self.last_state = state
        out: Outputs = [("ephemeris", ephemeris_wire(state))]
        self.count("states")
        if self.config.plan_passes:
            plan = self.update_plan(t)
            if plan is not None:
                out.append(("pass_plan", plan))
        sp = plan_setpoint(self.plan, t) if self.plan is not None else None
        reason = f"pass plan ({self.plan.mode})" if sp is not None else "ephemeris"
        if sp is None and state.visible:
            sp = (state.az_rad, state.el_refracted_rad, state.az_rate_radps, state.el_rate_radps)
        if sp is not None:
            out.append(("mount_setpoint", wire.PointingCommand(
                stamp_ns=wire.to_ns(t), stage=int(Stage.MOUNT), mode=int(Mode.POSITION), axis1_rad=sp[0],
                axis2_rad=sp[1], axis1_rate_radps=sp[2], axis2_rate_radps=sp[3], reason=reason)))
            self.count("mount_setpoints")
        return out

    def update_plan(self, t: float) -> str | None:
        """Plan the next pass once (its JSON document when newly planned, else None)."""
        if self.plan is not None and t <= self.plan.t_unix_s[-1]:
            return None
        if self.next_pass is not None and t <= self.next_pass.los_unix_s:
            return None  # this pass was planned (or found unplannable) already
        if t < self.no_pass_until_s:
            return None
        try:
            passes = self.eph.passes(t, t + self.config.plan_search_days * 86400.0)
            upcoming = [p for p in passes if p.los_unix_s > t]
            self.plan = None
            self.next_pass = upcoming[0] if upcoming else None
            if self.next_pass is None:
                self.no_pass_until_s = t + 0.5 * self.config.plan_search_days * 86400.0
                return None
            self.plan = plan_pass(self.eph, self.next_pass, self.config.mount_config())
        except QsatPatError as exc:
            self.no_pass_until_s = t + 60.0
            raise Rejected("plan_error", str(exc)) from None
        doc = {"satellite": self.eph.tle.name,
               "pass": {**format_passes([self.next_pass])[0], "aos_unix_s": self.next_pass.aos_unix_s,
                        "los_unix_s": self.next_pass.los_unix_s},
               "mode": self.plan.mode, "feasible": self.plan.feasible,
               "max_error_deg": math.degrees(self.plan.max_error_rad),
               "lost_intervals_unix_s": [list(iv) for iv in self.plan.lost_intervals]}
        self.count("plans")
        return json.dumps(doc)

    def diagnostic_values(self) -> dict:
        out = {"tle": self.tle_name()}
        if self.eph is not None:
            out["tle_epoch_unix_s"] = f"{self.eph.tle.epoch_unix_s:.3f}"
        if self.last_state is not None:
            out["el_deg"] = f"{math.degrees(self.last_state.el_rad):.3f}"
            out["visible"] = str(self.last_state.visible)
        if self.next_pass is not None:
            out["next_aos_unix_s"] = f"{self.next_pass.aos_unix_s:.3f}"
        if self.plan is not None:
            out["plan_mode"] = self.plan.mode
            out["plan_feasible"] = str(self.plan.feasible)
        return out
