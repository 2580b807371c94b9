"""QKD key rates: NanoBob eq. (6)-(11) and Fig. 8 (seed 001); decoy BB84 and CV-QKD (seed 002 App. A/B)."""

from __future__ import annotations

import math

import pytest

from qsat_pat.core import qkd
from qsat_pat.core.errors import ConfigError, LinkError

SIX_MONTHS_S = 0.5 * 365.25 * 86400.0
NANOBOB = qkd.Bbm92Config()  # 1e8 pairs/s, tau 1 ns, mu 0.1, eta 0.32, 4 det, 100 cps, 400 cps bg, e_d 1 %


def test_time_tag_bits_eq6():
    bits = qkd.time_tag_bits(SIX_MONTHS_S, 25e-12)
    assert bits == pytest.approx(61.1, abs=0.05)
    rate_bytes = qkd.time_tag_data_rate_bps(1e4, SIX_MONTHS_S, 25e-12) / 8
    assert rate_bytes == pytest.approx(80e3)                      # 80 kB/s
    assert rate_bytes * 300.0 == pytest.approx(24e6)              # 24 MB per 5-min experiment


def test_qber_limits():
    assert qkd.qber_limit(1.22) == pytest.approx(0.094, abs=0.001)
    assert qkd.qber_limit(1.0) == pytest.approx(0.110, abs=0.001)


def test_fig8_key_vanishes_near_47db_with_100cps():
    assert qkd.max_tolerable_loss_db("bbm92", NANOBOB) == pytest.approx(47.0, abs=0.7)


def test_fig8_key_vanishes_near_40db_with_1000cps():
    cfg = NANOBOB.replace(dark_b_cps=1000.0)
    assert qkd.max_tolerable_loss_db("bbm92", cfg) == pytest.approx(40.0, abs=0.7)


def test_qber_at_cutoff_is_the_limit():
    loss = qkd.max_tolerable_loss_db("bbm92", NANOBOB)
    point = qkd.bbm92_point(NANOBOB, loss)
    assert point.qber == pytest.approx(qkd.qber_limit(1.22), abs=2e-4)


def test_accidental_coincidences_at_50db():
    # seed 001 §7: N_acc = (eta_A R)(eta_B R / A) tau ~ 10 cps at 50 dB with 1e8 pairs/s, tau 1 ns, eta 0.32
    n_t = NANOBOB.eta_a * 1e8
    n_r = NANOBOB.eta_b * 1e8 * 1e-5
    assert n_r == pytest.approx(320.0)
    assert n_t * n_r * NANOBOB.tau_s == pytest.approx(10.0, abs=0.3)
    # the model's coincidence rate at 50 dB: ~102 true (eta_A eta_B R / A) plus accidentals
    point = qkd.bbm92_point(NANOBOB, 50.0)
    true = NANOBOB.eta_a * NANOBOB.eta_b * 1e8 * 1e-5
    assert true < point.coincidence_rate_cps < true + 60.0


def test_seed_sign_transcription_error_destroys_coincidences():
    """The seed prints +eta_A eta_B mu/2 in eq. (7)/(11); MFL (2007) has a minus sign."""
    good = qkd.bbm92_point(NANOBOB, 40.0)
    bad = qkd.bbm92_point(NANOBOB, 40.0, seed_sign=True)
    assert good.key_rate_bps > 100.0
    assert bad.key_rate_bps == 0.0
    assert bad.coincidence_rate_cps < 0.1 * good.coincidence_rate_cps


def test_coincidence_rate_inverse_to_loss_at_low_loss():
    r20 = qkd.bbm92_point(NANOBOB, 20.0).coincidence_rate_cps
    r30 = qkd.bbm92_point(NANOBOB, 30.0).coincidence_rate_cps
    assert r20 / r30 == pytest.approx(10.0, rel=0.05)


def test_shorter_window_tolerates_more_loss():
    # seed 001 Fig. 10(b): tau = 200 ps, mu = 0.06 (3e8 pairs/s) accommodates ~50 dB
    fast = NANOBOB.replace(tau_s=200e-12, mu=0.06, pair_rate_hz=3e8)
    assert qkd.max_tolerable_loss_db("bbm92", fast) > qkd.max_tolerable_loss_db("bbm92", NANOBOB) + 2.0


