"""Loop studies of the two-stage tracking control: pass geometry, rejection, simulated passes.

Offline companions of :mod:`qsat_pat.core.control` (tests, benchmarks and
``qsat-pat control rejection``), not flight code:

* :func:`circular_pass` -- az/el/range and rates of a circular-orbit pass over a non-rotating
  spherical Earth (:class:`PassGeometry`), to reproduce NanoBob's slew peaks;
* :func:`simulate_sine_rejection` / :func:`rejection_curve` -- the closed fine loop (FSM
  plant + delayed camera) against a sinusoidal disturbance (:class:`RejectionPoint`);
* :func:`simulate_two_stage_pass` -- ephemeris-fed mount + FSM fine loop + offload over a
  pass (:class:`PassSimResult`);
* :func:`fit_sine_amplitude`, :func:`dominant_frequency_hz` -- measure a disturbance in
  unevenly sampled data (York's FSM0/FSM1 records).

References
----------
seed 001 §4.5 (NanoBob: 13.7 mrad/s OGS slew, 12.6 mrad/s satellite slew at 550 km); seed 002
§II.3 (excess handed to the mount), §IV (camera latency -> over-correction); seed 004 eq.
(3)-(4) (az offsets scale with cos(el) on the camera).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from qsat_pat.core._checks import _finite
from qsat_pat.core.constants import EARTH_MEAN_RADIUS_M as R_EARTH_M
from qsat_pat.core.constants import MU_EARTH_M3PS2
from qsat_pat.core.control import (
    CoarseStageConfig,
    CoarseStageModel,
    FineLoopConfig,
    FineTrackLoop,
    FsmConfig,
    FsmModel,
    FsmOffload,
    OffloadConfig,
    los_to_mount_rate,
    wrap_pi,
)
from qsat_pat.core.errors import ControlError

__all__ = [
    "PassGeometry",
    "PassSimResult",
    "RejectionPoint",
    "circular_pass",
    "dominant_frequency_hz",
    "fit_sine_amplitude",
    "rejection_curve",
    "simulate_sine_rejection",
    "simulate_two_stage_pass",
]


@dataclass(frozen=True)
class PassGeometry:
    """Circular-orbit pass seen from a ground station on a non-rotating spherical Earth."""

    t_s: np.ndarray
    az_rad: np.ndarray
    el_rad: np.ndarray
    range_m: np.ndarray
    az_rate_radps: np.ndarray
    el_rate_radps: np.ndarray
    los_rate_radps: np.ndarray      #: total angular rate of the line of sight (OGS slew)
    body_rate_radps: np.ndarray     #: satellite inertial slew rate to keep pointing at the OGS


def circular_pass(altitude_m: float, max_elevation_rad: float, t_s) -> PassGeometry:
    """Az/el/range and rates of a circular-orbit pass, closest approach at ``t = 0``.

    The orbit (radius ``R_E + h``, rate ``n = sqrt(mu/r^3)``) passes over a point at
    Earth-central angle ``gamma = arccos(R_E cos E / r) - E`` from the station (E: max
    elevation), moving north.  Earth rotation is ignored (< 6 % on the rates).  Used to
    reproduce NanoBob's 13.7 mrad/s OGS and 12.6 mrad/s satellite slew peaks (seed 001 §4.5).

    Raises
    ------
    ControlError
        Non-positive altitude or max elevation outside (0, pi/2].
    """
    h = _finite("altitude_m", altitude_m)
    e_max = _finite("max_elevation_rad", max_elevation_rad)
    if h <= 0 or not (0 < e_max <= math.pi / 2):
        raise ControlError(f"circular_pass needs altitude > 0 and 0 < max elevation <= pi/2; got {h}, {e_max}")
    t = np.asarray(t_s, dtype=float)
    r = R_EARTH_M + h
    n = math.sqrt(MU_EARTH_M3PS2 / r ** 3)
    gamma = math.acos(min(1.0, R_EARTH_M * math.cos(e_max) / r)) - e_max

    def pos(tt):
        phi = n * tt
        # station at (0, 0, R); x east, y north, z up at the station
        x = r * math.sin(gamma) * np.cos(phi)
        y = r * np.sin(phi)
        z = r * math.cos(gamma) * np.cos(phi) - R_EARTH_M
        return x, y, z

    def vel(tt):
        phi = n * tt
        return (-r * n * math.sin(gamma) * np.sin(phi), r * n * np.cos(phi),
                -r * n * math.cos(gamma) * np.sin(phi))

    x, y, z = pos(t)
    vx, vy, vz = vel(t)
    rng = np.sqrt(x * x + y * y + z * z)
    el = np.arcsin(z / rng)
    az = np.arctan2(x, y)
    rho2 = x * x + y * y
    az_rate = (y * vx - x * vy) / np.where(rho2 > 0, rho2, np.nan)
    rdot = (x * vx + y * vy + z * vz) / rng
    el_rate = (vz * rng - z * rdot) / (rng * np.sqrt(np.maximum(rho2, 1e-30)))
    cx = y * vz - z * vy
    cy = z * vx - x * vz
    cz = x * vy - y * vx
    los_rate = np.sqrt(cx * cx + cy * cy + cz * cz) / (rng * rng)
    body_rate = np.abs(los_rate - n)
    return PassGeometry(t, az, el, rng, az_rate, el_rate, los_rate, body_rate)


@dataclass(frozen=True)
class RejectionPoint:
    """Disturbance rejection at one frequency."""

    frequency_hz: float
    disturbance_rms_rad: float
    residual_rms_rad: float

    @property
    def rejection_db(self) -> float:
        """20 log10(residual rms / disturbance rms) [dB] (negative = rejected)."""
        return 20.0 * math.log10(max(self.residual_rms_rad, 1e-300) / self.disturbance_rms_rad)


def simulate_sine_rejection(frequency_hz: float, amplitude_rad: float = 50e-6, *,
                            loop: FineLoopConfig | None = None, fsm: FsmConfig | None = None,
                            latency_frames: int = 1, periods: float = 10.0,
                            settle_s: float = 0.05, quantum_rad: float = 0.0,
                            noise_rad: float = 0.0, seed: int = 0,
                            max_steps: int = 200_000) -> RejectionPoint:
    """Closed fine loop against ``d(t) = A sin(2 pi f t)`` on one axis; residual rms.

    The camera samples the residual ``d - mirror`` at each frame (instantaneous
    mid-exposure sample), optionally quantised to ``quantum_rad`` (integer-pixel
    centroids as in York's data) and with white noise; the sample reaches the controller
    ``latency_frames`` frames later (stamped with its mid-exposure time).

    Returns
    -------
    RejectionPoint
        rms of the disturbance and of the true residual over the run after ``settle_s``.
    """
    loop = loop or FineLoopConfig()
    fsm = fsm or FsmConfig()
    if frequency_hz <= 0 or amplitude_rad <= 0 or latency_frames < 0:
        raise ControlError("frequency, amplitude must be > 0 and latency_frames >= 0")
    ctl = FineTrackLoop(loop, fsm)
    plant = FsmModel(fsm)
    dt = 1.0 / loop.rate_hz
    duration = settle_s + periods / frequency_hz
    n = min(int(math.ceil(duration / dt)), max_steps)
    rng = np.random.default_rng(seed)
    t = np.arange(n) * dt
    d = amplitude_rad * np.sin(2 * math.pi * frequency_hz * t)
    queue: deque[tuple[float, np.ndarray]] = deque()
    resid = np.zeros(n)
    cmd = np.zeros(2)
    for k in range(n):
        pos = plant.step(cmd, dt) if k else plant.position_rad.copy()
        true_r = d[k] - pos[0]
        resid[k] = true_r
        meas = true_r
        if noise_rad > 0:
            meas += rng.normal(0.0, noise_rad)
        if quantum_rad > 0:
            meas = quantum_rad * round(meas / quantum_rad)
        queue.append((t[k], np.array([meas, 0.0])))
        if len(queue) > latency_frames:
            tm, r = queue.popleft()
            out = ctl.step(t[k], r, tm)
        else:
            out = ctl.step(t[k], None)
        cmd = out.command_rad
    keep = t >= min(settle_s, t[-1] * 0.5)
    return RejectionPoint(float(frequency_hz), float(np.sqrt(np.mean(d[keep] ** 2))),
                          float(np.sqrt(np.mean(resid[keep] ** 2))))


def rejection_curve(frequencies_hz, **kwargs) -> list[RejectionPoint]:
    """:func:`simulate_sine_rejection` at each frequency (same keyword arguments)."""
    return [simulate_sine_rejection(float(f), **kwargs) for f in frequencies_hz]


def fit_sine_amplitude(t_s, x, frequency_hz: float) -> float:
    """Least-squares amplitude of a sinusoid at ``frequency_hz`` in samples ``x(t)`` (+ offset).

    Used to measure the York FSM0/FSM1 disturbance (their camera is not uniformly sampled).
    """
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(x, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if t.size < 4:
        raise ControlError("fit_sine_amplitude needs at least 4 finite samples")
    w = 2 * math.pi * frequency_hz
    a = np.column_stack([np.sin(w * t), np.cos(w * t), np.ones_like(t), t - t.mean()])
    sol, *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(math.hypot(sol[0], sol[1]))


def dominant_frequency_hz(t_s, x, f_min_hz: float = 0.02, f_max_hz: float = 5.0,
                          n: int = 2000) -> float:
    """Frequency of the strongest sinusoid in unevenly sampled ``x(t)`` (Lomb-Scargle)."""
    from scipy.signal import lombscargle

    t = np.asarray(t_s, dtype=float)
    y = np.asarray(x, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok] - np.mean(y[ok])
    f = np.linspace(f_min_hz, f_max_hz, n)
    p = lombscargle(t, y, 2 * math.pi * f)
    return float(f[int(np.argmax(p))])


@dataclass(frozen=True)
class PassSimResult:
    """Outcome of :func:`simulate_two_stage_pass` (angles in rad)."""

    t_s: np.ndarray                 #: sample times (decimated) [s]
    fsm_rad: np.ndarray             #: FSM command (N, 2) [rad]
    residual_rad: np.ndarray        #: true pointing residual los - fsm (N, 2) [rad]
    offload_engaged: np.ndarray     #: offload engaged flag (N,)
    fsm_range_rad: float
    max_fsm_fraction: float         #: max |FSM command| / range over the run
    fsm_saturated: bool             #: any step with the FSM command clamped
    residual_rms_rad: float         #: rms of |residual| after the first second
    handover_transient_rad: float   #: max |residual| within 0.5 s of an offload engage/release
    peak_los_rate_radps: float
    offload_events: int


def simulate_two_stage_pass(*, altitude_m: float = 550e3, max_elevation_rad: float = math.radians(85.0),
                            t_start_s: float = -20.0, t_end_s: float = 20.0,
                            ephemeris_time_error_s: float = 0.05, offload: bool = True,
                            fine: FineLoopConfig | None = None, fsm: FsmConfig | None = None,
                            mount: CoarseStageConfig | None = None,
                            offload_config: OffloadConfig | None = None,
                            latency_frames: int = 1, noise_rad: float = 0.5e-6, seed: int = 0,
                            decimate: int = 10) -> PassSimResult:
    """Two-stage tracking of a circular-orbit pass: ephemeris-fed mount + FSM fine loop + offload.

    The mount is commanded with the *predicted* az/el and rates (feed-forward), taken
    from the true trajectory shifted by ``ephemeris_time_error_s`` (an along-track
    error: ~0.05 s x 7.6 km/s ~ 0.4 km, giving up to ~0.7 mrad near zenith, more than
    the FSM's +-250 urad).  The fine camera measures ``los - fsm`` (LOS frame,
    cross-elevation/elevation) with ``latency_frames`` delay and white noise; the FSM
    loop rejects it; :class:`FsmOffload` hands the FSM's mean deflection to the mount.
    Starts in FINE_TRACK with the FSM centred on the initial error (COARSE_TRACK has
    brought the error below the handover threshold).

    References
    ----------
    seed 001 §4.5 (13.7 mrad/s OGS slew at 550 km); seed 002 §II.3 (excess handed to the
    mount); seed 004 eq. (3)-(4) (az offsets scale with cos(el) on the camera).
    """
    fine = fine or FineLoopConfig()
    fsm = fsm or FsmConfig()
    mount = mount or CoarseStageConfig()
    off = FsmOffload(offload_config or OffloadConfig(), fsm)
    dt = 1.0 / fine.rate_hz
    t = np.arange(t_start_s, t_end_s, dt)
    truth = circular_pass(altitude_m, max_elevation_rad, t)
    pred = circular_pass(altitude_m, max_elevation_rad, t + ephemeris_time_error_s)
    rng = np.random.default_rng(seed)
    ctl = FineTrackLoop(fine, fsm)
    mirror = FsmModel(fsm)
    stage = CoarseStageModel(mount, (float(pred.az_rad[0]), float(pred.el_rad[0])))
    stage.rate_radps = np.array([pred.az_rate_radps[0], pred.el_rate_radps[0]])
    offset = np.zeros(2)  # accumulated offload, az/el [rad]
    # coarse track has already removed the initial ephemeris error
    offset[0] = float(wrap_pi(truth.az_rad[0] - pred.az_rad[0]))
    offset[1] = truth.el_rad[0] - pred.el_rad[0]
    stage.position_rad = np.array([truth.az_rad[0], truth.el_rad[0]])
    queue: deque[tuple[float, np.ndarray]] = deque()
    n = t.size
    fsm_cmd = np.zeros((n, 2))
    resid = np.zeros((n, 2))
    engaged = np.zeros(n, dtype=bool)
    saturated = False
    cmd = np.zeros(2)
    for k in range(n):
        pos = stage.step(dt, (pred.az_rad[k] + offset[0], pred.el_rad[k] + offset[1]),
                         (pred.az_rate_radps[k], pred.el_rate_radps[k])) if k else stage.position_rad
        el_m = pos[1]
        los = np.array([float(wrap_pi(truth.az_rad[k] - pos[0])) * math.cos(el_m),
                        truth.el_rad[k] - el_m])
        mpos = mirror.step(cmd, dt) if k else mirror.position_rad.copy()
        r_true = los - mpos
        resid[k] = r_true
        queue.append((t[k], r_true + rng.normal(0.0, noise_rad, 2)))
        if len(queue) > latency_frames:
            tm, r = queue.popleft()
            out = ctl.step(t[k], r, tm)
        else:
            out = ctl.step(t[k], None)
        cmd = out.command_rad
        saturated |= out.at_limit
        fsm_cmd[k] = cmd
        if offload:
            rate = off.step(mpos, dt)
            engaged[k] = off.engaged
            offset += los_to_mount_rate(rate, el_m) * dt
    after = t >= t[0] + 1.0
    mag = np.hypot(resid[:, 0], resid[:, 1])
    edges = np.flatnonzero(np.diff(engaged.astype(int)) != 0) + 1
    near = np.zeros(n, dtype=bool)
    w = int(round(0.5 / dt))
    for e in edges:
        near[e:e + w] = True
    transient = float(mag[near].max()) if near.any() else 0.0
    sl = slice(None, None, max(1, decimate))
    return PassSimResult(t[sl], fsm_cmd[sl], resid[sl], engaged[sl], fsm.range_rad,
                         float(np.max(np.abs(fsm_cmd)) / fsm.range_rad), bool(saturated),
                         float(np.sqrt(np.mean(mag[after] ** 2))), transient,
                         float(truth.los_rate_radps.max()), int(np.sum(np.diff(engaged.astype(int)) == 1)))
