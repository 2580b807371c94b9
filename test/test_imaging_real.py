"""The real York beacon frame (../shared/data/york_tracking/images/) centroided by both methods,
and stable under a synthetic dark level added to the frame and subtracted as the dark frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsat_pat.core.imaging import BeaconImager, Calibration, ImagingConfig, load_frame

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FRAME_PATH = SHARED / "data" / "york_tracking" / "images" / "beacon_frame_4144x2820.jpg"
pytestmark = pytest.mark.skipif(not FRAME_PATH.is_file(), reason=f"shared York data not found at {FRAME_PATH}")

# README: spot near x~2565, y~1157 (a ~40 px disc with a bright rim on its right side), background ~2 DN.
README_XY = (2565.0, 1157.0)
BACKGROUND_DN = 2


@pytest.fixture(scope="module")
def frame():
    img = load_frame(FRAME_PATH)
    assert img.shape == (2820, 4144) and img.dtype == np.uint8
    return img


def _reference_centroid(img):
    """Background-subtracted centre of mass over a 160 px box around the README position."""
    y0, x0 = int(README_XY[1]) - 80, int(README_XY[0]) - 80
    box = img[y0 : y0 + 160, x0 : x0 + 160].astype(float) - BACKGROUND_DN
    w = np.clip(box, 0, None)
    yy, xx = np.mgrid[0:160, 0:160]
    return float((w * xx).sum() / w.sum() + x0), float((w * yy).sum() / w.sum() + y0)


def test_default_method_on_real_frame(frame):
    res = BeaconImager(ImagingConfig()).process(frame)
    ref_x, ref_y = _reference_centroid(frame)
    print(f"\nreal frame default: x={res.x_px:.2f} y={res.y_px:.2f} px, sigma_x={res.covariance_px2[0, 0]**0.5:.3f} px, "
          f"SNR={res.snr:.0f}, signal={res.signal_e:.0f} e- (gain 1), area={res.spot_area_px:.0f} px; "
          f"reference CoM ({ref_x:.2f}, {ref_y:.2f})")
    assert res.valid and not res.saturated
    assert np.hypot(res.x_px - README_XY[0], res.y_px - README_XY[1]) < 10.0
    assert (res.x_px, res.y_px) == (pytest.approx(ref_x, abs=0.3), pytest.approx(ref_y, abs=0.3))
    assert res.snr > 20


def test_york_method_on_real_frame(frame):
    """York subtracts a master dark; the frame's own ~2 DN background stands in for it."""
    dark = Calibration(dark_dn=np.full(frame.shape, BACKGROUND_DN, np.float32))
    res = BeaconImager(ImagingConfig(method="york"), dark).process(frame)
    print(f"\nreal frame york: x={res.x_px:.0f} y={res.y_px:.0f} px (integer pixels), area={res.spot_area_px:.0f} px")
    assert res.valid
    assert res.x_px == int(res.x_px) and res.y_px == int(res.y_px)  # floor division, as published
    assert np.hypot(res.x_px - README_XY[0], res.y_px - README_XY[1]) < 10.0
    # without any dark the 2 DN background is Otsu's foreground: the published method fails
    bare = BeaconImager(ImagingConfig(method="york")).process(frame)
    assert np.hypot(bare.x_px - README_XY[0], bare.y_px - README_XY[1]) > 100.0


@pytest.mark.parametrize("method", ["default", "york"])
def test_stable_under_synthetic_dark(frame, method):
    rng = np.random.default_rng(11)
    dark_pattern = (30 + rng.integers(0, 16, frame.shape)).astype(np.uint8)  # level + fixed pattern [DN]
    dark_pattern[rng.random(frame.shape) < 1e-4] = 150  # some hot pixels
    darkened = (frame.astype(np.uint16) + dark_pattern).clip(0, 255).astype(np.uint8)
    base_dark = np.full(frame.shape, BACKGROUND_DN if method == "york" else 0, np.float32)
    cfg = ImagingConfig(method=method)
    base = BeaconImager(cfg, Calibration(dark_dn=base_dark)).process(frame)
    shifted = BeaconImager(cfg, Calibration(dark_dn=dark_pattern.astype(np.float32) + base_dark)).process(darkened)
    assert base.valid and shifted.valid
    assert shifted.x_px == pytest.approx(base.x_px, abs=0.01)
    assert shifted.y_px == pytest.approx(base.y_px, abs=0.01)
    if method == "default":
        # and without subtracting it, the default method still finds the same spot (local background)
        plain = BeaconImager(cfg).process(darkened)
        assert (plain.x_px, plain.y_px) == (pytest.approx(base.x_px, abs=0.5), pytest.approx(base.y_px, abs=0.5))


def test_roi_window_on_real_frame(frame):
    full = BeaconImager(ImagingConfig()).process(frame)
    win = BeaconImager(ImagingConfig(roi_size_px=160)).process(frame, predicted_xy_px=README_XY)
    assert win.roi == (2485, 1077, 160, 160)
    assert (win.x_px, win.y_px) == (pytest.approx(full.x_px, abs=0.3), pytest.approx(full.y_px, abs=0.3))
