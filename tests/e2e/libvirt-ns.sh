#!/bin/bash
# Runs CMD in the mount namespace of the suite's libvirtd (see libvirt-up.sh), where its
# /run/libvirt, /var/lib/libvirt and /var/log/libvirt are. nsenter execs CMD: the pid is CMD's.
# usage: libvirt-ns.sh STATE_DIR CMD [ARGS...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 STATE_DIR CMD [ARGS...]" >&2; exit 2; }
STATE=$1
shift
exec nsenter --target "$(cat "$STATE/holder.pid")" --mount -- "$@"
