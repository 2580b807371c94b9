"""Benchmark of the simulator's ROS lockstep mode against the direct mode on the same window.

Run: ``.venv/bin/python benchmarks/bench_sim_ros.py --out benchmarks/results/sim_ros.json``.
The window starts ``--offset`` s into the nominal scenario (default: 10 s before closest
approach) and flies ``--duration`` s.  The ROS mode starts the ``sim`` deployment's nodes as
processes (qsat_pat.sim.ros.run.run_ros) and exchanges every OGS fine frame (1 kHz)
with them over DDS; the direct mode flies the same scenario and tunables in one process.
``real_time_factor`` is simulated time over wall time (including node start-up for the ROS
mode; ``loop_real_time_factor`` is the stepping loop alone, strict lockstep); CPU figures add the node processes' CPU (children of this
process) to this process's, since on 2 shared cores the wall clock mostly measures the load.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qsat_pat.sim.loop import run_direct  # noqa: E402
from qsat_pat.sim.report import terminal_metrics  # noqa: E402
from qsat_pat.sim.ros.run import run_ros  # noqa: E402
from qsat_pat.sim.scenario import load_scenario  # noqa: E402


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def _metrics(rec, wall_s: float, cpu_own_s: float, cpu_nodes_s: float) -> dict:
    ogs, space = terminal_metrics(rec.terminals["ogs"]), terminal_metrics(rec.terminals["space"])
    return {
        "sim_duration_s": rec.sim_duration_s,
        "wall_s": round(wall_s, 3),
        "real_time_factor": round(rec.sim_duration_s / wall_s, 4),
        "cpu_sim_process_s": round(cpu_own_s, 3),
        "cpu_node_processes_s": round(cpu_nodes_s, 3),
        "real_time_factor_cpu": round(rec.sim_duration_s / max(cpu_own_s + cpu_nodes_s, 1e-9), 4),
        "ogs_acquisition_time_s": ogs["acquisition_time_s"],
        "ogs_fine_residual_rms_urad": ogs["fine_residual_rms_urad"],
        "space_fine_residual_rms_urad": space["fine_residual_rms_urad"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sim_ros.json")
    ap.add_argument("--duration", type=float, default=5.0, help="simulated window [s]")
    ap.add_argument("--offset", type=float, default=230.0, help="window start after the scenario start [s]")
    args = ap.parse_args(argv)
    sc = load_scenario("nominal")
    window = {"duration_s": args.duration, "start_offset_s": args.offset}
    results = {
        "benchmark": "sim_ros",
        "scenario": sc.name,
        "window_start_after_scenario_start_s": args.offset,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count(),
                    "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]},
        "note": "ROS: sim_world in this process + the sim deployment's nodes as processes (CPU of both "
                "counted); direct: the same scenario and tunables in one process",
    }
    c0, k0 = _cpu()
    t0 = time.perf_counter()
    run_direct(sc, **window)
    c1, k1 = _cpu()
    t1 = time.perf_counter()
    direct = run_direct(sc, **window)
    results["direct"] = _metrics(direct, time.perf_counter() - t1, _cpu()[0] - c1, 0.0)
    results["direct"]["first_run_wall_s"] = round(t1 - t0, 3)
    c2, k2 = _cpu()
    t2 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_sim_ros_"))  # nodes' logs stay for a look
    ros = run_ros(sc, work_dir=work, log=lambda *a: None, **window)
    wall = time.perf_counter() - t2
    c3, k3 = _cpu()
    results["ros"] = _metrics(ros, wall, c3 - c2, k3 - k2)
    results["ros"]["work_dir"] = str(work)
    results["ros"]["notes"] = [n for n in ros.notes if n.startswith("lockstep")]
    results["ros"]["lockstep"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in ros.lockstep.items()}
    results["ros"]["wall_waiting_for_nodes_fraction"] = round(ros.lockstep["wait_wall_s"] / wall, 3)
    # the stepping loop alone (node start-up, discovery and the start-up handshake excluded)
    results["ros"]["loop_wall_s"] = round(ros.wall_time_s, 3)
    results["ros"]["startup_wall_s"] = round(wall - ros.wall_time_s, 3)
    results["ros"]["loop_real_time_factor"] = round(ros.sim_duration_s / ros.wall_time_s, 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
