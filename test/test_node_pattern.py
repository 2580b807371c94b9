"""The node pattern (qsat_pat/nodes/pattern.py) on a real node over DDS: parameters are
validated by the core config and refused values keep the old one; diagnostics flow; bad
start-up parameters stop the node with a reason."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from qsat_pat.nodes.bag_recorder import BagRecorderNode

pytestmark = pytest.mark.ros


@pytest.fixture
def recorder(rclpy_context, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    node = BagRecorderNode(context=rclpy_context, cli_args=[
        "--ros-args", "-r", "__ns:=/pattern_test", "-p", f"output_dir:={tmp_path / 'bag'}"])
    client = rclpy.create_node("pattern_client", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(client)
    node.autostart()
    yield node, client, ex
    ex.shutdown()
    client.destroy_node()
    node.destroy_node()


def _spin_until(ex, future, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
    assert future.done(), "no answer in time"
    return future.result()


def test_parameters_are_described_with_unit_and_range(recorder):
    from rclpy.parameter_client import AsyncParameterClient

    node, client, ex = recorder
    pc = AsyncParameterClient(client, node.get_fully_qualified_name())
    assert pc.wait_for_services(timeout_sec=10.0)
    resp = _spin_until(ex, pc.describe_parameters(["discovery_period_s", "output_dir", "topics"]))
    period, out, topics = resp.descriptors
    assert period.type == ParameterType.PARAMETER_DOUBLE
    assert "[s]" in period.description
    assert period.floating_point_range[0].from_value == pytest.approx(0.05)
    assert out.read_only
    assert topics.type == ParameterType.PARAMETER_STRING_ARRAY


@pytest.mark.parametrize("bad,why", [
    (Parameter("discovery_period_s", value=-1.0), "range"),
    (Parameter("discovery_period_s", value=math.nan), ""),
    (Parameter("discovery_period_s", value="fast"), "type"),
    (Parameter("output_dir", value="/tmp/elsewhere"), "read-only"),
])
def test_invalid_parameter_is_refused_with_reason_and_old_value_kept(recorder, bad, why):
    from rclpy.parameter_client import AsyncParameterClient

    node, client, ex = recorder
    before = node.config
    pc = AsyncParameterClient(client, node.get_fully_qualified_name())
    assert pc.wait_for_services(timeout_sec=10.0)
    result = _spin_until(ex, pc.set_parameters([bad])).results[0]
    assert not result.successful
    assert result.reason and (why.lower() in result.reason.lower())
    assert node.config == before
    assert node.get_parameter("discovery_period_s").value == before.discovery_period_s


def test_valid_parameter_change_reaches_the_config(recorder):
    from rclpy.parameter_client import AsyncParameterClient

    node, client, ex = recorder
    pc = AsyncParameterClient(client, node.get_fully_qualified_name())
    assert pc.wait_for_services(timeout_sec=10.0)
    result = _spin_until(ex, pc.set_parameters([Parameter("discovery_period_s", value=2.5)])).results[0]
    assert result.successful, result.reason
    assert node.config.discovery_period_s == 2.5


def test_diagnostics_report_counts_and_warn_after_bad_input(recorder):
    node, client, ex = recorder
    got = []

    def on_diag(msg):
        got.extend(s for s in msg.status if s.name == node.get_fully_qualified_name())

    client.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
    assert got and got[-1].level == DiagnosticStatus.OK
    node.reject("test_input", "a malformed thing arrived")
    node.reject("test_input", "a malformed thing arrived")
    n = len(got)
    deadline = time.monotonic() + 10
    while len(got) == n and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
    last = got[-1]
    assert last.level == DiagnosticStatus.WARN
    values = {kv.key: kv.value for kv in last.values}
    assert values["rejected_test_input"] == "2"
    assert "malformed" in last.message


@pytest.mark.parametrize("arg,needle", [
    ("discovery_period_s:=0.0", "out of range"),
    ("discovery_period_s:=abc", "expecting type"),
])
def test_bad_startup_parameter_exits_1_naming_it(arg, needle, tmp_path):
    out = subprocess.run([sys.executable, "-m", "qsat_pat.nodes.bag_recorder", "--ros-args", "-p", arg],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 1
    assert "discovery_period_s" in out.stderr and needle in out.stderr


def test_cleanup_releases_what_setup_made(rclpy_context, tmp_path):
    """Subscriptions/timers made from configure on are released by the pattern on cleanup."""
    node = BagRecorderNode(context=rclpy_context, cli_args=[
        "--ros-args", "-r", "__ns:=/cleanup_test", "-p", f"output_dir:={tmp_path / 'bag'}"])
    try:
        n_timers = len(list(node.timers))
        node.autostart()
        assert len(list(node.timers)) == n_timers + 1  # the discovery timer
        node.trigger_deactivate()
        node.trigger_cleanup()
        assert len(list(node.timers)) == n_timers
        assert (tmp_path / "bag" / "metadata.yaml").is_file()  # on_teardown closed the bag
    finally:
        node.destroy_node()


def test_a_library_error_in_a_callback_is_counted_and_the_node_keeps_running(recorder):
    """A QsatPatError that a callback lets through (an input the node did not check for) is
    caught by the pattern, counted as rejected_callback_error and logged; the node's other
    callbacks go on (before: the node process exited)."""
    from std_msgs.msg import String

    from qsat_pat.core.errors import ControlError
    from qsat_pat.nodes.pattern import Qos

    node, client, ex = recorder
    seen = []

    def on_msg(msg):
        seen.append(msg.data)
        if msg.data == "bad":
            raise ControlError("PAT time went backwards (0.0 < 5.0 s)")

    node.create_subscription(String, "/pattern_test/guard", on_msg, Qos.STREAM)
    pub = client.create_publisher(String, "/pattern_test/guard", Qos.STREAM)
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
    for data in ("good", "bad", "after"):
        pub.publish(String(data=data))
        deadline = time.monotonic() + 10
        while data not in seen and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.05)
    assert seen == ["good", "bad", "after"]
    assert node.counters["rejected_callback_error"] == 1
    assert "message on /pattern_test/guard: PAT time went backwards" in node._last_error
