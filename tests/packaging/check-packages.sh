#!/bin/bash
# The Debian packages, as an admin gets them: builds perfkvm-host and perfkvm-guest from the
# checkout's committed files in a scratch directory (dpkg-buildpackage -us -uc -b, Debian 12's
# packages only), runs lintian on them, installs perfkvm-host into a clean Debian 12 root
# (debootstrap --variant=minbase, its downloads kept in a cache between runs) and checks the
# files, the unit, the user and the conffile; upgrades it to a package whose default conffile
# changed, with the admin's edit left alone; purges it; installs perfkvm-guest (static, no
# dependencies) and runs it there; and runs the README's demo once with the packaged programs
# (perfkvm-hostd on this host, the packaged perfkvm in the guest) instead of the build's.
#
#   tests/packaging/check-packages.sh SOURCE_DIR WORK_DIR BUILD_DIR
#
# BUILD_DIR: the build the demo's guest image and its other programs come from (tests/e2e).
# One line per check: "PASS name: ..." or "FAIL name: why" (scripts/test-summary.py counts
# them); exit status 1 if any failed. Needs root (debootstrap, chroot).
set -uo pipefail

source_dir=$(realpath "$1")
work=$(realpath -m "$2")
build_dir=$(realpath "$3")
cache=${PERFKVM_DEBOOTSTRAP_CACHE:-/var/cache/perfkvm-tests/debootstrap}
mirror=${PERFKVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
failures=0

pass() { echo "PASS $1: $2"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
# A step's verdict from what it collected in `problems`: FAIL with them, or PASS with $2.
verdict() {
  if [ "${#problems[@]}" -ne 0 ]; then fail "$1" "${problems[*]}"; else pass "$1" "$2"; fi
}
# The rest of the checks need what this one made: stop with a line for each of them.
give_up() {
  fail "$1" "$2"
  shift 2
  for name in "$@"; do fail "$name" "not checked: an earlier step failed"; done
  exit 1
}
later_steps=(lintian contents demo install upgrade purge guest)

root="$work/root"
cleanup() {
  for mount in "$root/proc" "$root/var/cache/apt/archives"; do
    mountpoint -q "$mount" 2>/dev/null && umount -l "$mount"
  done
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work/src/perfkvm" "$cache"

# ---- build ----------------------------------------------------------------------------------
began=$SECONDS
git -C "$source_dir" ls-files -z | (cd "$source_dir" && tar --null -T - -cf -) |
  tar -xf - -C "$work/src/perfkvm"
# noopt: -O0, as the project's sanitizer build does, for a build several times faster; the
# packages' files, scripts and metadata are the same as an optimised build's.
if ! (cd "$work/src/perfkvm" && DEB_BUILD_OPTIONS="nocheck noopt parallel=$(nproc)" \
        dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1; then
  give_up build "dpkg-buildpackage failed (log: $work/build.log):
$(tail -20 "$work/build.log")" "${later_steps[@]}"
fi
version=$(dpkg-parsechangelog -l "$source_dir/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
host_deb="$work/src/perfkvm-host_${version}_${arch}.deb"
guest_deb="$work/src/perfkvm-guest_${version}_${arch}.deb"
[ -f "$host_deb" ] && [ -f "$guest_deb" ] ||
  give_up build "no $host_deb and $guest_deb after the build" "${later_steps[@]}"
pass build "$(basename "$host_deb"), $(basename "$guest_deb") in $((SECONDS - began)) s"

# ---- lintian: no errors; every warning explained in debian/README.source --------------------
lintian --fail-on error --tag-display-limit 0 "$work/src/perfkvm_${version}_${arch}.changes" \
  > "$work/lintian.txt" 2>&1
lintian_status=$?
errors=$(grep -c '^E: ' "$work/lintian.txt")
unexplained=()
for tag in $(sed -n 's/^W: [^ ]*: \([^ ]*\).*/\1/p' "$work/lintian.txt" | sort -u); do
  grep -q -- "$tag" "$source_dir/debian/README.source" || unexplained+=("$tag")
done
if [ "$lintian_status" -ne 0 ] || [ "$errors" -ne 0 ]; then
  fail lintian "$errors errors (status $lintian_status):
$(grep -E '^(E|W): ' "$work/lintian.txt")"
elif [ "${#unexplained[@]}" -ne 0 ]; then
  fail lintian "warnings not explained in debian/README.source: ${unexplained[*]}"
else
  pass lintian "no errors; $(grep -c '^W: ' "$work/lintian.txt") warnings, each explained in debian/README.source"
fi

# ---- contents -------------------------------------------------------------------------------
host_files=(./usr/bin/perfkvm-hostd ./usr/bin/perfkvm-host ./lib/systemd/system/perfkvm-hostd.service
            ./etc/perfkvm/hostd.conf ./usr/share/man/man8/perfkvm-hostd.8.gz
            ./usr/share/man/man8/perfkvm-host.8.gz ./usr/share/man/man5/hostd.conf.5.gz
            ./usr/share/doc/perfkvm-host/examples/xml/perfkvm-channel.xml
            ./usr/share/doc/perfkvm-host/examples/monitoring/prometheus.yml)
guest_files=(./usr/bin/perfkvm ./usr/include/perfkvm_roi.h ./usr/share/man/man1/perfkvm.1.gz)
missing=()
listing=$(dpkg-deb -c "$host_deb" | awk '{print $6}')
for file in "${host_files[@]}"; do grep -qx -- "$file" <<< "$listing" || missing+=("perfkvm-host:$file"); done
listing=$(dpkg-deb -c "$guest_deb" | awk '{print $6}')
for file in "${guest_files[@]}"; do grep -qx -- "$file" <<< "$listing" || missing+=("perfkvm-guest:$file"); done
guest_depends=$(dpkg-deb -f "$guest_deb" Depends)
mkdir -p "$work/guest"
dpkg-deb -x "$guest_deb" "$work/guest"
interpreter=$(readelf -l "$work/guest/usr/bin/perfkvm" | grep -c 'Requesting program interpreter')
needed=$(readelf -d "$work/guest/usr/bin/perfkvm" 2>/dev/null | grep -c NEEDED)
if [ "${#missing[@]}" -ne 0 ]; then
  fail contents "missing: ${missing[*]}"
elif [ "$interpreter" -ne 0 ] || [ "$needed" -ne 0 ] || [ -n "$guest_depends" ]; then
  fail contents "perfkvm-guest's perfkvm is not static (interpreter $interpreter, $needed NEEDED) or the package depends on '$guest_depends'"
else
  pass contents "the expected files; perfkvm-guest's perfkvm static, the package depends on nothing; Built-Using: $(dpkg-deb -f "$guest_deb" Built-Using)"
fi

# ---- the demo, with the packaged programs ------------------------------------------------------
installed="$work/installed"
mkdir -p "$installed"
dpkg-deb -x "$host_deb" "$installed"
dpkg-deb -x "$guest_deb" "$installed"
began=$SECONDS
python3 "$source_dir/tests/e2e/e2e.py" --source-dir "$source_dir" --build-dir "$build_dir" \
  --installed "$installed" demo > "$work/demo.log" 2>&1
demo_status=$?
# The report's line (the interval blocks before it have the time first).
task_clock=$(grep ' msec task-clock' "$work/demo.log" | tail -1 | awk '{print $1}')
if [ "$demo_status" -ne 0 ] || ! grep -q "Performance counter stats for" "$work/demo.log" ||
   ! grep -q "the installed programs: $installed/usr/bin/perfkvm-hostd" "$work/demo.log"; then
  fail demo "the demo with the packaged programs exited $demo_status (log: $work/demo.log):
$(tail -20 "$work/demo.log")"
else
  pass demo "the README's demo with the packaged perfkvm-hostd and perfkvm in $((SECONDS - began)) s: the guest's report, task-clock $task_clock msec"
fi

# ---- a clean Debian 12 root -----------------------------------------------------------------
began=$SECONDS
if ! debootstrap --variant=minbase --cache-dir="$cache" bookworm "$root" "$mirror" \
       > "$work/debootstrap.log" 2>&1; then
  give_up install "debootstrap --variant=minbase bookworm failed (log: $work/debootstrap.log):
$(tail -5 "$work/debootstrap.log")" upgrade purge guest
fi
mount -t proc proc "$root/proc"
# The packages this root needs again next time come from the same cache.
mkdir -p "$cache/apt"
mount --bind "$cache/apt" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
# No daemon starts in a chroot (the unit is enabled, not run).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
# As libvirt-daemon-system makes it: the package adds its user to it when it exists.
in_root groupadd --system libvirt-qemu
cp "$host_deb" "$guest_deb" "$root/tmp/"
if ! in_root apt-get update -qq > "$work/apt.log" 2>&1 ||
   ! in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$host_deb")" \
       >> "$work/apt.log" 2>&1; then
  give_up install "apt-get install perfkvm-host in the clean root failed (log: $work/apt.log):
$(tail -10 "$work/apt.log")" upgrade purge guest
fi
problems=()
for file in "${host_files[@]}"; do [ -e "$root/${file#./}" ] || problems+=("no ${file#.}"); done
user=$(in_root getent passwd perfkvm-hostd)
[[ "$user" == perfkvm-hostd:*:/nonexistent:/usr/sbin/nologin ]] ||
  problems+=("user perfkvm-hostd is '$user'")
in_root id -nG perfkvm-hostd | grep -qw libvirt-qemu || problems+=("perfkvm-hostd not in libvirt-qemu")
[ -L "$root/etc/systemd/system/multi-user.target.wants/perfkvm-hostd.service" ] ||
  problems+=("the unit is not enabled")
in_root dpkg-query -W -f='${Conffiles}\n' perfkvm-host | grep -q ' /etc/perfkvm/hostd.conf ' ||
  problems+=("/etc/perfkvm/hostd.conf is not a conffile")
in_root perfkvm-hostd --version > /dev/null 2>&1 || problems+=("perfkvm-hostd --version failed")
in_root perfkvm-host --help > /dev/null 2>&1 || problems+=("perfkvm-host --help failed")
verdict install "into a clean bookworm root in $((SECONDS - began)) s: files, the enabled unit, user $(cut -d: -f1,6,7 <<< "$user") in libvirt-qemu, the conffile; both programs run"

# ---- upgrade: a new package whose default hostd.conf changed; the admin's edit stays ---------
# The rebuilt package is this one repacked with a new version and another default conffile: a
# second dpkg-buildpackage would only take longer to make the same change.
upgrade_dir="$work/upgrade"
dpkg-deb -R "$host_deb" "$upgrade_dir"
new_version="${version}+upgrade1"
sed -i "s/^Version: .*/Version: $new_version/" "$upgrade_dir/DEBIAN/control"
echo "# a default added by the new version" >> "$upgrade_dir/etc/perfkvm/hostd.conf"
(cd "$upgrade_dir" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 |
   sort -z | xargs -0 md5sum | sed 's|  \./|  |' > DEBIAN/md5sums)
upgrade_deb="$work/perfkvm-host_${new_version}_${arch}.deb"
dpkg-deb -b --root-owner-group "$upgrade_dir" "$upgrade_deb" > /dev/null
echo "lease = 5000  # the admin's" >> "$root/etc/perfkvm/hostd.conf"
admin_conf=$(cat "$root/etc/perfkvm/hostd.conf")
cp "$upgrade_deb" "$root/tmp/"
problems=()
in_root dpkg -i --force-confold "/tmp/$(basename "$upgrade_deb")" > "$work/upgrade.log" 2>&1 ||
  problems+=("dpkg -i of the new version failed: $(tail -3 "$work/upgrade.log")")
installed=$(in_root dpkg-query -W -f='${Version}' perfkvm-host)
[ "$installed" = "$new_version" ] || problems+=("version $installed after the upgrade")
[ "$(cat "$root/etc/perfkvm/hostd.conf")" = "$admin_conf" ] ||
  problems+=("the admin's hostd.conf was changed")
grep -q "a default added by the new version" "$root/etc/perfkvm/hostd.conf.dpkg-dist" 2>/dev/null ||
  problems+=("the new default is not beside it as hostd.conf.dpkg-dist")
grep -q 'restart' "$root/var/lib/dpkg/info/perfkvm-host.postinst" ||
  problems+=("the postinst does not restart the unit on upgrade")
verdict upgrade "$version -> $new_version: the admin's hostd.conf kept, the new default in hostd.conf.dpkg-dist, the unit restarted by the postinst"

# ---- purge ----------------------------------------------------------------------------------
problems=()
in_root dpkg --purge perfkvm-host > "$work/purge.log" 2>&1 || problems+=("dpkg --purge failed: $(tail -3 "$work/purge.log")")
for file in usr/bin/perfkvm-hostd usr/bin/perfkvm-host lib/systemd/system/perfkvm-hostd.service \
            etc/perfkvm etc/systemd/system/multi-user.target.wants/perfkvm-hostd.service \
            usr/share/doc/perfkvm-host; do
  [ -e "$root/$file" ] || [ -L "$root/$file" ] && problems+=("/$file left behind")
done
in_root dpkg-query -W perfkvm-host > /dev/null 2>&1 &&
  [ "$(in_root dpkg-query -W -f='${db:Status-Status}' perfkvm-host)" != "not-installed" ] &&
  problems+=("dpkg still knows perfkvm-host")
verdict purge "no file of perfkvm-host left, /etc/perfkvm gone (the system user stays, as Debian leaves them)"

# ---- perfkvm-guest: installs with nothing else, and runs --------------------------------------
problems=()
in_root dpkg -i "/tmp/$(basename "$guest_deb")" > "$work/guest.log" 2>&1 ||
  problems+=("dpkg -i failed: $(tail -3 "$work/guest.log")")
guest_version=$(in_root perfkvm --version 2>&1)
[[ "$guest_version" == *"$version"* ]] || problems+=("perfkvm --version said '$guest_version'")
in_root dpkg --purge perfkvm-guest >> "$work/guest.log" 2>&1 || problems+=("dpkg --purge failed")
[ -e "$root/usr/bin/perfkvm" ] && problems+=("/usr/bin/perfkvm left behind")
verdict guest "installed alone, perfkvm --version: $guest_version; purged"

[ "$failures" -eq 0 ]
