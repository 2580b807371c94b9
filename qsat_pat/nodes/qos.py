"""Named QoS profiles of the qsat_pat nodes (:class:`Qos`): one place for queue depths,
reliability and durability, so no node holds a bare depth number.

Part of the node pattern (:mod:`qsat_pat.nodes.pattern`).
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)


class Qos:
    """Named QoS profiles: use these, never a bare depth number in a node."""

    #: Camera frames and other high-rate measurements: best effort, keep the newest few.
    SENSOR: QoSProfile = qos_profile_sensor_data
    #: Measurements and estimates that every consumer must get (centroids, track
    #: estimates, actuator states): reliable, volatile, a short queue.
    STREAM: QoSProfile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=50,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
    #: Commands to actuators: reliable, volatile, short queue (a stale command is worse
    #: than none; the actuator's watchdog holds when they stop).
    COMMAND: QoSProfile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
    #: State, ephemeris, mode: reliable + transient local, depth 1 (latched: a late
    #: subscriber gets the last value at once).
    STATE: QoSProfile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=1,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

    @staticmethod
    def with_depth(profile: QoSProfile, depth: int) -> QoSProfile:
        """A copy of ``profile`` whose keep-last queue holds ``depth`` messages."""
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=profile.reliability,
                          durability=profile.durability)

    @staticmethod
    def camera(reliable: bool = False, depth: int | None = None) -> QoSProfile:
        """QoS of a camera-frame subscription.

        Default: :attr:`SENSOR` (best effort, keep last 5): a frame the node cannot take
        in time is dropped, the right behaviour for a live tracking camera.  ``reliable``
        makes the link reliable (the transport retransmits instead of losing frames; a
        reliable subscription only matches reliable publishers, a best-effort one matches
        both), for tests and recordings where every frame must be processed; ``depth``
        sets the keep-last queue [frames].
        """
        base = Qos.STREAM if reliable else Qos.SENSOR
        return Qos.with_depth(base, depth if depth is not None else base.depth)
