"""Simulator-backed drivers: the plant lives in the simulator, readings arrive as messages.

In the ``sim`` deployment the mount is a plant inside ``sim_world``
(:mod:`qsat_pat.nodes.sim_world`): it obeys the ``mount_command`` topic the controller
publishes anyway, and reports its encoders on ``mount_encoder``.  :class:`TopicMount` is the
:class:`~qsat_pat.drivers.base.MountDriver` a controller holds for it: commands are
acknowledged (they travel on the command topic), readings are whatever the node last fed
in from the encoder topic, and a reading older than ``stale_s`` is a fault, as a rotator
that stops answering is for the hardware drivers.  No ROS here: the node feeds readings.
"""

from __future__ import annotations

import math

from qsat_pat.drivers.base import MountDriver, StageReading, check_finite


class TopicMount(MountDriver):
    """Mount driver over the simulator's topics (see the module docstring).

    Parameters
    ----------
    stale_s : float
        A reading older than this (at :meth:`get_position` time) sets the fault [s].
    """

    def __init__(self, stale_s: float = 1.0) -> None:
        super().__init__()
        self.stale_s = float(stale_s)
        self.reading: StageReading | None = None
        self.commanded: tuple[float, float] | None = None

    def feed(self, reading: StageReading) -> None:
        """A new encoder reading from the simulator."""
        check_finite(az=reading.axis1_rad, el=reading.axis2_rad)
        self.reading = reading
        self.clear_fault()

    def set_position(self, az_rad: float, el_rad: float) -> bool:
        check_finite(az=az_rad, el=el_rad)
        self.commanded = (float(az_rad), float(el_rad))
        return not self.fault

    def get_position(self, t_s: float) -> StageReading | None:
        r = self.reading
        if r is None or not math.isfinite(t_s) or t_s - r.t_s > self.stale_s:
            self._set_fault("no encoder reading from the simulator" if r is None
                            else f"encoder reading {t_s - r.t_s:.2f} s old")
            return None
        return r

    def stop(self) -> bool:
        self.commanded = None
        return True

    def park(self) -> bool:
        self.commanded = None
        return True

    def close(self) -> None:
        self.reading = None
