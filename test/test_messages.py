"""Every custom message crosses a process boundary over DDS intact."""

import subprocess
import sys
import time

import pytest
from msg_samples import MESSAGE_NAMES, sample
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

pytestmark = pytest.mark.ros


def test_message_files_match_the_list(repo_root):
    assert sorted(p.stem for p in (repo_root / "msg").glob("*.msg")) == sorted(MESSAGE_NAMES)


@pytest.mark.parametrize("name", MESSAGE_NAMES)
def test_sample_sets_every_field(name):
    msg = sample("qsat_pat.msg", name, seed=3)
    default = type(msg)()
    for field in msg.get_fields_and_field_types():
        a, b = getattr(msg, field), getattr(default, field)
        same = (len(a) == len(b) and all(x == y for x, y in zip(a, b))) if hasattr(a, "__len__") \
            and not isinstance(a, str) else a == b
        assert not same, f"{name}.{field} keeps its default"


def test_every_message_between_two_processes(repo_root, rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    pub = subprocess.Popen([sys.executable, str(repo_root / "test" / "roundtrip_publisher.py")],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert pub.stdout.readline().strip() == "ready"
        node = rclpy.create_node("roundtrip_subscriber", context=rclpy_context)
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        received = {}
        expected = {n: sample("qsat_pat.msg", n, seed=3) for n in MESSAGE_NAMES}
        for n, m in expected.items():
            node.create_subscription(type(m), f"/roundtrip/{n}",
                                     lambda msg, n=n: received.setdefault(n, msg), qos)
        ex = SingleThreadedExecutor(context=rclpy_context)
        ex.add_node(node)
        deadline = time.monotonic() + 20.0
        while len(received) < len(expected) and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.1)
        assert sorted(received) == sorted(expected), f"missing: {set(expected) - set(received)}"
        for n in expected:
            assert received[n] == expected[n], n
        ex.shutdown()
        node.destroy_node()
    finally:
        pub.terminate()
        pub.wait(timeout=10)
