"""Synthetic camera frames: a pixel-integrated Gaussian beacon spot seen by a noisy sensor.

Used by the imaging tests (simulate-then-recover) and by the simulator, so both see the
same sensor model.  The chain per pixel is the standard CCD/CMOS signal model:

    electrons  ~ Poisson(spot_e + background_e + dark_e)  (shot noise)
               + Normal(0, read_noise_e)                  (read noise)
    DN         = round(electrons / gain_e_per_dn + bias_dn), clipped to [0, 2**bit_depth - 1]

(quantisation and saturation at the ADC full scale).  Pixel centres are at integer
coordinates, x to the right (column), y down (row), as OpenCV.

References
----------
seed 002 §II.2 (noise floor of the tracking camera: shot, read and dark noise set the
detection limit), seed 002 §II.1 (beacon identification on such frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.params import ConfigBase, param

__all__ = ["CameraModel", "render_frame", "spot_expected_e"]


@dataclass(frozen=True)
class CameraModel(ConfigBase):
    """Sensor model of a mono tracking camera (one frame, one exposure)."""

    gain_e_per_dn: float = param(1.0, "conversion gain", unit="e-/DN", min_value=1e-3, max_value=1e3)
    read_noise_e: float = param(2.0, "read noise (rms)", unit="e-", min_value=0.0, max_value=1e3)
    bias_dn: float = param(0.0, "ADC offset added to every pixel", unit="DN", min_value=0.0, max_value=65535.0)
    dark_e: float = param(0.0, "mean dark-current electrons per pixel in the exposure", unit="e-",
                          min_value=0.0, max_value=1e6)
    bit_depth: int = param(8, "ADC bits; 8 gives uint8 frames, 9-16 give uint16", unit="bit",
                           min_value=8, max_value=16)

    @property
    def full_scale_dn(self) -> int:
        """Largest representable pixel value [DN] (saturation level)."""
        return (1 << self.bit_depth) - 1

    @property
    def dtype(self) -> type:
        """numpy dtype of the frames (``uint8`` for 8 bit, else ``uint16``)."""
        return np.uint8 if self.bit_depth <= 8 else np.uint16


def spot_expected_e(
    shape: tuple[int, int], x_px: float, y_px: float, sigma_px: float, signal_e: float
) -> np.ndarray:
    """Mean photo-electrons per pixel of a circular Gaussian spot, integrated over each pixel.

    Parameters
    ----------
    shape : (int, int)
        Frame size (rows, columns).
    x_px, y_px : float
        Spot centre [px]; pixel centres at integer coordinates, x = column, y = row.
    sigma_px : float
        Gaussian standard deviation of the spot [px], > 0.
    signal_e : float
        Total photo-electrons of the spot (over the infinite plane) [e-], >= 0.

    Returns
    -------
    ndarray, shape ``shape``, float64
        Expected electrons per pixel [e-].

    Raises
    ------
    ImagingError
        If the shape is empty or a parameter is non-finite or out of range.
    """
    rows, cols = _check_shape(shape)
    x_px, y_px, sigma_px, signal_e = (float(v) for v in (x_px, y_px, sigma_px, signal_e))
    if not all(np.isfinite((x_px, y_px, sigma_px, signal_e))):
        raise ImagingError(f"spot parameters must be finite, got x={x_px}, y={y_px}, "
                           f"sigma={sigma_px}, signal={signal_e}")
    if sigma_px <= 0.0 or signal_e < 0.0:
        raise ImagingError(f"spot needs sigma_px > 0 and signal_e >= 0, got {sigma_px}, {signal_e}")
    xs = np.arange(cols, dtype=float)
    ys = np.arange(rows, dtype=float)
    gx = ndtr((xs + 0.5 - x_px) / sigma_px) - ndtr((xs - 0.5 - x_px) / sigma_px)
    gy = ndtr((ys + 0.5 - y_px) / sigma_px) - ndtr((ys - 0.5 - y_px) / sigma_px)
    return signal_e * np.outer(gy, gx)


def render_frame(
    shape: tuple[int, int],
    camera: CameraModel,
    rng: np.random.Generator,
    *,
    x_px: float | None = None,
    y_px: float | None = None,
    sigma_px: float = 1.5,
    signal_e: float = 0.0,
    background_e: float = 0.0,
    fixed_pattern_dn: np.ndarray | None = None,
) -> np.ndarray:
    """Render one noisy mono frame with an optional Gaussian beacon spot.

    Parameters
    ----------
    shape : (int, int)
        Frame size (rows, columns).
    camera : CameraModel
        Sensor model (gain, read noise, bias, dark electrons, bit depth).
    rng : numpy.random.Generator
        Random generator (seed it for reproducible frames).
    x_px, y_px : float, optional
        Spot centre [px]; if either is None no spot is drawn.
    sigma_px : float
        Spot Gaussian standard deviation [px].
    signal_e : float
        Total spot photo-electrons [e-].
    background_e : float
        Sky/stray-light photo-electrons per pixel [e-], uniform.
    fixed_pattern_dn : ndarray, optional
        Extra per-pixel offset [DN] (a fixed-pattern dark, e.g. to test dark subtraction),
        same shape as the frame.

    Returns
    -------
    ndarray, shape ``shape``, uint8 or uint16 (``camera.dtype``)
        The digitised frame [DN], clipped at 0 and ``camera.full_scale_dn``.

    Raises
    ------
    ImagingError
        On an empty shape, non-finite or negative fluxes, or a fixed pattern of the wrong shape.
    """
    rows, cols = _check_shape(shape)
    background_e = float(background_e)
    if not np.isfinite(background_e) or background_e < 0.0:
        raise ImagingError(f"background_e must be finite and >= 0, got {background_e}")
    mean_e = np.full((rows, cols), background_e + camera.dark_e)
    if x_px is not None and y_px is not None:
        mean_e += spot_expected_e((rows, cols), x_px, y_px, sigma_px, signal_e)
    electrons = rng.poisson(mean_e).astype(float)
    if camera.read_noise_e > 0.0:
        electrons += rng.normal(0.0, camera.read_noise_e, size=electrons.shape)
    dn = electrons / camera.gain_e_per_dn + camera.bias_dn
    if fixed_pattern_dn is not None:
        pattern = np.asarray(fixed_pattern_dn, dtype=float)
        if pattern.shape != (rows, cols):
            raise ImagingError(f"fixed_pattern_dn has shape {pattern.shape}, the frame is {(rows, cols)}")
        dn += pattern
    return np.clip(np.rint(dn), 0, camera.full_scale_dn).astype(camera.dtype)


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ImagingError(f"shape must be (rows, columns), got {shape!r}") from None
    if rows < 1 or cols < 1:
        raise ImagingError(f"shape must be at least 1x1 pixel, got {shape!r}")
    return rows, cols
