"""Conversions between ROS messages and core values (the one place nodes do this, STYLE.md).

Core code works in SI floats and numpy arrays with time in seconds; messages carry
``builtin_interfaces/Time`` stamps and fixed-size arrays.
"""

from __future__ import annotations

import array
import dataclasses
import math
import struct
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from qsat_pat.core.errors import ImagingError
from qsat_pat.msg import (
    ModemStats,
)

if TYPE_CHECKING:  # annotations only: a node imports just the core modules it uses
    from qsat_pat.core.modem import ModemStatsReport
    from qsat_pat.core.modem.ranging import RangeEstimate

#: Image encodings the beacon cameras may use -> pixel dtype.
ENCODINGS = {"mono8": np.uint8, "8UC1": np.uint8, "mono16": np.uint16, "16UC1": np.uint16}


def stamp_to_s(stamp: Time) -> float:
    """``builtin_interfaces/Time`` -> seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(t_s: float) -> Time:
    """Seconds -> ``builtin_interfaces/Time`` (floor to the nanosecond; t_s must be >= 0)."""
    if not math.isfinite(t_s) or t_s < 0.0:
        raise ValueError(f"time {t_s} s cannot be a ROS stamp (must be finite and >= 0)")
    ns = int(round(t_s * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def ns_to_stamp(t_ns: int) -> Time:
    """Integer nanoseconds -> ``builtin_interfaces/Time``."""
    return Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)


def image_to_array(msg: Image) -> np.ndarray:
    """``sensor_msgs/Image`` (mono8/mono16/8UC1/16UC1) -> 2-D uint8/uint16 array (a copy).

    Raises
    ------
    ImagingError
        Unsupported encoding or data size inconsistent with height, width and step.
    """
    dtype = ENCODINGS.get(msg.encoding)
    if dtype is None:
        raise ImagingError(f"image encoding {msg.encoding!r} is not supported; use one of {sorted(ENCODINGS)}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    itemsize = np.dtype(dtype).itemsize
    if height < 1 or width < 1:
        raise ImagingError(f"image is {width}x{height} px (empty)")
    if step < width * itemsize:
        raise ImagingError(f"image step {step} B is shorter than a row ({width} px x {itemsize} B)")
    try:
        data = np.frombuffer(msg.data, dtype=np.uint8)  # array.array / bytes: no copy
    except TypeError:
        data = np.asarray(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ImagingError(f"image data has {data.size} B, expected step*height = {step * height} B")
    rows = data.reshape(height, step)[:, : width * itemsize]
    endian = ">" if msg.is_bigendian else "<"
    return np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(endian)).astype(dtype, copy=False).copy()


#: CDR encapsulation identifiers (OMG DDS-XTypes 1.3 §7.6.3.1.2): plain CDR, big / little endian.
_CDR_BYTE_ORDER = {b"\x00\x00": ">", b"\x00\x01": "<"}
#: Per byte order: (stamp sec, stamp nanosec, frame_id length), (height, width, encoding length), (step, data length).
_CDR_STRUCTS = {e: (struct.Struct(e + "iII"), struct.Struct(e + "III"), struct.Struct(e + "II")) for e in "<>"}


def image_from_cdr(buf: bytes, header: Header) -> SimpleNamespace | None:
    """The fields of a serialized ``sensor_msgs/Image`` without building the message.

    ``buf`` is what a ``raw=True`` subscription delivers: the 4-byte encapsulation header,
    then the fields in plain CDR (little or big endian; alignment counted from the end of
    the encapsulation header): ``header`` (stamp sec int32, nanosec uint32, frame_id string),
    height, width uint32, encoding string, is_bigendian uint8, step uint32, data uint8[].
    ``header`` is filled in (stamp and frame_id); the rest is returned with the attribute
    names of ``Image`` (``data`` a memoryview into ``buf``, no copy), to be converted by
    :func:`qsat_pat.nodes.convert.image_to_array` like a message.

    Returns None for another representation (e.g. XCDR2), which the caller hands to rclpy.

    Raises
    ------
    ImagingError
        Truncated or inconsistent data (a length running past the end of ``buf``).
    """
    endian = _CDR_BYTE_ORDER.get(bytes(buf[:2]))
    if endian is None:
        return None
    head, dims, tail = _CDR_STRUCTS[endian]
    size = len(buf)
    try:
        sec, nanosec, n = head.unpack_from(buf, 4)
        off = 16
        frame_id = bytes(buf[off:off + n - 1]).decode()
        off += n
        off += -(off - 4) % 4  # align to 4 (relative to the body)
        height, width, n = dims.unpack_from(buf, off)
        off += 12
        encoding = bytes(buf[off:off + n - 1]).decode()
        off += n
        is_bigendian = buf[off]
        off += 1
        off += -(off - 4) % 4
        step, n = tail.unpack_from(buf, off)
        off += 8
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ImagingError(f"serialized image of {size} B is truncated or corrupt: {exc}") from None
    if off + n > size:
        raise ImagingError(f"serialized image of {size} B declares {n} B of pixel data after byte {off}")
    header.stamp.sec, header.stamp.nanosec, header.frame_id = sec, nanosec, frame_id
    return SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step,
                           data=memoryview(buf)[off:off + n])


def array_to_image(image: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """2-D uint8/uint16 array -> ``sensor_msgs/Image`` (mono8/mono16, little-endian).

    Raises
    ------
    ImagingError
        Not a 2-D uint8 or uint16 array.
    """
    a = np.asarray(image)
    if a.ndim != 2 or a.dtype not in (np.uint8, np.uint16):
        raise ImagingError(f"image must be a 2-D uint8 or uint16 array, got {a.dtype} with shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding = "mono8" if a.dtype.itemsize == 1 else "mono16"
    msg.is_bigendian = 0
    msg.step = int(a.shape[1] * a.dtype.itemsize)
    msg.data = a.tobytes()
    return msg


# --- wire types (qsat_pat.core.terminal.wire) <-> messages: field copies, nothing computed ---------
def _wire_plan(wire_cls, msg_cls) -> list[tuple[str, str, str]]:
    """(message field, wire field, how) for every field of a message, how = its rosidl type."""
    from qsat_pat.core.terminal import wire

    renamed = wire.RENAMED.get(wire_cls, {})
    plan = []
    for name, kind in msg_cls.get_fields_and_field_types().items():
        if name == "header":
            continue
        plan.append((name, renamed.get(name, name), kind))
    return plan


_PLANS: dict = {}


def _plan(wire_cls, msg_cls):
    key = (wire_cls, msg_cls)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _wire_plan(wire_cls, msg_cls)
    return plan


def wire_to_msg(w, msg_cls, out=None):
    """A wire object -> its message (``out`` refilled if given): every field copied as it is."""
    msg = msg_cls() if out is None else out
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(w.stamp_ns), 1_000_000_000)
    msg.header.frame_id = w.frame_id
    for name, wname, kind in _plan(type(w), msg_cls):
        v = getattr(w, wname)
        if kind == "builtin_interfaces/Time":
            t = getattr(msg, name)
            t.sec, t.nanosec = divmod(int(v), 1_000_000_000)
        elif kind == "sensor_msgs/RegionOfInterest":
            r = msg.roi
            r.x_offset, r.y_offset, r.width, r.height = (int(x) for x in v)
            r.do_rectify = False
        elif kind == "geometry_msgs/Quaternion":
            q = getattr(msg, name)
            q.w, q.x, q.y, q.z = (float(x) for x in v)
        elif kind == "geometry_msgs/Vector3":
            vec = getattr(msg, name)
            vec.x, vec.y, vec.z = (float(x) for x in v)
        elif kind.startswith("sequence<double"):
            setattr(msg, name, array.array("d", v))
        elif kind.startswith("double["):
            setattr(msg, name, np.asarray(v, dtype=np.float64))
        else:
            setattr(msg, name, v)
    return msg


def msg_to_wire(msg, wire_cls):
    """A message -> its wire object (the header as ``stamp_ns`` and ``frame_id``)."""
    st = msg.header.stamp
    w = wire_cls(stamp_ns=int(st.sec) * 1_000_000_000 + int(st.nanosec), frame_id=msg.header.frame_id)
    for name, wname, kind in _plan(wire_cls, type(msg)):
        v = getattr(msg, name)
        if kind == "builtin_interfaces/Time":
            v = int(v.sec) * 1_000_000_000 + int(v.nanosec)
        elif kind == "sensor_msgs/RegionOfInterest":
            v = (int(v.x_offset), int(v.y_offset), int(v.width), int(v.height))
        elif kind == "geometry_msgs/Quaternion":
            v = (float(v.w), float(v.x), float(v.y), float(v.z))
        elif kind == "geometry_msgs/Vector3":
            v = (float(v.x), float(v.y), float(v.z))
        elif kind.startswith(("sequence<double", "double[")):
            v = tuple(float(x) for x in v)
        setattr(w, wname, v)
    return w


def modem_stats_to_msg(report: ModemStatsReport, stamp, estimate: RangeEstimate | None = None) -> ModemStats:
    """Core :class:`ModemStatsReport` (and a ranging normal point, if any) -> ``qsat_pat/ModemStats``."""
    msg = ModemStats()
    msg.header.stamp = stamp
    for f in dataclasses.fields(report):
        setattr(msg, f.name, getattr(report, f.name))
    if estimate is not None:
        msg.range_valid = True
        msg.range_m = estimate.range_m
        msg.range_rate_mps = estimate.range_rate_mps
        msg.clock_offset_s = estimate.clock_offset_s
    return msg
