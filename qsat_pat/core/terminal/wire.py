"""What the terminal's decision objects exchange: one plain type per message, and time.

Each class mirrors one interface of ``msg/`` (or a standard message) field for field -- the
same names, float64 numbers, the header as ``stamp_ns`` (integer nanoseconds, what a
``builtin_interfaces/Time`` holds) and ``frame_id``.  A node converts a message to its wire
type and back by copying fields (:mod:`qsat_pat.nodes.convert`); the in-process simulation
hands the wire objects over directly.  So the objects of :mod:`qsat_pat.core.terminal` see
the same numbers whether they run in a node or in one process (``test_wire.py`` holds the
fields against the generated message classes).

Time: a node's clock is integer nanoseconds (rclpy ``Time.nanoseconds``); a decision object
takes it as ``now_ns`` and turns it into seconds with :func:`clock_s`, a stamp with
:func:`stamp_s`, and a time back into a stamp with :func:`to_ns` -- the conversions the
node pattern and ``nodes/convert.py`` make, in one place, so both modes round alike.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ActuatorState", "AdcsState", "BeaconCentroid", "EphemerisState", "NS_PER_S", "PatStatus",
    "PointingCommand", "TrackEstimate", "clock_s", "stamp_s", "to_ns",
]

NS_PER_S = 1_000_000_000


def clock_s(now_ns: int) -> float:
    """A clock reading [ns] in seconds (what ``QsatPatNode.now_s`` returns)."""
    return now_ns * 1e-9


def stamp_s(stamp_ns: int) -> float:
    """A message stamp [ns] in seconds, as ``sec + nanosec * 1e-9`` (``convert.stamp_to_s``)."""
    return stamp_ns // NS_PER_S + (stamp_ns % NS_PER_S) * 1e-9


def to_ns(t_s: float) -> int:
    """A time [s] as a stamp [ns] (``convert.s_to_stamp``: rounded to the nanosecond).

    Raises
    ------
    ValueError
        ``t_s`` not finite or negative (no ROS stamp can hold it).
    """
    if not (t_s >= 0.0 and t_s != float("inf")):
        raise ValueError(f"time {t_s} s cannot be a ROS stamp (must be finite and >= 0)")
    return int(round(t_s * 1e9))


@dataclass(slots=True)
class BeaconCentroid:
    """``qsat_pat/BeaconCentroid``: the beacon on one frame (``roi``: x_offset, y_offset, width, height)."""

    stamp_ns: int = 0
    frame_id: str = ""
    camera_id: str = ""
    method: str = ""
    valid: bool = False
    reason: str = ""
    saturated: bool = False
    x_px: float = float("nan")
    y_px: float = float("nan")
    covariance_px2: tuple = (float("nan"),) * 4
    signal_e: float = float("nan")
    background_e: float = float("nan")
    peak_dn: float = float("nan")
    snr: float = float("nan")
    spot_area_px: float = 0.0
    roi: tuple = (0, 0, 0, 0)


@dataclass(slots=True)
class TrackEstimate:
    """``qsat_pat/TrackEstimate``: a line-of-sight track."""

    stamp_ns: int = 0
    frame_id: str = ""
    model: str = ""
    state: tuple = ()
    covariance: tuple = ()
    los_x_rad: float = 0.0
    los_y_rad: float = 0.0
    los_x_rate_radps: float = 0.0
    los_y_rate_radps: float = 0.0
    predicted_stamp_ns: int = 0
    predicted_x_rad: float = 0.0
    predicted_y_rad: float = 0.0
    predicted_covariance_rad2: tuple = (0.0,) * 4
    nis: float = float("nan")
    measurement_accepted: bool = False
    coasting: bool = False
    time_since_measurement_s: float = 0.0


@dataclass(slots=True)
class PointingCommand:
    """``qsat_pat/PointingCommand`` (stage and mode as ``core.control.Stage`` / ``Mode`` values)."""

    stamp_ns: int = 0
    frame_id: str = ""
    stage: int = 0
    mode: int = 0
    axis1_rad: float = 0.0
    axis2_rad: float = 0.0
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    reason: str = ""


@dataclass(slots=True)
class ActuatorState:
    """``qsat_pat/ActuatorState``: a stage's reading."""

    stamp_ns: int = 0
    frame_id: str = ""
    stage: int = 0
    mode: int = 0
    axis1_rad: float = 0.0
    axis2_rad: float = 0.0
    axis1_rate_radps: float = 0.0
    axis2_rate_radps: float = 0.0
    at_limit: bool = False
    holding: bool = False
    fault: bool = False
    fault_reason: str = ""
    command_age_s: float = 0.0


