"""A mount driver's blocking I/O on its own thread (what ``gimbal_controller`` holds).

Driver I/O never runs on the executor thread: a :class:`DriverWorker` thread owns the driver
and performs its blocking socket calls (each bounded by the driver's timeout, with one
reconnect).  The node's timer only posts the newest set-point (or stop) and a position
request into a one-slot mailbox and reads the worker's last results, so a dead rotator (each
call up to ~2 x timeout) cannot stall the timer, the subscriptions or the diagnostics.  A
one-slot mailbox rather than a queue: a stale mount set-point is worse than none, so while
the worker is blocked newer set-points replace older ones and the backlog never grows.  The
worker's fault (the driver's reason, or "I/O stalled" when one call has been blocked longer
than ``stall_s``) is reported in ``mount_state``.  (Alternative considered: a
MutuallyExclusiveCallbackGroup + MultiThreadedExecutor; rejected because the node runs under
the shared single-threaded executor when composed, and a blocked callback would still hold
one executor thread per call.)
"""

from __future__ import annotations

import threading
import time

__all__ = ["DriverWorker"]


class DriverWorker:
    """Runs a :class:`~qsat_pat.drivers.base.MountDriver`'s blocking calls on its own thread.

    The caller (the executor thread) never blocks: :meth:`submit` puts the newest command
    into a one-slot mailbox (replacing an unsent older one), :meth:`request_reading` asks
    for a position read, and :meth:`status` returns the last reading and the fault.

    Parameters
    ----------
    driver : MountDriver
        Owned by the worker from now on (closed by :meth:`close`).
    stall_s : float
        A call blocked longer than this is reported as a fault [s] (wall clock: I/O time).
    """

    def __init__(self, driver, stall_s: float) -> None:
        self.driver = driver
        self.stall_s = float(stall_s)
        self._cv = threading.Condition()
        self._command: tuple | None = None
        self._read_t: float | None = None
        self._stop = False
        self._busy_since: float | None = None
        self.reading = None
        self.fault_reason = ""
        self.calls = 0
        self.refusals: list[str] = []
        self.crash_reason = ""
        self.thread = threading.Thread(target=self._run, name="mount_driver", daemon=True)
        self.thread.start()

    def submit(self, command: tuple) -> None:
        """Queue ``("set", az_rad, el_rad)`` or ``("stop",)``; replaces a command not yet sent."""
        with self._cv:
            self._command = command
            self._cv.notify()

    def request_reading(self, t_s: float) -> None:
        """Ask for a position reading stamped ``t_s`` [s] (node clock)."""
        with self._cv:
            self._read_t = float(t_s)
            self._cv.notify()

    def _run(self) -> None:
        from qsat_pat.drivers.base import DriverError

        while True:
            with self._cv:
                while not self._stop and self._command is None and self._read_t is None:
                    self._cv.wait()
                if self._stop:
                    return
                command, self._command = self._command, None
                read_t, self._read_t = self._read_t, None
                self._busy_since = time.monotonic()
            reading, refusal = None, None
            try:
                if command is not None:
                    if command[0] == "set":
                        self.driver.set_position(command[1], command[2])
                    else:
                        self.driver.stop()
                if read_t is not None:
                    reading = self.driver.get_position(read_t)
            except DriverError as exc:  # refused before sending (limits, NaN): the device is fine
                refusal = str(exc)
            except Exception as exc:  # a driver bug must show as a fault, not as a silently dead thread
                with self._cv:
                    self._busy_since = None
                    self.crash_reason = f"mount driver thread stopped: {type(exc).__name__}: {exc}"
                return
            finally:
                with self._cv:
                    self._busy_since = None
                    self.calls += 1
                    self.fault_reason = self.driver.fault_reason
                    if reading is not None:
                        self.reading = reading
                    if refusal is not None:
                        self.refusals.append(refusal)

    def status(self) -> tuple[object, str, list[str]]:
        """(last reading or None, fault reason or "", refusals since the last call)."""
        with self._cv:
            fault = self.crash_reason or self.fault_reason
            if self._busy_since is not None:
                blocked = time.monotonic() - self._busy_since
                if blocked > self.stall_s:
                    fault = f"mount driver I/O stalled for {blocked:.1f} s" + (f" ({fault})" if fault else "")
            refusals, self.refusals = self.refusals, []
            return (None if fault else self.reading), fault, refusals

    def close(self, join_timeout_s: float = 5.0) -> None:
        """Stop the thread (waits for a blocked call up to ``join_timeout_s``) and close the driver."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self.thread.join(timeout=join_timeout_s)
        self.driver.close()
