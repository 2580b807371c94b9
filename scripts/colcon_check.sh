#!/usr/bin/env bash
# Builds qsat_pat with `colcon build` as a real ROS 2 user would, against the venv as the
# ROS underlay, then checks the install space: interfaces and Python code importable from
# it, node entry scripts where `ros2 run` looks, launch/config installed, a node runs.
# Usage: scripts/colcon_check.sh [WORKDIR]   (default build/colcon_check; removed first)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
WS="${1:-$ROOT/build/colcon_check}"
[ -x "$VENV/bin/colcon" ] || { echo "colcon is not installed in $VENV (requirements/ros.txt)" >&2; exit 1; }
rm -rf "$WS"; mkdir -p "$WS/src"
# colcon builds from a copy of the tracked files, as from a fresh checkout
mkdir -p "$WS/src/qsat_pat" && (cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$WS/src/qsat_pat/")
cd "$WS"
export PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV"
colcon build --base-paths src --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
  > "$WS/colcon_build.log" 2>&1 || { tail -40 "$WS/colcon_build.log" >&2; exit 1; }
INST="$WS/install/qsat_pat"
SITE="$INST/lib/python3.11/site-packages"
for f in "$INST/lib/qsat_pat/bag_recorder" "$INST/bin/qsat-pat" "$INST/share/qsat_pat/package.xml" \
         "$INST/share/qsat_pat/launch/ogs.launch.py" "$INST/share/qsat_pat/config/recorder.yaml" \
         "$SITE/qsat_pat/msg/_beacon_centroid.py" "$SITE/qsat_pat/core/params.py"; do
  [ -e "$f" ] || { echo "colcon install space lacks $f" >&2; exit 1; }
done
cd "$WS"
PYTHONPATH="$SITE" AMENT_PREFIX_PATH="$INST:$VENV" "$VENV/bin/python" - <<'PY'
import qsat_pat, qsat_pat.core.params, qsat_pat.launcher
from qsat_pat.msg import BeaconCentroid, TrackEstimate
assert qsat_pat.core.params.__file__.startswith(qsat_pat.__path__[0]), qsat_pat.__path__
assert "install/qsat_pat" in qsat_pat.core.params.__file__, qsat_pat.core.params.__file__
share = qsat_pat.launcher.share_dir()
assert str(share).endswith("install/qsat_pat/share/qsat_pat"), share
print("colcon install space imports OK:", qsat_pat.core.params.__file__)
PY
PYTHONPATH="$SITE" AMENT_PREFIX_PATH="$INST:$VENV" timeout -k 5 20 "$INST/lib/qsat_pat/bag_recorder" \
  --ros-args -p output_dir:="$WS/bag" > "$WS/node.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "recording to" "$WS/node.log" && break; sleep 0.1; done
sleep 1.5; kill -INT $pid; wait $pid
[ -f "$WS/bag/metadata.yaml" ] || { cat "$WS/node.log" >&2; echo "node from the install space wrote no bag" >&2; exit 1; }
echo "colcon build OK: $INST"
