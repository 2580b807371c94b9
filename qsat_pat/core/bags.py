"""rosbag2 bags without rosbag2: message types for the ``rosbags`` library.

``rosbags`` knows the standard ROS 2 Kilted types; the project's own (``qsat_pat/msg/*``)
and any other package's types are read from their ``.msg`` definitions, installed by
rosidl at ``<prefix>/share/<package>/msg/<Type>.msg`` for every prefix of the ROS
environment (the venv here, ``install/`` under colcon).  ROS-free: no rclpy import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from qsat_pat.core.errors import QsatPatError


class BagError(QsatPatError, ValueError):
    """A bag cannot be written or read, or a message type is unknown."""


def ros_prefixes(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Install prefixes to search for interface definitions: ``extra``, then
    ``AMENT_PREFIX_PATH``, then this Python's prefix (the venv)."""
    out: list[Path] = [Path(p) for p in extra]
    out += [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    out.append(Path(sys.prefix))
    seen: list[Path] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def _load_package(store: Typestore, package: str, prefixes: list[Path]) -> bool:
    for prefix in prefixes:
        msg_dir = prefix / "share" / package / "msg"
        if msg_dir.is_dir():
            types = {}
            for f in sorted(msg_dir.glob("*.msg")):
                types.update(get_types_from_msg(f.read_text(), f"{package}/msg/{f.stem}"))
            store.register(types)
            return True
    return False


def typestore_for(msgtypes: Iterable[str], prefixes: list[Path] | None = None) -> Typestore:
    """A Kilted typestore that also knows every type in ``msgtypes`` and what they nest.

    Parameters
    ----------
    msgtypes : iterable of str
        Types such as ``"qsat_pat/msg/BeaconCentroid"``.
    prefixes : list of Path, optional
        Where to look for ``share/<pkg>/msg/*.msg`` (default :func:`ros_prefixes`).

    Raises
    ------
    BagError
        If a type's package cannot be found in any prefix.
    """
    store = get_typestore(Stores.ROS2_KILTED)
    add_types(store, msgtypes, prefixes)
    return store


def add_types(store: Typestore, msgtypes: Iterable[str], prefixes: list[Path] | None = None) -> None:
    """Register the packages of ``msgtypes`` (and of their nested types) in ``store``."""
    prefixes = prefixes if prefixes is not None else ros_prefixes()
    pending = list(msgtypes)
    tried: set[str] = set()
    while pending:
        msgtype = pending.pop()
        if msgtype in store.fielddefs:
            try:
                store.generate_msgdef(msgtype)
                continue
            except KeyError as exc:  # a nested type is missing
                missing = str(exc).strip("'\"")
                if missing in tried:
                    raise BagError(f"type {missing} (nested in {msgtype}) not found") from None
                pending += [msgtype, missing]
                tried.add(missing)
                continue
        package = msgtype.split("/")[0]
        if package in tried or not _load_package(store, package, prefixes):
            raise BagError(
                f"no definition of {msgtype}: share/{package}/msg/ not found under "
                f"{[str(p) for p in prefixes]} (is the package built and its prefix in AMENT_PREFIX_PATH?)")
        tried.add(package)
        pending.append(msgtype)


_NUMPY_OF = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}


def _default(store: Typestore, node) -> Any:
    kind, detail = node
    if kind == Nodetype.BASE:
        name = detail[0]
        if name == "string":
            return ""
        if name == "bool":
            return False
        return 0.0 if name.startswith("float") else 0
    if kind == Nodetype.NAME:
        return make_message(store, detail)
    sub, size = detail
    if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY_OF:
        return np.zeros(size if kind == Nodetype.ARRAY else 0, dtype=_NUMPY_OF[sub[1][0]])
    return [_default(store, sub) for _ in range(size if kind == Nodetype.ARRAY else 0)]


def make_message(store: Typestore, msgtype: str, **fields: Any):
    """A ``rosbags`` message of ``msgtype`` with ``fields`` set and every other field at
    its default (zeros, empty strings, nested defaults), ready for ``serialize_cdr``.

    Numeric arrays and sequences may be given as lists or arrays (converted to the field's
    numpy dtype).  Raises BagError for unknown field names.
    """
    _, defs = store.fielddefs[msgtype]
    names = [n for n, _ in defs]
    unknown = set(fields) - set(names)
    if unknown:
        raise BagError(f"{msgtype} has no field(s) {sorted(unknown)}")
    values = {}
    for name, node in defs:
        if name in fields:
            v = fields[name]
            kind, detail = node
            if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE) and detail[0][0] == Nodetype.BASE \
                    and detail[0][1][0] in _NUMPY_OF:
                v = np.asarray(v, dtype=_NUMPY_OF[detail[0][1][0]])
            values[name] = v
        else:
            values[name] = _default(store, node)
    return store.types[msgtype](**values)


def time_msg(store: Typestore, t_ns: int):
    """``builtin_interfaces/msg/Time`` for integer nanoseconds."""
    return make_message(store, "builtin_interfaces/msg/Time", sec=int(t_ns // 1_000_000_000),
                        nanosec=int(t_ns % 1_000_000_000))
