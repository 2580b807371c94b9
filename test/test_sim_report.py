"""Report metrics, plots and the direct-mode bag from a hand-built SimRecord with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from qsat_pat.core.errors import SimulationError
from qsat_pat.core.pat import PatState as S
from qsat_pat.sim.bag import write_bag
from qsat_pat.sim.record import SimRecord, TerminalRecord
from qsat_pat.sim.report import build_report, write_plots, write_report

DT = 0.01


def _record(rng) -> SimRecord:
    # 0-1 s IDLE, 1-2 s ACQUIRE, 2-3 s COARSE, 3-6 s FINE, 6-6.5 s COAST, 6.5-10 s FINE
    plan = [(1.0, S.IDLE), (1.0, S.ACQUIRE), (1.0, S.COARSE_TRACK), (3.0, S.FINE_TRACK),
            (0.5, S.COAST), (3.5, S.FINE_TRACK)]
    terms = {}
    for name, sigma in (("ogs", 2e-6), ("space", 5e-6)):
        rec = TerminalRecord(name)
        t = 0.0
        for dur, st in plan:
            for _ in range(round(dur / DT)):
                r = rng.normal(0, sigma, 2) if st == S.FINE_TRACK else np.array([1e-3, 1e-3])
                rec.append(t_s=t, pat_state=int(st), true_los_rad=(0.0, 0.0), pointing_rad=(0.0, 0.0),
                           fine_residual_rad=r, fsm_rad=(1e-5, -1e-5), fsm_saturated=t > 9.5,
                           beacon_detected=st != S.COAST, beacon_blocked=st == S.COAST,
                           link_loss_db=40.0 + t, turbulence_tilt_rad=(0.0, 0.0), elevation_rad=0.5)
                t = round(t + DT, 9)
        terms[name] = rec
    return SimRecord("unit", 7, "direct", terms, sim_duration_s=10.0, wall_time_s=2.0,
                     disturbance_budget={"sensor_noise_urad": 1.0})


def test_metrics_have_the_known_values():
    rng = np.random.default_rng(1)
    rec = _record(rng)
    report = build_report(rec)
    ogs = report["ogs"]
    assert ogs["acquired"] is True
    assert ogs["acquisition_time_s"] == pytest.approx(2.0)  # ACQUIRE at 1 s -> FINE at 3 s
    assert ogs["beacon_loss_events"] == 1
    assert ogs["reacquisition_times_s"] == [pytest.approx(0.5)]
    assert ogs["time_in_state_s"]["FINE_TRACK"] == pytest.approx(6.5, abs=1e-6)
    assert ogs["time_in_state_s"]["COAST"] == pytest.approx(0.5, abs=1e-6)
    # norm of a 2-D Gaussian with sigma 2 urad per axis: RMS = 2*sqrt(2) urad
    assert ogs["fine_residual_rms_urad"] == pytest.approx(2 * np.sqrt(2), rel=0.06)
    assert report["space"]["fine_residual_rms_urad"] == pytest.approx(5 * np.sqrt(2), rel=0.06)
    assert ogs["fsm_saturation_fraction"] == pytest.approx(50 / 650, abs=2 / 650)
    assert report["real_time_factor"] == pytest.approx(5.0)
    assert report["link_loss_db"]["ogs"]["min"] == pytest.approx(40.0)


def test_never_acquired_terminal():
    rec = TerminalRecord("ogs")
    for k in range(10):
        rec.append(t_s=k * DT, pat_state=int(S.ACQUIRE), true_los_rad=(0, 0), pointing_rad=(0, 0),
                   fine_residual_rad=(1e-3, 0), fsm_rad=(0, 0), fsm_saturated=False, beacon_detected=False,
                   beacon_blocked=False, link_loss_db=50.0, turbulence_tilt_rad=(0, 0), elevation_rad=0.3)
    report = build_report(SimRecord("x", 1, "direct", {"ogs": rec}, 0.1, 0.1))
    assert report["ogs"]["acquired"] is False
    assert report["ogs"]["acquisition_time_s"] is None
    assert report["ogs"]["fine_residual_rms_urad"] is None


def test_record_refuses_incomplete_samples():
    rec = TerminalRecord("ogs")
    with pytest.raises(SimulationError, match="missing"):
        rec.append(t_s=0.0)


def test_report_plots_and_bag_files(tmp_path):
    rec = _record(np.random.default_rng(2))
    path = write_report(rec, tmp_path)
    data = json.loads(path.read_text())
    assert set(data) >= {"scenario", "seed", "sim_duration_s", "wall_time_s", "real_time_factor",
                         "link_loss_db", "ogs", "space"}
    plots = write_plots(rec, tmp_path)
    assert sorted(p.name for p in plots) == ["link_loss_vs_time.png", "pat_state_timeline.png",
                                             "residual_psd.png", "residual_vs_time.png"]
    assert all(p.stat().st_size > 5000 and p.read_bytes()[:4] == b"\x89PNG" for p in plots)

    bag = write_bag(rec, tmp_path / "bag", t0_unix_s=1.7e9)
    with AnyReader([bag]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        states = []
        resid = []
        for conn, t_ns, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/ogs/pat_status":
                states.append((t_ns, msg.state_name))
            if conn.topic == "/ogs/sim/fine_residual":
                resid.append(msg.vector.x)
    assert counts["/ogs/fsm/state"] == pytest.approx(1000, abs=2)   # 10 s at 100 Hz
    assert counts["/clock"] == pytest.approx(100, abs=2)
    names = [s for _, s in states]
    assert names[0] == "IDLE" and "COAST" in names and names[-1] == "FINE_TRACK"
    assert states[0][0] == int(1.7e9 * 1e9)
    assert np.allclose(resid[:10], 1e-3)  # IDLE samples carry the 1 mrad placeholder residual
