"""OGS coarse stage: ephemeris + closed-loop offset -> safe mount set-points (no ROS).

The OGS points its mount at the ephemeris direction (az, el from the terminals' TLE) plus an
offset measured by the coarse camera's tracker.  Offsets live in the *ephemeris tangent
frame*: gnomonic coordinates ``(x, y)`` about the ephemeris direction, x towards increasing
azimuth (cross-elevation), y towards increasing elevation (radians).  The frame is known to
every part of the terminal (they hold the same ephemeris), so a line of sight composed as
mount pointing + camera residual in this frame is directly the offset to command, and it
has no keyhole: near the zenith azimuth changes fast but (x, y) stay small.

:class:`OgsCoarseStage` shapes the offset (rate and acceleration limited, so a step when the
beacon is first detected does not excite the mount), turns ephemeris + offset into a mount
POSITION command with rate feed-forward, and passes it through the
:class:`~qsat_pat.core.safety.PointingSafetyFilter` (Sun cone, elevation mask, rate and
acceleration limits).  The simulator's direct mode and the ``gimbal_controller`` node use it.

References
----------
seed 003 §2.3 (open loop from SGP4, then coarse tracking on the camera, then fine); seed 004
§2.2 (coarse camera, 1.2 deg field); seed 002 §II.5-6 (Kalman prediction of the line of sight).
"""

from __future__ import annotations

import math

import numpy as np

from qsat_pat.core.control import Mode, PointingCommand, Stage, wrap_pi
from qsat_pat.core.frames import direction_from_tangent, enu_from_az_el, mount_tangent_rad, tangent_from_enu
from qsat_pat.core.safety import PointingSafetyFilter
from qsat_pat.core.safety import sun_az_el_rad as sun_az_el_rad_at

__all__ = ["OgsCoarseStage", "direction_from_tangent", "enu_from_az_el", "mount_tangent_rad", "tangent_from_enu"]


class OgsCoarseStage:
    """OGS mount set-point: ephemeris (perturbed TLE) + offset, rate feed-forward, safety filter.

    Parameters
    ----------
    safety : PointingSafetyFilter
    lat_rad, lon_rad : float
        Station (for the Sun position).
    t0_unix_s : float
        UTC of simulation time 0.
    offset_max_rate_radps, offset_max_acc_radps2 : float
        Limits of the offset's motion (it steps when the beacon is first detected).
    """

    def __init__(self, safety: PointingSafetyFilter, lat_rad: float, lon_rad: float, t0_unix_s: float,
                 offset_max_rate_radps: float = 5e-3, offset_max_acc_radps2: float = 0.05) -> None:
        self.safety = safety
        self.lat_rad, self.lon_rad, self.t0_unix_s = lat_rad, lon_rad, t0_unix_s
        self.offset_max_rate_radps = float(offset_max_rate_radps)
        self.offset_max_acc_radps2 = float(offset_max_acc_radps2)
        self.offset_rad = np.zeros(2)
        self.offset_rate_radps = np.zeros(2)
        self._t: float | None = None
        self._sun: tuple[float, float] | None = None
        self._sun_t = -math.inf
        self.at_limit = False

    def command(self, t_s: float, eph_az_rad: float, eph_el_rad: float, eph_rates_radps, offset_rad,
                mount_rad, sun_az_el_rad: tuple[float, float] | None = None) -> PointingCommand:
        """Safe mount POSITION command for the open-loop direction plus ``offset_rad``.

        Parameters
        ----------
        eph_az_rad, eph_el_rad : float
            Ephemeris direction at ``t_s`` [rad].
        eph_rates_radps : (float, float)
            Ephemeris az/el rates [rad/s] (feed-forward).
        offset_rad : array_like (2,)
            Offset in the pointing frame (tangent about the ephemeris direction) [rad].
        mount_rad : array_like (2,)
            Current mount encoder (az, el), to unwrap the azimuth [rad].
        sun_az_el_rad : (float, float), optional
            Sun (az, el) [rad] for the safety filter (default: computed at the station, once a second).
        """
        if sun_az_el_rad is not None:
            self._sun = (float(sun_az_el_rad[0]), float(sun_az_el_rad[1]))
        elif self._sun is None or t_s - self._sun_t >= 1.0:
            self._sun = sun_az_el_rad_at(self.t0_unix_s + t_s, self.lat_rad, self.lon_rad)
            self._sun_t = t_s
        self._shape(t_s, np.asarray(offset_rad, dtype=float))
        az, el = direction_from_tangent(self.offset_rad, eph_az_rad, eph_el_rad)
        az = float(mount_rad[0]) + float(wrap_pi(az - float(mount_rad[0])))
        ff = (float(eph_rates_radps[0]) + self.offset_rate_radps[0] / max(math.cos(el), 0.05),
              float(eph_rates_radps[1]) + self.offset_rate_radps[1])
        cmd = PointingCommand(t_s, Stage.MOUNT, Mode.POSITION, az, el, ff[0], ff[1], "track")
        verdict = self.safety.filter(cmd, *self._sun)
        self.at_limit = verdict.modified
        return verdict.command

    def prime(self, position_rad, rate_radps, dt_s: float, t_s: float = 0.0) -> None:
        """Tell the safety filter the mount is already moving (two set-points before ``t_s``).

        The filter limits the change of the set-point rate; started from rest it would have
        to accelerate to the pass's rate and then oscillate about the moving target.
        """
        p = np.asarray(position_rad, dtype=float)
        v = np.asarray(rate_radps, dtype=float)
        span = 1.0  # the filter's first step is limited as over its max period: take 1 s steps
        for lag in (span + dt_s, dt_s):
            q = p - v * lag
            self.safety.filter(PointingCommand(t_s - lag, Stage.MOUNT, Mode.POSITION, q[0], q[1], v[0], v[1],
                                               "prime"), -math.pi / 2, -math.pi / 2)

    def _shape(self, t_s: float, want: np.ndarray) -> None:
        """Move the offset towards ``want`` with limited rate and acceleration (time-optimal-ish)."""
        dt = 0.0 if self._t is None else t_s - self._t
        self._t = t_s
        if dt <= 0.0:
            return
        vmax, amax = self.offset_max_rate_radps, self.offset_max_acc_radps2
        err = want - self.offset_rad
        # rate that still stops in time: v = sqrt(2 a |e|), capped; then the acceleration limit
        v_want = np.sign(err) * np.minimum(np.sqrt(2.0 * amax * np.abs(err)), vmax)
        v_want = np.where(np.abs(err) < amax * dt * dt, err / dt, v_want)
        dv = np.clip(v_want - self.offset_rate_radps, -amax * dt, amax * dt)
        self.offset_rate_radps = self.offset_rate_radps + dv
        self.offset_rad = self.offset_rad + self.offset_rate_radps * dt
