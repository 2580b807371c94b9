"""Two-line element sets: parse, validate, select, load and write TLEs (SGP4's input).

A TLE is checked before use -- line numbers, catalogue numbers, column layout, checksums
(modulo-10) -- and refused with an :class:`~qsat_pat.core.errors.EphemerisError` that says which
field is wrong; :func:`make_tle` writes one from orbital elements (the simulator's truth and
perturbed sets).  :mod:`qsat_pat.core.ephemeris` propagates them.

References
----------
Vallado et al., "Revisiting Spacetrack Report #3" (AIAA 2006-6753): the TLE format and SGP4.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sgp4.api import WGS72, Satrec
from sgp4.exporter import export_tle

from qsat_pat.core.constants import UNIX_EPOCH_JD
from qsat_pat.core.errors import EphemerisError

__all__ = ["Tle", "load_tle_file", "make_tle", "parse_tle", "parse_tle_text", "select_tle", "tle_checksum"]


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of the first 68 characters of a TLE line (digits, '-' counts 1)."""
    return sum(int(ch) if ch.isdigit() else (1 if ch == "-" else 0) for ch in line[:68]) % 10


_LINE1_RE = re.compile(r"^1 [ 0-9A-Z]{5}[A-Z ] .{8} [ 0-9]{5}\.[0-9 ]{8} ")
_LINE2_RE = re.compile(r"^2 [ 0-9A-Z]{5} [ 0-9]{3}\.[0-9 ]{4} [ 0-9]{3}\.[0-9 ]{4} [0-9]{7} ")


@dataclass(frozen=True)
class Tle:
    """A validated two-line element set.

    Build it with :func:`parse_tle` (two lines) or :func:`parse_tle_text` (a file's text).

    Attributes
    ----------
    name : str
        Satellite name (title line or ``"NORAD <number>"``).
    line1, line2 : str
        The element lines (69 characters each).
    satnum : str
        Catalogue number as written (alpha-5 allowed).
    epoch_unix_s : float
        Element epoch, UTC seconds since 1970-01-01.
    """

    name: str
    line1: str
    line2: str
    satnum: str
    epoch_unix_s: float
    satrec: Satrec = dataclasses.field(compare=False, repr=False)


def _check_line(line: str, number: int, check_checksum: bool) -> str:
    if not isinstance(line, str):
        raise EphemerisError(f"TLE line {number} must be a string, got {type(line).__name__}")
    line = line.rstrip("\r\n ")
    if len(line) != 69:
        raise EphemerisError(
            f"TLE line {number} has {len(line)} characters, expected 69: {line!r}; "
            "paste the line unchanged from the source (no wrapping or trimming)"
        )
    if line[0] != str(number):
        other = "2" if number == 1 else "1"
        if line[0] == other:
            raise EphemerisError(
                f"TLE lines are in the wrong order: line {number} starts with {other!r}; "
                "give line 1 (starting '1 ') before line 2 (starting '2 ')"
            )
        raise EphemerisError(f"TLE line {number} must start with '{number} ', got {line[:2]!r}")
    pattern = _LINE1_RE if number == 1 else _LINE2_RE
    if not pattern.match(line):
        raise EphemerisError(f"TLE line {number} is malformed (columns do not match the TLE format): {line!r}")
    if check_checksum:
        want = tle_checksum(line)
        if not line[68].isdigit() or int(line[68]) != want:
            raise EphemerisError(
                f"TLE line {number} checksum is {line[68]!r} but the line sums to {want}: "
                "the line is corrupted; fetch it again"
            )
    return line


def parse_tle(line1: str, line2: str, name: str | None = None, *, check_checksum: bool = True) -> Tle:
    """Validate two TLE lines and initialise SGP4.

    Parameters
    ----------
    line1, line2 : str
        The element lines in order (trailing whitespace is ignored).
    name : str, optional
        Satellite name; defaults to ``"NORAD <satnum>"``.
    check_checksum : bool
        Verify the modulo-10 checksums (only Vallado's deliberately broken test cases
        need False).

    Returns
    -------
    Tle

    Raises
    ------
    EphemerisError
        Wrong length, line order, column format, checksum, mismatched catalogue numbers,
        or elements outside their physical range.
    """
    l1 = _check_line(line1, 1, check_checksum)
    l2 = _check_line(line2, 2, check_checksum)
    if l1[2:7] != l2[2:7]:
        raise EphemerisError(
            f"TLE lines belong to different satellites ({l1[2:7]!r} vs {l2[2:7]!r}); give a matching pair"
        )
    try:
        inc_deg = float(l2[8:16])
        ecc = float("0." + l2[26:33].strip())
        mean_motion = float(l2[52:63])
    except ValueError as exc:
        raise EphemerisError(f"TLE line 2 has a non-numeric element ({exc}): {l2!r}") from None
    if not 0.0 <= inc_deg <= 180.0:
        raise EphemerisError(f"TLE inclination {inc_deg} deg is outside [0, 180] deg")
    if not 0.0 < mean_motion < 20.0:
        raise EphemerisError(f"TLE mean motion {mean_motion} rev/day is outside (0, 20)")
    if not 0.0 <= ecc < 1.0:
        raise EphemerisError(f"TLE eccentricity {ecc} is outside [0, 1)")
    try:
        satrec = Satrec.twoline2rv(l1, l2, WGS72)
    except (ValueError, IndexError) as exc:
        raise EphemerisError(f"SGP4 could not read the TLE ({exc}): {l1!r} / {l2!r}") from None
    epoch = (satrec.jdsatepoch - UNIX_EPOCH_JD) * 86400.0 + satrec.jdsatepochF * 86400.0
    satnum = l1[2:7].strip()
    label = name.strip() if name and name.strip() else f"NORAD {satnum}"
    return Tle(label, l1, l2, satnum, float(epoch), satrec)


