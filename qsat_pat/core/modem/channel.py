"""Detector channel: received optical power -> photo-electrons per chip -> comparator -> chips.

Model of a SiPM/APD receiver with a comparator (seed 003 §2.2 and App. A): each chip of
duration ``T_c`` (Manchester: ``T_c = 1/(2 R_b)``) carries on/off optical power set by the mean
received power ``P`` and the extinction ratio ``ER``: ``P_on = 2 P ER/(ER+1)``,
``P_off = 2 P/(ER+1)``.  The mean number of photo-electrons of a chip is

``N = PDE * P_chip * T_c / (h c / lambda) + (R_dark + R_bg) T_c``,

and the amplified, integrated chip signal (in photo-electron units) is Gaussian with variance
``F N + (k N)^2 + sigma_el^2`` (``F``: excess noise factor of the avalanche gain incl. crosstalk;
``k``: relative gain fluctuation from the bias droop that App. A describes -- the 100 ns bias
recovery is much longer than a chip, so the gain depends on the recent signal history;
``sigma_el``: input-referred noise of the amplifier/comparator chain).  The comparator outputs 1
when the signal exceeds ``threshold_pe``.  The Manchester decoder takes the first chip of each
pair as the bit, so ``BER = (P(on-chip read 0) + P(off-chip read 1)) / 2``.

Detector parameters (defaults, "Vector-like"): 850 nm, 50 Mbit/s (100 Mchip/s), PDE 0.10 (a SiPM
at 850 nm), extinction ratio 30 dB (electro-optic modulator, seed 003 Fig. A1), excess noise
factor 1.3, dark + background 1 Mcps, electronic noise 100 p.e. RMS, relative gain fluctuation
k = 0.10, comparator level 800 p.e.  Vector does not publish its detector parameters: ``k``,
``sigma_el`` and the comparator level are *effective* values chosen so that the BER curve passes
1e-3 near 150 nW as in seed 003 Fig. 7 and stays far below 1e-3 up to 1.7 uW; they are not
derived from first principles.

References
----------
seed 003 (Vector) §2.2, §4 (Fig. 7: BER <= 1e-3 between 150 nW and 1.7 uW at 50 Mbit/s), App. A.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from qsat_pat.core.constants import C_MPS, H_PLANCK_JS
from qsat_pat.core.errors import LinkError
from qsat_pat.core.params import ConfigBase, param


@dataclass(frozen=True)
class DetectorConfig(ConfigBase):
    """SiPM/APD + comparator receiver (defaults: Vector-like, see module docstring)."""

    wavelength_m: float = param(850e-9, "signal wavelength", unit="m", min_value=1e-7, max_value=1e-5)
    bit_rate_bps: float = param(50e6, "data bit rate (Manchester: chip rate = 2x)", unit="bit/s",
                                min_value=1.0, max_value=1e11)
    pde: float = param(0.10, "photon detection efficiency", min_value=0.0, max_value=1.0)
    extinction_ratio: float = param(1000.0, "on/off power ratio of the modulation", min_value=1.0, max_value=1e9)
    excess_noise_factor: float = param(1.3, "excess noise factor F of the avalanche gain", min_value=1.0,
                                       max_value=100.0)
    electronic_noise_pe: float = param(100.0, "input-referred amplifier/comparator noise per chip",
                                       unit="p.e. RMS", min_value=0.0, max_value=1e6)
    gain_droop_rel: float = param(0.10, "relative RMS gain fluctuation (bias droop, ISI)", min_value=0.0,
                                  max_value=1.0)
    dark_plus_background_cps: float = param(1e6, "dark + background count rate", unit="1/s",
                                            min_value=0.0, max_value=1e12)
    threshold_pe: float = param(800.0, "comparator level", unit="p.e.", min_value=0.0, max_value=1e9)


def photon_energy_j(wavelength_m: float) -> float:
    """``h c / lambda`` [J]."""
    lam = float(wavelength_m)
    if not math.isfinite(lam) or lam <= 0.0:
        raise LinkError(f"wavelength_m must be > 0, got {wavelength_m!r}")
    return H_PLANCK_JS * C_MPS / lam


def chip_photoelectrons(config: DetectorConfig, power_w):
    """Mean photo-electrons of an on-chip and an off-chip for mean received power ``power_w``.

    Parameters
    ----------
    power_w : float or array
        Mean received optical power at the detector [W] (>= 0).

    Returns
    -------
    n_on, n_off : float or array
        Mean photo-electrons per chip [p.e.].

    Raises
    ------
    LinkError
        Negative or non-finite power.
    """
    p = np.asarray(power_w, dtype=float)
    if not np.all(np.isfinite(p)) or np.any(p < 0.0):
        raise LinkError(f"received power must be finite and >= 0 W, got {power_w!r}")
    t_chip = 1.0 / (2.0 * config.bit_rate_bps)
    er = config.extinction_ratio
    scale = config.pde * t_chip / photon_energy_j(config.wavelength_m)
    noise = config.dark_plus_background_cps * t_chip
    n_on = scale * 2.0 * p * er / (er + 1.0) + noise
    n_off = scale * 2.0 * p / (er + 1.0) + noise
    return n_on, n_off


def _sigma(config: DetectorConfig, n):
    return np.sqrt(config.excess_noise_factor * n + (config.gain_droop_rel * n) ** 2
                   + config.electronic_noise_pe**2)


def bit_error_rate(config: DetectorConfig, power_w):
    """Analytic BER of the Manchester link vs mean received power (Gaussian approximation).

    ``BER = [Phi((th - N_on)/s_on) + 1 - Phi((th - N_off)/s_off)] / 2``.

    References
    ----------
    seed 003 §4, Fig. 7; App. A.
    """
    n_on, n_off = chip_photoelectrons(config, power_w)
    th = config.threshold_pe
    p_miss = ndtr((th - n_on) / _sigma(config, n_on))
    p_false = ndtr((n_off - th) / _sigma(config, n_off))  # upper tail without cancellation
    ber = 0.5 * (p_miss + p_false)
    return float(ber) if np.ndim(ber) == 0 else ber


def power_for_ber(config: DetectorConfig, target_ber: float, lo_w: float = 1e-10, hi_w: float = 1e-5) -> float:
    """Smallest mean received power [W] at which the analytic BER falls to ``target_ber`` (bisection in log P)."""
    if not 0.0 < target_ber < 0.5:
        raise LinkError(f"target BER must lie in (0, 0.5), got {target_ber!r}")
    if bit_error_rate(config, hi_w) > target_ber:
        raise LinkError(f"BER {target_ber} is not reached below {hi_w} W with this detector")
    a, b = math.log(lo_w), math.log(hi_w)
    for _ in range(80):
        m = 0.5 * (a + b)
        if bit_error_rate(config, math.exp(m)) > target_ber:
            a = m
        else:
            b = m
    return math.exp(b)


def transmit_chips(config: DetectorConfig, chips, power_w: float, rng: np.random.Generator) -> np.ndarray:
    """Pass unpacked chips through the detector + comparator (Monte-Carlo).

    Photo-electrons are Poisson with the chip mean; avalanche excess noise and electronic noise
    are added as Gaussian terms (variance ``(F-1) N + sigma_el^2``).

    Parameters
    ----------
    chips : array_like of 0/1
        Transmitted chips (1 = laser on).
    power_w : float
        Mean received optical power [W].
    rng : numpy.random.Generator
        Random source (seed it for reproducibility).

    Returns
    -------
    numpy.ndarray of uint8
        Comparator output chips.
    """
    c = np.asarray(chips, dtype=np.uint8)
    n_on, n_off = chip_photoelectrons(config, power_w)
    mean = np.where(c == 1, n_on, n_off)
    counts = rng.poisson(mean).astype(np.float64)
    extra_var = ((config.excess_noise_factor - 1.0) * counts + (config.gain_droop_rel * counts) ** 2
                 + config.electronic_noise_pe**2)
    signal = counts + rng.standard_normal(c.size) * np.sqrt(extra_var)
    return (signal > config.threshold_pe).astype(np.uint8)


def flip_packed_bits(chips, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Binary symmetric channel on a packed chip stream (for fast BER/FER studies)."""
    buf = np.asarray(chips, dtype=np.uint8).copy()
    if not 0.0 <= probability <= 1.0:
        raise LinkError(f"flip probability must lie in [0, 1], got {probability!r}")
    n_bits = buf.size * 8
    n_flip = rng.binomial(n_bits, probability)
    pos = rng.choice(n_bits, size=n_flip, replace=False) if n_flip else np.zeros(0, dtype=np.int64)
    np.bitwise_xor.at(buf, pos // 8, (np.uint8(0x80) >> (pos % 8).astype(np.uint8)).astype(np.uint8))
    return buf
