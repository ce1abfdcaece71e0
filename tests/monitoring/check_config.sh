#!/bin/sh
# promtool check config on monitoring/prometheus.yml. promtool insists that the TLS files the
# config names exist: the check runs on a copy with empty stand-ins for them.
set -eu
promtool=$1
monitoring=$2
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r "$monitoring"/. "$copy"
mkdir -p "$copy/tls"
for file in $(sed -n 's/^ *\(ca_file\|cert_file\|key_file\): *\([^ #]*\).*/\2/p' "$copy/prometheus.yml"); do
  : > "$copy/$file"
done
"$promtool" check config "$copy/prometheus.yml"
