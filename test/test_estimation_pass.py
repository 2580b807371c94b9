"""Ephemeris-aided satellite-pass model (PassTrajectory) and its use while coasting.

The line of sight of a pass is ``offset + gain * atan((t - TCA) / tau)`` (straight-line pass,
``tau = d_min / v``); its acceleration reverses at the zenith, which seed 002 §II.6 emulates by
flipping the sign of the acceleration states by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.analysis.tracking import replay
from qsat_pat.commands.track import px_config
from qsat_pat.core.errors import EstimationError
from qsat_pat.core.estimation import (
    LosTracker,
    PassTrajectory,
    fit_pass_trajectory,
)

TCA_S = 60.0
TAU_S = 16.0
OFFSET_PX = np.array([2660.0, 1075.0])
GAIN_PX = np.array([300.0, -250.0])  # px per rad of along-track angle


def _truth(t):
    return OFFSET_PX + np.multiply.outer(np.arctan((np.asarray(t) - TCA_S) / TAU_S), GAIN_PX)


def _pass_log(seed=1, noise_px=1.0, gap=(40.0, 80.0)):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.09, 0.11, 1200))  # ~10 frames/s, uneven as York's camera
    z = _truth(t) + rng.normal(0.0, noise_px, (t.size, 2))
    z[(t > gap[0]) & (t < gap[1])] = np.nan
    return t, z


def test_pass_trajectory_derivatives_match_finite_differences():
    p = PassTrajectory(TCA_S, TAU_S, OFFSET_PX, GAIN_PX, 0.0, 0)
    for t in (10.0, 55.0, 60.0, 71.0):
        d = p.derivatives(t, 4)
        h = 1e-3
        np.testing.assert_allclose(d[0], _truth(t), atol=1e-9)
        pos = lambda s: p.position(s)  # noqa: E731
        np.testing.assert_allclose(d[1], (pos(t + h) - pos(t - h)) / (2 * h), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(d[2], (pos(t + h) - 2 * pos(t) + pos(t - h)) / h**2, rtol=1e-4, atol=1e-6)
    # the acceleration reverses at the zenith (seed 002 §II.6's sign flip) and the rate peaks there
    assert np.all(np.sign(p.derivatives(50.0, 3)[2]) == -np.sign(p.derivatives(70.0, 3)[2]))
    np.testing.assert_allclose(p.derivatives(TCA_S, 3)[2], 0.0, atol=1e-12)
    np.testing.assert_allclose(p.derivatives(TCA_S, 2)[1], GAIN_PX / TAU_S)


def test_fit_recovers_a_simulated_pass_with_free_timing():
    t, z = _pass_log(gap=(0.0, 0.0))
    fit = fit_pass_trajectory(t, z, robust_scale=3.0)
    assert fit.tca_s == pytest.approx(TCA_S, abs=0.2)  # s
    assert fit.tau_s == pytest.approx(TAU_S, rel=0.01)
    np.testing.assert_allclose(fit.gain, GAIN_PX, rtol=0.01)
    assert fit.rms == pytest.approx(math.sqrt(2.0), rel=0.1)  # 1 px per axis


def test_fit_with_known_geometry_uses_only_the_past_and_predicts_the_zenith_crossing():
    t, z = _pass_log()
    past = t < 40.0
    fit = fit_pass_trajectory(t[past], z[past], tca_s=TCA_S, tau_s=TAU_S)
    # 40 s of blockage through the zenith (the LOS moves by ~ 420 px): predicted to ~1 px
    err = np.hypot(*(fit.position(80.0) - _truth(80.0)))
    assert err < 3.0


def test_fit_rejects_bad_input():
    with pytest.raises(EstimationError, match=">= 8"):
        fit_pass_trajectory(np.arange(5.0), np.zeros((5, 2)))
    with pytest.raises(EstimationError, match="finite"):
        fit_pass_trajectory(np.arange(10.0), np.full((10, 2), np.nan))
    with pytest.raises(EstimationError, match="tau_s"):
        fit_pass_trajectory(np.arange(10.0), np.zeros((10, 2)), tca_s=3.0, tau_s=-1.0)


def test_coasting_through_the_zenith_with_the_pass_geometry_beats_the_filter_alone():
    t, z = _pass_log()
    last = int(np.flatnonzero(t < 80.0)[-1])  # last blocked row
    errs = {}
    for name, geo in (("aided", (TCA_S, TAU_S)), ("alone", (None, None))):
        res = replay(t, z, px_config("ca"), tca_s=geo[0], tau_s=geo[1])
        errs[name] = float(np.hypot(*(res.post_xy[last] - _truth(t[last]))))
        # and the track is re-acquired after the blockage
        assert res.accepted[last + 10:].mean() > 0.95
    assert errs["aided"] < 5.0  # px after 40 s blind through the zenith
    assert errs["alone"] > 4 * errs["aided"]


def test_pass_model_is_inert_without_the_geometry_and_short_dropouts_follow_the_filter():
    t, z = _pass_log(gap=(30.0, 30.12))  # a 2-frame dropout
    plain = replay(t, z, px_config("ca", pass_model=False))
    inert = replay(t, z, px_config("ca"))
    np.testing.assert_allclose(inert.post_xy, plain.post_xy, rtol=0, atol=1e-9)
    aided = replay(t, z, px_config("ca"), tca_s=TCA_S, tau_s=TAU_S)
    gap_rows = np.flatnonzero(np.isnan(z[:, 0]))
    # a 0.1 s dropout: the filter's own prediction dominates the fusion (within 0.5 px)
    assert np.max(np.hypot(*(aided.post_xy[gap_rows] - plain.post_xy[gap_rows]).T)) < 0.5


def test_set_time_of_closest_approach_rejects_bad_values():
    trk = LosTracker(px_config("ca"))
    with pytest.raises(EstimationError, match="finite"):
        trk.set_time_of_closest_approach(float("nan"))
    with pytest.raises(EstimationError, match="needs tca_s"):
        trk.set_time_of_closest_approach(None, 10.0)
    with pytest.raises(EstimationError, match="> 0"):
        trk.set_time_of_closest_approach(np.float64(5.0), 0.0)
    trk.set_time_of_closest_approach(np.float64(5.0), np.float32(2.0))  # numpy scalars are fine
    assert trk.pass_trajectory() is None  # no measurements yet


def test_map_refinement_moves_a_wrong_ephemeris_tca_to_the_measured_zenith():
    # the ephemeris says TCA 2 s late and tau 10 % long; measured through the zenith the MAP
    # refinement (prior std 3 s / 15 %) finds the zenith; the fixed geometry keeps the error
    t, z = _pass_log(gap=(0.0, 0.0))
    past = t < 75.0
    fixed = fit_pass_trajectory(t[past], z[past], tca_s=TCA_S + 2.0, tau_s=1.1 * TAU_S)
    refined = fit_pass_trajectory(t[past], z[past], tca_s=TCA_S + 2.0, tau_s=1.1 * TAU_S,
                                  tca_std_s=3.0, tau_rel_std=0.15)
    assert refined.tca_s == pytest.approx(TCA_S, abs=0.3)
    assert refined.tau_s == pytest.approx(TAU_S, rel=0.03)
    assert refined.rms < 0.5 * fixed.rms
