"""Node ``gimbal_controller``: ephemeris + FSM offload -> safe mount commands (+ rotctld driver).

Inputs
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched): the target's apparent az and
    refracted elevation with their rates (feed-forward); ``fsm_state``
    (``qsat_pat/ActuatorState``): the mirror position, whose mean is handed over to the
    mount (:class:`~qsat_pat.core.control.FsmOffload`, seed 002 §II.3).
Outputs
    ``mount_command`` (``qsat_pat/PointingCommand``, STAGE_MOUNT) at ``control_rate_hz``;
    ``mount_state`` (``qsat_pat/ActuatorState``).

Every set-point passes :class:`~qsat_pat.core.safety.PointingSafetyFilter` (Sun cone,
elevation mask, axis range, rate/acceleration limits) with the Sun from
:func:`~qsat_pat.core.safety.sun_az_el_rad` at the station (or a fixed Sun for the lab)
and :func:`~qsat_pat.core.safety.validate_command`.  When the ephemeris stops for
``watchdog_period_s`` the node sends MODE_HOLD (and ``S`` to rotctld) and reports
``holding``.  With ``driver = "rotctld"`` the set-points go to a hamlib rotctld
(:mod:`qsat_pat.drivers.rotctld`); a rotator that stops answering is reported as
``fault`` in ``mount_state`` and the node keeps running.

Driver I/O never runs on the executor thread: a :class:`DriverWorker` thread owns the
driver and performs its blocking socket calls (each bounded by ``driver_timeout_s``, with
one reconnect).  The timer only posts the newest set-point (or stop) and a position
request into a one-slot mailbox and reads the worker's last results, so a dead rotator
(each call up to ~2 x ``driver_timeout_s``) cannot stall the timer, the ephemeris and
FSM-offload subscriptions or the diagnostics.  A one-slot mailbox rather than a queue:
a stale mount set-point is worse than none, so while the worker is blocked newer
set-points replace older ones and the backlog never grows.  The worker's fault (the
driver's reason, or "I/O stalled" when one call has been blocked longer than
``driver_stall_s``) is reported in ``mount_state``.  (Alternative considered: a
MutuallyExclusiveCallbackGroup + MultiThreadedExecutor; rejected because the node runs
under the shared single-threaded executor of :func:`qsat_pat.nodes.pattern.run_nodes`
when composed, and a blocked callback would still hold one executor thread per call.)
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.control import FsmConfig, FsmOffload, Mode, OffloadConfig, Stage, los_to_mount_rate
from qsat_pat.core.control import PointingCommand as CorePointingCommand
from qsat_pat.core.errors import ControlError
from qsat_pat.core.params import param
from qsat_pat.core.safety import (
    CommandWatchdog,
    PointingSafetyFilter,
    SafetyConfig,
    sun_az_el_rad,
    validate_command,
)
from qsat_pat.msg import ActuatorState, EphemerisState, PointingCommand
from qsat_pat.nodes.convert import actuator_state_to_msg, pointing_command_to_msg
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


@dataclass(frozen=True)
class GimbalControllerConfig(SafetyConfig, OffloadConfig):
    """Parameters of ``gimbal_controller``: safety limits, FSM offload and the node's own."""

    control_rate_hz: float = param(20.0, "mount command rate", unit="Hz", min_value=0.1, max_value=1000.0)
    watchdog_period_s: float = param(1.0, "hold when no ephemeris arrives for this long", unit="s",
                                     min_value=0.01, max_value=600.0)
    offload_enabled: bool = param(True, "hand the FSM's mean deflection over to the mount")
    site_lat_rad: float = param(0.4939, "station latitude (for the Sun)", unit="rad", min_value=-1.5708,
                                max_value=1.5708)
    site_lon_rad: float = param(-0.2882, "station east longitude (for the Sun)", unit="rad",
                                min_value=-3.1416, max_value=6.2832)
    sun_source: str = param("computed", "Sun direction: computed from the clock, or fixed (lab tests)",
                            choices=("computed", "fixed"))
    sun_az_rad: float = param(0.0, "fixed Sun azimuth", unit="rad", min_value=-7.0, max_value=7.0)
    sun_el_rad: float = param(-1.0, "fixed Sun elevation", unit="rad", min_value=-1.5708, max_value=1.5708)
    driver: str = param("none", "mount hardware: none (commands only) or rotctld", choices=("none", "rotctld"))
    driver_host: str = param("127.0.0.1", "rotctld host")
    driver_port: int = param(4533, "rotctld TCP port", min_value=1, max_value=65535)
    driver_timeout_s: float = param(0.5, "rotctld reply timeout", unit="s", min_value=0.01, max_value=10.0)
    driver_stall_s: float = param(1.5, "report a fault when one driver call has been blocked this long "
                                  "(> 2 x driver_timeout_s: a call may reconnect once)", unit="s",
                                  min_value=0.01, max_value=60.0)


