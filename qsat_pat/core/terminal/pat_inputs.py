"""The PAT manager: the state machine's inputs from plain values, its steps, the laser interlock.

``pat_manager`` (and the in-process simulation) hold a :class:`PatManager`.  On its
``control`` timer (``control_rate_hz``; ``step_on = "timer"``, the default: the machine keeps
stepping whatever its inputs do, so a dead gimbal cannot freeze it) -- or, with ``step_on =
"mount_state"``, at each mount_state message's stamp and on the timer whenever no mount_state
has stepped it for two timer periods -- it builds
:class:`~qsat_pat.core.pat.PatInputs` from the latest inputs, steps the
:class:`~qsat_pat.core.pat.PatStateMachine` and evaluates the
:class:`~qsat_pat.core.safety.LaserInterlock`: pointing is safe when the ephemeris says the
line of sight is outside the Sun cone and above the mask.  Without any ``mount_state`` the
coarse stage is taken as at target when the target is visible, and parked once PARK is entered
(set-ups without a mount).

Inputs decided once (issue 13; the in-process loop and the node used to differ):

* **time to AOS** from the pass plan (``pass_plan``: the ephemeris node's next pass, or the
  satellite attitude software's next AOS), so SLEW_TO_AOS starts ``aos_lead_s`` before the
  pass; without a plan, 0 while visible and infinite otherwise;
* **at target**: the angular separation of the mount's reading from its set-point
  (``mount_command``; without one, from the ephemeris) within ``at_target_tolerance_rad``;
* **coarse error**: the spot's angle from the coarse camera's boresight through the camera's
  2x2 pixel-to-angle matrix ``coarse_rad_per_px`` (rotation and unequal scales included),
  the same description ``fsm_controller`` uses for its hand-back.

Time: a step older than the last one by up to ``clock_reset_s`` is a stale message and is
dropped (counted); a bigger jump back means the clock was reset (restarted simulation,
looping bag replay) and the machine restarts in IDLE with the laser off.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.control import Mode
from qsat_pat.core.errors import ConfigError, Rejected
from qsat_pat.core.params import param
from qsat_pat.core.pat import PatConfig, PatInputs, PatState, PatStateMachine
from qsat_pat.core.safety import LaserInterlock, SafetyConfig, angular_separation_rad
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart

__all__ = ["PatManager", "PatManagerConfig", "coarse_error_rad", "time_to_aos_s"]


@dataclass(frozen=True)
class PatManagerConfig(PatConfig, SafetyConfig):
    """Parameters of ``pat_manager``: PAT thresholds, safety limits and the manager's own."""

    enabled: bool = param(True, "run passes (false: stop and park)")
    control_rate_hz: float = param(100.0, "state machine update rate (timer)", unit="Hz", min_value=0.1,
                                   max_value=1000.0)
    status_rate_hz: float = param(2.0, "periodic PatStatus rate", unit="Hz", min_value=0.01, max_value=100.0)
    ephemeris_timeout_s: float = param(5.0, "ephemeris older than this is invalid", unit="s",
                                       min_value=0.01, max_value=3600.0)
    coarse_rad_per_px: tuple = param((8.5e-6, 0.0, 0.0, 8.5e-6),
                                     "row-major 2x2: coarse-camera pixels -> angle (seed 004: 1.2 deg / 2448 px); "
                                     "the coarse error is |M @ (centroid - set-point)|", unit="rad/px",
                                     min_value=-1.0, max_value=1.0)
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
    step_on: str = param("timer", "what steps the state machine: its timer at control_rate_hz, or each "
                         "mount_state message at its stamp (the timer still steps it when mount_state has been "
                         "silent for two timer periods)", choices=("timer", "mount_state"), read_only=True)

    def check(self) -> None:
        if len(self.coarse_rad_per_px) != 4:
            raise ConfigError(f"PatManagerConfig.coarse_rad_per_px needs 4 values (row-major 2x2), "
                              f"got {self.coarse_rad_per_px}")

    def pat_config(self) -> PatConfig:
        return self.subset(PatConfig)

    def safety_config(self) -> SafetyConfig:
        return self.subset(SafetyConfig)


