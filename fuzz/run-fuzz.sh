#!/bin/bash
# Runs the fuzz targets (fuzz/README.md) for N seconds each (default 30), one after another:
# builds build-fuzz/ with clang, libFuzzer, AddressSanitizer and UBSan, and fuzzes target T from
#   fuzz/corpus/T/       committed seeds (fuzz/make_seed_corpus.py),
#   fuzz/regressions/T/  committed inputs that once failed (see fuzz/regressions/README.md),
#   .fuzz-corpus/T/      what earlier local runs found; libFuzzer adds new inputs here. It is
#                        outside build-fuzz/ so that scripts/run-tests.sh --fresh keeps it,
# with fuzz/dict/T.dict as its dictionary if there is one.
# A target fails on a crash, a failed check, a sanitizer error, a leak, running out of memory,
# or an input that runs longer than FUZZ_TIMEOUT seconds (default 5: a hang). The failing
# input is copied to fuzz/regressions/T/<kind>-<sha1>, to be committed with the fix; the meson
# test fuzz-replay replays that directory in every build. The other targets still run.
#   fuzz/run-fuzz.sh [--results FILE] [SECONDS] [TARGET...]
# TARGET: a directory name under fuzz/corpus/ (default: all of them). --results FILE: one JSON
# line per target, {"name": "T_fuzzer", "result": "OK" or "FAIL", "stdout": ...}, meson's
# test log format, for scripts/test-summary.py (scripts/run-tests.sh). Exits non-zero if a
# target failed. FUZZ_BUILD_DIR (default build-fuzz) names the build directory.
set -euo pipefail
results=
if [ "${1:-}" = "--results" ]; then
  results=${2:?--results needs a file}
  shift 2
fi
seconds=${1:-30}
[ $# -gt 0 ] && shift
timeout=${FUZZ_TIMEOUT:-5}
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD_DIR:-build-fuzz}
corpus=.fuzz-corpus

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for dir in fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

if [ -n "$results" ]; then
  mkdir -p "$(dirname "$results")"
  : >"$results"
fi
# One line of meson's JSON test log: the target, OK or FAIL, and what to show for it.
record() {
  [ -n "$results" ] || return 0
  python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1] + "_fuzzer", "result": sys.argv[2], "stdout": sys.argv[3]}))' \
    "$1" "$2" "$3" >>"$results"
}

build_failed() {
  echo "fuzz: $1"
  for target in "${targets[@]}"; do record "$target" FAIL "$1"; done
  exit 1
}
if [ ! -f "$build/build.ninja" ]; then
  CXX=clang++ meson setup "$build" -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link >/dev/null ||
    build_failed "meson setup $build failed"
fi
ninja -C "$build" >/dev/null || build_failed "building $build failed"

mkdir -p "$corpus"
# The corpus used to live in build-fuzz/corpus, then in .fuzz-corpus/ itself, when the
# protocol's frame_message was the only target: keep what those runs found.
if [ -d "$build/corpus" ]; then
  mkdir -p "$corpus/frame_message"
  find "$build/corpus" -type f -exec mv -n -t "$corpus/frame_message" {} +
  rm -rf "$build/corpus"
fi
if [ -n "$(find "$corpus" -maxdepth 1 -type f)" ]; then
  mkdir -p "$corpus/frame_message"
  find "$corpus" -maxdepth 1 -type f -exec mv -n -t "$corpus/frame_message" {} +
fi

# abort_on_error: a UBSan report ends in abort(), which libFuzzer catches as a crash and saves
# the input for; halt_on_error: the first report fails the run instead of scrolling past.
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

# One of the figures -print_final_stats=1 ends a libFuzzer log with.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

# Runs one target; prints its summary and, on failure, what it found.
fuzz_one() {
  local target=$1
  local fuzzer=$build/fuzz/${target}_fuzzer
  local log=$build/fuzz-$target.log
  local artifacts=$build/artifacts/$target
  local regressions=fuzz/regressions/$target
  # A fresh directory per run: whatever is in it afterwards was found by this run.
  rm -rf "$artifacts"
  mkdir -p "$artifacts" "$corpus/$target"
  if [ ! -x "$fuzzer" ] || [ ! -d "fuzz/corpus/$target" ]; then
    echo "$target: FAIL: no $fuzzer or no fuzz/corpus/$target/ (fuzz/meson.build)"
    record "$target" FAIL "no $fuzzer or no fuzz/corpus/$target/"
    return 1
  fi
  local args=(-max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1
              -artifact_prefix="$artifacts/")
  [ -f "fuzz/dict/$target.dict" ] && args+=(-dict="fuzz/dict/$target.dict")
  local dirs=("$corpus/$target" "fuzz/corpus/$target")
  [ -d "$regressions" ] && dirs+=("$regressions")
  local rc=0 started=$SECONDS
  "$fuzzer" "${args[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  local elapsed=$((SECONDS - started))

  local runs per_second new_units done_line summary
  runs=$(final_stat number_of_executed_units "$log")
  per_second=$(final_stat average_exec_per_sec "$log")
  new_units=$(final_stat new_units_added "$log")
  done_line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  summary="$target: ${runs:-?} runs in $elapsed s (${per_second:-?}/s), ${new_units:-?} new inputs,"
  summary+=" $(grep -oE 'cov: [0-9]+ ft: [0-9]+' <<<"$done_line" || echo 'cov: ?'),"
  summary+=" $(find "$corpus/$target" -type f | wc -l) inputs in $corpus/$target/"
  if [ $rc -eq 0 ]; then
    echo "$summary"
    record "$target" OK "$summary"
    return 0
  fi

  local report
  report=$(
    echo "$summary"
    echo "$target: fuzzer failed (exit $rc), log in $log:"
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
      echo "FUZZ FAILURE: $target: an input $what."
      sum=$(sha1sum <"$artifact" | cut -d' ' -f1)
      committed=
      for regression in "$regressions"/*; do
        if [ -f "$regression" ] && [ "$(sha1sum <"$regression" | cut -d' ' -f1)" = "$sum" ]; then
          committed=$regression
        fi
      done
      if [ -n "$committed" ]; then
        echo "It is the committed regression input $committed: the bug it records is not fixed, or is back."
      else
        mkdir -p "$regressions"
        committed=$regressions/$name
        cp "$artifact" "$committed"
        echo "Saved as $committed: commit it with the fix (git add $committed)."
      fi
      echo "Reproduce: $fuzzer $committed"
      echo "Minimise: $fuzzer -minimize_crash=1 -max_total_time=60 -artifact_prefix=$artifacts/ $committed"
    done
    [ $found -eq 1 ] || echo "FUZZ FAILURE: $target: the fuzzer left no failing input in $artifacts/."
  )
  echo "$report"
  record "$target" FAIL "$report"
  return 1
}

status=0
for target in "${targets[@]}"; do
  fuzz_one "$target" || status=1
done
exit $status
