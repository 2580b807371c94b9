"""QKD key rates: entanglement-based BBM92, decoy-state BB84 (finite key), CV-QKD (RR), data budget.

All rates in SI (counts per second, bit/s); losses in dB; probabilities/efficiencies in [0, 1].

Transcription check of seed 001 (NanoBob) eq. (7) and (11) against Ma, Fong & Lo,
PRA 76, 012307 (2007), eq. for ``Q_lambda`` and ``E_lambda Q_lambda`` (there with
``lambda = mu/2`` the mean number of pairs per mode):

* MFL: last denominator ``(1 + eta_A lambda + eta_B lambda - eta_A eta_B lambda)^2``.
  The seed (eq. (7) and eq. (11)) prints ``+ eta_A eta_B mu/2``.  The minus sign is right: for
  a thermal pair distribution ``P(n) = (n+1) lambda^n/(1+lambda)^(n+2)`` the probability that
  neither side clicks is ``sum P(n) [(1-eta_A)(1-eta_B)]^n = 1/(1 + eta_A lambda + eta_B lambda
  - eta_A eta_B lambda)^2``.  With the seed's plus sign the true-coincidence term of ``Q`` nearly
  cancels (at 40 dB ``Q`` falls to its accidental part and the QBER goes to ~50 %), which cannot
  reproduce the seed's own Fig. 8.  This module uses the MFL sign; :func:`bbm92_point` takes
  ``seed_sign=True`` only to demonstrate the difference in a test.
* ``e_0 = 1/2`` (error rate of background counts) is used but not defined in the seed; MFL
  defines it so.
* eq. (10) ``R >= q (1 - f H2 - H2)`` per coincidence matches MFL's
  ``R >= q Q {1 - f(E) H2(E) - H2(E)}`` (bit and phase error rates equal for the symmetric
  entangled source).

References
----------
seed 001 (NanoBob) eq. (6)-(11); seed 002 (York) App. A eq. (12)-(18), App. B eq. (19)-(24);
Ma, Fong & Lo, PRA 76, 012307 (2007); Lo, Ma & Chen, PRL 94, 230504 (2005);
Laudenbach et al., Adv. Quantum Technol. 1, 1800011 (2018) (CV-QKD formulas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import LinkError
from qsat_pat.core.params import ConfigBase, param

#: Protocol names understood by :func:`key_rate_curve` (and the ``key-rate`` CLI).
PROTOCOLS: tuple[str, ...] = ("bbm92", "bb84-decoy", "cv")


def binary_entropy(x):
    """Binary entropy ``H2(x) = -x log2 x - (1-x) log2 (1-x)`` [bit]; ``H2(0) = H2(1) = 0``."""
    p = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p * np.log2(p) - (1.0 - p) * np.log2(1.0 - p)
    h = np.where((p <= 0.0) | (p >= 1.0), 0.0, h)
    return float(h) if h.ndim == 0 else h


def qber_limit(f_ec: float) -> float:
    """QBER at which ``1 - f H2(E) - H2(E)`` reaches zero (seed 001 eq. (10)).

    9.4 % for ``f = 1.22``, 11.0 % for ``f = 1`` (seed 001 §7).
    """
    f = float(f_ec)
    if not math.isfinite(f) or f < 1.0:
        raise LinkError(f"error-correction efficiency f must be >= 1 (Shannon limit), got {f_ec!r}")
    lo, hi = 1e-9, 0.5
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if 1.0 - (f + 1.0) * binary_entropy(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _check_nonneg(name: str, value: float, unit: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0:
        raise LinkError(f"{name} must be finite and >= 0 {unit}, got {value!r}")
    return v


def _loss_array(loss_db) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(loss_db, dtype=float))
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
        raise LinkError(f"link losses must be finite and >= 0 dB (a loss cannot be a gain), got {loss_db!r}")
    return arr


# --------------------------------------------------------------------------- data budget
def time_tag_bits(horizon_s: float, resolution_s: float) -> float:
    """Uncompressed bits per detector event ``log2(h/dt) + 2`` (seed 001 eq. (6)).

    Parameters
    ----------
    horizon_s : float
        Time span over which a time stamp must be unique [s].
    resolution_s : float
        Time-tag resolution [s].
    """
    h = _check_nonneg("horizon_s", horizon_s, "s")
    dt = _check_nonneg("resolution_s", resolution_s, "s")
    if dt <= 0.0 or h <= dt:
        raise LinkError("need 0 < resolution_s < horizon_s for a time-tag budget")
    return math.log2(h / dt) + 2.0


def time_tag_data_rate_bps(event_rate_hz: float, horizon_s: float, resolution_s: float,
                           word_bits: int = 64) -> float:
    """Time-tag data rate [bit/s]: event rate times the eq. (6) bits rounded up to ``word_bits``.

    seed 001 §6: 61.1 bits -> 64 bits; 1e4 events/s -> 80 kB/s; 24 MB per 5 min.
    """
    bits = time_tag_bits(horizon_s, resolution_s)
    if word_bits <= 0:
        raise LinkError("word_bits must be > 0")
    stored = math.ceil(bits / word_bits) * word_bits
    return _check_nonneg("event_rate_hz", event_rate_hz, "Hz") * stored


# --------------------------------------------------------------------------- BBM92 (NanoBob)
@dataclass(frozen=True)
class Bbm92Config(ConfigBase):
    """Entangled-source QKD parameters (defaults: NanoBob Table 3, conservative case)."""

    pair_rate_hz: float = param(1e8, "pair production rate mu/tau (informational)", unit="1/s",
                                min_value=0.0, max_value=1e12)
    tau_s: float = param(1e-9, "coincidence window", unit="s", min_value=1e-13, max_value=1e-3)
    mu: float = param(0.1, "mean pairs per coincidence window", min_value=1e-9, max_value=1.0)
    eta_a: float = param(0.32, "Alice detection efficiency", min_value=0.0, max_value=1.0)
    eta_b: float = param(0.32, "Bob detection efficiency before link loss", min_value=0.0, max_value=1.0)
    detectors: int = param(4, "detectors per side N_det", min_value=1, max_value=64)
    dark_a_cps: float = param(100.0, "dark count rate per Alice detector", unit="1/s", min_value=0.0, max_value=1e8)
    dark_b_cps: float = param(100.0, "dark count rate per Bob detector", unit="1/s", min_value=0.0, max_value=1e8)
    background_cps: float = param(400.0, "background count rate at Bob", unit="1/s", min_value=0.0, max_value=1e9)
    ed: float = param(0.01, "intrinsic (misalignment) error e_d", min_value=0.0, max_value=0.5)
    f_ec: float = param(1.22, "error-correction inefficiency f", min_value=1.0, max_value=3.0)
    q: float = param(0.5, "basis reconciliation factor q", min_value=0.0, max_value=1.0)


@dataclass(frozen=True)
class KeyRatePoint:
    """Key-rate model output at one link loss."""

    loss_db: float
    qber: float
    key_rate_bps: float
    coincidence_rate_cps: float = float("nan")
    extra: tuple[tuple[str, float], ...] = ()

    def as_dict(self) -> dict[str, float]:
        """JSON-friendly dict (``extra`` entries flattened)."""
        out = {"loss_db": self.loss_db, "qber": self.qber, "key_rate_bps": self.key_rate_bps}
        if not math.isnan(self.coincidence_rate_cps):
            out["coincidence_rate_cps"] = self.coincidence_rate_cps
        out.update(dict(self.extra))
        return out


def bbm92_point(config: Bbm92Config, loss_db: float, *, seed_sign: bool = False) -> KeyRatePoint:
    """BBM92/E91 coincidence rate, QBER and secret key rate at one link loss.

    Bob's efficiency is ``eta_b * 10^(-loss/10)``.  Equations (with ``lambda = mu/2``):

    * ``Y0A = N D_A tau``, ``Y0B = (N D_B + B) tau``  (seed 001 eq. (8));
    * ``Q = 1 - (1-Y0A)/(1+eta_A lambda)^2 - (1-Y0B)/(1+eta_B lambda)^2
      + (1-Y0A)(1-Y0B)/(1 + eta_A lambda + eta_B lambda - eta_A eta_B lambda)^2`` (eq. (7), MFL sign);
    * ``R_coinc = Q/tau`` (eq. (9));
    * ``E = e0 - (e0-e_d) eta_A eta_B mu (1+mu/2) / [Q (1+eta_A lambda)(1+eta_B lambda)(1+eta_A lambda
      + eta_B lambda - eta_A eta_B lambda)]``, ``e0 = 1/2`` (eq. (11), MFL sign);
    * ``K = R_coinc q (1 - f H2(E) - H2(E))``, clipped at 0 (eq. (10)).

    Parameters
    ----------
    seed_sign : bool
        Use the seed's ``+ eta_A eta_B lambda`` (a transcription error, see module docstring).

    Raises
    ------
    LinkError
        Negative loss.

    References
    ----------
    seed 001 eq. (7)-(11); Ma, Fong & Lo PRA 76, 012307 (2007).
    """
    loss = float(_loss_array(loss_db)[0])
    c = config
    lam = c.mu / 2.0
    eta_a = c.eta_a
    eta_b = c.eta_b * 10.0 ** (-loss / 10.0)
    y0a = min(c.detectors * c.dark_a_cps * c.tau_s, 1.0)
    y0b = min((c.detectors * c.dark_b_cps + c.background_cps) * c.tau_s, 1.0)
    sign = 1.0 if seed_sign else -1.0
    both = 1.0 + eta_a * lam + eta_b * lam + sign * eta_a * eta_b * lam
    q_mu = (1.0 - (1.0 - y0a) / (1.0 + eta_a * lam) ** 2 - (1.0 - y0b) / (1.0 + eta_b * lam) ** 2
            + (1.0 - y0a) * (1.0 - y0b) / both**2)
    e0 = 0.5
    if q_mu <= 0.0:
        return KeyRatePoint(loss, float("nan"), 0.0, 0.0)
    qber = e0 - (e0 - c.ed) * eta_a * eta_b * c.mu * (1.0 + c.mu / 2.0) / (
        q_mu * (1.0 + eta_a * lam) * (1.0 + eta_b * lam) * both)
    qber = min(max(qber, 0.0), 1.0)
    rate = q_mu / c.tau_s
    frac = 1.0 - c.f_ec * binary_entropy(qber) - binary_entropy(qber)
    key = max(0.0, rate * c.q * frac)
    return KeyRatePoint(loss, qber, key, rate)


# --------------------------------------------------------------------------- decoy BB84 (York App. A)
@dataclass(frozen=True)
class DecoyBb84Config(ConfigBase):
    """Decoy-state BB84 with finite-key correction (seed 002 App. A)."""

    clock_hz: float = param(100e6, "source repetition rate", unit="Hz", min_value=1.0, max_value=1e11)
    mu: float = param(0.5, "signal mean photon number", min_value=1e-6, max_value=5.0)
    eta_det: float = param(0.5, "receiver detection efficiency", min_value=0.0, max_value=1.0)
    y0: float = param(1e-6, "dark/background count probability per detection window", min_value=0.0, max_value=1.0)
    ed: float = param(0.01, "intrinsic misalignment error e_d", min_value=0.0, max_value=0.5)
    e_track: float = param(0.0, "tracking-induced basis error e_p", min_value=0.0, max_value=0.5)
    pointing_rms_rad: float = param(0.0, "RMS pointing jitter sigma", unit="rad", min_value=0.0, max_value=0.1)
    divergence_rad: float = param(10e-6, "beam divergence theta_d (1/e^2 half angle)", unit="rad",
                                  min_value=1e-9, max_value=1.0)
    f_ec: float = param(1.16, "error-correction inefficiency f", min_value=1.0, max_value=3.0)
    q: float = param(0.5, "basis-sifting factor q", min_value=0.0, max_value=1.0)
    p_signal: float = param(0.9, "probability of sending a signal state p_s", min_value=1e-6, max_value=1.0)
    n_pulses: float = param(1e11, "total transmitted pulses N (0 = asymptotic)", min_value=0.0, max_value=1e18)
    eps_pa: float = param(1e-10, "privacy-amplification security parameter", min_value=1e-30, max_value=0.5)


def decoy_bb84_point(config: DecoyBb84Config, loss_db: float) -> KeyRatePoint:
    """Decoy-state BB84 key rate (GLLP, finite key) at one channel loss.

    The equations are missing from the extracted seed 002 text; the standard GLLP/decoy forms of
    Lo, Ma & Chen (2005) are used, with the seed's structure:

    * ``eta = eta_det 10^(-L/10) exp(-2 sigma^2/theta_d^2)`` (eq. (12), see
      :func:`qsat_pat.core.link.jitter_transmittance`);
    * ``Y_n = Y0 + 1 - (1-eta)^n`` -> ``Y1 = Y0 + eta`` (eq. (13));
    * ``Q_mu = Y0 + 1 - exp(-eta mu)`` (eq. (14));
    * ``e_n Y_n = e0 Y0 + (e_d + e_p)(1 - (1-eta)^n)`` (eq. (15)), ``E_mu Q_mu = e0 Y0 +
      (e_d + e_p)(1 - exp(-eta mu))`` (eq. (16)), ``e0 = 1/2``;
    * ``Q1 = mu exp(-mu) Y1``, ``e1 = (e0 Y0 + (e_d+e_p) eta)/Y1`` (ideal decoy estimate);
    * ``R = q p_s [Q1 (1 - H2(e1)) - f Q_mu H2(E_mu)] - Delta`` (eq. (17)), clipped at 0;
    * ``Delta = q p_s Q_mu 7 sqrt(log2(2/eps_PA) / n)`` with ``n = N p_s Q_mu`` detected signal
      events (eq. (18), the usual ``7 sqrt(log2(2/eps)/n)`` smoothing term); ``N = 0`` -> asymptotic.

    Returns
    -------
    KeyRatePoint
        ``key_rate_bps = R * clock_hz``.
    """
    loss = float(_loss_array(loss_db)[0])
    c = config
    eta = c.eta_det * 10.0 ** (-loss / 10.0) * math.exp(-2.0 * c.pointing_rms_rad**2 / c.divergence_rad**2)
    e0 = 0.5
    e_mis = min(c.ed + c.e_track, 0.5)
    q_mu = c.y0 + 1.0 - math.exp(-eta * c.mu)
    e_mu = (e0 * c.y0 + e_mis * (1.0 - math.exp(-eta * c.mu))) / q_mu if q_mu > 0 else 0.5
    y1 = c.y0 + eta
    q1 = c.mu * math.exp(-c.mu) * y1
    e1 = (e0 * c.y0 + e_mis * eta) / y1 if y1 > 0 else 0.5
    per_pulse = c.q * c.p_signal * (q1 * (1.0 - binary_entropy(e1)) - c.f_ec * q_mu * binary_entropy(e_mu))
    delta = 0.0
    if c.n_pulses > 0.0:
        n_det = c.n_pulses * c.p_signal * q_mu
        if n_det < 1.0:
            return KeyRatePoint(loss, e_mu, 0.0, extra=(("gain", q_mu), ("finite_key_penalty", float("inf"))))
        delta = c.q * c.p_signal * q_mu * 7.0 * math.sqrt(math.log2(2.0 / c.eps_pa) / n_det)
    rate = max(0.0, per_pulse - delta)
    return KeyRatePoint(loss, e_mu, rate * c.clock_hz,
                        extra=(("gain", q_mu), ("finite_key_penalty", delta * c.clock_hz)))


# --------------------------------------------------------------------------- CV-QKD (York App. B)
@dataclass(frozen=True)
class CvQkdConfig(ConfigBase):
    """GG02 coherent-state CV-QKD, homodyne, reverse reconciliation (seed 002 App. B)."""

    symbol_rate_hz: float = param(100e6, "symbol rate", unit="Hz", min_value=1.0, max_value=1e11)
    v_mod: float = param(4.0, "modulation variance V_A", unit="SNU", min_value=1e-3, max_value=1e6)
    xi: float = param(0.01, "excess noise at Alice", unit="SNU", min_value=0.0, max_value=1.0)
    eta_det: float = param(0.6, "homodyne detector efficiency", min_value=1e-3, max_value=1.0)
    v_el: float = param(0.01, "electronic noise", unit="SNU", min_value=0.0, max_value=1.0)
    beta: float = param(0.95, "reconciliation efficiency", min_value=0.0, max_value=1.0)
    pointing_rms_axis_rad: float = param(0.0, "per-axis RMS pointing jitter", unit="rad",
                                         min_value=0.0, max_value=0.1)
    divergence_rad: float = param(10e-6, "beam divergence theta_d (1/e^2 half angle)", unit="rad",
                                  min_value=1e-9, max_value=1.0)


def _g(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = (x + 1.0) * np.log2(x + 1.0) - x * np.log2(x)
    return np.where(x <= 0.0, 0.0, val)


def _g_nu(nu):
    return float(_g((np.asarray(nu, dtype=float) - 1.0) / 2.0))


def cv_qkd_point(config: CvQkdConfig, loss_db: float) -> KeyRatePoint:
    """Asymptotic CV-QKD key rate with reverse reconciliation and homodyne detection.

    Pointing jitter both lowers the mean transmittance and adds fading excess noise
    (seed 002 eq. (19)-(20)): ``T = T0 <T>/T0``, ``xi_total = xi + V_A Var(sqrt T)/<sqrt T>^2``
    with the moments of :func:`qsat_pat.core.link.jitter_fading_moments`.  Then (shot-noise
    units, ``V = V_A + 1``):

    * ``I_AB = 1/2 log2(1 + eta T V_A / (1 + eta T xi + v_el))`` (eq. (22));
    * ``chi_BE = G(l1) + G(l2) - G(l3) - G(l4)`` from the symplectic eigenvalues of the
      entanglement-based covariance matrix (eq. (23)-(24); standard collective-attack bound of
      Laudenbach et al. 2018 — the seed's "restricted Eve / bypass channel" variant is *not*
      implemented, so this is the conservative full-Eve bound);
    * ``K = beta I_AB - chi_BE`` per symbol (eq. (21)), clipped at 0.

    ``qber`` of the returned point is NaN (CV-QKD has none); ``extra`` holds ``snr``,
    ``transmittance`` and ``excess_noise``.
    """
    from qsat_pat.core.link import jitter_fading_moments

    loss = float(_loss_array(loss_db)[0])
    c = config
    t0 = 10.0 ** (-loss / 10.0)
    mean_t, mean_sqrt_t = jitter_fading_moments(c.pointing_rms_axis_rad, c.divergence_rad)
    t = t0 * mean_t
    var_sqrt = t0 * (mean_t - mean_sqrt_t**2)
    xi = c.xi + c.v_mod * var_sqrt / (t0 * mean_sqrt_t**2) if t0 > 0 else c.xi
    eta = c.eta_det
    v = c.v_mod + 1.0
    snr = eta * t * c.v_mod / (1.0 + eta * t * xi + c.v_el)
    i_ab = 0.5 * math.log2(1.0 + snr)
    chi_line = 1.0 / t - 1.0 + xi
    chi_hom = (1.0 - eta + c.v_el) / eta
    chi_tot = chi_line + chi_hom / t
    a = v**2 * (1.0 - 2.0 * t) + 2.0 * t + t**2 * (v + chi_line) ** 2
    b = t**2 * (v * chi_line + 1.0) ** 2
    disc = max(a**2 - 4.0 * b, 0.0)
    l1 = math.sqrt(max(0.5 * (a + math.sqrt(disc)), 1.0))
    l2 = math.sqrt(max(0.5 * (a - math.sqrt(disc)), 1.0))
    cc = (v * math.sqrt(b) + t * (v + chi_line) + a * chi_hom) / (t * (v + chi_tot))
    dd = math.sqrt(b) * (v + math.sqrt(b) * chi_hom) / (t * (v + chi_tot))
    disc2 = max(cc**2 - 4.0 * dd, 0.0)
    l3 = math.sqrt(max(0.5 * (cc + math.sqrt(disc2)), 1.0))
    l4 = math.sqrt(max(0.5 * (cc - math.sqrt(disc2)), 1.0))
    chi_be = _g_nu(l1) + _g_nu(l2) - _g_nu(l3) - _g_nu(l4)
    k = max(0.0, c.beta * i_ab - chi_be)
    return KeyRatePoint(loss, float("nan"), k * c.symbol_rate_hz,
                        extra=(("snr", snr), ("transmittance", t), ("excess_noise", xi),
                               ("mutual_information_bits", i_ab), ("holevo_bits", chi_be)))


def key_rate_curve(protocol: str, loss_db, config=None) -> list[KeyRatePoint]:
    """Key-rate points for a list of losses.

    Parameters
    ----------
    protocol : str
        One of :data:`PROTOCOLS`.
    loss_db : float or sequence of float
        Link losses [dB], each >= 0.
    config : Bbm92Config, DecoyBb84Config or CvQkdConfig, optional
        Defaults to the protocol's default config.

    Raises
    ------
    LinkError
        Unknown protocol, wrong config type or negative loss.
    """
    table = {"bbm92": (Bbm92Config, bbm92_point), "bb84-decoy": (DecoyBb84Config, decoy_bb84_point),
             "cv": (CvQkdConfig, cv_qkd_point)}
    if protocol not in table:
        raise LinkError(f"unknown QKD protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    cls, fn = table[protocol]
    cfg = cls() if config is None else config
    if not isinstance(cfg, cls):
        raise LinkError(f"protocol {protocol!r} needs a {cls.__name__}, got {type(cfg).__name__}")
    return [fn(cfg, float(x)) for x in _loss_array(loss_db)]


def max_tolerable_loss_db(protocol: str, config=None, lo_db: float = 0.0, hi_db: float = 100.0) -> float:
    """Largest loss [dB] with a positive key rate (bisection; assumes one crossing)."""
    def positive(x: float) -> bool:
        return key_rate_curve(protocol, [x], config)[0].key_rate_bps > 0.0

    if not positive(lo_db):
        return lo_db
    if positive(hi_db):
        return hi_db
    for _ in range(60):
        mid = 0.5 * (lo_db + hi_db)
        if positive(mid):
            lo_db = mid
        else:
            hi_db = mid
    return 0.5 * (lo_db + hi_db)
