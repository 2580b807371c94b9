"""Node ``fsm_controller``: fine-camera centroids -> FSM commands.

Inputs
    ``beacon_centroid`` (``qsat_pat/BeaconCentroid``) of the fine camera (``camera_id``);
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched) for the point-ahead set-point;
    ``pat_status`` (``qsat_pat/PatStatus``, latched) of the terminal's PAT manager;
    ``coarse_centroid`` (``qsat_pat/BeaconCentroid``) of the coarse camera
    (``coarse_camera_id``, optional).
Outputs
    ``fsm_command`` (``qsat_pat/PointingCommand``, STAGE_FSM, MODE_POSITION) per valid or
    invalid centroid; ``fsm_state`` (``qsat_pat/ActuatorState``) at ``state_rate_hz``.

Every decision -- the residual, the Smith-predictor loop, the point-ahead set-point, following
the PAT state, the coarse hand-back after a fine loss, the clamp and the watchdog -- is
:class:`qsat_pat.core.terminal.fine_stage.FineStage`'s (read its docstring); the in-process
simulation holds the same object.  This node adds the hardware: with ``driver =
"serial_tcp"`` the commands also go to an ASCII-protocol FSM
(:mod:`qsat_pat.drivers.serial_fsm`), whose readings ``fsm_state`` reports; a driver that
stops answering is reported as ``fault`` in ``fsm_state`` and the node keeps running.
"""

from __future__ import annotations

import sys

from qsat_pat.core.terminal.fine_stage import FineStage, FsmControllerConfig
from qsat_pat.nodes.pattern import make_main
from qsat_pat.nodes.terminal_node import TerminalNode

__all__ = ["FsmControllerConfig", "FsmControllerNode"]


class FsmControllerNode(TerminalNode):
    """Closes the FSM loop on the fine camera (see the module docstring)."""

    config_class = FsmControllerConfig
    part_class = FineStage
    default_name = "fsm_controller"

    def setup_device(self) -> None:
        self.driver = None
        if self.config.driver == "serial_tcp":
            from qsat_pat.drivers.serial_fsm import SerialFsm, SocketLineTransport

            self.driver = SerialFsm(SocketLineTransport(self.config.driver_host, self.config.driver_port,
                                                        self.config.driver_timeout_s), self.config.range_rad)

    def teardown_device(self) -> None:
        if getattr(self, "driver", None) is not None:
            self.driver.close()
            self.driver = None

    def on_device_output(self, port: str, value) -> None:
        if port == "driver" and self.driver is not None and not self.driver.set_angles(*value):
            self.count("driver_errors")

    def tick(self, name: str) -> None:
        """The state tick: with a driver, the mirror's own reading and fault."""
        if not self.active:
            return
        if self.driver is None:
            return super().tick(name)
        reading = self.driver.get_angles(self.now_s())
        pos = None if reading is None else (reading.axis1_rad, reading.axis2_rad)
        self.dispatch(lambda now_ns: self.part.state(now_ns, pos, self.driver.fault_reason))

    # what tests and tools read
    @property
    def loop(self):
        return self.part.loop

    @property
    def last_cmd(self):
        return self.part.last_cmd


NODE_CLASS = FsmControllerNode
main = make_main(FsmControllerNode)

if __name__ == "__main__":
    sys.exit(main())
