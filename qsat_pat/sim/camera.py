"""Synthetic camera frames of the beacon: OGS coarse/fine cameras and the satellite's camera.

Chain per frame: beacon power -> link loss (core/link.py) -> scintillation x clouds x
off-axis transmit gain -> photo-electrons in the exposure -> spot at the true line of sight
minus the pointing, through the pixel scale and rotation -> Gaussian PSF -> the sensor model
of :mod:`qsat_pat.core.camera_noise` (Poisson shot noise, read noise, dark current, bias,
quantisation, saturation) -> ROI crop.  Frames come at the frame rate and are delivered
after the readout latency (``t_capture_s`` is mid-exposure, ``t_available_s`` adds the
latency).  Returns numpy arrays and metadata only (no ROS types).

Link budget of a beacon (a Gaussian beam, Vector model, seed 003 eq. (1)-(3)):
``L = 20 lg(sqrt2 lambda d/(pi w0 D)) + kappa/sin(E) + fixed`` via
:func:`qsat_pat.core.link.vector_diffraction_loss_db` and
:func:`qsat_pat.core.link.atmospheric_loss_db`, with ``w0 = lambda/(pi theta_div)``; the
transmitter's instantaneous pointing offset theta costs ``exp(-2 theta^2/theta_div^2)``
(:func:`qsat_pat.core.link.jitter_transmittance`).

References
----------
seed 003 eq. (1)-(3) (Gaussian-beam link budget); seed 002 §II.2 (tracking-camera noise
floor) and the 34 mW / -60 dB weak-beacon case; seed 004 Table 1 (1 kHz fine camera).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.camera_noise import CameraModel, render_frame, spot_expected_e
from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.core.link import atmospheric_loss_db, jitter_transmittance, vector_diffraction_loss_db
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.sim.atmosphere import C_MPS, H_PLANCK_JS

#: Frames (or ROIs) with this many pixels or more use :meth:`FrameSynth._render_large` (a 128 x 128
#: frame took the float64 renderer: 886 us against 347 us per frame, issue 15).
FAST_PATH_MIN_PIXELS = 128 * 128

__all__ = [
    "BeaconConfig",
    "CameraConfig",
    "Frame",
    "FrameSynth",
    "beacon_link_loss_db",
    "received_power_w",
    "signal_electrons",
]


@dataclass(frozen=True)
class BeaconConfig(ConfigBase):
    """A beacon laser and the fixed part of its link."""

    power_w: float = param(1.0, "beacon optical output power", unit="W", min_value=0.0, max_value=100.0)
    wavelength_m: float = param(850e-9, "beacon wavelength", unit="m", min_value=1e-7, max_value=1e-5)
    divergence_rad: float = param(1e-3, "far-field 1/e^2 half-angle divergence", unit="rad",
                                  min_value=1e-6, max_value=0.5)
    kappa_db: float = param(0.92, "atmospheric loss per air mass (seed 003)", unit="dB", min_value=0.0,
                            max_value=100.0)
    fixed_loss_db: float = param(3.0, "optics losses of both terminals", unit="dB", min_value=0.0,
                                 max_value=100.0)


@dataclass(frozen=True)
class CameraConfig(ConfigBase):
    """A tracking camera behind a telescope (geometry, optics, timing, sensor)."""

    rows: int = param(256, "sensor rows", unit="px", min_value=8, max_value=8192)
    cols: int = param(256, "sensor columns", unit="px", min_value=8, max_value=8192)
    pixel_ifov_rad: float = param(5e-6, "angle per pixel (pixel pitch / focal length)", unit="rad",
                                  min_value=1e-8, max_value=1e-1)
    rotation_rad: float = param(0.0, "rotation of the pixel axes from the (tip, tilt) axes", unit="rad",
                                min_value=-7.0, max_value=7.0)
    boresight_x_px: float = param(-1.0, "column of the optical axis (-1: frame centre)", unit="px",
                                  min_value=-1.0, max_value=8192.0)
    boresight_y_px: float = param(-1.0, "row of the optical axis (-1: frame centre)", unit="px",
                                  min_value=-1.0, max_value=8192.0)
    aperture_m: float = param(0.6, "telescope aperture diameter", unit="m", min_value=1e-3, max_value=20.0)
    transmission: float = param(0.5, "optics transmission to this camera", min_value=0.0, max_value=1.0)
    quantum_efficiency: float = param(0.3, "sensor quantum efficiency at the beacon wavelength",
                                      min_value=0.0, max_value=1.0)
    filter_bandwidth_nm: float = param(10.0, "band-pass filter width", unit="nm", min_value=0.01,
                                       max_value=1000.0)
    psf_sigma_px: float = param(1.2, "Gaussian PSF sigma (optics + seeing)", unit="px", min_value=0.2,
                                max_value=100.0)
    exposure_s: float = param(0.5e-3, "exposure time", unit="s", min_value=1e-6, max_value=10.0)
    frame_rate_hz: float = param(1000.0, "frame rate", unit="Hz", min_value=0.1, max_value=1e5)
    readout_latency_s: float = param(0.5e-3, "delay from mid-exposure to frame delivery", unit="s",
                                     min_value=0.0, max_value=1.0)
    roi: tuple = param((0, 0, 0, 0), "region of interest (x0, y0, width, height); zeros: full frame",
                       unit="px", min_value=0, max_value=8192)
    gain_e_per_dn: float = param(1.0, "conversion gain", unit="e-/DN", min_value=1e-3, max_value=1e3)
    read_noise_e: float = param(3.0, "read noise", unit="e-", min_value=0.0, max_value=1e3)
    dark_current_eps: float = param(20.0, "dark current", unit="e-/s", min_value=0.0, max_value=1e7)
    bias_dn: float = param(10.0, "ADC offset", unit="DN", min_value=0.0, max_value=65535.0)
    bit_depth: int = param(12, "ADC bits (8 -> uint8, else uint16)", unit="bit", min_value=8, max_value=16)

    def check(self) -> None:
        if len(self.roi) != 4:
            raise ConfigError("CameraConfig.roi needs 4 integers (x0, y0, width, height)")
        x0, y0, w, h = (int(v) for v in self.roi)
        if (w or h) and (w < 1 or h < 1 or x0 + w > self.cols or y0 + h > self.rows):
            raise ConfigError(f"CameraConfig.roi {self.roi} does not fit the {self.cols}x{self.rows} sensor")
        if self.exposure_s > 1.0 / self.frame_rate_hz + 1e-12:
            raise ConfigError(f"CameraConfig.exposure_s={self.exposure_s} is longer than the frame period "
                                  f"1/{self.frame_rate_hz} s")

    def sensor(self) -> CameraModel:
        """The :class:`~qsat_pat.core.camera_noise.CameraModel` of one exposure."""
        return CameraModel(gain_e_per_dn=self.gain_e_per_dn, read_noise_e=self.read_noise_e,
                           bias_dn=self.bias_dn, dark_e=self.dark_current_eps * self.exposure_s,
                           bit_depth=self.bit_depth)

    def boresight_px(self) -> tuple[float, float]:
        """(x, y) of the optical axis [px]."""
        x = (self.cols - 1) / 2.0 if self.boresight_x_px < 0 else self.boresight_x_px
        y = (self.rows - 1) / 2.0 if self.boresight_y_px < 0 else self.boresight_y_px
        return x, y


def beacon_link_loss_db(beacon: BeaconConfig, range_m: float, elevation_rad: float, rx_aperture_m: float) -> float:
    """Mean link loss of a beacon from transmitter to the receiving aperture [dB] (seed 003 eq. (1)-(3))."""
    w0 = beacon.wavelength_m / (math.pi * beacon.divergence_rad)
    diff = float(vector_diffraction_loss_db(beacon.wavelength_m, w0, range_m, rx_aperture_m))
    atm = float(atmospheric_loss_db(beacon.kappa_db, min(max(elevation_rad, 1e-3), math.pi / 2)))
    return diff + atm + beacon.fixed_loss_db


def received_power_w(beacon: BeaconConfig, range_m: float, elevation_rad: float, rx_aperture_m: float,
                     tx_pointing_offset_rad: float = 0.0, irradiance_factor: float = 1.0,
                     cloud_transmission: float = 1.0) -> float:
    """Beacon power collected by the aperture [W]: budget x off-axis gain x scintillation x clouds."""
    loss = beacon_link_loss_db(beacon, range_m, elevation_rad, rx_aperture_m)
    t = float(jitter_transmittance(loss, abs(float(tx_pointing_offset_rad)), beacon.divergence_rad))
    return beacon.power_w * t * irradiance_factor * cloud_transmission


def signal_electrons(power_w: float, camera: CameraConfig, wavelength_m: float) -> float:
    """Photo-electrons of the spot in one exposure: ``P t T QE / (h c / lambda)`` [e-]."""
    return float(power_w * camera.exposure_s * camera.transmission * camera.quantum_efficiency
                 / (H_PLANCK_JS * C_MPS / wavelength_m))


@dataclass(frozen=True)
class Frame:
    """One synthesised frame and its truth (no ROS types)."""

    image: np.ndarray          # (h, w) uint8/uint16, the ROI
    t_capture_s: float         # mid-exposure time [s]
    t_available_s: float       # when the frame reaches the software [s]
    roi_x0_px: int
    roi_y0_px: int
    spot_x_px: float           # true spot centre in full-frame pixels (may be off-sensor)
    spot_y_px: float
    signal_e: float            # expected spot photo-electrons
    background_e: float        # expected sky electrons per pixel
    on_sensor: bool
    exposure_s: float
    frame_index: int


class FrameSynth:
    """Frame generator of one camera at its frame rate.

    Parameters
    ----------
    config : CameraConfig
    rng : numpy.random.Generator

    Notes
    -----
    :meth:`due` tells whether a frame starts within ``[t, t + dt)``; :meth:`render` makes it.
    The line-of-sight error ``los_error_rad`` (tip, tilt) is the true direction of the beacon
    minus where the camera's optical axis points (after mount, FSM and turbulence).
    """

    def __init__(self, config: CameraConfig, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise SimulationError("FrameSynth needs a seeded numpy.random.Generator")
        self.config = config
        self.rng = rng
        self.sensor = config.sensor()
        self.period_s = 1.0 / config.frame_rate_hz
        self.frame_index = 0
        self.next_capture_s = 0.0

    def spot_px(self, los_error_rad) -> tuple[float, float]:
        """Pixel position of a beacon at ``los_error_rad`` (tip, tilt) from the optical axis."""
        e = np.asarray(los_error_rad, dtype=float).reshape(2) / self.config.pixel_ifov_rad
        c, s = math.cos(self.config.rotation_rad), math.sin(self.config.rotation_rad)
        x0, y0 = self.config.boresight_px()
        return x0 + c * e[0] - s * e[1], y0 + s * e[0] + c * e[1]

    def _render_large(self, shape: tuple[int, int], x_px: float | None, y_px: float | None, signal_e: float,
                      background_e: float) -> np.ndarray:
        """The sensor chain of :func:`~qsat_pat.core.camera_noise.render_frame`, faster for big frames.

        Same model, same statistics: the uniform background+dark Poisson field is drawn by
        Poissonisation (a Poisson total ``N ~ Poisson(n_pix mu)`` scattered uniformly gives
        independent Poisson(mu) pixels) when ``mu`` is small, the spot's Poisson electrons only
        in a +-6 sigma window (computed with :func:`~qsat_pat.core.camera_noise.spot_expected_e`),
        then read noise, gain, bias, rounding and clipping as ``CameraModel`` defines them.
        """
        rows, cols = shape
        cam = self.sensor
        mu = background_e + cam.dark_e
        n_pix = rows * cols
        if mu <= 20.0:
            hits = self.rng.integers(0, n_pix, size=int(self.rng.poisson(mu * n_pix)))
            electrons = np.bincount(hits, minlength=n_pix).astype(np.float32).reshape(rows, cols)
        else:
            electrons = self.rng.poisson(mu, size=(rows, cols)).astype(np.float32)
        if x_px is not None and y_px is not None and signal_e > 0.0:
            half = int(math.ceil(6.0 * self.config.psf_sigma_px)) + 1
            c0, c1 = max(0, int(math.floor(x_px)) - half), min(cols, int(math.floor(x_px)) + half + 2)
            r0, r1 = max(0, int(math.floor(y_px)) - half), min(rows, int(math.floor(y_px)) + half + 2)
            if c1 > c0 and r1 > r0:
                spot = spot_expected_e((r1 - r0, c1 - c0), x_px - c0, y_px - r0, self.config.psf_sigma_px, signal_e)
                electrons[r0:r1, c0:c1] += self.rng.poisson(spot)
        # float32 is exact for the integer DN range (< 2^24) and halves the cost on big frames
        if cam.read_noise_e > 0.0:
            electrons += self.rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(cam.read_noise_e)
        electrons *= np.float32(1.0 / cam.gain_e_per_dn)
        electrons += np.float32(cam.bias_dn)
        np.rint(electrons, out=electrons)
        np.clip(electrons, 0, cam.full_scale_dn, out=electrons)
        return electrons.astype(cam.dtype)

    def due(self, t_s: float, dt_s: float) -> bool:
        """True if the next frame's mid-exposure falls before ``t_s + dt_s``."""
        return self.next_capture_s < t_s + dt_s

    def render(self, t_capture_s: float, los_error_rad, signal_e: float, background_e: float) -> Frame:
        """Render the frame whose mid-exposure is ``t_capture_s`` [s]."""
        cfg = self.config
        x, y = self.spot_px(los_error_rad)
        margin = 6.0 * cfg.psf_sigma_px
        on = bool(-margin < x < cfg.cols + margin and -margin < y < cfg.rows + margin)
        x0, y0, w, h = (int(v) for v in cfg.roi)
        if w == 0 or h == 0:
            x0, y0, w, h = 0, 0, cfg.cols, cfg.rows
        if not (math.isfinite(signal_e) and signal_e >= 0 and math.isfinite(background_e) and background_e >= 0):
            raise SimulationError(f"signal_e={signal_e} and background_e={background_e} must be finite and >= 0")
        if w * h < FAST_PATH_MIN_PIXELS:
            img = render_frame((h, w), self.sensor, self.rng, x_px=(x - x0) if on else None,
                               y_px=(y - y0) if on else None, sigma_px=cfg.psf_sigma_px, signal_e=signal_e,
                               background_e=background_e)
        else:
            img = self._render_large((h, w), (x - x0) if on else None, (y - y0) if on else None, signal_e,
                                     background_e)
        frame = Frame(img, t_capture_s, t_capture_s + cfg.readout_latency_s, x0, y0, x, y, signal_e,
                      background_e, on, cfg.exposure_s, self.frame_index)
        self.frame_index += 1
        self.next_capture_s = t_capture_s + self.period_s
        return frame