def coarse_error_rad(x_px: float, y_px: float, rad_per_px, setpoint_px) -> float:
    """Angle of a coarse-camera spot from the boresight [rad]: ``|M @ (c - s)|``."""
    m = np.reshape(np.asarray(rad_per_px, dtype=float), (2, 2))
    d = np.array([x_px - setpoint_px[0], y_px - setpoint_px[1]])
    return float(np.hypot(*(m @ d)))


def time_to_aos_s(now_s: float, visible: bool, aos_unix_s: float | None, los_unix_s: float | None) -> float:
    """Time to the next acquisition of signal [s]: 0 while visible or inside the planned pass
    (the plan's AOS and the ephemeris's mask may differ by a few ms: a pass that has begun is
    not "beyond the slew lead"); from the pass plan's AOS when it is ahead; otherwise infinite."""
    if visible:
        return 0.0
    if aos_unix_s is None or (los_unix_s is not None and now_s >= los_unix_s):
        return math.inf
    return max(aos_unix_s - now_s, 0.0) if los_unix_s is not None or aos_unix_s > now_s else math.inf


class PatManager(TerminalPart):
    """Owns the PAT mode and the laser interlock (see the module docstring)."""

    INPUTS = (Port("ephemeris", "EphemerisState", "state", "on_ephemeris"),
              Port("pass_plan", "String", "state", "on_pass_plan"),
              Port("coarse_centroid", "BeaconCentroid", "stream", "on_coarse"),
              Port("fine_centroid", "BeaconCentroid", "stream", "on_fine"),
              Port("fsm_state", "ActuatorState", "stream", "on_fsm_state"),
              Port("mount_state", "ActuatorState", "stream", "on_mount"),
              Port("mount_command", "PointingCommand", "command", "on_mount_command"))
    OUTPUTS = (Port("pat_status", "PatStatus", "state"),)

    def __init__(self, config: PatManagerConfig, now_ns: int = 0) -> None:
        super().__init__(config)
        self.machine: PatStateMachine | None = None
        self._build(config, wire.clock_s(now_ns))
        self.stepped = False  # the first step may come before the start time (stamps)
        self.eph: wire.EphemerisState | None = None
        self.eph_t: float | None = None
        self.aos_unix_s: float | None = None
        self.los_unix_s: float | None = None
        self.coarse_hit = False
        self.coarse_err = math.nan
        self.fine_hit = False
        self.faults: dict[str, str] = {}
        self.mount: wire.ActuatorState | None = None
        self.mount_cmd: wire.PointingCommand | None = None
        self.mount_rx_t: float | None = None  # clock at the last mount_state (step_on mount_state)
        self.mount_stamp_t = 0.0  # its stamp
        self.laser = None
        self.last_status_t = -math.inf

    def _build(self, cfg: PatManagerConfig, now: float) -> None:
        self.safety = cfg.safety_config()
        old = self.machine
        self.machine = PatStateMachine(cfg.pat_config(), now)
        if old is not None:  # keep the state across a parameter change
            self.machine.state, self.machine.since_s = old.state, old.since_s
        self.interlock = LaserInterlock(self.safety)

    def reconfigure(self, config: PatManagerConfig) -> None:
        self.config = config
        self._build(config, self.machine.last_step_s)

    def timer_periods(self) -> dict[str, float]:
        return {"control": 1.0 / self.config.control_rate_hz}

    # -- inputs ------------------------------------------------------------------------------
    def on_ephemeris(self, msg: wire.EphemerisState, now_ns: int) -> Outputs:
        if not (math.isfinite(msg.el_rad) and math.isfinite(msg.az_rad)):
            raise Rejected("bad_ephemeris", "non-finite az/el in EphemerisState")
        # age from the state's own stamp: a latched state can arrive before the clock has its
        # first reading (simulated time), when now is still 0
        self.eph, self.eph_t = msg, wire.stamp_s(msg.stamp_ns) or wire.clock_s(now_ns)
        return []

    def on_pass_plan(self, text: str, now_ns: int) -> Outputs:
        """The next pass (``{"pass": {"aos_unix_s": ..., "los_unix_s": ...}}``, LOS optional):
        time to AOS."""
        try:
            p = json.loads(text)["pass"]
            aos = float(p["aos_unix_s"])
            los = float(p["los_unix_s"]) if p.get("los_unix_s") is not None else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Rejected("bad_pass_plan", f"pass_plan without a usable pass ({type(exc).__name__}: {exc})") from None
        if not (math.isfinite(aos) and (los is None or (math.isfinite(los) and los >= aos))):
            raise Rejected("bad_pass_plan", f"pass_plan AOS {aos} / LOS {los} not a pass")
        self.aos_unix_s, self.los_unix_s = aos, los
        return []

    def on_coarse(self, msg: wire.BeaconCentroid, now_ns: int) -> Outputs:
        if msg.valid and math.isfinite(msg.x_px) and math.isfinite(msg.y_px):
            c = self.config
            self.coarse_hit = True
            self.coarse_err = coarse_error_rad(msg.x_px, msg.y_px, c.coarse_rad_per_px,
                                               (c.coarse_setpoint_x_px, c.coarse_setpoint_y_px))
        elif msg.valid:
            raise Rejected("non_finite_centroid", "valid coarse centroid with non-finite position")
        return []

    def on_fine(self, msg: wire.BeaconCentroid, now_ns: int) -> Outputs:
        if msg.valid and math.isfinite(msg.x_px) and math.isfinite(msg.y_px):
            self.fine_hit = True
        return []

    def _actuator(self, name: str, msg: wire.ActuatorState) -> None:
        if msg.fault:
            self.faults[name] = msg.fault_reason or "fault"
        else:
            self.faults.pop(name, None)

    def on_fsm_state(self, msg: wire.ActuatorState, now_ns: int) -> Outputs:
        self._actuator("fsm", msg)
        return []

    def on_mount(self, msg: wire.ActuatorState, now_ns: int) -> Outputs:
        self.mount = msg
        self._actuator("mount", msg)
        if self.config.step_on != "mount_state":
            return []
        self.mount_rx_t, self.mount_stamp_t = wire.clock_s(now_ns), wire.stamp_s(msg.stamp_ns)
        return self.step(self.mount_stamp_t, always_publish=True)

    def on_mount_command(self, msg: wire.PointingCommand, now_ns: int) -> Outputs:
        if msg.mode == int(Mode.POSITION) and math.isfinite(msg.axis1_rad) and math.isfinite(msg.axis2_rad):
            self.mount_cmd = msg
        return []

    def on_timer(self, name: str, now_ns: int) -> Outputs:
        now = wire.clock_s(now_ns)
        if self.config.step_on == "mount_state" and self.mount_rx_t is not None:
            quiet_s = now - self.mount_rx_t
            if quiet_s < 2.0 / self.config.control_rate_hz:
                return []  # the coarse stage's states step the machine; the timer covers their absence
            now = self.mount_stamp_t + quiet_s  # on the states' time base
        return self.step(now)

    # -- the step ----------------------------------------------------------------------------
    def pat_inputs(self, now: float) -> tuple[PatInputs, bool]:
        """The machine's inputs at ``now`` and whether pointing is laser-safe."""
        c, eph = self.config, self.eph
        eph_ok = eph is not None and self.eph_t is not None and now - self.eph_t <= c.ephemeris_timeout_s
        visible = bool(eph_ok and eph.visible)
        if self.mount is None:
            at_target = visible
            parked = self.machine.state == PatState.PARK
        else:
            ref = (self.mount_cmd.axis1_rad, self.mount_cmd.axis2_rad) if self.mount_cmd is not None \
                else (eph.az_rad, eph.el_rad) if eph_ok else None
            at_target = bool(ref is not None and float(angular_separation_rad(
                self.mount.axis1_rad, self.mount.axis2_rad, *ref)) <= c.at_target_tolerance_rad)
            parked = self.mount.mode == int(Mode.PARK) and not self.mount.fault
        # The OGS checks its elevation mask; the space terminal's geometry (ogs_ephemeris) carries
        # LVLH angles, not an elevation, so there "above the mask" is the publisher's `visible`.
        above_mask = (eph.el_rad >= c.elevation_mask_rad if c.terminal == "ogs" else visible) if eph_ok else False
        safe = bool(eph_ok and eph.sun_separation_rad >= c.sun_exclusion_rad and above_mask)
        fault = bool(self.faults)
        inp = PatInputs(t_s=now, enabled=c.enabled, ephemeris_valid=eph_ok, target_visible=visible,
                        time_to_aos_s=time_to_aos_s(now, visible, self.aos_unix_s, self.los_unix_s),
                        at_target=at_target, coarse_detected=self.coarse_hit, coarse_error_rad=self.coarse_err,
                        fine_detected=self.fine_hit, parked=parked, fault=fault,
                        fault_reason="; ".join(f"{k}: {v}" for k, v in sorted(self.faults.items())))
        return inp, safe

    def step(self, now: float, always_publish: bool = False) -> Outputs:
        """One state-machine update at ``now`` [s] (timer tick or mount_state stamp)."""
        last = self.machine.last_step_s
        if now < last and not self.stepped:
            self.machine = PatStateMachine(self.machine.config, now)  # stamps older than the start
        elif now < last:
            if last - now <= self.config.clock_reset_s:
                raise Rejected("stale_step", f"step at {now:.3f} s is before the last one ({last:.3f} s): dropped")
            self.count("clock_resets")
            self.notes.append(f"clock went back {last - now:.3f} s (> clock_reset_s {self.config.clock_reset_s} s): "
                              "PAT restarts in IDLE, laser off")
            self.machine = PatStateMachine(self.machine.config, now)
            self.interlock = LaserInterlock(self.safety)
        inp, safe = self.pat_inputs(now)
        self.coarse_hit = self.fine_hit = False
        before = len(self.machine.history)
        self.machine.step(inp)
        self.stepped = True
        self.laser = self.interlock.evaluate(now, tracking=self.machine.tracking, pointing_safe=safe,
                                             fault=inp.fault, operator_enable=self.config.enabled)
        changed = len(self.machine.history) != before
        if changed:
            self.count("transitions")
            self.notes.append(f"PAT {self.machine.previous_state.name} -> {self.machine.state.name}: "
                              f"{self.machine.reason}")
        if changed or always_publish or now - self.last_status_t >= 1.0 / self.config.status_rate_hz:
            self.last_status_t = now
            return [("pat_status", self.status(now))]
        return []

    def status(self, now: float) -> wire.PatStatus:
        m = self.machine
        enabled = bool(self.laser and self.laser.enabled)
        return wire.PatStatus(stamp_ns=wire.to_ns(max(now, 0.0)), terminal=self.config.terminal, state=int(m.state),
                              state_name=m.state.name, previous_state=int(m.previous_state), reason=m.reason,
                              since_ns=wire.to_ns(max(m.since_s, 0.0)), laser_enabled=enabled,
                              inhibit_reason="" if enabled else (self.laser.reason if self.laser else "starting"))

    def diagnostic_values(self) -> dict:
        return {"state": self.machine.state.name, "laser_enabled": bool(self.laser and self.laser.enabled)}
