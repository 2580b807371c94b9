"""Shared test set-up.

Every test session gets its own DDS domain (reserved with
:func:`qsat_pat.launcher.reserve_domain_id`, as simulations do) and localhost-only discovery,
so tests never talk to nodes of other sessions or runs on the same machine (and never leave it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

if "ROS_DOMAIN_ID" not in os.environ:
    # a domain reserved for the whole session (a lock file held until the process exits), the
    # allocator `qsat-pat sim` uses: concurrent sessions and simulations never share a domain
    from qsat_pat.launcher import reserve_domain_id

    _DOMAIN = reserve_domain_id(avoid=(0,))
    os.environ["ROS_DOMAIN_ID"] = str(_DOMAIN.domain_id)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
if str(REPO_ROOT / "test") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "test"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (CI clones the repo with shared/ beside it)")
    return SHARED


@pytest.fixture
def rclpy_context():
    """An initialised rclpy context for one test, shut down afterwards."""
    import rclpy

    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)
