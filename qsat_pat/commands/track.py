"""``qsat-pat track replay|tune``: run the line-of-sight Kalman tracker over York-format logs.

The York log format (seed 002's public logs, ../shared/data/york_tracking/passes/) has the
columns ``measured_X, measured_Y`` (centroid px, empty while the beacon is blocked),
``estimated_X, estimated_Y`` (their filter), ``delta_x, delta_y`` and ``Time`` (s).  Only
``measured_X, measured_Y, Time`` are required.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsat_pat.analysis.tracking import replay, tune
from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation import (
    YORK_PX_CONFIG,
    EphemerisTrack,
    NoiseLearner,
    TrackerConfig,
)

#: Default grids of ``track tune`` (px units): process noise per model and measurement std.
DEFAULT_Q_GRID = {
    "cv": (0.01, 0.1, 1.0, 10.0),
    "ca": (1e-4, 1e-3, 1e-2, 1e-1),
    "cj": (1e-7, 1e-6, 1e-5, 1e-4),
    "imm": (0.1, 1.0, 10.0),
}
DEFAULT_STD_GRID = (0.5, 1.0, 2.0, 5.0)

#: Pass geometry of York's emulated S-curve passes, as fractions of the pass duration T in the
#: file name (``_T<sec>s``): the zenith (time of closest approach) at T/2 (how their emulator
#: defines the horizon -> zenith -> horizon pass), and ``tau = d_min / v`` = 0.133 T.  Both were
#: calibrated on the eight ``cj_clean_*`` passes (no blockage, so not part of the re-acquisition
#: metric) by fitting :func:`qsat_pat.core.estimation.fit_pass_trajectory` with TCA and tau
#: free: median TCA/T = 0.497 (range 0.49-0.54), tau/T = 0.133 (0.124-0.170);
#: test_estimation_york re-derives them.  They stand in for the ephemeris a real station has.
YORK_TCA_FRACTION = 0.5
YORK_TAU_FRACTION = 0.133
#: Gaps from the last measurement before to the first after of at least this long are
#: blockages (York's "breaks"); shorter ones are missed detections (1-4 frames, < 0.34 s, in the
#: low-power noise logs).  No gap in York's passes lies between 0.34 s and 2.27 s.
BLOCKAGE_MIN_S = 1.0


def york_pass_geometry(path: str | Path) -> tuple[float, float] | None:
    """(TCA, tau) [s] of a York pass log from the duration ``_T<sec>s`` in its name, else None.

    See :data:`YORK_TCA_FRACTION` and :data:`YORK_TAU_FRACTION`.
    """
    m = re.search(r"_T(\d+(?:\.\d+)?)s(?:\.csv)?$", Path(path).name)
    if m is None:
        return None
    duration_s = float(m.group(1))
    return YORK_TCA_FRACTION * duration_s, YORK_TAU_FRACTION * duration_s


#: Stand-in ephemeris track of York's S-curve passes (:func:`york_ephemeris_track`): the
#: along-track (time) bias is searched within +-0.03 T (the clean passes' fitted TCA spreads
#: over 0.49-0.54 T), and fitted to at least the last 20 s of measurements (~400 frames).
YORK_EPHEMERIS_TIME_BIAS_FRACTION = 0.03
YORK_EPHEMERIS_FIT_WINDOW_S = 20.0
#: Samples of the normalised pass 0 <= t / T <= 1 in the stand-in ephemeris track.
_YORK_TRACK_SAMPLES = 2001


@functools.lru_cache(maxsize=4)
def _york_clean_profiles(folder: str) -> tuple[tuple[str, np.ndarray], ...]:
    """(name, line of sight at t / T on the normalised grid) of every ``cj_clean_*`` pass in ``folder``."""
    from scipy.ndimage import median_filter

    grid = np.linspace(0.0, 1.0, _YORK_TRACK_SAMPLES)
    out = []
    for f in sorted(Path(folder).glob("cj_clean_*.csv")):
        geo = york_pass_geometry(f)
        if geo is None:
            continue
        log = read_york_log(f)
        ok = np.all(np.isfinite(log.measured_px), axis=1)
        if np.sum(ok) < 10:
            continue
        u = log.time_s[ok] / (geo[0] / YORK_TCA_FRACTION)
        z = log.measured_px[ok]
        # a 9-sample running median drops single spurious centroids and the FSM's brief stalls
        prof = np.stack([median_filter(np.interp(grid, u, z[:, k]), size=9, mode="nearest") for k in range(2)], 1)
        out.append((f.name, prof))
    return tuple(out)


def york_ephemeris_track(path: str | Path, passes_dir: str | Path | None = None) -> EphemerisTrack | None:
    """Stand-in ephemeris track of a York S-curve pass log (None if there is none).

    York's passes replay one commanded trajectory (the same start, end and shape) over a
    duration T given in the file name (``_T<sec>s``).  As a station's orbit prediction
    gives the whole line of sight of a pass, the stand-in here is that nominal trajectory
    measured on the ``cj_clean_*`` passes beside the log (no blockages, so not part of the
    re-acquisition metric; the log itself is left out if it is one of them): each is
    resampled at t / T, smoothed by a 9-sample running median, and the per-sample median
    over them is scaled to the log's T.  The tracker fits its time and pointing bias
    (:func:`qsat_pat.core.estimation.fit_ephemeris_bias`; :data:`YORK_EPHEMERIS_TIME_BIAS_FRACTION`,
    :data:`YORK_EPHEMERIS_FIT_WINDOW_S`).  None for logs without ``_T<sec>s`` (the cv logs)
    or without clean passes beside them.
    """
    path = Path(path)
    geo = york_pass_geometry(path)
    if geo is None or not path.name.startswith("cj_"):
        return None
    folder = Path(passes_dir) if passes_dir is not None else path.parent
    profiles = [p for name, p in _york_clean_profiles(str(folder.resolve())) if name != path.name]
    if not profiles:
        return None
    duration_s = geo[0] / YORK_TCA_FRACTION
    grid = np.linspace(0.0, 1.0, _YORK_TRACK_SAMPLES)
    return EphemerisTrack(grid * duration_s, np.median(np.stack(profiles), axis=0),
                          YORK_EPHEMERIS_TIME_BIAS_FRACTION * duration_s, YORK_EPHEMERIS_FIT_WINDOW_S)


@dataclass(frozen=True)
class YorkLog:
    """A York-format log: times [s], measurements (N, 2) [px, NaN = blocked], their estimate."""

    time_s: np.ndarray
    measured_px: np.ndarray
    york_estimate_px: np.ndarray | None


def _num(text: str, row: int, col: str, path: Path) -> float:
    text = text.strip()
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise EstimationError(f"{path}: row {row}: column {col} = {text!r} is not a number") from None


def read_york_log(path: str | Path) -> YorkLog:
    """Read a York-format CSV log.

    Raises
    ------
    EstimationError
        Missing file or columns, non-numeric cells, a row with only one of the two
        measured coordinates, or no rows.
    """
    path = Path(path)
    try:
        fh = path.open(newline="")
    except OSError as exc:
        raise EstimationError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        need = {"measured_X", "measured_Y", "Time"}
        have = set(reader.fieldnames or [])
        if not need <= have:
            raise EstimationError(f"{path}: missing column(s) {sorted(need - have)}; York logs have "
                                  "measured_X, measured_Y, estimated_X, estimated_Y, delta_x, delta_y, Time")
        has_est = {"estimated_X", "estimated_Y"} <= have
        t, z, e = [], [], []
        for i, row in enumerate(reader, start=2):
            mx = _num(row["measured_X"] or "", i, "measured_X", path)
            my = _num(row["measured_Y"] or "", i, "measured_Y", path)
            if math.isnan(mx) != math.isnan(my):
                raise EstimationError(f"{path}: row {i}: only one of measured_X, measured_Y is given")
            t.append(_num(row["Time"] or "", i, "Time", path))
            z.append((mx, my))
            if has_est:
                e.append((_num(row["estimated_X"] or "", i, "estimated_X", path),
                          _num(row["estimated_Y"] or "", i, "estimated_Y", path)))
    if not t:
        raise EstimationError(f"{path}: no data rows")
    return YorkLog(np.array(t), np.array(z, float), np.array(e, float) if has_est else None)


def px_config(model: str, **overrides) -> TrackerConfig:
    """Tracker configuration in pixel units for York-format logs (:data:`YORK_PX_CONFIG`)."""
    values = dict(YORK_PX_CONFIG)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrackerConfig(model=model, **values)


def _config_from_args(args) -> tuple[TrackerConfig, np.ndarray | None, YorkLog]:
    log = read_york_log(args.input)
    over = {}
    if args.q is not None:
        if args.model == "imm":
            over = {"q_cv": YORK_PX_CONFIG["q_cv"] * args.q, "q_ca": YORK_PX_CONFIG["q_ca"] * args.q,
                    "q_cj": YORK_PX_CONFIG["q_cj"] * args.q}
        else:
            over = {f"q_{args.model}": args.q}
    if getattr(args, "pass_window_s", None) is not None:
        over["pass_window_s"] = args.pass_window_s
    learner = None
    if getattr(args, "measurement_std", None) is not None:
        over["measurement_std_rad"] = args.measurement_std
    elif not getattr(args, "no_learn_r", False):
        learner = NoiseLearner(floor_std=YORK_PX_CONFIG["measurement_std_rad"])
    return px_config(args.model, **over), learner, log


def _geometry_from_args(args) -> tuple[float | None, float | None]:
    if args.no_ephemeris:
        return None, None
    if args.tca_s is not None or args.tau_s is not None:
        if args.tca_s is None or args.tau_s is None:
            raise EstimationError("--tca-s and --tau-s go together (the pass geometry from the ephemeris)")
        return args.tca_s, args.tau_s
    geo = york_pass_geometry(args.input)
    return (None, None) if geo is None else geo


def _cmd_replay(args) -> int:
    cfg, learner, log = _config_from_args(args)
    tca_s, tau_s = _geometry_from_args(args)
    track = None
    if not args.no_ephemeris and args.tca_s is None:  # geometry from the York file name: its track too
        track = york_ephemeris_track(args.input)
    res = replay(log.time_s, log.measured_px, cfg, learner=learner, tca_s=tca_s, tau_s=tau_s, ephemeris=track)
    out = Path(args.out)
    try:
        fh = out.open("w", newline="")
    except OSError as exc:
        raise EstimationError(f"cannot write {out}: {exc.strerror}") from None
    with fh:
        w = csv.writer(fh)
        w.writerow(["Time", "prior_X", "prior_Y", "post_X", "post_Y", "nis", "accepted"])
        for i in range(res.time_s.shape[0]):
            w.writerow([repr(float(res.time_s[i]))] + [f"{v:.6f}" if math.isfinite(v) else ""
                                                       for v in (*res.prior_xy[i], *res.post_xy[i], res.nis[i])]
                       + [int(res.accepted[i])])
    trk = res.tracker
    summary = {"rows": int(res.time_s.shape[0]), "accepted": int(res.accepted.sum()),
               "rejected": trk.n_rejected, "tentative_dropped": trk.n_tentative_dropped,
               "model": cfg.model, "tca_s": tca_s, "tau_s": tau_s, "ephemeris_track": track is not None,
               "out": str(out)}
    print(json.dumps(summary))
    return 0


def _grid(text: str | None, default) -> list[float]:
    if text is None:
        return list(default)
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EstimationError(f"grid {text!r} must be comma-separated numbers") from None
    if not vals or not all(math.isfinite(v) and v >= 0 for v in vals):
        raise EstimationError(f"grid {text!r} must hold finite numbers >= 0")
    return vals


def _cmd_tune(args) -> int:
    log = read_york_log(args.input)
    base = px_config(args.model)
    res = tune(log.time_s, log.measured_px, base, _grid(args.q_grid, DEFAULT_Q_GRID[args.model]),
               _grid(args.std_grid, DEFAULT_STD_GRID), warmup=args.warmup)
    if args.json:
        print(json.dumps({"model": res.model, "q": res.q, "measurement_std": res.measurement_std,
                          "cost": res.cost, "grid": res.grid}))
    else:
        qname = "q scale" if args.model == "imm" else f"q_{args.model}"
        print(f"model {res.model}: best {qname} = {res.q:g}, measurement std = {res.measurement_std:g} px, "
              f"RMS one-step prediction error = {res.cost:.4f} px")
    return 0


def register(subparsers) -> None:
    """Add ``track replay`` and ``track tune``."""
    p = subparsers.add_parser("track", help="line-of-sight Kalman tracker on York-format logs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="track_command", metavar="ACTION")
    sub.required = True

    r = sub.add_parser("replay", help="replay a log through the tracker, one output row per input row")
    r.add_argument("input", help="York-format CSV (measured_X, measured_Y empty while blocked; Time in s)")
    r.add_argument("--model", choices=("cv", "ca", "cj", "imm"), default="imm")
    r.add_argument("--out", required=True, help="output CSV: Time, prior_X, prior_Y, post_X, post_Y, nis, accepted")
    r.add_argument("--q", type=float, default=None,
                   help="process noise of the model (px units; imm: scale of the default q's)")
    r.add_argument("--measurement-std", type=float, default=None,
                   help="measurement std [px] (default: learnt online from frame-to-frame differences)")
    r.add_argument("--no-learn-r", action="store_true", help="use the default 1 px measurement std")
    r.add_argument("--tca-s", type=float, default=None,
                   help="time of closest approach of the pass [s] (ephemeris-aided pass model; with --tau-s)")
    r.add_argument("--tau-s", type=float, default=None, help="pass time scale d_min / v [s] (with --tca-s)")
    r.add_argument("--pass-window-s", type=float, default=None,
                   help="while coasting, fit the pass model to the last max(this, time coasted) seconds "
                        f"(default {YORK_PX_CONFIG['pass_window_s']:g}; 0 = one fit to all, anchored at the last)")
    r.add_argument("--no-ephemeris", action="store_true",
                   help="no pass geometry (default: from --tca-s/--tau-s, else from York's _T<sec>s file name)")
    r.set_defaults(func=_cmd_replay)

    t = sub.add_parser("tune", help="grid search of Q and R minimising the RMS prediction error (seed 002 §II.5)")
    t.add_argument("input", help="York-format CSV")
    t.add_argument("--model", choices=("cv", "ca", "cj", "imm"), default="cv")
    t.add_argument("--q-grid", default=None, help="comma-separated process noise values (imm: scale factors)")
    t.add_argument("--std-grid", default=None, help="comma-separated measurement std values [px]")
    t.add_argument("--warmup", type=int, default=100, help="measurements excluded from the cost at the start")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=_cmd_tune)

