"""Node ``sim_world``: the simulator in the ROS graph, in lockstep with both terminals' nodes over DDS.

This module is the executable (:func:`main`; :data:`CONFIG_CLASS` its parameters); how it
works is described in :mod:`qsat_pat.sim.ros`.  ``qsat-pat sim`` (without ``--direct``) starts
the nodes of the ``sim`` deployment as processes and runs the simulator in its own process
(:func:`~qsat_pat.sim.ros.run.run_ros`); on a real install ``ros2 launch qsat_pat
sim.launch.py`` starts the same table, ``sim_world`` included (:func:`main`, parameters
``scenario``, ``seed``, ``duration_s``, ``start_offset_s``, ``out_dir``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.sim.ros.parameters import SimWorldConfig, expanded_parameters, node_parameters, push_parameters
from qsat_pat.sim.ros.run import run_lockstep
from qsat_pat.sim.ros.startup import LOCKSTEP_NODES, wait_for_nodes

__all__ = ["CONFIG_CLASS", "main"]


def main(args=None) -> int:
    """``ros2 run qsat_pat sim_world`` / ``ros2 launch qsat_pat sim.launch.py``: fly the pass.

    Parameters (ROS): ``scenario`` (name or file), ``seed`` (-1: the scenario's),
    ``duration_s`` (0: the scenario's), ``start_offset_s``, ``out_dir`` (report.json goes
    there).  The scenario-dependent parameters of the lockstep nodes
    (:func:`node_parameters`) are set through their parameter services before time starts.
    Exit 0 when the pass is flown, 1 on a simulation error, 130 on Ctrl-C.
    """
    import json

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from qsat_pat.sim.report import build_report
    from qsat_pat.sim.scenario import load_scenario

    context = rclpy.Context()
    rclpy.init(context=context, args=args if args is not None else sys.argv)
    try:
        probe = rclpy.create_node("sim_world_setup", context=context)
        values = {f: probe.declare_parameter(f, getattr(SimWorldConfig(), f)).value
                  for f in SimWorldConfig.__dataclass_fields__}
        cfg = SimWorldConfig(**values)  # ConfigError names a bad value
        scenario = load_scenario(cfg.scenario)
        ex = SingleThreadedExecutor(context=context)
        ex.add_node(probe)
        t_start = time.monotonic()
        wait_for_nodes(probe, ex)
        print(f"sim_world: {len(LOCKSTEP_NODES)} lockstep nodes active after {time.monotonic() - t_start:.1f} s",
              flush=True)
        push_parameters(probe, ex, expanded_parameters(node_parameters(scenario)))
        print(f"sim_world: scenario {scenario.name!r} parameters set after {time.monotonic() - t_start:.1f} s",
              flush=True)
        ex.remove_node(probe)
        probe.destroy_node()
        from qsat_pat.progress import ProgressBar

        record = run_lockstep(scenario, seed=None if cfg.seed < 0 else cfg.seed, duration_s=cfg.duration_s or None,
                              start_offset_s=cfg.start_offset_s, answer_timeout_s=cfg.answer_timeout_s,
                              context=context, log=lambda m: print(m, flush=True),
                              progress=ProgressBar(f"sim_world {scenario.name}", stream=sys.stdout))
        out_dir = Path(cfg.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(build_report(record), indent=2, allow_nan=False) + "\n")
        print(f"sim_world: report written to {out_dir / 'report.json'}", flush=True)
        return 0
    except (SimulationError, ConfigError) as exc:
        print(f"sim_world: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


CONFIG_CLASS = SimWorldConfig

if __name__ == "__main__":
    sys.exit(main())
