"""Every deployment is a complete graph (issue 13's guard).

Each subscribed topic of a deployment has a publisher in that deployment, or is one of its
declared external inputs (a camera image, a device reading, a TLE, an operator command:
``Deployment.external_inputs``); every declared external input is used.  The nodes are
built as ``ros2 launch`` builds them (the node table's parameter files and remaps),
configured, and asked for the topics they really subscribe to and publish (resolved
names), so a remap or a parameter that switches a subscription on is seen.  The ``sim``
deployment's simulator (``sim_world``, which drives its own loop and is not composable)
publishes the device topics it replaces (``Deployment.simulated_devices``).

Found by this test when it was added: the ``space`` deployment's PAT manager listened on
``coarse_centroid``, ``mount_state`` and ``mount_command`` with nobody publishing them
(only the ``sim`` deployment remapped them), so on a satellite the PAT machine would never
have left ACQUIRE.
"""

from __future__ import annotations

import importlib

import pytest

from qsat_pat.deployments import DEPLOYMENTS

pytestmark = pytest.mark.ros

#: Topics every node has (ROS internals and the diagnostics aggregate), not part of the data graph.
INFRASTRUCTURE = {"/parameter_events", "/rosout", "/diagnostics"}


def _graph(name: str, tmp_path) -> dict[str, tuple[set[str], set[str]]]:
    """{node fqn: (subscribed topics, published topics)} of a deployment's composable nodes."""
    import rclpy

    from qsat_pat.launcher import ros_arguments

    dep = DEPLOYMENTS[name]
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=[])
    nodes, out = [], {}
    try:
        for spec in dep.nodes:
            cls = getattr(importlib.import_module(spec.module), "NODE_CLASS", None)
            if cls is None:
                continue  # sim_world: its topics are declared (Deployment.simulated_devices)
            args = ros_arguments(spec, dep)
            if spec.executable == "bag_recorder":
                args += ["-p", f"output_dir:={tmp_path / 'bags'}"]
            node = cls(cli_args=args, use_global_arguments=False, context=ctx)
            nodes.append(node)
            node.autostart()
            subs = {s.topic_name for s in node.subscriptions}
            pubs = {p.topic_name for p in node.publishers}
            out[spec.fqn] = ({t for t in subs if not _internal(t)}, {t for t in pubs if not _internal(t)})
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown(context=ctx)
    return out


def _internal(topic: str) -> bool:
    return topic in INFRASTRUCTURE or topic.endswith("/transition_event") or topic.startswith("/sim/")


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_every_subscribed_topic_has_a_publisher_or_is_a_declared_input(name, tmp_path):
    dep = DEPLOYMENTS[name]
    graph = _graph(name, tmp_path)
    published = set().union(*(p for _, p in graph.values()))
    published |= set(dep.simulated_devices)  # sim_world's device topics (not composable)
    dangling = sorted(f"{topic} (subscribed by {node})" for node, (subs, _) in graph.items() for topic in subs
                      if topic not in published and topic not in dep.external_inputs)
    assert not dangling, f"{name}: subscribed, published by no node and not a declared input: {dangling}"
    subscribed = set().union(*(s for s, _ in graph.values()))
    unused = sorted(set(dep.external_inputs) - subscribed)
    assert not unused, f"{name}: declared external inputs nobody subscribes to: {unused}"
    fed = sorted(set(dep.external_inputs) & published)
    assert not fed, f"{name}: declared external but published in the deployment: {fed}"
