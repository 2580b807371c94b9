"""Local pass-model fit (fit_pass_window) and its use while coasting (pass_window_s).

A pass's line of sight is ``offset + gain * atan((t - TCA) / tau)`` (seed 002 §II.4/§II.6,
:class:`PassTrajectory`); York's FSM-emulated passes depart from that shape by a few pixels,
slowly.  Fitting offset and gain to a recent window only absorbs the slow departure.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsat_pat.analysis.tracking import replay
from qsat_pat.commands.track import px_config
from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation import (
    EphemerisTrack,
    LosTracker,
    fit_ephemeris_bias,
    fit_pass_trajectory,
    fit_pass_window,
)

TCA_S = 60.0
TAU_S = 16.0
OFFSET_PX = np.array([2660.0, 1075.0])
GAIN_PX = np.array([300.0, -250.0])  # px per rad of along-track angle
BOW_PX = 6.0  # slow departure from the ideal shape (York's passes: ~5 px over the pass)
BOW_PERIOD_S = 120.0


def _truth(t, bow_px=BOW_PX):
    t = np.asarray(t, float)
    ideal = OFFSET_PX + np.multiply.outer(np.arctan((t - TCA_S) / TAU_S), GAIN_PX)
    return ideal + bow_px * np.stack([np.sin(2 * np.pi * t / BOW_PERIOD_S), np.cos(2 * np.pi * t / BOW_PERIOD_S)], axis=-1)


def _log(seed=1, noise_px=0.5, gap=(40.0, 46.0), bow_px=BOW_PX, n=1200):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.04, 0.06, n))  # ~20 frames/s, uneven as York's camera
    z = _truth(t, bow_px) + rng.normal(0.0, noise_px, (t.size, 2))
    z[(t > gap[0]) & (t < gap[1])] = np.nan
    return t, z


def test_window_fit_recovers_an_ideal_pass_exactly():
    t, z = _log(noise_px=0.0, bow_px=0.0, gap=(0.0, 0.0))
    past = t < 40.0
    fit = fit_pass_window(t[past], z[past], TCA_S, TAU_S, window_s=6.0)
    np.testing.assert_allclose(fit.trajectory.offset, OFFSET_PX, atol=1e-6)
    np.testing.assert_allclose(fit.trajectory.gain, GAIN_PX, atol=1e-6)
    assert fit.trajectory.n_points == np.sum(t[past] >= t[past][-1] - 6.0)
    np.testing.assert_allclose(fit.position_variance(50.0), 0.0, atol=1e-12)


def test_window_fit_uses_only_its_window():
    t, z = _log(gap=(0.0, 0.0))
    past = t < 40.0
    a = fit_pass_window(t[past], z[past], TCA_S, TAU_S, window_s=6.0)
    z2 = z.copy()
    z2[t < 30.0] += 500.0  # anything before the window must not matter
    b = fit_pass_window(t[past], z2[past], TCA_S, TAU_S, window_s=6.0)
    np.testing.assert_array_equal(a.trajectory.gain, b.trajectory.gain)
    np.testing.assert_array_equal(a.trajectory.offset, b.trajectory.offset)


def test_local_fit_beats_the_global_fit_over_a_gap_when_the_shape_departs():
    # 6 s blind at t = 40-46 s on a pass with a 6 px slow bow: the global (anchored) fit
    # carries the bow's rate error, the local one takes the rate from the last 6 s
    local_err, global_err = [], []
    for seed in range(10):
        t, z = _log(seed=seed, gap=(0.0, 0.0))
        past = t < 40.0
        loc = fit_pass_window(t[past], z[past], TCA_S, TAU_S, window_s=6.0)
        glob = fit_pass_trajectory(t[past], z[past], TCA_S, tau_s=TAU_S)
        anchor = z[past][-20:].mean(axis=0) - glob.position(t[past][-20:]).mean(axis=0)
        truth = _truth(46.0)
        local_err.append(np.hypot(*(loc.trajectory.position(46.0) - truth)))
        global_err.append(np.hypot(*(glob.position(46.0) + anchor - truth)))
    assert np.median(local_err) < 2.0  # px
    assert np.median(global_err) > 2 * np.median(local_err)


def test_prediction_variance_matches_the_spread_over_noise_draws():
    preds = []
    var = []
    for seed in range(300):
        t, z = _log(seed=seed, noise_px=1.0, bow_px=0.0, gap=(0.0, 0.0), n=850)
        past = t < 40.0
        fit = fit_pass_window(t[past], z[past], TCA_S, TAU_S, window_s=6.0, robust_scale=50.0)
        preds.append(fit.trajectory.position(46.0))
        var.append(fit.position_variance(46.0))
    spread = np.var(np.array(preds), axis=0)
    np.testing.assert_allclose(spread, np.mean(var, axis=0), rtol=0.25)


def test_window_fit_rejects_bad_input():
    t = np.arange(20.0)
    z = np.zeros((20, 2))
    with pytest.raises(EstimationError, match="points"):
        fit_pass_window(t, z, TCA_S, TAU_S, window_s=3.0)  # 4 points in the window
    with pytest.raises(EstimationError, match="tau_s"):
        fit_pass_window(t, z, TCA_S, -1.0, window_s=30.0)
    with pytest.raises(EstimationError, match="finite"):
        fit_pass_window(t, np.full((20, 2), np.nan), TCA_S, TAU_S, window_s=30.0)
    with pytest.raises(EstimationError, match="matching"):
        fit_pass_window(t, z[:5], TCA_S, TAU_S, window_s=30.0)


def test_tracker_coasts_on_the_local_fit():
    # the tracker with pass_window_s > 0: 6 s blind on the bowed pass, within 2 px at the end
    # of the gap and re-acquired after it.  (On this smooth synthetic pass the filter's own
    # prediction fused with the global fit, pass_window_s = 0, is as good; the gain of the
    # local fit shows on York's real passes, benchmarks/york_reacquisition.py.)
    errs = []
    for seed in range(3):
        t, z = _log(seed=seed)
        last = int(np.flatnonzero(t < 46.0)[-1])  # last blocked row
        res = replay(t, z, px_config("ca", pass_window_s=6.0), tca_s=TCA_S, tau_s=TAU_S)
        errs.append(float(np.hypot(*(res.post_xy[last] - _truth(t[last])))))
        assert res.accepted[last + 10:].mean() > 0.95  # re-acquired after the blockage
        assert res.tracker.n_pass_fits >= 1
    assert np.median(errs) < 2.0


# ---- ephemeris track (the pass's predicted line of sight) with a time and pointing bias
TIME_BIAS_S = 1.3
POINTING_BIAS_PX = np.array([12.0, -7.0])


def _curved(t):
    """A pass whose image path departs from the atan shape by a bow peaking at the zenith (~25 px)."""
    t = np.asarray(t, float)
    th = np.arctan((t - TCA_S) / TAU_S)
    return OFFSET_PX + np.multiply.outer(th, GAIN_PX) + np.multiply.outer(np.cos(th) ** 2, np.array([15.0, 20.0]))


def _ephemeris(shape=_curved, bias_max_s=3.0):
    """Predicted track: the pass's shape, but early by TIME_BIAS_S and off by POINTING_BIAS_PX."""
    ts = np.linspace(0.0, 120.0, 2401)
    return EphemerisTrack(ts, shape(ts + TIME_BIAS_S) - POINTING_BIAS_PX, bias_max_s, 20.0)


