"""The ROS lockstep mode (issue 6): sim_world + both terminals' nodes over DDS on /clock.

A seeded window is flown twice in the ROS mode at the same time, on two private domains: the
strict lockstep makes the runs identical.  How the ROS mode compares with the in-process mode
(identical, sample by sample) is test_sim_modes.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.core.pat import PatState

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
WINDOW = {"duration_s": 2.0, "start_offset_s": 230.0, "seed": 4}


#: A second ROS run of WINDOW in its own process (pickles its record), started beside the first.
_CONCURRENT_RUN = """
import json, pickle, sys
from pathlib import Path
from qsat_pat.sim.ros.run import run_ros
from qsat_pat.sim.scenario import load_scenario
logs = []
rec = run_ros(load_scenario("nominal"), work_dir=Path(sys.argv[1]), log=logs.append, **json.loads(sys.argv[3]))
Path(sys.argv[2]).write_bytes(pickle.dumps((rec, logs)))
"""


def _domain(logs) -> int:
    lines = [ln for ln in logs if "ROS_DOMAIN_ID=" in ln]
    assert lines, logs
    return int(lines[0].split("ROS_DOMAIN_ID=")[1].split(",")[0])


@pytest.fixture(scope="module")
def both_modes(tmp_path_factory):
    """The direct run, a ROS run in this process and, at the same time, a second ROS run in
    another process (strict lockstep: run_ros gives the nodes a counter directory).  Each ROS
    run reserves a private domain: on a shared one each would take the other's /clock (seen:
    "PAT time went backwards" stopped a pass) and they could not be identical."""
    import pickle

    from qsat_pat.sim.ros.run import run_ros
    from qsat_pat.sim.scenario import load_scenario

    work = tmp_path_factory.mktemp("ros_concurrent")
    from qsat_pat.sim.loop import run_direct
    child = subprocess.Popen([sys.executable, "-c", _CONCURRENT_RUN, str(work / "ros"), str(work / "record.pkl"),
                              json.dumps(WINDOW)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        logs: list[str] = []
        ros = run_ros(load_scenario("nominal"), work_dir=tmp_path_factory.mktemp("ros"), log=logs.append, **WINDOW)
        out, _ = child.communicate(timeout=1200)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out[-3000:]
    again, again_logs = pickle.loads((work / "record.pkl").read_bytes())
    direct = run_direct(load_scenario("nominal"), **WINDOW)
    return {"direct": direct, "ros": ros, "again": again, "domains": (_domain(logs), _domain(again_logs))}


def _fine_rms_urad(rec, name):
    t = rec.terminals[name]
    fine = t["pat_state"] == int(PatState.FINE_TRACK)
    r = t["fine_residual_rad"][fine]
    return float(np.sqrt(np.mean(np.sum(r * r, axis=1)))) * 1e6, int(fine.sum())


def _first(rec, name, state):
    t = rec.terminals[name]
    idx = np.flatnonzero(t["pat_state"] == int(state))
    return float(t["t_s"][idx[0]]) if idx.size else None


def test_ros_mode_is_lockstep(both_modes):
    ros = both_modes["ros"]
    s = ros.lockstep
    assert ros.mode == "ros"
    assert s["frames"] > 1500  # 1 kHz fine camera while tracking
    # every frame answered by both nodes, on the step's clock: nothing ran ahead or behind
    assert s["centroid_timeouts"] == 0 and s["command_timeouts"] == 0
    assert s["mount_ticks"] >= 199 and s["mount_timeouts"] == 0
    assert s["stale_clock_answers"] == 0
    # strict lockstep: the graph went quiet after every group of messages, timers ran on turns
    assert s["quiescence_timeouts"] == 0 and s["quiescence_waits"] > s["frames"]
    # the satellite's ADCS (Basilisk, here) obeyed adcs_pointing's targets every 100 ms
    assert s["adcs_targets"] >= 19 and s["adcs_targets_held"] == 0
    assert s["timer_turns"] >= 2 * 200  # the two PAT managers' 100 Hz steps, at least
    assert any("over DDS" in n for n in ros.notes)


def test_ros_and_in_process_modes_fly_the_same_window(both_modes):
    """The same window in process: identical records (test_sim_modes.py has three more windows)."""
    direct, ros = both_modes["direct"], both_modes["ros"]
    for name in ("ogs", "space"):
        for field in ("pat_state", "pointing_rad", "fine_residual_rad", "fsm_rad", "beacon_detected"):
            np.testing.assert_array_equal(direct.terminals[name][field], ros.terminals[name][field],
                                          err_msg=(name, field))
    assert _first(ros, "ogs", PatState.FINE_TRACK) is not None and _fine_rms_urad(ros, "ogs")[0] < 3.0


def test_ros_mode_is_bit_reproducible_with_the_same_seed(both_modes):
    """Two ROS runs of the same seed, flown at the same time on this machine, give identical
    records and report numbers: the strict lockstep (qsat_pat/nodes/lockstep.py) makes every
    node see its inputs in the same order at the same simulated time, whatever the machine's
    load, and each run's graph is private (its own domain, localhost only) (issue 6's
    must-show)."""
    from qsat_pat.sim.report import build_report

    a, b = both_modes["ros"], both_modes["again"]
    d_a, d_b = both_modes["domains"]
    assert d_a != d_b and str(d_a) != os.environ["ROS_DOMAIN_ID"] and str(d_b) != os.environ["ROS_DOMAIN_ID"]
    for name in ("ogs", "space"):
        for field in ("pat_state", "pointing_rad", "fine_residual_rad", "fsm_rad", "beacon_detected"):
            np.testing.assert_array_equal(a.terminals[name][field], b.terminals[name][field], err_msg=(name, field))
    ra, rb = build_report(a), build_report(b)
    for r in (ra, rb):
        for key in ("wall_time_s", "real_time_factor"):
            r.pop(key)
    assert ra == rb
    assert a.disturbance_budget == b.disturbance_budget
    assert a.disturbance_budget["ogs"]["sensor_noise_rad"] is not None


def test_sim_cli_ros_mode_writes_report_and_a_dds_bag(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "sim", "--out", str(out), "--duration", "0.6",
                           "--start-offset", "230", "--no-plots", "--quiet"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "ros" and report["ogs"]["acquired"]
    assert (out / "bag" / "metadata.yaml").is_file()
    # the recorder node's bag of the DDS graph, on simulated time
    from rosbags.rosbag2 import Reader

    with Reader(out / "ros" / "dds_bag") as reader:
        topics = {c.topic: c.msgcount for c in reader.connections}
        types = {c.topic: c.msgtype for c in reader.connections}
    assert topics.get("/ogs/fsm_command", 0) > 100 and topics.get("/ogs/beacon_centroid", 0) > 100
    # no camera frames: the coarse camera alone would be 26 MB per simulated second
    assert not [t for t, ty in types.items() if ty == "sensor_msgs/msg/Image" and topics[t] > 0], types
