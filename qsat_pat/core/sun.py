"""Low-precision Sun position, offline (no ephemeris file).

The Astronomical Almanac's low-precision formula ("Low precision formulas for the
Sun", section C) gives the apparent geocentric direction of the Sun to about 0.01 deg
between 1950 and 2050.  That is ample for the Sun-line-of-sight separation (a safety
and background figure, not a pointing input).  The direction is returned in the mean
equator and equinox of date, which differs from TEME (true equator, mean equinox) by
the nutation in obliquity (< 10 arcsec), below the formula's accuracy.
``test/test_ephemeris_sun.py`` checks it against skyfield with the JPL DE421 file that
ships with skyfield-data.
"""

from __future__ import annotations

import numpy as np

from qsat_pat.core.constants import AU_M, EARTH_MEAN_RADIUS_M, J2000_JD, UNIX_EPOCH_JD


def sun_position_teme_m(t_unix_s: np.ndarray | float) -> np.ndarray:
    """Geocentric position of the Sun, mean equator and equinox of date (~TEME).

    Parameters
    ----------
    t_unix_s : float or array_like, shape (N,)
        UTC as seconds since 1970-01-01 (POSIX time).  The ~69 s TT-UTC offset is
        neglected (0.003 deg of solar longitude).

    Returns
    -------
    ndarray, shape (..., 3)
        Sun position [m]; direction accurate to ~0.01 deg.

    References
    ----------
    Astronomical Almanac, "Low precision formulas for the Sun" (section C).
    """
    t = np.asarray(t_unix_s, dtype=float)
    n_day = (t / 86400.0 + UNIX_EPOCH_JD) - J2000_JD
    mean_lon_rad = np.deg2rad(280.460 + 0.9856474 * n_day)
    anomaly_rad = np.deg2rad(357.528 + 0.9856003 * n_day)
    ecl_lon_rad = mean_lon_rad + np.deg2rad(1.915 * np.sin(anomaly_rad) + 0.020 * np.sin(2.0 * anomaly_rad))
    obliquity_rad = np.deg2rad(23.439 - 4.0e-7 * n_day)
    dist_m = AU_M * (1.00014 - 0.01671 * np.cos(anomaly_rad) - 0.00014 * np.cos(2.0 * anomaly_rad))
    x = np.cos(ecl_lon_rad)
    y = np.cos(obliquity_rad) * np.sin(ecl_lon_rad)
    z = np.sin(obliquity_rad) * np.sin(ecl_lon_rad)
    return np.stack([x, y, z], axis=-1) * dist_m[..., None]


# The default occulting sphere is the mean Earth radius (the smaller figure: a Sun grazing
# the limb is taken as visible).
def sun_hidden_by_earth(r_observer_m, r_sun_m, earth_radius_m: float = EARTH_MEAN_RADIUS_M) -> bool:
    """True if the Earth (a sphere) blocks the Sun from an observer above it.

    A satellite on the night side looks down at its ground station with the Sun *behind the
    Earth*, often within a Sun-avoidance cone of the line of sight (at the 22:00 UTC nominal
    pass: within 45 deg after closest approach).  A hidden Sun cannot blind the terminal, so
    the avoidance must not apply (it froze the body target and lost the link in a full ROS
    pass).  The line from the observer to the Sun is tested against the sphere: hidden when
    its closest point to the Earth's centre lies ahead of the observer and inside the sphere.

    Parameters
    ----------
    r_observer_m, r_sun_m : array_like (3,)
        Geocentric positions in one frame (TEME) [m].
    earth_radius_m : float
        Occulting radius [m] (mean radius; no atmosphere, so the limb counts as clear).
    """
    r = np.asarray(r_observer_m, dtype=float).reshape(3)
    u = np.asarray(r_sun_m, dtype=float).reshape(3) - r
    u = u / np.linalg.norm(u)
    t = -float(np.dot(r, u))  # distance along the line to the closest approach to the centre
    if t <= 0.0:
        return False
    return float(np.linalg.norm(r + t * u)) < earth_radius_m
