"""Node ``gimbal_controller``: the OGS coarse stage -- ephemeris + coarse track -> safe mount commands.

Inputs
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched); ``coarse_track_estimate``
    (``qsat_pat/TrackEstimate``) from the coarse camera's ``track_predictor`` (the beacon's line
    of sight in the ephemeris tangent frame, :mod:`qsat_pat.core.coarse`); ``pat_status``
    (``qsat_pat/PatStatus``): which offset applies; ``fsm_state`` (``qsat_pat/ActuatorState``):
    the mirror position, whose mean is handed over to the mount in FINE_TRACK; with ``driver =
    "sim"``, ``mount_encoder`` (``qsat_pat/ActuatorState``): the simulator's mount.
Outputs
    ``mount_command`` (``qsat_pat/PointingCommand``, STAGE_MOUNT, POSITION + rate
    feed-forward) at ``control_rate_hz`` (or per encoder reading); ``mount_state``
    (``qsat_pat/ActuatorState``, az/el); ``mount_pointing`` (``ActuatorState``, frame
    ``ogs_ephemeris_tangent``): the mount axis in the ephemeris tangent frame, the stage
    reading the coarse tracker composes its line of sight with (seed 002 §IV).

The set-point, the offset by PAT state (scan, coarse track, offload), the safety filter and
the ephemeris watchdog are :class:`qsat_pat.core.terminal.coarse_offset.MountStage`'s (read its
docstring); the in-process simulation holds the same object.  This node adds the hardware:
with ``driver = "rotctld"`` the set-points go to a hamlib rotctld
(:mod:`qsat_pat.drivers.rotctld`) through a :class:`~qsat_pat.drivers.worker.DriverWorker`
thread, so a rotator that stops answering never stalls the executor; it is reported as
``fault`` in ``mount_state`` and the node keeps running.  With ``driver = "sim"`` the mount is
the simulator's plant: no timer, each ``mount_encoder`` reading is answered by one command
computed at the reading's stamp (lockstep with ``sim_world``).
"""

from __future__ import annotations

import sys

from qsat_pat.core.terminal.coarse_offset import GimbalControllerConfig, MountStage
from qsat_pat.drivers.worker import DriverWorker
from qsat_pat.nodes.pattern import make_main
from qsat_pat.nodes.terminal_node import TerminalNode

__all__ = ["DriverWorker", "GimbalControllerConfig", "GimbalControllerNode"]


class GimbalControllerNode(TerminalNode):
    """Drives the mount (see the module docstring)."""

    config_class = GimbalControllerConfig
    part_class = MountStage
    default_name = "gimbal_controller"

    def setup_device(self) -> None:
        self.driver: DriverWorker | None = None
        if self.config.driver == "rotctld":
            from qsat_pat.drivers.rotctld import RotctldMount

            self.driver = DriverWorker(RotctldMount(self.config.driver_host, self.config.driver_port,
                                                    self.config.driver_timeout_s, az_min_deg=0.0,
                                                    az_max_deg=360.0, el_min_deg=0.0, el_max_deg=90.0),
                                       self.config.driver_stall_s)

    def teardown_device(self) -> None:
        if getattr(self, "driver", None) is not None:
            self.driver.close(join_timeout_s=2 * self.config.driver_timeout_s + 1.0)
            self.driver = None

    def tick(self, name: str) -> None:
        """The control tick: the driver's last reading and fault, then one control step."""
        if not self.active:
            return
        reading, fault = None, ""
        if self.driver is not None:
            self.driver.request_reading(self.now_s())
            reading, fault, refusals = self.driver.status()
            for why in refusals:
                self.reject("driver_refused", why)
        self.dispatch(lambda now_ns: self.part.control(now_ns * 1e-9, reading, fault))

    def on_device_output(self, port: str, value) -> None:
        if port == "driver" and self.driver is not None:
            self.driver.submit(value)

    @property
    def bias(self):
        return self.part.bias


NODE_CLASS = GimbalControllerNode
main = make_main(GimbalControllerNode)

if __name__ == "__main__":
    sys.exit(main())
