"""Deterministic sample instances of every qsat_pat message (all fields non-default).

Used by test_messages.py in the test process and by its publisher subprocess, so both
sides build identical messages without sending the expected values any other way.
"""

from __future__ import annotations

import importlib

from rosidl_parser.definition import (
    AbstractNestedType,
    AbstractString,
    Array,
    BasicType,
    NamespacedType,
)

MESSAGE_NAMES = (
    "ActuatorState", "AdcsState", "BeaconCentroid", "EphemerisState",
    "ModemStats", "PatStatus", "PointingCommand", "TrackEstimate",
)


def _value(slot_type, seed: int):
    if isinstance(slot_type, BasicType):
        t = slot_type.typename
        if t == "boolean":
            return True
        if t in ("double", "float"):
            return seed * 0.5 + 0.25
        if t == "octet":
            return bytes([seed % 256])
        if t in ("char",):
            return chr(65 + seed % 26)
        if t.startswith(("int", "uint")):
            return seed % 100 + 1
        raise TypeError(t)
    if isinstance(slot_type, AbstractString):
        return f"s{seed}"
    if isinstance(slot_type, NamespacedType):
        return sample(".".join(slot_type.namespaces), slot_type.name, seed)
    if isinstance(slot_type, Array):
        return [_value(slot_type.value_type, seed + k) for k in range(slot_type.size)]
    if isinstance(slot_type, AbstractNestedType):
        return [_value(slot_type.value_type, seed + k) for k in range(3)]
    raise TypeError(slot_type)


def sample(module: str, name: str, seed: int = 1):
    """An instance of ``module.name`` with every field set from ``seed``."""
    cls = getattr(importlib.import_module(module), name)
    msg = cls()
    for k, (slot, slot_type) in enumerate(zip(msg.__slots__, cls.SLOT_TYPES)):
        field = slot.lstrip("_")
        if field == "check_fields":
            continue
        value = _value(slot_type, seed + 7 * k)
        if field == "nanosec":
            value = value % 1_000_000_000
        setattr(msg, field, value)
    return msg
