#!/bin/bash
# Runs the protocol fuzzer for N seconds (default 30): builds build-fuzz/ with clang,
# libFuzzer, AddressSanitizer and UBSan, starts from fuzz/corpus and keeps what it finds in
# build-fuzz/corpus. Exits non-zero on any crash; the crashing input is in build-fuzz/.
#   fuzz/run-fuzz.sh [SECONDS]
set -euo pipefail
seconds=${1:-30}
cd "$(dirname "$0")/.."
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C build-fuzz >/dev/null
mkdir -p build-fuzz/corpus
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
set +e
build-fuzz/fuzz/frame_message_fuzzer -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix=build-fuzz/ build-fuzz/corpus fuzz/corpus >build-fuzz/fuzz.log 2>&1
rc=$?
grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' build-fuzz/fuzz.log
if [ $rc -ne 0 ]; then
  echo "fuzzer failed (exit $rc):"
  tail -n 60 build-fuzz/fuzz.log
fi
exit $rc
