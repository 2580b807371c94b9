"""Calibration frames and frame input: master dark, flat, hot pixels; reading and checking frames.

:class:`Calibration` holds the dark / flat / hot-pixel frames of one camera configuration
(and caches the dark in the forms the pipeline uses); :func:`build_master_dark`
median-stacks dark frames and flags hot pixels; :func:`load_frame` reads a mono frame from
``.npy`` or an image file; :func:`check_frame` validates a raw mono frame.

References
----------
seed 002 §II.1 (dark-frame subtraction); the authors' ``get_stacked_frame`` (pixel median).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.imaging.config import _MAD_TO_SIGMA
from qsat_pat.core.imaging.fit import _block_mean

__all__ = ["Calibration", "build_master_dark", "check_frame", "load_frame"]


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
