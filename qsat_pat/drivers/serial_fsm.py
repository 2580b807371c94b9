"""Serial FSM driver with a documented ASCII command set, over any byte stream.

pyserial is not installed in this project, so the driver is written against a small
line transport (:class:`LineTransport`): :class:`StreamLineTransport` wraps any
file-like object with ``write(bytes)`` / ``readline()`` -- a ``serial.Serial`` opened
with a ``timeout`` fits as is -- and :class:`SocketLineTransport` talks TCP (a
serial-to-Ethernet bridge, or the fake device in tests).

Command set (ASCII, one command per line terminated by ``\\n``, one reply line each;
angles in microradians, mechanical, decimal text):

==============================  =========================================  ================
command                         meaning                                    reply
==============================  =========================================  ================
``IDN?``                        identify                                   ``IDN <text>``
``RNG?``                        range per axis (+-)                        ``RNG <urad>``
``MOV <tip_urad> <tilt_urad>``  go to (tip, tilt)                          ``OK``
``POS?``                        measured position                          ``POS <tip> <tilt>``
``HLD``                         hold the current position (safe state)     ``OK``
any error                                                                  ``ERR <code> <text>``
==============================  =========================================  ================

Error codes: 1 unknown command, 2 bad argument (not a finite number), 3 out of range.
The driver checks finiteness and range before sending, so codes 2/3 from the device
mean a configuration mismatch and put the driver in fault.
"""

from __future__ import annotations

import abc
import math
import socket

from qsat_pat.drivers.base import DriverError, FsmDriver, StageReading, check_finite


class LineTransport(abc.ABC):
    """Line-oriented byte transport with a bounded read time."""

    @abc.abstractmethod
    def write_line(self, line: bytes) -> None:
        """Send ``line`` (without the newline)."""

    @abc.abstractmethod
    def read_line(self) -> bytes | None:
        """One reply line without the newline, or None on timeout."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the transport (idempotent)."""


class StreamLineTransport(LineTransport):
    """Transport over a file-like object (``serial.Serial(timeout=...)``, a pipe, BytesIO).

    ``readline()`` of the object must return within its own timeout (b"" on timeout).
    """

    def __init__(self, stream) -> None:
        self._stream = stream

    def write_line(self, line: bytes) -> None:
        self._stream.write(line + b"\n")
        flush = getattr(self._stream, "flush", None)
        if flush is not None:
            flush()

    def read_line(self) -> bytes | None:
        data = self._stream.readline()
        if not data or not data.endswith(b"\n"):
            return None
        return data.rstrip(b"\r\n")

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class SocketLineTransport(LineTransport):
    """TCP transport with connect/read timeouts (connects lazily, reconnects after errors)."""

    def __init__(self, host: str, port: int, timeout_s: float = 0.5) -> None:
        if not (math.isfinite(timeout_s) and 0 < timeout_s <= 60):
            raise DriverError(f"timeout_s {timeout_s!r} must be in (0, 60] s")
        self.host, self.port, self.timeout_s = host, int(port), float(timeout_s)
        self._sock: socket.socket | None = None
        self._buf = b""

    def _ensure(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._sock.settimeout(self.timeout_s)
            self._buf = b""
        return self._sock

    def write_line(self, line: bytes) -> None:
        try:
            self._ensure().sendall(line + b"\n")
        except OSError:
            self.close()
            raise

    def read_line(self) -> bytes | None:
        try:
            sock = self._ensure()
            while b"\n" not in self._buf:
                chunk = sock.recv(4096)
                if not chunk:
                    self.close()
                    return None
                self._buf += chunk
        except OSError:  # timeout or reset: drop the connection, report no reply
            self.close()
            return None
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""


class SerialFsm(FsmDriver):
    """FSM driver speaking the ASCII command set above.

    Parameters
    ----------
    transport : LineTransport
    range_rad : float
        Range per axis (+-) the driver enforces before sending [rad].
    """

    def __init__(self, transport: LineTransport, range_rad: float = 250e-6) -> None:
        super().__init__()
        if not (math.isfinite(range_rad) and range_rad > 0):
            raise DriverError(f"range_rad {range_rad!r} must be finite and > 0")
        self.transport = transport
        self.range_rad = float(range_rad)

    def close(self) -> None:
        self.transport.close()

    def _ask(self, command: str) -> str | None:
        for _ in range(2):
            try:
                self.transport.write_line(command.encode("ascii"))
            except OSError as exc:
                self._set_fault(f"FSM write failed: {exc}")
                continue
            reply = self.transport.read_line()
            if reply is not None:
                text = reply.decode("ascii", errors="replace").strip()
                if text.startswith("ERR"):
                    self._set_fault(f"FSM refused '{command}': {text}")
                    return None
                self.clear_fault()
                return text
            self._set_fault(f"FSM did not answer '{command.split()[0]}' within the timeout")
        return None

    def identify(self) -> str | None:
        """``IDN?`` reply text, or None."""
        r = self._ask("IDN?")
        return r[4:] if r and r.startswith("IDN ") else None

    def device_range_rad(self) -> float | None:
        """``RNG?`` in radians, or None."""
        r = self._ask("RNG?")
        try:
            return float(r.split()[1]) * 1e-6 if r and r.startswith("RNG ") else None
        except (IndexError, ValueError):
            self._set_fault(f"unparsable RNG reply {r!r}")
            return None

    def set_angles(self, tip_rad: float, tilt_rad: float) -> bool:
        """``MOV`` in microradians; True on ``OK``.

        Raises
        ------
        DriverError
            Non-finite or out-of-range angles (nothing is sent).
        """
        check_finite(tip_rad=tip_rad, tilt_rad=tilt_rad)
        for name, v in (("tip_rad", tip_rad), ("tilt_rad", tilt_rad)):
            if abs(float(v)) > self.range_rad:
                raise DriverError(f"{name} = {float(v):.3e} rad outside +-{self.range_rad:.3e} rad; "
                                  "clamp with qsat_pat.core.safety.clamp_fsm_command first")
        return self._ask(f"MOV {float(tip_rad) * 1e6:.4f} {float(tilt_rad) * 1e6:.4f}") == "OK"

    def get_angles(self, t_s: float) -> StageReading | None:
        """``POS?``; the reading in radians or None."""
        r = self._ask("POS?")
        if r is None:
            return None
        parts = r.split()
        try:
            if parts[0] != "POS" or len(parts) != 3:
                raise ValueError(r)
            tip, tilt = float(parts[1]) * 1e-6, float(parts[2]) * 1e-6
        except (IndexError, ValueError):
            self._set_fault(f"unparsable POS reply {r!r}")
            return None
        if not (math.isfinite(tip) and math.isfinite(tilt)):
            self._set_fault(f"non-finite POS reply {r!r}")
            return None
        return StageReading(float(t_s), tip, tilt)

    def hold(self) -> bool:
        """``HLD``."""
        return self._ask("HLD") == "OK"
