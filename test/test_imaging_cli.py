"""``qsat-pat centroid`` (in-process and as a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from qsat_pat.cli import main
from qsat_pat.core.camera_noise import CameraModel, render_frame

REPO = Path(__file__).resolve().parents[1]
KEYS = {"file", "x_px", "y_px", "cov_px2", "snr", "signal_e", "background_e", "valid"}


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(12)
    cam16 = CameraModel(gain_e_per_dn=1.0, read_noise_e=2.0, bias_dn=100.0, bit_depth=16)
    cam8 = CameraModel(gain_e_per_dn=1.0, read_noise_e=2.0, bias_dn=10.0)
    png16 = tmp_path / "spot16.png"
    cv2.imwrite(str(png16), render_frame((80, 100), cam16, rng, x_px=41.3, y_px=30.6, signal_e=2e4,
                                         background_e=10.0))
    png8 = tmp_path / "spot8.png"
    cv2.imwrite(str(png8), render_frame((80, 100), cam8, rng, x_px=70.8, y_px=50.2, signal_e=2000.0,
                                        background_e=5.0))
    npy = tmp_path / "empty.npy"
    np.save(npy, render_frame((80, 100), cam8, rng, background_e=5.0))
    dark = tmp_path / "dark.npy"
    np.save(dark, np.full((80, 100), 10, np.uint8))
    return png16, png8, npy, dark


def test_cli_json_lines(images, capsys):
    png16, png8, npy, _ = images
    assert main(["centroid", str(png16), str(png8), str(npy), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert KEYS <= set(line)
    assert lines[0]["file"] == str(png16) and lines[0]["valid"]
    assert lines[0]["x_px"] == pytest.approx(41.3, abs=0.1) and lines[0]["y_px"] == pytest.approx(30.6, abs=0.1)
    assert np.array(lines[0]["cov_px2"]).shape == (2, 2)
    assert lines[1]["x_px"] == pytest.approx(70.8, abs=0.15) and lines[1]["y_px"] == pytest.approx(50.2, abs=0.15)
    assert lines[2]["valid"] is False and lines[2]["x_px"] is None and lines[2]["reason"]


def test_cli_york_with_dark(images, capsys):
    _, png8, _, dark = images
    assert main(["centroid", str(png8), "--dark", str(dark), "--method", "york", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["method"] == "york" and line["valid"]
    assert line["x_px"] == int(line["x_px"]) and abs(line["x_px"] - 70.8) <= 1.0


def test_cli_bad_input(images, tmp_path, capsys):
    png16, _, _, _ = images
    wrong = tmp_path / "wrong_dark.npy"
    np.save(wrong, np.zeros((10, 10), np.uint8))
    assert main(["centroid", str(png16), "--dark", str(wrong)]) == 2
    assert "dark/flat frame is 10x10 px but the image is 100x80 px" in capsys.readouterr().err
    assert main(["centroid", str(tmp_path / "nope.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_subprocess(images):
    png16, _, _, _ = images
    out = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "centroid", str(png16), "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    line = json.loads(out.stdout)
    assert line["valid"] and line["x_px"] == pytest.approx(41.3, abs=0.1)


def test_cli_dark_level_on_real_frame(capsys):
    frame = REPO.parent / "shared" / "data" / "york_tracking" / "images" / "beacon_frame_4144x2820.jpg"
    if not frame.is_file():
        pytest.skip(f"shared York data not found at {frame}")
    assert main(["centroid", str(frame), "--method", "york", "--dark-level", "2", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["x_px"], line["y_px"]) == (2560.0, 1155.0)
    assert main(["centroid", str(frame), "--dark-level", "-1"]) == 2
    assert "--dark-level" in capsys.readouterr().err
