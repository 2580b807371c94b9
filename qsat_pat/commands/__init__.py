"""Subcommands of ``qsat-pat``; each module has ``register(subparsers)`` (see qsat_pat.cli)."""