def _curved_log(gap, seed=3, noise_px=0.5):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.04, 0.06, 2400))
    z = _curved(t) + rng.normal(0.0, noise_px, (t.size, 2))
    z[(t > gap[0]) & (t < gap[1])] = np.nan
    return t, z


def test_ephemeris_bias_fit_recovers_time_and_pointing_bias():
    t, z = _curved_log((0.0, 0.0))
    fit = fit_ephemeris_bias(_ephemeris(), t[t < 45.0], z[t < 45.0], 20.0, n_bias=301)
    assert fit.time_bias_s == pytest.approx(TIME_BIAS_S, abs=0.05)
    np.testing.assert_allclose(fit.offset, POINTING_BIAS_PX, atol=0.5)
    np.testing.assert_allclose(fit.position(70.0), _curved(70.0), atol=1.0)
    assert fit.residual < 1.0


def _coast_error(gap, track):
    t, z = _curved_log(gap)
    res = replay(t, z, px_config("ca"), tca_s=TCA_S, tau_s=TAU_S, ephemeris=track)
    last = np.flatnonzero(np.isnan(z[:, 0]))[-1]
    return float(np.hypot(*(res.post_xy[last] - _curved(t[last]))))


def test_ephemeris_track_carries_a_long_blockage_through_the_zenith():
    # 40 s without the beacon across the zenith: the local pass fit extrapolates the rate and
    # curvature of the last window (the bow is not in its atan shape); the biased track has it
    gap = (40.0, 80.0)
    without = _coast_error(gap, None)
    with_track = _coast_error(gap, _ephemeris())
    assert without > 10.0, without
    assert with_track < 3.0, (with_track, without)


def test_a_wrong_ephemeris_track_is_not_trusted_on_a_short_blockage():
    # a track with the wrong gain (20 % too fast) predicts the past badly: the hindcast weight
    # leaves the local estimate (almost) alone
    def wrong(t):
        return _curved(TCA_S + 1.2 * (np.asarray(t, float) - TCA_S))

    gap = (45.0, 50.0)
    without = _coast_error(gap, None)
    assert _coast_error(gap, _ephemeris(wrong)) < without + 1.0


def test_ephemeris_track_rejects_bad_input():
    with pytest.raises(EstimationError, match="increasing"):
        EphemerisTrack(np.array([0.0, 1.0, 1.0]), np.zeros((3, 2)))
    with pytest.raises(EstimationError, match="N >= 2"):
        EphemerisTrack(np.array([0.0, 1.0]), np.zeros((3, 2)))
    with pytest.raises(EstimationError, match="time_bias_max_s"):
        EphemerisTrack(np.array([0.0, 1.0]), np.zeros((2, 2)), time_bias_max_s=-1.0)
    with pytest.raises(EstimationError, match="EphemerisTrack"):
        LosTracker(px_config("ca")).set_ephemeris_track(np.zeros((2, 2)))
    with pytest.raises(EstimationError, match="3"):
        fit_ephemeris_bias(_ephemeris(), np.array([0.0, 1.0]), np.zeros((2, 2)), 20.0)
