#!/bin/bash
# Starts the suite's own virtlogd and libvirtd (Debian 12's monolithic daemon; no systemd
# needed), always, even on a machine that runs a libvirtd of its own: every scenario then runs
# on every machine, and the machine's daemon, domains and definitions are never touched.
#
# The daemons run in a private mount namespace, held open by a `sleep` whose pid is in
# STATE_DIR/holder.pid: there /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /etc/libvirt
# are the suite's own (empty but for libvirt's configuration files: no domain definitions, so
# nothing is autostarted), and /var/cache/libvirt is CACHE_DIR, kept between runs so that QEMU's
# capabilities are probed once. Only the QEMU connection driver is loaded, so nothing touches
# bridges, firewall rules or storage. Clients connect through
#   qemu:///system?socket=STATE_DIR/sock/libvirt-sock
# and anything that must see the daemons' files (perfkvm-hostd, QEMU's pid files, the channel
# sockets libvirt creates) runs in the namespace: libvirt-ns.sh STATE_DIR CMD... Pids of
# virtlogd, libvirtd and the holder go to STATE_DIR for libvirt-down.sh.
# usage: libvirt-up.sh STATE_DIR CACHE_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 STATE_DIR CACHE_DIR" >&2; exit 2; }
STATE=$(realpath "$1") CACHE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$STATE/sock" "$STATE/drivers" "$CACHE"
CACHE=$(realpath "$CACHE")
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
DRIVERS=/usr/lib/x86_64-linux-gnu/libvirt/connection-driver
[ -f "$DRIVERS/libvirt_driver_qemu.so" ] ||
  { echo "libvirt-up: no $DRIVERS/libvirt_driver_qemu.so: install libvirt-daemon-driver-qemu" >&2; exit 1; }
ln -sf "$DRIVERS/libvirt_driver_qemu.so" "$STATE/drivers/"
cat > "$STATE/libvirtd.conf" <<CONF
unix_sock_dir = "$STATE/sock"
log_outputs = "3:file:$STATE/libvirtd.log"
# Read-only clients need no polkit check: this machine has no D-Bus system bus to ask polkit
# on; on a host that has one, polkit's default policy lets any local user in read-only, which
# is what an unprivileged perfkvm-hostd relies on (SECURITY.md).
auth_unix_ro = "none"
CONF
QEMU_USER=libvirt-qemu
getent passwd "$QEMU_USER" >/dev/null || QEMU_USER=root

# The holder: a new mount namespace whose mounts do not propagate back to the machine.
setsid unshare --mount --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
echo $! > "$STATE/holder.pid"
for _ in $(seq 50); do
  [ "$(readlink "/proc/$(cat "$STATE/holder.pid")/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
  sleep 0.02
done
mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /etc/libvirt
"$HERE/libvirt-ns.sh" "$STATE" sh -eu -c '
  mount -t tmpfs -o mode=0755 perfkvm-e2e-run /run/libvirt
  mount -t tmpfs -o mode=0755 perfkvm-e2e-lib /var/lib/libvirt
  mount -t tmpfs -o mode=0755 perfkvm-e2e-log /var/log/libvirt
  mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu/channel/target
  chown -R "$3:$3" /var/lib/libvirt/qemu
  chmod 0750 /var/lib/libvirt/qemu /var/lib/libvirt/qemu/channel /var/lib/libvirt/qemu/channel/target
  mount --bind "$2" /var/cache/libvirt
  # libvirt'"'"'s configuration without the machine'"'"'s domain definitions.
  mkdir -p "$1/etc"
  cp -a /etc/libvirt/*.conf "$1/etc/"
  mkdir -p "$1/etc/qemu"
  mount --bind "$1/etc" /etc/libvirt
' sh "$STATE" "$CACHE" "$QEMU_USER"

started=$(date +%s%N)
"$HERE/libvirt-ns.sh" "$STATE" virtlogd -d -p "$STATE/virtlogd.pid"
"$HERE/libvirt-ns.sh" "$STATE" env LIBVIRT_DRIVER_DIR="$STATE/drivers" \
  libvirtd -d -f "$STATE/libvirtd.conf" -p "$STATE/libvirtd.pid"
URI="qemu:///system?socket=$STATE/sock/libvirt-sock"
answers() { virsh -q -c "$URI" version >/dev/null 2>&1; }
# The first start probes QEMU's capabilities (about 8 s here); later starts use the cache.
for _ in $(seq 600); do answers && break; sleep 0.1; done
answers || { echo "libvirt-up: libvirtd does not answer after 60 s; see $STATE/libvirtd.log" >&2; exit 1; }
echo "libvirt-up: libvirtd $(cat "$STATE/libvirtd.pid") and virtlogd $(cat "$STATE/virtlogd.pid")" \
     "up in $(( ($(date +%s%N) - started) / 1000000 )) ms, in mount namespace of" \
     "$(cat "$STATE/holder.pid"), at $URI"
