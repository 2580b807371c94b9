"""Node ``pat_manager``: the PAT state machine and the laser interlock.

Inputs
    ``ephemeris`` (``qsat_pat/EphemerisState``, latched): visibility, Sun separation,
    elevation; ``pass_plan`` (``std_msgs/String``, latched JSON): the next pass's AOS;
    ``coarse_centroid`` and ``fine_centroid`` (``qsat_pat/BeaconCentroid``): detections of the
    wide-field and fine cameras (remap them to the imaging nodes' ``beacon_centroid`` topics);
    ``fsm_state``, ``mount_state`` (``qsat_pat/ActuatorState``): faults and the coarse stage's
    position; ``mount_command`` (``qsat_pat/PointingCommand``): the coarse stage's set-point.
Output
    ``pat_status`` (``qsat_pat/PatStatus``, latched) on every transition, on each mount_state
    and at ``status_rate_hz``.

What steps the machine, its inputs (at target, time to AOS, coarse error), the clock-reset
rule and the interlock are :class:`qsat_pat.core.terminal.pat_inputs.PatManager`'s (read its
docstring); the in-process simulation holds the same object.
"""

from __future__ import annotations

import sys

from qsat_pat.core.terminal.pat_inputs import PatManager, PatManagerConfig
from qsat_pat.nodes.pattern import make_main
from qsat_pat.nodes.terminal_node import TerminalNode

__all__ = ["PatManagerConfig", "PatManagerNode"]


class PatManagerNode(TerminalNode):
    """Owns the PAT mode and the laser interlock (see the module docstring)."""

    config_class = PatManagerConfig
    part_class = PatManager
    default_name = "pat_manager"

    def make_part(self, config) -> PatManager:
        return PatManager(config, self.now_ns())

    @property
    def machine(self):
        return self.part.machine


NODE_CLASS = PatManagerNode
main = make_main(PatManagerNode)

if __name__ == "__main__":
    sys.exit(main())
