#!/bin/bash
# Makes qemu:///system answer. If a libvirtd already does, nothing is started. Otherwise
# virtlogd and libvirtd (Debian 12's monolithic daemon; no systemd needed) are started by
# hand with only the QEMU connection driver, so that nothing touches bridges, firewall rules
# or storage; their pids go to STATE_DIR/{virtlogd,libvirtd}.pid for libvirt-down.sh.
# usage: libvirt-up.sh STATE_DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
STATE=$1
mkdir -p "$STATE"
# Without udev (containers, minimal VMs) /dev/kvm stays root:root 0600. libvirt then finds KVM
# "not usable" for QEMU's user, judges its cached QEMU capabilities stale on every lookup and
# probes QEMU again each time: ~50 s per domain start instead of ~1 s, although the domains are
# TCG. Give it Debian's udev permissions (root:kvm 0660) for the run; libvirt-down.sh restores.
if [ -c /dev/kvm ] && getent group kvm >/dev/null &&
   [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ] && [ ! -f "$STATE/kvm-permissions" ]; then
  stat -c '%U:%G %a' /dev/kvm > "$STATE/kvm-permissions"
  chown root:kvm /dev/kvm && chmod 0660 /dev/kvm
  echo "libvirt-up: /dev/kvm was $(cat "$STATE/kvm-permissions"), now root:kvm 0660 as udev sets it"
fi
answers() { virsh -q -c qemu:///system version >/dev/null 2>&1; }
if answers; then
  echo "libvirt-up: a libvirtd already answers on qemu:///system; using it"
  exit 0
fi
DRIVERS=/usr/lib/x86_64-linux-gnu/libvirt/connection-driver
[ -f "$DRIVERS/libvirt_driver_qemu.so" ] ||
  { echo "libvirt-up: no $DRIVERS/libvirt_driver_qemu.so: install libvirt-daemon-driver-qemu" >&2; exit 1; }
mkdir -p "$STATE/drivers" /run/libvirt /var/log/libvirt/qemu
ln -sf "$DRIVERS/libvirt_driver_qemu.so" "$STATE/drivers/"
echo "log_outputs = \"3:file:$STATE/libvirtd.log\"" > "$STATE/libvirtd.conf"

started=$(date +%s%N)
virtlogd -d -p "$STATE/virtlogd.pid"
LIBVIRT_DRIVER_DIR=$STATE/drivers libvirtd -d -f "$STATE/libvirtd.conf" -p "$STATE/libvirtd.pid"
# The first start probes QEMU's capabilities (about 8 s here); later starts use the cache.
for _ in $(seq 600); do answers && break; sleep 0.1; done
answers || { echo "libvirt-up: libvirtd does not answer after 60 s; see $STATE/libvirtd.log" >&2; exit 1; }
echo "libvirt-up: libvirtd $(cat "$STATE/libvirtd.pid") and virtlogd $(cat "$STATE/virtlogd.pid")" \
     "up in $(( ($(date +%s%N) - started) / 1000000 )) ms"
