"""Filter update cost per model: microseconds per LosTracker.step (predict + gate + update).

Usage::

    .venv/bin/python benchmarks/bench_estimation.py [--out FILE.json] [--steps N]

One core (BLAS threads pinned to 1).  A synthetic S-curve line of sight sampled at ~20 Hz
with jittered intervals, 1 px noise and 10 % missed detections is fed to each model; the
figure is the median over repeats of (wall time / steps).  ``predict_to`` (the look-ahead to
the actuation time) is timed too.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qsat_pat.commands.track import px_config  # noqa: E402
from qsat_pat.core.estimation import LosTracker, fit_pass_trajectory  # noqa: E402


def scenario(steps: int, seed: int = 1) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.037, 0.06, steps))
    x = 2300 + 700 / (1 + np.exp(-(t - t[-1] / 2) / 10))
    y = 1350 - 550 / (1 + np.exp(-(t - t[-1] / 2) / 10))
    z = np.c_[x, y] + rng.normal(0, 1.0, (steps, 2))
    meas = [None if rng.random() < 0.1 else z[i] for i in range(steps)]
    return t, meas


def bench(model: str, steps: int, repeats: int) -> dict:
    t, meas = scenario(steps)
    cfg = px_config(model)
    per_step = []
    for _ in range(repeats):
        trk = LosTracker(cfg)
        t0 = time.perf_counter()
        for ti, zi in zip(t, meas):
            trk.step(ti, zi)
        per_step.append((time.perf_counter() - t0) / steps * 1e6)
    trk = LosTracker(cfg)
    for ti, zi in zip(t[:200], meas[:200]):
        trk.step(ti, zi)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        trk.predict_to(t[199] + 0.02)
    pred = (time.perf_counter() - t0) / n * 1e6
    return {"step_us_median": round(float(np.median(per_step)), 2),
            "step_us_min": round(float(np.min(per_step)), 2),
            "predict_to_us": round(pred, 2), "steps": steps, "repeats": repeats}


def bench_pass_fit(points: int, repeats: int = 5) -> dict:
    """Cost of one pass-model fit (done once per coasting episode) [ms]."""
    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 120.0, points)
    z = np.c_[2660 + 300 * np.arctan((t - 60) / 16), 1075 - 250 * np.arctan((t - 60) / 16)]
    z = z + rng.normal(0, 1.0, z.shape)
    out = {}
    for name, kw in (("known_geometry", {"tca_s": 60.0, "tau_s": 16.0}),
                     ("map_refined", {"tca_s": 61.0, "tau_s": 17.0, "tca_std_s": 3.0, "tau_rel_std": 0.15}),
                     ("free_timing", {})):
        ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit_pass_trajectory(t, z, robust_scale=3.0, **kw)
            ms.append((time.perf_counter() - t0) * 1e3)
        out[name + "_ms"] = round(float(np.median(ms)), 3)
    out["points"] = points
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "estimation.json"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    res = {"models": {m: bench(m, args.steps, args.repeats) for m in ("cv", "ca", "cj", "imm")},
           "pass_fit": [bench_pass_fit(n) for n in (500, 2000, 8000)]}
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    res["machine"] = {"platform": platform.platform(), "python": platform.python_version(),
                      "numpy": np.__version__, "cpu_count": os.cpu_count(), "loadavg": load}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
