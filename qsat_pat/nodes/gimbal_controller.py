"""Node ``gimbal_controller``: the OGS coarse stage -- ephemeris + coarse track -> safe mount commands.

Inputs
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched): the target's apparent az and
    refracted elevation with their rates (feed-forward), extrapolated with those rates from
    its stamp to each control time; ``coarse_track_estimate`` (``qsat_pat/TrackEstimate``)
    from the coarse camera's ``track_predictor``: the beacon's line of sight in the
    *ephemeris tangent frame* (:mod:`qsat_pat.core.coarse`); ``pat_status``
    (``qsat_pat/PatStatus``): which offset applies; ``fsm_state``
    (``qsat_pat/ActuatorState``): the mirror position, whose mean is handed over to the
    mount in FINE_TRACK (:class:`~qsat_pat.core.control.FsmOffload`, seed 002 §II.3).
Outputs
    ``mount_command`` (``qsat_pat/PointingCommand``, STAGE_MOUNT, POSITION + rate
    feed-forward) at ``control_rate_hz``; ``mount_state`` (``qsat_pat/ActuatorState``,
    az/el); ``mount_pointing`` (``ActuatorState``, frame ``ogs_ephemeris_tangent``): the
    mount axis in the ephemeris tangent frame, the stage reading the coarse tracker composes
    its line of sight with (so the loop does not hide the trajectory, seed 002 §IV).

The set-point is ephemeris + offset (:class:`~qsat_pat.core.coarse.OgsCoarseStage`: offset
shaped by rate/acceleration limits, rate feed-forward), with the offset chosen by the PAT
state (seed 003 §2.3: open loop from SGP4 -> coarse track -> fine): ACQUIRE: a spiral scan
over the TLE uncertainty cone; COARSE_TRACK / COAST: the tracked line of sight
extrapolated to now; FINE_TRACK: that plus the FSM offload; otherwise none.  Without any
``pat_status`` the node falls back to ephemeris + FSM offload.

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
``driver_stall_s``) is reported in ``mount_state``.  With ``driver = "sim"`` the mount is
the simulator's plant (:class:`qsat_pat.drivers.sim.TopicMount`): there is no timer, each
``mount_encoder`` reading is answered by one command computed at the reading's stamp
(lockstep with ``sim_world``).  (Alternative considered: a
MutuallyExclusiveCallbackGroup + MultiThreadedExecutor; rejected because the node runs
under the shared single-threaded executor of :func:`qsat_pat.nodes.pattern.run_nodes`
when composed, and a blocked callback would still hold one executor thread per call.)
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.coarse import OgsCoarseStage, mount_tangent_rad
from qsat_pat.core.control import (
    AcquisitionScan,
    FsmConfig,
    FsmOffload,
    Mode,
    OffloadConfig,
    ScanConfig,
    Stage,
)
from qsat_pat.core.control import PointingCommand as CorePointingCommand
from qsat_pat.core.errors import ControlError
from qsat_pat.core.params import param
from qsat_pat.core.pat import PatState
from qsat_pat.core.safety import (
    CommandWatchdog,
    PointingSafetyFilter,
    SafetyConfig,
    sun_az_el_rad,
    validate_command,
)
from qsat_pat.core.site import station_field
from qsat_pat.drivers.base import StageReading
from qsat_pat.drivers.sim import TopicMount
from qsat_pat.msg import ActuatorState, EphemerisState, PatStatus, PointingCommand, TrackEstimate
from qsat_pat.nodes.convert import actuator_state_to_msg, pointing_command_to_msg, s_to_stamp, stamp_to_s
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main

#: PAT states in which the coarse track steers the mount.
TRACKING = (PatState.COARSE_TRACK, PatState.FINE_TRACK, PatState.COAST)


@dataclass(frozen=True)
class GimbalControllerConfig(SafetyConfig, OffloadConfig):
    """Parameters of ``gimbal_controller``: safety limits, FSM offload and the node's own."""

    control_rate_hz: float = param(20.0, "mount command rate", unit="Hz", min_value=0.1, max_value=1000.0)
    watchdog_period_s: float = param(1.0, "hold when no ephemeris arrives for this long", unit="s",
                                     min_value=0.01, max_value=600.0)
    offload_enabled: bool = param(True, "hand the FSM's mean deflection over to the mount")
    site_lat_deg: float = station_field("site_lat_deg")  # from the deployment's station file
    site_lon_deg: float = station_field("site_lon_deg")
    sun_source: str = param("computed", "Sun direction: computed from the clock, or fixed (lab tests)",
                            choices=("computed", "fixed"))
    sun_az_rad: float = param(0.0, "fixed Sun azimuth", unit="rad", min_value=-7.0, max_value=7.0)
    sun_el_rad: float = param(-1.0, "fixed Sun elevation", unit="rad", min_value=-1.5708, max_value=1.5708)
    coarse_loop_enabled: bool = param(True, "while PAT tracks, add the coarse track (coarse_track_estimate) to "
                                      "the ephemeris")
    track_timeout_s: float = param(1.0, "a coarse track estimate older than this is not used", unit="s",
                                   min_value=0.001, max_value=60.0)
    scan_enabled: bool = param(True, "spiral over the TLE uncertainty cone in ACQUIRE")
    scan_cone_radius_rad: float = param(2e-3, "acquisition scan half-angle (TLE ~1 km / 500 km)", unit="rad",
                                        min_value=1e-6, max_value=0.1)
    scan_step_rad: float = param(1e-3, "spiral turn spacing (< coarse camera field)", unit="rad",
                                 min_value=1e-6, max_value=0.1)
    scan_speed_radps: float = param(5e-3, "scan speed along the spiral", unit="rad/s", min_value=1e-6,
                                    max_value=1.0)
    offset_max_rate_radps: float = param(5e-3, "rate limit of the closed-loop offset (shapes the step at "
                                         "first detection)", unit="rad/s", min_value=1e-6, max_value=1.0)
    offset_max_acc_radps2: float = param(0.05, "acceleration limit of that offset", unit="rad/s^2",
                                         min_value=1e-6, max_value=100.0)
    driver: str = param("none", "mount hardware: none (commands only), rotctld, or sim (the simulator's mount: "
                        "readings on mount_encoder, one command per reading)", choices=("none", "rotctld", "sim"))
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
        self.eph_t: float | None = None
        self.bias = np.zeros(2)
        self.fsm_pos: np.ndarray | None = None
        self.fsm_t: float | None = None
        self.last_cmd: CorePointingCommand | None = None
        self.hold_sent = False
        self.pat_state: PatState | None = None
        self.track: TrackEstimate | None = None
        self.scan_t0: float | None = None
        self.driver: DriverWorker | None = None
        self.sim_mount: TopicMount | None = None
        if self.config.driver == "rotctld":
            from qsat_pat.drivers.rotctld import RotctldMount

            self.driver = DriverWorker(RotctldMount(self.config.driver_host, self.config.driver_port,
                                                    self.config.driver_timeout_s, az_min_deg=0.0,
                                                    az_max_deg=360.0, el_min_deg=0.0, el_max_deg=90.0),
                                       self.config.driver_stall_s)
        self.cmd_pub = self.create_lifecycle_publisher(PointingCommand, "mount_command", Qos.COMMAND)
        self.state_pub = self.create_lifecycle_publisher(ActuatorState, "mount_state", Qos.STREAM)
        self.pointing_pub = self.create_lifecycle_publisher(ActuatorState, "mount_pointing", Qos.STREAM)
        self.subs = [self.create_subscription(EphemerisState, "ephemeris", self.on_ephemeris, Qos.STATE),
                     self.create_subscription(ActuatorState, "fsm_state", self.on_fsm, Qos.STREAM),
                     self.create_subscription(PatStatus, "pat_status", self.on_pat, Qos.STATE),
                     self.create_subscription(TrackEstimate, "coarse_track_estimate", self.on_track, Qos.STREAM)]
        if self.config.driver == "sim":
            # lockstep: every encoder reading of the simulated mount is answered by one command
            self.sim_mount = TopicMount(stale_s=max(1.0, 5.0 / self.config.control_rate_hz))
            self.subs.append(self.create_subscription(ActuatorState, "mount_encoder", self.on_encoder, Qos.STREAM))
            self.timer = None
        else:
            self.timer = self.create_timer(1.0 / self.config.control_rate_hz, self.on_timer)

    def _build(self, cfg: GimbalControllerConfig) -> None:
        d = cfg.as_dict()
        self.safety = SafetyConfig(**{k: v for k, v in d.items() if k in SafetyConfig.__dataclass_fields__})
        self.offload = FsmOffload(OffloadConfig(**{k: v for k, v in d.items()
                                                   if k in OffloadConfig.__dataclass_fields__}),
                                  FsmConfig(range_rad=self.safety.fsm_range_rad))
        self.filter = PointingSafetyFilter(self.safety)
        self.primed = False
        self.stage = OgsCoarseStage(self.filter, math.radians(cfg.site_lat_deg), math.radians(cfg.site_lon_deg), 0.0,
                                    cfg.offset_max_rate_radps, cfg.offset_max_acc_radps2)
        self.scan = AcquisitionScan(ScanConfig(cone_radius_rad=cfg.scan_cone_radius_rad, step_rad=cfg.scan_step_rad,
                                               speed_radps=cfg.scan_speed_radps))
        self.watchdog = CommandWatchdog(cfg.watchdog_period_s)

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "filter"):
            self._build(new)

    def on_teardown(self) -> None:
        if getattr(self, "driver", None) is not None:
            self.driver.close(join_timeout_s=2 * self.config.driver_timeout_s + 1.0)
            self.driver = None

    # -- inputs ------------------------------------------------------------------------------
    def on_ephemeris(self, msg: EphemerisState) -> None:
        vals = (msg.az_rad, msg.el_refracted_rad, msg.az_rate_radps, msg.el_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            self.reject("bad_ephemeris", f"non-finite ephemeris {vals}")
            return
        self.eph = msg
        self.eph_t = stamp_to_s(msg.header.stamp)
        self.watchdog.feed(self.eph_t or self.now_s())  # the state's stamp: see pat_manager

    def _eph_at(self, t: float) -> tuple[float, float, float, float]:
        """Ephemeris (az, refracted el, rates) extrapolated from its stamp to ``t`` with its rates."""
        e = self.eph
        dt = min(max(t - self.eph_t, -1.0), 1.0) if self.eph_t else 0.0  # unstamped: as is
        return (e.az_rad + e.az_rate_radps * dt, e.el_refracted_rad + e.el_rate_radps * dt,
                e.az_rate_radps, e.el_rate_radps)

    def on_pat(self, msg: PatStatus) -> None:
        try:
            self.pat_state = PatState(int(msg.state))
        except ValueError:
            self.reject("bad_pat_status", f"unknown PAT state {msg.state}")

    def on_track(self, msg: TrackEstimate) -> None:
        vals = (msg.los_x_rad, msg.los_y_rad, msg.los_x_rate_radps, msg.los_y_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            self.reject("bad_track_estimate", f"non-finite track estimate {vals}")
            return
        self.track = msg

    def on_fsm(self, msg: ActuatorState) -> None:
        if not (math.isfinite(msg.axis1_rad) and math.isfinite(msg.axis2_rad)):
            self.reject("bad_fsm_state", "non-finite FSM position")
            return
        now = self.now_s()
        pos = np.array([msg.axis1_rad, msg.axis2_rad])
        # offload only while the fine loop holds the beacon (or always, without a PAT manager)
        offloading = self.pat_state in (None, PatState.FINE_TRACK)
        if self.config.offload_enabled and offloading and self.fsm_t is not None and self.eph is not None \
                and now > self.fsm_t:
            dt = min(now - self.fsm_t, 0.5)
            self.bias = self.bias + self.offload.step(pos, dt) * dt
        elif not offloading:
            self.bias = np.zeros(2)
            self.offload.mean_rad = np.zeros(2)
            self.offload.engaged = False
        self.fsm_pos, self.fsm_t = pos, now

    def on_encoder(self, msg: ActuatorState) -> None:
        """Simulated mount encoder (driver "sim"): feed the driver and answer with one command."""
        if not self.active:
            return
        try:
            self.sim_mount.feed(StageReading(stamp_to_s(msg.header.stamp), msg.axis1_rad, msg.axis2_rad,
                                             msg.axis1_rate_radps, msg.axis2_rate_radps))
        except ControlError as exc:
            self.reject("bad_encoder", str(exc))
            return
        self._control(stamp_to_s(msg.header.stamp))

    def on_timer(self) -> None:
        if self.active:
            self._control(self.now_s())

    # -- control -------------------------------------------------------------------------------
    def _offset(self, now: float) -> np.ndarray:
        """Closed-loop offset from the ephemeris, ephemeris tangent frame [rad] (module docstring)."""
        c, state = self.config, self.pat_state
        if state is None:  # no PAT manager: ephemeris + offload only
            return self.bias.copy()
        if state != PatState.ACQUIRE:
            self.scan_t0 = None
        if state in TRACKING and c.coarse_loop_enabled and self.track is not None:
            t_tr = stamp_to_s(self.track.header.stamp)
            if now - t_tr <= c.track_timeout_s:
                dt = now - t_tr
                los = np.array([self.track.los_x_rad + self.track.los_x_rate_radps * dt,
                                self.track.los_y_rad + self.track.los_y_rate_radps * dt])
                return los + self.bias
            self.count("stale_track")
        if state == PatState.ACQUIRE and c.scan_enabled:
            if self.scan_t0 is None:
                self.scan_t0 = now
            return self.scan.offset_at(now - self.scan_t0)
        return self.bias.copy() if state == PatState.FINE_TRACK else np.zeros(2)

    def _reading(self, now: float):
        if self.sim_mount is not None:
            return self.sim_mount.get_position(now), self.sim_mount.fault_reason, []
        if self.driver is not None:
            self.driver.request_reading(now)
            return self.driver.status()
        return None, "", []

    def _control(self, now: float) -> None:
        reading, fault_reason, refusals = self._reading(now)
        for why in refusals:
            self.reject("driver_refused", why)
        if self.eph is None or self.watchdog.expired(now):
            # a simulated mount in lockstep waits for an answer to every reading: repeat the hold
            if not self.hold_sent or self.sim_mount is not None:
                hold = CorePointingCommand(now, Stage.MOUNT, Mode.HOLD, reason="no ephemeris: hold")
                self.cmd_pub.publish(pointing_command_to_msg(hold))
                if self.driver is not None:
                    self.driver.submit(("stop",))
                self.hold_sent = True
                self.count("holds")
        else:
            self.hold_sent = False
            az, el, az_rate, el_rate = self._eph_at(now)
            if reading is not None:
                mount = (reading.axis1_rad, reading.axis2_rad)
                if not self.primed and self.last_cmd is None:
                    # start from where the mount is and how it moves: the safety filter limits the
                    # set-point's acceleration but does not plan braking, so a first set-point
                    # mrad away (ephemeris vs a mount already on the beacon) would overshoot
                    self.stage.prime(mount, (reading.axis1_rate_radps, reading.axis2_rate_radps),
                                     1.0 / self.config.control_rate_hz, now)
                    start = mount_tangent_rad(mount[0], mount[1], az, el)
                    if float(np.hypot(*start)) <= 2.0 * self.config.scan_cone_radius_rad:
                        self.stage.offset_rad = start  # on the pass already: keep the offset, no step
                    self.primed = True
            elif self.last_cmd is not None:
                mount = (self.last_cmd.axis1_rad, self.last_cmd.axis2_rad)
            else:
                mount = (az, el)
            try:
                cmd = self.stage.command(now, az, el, (az_rate, el_rate), self._offset(now), mount, self._sun(now))
                validate_command(cmd, self.safety)
            except ControlError as exc:
                self.reject("bad_command", str(exc))
                return
            if self.stage.at_limit:
                self.count("safety_modified")
            cmd = dataclasses.replace(cmd, reason=f"ephemeris + {self._offset_source()}")
            self.last_cmd = cmd
            self.primed = True  # the filter has a history now
            self.cmd_pub.publish(pointing_command_to_msg(cmd))
            self.count("commands")
            if self.driver is not None:
                self.driver.submit(("set", cmd.axis1_rad % (2 * math.pi), cmd.axis2_rad))
        pos = (self.last_cmd.axis1_rad, self.last_cmd.axis2_rad) if self.last_cmd else (0.0, 0.0)
        if reading is not None:
            pos = (reading.axis1_rad, reading.axis2_rad)
        rates = (self.last_cmd.axis1_rate_radps, self.last_cmd.axis2_rate_radps) if self.last_cmd else (0.0, 0.0)
        st = self.watchdog.state(now, Stage.MOUNT, pos, rates, fault_reason=fault_reason)
        self.state_pub.publish(actuator_state_to_msg(st))
        if self.eph is not None:
            # measured rates where the driver reports them (sim), else the commanded ones
            measured = reading is not None and self.sim_mount is not None
            self._publish_pointing(now, pos, (reading.axis1_rate_radps, reading.axis2_rate_radps) if measured else rates)

    def _offset_source(self) -> str:
        s = self.pat_state
        if s is None:
            return "FSM offload"
        if s in TRACKING:
            return "coarse track" + (" + FSM offload" if s == PatState.FINE_TRACK else "")
        return "acquisition scan" if s == PatState.ACQUIRE else "no offset"

    def _publish_pointing(self, now: float, pos, rates) -> None:
        """Mount axis in the ephemeris tangent frame (the coarse tracker's stage reading)."""
        az, el, az_rate, el_rate = self._eph_at(now)
        xy = mount_tangent_rad(pos[0], pos[1], az, el)
        msg = ActuatorState()
        msg.header.stamp = s_to_stamp(now)
        msg.header.frame_id = "ogs_ephemeris_tangent"
        msg.stage = int(Stage.MOUNT)
        msg.mode = int(Mode.POSITION)
        msg.axis1_rad, msg.axis2_rad = float(xy[0]), float(xy[1])
        msg.axis1_rate_radps = float((rates[0] - az_rate) * math.cos(el))
        msg.axis2_rate_radps = float(rates[1] - el_rate)
        self.pointing_pub.publish(msg)

    def _sun(self, now: float) -> tuple[float, float]:
        c = self.config
        if c.sun_source == "fixed":
            return c.sun_az_rad, c.sun_el_rad
        return sun_az_el_rad(now, math.radians(c.site_lat_deg), math.radians(c.site_lon_deg))

    def diagnostic_values(self) -> dict:
        return {"offload_x_urad": f"{self.bias[0] * 1e6:.1f}", "offload_y_urad": f"{self.bias[1] * 1e6:.1f}",
                "pat_state": self.pat_state.name if self.pat_state is not None else "unknown"}


NODE_CLASS = GimbalControllerNode
main = make_main(GimbalControllerNode)

if __name__ == "__main__":
    sys.exit(main())
