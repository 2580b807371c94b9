"""What a simulated pass records: per-terminal time series, the common currency of the
simulator's two modes (direct, in-process; ROS, lockstep over DDS), the report, the plots
and the bag.

A :class:`TerminalRecord` is filled sample by sample (one sample per control step of that
terminal, or per camera frame, as the producer documents) with :meth:`TerminalRecord.append`
and frozen into numpy arrays with :meth:`TerminalRecord.finish`.  Angles in radians, time
in seconds of simulation time since the scenario start, losses in dB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qsat_pat.core.errors import SimulationError

#: Terminal names, as in the report and the namespaces (/ogs, /space).
TERMINALS = ("ogs", "space")

#: Per-sample fields of a terminal record: name -> (shape of one sample, dtype, meaning).
FIELDS: dict[str, tuple[tuple[int, ...], type, str]] = {
    "t_s": ((), float, "simulation time since scenario start [s]"),
    "pat_state": ((), int, "PAT state (qsat_pat.core.pat.PatState value)"),
    "true_los_rad": ((2,), float, "true line of sight of the far terminal, in the pointing frame [rad]"),
    "pointing_rad": ((2,), float, "where the terminal actually points (coarse + fine stage) [rad]"),
    "fine_residual_rad": ((2,), float, "true LOS minus pointing minus point-ahead set-point [rad]"),
    "fsm_rad": ((2,), float, "fast-steering-mirror deflection [rad]"),
    "fsm_saturated": ((), bool, "FSM at its range limit on an axis"),
    "beacon_detected": ((), bool, "the fine camera detected the beacon in this sample"),
    "beacon_blocked": ((), bool, "the beacon was blocked (clouds) in this sample"),
    "link_loss_db": ((), float, "optical link loss towards this terminal's receiver [dB]"),
    "turbulence_tilt_rad": ((2,), float, "angle-of-arrival tilt added by the atmosphere [rad]"),
    "elevation_rad": ((), float, "elevation of the line of sight at the OGS [rad]"),
}


@dataclass
class TerminalRecord:
    """Time series of one terminal; see :data:`FIELDS` for the columns."""

    name: str
    columns: dict[str, list] = field(default_factory=lambda: {k: [] for k in FIELDS})
    arrays: dict[str, np.ndarray] | None = None

    def append(self, **sample) -> None:
        """Add one sample; every field of :data:`FIELDS` must be given."""
        if self.arrays is not None:
            raise SimulationError(f"record {self.name} is finished; no more samples")
        missing = set(FIELDS) - set(sample)
        extra = set(sample) - set(FIELDS)
        if missing or extra:
            raise SimulationError(f"record {self.name}: missing {sorted(missing)}, unknown {sorted(extra)}")
        for k, v in sample.items():
            self.columns[k].append(v)

    def finish(self) -> TerminalRecord:
        """Freeze into numpy arrays (idempotent)."""
        if self.arrays is None:
            self.arrays = {}
            for k, (shape, dtype, _) in FIELDS.items():
                a = np.asarray(self.columns[k], dtype=dtype)
                self.arrays[k] = a.reshape((len(self.columns[k]), *shape))
        return self

    def __getitem__(self, key: str) -> np.ndarray:
        if self.arrays is None:
            raise SimulationError(f"record {self.name} is not finished")
        return self.arrays[key]

    def __len__(self) -> int:
        return len(self.columns["t_s"])


@dataclass
class SimRecord:
    """Everything a simulated pass produced, for the report, plots and bag."""

    scenario: str
    seed: int
    mode: str  # "direct" or "ros"
    terminals: dict[str, TerminalRecord]
    sim_duration_s: float
    wall_time_s: float
    disturbance_budget: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def finish(self) -> SimRecord:
        for rec in self.terminals.values():
            rec.finish()
        return self
