"""scripts/setup_env.sh: idempotent, and it names a missing build tool instead of failing obscurely."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup_env.sh"


def test_second_run_skips_installing_and_building():
    out = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "installing" not in text and "building" not in text, text
    assert "ready:" in text


@pytest.mark.parametrize("missing", ["cmake", "c++"])
def test_missing_tool_stops_with_a_message_naming_it(tmp_path, missing):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("python3", "cmake", "cc", "c++", "make", "bash", "id", "cat", "sha256sum", "cut", "dirname",
                 "grep", "sed", "nproc", "printf"):
        if tool != missing and shutil.which(tool):
            (bindir / tool).symlink_to(shutil.which(tool))
    env = dict(os.environ, PATH=str(bindir), QSAT_PAT_APT="0", QSAT_PAT_VENV=str(tmp_path / "venv"))
    out = subprocess.run([shutil.which("bash"), str(SETUP)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode != 0
    assert f"missing build tools: {missing}" in out.stderr
    assert "apt-get install" in out.stderr
    assert not (tmp_path / "venv").exists()  # stopped before touching anything
