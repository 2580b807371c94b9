"""Benchmark of the two-stage control core: step costs, rejection curve, pass, acquisition.

Run: ``.venv/bin/python benchmarks/bench_control.py --out benchmarks/results/control.json``.
Single-threaded (BLAS/OMP threads set to 1 before numpy is imported).  The cross-process
BeaconCentroid -> PointingCommand latency needs the ROS nodes (phase 2) and is not measured
here; ``fine_loop_step_us`` is the core's share of it.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qsat_pat.analysis.control_studies import (  # noqa: E402
    dominant_frequency_hz,
    fit_sine_amplitude,
    rejection_curve,
    simulate_sine_rejection,
    simulate_two_stage_pass,
)
from qsat_pat.core.control import (  # noqa: E402
    CoarseStageModel,
    FineLoopConfig,
    FineTrackLoop,
    FsmModel,
    FsmOffload,
    Mode,
    Pid,
    PointingCommand,
    Stage,
)
from qsat_pat.core.pat import PatInputs, PatStateMachine, simulate_acquisition  # noqa: E402
from qsat_pat.core.safety import PointingSafetyFilter, SafetyConfig, validate_command  # noqa: E402


class _Clock:
    """Monotonic simulated time for the stateful benchmarks."""

    def __init__(self, dt_s: float) -> None:
        self.t_s, self.dt_s = 0.0, dt_s

    def tick(self) -> float:
        self.t_s += self.dt_s
        return self.t_s


def _time_us(fn, n: int, repeats: int = 5) -> dict:
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per.append((time.perf_counter() - t0) / n * 1e6)
    return {"median_us": float(np.median(per)), "min_us": float(np.min(per)), "n": n,
            "repeats": repeats}


def step_costs() -> dict:
    out = {}
    loop, c1 = FineTrackLoop(FineLoopConfig()), _Clock(1e-3)
    r = np.array([1e-6, -2e-6])

    def fine_step():
        t = c1.tick()
        loop.step(t, r, t - 1e-3, (5e-6, 0.0))

    out["fine_loop_step_us"] = _time_us(fine_step, 5000)
    fsm = FsmModel()
    out["fsm_model_step_us"] = _time_us(lambda: fsm.step((1e-5, 2e-5), 1e-3), 5000)
    pid = Pid()
    out["pid_step_us"] = _time_us(lambda: pid.step((1e-6, 1e-6), 1e-3), 5000)
    stage = CoarseStageModel()
    out["coarse_stage_step_us"] = _time_us(lambda: stage.step(1e-3, (0.1, 0.5), (0.01, 0.0)), 5000)
    off = FsmOffload()
    out["offload_step_us"] = _time_us(lambda: off.step((1e-4, 0.0), 1e-3), 5000)
    filt, c2 = PointingSafetyFilter(SafetyConfig()), _Clock(0.01)
    out["safety_filter_clear_sky_us"] = _time_us(
        lambda: filt.filter(PointingCommand(c2.tick(), Stage.MOUNT, Mode.POSITION, 1.0, 0.8), 4.0, -0.5),
        2000)
    filt2, c3 = PointingSafetyFilter(SafetyConfig()), _Clock(0.01)
    out["safety_filter_sun_in_cone_us"] = _time_us(
        lambda: filt2.filter(PointingCommand(c3.tick(), Stage.MOUNT, Mode.POSITION, 1.0, 0.8), 1.0, 0.7),
        500)
    cfg = SafetyConfig()
    cmd = PointingCommand(0.0, Stage.FSM, Mode.POSITION, 1e-5, 2e-5)
    out["validate_command_us"] = _time_us(lambda: validate_command(cmd, cfg), 5000)
    pat, c4 = PatStateMachine(), _Clock(1e-3)
    out["pat_step_us"] = _time_us(lambda: pat.step(PatInputs(
        t_s=c4.tick(), target_visible=True, at_target=True, coarse_detected=True,
        coarse_error_rad=5e-5, fine_detected=True)), 5000)
    return out


def york_comparison() -> dict | None:
    base = REPO.parent / "shared" / "data" / "york_tracking" / "fsm_disturbance"
    if not base.is_dir():
        return None
    res = {}
    for power in ("003A", "04A"):
        d0 = np.genfromtxt(base / f"sine_{power}_FSM0.csv", delimiter=",", names=True)
        d1 = np.genfromtxt(base / f"sine_{power}_FSM1.csv", delimiter=",", names=True)
        f = dominant_frequency_hz(d0["Time"], d0["measured_X"])
        a0 = fit_sine_amplitude(d0["Time"], d0["measured_X"], f)
        a1 = fit_sine_amplitude(d1["Time"], d1["measured_X"], f)
        res[power] = {"frequency_hz": f, "fsm0_amplitude_px": a0, "fsm1_amplitude_px": a1,
                      "rejection_db": 20 * math.log10(a1 / a0),
                      "frame_rate_hz": float(1 / np.median(np.diff(d1["Time"])))}
    f = res["003A"]["frequency_hz"]
    res["ours_1khz_smith_db"] = simulate_sine_rejection(f, 25e-6, periods=2, settle_s=1.0).rejection_db
    rig = FineLoopConfig(rate_hz=33.0, kp=0.0, ki_per_s=6.0, latency_compensation="none", history_s=5.0)
    res["ours_like_york_rig_db"] = simulate_sine_rejection(f, 25e-6, loop=rig, latency_frames=1, periods=3,
                                                           settle_s=5.0, quantum_rad=1e-6).rejection_db
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "control.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count()},
        "step_costs": step_costs(),
    }
    freqs = [0.3, 1, 3, 10, 20, 30, 50, 100, 200, 300]
    curve = {}
    for lat in (1, 2):
        pts = rejection_curve(freqs, amplitude_rad=50e-6, latency_frames=lat, periods=5)
        curve[f"latency_{lat}_frames"] = [{"frequency_hz": p.frequency_hz, "rejection_db": p.rejection_db}
                                          for p in pts]
    result["rejection_curve_1khz"] = {"camera_rate_hz": 1000.0, "fsm_bandwidth_hz": 580.0,
                                      "amplitude_rad": 50e-6, **curve}
    result["york_fsm_disturbance"] = york_comparison()
    p = simulate_two_stage_pass(t_start_s=-30.0, t_end_s=30.0, offload=True)
    q = simulate_two_stage_pass(t_start_s=-30.0, t_end_s=30.0, offload=False)
    result["pass_550km_85deg"] = {
        "window_s": [-30.0, 30.0], "peak_los_rate_radps": p.peak_los_rate_radps,
        "with_offload": {"max_fsm_fraction_of_range": p.max_fsm_fraction, "saturated": p.fsm_saturated,
                         "residual_rms_urad": p.residual_rms_rad * 1e6,
                         "handover_transient_urad": p.handover_transient_rad * 1e6,
                         "offload_engagements": p.offload_events},
        "without_offload": {"saturated": q.fsm_saturated, "residual_rms_urad": q.residual_rms_rad * 1e6},
    }
    acq = []
    for a in np.linspace(0, 2 * math.pi, 8, endpoint=False):
        r = simulate_acquisition(2e-3 * np.array([math.cos(a), math.sin(a)]), seed=int(a * 100))
        acq.append(r.time_to_fine_s)
    result["acquisition_2mrad_spiral"] = {"time_to_fine_track_s": acq, "max_s": max(acq),
                                          "mean_s": float(np.mean(acq))}
    result["wall_time_s"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["step_costs"], indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
