"""The fine stage: FSM commands from the fine camera, and the coarse hand-back after a loss.

``fsm_controller`` (and the in-process simulation) hold a :class:`FineStage`.  The residual
on the camera is ``r = -rad_per_px @ (centroid - setpoint)``, i.e. ``rad_per_px`` is the FSM
angle that moves the spot by one pixel (the inverse of the
:func:`qsat_pat.core.control.fit_fsm_calibration` matrix), so ``r = los - u``.  The loop
(:class:`~qsat_pat.core.control.FineTrackLoop`) uses the centroid's mid-exposure stamp against
the clock to undo the camera latency (Smith predictor, seed 002 §IV).  The point-ahead from
the ephemeris (seed 004 eq. (1)-(2); azimuth component times cos(el), eq. (3)) is added to the
set-point only (seed 004 §2.3).

The stage follows the PAT manager (``follow_pat``): outside COARSE_TRACK and FINE_TRACK the
loop is reset and the mirror centred; in COARSE_TRACK, once the fine camera has seen nothing
for ``fine_lost_s``, each coarse-camera centroid (through ``coarse_rad_per_px`` into the FSM's
axes, minus the mirror's command at that frame's time) steers the mirror, so the spot comes
back into the fine camera's small field after a blockage.  With no ``pat_status`` for
``pat_timeout_s`` the loop runs on the fine camera alone.

Decided once (issue 13): the coarse camera steers the mirror in COARSE_TRACK only -- in
FINE_TRACK the fine camera owns the mirror and the PAT manager hands it back by leaving
FINE_TRACK -- and the mirror position at a coarse frame's time is the command then in force
(what the controller knows without a position sensor; the 580 Hz mirror follows it within a
fraction of a coarse pixel).

Safety: every command passes :func:`~qsat_pat.core.safety.clamp_fsm_command` and
:func:`~qsat_pat.core.safety.validate_command`; when no centroid arrives for
``watchdog_period_s`` the state reports ``holding`` (the mirror holds its last position).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.control import FineLoopConfig, FineTrackLoop, FsmConfig, Mode, Stage
from qsat_pat.core.control import PointingCommand as CorePointingCommand
from qsat_pat.core.errors import ConfigError, ControlError, Rejected
from qsat_pat.core.params import param
from qsat_pat.core.pat import PatState
from qsat_pat.core.safety import CommandWatchdog, SafetyConfig, clamp_fsm_command, validate_command
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Outputs, Port, TerminalPart

__all__ = ["FineStage", "FsmControllerConfig"]


@dataclass(frozen=True)
class FsmControllerConfig(FineLoopConfig, FsmConfig):
    """Parameters of ``fsm_controller``: fine loop + FSM + the stage's own."""

    camera_id: str = param("ogs_fine", "only centroids of this camera are used")
    setpoint_x_px: float = param(128.0, "closed-loop point, column", unit="px", min_value=-1e5, max_value=1e5)
    setpoint_y_px: float = param(128.0, "closed-loop point, row", unit="px", min_value=-1e5, max_value=1e5)
    rad_per_px: tuple = param((1.617e-6, 0.0, 0.0, 1.617e-6),
                              "row-major 2x2 FSM angle per pixel of spot motion (seed 004: 414 urad/256 px)",
                              unit="rad/px", min_value=-1.0, max_value=1.0)
    point_ahead_enabled: bool = param(True, "add the ephemeris point-ahead to the fine set-point")
    ephemeris_timeout_s: float = param(2.0, "point-ahead dropped when the ephemeris is older", unit="s",
                                       min_value=0.0, max_value=3600.0)
    watchdog_period_s: float = param(0.05, "hold when no centroid arrives for this long", unit="s",
                                     min_value=1e-3, max_value=60.0)
    state_rate_hz: float = param(50.0, "ActuatorState publication rate", unit="Hz", min_value=0.1,
                                 max_value=1000.0)
    driver: str = param("none", "FSM hardware: none (commands only) or serial_tcp", choices=("none", "serial_tcp"))
    driver_host: str = param("127.0.0.1", "serial_tcp: host of the FSM (or serial bridge)")
    driver_port: int = param(5025, "serial_tcp: TCP port", min_value=1, max_value=65535)
    driver_timeout_s: float = param(0.05, "serial_tcp: reply timeout", unit="s", min_value=1e-3, max_value=10.0)

    follow_pat: bool = param(True, "centre the mirror outside COARSE_TRACK/FINE_TRACK (pat_status) and steer "
                             "it on the coarse camera after a fine loss")
    pat_timeout_s: float = param(5.0, "pat_status older than this is ignored (fine camera alone); the PAT "
                                 "manager publishes on each transition and at status_rate_hz (2 Hz): allow "
                                 "several periods", unit="s", min_value=0.0, max_value=3600.0)
    fine_lost_s: float = param(0.05, "fine beacon unseen this long in COARSE_TRACK: the coarse camera steers "
                               "(the PAT manager's fine_lost_s)", unit="s", min_value=0.0, max_value=60.0)
    coarse_camera_id: str = param("", "coarse camera whose centroids steer the mirror after a fine loss "
                                  "(empty: none, e.g. a single-camera satellite terminal)")
    coarse_setpoint_x_px: float = param(1224.0, "coarse camera boresight, column", unit="px",
                                        min_value=-1e5, max_value=1e5)
    coarse_setpoint_y_px: float = param(1025.0, "coarse camera boresight, row", unit="px",
                                        min_value=-1e5, max_value=1e5)
    coarse_rad_per_px: tuple = param((8.5e-6, 0.0, 0.0, 8.5e-6),
                                     "row-major 2x2: coarse-camera pixels -> angle in the FSM's axes "
                                     "(r = -M @ (centroid - set-point), as rad_per_px)",
                                     unit="rad/px", min_value=-1.0, max_value=1.0)

    def check(self) -> None:
        if len(self.coarse_rad_per_px) != 4:
            raise ConfigError(f"FsmControllerConfig.coarse_rad_per_px needs 4 values (row-major 2x2), "
                              f"got {self.coarse_rad_per_px}")
        if len(self.rad_per_px) != 4:
            raise ConfigError(f"FsmControllerConfig.rad_per_px needs 4 values (row-major 2x2), got {self.rad_per_px}")
        if abs(np.linalg.det(np.reshape(self.rad_per_px, (2, 2)))) < 1e-30:
            raise ConfigError("FsmControllerConfig.rad_per_px is singular; use the FSM calibration matrix")

    def fine_loop_config(self) -> FineLoopConfig:
        return self.subset(FineLoopConfig)

    def fsm_config(self) -> FsmConfig:
        return self.subset(FsmConfig)


