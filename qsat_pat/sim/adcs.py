"""Spacecraft attitude plant: Basilisk rigid body, reaction wheels, MRP feedback, star tracker.

The space terminal's coarse stage is the spacecraft body.  This module runs a Basilisk
(``bsk``) simulation of a 12U-class CubeSat:

* ``spacecraft.Spacecraft`` rigid hub (inertia from :class:`AdcsConfig`), no orbit
  dynamics (the orbit is SGP4 truth, :mod:`qsat_pat.sim.orbit`);
* three orthogonal BCT RWP015 reaction wheels (``simIncludeRW``,
  ``reactionWheelStateEffector``; 4 mNm, 15 mNms each);
* flight software as flown with Basilisk: ``attTrackingError`` (reference vs navigation
  attitude), ``mrpFeedback`` (MRP PD(+I) law with reference-rate feed-forward and
  gyroscopic terms, Schaub & Junkins, *Analytical Mechanics of Space Systems*, §8) and
  ``rwMotorTorque`` (torque -> wheel motor torques);
* a **star tracker + gyro** written in Python from seeded numpy generators: the
  navigation attitude the controller sees is the truth rotated by a white-noise error with
  1-sigma ``st_cross_sigma_rad`` about the two axes perpendicular to the tracker bore and
  ``st_bore_sigma_rad`` about it (NanoBob §3: 50 urad cross-bore; XACT: 120 urad about the
  bore, NanoBob §4.5), plus a constant per-run bias; the body rate is the truth plus gyro
  white noise.  The tracker bore is parallel to the terminal line of sight (body +z), as in
  NanoBob §3.  Vector's sun-sensor ADCS ("sub-1.5 deg coarse pointing", seed 003 §2.1) is
  the preset ``vector`` (1.5 deg taken as a 3-sigma bound: 0.5 deg 1-sigma per axis).

Stepping is lockstep: :meth:`BasiliskAdcs.step` writes the navigation and reference
messages, advances Basilisk by ``dt_s`` (a multiple of the dynamics period) and reads the
truth back.  Only Basilisk modules that work offline are imported (no ``simIncludeGravBody``,
``vizSupport``, ``unitTestSupport``, ``simHelpers``, ``planetStates``: they contact the
network on import; /work/shared/ENVIRONMENT.md "Simulation engines").

References
----------
NanoBob (seed 001) §3 and §4.5 (ADCS: 50 urad 1-sigma cross-bore pointing, 30 urad
knowledge, 120 urad about the bore, 12.6 mrad/s slew at 550 km); seed 003 (Vector) §2.1
(3 reaction wheels, sub-1.5 deg coarse pointing, sub-0.25 deg with payload feedback).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "AdcsConfig",
    "AdcsSample",
    "AttitudeTarget",
    "BasiliskAdcs",
    "STAR_TRACKER_PRESETS",
    "dcm_to_mrp",
    "dcm_to_quaternion_wxyz",
    "mrp_to_dcm",
    "pointing_target",
]

#: Star-tracker knowledge presets: (cross-bore 1-sigma, about-bore 1-sigma) [rad].
STAR_TRACKER_PRESETS = {
    "nanobob": (50e-6, 120e-6),  # NanoBob §3, §4.5 (XACT class)
    "vector": (math.radians(1.5) / 3.0, math.radians(1.5) / 3.0),  # seed 003 §2.1, 3-sigma bound
}
BORESIGHT_B = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class AdcsConfig(ConfigBase):
    """Spacecraft attitude plant and flight controller (one Basilisk simulation)."""

    inertia_diag_kgm2: tuple = param((0.20, 0.22, 0.12), "principal inertia of the bus (12U CubeSat class)",
                                     unit="kg m^2", min_value=1e-4, max_value=1e4)
    mass_kg: float = param(12.0, "bus mass", unit="kg", min_value=0.1, max_value=1e4)
    dynamics_period_s: float = param(0.01, "Basilisk dynamics integration period", unit="s",
                                     min_value=1e-4, max_value=1.0)
    fsw_period_s: float = param(0.1, "flight software (controller and star tracker) period", unit="s",
                                min_value=1e-3, max_value=10.0)
    control_bandwidth_radps: float = param(0.6, "closed-loop natural frequency of the attitude loop",
                                           unit="rad/s", min_value=0.01, max_value=10.0)
    control_damping: float = param(0.9, "closed-loop damping ratio of the attitude loop",
                                   min_value=0.1, max_value=3.0)
    integral_gain: float = param(-1.0, "mrpFeedback Ki (negative disables the integral term)",
                                 unit="1/s", min_value=-1.0, max_value=10.0)
    star_tracker: str = param("nanobob", "star-tracker knowledge preset (custom uses the sigmas below)",
                              choices=("nanobob", "vector", "custom"))
    st_cross_sigma_rad: float = param(50e-6, "custom: 1-sigma knowledge error across the tracker bore",
                                      unit="rad", min_value=0.0, max_value=0.1)
    st_bore_sigma_rad: float = param(120e-6, "custom: 1-sigma knowledge error about the tracker bore",
                                     unit="rad", min_value=0.0, max_value=0.1)
    st_bias_sigma_rad: float = param(0.0, "1-sigma of a constant per-run knowledge bias per axis",
                                     unit="rad", min_value=0.0, max_value=0.1)
    gyro_noise_radps: float = param(5e-6, "1-sigma gyro rate noise per sample", unit="rad/s",
                                    min_value=0.0, max_value=1e-2)
    wheel_initial_speed_rpm: float = param(500.0, "initial speed of every wheel (momentum bias)",
                                           unit="rpm", min_value=-6000.0, max_value=6000.0)

    def check(self) -> None:
        if len(self.inertia_diag_kgm2) != 3:
            raise ConfigError("AdcsConfig.inertia_diag_kgm2 needs 3 values (Ixx, Iyy, Izz)")
        ratio = self.fsw_period_s / self.dynamics_period_s
        if abs(ratio - round(ratio)) > 1e-9:
            raise ConfigError(
                f"AdcsConfig.fsw_period_s={self.fsw_period_s} must be a multiple of "
                f"dynamics_period_s={self.dynamics_period_s} (Basilisk advances on task periods)")

    def knowledge_sigma_rad(self) -> tuple[float, float]:
        """(cross-bore, about-bore) 1-sigma star-tracker knowledge error [rad]."""
        if self.star_tracker == "custom":
            return self.st_cross_sigma_rad, self.st_bore_sigma_rad
        return STAR_TRACKER_PRESETS[self.star_tracker]


@dataclass(frozen=True)
class AttitudeTarget:
    """Reference attitude for the controller (what ``adcs_pointing`` commands).

    Attributes
    ----------
    sigma_rn : ndarray (3,)
        MRP of the reference frame R relative to inertial N.
    omega_rn_n_radps : ndarray (3,)
        Angular velocity of R w.r.t. N, N components [rad/s].
    domega_rn_n_radps2 : ndarray (3,)
        Its derivative [rad/s^2].
    """

    sigma_rn: np.ndarray
    omega_rn_n_radps: np.ndarray
    domega_rn_n_radps2: np.ndarray

    def __post_init__(self) -> None:
        for name in ("sigma_rn", "omega_rn_n_radps", "domega_rn_n_radps2"):
            v = np.asarray(getattr(self, name), dtype=float).reshape(-1)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise SimulationError(f"AttitudeTarget.{name} must be 3 finite numbers, got {v!r}")
            object.__setattr__(self, name, v)

    @property
    def dcm_rn(self) -> np.ndarray:
        """[RN] direction-cosine matrix (rows: R axes in N)."""
        return mrp_to_dcm(self.sigma_rn)

    def propagated(self, dt_s: float) -> AttitudeTarget:
        """The reference ``dt_s`` later, rotating at ``omega_rn_n_radps + domega * dt/2`` (2nd order)."""
        w_n = self.omega_rn_n_radps + 0.5 * self.domega_rn_n_radps2 * dt_s
        rn = self.dcm_rn
        rn_new = _small_rotation(rn @ w_n * dt_s) @ rn
        return AttitudeTarget(dcm_to_mrp(rn_new), self.omega_rn_n_radps + self.domega_rn_n_radps2 * dt_s,
                              self.domega_rn_n_radps2)


@dataclass(frozen=True)
class AdcsSample:
    """State after one :meth:`BasiliskAdcs.step` (fields of ``msg/AdcsState.msg`` and truth).

    Quaternions are body -> inertial, (w, x, y, z), as ``AdcsState.attitude``.
    """

    t_s: float
    sigma_bn_true: np.ndarray
    sigma_bn_est: np.ndarray
    quaternion_true_wxyz: np.ndarray
    quaternion_est_wxyz: np.ndarray
    omega_bn_b_radps: np.ndarray
    wheel_speeds_radps: np.ndarray
    #: true angle between the target boresight and the body boresight [rad]
    boresight_error_true_rad: float
    #: the same angle as the ADCS estimates it (what AdcsState.attitude_error_rad carries) [rad]
    attitude_error_est_rad: float
    #: true boresight error about body x and y (small angles) [rad], shape (2,)
    boresight_error_xy_rad: np.ndarray
    knowledge_sigma_rad: float


# ----------------------------------------------------------------------------- attitude maths
def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def mrp_to_dcm(sigma) -> np.ndarray:
    """[BN] from MRPs: ``C = I + (8 S^2 - 4 (1 - s^2) S) / (1 + s^2)^2`` with ``S = [sigma x]``."""
    s = np.asarray(sigma, dtype=float).reshape(3)
    s2 = float(s @ s)
    sk = _skew(s)
    return np.eye(3) + (8.0 * sk @ sk - 4.0 * (1.0 - s2) * sk) / (1.0 + s2) ** 2


def _dcm_to_quat_bn(c: np.ndarray) -> np.ndarray:
    """Euler parameters (b0, b1, b2, b3) of [BN] (Shepperd), b0 >= 0."""
    tr = np.trace(c)
    b2 = np.array([1.0 + tr, 1.0 + 2 * c[0, 0] - tr, 1.0 + 2 * c[1, 1] - tr, 1.0 + 2 * c[2, 2] - tr]) / 4.0
    i = int(np.argmax(b2))
    b = np.empty(4)
    b[i] = math.sqrt(b2[i])
    if i == 0:
        b[1] = (c[1, 2] - c[2, 1]) / (4 * b[0])
        b[2] = (c[2, 0] - c[0, 2]) / (4 * b[0])
        b[3] = (c[0, 1] - c[1, 0]) / (4 * b[0])
    elif i == 1:
        b[0] = (c[1, 2] - c[2, 1]) / (4 * b[1])
        b[2] = (c[0, 1] + c[1, 0]) / (4 * b[1])
        b[3] = (c[2, 0] + c[0, 2]) / (4 * b[1])
    elif i == 2:
        b[0] = (c[2, 0] - c[0, 2]) / (4 * b[2])
        b[1] = (c[0, 1] + c[1, 0]) / (4 * b[2])
        b[3] = (c[1, 2] + c[2, 1]) / (4 * b[2])
    else:
        b[0] = (c[0, 1] - c[1, 0]) / (4 * b[3])
        b[1] = (c[2, 0] + c[0, 2]) / (4 * b[3])
        b[2] = (c[1, 2] + c[2, 1]) / (4 * b[3])
    return b if b[0] >= 0 else -b


def dcm_to_mrp(c) -> np.ndarray:
    """Short-rotation MRP (|sigma| <= 1) of a direction-cosine matrix [BN]."""
    b = _dcm_to_quat_bn(np.asarray(c, dtype=float))
    return b[1:] / (1.0 + b[0])


def dcm_to_quaternion_wxyz(c_bn) -> np.ndarray:
    """Quaternion of the rotation body -> inertial (w, x, y, z) from [BN].

    [BN] maps inertial components to body components; the rotation that takes body-frame
    vectors to inertial frame is its transpose, whose quaternion has the same scalar part
    and the same vector part in the Hamilton convention used by ROS (geometry_msgs).
    """
    b = _dcm_to_quat_bn(np.asarray(c_bn, dtype=float))
    return np.array([b[0], b[1], b[2], b[3]])


def pointing_target(boresight_n, boresight_rate_n_ps=(0.0, 0.0, 0.0), secondary_n=(0.0, 0.0, 1.0),
                    boresight_acc_n_ps2=(0.0, 0.0, 0.0)) -> AttitudeTarget:
    """Reference that puts the body +z (terminal boresight) on a direction in inertial space.

    The reference x axis is ``secondary x boresight`` normalised (roll about the line of
    sight fixed by ``secondary_n``, e.g. the orbit normal); the reference angular velocity
    is the minimum-norm one that turns the boresight, ``omega = b x b_dot`` (no roll rate),
    and its derivative ``b x b_ddot``.

    Parameters
    ----------
    boresight_n : array_like (3,)
        Desired boresight direction in inertial axes (need not be unit).
    boresight_rate_n_ps, boresight_acc_n_ps2 : array_like (3,)
        Time derivatives of the **unit** boresight vector [1/s], [1/s^2].
    secondary_n : array_like (3,)
        A direction not parallel to the boresight that fixes the roll.

    Raises
    ------
    SimulationError
        Zero/non-finite vectors or a secondary direction parallel to the boresight.
    """
    b = np.asarray(boresight_n, dtype=float).reshape(3)
    s = np.asarray(secondary_n, dtype=float).reshape(3)
    bd = np.asarray(boresight_rate_n_ps, dtype=float).reshape(3)
    bdd = np.asarray(boresight_acc_n_ps2, dtype=float).reshape(3)
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(s)) and np.all(np.isfinite(bd))
            and np.all(np.isfinite(bdd))):
        raise SimulationError("pointing_target needs finite vectors")
    nb = np.linalg.norm(b)
    if nb == 0.0:
        raise SimulationError("pointing_target: boresight direction is the zero vector")
    z = b / nb
    x = np.cross(s, z)
    nx = np.linalg.norm(x)
    if nx < 1e-6:
        raise SimulationError("pointing_target: secondary direction is parallel to the boresight; "
                              "choose another roll reference (e.g. the orbit normal)")
    x /= nx
    y = np.cross(z, x)
    rn = np.vstack([x, y, z])
    return AttitudeTarget(dcm_to_mrp(rn), np.cross(z, bd), np.cross(z, bdd))


def _small_rotation(phi: np.ndarray) -> np.ndarray:
    """DCM of a rotation vector (exact, Rodrigues) as a frame rotation [B'B]."""
    ang = float(np.linalg.norm(phi))
    if ang < 1e-12:
        return np.eye(3) - _skew(phi)
    k = _skew(phi / ang)
    return np.eye(3) - math.sin(ang) * k + (1.0 - math.cos(ang)) * k @ k


# ----------------------------------------------------------------------------- Basilisk plant
def _import_basilisk():
    """Import the offline-safe Basilisk modules (MPLCONFIGDIR set: SimulationBaseClass imports pyplot)."""
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "qsat_pat_mpl"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        from Basilisk.architecture import messaging
        from Basilisk.fswAlgorithms import attTrackingError, mrpFeedback, rwMotorTorque
        from Basilisk.simulation import reactionWheelStateEffector, spacecraft
        from Basilisk.utilities import SimulationBaseClass, macros, simIncludeRW
    except ImportError as exc:
        raise SimulationError(
            f"Basilisk is not installed ({exc}); install it with `.venv/bin/pip install bsk==2.12.1`"
        ) from None
    return (messaging, attTrackingError, mrpFeedback, rwMotorTorque, reactionWheelStateEffector,
            spacecraft, SimulationBaseClass, macros, simIncludeRW)


class BasiliskAdcs:
    """Lockstep Basilisk attitude simulation of the spacecraft (the space terminal's coarse stage).

    Parameters
    ----------
    config : AdcsConfig
    rng : numpy.random.Generator
        Drives the star-tracker, bias and gyro noise (seed it for reproducible runs).
    initial_target : AttitudeTarget, optional
        The body starts exactly at this attitude, at rest relative to it (default: identity).

    Notes
    -----
    :meth:`step` advances by ``dt_s``, which must be a positive multiple of
    ``config.fsw_period_s``; the star tracker is sampled once per flight-software period.
    """

    def __init__(self, config: AdcsConfig | None = None, rng: np.random.Generator | None = None,
                 initial_target: AttitudeTarget | None = None) -> None:
        if rng is None or not isinstance(rng, np.random.Generator):
            raise SimulationError("BasiliskAdcs needs a seeded numpy.random.Generator (rng=...)")
        self.config = cfg = config or AdcsConfig()
        self.rng = rng
        (self._msg, att_err_mod, mrp_mod, rw_motor_mod, rw_eff_mod, sc_mod, sbc, self._macros,
         sim_rw) = _import_basilisk()
        self.cross_sigma_rad, self.bore_sigma_rad = cfg.knowledge_sigma_rad()
        self.bias_rad = rng.normal(0.0, cfg.st_bias_sigma_rad, 3) if cfg.st_bias_sigma_rad > 0 else np.zeros(3)
        target = initial_target or AttitudeTarget(np.zeros(3), np.zeros(3), np.zeros(3))
        self.target = target

        self._sim = sbc.SimBaseClass()
        self._sim.SetProgressBar(False)
        proc = self._sim.CreateNewProcess("adcs")
        self._dyn_ns = self._macros.sec2nano(cfg.dynamics_period_s)
        self._fsw_ns = self._macros.sec2nano(cfg.fsw_period_s)
        proc.addTask(self._sim.CreateNewTask("dyn", self._dyn_ns))
        proc.addTask(self._sim.CreateNewTask("fsw", self._fsw_ns))

        inertia = np.diag(np.asarray(cfg.inertia_diag_kgm2, dtype=float))
        self.inertia_kgm2 = inertia
        sc = sc_mod.Spacecraft()
        sc.ModelTag = "bus"
        sc.hub.mHub = cfg.mass_kg
        sc.hub.r_BcB_B = [[0.0], [0.0], [0.0]]
        sc.hub.IHubPntBc_B = inertia.tolist()
        sc.hub.sigma_BNInit = [[float(v)] for v in target.sigma_rn]
        w0_b = mrp_to_dcm(target.sigma_rn) @ target.omega_rn_n_radps
        sc.hub.omega_BN_BInit = [[float(v)] for v in w0_b]
        sc.hub.r_CN_NInit = [[7.0e6], [0.0], [0.0]]
        sc.hub.v_CN_NInit = [[0.0], [0.0], [0.0]]
        self._sim.AddModelToTask("dyn", sc, 1)

        rw_factory = sim_rw.rwFactory()
        for axis in np.eye(3):
            rw_factory.create("BCT_RWP015", axis.tolist(), Omega=float(cfg.wheel_initial_speed_rpm),
                              RWModel=self._msg.BalancedWheels)
        rw_eff = rw_eff_mod.ReactionWheelStateEffector()
        rw_eff.ModelTag = "rw"
        rw_factory.addToSpacecraft("rw", rw_eff, sc)
        self._sim.AddModelToTask("dyn", rw_eff, 2)
        self.n_wheels = rw_factory.getNumOfDevices()
        self.max_wheel_torque_nm = 0.004

        # flight software ------------------------------------------------------------
        att_err = att_err_mod.attTrackingError()
        att_err.ModelTag = "attErrorInertial"
        self._sim.AddModelToTask("fsw", att_err, 10)
        ctrl = mrp_mod.mrpFeedback()
        ctrl.ModelTag = "mrpFeedback"
        wn, zeta = cfg.control_bandwidth_radps, cfg.control_damping
        i_max = float(np.max(inertia))
        # linearised about sigma ~ theta/4: I theta'' = -K theta/4 - P theta'
        ctrl.K = 4.0 * i_max * wn * wn
        ctrl.P = 2.0 * zeta * wn * i_max
        ctrl.Ki = cfg.integral_gain
        ctrl.integralLimit = 2.0 / ctrl.Ki * 0.1 if cfg.integral_gain > 0 else 0.0
        self._sim.AddModelToTask("fsw", ctrl, 9)
        rw_motor = rw_motor_mod.rwMotorTorque()
        rw_motor.ModelTag = "rwMotorTorque"
        rw_motor.controlAxes_B = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        self._sim.AddModelToTask("fsw", rw_motor, 8)

        self._nav_msg = self._msg.NavAttMsg()
        self._ref_msg = self._msg.AttRefMsg()
        veh = self._msg.VehicleConfigMsgPayload()
        veh.ISCPntB_B = inertia.reshape(-1).tolist()
        self._veh_msg = self._msg.VehicleConfigMsg().write(veh)
        self._rw_param_msg = rw_factory.getConfigMessage()

        att_err.attNavInMsg.subscribeTo(self._nav_msg)
        att_err.attRefInMsg.subscribeTo(self._ref_msg)
        ctrl.guidInMsg.subscribeTo(att_err.attGuidOutMsg)
        ctrl.vehConfigInMsg.subscribeTo(self._veh_msg)
        ctrl.rwParamsInMsg.subscribeTo(self._rw_param_msg)
        ctrl.rwSpeedsInMsg.subscribeTo(rw_eff.rwSpeedOutMsg)
        rw_motor.rwParamsInMsg.subscribeTo(self._rw_param_msg)
        rw_motor.vehControlInMsg.subscribeTo(ctrl.cmdTorqueOutMsg)
        rw_eff.rwMotorCmdInMsg.subscribeTo(rw_motor.rwMotorTorqueOutMsg)

        self._sc, self._rw_eff, self._ctrl = sc, rw_eff, ctrl
        self._t_ns = 0
        self._write_reference(target, 0)
        self._sigma_bn = np.asarray(target.sigma_rn, dtype=float).copy()
        self._omega_b = w0_b.copy()
        self._write_nav(0)
        self._sim.InitializeSimulation()
        self.last: AdcsSample | None = None

    # -- messages ------------------------------------------------------------------------
    def _write_reference(self, target: AttitudeTarget, t_ns: int) -> None:
        ref = self._msg.AttRefMsgPayload()
        ref.sigma_RN = target.sigma_rn.tolist()
        ref.omega_RN_N = target.omega_rn_n_radps.tolist()
        ref.domega_RN_N = target.domega_rn_n_radps2.tolist()
        self._ref_msg.write(ref, t_ns)

    def _estimated_dcm_bn(self) -> np.ndarray:
        noise = np.array([self.rng.normal(0.0, self.cross_sigma_rad) if self.cross_sigma_rad > 0 else 0.0,
                          self.rng.normal(0.0, self.cross_sigma_rad) if self.cross_sigma_rad > 0 else 0.0,
                          self.rng.normal(0.0, self.bore_sigma_rad) if self.bore_sigma_rad > 0 else 0.0])
        return _small_rotation(noise + self.bias_rad) @ mrp_to_dcm(self._sigma_bn)

    def _write_nav(self, t_ns: int) -> None:
        self._est_bn = self._estimated_dcm_bn()
        gyro = self._omega_b + (self.rng.normal(0.0, self.config.gyro_noise_radps, 3)
                                if self.config.gyro_noise_radps > 0 else 0.0)
        nav = self._msg.NavAttMsgPayload()
        nav.sigma_BN = dcm_to_mrp(self._est_bn).tolist()
        nav.omega_BN_B = np.asarray(gyro, dtype=float).tolist()
        nav.timeTag = t_ns * 1e-9
        self._nav_msg.write(nav, t_ns)

    # -- stepping --------------------------------------------------------------------------
    @property
    def t_s(self) -> float:
        """Simulation time since construction [s]."""
        return self._t_ns * 1e-9

    def step(self, dt_s: float, target: AttitudeTarget | None = None) -> AdcsSample:
        """Advance the attitude simulation by ``dt_s`` holding ``target``.

        Parameters
        ----------
        dt_s : float
            Step [s]; a positive multiple of ``config.fsw_period_s``.
        target : AttitudeTarget, optional
            New reference, valid at the start of the step (default: the previous one,
            propagated); within the step it is propagated at its own rate.

        Returns
        -------
        AdcsSample
            Truth and estimate at the end of the step.

        Raises
        ------
        SimulationError
            A step that is not a multiple of the flight-software period, or a bad target.
        """
        dt = float(np.asarray(dt_s, dtype=float))
        n_fsw = dt / self.config.fsw_period_s
        if not (math.isfinite(dt) and dt > 0 and abs(n_fsw - round(n_fsw)) < 1e-6):
            raise SimulationError(
                f"BasiliskAdcs.step dt_s={dt_s!r} must be a positive multiple of "
                f"fsw_period_s={self.config.fsw_period_s} s")
        if target is not None:
            if not isinstance(target, AttitudeTarget):
                raise SimulationError(f"target must be an AttitudeTarget, got {type(target).__name__}")
            self.target = target
        for _ in range(round(n_fsw)):
            self._write_reference(self.target, self._t_ns)
            self.target = self.target.propagated(self.config.fsw_period_s)
            self._write_nav(self._t_ns)
            self._t_ns += self._fsw_ns
            self._sim.ConfigureStopTime(self._t_ns)
            self._sim.ExecuteSimulation()
            state = self._sc.scStateOutMsg.read()
            self._sigma_bn = np.array(state.sigma_BN, dtype=float)
            self._omega_b = np.array(state.omega_BN_B, dtype=float)
        self.last = self._sample()
        return self.last

    def _sample(self) -> AdcsSample:
        bn = mrp_to_dcm(self._sigma_bn)
        rn = self.target.dcm_rn
        b_target_b = bn @ rn[2]  # target boresight in body axes
        err_true = math.atan2(float(np.linalg.norm(np.cross(BORESIGHT_B, b_target_b))),
                              float(b_target_b @ BORESIGHT_B))
        b_target_est = self._est_bn @ rn[2]
        err_est = math.atan2(float(np.linalg.norm(np.cross(BORESIGHT_B, b_target_est))),
                             float(b_target_est @ BORESIGHT_B))
        # small-angle error about body x (target at +y means rotate about -x) and y
        err_xy = np.array([-b_target_b[1], b_target_b[0]])
        speeds = np.array(self._rw_eff.rwSpeedOutMsg.read().wheelSpeeds[: self.n_wheels], dtype=float)
        return AdcsSample(
            t_s=self.t_s, sigma_bn_true=self._sigma_bn.copy(), sigma_bn_est=dcm_to_mrp(self._est_bn),
            quaternion_true_wxyz=dcm_to_quaternion_wxyz(bn),
            quaternion_est_wxyz=dcm_to_quaternion_wxyz(self._est_bn),
            omega_bn_b_radps=self._omega_b.copy(), wheel_speeds_radps=speeds,
            boresight_error_true_rad=err_true, attitude_error_est_rad=err_est,
            boresight_error_xy_rad=err_xy, knowledge_sigma_rad=self.cross_sigma_rad,
        )

    def dcm_bn_true(self) -> np.ndarray:
        """True [BN] (inertial -> body components) at the current time."""
        return mrp_to_dcm(self._sigma_bn)

    def los_tip_tilt_rad(self, los_n) -> np.ndarray:
        """Direction of an inertial unit vector from the body boresight (+z) as (tip, tilt) [rad].

        ``tip = atan2(b_x, b_z)``, ``tilt = atan2(b_y, b_z)`` of the vector in true body axes:
        the line-of-sight error the satellite's beacon camera sees (before its FSM).
        """
        b = self.los_body(los_n)
        return np.array([math.atan2(b[0], b[2]), math.atan2(b[1], b[2])])

    def los_body(self, los_n) -> np.ndarray:
        """A unit inertial direction expressed in true body axes (for the beacon camera)."""
        v = np.asarray(los_n, dtype=float).reshape(3)
        return self.dcm_bn_true() @ (v / np.linalg.norm(v))
