"""Configuration and result types of beacon imaging, and constants the pipeline shares.

:class:`ImagingConfig` holds the pipeline's tunables (one ROS parameter each; ``method``
selects the seed 002 §II.1 ``york`` pipeline or the sub-pixel ``default``).
:class:`CentroidResult` is the centroid of one frame, whose fields map one-to-one onto
``msg/BeaconCentroid.msg``.

References
----------
seed 002 §II.1 (beacon identification: dark frame, opening kernel 3, Otsu [28], largest
contour, image moments; the ``york`` method and its ``york_kernel_px``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qsat_pat.core.params import ConfigBase, param

__all__ = ["CentroidResult", "ImagingConfig"]

#: Standard deviation of a normal sample per median absolute deviation (MAD).
_MAD_TO_SIGMA = 1.4826
#: Width [px] of a candidate window's border ring (its local background).
_RING_WIDTH_PX = 2


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
