"""The node table (qsat_pat/deployments.py) is consistent with the code, config, CMake,
package.xml and the launch files built from it."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from qsat_pat import deployments
from qsat_pat.core.errors import DeploymentError
from qsat_pat.core.params import ConfigBase
from qsat_pat.deployments import DEPLOYMENTS, EXECUTABLES

ROOT = Path(__file__).resolve().parents[1]
ALL_SPECS = [(d.name, s) for d in DEPLOYMENTS.values() for s in d.nodes]
BASE_PARAMETERS = {"autostart", "use_sim_time"}


def _spec_id(item):
    return f"{item[0]}:{item[1].fqn}"


@pytest.mark.parametrize("exe,module", sorted(EXECUTABLES.items()))
def test_executable_module_is_a_node(exe, module):
    from qsat_pat.nodes.pattern import QsatPatNode

    mod = importlib.import_module(module)
    assert callable(mod.main)
    if hasattr(mod, "NODE_CLASS"):
        assert issubclass(mod.NODE_CLASS, QsatPatNode)
    else:  # a process that drives its own loop (sim_world): parameters still come from a config class
        assert issubclass(mod.CONFIG_CLASS, ConfigBase), module
    assert 'if __name__ == "__main__":' in Path(mod.__file__).read_text()
    script = Path(sys.prefix) / "lib" / "qsat_pat" / exe
    assert script.is_file(), f"{script} missing: run scripts/setup_env.sh"
    assert f"from {module} import main" in script.read_text()


def test_deployments_exist_and_use_known_executables():
    assert {"ogs", "space", "sim"} <= set(DEPLOYMENTS)
    for name, spec in ALL_SPECS:
        assert spec.executable in EXECUTABLES, (name, spec)
        assert spec.namespace.startswith("/"), spec
    for d in DEPLOYMENTS.values():
        fqns = [s.fqn for s in d.nodes]
        assert len(fqns) == len(set(fqns)), f"duplicate node names in {d.name}: {fqns}"


def test_unknown_deployment_is_a_clear_error():
    with pytest.raises(DeploymentError, match="known: .*ogs"):
        deployments.get_deployment("ground")


def _node_keys(spec) -> set[str]:
    ns = spec.namespace.rstrip("/")
    return {"/**", f"/**/{spec.name}", spec.fqn, f"{ns}/**" if ns else "/**", spec.name}


@pytest.mark.parametrize("item", ALL_SPECS, ids=_spec_id)
def test_parameter_files_set_only_declared_valid_parameters(item):
    _, spec = item
    mod = importlib.import_module(spec.module)
    cls = mod.NODE_CLASS.config_class if hasattr(mod, "NODE_CLASS") else mod.CONFIG_CLASS
    declared = {f.name for f in dataclasses.fields(cls)} | BASE_PARAMETERS
    merged = {}
    dep = DEPLOYMENTS[item[0]]
    station = deployments.station_file(dep.station)
    for filename in deployments.parameter_files(dep, spec):
        path = ROOT / "config" / filename
        assert path.is_file(), f"{spec.fqn}: parameter file {path} missing"
        doc = yaml.safe_load(path.read_text()) or {}
        for key, block in doc.items():
            assert "ros__parameters" in block, f"{path}: {key} has no ros__parameters"
            if key not in _node_keys(spec):
                continue
            params = block["ros__parameters"]
            if filename == station:  # the station file applies to every node: each takes what it declares
                params = {k: v for k, v in params.items() if k in declared}
            unknown = set(params) - declared
            assert not unknown, f"{path} sets undeclared parameters {sorted(unknown)} of {spec.fqn}"
            merged.update(params)
    merged = {k: v for k, v in merged.items() if k not in BASE_PARAMETERS}
    cls.from_mapping(merged)  # every value passes the core validator


# --- one station per deployment (issue 13: `ogs` once mixed Ngari and Tenerife) ----------------
STATION_FILES = sorted((ROOT / "config" / "stations").glob("*.yaml"))


@pytest.mark.parametrize("path", STATION_FILES, ids=lambda p: p.name)
def test_station_files_are_complete_station_descriptions(path):
    from qsat_pat.core.site import load_station

    load_station(path)  # every key, only station keys, valid values


@pytest.mark.parametrize("item", ALL_SPECS, ids=_spec_id)
def test_no_node_file_sets_a_station_key(item):
    """Only the deployment's station file says where the station is: a node file that set a
    site, mask or weather key would give one node another station."""
    from qsat_pat.core.site import STATION_KEYS

    _, spec = item
    for filename in spec.parameters:
        doc = yaml.safe_load((ROOT / "config" / filename).read_text()) or {}
        for key, block in doc.items():
            clash = sorted(set(block.get("ros__parameters", {})) & set(STATION_KEYS))
            assert not clash, f"{filename} ({key}) sets station keys {clash}: put them in config/stations/"


def test_every_node_that_needs_the_station_declares_it_under_the_station_names():
    """The nodes that use the station's position take all of it from the station file."""
    from qsat_pat.core.site import STATION_KEYS

    needs = {"ephemeris": STATION_KEYS, "gimbal_controller": ("site_lat_deg", "site_lon_deg"),
             "adcs_pointing": ("site_lat_deg", "site_lon_deg", "site_alt_m", "min_el_deg")}
    for exe, keys in needs.items():
        cls = importlib.import_module(EXECUTABLES[exe]).NODE_CLASS.config_class
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(keys) <= names, (exe, sorted(set(keys) - names))
    for name, dep in DEPLOYMENTS.items():
        assert (ROOT / "config" / deployments.station_file(dep.station)).is_file(), name


