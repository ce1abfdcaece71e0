#!/bin/bash
# Builds the e2e guest from Debian packages only, cached:
#   <cache>/guest-<key>/vmlinuz          Debian's cloud kernel (apt-get download + dpkg -x; the
#                                        package is never installed on the host)
#   <cache>/guest-<key>/initrd.cpio.gz   busybox-static, the virtio/vsock modules, /init, the
#                                        control agent and the static programs given
# <key> hashes every input (kernel package version, busybox, the programs, the scripts), so a
# changed input gives a new image; older images are removed. Prints the image directory.
#
# usage: build-guest.sh CACHE_DIR PERFKVM VSOCK_TEST_HOST E2E_SPIN HOST_PMU_PROBE E2E_ROI_LATENCY
# env:   E2E_KERNEL_FLAVOUR (default cloud-amd64: LZ4, boots about twice as fast under TCG as
#        the generic XZ kernel)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 6 ] || { echo "usage: $0 CACHE_DIR PERFKVM VSOCK_TEST_HOST E2E_SPIN HOST_PMU_PROBE E2E_ROI_LATENCY" >&2; exit 2; }
CACHE=$1 PERFKVM=$2 VSOCK_HOST=$3 SPIN=$4 PMU_PROBE=$5 ROI_LATENCY=$6
FLAVOUR=${E2E_KERNEL_FLAVOUR:-cloud-amd64}
# Debian builds these as modules and ships no modules.dep in the .deb (depmod runs at install),
# so /init loads them in this dependency order.
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         virtio_console vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport
         vsock_loopback"

say() { echo "build-guest: $*" >&2; }
for program in "$PERFKVM" "$VSOCK_HOST" "$SPIN" "$PMU_PROBE" "$ROI_LATENCY"; do
  [ -x "$program" ] || { say "missing program $program"; exit 1; }
done
BUSYBOX=$(readlink -f "$(command -v busybox)")
# The initramfs has no shared libraries: busybox must be busybox-static's.
case $(LC_ALL=C ldd "$BUSYBOX" 2>&1 || true) in
  *"not a dynamic executable"*) ;;
  *) say "$BUSYBOX is linked dynamically: install busybox-static"; exit 1 ;;
esac

kernel_package() {
  apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'
}
PKG=$(kernel_package)
if [ -z "$PKG" ]; then
  say "apt does not know linux-image-$FLAVOUR yet: apt-get update"
  apt-get update -qq >&2
  PKG=$(kernel_package)
fi
[ -n "$PKG" ] || { say "no Debian package linux-image-$FLAVOUR"; exit 1; }
KVER=${PKG#linux-image-}
PKG_VERSION=$(apt-cache policy "$PKG" | awk '/Candidate:/{print $2; exit}')

KEY=$( {
  echo "$PKG $PKG_VERSION $MODULES"
  sha256sum "$BUSYBOX" "$PERFKVM" "$VSOCK_HOST" "$SPIN" "$PMU_PROBE" "$ROI_LATENCY" "$0" "$HERE"/guest/* | cut -d' ' -f1
} | sha256sum | cut -c1-16)
OUT=$CACHE/guest-$KEY
if [ -f "$OUT/initrd.cpio.gz" ] && [ -f "$OUT/vmlinuz" ]; then
  say "cached guest image $OUT"
  echo "$OUT"
  exit 0
fi

say "building the guest image ($PKG $PKG_VERSION) in $OUT"
mkdir -p "$CACHE/dl"
DEB=$CACHE/dl/${PKG}_${PKG_VERSION//:/%3a}_amd64.deb
if [ ! -f "$DEB" ]; then
  # apt-get download writes to the current directory, with apt's file name.
  # Only the current kernel package is kept. apt-get download saves to the current directory.
  (cd "$CACHE/dl" && rm -f ./*.deb &&
   apt-get download "$PKG" 2>&1 | grep -v 'Download is performed unsandboxed' >&2 || true)
  DEB=$(ls "$CACHE/dl/${PKG}"_*.deb 2>/dev/null | head -1)
  [ -n "$DEB" ] || { say "apt-get download $PKG failed"; exit 1; }
fi

WORK=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
dpkg -x "$DEB" "$WORK/kernel"
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
mknod -m 600 "$ROOT/dev/console" c 5 1   # the kernel opens it before exec'ing /init
mknod -m 666 "$ROOT/dev/null" c 1 3
: > "$ROOT/lib/modules/load.order"
for module in $MODULES; do
  found=$(find "$WORK/kernel/lib/modules/$KVER" -name "$module.ko*" | head -1)
  [ -n "$found" ] || { say "module $module not in $PKG"; exit 1; }
  case $found in
    *.ko.xz) xz -dc "$found" > "$ROOT/lib/modules/$module.ko" ;;
    *) cp "$found" "$ROOT/lib/modules/$module.ko" ;;
  esac
  echo "$module" >> "$ROOT/lib/modules/load.order"
done
install -m 755 "$HERE/guest/init" "$ROOT/init"
install -m 755 "$HERE/guest/control-agent.sh" "$ROOT/bin/control-agent"
# Debug info is most of their size; the guest needs none of it.
for program in "$PERFKVM:perfkvm" "$VSOCK_HOST:vsock_test_host" "$SPIN:e2e_spin" \
               "$PMU_PROBE:host_pmu_probe" "$ROI_LATENCY:e2e_roi_latency"; do
  strip --strip-debug -o "$ROOT/bin/${program#*:}" "${program%%:*}"
done
(cd "$ROOT" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -6) > "$WORK/initrd.cpio.gz"

STAGE=$WORK/out
mkdir -p "$STAGE"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
mv "$WORK/initrd.cpio.gz" "$STAGE/"
echo "$PKG $PKG_VERSION" > "$STAGE/KERNEL"
# Only the current image is kept.
find "$CACHE" -maxdepth 1 -name 'guest-*' -type d -exec rm -rf {} +
mv "$STAGE" "$OUT"
say "guest image ready: $(du -h "$OUT/initrd.cpio.gz" | cut -f1) initramfs, kernel $KVER"
echo "$OUT"
