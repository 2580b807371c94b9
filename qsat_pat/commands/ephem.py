"""``qsat-pat ephem``, ``qsat-pat passes`` and ``qsat-pat calibrate stars``.

Thin command-line front ends of :mod:`qsat_pat.core.ephemeris`,
:mod:`qsat_pat.core.pointahead` and :mod:`qsat_pat.core.starcal`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qsat_pat.core.ephemeris import Ephemeris, EphemerisConfig, format_passes, load_tle_file, parse_site
from qsat_pat.core.errors import EphemerisError, ImagingError
from qsat_pat.core.starcal import calibrate_stars

EPHEM_COLUMNS = ("utc", "az_deg", "el_deg", "range_m", "az_rate_dps", "el_rate_dps", "range_rate_mps",
                 "pa_az_urad", "pa_el_urad", "pa_urad", "sun_sep_deg", "hwp_deg", "el_refracted_deg")
STAR_COLUMNS = ("alpha_deg", "beta_deg", "omega_c_dps", "theta_c_deg", "omega_f_pxps", "theta_f_deg")
MAX_ROWS = 5_000_000


def parse_utc(text: str) -> float:
    """ISO 8601 -> UTC POSIX seconds (a time without zone is taken as UTC).

    Raises
    ------
    EphemerisError
        If the text is not ISO 8601.
    """
    try:
        when = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise EphemerisError(f"start time {text!r} is not ISO 8601 (e.g. 2024-03-05T14:30:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ephemeris(args) -> Ephemeris:
    lat, lon, alt = parse_site(args.site)
    tle = load_tle_file(args.tle, args.name)
    cfg = EphemerisConfig(site_lat_deg=lat, site_lon_deg=lon, site_alt_m=alt,
                          min_el_deg=getattr(args, "min_el", 10.0), dut1_s=args.dut1,
                          pressure_hpa=args.pressure, temperature_c=args.temperature,
                          point_ahead_method=getattr(args, "method", "default"))
    return Ephemeris(tle, cfg)


def _finite_positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise EphemerisError(f"{name} must be a finite number > 0, got {value}")
    return value


def run_ephem(args) -> int:
    """Write the ephemeris table (CSV) of one satellite over a time span."""
    eph = _ephemeris(args)
    start = parse_utc(args.start)
    duration = _finite_positive("--duration", args.duration)
    step = _finite_positive("--step", args.step)
    n = int(math.floor(duration / step + 1e-9)) + 1
    if n > MAX_ROWS:
        raise EphemerisError(f"{n} rows requested (duration/step); the limit is {MAX_ROWS}: use a larger --step")
    t = start + step * np.arange(n)
    warning = eph.tle_age_warning(t[-1])
    if warning:
        print(f"qsat-pat ephem: warning: {warning}", file=sys.stderr)
    tr = eph.track(t)
    cols = [
        [_iso(x) for x in t], np.degrees(tr.az_rad), np.degrees(tr.el_rad), tr.range_m,
        np.degrees(tr.az_rate_radps), np.degrees(tr.el_rate_radps), tr.range_rate_mps,
        tr.point_ahead_az_rad * 1e6, tr.point_ahead_el_rad * 1e6, tr.point_ahead_rad * 1e6,
        np.degrees(tr.sun_separation_rad), np.degrees(tr.hwp_angle_rad), np.degrees(tr.el_refracted_rad),
    ]
    fmts = [None, "{:.6f}", "{:.6f}", "{:.3f}", "{:.6f}", "{:.6f}", "{:.4f}", "{:.4f}", "{:.4f}", "{:.4f}",
            "{:.4f}", "{:.4f}", "{:.6f}"]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        out.write(",".join(EPHEM_COLUMNS) + "\n")
        for i in range(n):
            out.write(",".join(c[i] if f is None else f.format(c[i]) for c, f in zip(cols, fmts)) + "\n")
    finally:
        if args.out:
            out.close()
    return 0


def run_passes(args) -> int:
    """List the passes above a mask over N days."""
    eph = _ephemeris(args)
    start = parse_utc(args.start)
    days = _finite_positive("--days", args.days)
    if days > eph.config.max_tle_age_days:
        raise EphemerisError(f"--days {days} exceeds the TLE validity limit of {eph.config.max_tle_age_days} days")
    warning = eph.tle_age_warning(start + days * 86400.0)
    if warning:
        print(f"qsat-pat passes: warning: {warning}", file=sys.stderr)
    passes = eph.passes(start, start + days * 86400.0)
    rows = format_passes(passes)
    if args.json:
        print(json.dumps({"satellite": eph.tle.name, "site": args.site, "min_el_deg": args.min_el,
                          "passes": rows}, indent=2))
    else:
        print(f"{'AOS (UTC)':25s} {'TCA (UTC)':25s} {'LOS (UTC)':25s} {'max el':>7s} {'dur s':>7s}")
        for r in rows:
            print(f"{r['aos_utc']:25s} {r['tca_utc']:25s} {r['los_utc']:25s} {r['max_el_deg']:7.2f} "
                  f"{r['duration_s']:7.1f}")
    return 0


def read_star_table(path: str | Path) -> dict[str, np.ndarray]:
    """Read a seed 004 Table 2 style CSV ('#' comment lines allowed; extra columns ignored).

    Raises
    ------
    ImagingError
        Missing file or columns, or non-numeric cells.
    """
    p = Path(path)
    try:
        lines = [ln for ln in p.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise ImagingError(f"cannot read star table {str(p)!r}: {exc.strerror}") from None
    rows = list(csv.DictReader(lines))
    if not rows:
        raise ImagingError(f"star table {str(p)!r} has no data rows")
    missing = [c for c in STAR_COLUMNS if c not in rows[0]]
    if missing:
        raise ImagingError(f"star table {str(p)!r} lacks column(s) {missing}; needs {list(STAR_COLUMNS)}")
    out = {}
    for c in (*STAR_COLUMNS, "theta_s_err_deg", "k_err_px_per_deg"):
        if c not in rows[0]:
            continue
        try:
            out[c] = np.array([float(r[c]) for r in rows])
        except (TypeError, ValueError):
            raise ImagingError(f"star table column {c!r} has a non-numeric cell") from None
    return out


def run_calibrate_stars(args) -> int:
    """Estimate theta_s and k from a star-drift table (seed 004 §2.3)."""
    tab = read_star_table(args.table)
    cal = calibrate_stars(*(tab[c] for c in STAR_COLUMNS), theta_s_err_deg=tab.get("theta_s_err_deg"),
                          k_err_px_per_deg=tab.get("k_err_px_per_deg"))
    if args.json:
        print(json.dumps(cal.as_dict(), indent=2))
    else:
        print(f"theta_s = {cal.theta_s_deg:.3f} +- {cal.theta_s_err_deg:.3f} deg")
        print(f"k       = {cal.k_px_per_deg:.1f} +- {cal.k_err_px_per_deg:.1f} px/deg")
        if cal.rejected:
            print(f"rejected stars (theta_s disagrees with the others): {list(cal.rejected)}")
    return 0


def _add_site_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tle", required=True, help="TLE file (two- or three-line format)")
    p.add_argument("--name", default=None, help="satellite name or catalogue number in the file (default: first)")
    p.add_argument("--site", required=True, help="ground site LAT_DEG,LON_DEG,ALT_M (WGS84)")
    p.add_argument("--start", required=True, help="start time, ISO 8601 (UTC if no zone)")
    p.add_argument("--dut1", type=float, default=0.0, help="UT1-UTC [s] (IERS Bulletin A), default 0")
    p.add_argument("--pressure", type=float, default=1010.0, help="air pressure for refraction [hPa]")
    p.add_argument("--temperature", type=float, default=10.0, help="air temperature for refraction [degC]")


def _calibrate_subparsers(subparsers) -> argparse._SubParsersAction:
    """The ``calibrate`` command's sub-parsers (created here or shared with other modules)."""
    existing = subparsers.choices.get("calibrate")
    if existing is None:
        cal = subparsers.add_parser("calibrate", help="calibrations (stars: point-ahead camera model)")
        sub = cal.add_subparsers(dest="calibrate_target", metavar="TARGET")
        sub.required = True
        return sub
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise EphemerisError("the 'calibrate' command exists without sub-commands; cannot add 'stars'")


