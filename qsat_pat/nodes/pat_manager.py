"""Node ``pat_manager``: the PAT state machine and the laser interlock (qsat_pat.core.pat, safety).

Inputs
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched): visibility, Sun separation,
    elevation; ``coarse_centroid`` and ``fine_centroid`` (``qsat_pat/BeaconCentroid``):
    detections of the wide-field and fine cameras (remap them to the imaging nodes'
    ``beacon_centroid`` topics); ``fsm_state``, ``mount_state`` (``qsat_pat/ActuatorState``):
    faults and the mount position; ``mount_command`` (``qsat_pat/PointingCommand``): the
    mount's set-point (at target = the mount within ``at_target_tolerance_rad`` of it).
Output
    ``pat_status`` (``qsat_pat/PatStatus``, latched) on every transition and at
    ``status_rate_hz``.

At each ``mount_state`` message's stamp (``step_on = "mount_state"``, the default: the
decision sees the coarse stage's newest state, on hardware and in the simulator's lockstep
alike), and on a timer at ``control_rate_hz`` whenever no mount_state has stepped it for a
timer period (or at every tick with ``step_on = "timer"``), the node builds
:class:`~qsat_pat.core.pat.PatInputs` from the latest inputs (time from the node clock), steps
the machine and evaluates the
:class:`~qsat_pat.core.safety.LaserInterlock`: pointing is safe when the ephemeris says
the line of sight is outside the Sun cone and above the mask.  Without any
``mount_state`` the coarse stage is assumed at target when the target is visible and
parked once PARK is entered (documented simplification for set-ups without a mount).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from qsat_pat.core.control import Mode
from qsat_pat.core.params import param
from qsat_pat.core.pat import PatConfig, PatInputs, PatState, PatStateMachine
from qsat_pat.core.safety import LaserInterlock, SafetyConfig, angular_separation_rad
from qsat_pat.msg import ActuatorState, BeaconCentroid, EphemerisState, PatStatus, PointingCommand
from qsat_pat.nodes.convert import s_to_stamp, stamp_to_s
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


@dataclass(frozen=True)
class PatManagerConfig(PatConfig, SafetyConfig):
    """Parameters of ``pat_manager``: PAT thresholds, safety limits and the node's own."""

    enabled: bool = param(True, "run passes (false: stop and park)")
    control_rate_hz: float = param(20.0, "state machine update rate", unit="Hz", min_value=0.1, max_value=1000.0)
    status_rate_hz: float = param(2.0, "periodic PatStatus rate", unit="Hz", min_value=0.01, max_value=100.0)
    ephemeris_timeout_s: float = param(5.0, "ephemeris older than this is invalid", unit="s",
                                       min_value=0.01, max_value=3600.0)
    coarse_rad_per_px: float = param(8.5e-6, "coarse camera angle per pixel (seed 004: 1.2 deg / 2448 px)",
                                     unit="rad/px", min_value=1e-9, max_value=1.0)
    coarse_setpoint_x_px: float = param(1224.0, "coarse closed-loop point, column", unit="px",
                                        min_value=-1e5, max_value=1e5)
    coarse_setpoint_y_px: float = param(1025.0, "coarse closed-loop point, row", unit="px",
                                        min_value=-1e5, max_value=1e5)
    at_target_tolerance_rad: float = param(2e-3, "mount within this of its last set-point (mount_command; "
                                           "without one: of the ephemeris) = at target", unit="rad",
                                           min_value=1e-6, max_value=1.0)
    clock_reset_s: float = param(1.0, "a step this far before the last one means the clock was reset "
                                 "(simulation restart, looping bag replay): start over in IDLE, laser off; "
                                 "a smaller step back is a stale message and is dropped", unit="s",
                                 min_value=0.0, max_value=3600.0)
    step_on: str = param("mount_state", "what steps the state machine: each mount_state message at its stamp "
                         "(the coarse stage's state: the decision sees the newest; the timer at control_rate_hz "
                         "still steps it when mount_state is older than a timer period), or the timer alone",
                         choices=("timer", "mount_state"), read_only=True)


