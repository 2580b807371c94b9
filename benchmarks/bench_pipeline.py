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

Stage costs (``stages``): the same frames through both nodes' callbacks in this process,
no DDS, no executor, CPU time (``time.process_time``) per frame of each stage: the image
callback (CDR bytes -> frame -> centroid -> message), inside it the imaging core
(``BeaconImager.process``); what rclpy would spend building a ``sensor_msgs/Image`` (the
node reads the CDR bytes instead); the centroid message's deserialization (paid by the
tracker's executor); the tracker callback, inside it the core (``LosTracker.step`` and
``predict_to``).  These do not depend on the scheduling of a shared machine the way the
process figures do (the other jobs still cost cache and memory bandwidth: best of
``--stage-repeats``).  Frames carry old stamps, so the tracker predicts from the frame
time (``stale_stamps``) and the run is deterministic.

Usage::

    .venv/bin/python benchmarks/bench_pipeline.py [--out FILE.json] [--frames 3000]
        [--rate 1000] [--queue-depth 500] [--executors events,single] [--stage-frames 2000]

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
import array
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

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


class _Timed:
    """Wraps a callable and adds its CPU time to ``cpu_s`` [s]."""

    def __init__(self, fn) -> None:
        self.fn, self.cpu_s = fn, 0.0

    def __call__(self, *args, **kwargs):
        c0 = time.process_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.cpu_s += time.process_time() - c0


def stage_costs(n_frames: int, repeats: int) -> dict:
    """CPU time per frame of each stage of both nodes, in this process (see the module docstring)."""
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    from qsat_pat.msg import BeaconCentroid
    from qsat_pat.nodes.beacon_imaging import BeaconImagingNode
    from qsat_pat.nodes.track_predictor import TrackPredictorNode

    frames = harness.synthetic_frames(n_frames)
    rows, cols = harness.FRAME_SHAPE
    msg = Image(height=rows, width=cols, encoding="mono8", is_bigendian=0, step=cols,
                data=array.array("B", bytes(rows * cols)))
    msg.header.frame_id = "camera"
    pixels = np.frombuffer(msg.data, dtype=np.uint8).reshape(harness.FRAME_SHAPE)
    images = []
    for k in range(n_frames):  # stamps from t = 1000 s: old, so the run does not depend on the clock
        frames.write(k, pixels)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(1_000_000_000_000 + k * 1_000_000, 1_000_000_000)
        images.append(serialize_message(msg))
    with tempfile.TemporaryDirectory() as tmp:
        doc = yaml.safe_load(harness.write_parameters(Path(tmp) / "p.yaml", queue_depth=100).read_text())
    overrides = [Parameter(k, value=_yaml_number(v)) for k, v in doc["/**"]["ros__parameters"].items()]
    context = rclpy.context.Context()
    rclpy.init(context=context, args=[])
    best: dict[str, float] = {}
    try:
        for _ in range(repeats):
            imaging = BeaconImagingNode(context=context, parameter_overrides=overrides)
            tracker = TrackPredictorNode(
                context=context, parameter_overrides=[p for p in overrides if p.name in tracker_names()])
            try:
                assert imaging.autostart() and tracker.autostart()
                core = imaging.imager.process = _Timed(imaging.imager.process)
                step = tracker.tracker.step = _Timed(tracker.tracker.step)
                predict = tracker.tracker.predict_to = _Timed(tracker.tracker.predict_to)
                centroids: list[bytes] = []
                publish = imaging.pub.publish
                capture = _Timed(lambda m, out=centroids: out.append(serialize_message(m)))  # not the node's cost

                def publish_and_capture(m, publish=publish, capture=capture):
                    publish(m)
                    capture(m)

                imaging.pub.publish = publish_and_capture
                c0 = time.process_time()
                for buf in images:
                    imaging.on_image_cdr(buf)
                image_cb = time.process_time() - c0 - capture.cpu_s
                c0 = time.process_time()
                for buf in images:
                    deserialize_message(buf, Image)
                image_deser = time.process_time() - c0
                c0 = time.process_time()
                msgs = [deserialize_message(b, BeaconCentroid) for b in centroids]
                centroid_deser = time.process_time() - c0
                c0 = time.process_time()
                for m in msgs:
                    tracker.on_centroid(m)
                track_cb = time.process_time() - c0
                figures = {"imaging_node_callback": image_cb, "imaging_core": core.cpu_s,
                           "image_deserialize_by_rclpy_avoided": image_deser,
                           "centroid_deserialize_by_rclpy": centroid_deser,
                           "tracker_node_callback": track_cb, "tracker_core": step.cpu_s + predict.cpu_s}
                for k, v in figures.items():
                    best[k] = min(best.get(k, math.inf), v / n_frames * 1e6)
                valid = sum(deserialize_message(b, BeaconCentroid).valid for b in centroids)
            finally:
                imaging.destroy_node()
                tracker.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return {"frames": n_frames, "repeats": repeats, "valid_centroids": int(valid),
            "cpu_us_per_frame": {k: round(v, 1) for k, v in best.items()},
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def _yaml_number(value):
    """PyYAML (YAML 1.1) reads ``1e-05`` as a string; ROS parameter files read it as a float."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def tracker_names() -> set[str]:
    """Parameter names of the track_predictor node (the shared override file sets both nodes')."""
    import dataclasses

    from qsat_pat.nodes.track_predictor import TrackPredictorConfig

    return {f.name for f in dataclasses.fields(TrackPredictorConfig)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline.json")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=harness.RATE_HZ, help="publication rate [Hz]")
    parser.add_argument("--queue-depth", type=int, default=500, help="keep-last depth of every hop [frames]")
    parser.add_argument("--executors", default="events,single", help="comma-separated: events, single, multi")
    parser.add_argument("--stage-frames", type=int, default=2000, help="frames of the in-process stage costs (0: skip)")
    parser.add_argument("--stage-repeats", type=int, default=3, help="repeats of the stage costs (best is kept)")
    args = parser.parse_args(argv)
    stages = stage_costs(args.stage_frames, args.stage_repeats) if args.stage_frames > 0 else None
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
        "stages": stages,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