#: PAT states in which the fine loop runs.
TRACKING = (int(PatState.COARSE_TRACK), int(PatState.FINE_TRACK))


class FineStage(TerminalPart):
    """FSM commands from fine centroids; the coarse hand-back (module docstring).

    Outputs ``fsm_command`` per centroid of the fine camera, ``fsm_state`` per ``state``
    timer tick, and ``("driver", (tip_rad, tilt_rad))`` for the mirror's driver.
    """

    INPUTS = (Port("beacon_centroid", "BeaconCentroid", "stream", "on_centroid"),
              Port("ephemeris", "EphemerisState", "state", "on_ephemeris"),
              Port("pat_status", "PatStatus", "stream", "on_pat_status"),
              Port("coarse_centroid", "BeaconCentroid", "stream", "on_coarse_centroid"))
    OUTPUTS = (Port("fsm_command", "PointingCommand", "command"), Port("fsm_state", "ActuatorState", "stream"))

    def inputs(self) -> tuple[Port, ...]:
        """The coarse camera's centroids only when it hands back (``coarse_camera_id``)."""
        return self.INPUTS if self.config.coarse_camera_id else self.INPUTS[:3]

    def __init__(self, config: FsmControllerConfig) -> None:
        super().__init__(config)
        self.point_ahead = np.zeros(2)
        self.ephemeris_t: float | None = None
        self._build(config)

    def _build(self, cfg: FsmControllerConfig) -> None:
        self.loop = FineTrackLoop(cfg.fine_loop_config(), cfg.fsm_config())
        self.safety = SafetyConfig(fsm_range_rad=cfg.range_rad)
        self.watchdog = CommandWatchdog(cfg.watchdog_period_s)
        self.rad_per_px = np.reshape(np.asarray(cfg.rad_per_px, dtype=float), (2, 2))
        self.coarse_rad_per_px = np.reshape(np.asarray(cfg.coarse_rad_per_px, dtype=float), (2, 2))
        self.pat_state: int | None = None
        self.pat_t = -math.inf
        self.last_fine_t = -math.inf
        self.coarse_pending: tuple[np.ndarray, float] | None = None  # (residual in FSM axes, frame time)
        self.cmd_history: deque = deque(maxlen=512)  # (time, command): the mirror at a coarse frame's time
        self.last_cmd = np.zeros(2)
        self.at_limit = False
        self.last_t: float | None = None

    def reconfigure(self, config: FsmControllerConfig) -> None:
        self._build(config)
        self.config = config

    def timer_periods(self) -> dict[str, float]:
        return {"state": 1.0 / self.config.state_rate_hz}

    # -- inputs ------------------------------------------------------------------------------
    def on_ephemeris(self, msg: wire.EphemerisState, now_ns: int) -> Outputs:
        pa = (msg.point_ahead_az_rad * math.cos(msg.el_rad), msg.point_ahead_el_rad)
        if not all(math.isfinite(v) for v in pa):
            raise Rejected("bad_ephemeris", f"non-finite point-ahead {pa}")
        self.point_ahead = np.array(pa)
        self.ephemeris_t = wire.stamp_s(msg.stamp_ns) or wire.clock_s(now_ns)  # stamp: see PatManager
        return []

    def _point_ahead(self, now: float) -> np.ndarray:
        c = self.config
        if not c.point_ahead_enabled or self.ephemeris_t is None or now - self.ephemeris_t > c.ephemeris_timeout_s:
            return np.zeros(2)
        return self.point_ahead

    def on_pat_status(self, msg: wire.PatStatus, now_ns: int) -> Outputs:
        self.pat_state = int(msg.state)
        self.pat_t = wire.clock_s(now_ns)
        return []

    def _pat_tracking(self, now: float) -> bool | None:
        """True/False: the PAT manager is/is not in COARSE_TRACK or FINE_TRACK; None: not followed
        (``follow_pat`` off, or no fresh ``pat_status``)."""
        if not self.config.follow_pat or self.pat_state is None or now - self.pat_t > self.config.pat_timeout_s:
            return None
        return self.pat_state in TRACKING

    def on_coarse_centroid(self, msg: wire.BeaconCentroid, now_ns: int) -> Outputs:
        """Keep the coarse residual in the FSM's axes, as the fine camera would see it (minus the
        mirror angle at the frame's time); the next fine frame without a detection uses it."""
        c = self.config
        if not c.coarse_camera_id or msg.camera_id != c.coarse_camera_id or not msg.valid:
            return []
        if not (math.isfinite(msg.x_px) and math.isfinite(msg.y_px)):
            raise Rejected("non_finite_centroid", f"valid coarse centroid with non-finite position ({msg.x_px}, "
                           f"{msg.y_px})")
        t_meas = min(wire.stamp_s(msg.stamp_ns), wire.clock_s(now_ns))
        d_px = np.array([msg.x_px - c.coarse_setpoint_x_px, msg.y_px - c.coarse_setpoint_y_px])
        self.coarse_pending = (-self.coarse_rad_per_px @ d_px - self._mirror_at(t_meas), t_meas)
        return []

    def _mirror_at(self, t_s: float) -> np.ndarray:
        """The command in force at ``t_s`` (the last one at or before it)."""
        for t, u in reversed(self.cmd_history):
            if t <= t_s:
                return u
        return self.cmd_history[0][1] if self.cmd_history else np.zeros(2)

    def on_centroid(self, msg: wire.BeaconCentroid, now_ns: int) -> Outputs:
        c = self.config
        if msg.camera_id != c.camera_id:
            self.count("ignored_other_camera")
            return []
        now = wire.clock_s(now_ns)
        if self.last_t is not None and now < self.last_t:
            self.loop.reset()  # clock jumped back (sim restart)
            self.count("clock_resets")
        self.last_t = now
        residual = None
        t_meas = None
        if msg.valid:
            if not (math.isfinite(msg.x_px) and math.isfinite(msg.y_px)):
                raise Rejected("non_finite_centroid", f"valid centroid with non-finite position ({msg.x_px}, "
                               f"{msg.y_px})")
            d_px = np.array([msg.x_px - c.setpoint_x_px, msg.y_px - c.setpoint_y_px])
            residual = -self.rad_per_px @ d_px
            t_meas = min(wire.stamp_s(msg.stamp_ns), now)
        if residual is not None:
            self.last_fine_t = now
        tracking = self._pat_tracking(now)
        coarse, self.coarse_pending = self.coarse_pending, None
        reason = "fine track" if residual is not None else "fine coast (no detection)"
        if (residual is None and coarse is not None and tracking and self.pat_state == int(PatState.COARSE_TRACK)
                and now - self.last_fine_t > c.fine_lost_s):
            residual, t_meas = coarse
            reason = "coarse camera (fine beacon lost)"
            self.count("coarse_steered")
        try:
            if tracking is False:  # PAT not tracking: the mirror centred, the loop restarts on lock
                self.loop.reset()
                u, self.at_limit = np.zeros(2), False
                reason = "centred (PAT not tracking)"
            else:
                out = self.loop.step(now, residual, t_meas, self._point_ahead(now))
                u, self.at_limit = clamp_fsm_command(out.command_rad, self.safety)
            cmd = CorePointingCommand(now, Stage.FSM, Mode.POSITION, u[0], u[1], 0.0, 0.0, reason)
            validate_command(cmd, self.safety)
        except ControlError as exc:
            raise Rejected("bad_command", str(exc)) from None
        self.watchdog.feed(now)
        self.last_cmd = u
        self.cmd_history.append((now, u))
        self.count("commands")
        return [("fsm_command", wire.command_wire(cmd)), ("driver", (float(u[0]), float(u[1])))]

    def on_timer(self, name: str, now_ns: int) -> Outputs:
        return self.state(now_ns)

    def state(self, now_ns: int, reading_rad=None, fault_reason: str = "") -> Outputs:
        """The ``fsm_state`` tick: the mirror's reading (``reading_rad`` from a driver that reports
        one, else the last command), holding when the commands stopped."""
        now = wire.clock_s(now_ns)
        pos = self.last_cmd if reading_rad is None else np.asarray(reading_rad, dtype=float)
        st = self.watchdog.state(now, Stage.FSM, pos, at_limit=self.at_limit, fault_reason=fault_reason)
        if st.holding and self.watchdog.command_age_s(now) != math.inf:
            self.count("holding_ticks")
        return [("fsm_state", wire.state_wire(st))]

    def diagnostic_values(self) -> dict:
        return {"fsm_tip_urad": f"{self.last_cmd[0] * 1e6:.2f}", "fsm_tilt_urad": f"{self.last_cmd[1] * 1e6:.2f}"}
