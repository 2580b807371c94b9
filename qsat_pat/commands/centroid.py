"""``qsat-pat centroid``: centroid the beacon on image files (one JSON line per image).

Example::

    qsat-pat centroid frame.png other.npy --dark dark.npy --method default --json
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from qsat_pat.core.errors import ImagingError
from qsat_pat.core.imaging import BeaconImager, Calibration, ImagingConfig, load_frame


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``centroid`` subcommand."""
    p = subparsers.add_parser(
        "centroid",
        help="centroid the beacon spot on image files (PNG 8/16-bit, JPEG, TIFF, .npy)",
        description="Centroid the beacon spot on each image (qsat_pat.core.imaging). Pixel centres "
                    "are at integer coordinates, x right, y down (as OpenCV).",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="mono frame(s): .png/.jpg/.tif or .npy")
    p.add_argument("--dark", metavar="FILE", help="master dark frame (same size) subtracted first")
    p.add_argument("--dark-level", type=float, default=None, metavar="DN",
                   help="constant dark level [DN] subtracted instead of a dark file (e.g. 2 for the York frame)")
    p.add_argument("--method", choices=("default", "york"), default="default",
                   help="'default' (sub-pixel, Cramer-Rao covariance) or 'york' (seed 002 §II.1)")
    p.add_argument("--gain", type=float, default=None, metavar="E_PER_DN",
                   help="camera gain [e-/DN] (default: ImagingConfig default)")
    p.add_argument("--read-noise", type=float, default=None, metavar="E",
                   help="camera read noise [e-] (default: ImagingConfig default)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per image (the only output format; accepted for clarity)")
    p.set_defaults(func=run)


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run(args: argparse.Namespace) -> int:
    """Centroid each image and print one JSON line per image; exit 0 (2 on bad input)."""
    changes: dict = {"method": args.method}
    if args.gain is not None:
        changes["gain_e_per_dn"] = args.gain
    if args.read_noise is not None:
        changes["read_noise_e"] = args.read_noise
    config = ImagingConfig(**changes)
    if args.dark and args.dark_level is not None:
        raise ImagingError("give either --dark FILE or --dark-level DN, not both")
    calibration = Calibration(dark_dn=load_frame(args.dark)) if args.dark else Calibration()
    imager = BeaconImager(config, calibration)
    for path in args.images:
        frame = load_frame(path)
        if args.dark_level is not None:
            if not (math.isfinite(args.dark_level) and args.dark_level >= 0):
                raise ImagingError(f"--dark-level must be a finite level >= 0 DN, got {args.dark_level}")
            imager.calibration = Calibration(dark_dn=np.full(frame.shape, args.dark_level, np.float32))
        result = imager.process(frame)
        cov = result.covariance_px2
        line = {
            "file": str(path),
            "x_px": _num(result.x_px),
            "y_px": _num(result.y_px),
            "cov_px2": [[_num(cov[0, 0]), _num(cov[0, 1])], [_num(cov[1, 0]), _num(cov[1, 1])]],
            "snr": _num(result.snr),
            "signal_e": _num(result.signal_e),
            "background_e": _num(result.background_e),
            "valid": bool(result.valid),
            "reason": result.reason,
            "saturated": bool(result.saturated),
            "method": result.method,
        }
        print(json.dumps(line), flush=True)
    return 0
