"""ros2 launch qsat_pat ogs.launch.py — the 'ogs' deployment of qsat_pat.

The nodes, parameter files and remaps come from qsat_pat/deployments.py, the same table
`qsat-pat up ogs` starts (see ARCHITECTURE.md).
"""

from qsat_pat.launch_description import launch_description


def generate_launch_description():
    return launch_description("ogs")
