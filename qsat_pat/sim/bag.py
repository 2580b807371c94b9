"""Write a simulated pass (SimRecord) as a rosbag2 bag (MCAP + metadata.yaml).

The direct mode has no DDS traffic to record, so this writes what the ROS graph would
carry for the same pass, on the same topic names, with ``rosbags`` serialisation (no
rclpy): the bag then replays and analyses like one recorded from the nodes.

Topics per terminal ``T`` (``ogs``, ``space``):

* ``/T/pat_status`` (qsat_pat/PatStatus): on every state change and at 1 Hz;
* ``/T/fsm/state`` (qsat_pat/ActuatorState, STAGE_FSM): FSM deflection, decimated to
  ``state_rate_hz``;
* ``/T/sim/fine_residual`` (geometry_msgs/Vector3Stamped): truth fine residual [rad] (x, y),
  z = 1 if the beacon was detected, decimated to ``state_rate_hz``;
* ``/T/sim/link_loss_db`` (std_msgs/Float64): receive link loss, at 10 Hz;

and ``/clock`` (rosgraph_msgs/Clock) at 10 Hz.  Log times are simulation time from the
scenario start (``t0_unix_s`` added when given, so stamps are absolute UTC).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from qsat_pat.core.bags import make_message, time_msg, typestore_for
from qsat_pat.core.pat import PatState
from qsat_pat.sim.record import SimRecord

TYPES = ("qsat_pat/msg/PatStatus", "qsat_pat/msg/ActuatorState", "geometry_msgs/msg/Vector3Stamped",
         "std_msgs/msg/Float64", "rosgraph_msgs/msg/Clock")


def _every(t: np.ndarray, rate_hz: float) -> np.ndarray:
    """Indices of the first sample in each 1/rate_hz bin of ``t``."""
    if not len(t):
        return np.array([], dtype=int)
    bins = np.floor((t - t[0]) * rate_hz + 1e-6).astype(np.int64)  # 1e-6: float noise of t
    return np.flatnonzero(np.concatenate(([True], np.diff(bins) > 0)))


def write_bag(record: SimRecord, path: Path, *, t0_unix_s: float = 0.0, state_rate_hz: float = 100.0) -> Path:
    """Write ``record`` into a new bag directory ``path`` (must not exist); returns it."""
    record.finish()
    store = typestore_for(TYPES)
    path = Path(path)

    def ns(t_s: float) -> int:
        return int(round((t0_unix_s + float(t_s)) * 1e9))

    def header(t_s: float, frame: str):
        return make_message(store, "std_msgs/msg/Header", stamp=time_msg(store, ns(t_s)), frame_id=frame)

    messages: list[tuple[int, str, str, object]] = []
    t_all = []
    for name, rec in record.terminals.items():
        t, states = rec["t_s"], rec["pat_state"]
        if not len(t):
            continue
        t_all.append(t)
        change = np.flatnonzero(np.concatenate(([True], np.diff(states) != 0)))
        idx = np.union1d(change, _every(t, 1.0))
        since = t[0]
        prev = int(states[0])
        for i in idx:
            s = int(states[i])
            if i in change and i > 0:
                prev, since = int(states[i - 1]), t[i]
            msg = make_message(
                store, "qsat_pat/msg/PatStatus", header=header(t[i], name), terminal=name, state=s,
                state_name=PatState(s).name, previous_state=prev, since=time_msg(store, ns(since)),
                reason="simulated", laser_enabled=s == int(PatState.FINE_TRACK))
            messages.append((ns(t[i]), f"/{name}/pat_status", "qsat_pat/msg/PatStatus", msg))
        for i in _every(t, state_rate_hz):
            fsm = rec["fsm_rad"][i]
            msg = make_message(store, "qsat_pat/msg/ActuatorState", header=header(t[i], f"{name}_fsm"),
                               stage=0, mode=0, axis1_rad=float(fsm[0]), axis2_rad=float(fsm[1]),
                               at_limit=bool(rec["fsm_saturated"][i]))
            messages.append((ns(t[i]), f"/{name}/fsm/state", "qsat_pat/msg/ActuatorState", msg))
            r = rec["fine_residual_rad"][i]
            vec = make_message(store, "geometry_msgs/msg/Vector3", x=float(r[0]), y=float(r[1]),
                               z=1.0 if rec["beacon_detected"][i] else 0.0)
            msg = make_message(store, "geometry_msgs/msg/Vector3Stamped", header=header(t[i], name), vector=vec)
            messages.append((ns(t[i]), f"/{name}/sim/fine_residual", "geometry_msgs/msg/Vector3Stamped", msg))
        for i in _every(t, 10.0):
            msg = make_message(store, "std_msgs/msg/Float64", data=float(rec["link_loss_db"][i]))
            messages.append((ns(t[i]), f"/{name}/sim/link_loss_db", "std_msgs/msg/Float64", msg))
    if t_all:
        t = np.unique(np.concatenate(t_all))
        for i in _every(t, 10.0):
            msg = make_message(store, "rosgraph_msgs/msg/Clock", clock=time_msg(store, ns(t[i])))
            messages.append((ns(t[i]), "/clock", "rosgraph_msgs/msg/Clock", msg))
    messages.sort(key=lambda m: m[0])
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for _, topic, msgtype, _ in messages:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
        for t_ns, topic, msgtype, msg in messages:
            writer.write(conns[topic], t_ns, store.serialize_cdr(msg, msgtype))
    return path
