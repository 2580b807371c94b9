"""Bad input to the imaging core: clear ImagingError / ConfigError messages, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

from qsat_pat.core.camera_noise import CameraModel, render_frame, spot_expected_e
from qsat_pat.core.errors import ConfigError, ImagingError
from qsat_pat.core.imaging import BeaconImager, Calibration, ImagingConfig, build_master_dark, load_frame

GOOD = np.full((32, 32), 10, np.uint8)


@pytest.mark.parametrize("method", ["default", "york"])
@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((32, 32), np.float32), "dtype must be uint8"),
        (np.zeros((32, 32), np.int16), "dtype must be uint8"),
        (np.zeros((32, 32, 3), np.uint8), "must be 2-D"),
        (np.zeros((0, 0), np.uint8), "at least 8x8"),
        (np.zeros((4, 100), np.uint16), "at least 8x8"),
        ([[1, 2], [3, 4]], "numpy array"),
    ],
)
def test_bad_frames(method, frame, match):
    with pytest.raises(ImagingError, match=match):
        BeaconImager(ImagingConfig(method=method)).process(frame)


@pytest.mark.parametrize("method", ["default", "york"])
def test_dark_size_mismatch(method):
    imager = BeaconImager(ImagingConfig(method=method), Calibration(dark_dn=np.zeros((30, 32))))
    with pytest.raises(ImagingError, match=r"dark/flat frame is 32x30 px but the image is 32x32 px"):
        imager.process(GOOD)


def test_bad_calibration():
    with pytest.raises(ImagingError, match="differ in size"):
        Calibration(dark_dn=np.zeros((8, 8)), flat=np.ones((9, 8)))
    with pytest.raises(ImagingError, match="flat must be > 0"):
        Calibration(flat=np.zeros((8, 8)))
    with pytest.raises(ImagingError, match="NaN"):
        Calibration(dark_dn=np.full((8, 8), np.nan))
    with pytest.raises(ImagingError, match="2-D"):
        Calibration(dark_dn=np.zeros(8))


def test_bad_prediction():
    imager = BeaconImager(ImagingConfig(roi_size_px=16))
    for pred in [(np.nan, 3.0), (1.0,), (1.0, 2.0, 3.0), (np.inf, 0.0)]:
        with pytest.raises(ImagingError, match="predicted_xy_px"):
            imager.process(GOOD, predicted_xy_px=pred)


def test_bad_master_dark_inputs():
    with pytest.raises(ImagingError, match="at least one"):
        build_master_dark([])
    with pytest.raises(ImagingError, match="dark frame 1 is 16x8 px"):
        build_master_dark([np.zeros((8, 8), np.uint8), np.zeros((8, 16), np.uint8)])
    with pytest.raises(ImagingError, match="dark frame 0: frame dtype"):
        build_master_dark([np.zeros((8, 8), np.float64)])


def test_bad_config():
    with pytest.raises(ConfigError, match="method"):
        ImagingConfig(method="opencv")
    with pytest.raises(ConfigError, match="false_alarm_probability"):
        ImagingConfig(false_alarm_probability=0.0)
    with pytest.raises(ConfigError, match="gain_e_per_dn"):
        ImagingConfig(gain_e_per_dn=float("nan"))
    with pytest.raises(ConfigError, match="bit_depth"):
        CameraModel(bit_depth=32)


def test_bad_files(tmp_path):
    with pytest.raises(ImagingError, match="does not exist"):
        load_frame(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(ImagingError, match="cannot decode"):
        load_frame(junk)
    arr = tmp_path / "float.npy"
    np.save(arr, np.zeros((16, 16)))
    with pytest.raises(ImagingError, match="dtype must be uint8"):
        load_frame(arr)


def test_bad_render_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ImagingError, match="at least 1x1"):
        render_frame((0, 5), CameraModel(), rng)
    with pytest.raises(ImagingError, match="sigma_px > 0"):
        spot_expected_e((8, 8), 1.0, 1.0, 0.0, 10.0)
    with pytest.raises(ImagingError, match="fixed_pattern_dn has shape"):
        render_frame((8, 8), CameraModel(), rng, fixed_pattern_dn=np.zeros((4, 4)))


def test_flat_frames_and_extremes_do_not_crash():
    for frame in (np.zeros((64, 64), np.uint8), np.full((64, 64), 255, np.uint8),
                  np.full((64, 64), 65535, np.uint16)):
        for method in ("default", "york"):
            res = BeaconImager(ImagingConfig(method=method)).process(frame)
            assert isinstance(res.valid, bool)
    # spot on the frame corner: a result (valid or a reason), never an exception
    rng = np.random.default_rng(1)
    corner = render_frame((64, 64), CameraModel(), rng, x_px=0.2, y_px=63.0, signal_e=3000.0, background_e=5.0)
    res = BeaconImager(ImagingConfig()).process(corner)
    assert (not res.valid and res.reason) or (res.x_px < 2.0 and res.y_px > 61.0)
