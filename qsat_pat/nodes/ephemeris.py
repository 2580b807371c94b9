"""Node ``ephemeris``: where the other terminal is, mount set-points and the point-ahead.

TLE source, in order: parameters ``tle_line1``/``tle_line2`` (with ``tle_name``), else the
file ``tle_file`` (first set, or the one named ``tle_name``), and at any time the topic
``tle`` (``std_msgs/String``, two- or three-line text).  A TLE that fails validation is
rejected (counted and reported on ``/diagnostics``) and the last good one is kept.

Outputs, every ``1/rate_hz`` on the node clock (``use_sim_time`` respected):

* ``ephemeris`` (``qsat_pat/EphemerisState``, latched): apparent az/el (light-time and
  aberration), refracted elevation, light-time range, analytic rates, point-ahead (the
  fine loop's set-point offset), Sun separation, HWP set-point, visibility, TLE age;
* ``mount_setpoint`` (``qsat_pat/PointingCommand``, stage MOUNT, mode POSITION with rate
  feed-forward): from the whole-pass plan (:func:`qsat_pat.core.passplan.plan_pass`,
  wrap/flip/over-the-top decided before AOS, pre-positioning included) while a planned
  pass is on, else the refracted apparent az/el while the target is above the mask;
  nothing is sent otherwise;
* ``pass_plan`` (``std_msgs/String``, latched JSON): next pass (AOS/TCA/LOS, max el),
  the chosen mount mode, feasibility and the intervals where the target would leave
  the field of view.

Ephemeris errors at run time (TLE too old for the requested time, SGP4 failure) are
counted as rejections and the node keeps running.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

import numpy as np
from std_msgs.msg import String

from qsat_pat.core.ephemeris import (
    Ephemeris,
    EphemerisConfig,
    format_passes,
    load_tle_file,
    parse_tle,
    parse_tle_text,
    select_tle,
)
from qsat_pat.core.ephemeris import (
    EphemerisState as CoreState,
)
from qsat_pat.core.errors import QsatPatError
from qsat_pat.core.params import param
from qsat_pat.core.passplan import MountConfig, PassPlan, plan_pass
from qsat_pat.msg import EphemerisState, PointingCommand
from qsat_pat.nodes.convert import ephemeris_state_to_msg, s_to_stamp
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


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
        names = EphemerisConfig.__dataclass_fields__
        return EphemerisConfig(**{k: v for k, v in self.as_dict().items() if k in names})

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


class EphemerisNode(QsatPatNode):
    """Publishes the ephemeris, mount set-points and pass plan (see the module docstring)."""

    config_class = EphemerisNodeConfig
    default_name = "ephemeris"

    def on_setup(self) -> None:
        self.eph: Ephemeris | None = None
        self.plan: PassPlan | None = None
        self.next_pass = None
        self.no_pass_until_s = -math.inf
        self.last_state: CoreState | None = None
        self.state_pub = self.create_lifecycle_publisher(EphemerisState, "ephemeris", Qos.STATE)
        self.mount_pub = self.create_lifecycle_publisher(PointingCommand, "mount_setpoint", Qos.COMMAND)
        self.plan_pub = self.create_lifecycle_publisher(String, "pass_plan", Qos.STATE)
        self.tle_sub = self.create_subscription(String, "tle", self.on_tle, Qos.STATE)
        self.timer = self.create_timer(1.0 / self.config.rate_hz, self.on_tick)
        self._load_tle_from_parameters()

    def on_teardown(self) -> None:
        if getattr(self, "timer", None) is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        if getattr(self, "tle_sub", None) is not None:
            self.destroy_subscription(self.tle_sub)
            self.tle_sub = None

    def on_config_changed(self, old, new) -> None:
        tle_fields = ("tle_line1", "tle_line2", "tle_file", "tle_name")
        if any(getattr(old, f) != getattr(new, f) for f in tle_fields) and hasattr(self, "timer"):
            self._load_tle_from_parameters()  # a new TLE by parameter (ros2 param set, a simulator)
            return
        tle = self.eph.tle if getattr(self, "eph", None) is not None else None
        if tle is not None:
            self.eph = Ephemeris(tle, new.ephemeris_config())
            self.plan = None
        if old.rate_hz != new.rate_hz and getattr(self, "timer", None) is not None:
            self.destroy_timer(self.timer)
            self.timer = self.create_timer(1.0 / new.rate_hz, self.on_tick)

    # -- TLE sources ---------------------------------------------------------------------
    def _load_tle_from_parameters(self) -> None:
        cfg = self.config
        try:
            if cfg.tle_line1 or cfg.tle_line2:
                self._use(parse_tle(cfg.tle_line1, cfg.tle_line2, cfg.tle_name or None))
            elif cfg.tle_file:
                self._use(load_tle_file(cfg.tle_file, cfg.tle_name or None))
        except QsatPatError as exc:
            self.reject("bad_tle", f"TLE from parameters refused: {exc}")

    def _use(self, tle) -> None:
        self.eph = Ephemeris(tle, self.config.ephemeris_config())
        self.plan = None
        self.next_pass = None
        self.no_pass_until_s = -math.inf
        self.count("tle_loaded")

    def on_tle(self, msg: String) -> None:
        if not self.active:
            return
        try:
            sets = parse_tle_text(msg.data)
        except QsatPatError as exc:
            self.reject("bad_tle", f"TLE on topic refused, keeping {self._tle_name()}: {exc}")
            return
        self._use(select_tle(sets, self.config.tle_name))

    def _tle_name(self) -> str:
        return self.eph.tle.name if self.eph is not None else "no TLE"

    # -- periodic output -------------------------------------------------------------------
    def on_tick(self) -> None:
        if not self.active:
            return
        if self.eph is None:
            self.count("no_tle_ticks")
            return
        t = self.now_s()
        try:
            state = self.eph.state_at(t)
        except QsatPatError as exc:
            self.reject("ephemeris_error", str(exc))
            return
        self.last_state = state
        self.state_pub.publish(ephemeris_state_to_msg(state))
        self.count("states")
        if self.config.plan_passes:
            self._update_plan(t)
        sp = plan_setpoint(self.plan, t) if self.plan is not None else None
        reason = f"pass plan ({self.plan.mode})" if sp is not None else "ephemeris"
        if sp is None and state.visible:
            sp = (state.az_rad, state.el_refracted_rad, state.az_rate_radps, state.el_rate_radps)
        if sp is not None:
            cmd = PointingCommand(stage=PointingCommand.STAGE_MOUNT, mode=PointingCommand.MODE_POSITION,
                                  axis1_rad=sp[0], axis2_rad=sp[1], axis1_rate_radps=sp[2], axis2_rate_radps=sp[3],
                                  reason=reason)
            cmd.header.stamp = s_to_stamp(t)
            self.mount_pub.publish(cmd)
            self.count("mount_setpoints")

    def _update_plan(self, t: float) -> None:
        if self.plan is not None and t <= self.plan.t_unix_s[-1]:
            return
        if self.next_pass is not None and t <= self.next_pass.los_unix_s:
            return  # this pass was planned (or found unplannable) already
        if t < self.no_pass_until_s:
            return
        try:
            passes = self.eph.passes(t, t + self.config.plan_search_days * 86400.0)
            upcoming = [p for p in passes if p.los_unix_s > t]
            self.plan = None
            self.next_pass = upcoming[0] if upcoming else None
            if self.next_pass is None:
                self.no_pass_until_s = t + 0.5 * self.config.plan_search_days * 86400.0
                return
            self.plan = plan_pass(self.eph, self.next_pass, self.config.mount_config())
        except QsatPatError as exc:
            self.no_pass_until_s = t + 60.0
            self.reject("plan_error", str(exc))
            return
        doc = {"satellite": self.eph.tle.name,
               "pass": {**format_passes([self.next_pass])[0], "aos_unix_s": self.next_pass.aos_unix_s,
                        "los_unix_s": self.next_pass.los_unix_s},
               "mode": self.plan.mode, "feasible": self.plan.feasible,
               "max_error_deg": math.degrees(self.plan.max_error_rad),
               "lost_intervals_unix_s": [list(iv) for iv in self.plan.lost_intervals]}
        self.plan_pub.publish(String(data=json.dumps(doc)))
        self.count("plans")

    def diagnostic_values(self) -> dict:
        out = {"tle": self._tle_name()}
        if self.eph is not None:
            out["tle_epoch_unix_s"] = f"{self.eph.tle.epoch_unix_s:.3f}"
            warning = self.eph.tle_age_warning(self.now_s())
            if warning:
                out["tle_age_warning"] = warning
        if self.last_state is not None:
            out["el_deg"] = f"{math.degrees(self.last_state.el_rad):.3f}"
            out["visible"] = str(self.last_state.visible)
        if self.next_pass is not None:
            out["next_aos_unix_s"] = f"{self.next_pass.aos_unix_s:.3f}"
        if self.plan is not None:
            out["plan_mode"] = self.plan.mode
            out["plan_feasible"] = str(self.plan.feasible)
        return out


NODE_CLASS = EphemerisNode
main = make_main(EphemerisNode)

if __name__ == "__main__":
    sys.exit(main())
