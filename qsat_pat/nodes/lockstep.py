"""Strict lockstep for the simulator: message counters in shared memory and clock-driven timers.

Why: ``sim_world`` (:mod:`qsat_pat.sim.ros.sim_world`) advances simulated time only when the
nodes have answered the step.  Waiting for named answers (a centroid, a command) is not
enough for a bit-reproducible run: a node that gets two messages from two publishers in the
same step (the ephemeris state and a centroid, a PAT status and an FSM state) may take them
in either order, and a timer's output (the ephemeris node's 20 Hz state) may reach a consumer
before or after that consumer's next input.  This module makes the lockstep exact:

* every node of the lockstep runs with the environment variable :data:`LOCKSTEP_DIR_ENV`
  set to a directory; its :class:`CounterBoard` (a small memory-mapped file there, one per
  node) counts, per resolved topic, the messages it published and the messages whose
  callback has *finished*;
* ``sim_world``'s :class:`~qsat_pat.sim.ros.lockstep.QuiescenceMonitor` reads every board
  (no DDS traffic) and calls the graph quiet when every subscriber has finished as many
  messages as were published on its topic since the run started.  Reading all "taken"
  counters before all "published" ones makes the test safe: a callback publishes before its
  own input counts as taken, so work in flight always shows as an imbalance;
* simulated time is a word in shared memory (:data:`SIM_TIME_FILE`) that ``sim_world``
  sets at each step before it publishes anything; in lockstep mode the node pattern drops
  rclpy's ``/clock`` subscription and sets the node's ROS time from that word before every
  callback (a ``/clock`` message to ten nodes every millisecond wakes ten processes per
  step: the first version of this scheme spent about half of the nodes' CPU on it);
* the node's timers are :class:`LockstepTimer` objects fired when ``sim_world`` gives the
  node its turn on :data:`TIMERS_TOPIC` (a ``std_msgs/String`` naming the node), so a timer
  runs at a defined simulated instant, inside a counted callback.

``sim_world`` then publishes one group of messages and waits for quiet before the next:
each node whose timers are due, in name order; each frame; the mount encoders; the
satellite's attitude.  Each node sees its inputs in the same order in every run.  (Timers
fired by a ``/clock`` callback were not enough: a timer's output could reach a node that
had not had the new clock yet -- seen in the first runs of this scheme.)  Nodes wake
``sim_world`` through a FIFO (:data:`WAKE_FIFO`) when they finish a callback, so it does not
poll the counters while they work.  The counters live in files, not DDS, so the check
costs a few microseconds and adds no traffic to the graph it watches.

Start-up needs one more thing: the DDS graph showing a subscription does not mean every
writer on its topic has matched it yet, and a volatile message published before the match is
lost to it for good (seen once in CI: the first ``fsm_state`` never reached the satellite's
track predictor, and the first step's group timed out).  So ``sim_world`` asks every node,
with :data:`MATCH_QUERY` on :data:`TIMERS_TOPIC`, to write its writers' *matched* reader
counts (``Publisher.get_subscription_count``: the writer's own view) onto its board, and
starts only when each writer has matched every subscription the graph shows.

The board file is ``<dir>/<node name with / -> __>.counts``: int64 words, word 0 the number
of slots, word 1 the earliest due time of the node's timers (ns of ROS time, -1 none; 0: a
timer is due at the next turn), word 2 the number of the last match query answered, then one
counter per slot, then (from word ``3 + MAX_SLOTS``) one matched-reader count per publisher
slot; ``.json`` beside it names the slots (``[role, topic]``, role ``pub`` or ``sub``).
"""

from __future__ import annotations

import json
import mmap
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qsat_pat.core.errors import SimulationError

#: Environment variable naming the directory of the counter boards (unset: no lockstep).
LOCKSTEP_DIR_ENV = "QSAT_PAT_LOCKSTEP_DIR"
#: Topic on which sim_world gives one node (``std_msgs/String``: its full name) its timers' turn.
TIMERS_TOPIC = "/sim/lockstep_timers"
#: Prefix of a :data:`TIMERS_TOPIC` message asking every node for its writers' matched
#: reader counts (followed by the query's number, which the node writes to word 2 when done).
MATCH_QUERY = "?matched "
#: FIFO in the lockstep directory on which nodes wake sim_world when they finish a callback.
WAKE_FIFO = "wake.fifo"
#: File in the lockstep directory holding simulated time (one int64, ns of ROS time).
SIM_TIME_FILE = "sim_time"
#: Counter slots per node (publishers + subscriptions).
MAX_SLOTS = 96
#: Queue depth every lockstep publisher and subscription gets at least: a depth-1 latched
#: topic that is published twice in one step would otherwise lose a counted message.
MIN_DEPTH = 10
_HEADER = 3
#: Words of one board: header, counters, matched-reader counts.
BOARD_WORDS = _HEADER + 2 * MAX_SLOTS


def deepened(qos_profile):
    """``qos_profile`` (a QoSProfile or a depth) with a keep-last queue of at least :data:`MIN_DEPTH`."""
    from rclpy.qos import HistoryPolicy, QoSProfile

    if isinstance(qos_profile, int):
        return max(qos_profile, MIN_DEPTH)
    if qos_profile.history == HistoryPolicy.KEEP_LAST and qos_profile.depth < MIN_DEPTH:
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=MIN_DEPTH, reliability=qos_profile.reliability,
                          durability=qos_profile.durability)
    return qos_profile


