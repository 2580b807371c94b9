"""Golden record: short seeded in-process runs must not change under a pure move.

Two windows of the in-process loop (``run_direct``) are compared with the arrays stored in
``test/data/golden/``: a nominal window with acquisition and fine tracking, and a clouds
window with a blockage, coast and re-acquisition.  A restructuring that only moves code keeps
every sample: PAT states and detections exactly, angles to 1e-12 rad (a billionth of the
seed 004 < 3 urad budget; only a different CPU's floating-point dispatch could move them).

A commit that changes behaviour on purpose re-baselines the record and says why in its
message::

    QSAT_PAT_REBASELINE=1 .venv/bin/python -m pytest test/test_golden_record.py

The file ``test/data/golden/README.md`` keeps the history of re-baselines with reasons.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.sim.record import FIELDS, TERMINALS

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
#: name -> (scenario, seed, duration [s], start offset [s])
WINDOWS = {
    "nominal_acquisition": ("nominal", 4, 1.5, 230.0),
    "clouds_blockage": ("clouds", 195, 3.5, 230.0),
}
#: Angles and times agree to this [rad or s] (a pure move keeps them bit-identical).
FLOAT_ATOL = 1e-12


def _run(window: str):
    from qsat_pat.sim.loop import run_direct
    from qsat_pat.sim.scenario import load_scenario

    scenario, seed, duration_s, start_offset_s = WINDOWS[window]
    return run_direct(load_scenario(scenario), seed=seed, duration_s=duration_s, start_offset_s=start_offset_s)


def _arrays(record) -> dict[str, np.ndarray]:
    return {f"{name}.{key}": np.ascontiguousarray(record.terminals[name][key])
            for name in TERMINALS for key in FIELDS}


def digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array's name and bytes (what "identical" means)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_in_process_run_matches_the_golden_record(window):
    got = _arrays(_run(window))
    path = GOLDEN / f"{window}.npz"
    if os.environ.get("QSAT_PAT_REBASELINE") == "1":
        np.savez_compressed(path, **got)
        (GOLDEN / f"{window}.sha256").write_text(digest(got) + "\n")
        pytest.skip(f"re-baselined {path.name}: say why in the commit and in test/data/golden/README.md")
    assert path.is_file(), f"{path} missing: run with QSAT_PAT_REBASELINE=1 once"
    with np.load(path) as stored:
        want = {k: stored[k] for k in stored.files}
    assert sorted(got) == sorted(want), "record fields changed"
    for key in sorted(want):
        g, w = got[key], want[key]
        assert g.shape == w.shape, f"{window} {key}: {g.shape} samples, golden {w.shape}"
        if w.dtype.kind in "biu":
            mismatch = np.flatnonzero((g != w).reshape(len(w), -1).any(axis=1)) if len(w) else []
            assert not len(mismatch), (f"{window} {key}: {len(mismatch)} samples differ, first at index "
                                       f"{mismatch[0]}: {g[mismatch[0]]} vs golden {w[mismatch[0]]}")
        else:
            np.testing.assert_allclose(g, w, rtol=0.0, atol=FLOAT_ATOL, err_msg=f"{window} {key}")
    # the digest says whether the run was bit-identical (printed, not asserted: only a CPU with
    # another floating-point dispatch may differ in the last bits, within FLOAT_ATOL above)
    stored_digest = (GOLDEN / f"{window}.sha256").read_text().strip()
    print(window, "bit-identical" if digest(got) == stored_digest else "equal within tolerance")
