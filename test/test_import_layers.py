"""Import layers of the package (issue 13's guard): no cycles, and each layer imports only
what it may.

* no import cycle between modules of ``qsat_pat`` (imports inside functions count: a cycle
  hidden in a function is still a cycle);
* ``qsat_pat.core`` imports only ``qsat_pat.core`` (and third-party libraries);
* ``qsat_pat.sim`` outside ``qsat_pat.sim.ros`` never imports rclpy, a message package,
  ``qsat_pat.msg`` or ``qsat_pat.nodes`` (the in-process simulator runs without ROS);
* ``qsat_pat.nodes`` never imports ``qsat_pat.commands`` (a node is not a CLI);
* ``qsat_pat.drivers`` imports only core (hardware I/O, no ROS).

The graph is read statically (``ast``), so the test sees every import statement, also the
ones no test executes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "qsat_pat"
ROS_PREFIXES = ("rclpy", "rosidl", "rcl_", "launch", "builtin_interfaces", "rcl_interfaces", "lifecycle_msgs",
                "rosgraph_msgs")


def module_name(path: Path) -> str:
    parts = ("qsat_pat", *path.relative_to(PKG).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(mod: str, level: int, current: str, is_pkg: bool) -> str:
    if level == 0:
        return mod
    base = current.split(".") if is_pkg else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, mod] if mod else base)


def imports_of(name: str) -> set[str]:
    """Every module (``qsat_pat`` or third-party) that module ``name`` imports, anywhere in it."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node.module or "", node.level, name, path.name == "__init__.py")
            out.add(mod)
            for alias in node.names:  # "from pkg import submodule"
                if f"{mod}.{alias.name}" in MODULES:
                    out.add(f"{mod}.{alias.name}")
    return out


def internal_edges() -> dict[str, set[str]]:
    """qsat_pat module -> the qsat_pat modules it imports (a module that is a package's
    attribute resolves to the module file; ``qsat_pat.msg`` is generated, not a node)."""
    edges = {}
    for name in MODULES:
        deps = set()
        for mod in imports_of(name):
            if not mod.startswith("qsat_pat"):
                continue
            while mod and mod not in MODULES:
                mod = mod.rpartition(".")[0]
            if mod and mod != name and mod != "qsat_pat":
                deps.add(mod)
        edges[name] = deps
    return edges


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _is_ros(mod: str) -> bool:
    top = mod.split(".")[0]
    return (mod.startswith(ROS_PREFIXES) or top.endswith(("_msgs", "_srvs")) or mod == "qsat_pat.msg"
            or mod.startswith("qsat_pat.msg."))


def layer_violations() -> list[tuple[str, str, str]]:
    """(rule, module, imported) for every import a layer may not make."""
    bad = []
    for name in sorted(MODULES):
        for mod in sorted(imports_of(name)):
            internal = mod.startswith("qsat_pat.") and not mod.startswith("qsat_pat.msg")
            if name.startswith("qsat_pat.core"):
                if (internal and not mod.startswith("qsat_pat.core")) or _is_ros(mod):
                    bad.append(("core imports only core", name, mod))
            if name.startswith("qsat_pat.sim") and not name.startswith("qsat_pat.sim.ros"):
                if _is_ros(mod) or mod.startswith(("qsat_pat.nodes", "qsat_pat.sim.ros", "qsat_pat.commands")):
                    bad.append(("sim/ outside sim/ros/ runs without ROS", name, mod))
            if name.startswith("qsat_pat.nodes") and mod.startswith("qsat_pat.commands"):
                bad.append(("nodes never import commands", name, mod))
            if name.startswith("qsat_pat.drivers"):
                if _is_ros(mod) or (internal and not mod.startswith(("qsat_pat.core", "qsat_pat.drivers"))):
                    bad.append(("drivers import only core", name, mod))
    return bad


def test_the_package_has_modules():
    assert len(MODULES) > 50 and "qsat_pat.core.pat" in MODULES


#: Breaches found when this guard was added (issue 13), each to be removed with its fix: the
#: test fails on a new breach and on a listed one that is gone (so the list only shrinks).
KNOWN_CYCLES: list[list[str]] = []
KNOWN_LAYER_BREACHES: list[tuple[str, str, str]] = []


def test_no_import_cycles():
    cycles = find_cycles(internal_edges())
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    gone = [c for c in KNOWN_CYCLES if c not in cycles]
    assert not new, "import cycles: " + "; ".join(" <-> ".join(c) for c in new)
    assert not gone, f"fixed, remove from KNOWN_CYCLES: {gone}"


def test_each_layer_imports_only_what_it_may():
    bad = layer_violations()
    new = [b for b in bad if b not in KNOWN_LAYER_BREACHES]
    gone = [b for b in KNOWN_LAYER_BREACHES if b not in bad]
    assert not new, "\n".join(f"{rule}: {name} imports {mod}" for rule, name, mod in new)
    assert not gone, f"fixed, remove from KNOWN_LAYER_BREACHES: {gone}"


def test_the_checks_can_fail(tmp_path, monkeypatch):
    """A cycle and a layer breach planted in a throw-away package are found."""
    pkg = tmp_path / "qsat_pat"
    for rel, text in {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "def f():\n    from qsat_pat.core import b\n",
        "core/b.py": "from qsat_pat.core.a import f\nimport rclpy\n",
        "sim/__init__.py": "",
        "sim/loop.py": "from qsat_pat.nodes.x import y\n",
        "nodes/__init__.py": "",
        "nodes/x.py": "from qsat_pat.commands.sim import ProgressBar\ny = 1\n",
        "commands/__init__.py": "",
        "commands/sim.py": "ProgressBar = None\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    monkeypatch.setattr(__import__(__name__), "PKG", pkg)
    monkeypatch.setattr(__import__(__name__), "MODULES", {module_name(p): p for p in sorted(pkg.rglob("*.py"))})
    assert find_cycles(internal_edges()) == [["qsat_pat.core.a", "qsat_pat.core.b"]]
    rules = {(rule, name) for rule, name, _ in layer_violations()}
    assert rules == {("core imports only core", "qsat_pat.core.b"),
                     ("sim/ outside sim/ros/ runs without ROS", "qsat_pat.sim.loop"),
                     ("nodes never import commands", "qsat_pat.nodes.x")}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("qsat_pat.core")))
def test_core_module_imports_resolve(name):
    """Every qsat_pat module a core module imports exists (a move left no dangling import)."""
    for mod in imports_of(name):
        if mod.startswith("qsat_pat.core"):
            probe = mod
            while probe not in MODULES and "." in probe:
                probe = probe.rpartition(".")[0]
            assert probe.startswith("qsat_pat.core"), (name, mod)
