"""CLI: ``link-budget``, ``key-rate``, ``modem bench``, ``modem ranging`` (in-process and subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qsat_pat.cli import main

REPO = Path(__file__).resolve().parents[1]


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_link_budget_vector_json(capsys):
    rc = main(["link-budget", "--model", "vector", "--wavelength-nm", "850", "--waist-mm", "4",
               "--rx-aperture-m", "0.6", "--altitude-km", "560", "--elevation-deg", "20", "--kappa-db", "1.64",
               "--fixed-loss-db", "7.8", "--pointing-rms-urad", "0", "--json"])
    assert rc == 0
    out = _json(capsys)
    for key in ("distance_m", "diffraction_db", "pointing_db", "atmospheric_db", "total_db"):
        assert key in out
    assert out["diffraction_db"] == pytest.approx(46.4, abs=0.05)
    assert out["total_db"] == pytest.approx(59.0, abs=0.1)


def test_link_budget_nanobob_json(capsys):
    assert main(["link-budget", "--model", "nanobob", "--elevation-deg", "60", "--r0-cm", "20", "--json"]) == 0
    out = _json(capsys)
    assert out["model"] == "nanobob" and out["total_db"] > out["diffraction_db"]


def test_key_rate_bbm92_json(capsys):
    rc = main(["key-rate", "--protocol", "bbm92", "--loss-db", "30,45,50", "--pair-rate-hz", "1e8",
               "--tau-s", "1e-9", "--mu", "0.1", "--eta-a", "0.32", "--eta-b", "0.32", "--detectors", "4",
               "--dark-a-cps", "100", "--dark-b-cps", "100", "--background-cps", "400", "--ed", "0.01",
               "--f-ec", "1.22", "--q", "0.5", "--json"])
    assert rc == 0
    rows = _json(capsys)
    assert [r["loss_db"] for r in rows] == [30.0, 45.0, 50.0]
    assert all({"loss_db", "qber", "key_rate_bps", "coincidence_rate_cps"} <= set(r) for r in rows)
    assert rows[0]["key_rate_bps"] > rows[1]["key_rate_bps"] > 0.0 == rows[2]["key_rate_bps"]


@pytest.mark.parametrize("protocol", ["bb84-decoy", "cv"])
def test_key_rate_other_protocols(capsys, protocol):
    assert main(["key-rate", "--protocol", protocol, "--loss-db", "5,10", "--json"]) == 0
    rows = _json(capsys)
    assert len(rows) == 2 and rows[0]["key_rate_bps"] > rows[1]["key_rate_bps"] > 0


@pytest.mark.parametrize("argv,msg", [
    (["key-rate", "--protocol", "b92", "--loss-db", "10"], "unknown protocol"),
    (["key-rate", "--protocol", "bbm92", "--loss-db", "10,-2"], "cannot be a gain"),
    (["key-rate", "--protocol", "bbm92", "--loss-db", "10", "--eta-a", "1.4"], "eta_a"),
    (["key-rate", "--protocol", "bbm92", "--loss-db", "ten"], "comma-separated"),
    (["link-budget", "--model", "vector", "--kappa-db", "-1"], "kappa_db"),
    (["link-budget", "--model", "vector", "--elevation-deg", "0"], "elevation"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, msg):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_modem_bench_json(capsys):
    assert main(["modem", "bench", "--frames", "300", "--repeats", "1", "--json"]) == 0
    out = _json(capsys)
    assert {"encode_mbps", "decode_mbps", "line_rate_mbps"} <= set(out)
    assert out["frames_ok"] == 300 and out["encode_mbps"] > 0 and out["decode_mbps"] > 0


def test_modem_ranging_subprocess():
    proc = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "modem", "ranging", "--rate-mbps", "156.25",
                           "--jitter-ps", "1000", "--duration-s", "1", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["precision_mm"] <= 5.0
    assert abs(out["bias_mm"]) < 5.0
    assert out["predicted_precision_mm"] == pytest.approx(1.26, abs=0.01)
