#!/usr/bin/env python3
"""Checks a whole-suite run against the committed list of expected tests and counts test cases.

  test-summary.py EXPECTED PLACE=LOG ...

EXPECTED is tests/expected-tests.txt (its header says what it holds). Each PLACE=LOG names
meson's JSON-lines test log (a build directory stands for its meson-logs/testlog.json) or a
log in the same format. Prints one line per problem and per skip, then the cases counted, and
ends with 'N passed, N failed, N skipped' (test cases: doctest cases, e2e scenarios, single
tests). Exit status 1 when anything failed, is missing, unexpected, or skipped without leave.

A test also fails when its output holds a sanitizer report ("runtime error:", UBSan's; or
"ERROR: AddressSanitizer"/"LeakSanitizer"), whatever its exit status said."""
import json
import pathlib
import re
import sys
from dataclasses import dataclass

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|"
                     r"\s*(\d+) skipped")
E2E_CASE = re.compile(r"^(PASS|FAIL|SKIP) ", re.M)
SANITIZER = re.compile(r"runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)")


@dataclass
class Expected:
    place: str
    name: str
    kind: str
    min_cases: int
    skip_reason: str  # empty: no skip allowed


def read_expected(path):
    expected = {}
    for number, raw in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 4)
        if len(fields) < 4 or fields[2] not in ("doctest", "e2e", "single"):
            sys.exit(f"{path}:{number}: expected 'place test kind min [skip reason]': {raw!r}")
        place, name, kind, minimum = fields[:4]
        expected[(place, name)] = Expected(place, name, kind, int(minimum),
                                           fields[4] if len(fields) > 4 else "")
    return expected


def read_log(place, location):
    path = pathlib.Path(location)
    log = path / "meson-logs" / "testlog.json" if path.is_dir() else path
    if not log.exists():
        return None
    tests = {}
    for line in log.read_text().splitlines():
        if line.strip():
            test = json.loads(line)
            # meson names a test "project:suite / name"; the list uses the plain name
            tests[test["name"].rpartition(" / ")[2]] = test
    return tests


def count_cases(expected, test):
    """(passed, failed, skipped, problem or None) of one test's run."""
    output = test.get("stdout") or ""
    result = test["result"]
    if expected.kind == "doctest":
        summary = DOCTEST.findall(output)
        if not summary:
            return 0, 1, 0, f"no doctest summary in its output (result {result})"
        total, passed, failed, skipped = map(int, summary[-1])
        if int(skipped):
            return passed, failed or 1, 0, f"{skipped} of {total} doctest cases filtered out"
        return passed, failed, 0, None
    if expected.kind == "e2e":
        verdicts = E2E_CASE.findall(output)
        return (verdicts.count("PASS"), verdicts.count("FAIL"), verdicts.count("SKIP"), None)
    if result in ("OK", "EXPECTEDFAIL"):
        return 1, 0, 0, None
    if result == "SKIP":
        return 0, 0, 1, None
    return 0, 1, 0, None


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    expected = read_expected(argv[0])
    logs = {}
    for argument in argv[1:]:
        place, _, location = argument.rpartition("=")
        place = place or pathlib.Path(location).name
        logs[place] = read_log(place, location)
    passed = failed = skipped = 0
    problems = 0
    missing_places = set()

    def problem(kind, where, text):
        nonlocal problems
        problems += 1
        print(f"{kind:<9}{where}: {text}")

    for (place, name), want in expected.items():
        where = f"{place}: {name}"
        tests = logs.get(place)
        if tests is None:
            if place not in missing_places:
                missing_places.add(place)
                problem("MISSING", place, "no test log: that run did not happen")
            failed += 1
            continue
        test = tests.get(name)
        if test is None:
            problem("MISSING", where, "did not run")
            failed += 1
            continue
        output = test.get("stdout") or ""
        ok, bad, skip, trouble = count_cases(want, test)
        if SANITIZER.search(output):
            first = SANITIZER.search(output)
            line = output[output.rfind("\n", 0, first.start()) + 1:].split("\n", 1)[0]
            problem("FAILED", where, f"a sanitizer report in its output: {line.strip()}")
            bad = max(bad, 1)
        if test["result"] not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
            bad = 1  # it failed as a whole (crash, timeout) whatever its cases said
        if trouble:
            problem("FAILED", where, trouble)
        elif bad:
            problem("FAILED", where, f"{bad} case(s) failed (result {test['result']})")
        if skip:
            reason = output.strip().splitlines()[-1] if output.strip() else "no reason printed"
            if want.skip_reason and want.skip_reason in output:
                print(f"SKIPPED  {where}: {reason}")
            else:
                problem("FAILED", where, f"skipped without leave: {reason}")
                bad, skip = bad + skip, 0
        if not skip and ok + bad < want.min_cases:
            problem("FAILED", where, f"ran {ok + bad} case(s), expected at least {want.min_cases}")
            bad = max(bad, 1)
        passed, failed, skipped = passed + ok, failed + bad, skipped + skip
    for place, tests in logs.items():
        for name in sorted(tests or {}):
            if (place, name) not in expected:
                problem("UNLISTED", f"{place}: {name}",
                        "ran but is not in tests/expected-tests.txt: add it there")
                failed += 1
    print(f"{passed + failed + skipped} test cases in {len(expected)} tests")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or problems or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