def register(subparsers) -> None:
    """Add ``ephem``, ``passes`` and ``calibrate stars``."""
    p = subparsers.add_parser(
        "ephem", help="satellite az/el/range, rates, point-ahead, Sun separation, HWP angle",
        description=(
            "Ephemeris table of a satellite seen from a ground site. Columns: " + ", ".join(EPHEM_COLUMNS) + ". "
            "az/el are the apparent direction (light-time and station aberration applied) without refraction; "
            "el_refracted_deg adds refraction (--pressure, --temperature). range_m is the light-time range of "
            "the received beacon (satellite at emission to station at reception). pa_az_urad is the "
            "azimuth-axis point-ahead component as in seed 004 eq (1), i.e. BEFORE the cos(el) factor of "
            "eq (3); pa_el_urad the elevation component; pa_urad the total angle. --method seed004 uses the "
            "published eq (1)-(2) (Earth rotation dropped); default keeps it."),
    )
    _add_site_args(p)
    p.add_argument("--duration", type=float, required=True, help="span [s]")
    p.add_argument("--step", type=float, required=True, help="sample spacing [s]")
    p.add_argument("--out", default=None, help="output CSV (default: stdout)")
    p.add_argument("--method", choices=("default", "seed004", "reference"), default="default",
                   help="point-ahead model (default: inertial relative velocity, keeps Earth rotation)")
    p.set_defaults(func=run_ephem, min_el=10.0)

    p = subparsers.add_parser("passes", help="passes of a satellite above an elevation mask")
    _add_site_args(p)
    p.add_argument("--days", type=float, required=True, help="search span [days]")
    p.add_argument("--min-el", dest="min_el", type=float, default=10.0, help="elevation mask [deg]")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_passes)

    sub = _calibrate_subparsers(subparsers)
    p = sub.add_parser("stars", help="theta_s and k of the point-ahead camera model from star drifts (seed 004)",
                       description="TABLE.csv columns: " + ", ".join(STAR_COLUMNS) +
                       " (optional theta_s_err_deg, k_err_px_per_deg for weighting). Prints theta_s_deg, "
                       "theta_s_err_deg, k_px_per_deg, k_err_px_per_deg, per_star.")
    p.add_argument("table", help="star-drift table (CSV)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_calibrate_stars)
