"""The ``qsat-pat`` command: one subcommand per capability.

Each capability keeps its subcommands in a module of :mod:`qsat_pat.commands` with a
``register(subparsers)`` function that adds its parsers and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning the exit code).  Errors derived
from :class:`~qsat_pat.core.errors.QsatPatError` are printed as one line on stderr with
exit code 2; nothing else is swallowed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from qsat_pat import __version__
from qsat_pat.core.errors import QsatPatError

#: Modules under qsat_pat.commands that add subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "qsat_pat.commands.up",
    "qsat_pat.commands.bag",
    "qsat_pat.commands.centroid",
    "qsat_pat.commands.link",
    "qsat_pat.commands.ephem",
    "qsat_pat.commands.track",
    "qsat_pat.commands.control",
    "qsat_pat.commands.sim",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all registered subcommands)."""
    parser = argparse.ArgumentParser(
        prog="qsat-pat",
        description="Pointing, acquisition and tracking for satellite QKD laser terminals.",
    )
    parser.add_argument("--version", action="version", version=f"qsat-pat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qsat-pat`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except QsatPatError as exc:
        print(f"qsat-pat {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
