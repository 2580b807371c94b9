"""Cross-process latency: a ``BeaconCentroid`` arriving at ``fsm_controller`` -> its ``PointingCommand``.

Run: ``timeout -k 5 120 .venv/bin/python benchmarks/bench_control_latency.py --out benchmarks/results/control_latency.json``.

``fsm_controller`` runs in its own process, started exactly as ``qsat-pat up`` starts it
(:func:`qsat_pat.launcher.node_command`: the installed entry script with ``--ros-args``
and ``config/fsm_controller.yaml``).  This process publishes fine-camera centroids at a
fixed rate (default 1 kHz, 500 Hz, 100 Hz) for a bounded time and subscribes to the
commands.  Matching: the node runs with ``latency_compensation:=none``, ``kp:=1``,
``ki_per_s:=0`` (and no ephemeris, so no point-ahead), which makes its command exactly
``-rad_per_px @ (centroid - setpoint)``; each centroid's offset from the set-point
encodes its sequence number (x: ``i % 100 - 50`` px, y: ``(i // 100) % 100 - 50`` px),
so every command names its centroid even when the node drops some (an overloaded
reliable KEEP_LAST queue).  The per-centroid work of the default ``smith`` loop is a few
tens of microseconds more (``fine_loop_step_us`` in ``bench_control.py``), small next to
these figures.  Three latencies per matched centroid, all on the system clock (the
node's ROS clock is the system clock; both processes run on this machine):

* ``to_node_ms`` = command ``header.stamp`` (the node clock read at the start of its
  centroid callback) - centroid publication time: DDS hop in + executor queueing;
* ``node_and_return_ms`` = command reception here - command ``header.stamp``: the
  node's work (loop step, safety checks, publication) + the DDS hop back;
* ``end_to_end_ms``: centroid publication -> command reception here (the sum).

The node's own share (centroid arriving -> command leaving) is bounded above by
``node_and_return_ms``.  ROS_DOMAIN_ID is a random value in 10..99 and discovery is
limited to localhost, so the run never talks to other nodes.  BLAS/OMP threads are 1.
"""

from __future__ import annotations

import os
import random

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ["ROS_DOMAIN_ID"] = str(random.randint(10, 99))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rclpy  # noqa: E402
import rclpy.utilities  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from qsat_pat.deployments import Deployment, NodeSpec  # noqa: E402
from qsat_pat.launcher import node_command  # noqa: E402
from qsat_pat.msg import BeaconCentroid, PointingCommand  # noqa: E402
from qsat_pat.nodes.convert import ns_to_stamp, stamp_to_s  # noqa: E402
from qsat_pat.nodes.pattern import Qos  # noqa: E402

NAMESPACE = "/bench_latency"
#: fsm_controller's default rad_per_px diagonal (config/fsm_controller.yaml) [rad/px].
RAD_PER_PX = 1.617e-6
#: Centroids are numbered modulo this (two axes of 100 one-pixel steps).
ID_MODULUS = 10_000


def _percentiles(x_ms: np.ndarray) -> dict:
    if x_ms.size == 0:
        return {}
    p = np.percentile(x_ms, [50, 95, 99])
    return {"p50": float(p[0]), "p95": float(p[1]), "p99": float(p[2]), "max": float(x_ms.max()),
            "mean": float(x_ms.mean())}


