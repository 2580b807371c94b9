"""ros2 launch qsat_pat sim.launch.py — the 'sim' deployment of qsat_pat.

The nodes, parameter files and remaps come from qsat_pat/deployments.py, the same table
`qsat-pat up sim` starts (see ARCHITECTURE.md).
"""

from qsat_pat.launch_description import launch_description


def generate_launch_description():
    return launch_description("sim")
