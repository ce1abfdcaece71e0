#!/bin/bash
# perfkvm's benchmarks (issue [engine], bench/README.md): builds what they need, runs each,
# prints ONE table (figure, perfkvm, baseline, ratio, target, met?) and writes it as JSON to
# BUILD/bench/results.json, with the machine it ran on.
#   scripts/bench.sh [--build-dir DIR] [--quick]
#     --build-dir DIR  build (and run) in DIR, relative to the current directory; default:
#                      build/ of this checkout. Set up with meson if it is not yet.
#     --quick          about 25 s instead of about 90 s: sampling_cost --seconds 2, one
#                      discovery run instead of three, fewer codec rounds. Noisier figures.
# Each program's own output is kept in BUILD/bench/<program>.log.
# Exit status: 0 every target met; 1 a target NOT MET or a program failed; 2 usage or build.
set -uo pipefail

usage() {
  if [ "${1:-2}" = 0 ]; then
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  else
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  fi
  exit "${1:-2}"
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir)
      [ $# -ge 2 ] || { echo "bench.sh: --build-dir needs a directory" >&2; usage 2; }
      build=$2
      shift 2
      ;;
    --build-dir=*) build=${1#--build-dir=}; shift ;;
    --quick) quick=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
case $build in /*) ;; *) build=$PWD/$build ;; esac

command -v python3 >/dev/null || { echo "bench.sh: python3 is needed to make the table" >&2; exit 2; }

if [ ! -f "$build/build.ninja" ]; then
  echo "bench.sh: setting up $build" >&2
  meson setup "$build" "$repo" >/dev/null || { echo "bench.sh: meson setup $build failed" >&2; exit 2; }
fi
targets=(bench/protocol_throughput bench/sampling_cost bench/discovery_scale bench/request_latency
         bench/scrape_cost host-agent/perfkvm-hostd)
ninja -C "$build" "${targets[@]}" >"$build/bench-build.log" 2>&1 || {
  tail -n 30 "$build/bench-build.log" >&2
  echo "bench.sh: building ${targets[*]} in $build failed (log: $build/bench-build.log)" >&2
  exit 2
}

out=$build/bench
mkdir -p "$out"
figures=$out/figures.jsonl
: >"$figures"
failures=$out/failures.txt
: >"$failures"

if [ $quick = 1 ]; then
  sampling_args=(--seconds 2)
  discovery_args=(--runs 1)
  codec_args=(--rounds 5)
  scrape_args=(--rounds 3)
else
  sampling_args=()
  discovery_args=()
  codec_args=()
  scrape_args=()
fi
# request_latency keeps its 200 requests either way: they take well under a second.

# run NAME ABOUT ARGS...: one program, its output to its log; a failure becomes a table row.
run() {
  local name=$1 about=$2
  shift 2
  echo "bench.sh: $name ($about)" >&2
  "$build/bench/$name" --json "$figures" "$@" >"$out/$name.log" 2>&1
  local status=$?
  if [ $status != 0 ]; then
    echo "bench.sh: $name exited $status; the end of $out/$name.log:" >&2
    tail -n 5 "$out/$name.log" >&2
    printf '%s\t%s\t%s\n' "$name" "$status" "$out/$name.log" >>"$failures"
  fi
}
if [ $quick = 1 ]; then sampling_about="about 15 s"; else sampling_about="about 70 s"; fi
run protocol_throughput "a few seconds" "${codec_args[@]}"
run request_latency "about a second" --requests 200
run discovery_scale "a few seconds" --hostd "$build/host-agent/perfkvm-hostd" "${discovery_args[@]}"
run sampling_cost "$sampling_about" "${sampling_args[@]}"
run scrape_cost "a few seconds" "${scrape_args[@]}"

FIGURES=$figures FAILURES=$failures RESULTS=$out/results.json QUICK=$quick BUILD=$build \
python3 - <<'EOF'
import datetime, json, os, platform, sys

figures = []
with open(os.environ["FIGURES"]) as lines:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            figures.append(json.loads(line))
        except json.JSONDecodeError as bad:
            figures.append({"figure": f"{os.environ['FIGURES']} line {number} is not JSON",
                            "perfkvm": None, "unit": "", "baseline_name": "", "baseline": None,
                            "ratio": None, "target": "", "met": False, "note": str(bad)})
with open(os.environ["FAILURES"]) as lines:
    for line in lines:
        name, status, log = line.rstrip("\n").split("\t")
        figures.append({"figure": f"{name}: exited {status}", "perfkvm": None, "unit": "",
                        "baseline_name": "", "baseline": None, "ratio": None, "target": "runs",
                        "met": False, "note": f"see {log}"})

def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

machine = {
    "cpu": cpu_model(),
    "cores": os.cpu_count(),
    "kernel": platform.release(),
    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
}

def number(value):
    if value is None:
        return ""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.1f}"

def report_only(figure):
    """A figure printed for reference, with no target to meet or miss."""
    return figure.get("target") == "report only"

rows = [("figure", "perfkvm", "baseline", "ratio", "target", "met?")]
for f in figures:
    unit = f.get("unit") or ""
    value = "" if f.get("perfkvm") is None else f"{number(f['perfkvm'])} {unit}".strip()
    baseline = f.get("baseline_name") or ""
    if f.get("baseline") is not None:
        baseline = f"{baseline} {number(f['baseline'])} {unit}".strip()
    ratio = "" if f.get("ratio") is None else f"{f['ratio']:.2f}x"
    rows.append((f["figure"], value, baseline, ratio, f.get("target", ""),
                 "" if report_only(f) else "met" if f.get("met") else "NOT MET"))
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
print(f"perfkvm benchmarks{' (--quick)' if os.environ['QUICK'] == '1' else ''}: "
      f"{machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, {machine['date']}")
for i, row in enumerate(rows):
    print("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
print("notes:")
for f in figures:
    if f.get("note"):
        print(f"  {f['figure']}: {f['note']}")

targeted = [f for f in figures if not report_only(f)]
all_met = bool(figures) and all(f.get("met") for f in targeted)
missed = sum(1 for f in targeted if not f.get("met"))
print(f"{len(targeted) - missed} of {len(targeted)} targets met" +
      ("" if all_met else f"; {missed} NOT MET") +
      f"; {len(figures) - len(targeted)} figures report only")
with open(os.environ["RESULTS"], "w") as out:
    json.dump({"machine": machine, "quick": os.environ["QUICK"] == "1",
               "build_dir": os.environ["BUILD"], "all_met": all_met, "figures": figures},
              out, indent=2)
    out.write("\n")
print(f"written: {os.environ['RESULTS']}")
sys.exit(0 if all_met else 1)
EOF
