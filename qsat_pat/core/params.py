"""Validated, frozen configuration dataclasses: one source for core, nodes and YAML.

A core module describes its configuration once, as a frozen dataclass whose fields are
made with :func:`param`.  The same description then serves

* core code: constructing the dataclass validates every field (type, finiteness,
  range, choices) and raises :class:`~qsat_pat.core.errors.ConfigError` naming the
  field, the value and what is allowed;
* nodes: :mod:`qsat_pat.nodes.pattern` declares one ROS parameter per field with a
  ``ParameterDescriptor`` (description with unit, range, read-only) and, in the
  on-set callback, rebuilds the dataclass with the new value; a refused value keeps
  the old one;
* YAML parameter files: ``test/test_deployments.py`` checks that every key a file sets
  is a declared field.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class LoopConfig(ConfigBase):
...     rate_hz: float = param(100.0, "loop rate", unit="Hz", min_value=1.0, max_value=5e3)
>>> LoopConfig(rate_hz=1e4)
Traceback (most recent call last):
...
qsat_pat.core.errors.ConfigError: LoopConfig.rate_hz = 10000.0 Hz is out of range [1.0, 5000.0] Hz (loop rate)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from qsat_pat.core.errors import ConfigError

_META_KEY = "qsat_pat_param"


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """Metadata of one configuration field (what a ROS ParameterDescriptor carries)."""

    description: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    def describe(self) -> str:
        """Description with the unit, as shown by ``ros2 param describe``."""
        return f"{self.description} [{self.unit}]" if self.unit else self.description


def param(
    default: Any,
    description: str,
    *,
    unit: str = "",
    min_value: float | None = None,
    max_value: float | None = None,
    choices: tuple[str, ...] | None = None,
    read_only: bool = False,
) -> Any:
    """Declare a validated configuration field.

    Parameters
    ----------
    default : bool, int, float, str or tuple
        Default value; its Python type is the field's type (tuples are ROS arrays).
    description : str
        What the field means, without the unit.
    unit : str
        Unit of the value (SI unless the name says otherwise), empty if dimensionless.
    min_value, max_value : float, optional
        Inclusive numeric range (applied element-wise to tuples).
    choices : tuple of str, optional
        Allowed values of a string field.
    read_only : bool
        Optics constants and the like: settable from a parameter file only.
    """
    if isinstance(default, list):
        default = tuple(default)
    spec = ParamSpec(description, unit, min_value, max_value, choices, read_only)
    return dataclasses.field(default=default, metadata={_META_KEY: spec})


def param_spec(field: dataclasses.Field) -> ParamSpec:
    """The :class:`ParamSpec` of a dataclass field made with :func:`param`."""
    try:
        return field.metadata[_META_KEY]
    except KeyError:
        raise ConfigError(f"field {field.name!r} was not declared with param()") from None


def _kind(value: Any) -> type:
    if isinstance(value, (bool, np.bool_)):
        return bool
    if isinstance(value, (int, np.integer)):
        return int
    if isinstance(value, (float, np.floating)):
        return float
    if isinstance(value, str):
        return str
    if isinstance(value, tuple):
        return tuple
    raise ConfigError(f"unsupported parameter type {type(value).__name__}")


def _coerce(owner: str, field: dataclasses.Field, value: Any) -> Any:
    """Check one value against its field's default type, spec and range; return it coerced."""
    spec = param_spec(field)
    name = f"{owner}.{field.name}"
    unit = f" {spec.unit}" if spec.unit else ""
    want = _kind(field.default)
    if isinstance(value, list):
        value = tuple(value)
    got = _kind(value) if isinstance(
        value, (bool, np.bool_, int, np.integer, float, np.floating, str, tuple)
    ) else None
    if want is float and got is int:
        value, got = float(value), float
    if want is tuple and got is tuple:
        elems = value
    elif got is not want:
        raise ConfigError(
            f"{name} must be {want.__name__}, got {type(value).__name__} {value!r} ({spec.description})"
        )
    else:
        elems = (value,)
    if want is float:
        value = float(value)
    elif want is int:
        value = int(value)
    elif want is bool:
        value = bool(value)
    numeric = [e for e in elems if isinstance(e, (int, float, np.integer, np.floating))
               and not isinstance(e, (bool, np.bool_))]
    for e in numeric:
        if not math.isfinite(float(e)):
            raise ConfigError(f"{name} = {value!r}{unit} is not finite ({spec.description})")
        lo, hi = spec.min_value, spec.max_value
        if (lo is not None and e < lo) or (hi is not None and e > hi):
            rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]{unit}"
            raise ConfigError(f"{name} = {value!r}{unit} is out of range {rng} ({spec.description})")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{name} = {value!r} is not one of {list(spec.choices)} ({spec.description})")
    return value


class ConfigBase:
    """Mix-in for frozen configuration dataclasses whose fields use :func:`param`.

    Subclasses may override :meth:`check` for rules that involve several fields; it
    must raise :class:`ConfigError` with a message naming the fields.
    """

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _coerce(owner, f, getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Cross-field validation (none by default)."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]):
        """Build from a mapping (a YAML ``ros__parameters`` block); unknown keys are errors."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no parameter(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**dict(values))

    def subset(self, cls: type[ConfigBase]):
        """The part of this configuration that is a ``cls`` (a base it extends): a node's
        config -> the core config one of its objects takes."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in self.as_dict().items() if k in names})

    def replace(self, **changes: Any):
        """A validated copy with some fields changed (the original is untouched)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Field values by name (tuples stay tuples)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
