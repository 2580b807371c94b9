"""Configuration of the line-of-sight tracker: :class:`TrackerConfig` and :data:`YORK_PX_CONFIG`.

:class:`TrackerConfig` is the ``track_predictor`` node's parameters (model, noise, gate,
re-acquisition, coasting and rollback settings; seed 002 §II.5-6 eq. (1)-(11));
:data:`YORK_PX_CONFIG` the pixel settings for replaying York's logs (seed 002 §III).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import chi2

from qsat_pat.core.estimation.models import MotionModel
from qsat_pat.core.params import ConfigBase, param

__all__ = [
    "YORK_PX_CONFIG",
    "TrackerConfig",
]


@dataclass(frozen=True)
class TrackerConfig(ConfigBase):
    """Configuration of :class:`LosTracker` (the ``track_predictor`` node's parameters).

    Angles are in rad when the filter is fed composed lines of sight; the York replay
    feeds pixel centroids and then every "rad" reads "px".  The defaults are the York
    replay's pixel values (:data:`YORK_PX_CONFIG`) times a 10 urad/px plate scale
    (1e-5 rad/px; q and variances scale with its square).
    """

    model: str = param("imm", "kinematic model", choices=("cv", "ca", "cj", "imm"))
    measurement_std_rad: float = param(
        5e-6, "measurement noise standard deviation per axis (R = std^2 I, seed 002 eq. (7))",
        unit="rad", min_value=1e-12, max_value=1e6)
    q_cv: float = param(1e-10, "process noise of the constant-velocity model (see process_noise)",
                        unit="rad^2/s^3", min_value=0.0, max_value=1e12)
    q_ca: float = param(1e-12, "process noise of the constant-acceleration model",
                        unit="rad^2/s^5", min_value=0.0, max_value=1e12)
    q_cj: float = param(1e-15, "process noise of the constant-jerk model",
                        unit="rad^2/s^7", min_value=0.0, max_value=1e12)
    noise_kind: str = param("continuous", "process noise model (filterpy Q_*_white_noise)",
                            choices=("continuous", "discrete"))
    init_rate_std_radps: float = param(5e-4, "initial standard deviation of the rates",
                                       unit="rad/s", min_value=0.0, max_value=1e9)
    init_acc_std_radps2: float = param(5e-5, "initial standard deviation of the accelerations",
                                       unit="rad/s^2", min_value=0.0, max_value=1e9)
    init_jerk_std_radps3: float = param(5e-6, "initial standard deviation of the jerks",
                                        unit="rad/s^3", min_value=0.0, max_value=1e9)
    gate_probability: float = param(0.9999, "NIS gate: chi-square (2 dof) probability of accepting a true detection",
                                    min_value=0.5, max_value=1.0 - 1e-12)
    reacquire_after_s: float = param(0.5, "coasting longer than this makes the next detection tentative",
                                     unit="s", min_value=0.0, max_value=1e6)
    confirm_sigma: float = param(4.0, "a tentative detection is confirmed by the next one within this many sigma",
                                 min_value=0.5, max_value=100.0)
    coast_decay_s: float = param(2.0, "while coasting, accelerations and jerks decay with this time constant "
                                 "(Singer model; 0 = never, the plain seed 002 models)",
                                 unit="s", min_value=0.0, max_value=1e6)
    adaptive_q_memory: int = param(20, "measurements in the running NIS mean that scales Q up when the "
                                   "model lags a manoeuvre (0 = fixed Q)", min_value=0, max_value=100000)
    adaptive_q_max_scale: float = param(1000.0, "largest factor the adaptive Q may apply",
                                        min_value=1.0, max_value=1e9)
    imm_stay_probability: float = param(0.98, "IMM: probability of staying in the same model per step",
                                        min_value=0.0, max_value=1.0 - 1e-9)
    pass_model: bool = param(False, "while coasting, fuse the filter's prediction with a satellite-pass "
                             "line-of-sight model (PassTrajectory) fitted to the measurements applied so far; "
                             "needs the pass geometry (LosTracker.set_time_of_closest_approach)")
    pass_min_span_s: float = param(5.0, "pass model: shortest span of applied measurements before it is used",
                                   unit="s", min_value=0.0, max_value=1e6)
    pass_min_points: int = param(50, "pass model: fewest applied measurements before it is used",
                                 min_value=8, max_value=10**7)
    pass_max_points: int = param(2000, "pass model: longer histories are decimated to this many points for the fit",
                                 min_value=8, max_value=10**7)
    pass_model_std_rad: float = param(5e-5, "pass model: standard deviation of its prediction per axis; while "
                                      "coasting the filter's own prediction and the model's are fused with "
                                      "weights from this and the filter's growing covariance (0 = model only)",
                                      unit="rad", min_value=0.0, max_value=1e9)
    pass_tca_std_s: float = param(0.0, "pass model: uncertainty of the ephemeris TCA; > 0 (with "
                                  "pass_tau_rel_std) lets the measurements refine TCA and tau (MAP)",
                                  unit="s", min_value=0.0, max_value=1e6)
    pass_tau_rel_std: float = param(0.0, "pass model: relative uncertainty of the ephemeris tau = d_min / v",
                                    min_value=0.0, max_value=10.0)
    pass_robust_scale: float = param(3e-5, "pass model: residual above which the robust fit down-weights a point",
                                     unit="rad", min_value=1e-12, max_value=1e9)
    pass_window_s: float = param(0.0, "pass model: > 0 fits the pass's offset and gain while coasting only to the "
                                 "measurements of the last max(pass_window_s, time coasted) seconds (local fit, "
                                 "linear in the pass angle, fused with the weight of its own prediction variance); "
                                 "0 = one fit to every measurement, offset anchored at the last one",
                                 unit="s", min_value=0.0, max_value=1e6)
    rollback_frames: int = param(2, "blockage-onset rollback: when the detections stop, the last this many applied "
                                 "measurements are taken back if one of them had a suspect NIS (see "
                                 "rollback_nis_probability; 0 = off)", min_value=0, max_value=10)
    rollback_nis_probability: float = param(0.99, "blockage-onset rollback: an applied measurement is suspect when "
                                            "its NIS exceeds this chi-square (2 dof) quantile (well inside the gate; at "
                                            "or above gate_probability nothing is suspect)",
                                            min_value=0.5, max_value=1.0 - 1e-12)

    @property
    def motion_model(self) -> MotionModel:
        """:class:`MotionModel` of :attr:`model`."""
        return MotionModel(self.model)

    def gate_nis(self) -> float:
        """NIS threshold of the gate (chi-square quantile, 2 dof)."""
        return float(chi2.ppf(self.gate_probability, 2))

    def q_of(self, model: MotionModel) -> float:
        """Process noise of one single model."""
        return {MotionModel.CV: self.q_cv, MotionModel.CA: self.q_ca, MotionModel.CJ: self.q_cj}[model]


#: Settings for replaying York's pixel logs (px, px/s, ...): measurement std 1 px (the
#: replay normally learns R per file with estimate_measurement_cov), q_cv = 1 px^2/s^3,
#: q_ca = 1e-2 px^2/s^5, q_cj = 1e-5 px^2/s^7 (chosen by the grid searches in the report of
#: issue 3 over York's passes: best re-acquisition errors of each single model); the pass
#: model on (used only when the pass geometry is given), its prediction std 5 px, robust
#: fit scale 3 px, and while coasting fitted locally over the last max(6 s, time coasted)
#: (``pass_window_s``; 6 s = ~120 frames, enough to average the integer-pixel centroids).
YORK_PX_CONFIG = dict(measurement_std_rad=1.0, q_cv=1.0, q_ca=1e-2, q_cj=1e-5, init_rate_std_radps=50.0,
                      init_acc_std_radps2=5.0, init_jerk_std_radps3=0.5, pass_model=True, pass_model_std_rad=5.0,
                      pass_robust_scale=3.0, pass_window_s=6.0)
