"""Node ``track_predictor``: beacon centroids (+ the stage reading) -> line-of-sight track estimates.

Inputs ``beacon_centroid`` (``qsat_pat/BeaconCentroid``) and ``actuator_state``
(``qsat_pat/ActuatorState``, remap it to ``fsm_state`` or ``mount_pointing``).  Output
``track_estimate`` (``qsat_pat/TrackEstimate``) for each frame fed to the tracker while a track
exists.  What is fed, how and what is predicted is decided by
:class:`qsat_pat.core.terminal.los_feed.LosPredictor` (the same object the in-process
simulation holds); this node is its ROS plumbing.

With ``use_actuator`` false the actuator term is zero (camera-only tracking, York's set-up).
QoS: ``beacon_centroid`` and ``track_estimate`` are reliable with keep-last queues of
``queue_depth`` messages (default 50: 50 ms of backlog at 1 kHz before a centroid is lost).

Bad input (NaN or decreasing stamps, missing or stale actuator state, non-finite
centroids) is counted on ``/diagnostics`` and the frame is skipped (coasted where a time
stamp is usable); the node keeps running.
"""

from __future__ import annotations

import sys

from qsat_pat.core.terminal.los_feed import LosPredictor, TrackPredictorConfig
from qsat_pat.nodes.pattern import Qos, make_main
from qsat_pat.nodes.terminal_node import TerminalNode


class TrackPredictorNode(TerminalNode):
    """Kalman line-of-sight tracker (see the module docstring)."""

    config_class = TrackPredictorConfig
    part_class = LosPredictor
    default_name = "track_predictor"

    def qos_for(self, port):
        if port.topic in ("beacon_centroid", "track_estimate"):
            return Qos.with_depth(Qos.STREAM, self.config.queue_depth)
        return super().qos_for(port)

    @property
    def tracker(self):
        return self.part.tracker


NODE_CLASS = TrackPredictorNode
main = make_main(TrackPredictorNode)

if __name__ == "__main__":
    sys.exit(main())
