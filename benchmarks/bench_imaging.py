"""Beacon imaging throughput: frames/s of both methods, one core (issue 3 benchmark).

Usage::

    .venv/bin/python benchmarks/bench_imaging.py [--out benchmarks/results/imaging.json] [--seconds 2.0] [--repeats 5]

Frames: 256x256 and 2448x2050, mono8 and mono16, a Gaussian spot (sigma 1.5 px) with shot,
read and background noise at random sub-pixel positions.  Methods: ``default`` on the whole
frame (coarse-to-fine for the full frame), ``default`` with a 128 px ROI around a predicted
position, and ``york`` (seed 002 §II.1).  Floors (issue 3): >= 2000 frames/s for 256x256
default, >= 30 frames/s full frame.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qsat_pat.core.camera_noise import CameraModel, render_frame  # noqa: E402
from qsat_pat.core.imaging import BeaconImager, ImagingConfig  # noqa: E402

SIZES = {"256x256": (256, 256), "2448x2050": (2050, 2448)}
FLOORS_FPS = {("default", "256x256"): 2000.0, ("default", "2448x2050"): 30.0}


def _frames(shape, bits, n, rng):
    cam = CameraModel(gain_e_per_dn=1.0, read_noise_e=3.0, bias_dn=10.0, bit_depth=bits)
    out = []
    for _ in range(n):
        x = rng.uniform(20, shape[1] - 20)
        y = rng.uniform(20, shape[0] - 20)
        out.append((render_frame(shape, cam, rng, x_px=x, y_px=y, sigma_px=1.5, signal_e=2000.0,
                                 background_e=5.0), (x + rng.normal(0, 3), y + rng.normal(0, 3))))
    return out


def _rate(imager, frames, seconds, use_prediction, repeats):
    """Best-of-``repeats`` frames/s by wall clock and by this thread's CPU time.

    The CPU-time figure excludes time the process was descheduled (the machine is shared);
    the best repeat is the least disturbed one (as ``timeit`` recommends).
    """
    for frame, pred in frames[:2]:  # warm-up
        imager.process(frame, pred if use_prediction else None)
    best_wall = best_cpu = 0.0
    valid = count = 0
    for _ in range(repeats):
        n = 0
        w0, c0 = time.perf_counter(), time.thread_time()
        while True:
            for frame, pred in frames:
                res = imager.process(frame, pred if use_prediction else None)
                valid += res.valid
                n += 1
            wall = time.perf_counter() - w0
            if wall >= seconds / repeats:
                break
        cpu = time.thread_time() - c0
        count += n
        best_wall = max(best_wall, n / wall)
        best_cpu = max(best_cpu, n / cpu) if cpu > 0 else best_cpu
    return best_wall, best_cpu, valid / count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "imaging.json"))
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time per measurement [s]")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement (best is kept)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    results = []
    for size_name, shape in SIZES.items():
        for bits, enc in ((8, "mono8"), (16, "mono16")):
            frames = _frames(shape, bits, 8 if shape[0] < 1000 else 3, rng)
            for label, method, roi in (("default", "default", 0), ("default_roi128", "default", 128),
                                       ("york", "york", 0)):
                imager = BeaconImager(ImagingConfig(method=method, read_noise_e=3.0, roi_size_px=roi))
                fps, fps_cpu, valid = _rate(imager, frames, args.seconds, roi > 0, args.repeats)
                floor = FLOORS_FPS.get((label, size_name))
                row = {"method": label, "size": size_name, "encoding": enc,
                       "frames_per_s": round(fps, 1), "frames_per_cpu_s": round(fps_cpu, 1),
                       "us_per_frame_cpu": round(1e6 / fps_cpu, 1) if fps_cpu else None,
                       "valid_fraction": round(valid, 3), "floor_frames_per_s": floor,
                       "meets_floor_wall": None if floor is None else fps >= floor,
                       "meets_floor_cpu": None if floor is None else fps_cpu >= floor}
                results.append(row)
                print(f"{label:15s} {size_name:10s} {enc:6s} {fps:9.1f} frames/s wall {fps_cpu:9.1f} frames/s cpu"
                      f"  valid {valid:.2f}"
                      + ("" if floor is None else f"  floor {floor:.0f}: {'ok' if fps_cpu >= floor else 'BELOW'}"))
    # machine-state reference: one small numpy op (625 float64 additions); ~0.5 us on an idle core
    ref = np.random.default_rng(1).random((25, 25))
    t0 = time.thread_time()
    for _ in range(20000):
        ref + ref
    ref_us = (time.thread_time() - t0) / 20000 * 1e6
    print(f"reference small numpy op: {ref_us:.2f} us (cpu)")
    doc = {
        "benchmark": "imaging",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "opencv": cv2.__version__, "cpu_count": os.cpu_count(),
                    "threads": 1, "load_avg_1min": os.getloadavg()[0],
                    "reference_small_numpy_op_us": round(ref_us, 3),
                    "note": "best of repeats; frames_per_cpu_s uses this thread's CPU time (shared machine)"},
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
