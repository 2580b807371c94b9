"""Beacon imaging: calibrate a mono camera frame, detect the beacon spot and centroid it.

Two methods, selected by :attr:`ImagingConfig.method`:

``york``
    Seed 002 §II.1 exactly as published (and as in the authors' code): saturating
    dark-frame subtraction, morphological opening with a 3x3 kernel, Otsu's threshold,
    external contours, the largest contour, and its image moments with *floor division*
    (``m10 // m00``), so the centroid is an integer pixel.
``default``
    Dark / flat / hot-pixel calibration; a coarse detection image (the frame, or for large
    frames a ``b x b`` block average -- coarse-to-fine); a 3x3 median (removes single-pixel
    hot pixels and cosmic-ray hits) and a box matched filter (sum over ~2.4 sigma square);
    a detection threshold set from the *measured* (median/MAD) noise of the filtered image
    for a chosen per-frame false-alarm probability, floored by read + quantisation noise;
    the brightest candidate's connected component; a full-resolution
    window around it with a local background from the window's border ring; secondary spots
    in the window masked; and a sub-pixel centroid: an intensity-weighted centroid whose
    weights are the maximum-likelihood (Fisher) weights of a pixel-integrated Gaussian spot
    under shot + read + background noise, iterated to its fixed point (Gauss-Newton on
    x, y, flux and width).  In the shot-noise limit the weights are uniform (plain centre of
    mass); in the background limit they are the Gaussian window of a matched filter.  Its
    covariance is the Cramer-Rao bound (inverse Fisher information) at the estimate, and the
    SNR is flux / its Cramer-Rao standard deviation.  Fits narrower than ``min_psf_sigma_px``
    are rejected as cosmic rays / hot pixels (the next candidate is tried); pixels more than
    ``outlier_sigma`` above the fitted spot are masked and the fit repeated.  Saturated
    pixels are left out of the fit (the unsaturated wings locate the spot).  Spots
    wider than ``max_fit_sigma_px`` (e.g. ring-shaped, defocused) use the plain
    background-subtracted centre of mass over the spot with propagated-noise covariance.

Both return a :class:`CentroidResult`, whose fields map one-to-one onto
``msg/BeaconCentroid.msg``.  "No detection" is a result with ``valid=False`` and a reason,
never an exception; exceptions (:class:`~qsat_pat.core.errors.ImagingError`) are for frames
that cannot be processed at all (wrong dtype/ndim, empty, calibration size mismatch).

Pixel convention: pixel centres at integer coordinates, x to the right (column), y down
(row), as OpenCV.

References
----------
seed 002 §II.1 (beacon identification: dark frame, opening kernel 3, Otsu [28], largest
contour, image moments); seed 002 §II.2 (noise floor sets the detection limit); seed 002 §IV
(a smaller camera region of interest cut the latency that caused FSM over-correction).
Otsu, N. (1979) "A threshold selection method from gray-level histograms" (seed 002 ref. [28]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotri as _dpotri
from scipy.special import ndtr, ndtri

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "BeaconImager",
    "Calibration",
    "CentroidResult",
    "ImagingConfig",
    "build_master_dark",
    "centroid_frame",
    "load_frame",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_MAD_TO_SIGMA = 1.4826
_RING_WIDTH_PX = 2
_MAX_FIT_ITERATIONS = 10
_UPPER4 = np.triu(np.ones((4, 4), bool))
#: Fit convergence: squared step / Cramer-Rao variance of x, y and sigma below this.
_STEP_TOL2 = 1.0
#: Full scale [DN] of the frame dtypes (np.iinfo is slow enough to matter at 1 kHz).
_FULL_SCALE_DN = {np.dtype(t): float(np.iinfo(t).max) for t in (np.uint8, np.uint16)}


@dataclass(frozen=True)
class ImagingConfig(ConfigBase):
    """Tunables of the beacon imaging pipeline (one ROS parameter each)."""

    method: str = param("default", "centroid method: sub-pixel 'default' or seed 002 §II.1 'york'",
                        choices=("default", "york"))
    gain_e_per_dn: float = param(1.0, "camera conversion gain", unit="e-/DN", min_value=1e-3, max_value=1e3)
    read_noise_e: float = param(2.0, "camera read noise (rms); floors the measured noise", unit="e-",
                                min_value=0.0, max_value=1e3)
    saturation_dn: int = param(0, "pixel value at or above which a pixel is saturated; 0 = dtype full scale",
                               unit="DN", min_value=0, max_value=65535)
    reject_saturated: bool = param(False, "report a saturated spot as not valid (reason 'saturated')")
    false_alarm_probability: float = param(1e-3, "probability per frame that noise alone gives a detection",
                                           min_value=1e-12, max_value=0.5)
    psf_sigma_px: float = param(1.5, "expected spot Gaussian sigma (matched filter, window margin)", unit="px",
                                min_value=0.3, max_value=50.0)
    min_psf_sigma_px: float = param(0.45, "fitted spots narrower than this are cosmic rays / hot pixels",
                                    unit="px", min_value=0.0, max_value=10.0)
    max_fit_sigma_px: float = param(4.0, "spots wider than this use the plain centre of mass, not the fit",
                                    unit="px", min_value=0.5, max_value=100.0)
    roi_size_px: int = param(128, "side of the square window searched around a predicted position; "
                             "0 = always the full frame", unit="px", min_value=0, max_value=65535)
    detection_max_pixels: int = param(262144, "larger search areas are block-averaged to about this "
                                      "many pixels for detection (coarse-to-fine)", unit="px",
                                      min_value=1024, max_value=1 << 26)
    max_candidates: int = param(8, "brightest candidates examined before giving up", min_value=1, max_value=64)
    outlier_sigma: float = param(8.0, "window pixels this many sigma above the fitted spot are masked "
                                 "(cosmic-ray hits on the spot)", min_value=3.0, max_value=1e3)
    york_kernel_px: int = param(3, "morphological opening kernel side of the 'york' method (seed 002: 3)",
                                unit="px", min_value=1, max_value=31)


@dataclass(frozen=True)
class Calibration:
    """Calibration frames of one camera configuration (same size as the raw frames).

    Attributes
    ----------
    dark_dn : ndarray (rows, cols) float32 or None
        Master dark [DN] subtracted from every frame (includes the bias).
    flat : ndarray (rows, cols) float32 or None
        Relative pixel response (mean ~1); frames are divided by it after dark subtraction.
    hot_pixel_mask : ndarray (rows, cols) bool or None
        True for pixels to ignore (hot/dead); they get zero weight in the centroid.
    """

    dark_dn: np.ndarray | None = None
    flat: np.ndarray | None = None
    hot_pixel_mask: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        shapes = set()
        if self.dark_dn is not None:
            dark = _as_calibration_array(self.dark_dn, "dark_dn")
            object.__setattr__(self, "dark_dn", dark)
            shapes.add(dark.shape)
        if self.flat is not None:
            flat = _as_calibration_array(self.flat, "flat")
            if not np.all(flat > 0):
                raise ImagingError("flat must be > 0 everywhere (a relative response); "
                                   "mark dead pixels in hot_pixel_mask instead")
            object.__setattr__(self, "flat", flat)
            shapes.add(flat.shape)
        if self.hot_pixel_mask is not None:
            mask = np.asarray(self.hot_pixel_mask)
            if mask.ndim != 2 or mask.size == 0:
                raise ImagingError(f"hot_pixel_mask must be a non-empty 2-D array, got shape {mask.shape}")
            object.__setattr__(self, "hot_pixel_mask", mask.astype(bool))
            shapes.add(mask.shape)
        if len(shapes) > 1:
            raise ImagingError(f"calibration frames differ in size: {sorted(shapes)}; "
                               "build them from frames of the same camera configuration")

    @property
    def shape(self) -> tuple[int, int] | None:
        """(rows, cols) of the calibration frames, or None if there are none."""
        for arr in (self.dark_dn, self.flat, self.hot_pixel_mask):
            if arr is not None:
                return arr.shape
        return None

    def check_frame(self, frame: np.ndarray) -> None:
        """Raise :class:`ImagingError` if ``frame`` does not match the calibration size."""
        shape = self.shape
        if shape is not None and frame.shape != shape:
            raise ImagingError(f"dark/flat frame is {shape[1]}x{shape[0]} px but the image is "
                               f"{frame.shape[1]}x{frame.shape[0]} px; use a calibration taken with "
                               "the same resolution, binning and ROI")

    def dark_as(self, dtype: np.dtype) -> np.ndarray | None:
        """The master dark rounded to an integer dtype (for the 'york' method), cached."""
        if self.dark_dn is None:
            return None
        key = ("dark_as", np.dtype(dtype).str)
        if key not in self._cache:
            info = np.iinfo(dtype)
            self._cache[key] = np.clip(np.rint(self.dark_dn), info.min, info.max).astype(dtype)
        return self._cache[key]

    def box_dark(self, rows: slice, cols: slice, side: int) -> np.ndarray | None:
        """Master dark summed over ``side x side`` boxes (zero outside) over a sub-window, cached."""
        if self.dark_dn is None:
            return None
        key = ("box", rows.start, rows.stop, cols.start, cols.stop, side)
        if key not in self._cache:
            if len(self._cache) > 16:  # moving ROIs: keep the cache bounded
                self._cache.clear()
            self._cache[key] = cv2.boxFilter(self.dark_dn[rows, cols], cv2.CV_32F, (side, side),
                                             normalize=False, borderType=cv2.BORDER_CONSTANT)
        return self._cache[key]

    def binned_dark(self, rows: slice, cols: slice, binning: int) -> np.ndarray | None:
        """Block-averaged master dark over a sub-window (for coarse detection), cached."""
        if self.dark_dn is None:
            return None
        key = ("binned", rows.start, rows.stop, cols.start, cols.stop, binning)
        if key not in self._cache:
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = _block_mean(self.dark_dn[rows, cols], binning)
        return self._cache[key]


@dataclass
class CentroidResult:
    """Centroid of the beacon on one frame; fields map 1:1 onto ``msg/BeaconCentroid.msg``.

    Attributes
    ----------
    valid : bool
        True if a beacon was detected; otherwise x/y/covariance are NaN.
    reason : str
        Why not valid (``"no_signal"``, ``"saturated"``, ``"rejected_cosmic_ray"``, ...); "" if valid.
    x_px, y_px : float
        Centroid column / row [px] in full-frame coordinates (pixel centres at integers).
    covariance_px2 : ndarray (2, 2)
        Covariance of (x, y) [px^2] (Cramer-Rao bound for the default method).
    signal_e : float
        Background-subtracted photo-electrons in the spot [e-].
    background_e : float
        Background photo-electrons under the spot's window [e-].
    peak_dn : float
        Brightest spot pixel after dark subtraction [DN].
    snr : float
        Signal over total noise of the spot measurement (dimensionless).
    spot_area_px : float
        Pixels above the detection threshold [px].
    saturated : bool
        A spot pixel reached the saturation level.
    roi : tuple of int
        ``(x_offset, y_offset, width, height)`` of the searched window [px].
    method : str
        ``"default"`` or ``"york"``.
    """

    valid: bool
    reason: str = ""
    x_px: float = math.nan
    y_px: float = math.nan
    covariance_px2: np.ndarray = field(default_factory=lambda: np.full((2, 2), math.nan))
    signal_e: float = 0.0
    background_e: float = 0.0
    peak_dn: float = 0.0
    snr: float = 0.0
    spot_area_px: float = 0.0
    saturated: bool = False
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)
    method: str = "default"

    def as_message_fields(self) -> dict:
        """Plain-Python dict with the BeaconCentroid field names (covariance row-major, 4 floats)."""
        return {
            "method": self.method,
            "valid": bool(self.valid),
            "reason": self.reason,
            "saturated": bool(self.saturated),
            "x_px": float(self.x_px),
            "y_px": float(self.y_px),
            "covariance_px2": [float(v) for v in np.asarray(self.covariance_px2, float).ravel()],
            "signal_e": float(self.signal_e),
            "background_e": float(self.background_e),
            "peak_dn": float(self.peak_dn),
            "snr": float(self.snr),
            "spot_area_px": float(self.spot_area_px),
            "roi": tuple(int(v) for v in self.roi),
        }


class BeaconImager:
    """Centroid the beacon on frames of one camera.

    Parameters
    ----------
    config : ImagingConfig
        Pipeline configuration.
    calibration : Calibration, optional
        Dark / flat / hot-pixel frames of this camera.

    Examples
    --------
    >>> imager = BeaconImager(ImagingConfig())
    >>> result = imager.process(frame)                      # doctest: +SKIP
    >>> result = imager.process(frame, predicted_xy_px=(120.3, 80.9))  # windowed ROI  # doctest: +SKIP
    """

    def __init__(self, config: ImagingConfig | None = None, calibration: Calibration | None = None):
        self.config = config if config is not None else ImagingConfig()
        self.calibration = calibration if calibration is not None else Calibration()
        self._k_sigma: dict[tuple[float, int], float] = {}  # threshold [noise sigmas] per (P_fa, search area)

    # ------------------------------------------------------------------ public API
    def process(self, frame: np.ndarray, predicted_xy_px: Sequence[float] | None = None) -> CentroidResult:
        """Centroid the beacon on one frame.

        Parameters
        ----------
        frame : ndarray (rows, cols), uint8 or uint16
            Raw mono frame [DN].
        predicted_xy_px : (float, float), optional
            Predicted spot position [px]; with ``roi_size_px > 0`` only a window of that side
            around it is searched (seed 002 §IV: a smaller ROI cuts latency).

        Returns
        -------
        CentroidResult
            ``valid=False`` with a reason when no beacon is found.

        Raises
        ------
        ImagingError
            Wrong dtype or ndim, empty frame, calibration size mismatch, non-finite prediction.
        """
        frame = check_frame(frame)
        self.calibration.check_frame(frame)
        rows, cols = self._roi_slices(frame.shape, predicted_xy_px)
        roi = (cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        if self.config.method == "york":
            result = self._york(frame, rows, cols)
        else:
            result = self._default(frame, rows, cols)
        result.roi = roi
        result.method = self.config.method
        return result

    # ------------------------------------------------------------------ ROI
    def _roi_slices(self, shape: tuple[int, int], predicted_xy_px) -> tuple[slice, slice]:
        full = (slice(0, shape[0]), slice(0, shape[1]))
        size = self.config.roi_size_px
        if predicted_xy_px is None or size == 0:
            return full
        pred = np.asarray(predicted_xy_px, dtype=float).ravel()
        px, py = (float(pred[0]), float(pred[1])) if pred.size == 2 else (math.nan, math.nan)
        if not (math.isfinite(px) and math.isfinite(py)):
            raise ImagingError(f"predicted_xy_px must be two finite numbers (x, y) in px, got {predicted_xy_px!r}")
        half = size / 2.0
        # plain int min/max (np.clip on Python scalars costs ~8 us each)
        x0 = min(max(math.floor(px - half + 0.5), 0), shape[1])
        y0 = min(max(math.floor(py - half + 0.5), 0), shape[0])
        x1 = min(x0 + size, shape[1])
        y1 = min(y0 + size, shape[0])
        if x1 - x0 < 8 or y1 - y0 < 8:
            # prediction (nearly) outside the frame: search the whole frame instead
            return full
        return slice(y0, y1), slice(x0, x1)

    # ------------------------------------------------------------------ York (seed 002 §II.1)
    def _york(self, frame: np.ndarray, rows: slice, cols: slice) -> CentroidResult:
        cfg = self.config
        gain = cfg.gain_e_per_dn
        light = frame[rows, cols]
        dark = self.calibration.dark_as(frame.dtype)
        clean = cv2.subtract(light, dark[rows, cols]) if dark is not None else light.copy()
        kernel = np.ones((cfg.york_kernel_px, cfg.york_kernel_px), np.uint8)
        clean = cv2.morphologyEx(clean, cv2.MORPH_OPEN, kernel, iterations=1)
        _, mask = cv2.threshold(clean, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        mask = mask.astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return CentroidResult(valid=False, reason="no_signal")
        largest = max(contours, key=cv2.contourArea)
        moments = cv2.moments(largest)
        area = moments["m00"]
        if area <= 0:
            return CentroidResult(valid=False, reason="no_signal")
        # floor division exactly as the authors' get_contour_origin(): integer-pixel centroid
        x_px = float(moments["m10"] // area) + cols.start
        y_px = float(moments["m01"] // area) + rows.start
        spot = np.zeros_like(mask)
        cv2.drawContours(spot, [largest], -1, color=255, thickness=cv2.FILLED)
        inside = spot > 0
        background_dn = float(np.median(clean[~inside][:: max(1, clean.size // 4096)])) if (~inside).any() else 0.0
        values = clean[inside].astype(np.float64)
        n_spot = float(values.size)
        signal_e = max(float(values.sum()) - background_dn * n_spot, 0.0) * gain
        background_e = background_dn * gain * n_spot
        noise_e = math.sqrt(signal_e + background_e + n_spot * cfg.read_noise_e**2)
        saturated = bool(light[inside].max() >= self._saturation(frame.dtype)) if inside.any() else False
        # floor division: error uniform on [0, 1) px -> variance 1/12 px^2 (no noise model published)
        cov = np.eye(2) / 12.0
        result = CentroidResult(
            valid=True, x_px=x_px, y_px=y_px, covariance_px2=cov, signal_e=signal_e,
            background_e=background_e, peak_dn=float(values.max()) if values.size else 0.0,
            snr=signal_e / noise_e if noise_e > 0 else 0.0, spot_area_px=n_spot, saturated=saturated,
        )
        if saturated and cfg.reject_saturated:
            _invalidate(result, "saturated")
        return result

    # ------------------------------------------------------------------ default
    def _saturation(self, dtype: np.dtype) -> float:
        if self.config.saturation_dn > 0:
            return float(self.config.saturation_dn)
        return _FULL_SCALE_DN[np.dtype(dtype)]

    def _default(self, frame: np.ndarray, rows: slice, cols: slice) -> CentroidResult:
        cfg = self.config
        cal = self.calibration
        raw = frame[rows, cols]
        binning = max(1, int(math.ceil(math.sqrt(raw.size / cfg.detection_max_pixels))))
        # ---- detection image: 3x3 median (removes single-pixel hot pixels and cosmic-ray hits,
        # keeps spots of sigma >= 1 px), then a box matched filter (sum over side x side pixels),
        # dark subtracted; block-averaged first for large search areas (coarse-to-fine)
        sigma_k = cfg.psf_sigma_px / binning
        side = max(3, 2 * round(1.2 * sigma_k) + 1)
        if binning == 1:
            src = raw
            if sigma_k >= 1.0:
                src = cv2.medianBlur(raw, 3)
            smooth = cv2.boxFilter(src, cv2.CV_32F, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
            if cal.dark_dn is not None:
                smooth -= cal.box_dark(rows, cols, side)
        else:
            det = _block_mean(raw, binning)
            dark_b = cal.binned_dark(rows, cols, binning)
            if dark_b is not None:
                det -= dark_b
            if sigma_k >= 1.0:
                det = cv2.medianBlur(det, 3)
            smooth = cv2.boxFilter(det, cv2.CV_32F, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
        # threshold from the measured noise of the filtered image (robust: median and MAD of a
        # ~1024-pixel sample), floored by read + quantisation noise, for the per-frame false-alarm
        # probability spread over all pixels (conservative: neighbouring sums are correlated)
        stride = max(1, int(math.sqrt(smooth.size / 1024.0)))
        sample = smooth[::stride, ::stride]
        level = _median(sample)
        mad_sigma = _MAD_TO_SIGMA * _median(np.abs(sample - level))
        floor_dn = math.sqrt((cfg.read_noise_e / cfg.gain_e_per_dn) ** 2 + 1.0 / 12.0) / binning
        noise = max(mad_sigma, floor_dn * side)
        key = (cfg.false_alarm_probability, smooth.size)
        k_sigma = self._k_sigma.get(key)
        if k_sigma is None:  # depends on the false-alarm probability and the search area only
            if len(self._k_sigma) > 64:
                self._k_sigma.clear()
            k_sigma = self._k_sigma[key] = float(-ndtri(cfg.false_alarm_probability / smooth.size))
        threshold = level + k_sigma * noise

        last_reason = "no_signal"
        for _ in range(cfg.max_candidates):
            _, peak, _, (px, py) = cv2.minMaxLoc(smooth)
            if peak <= threshold:
                break
            comp = _component(smooth, threshold, px, py)
            if comp is None:
                break
            result, reason = self._centroid_candidate(frame, raw, rows, cols, binning, comp)
            if result is not None:
                return result
            last_reason = "rejected_" + reason
            ry0, ry1, rx0, rx1 = comp.region
            smooth[ry0:ry1, rx0:rx1][comp.main] = -np.inf  # suppress, try the next
        return CentroidResult(valid=False, reason=last_reason)

    def _centroid_candidate(self, frame, raw, rows, cols, binning, comp):
        cfg = self.config
        cal = self.calibration
        gain = cfg.gain_e_per_dn
        n_rows, n_cols = raw.shape
        margin = int(math.ceil(3.0 * cfg.psf_sigma_px)) + _RING_WIDTH_PX + 1
        wy0 = max(comp.y0 * binning - margin, 0)
        wy1 = min(comp.y1 * binning + margin, n_rows)
        wx0 = max(comp.x0 * binning - margin, 0)
        wx1 = min(comp.x1 * binning + margin, n_cols)
        win_raw = raw[wy0:wy1, wx0:wx1]
        n_wr, n_wc = win_raw.shape
        ay0, ax0 = rows.start + wy0, cols.start + wx0  # absolute offset of the window
        fr = slice(ay0, ay0 + n_wr)
        fc = slice(ax0, ax0 + n_wc)
        data = win_raw.astype(np.float64)
        if cal.dark_dn is not None:
            data -= cal.dark_dn[fr, fc]
        if cal.flat is not None:
            data /= cal.flat[fr, fc]
        saturation = self._saturation(frame.dtype)
        any_saturated = cv2.minMaxLoc(win_raw)[1] >= saturation
        # the detection region (main candidate + secondary spots) on the window grid
        detected, main_region = comp.detected, comp.main
        ry0, _, rx0, _ = comp.region
        if binning > 1:
            detected = np.repeat(np.repeat(detected, binning, axis=0), binning, axis=1)
            main_region = np.repeat(np.repeat(main_region, binning, axis=0), binning, axis=1)
            ry0, rx0 = ry0 * binning, rx0 * binning
        secondary = np.zeros(data.shape, bool)
        main = np.zeros(data.shape, bool)
        oy0, ox0 = max(wy0, ry0), max(wx0, rx0)
        oy1, ox1 = min(wy1, ry0 + detected.shape[0]), min(wx1, rx0 + detected.shape[1])
        if oy1 > oy0 and ox1 > ox0:
            dst = (slice(oy0 - wy0, oy1 - wy0), slice(ox0 - wx0, ox1 - wx0))
            src = (slice(oy0 - ry0, oy1 - ry0), slice(ox0 - rx0, ox1 - rx0))
            main[dst] = main_region[src]
            np.greater(detected[src], main_region[src], out=secondary[dst])  # detected and not main
        usable = ~secondary  # mask secondary spots
        if cal.hot_pixel_mask is not None:
            usable &= ~cal.hot_pixel_mask[fr, fc]
        # local background from the window's border ring (outside the spot, usable pixels)
        keep = usable > main  # usable and not main
        ring_vals = data[keep & _border_mask(data.shape)]
        if ring_vals.size < 8:
            ring_vals = data[keep]
        if ring_vals.size < 8:
            return None, "no_background"
        bg_dn, bg_sigma = _clipped_stats(ring_vals)
        bg_var = max(bg_sigma**2, (cfg.read_noise_e / gain) ** 2 + 1.0 / 12.0)
        d = data - bg_dn
        spot_pix = main & usable
        if not spot_pix.any():
            spot_pix = main
        xs = np.arange(n_wc, dtype=float)
        ys = np.arange(n_wr, dtype=float)
        pos = np.maximum(d, 0.0) * spot_pix
        col_sum = np.add.reduce(pos, axis=0)
        row_sum = np.add.reduce(pos, axis=1)
        total = float(np.add.reduce(col_sum))
        if total <= 0.0:
            return None, "no_flux"
        x0 = float(col_sum @ xs) / total
        y0 = float(row_sum @ ys) / total
        m2 = (float(col_sum @ (xs - x0) ** 2) + float(row_sum @ (ys - y0) ** 2)) / (2.0 * total)
        sigma0 = math.sqrt(max(m2 - 1.0 / 12.0, 0.09))
        fit = None
        if sigma0 <= cfg.max_fit_sigma_px:
            fit_pix = usable & (win_raw < saturation) if any_saturated else usable
            sigma_start = max(sigma0, cfg.psf_sigma_px * 0.5)
            # fit box: +-(4 sigma + 1) px around the centre of mass (the rest carries no information)
            half = int(math.ceil(4.0 * max(sigma0, cfg.psf_sigma_px))) + 1
            fy0, fx0 = max(int(round(y0)) - half, 0), max(int(round(x0)) - half, 0)
            fy1, fx1 = min(int(round(y0)) + half + 1, n_wr), min(int(round(x0)) + half + 1, n_wc)
            fit = _fit_gaussian(d[fy0:fy1, fx0:fx1], fit_pix[fy0:fy1, fx0:fx1], x0 - fx0, y0 - fy0, total,
                                sigma_start, bg_var, gain, cfg.outlier_sigma)
            if fit is not None:
                fit = (fit[0] + fx0, fit[1] + fy0, *fit[2:])
        if fit is not None:
            x_w, y_w, signal_dn, sig, cov4 = fit
            if sig < cfg.min_psf_sigma_px:
                return None, "cosmic_ray"
            cov = cov4[:2, :2].copy()  # exactly symmetric (_fit_gaussian mirrors the upper triangle)
            snr = signal_dn / math.sqrt(cov4[2, 2])
        else:
            # plain intensity-weighted centre of mass over the spot, propagated covariance
            sel = spot_pix & usable
            wts = d * sel
            s = float(wts.sum())
            if s <= 0.0 or sel.sum() < 3:
                return None, "too_small"
            x_w = float(wts.sum(axis=0) @ xs) / s
            y_w = float(wts.sum(axis=1) @ ys) / s
            var_pix = (np.maximum(d, 0.0) / gain + bg_var) * sel
            dx = xs - x_w
            dy = (ys - y_w)[:, None]
            cxx = float(var_pix.sum(axis=0) @ dx**2)
            cyy = float(var_pix.sum(axis=1) @ (ys - y_w) ** 2)
            cxy = float((var_pix * dy * dx).sum())
            cov = np.array([[cxx, cxy], [cxy, cyy]]) / s**2
            if not (cxx > 0 and cyy > 0 and cxx * cyy > cxy * cxy):
                return None, "too_small"
            signal_dn = s
            snr = s / math.sqrt(s / gain + sel.sum() * bg_var)
        if not (0.0 <= x_w <= n_wc - 1 and 0.0 <= y_w <= n_wr - 1):
            return None, "off_window"
        saturated = any_saturated and bool(((win_raw >= saturation) & _dilate(main)).any())
        result = CentroidResult(
            valid=True,
            x_px=float(x_w + ax0),
            y_px=float(y_w + ay0),
            covariance_px2=np.asarray(cov, float),
            signal_e=float(signal_dn * gain),
            background_e=float(bg_dn * gain * data.size),
            peak_dn=float(data[spot_pix].max()),
            snr=float(snr),
            spot_area_px=float(comp.area * binning * binning),
            saturated=saturated,
        )
        if saturated and cfg.reject_saturated:
            _invalidate(result, "saturated")
        return result, ""


# ---------------------------------------------------------------------- helpers
@dataclass
class _Component:
    detected: np.ndarray  # bool: above threshold, over the local detection region
    main: np.ndarray  # bool: the candidate's 8-connected component, same region
    region: tuple[int, int, int, int]  # region (y0, y1, x0, x1) in detection-image coords
    y0: int  # candidate bounding box in detection-image coords (exclusive ends)
    y1: int
    x0: int
    x1: int
    area: int  # candidate pixels in the detection image


def _component(smooth: np.ndarray, threshold: float, px: int, py: int) -> _Component | None:
    """Connected component (8-conn) of ``smooth > threshold`` containing (px, py), grown as needed.

    The component is flood-filled from (px, py) (``cv2.floodFill``, 8-connected, mask only):
    the same pixels, bounding box and area as labelling the whole region, at a quarter of
    the cost of ``cv2.connectedComponentsWithStats``.
    """
    rows, cols = smooth.shape
    half = 16
    while True:
        y0, y1 = max(py - half, 0), min(py + half + 1, rows)
        x0, x1 = max(px - half, 0), min(px + half + 1, cols)
        detected = smooth[y0:y1, x0:x1] > threshold
        if not detected[py - y0, px - x0]:
            return None
        fill = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
        area, _, _, (cx, cy, cw, ch) = cv2.floodFill(detected.view(np.uint8), fill, (px - x0, py - y0), 0, 0, 0,
                                                      8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        touches = ((cx == 0 and x0 > 0) or (cy == 0 and y0 > 0)
                   or (cx + cw == x1 - x0 and x1 < cols) or (cy + ch == y1 - y0 and y1 < rows))
        if not touches or (y0 == 0 and x0 == 0 and y1 == rows and x1 == cols):
            return _Component(detected=detected, main=fill[1:-1, 1:-1].view(bool), region=(y0, y1, x0, x1),
                              y0=y0 + cy, y1=y0 + cy + ch, x0=x0 + cx, x1=x0 + cx + cw, area=int(area))
        half *= 2


def _fit_gaussian(d, usable, x0, y0, flux0, sigma0, bg_var, gain, outlier_sigma):
    """Maximum-likelihood fit of a pixel-integrated circular Gaussian (x, y, flux, sigma).

    Gauss-Newton (Fisher scoring) with weights ``1 / var_i``, ``var_i = model_i / gain + bg_var``
    [DN^2] (shot noise of the spot + measured background variance), re-evaluated each
    iteration: the fixed point is the intensity-weighted centroid with Fisher-optimal weights.
    Started from the centre of mass, it stops when the step just taken is below the
    parameter's Cramer-Rao standard deviation: the iteration converges quadratically, so the
    remaining error is second order (one Newton step from a consistent start is already
    asymptotically efficient, Le Cam's one-step estimator).  ``test_imaging_crb.py`` checks the
    result against the bound.

    Returns ``(x, y, flux_dn, sigma_px, inverse_fisher_4x4)`` or None if it fails.
    """
    n_r, n_c = d.shape
    # x and y pixel edges in one vector: columns (n_c + 1 edges), then rows (n_r + 1 edges);
    # differences of consecutive entries give per-pixel values (entry n_c straddles the axes
    # and is skipped)
    edges = _fit_edges(n_r, n_c)
    centre = np.empty(edges.size)
    # per edge: the unit Gaussian's CDF, its pdf (times sqrt(2 pi)) and z * pdf
    per_edge = np.empty((3, edges.size))
    cdf, pdf, zpdf = per_edge
    x, y, flux, sig = float(x0), float(y0), float(flux0), float(sigma0)
    use = usable.astype(float).ravel()
    dv = d.ravel()
    jac3 = np.empty((4, n_r, n_c))
    jac = jac3.reshape(4, -1)
    refit_done = False
    inv = None
    for _ in range(_MAX_FIT_ITERATIONS):
        centre[: n_c + 1] = x
        centre[n_c + 1 :] = y
        z = (edges - centre) * (1.0 / sig)
        ndtr(z, out=cdf)
        np.exp(z * z * -0.5, out=pdf)  # times 1/sqrt(2 pi), folded into `scale` below
        np.multiply(z, pdf, out=zpdf)
        scale = 1.0 / (sig * _SQRT_2PI)
        # differences of consecutive edges, all three rows in one operation: row 0 the
        # pixel-integrated unit Gaussian g, rows 1 and 2 its derivatives w.r.t. the centre
        # ((pdf[i] - pdf[i+1]) * scale) and w.r.t. sigma; the sign goes into the scale
        # ((b - a) * -s == (a - b) * s exactly in IEEE arithmetic)
        diff = per_edge[:, 1:] - per_edge[:, :-1]
        diff[1:] *= -scale
        gy_c = diff[0, n_c + 1 :, None]
        fx = diff[:, :n_c] * flux  # g, d/dcentre, d/dsigma of the columns, times the flux
        np.multiply(gy_c, diff[0, :n_c], out=jac3[2])
        np.multiply(gy_c, fx[1], out=jac3[0])
        np.multiply(diff[1, n_c + 1 :, None], fx[0], out=jac3[1])
        np.multiply(diff[2, n_c + 1 :, None], fx[0], out=jac3[3])
        jac3[3] += gy_c * fx[2]
        model = flux * jac[2]
        var = model * (1.0 / gain) + bg_var
        wgt = use / var
        jw = jac * wgt
        chol, info = _dpotrf(jw @ jac.T, lower=0)  # Fisher matrix is symmetric positive definite
        if info != 0:
            return None
        inv_upper, info = _dpotri(chol, lower=0)
        if info != 0:
            return None
        inv = np.where(_UPPER4, inv_upper, inv_upper.T)
        resid = dv - model
        step_x, step_y, step_flux, step_sig = (inv @ (jw @ resid)).tolist()
        dx = min(max(step_x, -1.0), 1.0)
        dy = min(max(step_y, -1.0), 1.0)
        ds = min(max(step_sig, -0.5 * sig), 0.5 * sig)
        x, y, flux, sig = x + dx, y + dy, flux + step_flux, sig + ds
        if not (math.isfinite(x) and math.isfinite(y) and flux > 0 and 0.1 < sig < 0.5 * max(n_r, n_c)):
            return None
        # converged: every step below its Cramer-Rao standard deviation (Newton's error after
        # such a step is second order: a small fraction of the bound)
        tol = _STEP_TOL2
        if dx * dx < tol * inv[0, 0] and dy * dy < tol * inv[1, 1] and ds * ds < tol * inv[3, 3] + 1e-12:
            if refit_done:
                break
            # mask pixel outliers (cosmic-ray hits on the spot) once, then refit
            bad = resid * np.sqrt(wgt) > outlier_sigma
            refit_done = True
            if not bad.any():
                break
            use = use * ~bad
    else:
        return None
    if not (inv[0, 0] > 0 and inv[1, 1] > 0 and inv[2, 2] > 0):
        return None
    return x, y, flux, sig, inv


_FIT_EDGES: dict[tuple[int, int], np.ndarray] = {}


def _fit_edges(n_r: int, n_c: int) -> np.ndarray:
    """Pixel edges of a fit box, columns (n_c + 1) then rows (n_r + 1) [px] (cached, read-only)."""
    edges = _FIT_EDGES.get((n_r, n_c))
    if edges is None:
        if len(_FIT_EDGES) > 256:
            _FIT_EDGES.clear()
        edges = np.concatenate((np.arange(n_c + 1, dtype=float), np.arange(n_r + 1, dtype=float))) - 0.5
        edges.setflags(write=False)
        _FIT_EDGES[(n_r, n_c)] = edges
    return edges


_BORDER_MASKS: dict[tuple[int, int], np.ndarray] = {}


def _border_mask(shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the outer ``_RING_WIDTH_PX`` pixels of a window (cached per shape)."""
    mask = _BORDER_MASKS.get(shape)
    if mask is None:
        if len(_BORDER_MASKS) > 256:
            _BORDER_MASKS.clear()
        mask = np.ones(shape, bool)
        w = _RING_WIDTH_PX
        mask[w:-w, w:-w] = False
        mask.setflags(write=False)
        _BORDER_MASKS[shape] = mask
    return mask


def _median(values: np.ndarray) -> float:
    """Median (upper median for even sizes) of an array; cheaper than np.median on small samples."""
    k = values.size // 2
    return float(np.partition(values, k, axis=None)[k])


def _clipped_stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (ddof=1) of background pixels after up to two 3.5-sigma clips."""
    v = values
    for _ in range(3):
        n = v.size
        if n < 2:
            return (float(v[0]) if n else 0.0), 0.0
        mean = float(np.add.reduce(v)) / n
        dev = v - mean
        var = float(dev @ dev) / (n - 1)
        if _ == 2:
            break
        limit = 3.5 * math.sqrt(var) + 1e-12
        adev = np.abs(dev)
        if float(adev.max()) <= limit:
            break
        v = v[adev <= limit]
    return mean, math.sqrt(var)


def _dilate(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _block_mean(arr: np.ndarray, binning: int) -> np.ndarray:
    """Mean over ``binning x binning`` blocks as float32 (partial edge blocks dropped)."""
    rows, cols = arr.shape[0] // binning, arr.shape[1] // binning
    if rows < 1 or cols < 1:
        raise ImagingError(f"a {arr.shape[1]}x{arr.shape[0]} px window cannot be binned by {binning}")
    sub = np.asarray(arr[: rows * binning, : cols * binning], dtype=np.float32)
    return cv2.resize(sub, (cols, rows), interpolation=cv2.INTER_AREA)


def _invalidate(result: CentroidResult, reason: str) -> None:
    result.valid = False
    result.reason = reason
    result.x_px = result.y_px = math.nan
    result.covariance_px2 = np.full((2, 2), math.nan)


def _as_calibration_array(arr, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.size == 0:
        raise ImagingError(f"{name} must be a non-empty 2-D frame, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ImagingError(f"{name} must be numeric, got dtype {arr.dtype}")
    out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ImagingError(f"{name} contains NaN or infinite values")
    return out


def check_frame(frame) -> np.ndarray:
    """Validate a raw mono frame and return it as an ndarray.

    Raises
    ------
    ImagingError
        If it is not a 2-D uint8/uint16 array of at least 8x8 pixels.
    """
    if not isinstance(frame, np.ndarray):
        raise ImagingError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype not in (np.uint8, np.uint16):
        raise ImagingError(f"frame dtype must be uint8 (mono8) or uint16 (mono16), got {frame.dtype}; "
                           "convert colour/float images to mono integer frames first")
    if frame.ndim != 2:
        raise ImagingError(f"frame must be 2-D (rows, cols) mono, got shape {frame.shape}; "
                           "use a mono8/mono16 encoding")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise ImagingError(f"frame is {frame.shape[1]}x{frame.shape[0]} px; at least 8x8 px is needed")
    return frame


def build_master_dark(frames, hot_pixel_sigma: float = 8.0, min_hot_excess_dn: float = 2.0) -> Calibration:
    """Median-stack dark frames into a master dark and flag hot pixels.

    Parameters
    ----------
    frames : sequence of ndarray (rows, cols) uint8/uint16, or ndarray (n, rows, cols)
        Frames taken with the beacon off (same exposure/gain/binning as the light frames).
    hot_pixel_sigma : float
        A pixel of the master dark more than this many robust sigma above the median is hot.
    min_hot_excess_dn : float
        ... and at least this many DN above it (guards against a zero MAD of quantised darks).

    Returns
    -------
    Calibration
        ``dark_dn`` (float32 median) and ``hot_pixel_mask``.

    Raises
    ------
    ImagingError
        No frames, frames of different sizes, or invalid frames.

    References
    ----------
    seed 002 §II.1 (dark-frame subtraction); the authors' ``get_stacked_frame`` (pixel median).
    """
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = list(frames)
    frames = list(frames)
    if not frames:
        raise ImagingError("build_master_dark needs at least one dark frame")
    shape = None
    for i, f in enumerate(frames):
        try:
            check_frame(f)
        except ImagingError as exc:
            raise ImagingError(f"dark frame {i}: {exc}") from None
        if shape is None:
            shape = f.shape
        elif f.shape != shape:
            raise ImagingError(f"dark frame {i} is {f.shape[1]}x{f.shape[0]} px, frame 0 is "
                               f"{shape[1]}x{shape[0]} px; all darks must have the same size")
    dark = np.median(np.stack(frames), axis=0).astype(np.float32)
    med = float(np.median(dark))
    mad = _MAD_TO_SIGMA * float(np.median(np.abs(dark - med)))
    hot = dark > med + max(hot_pixel_sigma * mad, float(min_hot_excess_dn))
    return Calibration(dark_dn=dark, hot_pixel_mask=hot)


def load_frame(path: str | Path) -> np.ndarray:
    """Read a mono frame from ``.npy`` or an image file (PNG 8/16-bit, JPEG, TIFF).

    Colour images are converted to mono (OpenCV BGR -> gray).

    Raises
    ------
    ImagingError
        Missing/unreadable file, or content that is not a 2-D uint8/uint16 frame.
    """
    path = Path(path)
    if not path.is_file():
        raise ImagingError(f"image file {str(path)!r} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            frame = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ImagingError(f"cannot read {str(path)!r} as a .npy array: {exc}") from None
    else:
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if frame is None:
            raise ImagingError(f"OpenCV cannot decode {str(path)!r}; use PNG, JPEG, TIFF or .npy")
        if frame.ndim == 3:
            if frame.shape[2] == 4:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
            elif frame.shape[2] == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    try:
        return check_frame(frame)
    except ImagingError as exc:
        raise ImagingError(f"{str(path)!r}: {exc}") from None


def centroid_frame(frame: np.ndarray, config: ImagingConfig | None = None,
                   calibration: Calibration | None = None,
                   predicted_xy_px: Sequence[float] | None = None) -> CentroidResult:
    """One-shot convenience: ``BeaconImager(config, calibration).process(frame, predicted_xy_px)``."""
    return BeaconImager(config, calibration).process(frame, predicted_xy_px)
