"""Private ROS 2 domains (qsat_pat.launcher.reserve_domain_id): every simulation and test
session on a machine gets its own domain ID, held by a lock file while it runs and freed by
the kernel when its process dies."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from qsat_pat.core.errors import DeploymentError
from qsat_pat.launcher import DOMAIN_LOCK_DIR_ENV, PRIVATE_DOMAIN_IDS, reserve_domain_id


@pytest.fixture(autouse=True)
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(DOMAIN_LOCK_DIR_ENV, str(tmp_path / "locks"))
    return tmp_path / "locks"


def test_concurrent_reservations_get_different_ids():
    held = [reserve_domain_id() for _ in range(5)]
    try:
        ids = [r.domain_id for r in held]
        assert len(set(ids)) == 5 and all(i in PRIVATE_DOMAIN_IDS for i in ids)
        assert held[0].environment() == {"ROS_DOMAIN_ID": str(ids[0]), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    finally:
        for r in held:
            r.release()


def test_a_held_id_is_refused_and_free_again_after_release():
    r = reserve_domain_id(17)
    with pytest.raises(DeploymentError, match="domain ID 17 is in use by another run"):
        reserve_domain_id(17)
    r.release()
    with reserve_domain_id(17) as again:
        assert again.domain_id == 17


def test_avoid_and_range():
    everything_but_one = [d for d in PRIVATE_DOMAIN_IDS if d != 33]
    with reserve_domain_id(avoid=everything_but_one) as r:
        assert r.domain_id == 33
        with pytest.raises(DeploymentError, match="every domain ID in 1-101 is in use"):
            reserve_domain_id(avoid=everything_but_one)
    for bad in (0, 102, -1):
        with pytest.raises(DeploymentError, match="outside 1-101"):
            reserve_domain_id(bad)


def test_the_lock_of_a_killed_process_is_freed(lock_dir):
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; from qsat_pat.launcher import reserve_domain_id; "
                              "r = reserve_domain_id(55); print('held', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(DeploymentError, match="in use"):
            reserve_domain_id(55)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 10.0
    while True:  # bounded: the kernel drops the flock when the process is gone
        try:
            with reserve_domain_id(55) as r:
                assert r.domain_id == 55
            break
        except DeploymentError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