# --------------------------------------------------------------------------- decoy BB84
def test_decoy_bb84_decreases_with_loss_and_finite_key_costs():
    cfg = qkd.DecoyBb84Config()
    rates = [p.key_rate_bps for p in qkd.key_rate_curve("bb84-decoy", [0, 10, 20, 30, 40], cfg)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    asym = qkd.key_rate_curve("bb84-decoy", [30.0], cfg.replace(n_pulses=0.0))[0].key_rate_bps
    assert rates[3] < asym
    assert qkd.max_tolerable_loss_db("bb84-decoy", cfg) < qkd.max_tolerable_loss_db(
        "bb84-decoy", cfg.replace(n_pulses=0.0))


def test_decoy_bb84_low_loss_matches_single_photon_bound():
    # with no errors, no dark counts and no loss: R ~ q p_s mu e^-mu eta (asymptotic)
    cfg = qkd.DecoyBb84Config(y0=0.0, ed=0.0, n_pulses=0.0, eta_det=1.0, mu=0.5, clock_hz=1.0)
    r = qkd.decoy_bb84_point(cfg, 0.0).key_rate_bps
    assert r == pytest.approx(0.5 * 0.9 * 0.5 * math.exp(-0.5), rel=1e-9)


def test_decoy_bb84_pointing_jitter_and_tracking_error_reduce_key():
    cfg = qkd.DecoyBb84Config()
    base = qkd.decoy_bb84_point(cfg, 25.0)
    jit = qkd.decoy_bb84_point(cfg.replace(pointing_rms_rad=5e-6), 25.0)
    trk = qkd.decoy_bb84_point(cfg.replace(e_track=0.02), 25.0)
    assert jit.key_rate_bps < base.key_rate_bps
    assert trk.qber > base.qber and trk.key_rate_bps < base.key_rate_bps


# --------------------------------------------------------------------------- CV-QKD
def test_cv_pure_loss_limit():
    # ideal homodyne, no noise, large modulation, beta = 1: K -> 1/2 log2(1/(1-T)) (RR, pure loss)
    cfg = qkd.CvQkdConfig(xi=0.0, v_el=0.0, eta_det=1.0, beta=1.0, v_mod=1e4, symbol_rate_hz=1.0)
    for loss in (1.0, 3.0, 10.0):
        t = 10 ** (-loss / 10)
        assert qkd.cv_qkd_point(cfg, loss).key_rate_bps == pytest.approx(0.5 * math.log2(1 / (1 - t)), rel=0.01)


def test_cv_jitter_adds_excess_noise_and_costs_key():
    cfg = qkd.CvQkdConfig()
    base = qkd.cv_qkd_point(cfg, 5.0)
    jit = qkd.cv_qkd_point(cfg.replace(pointing_rms_axis_rad=2e-6), 5.0)
    extra = dict(jit.extra)
    assert extra["excess_noise"] > cfg.xi
    assert jit.key_rate_bps < base.key_rate_bps
    assert math.isnan(base.qber)


def test_cv_key_decreases_with_loss():
    rates = [p.key_rate_bps for p in qkd.key_rate_curve("cv", [0, 3, 6, 10, 15])]
    assert all(a > b for a, b in zip(rates, rates[1:]))


# --------------------------------------------------------------------------- bad input
def test_unknown_protocol():
    with pytest.raises(LinkError, match="unknown QKD protocol"):
        qkd.key_rate_curve("e91-magic", [10.0])


def test_negative_loss_rejected():
    with pytest.raises(LinkError, match="cannot be a gain"):
        qkd.key_rate_curve("bbm92", [10.0, -3.0])


def test_efficiency_out_of_range_rejected():
    with pytest.raises(ConfigError, match="eta_b"):
        qkd.Bbm92Config(eta_b=1.3)
    with pytest.raises(ConfigError, match="eta_det"):
        qkd.CvQkdConfig(eta_det=-0.1)


def test_wrong_config_type_rejected():
    with pytest.raises(LinkError, match="needs a Bbm92Config"):
        qkd.key_rate_curve("bbm92", [1.0], qkd.CvQkdConfig())


def test_time_tag_budget_rejects_nonsense():
    with pytest.raises(LinkError):
        qkd.time_tag_bits(1.0, 0.0)
    with pytest.raises(LinkError):
        qkd.qber_limit(0.8)
