"""Two-way time-of-flight ranging over the comm link, normal points, Jinan-1 residual analysis.

Each terminal time-tags, in its own clock, the frame markers (first preamble chip, see
:class:`qsat_pat.core.modem.framing.DecodedFrames.start_chip`) it sends and receives.  With the
ground time tags ``t_g_tx`` (send) and ``t_g_rx`` (receive) and the satellite time tags ``t_s_rx``
(receive) and ``t_s_tx`` (send):

``range = c/2 [(t_g_rx - t_g_tx) - (t_s_tx - t_s_rx)]``,
``clock_offset = [(t_s_rx - t_g_tx) - (t_g_rx - t_s_tx)] / 2``  (satellite minus ground),

the classic two-way time-transfer equations: the clock offset cancels in the range and the
range cancels in the offset.  Each of the four time tags carries a timing jitter ``sigma_t``
(RMS), so one measurement has ``sigma_range = c sigma_t`` and a normal point of ``N``
measurements ``c sigma_t / sqrt(N)`` (the sigma_t/sqrt(N) law).  Jinan-1 (seed 000) reports
~5 mm per normal point at 156.25 Mbit/s; with one marker per 2776-bit frame period that is
56 286 markers/s, so 5 mm needs ``sigma_t <= 3.96 ns``; the default jitter here, 1 ns RMS per time
tag, gives 1.26 mm.  Sagnac and relativistic terms and atmospheric delay are not modelled.

References
----------
seed 000 (Jinan-1): integrated laser communication and ranging, ~5 mm, 156.25 Mbit/s, Fig. 2(b)
(ranging residual after removing a polynomial fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core import constants
from qsat_pat.core.errors import LinkError
from qsat_pat.core.modem.framing import PERIOD_OCTETS
from qsat_pat.core.params import ConfigBase, param

#: Speed of light [m/s] (:data:`qsat_pat.core.constants.C_MPS`, under the name the tests import).
SPEED_OF_LIGHT_MPS = constants.C_MPS


@dataclass(frozen=True)
class RangingConfig(ConfigBase):
    """Two-way ranging parameters (defaults: Jinan-1 line rate)."""

    line_rate_bps: float = param(156.25e6, "data bit rate of the comm link", unit="bit/s",
                                 min_value=1e3, max_value=1e11)
    jitter_s: float = param(1e-9, "RMS timing jitter of each time tag", unit="s", min_value=0.0, max_value=1e-3)
    frame_period_bits: int = param(PERIOD_OCTETS * 8, "bits per frame period (one marker each)",
                                   min_value=8, max_value=10**9)
    normal_point_s: float = param(1.0, "normal point duration", unit="s", min_value=1e-3, max_value=3600.0)
    trend_degree: int = param(8, "degree of the pass trend polynomial removed before averaging",
                              min_value=1, max_value=20)
    hold_s: float = param(1e-6, "delay between a satellite receive tag and its paired send tag", unit="s",
                          min_value=0.0, max_value=1.0)

    @property
    def marker_rate_hz(self) -> float:
        """Frame markers per second (one per frame period)."""
        return self.line_rate_bps / self.frame_period_bits

    def predicted_precision_m(self, n_markers: int | None = None) -> float:
        """``c sigma_t / sqrt(N)`` for one normal point [m]."""
        n = int(round(self.marker_rate_hz * self.normal_point_s)) if n_markers is None else int(n_markers)
        return SPEED_OF_LIGHT_MPS * self.jitter_s / math.sqrt(max(n, 1))


def two_way_range(t_g_tx, t_s_rx, t_s_tx, t_g_rx):
    """Range [m] and satellite clock offset [s] from the four time tags (arrays, same shape).

    Raises
    ------
    LinkError
        Shapes differ or values are not finite.
    """
    arrs = [np.asarray(x, dtype=float) for x in (t_g_tx, t_s_rx, t_s_tx, t_g_rx)]
    if len({a.shape for a in arrs}) != 1:
        raise LinkError("the four time-tag arrays must have the same shape")
    if not all(np.all(np.isfinite(a)) for a in arrs):
        raise LinkError("time tags must be finite")
    g_tx, s_rx, s_tx, g_rx = arrs
    rng_m = 0.5 * SPEED_OF_LIGHT_MPS * ((g_rx - g_tx) - (s_tx - s_rx))
    offset_s = 0.5 * ((s_rx - g_tx) - (g_rx - s_tx))
    return rng_m, offset_s


def frame_marker_times_s(start_chip, line_rate_bps: float, stream_start_s: float = 0.0, chips_per_bit: int = 2):
    """Time tags of decoded frame markers: ``t0 + start_chip / chip_rate`` [s].

    ``start_chip`` comes from :class:`qsat_pat.core.modem.framing.DecodedFrames`; the chip rate is
    ``chips_per_bit * line_rate_bps`` (Manchester: 2).  The resolution is one chip; a time-to-
    digital converter on the comparator edge of the preamble would refine it (not modelled).
    """
    if not line_rate_bps > 0.0:
        raise LinkError(f"line_rate_bps must be > 0, got {line_rate_bps!r}")
    return stream_start_s + np.asarray(start_chip, dtype=float) / (chips_per_bit * line_rate_bps)


def _arrival(t_tx, range_fn, iterations: int = 3):
    t = np.asarray(t_tx, dtype=float)
    arr = t + range_fn(t) / SPEED_OF_LIGHT_MPS
    for _ in range(iterations):
        arr = t + range_fn(arr) / SPEED_OF_LIGHT_MPS
    return arr


def simulate_time_tags(config: RangingConfig, t_g_tx, range_fn, clock_offset_s: float,
                       rng: np.random.Generator):
    """Simulate the four time tags of each two-way measurement.

    Parameters
    ----------
    t_g_tx : array
        Ground send times of the markers (true time = ground clock) [s].
    range_fn : callable
        True geometric range [m] at a given true time [s] (vectorised).
    clock_offset_s : float
        Satellite clock minus ground clock [s].

    Returns
    -------
    tags : tuple of 4 arrays
        ``(t_g_tx, t_s_rx, t_s_tx, t_g_rx)`` with jitter.
    t_ref : array
        True time the estimate refers to (middle of the satellite's receive/send pair) [s].
    """
    g_tx = np.asarray(t_g_tx, dtype=float)
    n = g_tx.size
    s_rx_true = _arrival(g_tx, range_fn)                # satellite receives (true time)
    s_tx_true = s_rx_true + config.hold_s               # satellite sends its own marker
    # downlink: solve t_rx = s_tx + range(t_rx)/c (range evaluated at the satellite send time
    # to first order; the satellite moves ~7 km/s * range/c ~ 1.7e-2 m during the flight)
    g_rx_true = s_tx_true + range_fn(s_tx_true) / SPEED_OF_LIGHT_MPS
    j = config.jitter_s
    noise = rng.standard_normal((4, n)) * j
    tags = (g_tx + noise[0], s_rx_true + clock_offset_s + noise[1], s_tx_true + clock_offset_s + noise[2],
            g_rx_true + noise[3])
    return tags, s_rx_true + 0.5 * config.hold_s


def normal_points(t_s, range_m, window_s: float, trend_degree: int = 8):
    """Compress single-shot ranges into normal points (ILRS style).

    A trend polynomial of ``trend_degree`` is fitted to the whole data set (it absorbs the pass
    dynamics, the role the predicted orbit plays in satellite laser ranging); each normal point
    is the trend at the window centre plus the mean residual in the window, so its noise is
    ``sigma / sqrt(N)`` exactly (a per-window quadratic fit would inflate it by 1.5).

    Parameters
    ----------
    t_s, range_m : array, shape (n,)
        Measurement times [s] (sorted) and ranges [m].
    window_s : float
        Normal point duration [s].
    trend_degree : int
        Degree of the trend polynomial.

    Returns
    -------
    t_np, r_np : arrays
        Window centres [s] and ranges there [m].
    sigma_np : array
        Formal precision of each normal point from its residual scatter [m].
    counts : array of int
        Measurements per normal point.
    """
    t = np.asarray(t_s, dtype=float)
    r = np.asarray(range_m, dtype=float)
    if t.shape != r.shape or t.ndim != 1:
        raise LinkError("t_s and range_m must be 1-D arrays of the same length")
    if not math.isfinite(window_s) or window_s <= 0.0:
        raise LinkError("window_s must be > 0")
    if t.size <= trend_degree + 2:
        empty = np.zeros(0)
        return empty, empty, empty, np.zeros(0, dtype=int)
    resid, _ = polynomial_residuals(t, r, trend_degree)
    trend = np.polynomial.Polynomial.fit(t, r, trend_degree)
    n_win = max(1, int(math.floor((t[-1] - t[0]) / window_s + 1e-9)))
    edges = t[0] + window_s * np.arange(n_win + 1)
    edges[-1] = max(edges[-1], t[-1] + 1e-12)
    idx = np.searchsorted(t, edges, side="left")
    idx[-1] = t.size
    out_t, out_r, out_s, out_n = [], [], [], []
    for a, b in zip(idx[:-1], idx[1:]):
        n = int(b - a)
        if n < 2:
            continue
        tc = 0.5 * (t[a] + t[b - 1])
        mean_res = float(np.mean(resid[a:b]))
        out_t.append(tc)
        out_r.append(float(trend(tc)) + mean_res)
        out_s.append(float(np.std(resid[a:b], ddof=1)) / math.sqrt(n))
        out_n.append(n)
    return np.array(out_t), np.array(out_r), np.array(out_s), np.array(out_n, dtype=int)


def polynomial_residuals(t_s, range_m, degree: int):
    """Residuals of a polynomial fit over a whole pass (Jinan-1 Fig. 2(b) analysis).

    Returns
    -------
    residual_m : array
        Range minus the fitted polynomial [m].
    rms_m : float
        RMS of the residuals [m].
    """
    t = np.asarray(t_s, dtype=float)
    r = np.asarray(range_m, dtype=float)
    if t.shape != r.shape or t.size <= degree + 1:
        raise LinkError(f"need more than degree+1 = {degree + 1} points of equal-length t_s and range_m")
    poly = np.polynomial.Polynomial.fit(t, r, degree)
    resid = r - poly(t)
    return resid, float(np.sqrt(np.mean(resid**2)))


def leo_zenith_range_fn(altitude_m: float = 500e3, t0_s: float = 0.0):
    """Range [m] vs time of a zenith pass (circular orbit, non-rotating Earth, seed 003 eq. (4), (6))."""
    from qsat_pat.core.link import EARTH_RADIUS_M, orbital_angular_rate_radps

    w = orbital_angular_rate_radps(altitude_m)
    r = EARTH_RADIUS_M

    def fn(t):
        a = w * (np.asarray(t, dtype=float) - t0_s)
        return np.sqrt(r**2 + (r + altitude_m) ** 2 - 2.0 * r * (r + altitude_m) * np.cos(a))

    return fn


@dataclass(frozen=True)
class RangingStudy:
    """Result of :func:`ranging_study` (lengths in m)."""

    precision_m: float            # RMS error of the normal points vs truth (or formal if only one)
    bias_m: float                 # mean error of the normal points vs truth
    predicted_precision_m: float  # c sigma_t / sqrt(N)
    formal_precision_m: float     # mean formal precision from the residual scatter
    markers_per_s: float
    n_normal_points: int
    single_shot_rms_m: float      # RMS residual of single shots after a pass polynomial fit
    mean_clock_offset_error_s: float


def ranging_study(config: RangingConfig, duration_s: float, rng: np.random.Generator,
                  clock_offset_s: float = 3.7e-3, t_start_s: float = -20.0,
                  altitude_m: float = 500e3) -> RangingStudy:
    """Simulate a pass segment, estimate normal points and compare with the true range.

    The ground sends one marker per frame period from ``t_start_s`` for ``duration_s``; the true
    range is a zenith pass (:func:`leo_zenith_range_fn`).
    """
    if not math.isfinite(duration_s) or duration_s <= 0.0:
        raise LinkError(f"duration_s must be > 0, got {duration_s!r}")
    n = int(duration_s * config.marker_rate_hz)
    if n < 10:
        raise LinkError(f"{duration_s} s at {config.marker_rate_hz:.3g} markers/s gives fewer than 10 markers")
    t_tx = t_start_s + np.arange(n) / config.marker_rate_hz
    fn = leo_zenith_range_fn(altitude_m)
    tags, t_ref = simulate_time_tags(config, t_tx, fn, clock_offset_s, rng)
    r_est, off_est = two_way_range(*tags)
    t_np, r_np, s_np, counts = normal_points(t_ref, r_est, config.normal_point_s, config.trend_degree)
    err = r_np - fn(t_np)
    formal = float(np.mean(s_np)) if s_np.size else float("nan")
    precision = float(np.sqrt(np.mean(err**2))) if err.size > 1 else formal
    _, rms = polynomial_residuals(t_ref, r_est, degree=config.trend_degree)
    return RangingStudy(precision, float(np.mean(err)) if err.size else float("nan"),
                        config.predicted_precision_m(int(np.median(counts)) if counts.size else n),
                        formal, config.marker_rate_hz, int(err.size), rms,
                        float(np.mean(off_est) - clock_offset_s))


@dataclass(frozen=True)
class RangeEstimate:
    """One two-way normal point from :func:`estimate_range` (times in the tag clock of the near end)."""

    t_eval_s: float               # time the range refers to (near-end clock) [s]
    range_m: float                # two-way time-of-flight range at t_eval_s [m]
    range_rate_mps: float         # slope of the single-shot ranges (positive receding) [m/s]
    clock_offset_s: float         # far-end clock minus near-end clock (mean) [s]
    sigma_range_m: float          # formal precision of range_m from the residual scatter [m]
    sigma_range_rate_mps: float   # formal precision of range_rate_mps [m/s]
    single_shot_rms_m: float      # RMS residual of the single shots about the fitted line [m]
    n_markers: int                # two-way measurements used
    span_s: float                 # time spanned by the measurements [s]
    t_mean_s: float               # mean near-end mid time of the measurements [s]
    sum_dt2_s2: float             # sum of squared mid-time deviations from t_mean_s [s^2]

    def predicted_sigma_range_m(self, jitter_s: float) -> float:
        """``c sigma_t sqrt(1/N + (t_eval - t_mean)^2 / S_tt)`` for tags of RMS jitter ``jitter_s`` [m].

        At ``t_eval = t_mean`` this is the ``c sigma_t / sqrt(N)`` law (seed 000 normal points).
        """
        lever2 = (self.t_eval_s - self.t_mean_s) ** 2
        extra = lever2 / self.sum_dt2_s2 if self.sum_dt2_s2 > 0.0 else (0.0 if lever2 == 0.0 else math.inf)
        return SPEED_OF_LIGHT_MPS * float(jitter_s) * math.sqrt(1.0 / self.n_markers + extra)

    def predicted_sigma_range_rate_mps(self, jitter_s: float) -> float:
        """``c sigma_t / sqrt(S_tt)``: range-rate precision for tags of RMS jitter ``jitter_s`` [m/s]."""
        if self.sum_dt2_s2 <= 0.0:
            return math.inf
        return SPEED_OF_LIGHT_MPS * float(jitter_s) / math.sqrt(self.sum_dt2_s2)


def estimate_range(t_g_tx, t_s_rx, t_s_tx, t_g_rx, t_eval_s: float | None = None) -> RangeEstimate:
    """Range, range rate and clock offset of one normal point from the four time-tag arrays.

    The estimator sees only time tags, so a hardware modem (tags from its time-to-digital
    converter) and the simulation (:func:`simulate_time_tags`) feed it alike.  Each marker gives a
    single-shot range and offset by the two-way equations (:func:`two_way_range`); the single
    shots are referred to the near-end mid time ``(t_g_tx + t_g_rx) / 2`` (the far-end bounce time
    plus half the hold time, independent of the far clock) and a straight line is fitted by least
    squares about their mean time.  The line's value at the mean time is the mean single-shot
    range, so it is unbiased with precision ``c sigma_t / sqrt(N)`` for tags of RMS jitter
    ``sigma_t`` (four tags per shot, each ``c sigma_t / 2`` in range); the slope is the range rate
    with precision ``sigma / sqrt(sum (t - t_mean)^2)``.  At ``t_eval_s`` (default: the mean time)
    the range is extrapolated along the line, and its formal precision grows accordingly:
    ``sigma^2 (1/N + (t_eval - t_mean)^2 / S_tt)``.

    Parameters
    ----------
    t_g_tx, t_s_rx, t_s_tx, t_g_rx : array, shape (n,)
        Near-end send, far-end receive, far-end send, near-end receive time tags [s], each in its
        terminal's own clock.  Give them relative to a recent epoch (float64 resolution).
    t_eval_s : float, optional
        Near-end clock time to report the range at [s].

    Returns
    -------
    RangeEstimate

    Raises
    ------
    LinkError
        Fewer than 3 markers, arrays of different shapes, non-finite tags or ``t_eval_s``.

    References
    ----------
    seed 000 (Jinan-1): two-way laser ranging over the comm link, ~5 mm per normal point.
    """
    rng_m, offset_s = two_way_range(t_g_tx, t_s_rx, t_s_tx, t_g_rx)
    rng_m = rng_m.ravel()
    n = rng_m.size
    if n < 3:
        raise LinkError(f"a normal point needs at least 3 two-way markers, got {n}; send more frames per interval")
    t_mid = 0.5 * (np.asarray(t_g_tx, dtype=float).ravel() + np.asarray(t_g_rx, dtype=float).ravel())
    t_mean = float(np.mean(t_mid))
    dt = t_mid - t_mean
    s_tt = float(np.dot(dt, dt))
    r_mean = float(np.mean(rng_m))
    if s_tt > 0.0:
        rate = float(np.dot(dt, rng_m - r_mean) / s_tt)
    else:
        rate = 0.0
    resid = rng_m - r_mean - rate * dt
    dof = n - 2 if s_tt > 0.0 else n - 1
    sigma = math.sqrt(float(np.dot(resid, resid)) / dof)
    t_eval = t_mean if t_eval_s is None else float(t_eval_s)
    if not math.isfinite(t_eval):
        raise LinkError(f"t_eval_s must be finite, got {t_eval_s!r}")
    lever = t_eval - t_mean
    sigma_rate = sigma / math.sqrt(s_tt) if s_tt > 0.0 else float("inf")
    sigma_r = sigma * math.sqrt(1.0 / n + (lever * lever / s_tt if s_tt > 0.0 else 0.0))
    return RangeEstimate(t_eval, r_mean + rate * lever, rate, float(np.mean(offset_s)), sigma_r, sigma_rate,
                         float(np.sqrt(np.mean(resid**2))), int(n), float(dt.max() - dt.min()), t_mean, s_tt)


def linear_range_fn(range_m: float, range_rate_mps: float, t_ref_s: float = 0.0):
    """Range [m] vs time [s] moving at a constant range rate from ``range_m`` at ``t_ref_s``.

    The channel geometry of the modem node between two ephemeris updates (``EphemerisState``
    ``range_m`` and ``range_rate_mps`` at its stamp).

    Raises
    ------
    LinkError
        Non-finite values, ``range_m <= 0`` or ``|range_rate_mps| >= c``.
    """
    r0, rdot, t0 = float(range_m), float(range_rate_mps), float(t_ref_s)
    if not (math.isfinite(r0) and math.isfinite(rdot) and math.isfinite(t0)):
        raise LinkError(f"geometry must be finite: range_m={range_m!r}, range_rate_mps={range_rate_mps!r}, "
                        f"t_ref_s={t_ref_s!r}")
    if r0 <= 0.0:
        raise LinkError(f"range_m must be > 0, got {r0!r}")
    if abs(rdot) >= SPEED_OF_LIGHT_MPS:
        raise LinkError(f"|range_rate_mps| must be below c, got {rdot!r}")

    def fn(t):
        return r0 + rdot * (np.asarray(t, dtype=float) - t0)

    return fn
