"""hamlib rotctld client against a fake rotctld on loopback (127.0.0.1, ephemeral port)."""

import math

import pytest

from qsat_pat.drivers.base import DriverError, MountDriver
from qsat_pat.drivers.fake_devices import FakeRotctld
from qsat_pat.drivers.rotctld import ROTCTLD_PORT, RotctldMount


@pytest.fixture
def rotator():
    with FakeRotctld() as dev:
        yield dev


def test_set_and_get_position_round_trip(rotator):
    with RotctldMount("127.0.0.1", rotator.port, timeout_s=1.0) as mount:
        assert isinstance(mount, MountDriver)
        assert mount.set_position(math.radians(123.4), math.radians(45.6))
        assert rotator.commands[-1] == "P 123.4000 45.6000"
        r = mount.get_position(10.0)
        assert r.t_s == 10.0
        assert math.degrees(r.axis1_rad) == pytest.approx(123.4, abs=1e-4)
        assert math.degrees(r.axis2_rad) == pytest.approx(45.6, abs=1e-4)
        assert mount.stop() and mount.park()
        assert rotator.commands[-2:] == ["S", "K"]
        assert not mount.fault
    assert ROTCTLD_PORT == 4533


def test_bad_commands_never_reach_the_device(rotator):
    with RotctldMount("127.0.0.1", rotator.port, timeout_s=1.0) as mount:
        for az, el in ((math.nan, 0.5), (0.5, math.inf), (math.radians(400.0), 0.5),
                       (0.5, math.radians(-3.0))):
            with pytest.raises(DriverError):
                mount.set_position(az, el)
        assert rotator.commands == []


def test_refused_command_sets_fault(rotator):
    rotator.refuse = True
    with RotctldMount("127.0.0.1", rotator.port, timeout_s=1.0) as mount:
        assert not mount.set_position(0.1, 0.2)
        assert mount.fault and "RPRT -1" in mount.fault_reason
        rotator.refuse = False
        assert mount.set_position(0.1, 0.2)
        assert not mount.fault


def test_silent_device_times_out_into_fault_then_recovers(rotator):
    rotator.silent = True
    with RotctldMount("127.0.0.1", rotator.port, timeout_s=0.2) as mount:
        assert mount.get_position(0.0) is None
        assert mount.fault and "not answering" in mount.fault_reason
        rotator.silent = False
        r = mount.get_position(1.0)       # reconnects and works again
        assert r is not None and not mount.fault
        assert mount.reconnects >= 1


def test_server_gone_is_a_fault_not_a_crash():
    dev = FakeRotctld().start()
    port = dev.port
    dev.stop()
    with RotctldMount("127.0.0.1", port, timeout_s=0.2) as mount:
        assert not mount.set_position(0.1, 0.2)
        assert mount.fault
        assert mount.get_position(0.0) is None


def test_connection_closed_by_server_reconnects(rotator):
    with RotctldMount("127.0.0.1", rotator.port, timeout_s=0.5) as mount:
        assert mount.set_position(0.1, 0.2)
        # the server drops the connection ('q'); the next command reconnects transparently
        mount._sock.sendall(b"q\n")
        assert mount.get_position(0.0) is not None
        assert not mount.fault


def test_invalid_construction():
    with pytest.raises(DriverError):
        RotctldMount(port=0)
    with pytest.raises(DriverError):
        RotctldMount(timeout_s=math.inf)
    # closing twice is fine and a never-connected client holds no socket
    m = RotctldMount("127.0.0.1", 1, timeout_s=0.1)
    m.close()
    m.close()
