"""``sim_world``'s side of the strict lockstep: :class:`QuiescenceMonitor`, which reads every
lockstep node's counter board and tells when the graph is quiet (every subscriber has
finished every message published since the baseline).

The scheme, the board layout and the node side (:class:`~qsat_pat.nodes.lockstep.CounterBoard`,
:class:`~qsat_pat.nodes.lockstep.LockstepTimer`) are in :mod:`qsat_pat.nodes.lockstep`.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from qsat_pat.core.errors import SimulationError
from qsat_pat.nodes.lockstep import (
    _HEADER,
    BOARD_WORDS,
    LOCKSTEP_DIR_ENV,
    MAX_SLOTS,
    SIM_TIME_FILE,
    WAKE_FIFO,
    _map,
    board_name,
)


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