class Bench:
    """Publisher of centroids and collector of commands (executor spinning in a thread)."""

    def __init__(self, context) -> None:
        self.node = rclpy.create_node("latency_bench", namespace=NAMESPACE, context=context)
        self.pub = self.node.create_publisher(BeaconCentroid, "beacon_centroid", Qos.STREAM)
        self.recv: list[tuple[int, float, int]] = []  # (receive ns, command stamp s, centroid id)
        self.lock = threading.Lock()
        self.node.create_subscription(PointingCommand, "fsm_command", self._on_cmd, Qos.COMMAND)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_cmd(self, msg: PointingCommand) -> None:
        t = time.time_ns()
        dx = int(round(-msg.axis1_rad / RAD_PER_PX)) + 50
        dy = int(round(-msg.axis2_rad / RAD_PER_PX)) + 50
        with self.lock:
            self.recv.append((t, stamp_to_s(msg.header.stamp), dy * 100 + dx))

    def connected(self) -> bool:
        return self.pub.get_subscription_count() > 0 and self.node.count_publishers(
            f"{NAMESPACE}/fsm_command") > 0

    def run(self, rate_hz: float, duration_s: float) -> dict:
        """Publish at ``rate_hz`` for ``duration_s``; match commands to centroids by their encoded id."""
        with self.lock:
            self.recv.clear()
        n = int(round(rate_hz * duration_s))
        period_ns = int(round(1e9 / rate_hz))
        pub_ns = np.zeros(n, dtype=np.int64)
        start = time.monotonic_ns() + 20_000_000
        late = 0
        for i in range(n):
            due = start + i * period_ns
            while True:
                left = due - time.monotonic_ns()
                if left <= 0:
                    break
                time.sleep(left * 1e-9 if left > 1_500_000 else 0)
            if -left > period_ns:
                late += 1
            k = i % ID_MODULUS
            msg = BeaconCentroid(camera_id="ogs_fine", method="default", valid=True,
                                 x_px=128.0 + (k % 100 - 50), y_px=128.0 + (k // 100 - 50))
            t = time.time_ns()
            msg.header.stamp = ns_to_stamp(t)
            pub_ns[i] = t
            self.pub.publish(msg)
        deadline = time.monotonic() + 5.0
        last_len, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                got = len(self.recv)
            if got >= n:
                break
            if got != last_len:
                last_len, still_since = got, time.monotonic()
            elif time.monotonic() - still_since > 0.5:
                break  # nothing more is coming (dropped centroids)
            time.sleep(0.01)
        with self.lock:
            recv = list(self.recv)
        ids = np.array([r[2] for r in recv], dtype=np.int64)
        # unwrap the modulo-ID_MODULUS ids (commands arrive in order)
        full = ids + ID_MODULUS * np.concatenate([[0], np.cumsum(np.diff(ids) < -ID_MODULUS // 2)])
        ok = (full >= 0) & (full < n)
        full = full[ok]
        recv_ns = np.array([r[0] for r in recv], dtype=np.int64)[ok]
        stamp_s = np.array([r[1] for r in recv])[ok]
        out = {"rate_hz": rate_hz, "duration_s": duration_s, "published": n, "commands": len(recv),
               "matched": int(full.size), "dropped": int(n - np.unique(full).size),
               "unmatched_commands": int(len(recv) - full.size), "publisher_late_periods": late}
        if full.size == 0:
            return out
        pub_s = pub_ns[full] * 1e-9
        to_node = (stamp_s - pub_s) * 1e3
        back = (recv_ns * 1e-9 - stamp_s) * 1e3
        e2e = (recv_ns - pub_ns[full]) * 1e-6
        out.update(end_to_end_ms=_percentiles(e2e), to_node_ms=_percentiles(to_node),
                   node_and_return_ms=_percentiles(back),
                   achieved_command_rate_hz=float((full.size - 1) / max((recv_ns[-1] - recv_ns[0]) * 1e-9, 1e-9)))
        return out

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def start_node() -> tuple[subprocess.Popen, list[str]]:
    """fsm_controller in its own process, as ``qsat-pat up`` starts it."""
    spec = NodeSpec("fsm_controller", "fsm_controller", NAMESPACE, ("fsm_controller.yaml",))
    dep = Deployment(name="bench", description="latency benchmark", nodes=(spec,))
    cmd = node_command(spec, dep) + ["-p", "state_rate_hz:=10.0", "-p", "watchdog_period_s:=1.0",
                                     "-p", "latency_compensation:=none", "-p", "kp:=1.0", "-p", "ki_per_s:=0.0",
                                     "-p", "setpoint_x_px:=128.0", "-p", "setpoint_y_px:=128.0",
                                     "-p", f"rad_per_px:=[{RAD_PER_PX}, 0.0, 0.0, {RAD_PER_PX}]"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    return proc, cmd


def stop_node(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "control_latency.json"))
    ap.add_argument("--rates-hz", default="1000,500,100", help="comma-separated publication rates")
    ap.add_argument("--duration-s", type=float, default=5.0, help="measured time per rate")
    args = ap.parse_args()
    rates = [float(x) for x in args.rates_hz.split(",") if x.strip()]
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    proc, cmd = start_node()
    bench = None
    results: dict = {}
    try:
        bench = Bench(ctx)
        deadline = time.monotonic() + 40.0
        while not bench.connected() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        if not bench.connected():
            err = proc.stderr.read() if proc.poll() is not None else ""
            raise SystemExit(f"fsm_controller did not come up (exit {proc.poll()}): {err[-2000:]}")
        bench.run(200.0, 1.0)  # warm-up (discovery, first-call costs, loop history)
        runs = [bench.run(r, args.duration_s) for r in rates]
        results = {
            "benchmark": "control_latency",
            "what": "BeaconCentroid published -> fsm_controller (own process) -> PointingCommand received",
            "node_command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)),
            "rmw_implementation": rclpy.utilities.get_rmw_implementation_identifier(),
            "ros_domain_id": int(os.environ["ROS_DOMAIN_ID"]),
            "runs": runs,
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "numpy": np.__version__, "cpu_count": os.cpu_count()},
        }
    finally:
        if bench is not None:
            bench.close()
        code = stop_node(proc)
        rclpy.try_shutdown(context=ctx)
    results["node_exit_code"] = code
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
