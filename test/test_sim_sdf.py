"""Gazebo worlds (gazebo_worlds/*.sdf): valid SDF, names and limits matching the scenarios."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qsat_pat.sim.scenario import BUILTIN_SCENARIOS, load_scenario

ROOT = Path(__file__).resolve().parents[1]
WORLDS = sorted((ROOT / "gazebo_worlds").glob("*.sdf"))
IGN = shutil.which("ign")


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([IGN, "sdf", "-k", str(path.resolve())], capture_output=True, text=True, timeout=60)


def test_there_are_worlds():
    assert WORLDS, "gazebo_worlds/ has no .sdf file"


@pytest.mark.skipif(IGN is None, reason="`ign` (Debian ignition-tools + libsdformat) is not installed; "
                    "apt-get install ignition-tools libsdformat-dev")
@pytest.mark.parametrize("world", WORLDS, ids=lambda p: p.name)
def test_world_validates_with_sdformat(world):
    res = _validate(world)
    assert res.returncode == 0 and "Valid." in res.stdout, res.stdout + res.stderr


@pytest.mark.skipif(IGN is None, reason="`ign` is not installed")
def test_sdformat_rejects_a_joint_to_a_missing_link(tmp_path):
    text = WORLDS[0].read_text().replace("<child>ogs_tube</child>", "<child>ogs_tube_missing</child>", 1)
    bad = tmp_path / "bad.sdf"
    bad.write_text(text)
    assert _validate(bad).returncode != 0


def _model(root: ET.Element, name: str) -> ET.Element:
    models = {m.get("name"): m for m in root.iter("model")}
    assert name in models, f"model {name!r} not in the world (has {sorted(models)})"
    return models[name]


def _joint(model: ET.Element, name: str) -> ET.Element:
    joints = {j.get("name"): j for j in model.findall("joint")}
    assert name in joints, f"joint {name!r} not in model {model.get('name')!r} (has {sorted(joints)})"
    return joints[name]


def _links(model: ET.Element) -> set[str]:
    return {link.get("name") for link in model.findall("link")}


def _limit(joint: ET.Element, tag: str) -> float:
    return float(joint.find("axis/limit/" + tag).text)


@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS)
def test_names_and_limits_match_the_scenario(scenario):
    sc = load_scenario(scenario)
    n = sc.names
    path = ROOT / "gazebo_worlds" / sc.scenario.gazebo_world
    assert path.is_file(), f"scenario {scenario} names a missing world {path.name}"
    root = ET.parse(path).getroot()
    assert root.get("version") == "1.9"
    assert root.find("world").get("name") == n.world
    ogs = _model(root, n.ogs_model)
    assert {n.ogs_base_link, n.ogs_azimuth_link, n.ogs_elevation_link, n.ogs_fsm_link} <= _links(ogs)
    az = _joint(ogs, n.ogs_azimuth_joint)
    el = _joint(ogs, n.ogs_elevation_joint)
    assert (az.findtext("parent"), az.findtext("child")) == (n.ogs_base_link, n.ogs_azimuth_link)
    assert (el.findtext("parent"), el.findtext("child")) == (n.ogs_azimuth_link, n.ogs_elevation_link)
    assert _limit(el, "lower") == pytest.approx(sc.ogs_mount.elevation_min_rad)
    assert _limit(el, "upper") == pytest.approx(sc.ogs_mount.elevation_max_rad)
    assert _limit(az, "velocity") == pytest.approx(sc.ogs_mount.max_rate_radps)
    for jname in (n.ogs_fsm_tip_joint, n.ogs_fsm_tilt_joint):
        j = _joint(ogs, jname)
        assert _limit(j, "upper") == pytest.approx(sc.ogs_fsm.range_rad)
        assert _limit(j, "lower") == pytest.approx(-sc.ogs_fsm.range_rad)
    assert _joint(ogs, n.ogs_fsm_tilt_joint).findtext("child") == n.ogs_fsm_link

    space = _model(root, n.space_model)
    assert {n.space_bus_link, n.space_fsm_link, *n.space_wheel_links} <= _links(space)
    for jname, lname in zip(n.space_wheel_joints, n.space_wheel_links, strict=True):
        j = _joint(space, jname)
        assert (j.findtext("parent"), j.findtext("child")) == (n.space_bus_link, lname)
    for jname in (n.space_fsm_tip_joint, n.space_fsm_tilt_joint):
        assert _limit(_joint(space, jname), "upper") == pytest.approx(sc.space_fsm.range_rad)
    bus = next(link for link in space.findall("link") if link.get("name") == n.space_bus_link)
    inertia = [float(bus.findtext(f"inertial/inertia/{k}")) for k in ("ixx", "iyy", "izz")]
    assert inertia == pytest.approx(list(sc.adcs.inertia_diag_kgm2))
    assert float(bus.findtext("inertial/mass")) == pytest.approx(sc.adcs.mass_kg)
