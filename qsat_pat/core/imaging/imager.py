"""Beacon imager: calibrate a mono camera frame, detect the beacon spot and centroid it.

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

:class:`BeaconImager` runs either method on the frames of one camera (optionally in a
window around a predicted position); :func:`centroid_frame` is its one-shot form.

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

import cv2
import numpy as np
from scipy.special import ndtri

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.imaging.calibration import Calibration, check_frame
from qsat_pat.core.imaging.config import _MAD_TO_SIGMA, _RING_WIDTH_PX, CentroidResult, ImagingConfig
from qsat_pat.core.imaging.fit import (
    _block_mean,
    _border_mask,
    _clipped_stats,
    _component,
    _dilate,
    _fit_gaussian,
    _invalidate,
    _median,
)

__all__ = ["BeaconImager", "centroid_frame"]

#: Full scale [DN] of the frame dtypes (np.iinfo is slow enough to matter at 1 kHz).
_FULL_SCALE_DN = {np.dtype(t): float(np.iinfo(t).max) for t in (np.uint8, np.uint16)}


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


def centroid_frame(frame: np.ndarray, config: ImagingConfig | None = None,
                   calibration: Calibration | None = None,
                   predicted_xy_px: Sequence[float] | None = None) -> CentroidResult:
    """One-shot convenience: ``BeaconImager(config, calibration).process(frame, predicted_xy_px)``."""
    return BeaconImager(config, calibration).process(frame, predicted_xy_px)