def test_the_sim_deployment_is_ogs_and_space_with_simulator_drivers():
    """The simulator flies what a station runs: every node of the ``ogs`` and ``space``
    terminals, with the same name, files and remaps; the sim may only add files that swap a
    device driver (issue 13: only the sim wired the space PAT manager's inputs, so every
    simulation passed while the satellite would never have tracked)."""
    sim = {s.fqn: s for s in DEPLOYMENTS["sim"].nodes}
    terminal = [s for name in ("ogs", "space") for s in DEPLOYMENTS[name].nodes if s.executable != "bag_recorder"]
    for spec in terminal:
        assert spec.fqn in sim, f"{spec.fqn} of the hardware deployment is not in sim"
        got = sim[spec.fqn]
        assert (got.executable, got.remappings, got.arguments) == (spec.executable, spec.remappings, spec.arguments)
        assert got.parameters[: len(spec.parameters)] == spec.parameters, spec.fqn
        extra = got.parameters[len(spec.parameters):]
        assert extra == deployments.SIM_DRIVER_FILES.get(spec.fqn, ()), (spec.fqn, extra)
        for filename in extra:
            doc = yaml.safe_load((ROOT / "config" / filename).read_text())
            keys = {k for block in doc.values() for k in block["ros__parameters"]}
            assert keys <= deployments.SIM_DRIVER_KEYS, f"{filename} sets {sorted(keys - deployments.SIM_DRIVER_KEYS)}"
    others = {s.executable for s in DEPLOYMENTS["sim"].nodes} - {s.executable for s in terminal}
    assert others <= {"sim_world", "bag_recorder", "optical_modem", "qkd_monitor"}
    assert DEPLOYMENTS["sim"].station == DEPLOYMENTS["ogs"].station == DEPLOYMENTS["space"].station


def test_cmake_reads_the_same_executables():
    out = subprocess.run([sys.executable, str(ROOT / "qsat_pat" / "deployments.py"), "--executables"],
                         capture_output=True, text=True, check=True, timeout=60)
    pairs = dict(p.split("=") for p in out.stdout.split(";"))
    assert pairs == EXECUTABLES
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "deployments.py\" --executables" in cmake
    assert deployments.console_scripts()[0] == "qsat-pat = qsat_pat.cli:main"
    assert len(deployments.console_scripts()) == len(EXECUTABLES) + 1


LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def test_every_deployment_has_a_launch_file():
    assert sorted(p.name.removesuffix(".launch.py") for p in LAUNCH_FILES) == sorted(DEPLOYMENTS)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles(path):
    compile(path.read_text(), str(path), "exec")


