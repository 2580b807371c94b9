"""Orbit truth (SGP4 from a truth TLE) and the perturbed TLE the terminals are given.

The simulator's satellite flies the **truth** TLE through :class:`qsat_pat.core.ephemeris.
Ephemeris` (SGP4, TEME, light time, aberration).  The terminals' ephemeris nodes get a
**perturbed** TLE whose orbit is the truth orbit rigidly rotated so that, at the time of
closest approach (TCA), the satellite sits ``along_track_error_m`` ahead along its velocity,
``cross_track_error_m`` along the orbit normal and ``radial_error_m`` up.  Open-loop
pointing from that TLE is then off by the component of this offset perpendicular to the
line of sight divided by the range, as a real ~1 km TLE error is (seed 003 §2.3: TLE +
SGP4 gives ~400 urad open-loop error).

Synthetic passes: :func:`synthesize_pass_tle` builds a TLE whose pass over a site has a
chosen maximum elevation, TCA time, azimuth at TCA and direction, by fitting SGP4 mean
elements to the wanted TEME state at TCA (fixed-point iteration on the state, so the
SGP4 position at TCA matches the wanted one to < 1 m).

References
----------
seed 003 §2.3 (TLE + SGP4 open loop, ~1 km TLE error); NanoBob (seed 001) §3 (550 km SSO,
passes with the ground track within 500 km); Vallado et al., AIAA 2006-6753 (SGP4/TEME).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.constants import MU_EARTH_M3PS2, WGS84_A_M
from qsat_pat.core.ephemeris import (
    Ephemeris,
    EphemerisConfig,
    Tle,
    enu_rotation,
    gmst1982_rad,
    make_tle,
    parse_tle,
    site_position_ecef_m,
)
from qsat_pat.core.errors import EphemerisError, SimulationError
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "OrbitConfig",
    "OrbitTruth",
    "TruthState",
    "perturb_tle",
    "rv_to_tle",
    "synthesize_pass_tle",
]

#: Equatorial radius of the Earth [m] (WGS84).
EARTH_EQ_RADIUS_M = WGS84_A_M
#: Largest position error accepted when fitting a TLE to a state [m]: the TLE text format
#: rounds angles to 1e-4 deg (~12 m at LEO radius) and mean motion to 1e-8 rev/day.
TLE_FIT_TOLERANCE_M = 40.0


@dataclass(frozen=True)
class OrbitConfig(ConfigBase):
    """Truth orbit of the pass and the TLE error of the terminals."""

    tle_line1: str = param("", "truth TLE line 1 (empty: synthesise a pass from the fields below)")
    tle_line2: str = param("", "truth TLE line 2 (empty: synthesise a pass)")
    altitude_m: float = param(500e3, "altitude of the synthesised circular orbit", unit="m",
                              min_value=150e3, max_value=2000e3)
    max_elevation_deg: float = param(60.0, "maximum elevation of the synthesised pass", unit="deg",
                                     min_value=5.0, max_value=89.95)
    tca_unix_s: float = param(1774044000.0, "time of closest approach, UTC seconds since 1970",
                              unit="s", min_value=0.0, max_value=4e9)
    tca_azimuth_deg: float = param(200.0, "azimuth of the satellite at closest approach", unit="deg",
                                   min_value=0.0, max_value=360.0)
    westward: bool = param(False, "satellite moves clockwise seen from the site (else counter-clockwise)")
    along_track_error_m: float = param(1000.0, "terminals' TLE error along the velocity at TCA", unit="m",
                                       min_value=-1e6, max_value=1e6)
    cross_track_error_m: float = param(300.0, "terminals' TLE error along the orbit normal at TCA",
                                       unit="m", min_value=-1e6, max_value=1e6)
    radial_error_m: float = param(0.0, "terminals' TLE error along the radius at TCA", unit="m",
                                  min_value=-1e5, max_value=1e5)


@dataclass(frozen=True)
class TruthState:
    """True geometry at one time (TEME is the simulator's inertial frame N)."""

    t_unix_s: float
    r_sat_teme_m: np.ndarray
    v_sat_teme_mps: np.ndarray
    r_site_teme_m: np.ndarray
    #: apparent unit direction site -> satellite (light time + aberration), TEME
    los_teme: np.ndarray
    #: the same in ENU
    los_enu: np.ndarray
    az_rad: float
    el_rad: float
    range_m: float
    az_rate_radps: float
    el_rate_radps: float
    #: unit direction satellite -> site (geometric), TEME: where the space terminal must look
    los_sat_to_site_teme: np.ndarray
    #: its time derivative [1/s]
    los_sat_to_site_rate_teme_ps: np.ndarray
    #: orbit normal r x v (unit), TEME (roll reference of the spacecraft)
    orbit_normal_teme: np.ndarray


# ----------------------------------------------------------------------------- elements
def _rv_to_elements(r: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """Osculating classical elements of a TEME state (two-body)."""
    mu = MU_EARTH_M3PS2
    h = np.cross(r, v)
    hn = np.linalg.norm(h)
    rn = np.linalg.norm(r)
    e_vec = np.cross(v, h) / mu - r / rn
    e = float(np.linalg.norm(e_vec))
    energy = v @ v / 2 - mu / rn
    a = -mu / (2 * energy)
    inc = math.acos(max(-1.0, min(1.0, h[2] / hn)))
    node = np.cross([0.0, 0.0, 1.0], h)
    nn = np.linalg.norm(node)
    raan = math.atan2(node[1], node[0]) if nn > 1e-9 else 0.0
    # argument of latitude u and, for near-circular orbits, omega = 0 and M = u
    node_hat = node / nn if nn > 1e-9 else np.array([1.0, 0.0, 0.0])
    u = math.atan2(np.cross(node_hat, r) @ h / hn, node_hat @ r)
    if e < 1e-6:
        argp, nu = 0.0, u
    else:
        argp = math.atan2(np.cross(node_hat, e_vec) @ h / hn, node_hat @ e_vec)
        nu = u - argp
    ea = 2 * math.atan2(math.sqrt(1 - e) * math.sin(nu / 2), math.sqrt(1 + e) * math.cos(nu / 2))
    m = ea - e * math.sin(ea)
    return {"a": a, "e": e, "inc": inc, "raan": raan, "argp": argp, "m": m}


def rv_to_tle(t_unix_s: float, r_teme_m, v_teme_mps, *, name: str = "SIM", satnum: int = 99999,
              iterations: int = 8) -> Tle:
    """TLE whose SGP4 state at its epoch ``t_unix_s`` equals a given TEME state.

    Osculating elements are taken as a first guess of the SGP4 mean elements; the target
    state fed to the conversion is then corrected by the SGP4 residual (fixed point) until
    the SGP4 position matches to the TLE format's resolution (tens of metres,
    :data:`TLE_FIT_TOLERANCE_M`).

    Raises
    ------
    SimulationError
        If the state is not a bound orbit or the iteration does not converge.
    """
    r_want = np.asarray(r_teme_m, dtype=float).reshape(3)
    v_want = np.asarray(v_teme_mps, dtype=float).reshape(3)
    r_fit, v_fit = r_want.copy(), v_want.copy()
    best, best_dr = None, math.inf
    for _ in range(iterations):
        el = _rv_to_elements(r_fit, v_fit)
        if not (el["a"] > EARTH_EQ_RADIUS_M and el["e"] < 0.5):
            raise SimulationError(f"state is not a usable Earth orbit (a={el['a']:.0f} m, e={el['e']:.3f})")
        try:
            tle = make_tle(epoch_unix_s=t_unix_s, inclination_rad=el["inc"], raan_rad=el["raan"],
                           eccentricity=max(el["e"], 1e-7), arg_perigee_rad=el["argp"],
                           mean_anomaly_rad=el["m"], mean_motion_radps=math.sqrt(MU_EARTH_M3PS2 / el["a"] ** 3),
                           satnum=satnum, name=name)
        except EphemerisError as exc:
            raise SimulationError(f"cannot build a TLE for this state: {exc}") from None
        err, r_km, v_kmps = tle.satrec.sgp4(*_jd(tle.epoch_unix_s))
        if err:
            raise SimulationError(f"SGP4 error {err} while fitting a TLE to the wanted state")
        dr = r_want - np.asarray(r_km) * 1e3
        dv = v_want - np.asarray(v_kmps) * 1e3
        if np.linalg.norm(dr) < best_dr:
            best, best_dr = tle, float(np.linalg.norm(dr))
        if best_dr < 1.0:
            break
        r_fit, v_fit = r_fit + dr, v_fit + dv
    if best is None or best_dr > TLE_FIT_TOLERANCE_M:
        raise SimulationError(f"TLE fit to the wanted state left {best_dr:.0f} m of error "
                              f"(> {TLE_FIT_TOLERANCE_M} m); check the orbit parameters")
    return best


def _jd(t_unix_s: float) -> tuple[float, float]:
    day = math.floor(t_unix_s / 86400.0)
    return day + 2440587.5, (t_unix_s - day * 86400.0) / 86400.0


def _site_teme(eph_cfg: EphemerisConfig, t_unix_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site position [m] in TEME, the TEME->ECEF matrix and the ECEF->ENU rows."""
    lat, lon = math.radians(eph_cfg.site_lat_deg), math.radians(eph_cfg.site_lon_deg)
    theta, _ = gmst1982_rad(np.array([t_unix_s]), eph_cfg.dut1_s)
    c, s = math.cos(theta[0]), math.sin(theta[0])
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # TEME -> ECEF
    r_ecef = site_position_ecef_m(lat, lon, eph_cfg.site_alt_m)
    return rot.T @ r_ecef, rot, enu_rotation(lat, lon)


def synthesize_pass_tle(config: OrbitConfig, eph_cfg: EphemerisConfig) -> Tle:
    """A circular-orbit TLE with a pass of the configured maximum elevation at ``tca_unix_s``.

    At TCA the satellite is placed at the configured azimuth and elevation and altitude
    (range from the spherical-Earth geometry about the site's geocentre distance); its
    velocity (circular speed) is perpendicular to the radius and to the line of sight, so
    the range rate (Earth rotation aside) is zero: a closest approach.

    Raises
    ------
    SimulationError
        If no TLE can be fitted.
    """
    t = config.tca_unix_s
    r_site, rot, enu = _site_teme(eph_cfg, t)
    el = math.radians(config.max_elevation_deg)
    az = math.radians(config.tca_azimuth_deg)
    los_enu = np.array([math.cos(el) * math.sin(az), math.cos(el) * math.cos(az), math.sin(el)])
    los_teme = rot.T @ (enu.T @ los_enu)
    rs = float(np.linalg.norm(r_site))
    r_orbit = EARTH_EQ_RADIUS_M + config.altitude_m
    # |r_site + rho los| = r_orbit
    b = float(r_site @ los_teme)
    rho = -b + math.sqrt(b * b - (rs * rs - r_orbit * r_orbit))
    r_sat = r_site + rho * los_teme
    r_hat = r_sat / np.linalg.norm(r_sat)
    along = np.cross(r_hat, los_teme)  # perpendicular to the radius and to the line of sight
    if np.linalg.norm(along) < 1e-4:  # exactly overhead: fly north-south
        along = np.cross(r_hat, rot.T @ (enu.T @ np.array([1.0, 0.0, 0.0])))
    along /= np.linalg.norm(along)
    if config.westward:
        along = -along
    v_sat = math.sqrt(MU_EARTH_M3PS2 / np.linalg.norm(r_sat)) * along
    return rv_to_tle(t, r_sat, v_sat, name="SIM-TRUTH", satnum=99901)


def _rotate(vec: np.ndarray, axis: np.ndarray, angle_rad: float) -> np.ndarray:
    k = axis / np.linalg.norm(axis)
    return (vec * math.cos(angle_rad) + np.cross(k, vec) * math.sin(angle_rad)
            + k * (k @ vec) * (1 - math.cos(angle_rad)))


def perturb_tle(truth: Tle, t_ref_unix_s: float, along_track_m: float, cross_track_m: float,
                radial_m: float = 0.0) -> Tle:
    """A TLE whose orbit is the truth orbit displaced at ``t_ref`` by the given offsets.

    Along-track: rotation of the state about the orbit normal by ``along/|r|``;
    cross-track: rotation about the along-track axis by ``cross/|r|`` (the orbit plane
    tilts; the offset along the normal is ``cross_track_m`` at ``t_ref`` and falls as the
    cosine of the orbital arc from it); radial: the radius scaled with the circular speed
    rescaled (so the orbit stays near-circular).

    Returns
    -------
    Tle
        Fitted with :func:`rv_to_tle` at epoch ``t_ref_unix_s``.
    """
    err, r_km, v_kmps = truth.satrec.sgp4(*_jd(t_ref_unix_s))
    if err:
        raise SimulationError(f"SGP4 error {err} for the truth TLE at t_ref={t_ref_unix_s}")
    r, v = np.asarray(r_km) * 1e3, np.asarray(v_kmps) * 1e3
    rn = float(np.linalg.norm(r))
    n_hat = np.cross(r, v)
    n_hat /= np.linalg.norm(n_hat)
    a_hat = np.cross(n_hat, r / rn)
    # along track: rotate about the normal (r -> r + along * a_hat)
    ang = along_track_m / rn
    r, v = _rotate(r, n_hat, ang), _rotate(v, n_hat, ang)
    # cross track: rotate about a_hat' so r moves towards +n
    a_hat = np.cross(n_hat, r / rn)
    ang = -cross_track_m / rn
    r, v = _rotate(r, a_hat, ang), _rotate(v, a_hat, ang)
    if radial_m:
        scale = (rn + radial_m) / rn
        r, v = r * scale, v / math.sqrt(scale)
    return rv_to_tle(t_ref_unix_s, r, v, name="SIM-TERMINAL", satnum=99902)


# ----------------------------------------------------------------------------- truth
class OrbitTruth:
    """Truth satellite and site geometry plus the terminals' (perturbed) TLE.

    Parameters
    ----------
    config : OrbitConfig
    ephemeris_config : EphemerisConfig
        Site and corrections (the same object the terminals' ephemeris nodes use).

    Attributes
    ----------
    truth_tle, terminal_tle : Tle
    truth, terminal : Ephemeris
        SGP4 ephemerides of the truth and of the perturbed TLE.
    tca_unix_s : float
        Time of closest approach of the truth pass.
    """

    def __init__(self, config: OrbitConfig | None = None, ephemeris_config: EphemerisConfig | None = None):
        self.config = cfg = config or OrbitConfig()
        self.ephemeris_config = ephemeris_config or EphemerisConfig()
        if bool(cfg.tle_line1) != bool(cfg.tle_line2):
            raise SimulationError("OrbitConfig: give both tle_line1 and tle_line2, or neither")
        try:
            if cfg.tle_line1:
                self.truth_tle = parse_tle(cfg.tle_line1, cfg.tle_line2, "SIM-TRUTH")
            else:
                self.truth_tle = synthesize_pass_tle(cfg, self.ephemeris_config)
        except EphemerisError as exc:
            raise SimulationError(f"truth TLE unusable: {exc}") from None
        self.truth = Ephemeris(self.truth_tle, self.ephemeris_config)
        self.tca_unix_s = cfg.tca_unix_s
        self.terminal_tle = perturb_tle(self.truth_tle, self.tca_unix_s, cfg.along_track_error_m,
                                        cfg.cross_track_error_m, cfg.radial_error_m)
        self.terminal = Ephemeris(self.terminal_tle, self.ephemeris_config)
        self._chunk: tuple[float, dict[str, np.ndarray]] | None = None

    def pass_window(self, min_el_deg: float | None = None, half_span_s: float = 1200.0):
        """The truth pass around ``tca_unix_s`` above ``min_el_deg`` (default: the site mask).

        Returns
        -------
        qsat_pat.core.ephemeris.Pass

        Raises
        ------
        SimulationError
            If the truth orbit has no pass around ``tca_unix_s``.
        """
        mask = None if min_el_deg is None else math.radians(min_el_deg)
        passes = self.truth.passes(self.tca_unix_s - half_span_s, self.tca_unix_s + half_span_s, mask,
                                   step_s=10.0)
        if not passes:
            raise SimulationError(f"the truth orbit has no pass above the mask within {half_span_s} s "
                                  "of tca_unix_s; check the orbit or the TLE")
        return min(passes, key=lambda p: abs(p.tca_unix_s - self.tca_unix_s))

    def _states(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Vectorised truth geometry at times ``t`` (N,) (fields of :class:`TruthState`)."""
        tr = self.truth.track(t)
        r_site, v_site, rot, _ = self.truth.site_teme(t)
        los_enu = tr.los_enu
        # ENU -> ECEF -> TEME (rot is TEME -> ECEF)
        los_ecef = los_enu @ self.truth.enu_from_ecef
        los_teme = np.einsum("nji,nj->ni", rot, los_ecef)
        r_sat, v_sat = tr.r_sat_teme_m, tr.v_sat_teme_mps
        rho = r_site - r_sat
        rng = np.linalg.norm(rho, axis=1, keepdims=True)
        u = rho / rng
        rho_dot = v_site - v_sat
        u_dot = (rho_dot - u * np.sum(u * rho_dot, axis=1, keepdims=True)) / rng
        normal = np.cross(r_sat, v_sat)
        return {"r_sat_teme_m": r_sat, "v_sat_teme_mps": v_sat, "r_site_teme_m": r_site, "los_teme": los_teme,
                "los_enu": los_enu, "az_rad": np.unwrap(tr.az_rad), "el_rad": tr.el_rad, "range_m": tr.range_m,
                "az_rate_radps": tr.az_rate_radps, "el_rate_radps": tr.el_rate_radps,
                "los_sat_to_site_teme": u, "los_sat_to_site_rate_teme_ps": u_dot,
                "orbit_normal_teme": normal / np.linalg.norm(normal, axis=1, keepdims=True)}

    @staticmethod
    def _pack(t_unix_s: float, f: dict[str, np.ndarray], i) -> TruthState:
        vals = {}
        for k, v in f.items():
            x = v[i]
            if k in ("los_teme", "los_enu", "los_sat_to_site_teme", "orbit_normal_teme"):
                x = x / np.linalg.norm(x)
            vals[k] = float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)
        vals["az_rad"] = float(vals["az_rad"] % (2 * math.pi))
        return TruthState(t_unix_s=float(t_unix_s), **vals)

    def state_exact(self, t_unix_s: float) -> TruthState:
        """True geometry at ``t_unix_s`` (UTC seconds), evaluated directly (~ms per call)."""
        t = float(np.asarray(t_unix_s, dtype=float))
        return self._pack(t, self._states(np.array([t])), 0)

    #: grid of the cached truth table [s] and the span of one cached chunk [s]
    CACHE_GRID_S = 0.01
    CACHE_SPAN_S = 1.0

    def state(self, t_unix_s: float) -> TruthState:
        """True geometry at ``t_unix_s`` (UTC seconds), for per-step use (~tens of us per call).

        Linear interpolation in a table on a fixed 10 ms grid computed one second at a time
        (vectorised SGP4); the table depends only on time, so results do not depend on the
        call pattern.  Interpolation error: ``dt^2/8`` times the LOS angular acceleration
        (< 1e-4 rad/s^2 for LEO passes) = < 2e-9 rad, and for the range v^2/rho dt^2/8 < 2 mm;
        unit vectors are renormalised.
        """
        t = float(np.asarray(t_unix_s, dtype=float))
        if not math.isfinite(t):
            raise SimulationError(f"OrbitTruth.state: time must be finite, got {t_unix_s!r}")
        c = self._chunk
        if c is None or not (c[0] <= t < c[0] + self.CACHE_SPAN_S):
            t0 = math.floor(t / self.CACHE_SPAN_S) * self.CACHE_SPAN_S
            grid = t0 + np.arange(round(self.CACHE_SPAN_S / self.CACHE_GRID_S) + 1) * self.CACHE_GRID_S
            c = self._chunk = (t0, self._states(grid))
        x = (t - c[0]) / self.CACHE_GRID_S
        i = min(int(x), round(self.CACHE_SPAN_S / self.CACHE_GRID_S) - 1)
        f = x - i
        return self._pack(t, {k: v[i] * (1.0 - f) + v[i + 1] * f for k, v in c[1].items()}, Ellipsis)

    def open_loop_error_rad(self, t_unix_s) -> np.ndarray:
        """Angle between the truth and the terminal-TLE apparent directions [rad], shape (N,)."""
        a = self.truth.track(t_unix_s).los_enu
        b = self.terminal.track(t_unix_s).los_enu
        return np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), np.sum(a * b, axis=1))
