"""``qsat-pat control rejection`` / ``control acquisition`` (in-process and once as a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qsat_pat.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_rejection_curve_json_rejects_low_frequencies_more(capsys):
    assert main(["control", "rejection", "--frequencies-hz", "1,10,100", "--periods", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    pts = out["points"]
    assert [p["frequency_hz"] for p in pts] == [1.0, 10.0, 100.0]
    db = [p["rejection_db"] for p in pts]
    assert db[0] < db[1] < db[2]          # a type-1 loop rejects slow disturbances best
    assert db[0] < -30.0 and db[2] > -10.0  # 1 kHz camera: strong at 1 Hz, little at 100 Hz
    for p in pts:
        assert p["disturbance_rms_urad"] == pytest.approx(50.0 / 2 ** 0.5, rel=0.02)


def test_rejection_text_table(capsys):
    assert main(["control", "rejection", "--frequencies-hz", "5", "--periods", "2", "--latency-frames", "2",
                 "--compensation", "none"]) == 0
    text = capsys.readouterr().out
    assert "latency 2 frame(s), none compensation" in text and "rejection [dB]" in text
    assert len(text.strip().splitlines()) == 3


def test_rejection_bad_input_is_one_line_exit_2(capsys):
    assert main(["control", "rejection", "--frequencies-hz", "1,abc"]) == 2
    assert "comma-separated" in capsys.readouterr().err
    assert main(["control", "rejection", "--frequencies-hz", "600", "--camera-rate-hz", "1000"]) == 2
    assert "Nyquist" in capsys.readouterr().err
    assert main(["control", "rejection", "--frequencies-hz", "-1"]) == 2
    assert main(["control", "acquisition", "--error-urad", "nan"]) == 2


def test_acquisition_text_output(capsys):
    assert main(["control", "acquisition", "--error-urad", "500", "--scan", "raster", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "FINE_TRACK after" in text and "ACQUIRE -> COARSE_TRACK" in text


def test_acquisition_subprocess_reaches_fine_track_from_2_mrad():
    proc = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "control", "acquisition", "--error-urad", "2000",
                           "--scan", "spiral", "--seed", "3", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["reached_fine_track"] is True
    assert 0.0 < out["time_to_detect_s"] <= out["time_to_fine_track_s"] < 120.0
    assert out["error_at_handover_urad"] < 100.0  # below the handover threshold (PatConfig.fine_handover_rad)
    assert [t["to"] for t in out["transitions"]][-1] == "FINE_TRACK"
