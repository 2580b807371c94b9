"""Default imaging pipeline: calibration, rejection of hot pixels / cosmic rays / secondary
spots, saturation, ROI windowing, false alarms, 8/16-bit frames (issue 3, imaging core)."""

from __future__ import annotations

import numpy as np
import pytest

from qsat_pat.core.camera_noise import CameraModel, render_frame, spot_expected_e
from qsat_pat.core.imaging import (
    BeaconImager,
    Calibration,
    CentroidResult,
    ImagingConfig,
    build_master_dark,
    centroid_frame,
)

CAM8 = CameraModel(gain_e_per_dn=1.0, read_noise_e=3.0, bias_dn=10.0)
CFG = ImagingConfig(gain_e_per_dn=1.0, read_noise_e=3.0)


def _frame(rng, x=60.3, y=47.8, signal=3000.0, shape=(96, 128), cam=CAM8, bg=5.0, sigma=1.5):
    return render_frame(shape, cam, rng, x_px=x, y_px=y, sigma_px=sigma, signal_e=signal, background_e=bg)


def test_bright_spot_recovered_with_message_fields():
    rng = np.random.default_rng(1)
    frame = _frame(rng)
    res = BeaconImager(CFG).process(frame)
    assert res.valid and res.reason == ""
    assert res.x_px == pytest.approx(60.3, abs=0.1)
    assert res.y_px == pytest.approx(47.8, abs=0.1)
    assert res.signal_e == pytest.approx(3000.0, rel=0.05)
    assert res.background_e > 0 and res.snr > 40 and res.spot_area_px >= 5
    assert res.peak_dn > 150 and not res.saturated
    assert res.roi == (0, 0, 128, 96)
    fields = res.as_message_fields()
    assert set(fields) == {"method", "valid", "reason", "saturated", "x_px", "y_px", "covariance_px2",
                           "signal_e", "background_e", "peak_dn", "snr", "spot_area_px", "roi"}
    assert len(fields["covariance_px2"]) == 4 and fields["covariance_px2"][1] == fields["covariance_px2"][2]
    assert np.all(np.linalg.eigvalsh(res.covariance_px2) > 0)


def test_pixel_convention_integer_centres():
    """A symmetric spot centred exactly on pixel (40, 30) gives x=40, y=30 (x = column, y = row)."""
    mean = spot_expected_e((64, 80), 40.0, 30.0, 1.5, 4e4) + 20.0
    frame = np.rint(mean).astype(np.uint16)
    for method in ("default", "york"):
        cal = Calibration(dark_dn=np.full(frame.shape, 20.0)) if method == "york" else None
        res = BeaconImager(CFG.replace(method=method), cal).process(frame)
        assert (res.x_px, res.y_px) == (pytest.approx(40.0, abs=0.02), pytest.approx(30.0, abs=0.02))


def test_no_signal_is_a_result_and_false_alarms_are_rare():
    rng = np.random.default_rng(2)
    imager = BeaconImager(CFG)  # false_alarm_probability 1e-3 per frame
    hits = 0
    for _ in range(150):
        res = imager.process(render_frame((64, 64), CAM8, rng, background_e=20.0))
        assert isinstance(res, CentroidResult)
        if res.valid:
            hits += 1
        else:
            assert res.reason == "no_signal" or res.reason.startswith("rejected_")
            assert np.isnan(res.x_px) and np.all(np.isnan(res.covariance_px2))
    assert hits <= 2


