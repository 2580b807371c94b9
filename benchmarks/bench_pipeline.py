"""Benchmark: the 1 kHz image -> centroid -> track-estimate pipeline across processes.

Runs the harness of ``test/test_pipeline_1khz.py`` (synthetic 256x256 mono8 beacon frames
published at ``--rate`` by this process; ``beacon_imaging`` and ``track_predictor`` in their
own processes, started as ``qsat-pat up`` starts nodes) once per executor, with a
*realistic* queue: every hop reliable, keep last ``--queue-depth`` frames (default 500 =
0.5 s at 1 kHz).  Unlike the test (whose queues hold the whole run, so only the pipeline
itself can lose a frame), a frame is lost here when a node falls more than
``--queue-depth`` frames behind: ``dropped_*`` = 0 means the pipeline kept up in real time.

Figures per executor: publish rate, achieved pipeline rate (track estimates per second
from the first publish to the last estimate), end-to-end latency image publish -> estimate
received (p50/p95/p99/max), frames that produced no centroid / no estimate, CPU time of
each node process per published frame, and the machine's load average (the machine is
shared: read the figures against it).

Usage::

    .venv/bin/python benchmarks/bench_pipeline.py [--out FILE.json] [--frames 3000]
        [--rate 1000] [--queue-depth 500] [--executors events,single]

Run it under ``timeout -k``; each executor takes ~20-40 s.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

import test_pipeline_1khz as harness  # noqa: E402


def _matched(result) -> dict:
    """Frames with exactly one / no centroid and estimate (matched by header.stamp)."""
    index = {s: k for k, s in enumerate(result.stamps_ns)}
    n = len(index)
    cen = np.zeros(n, int)
    est = np.zeros(n, int)
    for _, m in result.centroids:
        k = index.get(harness._stamp_ns(m.header.stamp))
        if k is not None:
            cen[k] += 1
    for _, m in result.estimates:
        k = index.get(harness._us_key(m.header.stamp) * 1000)
        if k is not None:
            est[k] += 1
    return {"dropped_centroids": int(np.sum(cen == 0)), "dropped_estimates": int(np.sum(est == 0)),
            "duplicate_centroids": int(np.sum(cen > 1)), "duplicate_estimates": int(np.sum(est > 1))}


def run_one(executor: str, frames: int, rate_hz: float, queue_depth: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        try:
            result, _, codes = harness.run_and_check_processes(
                Path(tmp), f"/bench_pipeline_{os.getpid()}_{executor}", n_frames=frames, executor=executor,
                rate_hz=rate_hz, queue_depth=queue_depth)
        except AssertionError as exc:  # the pipeline did not start (e.g. an overloaded machine)
            return {"executor": executor, "queue_depth": queue_depth, "error": str(exc),
                    "logs": harness._logs(Path(tmp))[-2000:], "load_avg_1min_before": round(load0, 2)}
        out = {"executor": executor, "queue_depth": queue_depth, **result.summary(), **_matched(result),
               "node_exit_codes": codes, "wall_s": round(time.monotonic() - t0, 1),
               "load_avg_1min_before": round(load0, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2)}
        out["kept_up"] = out["dropped_centroids"] == 0 and out["dropped_estimates"] == 0
        out["achieved_frames_per_s"] = out.pop("pipeline_rate_hz", float("nan"))
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline.json")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=harness.RATE_HZ, help="publication rate [Hz]")
    parser.add_argument("--queue-depth", type=int, default=500, help="keep-last depth of every hop [frames]")
    parser.add_argument("--executors", default="events,single", help="comma-separated: events, single, multi")
    args = parser.parse_args(argv)
    runs = [run_one(kind.strip(), args.frames, args.rate, args.queue_depth)
            for kind in args.executors.split(",") if kind.strip()]
    report = {
        "benchmark": "pipeline",
        "description": "synthetic 256x256 mono8 frames -> beacon_imaging -> track_predictor (cv), "
                       "three processes, reliable keep-last queues",
        "frames": args.frames, "rate_hz": args.rate,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count(),
                    "note": "shared machine: compare the figures with load_avg_1min of each run"},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
