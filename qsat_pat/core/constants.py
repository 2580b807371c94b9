"""Physical and astronomical constants, each defined once (SI, the unit in every name).

Every module that needs one of these imports it from here; a few modules keep their old
name for it as an alias because other code imports it from there (``link.EARTH_RADIUS_M``,
``modem.ranging.SPEED_OF_LIGHT_MPS``, ``sim.atmosphere.C_MPS``, ...).

References
----------
BIPM, *The International System of Units (SI)*, 9th ed. (2019): exact values of ``c`` and
``h``.  NIMA TR8350.2, *World Geodetic System 1984* (3rd ed., 2000), Table 3.1: WGS84
ellipsoid.  IERS Conventions (2010), IERS TN 36, Table 1.1: ``GM`` of the Earth.  IAU 2012
Resolution B2: the astronomical unit.  Seed 003 (Vector) eq. (4), (6): mean Earth radius and
standard gravity of its pass geometry.
"""

from __future__ import annotations

__all__ = [
    "AU_M",
    "C_MPS",
    "EARTH_MEAN_RADIUS_M",
    "H_PLANCK_JS",
    "J2000_JD",
    "MU_EARTH_M3PS2",
    "STANDARD_GRAVITY_MPS2",
    "UNIX_EPOCH_JD",
    "WGS84_A_M",
    "WGS84_F",
]

# ----------------------------------------------------------------------------- exact SI constants
#: Speed of light in vacuum [m/s] (exact, SI 2019).
C_MPS = 299_792_458.0
#: Planck constant [J s] (exact, SI 2019).
H_PLANCK_JS = 6.62607015e-34
#: Standard acceleration of gravity [m/s^2] (exact by definition, 3rd CGPM 1901; seed 003 eq. (6)).
STANDARD_GRAVITY_MPS2 = 9.80665

# ----------------------------------------------------------------------------- the Earth
#: Geocentric gravitational constant GM of the Earth [m^3/s^2] (IERS Conventions 2010 Table 1.1,
#: also WGS84/EGM96).  SGP4 itself keeps its own WGS72 value inside the ``sgp4`` library.
MU_EARTH_M3PS2 = 3.986004418e14
#: Mean Earth radius [m] (IUGG mean radius R1 = 6371.0088 km, rounded; seed 003 eq. (4)): the
#: spherical Earth of the circular-orbit pass models and of the Sun occultation test.
EARTH_MEAN_RADIUS_M = 6371.0e3
#: WGS84 ellipsoid semi-major axis (equatorial radius) [m] (NIMA TR8350.2 Table 3.1).
WGS84_A_M = 6_378_137.0
#: WGS84 ellipsoid flattening [1] (NIMA TR8350.2 Table 3.1).
WGS84_F = 1.0 / 298.257223563

# ----------------------------------------------------------------------------- astronomy and time
#: Astronomical unit [m] (exact, IAU 2012 Resolution B2).
AU_M = 149_597_870_700.0
#: Julian date of the Unix epoch, 1970-01-01T00:00:00 UTC [day].
UNIX_EPOCH_JD = 2440587.5
#: Julian date of the J2000.0 epoch, 2000-01-01T12:00:00 TT [day].
J2000_JD = 2451545.0
