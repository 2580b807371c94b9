"""The report and plots of a simulated pass (``report.json`` + PNGs), from a SimRecord.

Definitions (per terminal, from its PAT state series and residuals):

* ``acquired``: the terminal reached FINE_TRACK at least once.
* ``acquisition_time_s``: from the first entry into ACQUIRE (the beacon search starts) to
  the first entry into FINE_TRACK; ``null`` if never acquired.
* ``fine_residual_rms_urad`` / ``fine_residual_p95_urad``: RMS and 95th percentile of the
  norm of the 2-axis fine residual (true line of sight minus pointing minus point-ahead
  set-point) over the samples in FINE_TRACK.
* ``time_in_state_s``: simulation time spent in each PAT state.
* ``fsm_saturation_fraction``: fraction of FINE_TRACK samples with the FSM at a range limit.
* ``beacon_loss_events``: entries into COAST (beacon lost while tracking).
* ``reacquisition_times_s``: for each loss, time from entering COAST to the next entry into
  FINE_TRACK (losses never recovered are left out and counted in ``unrecovered_losses``).
* ``link_loss_db``: min / mean / max of each terminal's receive link loss.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from qsat_pat.core.pat import PatState
from qsat_pat.sim.record import SimRecord, TerminalRecord

URAD = 1e-6


def _entries(states: np.ndarray, state: PatState) -> np.ndarray:
    """Sample indices where ``states`` enters ``state``."""
    is_state = states == int(state)
    prev = np.concatenate(([False], is_state[:-1]))
    return np.flatnonzero(is_state & ~prev)


def _dt(t: np.ndarray) -> np.ndarray:
    """Duration represented by each sample (forward difference; last = median step)."""
    if len(t) < 2:
        return np.zeros(len(t))
    d = np.diff(t)
    return np.concatenate((d, [np.median(d)]))


def terminal_metrics(rec: TerminalRecord) -> dict:
    """The per-terminal report fields (see the module docstring)."""
    t, states = rec["t_s"], rec["pat_state"]
    dt = _dt(t)
    fine = states == int(PatState.FINE_TRACK)
    resid = np.linalg.norm(rec["fine_residual_rad"], axis=1)
    acq_entries = _entries(states, PatState.ACQUIRE)
    fine_entries = _entries(states, PatState.FINE_TRACK)
    acquired = bool(fine.any())
    acq_time = None
    if acquired:
        t_start = t[acq_entries[0]] if len(acq_entries) else t[0]
        first_fine = t[fine_entries[0]] if len(fine_entries) else t[np.flatnonzero(fine)[0]]
        acq_time = float(first_fine - t_start)
    coast_entries = _entries(states, PatState.COAST)
    reacq, unrecovered = [], 0
    for i in coast_entries:
        later = fine_entries[fine_entries > i]
        if len(later):
            reacq.append(round(float(t[later[0]] - t[i]), 6))
        else:
            unrecovered += 1
    fine_resid = resid[fine & np.isfinite(resid)]
    loss = rec["link_loss_db"][np.isfinite(rec["link_loss_db"])]
    return {
        "acquired": acquired,
        "acquisition_time_s": None if acq_time is None else round(acq_time, 6),
        "fine_residual_rms_urad": float(np.sqrt(np.mean(fine_resid**2)) / URAD) if len(fine_resid) else None,
        "fine_residual_p95_urad": float(np.percentile(fine_resid, 95) / URAD) if len(fine_resid) else None,
        "time_in_state_s": {s.name: round(float(dt[states == int(s)].sum()), 6)
                            for s in PatState if (states == int(s)).any()},
        "fsm_saturation_fraction": float(rec["fsm_saturated"][fine].mean()) if fine.any() else 0.0,
        "beacon_loss_events": int(len(coast_entries)),
        "reacquisition_times_s": reacq,
        "unrecovered_losses": unrecovered,
        "beacon_detected_fraction": float(rec["beacon_detected"].mean()) if len(rec) else 0.0,
        "samples": len(rec),
        "link_loss_db": {"min": float(loss.min()), "mean": float(loss.mean()), "max": float(loss.max())}
        if len(loss) else None,
    }


def build_report(record: SimRecord) -> dict:
    """``report.json`` content for a finished SimRecord."""
    record.finish()
    terminals = {name: terminal_metrics(rec) for name, rec in record.terminals.items()}
    rtf = record.sim_duration_s / record.wall_time_s if record.wall_time_s > 0 else math.inf
    return {
        "scenario": record.scenario,
        "seed": record.seed,
        "mode": record.mode,
        "sim_duration_s": record.sim_duration_s,
        "wall_time_s": record.wall_time_s,
        "real_time_factor": rtf,
        "link_loss_db": {name: m["link_loss_db"] for name, m in terminals.items()},
        "disturbance_budget": record.disturbance_budget,
        "notes": record.notes,
        **terminals,
    }


def write_report(record: SimRecord, out_dir: Path) -> Path:
    """Write ``report.json`` into ``out_dir``; returns its path."""
    report = build_report(record)
    path = Path(out_dir) / "report.json"
    path.write_text(json.dumps(report, indent=2, allow_nan=False, default=_json_default) + "\n")
    return path


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_plots(record: SimRecord, out_dir: Path) -> list[Path]:
    """PNG plots: residual vs time, residual PSD, link loss vs time, PAT state timeline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import welch

    record.finish()
    out_dir = Path(out_dir)
    paths = []
    names = list(record.terminals)

    fig, axes = plt.subplots(len(names), 1, figsize=(10, 3.2 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        rec = record.terminals[name]
        fine = rec["pat_state"] == int(PatState.FINE_TRACK)
        r = rec["fine_residual_rad"] / URAD
        for k, lab in enumerate(("x", "y")):
            ax.plot(rec["t_s"], np.where(fine, r[:, k], np.nan), lw=0.5, label=f"{lab} (FINE_TRACK)")
        ax.set_ylabel(f"{name} fine residual [urad]")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("simulation time [s]")
    fig.suptitle(f"{record.scenario}: fine residual")
    paths.append(_save(fig, out_dir / "residual_vs_time.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in names:
        rec = record.terminals[name]
        fine = rec["pat_state"] == int(PatState.FINE_TRACK)
        if fine.sum() < 64:
            continue
        dt = float(np.median(np.diff(rec["t_s"])))
        r = rec["fine_residual_rad"][fine] / URAD
        for k, lab in enumerate(("x", "y")):
            f, p = welch(r[:, k] - r[:, k].mean(), fs=1.0 / dt, nperseg=min(4096, len(r)))
            ax.loglog(f[1:], p[1:], lw=0.8, label=f"{name} {lab}")
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel("residual PSD [urad^2/Hz]")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(f"{record.scenario}: fine residual PSD")
    paths.append(_save(fig, out_dir / "residual_psd.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    for name in names:
        rec = record.terminals[name]
        ax.plot(rec["t_s"], rec["link_loss_db"], lw=0.8, label=f"{name} receive")
    ax.set_xlabel("simulation time [s]")
    ax.set_ylabel("link loss [dB]")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{record.scenario}: link loss")
    paths.append(_save(fig, out_dir / "link_loss_vs_time.png"))

    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.9 * len(names)))
    colors = plt.get_cmap("tab10")
    for row, name in enumerate(names):
        rec = record.terminals[name]
        t, s = rec["t_s"], rec["pat_state"]
        if not len(t):
            continue
        change = np.flatnonzero(np.diff(s)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [len(s) - 1]))
        for a, b in zip(starts, ends):
            st = PatState(int(s[a]))
            ax.barh(row, t[b] - t[a] if b > a else _dt(t)[a], left=t[a], color=colors(int(st)), height=0.6)
    for st in PatState:
        ax.barh(-10, 0, color=colors(int(st)), label=st.name)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("simulation time [s]")
    ax.legend(ncol=5, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.set_title(f"{record.scenario}: PAT state timeline")
    paths.append(_save(fig, out_dir / "pat_state_timeline.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