@dataclass(slots=True)
class PatStatus:
    """``qsat_pat/PatStatus`` (``since_ns``: the ``since`` stamp)."""

    stamp_ns: int = 0
    frame_id: str = ""
    terminal: str = ""
    state: int = 0
    state_name: str = ""
    previous_state: int = 0
    reason: str = ""
    since_ns: int = 0
    laser_enabled: bool = False
    inhibit_reason: str = ""


@dataclass(slots=True)
class EphemerisState:
    """``qsat_pat/EphemerisState``: the far terminal's direction, rates and point-ahead."""

    stamp_ns: int = 0
    frame_id: str = ""
    target: str = ""
    tle_age_s: float = 0.0
    az_rad: float = 0.0
    el_rad: float = 0.0
    el_refracted_rad: float = 0.0
    range_m: float = 0.0
    az_rate_radps: float = 0.0
    el_rate_radps: float = 0.0
    range_rate_mps: float = 0.0
    point_ahead_az_rad: float = 0.0
    point_ahead_el_rad: float = 0.0
    point_ahead_rad: float = 0.0
    sun_separation_rad: float = 0.0
    hwp_angle_rad: float = 0.0
    visible: bool = False


@dataclass(slots=True)
class AdcsState:
    """``qsat_pat/AdcsState`` (``attitude_wxyz``: body -> inertial quaternion; ``body_rate_radps``: x, y, z)."""

    stamp_ns: int = 0
    frame_id: str = ""
    attitude_wxyz: tuple = (1.0, 0.0, 0.0, 0.0)
    body_rate_radps: tuple = (0.0, 0.0, 0.0)
    wheel_speeds_radps: tuple = ()
    attitude_error_rad: float = 0.0
    knowledge_sigma_rad: float = 0.0
    mode: str = ""


#: wire class -> the fields of its message that it renames (message field -> wire field).
RENAMED = {
    TrackEstimate: {"predicted_stamp": "predicted_stamp_ns"},
    PatStatus: {"since": "since_ns"},
    AdcsState: {"attitude": "attitude_wxyz"},
}
#: Fields of a wire class that are not in the message body (the header's two).
HEADER_FIELDS = ("stamp_ns", "frame_id")
#: For tests and converters: every wire class.
ALL = (BeaconCentroid, TrackEstimate, PointingCommand, ActuatorState, PatStatus, EphemerisState, AdcsState)


def field_names(cls) -> tuple[str, ...]:
    """The wire fields of ``cls`` that mirror message fields (header excluded)."""
    return tuple(f for f in cls.__dataclass_fields__ if f not in HEADER_FIELDS)



def command_wire(cmd) -> PointingCommand:
    """A ``core.control.PointingCommand`` as a message (stamp: its time, not before 0)."""
    return PointingCommand(stamp_ns=to_ns(max(cmd.t_s, 0.0)), stage=int(cmd.stage), mode=int(cmd.mode),
                           axis1_rad=cmd.axis1_rad, axis2_rad=cmd.axis2_rad, axis1_rate_radps=cmd.axis1_rate_radps,
                           axis2_rate_radps=cmd.axis2_rate_radps, reason=cmd.reason)


def state_wire(st, frame_id: str = "") -> ActuatorState:
    """A ``core.control.ActuatorState`` as a message (stamp: its time, not before 0)."""
    return ActuatorState(stamp_ns=to_ns(max(st.t_s, 0.0)), frame_id=frame_id, stage=int(st.stage), mode=int(st.mode),
                         axis1_rad=st.axis1_rad, axis2_rad=st.axis2_rad, axis1_rate_radps=st.axis1_rate_radps,
                         axis2_rate_radps=st.axis2_rate_radps, at_limit=bool(st.at_limit), holding=bool(st.holding),
                         fault=bool(st.fault), fault_reason=st.fault_reason, command_age_s=st.command_age_s)
