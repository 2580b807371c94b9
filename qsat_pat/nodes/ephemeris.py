"""Node ``ephemeris``: where the other terminal is, mount set-points and the point-ahead.

TLE source, in order: parameters ``tle_line1``/``tle_line2`` (with ``tle_name``), else the
file ``tle_file`` (first set, or the one named ``tle_name``), and at any time the topic
``tle`` (``std_msgs/String``, two- or three-line text).  A TLE that fails validation is
rejected (counted and reported on ``/diagnostics``) and the last good one is kept.

Outputs, every ``1/rate_hz`` on the node clock (``use_sim_time`` respected):

* ``ephemeris`` (``qsat_pat/EphemerisState``, latched): apparent az/el (light-time and
  aberration), refracted elevation, light-time range, analytic rates, point-ahead (the
  fine loop's set-point offset), Sun separation, HWP set-point, visibility, TLE age;
* ``mount_setpoint`` (``qsat_pat/PointingCommand``, stage MOUNT, mode POSITION with rate
  feed-forward): from the whole-pass plan (:func:`qsat_pat.core.passplan.plan_pass`,
  wrap/flip/over-the-top decided before AOS, pre-positioning included) while a planned
  pass is on, else the refracted apparent az/el while the target is above the mask;
  nothing is sent otherwise;
* ``pass_plan`` (``std_msgs/String``, latched JSON): next pass (AOS/TCA/LOS, max el),
  the chosen mount mode, feasibility and the intervals where the target would leave
  the field of view.

Ephemeris errors at run time (TLE too old for the requested time, SGP4 failure) are
counted as rejections and the node keeps running.

What is computed and when is :class:`qsat_pat.core.terminal.ephemeris_feed.EphemerisFeed`'s
(the same object the in-process simulation holds); this node is its ROS plumbing.
"""

from __future__ import annotations

import sys

from qsat_pat.core.terminal.ephemeris_feed import EphemerisFeed, EphemerisNodeConfig, plan_setpoint
from qsat_pat.nodes.pattern import make_main
from qsat_pat.nodes.terminal_node import TerminalNode

__all__ = ["EphemerisNode", "EphemerisNodeConfig", "plan_setpoint"]


class EphemerisNode(TerminalNode):
    """Publishes the ephemeris, mount set-points and pass plan (see the module docstring)."""

    config_class = EphemerisNodeConfig
    part_class = EphemerisFeed
    default_name = "ephemeris"

    def diagnostic_values(self) -> dict:
        out = super().diagnostic_values()
        part = getattr(self, "part", None)
        if part is not None and part.eph is not None:
            warning = part.eph.tle_age_warning(self.now_s())
            if warning:
                out["tle_age_warning"] = warning
        return out

    def __getattr__(self, name: str):
        # what tests and tools read of the decision object (eph, plan, next_pass, last_state)
        part = self.__dict__.get("part")
        if part is not None and not name.startswith("_") and hasattr(part, name):
            return getattr(part, name)
        raise AttributeError(name)


NODE_CLASS = EphemerisNode
main = make_main(EphemerisNode)

if __name__ == "__main__":
    sys.exit(main())
