"""York's real tracking logs (seed 002): CLI replay/tune and the re-acquisition floor of issue 3."""

from __future__ import annotations

import csv
import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.analysis.tracking import find_gaps, reacquisition_errors, replay
from qsat_pat.cli import main
from qsat_pat.commands.track import (
    BLOCKAGE_MIN_S,
    YORK_TAU_FRACTION,
    YORK_TCA_FRACTION,
    px_config,
    read_york_log,
    york_ephemeris_track,
    york_pass_geometry,
)
from qsat_pat.core.estimation import (
    YORK_PX_CONFIG,
    NoiseLearner,
    fit_pass_trajectory,
)

REPO = Path(__file__).resolve().parents[1]
PASSES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "york_tracking" / "passes"
needs_data = pytest.mark.skipif(not PASSES.is_dir(), reason=f"York logs not found at {PASSES} (shared/ beside the repo)")

#: Model used for the floor test: the best of the four in benchmarks/york_reacquisition.py.
FLOOR_MODEL = "ca"


def _read_out(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@needs_data
def test_cli_replay_writes_one_row_per_input_row(tmp_path, capsys):
    src = PASSES / "cj_breaks_04A_T120s.csv"
    out = tmp_path / "out.csv"
    assert main(["track", "replay", str(src), "--model", "cv", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = _read_out(out)
    log = read_york_log(src)
    assert len(rows) == log.time_s.shape[0] == summary["rows"]
    assert list(rows[0]) == ["Time", "prior_X", "prior_Y", "post_X", "post_Y", "nis", "accepted"]
    assert float(rows[10]["Time"]) == log.time_s[10]
    # York's first detection after a blockage is sometimes spurious (1698 px, 774 px away here):
    # those rows must not be accepted
    meas = np.all(np.isfinite(log.measured_px), axis=1)
    spurious = 0
    for _, b in find_gaps(log.measured_px):
        after = np.flatnonzero(meas & (np.arange(meas.size) > b))
        if after.size < 6:
            continue
        truth = np.median(log.measured_px[after[1:6]], axis=0)
        if np.hypot(*(log.measured_px[after[0]] - truth)) > 100:
            spurious += 1
            assert rows[after[0]]["accepted"] == "0"
            # and the track is re-acquired right after
            assert rows[after[3]]["accepted"] == "1"
    assert spurious == 2
    # blocked rows: a prediction (prior == post), not accepted, no NIS
    a, b = find_gaps(log.measured_px)[0]
    r = rows[(a + b) // 2]
    assert r["accepted"] == "0" and r["nis"] == "" and r["prior_X"] == r["post_X"] != ""


@needs_data
def test_cli_replay_as_a_subprocess(tmp_path):
    out = tmp_path / "o.csv"
    proc = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "track", "replay",
                           str(PASSES / "cv_clean_04A.csv"), "--model", "imm", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"] == "imm"
    rows = _read_out(out)
    assert len(rows) == read_york_log(PASSES / "cv_clean_04A.csv").time_s.shape[0]


@needs_data
def test_cli_tune_prints_the_best_q_and_r(capsys):
    src = str(PASSES / "cv_clean_04A.csv")
    assert main(["track", "tune", src, "--model", "cv", "--q-grid", "0.01,1", "--std-grid", "0.5,2", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["grid"]) == 4
    assert res["cost"] == min(g["cost"] for g in res["grid"])
    # York's constant-velocity pass, integer-pixel centroids: the one-step error is sub-pixel-ish
    assert 0.2 < res["cost"] < 1.5
    assert main(["track", "tune", src, "--model", "cv", "--q-grid", "1", "--std-grid", "1"]) == 0
    assert "best q_cv = 1" in capsys.readouterr().out


def _gap_durations():
    out = []
    for f in sorted(PASSES.glob("*.csv")):
        log = read_york_log(f)
        out += [g.duration_s for g in reacquisition_errors(log.time_s, log.measured_px, log.measured_px)]
    return np.array(out)


@functools.cache
def _blockage_errors(model):
    """Issue 3's metric over the blockages (>= BLOCKAGE_MIN_S) of every pass, ephemeris-aided
    (pass geometry and, for the cj passes, the stand-in ephemeris track)."""
    ours, york, truth_std = [], [], []
    for f in sorted(PASSES.glob("*.csv")):
        log = read_york_log(f)
        if not any(g.duration_s >= BLOCKAGE_MIN_S for g in
                   reacquisition_errors(log.time_s, log.measured_px, log.measured_px)):
            continue
        tca_s, tau_s = york_pass_geometry(f) or (None, None)
        res = replay(log.time_s, log.measured_px, px_config(model), tca_s=tca_s, tau_s=tau_s,
                     learner=NoiseLearner(floor_std=YORK_PX_CONFIG["measurement_std_rad"]),
                     ephemeris=york_ephemeris_track(f))
        for g in reacquisition_errors(log.time_s, log.measured_px, res.post_xy, log.york_estimate_px,
                                      min_duration_s=BLOCKAGE_MIN_S):
            ours.append(g.error)
            york.append(g.reference_error)
            truth_std.append(g.truth_std)
    return np.array(ours), np.array(york), np.array(truth_std)


@needs_data
def test_blockages_and_detection_dropouts_are_two_separate_populations():
    # issue 3 scores re-acquisition "after each blockage": York's breaks / large breaks (and two
    # 5-6 s blocks in the cv logs) last 2.3-131 s; the other gaps are 1-4 missed frames
    # (< 0.34 s from the last detection before to the first after) in the two low-power noise
    # logs.  Nothing lies in between, so the 1 s split
    # cannot move a gap from one group to the other.
    d = _gap_durations()
    assert d.size == 246
    assert np.sum(d >= BLOCKAGE_MIN_S) == 46
    assert np.all((d < 0.4) | (d > 2.2))


@needs_data
def test_york_pass_geometry_is_what_the_clean_passes_show():
    # calibration of the stand-in ephemeris on the passes without gaps (not scored): TCA at
    # T/2 (the S-curve's symmetry point) and tau = d_min / v = 0.133 T
    tca, tau = [], []
    for f in sorted(PASSES.glob("cj_clean_*.csv")):
        log = read_york_log(f)
        ok = np.all(np.isfinite(log.measured_px), axis=1)
        duration_s = york_pass_geometry(f)[0] / YORK_TCA_FRACTION
        fit = fit_pass_trajectory(log.time_s[ok], log.measured_px[ok], robust_scale=3.0)
        tca.append(fit.tca_s / duration_s)
        tau.append(fit.tau_s / duration_s)
    assert len(tca) == 8
    assert np.median(tca) == pytest.approx(YORK_TCA_FRACTION, abs=0.01)
    assert np.median(tau) == pytest.approx(YORK_TAU_FRACTION, abs=0.003)
    assert york_pass_geometry("cj_breaks_04A_T300s.csv") == pytest.approx((150.0, 39.9))
    assert york_pass_geometry("cv_clean_04A.csv") is None


@needs_data
def test_york_ephemeris_track_is_the_clean_passes_without_the_log_itself():
    # the stand-in ephemeris track comes from the cj_clean_* passes (not scored), scaled to T;
    # a clean pass's own track leaves it out; the cv logs have none
    track = york_ephemeris_track(PASSES / "cj_breaks_04A_T300s.csv")
    assert track.times_s[0] == 0.0 and track.times_s[-1] == pytest.approx(300.0)
    assert track.time_bias_max_s == pytest.approx(9.0)
    log = read_york_log(PASSES / "cj_clean_04A_T300s.csv")
    ok = np.all(np.isfinite(log.measured_px), axis=1)
    # the pass is where the track says, to the run-to-run scatter of York's FSM (a few px typical)
    dev = np.hypot(*(track.position(log.time_s[ok]) - log.measured_px[ok]).T)
    assert np.median(dev) < 10.0
    own = york_ephemeris_track(PASSES / "cj_clean_04A_T300s.csv")
    assert not np.allclose(own.los, track.los)
    assert york_ephemeris_track(PASSES / "cv_clean_04A.csv") is None


@needs_data
def test_cli_replay_pass_window_option(tmp_path, capsys):
    # --pass-window-s 0 restores the single anchored pass fit; the default (6 s) coasts on the
    # local fit: the same measured rows, different predictions inside the blockages
    src = PASSES / "cj_breaks_04A_T60s.csv"
    rows = {}
    for w in ("0", None):
        out = tmp_path / f"o{w}.csv"
        extra = [] if w is None else ["--pass-window-s", w]
        assert main(["track", "replay", str(src), "--model", "ca", "--out", str(out)] + extra) == 0
        rows[w] = _read_out(out)
    capsys.readouterr()
    log = read_york_log(src)
    a, b = [g for g in find_gaps(log.measured_px) if log.time_s[g[1]] - log.time_s[g[0]] > 1.0][0]
    assert rows["0"][a - 5]["post_X"] == rows[None][a - 5]["post_X"]
    assert abs(float(rows["0"][b]["post_X"]) - float(rows[None][b]["post_X"])) > 0.1
    assert main(["track", "replay", str(src), "--out", str(tmp_path / "x.csv"), "--pass-window-s", "-1"]) == 2
    assert "pass_window_s" in capsys.readouterr().err


def test_cli_replay_needs_both_halves_of_the_pass_geometry(tmp_path, capsys):
    src = tmp_path / "log.csv"
    src.write_text("measured_X,measured_Y,Time\n1,2,0.0\n1,2,0.1\n")
    assert main(["track", "replay", str(src), "--out", str(tmp_path / "o.csv"), "--tca-s", "3"]) == 2
    assert "--tau-s" in capsys.readouterr().err


@needs_data
@pytest.mark.slow
def test_reacquisition_median_over_blockages_beats_york():
    """First half of issue 3's floor, met: the median over the 46 blockages beats York's.

    Ephemeris-aided pass model (York's passes: TCA = T/2, tau = 0.133 T); without it the
    filters alone have a median of ~10.7 px against York's 7.3 px.
    """
    ours, york, _ = _blockage_errors(FLOOR_MODEL)
    assert ours.size == 46
    assert np.median(ours) < np.median(york), (np.median(ours), np.median(york))


@needs_data
@pytest.mark.slow
def test_reacquisition_worst_blockages_are_bounded():
    """Regression guard of the coasting pass models (local fit and ephemeris track).

    One pass fit to all measurements, anchored at the last: 12 of 46 blockages more than 2x
    worse than York, worst ratio 21.5; the local fit (pass_window_s = 6 s): 11, worst 9.8;
    with the stand-in ephemeris track blended in by hindcast (york_ephemeris_track): 7,
    worst 10.0, and the two long breaks through the zenith of the 420 s passes (100 and
    61 px before, York 38 and 23 px) within 2x.  Five of the 7 cannot be resolved: York's
    own error is within twice the truth's standard error, on the noise logs (a median of 5
    centroids jittering by ~25 px: 10-20 px) and where York is below 0.5 px against whole-
    pixel centroids (rounding: 0.29 px per axis).  The blockage-onset rollback brings one
    of the 2 resolvable ones from 7.1 to 6.0 px (York 0.77).
    """
    ours, york, truth_std = _blockage_errors(FLOOR_MODEL)
    worse = ours > 2 * york
    assert np.max(ours / york) < 11.0
    assert np.sum(worse) <= 7
    resolvable = york > 2 * np.nan_to_num(truth_std)
    assert np.sum(worse & resolvable) <= 2
    long_ = york > 20.0  # the large breaks and one noise break: York 21-104 px
    assert np.sum(long_) >= 8 and not np.any(worse & long_)


@needs_data
def test_truth_uncertainty_separates_the_noise_logs():
    # the truth (median of 5 centroids) of a noise log scatters by ~10 px; of a clean one by
    # well under a pixel (integer centroids of a slow spot)
    # (integer centroids: never below the rounding error 1 / sqrt(12) = 0.29 px, even when the five
    # are identical)
    for name, lo, hi in (("cj_noise_breaks_04A_T60s.csv", 5.0, 40.0), ("cj_breaks_04A_T60s.csv", 0.288, 1.0)):
        log = read_york_log(PASSES / name)
        gaps = reacquisition_errors(log.time_s, log.measured_px, log.york_estimate_px, log.york_estimate_px,
                                    min_duration_s=BLOCKAGE_MIN_S)
        assert len(gaps) == 3
        assert all(lo <= g.truth_std <= hi for g in gaps), [g.truth_std for g in gaps]


@needs_data
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "issue 3's floor is not met: over the 46 blockages the ephemeris-aided ca median is 4.98 px vs "
    "York's 7.27 px, but 7 of 46 are more than 2x worse than York's own estimate (worst ratio 10.0). "
    "5 of the 7 cannot be resolved (York's error within twice the truth's standard error): 3 on noise "
    "logs (truth std 10-20 px) and 2 where York is 0.28 and 0.46 px against a truth of whole-pixel "
    "centroids (0.29 px per axis). The 2 resolvable: an FSM speed stall inside the 4 s break of "
    "cj_breaks_04A_T120s (9.6 vs 2.1 px; every hindcast before it favours the pass model, which "
    "overshoots) and the cv_clean_04A break after a biased last detection (taken back by the "
    "blockage-onset rollback: ca 7.1 -> 6.0 px, cv 5.2 -> 1.4 px; York 0.77); see "
    "benchmarks/york_reacquisition.py. Strict, so it turns red the day the floor is met"))
def test_reacquisition_floor_against_york_over_all_passes():
    """Issue 3 floor: median re-acquisition error over all blockages better than York's, none > 2x.

    Truth: median of the 2nd-6th measurements after the blockage; York: their estimate in the
    last blocked row; ours: our estimate at that row (ephemeris-aided pass model).  See
    benchmarks/york_reacquisition.py for the per-gap numbers of every model, and for the
    1-4-frame detection dropouts, which are reported there but are not blockages.
    """
    ours, york, _ = _blockage_errors(FLOOR_MODEL)
    assert ours.size == 46 and not np.any(np.isnan(ours))
    worse = int(np.sum(ours > 2 * york))
    msg = (f"{FLOOR_MODEL}: median {np.median(ours):.2f} px vs York {np.median(york):.2f} px, "
           f"{worse}/{ours.size} blockages more than 2x worse than York (worst ratio {np.max(ours / york):.1f})")
    assert np.median(ours) < np.median(york), msg
    assert worse == 0, msg


@needs_data
def test_blockage_onset_rollback_on_york_logs():
    # cv_clean_04A: the last detection before the 5 s blockage of rows 584-684 is (2253, 1140) while
    # the spot was near (2257.4, 1140.6) (a partly covered spot); the gate accepts it (NIS ~14) and
    # it drags the coasting velocity.  Taken back at the blockage's onset, the cv coast ends 1.4 px
    # from the truth instead of 5.2 (York: 0.77).
    name = "cv_clean_04A.csv"
    log = read_york_log(PASSES / name)
    runs = {rb: replay(log.time_s, log.measured_px, px_config("cv", rollback_frames=rb),
                       learner=NoiseLearner(floor_std=YORK_PX_CONFIG["measurement_std_rad"]))
            for rb in (0, px_config("cv").rollback_frames)}
    on, off = runs[px_config("cv").rollback_frames], runs[0]
    k = 583 - 2  # CSV row 583 (header = row 1)
    assert log.measured_px[k].tolist() == [2253.0, 1140.0] and np.isnan(log.measured_px[k + 1, 0])
    assert on.accepted[k] and 9.21 < on.nis[k] < 18.4
    assert on.tracker.n_rolled_back >= 1 and off.tracker.n_rolled_back == 0
    gap = {g.first_row + 2: g for g in reacquisition_errors(log.time_s, log.measured_px, on.post_xy,
                                                             log.york_estimate_px, min_duration_s=BLOCKAGE_MIN_S)}
    gap_off = {g.first_row + 2: g for g in reacquisition_errors(log.time_s, log.measured_px, off.post_xy,
                                                                 log.york_estimate_px, min_duration_s=BLOCKAGE_MIN_S)}
    assert gap_off[584].error > 4.0
    assert gap[584].error < 2 * gap[584].reference_error < gap_off[584].error
    # cj_breaks_003A_T60s row 714: NIS 9.3 before the blockage of rows 715-755, but the ca filter is
    # lagging the pass's deceleration there (running NIS mean ~8): the lag, not a biased frame, so
    # it is kept
    name = "cj_breaks_003A_T60s.csv"
    log = read_york_log(PASSES / name)
    tca_s, tau_s = york_pass_geometry(name)
    res, res_off = (replay(log.time_s, log.measured_px, px_config("ca", rollback_frames=rb), tca_s=tca_s,
                           tau_s=tau_s, learner=NoiseLearner(floor_std=YORK_PX_CONFIG["measurement_std_rad"]),
                           ephemeris=york_ephemeris_track(PASSES / name)) for rb in (2, 0))
    k = 714 - 2
    assert np.isnan(log.measured_px[k + 1, 0]) and res.accepted[k] and res.nis[k] > 9.21
    assert res.nis[k - 6] > 9.21 or res.nis[k - 5] > 9.21  # large innovations before: a lag
    np.testing.assert_array_equal(res.post_xy[k + 1:k + 40], res_off.post_xy[k + 1:k + 40])  # nothing taken back


def test_reacquisition_truth_resolution_and_lead():
    # a spot moving at (8, -6) px/s, 20 frames/s, measured as whole pixels (York's centroids), with
    # a 3 s blockage: the truth (median of the 2nd-6th measurements after it) is ~4 frames (0.2 s)
    # after the last blocked row, 2 px along the motion; its resolution is never better than the
    # rounding, 1 / sqrt(12) px per axis
    t = np.arange(0.0, 10.0, 0.05)
    spot = np.c_[100.3 + 8.0 * t, 500.6 - 6.0 * t]
    z = np.round(spot)
    z[(t > 4.0) & (t < 7.0)] = np.nan
    (gap,) = reacquisition_errors(t, z, spot)  # the estimate: the spot itself at every row
    delay_s = np.median(t[gap.last_row + 2:gap.last_row + 7]) - t[gap.last_row]
    assert delay_s == pytest.approx(0.2)
    assert gap.truth_lead == pytest.approx(10.0 * delay_s, abs=0.3)
    assert gap.error == pytest.approx(gap.truth_lead, abs=0.6)  # issue 3's metric charges the lead
    assert gap.error_aligned < 0.6  # against the truth moved back to the estimate's instant
    assert gap.truth_std >= 1 / math.sqrt(12) - 1e-12
    (cont,) = reacquisition_errors(t, np.where(np.isnan(z), np.nan, spot), spot)  # continuous values
    assert cont.truth_std < 0.05 and cont.error_aligned < 0.05


@needs_data
def test_reacquisition_metric_on_one_real_pass():
    # the metric itself, on a pass whose numbers are checked by hand: cj_breaks_003A_T120s has
    # three blockages (6.4, 3.4, 4.4 s); York's error at the first is 0.46 px (their log)
    log = read_york_log(PASSES / "cj_breaks_003A_T120s.csv")
    gaps = reacquisition_errors(log.time_s, log.measured_px, log.york_estimate_px, log.york_estimate_px)
    assert [round(g.duration_s, 1) for g in gaps] == [6.4, 3.4, 4.4]
    assert gaps[0].reference_error == pytest.approx(0.458, abs=0.01)
    assert gaps[0].truth.tolist() == [2396.0, 1301.0]
    assert all(math.isclose(g.error, g.reference_error) for g in gaps)
