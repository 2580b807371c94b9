"""Beacon imaging: calibrate a mono camera frame, detect the beacon spot and centroid it.

Two methods, selected by :attr:`ImagingConfig.method`: ``york``, seed 002 §II.1 exactly as
published (integer-pixel centroid of the largest Otsu contour), and ``default``, a
calibrated, coarse-to-fine detection with a sub-pixel maximum-likelihood centroid at the
Cramer-Rao bound (described in :mod:`~qsat_pat.core.imaging.imager`).

Both return a :class:`CentroidResult`, whose fields map one-to-one onto
``msg/BeaconCentroid.msg``.  "No detection" is a result with ``valid=False`` and a reason,
never an exception; exceptions (:class:`~qsat_pat.core.errors.ImagingError`) are for frames
that cannot be processed at all (wrong dtype/ndim, empty, calibration size mismatch).

Pixel convention: pixel centres at integer coordinates, x to the right (column), y down
(row), as OpenCV.

Modules
-------
:mod:`~qsat_pat.core.imaging.config`
    :class:`ImagingConfig` (the pipeline's parameters), :class:`CentroidResult` and the
    constants the modules share.
:mod:`~qsat_pat.core.imaging.calibration`
    :class:`Calibration` (dark / flat / hot pixels), :func:`build_master_dark`,
    :func:`load_frame`, :func:`check_frame`.
:mod:`~qsat_pat.core.imaging.fit`
    The ``default`` method's spot helpers: candidate component, Gaussian fit at the
    Cramer-Rao bound, background statistics.
:mod:`~qsat_pat.core.imaging.imager`
    :class:`BeaconImager` (both methods, ROI windowing) and :func:`centroid_frame`.

Every name the former ``imaging.py`` defined (private helpers too) is importable from this
package.

References
----------
seed 002 §II.1 (beacon identification: dark frame, opening kernel 3, Otsu [28], largest
contour, image moments); seed 002 §II.2 (noise floor sets the detection limit); seed 002 §IV
(a smaller camera region of interest cut the latency that caused FSM over-correction).
Otsu, N. (1979) "A threshold selection method from gray-level histograms" (seed 002 ref. [28]).
"""

from __future__ import annotations

from qsat_pat.core.imaging.calibration import Calibration, build_master_dark, load_frame
from qsat_pat.core.imaging.calibration import _as_calibration_array as _as_calibration_array
from qsat_pat.core.imaging.calibration import check_frame as check_frame
from qsat_pat.core.imaging.config import _MAD_TO_SIGMA as _MAD_TO_SIGMA
from qsat_pat.core.imaging.config import _RING_WIDTH_PX as _RING_WIDTH_PX
from qsat_pat.core.imaging.config import CentroidResult, ImagingConfig
from qsat_pat.core.imaging.fit import _BORDER_MASKS as _BORDER_MASKS
from qsat_pat.core.imaging.fit import _FIT_EDGES as _FIT_EDGES
from qsat_pat.core.imaging.fit import _MAX_FIT_ITERATIONS as _MAX_FIT_ITERATIONS
from qsat_pat.core.imaging.fit import _SQRT_2PI as _SQRT_2PI
from qsat_pat.core.imaging.fit import _STEP_TOL2 as _STEP_TOL2
from qsat_pat.core.imaging.fit import _UPPER4 as _UPPER4
from qsat_pat.core.imaging.fit import _block_mean as _block_mean
from qsat_pat.core.imaging.fit import _border_mask as _border_mask
from qsat_pat.core.imaging.fit import _clipped_stats as _clipped_stats
from qsat_pat.core.imaging.fit import _Component as _Component
from qsat_pat.core.imaging.fit import _component as _component
from qsat_pat.core.imaging.fit import _dilate as _dilate
from qsat_pat.core.imaging.fit import _fit_edges as _fit_edges
from qsat_pat.core.imaging.fit import _fit_gaussian as _fit_gaussian
from qsat_pat.core.imaging.fit import _invalidate as _invalidate
from qsat_pat.core.imaging.fit import _median as _median
from qsat_pat.core.imaging.imager import _FULL_SCALE_DN as _FULL_SCALE_DN
from qsat_pat.core.imaging.imager import BeaconImager, centroid_frame

__all__ = [
    "BeaconImager",
    "Calibration",
    "CentroidResult",
    "ImagingConfig",
    "build_master_dark",
    "centroid_frame",
    "load_frame",
]
