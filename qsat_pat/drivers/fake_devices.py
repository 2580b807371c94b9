"""Fake devices on loopback for driver tests: a rotctld server and an ASCII-protocol FSM.

Both listen on 127.0.0.1 with an ephemeral port (``port=0``), serve each client in a
thread, and are context managers that close every socket on exit.  ``silent = True``
makes a device accept connections and swallow commands without replying (a hung
device); ``refuse = True`` (rotctld) answers ``RPRT -1`` to every set command.
"""

from __future__ import annotations

import math
import socket
import socketserver
import threading


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class _LineDevice:
    """Threaded loopback line server; subclasses implement :meth:`handle_line`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        device = self
        self.silent = False
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with device._lock:
                    device._clients.add(self.connection)
                try:
                    for raw in self.rfile:
                        line = raw.decode("ascii", errors="replace").strip()
                        if not line:
                            continue
                        with device._lock:
                            device.commands.append(line)
                            silent = device.silent
                            reply = None if silent else device.handle_line(line)
                        if reply is None:
                            continue
                        if reply == "__close__":
                            return
                        self.wfile.write(reply.encode("ascii"))
                        self.wfile.flush()
                except OSError:
                    return
                finally:
                    with device._lock:
                        device._clients.discard(self.connection)

        self._server = _Server((host, port), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def handle_line(self, line: str) -> str | None:  # pragma: no cover - overridden
        return None

    def start(self):
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every client connection (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2.0)
        with self._lock:
            clients = list(self._clients)
            self._clients.clear()
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeRotctld(_LineDevice):
    """Minimal rotctld: ``P az el``, ``p``, ``S``, ``K``, ``q`` (positions in degrees, instant moves)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, park_deg=(0.0, 90.0)) -> None:
        super().__init__(host, port)
        self.az_deg, self.el_deg = 0.0, 90.0
        self.park_deg = park_deg
        self.refuse = False

    def handle_line(self, line: str) -> str | None:
        parts = line.split()
        cmd = parts[0]
        if cmd == "P":
            if self.refuse or len(parts) != 3:
                return "RPRT -1\n"
            try:
                az, el = float(parts[1]), float(parts[2])
            except ValueError:
                return "RPRT -1\n"
            if not (math.isfinite(az) and math.isfinite(el)):
                return "RPRT -1\n"
            self.az_deg, self.el_deg = az, el
            return "RPRT 0\n"
        if cmd == "p":
            return f"{self.az_deg:.6f}\n{self.el_deg:.6f}\n"
        if cmd == "S":
            return "RPRT 0\n"
        if cmd == "K":
            self.az_deg, self.el_deg = self.park_deg
            return "RPRT 0\n"
        if cmd == "q":
            return "__close__"
        return "RPRT -4\n"


class FakeFsmDevice(_LineDevice):
    """FSM speaking :mod:`qsat_pat.drivers.serial_fsm`'s ASCII command set (instant moves)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, range_urad: float = 250.0) -> None:
        super().__init__(host, port)
        self.range_urad = float(range_urad)
        self.tip_urad, self.tilt_urad = 0.0, 0.0
        self.holding = False

    def handle_line(self, line: str) -> str | None:
        parts = line.split()
        cmd = parts[0]
        if cmd == "IDN?":
            return "IDN QSAT-FAKE-FSM 1.0\n"
        if cmd == "RNG?":
            return f"RNG {self.range_urad:.3f}\n"
        if cmd == "POS?":
            return f"POS {self.tip_urad:.4f} {self.tilt_urad:.4f}\n"
        if cmd == "HLD":
            self.holding = True
            return "OK\n"
        if cmd == "MOV":
            try:
                tip, tilt = float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                return "ERR 2 bad argument\n"
            if not (math.isfinite(tip) and math.isfinite(tilt)):
                return "ERR 2 bad argument\n"
            if abs(tip) > self.range_urad or abs(tilt) > self.range_urad:
                return "ERR 3 out of range\n"
            self.tip_urad, self.tilt_urad, self.holding = tip, tilt, False
            return "OK\n"
        return "ERR 1 unknown command\n"
