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

Where the pattern's code lives (this module re-exports their public names; every node
imports them from here): :mod:`qsat_pat.nodes.base` (:class:`QsatPatNode`),
:mod:`qsat_pat.nodes.qos` (:class:`Qos`), :mod:`qsat_pat.nodes.parameters` (config field ->
``ParameterDescriptor``) and :mod:`qsat_pat.nodes.runtime` (executors, :func:`run_nodes`,
:func:`make_main`).
"""

from qsat_pat.nodes.base import BAD_INPUT_LOG_THROTTLE_S, DIAGNOSTICS_PERIOD_S, QsatPatNode
from qsat_pat.nodes.parameters import parameter_descriptor
from qsat_pat.nodes.qos import Qos
from qsat_pat.nodes.runtime import (
    DEFAULT_EXECUTOR,
    EXECUTORS,
    SPIN_PERIOD_S,
    make_executor,
    make_main,
    run_nodes,
    split_executor_argument,
)

__all__ = [
    "BAD_INPUT_LOG_THROTTLE_S",
    "DEFAULT_EXECUTOR",
    "DIAGNOSTICS_PERIOD_S",
    "EXECUTORS",
    "SPIN_PERIOD_S",
    "Qos",
    "QsatPatNode",
    "make_executor",
    "make_main",
    "parameter_descriptor",
    "run_nodes",
    "split_executor_argument",
]