def test_master_dark_and_hot_pixels():
    rng = np.random.default_rng(3)
    shape = (96, 128)
    pattern = rng.uniform(0.0, 15.0, shape)
    hot = [(47, 61), (46, 58), (10, 100), (80, 20)]  # two of them on the spot
    for r, c in hot:
        pattern[r, c] = 150.0
    darks = [render_frame(shape, CAM8, rng, fixed_pattern_dn=pattern) for _ in range(9)]
    cal = build_master_dark(darks)
    assert cal.dark_dn.shape == shape and cal.dark_dn.dtype == np.float32
    assert {tuple(p) for p in np.argwhere(cal.hot_pixel_mask)} == set(hot)
    light = render_frame(shape, CAM8, rng, x_px=60.3, y_px=47.8, sigma_px=1.5, signal_e=1500.0,
                         background_e=5.0, fixed_pattern_dn=pattern)
    good = BeaconImager(CFG, cal).process(light)
    assert good.valid and not good.saturated
    assert (good.x_px, good.y_px) == (pytest.approx(60.3, abs=0.12), pytest.approx(47.8, abs=0.12))
    assert good.signal_e == pytest.approx(1500.0, rel=0.1)
    # without calibration the fixed pattern adds background noise: the measured SNR drops
    raw = BeaconImager(CFG).process(light)
    assert raw.valid and raw.snr < 0.9 * good.snr
    # 3-D stack input gives the same master dark
    np.testing.assert_array_equal(build_master_dark(np.stack(darks)).dark_dn, cal.dark_dn)


def test_cosmic_ray_alone_is_rejected_and_on_spot_is_masked():
    rng = np.random.default_rng(4)
    imager = BeaconImager(CFG)
    frame = render_frame((96, 128), CAM8, rng, background_e=5.0)
    frame[30, 40] = 255  # single-pixel hit
    frame[70, 90:92] = 200  # two-pixel track
    res = imager.process(frame)
    assert not res.valid and res.reason in ("no_signal", "rejected_cosmic_ray")
    spot = _frame(rng, signal=2000.0)
    spot[10, 10] = 255  # hit brighter than the spot's peak, elsewhere
    spot[48, 62] = 255  # hit on the spot's wing
    res = imager.process(spot)
    assert res.valid
    assert (res.x_px, res.y_px) == (pytest.approx(60.3, abs=0.12), pytest.approx(47.8, abs=0.12))


def test_wide_cosmic_track_rejected_as_too_sharp():
    rng = np.random.default_rng(5)
    frame = _frame(rng, signal=800.0)
    frame[20:23, 100:103] = 200  # 3x3 block: survives the median filter, brighter than the spot
    sharp = BeaconImager(CFG.replace(min_psf_sigma_px=0.45)).process(frame)
    assert sharp.valid and sharp.x_px == pytest.approx(101.0, abs=0.2)  # taken for the beacon...
    res = BeaconImager(CFG.replace(min_psf_sigma_px=1.0)).process(frame)  # ...unless narrower than a PSF
    assert res.valid
    assert (res.x_px, res.y_px) == (pytest.approx(60.3, abs=0.15), pytest.approx(47.8, abs=0.15))


def test_secondary_spots_rejected():
    rng = np.random.default_rng(6)
    mean = (spot_expected_e((96, 128), 60.3, 47.8, 1.5, 6000.0)
            + spot_expected_e((96, 128), 68.6, 49.2, 1.5, 1500.0)  # glint next to the beacon
            + spot_expected_e((96, 128), 20.0, 80.0, 1.5, 3000.0))  # fainter spot far away
    frame = np.clip(rng.poisson(mean + 5.0) + rng.normal(10.0, 3.0, mean.shape), 0, 255).round().astype(np.uint8)
    res = BeaconImager(CFG).process(frame)
    assert res.valid
    assert (res.x_px, res.y_px) == (pytest.approx(60.3, abs=0.1), pytest.approx(47.8, abs=0.1))
    assert res.signal_e == pytest.approx(6000.0, rel=0.1)


@pytest.mark.parametrize("bits", [8, 12])
def test_saturation_flag_and_fit_on_unsaturated_wings(bits):
    rng = np.random.default_rng(7)
    cam = CameraModel(gain_e_per_dn=1.0, read_noise_e=3.0, bias_dn=10.0, bit_depth=bits)
    frame = _frame(rng, signal=30.0 * cam.full_scale_dn, cam=cam, sigma=1.8)
    cfg = CFG.replace(saturation_dn=cam.full_scale_dn)
    res = BeaconImager(cfg).process(frame)
    assert res.valid and res.saturated
    assert (res.x_px, res.y_px) == (pytest.approx(60.3, abs=0.1), pytest.approx(47.8, abs=0.1))
    rej = BeaconImager(cfg.replace(reject_saturated=True)).process(frame)
    assert not rej.valid and rej.reason == "saturated" and rej.saturated


