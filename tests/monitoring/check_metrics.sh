#!/bin/sh
# promtool check metrics on an exposition file: fails on anything promtool reports, except the
# one finding that is a deliberate choice. perfkvm_vcpu_counter_running_ratio is the family
# name the export promises dashboards (issue [export], README "Monitor a fleet"); promtool's
# linter dislikes the word "counter" in a metric name. Every other finding fails.
set -u
promtool=$1
file=$2
known="perfkvm_vcpu_counter_running_ratio metric name should not include type 'counter'"
out=$("$promtool" check metrics < "$file" 2>&1)
status=$?
rest=$(printf '%s\n' "$out" | grep -v -F -x "$known" | grep -v '^$')
if [ -n "$rest" ] || { [ $status -ne 0 ] && [ $status -ne 3 ]; }; then
  echo "promtool check metrics $file: status $status"
  printf '%s\n' "$out"
  exit 1
fi
echo "promtool check metrics $file: clean${out:+ (besides: $known)}"
