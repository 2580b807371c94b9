"""The package builds with `colcon build` against the venv underlay, as on a real ROS 2
install, and its install space works (scripts/colcon_check.sh does the checking)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.ros
def test_colcon_build_and_install_space(tmp_path):
    if not (Path(sys.prefix) / "bin" / "colcon").is_file():
        pytest.fail("colcon is not installed in the venv (requirements/ros.txt)")
    out = subprocess.run(["bash", str(ROOT / "scripts" / "colcon_check.sh"), str(tmp_path / "ws")],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "colcon build OK" in out.stdout
