"""Strict lockstep for the simulator: message counters in shared memory and clock-driven timers.

Why: ``sim_world`` (:mod:`qsat_pat.nodes.sim_world`) advances simulated time only when the
nodes have answered the step.  Waiting for named answers (a centroid, a command) is not
enough for a bit-reproducible run: a node that gets two messages from two publishers in the
same step (the ephemeris state and a centroid, a PAT status and an FSM state) may take them
in either order, and a timer's output (the ephemeris node's 20 Hz state) may reach a consumer
before or after that consumer's next input.  This module makes the lockstep exact:

* every node of the lockstep runs with the environment variable :data:`LOCKSTEP_DIR_ENV`
  set to a directory; its :class:`CounterBoard` (a small memory-mapped file there, one per
  node) counts, per resolved topic, the messages it published and the messages whose
  callback has *finished*;
* ``sim_world``'s :class:`QuiescenceMonitor` reads every board (no DDS traffic) and calls the
  graph quiet when every subscriber has finished as many messages as were published on its
  topic since the run started.  Reading all "taken" counters before all "published" ones
  makes the test safe: a callback publishes before its own input counts as taken, so work in
  flight always shows as an imbalance;
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
import select
import time
from collections.abc import Callable, Iterable
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


class _Board:
    """Reader view of one node's board."""

    def __init__(self, directory: Path, fqn: str) -> None:
        self.fqn = fqn
        stem = board_name(fqn)
        self.path = directory / f"{stem}.counts"
        self.table_path = directory / f"{stem}.json"
        self.words = _map(self.path, create=False)
        self.n_slots = -1
        self.slots: list[tuple[str, str]] = []
        self.reload()

    def reload(self) -> None:
        n = int(self.words[0])
        table = json.loads(self.table_path.read_text())
        self.slots = [(str(r), str(t)) for r, t in table["slots"]][:max(n, 0)]
        self.n_slots = len(self.slots)


