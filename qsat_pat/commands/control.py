"""``qsat-pat control rejection`` and ``qsat-pat control acquisition``.

Thin front ends of the loop studies in :mod:`qsat_pat.analysis.control_studies` and
:mod:`qsat_pat.core.pat`.

Examples::

    qsat-pat control rejection --frequencies-hz 1,10,100 --camera-rate-hz 1000 --latency-frames 1 --json
    qsat-pat control acquisition --error-urad 2000 --scan spiral --seed 3 --json
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from qsat_pat.analysis.control_studies import rejection_curve
from qsat_pat.core.control import FineLoopConfig, ScanConfig
from qsat_pat.core.errors import ControlError
from qsat_pat.core.pat import simulate_acquisition

#: Upper bound on the simulated steps of one rejection point (keeps the command bounded).
MAX_STEPS = 200_000


def _frequencies(text: str) -> list[float]:
    try:
        freqs = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise ControlError(f"--frequencies-hz must be comma-separated numbers in Hz, got {text!r}") from None
    if not freqs:
        raise ControlError("--frequencies-hz is empty; give e.g. 1,10,100")
    bad = [f for f in freqs if not (math.isfinite(f) and f > 0)]
    if bad:
        raise ControlError(f"--frequencies-hz must be finite and > 0 Hz; got {bad}")
    return freqs


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``control rejection`` and ``control acquisition``."""
    p = subparsers.add_parser("control", help="fine-loop rejection curve and acquisition studies")
    sub = p.add_subparsers(dest="control_command", metavar="STUDY")
    sub.required = True

    r = sub.add_parser("rejection", help="sinusoidal disturbance rejection of the FSM fine loop vs frequency")
    r.add_argument("--frequencies-hz", required=True, help="comma-separated disturbance frequencies [Hz]")
    r.add_argument("--camera-rate-hz", type=float, default=1000.0, help="fine camera / loop rate [Hz]")
    r.add_argument("--latency-frames", type=int, default=1, help="frames between exposure and control")
    r.add_argument("--amplitude-urad", type=float, default=50.0, help="disturbance amplitude [urad]")
    r.add_argument("--compensation", choices=("smith", "none"), default="smith",
                   help="latency handling of the loop")
    r.add_argument("--periods", type=float, default=10.0, help="disturbance periods simulated per point")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=_rejection)

    a = sub.add_parser("acquisition", help="time from an open-loop error to FINE_TRACK (scan + coarse + fine)")
    a.add_argument("--error-urad", type=float, required=True, help="open-loop pointing error magnitude [urad]")
    a.add_argument("--scan", choices=("spiral", "raster"), default="spiral", help="acquisition scan pattern")
    a.add_argument("--cone-urad", type=float, default=2000.0, help="scan half-angle [urad]")
    a.add_argument("--seed", type=int, default=0, help="RNG seed (error direction and centroid noise)")
    a.add_argument("--timeout-s", type=float, default=120.0, help="give up after this long [s]")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(func=_acquisition)


def _rejection(args) -> int:
    freqs = _frequencies(args.frequencies_hz)
    if not (math.isfinite(args.camera_rate_hz) and 1.0 <= args.camera_rate_hz <= 1e5):
        raise ControlError(f"--camera-rate-hz {args.camera_rate_hz} must be in [1, 1e5] Hz")
    if not 0 <= args.latency_frames <= 1000:
        raise ControlError(f"--latency-frames {args.latency_frames} must be in 0..1000")
    if not (math.isfinite(args.amplitude_urad) and args.amplitude_urad > 0):
        raise ControlError(f"--amplitude-urad {args.amplitude_urad} must be > 0")
    if not (math.isfinite(args.periods) and 0.5 <= args.periods <= 1000):
        raise ControlError(f"--periods {args.periods} must be in [0.5, 1000]")
    nyquist = 0.5 * args.camera_rate_hz
    if max(freqs) >= nyquist:
        raise ControlError(f"frequency {max(freqs)} Hz is at or above the camera Nyquist rate {nyquist} Hz")
    loop = FineLoopConfig(rate_hz=args.camera_rate_hz, latency_compensation=args.compensation)
    points = rejection_curve(freqs, amplitude_rad=args.amplitude_urad * 1e-6, loop=loop,
                             latency_frames=args.latency_frames, periods=args.periods, max_steps=MAX_STEPS)
    rows = [{"frequency_hz": p.frequency_hz, "disturbance_rms_urad": p.disturbance_rms_rad * 1e6,
             "residual_rms_urad": p.residual_rms_rad * 1e6, "rejection_db": p.rejection_db} for p in points]
    out = {"camera_rate_hz": args.camera_rate_hz, "latency_frames": args.latency_frames,
           "compensation": args.compensation, "amplitude_urad": args.amplitude_urad, "points": rows}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"fine loop at {args.camera_rate_hz:g} Hz, latency {args.latency_frames} frame(s), "
              f"{args.compensation} compensation")
        print(f"{'f [Hz]':>10} {'dist rms [urad]':>16} {'resid rms [urad]':>17} {'rejection [dB]':>15}")
        for row in rows:
            print(f"{row['frequency_hz']:10.3g} {row['disturbance_rms_urad']:16.3f} "
                  f"{row['residual_rms_urad']:17.3f} {row['rejection_db']:15.1f}")
    return 0


def _acquisition(args) -> int:
    err = args.error_urad
    if not (math.isfinite(err) and 0 <= err <= 1e5):
        raise ControlError(f"--error-urad {err} must be in [0, 1e5] urad")
    if not (math.isfinite(args.cone_urad) and args.cone_urad > 0):
        raise ControlError(f"--cone-urad {args.cone_urad} must be > 0")
    if not (math.isfinite(args.timeout_s) and 0 < args.timeout_s <= 3600):
        raise ControlError(f"--timeout-s {args.timeout_s} must be in (0, 3600] s")
    rng = np.random.default_rng(args.seed)
    phi = float(rng.uniform(0.0, 2 * math.pi))
    error = err * 1e-6 * np.array([math.cos(phi), math.sin(phi)])
    scan = ScanConfig(pattern=args.scan, cone_radius_rad=args.cone_urad * 1e-6, step_rad=400e-6,
                      speed_radps=3e-3)
    res = simulate_acquisition(error, scan=scan, timeout_s=args.timeout_s, seed=args.seed)
    out = {
        "error_urad": err, "error_direction_rad": phi, "scan": args.scan, "seed": args.seed,
        "reached_fine_track": res.reached_fine,
        "time_to_detect_s": res.time_to_detect_s if math.isfinite(res.time_to_detect_s) else None,
        "time_to_fine_track_s": res.time_to_fine_s if math.isfinite(res.time_to_fine_s) else None,
        "error_at_handover_urad": (res.error_at_handover_rad * 1e6
                                   if math.isfinite(res.error_at_handover_rad) else None),
        "transitions": [{"t_s": tr.t_s, "from": tr.previous.name, "to": tr.state.name, "reason": tr.reason}
                        for tr in res.transitions],
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        if res.reached_fine:
            print(f"FINE_TRACK after {res.time_to_fine_s:.2f} s (beacon detected after "
                  f"{res.time_to_detect_s:.2f} s, error at handover {out['error_at_handover_urad']:.1f} urad)")
        else:
            print(f"FINE_TRACK not reached within {args.timeout_s:g} s")
        for tr in out["transitions"]:
            print(f"  {tr['t_s']:8.2f} s  {tr['from']} -> {tr['to']}: {tr['reason']}")
    return 0 if res.reached_fine else 1
