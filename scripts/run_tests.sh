#!/usr/bin/env bash
# The whole test suite (called by `make test` after set-up). Extra arguments go to pytest.
# Exit code: pytest's; "no tests collected" (5) is a failure too.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export MPLBACKEND=Agg MPLCONFIGDIR="${TMPDIR:-/tmp}/qsat_pat_mpl"
"$ROOT/.venv/bin/python" -m pytest "$@"
