#!/bin/sh
# check_unit_security.sh SYSTEMD-ANALYZE UNIT MAX: systemd-analyze security --offline on UNIT;
# fails when its overall exposure is above MAX. Prints the analysis either way, so that a
# failing run shows which settings cost what.
set -eu
analyze=$1 unit=$2 max=$3
out=$("$analyze" security --offline=true --no-pager "$unit" 2>&1) || true
echo "$out"
exposure=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
  echo "check_unit_security: systemd-analyze printed no overall exposure for $unit" >&2
  exit 1
fi
if awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e > m) }'; then
  echo "check_unit_security: $unit: exposure $exposure is above $max" >&2
  exit 1
fi
echo "check_unit_security: $unit: exposure $exposure, at most $max"
