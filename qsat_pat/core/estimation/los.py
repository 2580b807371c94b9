"""Composed line of sight: actuator pointing + the beacon's residual on the camera.

Nodes feed the tracker the composed LOS of :func:`compose_line_of_sight` (actuator
pointing + camera residual, in rad) so that a closed FSM loop, which keeps the spot centred
on the camera, does not hide the trajectory from the filter (the FSM/KF loop conflict of
seed 002 §IV).  Holds :class:`ActuatorPointing` (the ``ActuatorState`` message, core side),
:class:`CameraGeometry` (boresight, pixel scale, rotation, optical gain; its pixel-to-angle
matrix is cached) and :func:`compose_line_of_sight`.

References
----------
seed 002 §II.3 (pixel displacement -> FSM angle via the calibrated distance) and §IV (the
FSM/KF loop conflict this composition removes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.errors import ConfigError, EstimationError
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "ActuatorPointing",
    "CameraGeometry",
    "compose_line_of_sight",
]


@dataclass(frozen=True)
class ActuatorPointing:
    """What a pointing stage points at (the ``ActuatorState`` message, core side).

    Attributes
    ----------
    stamp_s : float
        Time of the reading [s].
    axis1_rad, axis2_rad : float
        Measured position of the two axes [rad] (FSM: mechanical tip, tilt).
    axis1_rate_radps, axis2_rate_radps : float
        Measured rates [rad/s] (used to bring the reading to the frame time).
    stage : int
        ``PointingCommand.STAGE_*`` (0 FSM, 1 mount, 2 body).
    at_limit, holding, fault : bool
        As in ``msg/ActuatorState.msg``.
    """

    stamp_s: float
    axis1_rad: float
    axis2_rad: float
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    stage: int = 0
    at_limit: bool = False
    holding: bool = False
    fault: bool = False

    def __post_init__(self) -> None:
        for name in ("stamp_s", "axis1_rad", "axis2_rad", "axis1_rate_radps", "axis2_rate_radps"):
            v = float(np.asarray(getattr(self, name), dtype=float))
            if not math.isfinite(v):
                raise EstimationError(f"ActuatorPointing.{name} = {v!r} is not finite; drop this actuator reading")
            object.__setattr__(self, name, v)


@dataclass(frozen=True)
class CameraGeometry(ConfigBase):
    """Camera-to-line-of-sight geometry of the tracking camera behind a pointing stage.

    The 2x2 pixel-to-angle matrix is ``rotation(rotation_rad) @ diag(scale_x, scale_y)``;
    a negative scale mirrors an axis.  ``optical_gain`` converts the stage's reported
    angle to line-of-sight angle: 2 for a fold mirror whose driver reports mechanical
    angles (the beam turns by twice the mirror's tilt), 1 for a mount or an FSM driver
    calibrated in optical angle.
    """

    boresight_x_px: float = param(0.0, "column of the boresight (where the beacon sits when on target)",
                                  unit="px", min_value=-1e5, max_value=1e5)
    boresight_y_px: float = param(0.0, "row of the boresight", unit="px", min_value=-1e5, max_value=1e5)
    scale_x_radppx: float = param(1e-5, "line-of-sight angle per pixel along the camera x axis (signed)",
                                  unit="rad/px", min_value=-1.0, max_value=1.0)
    scale_y_radppx: float = param(1e-5, "line-of-sight angle per pixel along the camera y axis (signed)",
                                  unit="rad/px", min_value=-1.0, max_value=1.0)
    rotation_rad: float = param(0.0, "rotation of the camera axes relative to the stage axes",
                                unit="rad", min_value=-math.pi, max_value=math.pi)
    optical_gain: float = param(2.0, "line-of-sight angle per unit reported stage angle (2: mechanical mirror angle)",
                                min_value=-10.0, max_value=10.0)
    max_actuator_age_s: float = param(0.05, "largest |frame time - actuator reading time| accepted",
                                      unit="s", min_value=0.0, max_value=10.0)

    def check(self) -> None:
        if self.scale_x_radppx == 0.0 or self.scale_y_radppx == 0.0:
            raise ConfigError("CameraGeometry scale_x_radppx and scale_y_radppx must be non-zero")
        if self.optical_gain == 0.0:
            raise ConfigError("CameraGeometry.optical_gain must be non-zero")

    def pixel_to_angle(self) -> np.ndarray:
        """2x2 matrix mapping a pixel offset (dx, dy) [px] to an angle offset [rad] (read-only, cached)."""
        key = (self.rotation_rad, self.scale_x_radppx, self.scale_y_radppx)
        m = _PIXEL_TO_ANGLE.get(key)
        if m is None:
            if len(_PIXEL_TO_ANGLE) > 64:
                _PIXEL_TO_ANGLE.clear()
            c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
            m = np.array([[c, -s], [s, c]]) @ np.diag([self.scale_x_radppx, self.scale_y_radppx])
            m.setflags(write=False)
            _PIXEL_TO_ANGLE[key] = m
        return m


_PIXEL_TO_ANGLE: dict[tuple[float, float, float], np.ndarray] = {}


def compose_line_of_sight(
    centroid_xy_px: Sequence[float] | np.ndarray,
    frame_stamp_s: float,
    actuator: ActuatorPointing,
    geometry: CameraGeometry,
    centroid_cov_px2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Target line of sight = actuator pointing + measured residual on the camera.

    ``los = optical_gain * (axis(t_frame)) + M @ (centroid - boresight)`` with
    ``axis(t_frame) = axis + rate * (t_frame - actuator.stamp_s)`` and ``M`` the 2x2
    pixel-to-angle matrix of ``geometry``.  When a closed FSM loop keeps the spot on the
    boresight the residual is ~0 and the trajectory is carried by the actuator term, so
    the filter still sees the target move.

    Parameters
    ----------
    centroid_xy_px : array_like, shape (2,)
        Beacon centroid (x right, y down) [px].
    frame_stamp_s : float
        Mid-exposure time of the frame [s].
    actuator : ActuatorPointing
        Stage reading closest to the frame time.
    geometry : CameraGeometry
        Boresight, pixel scale, rotation and optical gain.
    centroid_cov_px2 : array_like, shape (2, 2), optional
        Centroid covariance [px^2]; returned as a LOS covariance ``M C M^T`` [rad^2].

    Returns
    -------
    los_rad : numpy.ndarray, shape (2,)
        Line of sight (x, y) [rad] in the stage's axes.
    cov_rad2 : numpy.ndarray, shape (2, 2) or None
        Covariance of the camera term (actuator noise not included); None if no
        ``centroid_cov_px2``.

    Raises
    ------
    EstimationError
        Non-finite centroid or stamp, or an actuator reading older/newer than
        ``geometry.max_actuator_age_s``, or a faulted stage.

    References
    ----------
    seed 002 §II.3 (pixel displacement -> FSM angle via the calibrated distance) and §IV
    (the FSM/KF loop conflict this composition removes).
    """
    c = np.asarray(centroid_xy_px, dtype=float).reshape(-1)
    if c.shape != (2,) or not (math.isfinite(c[0]) and math.isfinite(c[1])):
        raise EstimationError(f"centroid {centroid_xy_px!r} must be two finite pixel coordinates")
    t = float(np.asarray(frame_stamp_s, dtype=float))
    if not math.isfinite(t):
        raise EstimationError(f"frame stamp {frame_stamp_s!r} is not finite")
    age = t - actuator.stamp_s
    if abs(age) > geometry.max_actuator_age_s:
        raise EstimationError(
            f"actuator reading is {age:+.4f} s from the frame, more than max_actuator_age_s = "
            f"{geometry.max_actuator_age_s} s; wait for a fresh ActuatorState")
    if actuator.fault:
        raise EstimationError("actuator reports a fault; its pointing cannot be used for the line of sight")
    axes = np.array([actuator.axis1_rad + actuator.axis1_rate_radps * age,
                     actuator.axis2_rad + actuator.axis2_rate_radps * age])
    m = geometry.pixel_to_angle()
    residual = m @ (c - np.array([geometry.boresight_x_px, geometry.boresight_y_px]))
    los = geometry.optical_gain * axes + residual
    cov = None
    if centroid_cov_px2 is not None:
        cc = np.asarray(centroid_cov_px2, dtype=float).reshape(2, 2)
        if not all(map(math.isfinite, cc.ravel().tolist())):
            raise EstimationError("centroid covariance must be finite")
        cov = m @ cc @ m.T
    return los, cov
