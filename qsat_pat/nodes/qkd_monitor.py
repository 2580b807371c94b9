"""Node ``qkd_monitor``: live link loss, predicted QBER and secret key rate.

Inputs: ``ephemeris`` (``qsat_pat/EphemerisState``: elevation and range of the other terminal)
and ``track_estimate`` (``qsat_pat/TrackEstimate``: the posterior line-of-sight covariance gives
the RMS tracking error).  For every ephemeris update with the target above the horizon the node
evaluates the Vector link budget (seed 003 eq. (1)-(3), with the measured tracking error as the
RMS pointing error of eq. (2)) plus the receiver coupling penalty of the tracking error (seed 002
§II.7), and the key-rate model of :mod:`qsat_pat.core.qkd` for that loss.  Outputs (``std_msgs``,
no dedicated message exists yet): ``qkd/link_loss_db``, ``qkd/qber``, ``qkd/key_rate_bps``
(``Float64``).  Ephemeris below the horizon or non-finite inputs are counted and skipped.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from std_msgs.msg import Float64

from qsat_pat.core import link, qkd
from qsat_pat.core.errors import QsatPatError
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.msg import EphemerisState, TrackEstimate
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main


@dataclass(frozen=True)
class QkdMonitorConfig(ConfigBase):
    """Parameters of the ``qkd_monitor`` node (defaults: Vector downlink optics, NanoBob BBM92 source)."""

    protocol: str = param("bbm92", "key-rate model", choices=qkd.PROTOCOLS)
    wavelength_m: float = param(850e-9, "quantum-channel wavelength", unit="m", min_value=1e-7, max_value=1e-5)
    waist_m: float = param(4.0e-3, "transmit beam waist radius w0", unit="m", min_value=1e-5, max_value=1.0)
    rx_aperture_m: float = param(0.6, "receiver aperture diameter", unit="m", min_value=1e-4, max_value=20.0)
    kappa_db: float = param(0.92, "atmospheric loss per air mass", unit="dB", min_value=0.0, max_value=100.0)
    fixed_loss_db: float = param(7.8, "constant optical losses", unit="dB", min_value=0.0, max_value=100.0)
    coupling_fov_rad: float = param(0.0, "receiver coupling field of view for the seed 002 §II.7 tracking penalty "
                                         "(lambda/D for single-mode coupling after AO; 0 = no penalty)",
                                    unit="rad", min_value=0.0, max_value=1.0)
    default_tracking_rms_rad: float = param(0.0, "tracking error used before a TrackEstimate arrives",
                                            unit="rad", min_value=0.0, max_value=0.1)


def tracking_rms_from_covariance(covariance_rad2) -> float:
    """RMS radial tracking error ``sqrt(var_x + var_y)`` from a row-major 2x2 covariance [rad]."""
    c = [float(v) for v in covariance_rad2]
    if len(c) < 4 or not all(math.isfinite(v) for v in c) or c[0] < 0 or c[3] < 0:
        raise ValueError("covariance must be a finite row-major 2x2 with non-negative diagonal")
    return math.sqrt(c[0] + c[3])


def predicted_loss_db(config: QkdMonitorConfig, elevation_rad: float, range_m: float, tracking_rms_rad: float) -> float:
    """Link loss [dB] at one instant: diffraction + pointing (tracking) + atmosphere + fixed + coupling."""
    loss = (link.vector_diffraction_loss_db(config.wavelength_m, config.waist_m, range_m, config.rx_aperture_m)
            + link.vector_pointing_loss_db(config.wavelength_m, config.waist_m, tracking_rms_rad)
            + link.atmospheric_loss_db(config.kappa_db, elevation_rad) + config.fixed_loss_db)
    if config.coupling_fov_rad > 0.0:
        eff = link.tracking_coupling_efficiency(tracking_rms_rad, config.coupling_fov_rad)
        loss += -10.0 * math.log10(max(eff, 1e-300))
    return float(loss)


class QkdMonitorNode(QsatPatNode):
    """Publishes the predicted link loss, QBER and key rate (see the module docstring)."""

    config_class = QkdMonitorConfig
    default_name = "qkd_monitor"

    def on_setup(self) -> None:
        self.tracking_rms_rad = self.config.default_tracking_rms_rad
        self.loss_pub = self.create_lifecycle_publisher(Float64, "qkd/link_loss_db", Qos.STREAM)
        self.qber_pub = self.create_lifecycle_publisher(Float64, "qkd/qber", Qos.STREAM)
        self.rate_pub = self.create_lifecycle_publisher(Float64, "qkd/key_rate_bps", Qos.STREAM)
        self.subs = [
            self.create_subscription(EphemerisState, "ephemeris", self.on_ephemeris, Qos.STATE),
            self.create_subscription(TrackEstimate, "track_estimate", self.on_track, Qos.STREAM),
        ]
        self.last = {}

    def on_teardown(self) -> None:
        for sub in getattr(self, "subs", []):
            self.destroy_subscription(sub)
        self.subs = []

    def on_track(self, msg: TrackEstimate) -> None:
        if not self.active:
            return
        try:
            self.tracking_rms_rad = tracking_rms_from_covariance(msg.predicted_covariance_rad2)
        except ValueError as exc:
            self.reject("bad_track_covariance", str(exc))

    def on_ephemeris(self, msg: EphemerisState) -> None:
        if not self.active:
            return
        if not (math.isfinite(msg.el_rad) and math.isfinite(msg.range_m)):
            self.reject("non_finite_ephemeris", "ephemeris elevation/range not finite")
            return
        if msg.el_rad <= 0.0 or not msg.visible:
            self.count("below_horizon")
            return
        try:
            loss = predicted_loss_db(self.config, msg.el_rad, msg.range_m, self.tracking_rms_rad)
            point = qkd.key_rate_curve(self.config.protocol, [loss])[0]
        except QsatPatError as exc:
            self.reject("model_error", str(exc))
            return
        self.last = {"link_loss_db": loss, "qber": point.qber, "key_rate_bps": point.key_rate_bps,
                     "tracking_rms_rad": self.tracking_rms_rad}
        self.loss_pub.publish(Float64(data=loss))
        self.qber_pub.publish(Float64(data=float(point.qber)))
        self.rate_pub.publish(Float64(data=float(point.key_rate_bps)))
        self.count("predictions")

    def diagnostic_values(self) -> dict:
        return dict(getattr(self, "last", {}))


NODE_CLASS = QkdMonitorNode
main = make_main(QkdMonitorNode)

if __name__ == "__main__":
    sys.exit(main())
