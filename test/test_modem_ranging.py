"""Two-way ranging (seed 000, Jinan-1) and clock synchronisation (seed 001, NanoBob §3, §4.4)."""

from __future__ import annotations

import numpy as np
import pytest

from qsat_pat.core.errors import LinkError
from qsat_pat.core.modem import clocksync, ranging
from qsat_pat.core.modem.ranging import SPEED_OF_LIGHT_MPS, RangingConfig

MM = 1e-3
NS = 1e-9


def test_two_way_range_cancels_clock_offset():
    rho, off = 700e3, 3.3e-3
    tof = rho / SPEED_OF_LIGHT_MPS
    g_tx = np.array([0.0, 1.0])
    s_rx = g_tx + tof + off
    s_tx = s_rx + 5e-6
    g_rx = s_tx - off + tof
    r, o = ranging.two_way_range(g_tx, s_rx, s_tx, g_rx)
    assert np.allclose(r, rho, atol=1e-6)
    assert np.allclose(o, off, atol=1e-15)


def test_marker_rate_at_jinan1_line_rate():
    cfg = RangingConfig()
    assert cfg.marker_rate_hz == pytest.approx(156.25e6 / 2776)


def test_precision_follows_sigma_t_over_sqrt_n_and_is_unbiased():
    # 40 normal points of 0.1 s (5628 markers each), 1 ns jitter per time tag
    cfg = RangingConfig(normal_point_s=0.1)
    s = ranging.ranging_study(cfg, 4.0, np.random.default_rng(31))
    assert s.n_normal_points >= 38
    expected = SPEED_OF_LIGHT_MPS * cfg.jitter_s / np.sqrt(cfg.marker_rate_hz * 0.1)
    assert s.predicted_precision_m == pytest.approx(expected, rel=0.01)
    assert s.precision_m == pytest.approx(expected, rel=0.25)     # chi with 40 dof: +-11 % (1 sigma)
    assert abs(s.bias_m) < 3 * expected / np.sqrt(s.n_normal_points)
    assert s.formal_precision_m == pytest.approx(expected, rel=0.05)


def test_precision_scales_with_jitter_and_count():
    a = RangingConfig(normal_point_s=0.1)
    b = a.replace(jitter_s=4 * a.jitter_s, normal_point_s=0.4)
    sa = ranging.ranging_study(a, 2.0, np.random.default_rng(32))
    sb = ranging.ranging_study(b, 2.0, np.random.default_rng(33))
    # 4x jitter, 4x markers -> 2x worse
    assert sb.formal_precision_m / sa.formal_precision_m == pytest.approx(2.0, rel=0.1)


def test_five_mm_per_one_second_normal_point_at_156mbps():
    # documented jitter: 1 ns RMS per time tag -> c * 1 ns / sqrt(56286) = 1.26 mm
    cfg = RangingConfig(line_rate_bps=156.25e6, jitter_s=1 * NS, normal_point_s=1.0)
    s = ranging.ranging_study(cfg, 1.0, np.random.default_rng(34))
    assert s.precision_m <= 5 * MM
    assert s.predicted_precision_m == pytest.approx(1.26 * MM, abs=0.01 * MM)
    assert abs(s.bias_m) < 5 * MM
    assert abs(s.mean_clock_offset_error_s) < 0.1 * NS


def test_jinan_residual_analysis_recovers_single_shot_scatter():
    cfg = RangingConfig(jitter_s=0.5 * NS)
    s = ranging.ranging_study(cfg, 2.0, np.random.default_rng(35))
    assert s.single_shot_rms_m == pytest.approx(SPEED_OF_LIGHT_MPS * 0.5 * NS, rel=0.02)


def test_polynomial_residuals_remove_trend():
    t = np.linspace(-100, 100, 2001)
    r = 1e6 + 3e3 * t + 40 * t**2 - 0.01 * t**3
    resid, rms = ranging.polynomial_residuals(t, r, 3)
    assert rms < 1e-6
    with pytest.raises(LinkError):
        ranging.polynomial_residuals(t[:3], r[:3], 3)


def test_ranging_bad_input():
    with pytest.raises(LinkError):
        ranging.two_way_range([0.0], [1.0, 2.0], [1.0], [2.0])
    with pytest.raises(LinkError):
        ranging.ranging_study(RangingConfig(), 1e-6, np.random.default_rng(0))


# --------------------------------------------------------------------------- clock synchronisation
@pytest.mark.parametrize("seed,offset_s,drift", [(41, 123.456789e-6, 2e-7), (42, -0.6e-3, -5e-8)])
def test_clock_sync_within_one_coincidence_bin(seed, offset_s, drift):
    rng = np.random.default_rng(seed)
    # Alice 1e6 /s, Bob receives 1 % (1e4 /s, NanoBob §6 at 40 dB) plus 1000 /s background, 300 ps jitter
    t_a, t_b = clocksync.simulate_time_tags(1e6, 1.0, 0.01, offset_s, drift, 0.3 * NS, 1e3, rng)
    cfg = clocksync.ClockSyncConfig(fine_bin_s=1 * NS)
    res = clocksync.synchronise(t_a, t_b, cfg)
    assert abs(res.offset_s - offset_s) < cfg.fine_bin_s
    assert abs(res.drift - drift) * 1.0 < cfg.fine_bin_s  # drift error over the 1 s stream < 1 bin
    assert res.snr > 20


def test_fft_cross_correlation_coarse_lag():
    rng = np.random.default_rng(43)
    t_a, t_b = clocksync.simulate_time_tags(2e5, 0.5, 0.05, 37.2e-6, 0.0, 0.2 * NS, 1e3, rng)
    lag, peak = clocksync.fft_cross_correlation_offset(t_a, t_b, 1e-6, 1e-4)
    assert abs(lag - 37.2e-6) <= 1e-6
    assert peak > 1000


def test_clock_sync_without_correlation_fails_cleanly():
    rng = np.random.default_rng(44)
    t_a = np.sort(rng.uniform(0, 1, 20000))
    t_b = np.sort(rng.uniform(0, 1, 2000))
    with pytest.raises(LinkError, match="no cross-correlation peak"):
        clocksync.synchronise(t_a, t_b)
    with pytest.raises(LinkError, match="sorted"):
        clocksync.synchronise(t_a[::-1], t_b)


def test_frame_markers_from_the_decoder_give_the_delay():
    """Markers time-tagged from decoded frames (start_chip) recover a propagation delay to one chip."""
    from qsat_pat.core.modem.framing import FrameDecoder, encode_frames

    rate = 156.25e6
    chip_s = 1 / (2 * rate)
    delay_chips = 12345                      # 39.5 us ~ 11.85 km of one-way path at this chip rate
    payloads = np.zeros((5, 321), np.uint8)
    tx = encode_frames(payloads)
    bits = np.concatenate([np.zeros(delay_chips, np.uint8), np.unpackbits(tx), np.zeros(3, np.uint8)])
    rx = np.packbits(np.concatenate([bits, np.zeros((-bits.size) % 8, np.uint8)]))
    out = FrameDecoder().feed(rx)
    t_rx = ranging.frame_marker_times_s(out.start_chip, rate)
    t_tx = ranging.frame_marker_times_s(np.arange(5) * 5552, rate)
    assert np.allclose(t_rx - t_tx, delay_chips * chip_s, atol=0.5 * chip_s)
    with pytest.raises(LinkError):
        ranging.frame_marker_times_s([0], 0.0)