def _map(path: Path, create: bool, words: int = BOARD_WORDS) -> np.ndarray:
    """``words`` int64 words of ``path``, memory-mapped shared (a plain ndarray view: cheap to index)."""
    size = 8 * words
    if create:
        with open(path, "wb") as f:
            f.write(b"\0" * size)
    with open(path, "r+b" if create else "rb") as f:
        mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_WRITE if create else mmap.ACCESS_READ)
    return np.frombuffer(mm, dtype=np.int64)


def board_name(fqn: str) -> str:
    """File stem of a node's counter board (``/ogs/pat_manager`` -> ``ogs__pat_manager``)."""
    return fqn.strip("/").replace("/", "__") or "root"


def lockstep_dir() -> Path | None:
    """The lockstep directory from the environment (None: not in a lockstep run)."""
    value = os.environ.get(LOCKSTEP_DIR_ENV, "").strip()
    return Path(value) if value else None


class CounterBoard:
    """One node's counters (writer side; see the module docstring for the layout)."""

    def __init__(self, directory: Path, node_fqn: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stem = board_name(node_fqn)
        self.node_fqn = node_fqn
        self.path = directory / f"{stem}.counts"
        self.table_path = directory / f"{stem}.json"
        self.words = _map(self.path, create=True)
        self.words[1] = -1
        self.fifo_path = directory / WAKE_FIFO
        self._fifo: int | None = None
        self._fifo_retry_s = 0.0
        self._time: np.ndarray | None = None
        self.slots: list[tuple[str, str]] = []
        self._index: dict[tuple[str, str], int] = {}
        self._write_table()

    def slot(self, role: str, topic: str) -> int:
        """Index of the counter of ``(role, topic)`` (made on first use)."""
        key = (role, topic)
        idx = self._index.get(key)
        if idx is None:
            if len(self.slots) >= MAX_SLOTS:
                raise SimulationError(f"{self.node_fqn}: more than {MAX_SLOTS} counted topics")
            idx = _HEADER + len(self.slots)
            self.slots.append(key)
            self._index[key] = idx
            self._write_table()
            self.words[0] = len(self.slots)
        return idx

    def bump(self, idx: int) -> None:
        """Count one message on the slot ``idx``."""
        self.words[idx] += 1

    def finished(self, idx: int) -> None:
        """Count one finished callback on the slot ``idx`` and wake ``sim_world`` (one byte
        on the directory's FIFO, so it need not poll while nodes work)."""
        self.words[idx] += 1
        fd = self._fifo
        if fd is None:
            now = time.monotonic()
            if now < self._fifo_retry_s:
                return
            try:  # no reader yet (sim_world not attached): ENXIO; try again a little later
                fd = self._fifo = os.open(self.fifo_path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                self._fifo_retry_s = now + 0.2
                return
        try:
            os.write(fd, b"\x01")
        except BlockingIOError:  # the pipe is full: sim_world has wake-ups pending anyway
            pass
        except OSError:  # sim_world went away
            os.close(fd)
            self._fifo = None

    def sim_time_ns(self) -> int | None:
        """Simulated time ``sim_world`` set for the step (None until it has set one)."""
        if self._time is None:
            path = self.fifo_path.parent / SIM_TIME_FILE
            if not path.exists():
                return None
            self._time = _map(path, create=False, words=1)
        ns = int(self._time[0])
        return ns if ns > 0 else None

    def set_next_due_ns(self, ns: int | None) -> None:
        """Publish the earliest due time of the node's timers (None: no timer)."""
        self.words[1] = -1 if ns is None else int(ns)

    def set_matched(self, idx: int, n_readers: int) -> None:
        """Record the matched reader count of the publisher on slot ``idx``."""
        self.words[idx + MAX_SLOTS] = int(n_readers)

    def answered_match_query(self, number: int) -> None:
        """Mark match query ``number`` answered (every matched count written)."""
        self.words[2] = int(number)

    def _write_table(self) -> None:
        tmp = self.table_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"node": self.node_fqn, "slots": [list(s) for s in self.slots]}))
        os.replace(tmp, self.table_path)


class LockstepTimer:
    """A timer fired by the node's counted ``/clock`` callback (duck-types rclpy's Timer).

    It fires on the first clock message after it was made (or reset), then each time ROS
    time reaches the next period; periods that a jump of the clock skipped are not made up
    (as rcl's timers do).
    """

    def __init__(self, period_s: float, callback: Callable[[], None]) -> None:
        self.timer_period_ns = int(round(float(period_s) * 1e9))
        if self.timer_period_ns <= 0:
            raise ValueError(f"timer period must be positive, got {period_s} s")
        self.callback = callback
        self._next_ns: int | None = None
        self._canceled = False

    def cancel(self) -> None:
        self._canceled = True

    def is_canceled(self) -> bool:
        return self._canceled

    def reset(self) -> None:
        self._canceled = False
        self._next_ns = None

    def next_due_ns(self) -> int | None:
        """ROS time at which the timer fires next (None: at the next clock message)."""
        return None if self._canceled else self._next_ns

    def fire_if_due(self, now_ns: int) -> bool:
        """Run the callback if the timer is due at ``now_ns``; True if it ran."""
        if self._canceled or (self._next_ns is not None and now_ns < self._next_ns):
            return False
        nxt = (now_ns if self._next_ns is None else self._next_ns) + self.timer_period_ns
        self._next_ns = nxt if nxt > now_ns else now_ns + self.timer_period_ns
        self.callback()
        return True
