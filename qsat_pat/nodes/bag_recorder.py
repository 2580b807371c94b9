"""Node ``bag_recorder``: records topics into a rosbag2 bag (MCAP + metadata.yaml).

``ros2 bag record`` is not installable here, and users replay passes with the tools they
already have (``ros2 bag``, Foxglove, ``rosbags``), so this node writes a real rosbag2
bag with the ``rosbags`` library from raw (serialised CDR) subscriptions: no
deserialisation, the bytes on the wire go to the file.

Topics: the ``topics`` parameter, or every topic of the graph when empty (rediscovered
every ``discovery_period_s``, minus ``exclude_topics``).  The subscription QoS adapts to
the publishers as rosbag2 does (best effort if any publisher is best effort, transient
local if all are).  Log time is the node clock's receive time (simulation time under
``use_sim_time``).  The bag is finalised on cleanup, shutdown or node destruction.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import StoragePlugin, Writer

from qsat_pat.core.bags import BagError, add_types, typestore_for
from qsat_pat.core.errors import ConfigError
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.nodes.pattern import QsatPatNode, make_main


@dataclass(frozen=True)
class RecorderConfig(ConfigBase):
    """Parameters of the bag recorder."""

    output_dir: str = param(
        "", "bag directory to create (must not exist); empty: bags/qsat_pat_<UTC time> in the working directory",
        read_only=True)
    topics: tuple = param((), "topics to record; empty: all topics of the graph")
    exclude_topics: tuple = param(("/parameter_events", "/rosout"), "topics never recorded")
    discovery_period_s: float = param(1.0, "period of topic discovery", unit="s", min_value=0.05, max_value=60.0)


class BagRecorderNode(QsatPatNode):
    """Records the graph's topics to a rosbag2 MCAP bag."""

    config_class = RecorderConfig
    default_name = "bag_recorder"

    def on_setup(self) -> None:
        out = self.config.output_dir or time.strftime("bags/qsat_pat_%Y%m%dT%H%M%SZ", time.gmtime())
        self.bag_path = Path(out)
        if self.bag_path.exists():
            raise ConfigError(f"bag directory {self.bag_path} exists: choose a new output_dir")
        self.bag_path.parent.mkdir(parents=True, exist_ok=True)
        self._typestore = typestore_for([])
        self._writer = Writer(self.bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {}
        self._subs = {}
        self._failed_types: set[str] = set()
        self._discovery = self.create_timer(self.config.discovery_period_s, self._discover)
        self.get_logger().info(f"recording to {self.bag_path}")

    def on_teardown(self) -> None:
        writer = getattr(self, "_writer", None)
        if writer is None:
            return
        for sub in self._subs.values():
            self.destroy_subscription(sub)
        self._subs.clear()
        self.destroy_timer(self._discovery)
        writer.close()
        self._writer = None
        total = sum(v for k, v in self.counters.items() if k.startswith("messages:"))
        text = f"bag {self.bag_path} closed: {total} messages on {len(self._connections)} topics"
        if self.context.ok():
            self.get_logger().info(text)
        else:  # after Ctrl-C the context is gone: /rosout cannot carry the line
            print(f"[{self.get_name()}] {text}", file=sys.stderr)

    def on_config_changed(self, old: RecorderConfig, new: RecorderConfig) -> None:
        if getattr(self, "_writer", None) is not None and new.discovery_period_s != old.discovery_period_s:
            self.destroy_timer(self._discovery)
            self._discovery = self.create_timer(new.discovery_period_s, self._discover)

    def _qos_for(self, topic: str) -> QoSProfile:
        infos = self.get_publishers_info_by_topic(topic)
        best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
        latched = bool(infos) and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=100,
            reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)

    def _discover(self) -> None:
        if not self.active or self._writer is None:
            return
        wanted = set(self.config.topics)
        for topic, types in self.get_topic_names_and_types():
            if topic in self._subs or topic in self.config.exclude_topics:
                continue
            if wanted and topic not in wanted:
                continue
            msgtype = types[0]
            if msgtype in self._failed_types:
                continue
            try:
                add_types(self._typestore, [msgtype])
                conn = self._writer.add_connection(topic, msgtype, typestore=self._typestore)
            except (BagError, KeyError, ValueError) as exc:
                self._failed_types.add(msgtype)
                self.reject("unknown_type", f"cannot record {topic} [{msgtype}]: {exc}")
                continue
            self._connections[topic] = conn
            msg_class = _import_msg_class(msgtype)
            self._subs[topic] = self.create_subscription(
                msg_class, topic, lambda data, t=topic: self._on_message(t, data), self._qos_for(topic), raw=True)
            self.count("topics")

    def _on_message(self, topic: str, data: bytes) -> None:
        if self._writer is None:
            return
        self._writer.write(self._connections[topic], self.get_clock().now().nanoseconds, data)
        self.count("messages:" + topic)

    def diagnostic_values(self) -> dict:
        return {"bag": str(getattr(self, "bag_path", ""))}


def _import_msg_class(msgtype: str):
    """``pkg/msg/Type`` -> the generated Python class."""
    import importlib

    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


NODE_CLASS = BagRecorderNode
main = make_main(BagRecorderNode)

if __name__ == "__main__":
    sys.exit(main())
