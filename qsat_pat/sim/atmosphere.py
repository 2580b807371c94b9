"""Atmosphere of the link: turbulence tip/tilt, scintillation, clouds and sky background.

Turbulence angle of arrival (AoA)
---------------------------------
Kolmogorov phase spectrum ``Phi(k) = 0.023 r0^(-5/3) k^(-11/3)`` (k in cycles/m) with the
slant-path Fried parameter ``r0' = r0 cos(zeta)^(3/5)`` (NanoBob eq. (5)) and
``r0 ~ lambda^(6/5)`` (NanoBob eq. (4)).  The camera sees the **Zernike tilt (Z-tilt)** of
the aperture of diameter D: the one-axis variance is

    sigma_Z^2 = 0.182 (D/r0)^(5/3) (lambda/D)^2   [rad^2]

(Noll 1976, JOSA 66, 207: 0.448 rad^2 of phase per tilt mode; angle = (2/pi) a lambda/D;
the G-tilt centroid variance would be 0.170, Tyler 1994, JOSA A 11, 358).  The temporal
spectrum follows from Taylor's frozen flow of one effective layer moving across the
aperture with the apparent wind ``v = v_wind + omega_slew h secz`` (the slew of a
LEO-tracking telescope sweeps the beam through the layer: the pseudo-wind).  The tilt is a
stationary random process of the screen **displacement** s with the 1-D spectrum

    W_x(kx) = integral dky Phi(k) |Q_x(k)|^2,  |Q_x|^2 = 16 cos^2(phi) J2(pi D k)^2/(pi D k)^2

(Noll's filter of the tilt mode; cos -> sin for the transverse axis), synthesised by FFT on
a periodic displacement grid of spacing D/8 and read at ``s(t) = integral |v| dt``; the
longitudinal / transverse axes are rotated into the terminal's (tip, tilt) axes along
the apparent wind.  This gives the known f^(-2/3) -> f^(-17/3) spectrum with its knee at
~0.3 v/D (Tyler 1994) without an ad-hoc filter, and follows changing r0 and wind exactly.

Scintillation: log-normal irradiance ``I = exp(X)``, ``X ~ N(-s^2/2, s^2)``,
``s^2 = ln(1 + sigma_I^2)``, so <I> = 1 and var(I) = sigma_I^2, with the (aperture-averaged)
scintillation index scaled with zenith angle as the weak-fluctuation Rytov variance,
``sigma_I^2(zeta) = sigma_I^2(0) sec(zeta)^(11/6)`` (Andrews & Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed., ch. 8), AR(1)-correlated in time.

Clouds: a two-state Markov (telegraph) process with exponential clear and blocked dwell
times, like the intermittent beacon blockages of seed 002 §III (Fig. 6-7: the laser was
"intermittently blocked to mimic the cloud coverage").

Sky background: spectral photon radiance (day or night) -> photo-electrons per pixel.

References
----------
NanoBob (seed 001) eq. (3)-(5) (seeing angle, Fried parameter, zenith scaling) and §4.1
(night light pollution 1e10 - 2.5e11 photons s^-1 sr^-1 m^-2 in 10 nm at 810 nm);
seed 002 §III (cloud breaks); Noll 1976; Tyler 1994.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import jv

from qsat_pat.core.constants import C_MPS, H_PLANCK_JS
from qsat_pat.core.errors import SimulationError
from qsat_pat.core.link import fried_parameter_m
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "CloudConfig",
    "CloudProcess",
    "H_PLANCK_JS",
    "Scintillation",
    "ScintillationConfig",
    "SkyConfig",
    "TurbulenceConfig",
    "TurbulenceTilt",
    "apparent_wind_mps",
    "sky_background_e",
    "tilt_psd_displacement",
    "z_tilt_variance_rad2",
]

Z_TILT_COEFF = 0.182  # one-axis Z-tilt (Noll 1976, 4/pi^2 * 0.448)


def z_tilt_variance_rad2(aperture_m: float, r0_m, wavelength_m: float):
    """One-axis Zernike-tilt variance ``0.182 (D/r0)^(5/3) (lambda/D)^2`` [rad^2] (Noll 1976)."""
    return Z_TILT_COEFF * (aperture_m / np.asarray(r0_m, dtype=float)) ** (5.0 / 3.0) * (
        wavelength_m / aperture_m) ** 2


@dataclass(frozen=True)
class TurbulenceConfig(ConfigBase):
    """Turbulence seen by one aperture (one effective frozen-flow layer)."""

    r0_zenith_m: float = param(0.20, "Fried parameter at zenith at r0_wavelength_m", unit="m",
                               min_value=0.005, max_value=5.0)
    r0_wavelength_m: float = param(810e-9, "wavelength of r0_zenith_m (NanoBob: 810 nm)", unit="m",
                                   min_value=1e-7, max_value=1e-5)
    wind_speed_mps: float = param(10.0, "wind speed of the effective layer", unit="m/s",
                                  min_value=0.0, max_value=100.0)
    wind_direction_rad: float = param(0.0, "wind direction in the (tip, tilt) frame", unit="rad",
                                      min_value=-7.0, max_value=7.0)
    layer_altitude_m: float = param(5000.0, "altitude of the effective layer (pseudo-wind from slew)",
                                    unit="m", min_value=0.0, max_value=30000.0)
    outer_scale_m: float = param(1e6, "von Karman outer scale L0 (1e6 m: Kolmogorov, as NanoBob's model)",
                                 unit="m", min_value=1.0, max_value=1e9)
    grid_points: int = param(1 << 17, "length of the periodic displacement grid (spacing D/8)",
                             min_value=1024, max_value=1 << 22)
    enabled: bool = param(True, "add turbulence tip/tilt")


def apparent_wind_mps(config: TurbulenceConfig, slew_rate_xy_radps, zenith_rad: float) -> np.ndarray:
    """Apparent layer velocity across the beam ``v_wind + omega_slew h sec(zeta)`` [m/s], (2,)."""
    w = config.wind_speed_mps * np.array([math.cos(config.wind_direction_rad),
                                          math.sin(config.wind_direction_rad)])
    slew = np.asarray(slew_rate_xy_radps, dtype=float).reshape(2)
    return w + slew * config.layer_altitude_m / max(math.cos(zenith_rad), 0.05)


def tilt_psd_displacement(kx_cpm, aperture_m: float, r0_m: float, wavelength_m: float,
                          transverse: bool = False, outer_scale_m: float = 1e6) -> np.ndarray:
    """Two-sided spectrum of the Z-tilt angle vs screen displacement [rad^2 / (cycle/m)].

    ``W(kx) = (2 lambda/(pi D))^2 integral Phi(k) |Q(k)|^2 dky`` with the Noll tilt filter
    (module notes); integrated over ky numerically on a log grid.

    Parameters
    ----------
    kx_cpm : array_like
        Spatial frequency along the motion [cycles/m].
    transverse : bool
        Tilt across the motion (sin^2 filter) instead of along it (cos^2).
    outer_scale_m : float
        von Karman outer scale: ``k^(-11/3) -> (k^2 + L0^-2)^(-11/6)``.
    """
    kx = np.abs(np.atleast_1d(np.asarray(kx_cpm, dtype=float)))[:, None]
    # per-row ky grid that resolves the integrand's width ~kx at small kx
    lo = np.minimum(np.maximum(kx, 1e-12), 1.0 / aperture_m) * 1e-3
    t = np.linspace(0.0, 1.0, 500)[None, :]
    ky = np.concatenate([np.zeros_like(lo), lo * (60.0 / aperture_m / lo) ** t], axis=1)
    k = np.sqrt(kx * kx + ky * ky)
    k = np.where(k == 0.0, 1e-12, k)
    x = math.pi * aperture_m * k
    filt = 16.0 * (jv(2, x) / x) ** 2 * ((ky / k) ** 2 if transverse else (kx / k) ** 2)
    phi = 0.023 * r0_m ** (-5.0 / 3.0) * (k * k + outer_scale_m ** -2) ** (-11.0 / 6.0)
    integrand = phi * filt
    val = 2.0 * np.trapezoid(integrand, ky, axis=1)  # ky from -inf to inf
    return (2.0 * wavelength_m / (math.pi * aperture_m)) ** 2 * val


@functools.lru_cache(maxsize=16)
def _unit_spectrum(n: int, ds_m: float, aperture_m: float, wavelength_m: float, transverse: bool,
                   outer_scale_m: float):
    """r0 = 1 m tilt PSD on the FFT bins, and subharmonic frequencies/variances below 1/L."""
    k = np.fft.rfftfreq(n, ds_m)
    kg = np.geomspace(k[1] * 0.5, k[-1] * 1.01, 160)
    wg = tilt_psd_displacement(kg, aperture_m, 1.0, wavelength_m, transverse, outer_scale_m)
    w = np.exp(np.interp(np.log(np.maximum(k, kg[0])), np.log(kg), np.log(np.maximum(wg, 1e-300))))
    w[0] = 0.0
    # bands [k1/3^(p+1), k1/3^p) * (1/2 .. 1/2): subharmonics down to 1/(L 3^10)
    edges = (k[1] / 2.0) / 3.0 ** np.arange(0, 11)
    sub_k = np.sqrt(edges[:-1] * edges[1:])
    kk = np.geomspace(edges[-1], edges[0], 200)
    wk = tilt_psd_displacement(kk, aperture_m, 1.0, wavelength_m, transverse, outer_scale_m)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (wk[1:] + wk[:-1]) * np.diff(kk))])
    at = np.interp(edges, kk, cum)
    sub_var = 2.0 * (at[:-1] - at[1:])  # both signs of k
    return w, sub_k, sub_var


class TurbulenceTilt:
    """Angle-of-arrival (tip, tilt) jitter of one aperture: frozen flow of a Kolmogorov layer.

    Parameters
    ----------
    config : TurbulenceConfig
    aperture_m : float
        Receive aperture diameter D [m].
    wavelength_m : float
        Wavelength of the beacon seen by the camera [m].
    rng : numpy.random.Generator

    Notes
    -----
    The unit-r0 screens are generated once (two FFT syntheses of ``grid_points``, plus ten
    subharmonic sinusoids per axis below the grid's lowest frequency, as Lane et al. 1992
    add to phase screens, so the Kolmogorov k^(-2/3) tail is not lost); each
    :meth:`step` advances the displacement and rescales the amplitude to the current r0
    (``r0^(-5/6)``: the spectrum's shape in displacement does not depend on r0).  The grid
    part is periodic: after ``grid_points * D/8`` metres its part of the jitter repeats.
    """

    def __init__(self, config: TurbulenceConfig, aperture_m: float, wavelength_m: float,
                 rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise SimulationError("TurbulenceTilt needs a seeded numpy.random.Generator")
        if not (aperture_m > 0 and wavelength_m > 0):
            raise SimulationError(f"aperture_m and wavelength_m must be > 0, got {aperture_m}, {wavelength_m}")
        self.config = config
        self.aperture_m = float(aperture_m)
        self.wavelength_m = float(wavelength_m)
        self.ds_m = self.aperture_m / 8.0
        n = int(config.grid_points)
        lon, lon_sub = self._synthesise(n, rng, transverse=False)
        tra, tra_sub = self._synthesise(n, rng, transverse=True)
        self._grids = np.stack([lon, tra])
        self._subs = (lon_sub, tra_sub)
        self._sub_k2pi = 2 * math.pi * np.stack([lon_sub[0], tra_sub[0]])
        self._sub_amp = np.stack([lon_sub[1], tra_sub[1]])
        self._sub_phase = np.stack([lon_sub[2], tra_sub[2]])
        # r0 at zenith at the camera wavelength (NanoBob eq. (4)); eq. (5) applied per step
        self._r0_zenith_m = float(fried_parameter_m(config.r0_zenith_m, 0.0, self.wavelength_m,
                                                    config.r0_wavelength_m))
        self.s_m = float(rng.uniform(0.0, n * self.ds_m))
        self.tilt_rad = np.zeros(2)
        self.r0_m = float("nan")

    def _synthesise(self, n: int, rng: np.random.Generator, transverse: bool):
        """Periodic tilt series for r0 = 1 m (FFT synthesis, spacing ds) plus subharmonics."""
        w, sub_k, sub_var = _unit_spectrum(n, self.ds_m, self.aperture_m, self.wavelength_m, transverse,
                                           self.config.outer_scale_m)
        k = np.fft.rfftfreq(n, self.ds_m)
        dk = k[1]
        # E|X_k|^2 = n^2 W(k) dk gives each +-k pair the variance 2 W dk
        amp = np.sqrt(w * dk) * n / math.sqrt(2.0)
        spec = amp * (rng.normal(size=k.size) + 1j * rng.normal(size=k.size))
        if n % 2 == 0:
            spec[-1] = amp[-1] * math.sqrt(2.0) * rng.normal()
        grid = np.fft.irfft(spec, n)
        # subharmonics below 1/L (Kolmogorov tilt has a k^(-2/3) tail: ~6 % of the variance
        # lies below 1/(5 km)); each carries the variance of its band, random phase
        sub_amp = np.sqrt(2.0 * sub_var) * np.sqrt(rng.exponential(size=sub_k.size))
        sub_phase = rng.uniform(0.0, 2 * math.pi, sub_k.size)
        return grid, (sub_k, sub_amp, sub_phase)

    def sample_unit(self, s_m) -> np.ndarray:
        """Tilt (longitudinal, transverse) of the r0 = 1 m screens at displacement(s) [rad], (2, N)."""
        s_m = np.atleast_1d(np.asarray(s_m, dtype=float))
        s = s_m / self.ds_m
        n = self._grids.shape[1]
        i0 = np.floor(s).astype(np.int64)
        f = s - i0
        i0 %= n
        i1 = (i0 + 1) % n
        out = self._grids[:, i0] * (1 - f) + self._grids[:, i1] * f
        for axis, (sub_k, sub_amp, sub_phase) in enumerate(self._subs):
            out[axis] += np.sum(sub_amp[:, None] * np.cos(2 * math.pi * sub_k[:, None] * s_m[None, :]
                                                          + sub_phase[:, None]), axis=0)
        return out

    def _sample_scalar(self, s_m: float) -> np.ndarray:
        """:meth:`sample_unit` at one displacement (fast path of :meth:`step`), shape (2,)."""
        x = s_m / self.ds_m
        n = self._grids.shape[1]
        i0 = math.floor(x)
        f = x - i0
        i0 %= n
        g = self._grids[:, i0] * (1.0 - f) + self._grids[:, (i0 + 1) % n] * f
        return g + np.einsum("ij,ij->i", self._sub_amp, np.cos(self._sub_k2pi * s_m + self._sub_phase))

    def step(self, dt_s: float, zenith_rad: float, slew_rate_xy_radps=(0.0, 0.0)) -> np.ndarray:
        """Advance ``dt_s`` and return the AoA jitter (tip, tilt) [rad], shape (2,).

        Parameters
        ----------
        dt_s : float
            Time step [s], > 0.
        zenith_rad : float
            Zenith angle of the line of sight [rad] (r0 scaling, NanoBob eq. (5)).
        slew_rate_xy_radps : array_like (2,)
            Telescope slew rate in (tip, tilt) [rad/s] (pseudo-wind).
        """
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise SimulationError(f"TurbulenceTilt.step dt_s={dt_s!r} must be finite and > 0")
        if not self.config.enabled:
            self.tilt_rad = np.zeros(2)
            return self.tilt_rad.copy()
        v = apparent_wind_mps(self.config, slew_rate_xy_radps, zenith_rad)
        speed = float(np.hypot(v[0], v[1]))
        self.s_m += speed * dt_s
        self.r0_m = self._r0_zenith_m * max(math.cos(zenith_rad), 0.05) ** 0.6  # NanoBob eq. (5)
        lt = self._sample_scalar(self.s_m) * self.r0_m ** (-5.0 / 6.0)
        ang = math.atan2(v[1], v[0]) if speed > 0 else 0.0
        c, s = math.cos(ang), math.sin(ang)
        self.tilt_rad = np.array([c * lt[0] - s * lt[1], s * lt[0] + c * lt[1]])
        return self.tilt_rad.copy()


# ----------------------------------------------------------------------------- scintillation
@dataclass(frozen=True)
class ScintillationConfig(ConfigBase):
    """Log-normal irradiance fluctuation of the received beacon."""

    index_zenith: float = param(0.05, "(aperture-averaged) scintillation index sigma_I^2 at zenith",
                                min_value=0.0, max_value=3.0)
    correlation_time_s: float = param(0.005, "correlation time of the irradiance", unit="s",
                                      min_value=1e-5, max_value=10.0)


class Scintillation:
    """Log-normal, AR(1)-correlated irradiance factor with mean 1 (module notes).

    ``sigma_I^2(zeta) = index_zenith sec(zeta)^(11/6)``.
    """

    def __init__(self, config: ScintillationConfig, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise SimulationError("Scintillation needs a seeded numpy.random.Generator")
        self.config = config
        self.rng = rng
        self._g = float(rng.normal())
        self.factor = 1.0

    def index(self, zenith_rad: float) -> float:
        """Scintillation index at a zenith angle (Rytov sec^(11/6) scaling)."""
        return self.config.index_zenith / max(math.cos(zenith_rad), 0.05) ** (11.0 / 6.0)

    def step(self, dt_s: float, zenith_rad: float) -> float:
        """Advance ``dt_s`` [s]; return the irradiance factor I (mean 1)."""
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise SimulationError(f"Scintillation.step dt_s={dt_s!r} must be finite and > 0")
        rho = math.exp(-dt_s / self.config.correlation_time_s)
        self._g = rho * self._g + math.sqrt(1 - rho * rho) * float(self.rng.normal())
        s2 = math.log1p(self.index(zenith_rad))
        self.factor = math.exp(-0.5 * s2 + math.sqrt(s2) * self._g)
        return self.factor


# ----------------------------------------------------------------------------- clouds
@dataclass(frozen=True)
class CloudConfig(ConfigBase):
    """Telegraph (two-state Markov) cloud blockage (seed 002 §III breaks)."""

    enabled: bool = param(False, "clouds pass through the line of sight")
    mean_clear_s: float = param(60.0, "mean duration of a clear interval", unit="s",
                                min_value=0.01, max_value=1e6)
    mean_blocked_s: float = param(3.0, "mean duration of a blockage", unit="s", min_value=0.01,
                                  max_value=1e6)
    blocked_loss_db: float = param(40.0, "extra attenuation while blocked", unit="dB", min_value=0.0,
                                   max_value=200.0)


class CloudProcess:
    """Markov on/off blockage; :meth:`step` returns the power transmission factor."""

    def __init__(self, config: CloudConfig, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise SimulationError("CloudProcess needs a seeded numpy.random.Generator")
        self.config = config
        self.rng = rng
        p_blocked = config.mean_blocked_s / (config.mean_blocked_s + config.mean_clear_s)
        self.blocked = bool(config.enabled and rng.uniform() < p_blocked)
        self._left_s = float(rng.exponential(config.mean_blocked_s if self.blocked else config.mean_clear_s))

    def step(self, dt_s: float) -> float:
        """Advance ``dt_s`` [s]; return the transmission (1 clear, 10^(-loss/10) blocked)."""
        if not (dt_s > 0 and math.isfinite(dt_s)):
            raise SimulationError(f"CloudProcess.step dt_s={dt_s!r} must be finite and > 0")
        if not self.config.enabled:
            return 1.0
        left = dt_s
        while left >= self._left_s:
            left -= self._left_s
            self.blocked = not self.blocked
            self._left_s = float(self.rng.exponential(
                self.config.mean_blocked_s if self.blocked else self.config.mean_clear_s))
        self._left_s -= left
        return 10.0 ** (-self.config.blocked_loss_db / 10.0) if self.blocked else 1.0


# ----------------------------------------------------------------------------- sky
@dataclass(frozen=True)
class SkyConfig(ConfigBase):
    """Sky (OGS) or Earth (satellite) background in the camera band."""

    daytime: bool = param(False, "use the day radiance")
    night_radiance_ph: float = param(2.5e11, "night spectral photon radiance (NanoBob §4.1, full moon)",
                                     unit="photons/(s sr m^2 nm)/10", min_value=0.0, max_value=1e25)
    day_radiance_w: float = param(0.03, "day sky spectral radiance near 800-850 nm", unit="W/(m^2 sr nm)",
                                  min_value=0.0, max_value=10.0)


def sky_background_e(sky: SkyConfig, *, wavelength_m: float, aperture_m: float, pixel_ifov_rad: float,
                     filter_bandwidth_nm: float, efficiency: float, exposure_s: float) -> float:
    """Mean background photo-electrons per pixel in one exposure [e-].

    ``N = L_ph * (pi D^2/4) * ifov^2 * d_lambda * eta * t``, with the night radiance given per
    10 nm as NanoBob §4.1 quotes it, and the day radiance converted to photons with
    ``h c / lambda``.
    """
    if sky.daytime:
        l_ph = sky.day_radiance_w / (H_PLANCK_JS * C_MPS / wavelength_m)
    else:
        l_ph = sky.night_radiance_ph / 10.0
    return float(l_ph * math.pi * aperture_m**2 / 4.0 * pixel_ifov_rad**2 * filter_bandwidth_nm
                 * efficiency * exposure_s)
