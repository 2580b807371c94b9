"""Synthetic camera frames (qsat_pat/sim/camera.py).

Must show: photo-electron counts vs the link budget (seed 003 eq. (1)-(3) via core/link.py),
and seed 002's weak beacon: 34 mW over a -60 dB channel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.sim.atmosphere import C_MPS, H_PLANCK_JS
from qsat_pat.sim.camera import (
    BeaconConfig,
    CameraConfig,
    FrameSynth,
    beacon_link_loss_db,
    received_power_w,
    signal_electrons,
)
from qsat_pat.sim.orbit import OrbitTruth
from qsat_pat.sim.scenario import load_scenario


def _independent_received_power_w(beacon: BeaconConfig, range_m, el_rad, aperture_m):
    """Gaussian far field collected by a small aperture, written out independently of core/link.py.

    Far-field on-axis intensity of a Gaussian beam of waist w0: I = 2P/(pi w(d)^2),
    w(d) = theta d with theta = lambda/(pi w0); collected: I pi D^2/4 = P D^2 / (2 theta^2 d^2).
    """
    theta = beacon.divergence_rad
    geo = aperture_m**2 / (2.0 * theta**2 * range_m**2)
    atm_db = beacon.kappa_db / math.sin(el_rad)
    return beacon.power_w * geo * 10 ** (-(atm_db + beacon.fixed_loss_db) / 10)


def test_received_power_matches_the_gaussian_beam_budget():
    beacon = BeaconConfig(power_w=1.0, wavelength_m=850e-9, divergence_rad=1e-3, kappa_db=0.92, fixed_loss_db=3.0)
    for range_m, el_deg in [(572e3, 60.0), (1200e3, 20.0), (500e3, 89.0)]:
        got = received_power_w(beacon, range_m, math.radians(el_deg), 1.0)
        want = _independent_received_power_w(beacon, range_m, math.radians(el_deg), 1.0)
        assert got == pytest.approx(want, rel=1e-9)
    # a transmitter pointing error of one divergence costs exp(-2)
    off = received_power_w(beacon, 572e3, 1.0, 1.0, tx_pointing_offset_rad=1e-3)
    assert off / received_power_w(beacon, 572e3, 1.0, 1.0) == pytest.approx(math.exp(-2.0))


@pytest.mark.parametrize("camera", ["ogs_fine_camera", "ogs_coarse_camera"])
def test_frame_photo_electrons_match_the_link_budget(camera):
    sc = load_scenario("nominal")
    cam = getattr(sc, camera).replace(dark_current_eps=0.0)
    orbit = OrbitTruth(sc.orbit, sc.site)
    st = orbit.state(orbit.tca_unix_s)
    p_w = received_power_w(sc.downlink_beacon, st.range_m, st.el_rad, cam.aperture_m)
    expected_e = p_w * cam.exposure_s * cam.transmission * cam.quantum_efficiency / (H_PLANCK_JS * C_MPS / 850e-9)
    assert signal_electrons(p_w, cam, 850e-9) == pytest.approx(expected_e, rel=1e-12)
    synth = FrameSynth(cam, np.random.default_rng(7))
    totals = []
    for k in range(40):
        fr = synth.render(k * 1e-3, (0.3 * cam.pixel_ifov_rad, -0.2 * cam.pixel_ifov_rad), expected_e, 0.0)
        assert fr.image.max() < cam.sensor().full_scale_dn  # nominal: not saturated
        x, y = int(round(fr.spot_x_px)) - fr.roi_x0_px, int(round(fr.spot_y_px)) - fr.roi_y0_px
        half = int(6 * cam.psf_sigma_px) + 2
        win = fr.image[y - half: y + half + 1, x - half: x + half + 1].astype(float)
        totals.append((win - cam.bias_dn).sum() * cam.gain_e_per_dn)
    totals = np.array(totals)
    # Poisson + read noise + quantisation over the window
    sigma = math.sqrt(expected_e + win.size * (cam.read_noise_e**2 + cam.gain_e_per_dn**2 / 12))
    assert abs(totals.mean() - expected_e) < 4 * sigma / math.sqrt(len(totals)) + 1e-3 * expected_e
    assert totals.std() == pytest.approx(sigma, rel=0.35)
    # and the order of magnitude the scenario promises: 1e4..1e6 e- per frame at TCA
    assert 1e4 < expected_e < 1e6


def test_weak_beacon_is_seed_002s_34_mw_over_60_db():
    sc = load_scenario("weak_beacon")
    orbit = OrbitTruth(sc.orbit, sc.site)
    st = orbit.state(orbit.tca_unix_s)
    loss = beacon_link_loss_db(sc.downlink_beacon, st.range_m, st.el_rad, sc.ogs_fine_camera.aperture_m)
    assert loss == pytest.approx(60.0, abs=0.01)
    assert sc.downlink_beacon.power_w == pytest.approx(0.034)
    p_w = received_power_w(sc.downlink_beacon, st.range_m, st.el_rad, sc.ogs_fine_camera.aperture_m)
    assert p_w == pytest.approx(34e-9, rel=0.01)


@pytest.mark.parametrize("rotation_rad", [0.0, 0.4])
def test_spot_lands_at_the_line_of_sight_error_through_scale_and_rotation(rotation_rad):
    cam = CameraConfig(rows=64, cols=64, pixel_ifov_rad=2e-6, rotation_rad=rotation_rad, psf_sigma_px=1.5,
                       read_noise_e=1.0, dark_current_eps=0.0, gain_e_per_dn=1.0, bias_dn=100.0, bit_depth=16)
    synth = FrameSynth(cam, np.random.default_rng(3))
    err = np.array([10e-6, -6e-6])
    fr = synth.render(0.0, err, 2e5, 0.0)
    img = fr.image.astype(float) - 100.0
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    cx, cy = (img * xs).sum() / img.sum(), (img * ys).sum() / img.sum()
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    want_x = 31.5 + (c * err[0] - s * err[1]) / 2e-6
    want_y = 31.5 + (s * err[0] + c * err[1]) / 2e-6
    assert (cx, cy) == pytest.approx((want_x, want_y), abs=0.02)
    assert (fr.spot_x_px, fr.spot_y_px) == pytest.approx((want_x, want_y), abs=1e-9)


def test_roi_saturation_dtype_and_timing():
    cam = CameraConfig(rows=100, cols=120, roi=(40, 30, 40, 30), bit_depth=8, exposure_s=1e-3,
                       frame_rate_hz=200.0, readout_latency_s=2e-3, bias_dn=5.0, gain_e_per_dn=1.0)
    synth = FrameSynth(cam, np.random.default_rng(0))
    assert synth.due(0.0, 1e-3)
    fr = synth.render(0.0, (0.0, 0.0), 1e7, 0.0)
    assert fr.image.shape == (30, 40) and fr.image.dtype == np.uint8
    assert fr.image.max() == 255  # saturated
    assert (fr.roi_x0_px, fr.roi_y0_px) == (40, 30)
    assert fr.t_available_s == pytest.approx(2e-3)
    assert not synth.due(1e-3, 1e-3) and synth.due(4.5e-3, 1e-3)  # next frame at 5 ms
    far = synth.render(5e-3, (1.0, 0.0), 1e7, 0.0)  # 1 rad off: nowhere on the sensor
    assert not far.on_sensor and far.image.max() < 40
    assert CameraConfig(bit_depth=12).sensor().dtype == np.uint16


def test_bad_camera_configs_and_inputs():
    with pytest.raises(ConfigError, match="roi"):
        CameraConfig(rows=10, cols=10, roi=(5, 5, 10, 10))
    with pytest.raises(ConfigError, match="exposure_s"):
        CameraConfig(exposure_s=0.01, frame_rate_hz=1000.0)
    synth = FrameSynth(CameraConfig(), np.random.default_rng(0))
    with pytest.raises(SimulationError, match="signal_e"):
        synth.render(0.0, (0.0, 0.0), -1.0, 0.0)
    with pytest.raises(SimulationError, match="Generator"):
        FrameSynth(CameraConfig(), None)


@pytest.mark.parametrize("background_e", [0.3, 50.0])
def test_large_frame_path_has_the_statistics_of_core_render_frame(background_e):
    """Big frames use a faster sampler of the same sensor model: compare with camera_noise.render_frame."""
    from qsat_pat.core.camera_noise import render_frame

    cam = CameraConfig(rows=160, cols=160, psf_sigma_px=1.5, read_noise_e=2.0, dark_current_eps=100.0,
                       exposure_s=1e-3, gain_e_per_dn=0.5, bias_dn=20.0, bit_depth=12)
    synth = FrameSynth(cam, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    fast = np.array([synth.render(0.0, (3e-6, -2e-6), 5000.0, background_e).image for _ in range(40)], float)
    x, y = synth.spot_px((3e-6, -2e-6))
    ref = np.array([render_frame((160, 160), cam.sensor(), rng, x_px=x, y_px=y, sigma_px=1.5, signal_e=5000.0,
                                 background_e=background_e) for _ in range(40)], float)
    bg_f, bg_r = fast[:, :40, :40], ref[:, :40, :40]  # far from the spot
    assert bg_f.mean() == pytest.approx(bg_r.mean(), abs=0.05 + 0.005 * bg_r.mean())
    assert bg_f.var() == pytest.approx(bg_r.var(), rel=0.05)
    win = (slice(None), slice(int(y) - 8, int(y) + 9), slice(int(x) - 8, int(x) + 9))
    sum_f = (fast[win] - 20.0).sum(axis=(1, 2))
    sum_r = (ref[win] - 20.0).sum(axis=(1, 2))
    assert sum_f.mean() == pytest.approx(sum_r.mean(), rel=0.01)
    assert sum_f.std() == pytest.approx(sum_r.std(), rel=0.4)
    np.testing.assert_allclose(fast.mean(axis=0)[win[1:]], ref.mean(axis=0)[win[1:]], atol=12.0, rtol=0.06)


@pytest.mark.parametrize("scenario", ["nominal", "overhead", "low", "weak_beacon", "clouds", "daytime"])
def test_no_camera_saturates_on_the_beacon_at_closest_approach(scenario):
    """The scenarios' optics keep the spot peak below full scale (cameras would not be set up to clip)."""
    from scipy.special import ndtr

    sc = load_scenario(scenario)
    orbit = OrbitTruth(sc.orbit, sc.site)
    st = orbit.state(orbit.tca_unix_s)
    for cam_name, beacon in [("ogs_fine_camera", sc.downlink_beacon), ("ogs_coarse_camera", sc.downlink_beacon),
                             ("space_camera", sc.uplink_beacon)]:
        cam = getattr(sc, cam_name)
        e = signal_electrons(received_power_w(beacon, st.range_m, st.el_rad, cam.aperture_m), cam,
                             beacon.wavelength_m)
        peak_fraction = (ndtr(0.5 / cam.psf_sigma_px) - ndtr(-0.5 / cam.psf_sigma_px)) ** 2
        peak_dn = e * peak_fraction / cam.gain_e_per_dn + cam.bias_dn
        assert peak_dn < cam.sensor().full_scale_dn, (cam_name, peak_dn)
        assert e > 1000.0, (cam_name, e)  # and the beacon is detectable
