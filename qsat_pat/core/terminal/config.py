"""One terminal's configuration: its nodes' parameters, read as ROS reads them.

A deployment gives each node parameter files (``config/*.yaml``, then the station file, then
what a launcher adds) and a ROS 2 node resolves them by its fully qualified name.
:func:`resolve_parameters` does the same resolution without ROS, and :class:`TerminalConfig`
holds the result for every node of a terminal as the nodes' own config dataclasses, so the
in-process simulation builds its decision objects from exactly the values the nodes get
(:meth:`TerminalConfig.node_parameters` writes them back as a parameter document).

Resolution (rcl's parameter files): each top-level key names nodes, ``/``-separated, where
``*`` matches one name token and ``**`` any number (``/**`` every node, ``/**/pat_manager``
every PAT manager, ``/ogs/pat_manager`` one); a key without a leading ``/`` is absolute.
Files apply in order and, within a file, keys in order: a later value wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qsat_pat.core.errors import ConfigError
from qsat_pat.core.params import ConfigBase

__all__ = ["TerminalConfig", "key_matches", "load_parameter_file", "resolve_parameters"]


def key_matches(key: str, fqn: str) -> bool:
    """Whether a parameter file's node key applies to the node ``fqn`` (module docstring)."""
    tokens = [t for t in key.strip().strip("/").split("/") if t]
    pattern = ""
    for tok in tokens:
        if tok == "**":
            pattern += "(/[^/]+)*"
        else:
            pattern += "/" + re.escape(tok).replace(r"\*", "[^/]*")
    return re.fullmatch(pattern or "/", fqn) is not None


def load_parameter_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{node key: {parameter: value}}`` of a ROS 2 parameter file (lists as tuples).

    Raises
    ------
    ConfigError
        Unreadable file, or a block without ``ros__parameters``.
    """
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"parameter file {p}: {exc}") from exc
    out = {}
    for key, block in doc.items():
        if not isinstance(block, Mapping) or "ros__parameters" not in block:
            raise ConfigError(f"parameter file {p}: {key!r} has no ros__parameters")
        out[str(key)] = {k: tuple(v) if isinstance(v, list) else v for k, v in (block["ros__parameters"] or {}).items()}
    return out


def resolve_parameters(fqn: str, sources: Iterable[str | Path | Mapping[str, Mapping[str, Any]]],
                       declared: Iterable[str] | None = None) -> dict[str, Any]:
    """The parameters a node named ``fqn`` gets from ``sources`` (files or ``{node key: params}``
    mappings, in order).  With ``declared``, only those names (a node ignores the others)."""
    names = None if declared is None else set(declared)
    values: dict[str, Any] = {}
    for source in sources:
        doc = source if isinstance(source, Mapping) else load_parameter_file(source)
        for key, params in doc.items():
            if key_matches(key, fqn):
                for k, v in params.items():
                    if names is None or k in names:
                        values[k] = tuple(v) if isinstance(v, list) else v
    return values


def _coerce(cls: type[ConfigBase], values: Mapping[str, Any]) -> dict[str, Any]:
    """YAML integers for float fields become floats (as a ROS parameter override would be taken)."""
    out = dict(values)
    for name, field in cls.__dataclass_fields__.items():
        if name in out and isinstance(field.default, float) and isinstance(out[name], int) \
                and not isinstance(out[name], bool):
            out[name] = float(out[name])
        if name in out and isinstance(field.default, tuple) and isinstance(out[name], tuple):
            d = field.default
            if d and isinstance(d[0], float):
                out[name] = tuple(float(v) for v in out[name])
    return out


@dataclass(frozen=True)
class TerminalConfig:
    """Every node of a terminal (or a deployment) with its resolved configuration.

    Attributes
    ----------
    nodes : dict
        Fully qualified node name -> the node's config dataclass instance.
    """

    nodes: dict[str, ConfigBase]

    @classmethod
    def resolve(cls, nodes: Mapping[str, tuple[type[ConfigBase], Iterable]]) -> TerminalConfig:
        """``{fqn: (config class, parameter sources)}`` -> the configs, each validated.

        Raises
        ------
        ConfigError
            A value the node would refuse (the message names the node).
        """
        out = {}
        for fqn, (config_class, sources) in nodes.items():
            values = resolve_parameters(fqn, sources, declared=config_class.__dataclass_fields__)
            try:
                out[fqn] = config_class.from_mapping(_coerce(config_class, values))
            except ConfigError as exc:
                raise ConfigError(f"{fqn}: {exc}") from exc
        return cls(out)

    def __getitem__(self, fqn: str) -> ConfigBase:
        return self.nodes[fqn]

    def node_parameters(self) -> dict[str, dict[str, Any]]:
        """``{fqn: {parameter: value}}``: every parameter of every node (a parameter document)."""
        return {fqn: cfg.as_dict() for fqn, cfg in self.nodes.items()}
