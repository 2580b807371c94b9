"""The OGS coarse stage: mount set-points from the ephemeris plus an offset chosen by PAT state.

``gimbal_controller`` (and the in-process simulation) hold a :class:`MountStage`.  The
set-point is the ephemeris direction (extrapolated with its rates from its stamp) plus an
offset in the ephemeris tangent frame (:class:`~qsat_pat.core.coarse.OgsCoarseStage`: shaped
by rate/acceleration limits, rate feed-forward), through the
:class:`~qsat_pat.core.safety.PointingSafetyFilter` (Sun cone, elevation mask, axis range,
rate/acceleration limits) and :func:`~qsat_pat.core.safety.validate_command`.  The offset by
PAT state (seed 003 §2.3: open loop from SGP4 -> coarse track -> fine):

=============================  ============================================================
PAT state                      offset
=============================  ============================================================
ACQUIRE                        spiral scan over the TLE uncertainty cone, from its centre
                               at each entry into ACQUIRE
COARSE_TRACK, COAST            the coarse tracker's line of sight extrapolated to now
FINE_TRACK                     that plus the FSM offload (the offload alone while the
                               coarse track is stale)
other states                   none
no ``pat_status`` yet          the FSM offload alone
=============================  ============================================================

Decided once (issue 13; the in-process loop and the node used to differ): the scan restarts
from its centre at each entry into ACQUIRE (after a coast the beacon is most likely near the
centre); FINE_TRACK without a fresh coarse track keeps the offload (dropping it would step the
mount); the offload is one :class:`OffloadIntegrator` (also the satellite's body loop's),
integrating the mirror's mean deflection (:class:`~qsat_pat.core.control.FsmOffload`, seed 002
§II.3) with the time between readings clipped to ``OFFLOAD_MAX_DT_S``, frozen and reset by
explicit calls.

When the ephemeris stops for ``watchdog_period_s`` the stage sends MODE_HOLD (and ``stop`` to
the driver) and reports ``holding``.  The mount reading comes from the driver the node holds
(rotctld on a worker thread) or, with ``driver = "sim"``, from the simulator's ``mount_encoder``
topic: each reading is answered by one command computed at its stamp (lockstep).
"""

from __future__ import annotations

import dataclasses
import math
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
    StageReading,
)
from qsat_pat.core.control import PointingCommand as CorePointingCommand
from qsat_pat.core.errors import ControlError, Rejected
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
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart

__all__ = ["GimbalControllerConfig", "MountReading", "MountStage", "OFFLOAD_MAX_DT_S", "OffloadIntegrator"]

#: PAT states in which the coarse track steers the mount.
TRACKING = (PatState.COARSE_TRACK, PatState.FINE_TRACK, PatState.COAST)
#: Longest time between two readings the offload integrates over [s] (a longer gap is a restart).
OFFLOAD_MAX_DT_S = 0.5


class OffloadIntegrator:
    """The FSM offload as a bias: :class:`~qsat_pat.core.control.FsmOffload`'s rate integrated.

    Parameters
    ----------
    offload : FsmOffload
        Mean-deflection filter and gains.
    limit_rad : float
        The bias is clipped to +-this per axis (inf: no limit).
    max_dt_s : float
        Longest step integrated [s].
    """

    def __init__(self, offload: FsmOffload, limit_rad: float = math.inf, max_dt_s: float = OFFLOAD_MAX_DT_S) -> None:
        self.offload = offload
        self.limit_rad = float(limit_rad)
        self.max_dt_s = float(max_dt_s)
        self.bias_rad = np.zeros(2)
        self._t: float | None = None

    def step(self, t_s: float, deflection_rad, integrate: bool = True) -> np.ndarray:
        """A new deflection reading at ``t_s``: integrate over the time since the last one
        (``integrate`` false: only note the time); returns the bias [rad]."""
        if integrate and self._t is not None and t_s > self._t:
            dt = min(t_s - self._t, self.max_dt_s)
            self.bias_rad = self.bias_rad + self.offload.step(deflection_rad, dt) * dt
            if math.isfinite(self.limit_rad):
                self.bias_rad = np.clip(self.bias_rad, -self.limit_rad, self.limit_rad)
        self._t = t_s
        return self.bias_rad

    def freeze(self) -> None:
        """Stop integrating until the next reading (which starts a fresh interval)."""
        self._t = None

    def reset(self) -> None:
        """Back to no bias, an empty mean filter and the offload disengaged."""
        self.bias_rad = np.zeros(2)
        self.offload.mean_rad = np.zeros(2)
        self.offload.engaged = False
        self._t = None


