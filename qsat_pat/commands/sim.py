"""``qsat-pat sim``: fly a whole simulated pass of both terminals and write its results.

Writes into ``--out DIR``: ``report.json`` (see :mod:`qsat_pat.sim.report`), four PNG plots,
and ``bag/`` (rosbag2, MCAP + metadata.yaml).  Results are first written to a sibling
temporary directory and moved into place only when complete, so an interrupted or failed
run leaves nothing half-written; an existing non-empty ``DIR`` is refused unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from qsat_pat.core.errors import SimulationError
from qsat_pat.progress import ProgressBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim", help="fly a simulated pass of both terminals (report, plots, bag)",
        description="Fly a whole simulated pass of both terminals and write report.json, PNG plots and a "
                    "rosbag2 bag into --out. By default the simulator runs as node sim_world in lockstep with the "
                    "PAT nodes over DDS (/clock); --direct runs the same loop in this process, no DDS.")
    p.add_argument("--scenario", default="nominal",
                   help="scenario name (config/scenarios/NAME.yaml) or path to a scenario YAML file")
    p.add_argument("--out", type=Path, required=True, help="output directory (created; must be empty)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--direct", action="store_true",
                   help="direct mode: the same core step functions looped in one process, no DDS (faster)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="simulate only S seconds (default: the scenario's duration)")
    p.add_argument("--start-offset", type=float, default=0.0, metavar="S",
                   help="start S seconds after the scenario's start (e.g. a short window near closest approach)")
    p.add_argument("--domain-id", type=int, default=None, metavar="N",
                   help="ROS mode: run the graph on this (free) ROS 2 domain ID; default: the first free one "
                        "(each run gets a private domain with localhost-only discovery; the ID is logged)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out directory")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SimulationError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SimulationError(f"--out {out} exists and is not empty: choose another directory or pass --force")


def _run(args: argparse.Namespace) -> int:
    from qsat_pat.sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)  # SimulationError names what is wrong
    if args.duration is not None and not args.duration > 0:
        raise SimulationError(f"--duration must be > 0 s, got {args.duration}")
    if not (args.start_offset >= 0 and args.start_offset < scenario.scenario.duration_s):
        raise SimulationError(f"--start-offset must be in [0, {scenario.scenario.duration_s}) s, "
                              f"got {args.start_offset}")
    if args.domain_id is not None and args.direct:
        raise SimulationError("--domain-id is for the ROS mode; --direct runs without DDS")
    if args.domain_id is not None:
        from qsat_pat.launcher import PRIVATE_DOMAIN_IDS

        if args.domain_id not in PRIVATE_DOMAIN_IDS:
            raise SimulationError(f"--domain-id must be in {PRIVATE_DOMAIN_IDS.start}-{PRIVATE_DOMAIN_IDS.stop - 1}, "
                                  f"got {args.domain_id}")
    out = args.out.resolve()
    _check_out(out, args.force)
    from qsat_pat.sim.bag import write_bag
    from qsat_pat.sim.report import build_report, write_plots

    progress = None if args.quiet else ProgressBar(f"sim {scenario.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        if args.direct:
            from qsat_pat.sim.loop import run_direct

            record = run_direct(scenario, seed=args.seed, duration_s=args.duration, progress=progress,
                                start_offset_s=args.start_offset)
        else:
            from qsat_pat.sim.ros.run import run_ros

            record = run_ros(scenario, seed=args.seed, duration_s=args.duration, progress=progress,
                             start_offset_s=args.start_offset, work_dir=tmp / "ros", domain_id=args.domain_id,
                             log=(lambda *a: None) if args.quiet else print)
        report = build_report(record)
        (tmp / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
        if not args.no_plots:
            write_plots(record, tmp)
        write_bag(record, tmp / "bag", t0_unix_s=getattr(record, "t0_unix_s", 0.0))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _print_summary(report, out)
    return 0


def _print_summary(report: dict, out: Path) -> None:
    print(f"scenario {report['scenario']} (seed {report['seed']}, {report['mode']} mode): "
          f"{report['sim_duration_s']:.1f} s simulated in {report['wall_time_s']:.1f} s "
          f"(real-time factor {report['real_time_factor']:.2f})")
    for name in ("ogs", "space"):
        m = report.get(name)
        if not m:
            continue
        acq = f"acquired in {m['acquisition_time_s']:.2f} s" if m["acquired"] else "NOT acquired"
        rms = m["fine_residual_rms_urad"]
        rms_txt = f", fine residual {rms:.2f} urad RMS / {m['fine_residual_p95_urad']:.2f} urad p95" \
            if rms is not None else ""
        print(f"  {name:5s}: {acq}{rms_txt}, {m['beacon_loss_events']} beacon losses, "
              f"re-acquired in {m['reacquisition_times_s']} s")
    print(f"report: {out / 'report.json'}")
    print(f"plots:  {out}/*.png")
    print(f"bag:    {out / 'bag'}")
