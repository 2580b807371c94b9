"""The simulator sets only its devices, its station and the TLEs (issue 13).

Everything a terminal decides -- loop gains, PAT thresholds, tracker noise and feed, offload,
scan, rates, timeouts -- comes from the deployment's parameter files, in the simulator as on a
station.  The simulator may describe the hardware it simulates (cameras, FSMs, the mount), the
station of its scenario and the TLEs the terminals are given: ``sim/parameters.py``'s
``DEVICE_KEYS`` lists those per node, and this test holds every scenario to it.
"""

from __future__ import annotations

import pytest

from qsat_pat.core.site import STATION_KEYS
from qsat_pat.deployments import DEPLOYMENTS
from qsat_pat.sim.parameters import DEVICE_KEYS, node_parameters
from qsat_pat.sim.scenario import load_scenario, scenario_dir

SCENARIOS = sorted(p.stem for p in scenario_dir().glob("*.yaml"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_simulator_sets_only_devices_station_and_tles(name):
    params = node_parameters(load_scenario(name))
    executables = {s.fqn: s.executable for s in DEPLOYMENTS["sim"].nodes}
    assert set(params.pop("/**")) == set(STATION_KEYS)  # the scenario's site is the station
    for fqn, values in params.items():
        exe = executables[fqn]
        extra = sorted(set(values) - DEVICE_KEYS[exe])
        assert not extra, f"{name}: the simulator sets {extra} of {fqn}: decisions belong in config/"


def test_the_simulator_configures_every_node_it_simulates_hardware_for():
    params = node_parameters(load_scenario("nominal"))
    lockstep = set(DEPLOYMENTS["sim"].lockstep)
    assert set(params) - {"/**"} <= lockstep
    # the cameras, FSMs and mount of the simulation are described to the nodes that use them
    for fqn in ("/ogs/beacon_imaging", "/ogs/coarse_imaging", "/space/beacon_imaging", "/ogs/fsm_controller",
                "/space/fsm_controller", "/ogs/gimbal_controller", "/ogs/ephemeris", "/space/adcs_pointing"):
        assert params[fqn], fqn
