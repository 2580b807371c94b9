"""Config dataclass fields -> ROS 2 parameters: the parameter type of a field's default and
its ``ParameterDescriptor`` (:func:`parameter_descriptor`: description with unit, numeric
range, choices, read-only), from the field's :func:`qsat_pat.core.params.param` spec.

Part of the node pattern (:mod:`qsat_pat.nodes.pattern`); the node side (declaring the
parameters, the on-set callback) is :class:`qsat_pat.nodes.base.QsatPatNode`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from qsat_pat.core.errors import ConfigError
from qsat_pat.core.params import param_spec


def _ros_type(default: Any) -> ParameterType:
    if isinstance(default, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(default, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(default, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(default, str):
        return ParameterType.PARAMETER_STRING
    if isinstance(default, tuple):
        if all(isinstance(v, str) for v in default) and default:
            return ParameterType.PARAMETER_STRING_ARRAY
        if all(isinstance(v, bool) for v in default) and default:
            return ParameterType.PARAMETER_BOOL_ARRAY
        if all(isinstance(v, int) and not isinstance(v, bool) for v in default) and default:
            return ParameterType.PARAMETER_INTEGER_ARRAY
        if default == ():
            return ParameterType.PARAMETER_STRING_ARRAY
        return ParameterType.PARAMETER_DOUBLE_ARRAY
    raise ConfigError(f"no ROS parameter type for default {default!r}")


def parameter_descriptor(field: dataclasses.Field) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of a config field (description, unit, range, read-only)."""
    spec = param_spec(field)
    ptype = _ros_type(field.default)
    desc = ParameterDescriptor(
        name=field.name, type=int(ptype), description=spec.describe(), read_only=spec.read_only)
    if spec.choices:
        desc.additional_constraints = f"one of: {', '.join(spec.choices)}"
    lo, hi = spec.min_value, spec.max_value
    if ptype in (ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_DOUBLE_ARRAY) and (
        lo is not None and hi is not None
    ):
        desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    elif ptype in (ParameterType.PARAMETER_INTEGER, ParameterType.PARAMETER_INTEGER_ARRAY) and (
        lo is not None and hi is not None
    ):
        desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    elif lo is not None or hi is not None:
        desc.additional_constraints = (desc.additional_constraints + "; " if desc.additional_constraints else "") + (
            f"range [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        )
    return desc
