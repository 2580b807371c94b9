"""Optical link budgets: Vector (seed 003) and NanoBob (seed 001) models, pointing penalties.

Everything is SI inside (metres, radians, seconds); losses are returned in dB (positive =
loss) and transmittances as linear factors in [0, 1].

Models
------
* Vector (seed 003 eq. (1)-(6), App. B eq. (B.7), (B.10), (B.12)-(B.17)): Gaussian-beam
  diffraction loss, RMS pointing loss, atmospheric loss per air mass, and the pass geometry
  of a circular orbit over a non-rotating Earth.
* NanoBob (seed 001 eq. (1)-(5)): average link attenuation from diffraction and turbulence
  "seeing" angles added in quadrature, Fried parameter with zenith-angle and wavelength
  scaling, atmospheric attenuation ~ 1/cos(zenith).
* York (seed 002 eq. (12) and §II.7): transmittance with Gaussian pointing jitter and the
  fibre/receiver coupling efficiency penalty of a tracking error.  The equations themselves
  are missing from the extracted seed text; the forms used here are reconstructions stated
  in each docstring.

References
----------
seed 003 (Vector, Miller et al., EPJ Quantum Technol. 10, 52 (2023)) eq. (1)-(6), App. B.
seed 001 (NanoBob, Kerstel et al.) eq. (1)-(5).
seed 002 (York, energy-efficient tracking) eq. (12), §II.7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core import constants
from qsat_pat.core.errors import LinkError
from qsat_pat.core.params import ConfigBase, param

#: Mean Earth radius used by the Vector model [m] (seed 003 eq. (4)).
EARTH_RADIUS_M = constants.EARTH_MEAN_RADIUS_M
#: Standard gravity at the surface [m/s^2] (seed 003 eq. (6)).
STANDARD_GRAVITY_MPS2 = constants.STANDARD_GRAVITY_MPS2
#: 10/ln(10): converts a natural-log attenuation exponent to dB.
DB_PER_NEPER_POWER = 10.0 / math.log(10.0)


def _positive(name: str, value, unit: str = "") -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise LinkError(f"{name} must be finite and > 0{(' ' + unit) if unit else ''}, got {value!r}")
    return arr


def _nonnegative(name: str, value, unit: str = "") -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
        raise LinkError(
            f"{name} must be finite and >= 0{(' ' + unit) if unit else ''} (a loss cannot be a gain), "
            f"got {value!r}"
        )
    return arr


def _fraction(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        raise LinkError(f"{name} is an efficiency/probability and must lie in [0, 1], got {value!r}")
    return arr


def _elevation(elevation_rad) -> np.ndarray:
    arr = np.asarray(elevation_rad, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0) or np.any(arr > math.pi / 2 + 1e-6):
        raise LinkError(f"elevation must lie in (0, pi/2] rad, got {elevation_rad!r}")
    return np.minimum(arr, math.pi / 2)  # float32 pi/2 rounds up


def _out(x):
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def db_to_transmittance(loss_db):
    """Linear transmittance ``10**(-loss_db/10)`` of a loss in dB (accepts arrays)."""
    return _out(10.0 ** (-_nonnegative("loss_db", loss_db, "dB") / 10.0))


def transmittance_to_db(transmittance):
    """Loss in dB of a linear transmittance in (0, 1]."""
    t = _fraction("transmittance", transmittance)
    if np.any(t <= 0.0):
        raise LinkError("transmittance must be > 0 to express it in dB")
    return _out(-10.0 * np.log10(t))


# --------------------------------------------------------------------------- Vector model
def gaussian_divergence_rad(wavelength_m, waist_m):
    """Far-field half-angle (1/e^2 intensity) divergence ``lambda/(pi w0)`` [rad].

    References
    ----------
    seed 003 App. B, after eq. (B.2).
    """
    return _out(_positive("wavelength_m", wavelength_m, "m") / (math.pi * _positive("waist_m", waist_m, "m")))


def slant_range_m(altitude_m, elevation_rad, earth_radius_m: float = EARTH_RADIUS_M):
    """Distance ground station -> satellite for a spherical Earth [m].

    Solves seed 003 eq. (4)-(5) for ``d`` given the elevation:
    ``d = sqrt((R+h)^2 - R^2 cos^2 E) - R sin E``.
    """
    h = _positive("altitude_m", altitude_m, "m")
    el = _elevation(elevation_rad)
    r = float(earth_radius_m)
    return _out(np.sqrt((r + h) ** 2 - (r * np.cos(el)) ** 2) - r * np.sin(el))


def vector_diffraction_loss_db(wavelength_m, waist_m, distance_m, rx_aperture_m):
    """Gaussian-beam far-field diffraction loss ``20 lg(sqrt(2) lambda d / (pi w0 D))`` [dB].

    Parameters
    ----------
    wavelength_m : float or array
        Wavelength [m].
    waist_m : float or array
        Transmit beam waist radius w0 (1/e field) [m].
    distance_m : float or array
        Link distance d [m].
    rx_aperture_m : float or array
        Receiver aperture diameter D [m].

    Raises
    ------
    LinkError
        If any argument is not finite and positive.

    References
    ----------
    seed 003 eq. (1) (= App. B eq. (B.7)).
    """
    lam = _positive("wavelength_m", wavelength_m, "m")
    w0 = _positive("waist_m", waist_m, "m")
    d = _positive("distance_m", distance_m, "m")
    ap = _positive("rx_aperture_m", rx_aperture_m, "m")
    return _out(20.0 * np.log10(math.sqrt(2.0) * lam * d / (math.pi * w0 * ap)))


def vector_pointing_loss_db(wavelength_m, waist_m, pointing_rms_rad):
    """Mean extra loss of an RMS pointing error ``20/ln10 (pi w0 theta_rms / lambda)^2`` [dB].

    ``pointing_rms_rad`` is the RMS of the radial (total) pointing error.

    References
    ----------
    seed 003 eq. (2) (= App. B eq. (B.10)).
    """
    lam = _positive("wavelength_m", wavelength_m, "m")
    w0 = _positive("waist_m", waist_m, "m")
    th = _nonnegative("pointing_rms_rad", pointing_rms_rad, "rad")
    return _out(2.0 * DB_PER_NEPER_POWER * (math.pi * w0 * th / lam) ** 2)


def atmospheric_loss_db(kappa_db, elevation_rad):
    """Atmospheric loss ``kappa / sin(E)`` with ``kappa`` in dB per air mass [dB].

    References
    ----------
    seed 003 eq. (3) (= App. B eq. (B.12), last term).
    """
    k = _nonnegative("kappa_db", kappa_db, "dB")
    return _out(k / np.sin(_elevation(elevation_rad)))


def orbital_angular_rate_radps(altitude_m, earth_radius_m: float = EARTH_RADIUS_M,
                               gravity_mps2: float = STANDARD_GRAVITY_MPS2) -> float:
    """Earth-central angular rate of a circular orbit ``R sqrt(g/(R+h)^3)`` [rad/s].

    References
    ----------
    seed 003 eq. (6) (App. B eq. (B.14)-(B.15)).
    """
    h = float(_positive("altitude_m", altitude_m, "m"))
    return earth_radius_m * math.sqrt(gravity_mps2 / (earth_radius_m + h) ** 3)


def pass_geometry(t_s, altitude_m, earth_radius_m: float = EARTH_RADIUS_M,
                  gravity_mps2: float = STANDARD_GRAVITY_MPS2):
    """Distance and elevation of a zenith pass over a non-rotating Earth.

    Parameters
    ----------
    t_s : float or array
        Time from zenith [s].
    altitude_m : float
        Circular-orbit altitude h [m].

    Returns
    -------
    distance_m, elevation_rad : float or array
        Slant range d (seed 003 eq. (4)) and elevation (eq. (5)); the elevation is negative
        when the satellite is below the horizon.

    References
    ----------
    seed 003 eq. (4)-(6), App. B eq. (B.13)-(B.17).
    """
    t = np.asarray(t_s, dtype=float)
    if not np.all(np.isfinite(t)):
        raise LinkError("t_s must be finite")
    h = float(_positive("altitude_m", altitude_m, "m"))
    r = float(earth_radius_m)
    alpha = orbital_angular_rate_radps(h, r, gravity_mps2) * t
    d = np.sqrt(r**2 + (r + h) ** 2 - 2.0 * r * (r + h) * np.cos(alpha))
    cos_el = np.clip((r + h) / d * np.sin(np.abs(alpha)), -1.0, 1.0)
    # eq. (5) gives |cos E|; below the horizon (cos(alpha) < R/(R+h)) the elevation is negative.
    el = np.arccos(cos_el)
    el = np.where(np.cos(alpha) * (r + h) < r, -el, el)
    return _out(d), _out(el)


def pass_duration_above_s(altitude_m, min_elevation_rad, earth_radius_m: float = EARTH_RADIUS_M,
                          gravity_mps2: float = STANDARD_GRAVITY_MPS2) -> float:
    """Time a zenith pass spends above ``min_elevation_rad`` [s] (seed 003 eq. (4)-(6)).

    Closed form: the Earth-central angle at elevation E is
    ``alpha = arccos(R cos E / (R+h)) - E`` and the duration is ``2 alpha / omega``.

    References
    ----------
    seed 003 eq. (4)-(6) and §3.2 ("-164 to +164 s" above 20 deg; "about 328 s").
    """
    h = float(_positive("altitude_m", altitude_m, "m"))
    el = float(_elevation(min_elevation_rad))
    r = float(earth_radius_m)
    alpha = math.acos(r * math.cos(el) / (r + h)) - el
    return 2.0 * alpha / orbital_angular_rate_radps(h, r, gravity_mps2)


@dataclass(frozen=True)
class VectorLinkConfig(ConfigBase):
    """Parameters of the Vector link-budget model (defaults: Vector downlink, seed 003 §3.2)."""

    wavelength_m: float = param(850e-9, "laser wavelength", unit="m", min_value=1e-7, max_value=1e-5)
    waist_m: float = param(4.0e-3, "transmit beam waist radius w0", unit="m", min_value=1e-5, max_value=1.0)
    rx_aperture_m: float = param(0.6, "receiver aperture diameter D", unit="m", min_value=1e-4, max_value=20.0)
    altitude_m: float = param(560e3, "circular orbit altitude h", unit="m", min_value=1e5, max_value=5e7)
    kappa_db: float = param(0.92, "atmospheric loss per air mass", unit="dB", min_value=0.0, max_value=100.0)
    fixed_loss_db: float = param(7.8, "constant optical losses of both terminals", unit="dB",
                                 min_value=0.0, max_value=100.0)
    pointing_rms_rad: float = param(0.0, "RMS radial pointing error", unit="rad", min_value=0.0, max_value=0.1)


@dataclass(frozen=True)
class LinkBudget:
    """One evaluated link budget (all losses in dB, positive = loss)."""

    distance_m: float
    elevation_rad: float
    diffraction_db: float
    pointing_db: float
    atmospheric_db: float
    fixed_db: float
    total_db: float

    def as_dict(self) -> dict[str, float]:
        """Field values by name (for JSON output)."""
        return dict(self.__dict__)


def vector_link_budget(config: VectorLinkConfig, elevation_rad: float) -> LinkBudget:
    """Total Vector link loss at one elevation (seed 003 eq. (1)-(3), App. B eq. (B.12)).

    Raises
    ------
    LinkError
        If the elevation is outside (0, pi/2].
    """
    el = float(_elevation(elevation_rad))
    d = slant_range_m(config.altitude_m, el)
    diff = vector_diffraction_loss_db(config.wavelength_m, config.waist_m, d, config.rx_aperture_m)
    point = vector_pointing_loss_db(config.wavelength_m, config.waist_m, config.pointing_rms_rad)
    atm = atmospheric_loss_db(config.kappa_db, el)
    total = diff + point + atm + config.fixed_loss_db
    return LinkBudget(d, el, diff, point, atm, config.fixed_loss_db, total)


# --------------------------------------------------------------------------- NanoBob model
def fried_parameter_m(r0_zenith_m, zenith_rad, wavelength_m=None, reference_wavelength_m=None):
    """Fried parameter along a slant path, optionally rescaled in wavelength [m].

    ``r0' = r0 cos(zeta)^(3/5)`` (seed 001 eq. (5)) and ``r0 ~ lambda^(6/5)`` (from eq. (4)).

    Parameters
    ----------
    r0_zenith_m : float
        Fried parameter at zenith at ``reference_wavelength_m`` [m].
    zenith_rad : float or array
        Zenith angle zeta [rad], in [0, pi/2).
    wavelength_m, reference_wavelength_m : float, optional
        If both given, scale r0 from the reference to the target wavelength.

    References
    ----------
    seed 001 eq. (4)-(5).
    """
    r0 = _positive("r0_zenith_m", r0_zenith_m, "m")
    z = np.asarray(zenith_rad, dtype=float)
    if not np.all(np.isfinite(z)) or np.any(z < 0.0) or np.any(z >= math.pi / 2):
        raise LinkError(f"zenith_rad must lie in [0, pi/2), got {zenith_rad!r}")
    scale = 1.0
    if wavelength_m is not None or reference_wavelength_m is not None:
        if wavelength_m is None or reference_wavelength_m is None:
            raise LinkError("give both wavelength_m and reference_wavelength_m to rescale r0")
        scale = (float(_positive("wavelength_m", wavelength_m)) /
                 float(_positive("reference_wavelength_m", reference_wavelength_m))) ** 1.2
    return _out(r0 * scale * np.cos(z) ** 0.6)


@dataclass(frozen=True)
class NanobobLinkConfig(ConfigBase):
    """Parameters of the NanoBob uplink model (seed 001 eq. (1)-(5)).

    Table 2 of seed 001 is not in the extracted text: D_T = 1.0 m follows from "beam diameter of a
    little over 1 meter at the satellite" (§4) with eq. (2) at 550 km, D_R = 0.15 m from §4; the
    transmissions and pointing loss are assumptions of this implementation.
    """

    wavelength_m: float = param(808e-9, "quantum-channel wavelength", unit="m", min_value=1e-7, max_value=1e-5)
    tx_aperture_m: float = param(1.0, "transmit telescope diameter D_T", unit="m", min_value=1e-3, max_value=20.0)
    rx_aperture_m: float = param(0.15, "receiver telescope diameter D_R", unit="m", min_value=1e-3, max_value=20.0)
    r0_zenith_m: float = param(0.20, "Fried parameter at zenith at r0_wavelength_m", unit="m",
                               min_value=1e-3, max_value=10.0)
    r0_wavelength_m: float = param(810e-9, "wavelength at which r0_zenith_m is given", unit="m",
                                   min_value=1e-7, max_value=1e-5)
    tx_transmission: float = param(0.8, "transmitter telescope transmission T_T", min_value=0.0, max_value=1.0)
    rx_transmission: float = param(0.8, "receiver telescope transmission T_R", min_value=0.0, max_value=1.0)
    pointing_loss: float = param(0.1, "fractional pointing loss L_P", min_value=0.0, max_value=0.999)
    atm_zenith_db: float = param(3.0, "atmospheric attenuation at zenith A_atm,0 (3 dB at 808 nm, 2 dB at 1550 nm)",
                                 unit="dB", min_value=0.0, max_value=100.0)
    altitude_m: float = param(550e3, "orbit altitude h", unit="m", min_value=1e5, max_value=5e7)


def nanobob_divergences_rad(config: NanobobLinkConfig, zenith_rad):
    """Diffraction and turbulence "seeing" angles ``(theta_T, theta_atm)`` [rad].

    ``theta_T = 2.44 lambda/D_T`` (seed 001 eq. (2)); ``theta_atm = 2.1 lambda/r0'`` (eq. (3)).
    """
    theta_t = 2.44 * config.wavelength_m / config.tx_aperture_m
    r0 = fried_parameter_m(config.r0_zenith_m, zenith_rad, config.wavelength_m, config.r0_wavelength_m)
    return theta_t, _out(2.1 * config.wavelength_m / np.asarray(r0))


def nanobob_link_budget(config: NanobobLinkConfig, zenith_rad, distance_m=None) -> LinkBudget:
    """Average NanoBob link attenuation (seed 001 eq. (1)) as a :class:`LinkBudget`.

    ``A = L^2 (theta_T^2 + theta_atm^2) / D_R^2 / (T_T (1 - L_P) T_R) 10^(A_atm/10)``
    with ``A_atm = A_atm,0 / cos(zeta)``.  ``diffraction_db`` holds the geometric
    (diffraction + turbulence) term, ``pointing_db`` the ``1/(1-L_P)`` term, ``fixed_db``
    the telescope transmissions.

    Parameters
    ----------
    zenith_rad : float
        Zenith angle [rad].
    distance_m : float, optional
        Link distance L [m]; default: spherical-Earth slant range at the configured altitude.

    References
    ----------
    seed 001 eq. (1)-(5).
    """
    z = float(np.asarray(zenith_rad, dtype=float))
    el = math.pi / 2 - z
    if distance_m is None:
        distance_m = slant_range_m(config.altitude_m, el)
    d = float(_positive("distance_m", distance_m, "m"))
    theta_t, theta_atm = nanobob_divergences_rad(config, z)
    geom = 10.0 * math.log10(d**2 * (theta_t**2 + theta_atm**2) / config.rx_aperture_m**2)
    point = -10.0 * math.log10(1.0 - config.pointing_loss)
    if config.tx_transmission <= 0.0 or config.rx_transmission <= 0.0:
        raise LinkError("telescope transmissions must be > 0 for a finite link loss")
    fixed = -10.0 * math.log10(config.tx_transmission * config.rx_transmission)
    atm = config.atm_zenith_db / math.cos(z)
    return LinkBudget(d, el, geom, point, atm, fixed, geom + point + fixed + atm)


# --------------------------------------------------------------------------- York (seed 002)
def jitter_transmittance(channel_loss_db, pointing_rms_rad, divergence_rad):
    """Channel transmittance with Gaussian pointing jitter (seed 002 eq. (12), reconstructed).

    ``eta = 10^(-L/10) exp(-2 sigma^2 / theta_d^2)`` where ``sigma`` is the RMS radial pointing
    jitter and ``theta_d`` the 1/e^2 half-angle beam divergence.  The equation is missing from the
    extracted seed text; this form is the Gaussian-beam off-axis intensity ``exp(-2 r^2/w^2)`` with
    ``r = d theta``, ``w = d theta_d`` averaged in the exponent, identical to Vector eq. (2)
    (``2 sigma^2/theta_d^2`` nepers = ``20/ln10 (pi w0 sigma/lambda)^2`` dB).

    Raises
    ------
    LinkError
        Negative loss or jitter, non-positive divergence.
    """
    loss = _nonnegative("channel_loss_db", channel_loss_db, "dB")
    sig = _nonnegative("pointing_rms_rad", pointing_rms_rad, "rad")
    div = _positive("divergence_rad", divergence_rad, "rad")
    return _out(10.0 ** (-loss / 10.0) * np.exp(-2.0 * sig**2 / div**2))


def receiver_fov_rad(wavelength_m, rx_aperture_m):
    """Diffraction-limited receiver field of view ``lambda / D`` [rad] (seed 002 §II.7)."""
    return _out(_positive("wavelength_m", wavelength_m, "m") / _positive("rx_aperture_m", rx_aperture_m, "m"))


def tracking_coupling_efficiency(tracking_rms_rad, fov_rad):
    """Coupling efficiency penalty of a tracking error (seed 002 §II.7, reconstructed).

    ``eta_c = exp(-(sigma_track / theta_FOV)^2)`` with ``theta_FOV = lambda/D``: a Gaussian
    acceptance pattern after adaptive-optics correction with Gaussian pointing jitter.  The
    formula is missing from the extracted seed text; this is the standard form it describes.

    Parameters
    ----------
    tracking_rms_rad : float or array
        RMS tracking error [rad].
    fov_rad : float
        Receiver field of view [rad].
    """
    sig = _nonnegative("tracking_rms_rad", tracking_rms_rad, "rad")
    fov = _positive("fov_rad", fov_rad, "rad")
    return _out(np.exp(-((sig / fov) ** 2)))


def jitter_fading_moments(pointing_rms_axis_rad, divergence_rad):
    """Mean of ``T`` and of ``sqrt(T)`` (relative to the on-axis value) under beam wander.

    For the Gaussian-beam transmittance ``T = T0 exp(-2 theta^2/theta_d^2)`` and a circular
    Gaussian pointing error with per-axis RMS ``s`` (radial Rayleigh distribution),
    ``<T>/T0 = 1/(1 + 4 s^2/theta_d^2)`` and ``<sqrt T>/sqrt T0 = 1/(1 + 2 s^2/theta_d^2)``
    (exact; derived here).  Used for the fading excess noise of CV-QKD (seed 002 App. B eq. (19)-(20)).

    Returns
    -------
    mean_t, mean_sqrt_t : float
    """
    s = float(_nonnegative("pointing_rms_axis_rad", pointing_rms_axis_rad, "rad"))
    d = float(_positive("divergence_rad", divergence_rad, "rad"))
    return 1.0 / (1.0 + 4.0 * s**2 / d**2), 1.0 / (1.0 + 2.0 * s**2 / d**2)