class QuiescenceMonitor:
    """``sim_world``'s view of the lockstep nodes' boards (see the module docstring).

    Parameters
    ----------
    directory : Path
        The lockstep directory (:data:`LOCKSTEP_DIR_ENV` of the nodes).
    node_names : iterable of str
        Fully qualified names of the nodes whose work the lockstep waits for.
    """

    def __init__(self, directory: Path, node_names: Iterable[str]) -> None:
        self.directory = Path(directory)
        self.node_names = tuple(node_names)
        self.boards: list[_Board] = []
        self.own_pub: dict[str, int] = {}
        self.own_take: dict[str, int] = {}
        self._base: list[np.ndarray] = []
        self._own_pub_base: dict[str, int] = {}
        self._own_take_base: dict[str, int] = {}
        self._fifo: int | None = None
        self._time: np.ndarray | None = None

    # -- set-up ---------------------------------------------------------------------------
    def attach(self, timeout_s: float = 30.0, check: Callable[[], None] | None = None) -> None:
        """Open every node's board (they appear when the nodes start).

        Raises
        ------
        SimulationError
            A board is missing after ``timeout_s``: that node does not run in lockstep mode
            (started without :data:`LOCKSTEP_DIR_ENV`, or not on simulated time).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            missing = [n for n in self.node_names
                       if not (self.directory / f"{board_name(n)}.json").exists()]
            if not missing:
                break
            if check is not None:
                check()
            if time.monotonic() > deadline:
                raise SimulationError(
                    f"no lockstep counters from {', '.join(missing)} in {self.directory} after {timeout_s:.0f} s: "
                    f"start those nodes with {LOCKSTEP_DIR_ENV}={self.directory} and use_sim_time")
            time.sleep(0.05)
        self.boards = [_Board(self.directory, n) for n in self.node_names]
        self._time = _map(self.directory / SIM_TIME_FILE, create=True, words=1)
        fifo = self.directory / WAKE_FIFO
        if not fifo.exists():
            os.mkfifo(fifo)
        if self._fifo is None:
            self._fifo = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def set_time_ns(self, ns: int) -> None:
        """Simulated time of the step: a node takes it before each callback (set before
        ``sim_world`` publishes anything of the step, so every callback of the step sees it)."""
        self._time[0] = int(ns)

    def wait(self, timeout_s: float) -> None:
        """Block until a node finishes a callback (or ``timeout_s``); call :meth:`drain` first."""
        if self._fifo is None:
            time.sleep(timeout_s)
            return
        select.select([self._fifo], [], [], timeout_s)

    def drain(self) -> None:
        """Forget the wake-ups received so far (before looking at the counters)."""
        if self._fifo is None:
            return
        try:
            while os.read(self._fifo, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close the wake-up FIFO."""
        if self._fifo is not None:
            os.close(self._fifo)
            self._fifo = None

    def count_publish(self, topic: str, n: int = 1) -> None:
        """Count a message ``sim_world`` published on ``topic``."""
        self.own_pub[topic] = self.own_pub.get(topic, 0) + n

    def count_take(self, topic: str) -> None:
        """Count a message ``sim_world``'s own subscription on ``topic`` finished."""
        self.own_take[topic] = self.own_take.get(topic, 0) + 1

    def rebase(self) -> None:
        """Take the current counters as the reference (the graph must be quiet now)."""
        for b in self.boards:
            if int(b.words[0]) != b.n_slots:
                b.reload()
        self._base = self._snapshot()
        self._own_pub_base = dict(self.own_pub)
        self._own_take_base = dict(self.own_take)
        self._make_plan()

    def _snapshot(self) -> np.ndarray:
        """Every board's words, one flat int64 array (board i at ``i * (header + slots)``)."""
        return np.concatenate([b.words for b in self.boards]) if self.boards else np.zeros(0, dtype=np.int64)

    def _make_plan(self) -> None:
        """Index arrays of the publisher and subscriber counters, by topic (vectorised test)."""
        stride = BOARD_WORDS
        topics = sorted({t for b in self.boards for _, t in b.slots} | set(self.own_pub) | set(self.own_take))
        self._topics = topics
        self._tix = {t: i for i, t in enumerate(topics)}
        pub_flat, pub_t, sub_flat, sub_t, sub_node = [], [], [], [], []
        for i, b in enumerate(self.boards):
            for j, (role, topic) in enumerate(b.slots):
                if role == "pub":
                    pub_flat.append(i * stride + _HEADER + j)
                    pub_t.append(self._tix[topic])
                else:
                    sub_flat.append(i * stride + _HEADER + j)
                    sub_t.append(self._tix[topic])
                    sub_node.append(i)
        self._pub_flat, self._pub_t = np.array(pub_flat, dtype=np.intp), np.array(pub_t, dtype=np.intp)
        self._sub_flat, self._sub_t = np.array(sub_flat, dtype=np.intp), np.array(sub_t, dtype=np.intp)
        self._sub_node = sub_node
        self._has_node_pub = np.zeros(len(topics), dtype=bool)
        self._has_node_pub[self._pub_t] = True

    # -- the test -------------------------------------------------------------------------
    def imbalance(self) -> tuple[str, str, int, int] | None:
        """The first subscriber behind its publishers, as ``(node, topic, finished, published)``
        counted since :meth:`rebase`; None when the graph is quiet (``sim_world``'s own
        subscriptions included, under the node name ``sim_world``).

        Every board is read for the "finished" counts before it is read again for the
        "published" ones: a callback publishes before it counts its input as finished, so
        work in flight always shows.
        """
        if any(int(b.words[0]) != b.n_slots for b in self.boards) or any(
                t not in self._tix for t in (*self.own_pub, *self.own_take)):
            # a node made a new publisher or subscription: re-read its table (new counters
            # were zero at the baseline, so the baseline stays valid)
            for b in self.boards:
                if int(b.words[0]) != b.n_slots:
                    b.reload()
            self._make_plan()
        taken = self._snapshot()
        published = self._snapshot()
        sent = np.bincount(self._pub_t, weights=published[self._pub_flat] - self._base[self._pub_flat],
                           minlength=len(self._topics))
        has_pub = self._has_node_pub.copy()
        for topic, n in self.own_pub.items():
            k = self._tix[topic]
            sent[k] += n - self._own_pub_base.get(topic, 0)
            has_pub[k] = True
        done = taken[self._sub_flat] - self._base[self._sub_flat]
        due = sent[self._sub_t]
        lag = np.flatnonzero(has_pub[self._sub_t] & (done < due))
        if lag.size:
            j = int(lag[0])
            return (self.boards[self._sub_node[j]].fqn, self._topics[self._sub_t[j]], int(done[j]), int(due[j]))
        for topic, n in self.own_take.items():
            k = self._tix.get(topic)
            if k is None or not has_pub[k]:
                continue
            got = n - self._own_take_base.get(topic, 0)
            if got < sent[k]:
                return "sim_world", topic, got, int(sent[k])
        return None

    def taken_total(self, topic: str) -> dict[str, int]:
        """Absolute number of messages on ``topic`` each subscribing node has finished."""
        out = {}
        for b in self.boards:
            for j, (role, t) in enumerate(b.slots):
                if role == "sub" and t == topic:
                    out[b.fqn] = int(b.words[_HEADER + j])
        return out

    def unmatched_writers(self, readers_of: Callable[[str], int]) -> list[str]:
        """Lockstep writers that have matched fewer readers than ``readers_of(topic)`` (the
        subscriptions the DDS graph shows), as ``"node topic matched/readers"``; read after
        every node has answered a :data:`MATCH_QUERY`."""
        short = []
        for b in self.boards:
            b.reload()
            for j, (role, topic) in enumerate(b.slots):
                if role != "pub":
                    continue
                matched, want = int(b.words[_HEADER + MAX_SLOTS + j]), int(readers_of(topic))
                if matched < want:
                    short.append(f"{b.fqn} {topic} {matched}/{want}")
        return short

    def answered(self, number: int) -> list[str]:
        """Nodes that have not answered match query ``number`` yet."""
        return [b.fqn for b in self.boards if int(b.words[2]) < number]

    def due_nodes(self, now_ns: int) -> list[str]:
        """Nodes (name order) with a timer due at ``now_ns``."""
        return sorted(b.fqn for b in self.boards if 0 <= int(b.words[1]) <= now_ns)