class PatManagerNode(QsatPatNode):
    """Owns the PAT mode and the laser interlock (see the module docstring)."""

    config_class = PatManagerConfig
    default_name = "pat_manager"

    def on_setup(self) -> None:
        self._build(self.config)
        self.stepped = False  # the first step may come before the node's start time (stamps)
        self.eph: EphemerisState | None = None
        self.eph_t: float | None = None
        self.coarse_hit = False
        self.coarse_err = math.nan
        self.fine_hit = False
        self.faults: dict[str, str] = {}
        self.mount: ActuatorState | None = None
        self.laser = None
        self.last_status_t = -math.inf
        self.pub = self.create_lifecycle_publisher(PatStatus, "pat_status", Qos.STATE)
        self.subs = [
            self.create_subscription(EphemerisState, "ephemeris", self.on_ephemeris, Qos.STATE),
            self.create_subscription(BeaconCentroid, "coarse_centroid", self.on_coarse, Qos.STREAM),
            self.create_subscription(BeaconCentroid, "fine_centroid", self.on_fine, Qos.STREAM),
            self.create_subscription(ActuatorState, "fsm_state", lambda m: self.on_actuator("fsm", m), Qos.STREAM),
            self.create_subscription(ActuatorState, "mount_state", self.on_mount, Qos.STREAM),
            self.create_subscription(PointingCommand, "mount_command", self.on_mount_command, Qos.COMMAND),
        ]
        self.mount_cmd: PointingCommand | None = None
        self.mount_rx_t: float | None = None  # node clock at the last mount_state (step_on mount_state)
        self.mount_stamp_t = 0.0  # its stamp
        self.timer = self.create_timer(1.0 / self.config.control_rate_hz, self.on_timer)

    def _build(self, cfg: PatManagerConfig) -> None:
        d = cfg.as_dict()
        pat_cfg = PatConfig(**{k: v for k, v in d.items() if k in PatConfig.__dataclass_fields__})
        self.safety = SafetyConfig(**{k: v for k, v in d.items() if k in SafetyConfig.__dataclass_fields__})
        old = getattr(self, "machine", None)
        self.machine = PatStateMachine(pat_cfg, self.now_s())
        if old is not None:  # keep the state across a parameter change
            self.machine.state, self.machine.since_s = old.state, old.since_s
        self.interlock = LaserInterlock(self.safety)

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "machine"):
            self._build(new)

    def on_ephemeris(self, msg: EphemerisState) -> None:
        if not (math.isfinite(msg.el_rad) and math.isfinite(msg.az_rad)):
            self.reject("bad_ephemeris", "non-finite az/el in EphemerisState")
            return
        # age from the state's own stamp: a latched state can arrive before this node's clock
        # has its first reading (simulated time), when now_s() is still 0
        self.eph, self.eph_t = msg, stamp_to_s(msg.header.stamp) or self.now_s()

    def on_coarse(self, msg: BeaconCentroid) -> None:
        if msg.valid and math.isfinite(msg.x_px) and math.isfinite(msg.y_px):
            self.coarse_hit = True
            c = self.config
            self.coarse_err = c.coarse_rad_per_px * math.hypot(msg.x_px - c.coarse_setpoint_x_px,
                                                               msg.y_px - c.coarse_setpoint_y_px)
        elif msg.valid:
            self.reject("non_finite_centroid", "valid coarse centroid with non-finite position")

    def on_fine(self, msg: BeaconCentroid) -> None:
        if msg.valid and math.isfinite(msg.x_px) and math.isfinite(msg.y_px):
            self.fine_hit = True

    def on_actuator(self, name: str, msg: ActuatorState) -> None:
        if msg.fault:
            self.faults[name] = msg.fault_reason or "fault"
        else:
            self.faults.pop(name, None)

    def on_mount(self, msg: ActuatorState) -> None:
        self.mount = msg
        self.on_actuator("mount", msg)
        if self.config.step_on == "mount_state":
            self.mount_rx_t, self.mount_stamp_t = self.now_s(), stamp_to_s(msg.header.stamp)
            self.step(self.mount_stamp_t, always_publish=True)

    def on_mount_command(self, msg: PointingCommand) -> None:
        if msg.mode == int(Mode.POSITION) and math.isfinite(msg.axis1_rad) and math.isfinite(msg.axis2_rad):
            self.mount_cmd = msg

    def _inputs(self, now: float) -> tuple[PatInputs, bool]:
        c = self.config
        eph_ok = self.eph is not None and self.eph_t is not None and now - self.eph_t <= c.ephemeris_timeout_s
        visible = bool(eph_ok and self.eph.visible)
        if self.mount is None:
            at_target = visible
            parked = self.machine.state == PatState.PARK
        else:
            ref = (self.mount_cmd.axis1_rad, self.mount_cmd.axis2_rad) if self.mount_cmd is not None \
                else (self.eph.az_rad, self.eph.el_rad) if eph_ok else None
            at_target = bool(ref is not None and float(angular_separation_rad(
                self.mount.axis1_rad, self.mount.axis2_rad, *ref)) <= c.at_target_tolerance_rad)
            parked = self.mount.mode == int(Mode.PARK) and not self.mount.fault
        # The OGS checks its elevation mask; the space terminal's geometry (ogs_ephemeris) carries
        # LVLH angles, not an elevation, so there "above the mask" is the publisher's `visible`.
        above_mask = (self.eph.el_rad >= c.elevation_mask_rad if c.terminal == "ogs" else visible) \
            if eph_ok else False
        safe = bool(eph_ok and self.eph.sun_separation_rad >= c.sun_exclusion_rad and above_mask)
        fault = bool(self.faults)
        inp = PatInputs(t_s=now, enabled=c.enabled, ephemeris_valid=eph_ok, target_visible=visible,
                        time_to_aos_s=0.0 if visible else math.inf, at_target=at_target,
                        coarse_detected=self.coarse_hit, coarse_error_rad=self.coarse_err,
                        fine_detected=self.fine_hit, parked=parked, fault=fault,
                        fault_reason="; ".join(f"{k}: {v}" for k, v in sorted(self.faults.items())))
        return inp, safe

    def on_timer(self) -> None:
        now = self.now_s()
        if self.config.step_on == "mount_state" and self.mount_rx_t is not None:
            quiet_s = now - self.mount_rx_t
            if quiet_s < 1.0 / self.config.control_rate_hz:
                return  # the coarse stage's states step the machine; the timer covers their absence
            # on the time base of the states' stamps, advanced by the node clock since the last one
            now = self.mount_stamp_t + quiet_s
        self.step(now)

    def step(self, now: float, always_publish: bool = False) -> None:
        """One state-machine update at ``now`` [s] (timer tick or mount_state stamp)."""
        if not self.active:
            return
        last = self.machine.last_step_s
        if now < last and not self.stepped:
            self.machine = PatStateMachine(self.machine.config, now)  # stamps older than the start
        elif now < last:
            if last - now <= self.config.clock_reset_s:
                self.reject("stale_step", f"step at {now:.3f} s is before the last one ({last:.3f} s): dropped")
                return
            self.count("clock_resets")
            self.get_logger().warning(f"clock went back {last - now:.3f} s (> clock_reset_s "
                                      f"{self.config.clock_reset_s} s): PAT restarts in IDLE, laser off")
            self.machine = PatStateMachine(self.machine.config, now)
            self.interlock = LaserInterlock(self.safety)
        inp, safe = self._inputs(now)
        self.coarse_hit = self.fine_hit = False
        before = len(self.machine.history)
        self.machine.step(inp)
        self.stepped = True
        self.laser = self.interlock.evaluate(now, tracking=self.machine.tracking, pointing_safe=safe,
                                             fault=inp.fault, operator_enable=self.config.enabled)
        changed = len(self.machine.history) != before
        if changed:
            self.count("transitions")
            self.get_logger().info(f"PAT {self.machine.previous_state.name} -> {self.machine.state.name}: "
                                   f"{self.machine.reason}")
        if changed or always_publish or now - self.last_status_t >= 1.0 / self.config.status_rate_hz:
            self.last_status_t = now
            self.pub.publish(self.status_msg(now))

    def status_msg(self, now: float) -> PatStatus:
        m = self.machine
        msg = PatStatus()
        msg.header.stamp = s_to_stamp(max(now, 0.0))
        msg.terminal = self.config.terminal
        msg.state = int(m.state)
        msg.state_name = m.state.name
        msg.previous_state = int(m.previous_state)
        msg.reason = m.reason
        msg.since = s_to_stamp(max(m.since_s, 0.0))
        msg.laser_enabled = bool(self.laser and self.laser.enabled)
        msg.inhibit_reason = "" if msg.laser_enabled else (self.laser.reason if self.laser else "starting")
        return msg

    def diagnostic_values(self) -> dict:
        return {"state": self.machine.state.name if hasattr(self, "machine") else "",
                "laser_enabled": bool(self.laser and self.laser.enabled)}


NODE_CLASS = PatManagerNode
main = make_main(PatManagerNode)

if __name__ == "__main__":
    sys.exit(main())
