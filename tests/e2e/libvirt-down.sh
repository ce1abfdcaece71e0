#!/bin/bash
# Stops exactly what libvirt-up.sh STATE_DIR started, by the pids it recorded: libvirtd,
# virtlogd, then the holder of their mount namespace (its mounts go with it); and restores
# /dev/kvm's permissions if it changed them. Domains must be gone first: QEMU outlives libvirtd.
# usage: libvirt-down.sh STATE_DIR
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
STATE=$1
for daemon in libvirtd virtlogd holder; do
  pidfile=$STATE/$daemon.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  # The pid file is the daemon's own: check it is still that program before signalling.
  comm=$daemon
  [ "$daemon" = holder ] && comm=sleep
  if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ]; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; echo "libvirt-down: killed $daemon $pid";
    else echo "libvirt-down: stopped $daemon $pid"; fi
  fi
  rm -f "$pidfile"
done
if [ -f "$STATE/kvm-permissions" ]; then
  read -r owner mode < "$STATE/kvm-permissions"
  chown "$owner" /dev/kvm && chmod "$mode" /dev/kvm && echo "libvirt-down: /dev/kvm back to $owner $mode"
  rm -f "$STATE/kvm-permissions"
fi
