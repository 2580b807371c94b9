"""Offline analysis of the line-of-sight tracker on logs (not flight code).

* :func:`replay` / :class:`ReplayResult`: run a :class:`~qsat_pat.core.estimation.LosTracker`
  over a logged sequence (``qsat-pat track replay``; York's pixel logs, seed 002 §III).
* :func:`tune` / :class:`TuneResult`, :func:`prediction_cost`, :func:`spurious_mask`: the
  offline grid search of Q and R minimising the RMS prediction error (seed 002 §II.5).
* :func:`reacquisition_errors` / :class:`GapError`, :func:`find_gaps`,
  :func:`measurement_quantum`: the re-acquisition metric of issue 3 (the error of an
  estimate at the end of each blockage against the re-appearing beacon).

This package imports :mod:`qsat_pat.core`; core never imports it.

References
----------
seed 002 §II.5 (automated offline grid search of Q and R minimising the RMS error) and §III
(York's tracking logs; the first 100 centroids reserved for learning).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation import (
    EphemerisTrack,
    LosTracker,
    MotionModel,
    NoiseLearner,
    StepStatus,
    TrackerConfig,
    estimate_measurement_cov,
)

__all__ = [
    "GapError",
    "ReplayResult",
    "TuneResult",
    "find_gaps",
    "measurement_quantum",
    "prediction_cost",
    "reacquisition_errors",
    "replay",
    "spurious_mask",
    "tune",
]


@dataclass(frozen=True)
class ReplayResult:
    """Per-row output of :func:`replay` (arrays of length N)."""

    time_s: np.ndarray
    prior_xy: np.ndarray  # (N, 2)
    post_xy: np.ndarray  # (N, 2)
    nis: np.ndarray
    accepted: np.ndarray  # bool
    status: list[StepStatus]
    tracker: LosTracker



def replay(times_s: Iterable[float], measurements: np.ndarray, config: TrackerConfig,
           r_cov: np.ndarray | None = None, learner: NoiseLearner | None = None,
           tca_s: float | None = None, tau_s: float | None = None,
           ephemeris: EphemerisTrack | None = None) -> ReplayResult:
    """Run a tracker over a logged sequence (NaN rows = no detection).

    Parameters
    ----------
    times_s : array_like, shape (N,)
        Time stamps [s], non-decreasing.
    measurements : array_like, shape (N, 2)
        Measured (x, y); a row with a NaN is "no detection".
    config : TrackerConfig
    r_cov : array_like, shape (2, 2), optional
        Measurement covariance of every row (default: ``config.measurement_std_rad``),
        e.g. from :func:`estimate_measurement_cov`.
    learner : NoiseLearner, optional
        Learns the measurement covariance online; each row uses what it learnt from the
        rows before (overrides ``r_cov``).
    tca_s, tau_s : float, optional
        Time of closest approach of the pass and ``d_min / v`` [s], given to
        :meth:`LosTracker.set_time_of_closest_approach` (ephemeris-aided pass model).
    ephemeris : EphemerisTrack, optional
        The pass's predicted line of sight, given to :meth:`LosTracker.set_ephemeris_track`
        (used while coasting long blockages; needs ``tca_s`` and ``tau_s``).

    Returns
    -------
    ReplayResult

    Raises
    ------
    EstimationError
        Shapes differ, or a NaN / decreasing time stamp (with its row number).
    """
    t = np.asarray(list(times_s) if not isinstance(times_s, np.ndarray) else times_s, dtype=float)
    z = np.asarray(measurements, dtype=float)
    if z.ndim != 2 or z.shape[1] != 2 or z.shape[0] != t.shape[0]:
        raise EstimationError(f"measurements of shape {z.shape} do not match {t.shape[0]} time stamps (need (N, 2))")
    trk = LosTracker(config)
    trk.set_time_of_closest_approach(tca_s, tau_s)
    trk.set_ephemeris_track(ephemeris)
    n = t.shape[0]
    prior = np.full((n, 2), np.nan)
    post = np.full((n, 2), np.nan)
    nis = np.full(n, np.nan)
    acc = np.zeros(n, bool)
    status: list[StepStatus] = []
    for i in range(n):
        zi = None if not np.all(np.isfinite(z[i])) else z[i]
        r_i = learner.cov if learner is not None else r_cov
        try:
            res = trk.step(t[i], zi, r_i)
        except EstimationError as exc:
            raise EstimationError(f"row {i + 1}: {exc}") from None
        if learner is not None:
            learner.update(zi)
        prior[i] = res.prior_xy_rad
        post[i] = res.post_xy_rad
        nis[i] = res.nis
        acc[i] = res.accepted
        status.append(res.status)
    return ReplayResult(t, prior, post, nis, acc, status, trk)


@dataclass(frozen=True)
class TuneResult:
    """Result of :func:`tune`: best process/measurement noise and the cost grid."""

    model: str
    q: float  # best process noise of the model (imm: scale factor on q_cv, q_ca, q_cj)
    measurement_std: float
    cost: float  # RMS prediction error at the best point [measurement units]
    config: TrackerConfig
    grid: list[dict] = field(default_factory=list)


def spurious_mask(measurements: np.ndarray, threshold: float, half_window: int = 5) -> np.ndarray:
    """Rows whose measurement is further than ``threshold`` from the median of its neighbours.

    The median runs over the ``half_window`` measured rows on each side (blocked rows
    skipped).  Used to keep spurious detections (York's logs have jumps of 50-2400 px)
    out of the tuning cost; it looks at the data only, never at a filter.
    """
    z = np.asarray(measurements, float)
    idx = np.flatnonzero(np.all(np.isfinite(z), axis=1))
    out = np.zeros(z.shape[0], bool)
    zz = z[idx]
    for k in range(idx.size):
        lo, hi = max(0, k - half_window), min(idx.size, k + half_window + 1)
        med = np.median(zz[lo:hi], axis=0)
        out[idx[k]] = bool(np.hypot(*(zz[k] - med)) > threshold)
    return out


def prediction_cost(result: ReplayResult, measurements: np.ndarray, warmup: int = 100,
                    spurious_threshold: float | None = None) -> float:
    """RMS distance between the prior (one-step prediction) and the measurement.

    Only rows with a measurement after the first ``warmup`` measured rows count (seed 002
    §III reserves the first 100 centroids for the filter's learning).  Rows the gate
    rejected count too, so a filter cannot lower its cost by rejecting data; rows flagged
    by :func:`spurious_mask` (default threshold: 10 times the learnt noise std, at least
    20 units) do not.
    """
    z = np.asarray(measurements, float)
    if spurious_threshold is None:
        spurious_threshold = max(20.0, 10.0 * float(np.sqrt(np.max(np.diag(estimate_measurement_cov(z))))))
    meas = np.all(np.isfinite(z), axis=1) & ~spurious_mask(z, spurious_threshold)
    idx = np.flatnonzero(meas)[warmup:]
    d = result.prior_xy[idx] - z[idx]
    ok = np.all(np.isfinite(d), axis=1)
    if not np.any(ok):
        return math.inf
    return float(np.sqrt(np.mean(np.sum(d[ok] ** 2, axis=1))))


def tune(times_s: np.ndarray, measurements: np.ndarray, base: TrackerConfig,
         q_grid: Sequence[float], std_grid: Sequence[float], warmup: int = 100) -> TuneResult:
    """Offline grid search of Q and R minimising the RMS prediction error (seed 002 §II.5).

    Parameters
    ----------
    times_s : array_like, shape (N,)
    measurements : array_like, shape (N, 2)
        NaN rows are gaps (coasted).
    base : TrackerConfig
        Everything but the tuned values (its ``model`` is the model tuned).
    q_grid : sequence of float
        Candidate process noise of ``base.model`` (for ``imm``: a scale factor applied to
        ``q_cv``, ``q_ca`` and ``q_cj`` together).
    std_grid : sequence of float
        Candidate measurement standard deviations.
    warmup : int
        Measured rows excluded from the cost at the start.

    Returns
    -------
    TuneResult

    Raises
    ------
    EstimationError
        Empty grids or no finite cost anywhere.

    Notes
    -----
    In steady state the Kalman gain depends only on the ratio ``q / std**2``, so the
    one-step cost identifies that ratio, not both values: grid points with the same ratio
    score alike (up to the start-up transient and the gate, which does use the absolute
    R).  Learn R from the data (:func:`estimate_measurement_cov`) and tune q when R must be
    physical (gating).

    References
    ----------
    seed 002 §II.5 (automated offline grid search of Q and R minimising the RMS error).
    """
    q_grid = [float(q) for q in q_grid]
    std_grid = [float(s) for s in std_grid]
    if not q_grid or not std_grid:
        raise EstimationError("tune needs non-empty q and measurement-std grids")
    grid = []
    best = None
    z = np.asarray(measurements, float)
    threshold = max(20.0, 10.0 * float(np.sqrt(np.max(np.diag(estimate_measurement_cov(z))))))
    for q, s in itertools.product(q_grid, std_grid):
        cfg = _with_q(base, q).replace(measurement_std_rad=s)
        cost = prediction_cost(replay(times_s, z, cfg), z, warmup, threshold)
        grid.append({"q": q, "measurement_std": s, "cost": cost})
        if math.isfinite(cost) and (best is None or cost < best[0]):
            best = (cost, q, s, cfg)
    if best is None:
        raise EstimationError("no grid point gave a finite cost; check the data has measurements after warmup")
    return TuneResult(base.model, best[1], best[2], best[0], best[3], grid)


def _with_q(base: TrackerConfig, q: float) -> TrackerConfig:
    m = base.motion_model
    if m is MotionModel.IMM:
        return base.replace(q_cv=base.q_cv * q, q_ca=base.q_ca * q, q_cj=base.q_cj * q)
    return base.replace(**{f"q_{m.value}": q})


@dataclass(frozen=True)
class GapError:
    """Re-acquisition error of one blockage (rows ``first``..``last`` have no measurement)."""

    first_row: int
    last_row: int
    duration_s: float
    truth: np.ndarray  # (2,) median of the 2nd-6th measurements after the gap
    error: float  # |estimate at the last blocked row - truth|
    reference_error: float  # same for the reference (York's) estimate, NaN if not given
    truth_std: float = math.nan  # standard error of the truth per axis (scatter after the gap, quantisation)
    truth_lead: float = math.nan  # how far the spot moves from the last blocked row to the truth's median time
    error_aligned: float = math.nan  # |estimate - truth moved back to the last blocked row|
    reference_error_aligned: float = math.nan  # same for the reference


def find_gaps(measurements: np.ndarray) -> list[tuple[int, int]]:
    """Runs of rows without a measurement, as (first, last) inclusive row indices."""
    blocked = ~np.all(np.isfinite(np.asarray(measurements, float)), axis=1)
    gaps, i, n = [], 0, blocked.shape[0]
    while i < n:
        if blocked[i]:
            j = i
            while j + 1 < n and blocked[j + 1]:
                j += 1
            gaps.append((i, j))
            i = j + 1
        else:
            i += 1
    return gaps


def _truth_std(t: np.ndarray, z: np.ndarray, quantum: float = 0.0) -> float:
    """Standard error per axis of the median of 5 measurements: scatter and quantisation.

    ``sigma = 1.4826 MAD(diff) / sqrt(2)`` per axis (as :func:`estimate_measurement_cov`:
    robust to a spurious detection, and the steady motion between frames drops out with
    the median), then ``1.2533 sigma / sqrt(5)`` for the median of 5, larger axis, added in
    quadrature to ``quantum / sqrt(12)``, the standard deviation of the rounding error of a
    measurement quantised to steps of ``quantum`` (York's integer-pixel centroids:
    quantum = 1 px, 0.29 px).  A slow spot gives 5 identical integers: their scatter is 0
    but their median is still off by up to 0.5 px per axis (uniform), which averaging does
    not reduce; for a spot crossing pixel edges the rounding errors partly average, so the
    quadrature sum is then an upper bound.
    """
    q2 = (float(quantum) ** 2) / 12.0
    if t.shape[0] < 10:
        return math.sqrt(q2) if q2 > 0 else math.nan
    d = np.diff(z, axis=0)
    sigma = 1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0) / math.sqrt(2.0)
    return float(math.hypot(1.2533 * np.max(sigma) / math.sqrt(5.0), math.sqrt(q2)))


def _theil_sen_rate(t: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-axis median of the pairwise slopes (Theil-Sen): a rate robust to a spurious point."""
    i, j = np.triu_indices(t.shape[0], 1)
    dt = t[j] - t[i]
    ok = dt > 0
    if not np.any(ok):
        return np.zeros(2)
    return np.median((z[j][ok] - z[i][ok]) / dt[ok, None], axis=0)


def measurement_quantum(measurements: np.ndarray) -> float:
    """1.0 if every finite measurement is a whole number (integer-pixel centroids), else 0.0."""
    z = np.asarray(measurements, float)
    z = z[np.isfinite(z)]
    return 1.0 if z.size and np.all(z == np.round(z)) else 0.0


def reacquisition_errors(times_s: np.ndarray, measurements: np.ndarray, estimate_xy: np.ndarray,
                         reference_xy: np.ndarray | None = None, min_duration_s: float = 0.0,
                         quantum: float | None = None) -> list[GapError]:
    """Error of an estimate at the end of each blockage against the re-appearing beacon.

    Truth is the median of the 2nd-6th measurements after the gap (the 1st is skipped:
    York's first detection after a blockage is sometimes spurious).  The estimate is taken
    at the last blocked row.  A gap preceded by no measurement, or followed by fewer than
    6 measurements, is skipped; so is one shorter than ``min_duration_s`` (from the last
    measurement before to the first after).

    ``truth_std`` is the truth's own standard error per axis: the frame-to-frame scatter of
    the 2nd-16th measurements after the gap (robust, 1.4826 MAD / sqrt(2), larger axis)
    times 1.2533 / sqrt(5), the standard error of a median of 5 (NaN with fewer than 10 of
    them), in quadrature with the rounding error ``quantum / sqrt(12)`` of quantised
    measurements (:func:`_truth_std`).  On York's noise logs it is ~10 px; on the others,
    whose centroids are integers, at least 0.29 px per axis: errors below about twice it
    (theirs or ours) cannot be told apart.

    ``truth_lead`` is how far the spot moves between the last blocked row (where the
    estimates are taken) and the median time of the 2nd-6th measurements (where the truth
    is; ~4 frames, ~0.18 s, later): the post-gap rate (Theil-Sen over the 2nd-16th) times
    that delay.  It is part of every error of this metric (0.5-7 px on York's passes, from
    3 to 40 px/s), so an estimate that runs ahead of the spot is favoured.
    ``error_aligned`` and ``reference_error_aligned`` are the errors against the truth
    moved back by it, to the estimates' instant (a diagnostic beside issue 3's metric).

    Parameters
    ----------
    times_s : array_like, shape (N,)
    measurements : array_like, shape (N, 2)
        NaN rows are blocked.
    estimate_xy : array_like, shape (N, 2)
        Estimate per row (e.g. the filter's posterior, a prediction on blocked rows).
    reference_xy : array_like, shape (N, 2), optional
        A second estimate to compare (York's ``estimated_X, estimated_Y``).
    min_duration_s : float
        Shortest gap counted [s].
    quantum : float, optional
        Quantisation step of the measurements (1 for integer-pixel centroids, 0 for
        continuous ones); default: :func:`measurement_quantum` of ``measurements``.

    Returns
    -------
    list of GapError
    """
    t = np.asarray(times_s, float)
    z = np.asarray(measurements, float)
    est = np.asarray(estimate_xy, float)
    ref = None if reference_xy is None else np.asarray(reference_xy, float)
    measured = np.flatnonzero(np.all(np.isfinite(z), axis=1))
    if quantum is None:
        quantum = measurement_quantum(z)
    out = []
    for a, b in find_gaps(z):
        if a == 0:
            continue
        after = measured[measured > b]
        if after.size < 6:
            continue
        duration = float(t[after[0]] - t[a - 1])
        if duration < min_duration_s:
            continue
        truth = np.median(z[after[1:6]], axis=0)
        err = float(np.hypot(*(est[b] - truth)))
        rerr = math.nan if ref is None else float(np.hypot(*(ref[b] - truth)))
        lead = _theil_sen_rate(t[after[1:16]], z[after[1:16]]) * (float(np.median(t[after[1:6]])) - float(t[b]))
        aligned = truth - lead
        out.append(GapError(a, b, duration, truth, err, rerr, _truth_std(t[after[1:16]], z[after[1:16]], quantum),
                            float(np.hypot(*lead)), float(np.hypot(*(est[b] - aligned))),
                            math.nan if ref is None else float(np.hypot(*(ref[b] - aligned)))))
    return out
