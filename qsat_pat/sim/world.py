"""The truth side of a simulated pass: geometry, plants, atmosphere and camera frames.

:class:`World` assembles a :class:`~qsat_pat.sim.scenario.Scenario` (through
:func:`~qsat_pat.sim.scenario.make_models`, one seeded numpy generator per model) into
what the PAT software of both terminals cannot see directly:

* **Orbit truth** (SGP4 of the truth TLE, light time and aberration): the apparent
  direction of the satellite at the OGS, and the apparent direction of the OGS uplink
  beacon at the satellite (the station's position at the emission time, aberrated by the
  satellite's velocity).  Both are evaluated vectorised over chunks of the lockstep grid.
* **Open-loop reference**: the OGS ephemeris from the terminals' *perturbed* TLE
  (:meth:`qsat_pat.core.ephemeris.Ephemeris.track`, the vectorised form of
  ``state_at``), and the satellite's own target direction from its onboard orbit
  knowledge (truth + a constant GNSS-class position error, ``space_gnss_error_m``).
* **Pointing frames**: every angle a terminal records or measures is a small-angle
  (tangent-plane) coordinate ``(x, y)`` about its open-loop reference direction -- OGS:
  the ephemeris direction, x towards increasing azimuth (cross-elevation), y towards
  increasing elevation; satellite: the axes of its open-loop attitude reference R
  (x_R, y_R, boresight z_R), see :func:`qsat_pat.sim.adcs.pointing_target`.  These frames
  are known to the controllers (they hold the same ephemeris), so measured and true
  angles are comparable.
* **Plants**: OGS mount (servo, limits, structural mode) and FSM, the satellite's
  Basilisk ADCS (stepped every flight-software period; the attitude in between is the
  slerp of consecutive Basilisk states) and its FSM.
* **Atmosphere**: turbulence angle of arrival at the OGS, down/uplink scintillation, cloud
  blockage (one process for both directions).
* **Cameras**: frames of the OGS coarse and fine cameras (coarse: before the FSM; fine:
  after it) and of the satellite's beacon camera (after its FSM), with photo-electrons
  from the beacon link budget (:mod:`qsat_pat.sim.camera`), sky background, sensor noise,
  and delivery after the readout latency.  To keep a whole pass fast, a frame can be read
  out as a window around a predicted spot position (windowed read-out, as tracking
  cameras do; seed 002 §IV: a smaller ROI cuts latency); the full frame is read while
  searching.

Not modelled (stated so a reader does not assume it): angle-of-arrival jitter of the
uplink at the satellite (the turbulence is next to the ground, so the tilt seen by a
15 cm aperture 500 km away is negligible), spot smear within an exposure, and the
rotation between the FSM axes and the pointing frame (< the open-loop error, ~mrad).

References
----------
seed 004 §2.1-2.3 (point-ahead in the fine set-point), seed 003 eq. (1)-(3) (beacon link
budget), seed 002 §III (cloud breaks), §IV (ROI and latency), NanoBob (seed 001) eq. (3)-(5)
(turbulence), §3 (satellite ADCS, star tracker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsat_pat.core.camera_noise import render_frame
from qsat_pat.core.constants import C_MPS
from qsat_pat.core.errors import SimulationError
from qsat_pat.core.frames import (
    body_tangent_from_dcm,
    direction_from_tangent,
    enu_from_az_el,
    tangent_from_enu,
)
from qsat_pat.core.frames import tangent_from_enu_batch as _tangent_batch
from qsat_pat.core.frames import unit_rows as _unit_rows
from qsat_pat.sim.adcs import AdcsSample, AttitudeTarget, _small_rotation, mrp_to_dcm, pointing_target
from qsat_pat.sim.atmosphere import sky_background_e
from qsat_pat.sim.camera import Frame, FrameSynth, beacon_link_loss_db, signal_electrons
from qsat_pat.sim.scenario import RNG_STREAMS, Scenario, make_models, zenith_rad

__all__ = [
    "C_MPS",
    "OgsTruth",
    "SpaceTruth",
    "World",
    "direction_from_tangent",
    "enu_from_az_el",
    "tangent_from_enu",
]

#: Index of the extra random stream (after :data:`RNG_STREAMS`) for the satellite's GNSS error.
GNSS_STREAM = len(RNG_STREAMS)


# ----------------------------------------------------------------------------- small-angle frames
def _slerp_dcm(c0: np.ndarray, c1: np.ndarray, f: float) -> np.ndarray:
    """Direction-cosine matrix a fraction ``f`` of the way from [B0 N] to [B1 N]."""
    rel = c1 @ c0.T  # [B1 B0]
    cos_a = max(-1.0, min(1.0, (np.trace(rel) - 1.0) / 2.0))
    ang = math.acos(cos_a)
    if ang < 1e-12:
        return c0.copy()
    axis = np.array([rel[1, 2] - rel[2, 1], rel[2, 0] - rel[0, 2], rel[0, 1] - rel[1, 0]]) / (2 * math.sin(ang))
    return _small_rotation(axis * ang * f) @ c0


# ----------------------------------------------------------------------------- truth samples
@dataclass(frozen=True)
class OgsTruth:
    """Truth and open-loop reference at the OGS at one lockstep time (angles in rad).

    ``true_los_rad`` is the apparent satellite direction in the OGS pointing frame
    (tangent coordinates about the ephemeris direction ``eph_az_rad, eph_el_rad``).
    """

    t_s: float
    true_az_rad: float
    true_el_rad: float
    true_az_rate_radps: float
    true_el_rate_radps: float
    range_m: float
    true_los_rad: np.ndarray
    eph_az_rad: float
    eph_el_rad: float
    eph_az_rate_radps: float
    eph_el_rate_radps: float
    eph_range_m: float
    #: point-ahead set-point from the ephemeris in the pointing frame (x = az comp. * cos el, y) [rad]
    point_ahead_rad: np.ndarray
    visible: bool


@dataclass(frozen=True)
class SpaceTruth:
    """Truth and open-loop reference at the satellite at one space step (TEME, SI)."""

    t_s: float
    #: apparent direction of the OGS uplink beacon at the satellite (unit, TEME)
    beacon_dir_teme: np.ndarray
    #: open-loop attitude reference (what the satellite computes from its own knowledge)
    reference: AttitudeTarget
    #: point-ahead of the downlink in the satellite pointing frame (x_R, y_R) [rad]
    point_ahead_rad: np.ndarray
    #: true apparent beacon direction in the satellite pointing frame [rad]
    true_los_rad: np.ndarray


# ----------------------------------------------------------------------------- the world
class World:
    """Truth, plants, atmosphere and cameras of one run (module notes).

    Parameters
    ----------
    scenario : Scenario
    seed : int, optional
        Run seed (default: the scenario's); every random stream derives from it.
    ogs_step_s : float
        Lockstep period of the OGS (and of the whole run) [s].
    space_steps : int
        The satellite's control period in OGS steps.
    chunk_steps : int
        OGS steps of truth evaluated at once (vectorised SGP4).
    space_gnss_error_m : float
        1-sigma per axis of the satellite's own-position knowledge error [m] (constant over
        the pass).

    Raises
    ------
    SimulationError
        Inconsistent steps (the ADCS period must be a multiple of the space period, the
        camera periods multiples of the step) or a model that cannot be built.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, *, ogs_step_s: float = 1e-3,
                 space_steps: int = 10, chunk_steps: int = 1000, space_gnss_error_m: float = 10.0) -> None:
        if not (ogs_step_s > 0 and math.isfinite(ogs_step_s)):
            raise SimulationError(f"ogs_step_s={ogs_step_s!r} must be finite and > 0")
        if space_steps < 1 or chunk_steps < space_steps or chunk_steps % space_steps:
            raise SimulationError("space_steps must be >= 1 and divide chunk_steps")
        self.scenario = scenario
        self.models = m = make_models(scenario, seed)
        self.seed = m.seed
        self.dt_s = float(ogs_step_s)
        self.space_steps = int(space_steps)
        self.space_dt_s = self.dt_s * self.space_steps
        self.chunk_steps = int(chunk_steps)
        self.t0_unix_s = m.t0_unix_s
        self.orbit = m.orbit
        adcs_ratio = scenario.adcs.fsw_period_s / self.space_dt_s
        if abs(adcs_ratio - round(adcs_ratio)) > 1e-9 or round(adcs_ratio) < 1:
            raise SimulationError(f"the ADCS flight-software period {scenario.adcs.fsw_period_s} s must be a "
                                  f"multiple of the space control period {self.space_dt_s} s")
        self.adcs_space_steps = int(round(adcs_ratio))
        for name, cam, period in (("ogs_coarse_camera", scenario.ogs_coarse_camera, self.dt_s),
                                  ("ogs_fine_camera", scenario.ogs_fine_camera, self.dt_s),
                                  ("space_camera", scenario.space_camera, self.space_dt_s)):
            ratio = (1.0 / cam.frame_rate_hz) / period
            if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
                raise SimulationError(f"{name}: frame period 1/{cam.frame_rate_hz} s must be a multiple of "
                                      f"the control period {period} s of its terminal")
        self.frame_steps = {
            "ogs_coarse": int(round(1.0 / scenario.ogs_coarse_camera.frame_rate_hz / self.dt_s)),
            "ogs_fine": int(round(1.0 / scenario.ogs_fine_camera.frame_rate_hz / self.dt_s)),
            "space": int(round(1.0 / scenario.space_camera.frame_rate_hz / self.space_dt_s)),
        }
        gnss_rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(GNSS_STREAM + 1)[GNSS_STREAM])
        self.gnss_error_m = gnss_rng.normal(0.0, space_gnss_error_m, 3) if space_gnss_error_m > 0 else np.zeros(3)
        self._chunk_k0 = -1
        self._chunk: dict[str, np.ndarray] = {}
        # fixed per-camera figures
        sc = scenario
        self.background_e = {
            "ogs_coarse": self._background(sc.ogs_sky, sc.ogs_coarse_camera, sc.downlink_beacon.wavelength_m),
            "ogs_fine": self._background(sc.ogs_sky, sc.ogs_fine_camera, sc.downlink_beacon.wavelength_m),
            "space": self._background(sc.space_sky, sc.space_camera, sc.uplink_beacon.wavelength_m),
        }
        # plant state that is not in the models
        self.cloud_transmission = 1.0
        self.downlink_irradiance = 1.0
        self.uplink_irradiance = 1.0
        self.turbulence_tilt_rad = np.zeros(2)
        self._loss_cache: dict[str, tuple[float, float]] = {}
        # spacecraft attitude: consecutive Basilisk states, slerped in between
        adcs = m.adcs
        if adcs is None:
            raise SimulationError("the direct mode needs the Basilisk ADCS (install bsk)")
        self.adcs_t0_s = 0.0
        self.adcs_bn0 = adcs.dcm_bn_true()
        self.adcs_bn1 = self.adcs_bn0.copy()
        self.adcs_last: AdcsSample | None = None
        self.adcs_est_bn = self.adcs_bn0.copy()
        self.adcs_est_t_s = 0.0
        self.adcs_omega_b = np.zeros(3)

    # ------------------------------------------------------------------ fixed figures
    @staticmethod
    def _background(sky, cam, wavelength_m: float) -> float:
        return sky_background_e(sky, wavelength_m=wavelength_m, aperture_m=cam.aperture_m,
                                pixel_ifov_rad=cam.pixel_ifov_rad, filter_bandwidth_nm=cam.filter_bandwidth_nm,
                                efficiency=cam.transmission * cam.quantum_efficiency, exposure_s=cam.exposure_s)

    # ------------------------------------------------------------------ truth (chunked)
    def _load_chunk(self, k: int) -> None:
        k0 = (k // self.chunk_steps) * self.chunk_steps
        if k0 == self._chunk_k0:
            return
        n = self.chunk_steps
        t_s = (k0 + np.arange(n)) * self.dt_s
        t_unix = self.t0_unix_s + t_s
        tr = self.orbit.truth.track(t_unix)
        te = self.orbit.terminal.track(t_unix)
        c: dict[str, np.ndarray] = {
            "t_s": t_s, "az": tr.az_rad, "el": tr.el_rad, "az_rate": tr.az_rate_radps,
            "el_rate": tr.el_rate_radps, "range": tr.range_m, "eph_az": te.az_rad, "eph_el": te.el_rad,
            "eph_az_rate": te.az_rate_radps, "eph_el_rate": te.el_rate_radps, "eph_range": te.range_m,
            "visible": te.visible,
            "pa": np.stack([te.point_ahead_az_rad * np.cos(te.el_rad), te.point_ahead_el_rad], axis=1),
            "true_los": _tangent_batch(tr.los_enu, te.az_rad, te.el_rad),
        }
        # satellite side, on the space grid
        ks = np.arange(0, n, self.space_steps)
        ts_unix = t_unix[ks]
        r_sat, v_sat = self.orbit.truth.propagate_teme(ts_unix)
        r_site_now, _, _, _ = self.orbit.truth.site_teme(ts_unix)
        tau = np.linalg.norm(r_site_now - r_sat, axis=1) / C_MPS
        r_site_emit, v_site_emit, _, _ = self.orbit.truth.site_teme(ts_unix - tau)
        beacon = _unit_rows(_unit_rows(r_site_emit - r_sat) + v_sat / C_MPS)  # aberration of the moving sat
        # the satellite's own estimate: position + GNSS error, same formula
        r_k = r_sat + self.gnss_error_m
        ref = _unit_rows(_unit_rows(r_site_emit - r_k) + v_sat / C_MPS)
        h = 1e-3
        r_k2, v2 = self.orbit.truth.propagate_teme(ts_unix + h)
        r_site2, _, _, _ = self.orbit.truth.site_teme(ts_unix + h - tau)
        ref2 = _unit_rows(_unit_rows(r_site2 - (r_k2 + self.gnss_error_m)) + v2 / C_MPS)
        ref_rate = (ref2 - ref) / h
        normal = _unit_rows(np.cross(r_sat, v_sat))
        # downlink point-ahead 2 (v_site - v_sat)_perp / c (seed 004 §2.1), TEME vector
        v_rel = v_site_emit - v_sat
        pa_vec = 2.0 * (v_rel - np.sum(v_rel * ref, axis=1, keepdims=True) * ref) / C_MPS
        c.update(s_beacon=beacon, s_ref=ref, s_ref_rate=ref_rate, s_normal=normal, s_pa=pa_vec)
        self._chunk = c
        self._chunk_k0 = k0

    def ogs_truth(self, k: int) -> OgsTruth:
        """Truth and ephemeris at OGS step ``k`` (time ``k * dt_s``)."""
        self._load_chunk(k)
        c, i = self._chunk, k - self._chunk_k0
        return OgsTruth(
            t_s=float(k * self.dt_s), true_az_rad=float(c["az"][i]), true_el_rad=float(c["el"][i]),
            true_az_rate_radps=float(c["az_rate"][i]), true_el_rate_radps=float(c["el_rate"][i]),
            range_m=float(c["range"][i]), true_los_rad=c["true_los"][i].copy(),
            eph_az_rad=float(c["eph_az"][i]), eph_el_rad=float(c["eph_el"][i]),
            eph_az_rate_radps=float(c["eph_az_rate"][i]), eph_el_rate_radps=float(c["eph_el_rate"][i]),
            eph_range_m=float(c["eph_range"][i]), point_ahead_rad=c["pa"][i].copy(),
            visible=bool(c["visible"][i]))

    def space_truth(self, k: int) -> SpaceTruth:
        """Truth and the satellite's open-loop reference at OGS step ``k`` (a space step)."""
        if k % self.space_steps:
            raise SimulationError(f"step {k} is not a space step (every {self.space_steps})")
        self._load_chunk(k)
        c, j = self._chunk, (k - self._chunk_k0) // self.space_steps
        ref = pointing_target(c["s_ref"][j], c["s_ref_rate"][j], c["s_normal"][j])
        rn = ref.dcm_rn
        b = c["s_beacon"][j]
        bz = float(rn[2] @ b)
        los = np.array([rn[0] @ b, rn[1] @ b]) / bz
        pa = c["s_pa"][j]
        return SpaceTruth(t_s=float(k * self.dt_s), beacon_dir_teme=b.copy(), reference=ref,
                          point_ahead_rad=np.array([rn[0] @ pa, rn[1] @ pa]), true_los_rad=los)

    # ------------------------------------------------------------------ OGS pointing
    def ogs_mount_los_rad(self, truth: OgsTruth, optical: bool = True) -> np.ndarray:
        """Mount optical axis (encoder + structural mode if ``optical``) in the OGS pointing frame."""
        mount = self.models.ogs_mount
        p = mount.position_rad + (mount.mode_q if optical else 0.0)
        return tangent_from_enu(enu_from_az_el(p[0], p[1]), truth.eph_az_rad, truth.eph_el_rad)

    def ogs_fsm_rad(self) -> np.ndarray:
        """OGS FSM deflection (2,) [rad] (optical, in the pointing frame)."""
        return self.models.ogs_fsm.position_rad.copy()

    # ------------------------------------------------------------------ spacecraft attitude
    def space_dcm_bn(self, t_s: float) -> np.ndarray:
        """True [BN] at ``t_s`` (slerp between consecutive Basilisk states)."""
        span = self.scenario.adcs.fsw_period_s * 1.0
        f = (t_s - self.adcs_t0_s) / span
        if f <= 0.0:
            return self.adcs_bn0
        if f >= 1.0:
            return self.adcs_bn1
        return _slerp_dcm(self.adcs_bn0, self.adcs_bn1, f)

    def space_est_dcm_bn(self, t_s: float) -> np.ndarray:
        """The ADCS's estimate of [BN] at ``t_s``: last star-tracker solution propagated with the gyro rate."""
        dt = t_s - self.adcs_est_t_s
        return _small_rotation(self.adcs_omega_b * dt) @ self.adcs_est_bn

    def step_adcs(self, t_s: float, target: AttitudeTarget) -> AdcsSample:
        """Advance the Basilisk attitude simulation one flight-software period from ``t_s``."""
        adcs = self.models.adcs
        period = self.scenario.adcs.fsw_period_s
        self.adcs_bn0 = adcs.dcm_bn_true()
        self.adcs_t0_s = t_s
        sample = adcs.step(period, target)
        self.adcs_bn1 = adcs.dcm_bn_true()
        self.adcs_last = sample
        self.adcs_est_bn = mrp_to_dcm(sample.sigma_bn_est)
        # the star-tracker solution Basilisk's controller used is the one of the start of the period
        self.adcs_est_t_s = t_s
        self.adcs_omega_b = np.asarray(sample.omega_bn_b_radps, dtype=float)
        return sample

    @staticmethod
    def body_tangent(dcm_bn: np.ndarray, dir_n: np.ndarray) -> np.ndarray:
        """Tangent coordinates of an inertial direction in body axes about +z [rad], (2,)
        (:func:`qsat_pat.core.frames.body_tangent_from_dcm`)."""
        return body_tangent_from_dcm(dcm_bn, dir_n)

    @staticmethod
    def body_to_reference(dcm_bn: np.ndarray, xy_body_rad, reference: AttitudeTarget) -> np.ndarray:
        """Body tangent coordinates -> pointing-frame (reference R) coordinates [rad]."""
        d_b = np.array([float(xy_body_rad[0]), float(xy_body_rad[1]), 1.0])
        d_n = dcm_bn.T @ d_b
        rn = reference.dcm_rn
        z = float(rn[2] @ d_n)
        return np.array([rn[0] @ d_n, rn[1] @ d_n]) / z

    # ------------------------------------------------------------------ plants
    def advance_ogs(self, dt_s: float, truth: OgsTruth, mount_command_rad, mount_rate_ff_radps,
                    fsm_command_rad) -> None:
        """Advance the OGS plants and the atmosphere by ``dt_s`` holding the commands.

        Parameters
        ----------
        mount_command_rad, mount_rate_ff_radps : array_like (2,)
            Mount (az, el) set-point [rad] and rate feed-forward [rad/s] (after the safety filter).
        fsm_command_rad : array_like (2,)
            FSM command [rad].
        """
        m = self.models
        rate = m.ogs_mount.rate_radps
        slew_xy = (rate[0] * math.cos(truth.true_el_rad), rate[1])
        self.step_atmosphere(dt_s, truth, slew_xy)
        m.ogs_mount.step(dt_s, mount_command_rad, mount_rate_ff_radps)
        m.ogs_fsm.step(fsm_command_rad, dt_s)

    def advance_space(self, dt_s: float, fsm_command_rad) -> None:
        """Advance the satellite's FSM by ``dt_s`` holding ``fsm_command_rad`` [rad] (the uplink
        scintillation is stepped by :meth:`step_uplink_scintillation` before the frame)."""
        self.models.space_fsm.step(fsm_command_rad, dt_s)

    # ------------------------------------------------------------------ atmosphere and links
    def step_atmosphere(self, dt_s: float, truth: OgsTruth, slew_rate_xy_radps) -> None:
        """Advance turbulence, downlink scintillation and clouds by one OGS step."""
        m = self.models
        zen = zenith_rad(truth.true_el_rad)
        self.turbulence_tilt_rad = m.ogs_turbulence.step(dt_s, zen, slew_rate_xy_radps)
        self.downlink_irradiance = m.downlink_scintillation.step(dt_s, zen)
        self.cloud_transmission = m.downlink_clouds.step(dt_s)

    def step_uplink_scintillation(self, dt_s: float, truth: OgsTruth) -> None:
        """Advance the uplink scintillation by one space step."""
        self.uplink_irradiance = self.models.uplink_scintillation.step(dt_s, zenith_rad(truth.true_el_rad))

    @property
    def beacon_blocked(self) -> bool:
        """A cloud blocks the line of sight now."""
        return bool(self.models.downlink_clouds.blocked)

    def mean_loss_db(self, which: str, truth: OgsTruth) -> float:
        """Mean beacon link loss (diffraction + atmosphere + fixed) [dB], cached per 0.1 s."""
        key = round(truth.t_s, 1)
        hit = self._loss_cache.get(which)
        if hit is not None and hit[0] == key:
            return hit[1]
        sc = self.scenario
        if which == "downlink":
            loss = beacon_link_loss_db(sc.downlink_beacon, truth.range_m, truth.true_el_rad,
                                       sc.ogs_fine_camera.aperture_m)
        else:
            loss = beacon_link_loss_db(sc.uplink_beacon, truth.range_m, truth.true_el_rad,
                                       sc.space_camera.aperture_m)
        self._loss_cache[which] = (key, loss)
        return loss

    def received_power_w(self, which: str, truth: OgsTruth, tx_error_rad: float) -> tuple[float, float]:
        """Beacon power at the receiving aperture [W] and the total link loss [dB].

        ``which`` is "downlink" (satellite beacon -> OGS) or "uplink" (OGS beacon ->
        satellite); ``tx_error_rad`` is the transmitter's pointing error (off-axis gain
        ``exp(-2 theta^2/theta_div^2)``, seed 003 eq. (3)).
        """
        sc = self.scenario
        beacon = sc.downlink_beacon if which == "downlink" else sc.uplink_beacon
        irr = self.downlink_irradiance if which == "downlink" else self.uplink_irradiance
        loss_db = self.mean_loss_db(which, truth)
        gain = math.exp(-2.0 * (tx_error_rad / beacon.divergence_rad) ** 2)
        p = beacon.power_w * 10.0 ** (-loss_db / 10.0) * gain * irr * self.cloud_transmission
        total_db = loss_db + (2.0 * (tx_error_rad / beacon.divergence_rad) ** 2) * 10.0 / math.log(10.0) \
            - 10.0 * math.log10(max(irr * self.cloud_transmission, 1e-300))
        return p, total_db

    # ------------------------------------------------------------------ frames
    def render(self, camera: str, t_capture_s: float, los_error_rad, power_w: float,
               center_px=None, window_px: int = 0) -> Frame:
        """Render one frame of ``camera`` ("ogs_coarse", "ogs_fine", "space").

        Parameters
        ----------
        t_capture_s : float
            Mid-exposure time [s].
        los_error_rad : array_like (2,)
            Apparent beacon direction minus the camera's optical axis [rad].
        power_w : float
            Beacon power at the aperture [W].
        center_px : (float, float), optional
            Centre of a read-out window (full-frame pixels); with ``window_px > 0`` only a
            ``window_px`` square around it is read out, else the configured ROI.
        """
        synth: FrameSynth = {"ogs_coarse": self.models.ogs_coarse_camera, "ogs_fine": self.models.ogs_fine_camera,
                             "space": self.models.space_camera}[camera]
        cfg = synth.config
        wavelength = (self.scenario.uplink_beacon if camera == "space" else self.scenario.downlink_beacon).wavelength_m
        sig = signal_electrons(power_w, cfg, wavelength)
        bg = self.background_e[camera]
        if window_px <= 0 or center_px is None:
            return synth.render(t_capture_s, los_error_rad, sig, bg)
        w = int(min(window_px, cfg.cols, cfg.rows))
        x, y = synth.spot_px(los_error_rad)
        x0 = int(min(max(round(center_px[0] - w / 2.0), 0), cfg.cols - w))
        y0 = int(min(max(round(center_px[1] - w / 2.0), 0), cfg.rows - w))
        margin = 6.0 * cfg.psf_sigma_px
        on = bool(-margin < x < cfg.cols + margin and -margin < y < cfg.rows + margin)
        near = on and (-margin < x - x0 < w + margin and -margin < y - y0 < w + margin)
        img = render_frame((w, w), synth.sensor, synth.rng, x_px=(x - x0) if near else None,
                           y_px=(y - y0) if near else None, sigma_px=cfg.psf_sigma_px, signal_e=sig,
                           background_e=bg)
        frame = Frame(img, t_capture_s, t_capture_s + cfg.readout_latency_s, x0, y0, x, y, sig, bg, on,
                      cfg.exposure_s, synth.frame_index)
        synth.frame_index += 1
        synth.next_capture_s = t_capture_s + synth.period_s
        return frame
