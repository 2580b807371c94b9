"""Simulator scenarios (qsat_pat/sim/scenario.py, config/scenarios/*.yaml)."""

from __future__ import annotations

import math

import pytest
import yaml

from qsat_pat.core.errors import SimulationError
from qsat_pat.sim.orbit import OrbitTruth
from qsat_pat.sim.scenario import (
    BUILTIN_SCENARIOS,
    SECTIONS,
    load_scenario,
    scenario_dir,
    scenario_from_mapping,
)


def _nominal_mapping() -> dict:
    return yaml.safe_load((scenario_dir() / "nominal.yaml").read_text())


def test_every_builtin_scenario_file_exists_and_loads():
    files = sorted(p.stem for p in scenario_dir().glob("*.yaml"))
    assert files == sorted(BUILTIN_SCENARIOS)
    for name in BUILTIN_SCENARIOS:
        sc = load_scenario(name)
        assert sc.name == name
        assert sc.scenario.step_s > 0 and sc.scenario.duration_s > 0


@pytest.mark.parametrize("name, max_el_deg", [("nominal", 60.0), ("overhead", 89.0), ("low", 20.0)])
def test_pass_geometry_of_the_scenarios(name, max_el_deg):
    sc = load_scenario(name)
    orbit = OrbitTruth(sc.orbit, sc.site)
    p = orbit.pass_window(min_el_deg=5.0)
    assert math.degrees(p.max_el_rad) == pytest.approx(max_el_deg, abs=0.1)
    assert sc.orbit.altitude_m == pytest.approx(500e3)
    # the simulated span lies inside the pass above 5 deg
    start = orbit.tca_unix_s - sc.scenario.start_before_tca_s
    assert start >= p.aos_unix_s - 1.0 and start + sc.scenario.duration_s <= p.los_unix_s + 1.0


def test_scenario_specifics():
    assert load_scenario("clouds").clouds.enabled
    assert not load_scenario("nominal").clouds.enabled
    day = load_scenario("daytime")
    assert day.ogs_sky.daytime and day.space_sky.daytime
    assert not load_scenario("nominal").ogs_sky.daytime
    assert load_scenario("weak_beacon").downlink_beacon.power_w == pytest.approx(0.034)  # seed 002
    assert load_scenario("nominal").adcs.knowledge_sigma_rad()[0] == pytest.approx(50e-6)  # NanoBob §3


def test_round_trip_through_a_mapping(tmp_path):
    sc = load_scenario("nominal")
    again = scenario_from_mapping(sc.as_dict())
    for section in SECTIONS:
        assert getattr(again, section) == getattr(sc, section)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(sc.as_dict()))
    assert load_scenario(path).orbit == sc.orbit
    assert sc.replace("orbit", max_elevation_deg=45.0).orbit.max_elevation_deg == 45.0


def test_unknown_scenario_name_lists_the_builtin_ones():
    with pytest.raises(SimulationError, match=r"unknown scenario 'nomnal'.*nominal.*daytime"):
        load_scenario("nomnal")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("adcs"), r"missing section\(s\) \['adcs'\]"),
    (lambda d: d.__setitem__("weather", {}), r"unknown section\(s\) \['weather'\]"),
    (lambda d: d["orbit"].__setitem__("altitude_km", 500), r"section 'orbit'.*altitude_km"),
    (lambda d: d["orbit"].__setitem__("max_elevation_deg", 95.0), r"section 'orbit'.*max_elevation_deg.*out of range"),
    (lambda d: d["ogs_fine_camera"].__setitem__("rows", "many"), r"section 'ogs_fine_camera'.*rows must be int"),
    (lambda d: d["scenario"].pop("duration_s"), r"'scenario' is missing \['duration_s'\]"),
    (lambda d: d.__setitem__("clouds", [1, 2]), r"section 'clouds' must be a mapping"),
    (lambda d: d["adcs"].__setitem__("star_tracker", "hubble"), r"section 'adcs'.*star_tracker"),
    (lambda d: d["ogs_fine_camera"].__setitem__("roi", [100, 100, 64, 64]), r"section 'ogs_fine_camera'.*roi"),
])
def test_bad_scenario_files_are_refused_with_clear_messages(tmp_path, mutate, message):
    data = _nominal_mapping()
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SimulationError, match=message):
        load_scenario(str(path))


def test_unreadable_and_non_mapping_files(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("scenario: [unclosed\n")
    with pytest.raises(SimulationError, match="cannot read scenario file"):
        load_scenario(p)
    p.write_text("- just\n- a list\n")
    with pytest.raises(SimulationError, match="must be a YAML mapping"):
        load_scenario(p)
    with pytest.raises(SimulationError, match="does not exist"):
        load_scenario(tmp_path / "absent.yaml")


def _short_lockstep_run(seed: int, steps: int = 200):
    """Every plant stepped together at the scenario's 1 ms lockstep (what the integration does)."""

    from qsat_pat.sim.camera import received_power_w, signal_electrons
    from qsat_pat.sim.scenario import make_models, zenith_rad

    sc = load_scenario("nominal")
    m = make_models(sc, seed)
    dt = sc.scenario.step_s
    out = []
    for k in range(steps):
        t = m.t0_unix_s + k * dt
        st = m.orbit.state(t)
        z = zenith_rad(st.el_rad)
        tilt = m.ogs_turbulence.step(dt, z, (st.az_rate_radps * math.cos(st.el_rad), st.el_rate_radps))
        mount = m.ogs_mount.step(dt, (st.az_rad, st.el_rad), (st.az_rate_radps, st.el_rate_radps))
        fsm = m.ogs_fsm.step((0.0, 0.0), dt)
        irr = m.downlink_scintillation.step(dt, z)
        cloud = m.downlink_clouds.step(dt)
        if m.ogs_fine_camera.due(k * dt, dt):
            p = received_power_w(sc.downlink_beacon, st.range_m, st.el_rad, sc.ogs_fine_camera.aperture_m,
                                 irradiance_factor=irr, cloud_transmission=cloud)
            err = tilt + mount.los_offset_rad - fsm
            fr = m.ogs_fine_camera.render(k * dt, err, signal_electrons(p, sc.ogs_fine_camera, 850e-9), 0.0)
            out.append((fr.image.copy(), tilt.copy(), irr))
        if m.adcs is not None and k % 100 == 99:
            out.append((m.adcs.step(0.1).boresight_error_xy_rad,))
    return out


def test_make_models_is_reproducible_per_seed():
    pytest.importorskip("Basilisk", reason="Basilisk (bsk==2.12.1) is not installed")
    import numpy as np

    a = _short_lockstep_run(5)
    b = _short_lockstep_run(5)
    c = _short_lockstep_run(6)
    assert len(a) == len(b) == 202
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0][0], c[0][0])


def test_bad_seed_is_refused():
    from qsat_pat.sim.scenario import make_models

    with pytest.raises(SimulationError, match="seed"):
        make_models(load_scenario("nominal"), -3, with_adcs=False)