def test_roi_window_around_prediction():
    rng = np.random.default_rng(8)
    frame = _frame(rng, x=300.4, y=200.6, shape=(400, 512), signal=3000.0)
    imager = BeaconImager(CFG.replace(roi_size_px=64))
    full = imager.process(frame)
    win = imager.process(frame, predicted_xy_px=(np.float64(310.0), np.float32(195.0)))
    assert win.valid and win.roi == (278, 163, 64, 64)
    assert win.x_px == pytest.approx(full.x_px, abs=0.02) and win.y_px == pytest.approx(full.y_px, abs=0.02)
    far = imager.process(frame, predicted_xy_px=(80.0, 80.0))
    assert not far.valid and far.reason == "no_signal" and far.roi == (48, 48, 64, 64)
    outside = imager.process(frame, predicted_xy_px=(-500.0, 2000.0))
    assert outside.valid and outside.roi == (0, 0, 512, 400)


def test_flat_field_correction():
    rng = np.random.default_rng(9)
    shape = (96, 128)
    flat = np.ones(shape)
    flat[:, 61:] = 0.6  # strong response step through the spot
    mean = spot_expected_e(shape, 60.3, 47.8, 1.5, 8000.0) * flat + 5.0
    frame = np.clip(rng.poisson(mean) + 10.0, 0, 255).astype(np.uint8)
    cal = Calibration(dark_dn=np.full(shape, 10.0), flat=flat)
    good = centroid_frame(frame, CFG, cal)
    raw = centroid_frame(frame, CFG, Calibration(dark_dn=np.full(shape, 10.0)))
    assert good.x_px == pytest.approx(60.3, abs=0.1)
    assert raw.x_px < 60.2  # the uncorrected step pulls the centroid left


def test_large_frame_coarse_to_fine_mono16():
    rng = np.random.default_rng(10)
    cam = CameraModel(gain_e_per_dn=0.25, read_noise_e=2.0, bias_dn=200.0, bit_depth=16)
    frame = render_frame((1025, 1300), cam, rng, x_px=977.7, y_px=433.2, sigma_px=2.0, signal_e=3000.0,
                         background_e=2.0)
    res = BeaconImager(CFG.replace(gain_e_per_dn=0.25, read_noise_e=2.0, psf_sigma_px=2.0)).process(frame)
    assert res.valid
    assert (res.x_px, res.y_px) == (pytest.approx(977.7, abs=0.1), pytest.approx(433.2, abs=0.1))
    assert res.signal_e == pytest.approx(3000.0, rel=0.1)


def test_candidate_component_is_the_8_connected_labelling_of_the_peak():
    """The flood-filled candidate (``_component``) is the component ``cv2.connectedComponentsWithStats``
    labels: same pixels, bounding box, area and detected region, also when it must grow its window."""
    import cv2

    from qsat_pat.core.imaging import _component

    rng = np.random.default_rng(21)
    for trial in range(60):
        shape = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        smooth = rng.normal(0.0, 1.0, shape).astype(np.float32)
        if trial % 3 == 0:  # a long diagonal streak: the search window has to grow
            for k in range(min(shape)):
                smooth[k, k] += 6.0
        threshold = float(rng.choice([0.5, 1.0, 1.5]))
        _, _, _, (px, py) = cv2.minMaxLoc(smooth)
        comp = _component(smooth, threshold, px, py)
        full = (smooth > threshold).view(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(full, connectivity=8)
        label = labels[py, px]
        x, y, w, h, area = stats[label].tolist()
        assert (comp.x0, comp.y0, comp.x1, comp.y1, comp.area) == (x, y, x + w, y + h, area)
        ry0, ry1, rx0, rx1 = comp.region
        np.testing.assert_array_equal(comp.main, labels[ry0:ry1, rx0:rx1] == label)
        np.testing.assert_array_equal(comp.detected, full[ry0:ry1, rx0:rx1] > 0)
    assert _component(np.zeros((30, 30), np.float32), 0.5, 10, 10) is None  # peak below threshold