#: A mount's reading (time, axes, rates): the drivers' and the simulator's encoders' type.
MountReading = StageReading


@dataclass(frozen=True)
class GimbalControllerConfig(SafetyConfig, OffloadConfig):
    """Parameters of ``gimbal_controller``: safety limits, FSM offload and the stage's own."""

    control_rate_hz: float = param(20.0, "mount command rate (the driver's: rotctld ~20 Hz; the simulator's mount "
                                   "answers each encoder reading instead)", unit="Hz", min_value=0.1,
                                   max_value=1000.0)
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

    def safety_config(self) -> SafetyConfig:
        return self.subset(SafetyConfig)

    def offload_config(self) -> OffloadConfig:
        return self.subset(OffloadConfig)


class MountStage(TerminalPart):
    """Drives the mount (see the module docstring).

    Outputs ``mount_command``, ``mount_state``, ``mount_pointing`` (the mount axis in the
    ephemeris tangent frame, the coarse tracker's stage reading) per control step, and
    ``("driver", ("set", az_rad, el_rad))`` / ``("driver", ("stop",))`` for the mount's driver.
    """

    INPUTS = (Port("ephemeris", "EphemerisState", "state", "on_ephemeris"),
              Port("fsm_state", "ActuatorState", "stream", "on_fsm"),
              Port("pat_status", "PatStatus", "state", "on_pat"),
              Port("coarse_track_estimate", "TrackEstimate", "stream", "on_track"),
              Port("mount_encoder", "ActuatorState", "stream", "on_encoder"))
    OUTPUTS = (Port("mount_command", "PointingCommand", "command"), Port("mount_state", "ActuatorState", "stream"),
               Port("mount_pointing", "ActuatorState", "stream"))

    def __init__(self, config: GimbalControllerConfig) -> None:
        super().__init__(config)
        self.eph: wire.EphemerisState | None = None
        self.eph_t: float | None = None
        self.last_cmd: CorePointingCommand | None = None
        self.hold_sent = False
        self.pat_state: PatState | None = None
        self.track: wire.TrackEstimate | None = None
        self.scan_t0: float | None = None
        self.encoder: MountReading | None = None
        self.encoder_stale_s = max(1.0, 5.0 / config.control_rate_hz)
        self._build(config)

    def _build(self, cfg: GimbalControllerConfig) -> None:
        self.safety = cfg.safety_config()
        self.offload = OffloadIntegrator(FsmOffload(cfg.offload_config(), FsmConfig(range_rad=self.safety.fsm_range_rad)))
        self.filter = PointingSafetyFilter(self.safety)
        self.primed = False
        self.stage = OgsCoarseStage(self.filter, math.radians(cfg.site_lat_deg), math.radians(cfg.site_lon_deg), 0.0,
                                    cfg.offset_max_rate_radps, cfg.offset_max_acc_radps2)
        self.scan = AcquisitionScan(ScanConfig(cone_radius_rad=cfg.scan_cone_radius_rad, step_rad=cfg.scan_step_rad,
                                               speed_radps=cfg.scan_speed_radps))
        self.watchdog = CommandWatchdog(cfg.watchdog_period_s)

    def reconfigure(self, config: GimbalControllerConfig) -> None:
        self.config = config
        self._build(config)

    @property
    def bias(self) -> np.ndarray:
        """The FSM offload bias [rad] (ephemeris tangent frame)."""
        return self.offload.bias_rad

    def inputs(self) -> tuple[Port, ...]:
        """``mount_encoder`` only with the simulator's mount (``driver = "sim"``)."""
        return self.INPUTS if self.config.driver == "sim" else self.INPUTS[:4]

    def timer_periods(self) -> dict[str, float]:
        """The control timer, except on the simulator's mount (each reading is answered instead)."""
        return {} if self.config.driver == "sim" else {"control": 1.0 / self.config.control_rate_hz}

    # -- inputs ------------------------------------------------------------------------------
    def on_ephemeris(self, msg: wire.EphemerisState, now_ns: int) -> Outputs:
        vals = (msg.az_rad, msg.el_refracted_rad, msg.az_rate_radps, msg.el_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            raise Rejected("bad_ephemeris", f"non-finite ephemeris {vals}")
        self.eph = msg
        self.eph_t = wire.stamp_s(msg.stamp_ns)
        self.watchdog.feed(self.eph_t or wire.clock_s(now_ns))  # the state's stamp: see PatManager
        return []

    def eph_at(self, t: float) -> tuple[float, float, float, float]:
        """Ephemeris (az, refracted el, rates) extrapolated from its stamp to ``t`` with its rates."""
        e = self.eph
        dt = min(max(t - self.eph_t, -1.0), 1.0) if self.eph_t else 0.0  # unstamped: as is
        return (e.az_rad + e.az_rate_radps * dt, e.el_refracted_rad + e.el_rate_radps * dt,
                e.az_rate_radps, e.el_rate_radps)

    def on_pat(self, msg: wire.PatStatus, now_ns: int) -> Outputs:
        try:
            self.pat_state = PatState(int(msg.state))
        except ValueError:
            raise Rejected("bad_pat_status", f"unknown PAT state {msg.state}") from None
        return []

    def on_track(self, msg: wire.TrackEstimate, now_ns: int) -> Outputs:
        vals = (msg.los_x_rad, msg.los_y_rad, msg.los_x_rate_radps, msg.los_y_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            raise Rejected("bad_track_estimate", f"non-finite track estimate {vals}")
        self.track = msg
        return []

    def on_fsm(self, msg: wire.ActuatorState, now_ns: int) -> Outputs:
        if not (math.isfinite(msg.axis1_rad) and math.isfinite(msg.axis2_rad)):
            raise Rejected("bad_fsm_state", "non-finite FSM position")
        now = wire.clock_s(now_ns)
        # offload only while the fine loop holds the beacon (or always, without a PAT manager)
        offloading = self.pat_state in (None, PatState.FINE_TRACK)
        if not offloading:
            self.offload.reset()
        self.offload.step(now, np.array([msg.axis1_rad, msg.axis2_rad]),
                          integrate=self.config.offload_enabled and offloading and self.eph is not None)
        return []

    def on_encoder(self, msg: wire.ActuatorState, now_ns: int) -> Outputs:
        """The simulator's mount encoders (driver "sim"): one command per reading, at its stamp."""
        vals = (msg.axis1_rad, msg.axis2_rad, msg.axis1_rate_radps, msg.axis2_rate_radps)
        if not all(math.isfinite(v) for v in vals):
            raise Rejected("bad_encoder", f"non-finite mount encoder reading {vals}")
        t = wire.stamp_s(msg.stamp_ns)
        self.encoder = MountReading(t, *vals)
        return self.control(t, self.encoder)

    def on_timer(self, name: str, now_ns: int) -> Outputs:
        return self.control(wire.clock_s(now_ns), None)

    # -- control -----------------------------------------------------------------------------
    def offset(self, now: float) -> np.ndarray:
        """Closed-loop offset from the ephemeris, ephemeris tangent frame [rad] (module docstring)."""
        c, state = self.config, self.pat_state
        if state is None:  # no PAT manager: ephemeris + offload only
            return self.bias.copy()
        if state != PatState.ACQUIRE:
            self.scan_t0 = None
        if state in TRACKING and c.coarse_loop_enabled and self.track is not None:
            t_tr = wire.stamp_s(self.track.stamp_ns)
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

    def offset_source(self) -> str:
        s = self.pat_state
        if s is None:
            return "FSM offload"
        if s in TRACKING:
            return "coarse track" + (" + FSM offload" if s == PatState.FINE_TRACK else "")
        return "acquisition scan" if s == PatState.ACQUIRE else "no offset"

    def control(self, now: float, reading: MountReading | None, fault_reason: str = "") -> Outputs:
        """One control step at ``now`` [s] with the mount's ``reading`` (None: none)."""
        if self.config.driver == "sim":
            r = self.encoder
            if r is None or now - r.t_s > self.encoder_stale_s:
                reading, fault_reason = None, ("no encoder reading from the simulator" if r is None
                                               else f"encoder reading {now - r.t_s:.2f} s old")
            else:
                reading = r
        out: Outputs = []
        if self.eph is None or self.watchdog.expired(now):
            # a simulated mount in lockstep waits for an answer to every reading: repeat the hold
            if not self.hold_sent or self.config.driver == "sim":
                hold = CorePointingCommand(now, Stage.MOUNT, Mode.HOLD, reason="no ephemeris: hold")
                out += [("mount_command", wire.command_wire(hold)), ("driver", ("stop",))]
                self.hold_sent = True
                self.count("holds")
        else:
            self.hold_sent = False
            az, el, az_rate, el_rate = self.eph_at(now)
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
                cmd = self.stage.command(now, az, el, (az_rate, el_rate), self.offset(now), mount, self.sun(now))
                validate_command(cmd, self.safety)
            except ControlError as exc:
                raise Rejected("bad_command", str(exc)) from None
            if self.stage.at_limit:
                self.count("safety_modified")
            cmd = dataclasses.replace(cmd, reason=f"ephemeris + {self.offset_source()}")
            self.last_cmd = cmd
            self.primed = True  # the filter has a history now
            out += [("mount_command", wire.command_wire(cmd)),
                    ("driver", ("set", cmd.axis1_rad % (2 * math.pi), cmd.axis2_rad))]
            self.count("commands")
        pos = (self.last_cmd.axis1_rad, self.last_cmd.axis2_rad) if self.last_cmd else (0.0, 0.0)
        if reading is not None:
            pos = (reading.axis1_rad, reading.axis2_rad)
        rates = (self.last_cmd.axis1_rate_radps, self.last_cmd.axis2_rate_radps) if self.last_cmd else (0.0, 0.0)
        st = self.watchdog.state(now, Stage.MOUNT, pos, rates, fault_reason=fault_reason)
        out.append(("mount_state", wire.state_wire(st)))
        if self.eph is not None:
            # measured rates where the driver reports them (sim), else the commanded ones
            measured = reading is not None and self.config.driver == "sim"
            out.append(("mount_pointing", self.pointing(now, pos, (reading.axis1_rate_radps, reading.axis2_rate_radps)
                                                         if measured else rates)))
        return out

    def pointing(self, now: float, pos, rates) -> wire.ActuatorState:
        """Mount axis in the ephemeris tangent frame (the coarse tracker's stage reading)."""
        az, el, az_rate, el_rate = self.eph_at(now)
        xy = mount_tangent_rad(pos[0], pos[1], az, el)
        return wire.ActuatorState(stamp_ns=wire.to_ns(now), frame_id="ogs_ephemeris_tangent", stage=int(Stage.MOUNT),
                                  mode=int(Mode.POSITION), axis1_rad=float(xy[0]), axis2_rad=float(xy[1]),
                                  axis1_rate_radps=float((rates[0] - az_rate) * math.cos(el)),
                                  axis2_rate_radps=float(rates[1] - el_rate))

    def sun(self, now: float) -> tuple[float, float]:
        c = self.config
        if c.sun_source == "fixed":
            return c.sun_az_rad, c.sun_el_rad
        return sun_az_el_rad(now, math.radians(c.site_lat_deg), math.radians(c.site_lon_deg))

    def diagnostic_values(self) -> dict:
        return {"offload_x_urad": f"{self.bias[0] * 1e6:.1f}", "offload_y_urad": f"{self.bias[1] * 1e6:.1f}",
                "pat_state": self.pat_state.name if self.pat_state is not None else "unknown"}


