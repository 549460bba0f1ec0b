#!/usr/bin/env python3
"""Prints one line 'tests: N passed, N failed[, N skipped]' from meson's testlog.json.

Each GLib test program prints TAP; every test case in it counts once.  A program whose
output has no TAP lines counts as one test with the program's own result.  A program that
crashed or timed out after some passing cases counts one extra failure.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


def main(path):
    passed = failed = skipped = 0
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError as e:
        print(f"no test log: {e}", file=sys.stderr)
        print("tests: 0 passed, 1 failed")
        return 1
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        result = entry.get("result", "")
        out = entry.get("stdout", "") or ""
        cases = [TAP.match(l) for l in out.splitlines()]
        cases = [m for m in cases if m]
        if cases:
            for m in cases:
                rest = m.group(2)
                if "# SKIP" in rest or "# skip" in rest:
                    skipped += 1
                elif m.group(1) == "ok":
                    passed += 1
                else:
                    failed += 1
            if result in ("TIMEOUT", "ERROR") or (result == "FAIL" and all(m.group(1) == "ok" for m in cases)):
                failed += 1
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
    line = f"tests: {passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/meson-logs/testlog.json"))
