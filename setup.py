"""setuptools description of qsat_pat's Python code (core, nodes, simulator, CLI).

The ROS 2 package is built by CMakeLists.txt (the interfaces in msg/ need rosidl, which an
ament_python package cannot run); colcon uses that.  This file serves the other consumers:

* ``pip install .`` on a machine without ROS gives the ROS-free core, the simulator's direct
  mode and the ``qsat-pat`` command (analysis of recorded passes, link budgets, ephemerides);
  the nodes then need a ROS 2 install and the built interfaces;
* tools that read Python package metadata (version, dependencies, entry points).

Entry points come from the node table (qsat_pat/deployments.py), the same list CMake installs.
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import find_packages, setup

_HERE = Path(__file__).resolve().parent


def _deployments():
    spec = importlib.util.spec_from_file_location("_qsat_pat_deployments", _HERE / "qsat_pat" / "deployments.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _requirements():
    lines = (_HERE / "requirements" / "python.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()
            and not ln.startswith(("pytest", "hypothesis", "ruff"))]


setup(
    name="qsat_pat",
    version="0.1.0",
    description="Pointing, acquisition and tracking for satellite QKD laser terminals (ROS 2)",
    packages=find_packages(include=("qsat_pat", "qsat_pat.*")),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/qsat_pat"]),
        ("share/qsat_pat", ["package.xml"]),
    ],
    python_requires=">=3.10",
    install_requires=_requirements(),
    extras_require={"test": ["pytest", "pytest-timeout", "hypothesis", "ruff"]},
    entry_points={"console_scripts": _deployments().console_scripts()},
    license="Apache-2.0",
)
