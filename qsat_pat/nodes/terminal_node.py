"""The node adapter of a terminal's decision objects (:mod:`qsat_pat.core.terminal`).

A :class:`TerminalNode` holds one decision object (its :attr:`TerminalNode.part`) and does
only plumbing: it subscribes to the object's input ports, converts each message to its wire
type (:func:`qsat_pat.nodes.convert.msg_to_wire`), hands it over with the node clock, and
publishes what comes back (:func:`~qsat_pat.nodes.convert.wire_to_msg`); the object's timers
become node timers.  An input the object refuses (:class:`~qsat_pat.core.errors.Rejected`)
is counted as ``rejected_<kind>`` and logged, throttled; the node goes on.  Outputs on a port
the node does not publish (a device command such as ``"driver"``) go to
:meth:`TerminalNode.on_device_output`, where a node with hardware sends them to its driver.

So the node holds no decision of its own: what it does is what the in-process simulation
(:mod:`qsat_pat.sim.terminal`) does with the same object.
"""

from __future__ import annotations

from typing import Any

from std_msgs.msg import String

import qsat_pat.msg as msgs
from qsat_pat.core.errors import Rejected
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.base import Port, TerminalPart
from qsat_pat.nodes.convert import msg_to_wire, wire_to_msg
from qsat_pat.nodes.pattern import Qos, QsatPatNode

#: Port QoS kind -> profile.
QOS = {"state": Qos.STATE, "stream": Qos.STREAM, "command": Qos.COMMAND, "sensor": Qos.SENSOR}


def message_class(name: str):
    """The ROS message class of a port's ``msg`` name."""
    return String if name == "String" else getattr(msgs, name)


def wire_class(name: str):
    """The wire class of a port's ``msg`` name (None: ``String`` is passed as its text)."""
    return None if name == "String" else getattr(wire, name)


class TerminalNode(QsatPatNode):
    """A lifecycle node around one decision object (see the module docstring).

    Subclasses set :attr:`config_class`, :attr:`part_class` and :attr:`default_name`;
    they may override :meth:`make_part`, :meth:`qos_for`, :meth:`on_device_output`,
    :meth:`setup_device` and :meth:`teardown_device` for their hardware.
    """

    #: The decision object's class (a :class:`~qsat_pat.core.terminal.base.TerminalPart`).
    part_class: type[TerminalPart]

    def make_part(self, config) -> TerminalPart:
        return self.part_class(config)

    def qos_for(self, port: Port):
        """QoS profile of a port (override to deepen a queue from the node's parameters)."""
        return QOS[port.qos]

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # -- set-up -----------------------------------------------------------------------------
    def on_setup(self) -> None:
        self.part = self.make_part(self.config)
        self.counters.update(self.part.counters)  # what it counted while being built
        self.part.counters = self.counters  # one set of counters on /diagnostics
        for text in self.part.notes:
            self.get_logger().info(text)
        self.part.notes.clear()
        self.pubs = {}
        self._msg_classes = {}
        for port in self.part.OUTPUTS:
            self._msg_classes[port.topic] = message_class(port.msg)
            self.pubs[port.topic] = self.create_lifecycle_publisher(self._msg_classes[port.topic], port.topic,
                                                                    self.qos_for(port))
        self.subs = [self.create_subscription(message_class(p.msg), p.topic, self._input(p), self.qos_for(p))
                     for p in self.part.inputs()]
        self._part_timers = {}
        self._make_timers()
        self.setup_device()

    def _make_timers(self) -> None:
        for timer in self._part_timers.values():
            self.destroy_timer(timer)
        self._periods = dict(self.part.timer_periods())
        self._part_timers = {name: self.create_timer(period, lambda n=name: self.tick(n))
                        for name, period in self._periods.items()}

    def setup_device(self) -> None:
        """Open the node's hardware (after the ports exist)."""

    def teardown_device(self) -> None:
        """Close the node's hardware (idempotent)."""

    def on_teardown(self) -> None:
        self.teardown_device()

    def on_config_changed(self, old, new) -> None:
        if getattr(self, "part", None) is None:
            return
        self.part.reconfigure(new)  # QsatPatError refuses the change
        if dict(self.part.timer_periods()) != self._periods:
            self._make_timers()

    # -- data flow --------------------------------------------------------------------------
    def _input(self, port: Port):
        handler_name, wcls = port.handler, wire_class(port.msg)

        def callback(msg) -> None:
            if not self.active:
                return
            w = msg.data if wcls is None else msg_to_wire(msg, wcls)
            self.dispatch(getattr(self.part, handler_name), w)

        callback.__name__ = f"on_{port.topic}"
        return callback

    def dispatch(self, handler, *args) -> None:
        """Call a decision object's handler with the node clock and publish its outputs."""
        try:
            outputs = handler(*args, self.now_ns())
        except Rejected as exc:
            self.reject(exc.kind, str(exc))
            return
        finally:
            notes = self.part.notes
            if notes:
                for text in notes:
                    self.get_logger().info(text)
                notes.clear()
        self.emit(outputs)

    def tick(self, name: str) -> None:
        if self.active:
            self.dispatch(lambda now_ns: self.part.on_timer(name, now_ns))

    def emit(self, outputs) -> None:
        for topic, w in outputs:
            pub = self.pubs.get(topic)
            if pub is None:
                self.on_device_output(topic, w)
                continue
            if isinstance(w, str):
                pub.publish(String(data=w))
            else:
                pub.publish(wire_to_msg(w, self._msg_classes[topic]))

    def on_device_output(self, port: str, value: Any) -> None:
        """An output for the node's hardware (default: there is none)."""

    def diagnostic_values(self) -> dict:
        part = getattr(self, "part", None)
        return part.diagnostic_values() if part is not None else {}
