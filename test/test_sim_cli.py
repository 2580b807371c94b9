"""`qsat-pat sim`: bad input refused with clear messages and nothing written; a short direct
run writes report.json, the plots and a readable bag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader

from qsat_pat.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_scenario(tmp_path, capsys):
    assert main(["sim", "--scenario", "no_such_pass", "--out", str(tmp_path / "o"), "--direct"]) == 2
    err = capsys.readouterr().err
    assert "no_such_pass" in err and "nominal" in err
    assert not (tmp_path / "o").exists()


def test_bad_scenario_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "scenarios" / "nominal.yaml").read_text().replace(
        "altitude_m: 500000.0", "altitude_m: -5.0"))
    assert main(["sim", "--scenario", str(bad), "--out", str(tmp_path / "o"), "--direct"]) == 2
    assert "altitude_m" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_non_empty_out_refused_without_force(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["sim", "--out", str(out), "--direct", "--duration", "1"]) == 2
    assert "not empty" in capsys.readouterr().err and "--force" in capsys.readouterr().err + "--force"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_bad_duration_and_start_offset(tmp_path, capsys):
    assert main(["sim", "--out", str(tmp_path / "a"), "--direct", "--duration", "-3"]) == 2
    assert "--duration" in capsys.readouterr().err
    assert main(["sim", "--out", str(tmp_path / "b"), "--start-offset", "-1"]) == 2
    assert "--start-offset" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_bad_domain_id(tmp_path, capsys):
    assert main(["sim", "--out", str(tmp_path / "a"), "--domain-id", "0", "--duration", "1"]) == 2
    assert "--domain-id must be in 1-101" in capsys.readouterr().err
    assert main(["sim", "--out", str(tmp_path / "b"), "--domain-id", "7", "--direct", "--duration", "1"]) == 2
    assert "--domain-id is for the ROS mode" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_domain_id_in_use_refused_before_any_node_starts(tmp_path, capsys, monkeypatch):
    from qsat_pat.launcher import DOMAIN_LOCK_DIR_ENV, reserve_domain_id

    monkeypatch.setenv(DOMAIN_LOCK_DIR_ENV, str(tmp_path / "locks"))
    with reserve_domain_id(42):  # another run holds domain 42
        assert main(["sim", "--out", str(tmp_path / "o"), "--domain-id", "42", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "domain ID 42 is in use by another run" in err
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.partial-*"))


@pytest.mark.slow
def test_short_direct_pass_writes_report_plots_and_bag(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "sim", "--scenario", "nominal", "--out",
                           str(out), "--direct", "--duration", "9", "--seed", "3"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"report: {out / 'report.json'}" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["scenario"] == "nominal" and report["seed"] == 3 and report["mode"] == "direct"
    for name in ("ogs", "space"):
        assert report[name]["acquired"] is True, report[name]
        assert set(report[name]) >= {"acquisition_time_s", "fine_residual_rms_urad", "fine_residual_p95_urad",
                                     "time_in_state_s", "fsm_saturation_fraction", "beacon_loss_events",
                                     "reacquisition_times_s"}
    assert report["ogs"]["fine_residual_rms_urad"] < 3.0  # seed 004's < 3 urad
    assert sorted(p.name for p in out.glob("*.png")) == ["link_loss_vs_time.png", "pat_state_timeline.png",
                                                        "residual_psd.png", "residual_vs_time.png"]
    with AnyReader([out / "bag"]) as reader:
        topics = {c.topic for c in reader.connections}
    assert {"/ogs/pat_status", "/space/pat_status", "/ogs/fsm/state", "/clock"} <= topics
    assert not list(tmp_path.glob(".run.partial-*"))
