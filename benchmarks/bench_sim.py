"""Simulator plant step costs, one core (issue 6 benchmark, plant side).

Usage::

    .venv/bin/python benchmarks/bench_sim.py [--out benchmarks/results/sim.json] [--repeats 3]

Per-call cost of every model's step at the nominal scenario (config/scenarios/nominal.yaml):
orbit truth state, Basilisk ADCS (0.1 s flight-software step), OGS mount, FSM, turbulence
tip/tilt, scintillation, clouds, and frame synthesis of the three cameras; model set-up
costs; and a combined 1 kHz lockstep of all plants (fine camera every step, coarse camera at
50 Hz, space camera at 100 Hz, ADCS at 10 Hz) giving the plants' real-time factor.  The
PAT software (imaging, estimation, control) is not included: the full-loop real-time factor
belongs to the ``qsat-pat sim`` benchmark of the integration.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MPLCONFIGDIR", "/tmp/qsat_pat_mpl")

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

from qsat_pat.sim.camera import received_power_w, signal_electrons  # noqa: E402
from qsat_pat.sim.scenario import load_scenario, make_models, zenith_rad  # noqa: E402


def _per_call_us(fn, n: int, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sim.json"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    sc = load_scenario("nominal")
    t = time.perf_counter()
    m = make_models(sc, 1)
    setup_s = time.perf_counter() - t
    t0 = m.t0_unix_s
    st = m.orbit.state(t0)
    z = zenith_rad(st.el_rad)
    dt = sc.scenario.step_s
    k = [0]

    def orbit_state():
        k[0] += 1
        m.orbit.state(t0 + k[0] * 1e-3)

    steps = {
        "orbit_truth_state": _per_call_us(orbit_state, 300, args.repeats),
        "adcs_step_0p1s": _per_call_us(lambda: m.adcs.step(0.1), 50, args.repeats),
        "ogs_mount_step_1ms": _per_call_us(lambda: m.ogs_mount.step(dt, (st.az_rad, st.el_rad)), 1000, args.repeats),
        "fsm_step_1ms": _per_call_us(lambda: m.ogs_fsm.step((1e-6, 0.0), dt), 2000, args.repeats),
        "turbulence_step": _per_call_us(lambda: m.ogs_turbulence.step(dt, z, (0.01, 0.0)), 2000, args.repeats),
        "scintillation_step": _per_call_us(lambda: m.downlink_scintillation.step(dt, z), 2000, args.repeats),
        "clouds_step": _per_call_us(lambda: m.downlink_clouds.step(dt), 2000, args.repeats),
    }
    p = received_power_w(sc.downlink_beacon, st.range_m, st.el_rad, 1.0)
    for name in ("ogs_fine_camera", "ogs_coarse_camera", "space_camera"):
        synth = getattr(m, name)
        cfg = getattr(sc, name)
        e = signal_electrons(p, cfg, 850e-9)
        steps[f"{name}_render_{synth.render(0.0, (0.0, 0.0), e, 1.0).image.shape[1]}x"
              f"{synth.render(0.0, (0.0, 0.0), e, 1.0).image.shape[0]}"] = _per_call_us(
            lambda s=synth, e=e: s.render(0.0, (1e-6, 2e-6), e, 1.0), 30 if cfg.rows > 300 else 200, args.repeats)

    # combined lockstep of all plants, 2 s of simulated time at 1 kHz
    m2 = make_models(sc, 2)
    sim_s = 2.0
    n = round(sim_s / dt)
    tw = time.perf_counter()
    for i in range(n):
        ts = i * dt
        st = m2.orbit.state(m2.t0_unix_s + ts)
        z = zenith_rad(st.el_rad)
        tilt = m2.ogs_turbulence.step(dt, z, (st.az_rate_radps * math.cos(st.el_rad), st.el_rate_radps))
        mount = m2.ogs_mount.step(dt, (st.az_rad, st.el_rad), (st.az_rate_radps, st.el_rate_radps))
        fsm = m2.ogs_fsm.step((0.0, 0.0), dt)
        m2.space_fsm.step((0.0, 0.0), dt)
        irr = m2.downlink_scintillation.step(dt, z)
        m2.uplink_scintillation.step(dt, z)
        cloud = m2.downlink_clouds.step(dt)
        p = received_power_w(sc.downlink_beacon, st.range_m, st.el_rad, 1.0, irradiance_factor=irr,
                             cloud_transmission=cloud)
        for name in ("ogs_fine_camera", "ogs_coarse_camera", "space_camera"):
            synth = getattr(m2, name)
            if synth.due(ts, dt):
                synth.render(ts, tilt + mount.los_offset_rad - fsm, signal_electrons(p, synth.config, 850e-9), 0.5)
        if i % 100 == 99:
            m2.adcs.step(0.1)
    wall = time.perf_counter() - tw

    result = {
        "benchmark": "sim plants (issue 6)",
        "scenario": "nominal",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count()},
        "step_cost_us": {k: round(v, 2) for k, v in steps.items()},
        "setup_s": {"make_models_nominal": round(setup_s, 3)},
        "lockstep_all_plants_1khz": {"simulated_s": sim_s, "wall_s": round(wall, 3),
                                     "real_time_factor": round(sim_s / wall, 3)},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
