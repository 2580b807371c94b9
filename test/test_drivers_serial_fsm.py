"""ASCII FSM driver over a TCP loopback fake device and over a file-like stream."""

import io
import math

import pytest

from qsat_pat.drivers.base import DriverError, FsmDriver
from qsat_pat.drivers.fake_devices import FakeFsmDevice
from qsat_pat.drivers.serial_fsm import SerialFsm, SocketLineTransport, StreamLineTransport


@pytest.fixture
def device():
    with FakeFsmDevice(range_urad=250.0) as dev:
        yield dev


def test_fsm_protocol_round_trip(device):
    with SerialFsm(SocketLineTransport("127.0.0.1", device.port, timeout_s=0.5), 250e-6) as fsm:
        assert isinstance(fsm, FsmDriver)
        assert fsm.identify() == "QSAT-FAKE-FSM 1.0"
        assert fsm.device_range_rad() == pytest.approx(250e-6)
        assert fsm.set_angles(120e-6, -35.5e-6)
        assert device.commands[-1] == "MOV 120.0000 -35.5000"
        r = fsm.get_angles(3.0)
        assert r.axis1_rad == pytest.approx(120e-6) and r.axis2_rad == pytest.approx(-35.5e-6)
        assert fsm.hold() and device.holding


def test_out_of_range_and_nan_never_sent(device):
    with SerialFsm(SocketLineTransport("127.0.0.1", device.port, timeout_s=0.5), 250e-6) as fsm:
        for tip, tilt in ((300e-6, 0.0), (math.nan, 0.0), (0.0, -math.inf)):
            with pytest.raises(DriverError):
                fsm.set_angles(tip, tilt)
        assert device.commands == []


def test_device_error_reply_and_mismatched_range_fault(device):
    device.range_urad = 100.0  # device narrower than the driver thinks
    with SerialFsm(SocketLineTransport("127.0.0.1", device.port, timeout_s=0.5), 250e-6) as fsm:
        assert not fsm.set_angles(200e-6, 0.0)
        assert fsm.fault and "ERR 3" in fsm.fault_reason


def test_silent_device_is_a_fault(device):
    device.silent = True
    with SerialFsm(SocketLineTransport("127.0.0.1", device.port, timeout_s=0.1), 250e-6) as fsm:
        assert fsm.get_angles(0.0) is None
        assert fsm.fault and "did not answer" in fsm.fault_reason
        device.silent = False
        assert fsm.get_angles(1.0) is not None
        assert not fsm.fault


class _Loopback(io.RawIOBase):
    """A file-like 'serial port' whose device answers from a canned reply list."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.written = b""
        self._out = b""

    def write(self, data):
        self.written += data
        if self.replies:
            self._out += self.replies.pop(0)
        return len(data)

    def readline(self, size=-1):
        line, sep, rest = self._out.partition(b"\n")
        self._out = rest
        return line + sep


def test_stream_transport_like_pyserial():
    port = _Loopback([b"OK\n", b"POS 1.5 -2.5\n", b"garbage"])
    fsm = SerialFsm(StreamLineTransport(port), 250e-6)
    assert fsm.set_angles(1e-6, 0.0)
    assert port.written.startswith(b"MOV 1.0000 0.0000\n")
    r = fsm.get_angles(0.0)
    assert r.axis1_rad == pytest.approx(1.5e-6) and r.axis2_rad == pytest.approx(-2.5e-6)
    assert fsm.get_angles(0.0) is None and fsm.fault   # no newline: timeout
    fsm.close()
