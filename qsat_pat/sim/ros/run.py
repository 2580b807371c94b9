"""Flying a pass in the ROS mode: :func:`run_lockstep` (``sim_world`` against nodes already
running) and :func:`run_ros` (start the ``sim`` deployment's nodes as processes on a private
ROS domain, then :func:`run_lockstep`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from qsat_pat.core.errors import QsatPatError, SimulationError
from qsat_pat.deployments import get_deployment
from qsat_pat.nodes.lockstep import LOCKSTEP_DIR_ENV, lockstep_dir
from qsat_pat.sim.loop import DirectConfig, flown_scenario, run_direct
from qsat_pat.sim.ros.link import REMOTE_CAMERAS, RosLink
from qsat_pat.sim.ros.lockstep import QuiescenceMonitor
from qsat_pat.sim.ros.parameters import node_parameters, write_parameter_file
from qsat_pat.sim.ros.startup import (
    LOCKSTEP_NODES,
    start_strict_lockstep,
    wait_for_ephemeris,
    wait_for_matches,
    wait_for_nodes,
)
from qsat_pat.sim.scenario import Scenario


def run_lockstep(scenario: Scenario, *, seed: int | None = None, duration_s: float | None = None,
                 start_offset_s: float = 0.0, progress=None, config: DirectConfig | None = None,
                 answer_timeout_s: float = 5.0, startup_timeout_s: float = 60.0, context=None, check=None,
                 lockstep_directory: Path | None = None, log=None):
    """Run the simulator as node ``/sim_world`` against nodes already started; returns the SimRecord.

    ``lockstep_directory`` (default: :data:`qsat_pat.nodes.lockstep.LOCKSTEP_DIR_ENV`) holds
    the nodes' counter boards: with it the lockstep is strict (quiet after every group of
    messages, bit-reproducible); without it only the named answers are awaited.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor


    own = context is None
    if own:
        context = rclpy.Context()
        rclpy.init(context=context, args=[])
    node = rclpy.create_node("sim_world", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    link = None
    monitor = None
    try:
        t0 = _start_unix_s(flown_scenario(scenario), start_offset_s)
        link = RosLink(node, executor, t0, REMOTE_CAMERAS, answer_timeout_s)
        directory = lockstep_dir() if lockstep_directory is None else Path(lockstep_directory)
        if directory is None:
            link.begin_step(0, 0.0)  # nodes on sim time see the start time before they are asked
        t_start = time.monotonic()

        def phase(what: str) -> None:
            if log is not None:
                log(f"[sim_world] {what} ({time.monotonic() - t_start:.1f} s)")

        wait_for_nodes(node, executor, timeout_s=startup_timeout_s, check=check)
        phase("lockstep nodes active")
        wait_for_matches(link, timeout_s=startup_timeout_s)
        phase("frames and answers connected")
        if directory is None:
            wait_for_ephemeris(link, timeout_s=startup_timeout_s)
        else:
            monitor = QuiescenceMonitor(directory, LOCKSTEP_NODES)
            queries = start_strict_lockstep(link, monitor, startup_timeout_s,
                                            check)
        phase("start ephemeris everywhere" if directory is None else
              f"strict lockstep started, every writer matched after {queries} quer{'y' if queries == 1 else 'ies'}")
        record = run_direct(scenario, seed=seed, duration_s=duration_s, progress=progress,
                            config=config, start_offset_s=start_offset_s, link=link)
        record.lockstep = dict(link.stats)
        return record
    finally:
        if monitor is not None:  # also when start-up failed before the link took it
            monitor.close()
        executor.remove_node(node)
        node.destroy_node()
        executor.shutdown()
        if own:
            rclpy.shutdown(context=context)


def _start_unix_s(scenario: Scenario, start_offset_s: float) -> float:
    from qsat_pat.sim.orbit import OrbitTruth

    orbit = OrbitTruth(scenario.orbit, scenario.site)
    return orbit.tca_unix_s - scenario.scenario.start_before_tca_s + float(start_offset_s)


def run_ros(scenario: Scenario, *, seed: int | None = None, duration_s: float | None = None,
            start_offset_s: float = 0.0, progress=None, config: DirectConfig | None = None,
            work_dir: Path, log=print, answer_timeout_s: float = 5.0, domain_id: int | None = None):
    """Start the ``sim`` deployment's nodes as processes and fly the pass in lockstep with them.

    The run's graph is private: a free ROS 2 domain ID is reserved for it
    (:func:`qsat_pat.launcher.reserve_domain_id`; never the caller's own ``ROS_DOMAIN_ID``)
    and discovery is localhost-only.  Two runs on one domain would take each other's
    ``/clock`` and messages (seen: a second run's clock 200 s ahead made the first run's
    space PAT manager stop on "PAT time went backwards"), and a simulated graph must never
    reach a real station's nodes.

    Parameters
    ----------
    work_dir : Path
        Where the generated parameter file and the nodes' logs go.
    domain_id : int, optional
        Use this domain ID (it must be free) instead of the first free one; logged either way,
        so ``ROS_DOMAIN_ID=N ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ros2 topic echo ...``
        can watch the run.

    Returns
    -------
    SimRecord
    """
    from qsat_pat.launcher import reserve_domain_id

    try:
        own_domain = int(os.environ.get("ROS_DOMAIN_ID") or 0)
    except ValueError:
        own_domain = 0
    try:
        reservation = reserve_domain_id(domain_id, avoid=(own_domain,))
    except QsatPatError as exc:
        raise SimulationError(f"no private ROS domain for the simulation: {exc}") from exc
    saved_env = {k: os.environ.get(k) for k in reservation.environment()}
    os.environ.update(reservation.environment())  # sim_world's own context (run_lockstep) too
    log(f"[sim] private graph: ROS_DOMAIN_ID={reservation.domain_id}, localhost-only discovery")
    try:
        return _run_ros_nodes(scenario, seed=seed, duration_s=duration_s, start_offset_s=start_offset_s,
                              progress=progress, config=config, work_dir=work_dir, log=log,
                              answer_timeout_s=answer_timeout_s, env_extra=reservation.environment())
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reservation.release()


def _run_ros_nodes(scenario: Scenario, *, seed, duration_s, start_offset_s, progress, config, work_dir: Path, log,
                   answer_timeout_s: float, env_extra: dict[str, str]):
    from qsat_pat.deployments import lockstep_environment
    from qsat_pat.launcher import _die_with_parent, _stop_all, node_command

    work_dir.mkdir(parents=True, exist_ok=True)
    board_dir = work_dir / "lockstep"
    shutil.rmtree(board_dir, ignore_errors=True)  # a previous run's boards must not be read
    node_params = node_parameters(scenario, config)
    node_params["/bag_recorder"] = {"output_dir": str(work_dir / "dds_bag")}
    params = write_parameter_file(node_params, work_dir / "sim_parameters.yaml")
    dep = get_deployment("sim")
    procs = []
    logs = []
    try:
        for spec in dep.nodes:
            if spec.executable == "sim_world":
                continue
            cmd = node_command(spec, dep) + ["--params-file", str(params)]
            env = {**os.environ, **env_extra}
            env.pop(LOCKSTEP_DIR_ENV, None)
            env.update(lockstep_environment(dep, spec, str(board_dir)))
            lf = open(work_dir / f"{spec.fqn.strip('/').replace('/', '.')}.log", "w")
            logs.append(lf)
            procs.append((spec, subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, start_new_session=True,
                                                 preexec_fn=_die_with_parent, env=env)))
            log(f"[sim] started {spec.fqn} (pid {procs[-1][1].pid})")

        def check() -> None:
            dead = [s.fqn for s, p in procs if p.poll() is not None]
            if dead:
                tails = "; ".join(f"{n}: {_log_tail(work_dir, n)}" for n in dead)
                raise SimulationError(f"nodes exited: {tails}")

        record = run_lockstep(scenario, seed=seed, duration_s=duration_s, start_offset_s=start_offset_s,
                              progress=progress, config=config, answer_timeout_s=answer_timeout_s, check=check,
                              lockstep_directory=board_dir, log=log)
        check()
        return record
    finally:
        _stop_all(procs, lambda *a: None)
        for lf in logs:
            lf.close()


def _log_tail(work_dir: Path, fqn: str) -> str:
    path = work_dir / f"{fqn.strip('/').replace('/', '.')}.log"
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"
