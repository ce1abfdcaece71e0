#!/bin/bash
# Runs the protocol fuzzer for N seconds (default 30): builds build-fuzz/ with clang,
# libFuzzer, AddressSanitizer and UBSan, and fuzzes from
#   fuzz/corpus/       committed seeds (fuzz/make_seed_corpus.py),
#   fuzz/regressions/  committed inputs that once failed (see its README.md),
#   .fuzz-corpus/      what earlier local runs found; libFuzzer adds new inputs here. It is
#                      outside build-fuzz/ so that scripts/run-tests.sh --fresh keeps it.
# Exits non-zero on a crash, a failed check, a sanitizer error, a leak, running out of memory,
# or an input that runs longer than FUZZ_TIMEOUT seconds (default 5: a hang). The failing
# input is copied to fuzz/regressions/<kind>-<sha1>, to be committed with the fix; the meson
# test fuzz-replay replays that directory in every build.
#   fuzz/run-fuzz.sh [SECONDS]
set -euo pipefail
seconds=${1:-30}
timeout=${FUZZ_TIMEOUT:-5}
cd "$(dirname "$0")/.."
corpus=.fuzz-corpus
artifacts=build-fuzz/artifacts
log=build-fuzz/fuzz.log

if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C build-fuzz >/dev/null
mkdir -p "$corpus"
# The corpus used to live in build-fuzz/corpus: keep what an older checkout's runs found.
if [ -d build-fuzz/corpus ]; then
  find build-fuzz/corpus -type f -exec mv -n -t "$corpus" {} +
  rm -rf build-fuzz/corpus
fi
# A fresh directory per run: whatever is in it afterwards was found by this run.
rm -rf "$artifacts"
mkdir -p "$artifacts"

# abort_on_error: a UBSan report ends in abort(), which libFuzzer catches as a crash and saves
# the input for; halt_on_error: the first report fails the run instead of scrolling past.
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
set +e
build-fuzz/fuzz/frame_message_fuzzer -max_total_time="$seconds" -timeout="$timeout" \
  -print_final_stats=1 -artifact_prefix="$artifacts/" \
  "$corpus" fuzz/corpus fuzz/regressions >"$log" 2>&1
rc=$?
set -e
grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$log" || true
echo "corpus: $(find "$corpus" -type f | wc -l) inputs in $corpus/"
[ $rc -eq 0 ] && exit 0

echo "fuzzer failed (exit $rc), log in $log:"
tail -n 60 "$log"
found=0
for artifact in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/leak-* \
                "$artifacts"/oom-*; do
  [ -f "$artifact" ] || continue
  found=1
  name=$(basename "$artifact")
  case "$name" in
    crash-*) what="crashed, failed a check or tripped a sanitizer" ;;
    timeout-*) what="ran longer than $timeout s (a hang)" ;;
    leak-*) what="leaked memory" ;;
    oom-*) what="ran out of memory" ;;
  esac
  echo
  echo "FUZZ FAILURE: an input $what."
  sum=$(sha1sum <"$artifact" | cut -d' ' -f1)
  committed=
  for regression in fuzz/regressions/*; do
    if [ -f "$regression" ] && [ "$(sha1sum <"$regression" | cut -d' ' -f1)" = "$sum" ]; then
      committed=$regression
    fi
  done
  if [ -n "$committed" ]; then
    echo "It is the committed regression input $committed: the bug it guards against is back."
  else
    committed=fuzz/regressions/$name
    cp "$artifact" "$committed"
    echo "Saved as fuzz/regressions/$name: commit it with the fix (git add fuzz/regressions/$name)."
  fi
  echo "Reproduce: build-fuzz/fuzz/frame_message_fuzzer $committed"
done
[ $found -eq 1 ] || echo "FUZZ FAILURE: the fuzzer left no failing input in $artifacts/."
exit $rc
