#!/usr/bin/env python3
"""Prints one line per failed or skipped test and ends with 'N passed, N failed', counted
from meson's test logs (meson-logs/testlog.json of each build directory given) and from
extra JSON-lines logs in the same format. Exit status 1 if anything failed or is missing."""
import json, pathlib, sys

passed = failed = skipped = 0
for arg in sys.argv[1:]:
    path = pathlib.Path(arg)
    log = path / "meson-logs" / "testlog.json" if path.is_dir() else path
    if not log.exists():
        print(f"MISSING  {log}: that test run did not happen")
        failed += 1
        continue
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        test = json.loads(line)
        name, result = test["name"], test["result"]
        where = path.name
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
            reason = (test.get("stdout") or "").strip().splitlines()
            print(f"SKIPPED  {where}: {name}: {reason[-1] if reason else 'no reason printed'}")
        else:
            failed += 1
            print(f"FAILED   {where}: {name} ({result})")
if skipped:
    print(f"{skipped} skipped (reasons above)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
