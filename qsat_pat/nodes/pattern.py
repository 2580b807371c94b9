"""The node pattern every qsat_pat node follows (one small shared module).

A node is a thin adapter: ROS parameters -> a frozen core config dataclass; messages ->
core calls -> messages (conversions in :mod:`qsat_pat.nodes.convert`).  This module gives
each node, by subclassing :class:`QsatPatNode`:

* a **lifecycle node** (``rclpy.lifecycle.LifecycleNode``): publishers, subscriptions and
  timers are made in :meth:`QsatPatNode.on_setup` (configure) and released on cleanup;
  ``autostart`` (default true) configures and activates at start, as ``ros2 launch``
  users expect; set it false to drive the transitions with a lifecycle manager;
* **parameters from the config dataclass**: one parameter per field of
  :attr:`QsatPatNode.config_class` with a ``ParameterDescriptor`` (description with
  unit, numeric range, read-only), validated by the same core validator in the on-set
  callback: an invalid value is refused with the validator's reason and the old value
  stays (``self.config`` always holds a valid configuration);
* **named QoS profiles** (:class:`Qos`): sensor streams best-effort, state latched;
* **diagnostics** on ``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``) once per
  ``DIAGNOSTICS_PERIOD_S``: level, message, counters of bad input and of work done, and
  the node's own key values (:meth:`QsatPatNode.diagnostic_values`);
* **bad input** handled by :meth:`QsatPatNode.reject`: counted, logged with throttling,
  never raised out of a callback, so the node keeps running;
* **clean shutdown** and ``use_sim_time`` respected (the node clock is the only clock:
  use :meth:`QsatPatNode.now_s`);
* **an executor fit for 1 kHz streams**: :func:`make_main` and :func:`run_nodes` spin on
  rclpy's ``EventsExecutor`` by default (``--executor single`` or ``multi`` before
  ``--ros-args`` picks rclpy's classic executors); SIGINT/SIGTERM only set a flag that the
  ``spin_once`` loop checks, so no exception is raised inside a callback.

Example
-------
A minimal node (see :mod:`qsat_pat.nodes.bag_recorder` for a real one)::

    @dataclass(frozen=True)
    class EchoConfig(ConfigBase):
        gain: float = param(1.0, "output gain", min_value=0.0, max_value=10.0)

    class EchoNode(QsatPatNode):
        config_class = EchoConfig
        default_name = "echo"

        def on_setup(self):
            self.pub = self.create_lifecycle_publisher(Float64, "out", Qos.COMMAND)
            self.create_subscription(Float64, "in", self.on_in, Qos.COMMAND)

        def on_in(self, msg):
            if not math.isfinite(msg.data):
                self.reject("non_finite_input", f"input {msg.data} is not finite")
                return
            self.count("echoed")
            self.pub.publish(Float64(data=msg.data * self.config.gain))

    NODE_CLASS = EchoNode
    main = make_main(EchoNode)

    if __name__ == "__main__":
        sys.exit(main())

A node module must define ``NODE_CLASS`` (used when nodes are composed in one process)
and ``main(args=None)`` (the executable), and be listed in
:data:`qsat_pat.deployments.EXECUTABLES`.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import functools
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from qsat_pat.core.errors import ConfigError, QsatPatError
from qsat_pat.core.params import ConfigBase, param_spec
from qsat_pat.nodes.lockstep import (
    MATCH_QUERY,
    MIN_DEPTH,
    TIMERS_TOPIC,
    CounterBoard,
    LockstepTimer,
    deepened,
    lockstep_dir,
)

#: Period of the /diagnostics report [s].
DIAGNOSTICS_PERIOD_S = 1.0
#: Longest wait of one executor ``spin_once`` in :func:`run_nodes` (bounds the shutdown latency) [s].
SPIN_PERIOD_S = 0.1
#: Minimum interval between two log lines about the same kind of bad input [s].
BAD_INPUT_LOG_THROTTLE_S = 2.0


class Qos:
    """Named QoS profiles: use these, never a bare depth number in a node."""

    #: Camera frames and other high-rate measurements: best effort, keep the newest few.
    SENSOR: QoSProfile = qos_profile_sensor_data
    #: Measurements and estimates that every consumer must get (centroids, track
    #: estimates, actuator states): reliable, volatile, a short queue.
    STREAM: QoSProfile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=50,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
    #: Commands to actuators: reliable, volatile, short queue (a stale command is worse
    #: than none; the actuator's watchdog holds when they stop).
    COMMAND: QoSProfile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
    #: State, ephemeris, mode: reliable + transient local, depth 1 (latched: a late
    #: subscriber gets the last value at once).
    STATE: QoSProfile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=1,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

    @staticmethod
    def with_depth(profile: QoSProfile, depth: int) -> QoSProfile:
        """A copy of ``profile`` whose keep-last queue holds ``depth`` messages."""
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=profile.reliability,
                          durability=profile.durability)

    @staticmethod
    def camera(reliable: bool = False, depth: int | None = None) -> QoSProfile:
        """QoS of a camera-frame subscription.

        Default: :attr:`SENSOR` (best effort, keep last 5): a frame the node cannot take
        in time is dropped, the right behaviour for a live tracking camera.  ``reliable``
        makes the link reliable (the transport retransmits instead of losing frames; a
        reliable subscription only matches reliable publishers, a best-effort one matches
        both), for tests and recordings where every frame must be processed; ``depth``
        sets the keep-last queue [frames].
        """
        base = Qos.STREAM if reliable else Qos.SENSOR
        return Qos.with_depth(base, depth if depth is not None else base.depth)


def _ros_type(default: Any) -> ParameterType:
    if isinstance(default, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(default, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(default, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(default, str):
        return ParameterType.PARAMETER_STRING
    if isinstance(default, tuple):
        if all(isinstance(v, str) for v in default) and default:
            return ParameterType.PARAMETER_STRING_ARRAY
        if all(isinstance(v, bool) for v in default) and default:
            return ParameterType.PARAMETER_BOOL_ARRAY
        if all(isinstance(v, int) and not isinstance(v, bool) for v in default) and default:
            return ParameterType.PARAMETER_INTEGER_ARRAY
        if default == ():
            return ParameterType.PARAMETER_STRING_ARRAY
        return ParameterType.PARAMETER_DOUBLE_ARRAY
    raise ConfigError(f"no ROS parameter type for default {default!r}")


def parameter_descriptor(field: dataclasses.Field) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of a config field (description, unit, range, read-only)."""
    spec = param_spec(field)
    ptype = _ros_type(field.default)
    desc = ParameterDescriptor(
        name=field.name, type=int(ptype), description=spec.describe(), read_only=spec.read_only)
    if spec.choices:
        desc.additional_constraints = f"one of: {', '.join(spec.choices)}"
    lo, hi = spec.min_value, spec.max_value
    if ptype in (ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_DOUBLE_ARRAY) and (
        lo is not None and hi is not None
    ):
        desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    elif ptype in (ParameterType.PARAMETER_INTEGER, ParameterType.PARAMETER_INTEGER_ARRAY) and (
        lo is not None and hi is not None
    ):
        desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    elif lo is not None or hi is not None:
        desc.additional_constraints = (desc.additional_constraints + "; " if desc.additional_constraints else "") + (
            f"range [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        )
    return desc


class QsatPatNode(LifecycleNode):
    """Base class of every qsat_pat node (see the module docstring for the pattern).

    Subclasses set :attr:`config_class` and :attr:`default_name`, and override
    :meth:`on_setup` (create publishers/subscriptions/timers), optionally
    :meth:`on_teardown`, :meth:`on_config_changed`, :meth:`diagnostic_values`.
    """

    #: Frozen ConfigBase dataclass whose fields become the node's parameters.
    config_class: type[ConfigBase]
    #: Node name when none is given (launchers remap it).
    default_name: str = "qsat_pat_node"

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(node_name or self.default_name, **kwargs)
        self.counters: collections.Counter[str] = collections.Counter()
        self._lockstep: CounterBoard | None = None
        self._lockstep_timers: list[LockstepTimer] = []
        self._init_lockstep()
        self._fields = {f.name: f for f in dataclasses.fields(self.config_class)}
        self.declare_parameter(
            "autostart", True,
            ParameterDescriptor(description="configure and activate at start (false: wait for a lifecycle manager)",
                                read_only=True))
        values: dict[str, Any] = {}
        try:
            self._declare_config_parameters(values)
            self.config = self.config_class(**values)
        except (ConfigError, InvalidParameterValueException, InvalidParameterTypeException) as exc:
            # A parameter file with a bad value: refuse to start, naming the problem.
            raise ConfigError(f"node {self.get_fully_qualified_name()}: {exc}") from exc
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self.publish_diagnostics)
        self._active = False
        self._last_error = ""

    def _declare_config_parameters(self, values: dict[str, Any]) -> None:
        """Declare one parameter per config field; put the (overridden) values in ``values``."""
        for name, field in self._fields.items():
            desc = parameter_descriptor(field)
            if isinstance(field.default, tuple) and not field.default:
                # An empty array has no element type: declare it typed, uninitialised.
                ptype = (Parameter.Type.STRING_ARRAY if desc.type == ParameterType.PARAMETER_STRING_ARRAY
                         else Parameter.Type.DOUBLE_ARRAY)
                value = self.declare_parameter(name, ptype, desc).value
                values[name] = tuple(value) if value is not None else ()
                continue
            default = list(field.default) if isinstance(field.default, tuple) else field.default
            value = self.declare_parameter(name, default, desc).value
            values[name] = tuple(value) if isinstance(value, (list, tuple)) else value

    # -- parameters --------------------------------------------------------------------
    def _on_set_parameters(self, params: Sequence[Parameter]) -> SetParametersResult:
        changes = {}
        for p in params:
            if p.name in self._fields:
                v = p.value
                # arrays arrive as list, tuple or array.array (a remote set_parameters of doubles)
                changes[p.name] = tuple(v) if isinstance(v, (list, tuple, array.array)) else v
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = self.config.replace(**changes)
        except (ConfigError, TypeError, ValueError) as exc:
            self.count("parameter_rejected")
            self.get_logger().warning(f"parameter change refused: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        old, self.config = self.config, new
        try:
            self.on_config_changed(old, new)
        except QsatPatError as exc:
            self.config = old
            self.count("parameter_rejected")
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def on_config_changed(self, old: ConfigBase, new: ConfigBase) -> None:
        """Apply a validated configuration change (raise QsatPatError to refuse it)."""

    # -- lifecycle ---------------------------------------------------------------------
    def on_setup(self) -> None:
        """Create publishers, subscriptions and timers (called on configure)."""

    def on_teardown(self) -> None:
        """Release what :meth:`on_setup` took beyond subscriptions, timers and services
        (those the pattern releases itself): files, driver connections, threads.

        Runs on cleanup, shutdown and destruction; must be idempotent.
        """

    # Subscriptions, timers and services made from configure on (in on_setup, or later, e.g. a
    # timer re-made on a parameter change) are recorded and released by the pattern on
    # cleanup/shutdown/destruction, so nodes need no teardown bookkeeping of their own.
    # In a lockstep simulation (qsat_pat.nodes.lockstep) publishers and subscriptions are
    # also counted, the node's time comes from sim_world's shared word before each callback,
    # and timers run on the turns sim_world gives the node.
    def _guarded(self, callback, what: str):
        """``callback`` with a library error (:class:`QsatPatError`) it lets through caught,
        counted (``rejected_callback_error``) and logged: a node whose core refuses an input it
        did not check for keeps running (the last line of "bad input never stops a node";
        seen: a PAT manager stopped on "PAT time went backwards" when another run's clock
        reached it)."""

        @functools.wraps(callback)  # rclpy reads the signature (message-info callbacks)
        def guarded(*args):
            try:
                return callback(*args)
            except QsatPatError as exc:
                self.reject("callback_error", f"{what}: {exc}")
                return None

        return guarded

    def create_subscription(self, msg_type, topic: str, callback, qos_profile, **kwargs: Any):
        callback = self._guarded(callback, f"message on {topic}")
        board = getattr(self, "_lockstep", None)
        if board is not None:
            qos_profile = deepened(qos_profile)
            idx = board.slot("sub", self.resolve_topic_name(topic))
            inner = callback

            def callback(msg, _inner=inner, _idx=idx, _board=board):
                try:
                    self._lockstep_sync_time()
                    _inner(msg)
                finally:  # finished (its own publications are counted already)
                    _board.finished(_idx)
        return self._record_setup_handle(super().create_subscription(msg_type, topic, callback, qos_profile,
                                                                     **kwargs))

    def create_publisher(self, msg_type, topic: str, qos_profile, **kwargs: Any):
        board = getattr(self, "_lockstep", None)
        if board is None:
            return super().create_publisher(msg_type, topic, qos_profile, **kwargs)
        return self._counted(super().create_publisher(msg_type, topic, deepened(qos_profile), **kwargs))

    def create_lifecycle_publisher(self, msg_type, topic: str, qos_profile, **kwargs: Any):
        board = getattr(self, "_lockstep", None)
        if board is None:
            return super().create_lifecycle_publisher(msg_type, topic, qos_profile, **kwargs)
        return self._counted(super().create_lifecycle_publisher(msg_type, topic, deepened(qos_profile), **kwargs))

    def _counted(self, pub):
        board, idx, send = self._lockstep, self._lockstep.slot("pub", pub.topic_name), pub.publish
        self._lockstep_pubs.append((idx, pub))

        def publish(msg) -> None:
            sent = getattr(pub, "is_activated", True)  # a lifecycle publisher drops while inactive
            send(msg)
            if sent:
                board.bump(idx)

        pub.publish = publish
        return pub

    def create_timer(self, timer_period_sec: float, callback, *args: Any, **kwargs: Any):
        callback = self._guarded(callback, "timer")
        if getattr(self, "_lockstep", None) is not None:
            timer = LockstepTimer(timer_period_sec, callback)
            self._lockstep_timers.append(timer)
            self._lockstep_publish_due()  # due at the next turn
            return self._record_setup_handle(timer)
        return self._record_setup_handle(super().create_timer(timer_period_sec, callback, *args, **kwargs))

    def destroy_timer(self, timer) -> bool:
        if isinstance(timer, LockstepTimer):
            timer.cancel()
            if timer in self._lockstep_timers:
                self._lockstep_timers.remove(timer)
                self._lockstep_publish_due()
                return True
            return False
        return super().destroy_timer(timer)

    def _init_lockstep(self) -> None:
        """Join a lockstep simulation if :data:`qsat_pat.nodes.lockstep.LOCKSTEP_DIR_ENV` names one."""
        directory = lockstep_dir()
        if directory is None:
            return
        if not self.get_parameter("use_sim_time").value:
            self.get_logger().warning("lockstep directory set but use_sim_time is false: not joining the lockstep")
            return
        self._lockstep = CounterBoard(directory, self.get_fully_qualified_name())
        self._lockstep_pubs: list = []  # (slot, publisher): their matched readers on a MATCH_QUERY
        source = self._time_source  # rclpy's /clock subscription is replaced by a counted one
        if source._clock_sub is not None:
            self.destroy_subscription(source._clock_sub)
            source._clock_sub = None
        self._lockstep_ns: int | None = None
        reliable = QoSProfile(depth=MIN_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(String, TIMERS_TOPIC, self._on_lockstep_timers, reliable)
        self._lockstep_publish_due()

    def _lockstep_sync_time(self) -> None:
        """Take simulated time from sim_world's shared word (before every counted callback)."""
        ns = self._lockstep.sim_time_ns()
        if ns is not None and ns != self._lockstep_ns:
            self._lockstep_ns = ns
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(ns, 1_000_000_000)
            self._time_source.clock_callback(msg)

    def _on_lockstep_timers(self, msg) -> None:
        """``sim_world`` gives this node its turn: run the timers that are due (creation order);
        or asks every node for its writers' matched reader counts (start-up)."""
        if msg.data.startswith(MATCH_QUERY):
            for idx, pub in self._lockstep_pubs:
                try:
                    self._lockstep.set_matched(idx, pub.get_subscription_count())
                except Exception:
                    continue
            self._lockstep.answered_match_query(int(msg.data[len(MATCH_QUERY):]))
            return
        if msg.data != self.get_fully_qualified_name():
            return
        now_ns = self.get_clock().now().nanoseconds
        for timer in list(self._lockstep_timers):
            timer.fire_if_due(now_ns)
        self._lockstep_publish_due()

    def _lockstep_publish_due(self) -> None:
        due = [t.next_due_ns() for t in self._lockstep_timers if not t.is_canceled()]
        self._lockstep.set_next_due_ns(min((0 if d is None else d for d in due), default=None))

    def create_service(self, *args: Any, **kwargs: Any):
        return self._record_setup_handle(super().create_service(*args, **kwargs))

    def _record_setup_handle(self, handle):
        if getattr(self, "_configured", False):
            self._setup_handles.append(handle)
        return handle

    def _release_setup_handles(self) -> None:
        for handle in reversed(getattr(self, "_setup_handles", [])):
            kind = type(handle).__name__
            if kind == "Subscription":
                self.destroy_subscription(handle)
            elif kind in ("Timer", "LockstepTimer"):
                self.destroy_timer(handle)
            elif kind == "Service":
                self.destroy_service(handle)
        self._setup_handles = []
        self._configured = False

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._setup_handles = []
        self._configured = True
        try:
            self.on_setup()
        except QsatPatError as exc:
            self._last_error = str(exc)
            self.get_logger().error(f"configure failed: {exc}")
            self._release_setup_handles()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_setup_handles()
        self.on_teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._release_setup_handles()
        self.on_teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Release resources (also when no lifecycle shutdown transition ran) and destroy."""
        self._active = False
        self._release_setup_handles()
        self.on_teardown()
        super().destroy_node()

    @property
    def active(self) -> bool:
        """True between activate and deactivate: only then process input."""
        return self._active

    def autostart(self) -> bool:
        """Configure and activate if the ``autostart`` parameter is true; True if active."""
        if not self.get_parameter("autostart").value:
            return False
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise ConfigError(f"node {self.get_fully_qualified_name()} failed to configure: {self._last_error}")
        self.trigger_activate()
        return self._active

    # -- time, counters, diagnostics ----------------------------------------------------
    def now_s(self) -> float:
        """Node clock time [s] (simulation time when ``use_sim_time`` is true)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def count(self, what: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``what`` (reported on /diagnostics)."""
        self.counters[what] += n

    def reject(self, kind: str, message: str) -> None:
        """Count and log (throttled per kind) a piece of bad input; never raises."""
        self.counters["rejected_" + kind] += 1
        self._last_error = message
        self.get_logger().warning(
            f"{message} (rejected_{kind} = {self.counters['rejected_' + kind]})",
            throttle_duration_sec=BAD_INPUT_LOG_THROTTLE_S)

    def diagnostic_values(self) -> dict[str, Any]:
        """Extra key values for /diagnostics (override)."""
        return {}

    def diagnostic_level(self) -> tuple[bytes, str]:
        """(DiagnosticStatus level, message) of the report: WARN when input was rejected (override)."""
        rejected = sum(v for k, v in self.counters.items() if k.startswith("rejected_"))
        if not self._active:
            return DiagnosticStatus.WARN, "inactive"
        if rejected:
            return DiagnosticStatus.WARN, f"{rejected} inputs rejected; last: {self._last_error}"
        return DiagnosticStatus.OK, "ok"

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticStatus for this node on /diagnostics."""
        level, message = self.diagnostic_level()
        status = DiagnosticStatus(
            level=level, name=self.get_fully_qualified_name(),
            message=message, hardware_id=self.config_class.__name__)
        values = {**{k: v for k, v in sorted(self.counters.items())}, **self.diagnostic_values()}
        status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(arr)


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
