"""``qsat-pat link-budget``, ``key-rate``, ``modem bench`` and ``modem ranging``.

Examples::

    qsat-pat link-budget --model vector --wavelength-nm 850 --waist-mm 4 --rx-aperture-m 0.6 \\
        --altitude-km 560 --elevation-deg 20 --kappa-db 1.64 --fixed-loss-db 7.8 --pointing-rms-urad 0 --json
    qsat-pat key-rate --protocol bbm92 --loss-db 30,40,50 --dark-b-cps 100 --json
    qsat-pat modem bench --json
    qsat-pat modem ranging --rate-mbps 156.25 --jitter-ps 1000 --duration-s 1 --json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from qsat_pat.core import link, qkd
from qsat_pat.core.errors import LinkError
from qsat_pat.core.modem.framing import FrameConfig, measure_throughput
from qsat_pat.core.modem.ranging import RangingConfig, ranging_study


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LinkError(f"--loss-db must be a comma-separated list of numbers, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``link-budget``, ``key-rate`` and ``modem`` subcommands."""
    p = subparsers.add_parser("link-budget", help="optical link budget (Vector or NanoBob model)")
    p.add_argument("--model", choices=("vector", "nanobob"), default="vector")
    p.add_argument("--wavelength-nm", type=float, default=None, help="wavelength [nm]")
    p.add_argument("--waist-mm", type=float, default=4.0, help="vector: beam waist radius w0 [mm]")
    p.add_argument("--rx-aperture-m", type=float, default=None, help="receiver aperture diameter [m]")
    p.add_argument("--altitude-km", type=float, default=None, help="orbit altitude [km]")
    p.add_argument("--elevation-deg", type=float, default=90.0, help="elevation [deg]")
    p.add_argument("--kappa-db", type=float, default=0.92, help="vector: atmospheric loss per air mass [dB]")
    p.add_argument("--fixed-loss-db", type=float, default=7.8, help="vector: constant optical losses [dB]")
    p.add_argument("--pointing-rms-urad", type=float, default=0.0, help="vector: RMS pointing error [urad]")
    p.add_argument("--tx-aperture-m", type=float, default=1.0, help="nanobob: transmit telescope D_T [m]")
    p.add_argument("--r0-cm", type=float, default=20.0, help="nanobob: Fried parameter at zenith at 810 nm [cm]")
    p.add_argument("--atm-zenith-db", type=float, default=3.0, help="nanobob: A_atm,0 [dB]")
    p.add_argument("--tx-transmission", type=float, default=0.8, help="nanobob: T_T")
    p.add_argument("--rx-transmission", type=float, default=0.8, help="nanobob: T_R")
    p.add_argument("--pointing-loss", type=float, default=0.1, help="nanobob: L_P (fraction)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_link_budget)

    k = subparsers.add_parser("key-rate", help="QKD secret key rate vs link loss")
    k.add_argument("--protocol", required=True, help="bbm92 | bb84-decoy | cv")
    k.add_argument("--loss-db", required=True, help="comma-separated link losses [dB]")
    b = qkd.Bbm92Config()
    k.add_argument("--pair-rate-hz", type=float, default=b.pair_rate_hz)
    k.add_argument("--tau-s", type=float, default=b.tau_s)
    k.add_argument("--mu", type=float, default=None, help="mean pairs (bbm92) / photons (bb84-decoy) per window")
    k.add_argument("--eta-a", type=float, default=b.eta_a)
    k.add_argument("--eta-b", type=float, default=b.eta_b)
    k.add_argument("--detectors", type=int, default=b.detectors)
    k.add_argument("--dark-a-cps", type=float, default=b.dark_a_cps)
    k.add_argument("--dark-b-cps", type=float, default=b.dark_b_cps)
    k.add_argument("--background-cps", type=float, default=b.background_cps)
    k.add_argument("--ed", type=float, default=b.ed)
    k.add_argument("--f-ec", type=float, default=None, help="error-correction inefficiency f")
    k.add_argument("--q", type=float, default=b.q)
    d = qkd.DecoyBb84Config()
    k.add_argument("--clock-hz", type=float, default=d.clock_hz, help="bb84-decoy: pulse rate")
    k.add_argument("--eta-det", type=float, default=None, help="bb84-decoy/cv: detector efficiency")
    k.add_argument("--y0", type=float, default=d.y0, help="bb84-decoy: dark count probability per window")
    k.add_argument("--n-pulses", type=float, default=d.n_pulses, help="bb84-decoy: total pulses (0 = asymptotic)")
    k.add_argument("--pointing-rms-urad", type=float, default=0.0, help="bb84-decoy/cv: pointing jitter [urad]")
    k.add_argument("--divergence-urad", type=float, default=10.0, help="bb84-decoy/cv: beam divergence [urad]")
    c = qkd.CvQkdConfig()
    k.add_argument("--v-mod", type=float, default=c.v_mod, help="cv: modulation variance [SNU]")
    k.add_argument("--xi", type=float, default=c.xi, help="cv: excess noise [SNU]")
    k.add_argument("--v-el", type=float, default=c.v_el, help="cv: electronic noise [SNU]")
    k.add_argument("--beta", type=float, default=c.beta, help="cv: reconciliation efficiency")
    k.add_argument("--symbol-rate-hz", type=float, default=c.symbol_rate_hz, help="cv: symbol rate")
    k.add_argument("--json", action="store_true", help="print JSON")
    k.set_defaults(func=_key_rate)

    m = subparsers.add_parser("modem", help="optical modem tools")
    msub = m.add_subparsers(dest="modem_command", metavar="MODEM_COMMAND")
    msub.required = True
    mb = msub.add_parser("bench", help="software encode/decode throughput on this core")
    mb.add_argument("--frames", type=int, default=20000, help="frames per run")
    mb.add_argument("--repeats", type=int, default=3, help="runs (best is reported)")
    mb.add_argument("--line-rate-mbps", type=float, default=156.25, help="line rate to compare with [Mbit/s]")
    mb.add_argument("--fec-nsym", type=int, default=0, help="Reed-Solomon parity octets (0 = off)")
    mb.add_argument("--json", action="store_true", help="print JSON")
    mb.set_defaults(func=_bench)
    mr = msub.add_parser("ranging", help="two-way ranging precision from simulated frame markers")
    mr.add_argument("--rate-mbps", type=float, default=156.25, help="line rate [Mbit/s]")
    mr.add_argument("--jitter-ps", type=float, default=1000.0, help="RMS jitter of each time tag [ps]")
    mr.add_argument("--duration-s", type=float, default=1.0, help="simulated duration [s]")
    mr.add_argument("--normal-point-s", type=float, default=1.0, help="normal point duration [s]")
    mr.add_argument("--seed", type=int, default=0, help="random seed")
    mr.add_argument("--json", action="store_true", help="print JSON")
    mr.set_defaults(func=_ranging)


def _print(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2))
        return
    rows = obj if isinstance(obj, list) else [obj]
    for row in rows:
        print("  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


def _link_budget(args: argparse.Namespace) -> int:
    if not 0.0 < args.elevation_deg <= 90.0:
        raise LinkError(f"--elevation-deg must lie in (0, 90], got {args.elevation_deg}")
    el = math.radians(args.elevation_deg)
    if args.model == "vector":
        cfg = _cfg(link.VectorLinkConfig,
                   wavelength_m=(args.wavelength_nm or 850.0) * 1e-9, waist_m=args.waist_mm * 1e-3,
                   rx_aperture_m=args.rx_aperture_m or 0.6, altitude_m=(args.altitude_km or 560.0) * 1e3,
                   kappa_db=args.kappa_db, fixed_loss_db=args.fixed_loss_db,
                   pointing_rms_rad=args.pointing_rms_urad * 1e-6)
        budget = link.vector_link_budget(cfg, el)
    else:
        cfg = _cfg(link.NanobobLinkConfig,
                   wavelength_m=(args.wavelength_nm or 808.0) * 1e-9, tx_aperture_m=args.tx_aperture_m,
                   rx_aperture_m=args.rx_aperture_m or 0.15, r0_zenith_m=args.r0_cm * 1e-2,
                   tx_transmission=args.tx_transmission, rx_transmission=args.rx_transmission,
                   pointing_loss=args.pointing_loss, atm_zenith_db=args.atm_zenith_db,
                   altitude_m=(args.altitude_km or 550.0) * 1e3)
        budget = link.nanobob_link_budget(cfg, math.pi / 2 - el)
    out = {"model": args.model, **budget.as_dict(), "elevation_deg": args.elevation_deg}
    _print(out, args.json)
    return 0


def _cfg(cls, **values):
    """Build a config, turning parameter range errors into LinkError (non-physical input)."""
    from qsat_pat.core.errors import ConfigError

    try:
        return cls(**values)
    except ConfigError as exc:
        raise LinkError(str(exc)) from None


def _key_rate(args: argparse.Namespace) -> int:
    if args.protocol not in qkd.PROTOCOLS:
        raise LinkError(f"unknown protocol {args.protocol!r}; choose one of {list(qkd.PROTOCOLS)}")
    losses = _floats(args.loss_db)
    if args.protocol == "bbm92":
        mu = 0.1 if args.mu is None else args.mu
        cfg = _cfg(qkd.Bbm92Config, pair_rate_hz=args.pair_rate_hz, tau_s=args.tau_s, mu=mu, eta_a=args.eta_a,
                   eta_b=args.eta_b, detectors=args.detectors, dark_a_cps=args.dark_a_cps,
                   dark_b_cps=args.dark_b_cps, background_cps=args.background_cps, ed=args.ed,
                   f_ec=1.22 if args.f_ec is None else args.f_ec, q=args.q)
    elif args.protocol == "bb84-decoy":
        d = qkd.DecoyBb84Config()
        cfg = _cfg(qkd.DecoyBb84Config, clock_hz=args.clock_hz, mu=d.mu if args.mu is None else args.mu,
                   eta_det=d.eta_det if args.eta_det is None else args.eta_det, y0=args.y0, ed=args.ed,
                   pointing_rms_rad=args.pointing_rms_urad * 1e-6, divergence_rad=args.divergence_urad * 1e-6,
                   f_ec=d.f_ec if args.f_ec is None else args.f_ec, q=args.q, n_pulses=args.n_pulses)
    else:
        c = qkd.CvQkdConfig()
        cfg = _cfg(qkd.CvQkdConfig, symbol_rate_hz=args.symbol_rate_hz, v_mod=args.v_mod, xi=args.xi,
                   eta_det=c.eta_det if args.eta_det is None else args.eta_det, v_el=args.v_el, beta=args.beta,
                   pointing_rms_axis_rad=args.pointing_rms_urad * 1e-6, divergence_rad=args.divergence_urad * 1e-6)
    points = qkd.key_rate_curve(args.protocol, losses, cfg)
    rows = []
    for p in points:
        row = p.as_dict()
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print(rows, False)
    return 0


def _bench(args: argparse.Namespace) -> int:
    cfg = _cfg(FrameConfig, fec_nsym=args.fec_nsym, line_rate_bps=args.line_rate_mbps * 1e6)
    res = measure_throughput(args.frames, args.repeats, time.perf_counter, np.random.default_rng(0), cfg)
    out = {
        "encode_mbps": res.encode_line_bps / 1e6,
        "decode_mbps": res.decode_line_bps / 1e6,
        "encode_payload_mbps": res.encode_payload_bps / 1e6,
        "decode_payload_mbps": res.decode_payload_bps / 1e6,
        "line_rate_mbps": args.line_rate_mbps,
        "frames": res.frames,
        "frames_ok": res.frames_ok,
        "fec_nsym": args.fec_nsym,
    }
    _print(out, args.json)
    return 0


def _ranging(args: argparse.Namespace) -> int:
    if args.jitter_ps < 0 or args.rate_mbps <= 0 or args.duration_s <= 0:
        raise LinkError("--rate-mbps and --duration-s must be > 0 and --jitter-ps >= 0")
    cfg = _cfg(RangingConfig, line_rate_bps=args.rate_mbps * 1e6, jitter_s=args.jitter_ps * 1e-12,
               normal_point_s=min(args.normal_point_s, args.duration_s))
    s = ranging_study(cfg, args.duration_s, np.random.default_rng(args.seed))
    out = {
        "precision_mm": s.precision_m * 1e3,
        "bias_mm": s.bias_m * 1e3,
        "predicted_precision_mm": s.predicted_precision_m * 1e3,
        "formal_precision_mm": s.formal_precision_m * 1e3,
        "markers_per_s": s.markers_per_s,
        "normal_points": s.n_normal_points,
        "single_shot_rms_mm": s.single_shot_rms_m * 1e3,
        "clock_offset_error_ps": s.mean_clock_offset_error_s * 1e12,
    }
    _print(out, args.json)
    return 0
