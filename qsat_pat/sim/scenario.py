"""Simulator scenarios: one YAML file -> a frozen :class:`Scenario` of validated configs.

A scenario file has one mapping per section; every section is required (an empty
mapping ``{}`` takes that model's defaults), every key inside a section must be a field
of that section's config class (:mod:`qsat_pat.core.params`), and values are range
checked.  Any problem raises :class:`~qsat_pat.core.errors.SimulationError` naming the
file, the section and the field.

Sections and their config classes (:data:`SECTIONS`)::

    scenario                 ScenarioInfo        name, duration, step, seed, ...
    site                     EphemerisConfig     OGS site (core/ephemeris.py)
    orbit                    OrbitConfig         truth pass and terminals' TLE error
    adcs                     AdcsConfig          Basilisk spacecraft attitude
    ogs_mount                MountConfig         OGS az/el mount plant
    ogs_fsm, space_fsm       FsmConfig           FSM plants (core/control.py)
    ogs_turbulence           TurbulenceConfig    AoA jitter at the OGS aperture
    downlink_scintillation,  ScintillationConfig irradiance fluctuations
    uplink_scintillation
    clouds                   CloudConfig         Markov blockages (seed 002 breaks)
    ogs_sky, space_sky       SkyConfig           background radiance
    downlink_beacon,         BeaconConfig        beacon lasers (satellite -> OGS,
    uplink_beacon                                OGS -> satellite)
    ogs_coarse_camera,       CameraConfig        tracking cameras
    ogs_fine_camera,
    space_camera
    names                    ModelNames          link/joint names shared with gazebo_worlds/*.sdf

Built-in scenarios live in ``config/scenarios/<name>.yaml``: nominal, overhead, low,
weak_beacon, clouds, daytime.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from qsat_pat.core.control import FsmConfig
from qsat_pat.core.ephemeris import EphemerisConfig
from qsat_pat.core.errors import QsatPatError, SimulationError
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.sim.adcs import AdcsConfig, BasiliskAdcs, pointing_target
from qsat_pat.sim.atmosphere import (
    CloudConfig,
    CloudProcess,
    Scintillation,
    ScintillationConfig,
    SkyConfig,
    TurbulenceConfig,
    TurbulenceTilt,
)
from qsat_pat.sim.camera import BeaconConfig, CameraConfig, FrameSynth
from qsat_pat.sim.orbit import OrbitConfig, OrbitTruth
from qsat_pat.sim.plants import FsmPlant, MountConfig, MountPlant

__all__ = [
    "BUILTIN_SCENARIOS",
    "ModelNames",
    "SECTIONS",
    "Scenario",
    "ScenarioInfo",
    "load_scenario",
    "scenario_dir",
    "scenario_from_mapping",
    "SimModels",
    "make_models",
    "zenith_rad",
]

BUILTIN_SCENARIOS = ("nominal", "overhead", "low", "weak_beacon", "clouds", "daytime")


@dataclass(frozen=True)
class ScenarioInfo(ConfigBase):
    """What the run is: name, time span, step, seed."""

    name: str = param("unnamed", "scenario name (used in reports)")
    description: str = param("", "one-line description")
    start_before_tca_s: float = param(240.0, "simulation starts this long before closest approach",
                                      unit="s", min_value=0.0, max_value=3600.0)
    duration_s: float = param(480.0, "simulated time span", unit="s", min_value=0.1, max_value=7200.0)
    step_s: float = param(1e-3, "lockstep period of the simulator", unit="s", min_value=1e-4, max_value=1.0)
    seed: int = param(1, "default random seed (the command line may override it)", min_value=0,
                      max_value=2**31 - 1)
    gazebo_world: str = param("qsat_pat_pass.sdf", "SDF world in gazebo_worlds/ for sites with Gazebo")


@dataclass(frozen=True)
class ModelNames(ConfigBase):
    """Names of the SDF models, links and joints (gazebo_worlds/*.sdf must use exactly these)."""

    world: str = param("qsat_pat_pass", "SDF world name")
    ogs_model: str = param("ogs", "OGS model name")
    ogs_base_link: str = param("ogs_base", "fixed pier link")
    ogs_azimuth_link: str = param("ogs_fork", "link turned by the azimuth joint")
    ogs_elevation_link: str = param("ogs_tube", "telescope tube link turned by the elevation joint")
    ogs_azimuth_joint: str = param("ogs_azimuth_joint", "mount azimuth joint")
    ogs_elevation_joint: str = param("ogs_elevation_joint", "mount elevation joint")
    ogs_fsm_link: str = param("ogs_fsm_mirror", "OGS FSM mirror link")
    ogs_fsm_tip_joint: str = param("ogs_fsm_tip_joint", "OGS FSM tip (axis 1) joint")
    ogs_fsm_tilt_joint: str = param("ogs_fsm_tilt_joint", "OGS FSM tilt (axis 2) joint")
    space_model: str = param("space", "satellite model name")
    space_bus_link: str = param("bus", "satellite bus link")
    space_wheel_joints: tuple = param(("rw1_joint", "rw2_joint", "rw3_joint"), "reaction-wheel joints")
    space_wheel_links: tuple = param(("rw1", "rw2", "rw3"), "reaction-wheel rotor links")
    space_fsm_link: str = param("space_fsm_mirror", "satellite FSM mirror link")
    space_fsm_tip_joint: str = param("space_fsm_tip_joint", "satellite FSM tip joint")
    space_fsm_tilt_joint: str = param("space_fsm_tilt_joint", "satellite FSM tilt joint")


#: Section name -> config class.
SECTIONS: dict[str, type] = {
    "scenario": ScenarioInfo,
    "site": EphemerisConfig,
    "orbit": OrbitConfig,
    "adcs": AdcsConfig,
    "ogs_mount": MountConfig,
    "ogs_fsm": FsmConfig,
    "space_fsm": FsmConfig,
    "ogs_turbulence": TurbulenceConfig,
    "downlink_scintillation": ScintillationConfig,
    "uplink_scintillation": ScintillationConfig,
    "clouds": CloudConfig,
    "ogs_sky": SkyConfig,
    "space_sky": SkyConfig,
    "downlink_beacon": BeaconConfig,
    "uplink_beacon": BeaconConfig,
    "ogs_coarse_camera": CameraConfig,
    "ogs_fine_camera": CameraConfig,
    "space_camera": CameraConfig,
    "names": ModelNames,
}
#: Keys the ``scenario`` section must give explicitly.
REQUIRED_INFO_KEYS = ("name", "duration_s", "step_s")


@dataclass(frozen=True)
class Scenario:
    """A validated simulator scenario (every section a frozen config)."""

    scenario: ScenarioInfo
    site: EphemerisConfig
    orbit: OrbitConfig
    adcs: AdcsConfig
    ogs_mount: MountConfig
    ogs_fsm: FsmConfig
    space_fsm: FsmConfig
    ogs_turbulence: TurbulenceConfig
    downlink_scintillation: ScintillationConfig
    uplink_scintillation: ScintillationConfig
    clouds: CloudConfig
    ogs_sky: SkyConfig
    space_sky: SkyConfig
    downlink_beacon: BeaconConfig
    uplink_beacon: BeaconConfig
    ogs_coarse_camera: CameraConfig
    ogs_fine_camera: CameraConfig
    space_camera: CameraConfig
    names: ModelNames
    source: str = ""

    @property
    def name(self) -> str:
        """Scenario name."""
        return self.scenario.name

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested mapping (tuples as lists), loadable again by :func:`scenario_from_mapping`."""
        return {sec: {k: (list(v) if isinstance(v, tuple) else v) for k, v in getattr(self, sec).as_dict().items()}
                for sec in SECTIONS}

    def replace(self, section: str, **changes: Any) -> Scenario:
        """A copy with fields of one section changed (validated)."""
        if section not in SECTIONS:
            raise SimulationError(f"unknown scenario section {section!r}; sections: {list(SECTIONS)}")
        try:
            new = getattr(self, section).replace(**changes)
        except (QsatPatError, TypeError) as exc:
            raise SimulationError(f"scenario {self.name}: section {section!r}: {exc}") from None
        return dataclasses.replace(self, **{section: new})


def scenario_from_mapping(data: Any, source: str = "<mapping>") -> Scenario:
    """Validate a nested mapping (a parsed YAML file) into a :class:`Scenario`.

    Raises
    ------
    SimulationError
        Not a mapping, an unknown or missing section, an unknown field, a missing required
        ``scenario`` key, or a value of the wrong type or out of range.
    """
    if not isinstance(data, dict):
        raise SimulationError(f"{source}: a scenario must be a YAML mapping of sections, got "
                              f"{type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise SimulationError(f"{source}: unknown section(s) {unknown}; known sections: {list(SECTIONS)}")
    missing = [s for s in SECTIONS if s not in data]
    if missing:
        raise SimulationError(f"{source}: missing section(s) {missing}; give each (an empty mapping {{}} "
                              "takes the defaults)")
    info = data["scenario"]
    if not isinstance(info, dict):
        raise SimulationError(f"{source}: section 'scenario' must be a mapping")
    missing_keys = [k for k in REQUIRED_INFO_KEYS if k not in info]
    if missing_keys:
        raise SimulationError(f"{source}: section 'scenario' is missing {missing_keys}")
    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        values = data[section]
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise SimulationError(f"{source}: section {section!r} must be a mapping of fields, "
                                  f"got {type(values).__name__}")
        try:
            built[section] = cls.from_mapping(values)
        except (QsatPatError, TypeError) as exc:
            raise SimulationError(f"{source}: section {section!r}: {exc}") from None
    return Scenario(**built, source=source)


def scenario_dir() -> Path:
    """Directory of the built-in scenarios (``$QSAT_PAT_SCENARIO_DIR`` overrides)."""
    env = os.environ.get("QSAT_PAT_SCENARIO_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for cand in (here.parents[2] / "config" / "scenarios",
                 here.parents[1] / "share" / "qsat_pat" / "config" / "scenarios"):
        if cand.is_dir():
            return cand
    return here.parents[2] / "config" / "scenarios"


def load_scenario(name_or_path: str | os.PathLike) -> Scenario:
    """Load a built-in scenario by name, or a scenario YAML file by path.

    Raises
    ------
    SimulationError
        Unknown name (the message lists the built-in ones), unreadable file, invalid YAML or
        any validation error of :func:`scenario_from_mapping`.
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or os.sep in text or path.is_file()):
        path = scenario_dir() / f"{text}.yaml"
        if not path.is_file():
            raise SimulationError(f"unknown scenario {text!r}; built-in scenarios: {list(BUILTIN_SCENARIOS)} "
                                  f"(in {scenario_dir()}), or give a path to a .yaml file")
    if not path.is_file():
        raise SimulationError(f"scenario file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SimulationError(f"cannot read scenario file {str(path)!r}: {exc}") from None
    return scenario_from_mapping(data, source=str(path))


@dataclass
class SimModels:
    """Every plant of one run, built from a scenario and one seed (see :func:`make_models`).

    The integration (direct loop or the ROS simulator node) owns the time loop and calls each
    model's ``step(dt_s, ...)``; none of them reads a clock.
    """

    scenario: Scenario
    seed: int
    t0_unix_s: float
    orbit: OrbitTruth
    adcs: BasiliskAdcs | None
    ogs_mount: MountPlant
    ogs_fsm: FsmPlant
    space_fsm: FsmPlant
    ogs_turbulence: TurbulenceTilt
    downlink_scintillation: Scintillation
    uplink_scintillation: Scintillation
    downlink_clouds: CloudProcess
    ogs_coarse_camera: FrameSynth
    ogs_fine_camera: FrameSynth
    space_camera: FrameSynth


#: Order of the independent random streams spawned from the run seed (adding a model at the
#: end keeps the other streams unchanged).
RNG_STREAMS = ("adcs", "ogs_turbulence", "downlink_scintillation", "uplink_scintillation", "clouds",
               "ogs_coarse_camera", "ogs_fine_camera", "space_camera")


def make_models(scenario: Scenario, seed: int | None = None, *, with_adcs: bool = True) -> SimModels:
    """Build all plants of a run with independent, reproducible random streams.

    Parameters
    ----------
    scenario : Scenario
    seed : int, optional
        Run seed (default ``scenario.scenario.seed``); ``numpy.random.SeedSequence(seed).spawn``
        gives one generator per model (:data:`RNG_STREAMS`).
    with_adcs : bool
        Build the Basilisk attitude simulation (needs ``bsk``); False leaves ``adcs=None``.

    Returns
    -------
    SimModels
        The mount starts on the truth direction of the satellite at the start time, the
        spacecraft on the truth direction of the OGS (both then err by the TLE error once the
        PAT software drives them from its own ephemeris).

    Raises
    ------
    SimulationError
        Bad seed, or a model that cannot be built from the scenario.
    """
    seed = scenario.scenario.seed if seed is None else seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
    streams = dict(zip(RNG_STREAMS, (np.random.default_rng(s) for s in
                                     np.random.SeedSequence(int(seed)).spawn(len(RNG_STREAMS))), strict=True))
    orbit = OrbitTruth(scenario.orbit, scenario.site)
    t0 = orbit.tca_unix_s - scenario.scenario.start_before_tca_s
    st = orbit.state(t0)
    adcs = None
    if with_adcs:
        adcs = BasiliskAdcs(scenario.adcs, streams["adcs"], initial_target=pointing_target(
            st.los_sat_to_site_teme, st.los_sat_to_site_rate_teme_ps, st.orbit_normal_teme))
    cam = scenario.ogs_fine_camera
    turb = TurbulenceTilt(scenario.ogs_turbulence, cam.aperture_m, scenario.downlink_beacon.wavelength_m,
                          streams["ogs_turbulence"])
    return SimModels(
        scenario=scenario, seed=int(seed), t0_unix_s=t0, orbit=orbit, adcs=adcs,
        ogs_mount=MountPlant(scenario.ogs_mount, position_rad=(st.az_rad, st.el_rad)),
        ogs_fsm=FsmPlant(scenario.ogs_fsm), space_fsm=FsmPlant(scenario.space_fsm),
        ogs_turbulence=turb,
        downlink_scintillation=Scintillation(scenario.downlink_scintillation, streams["downlink_scintillation"]),
        uplink_scintillation=Scintillation(scenario.uplink_scintillation, streams["uplink_scintillation"]),
        downlink_clouds=CloudProcess(scenario.clouds, streams["clouds"]),
        ogs_coarse_camera=FrameSynth(scenario.ogs_coarse_camera, streams["ogs_coarse_camera"]),
        ogs_fine_camera=FrameSynth(scenario.ogs_fine_camera, streams["ogs_fine_camera"]),
        space_camera=FrameSynth(scenario.space_camera, streams["space_camera"]),
    )


def zenith_rad(el_rad: float) -> float:
    """Zenith angle of an elevation [rad], clipped to [0, pi/2)."""
    return min(max(math.pi / 2 - el_rad, 0.0), math.pi / 2 - 1e-3)
