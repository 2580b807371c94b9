"""Spot helpers of the ``default`` imaging method: candidate component, Gaussian fit, statistics.

:func:`_component` grows the 8-connected component of a detection candidate;
:func:`_fit_gaussian` is the maximum-likelihood (Fisher-scoring) fit of a pixel-integrated
circular Gaussian whose inverse Fisher matrix is the Cramer-Rao bound of the centroid;
the rest are small array helpers of :class:`~qsat_pat.core.imaging.imager.BeaconImager`
(background ring, robust statistics, dilation, block averaging, invalidating a result).

References
----------
Le Cam's one-step estimator (one Newton step from a consistent start is asymptotically
efficient; why :func:`_fit_gaussian` stops after a step below the Cramer-Rao deviation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotri as _dpotri
from scipy.special import ndtr

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.imaging.config import _RING_WIDTH_PX, CentroidResult

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_MAX_FIT_ITERATIONS = 10
_UPPER4 = np.triu(np.ones((4, 4), bool))
#: Fit convergence: squared step / Cramer-Rao variance of x, y and sigma below this.
_STEP_TOL2 = 1.0


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
