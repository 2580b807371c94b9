"""Node ``fsm_controller``: fine-camera centroids -> FSM commands (qsat_pat.core.control).

Inputs
    ``beacon_centroid`` (``qsat_pat/BeaconCentroid``) of the fine camera (``camera_id``);
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched) for the point-ahead set-point;
    ``pat_status`` (``qsat_pat/PatStatus``) of the terminal's PAT manager;
    ``coarse_centroid`` (``qsat_pat/BeaconCentroid``) of the coarse camera
    (``coarse_camera_id``, optional).
Outputs
    ``fsm_command`` (``qsat_pat/PointingCommand``, STAGE_FSM, MODE_POSITION) per valid or
    invalid centroid; ``fsm_state`` (``qsat_pat/ActuatorState``) at ``state_rate_hz``.

The residual on the camera is ``r = -rad_per_px @ (centroid - setpoint)``, i.e.
``rad_per_px`` is the FSM angle that moves the spot by one pixel (the inverse of the
:func:`qsat_pat.core.control.fit_fsm_calibration` matrix), so ``r = los - u``.  The
loop (:class:`~qsat_pat.core.control.FineTrackLoop`) uses the centroid's mid-exposure
stamp against the node clock to undo the camera latency (Smith predictor, seed 002 §IV).
The point-ahead from the ephemeris (seed 004 eq. (1)-(2); azimuth component times
cos(el), eq. (3)) is added to the set-point only.

The loop follows the PAT manager (``follow_pat``), as the direct mode's terminal loop does
(:class:`qsat_pat.sim.direct.TerminalLoop`): outside COARSE_TRACK and FINE_TRACK the loop is
reset and the mirror centred, and in COARSE_TRACK, once the fine camera has seen nothing for
``fine_lost_s``, each coarse-camera centroid (converted with ``coarse_rad_per_px`` into the
FSM's axes, minus the mirror angle at that frame's time) steers the mirror, so the spot is
brought back into the fine camera's small field after a blockage.  Without both, a few false
alarms of the fine camera during a cloud (P_fa per frame at 1 kHz) kick the held mirror tens of
microradians off and the fine camera never sees the beacon again -- found in a ROS-mode clouds
run.  With no ``pat_status`` for ``pat_timeout_s`` the loop runs on the fine camera alone.

Safety: every command goes through :func:`~qsat_pat.core.safety.clamp_fsm_command` and
:func:`~qsat_pat.core.safety.validate_command`; a non-finite centroid is rejected and
counted.  When no centroid arrives for ``watchdog_period_s`` the node stops commanding
(the mirror holds its last position) and reports ``holding`` in ``fsm_state``.  With
``driver = "serial_tcp"`` the commands also go to an ASCII-protocol FSM
(:mod:`qsat_pat.drivers.serial_fsm`); a driver that stops answering is reported as
``fault`` in ``fsm_state`` and the node keeps running.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.control import FineLoopConfig, FineTrackLoop, FsmConfig, Mode, Stage
from qsat_pat.core.control import PointingCommand as CorePointingCommand
from qsat_pat.core.errors import ConfigError, ControlError
from qsat_pat.core.params import param
from qsat_pat.core.safety import CommandWatchdog, SafetyConfig, clamp_fsm_command, validate_command
from qsat_pat.msg import ActuatorState, BeaconCentroid, EphemerisState, PatStatus, PointingCommand
from qsat_pat.nodes.convert import actuator_state_to_msg, pointing_command_to_msg, stamp_to_s
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


@dataclass(frozen=True)
class FsmControllerConfig(FineLoopConfig, FsmConfig):
    """Parameters of ``fsm_controller``: fine loop + FSM + the node's own."""

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