def _load_launch(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_builds_launch_description_with_launch_ros(path):
    pytest.importorskip("launch_ros", reason="launch_ros exists only on real ROS 2 installs")
    from launch import LaunchDescription

    ld = _load_launch(path).generate_launch_description()
    assert isinstance(ld, LaunchDescription)
    assert len(ld.entities) == len(DEPLOYMENTS[path.name.removesuffix(".launch.py")].nodes)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_nodes_match_the_table(path, monkeypatch):
    """Without launch_ros here: stand-ins record what the launch file asks launch_ros for."""
    made = []

    class Node:
        def __init__(self, **kwargs):
            made.append(kwargs)

    class LaunchDescription:
        def __init__(self, entities):
            self.entities = entities

    fake_launch = types.ModuleType("launch")
    fake_launch.LaunchDescription = LaunchDescription
    fake_actions = types.ModuleType("launch_ros.actions")
    fake_actions.Node = Node
    fake_ros = types.ModuleType("launch_ros")
    fake_ros.actions = fake_actions
    monkeypatch.setitem(sys.modules, "launch", fake_launch)
    monkeypatch.setitem(sys.modules, "launch_ros", fake_ros)
    monkeypatch.setitem(sys.modules, "launch_ros.actions", fake_actions)
    ld = _load_launch(path).generate_launch_description()
    deployment = DEPLOYMENTS[path.name.removesuffix(".launch.py")]
    assert len(ld.entities) == len(deployment.nodes) == len(made)
    for kwargs, spec in zip(made, deployment.nodes):
        assert kwargs["package"] == "qsat_pat"
        assert (kwargs["executable"], kwargs["name"], kwargs["namespace"]) == (spec.executable, spec.name, spec.namespace)
        files = [p for p in kwargs["parameters"] if isinstance(p, str)]
        assert [Path(f).name for f in files] == [Path(f).name for f in deployments.parameter_files(deployment, spec)]
        assert all(Path(f).is_file() for f in files)
        assert ({"use_sim_time": True} in kwargs["parameters"]) == deployment.use_sim_time
        assert kwargs["remappings"] == list(spec.remappings)
        # the strict lockstep (sim): sim_world and its lockstep nodes share one counter directory
        env = kwargs.get("additional_env") or {}
        if deployment.lockstep and (spec.fqn in deployment.lockstep or spec.executable == "sim_world"):
            assert Path(env["QSAT_PAT_LOCKSTEP_DIR"]).is_dir()
        else:
            assert "QSAT_PAT_LOCKSTEP_DIR" not in env
    dirs = {(k.get("additional_env") or {}).get("QSAT_PAT_LOCKSTEP_DIR") for k in made} - {None}
    assert len(dirs) == (1 if deployment.lockstep else 0)


# --- package.xml declares what the code imports -------------------------------------------
#: top-level Python module -> package.xml dependency key (rosdep key or ROS package)
IMPORT_TO_DEPENDENCY = {
    "rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces", "lifecycle_msgs": "lifecycle_msgs",
    "builtin_interfaces": "builtin_interfaces", "std_msgs": "std_msgs", "std_srvs": "std_srvs",
    "geometry_msgs": "geometry_msgs", "sensor_msgs": "sensor_msgs", "diagnostic_msgs": "diagnostic_msgs",
    "rosgraph_msgs": "rosgraph_msgs", "launch": "launch", "launch_ros": "launch_ros",
    "ament_index_python": "rclpy",
    "numpy": "python3-numpy", "scipy": "python3-scipy", "cv2": "python3-opencv", "yaml": "python3-yaml",
    "matplotlib": "python3-matplotlib", "filterpy": "python3-filterpy-pip",
    "transforms3d": "python3-transforms3d", "sgp4": "python3-sgp4", "skyfield": "python3-skyfield",
    "skyfield_data": "python3-skyfield", "rosbags": "python3-rosbags-pip", "crcmod": "python3-crcmod",
    "reedsolo": "python3-reedsolo-pip", "Basilisk": "python3-bsk-pip",
}


def _third_party_imports() -> dict[str, str]:
    found = {}
    for path in (ROOT / "qsat_pat").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("qsat_pat", "__future__"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_package_xml_declares_every_imported_dependency():
    root = ET.parse(ROOT / "package.xml").getroot()
    declared = {e.text for e in root if e.tag.endswith("depend")}
    problems = []
    for top, where in sorted(_third_party_imports().items()):
        key = IMPORT_TO_DEPENDENCY.get(top)
        if key is None:
            problems.append(f"{top} (imported in {where}) has no package.xml mapping in this test")
        elif key not in declared:
            problems.append(f"{top} (imported in {where}) needs <exec_depend>{key}</exec_depend>")
    assert not problems, "\n".join(problems)
