"""`qsat-pat up`: starts a deployment, stops cleanly on SIGINT, leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader

from qsat_pat import launcher
from qsat_pat.deployments import Deployment, NodeSpec

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state


def _start_up(tmp_path, *extra):
    cmd = [sys.executable, "-m", "qsat_pat.cli", "up", "ogs", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait_for(proc, pattern: str, timeout_s: float = 30.0) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"{pattern!r} not seen in {timeout_s} s:\n{''.join(lines)}")


def _bags(tmp_path):
    return sorted((tmp_path / "bags").glob("qsat_pat_*"))


@pytest.mark.parametrize("mode", ["processes", "composed"])
def test_up_stops_on_sigint_with_exit_0_and_no_orphans(tmp_path, mode):
    proc = _start_up(tmp_path, *(["--composed"] if mode == "composed" else []))
    try:
        lines = _wait_for(proc, r"recording to")
        time.sleep(4.0)  # let it run: diagnostics (1 Hz) flow and are recorded, even on a loaded machine
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", text)]
    assert (len(pids) > 0) == (mode == "processes")
    deadline = time.monotonic() + 10.0  # reaped by the launcher already; allow a loaded machine
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], f"processes left behind: {pids}"
    bags = _bags(tmp_path)
    assert len(bags) == 1 and (bags[0] / "metadata.yaml").is_file(), text
    with AnyReader([bags[0]]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts.get("/diagnostics", 0) >= 1, counts


def test_launcher_killed_takes_its_nodes_with_it(tmp_path):
    proc = _start_up(tmp_path)
    try:
        lines = _wait_for(proc, r"\(pid \d+\)")
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", "".join(lines))]
        _wait_for(proc, r"recording to")
        proc.kill()  # SIGKILL: no chance to forward anything
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        assert pids and not [p for p in pids if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_node_that_dies_stops_the_deployment_with_exit_1(tmp_path, monkeypatch):
    existing = tmp_path / "taken"
    existing.mkdir()
    params = tmp_path / "bad.yaml"
    params.write_text(f"/**:\n  ros__parameters:\n    output_dir: '{existing}'\n")
    good = tmp_path / "good.yaml"
    good.write_text(f"/**:\n  ros__parameters:\n    output_dir: '{tmp_path / 'bag_ok'}'\n")
    dep = Deployment("t", "test", (
        NodeSpec("bag_recorder", "ok_recorder", "/t", (str(good),)),
        NodeSpec("bag_recorder", "bad_recorder", "/t", (str(params),)),
    ))
    logs = []
    code = launcher.run_processes(dep, duration_s=30.0, log=logs.append)
    assert code == 1
    assert any("/t/bad_recorder exited with code 1" in m for m in logs), logs
    assert not any("/t/ok_recorder exited with code" in m for m in logs), logs  # stopped cleanly
    if (tmp_path / "bag_ok").exists():  # it got as far as opening its bag: then it closed it
        assert (tmp_path / "bag_ok" / "metadata.yaml").is_file()


def test_up_list_and_bad_duration(capsys):
    from qsat_pat.cli import main

    assert main(["up", "ogs", "--list"]) == 0
    assert "/ogs/bag_recorder" in capsys.readouterr().out
    assert main(["up", "sim", "--duration", "-1"]) == 2
    assert "duration must be > 0" in capsys.readouterr().err
