#!/bin/bash
# Installs every Debian 12 package perfkvm needs to build, test and run its demo.
# Idempotent and quiet: packages already present are not touched, apt runs only when
# something is missing. Used by the README, .ci/run and the demo.
set -euo pipefail

PACKAGES=(
  # build (scdoc: the man pages in docs/man)
  meson ninja-build pkg-config g++ scdoc
  # libraries (found by meson's dependency())
  libvirt-dev libboost1.81-dev libboost-json1.81-dev libcli11-dev doctest-dev libxml2-dev
  # the metrics endpoint: TLS and gzip
  libssl-dev zlib1g-dev
  # fuzzing (libFuzzer) and the sanitizer build
  clang libclang-rt-14-dev
  # end-to-end tests and the demo (tests/e2e, scripts/demo.sh): QEMU, libvirtd, the guest's
  # busybox, perf as the cross-check oracle
  qemu-system-x86 libvirt-daemon-system busybox-static linux-perf
  # the metrics endpoint's tests: certificates made in the test, promtool and a real Prometheus
  openssl prometheus
  # the golden report files checked against perf stat report in en_US.UTF-8 (localedef input)
  locales
  # the unit's hardening checked by systemd-analyze security; setpriv runs hostd as the unit
  # would in the e2e suite
  systemd util-linux
  # the Debian packages (debian/, tests/packaging): built, checked, installed in a clean root
  debhelper dpkg-dev lintian debootstrap
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
