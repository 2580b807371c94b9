"""Running nodes: the executors (:func:`make_executor`, :data:`EXECUTORS`,
:data:`DEFAULT_EXECUTOR`), the spin loop (:func:`run_nodes`), the ``--executor`` argument
(:func:`split_executor_argument`) and every node executable's ``main`` (:func:`make_main`).

Part of the node pattern (:mod:`qsat_pat.nodes.pattern`).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.signals import SignalHandlerOptions

from qsat_pat.core.errors import ConfigError, QsatPatError
from qsat_pat.nodes.base import QsatPatNode

#: Longest wait of one executor ``spin_once`` in :func:`run_nodes` (bounds the shutdown latency) [s].
SPIN_PERIOD_S = 0.1


#: Executors a node process (``--executor``) or the composed launcher can spin on.
EXECUTORS = ("events", "single", "multi")
#: Executor used when none is named: rclpy's ``EventsExecutor`` (C++ event queue, no
#: wait-set rebuilt per callback): ~4x the small-message rate of the SingleThreadedExecutor
#: here (shared/ENVIRONMENT.md), 3x the 1 kHz pipeline's throughput (benchmarks/bench_pipeline.py).
DEFAULT_EXECUTOR = "events"


def make_executor(kind: str = DEFAULT_EXECUTOR, context=None):
    """A new executor of ``kind`` (one of :data:`EXECUTORS`).

    ``events`` is ``rclpy.experimental.EventsExecutor`` (the default: callbacks dispatched
    from a C++ event queue, so a 1 kHz camera stream costs little executor time);
    ``single`` is rclpy's ``SingleThreadedExecutor`` (the reference implementation, kept
    selectable in case the experimental executor misbehaves); ``multi`` is its
    ``MultiThreadedExecutor``.  With ``events`` use ``spin_once(timeout)`` loops (as
    :func:`run_nodes` does): in rclpy 9.1 its ``spin()`` did not dispatch callbacks in a
    node process, and ``spin_until_future_complete`` without a timeout can hang.

    Raises
    ------
    ConfigError
        Unknown ``kind``.
    """
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    if kind == "single":
        return rclpy.executors.SingleThreadedExecutor(context=context)
    if kind == "multi":
        return rclpy.executors.MultiThreadedExecutor(context=context)
    raise ConfigError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")


def run_nodes(nodes: Sequence[QsatPatNode], executor=None,
              stop_requested: Callable[[], bool] | None = None) -> None:
    """Autostart and spin nodes until shutdown (rclpy.shutdown(), or ``stop_requested()`` true).

    ``executor`` is an executor instance or the name of one (:func:`make_executor`);
    default :data:`DEFAULT_EXECUTOR`; it is shut down on return.  The loop is ``spin_once`` with a timeout of
    :data:`SPIN_PERIOD_S`, not ``spin()``: ``EventsExecutor.spin()`` (rclpy 9.1) blocks in
    a node process without dispatching callbacks or noticing a shutdown.
    """
    if executor is None or isinstance(executor, str):
        executor = make_executor(executor or DEFAULT_EXECUTOR, nodes[0].context if nodes else None)
    context = nodes[0].context if nodes else None
    for node in nodes:
        executor.add_node(node)
    try:
        for node in nodes:
            node.autostart()
        while rclpy.ok(context=context) and not (stop_requested is not None and stop_requested()):
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    finally:
        executor.shutdown()


class _StopRequest:
    """Signal handler that only records the request (the spin loop then stops cleanly)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum, frame) -> None:
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None


def split_executor_argument(args: Sequence[str]) -> tuple[str, list[str]]:
    """Take ``--executor KIND`` (or ``--executor=KIND``) out of a node's non-ROS arguments.

    Only arguments before ``--ros-args`` are looked at.  Returns ``(kind, remaining
    args)``; ``kind`` is :data:`DEFAULT_EXECUTOR` when absent.

    Raises
    ------
    ConfigError
        ``--executor`` without a value or with an unknown one.
    """
    args = list(args)
    end = args.index("--ros-args") if "--ros-args" in args else len(args)
    kind = DEFAULT_EXECUTOR
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if i < end and (a == "--executor" or a.startswith("--executor=")):
            if a == "--executor":
                if i + 1 >= end:
                    raise ConfigError(f"--executor needs a value: one of {', '.join(EXECUTORS)}")
                kind, i = args[i + 1], i + 2
            else:
                kind, i = a.split("=", 1)[1], i + 1
            if kind not in EXECUTORS:
                raise ConfigError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")
            continue
        out.append(a)
        i += 1
    return kind, out


def make_main(node_class: type[QsatPatNode]) -> Callable[[list[str] | None], int]:
    """The ``main(args=None)`` of a node executable: init, autostart, spin, clean shutdown.

    ``--executor events|single|multi`` before ``--ros-args`` picks the executor
    (:func:`make_executor`; default ``events``).  Returns exit code 0 on a normal shutdown
    (SIGINT/SIGTERM), 1 if the node could not be created or configured (the reason is
    logged), 2 for a bad ``--executor``.
    """

    def main(args: list[str] | None = None) -> int:
        try:
            kind, args = split_executor_argument(args if args is not None else sys.argv)
        except ConfigError as exc:
            print(f"[{node_class.default_name}] error: {exc}", file=sys.stderr)
            return 2
        # SIGINT/SIGTERM only set a flag that the spin loop checks: no KeyboardInterrupt
        # raised inside a callback (which the EventsExecutor reports as a fatal error)
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        stop = _StopRequest()
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        node = None
        code = 0
        try:
            node = node_class()
            run_nodes([node], kind, stop_requested=stop.__bool__)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except QsatPatError as exc:
            print(f"[{node_class.default_name}] error: {exc}", file=sys.stderr)
            code = 1
        finally:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    main.__doc__ = f"Run the {node_class.default_name} node (ros2 run qsat_pat {node_class.default_name})."
    return main
