"""``qsat-pat up DEPLOYMENT``: start the nodes of a deployment (see qsat_pat.launcher)."""

from __future__ import annotations

import argparse

from qsat_pat.deployments import DEPLOYMENTS, get_deployment


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up", help="start a deployment's nodes (same node table as launch/*.launch.py)",
        description="Start the nodes of a deployment here, as ros2 launch would on a real install. "
                    "Ctrl-C (SIGINT) or SIGTERM stops every node cleanly (exit 0); a node that dies "
                    "stops the others (exit 1).")
    p.add_argument("deployment", choices=sorted(DEPLOYMENTS), help="which deployment")
    p.add_argument("--composed", action="store_true",
                   help="run all nodes in this process on one executor (default: one process per node)")
    p.add_argument("--multithreaded", action="store_true", help="with --composed: a multi-threaded executor")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop cleanly after S seconds of wall time (default: run until Ctrl-C)")
    p.add_argument("--list", action="store_true", help="print the nodes and their command lines, start nothing")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from qsat_pat import launcher

    deployment = get_deployment(args.deployment)
    if args.list:
        print(f"{deployment.name}: {deployment.description}")
        for spec in deployment.nodes:
            print(f"  {spec.fqn:40s} {' '.join(launcher.node_command(spec, deployment))}")
        return 0
    return launcher.up(deployment, composed=args.composed, duration_s=args.duration,
                       multithreaded=args.multithreaded)
