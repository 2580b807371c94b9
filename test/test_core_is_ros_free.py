"""qsat_pat/core must not import rclpy, a message package or qsat_pat.msg.

Checked twice: statically (every import statement of every core module, including
imports inside functions) and at run time (importing all of core in a fresh interpreter
loads no ROS module).  The static check is what fails first when someone adds one.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "qsat_pat" / "core"
FORBIDDEN_PREFIXES = ("rclpy", "rosidl", "rcl_", "launch", "qsat_pat.msg", "qsat_pat.nodes")


def _is_forbidden(module: str) -> bool:
    top = module.split(".")[0]
    return (module.startswith(FORBIDDEN_PREFIXES) or top.endswith(("_msgs", "_srvs")) or top in ("builtin_interfaces", "rcl_interfaces", "lifecycle_msgs"))


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            if node.module == "qsat_pat":
                for alias in node.names:
                    yield node.lineno, f"qsat_pat.{alias.name}"


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_core_has_modules():
    assert len(CORE_FILES) >= 3


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_no_ros_import_statement(path):
    bad = [(line, mod) for line, mod in _imports(path) if _is_forbidden(mod)]
    assert not bad, f"{path.name} imports ROS: {bad}"


def test_detector_catches_ros_imports(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    import rclpy\nfrom sensor_msgs.msg import Image\nfrom qsat_pat import msg\n")
    assert sorted(m for _, m in _imports(sample) if _is_forbidden(m)) == [
        "qsat_pat.msg", "rclpy", "sensor_msgs.msg"]


def test_importing_all_of_core_loads_no_ros_module():
    modules = sorted(
        ".".join(("qsat_pat", "core", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")
        for p in CORE_FILES)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rosidl_parser', 'std_msgs', "
        "'sensor_msgs', 'geometry_msgs') or m.startswith('qsat_pat.msg'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=CORE.parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
