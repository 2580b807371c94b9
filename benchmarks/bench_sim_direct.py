"""Benchmark of the simulator's direct mode: real-time factor of a window of the nominal pass.

Run: ``.venv/bin/python benchmarks/bench_sim_direct.py --out benchmarks/results/sim_direct.json``.
Single-threaded (BLAS/OMP threads set to 1 before numpy is imported).  The window starts
``--offset`` seconds into the nominal scenario (default: 10 s before closest approach) and
flies ``--duration`` seconds of both terminals; the set-up (scenario, TLE fits, turbulence
screens, Basilisk) is timed separately from the loop.  ``real_time_factor`` is simulated
time over wall time of the loop (> 1: faster than real time); ``real_time_factor_cpu`` uses the
process CPU time instead (comparable on a shared, loaded machine).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qsat_pat.sim.loop import DirectConfig, run_direct  # noqa: E402
from qsat_pat.sim.report import terminal_metrics  # noqa: E402
from qsat_pat.sim.scenario import load_scenario  # noqa: E402


def _run(scenario, duration_s: float, offset_s: float, config: DirectConfig) -> dict:
    run_direct(scenario, duration_s=0.01, start_offset_s=offset_s, config=config)  # warm caches/imports
    t0, c0 = time.perf_counter(), time.process_time()
    run_direct(scenario, duration_s=0.01, start_offset_s=offset_s, config=config)
    setup_s, setup_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    rec = run_direct(scenario, duration_s=duration_s, start_offset_s=offset_s, config=config)
    total_s, total_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    loop_s = max(total_s - setup_s, 1e-9)
    loop_cpu_s = max(total_cpu_s - setup_cpu_s, 1e-9)
    ogs, space = terminal_metrics(rec.terminals["ogs"]), terminal_metrics(rec.terminals["space"])
    return {
        "sim_duration_s": rec.sim_duration_s,
        "setup_wall_s": round(setup_s, 3),
        "total_wall_s": round(total_s, 3),
        "loop_wall_s": round(loop_s, 3),
        "real_time_factor": round(rec.sim_duration_s / loop_s, 4),
        "real_time_factor_with_setup": round(rec.sim_duration_s / total_s, 4),
        "loop_cpu_s": round(loop_cpu_s, 3),
        "real_time_factor_cpu": round(rec.sim_duration_s / loop_cpu_s, 4),
        "ogs_steps_per_s": round(len(rec.terminals["ogs"]) / loop_s, 1),
        "ogs_control_period_s": rec.sim_duration_s / len(rec.terminals["ogs"]),
        "space_control_period_s": rec.sim_duration_s / len(rec.terminals["space"]),
        "ogs_fine_residual_rms_urad": ogs["fine_residual_rms_urad"],
        "space_fine_residual_rms_urad": space["fine_residual_rms_urad"],
        "ogs_acquisition_time_s": ogs["acquisition_time_s"],
        "space_acquisition_time_s": space["acquisition_time_s"],
        "estimated_full_pass_wall_s": round(setup_s + scenario.scenario.duration_s / (rec.sim_duration_s / loop_s), 1),
        "estimated_full_pass_cpu_s": round(setup_cpu_s + scenario.scenario.duration_s * loop_cpu_s
                                           / rec.sim_duration_s, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sim_direct.json")
    ap.add_argument("--duration", type=float, default=10.0, help="simulated window [s]")
    ap.add_argument("--offset", type=float, default=230.0, help="window start after the scenario start [s]")
    args = ap.parse_args(argv)
    sc = load_scenario("nominal")
    results = {
        "benchmark": "sim_direct",
        "scenario": sc.name,
        "window_start_after_scenario_start_s": args.offset,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count(),
                    "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]},
        "note": "real_time_factor = simulated / wall time of the loop; on a shared machine the CPU-time "
                "figure (real_time_factor_cpu) is the one to compare",
        "scenario_rates": _run(sc, args.duration, args.offset, DirectConfig()),
    }
    # the same window with the OGS fine camera/loop at 500 Hz (a faster, coarser option)
    sc500 = sc.replace("ogs_fine_camera", frame_rate_hz=500.0)
    results["ogs_fine_500hz"] = _run(sc500, args.duration, args.offset, DirectConfig())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
