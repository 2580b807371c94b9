"""Build a ``launch.LaunchDescription`` from the node table (real ROS 2 installs).

``launch/<deployment>.launch.py`` call :func:`launch_description`; ``launch`` and
``launch_ros`` are imported here, only when a launch file runs (they exist on real ROS 2
installs, not in the PyPI wheels).  The node list, names, namespaces, parameter files
and remaps are the same that ``qsat-pat up`` uses (:mod:`qsat_pat.deployments`).
"""

from __future__ import annotations

import tempfile

from qsat_pat.deployments import get_deployment, lockstep_environment, parameter_files


def launch_description(deployment_name: str):
    """``LaunchDescription`` with one ``launch_ros.actions.Node`` per node of the deployment."""
    from launch import LaunchDescription
    from launch_ros.actions import Node

    from qsat_pat.launcher import config_path

    deployment = get_deployment(deployment_name)
    # the strict lockstep's counter boards (sim): one fresh directory per launch
    board_dir = tempfile.mkdtemp(prefix="qsat_pat_lockstep_") if deployment.lockstep else ""
    actions = []
    for spec in deployment.nodes:
        parameters = [str(config_path(f)) for f in parameter_files(deployment, spec)]
        if deployment.use_sim_time:
            parameters.append({"use_sim_time": True})
        actions.append(Node(
            package="qsat_pat",
            executable=spec.executable,
            name=spec.name,
            namespace=spec.namespace,
            parameters=parameters,
            remappings=list(spec.remappings),
            arguments=list(spec.arguments),
            additional_env=lockstep_environment(deployment, spec, board_dir) or None,
            output="screen",
            emulate_tty=True,
        ))
    return LaunchDescription(actions)