class DriverWorker:
    """Runs a :class:`~qsat_pat.drivers.base.MountDriver`'s blocking calls on its own thread.

    The caller (the executor thread) never blocks: :meth:`submit` puts the newest command
    into a one-slot mailbox (replacing an unsent older one), :meth:`request_reading` asks
    for a position read, and :meth:`status` returns the last reading and the fault.

    Parameters
    ----------
    driver : MountDriver
        Owned by the worker from now on (closed by :meth:`close`).
    stall_s : float
        A call blocked longer than this is reported as a fault [s] (wall clock: I/O time).
    """

    def __init__(self, driver, stall_s: float) -> None:
        self.driver = driver
        self.stall_s = float(stall_s)
        self._cv = threading.Condition()
        self._command: tuple | None = None
        self._read_t: float | None = None
        self._stop = False
        self._busy_since: float | None = None
        self.reading = None
        self.fault_reason = ""
        self.calls = 0
        self.refusals: list[str] = []
        self.crash_reason = ""
        self.thread = threading.Thread(target=self._run, name="mount_driver", daemon=True)
        self.thread.start()

    def submit(self, command: tuple) -> None:
        """Queue ``("set", az_rad, el_rad)`` or ``("stop",)``; replaces a command not yet sent."""
        with self._cv:
            self._command = command
            self._cv.notify()

    def request_reading(self, t_s: float) -> None:
        """Ask for a position reading stamped ``t_s`` [s] (node clock)."""
        with self._cv:
            self._read_t = float(t_s)
            self._cv.notify()

    def _run(self) -> None:
        from qsat_pat.drivers.base import DriverError

        while True:
            with self._cv:
                while not self._stop and self._command is None and self._read_t is None:
                    self._cv.wait()
                if self._stop:
                    return
                command, self._command = self._command, None
                read_t, self._read_t = self._read_t, None
                self._busy_since = time.monotonic()
            reading, refusal = None, None
            try:
                if command is not None:
                    if command[0] == "set":
                        self.driver.set_position(command[1], command[2])
                    else:
                        self.driver.stop()
                if read_t is not None:
                    reading = self.driver.get_position(read_t)
            except DriverError as exc:  # refused before sending (limits, NaN): the device is fine
                refusal = str(exc)
            except Exception as exc:  # a driver bug must show as a fault, not as a silently dead thread
                with self._cv:
                    self._busy_since = None
                    self.crash_reason = f"mount driver thread stopped: {type(exc).__name__}: {exc}"
                return
            finally:
                with self._cv:
                    self._busy_since = None
                    self.calls += 1
                    self.fault_reason = self.driver.fault_reason
                    if reading is not None:
                        self.reading = reading
                    if refusal is not None:
                        self.refusals.append(refusal)

    def status(self) -> tuple[object, str, list[str]]:
        """(last reading or None, fault reason or "", refusals since the last call)."""
        with self._cv:
            fault = self.crash_reason or self.fault_reason
            if self._busy_since is not None:
                blocked = time.monotonic() - self._busy_since
                if blocked > self.stall_s:
                    fault = f"mount driver I/O stalled for {blocked:.1f} s" + (f" ({fault})" if fault else "")
            refusals, self.refusals = self.refusals, []
            return (None if fault else self.reading), fault, refusals

    def close(self, join_timeout_s: float = 5.0) -> None:
        """Stop the thread (waits for a blocked call up to ``join_timeout_s``) and close the driver."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self.thread.join(timeout=join_timeout_s)
        self.driver.close()


class GimbalControllerNode(QsatPatNode):
    """Drives the mount (see the module docstring)."""

    config_class = GimbalControllerConfig
    default_name = "gimbal_controller"

    def on_setup(self) -> None:
        self._build(self.config)
        self.eph: EphemerisState | None = None
        self.offset = np.zeros(2)
        self.fsm_pos: np.ndarray | None = None
        self.fsm_t: float | None = None
        self.last_cmd: CorePointingCommand | None = None
        self.hold_sent = False
        self.driver: DriverWorker | None = None
        if self.config.driver == "rotctld":
            from qsat_pat.drivers.rotctld import RotctldMount

            self.driver = DriverWorker(RotctldMount(self.config.driver_host, self.config.driver_port,
                                                    self.config.driver_timeout_s, az_min_deg=0.0,
                                                    az_max_deg=360.0, el_min_deg=0.0, el_max_deg=90.0),
                                       self.config.driver_stall_s)
        self.cmd_pub = self.create_lifecycle_publisher(PointingCommand, "mount_command", Qos.COMMAND)
        self.state_pub = self.create_lifecycle_publisher(ActuatorState, "mount_state", Qos.STREAM)
        self.subs = [self.create_subscription(EphemerisState, "ephemeris", self.on_ephemeris, Qos.STATE),
                     self.create_subscription(ActuatorState, "fsm_state", self.on_fsm, Qos.STREAM)]
        self.timer = self.create_timer(1.0 / self.config.control_rate_hz, self.on_timer)

    def _build(self, cfg: GimbalControllerConfig) -> None:
        d = cfg.as_dict()
        self.safety = SafetyConfig(**{k: v for k, v in d.items() if k in SafetyConfig.__dataclass_fields__})
        self.offload = FsmOffload(OffloadConfig(**{k: v for k, v in d.items()
                                                   if k in OffloadConfig.__dataclass_fields__}),
                                  FsmConfig(range_rad=self.safety.fsm_range_rad))
        self.filter = PointingSafetyFilter(self.safety)
        self.watchdog = CommandWatchdog(cfg.watchdog_period_s)

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "filter"):
            self._build(new)

    def on_teardown(self) -> None:
        if getattr(self, "driver", None) is not None:
            self.driver.close(join_timeout_s=2 * self.config.driver_timeout_s + 1.0)
            self.driver = None

    def on_ephemeris(self, msg: EphemerisState) -> None:
        vals = (msg.az_rad, msg.el_refracted_rad, msg.az_rate_radps, msg.el_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            self.reject("bad_ephemeris", f"non-finite ephemeris {vals}")
            return
        self.eph = msg
        self.watchdog.feed(self.now_s())

    def on_fsm(self, msg: ActuatorState) -> None:
        if not (math.isfinite(msg.axis1_rad) and math.isfinite(msg.axis2_rad)):
            self.reject("bad_fsm_state", "non-finite FSM position")
            return
        now = self.now_s()
        pos = np.array([msg.axis1_rad, msg.axis2_rad])
        if self.config.offload_enabled and self.fsm_t is not None and self.eph is not None and now > self.fsm_t:
            dt = min(now - self.fsm_t, 0.5)
            rate = self.offload.step(pos, dt)
            self.offset = self.offset + los_to_mount_rate(rate, self.eph.el_refracted_rad) * dt
        self.fsm_pos, self.fsm_t = pos, now

    def _sun(self, now: float) -> tuple[float, float]:
        c = self.config
        if c.sun_source == "fixed":
            return c.sun_az_rad, c.sun_el_rad
        return sun_az_el_rad(now, c.site_lat_rad, c.site_lon_rad)

    def on_timer(self) -> None:
        if not self.active:
            return
        now = self.now_s()
        fault_reason = ""
        if self.eph is None or self.watchdog.expired(now):
            if not self.hold_sent:
                hold = CorePointingCommand(now, Stage.MOUNT, Mode.HOLD, reason="no ephemeris: hold")
                self.cmd_pub.publish(pointing_command_to_msg(hold))
                if self.driver is not None:
                    self.driver.submit(("stop",))
                self.hold_sent = True
                self.count("holds")
        else:
            self.hold_sent = False
            e = self.eph
            az = (e.az_rad + self.offset[0] + math.pi) % (2 * math.pi) - math.pi
            try:
                req = CorePointingCommand(now, Stage.MOUNT, Mode.POSITION, az, e.el_refracted_rad + self.offset[1],
                                          e.az_rate_radps, e.el_rate_radps, "ephemeris + FSM offload")
                verdict = self.filter.filter(req, *self._sun(now))
                validate_command(verdict.command, self.safety)
            except ControlError as exc:
                self.reject("bad_command", str(exc))
                return
            if verdict.reasons:
                self.count("safety_modified")
            cmd = verdict.command
            self.last_cmd = cmd
            self.cmd_pub.publish(pointing_command_to_msg(cmd))
            self.count("commands")
            if self.driver is not None:
                self.driver.submit(("set", cmd.axis1_rad % (2 * math.pi), cmd.axis2_rad))
        pos = (self.last_cmd.axis1_rad, self.last_cmd.axis2_rad) if self.last_cmd else (0.0, 0.0)
        if self.driver is not None:
            self.driver.request_reading(now)
            r, fault_reason, refusals = self.driver.status()
            for why in refusals:
                self.reject("driver_refused", why)
            if r is not None:
                pos = (r.axis1_rad, r.axis2_rad)
        rates = (self.last_cmd.axis1_rate_radps, self.last_cmd.axis2_rate_radps) if self.last_cmd else (0.0, 0.0)
        st = self.watchdog.state(now, Stage.MOUNT, pos, rates, fault_reason=fault_reason)
        self.state_pub.publish(actuator_state_to_msg(st))

    def diagnostic_values(self) -> dict:
        return {"offload_az_urad": f"{self.offset[0] * 1e6:.1f}", "offload_el_urad": f"{self.offset[1] * 1e6:.1f}"}


NODE_CLASS = GimbalControllerNode
main = make_main(GimbalControllerNode)

if __name__ == "__main__":
    sys.exit(main())
