"""``qsat-pat up``: start a deployment's nodes here, without ``ros2 launch``.

Reads the same node table as ``launch/*.launch.py`` (:mod:`qsat_pat.deployments`) and
starts its nodes either

* as **separate processes** (default), like ``ros2 launch``: one process per node, each in
  its own process group (so a terminal's Ctrl-C reaches only this launcher, which forwards
  one SIGINT to each node and waits for their clean shutdown), each killed by the kernel if
  the launcher itself dies (``PR_SET_PDEATHSIG``): no orphans; or
* **composed** in one process on one executor (``--composed``): less memory and
  intra-process transport, for small machines.

Both use rclpy's ``EventsExecutor`` by default (:data:`qsat_pat.nodes.pattern.DEFAULT_EXECUTOR`:
a 1 kHz camera stream costs little executor time); ``executor="single"`` (or
``multithreaded=True`` for ``"multi"``) selects rclpy's classic executors: passed to each
node process as ``--executor KIND``, or used for the composed executor.

Either way: SIGINT/SIGTERM stop every node cleanly and the exit code is 0; a node that
dies or fails to start stops the others and the exit code is 1.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from qsat_pat.core.errors import DeploymentError
from qsat_pat.deployments import Deployment, NodeSpec, lockstep_environment, parameter_files

#: ROS 2 domain IDs a private graph (a simulation, a test session) may take: 0-101 keep Fast
#: DDS's ports (7400 + 250 * id + ...) below Linux's ephemeral port range (32768-60999).
PRIVATE_DOMAIN_IDS = range(1, 102)
#: Directory of the per-domain lock files (one per reserved ID, held while the graph runs).
DOMAIN_LOCK_DIR_ENV = "QSAT_PAT_DOMAIN_LOCK_DIR"


class DomainReservation:
    """A ROS 2 domain ID reserved for one private graph on this machine.

    The reservation is an exclusive ``flock`` on ``<lock dir>/<id>.lock``, held by this
    process until :meth:`release` (or its exit: the kernel drops the lock, so a killed run
    leaks nothing).  Every process reserving through :func:`reserve_domain_id` (``qsat-pat
    sim`` runs, test sessions) gets a different ID, so their graphs never see each other's
    messages.  :meth:`environment` is what the graph's processes need: the ID and
    localhost-only discovery (a simulated ``/clock`` must never reach a real station's graph).
    """

    def __init__(self, domain_id: int, fd: int | None, path: Path | None) -> None:
        self.domain_id = int(domain_id)
        self._fd = fd
        self.path = path

    def environment(self) -> dict[str, str]:
        return {"ROS_DOMAIN_ID": str(self.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DomainReservation:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def domain_lock_dir() -> Path:
    return Path(os.environ.get(DOMAIN_LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "qsat_pat_domains")


def reserve_domain_id(preferred: int | None = None, avoid: Sequence[int] = ()) -> DomainReservation:
    """Reserve a free ROS 2 domain ID (see :class:`DomainReservation`).

    Parameters
    ----------
    preferred : int, optional
        Take exactly this ID (in :data:`PRIVATE_DOMAIN_IDS`) or fail.
    avoid : sequence of int
        IDs not to take (e.g. the caller's own ``ROS_DOMAIN_ID``, whose graph may hold real
        hardware nodes that never reserve).

    Raises
    ------
    DeploymentError
        ``preferred`` out of range or in use, or every ID in use.
    """
    if preferred is not None:
        if int(preferred) not in PRIVATE_DOMAIN_IDS:
            raise DeploymentError(f"domain ID {preferred} is outside {PRIVATE_DOMAIN_IDS.start}-"
                                  f"{PRIVATE_DOMAIN_IDS.stop - 1}")
        candidates = [int(preferred)]
    else:  # start at a per-process place so concurrent runs rarely contend for one lock
        n = len(PRIVATE_DOMAIN_IDS)
        start = os.getpid() % n
        candidates = [PRIVATE_DOMAIN_IDS[(start + k) % n] for k in range(n)]
        candidates = [d for d in candidates if d not in set(int(a) for a in avoid)]
    lock_dir = domain_lock_dir()
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(lock_dir, 0o1777)  # shared by every user of the machine, like /tmp
    except PermissionError:
        pass  # made by another user: usable as long as it is writable
    except OSError as exc:
        raise DeploymentError(f"cannot create the domain lock directory {lock_dir}: {exc}") from exc
    for d in candidates:
        path = lock_dir / f"{d}.lock"
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        except PermissionError:
            continue  # another user's lock file we cannot open: treat as taken
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise DeploymentError(f"cannot lock {path}: {exc}") from exc
        return DomainReservation(d, fd, path)
    what = f"domain ID {preferred} is in use by another run" if preferred is not None else \
        f"every domain ID in {PRIVATE_DOMAIN_IDS.start}-{PRIVATE_DOMAIN_IDS.stop - 1} is in use"
    raise DeploymentError(f"{what} (locks in {lock_dir})")


#: Time the nodes get to shut down after SIGINT before SIGTERM, then SIGKILL [s].
SHUTDOWN_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1
#: Exit codes of a node that stopped cleanly when asked to: 0, or killed by the forwarded SIGINT
#: before its Python code could handle it (interrupted while still importing/starting).
_CLEAN_STOP_CODES = (0, -signal.SIGINT, 128 + signal.SIGINT)


def share_dir() -> Path:
    """The package's share directory (``config/``, ``launch/``, ``gazebo_worlds/``).

    In the source tree (development set-up) that is the repository root; in a colcon or
    CMake install it is ``share/qsat_pat`` found through the ament index.
    """
    root = Path(__file__).resolve().parents[1]
    if (root / "package.xml").is_file() and (root / "config").is_dir():
        return root
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("qsat_pat"))
    except (ImportError, LookupError) as exc:
        raise DeploymentError(f"cannot find qsat_pat's share directory: {exc}") from exc


def config_path(filename: str) -> Path:
    """Absolute path of a parameter file named in the node table (relative to config/)."""
    path = Path(filename) if Path(filename).is_absolute() else share_dir() / "config" / filename
    if not path.is_file():
        raise DeploymentError(f"parameter file {path} does not exist")
    return path


def ros_arguments(spec: NodeSpec, deployment: Deployment) -> list[str]:
    """The ``--ros-args ...`` that give a node its name, namespace, parameters and remaps."""
    args = ["--ros-args", "-r", f"__node:={spec.name}", "-r", f"__ns:={spec.namespace}"]
    for filename in parameter_files(deployment, spec):
        args += ["--params-file", str(config_path(filename))]
    if deployment.use_sim_time:
        args += ["-p", "use_sim_time:=true"]
    for src, dst in spec.remappings:
        args += ["-r", f"{src}:={dst}"]
    return args


def node_command(spec: NodeSpec, deployment: Deployment, executor: str | None = None) -> list[str]:
    """Command line of one node process (the installed entry script when present).

    ``executor`` (``"events"``, ``"single"``, ``"multi"``) adds ``--executor KIND``; None
    leaves the node's default (events).
    """
    script = Path(sys.prefix) / "lib" / "qsat_pat" / spec.executable
    head = [str(script)] if script.is_file() else [sys.executable, "-m", spec.module]
    extra = ["--executor", executor] if executor else []
    return head + extra + list(spec.arguments) + ros_arguments(spec, deployment)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _StopRequest:
    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum, frame) -> None:
        self.signum = signum


def run_processes(deployment: Deployment, duration_s: float | None = None,
                  log=print, executor: str | None = None) -> int:
    """Run the deployment's nodes as separate processes until a signal or ``duration_s``.

    Returns 0 after a requested stop with every node exiting cleanly, 1 if a node died,
    failed to start, or did not exit cleanly.
    """
    stop = _StopRequest()
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: list[tuple[NodeSpec, subprocess.Popen]] = []
    code = 0
    # the strict lockstep's counter boards (sim deployment): one fresh directory per run
    board_dir = tempfile.mkdtemp(prefix="qsat_pat_lockstep_") if deployment.lockstep else None
    try:
        for spec in deployment.nodes:
            cmd = node_command(spec, deployment, executor)
            env = {**os.environ, **(lockstep_environment(deployment, spec, board_dir) if board_dir else {})}
            procs.append((spec, subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent, env=env)))
            log(f"[up] started {spec.fqn} (pid {procs[-1][1].pid})")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while stop.signum is None and (deadline is None or time.monotonic() < deadline):
            dead = [(s, p) for s, p in procs if p.poll() is not None]
            if dead:
                for s, p in dead:
                    log(f"[up] node {s.fqn} exited with code {p.returncode}: stopping the deployment")
                code = 1
                break
            time.sleep(0.05)
        if stop.signum is not None:
            log(f"[up] {signal.Signals(stop.signum).name}: stopping {len(procs)} nodes")
    finally:
        code = max(code, _stop_all(procs, log))
        for s, h in old.items():
            signal.signal(s, h)
        if board_dir:
            shutil.rmtree(board_dir, ignore_errors=True)
    return code


def _stop_all(procs: Sequence[tuple[NodeSpec, subprocess.Popen]], log) -> int:
    alive = [(s, p) for s, p in procs if p.poll() is None]
    for _, p in alive:
        p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + SHUTDOWN_GRACE_S
    code = 0
    for s, p in alive:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"[up] {s.fqn} ignored SIGINT for {SHUTDOWN_GRACE_S} s: terminating")
            p.terminate()
            try:
                p.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            code = 1
        if p.returncode not in _CLEAN_STOP_CODES:
            log(f"[up] {s.fqn} exited with code {p.returncode}")
            code = 1
    return code


def run_composed(deployment: Deployment, duration_s: float | None = None,
                 multithreaded: bool = False, log=print, executor: str | None = None) -> int:
    """Run the deployment's nodes in this process on one executor.

    ``executor`` names it (``"events"`` by default, ``"single"``, ``"multi"``;
    ``multithreaded`` is ``"multi"``).  Returns 0 after SIGINT/SIGTERM or ``duration_s``;
    1 if a node fails to start or a callback raises.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from qsat_pat.nodes.pattern import DEFAULT_EXECUTOR, EXECUTORS, make_executor

    kind = "multi" if multithreaded else (executor or DEFAULT_EXECUTOR)
    if kind not in EXECUTORS:
        raise DeploymentError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")
    from rclpy.signals import SignalHandlerOptions

    # SIGINT/SIGTERM only set a flag that the spin loop checks (no KeyboardInterrupt inside
    # a callback, which the EventsExecutor turns into a fatal error)
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    stop = _StopRequest()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    nodes = []
    code = 0
    executor = make_executor(kind)
    try:
        for spec in deployment.nodes:
            cls = getattr(importlib.import_module(spec.module), "NODE_CLASS", None)
            if cls is None:
                raise DeploymentError(f"{spec.fqn} ({spec.executable}) cannot be composed: it drives its own "
                                      "loop in its own process (run the deployment without --composed)")
            node = cls(cli_args=ros_arguments(spec, deployment), use_global_arguments=False)
            nodes.append(node)
            executor.add_node(node)
            log(f"[up] composed {spec.fqn}")
        for node in nodes:
            node.autostart()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while rclpy.ok() and stop.signum is None and (deadline is None or time.monotonic() < deadline):
            executor.spin_once(timeout_sec=0.05)
        if stop.signum is not None:
            log(f"[up] {signal.Signals(stop.signum).name}: stopping composed nodes")
    except (KeyboardInterrupt, ExternalShutdownException):
        log("[up] stopping composed nodes")
    except Exception as exc:  # a node's callback raised: report it and stop the deployment
        log(f"[up] node failure: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code


def up(deployment: Deployment, composed: bool = False, duration_s: float | None = None,
       multithreaded: bool = False, executor: str | None = None) -> int:
    """Start a deployment (see the module docstring); returns the exit code."""
    if duration_s is not None and not (duration_s > 0):
        raise DeploymentError(f"duration must be > 0 s, got {duration_s}")
    print(f"[up] deployment {deployment.name!r}: {len(deployment.nodes)} nodes, "
          f"{'composed in one process' if composed else 'one process per node'}"
          f"{', simulated time' if deployment.use_sim_time else ''}", flush=True)
    if composed:
        return run_composed(deployment, duration_s, multithreaded, log=lambda m: print(m, flush=True),
                            executor=executor)
    return run_processes(deployment, duration_s, log=lambda m: print(m, flush=True), executor=executor)

