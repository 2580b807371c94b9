"""Whole-pass planning for an alt-az mount: wrap/flip/over-the-top chosen before AOS.

An alt-az mount tracking a satellite near the zenith needs an azimuth rate of about
``omega / sin(zenith distance)`` (the "keyhole"): ~90 deg/s for a 500 km pass culminating
at 89.5 deg.  gpredict-style trackers send the raw az/el and lose the target there.  This
planner looks at the whole predicted pass *before AOS* and compares three mount
configurations, each held for the whole pass (never changed mid-pass):

* ``normal``: mount az = target az (cable-wrap turn chosen so the whole pass fits the
  azimuth range), mount el = target el;
* ``flipped``: az + 180 deg, el' = 180 deg - el (needs an elevation range beyond 90 deg);
* ``over_the_top``: a fixed mount azimuth along the pass's direction of motion, the
  elevation axis sweeping 0 -> 180 deg through the zenith.  The target then stays within
  its cross-track distance of the zenith (the pass's minimum zenith distance) of the
  mount's vertical plane, so no fast azimuth slew is needed at all.

Each candidate's set-points are made feasible for the mount's rate and acceleration
limits by a non-causal smoother (forward and backward rate limiting, averaged, then a
centred moving average of width ``rate_max / acc_max``), which starts a fast azimuth
swing early and finishes it late, symmetric about the culmination.  The pointing error
(angle between mount axis and the apparent target, refraction included) is checked
against the field-of-view half-angle; the plan with the smallest worst error is chosen,
and the intervals where the target leaves the field are reported.

References
----------
seed 004 Table 1 (gimbal range az -270..+270 deg, el -5..+95 deg); seed 003 §2.3 (TLE +
SGP4 -> mount).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qsat_pat.core.errors import ConfigError, EphemerisError
from qsat_pat.core.params import ConfigBase, param


@dataclass(frozen=True)
class MountConfig(ConfigBase):
    """Alt-az mount limits used by :func:`plan_pass`."""

    az_min_deg: float = param(-270.0, "lowest azimuth (cable wrap)", unit="deg", min_value=-720.0, max_value=0.0)
    az_max_deg: float = param(270.0, "highest azimuth (cable wrap)", unit="deg", min_value=0.0, max_value=720.0)
    el_min_deg: float = param(-5.0, "lowest elevation", unit="deg", min_value=-30.0, max_value=30.0)
    el_max_deg: float = param(95.0, "highest elevation (> 90 allows over-the-top)", unit="deg",
                              min_value=60.0, max_value=185.0)
    az_rate_max_dps: float = param(10.0, "azimuth rate limit", unit="deg/s", min_value=0.01, max_value=200.0)
    az_acc_max_dps2: float = param(5.0, "azimuth acceleration limit", unit="deg/s^2", min_value=0.01,
                                   max_value=500.0)
    el_rate_max_dps: float = param(10.0, "elevation rate limit", unit="deg/s", min_value=0.01, max_value=200.0)
    el_acc_max_dps2: float = param(5.0, "elevation acceleration limit", unit="deg/s^2", min_value=0.01,
                                   max_value=500.0)
    fov_half_angle_deg: float = param(0.5, "field-of-view half-angle of the acquisition camera", unit="deg",
                                      min_value=0.001, max_value=10.0)
    step_s: float = param(0.1, "set-point spacing", unit="s", min_value=0.01, max_value=5.0)
    preposition_s: float = param(60.0, "time before AOS at which the plan starts (mount parked on the AOS "
                                 "point in the chosen configuration)", unit="s", min_value=0.0, max_value=3600.0)

    def check(self) -> None:
        if self.az_max_deg - self.az_min_deg < 360.0:
            raise ConfigError(f"MountConfig azimuth range [{self.az_min_deg}, {self.az_max_deg}] deg must span "
                              ">= 360 deg so every azimuth is reachable")
        if self.el_max_deg <= self.el_min_deg:
            raise ConfigError(f"MountConfig el_max_deg={self.el_max_deg} must exceed el_min_deg={self.el_min_deg}")


@dataclass(frozen=True)
class PassPlan:
    """A time-tagged, rate- and acceleration-limited set-point trajectory for one pass.

    Arrays have shape (N,).  Mount angles are in the mount's own convention (azimuth
    possibly beyond [0, 2 pi) on the cable wrap, elevation possibly above pi/2).
    """

    mode: str
    t_unix_s: np.ndarray
    az_rad: np.ndarray
    el_rad: np.ndarray
    az_rate_radps: np.ndarray
    el_rate_radps: np.ndarray
    error_rad: np.ndarray
    aos_unix_s: float
    los_unix_s: float
    max_error_rad: float
    feasible: bool
    #: (start, end) UTC seconds where the target is outside the field of view
    lost_intervals: tuple = ()
    #: worst in-pass pointing error of every candidate considered [rad]
    candidates: dict = field(default_factory=dict)


def _rate_limit(y: np.ndarray, step: float) -> np.ndarray:
    out = np.empty_like(y)
    out[0] = y[0]
    for i in range(1, y.size):
        out[i] = out[i - 1] + min(max(y[i] - out[i - 1], -step), step)
    return out


def smooth_limited(y: np.ndarray, dt_s: float, rate_max: float, acc_max: float) -> np.ndarray:
    """Non-causal rate- and acceleration-limited approximation of a sampled path.

    Forward and backward rate-limited followers are averaged (rate <= ``rate_max``,
    symmetric lead/lag); where that path exceeds ``acc_max``, a centred moving average
    of width ``rate_max/acc_max`` bounds the acceleration (end samples held), cross-faded
    in over one width so the rest of the path stays exact.  A path already within both
    limits is returned unchanged.

    Parameters
    ----------
    y : ndarray, shape (N,)
        Desired path [rad].
    dt_s : float
        Sample spacing [s].
    rate_max, acc_max : float
        Limits [rad/s], [rad/s^2].

    Returns
    -------
    ndarray, shape (N,)
    """
    step = rate_max * dt_s
    fwd = _rate_limit(y, step)
    bwd = _rate_limit(y[::-1], step)[::-1]
    avg = 0.5 * (fwd + bwd)
    width = int(math.ceil(rate_max / acc_max / dt_s))
    if width <= 1 or avg.size < 3 or np.max(np.abs(np.diff(avg, 2))) / dt_s**2 <= acc_max:
        return avg  # already within the acceleration limit: keep the exact path
    pad = np.concatenate([np.full(width, avg[0]), avg, np.full(width, avg[-1])])
    kernel = np.ones(width) / width
    sm = np.convolve(pad, kernel, mode="same")[width:-width]
    # use the smoothed path only around the violations, cross-faded over `width` samples,
    # so the rest of the pass keeps the exact path
    acc = np.zeros(avg.size)
    acc[1:-1] = np.abs(np.diff(avg, 2)) / dt_s**2
    near = np.convolve((acc > acc_max).astype(float), np.ones(4 * width + 1), mode="same") > 0
    weight = np.clip(np.convolve(near.astype(float), kernel, mode="same"), 0.0, 1.0)
    return avg + weight * (sm - avg)


def _direction(az: np.ndarray, el: np.ndarray) -> np.ndarray:
    """ENU unit vectors of mount/target angles (el beyond pi/2 allowed)."""
    return np.stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], axis=-1)


def _wrap_into(az: np.ndarray, lo: float, hi: float) -> np.ndarray | None:
    """Shift a continuous azimuth path by whole turns into [lo, hi], closest to the range centre."""
    centre = 0.5 * (lo + hi)
    best = None
    for k in range(-3, 4):
        cand = az + 2 * math.pi * k
        if cand.min() >= lo - 1e-9 and cand.max() <= hi + 1e-9:
            score = abs(0.5 * (cand.min() + cand.max()) - centre)
            if best is None or score < best[0]:
                best = (score, cand)
    return None if best is None else best[1]


def plan_pass(eph, pass_, mount: MountConfig | None = None) -> PassPlan:
    """Plan one pass for an alt-az mount (decided before AOS, held for the whole pass).

    Parameters
    ----------
    eph : qsat_pat.core.ephemeris.Ephemeris
    pass_ : qsat_pat.core.ephemeris.Pass
        From :meth:`Ephemeris.passes`.
    mount : MountConfig, optional

    Returns
    -------
    PassPlan
        The best candidate; ``feasible`` is False and ``lost_intervals`` lists where the
        target leaves the field of view if no configuration can keep it.

    Raises
    ------
    EphemerisError
        If the pass is degenerate (LOS not after AOS) or the ephemeris refuses the times.
    """
    mount = mount if mount is not None else MountConfig()
    aos, los = float(pass_.aos_unix_s), float(pass_.los_unix_s)
    if not (math.isfinite(aos) and math.isfinite(los) and los > aos):
        raise EphemerisError(f"pass AOS {aos} / LOS {los} must be finite with LOS after AOS")
    dt = mount.step_s
    t_pass = np.arange(aos, los + 0.5 * dt, dt)
    tr = eph.track(t_pass)
    target = _direction(tr.az_rad, tr.el_refracted_rad)
    # a pass already in progress (truncated at the search start) gets no parking segment:
    # the mount is assumed to be following it already
    n_pre = 0 if getattr(pass_, "truncated", False) else int(round(mount.preposition_s / dt))
    t = np.concatenate([aos - dt * np.arange(n_pre, 0, -1), t_pass])
    target_all = np.concatenate([np.repeat(target[:1], n_pre, axis=0), target])
    in_pass = t >= aos

    az_lo, az_hi = math.radians(mount.az_min_deg), math.radians(mount.az_max_deg)
    el_lo, el_hi = math.radians(mount.el_min_deg), math.radians(mount.el_max_deg)
    az_d = np.unwrap(np.arctan2(target_all[:, 0], target_all[:, 1]))
    el_d = np.arcsin(np.clip(target_all[:, 2], -1, 1))
    desired: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    wrapped = _wrap_into(az_d, az_lo, az_hi)
    if wrapped is not None:
        desired["normal"] = (wrapped, el_d)
    if el_hi > math.pi / 2:
        flipped = _wrap_into(np.unwrap(az_d + math.pi), az_lo, az_hi)
        if flipped is not None and np.all(math.pi - el_d <= el_hi):
            desired["flipped"] = (flipped, math.pi - el_d)
        # over the top: a vertical plane along the motion at culmination, best fit over the pass
        k = int(np.argmax(target[:, 2]))
        k2 = min(k + 1, target.shape[0] - 1)
        k1 = max(k2 - 1, 0)
        motion = target[k2] - target[k1]
        a0 = math.atan2(motion[0], motion[1]) + math.pi  # towards the rise side
        best = None
        for a in a0 + np.radians(np.arange(-15.0, 15.01, 0.05)):
            cross = np.max(np.abs(target[:, 0] * math.cos(a) - target[:, 1] * math.sin(a)))
            if best is None or cross < best[0]:
                best = (cross, a)
        a = best[1]
        # per sample, the representation (az, el) or (az + pi, pi - el) whose azimuth is nearer
        # the plane's: the azimuth stays near `a` except within ~the zenith distance of TCA
        dev = np.mod(az_d - a + math.pi, 2 * math.pi) - math.pi
        use_flip = np.abs(dev) > math.pi / 2
        az_top = a + np.where(use_flip, np.mod(dev, 2 * math.pi) - math.pi, dev)
        el_top = np.where(use_flip, math.pi - el_d, el_d)
        az_top = _wrap_into(az_top, az_lo, az_hi)
        if az_top is not None and np.max(el_top) <= el_hi and np.min(el_top) >= el_lo:
            desired["over_the_top"] = (az_top, el_top)

    plans = []
    for mode, (az_w, el_w) in desired.items():
        az_c = smooth_limited(az_w, dt, math.radians(mount.az_rate_max_dps), math.radians(mount.az_acc_max_dps2))
        el_c = smooth_limited(el_w, dt, math.radians(mount.el_rate_max_dps), math.radians(mount.el_acc_max_dps2))
        az_c = np.clip(az_c, az_lo, az_hi)
        el_c = np.clip(el_c, el_lo, el_hi)
        err = np.arccos(np.clip(np.sum(_direction(az_c, el_c) * target_all, axis=1), -1.0, 1.0))
        max_err = float(np.max(err[in_pass]))
        travel = float(np.sum(np.abs(np.diff(az_c))))
        plans.append((max_err, travel, mode, az_c, el_c, err))
    if not plans:
        raise EphemerisError("no mount configuration can reach this pass (azimuth range too small?)")
    # feasible first, then the smallest worst error (to 10 urad), then the simplest
    # configuration (normal < over the top < flipped), then the least azimuth travel
    rank = {"normal": 0, "over_the_top": 1, "flipped": 2}
    plans.sort(key=lambda p: (p[0] > math.radians(mount.fov_half_angle_deg), round(p[0] / 1e-5), rank[p[2]], p[1]))
    max_err, _, mode, az_c, el_c, err = plans[0]
    fov = math.radians(mount.fov_half_angle_deg)
    lost = (err > fov) & in_pass
    intervals = []
    i = 0
    while i < lost.size:
        if lost[i]:
            j = i
            while j + 1 < lost.size and lost[j + 1]:
                j += 1
            intervals.append((float(t[i]), float(t[j])))
            i = j + 1
        else:
            i += 1
    return PassPlan(mode=mode, t_unix_s=t, az_rad=az_c, el_rad=el_c, az_rate_radps=np.gradient(az_c, dt),
                    el_rate_radps=np.gradient(el_c, dt), error_rad=err, aos_unix_s=aos, los_unix_s=los,
                    max_error_rad=max_err, feasible=not intervals, lost_intervals=tuple(intervals),
                    candidates={p[2]: p[0] for p in plans})