def select_tle(sets: list[Tle], name: str = "") -> Tle:
    """The element set called ``name`` (TLE name or catalogue number) from ``sets``; the first
    one when ``name`` is empty or matches none (a text with one satellite needs no name)."""
    if name:
        for tle in sets:
            if name in (tle.name, tle.satnum):
                return tle
    return sets[0]


def parse_tle_text(text: str) -> list[Tle]:
    """All element sets in a text (two-line or three-line format, '0 ' name prefix allowed).

    Raises
    ------
    EphemerisError
        If no element set is found or any set is invalid (see :func:`parse_tle`).
    """
    lines = [ln.rstrip("\r\n ") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    out: list[Tle] = []
    i = 0
    name: str | None = None
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("1 ") and len(ln) >= 60:
            if i + 1 >= len(lines):
                raise EphemerisError(f"TLE line 1 at the end of the text has no line 2: {ln!r}")
            out.append(parse_tle(ln, lines[i + 1], name))
            name = None
            i += 2
        elif ln.startswith("2 ") and len(ln) >= 60:
            raise EphemerisError(
                f"TLE line 2 found before its line 1 (wrong line order): {ln!r}; put line 1 first"
            )
        else:
            name = ln[2:] if ln.startswith("0 ") else ln
            i += 1
    if not out:
        raise EphemerisError("no TLE found: expected lines starting '1 ' and '2 ' (69 characters each)")
    return out


def load_tle_file(path: str | Path, name: str | None = None) -> Tle:
    """The element set in a file, or the one whose name or catalogue number is ``name``.

    Raises
    ------
    EphemerisError
        If the file is missing or unreadable, holds no valid TLE, or ``name`` matches none.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise EphemerisError(f"cannot read TLE file {str(p)!r}: {exc.strerror}") from None
    sets = parse_tle_text(text)
    if name is None:
        return sets[0]
    for tle in sets:
        if name in (tle.name, tle.satnum):
            return tle
    raise EphemerisError(f"no TLE named {name!r} in {str(p)!r}; it has {[t.name for t in sets]}")


def make_tle(
    *,
    epoch_unix_s: float,
    inclination_rad: float,
    raan_rad: float,
    eccentricity: float,
    arg_perigee_rad: float,
    mean_anomaly_rad: float,
    mean_motion_radps: float,
    bstar_per_earth_radius: float = 0.0,
    satnum: int = 99999,
    name: str = "SIM",
) -> Tle:
    """A checksummed TLE from mean elements (for simulations and tests).

    Returns
    -------
    Tle
        Parsed back through :func:`parse_tle`, so it is exactly what a file would give.
    """
    vals = np.array([epoch_unix_s, inclination_rad, raan_rad, eccentricity, arg_perigee_rad,
                     mean_anomaly_rad, mean_motion_radps, bstar_per_earth_radius], dtype=float)
    if not np.all(np.isfinite(vals)):
        raise EphemerisError(f"make_tle got non-finite elements {vals.tolist()}")
    sat = Satrec()
    epoch_days_1950 = epoch_unix_s / 86400.0 + UNIX_EPOCH_JD - 2433281.5
    sat.sgp4init(WGS72, "i", int(satnum), epoch_days_1950, bstar_per_earth_radius, 0.0, 0.0,
                 eccentricity, arg_perigee_rad % (2 * math.pi), inclination_rad,
                 mean_anomaly_rad % (2 * math.pi), mean_motion_radps * 60.0, raan_rad % (2 * math.pi))
    try:
        line1, line2 = export_tle(sat)
    except ValueError as exc:
        raise EphemerisError(f"cannot format these elements as a TLE: {exc}") from None
    return parse_tle(line1, line2, name)
