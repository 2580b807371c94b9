"""The station description: one site, mask and weather that every node of a deployment reads.

A deployment names one station file (``config/stations/<name>.yaml``, a ROS 2 parameter file
whose ``/**`` block applies to every node): the ground station's geodetic position, the
elevation mask of its passes and the weather that refracts its line of sight.  Every node
that needs the station declares these parameters under these names (the ephemeris for
the apparent direction and passes, the gimbal controller for the Sun's position, the
satellite's attitude software for the station it points at), and no node's own parameter
file sets them, so a deployment cannot mix two stations (``test_deployments.py`` checks
it; found: the ``ogs`` deployment once pointed its ephemeris at Ngari and its gimbal's Sun
cone at Tenerife).  The simulator writes the scenario's site as such a file.

References
----------
seed 001 §3 (ESA OGS Tenerife, 28.30086 N 16.51172 W); seed 004 §2.2 (Ngari observatory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qsat_pat.core.errors import ConfigError
from qsat_pat.core.params import ConfigBase, param, param_spec

__all__ = ["STATION_KEYS", "StationConfig", "load_station", "station_field", "station_document"]


@dataclass(frozen=True)
class StationConfig(ConfigBase):
    """A ground station: where it is, which sky it uses, the air it looks through."""

    site_lat_deg: float = param(28.30086, "station geodetic latitude (WGS84), north positive (ESA OGS "
                                "Tenerife, seed 001 §3)", unit="deg", min_value=-90.0, max_value=90.0)
    site_lon_deg: float = param(-16.51172, "station longitude (WGS84), east positive", unit="deg",
                                min_value=-180.0, max_value=360.0)
    site_alt_m: float = param(2393.0, "station height above the WGS84 ellipsoid", unit="m", min_value=-500.0,
                              max_value=9000.0)
    min_el_deg: float = param(10.0, "elevation mask of the passes: the terminals track above it", unit="deg",
                              min_value=-5.0, max_value=89.0)
    pressure_hpa: float = param(770.0, "air pressure at the station, for refraction", unit="hPa", min_value=0.0,
                                max_value=1100.0)
    temperature_c: float = param(10.0, "air temperature at the station, for refraction", unit="degC",
                                 min_value=-60.0, max_value=60.0)


#: The parameter names a station file sets (and only it).
STATION_KEYS: tuple[str, ...] = tuple(StationConfig.__dataclass_fields__)


def station_field(name: str):
    """A config field declared exactly as :class:`StationConfig`'s ``name`` (same default, unit,
    range and description), for a node config that takes that part of the station."""
    field = StationConfig.__dataclass_fields__[name]
    spec = param_spec(field)
    return param(field.default, spec.description, unit=spec.unit, min_value=spec.min_value,
                 max_value=spec.max_value)


def load_station(path: str | Path) -> StationConfig:
    """Read a station file (a ROS 2 parameter file with one ``/**`` block).

    Raises
    ------
    ConfigError
        Missing file, not a station file, an unknown key or a bad value (the reason says which).
    """
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"station file {p}: {exc}") from exc
    try:
        values = doc["/**"]["ros__parameters"]
    except (KeyError, TypeError):
        raise ConfigError(f"station file {p}: expected a '/**: ros__parameters:' block") from None
    unknown = sorted(set(values) - set(STATION_KEYS))
    if unknown:
        raise ConfigError(f"station file {p}: unknown keys {unknown}; a station sets only {list(STATION_KEYS)}")
    missing = sorted(set(STATION_KEYS) - set(values))
    if missing:
        raise ConfigError(f"station file {p}: missing {missing}")
    return StationConfig(**{k: float(v) for k, v in values.items()})


def station_document(station: StationConfig, title: str) -> str:
    """A station file's text for ``station`` (what the simulator writes for a scenario's site)."""
    lines = [f"# {title}", "/**:", "  ros__parameters:"]
    lines += [f"    {k}: {float(getattr(station, k))!r}" for k in STATION_KEYS]
    return "\n".join(lines) + "\n"
