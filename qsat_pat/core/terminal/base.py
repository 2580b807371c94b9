"""What every decision object of a terminal has: ports, timers, counters.

A decision object (``FineStage``, ``PatManager``, ...) declares the topics it reads and
writes as :class:`Port` entries -- relative topic names, as a node would subscribe to them
before its deployment's remaps, with the message type and the kind of QoS.  Each input port
names the method that takes its wire object and the clock (``now_ns``) and returns what to
publish, a list of ``(output topic, wire object)``.  Timers are named periods
(:meth:`TerminalPart.timer_periods`) whose ticks call :meth:`TerminalPart.on_timer`.

The node adapter (:mod:`qsat_pat.nodes.terminal_node`) builds its subscriptions, publishers
and timers from these declarations; the in-process simulation wires the same ports by the
deployment's remaps.  One declaration, two transports: the wiring cannot drift apart.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from qsat_pat.core.params import ConfigBase

__all__ = ["Outputs", "Port", "TerminalPart"]

#: What a handler returns: ``(output topic, wire object)`` pairs, in publication order.
Outputs = list[tuple[str, Any]]
#: QoS kinds (qsat_pat.nodes.qos.Qos profiles): latched state, reliable stream, command, sensor.
QOS_KINDS = ("state", "stream", "command", "sensor")


@dataclass(frozen=True)
class Port:
    """One topic of a decision object.

    Attributes
    ----------
    topic : str
        Relative topic name (the deployment remaps and namespaces it).
    msg : str
        Message type: a ``qsat_pat/msg`` name (``"BeaconCentroid"``) or ``"String"``.
    qos : str
        One of :data:`QOS_KINDS`.
    handler : str
        Input ports: the method taking ``(wire object, now_ns)``; empty for outputs.
    """

    topic: str
    msg: str
    qos: str
    handler: str = ""

    def __post_init__(self) -> None:
        if self.qos not in QOS_KINDS:
            raise ValueError(f"port {self.topic}: qos {self.qos!r} is not one of {QOS_KINDS}")


class TerminalPart:
    """Base of a terminal's decision objects (see the module docstring).

    Parameters
    ----------
    config : ConfigBase
        The node's parameters (the same frozen dataclass the node declares).
    """

    #: Topics read (with their handler) and written.
    INPUTS: tuple[Port, ...] = ()
    OUTPUTS: tuple[Port, ...] = ()

    def __init__(self, config: ConfigBase) -> None:
        self.config = config
        #: work done and inputs refused, reported on /diagnostics (node) or in the record (sim)
        self.counters: collections.Counter[str] = collections.Counter()
        #: what happened, for the log (the node logs and clears it after each call)
        self.notes: list[str] = []

    def inputs(self) -> tuple[Port, ...]:
        """The input ports in use with this configuration (default: all of :attr:`INPUTS`)."""
        return self.INPUTS

    def timer_periods(self) -> dict[str, float]:
        """Timers: name -> period [s] (ticks call :meth:`on_timer`)."""
        return {}

    def on_timer(self, name: str, now_ns: int) -> Outputs:
        """A tick of timer ``name`` at ``now_ns``."""
        raise NotImplementedError(f"{type(self).__name__} has no timer {name!r}")

    def reconfigure(self, config: ConfigBase) -> None:
        """A validated parameter change (raise QsatPatError to refuse it)."""
        self.config = config

    def diagnostic_values(self) -> dict[str, Any]:
        """Key values for /diagnostics."""
        return {}

    def count(self, what: str, n: int = 1) -> None:
        self.counters[what] += n
