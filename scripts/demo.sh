#!/bin/bash
# The README's demo, on a fresh Debian 12 machine as root: installs the packages, builds
# perfkvm-hostd and the static guest agent, boots a tiny guest under libvirt (TCG, no network),
# runs perfkvm inside it and shows its report exactly as the guest's user sees it, then stops
# everything it started.
#   scripts/demo.sh                  the default workload
#   scripts/demo.sh "CMD"            perfkvm -p "CMD" instead (busybox commands in the guest)
# env: BUILD_DIR (default build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
[ "$(id -u)" = 0 ] || { echo "demo: run it as root (libvirt's system instance, perf)" >&2; exit 1; }

"$ROOT/scripts/install-deps.sh"
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT"
echo "demo: building perfkvm-hostd in $BUILD"
ninja --quiet -C "$BUILD" host-agent/perfkvm-hostd
exec python3 "$ROOT/tests/e2e/e2e.py" --source-dir "$ROOT" --build-dir "$BUILD" demo "$@"
