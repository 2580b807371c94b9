"""The base class of every qsat_pat node, :class:`QsatPatNode` (lifecycle node, parameters
from the config dataclass, counted bad input, ``/diagnostics``, clean shutdown, the
lockstep simulation's counted callbacks and timers), and its constants.

Part of the node pattern (:mod:`qsat_pat.nodes.pattern`, where the pattern is described).
"""

from __future__ import annotations

import array
import collections
import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from qsat_pat.core.errors import ConfigError, QsatPatError
from qsat_pat.core.params import ConfigBase
from qsat_pat.nodes.lockstep import (
    MATCH_QUERY,
    MIN_DEPTH,
    TIMERS_TOPIC,
    CounterBoard,
    LockstepTimer,
    deepened,
    lockstep_dir,
)
from qsat_pat.nodes.parameters import parameter_descriptor

#: Period of the /diagnostics report [s].
DIAGNOSTICS_PERIOD_S = 1.0
#: Minimum interval between two log lines about the same kind of bad input [s].
BAD_INPUT_LOG_THROTTLE_S = 2.0


class QsatPatNode(LifecycleNode):
    """Base class of every qsat_pat node (see :mod:`qsat_pat.nodes.pattern` for the pattern).

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