class FsmControllerNode(QsatPatNode):
    """Closes the FSM loop on the fine camera (see the module docstring)."""

    config_class = FsmControllerConfig
    default_name = "fsm_controller"

    def on_setup(self) -> None:
        self._build(self.config)
        self.point_ahead = np.zeros(2)
        self.ephemeris_t: float | None = None
        self.driver = None
        if self.config.driver == "serial_tcp":
            from qsat_pat.drivers.serial_fsm import SerialFsm, SocketLineTransport

            self.driver = SerialFsm(SocketLineTransport(self.config.driver_host, self.config.driver_port,
                                                        self.config.driver_timeout_s), self.config.range_rad)
        self.cmd_pub = self.create_lifecycle_publisher(PointingCommand, "fsm_command", Qos.COMMAND)
        self.state_pub = self.create_lifecycle_publisher(ActuatorState, "fsm_state", Qos.STREAM)
        self.sub = self.create_subscription(BeaconCentroid, "beacon_centroid", self.on_centroid, Qos.STREAM)
        self.eph_sub = self.create_subscription(EphemerisState, "ephemeris", self.on_ephemeris, Qos.STATE)
        self.pat_sub = self.create_subscription(PatStatus, "pat_status", self.on_pat_status, Qos.STREAM)
        self.coarse_sub = None
        if self.config.coarse_camera_id:
            self.coarse_sub = self.create_subscription(BeaconCentroid, "coarse_centroid", self.on_coarse_centroid,
                                                       Qos.STREAM)
        self.timer = self.create_timer(1.0 / self.config.state_rate_hz, self.on_timer)

    def _build(self, cfg: FsmControllerConfig) -> None:
        fine_fields = FineLoopConfig.__dataclass_fields__
        fsm_fields = FsmConfig.__dataclass_fields__
        d = cfg.as_dict()
        self.loop = FineTrackLoop(FineLoopConfig(**{k: v for k, v in d.items() if k in fine_fields}),
                                  FsmConfig(**{k: v for k, v in d.items() if k in fsm_fields}))
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

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "loop"):
            self._build(new)

    def on_teardown(self) -> None:
        for name in ("sub", "eph_sub", "pat_sub", "coarse_sub"):
            if getattr(self, name, None) is not None:
                self.destroy_subscription(getattr(self, name))
                setattr(self, name, None)
        if getattr(self, "timer", None) is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        if getattr(self, "driver", None) is not None:
            self.driver.close()
            self.driver = None

    def on_ephemeris(self, msg: EphemerisState) -> None:
        pa = (msg.point_ahead_az_rad * math.cos(msg.el_rad), msg.point_ahead_el_rad)
        if not all(math.isfinite(v) for v in pa):
            self.reject("bad_ephemeris", f"non-finite point-ahead {pa}")
            return
        self.point_ahead = np.array(pa)
        self.ephemeris_t = stamp_to_s(msg.header.stamp) or self.now_s()  # stamp: see pat_manager

    def _point_ahead(self, now: float) -> np.ndarray:
        c = self.config
        if not c.point_ahead_enabled or self.ephemeris_t is None or now - self.ephemeris_t > c.ephemeris_timeout_s:
            return np.zeros(2)
        return self.point_ahead

    def on_pat_status(self, msg: PatStatus) -> None:
        self.pat_state = int(msg.state)
        self.pat_t = self.now_s()

    def _pat_tracking(self, now: float) -> bool | None:
        """True/False: the PAT manager is/is not in COARSE_TRACK or FINE_TRACK; None: not followed
        (``follow_pat`` off, or no fresh ``pat_status``)."""
        if not self.config.follow_pat or self.pat_state is None or now - self.pat_t > self.config.pat_timeout_s:
            return None
        return self.pat_state in (PatStatus.STATE_COARSE_TRACK, PatStatus.STATE_FINE_TRACK)

    def on_coarse_centroid(self, msg: BeaconCentroid) -> None:
        """Keep the coarse residual in the FSM's axes, as the fine camera would see it (minus the
        mirror angle at the frame's time); the next fine frame without a detection uses it."""
        if not self.active or msg.camera_id != self.config.coarse_camera_id or not msg.valid:
            return
        if not (math.isfinite(msg.x_px) and math.isfinite(msg.y_px)):
            self.reject("non_finite_centroid", f"valid coarse centroid with non-finite position ({msg.x_px}, {msg.y_px})")
            return
        t_meas = min(stamp_to_s(msg.header.stamp), self.now_s())
        d_px = np.array([msg.x_px - self.config.coarse_setpoint_x_px, msg.y_px - self.config.coarse_setpoint_y_px])
        self.coarse_pending = (-self.coarse_rad_per_px @ d_px - self._mirror_at(t_meas), t_meas)

    def _mirror_at(self, t_s: float) -> np.ndarray:
        """The command in force at ``t_s`` (the last one at or before it)."""
        for t, u in reversed(self.cmd_history):
            if t <= t_s:
                return u
        return self.cmd_history[0][1] if self.cmd_history else np.zeros(2)

    def on_centroid(self, msg: BeaconCentroid) -> None:
        if not self.active:
            return
        if msg.camera_id != self.config.camera_id:
            self.count("ignored_other_camera")
            return
        now = self.now_s()
        if self.last_t is not None and now < self.last_t:
            self.loop.reset()  # clock jumped back (sim restart)
            self.count("clock_resets")
        self.last_t = now
        residual = None
        t_meas = None
        if msg.valid:
            if not (math.isfinite(msg.x_px) and math.isfinite(msg.y_px)):
                self.reject("non_finite_centroid", f"valid centroid with non-finite position ({msg.x_px}, {msg.y_px})")
                return
            d_px = np.array([msg.x_px - self.config.setpoint_x_px, msg.y_px - self.config.setpoint_y_px])
            residual = -self.rad_per_px @ d_px
            t_meas = min(stamp_to_s(msg.header.stamp), now)
        if residual is not None:
            self.last_fine_t = now
        tracking = self._pat_tracking(now)
        coarse, self.coarse_pending = self.coarse_pending, None
        reason = "fine track" if residual is not None else "fine coast (no detection)"
        if (residual is None and coarse is not None and tracking and self.pat_state == PatStatus.STATE_COARSE_TRACK
                and now - self.last_fine_t > self.config.fine_lost_s):
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
            self.reject("bad_command", str(exc))
            return
        self.watchdog.feed(now)
        self.last_cmd = u
        self.cmd_history.append((now, u))
        self.count("commands")
        self.cmd_pub.publish(pointing_command_to_msg(cmd))
        if self.driver is not None and not self.driver.set_angles(u[0], u[1]):
            self.count("driver_errors")

    def on_timer(self) -> None:
        if not self.active:
            return
        now = self.now_s()
        pos = self.last_cmd
        fault_reason = ""
        if self.driver is not None:
            reading = self.driver.get_angles(now)
            if reading is not None:
                pos = np.array([reading.axis1_rad, reading.axis2_rad])
            fault_reason = self.driver.fault_reason
        st = self.watchdog.state(now, Stage.FSM, pos, at_limit=self.at_limit, fault_reason=fault_reason)
        if st.holding and self.watchdog.command_age_s(now) != math.inf:
            self.count("holding_ticks")
        self.state_pub.publish(actuator_state_to_msg(st))

    def diagnostic_values(self) -> dict:
        return {"fsm_tip_urad": f"{self.last_cmd[0] * 1e6:.2f}", "fsm_tilt_urad": f"{self.last_cmd[1] * 1e6:.2f}"}


NODE_CLASS = FsmControllerNode
main = make_main(FsmControllerNode)

if __name__ == "__main__":
    sys.exit(main())
