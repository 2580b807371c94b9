"""hamlib ``rotctld`` TCP client for az/el mounts (the protocol SatNOGS and gpredict use).

Protocol subset (hamlib rotctld default protocol, one command per line, port 4533):

=========  ==================================  =========================
command    meaning                             reply
=========  ==================================  =========================
``P a e``  set position, az/el in degrees      ``RPRT 0`` (or ``RPRT -n``)
``p``      get position                        ``<az>\\n<el>\\n`` in degrees
``S``      stop                                ``RPRT 0``
``K``      park                                ``RPRT 0``
=========  ==================================  =========================

Every socket operation has a timeout.  On a timeout or a broken connection the client
closes the socket, reconnects once and retries; if that fails it enters the fault
state (:attr:`fault_reason`) and returns False/None instead of raising, so a node can
report the fault and keep running.  Commands are validated before any byte is sent.
"""

from __future__ import annotations

import math
import socket

from qsat_pat.drivers.base import DriverError, MountDriver, StageReading, check_finite

#: Default rotctld TCP port.
ROTCTLD_PORT = 4533


class RotctldMount(MountDriver):
    """Mount driver speaking to ``rotctld``.

    Parameters
    ----------
    host : str
        rotctld host (e.g. "127.0.0.1").
    port : int
        TCP port (default 4533).
    timeout_s : float
        Timeout of connect and of each reply [s].
    az_min_deg, az_max_deg, el_min_deg, el_max_deg : float
        Rotator limits (as configured in rotctld); commands outside raise :class:`DriverError`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = ROTCTLD_PORT, timeout_s: float = 1.0,
                 az_min_deg: float = 0.0, az_max_deg: float = 360.0, el_min_deg: float = 0.0,
                 el_max_deg: float = 90.0) -> None:
        super().__init__()
        if not (isinstance(port, int) and 0 < port < 65536):
            raise DriverError(f"rotctld port {port!r} must be an integer in 1..65535")
        if not (math.isfinite(timeout_s) and 0 < timeout_s <= 60):
            raise DriverError(f"rotctld timeout_s {timeout_s!r} must be in (0, 60] s")
        self.host, self.port, self.timeout_s = host, port, float(timeout_s)
        self.az_limits_deg = (float(az_min_deg), float(az_max_deg))
        self.el_limits_deg = (float(el_min_deg), float(el_max_deg))
        self._sock: socket.socket | None = None
        self._buf = b""
        self.reconnects = 0

    # -- connection -----------------------------------------------------------------
    def _connect(self) -> None:
        self._close_socket()
        self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        self._sock.settimeout(self.timeout_s)

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._close_socket()

    def _readline(self) -> str:
        assert self._sock is not None
        while b"\n" not in self._buf:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionError("rotctld closed the connection")
            self._buf += chunk
            if len(self._buf) > 65536:
                raise ConnectionError("rotctld reply too long (no newline)")
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("ascii", errors="replace").strip()

    def _transact(self, command: str, n_lines: int) -> list[str] | None:
        """Send one command, read ``n_lines`` reply lines; reconnect and retry once."""
        last_error = ""
        for attempt in range(2):
            try:
                if self._sock is None:
                    if attempt or self.fault:
                        self.reconnects += 1
                    self._connect()
                assert self._sock is not None
                self._buf = b""
                self._sock.sendall((command + "\n").encode("ascii"))
                lines = [self._readline() for _ in range(n_lines)]
                self.clear_fault()
                return lines
            except (OSError, ConnectionError) as exc:  # socket.timeout is an OSError
                last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._close_socket()
        self._set_fault(f"rotctld {self.host}:{self.port} not answering '{command.split()[0]}' "
                        f"({last_error})")
        return None

    @staticmethod
    def _rprt_ok(line: str) -> tuple[bool, str]:
        if line.startswith("RPRT"):
            code = line.split()[1] if len(line.split()) > 1 else "?"
            return code == "0", f"rotctld returned {line}"
        return False, f"unexpected rotctld reply {line!r}"

    # -- commands -------------------------------------------------------------------
    def set_position(self, az_rad: float, el_rad: float) -> bool:
        """Send ``P az el`` (degrees); True on ``RPRT 0``.

        Raises
        ------
        DriverError
            Non-finite or out-of-limits angles (nothing is sent).
        """
        check_finite(az_rad=az_rad, el_rad=el_rad)
        az = math.degrees(float(az_rad))
        el = math.degrees(float(el_rad))
        lo, hi = self.az_limits_deg
        if not lo <= az <= hi:
            raise DriverError(f"azimuth {az:.3f} deg outside the rotator limits [{lo}, {hi}] deg")
        lo, hi = self.el_limits_deg
        if not lo <= el <= hi:
            raise DriverError(f"elevation {el:.3f} deg outside the rotator limits [{lo}, {hi}] deg")
        lines = self._transact(f"P {az:.4f} {el:.4f}", 1)
        if lines is None:
            return False
        ok, why = self._rprt_ok(lines[0])
        if not ok:
            self._set_fault(why)
        return ok

    def get_position(self, t_s: float) -> StageReading | None:
        """Send ``p``; the reading (radians) or None if the rotator does not answer."""
        lines = self._transact("p", 2)
        if lines is None:
            return None
        try:
            az, el = float(lines[0]), float(lines[1])
        except ValueError:
            self._set_fault(f"unparsable rotctld position reply {lines!r}")
            self._close_socket()
            return None
        if not (math.isfinite(az) and math.isfinite(el)):
            self._set_fault(f"non-finite rotctld position {lines!r}")
            return None
        return StageReading(float(t_s), math.radians(az), math.radians(el))

    def stop(self) -> bool:
        """Send ``S``."""
        lines = self._transact("S", 1)
        return lines is not None and self._rprt_ok(lines[0])[0]

    def park(self) -> bool:
        """Send ``K``."""
        lines = self._transact("K", 1)
        return lines is not None and self._rprt_ok(lines[0])[0]
