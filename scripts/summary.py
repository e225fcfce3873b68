#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from a meson testlog.json (the line CI reads)."""
import json
import sys

ok = bad = skip = 0
for line in open(sys.argv[1]):
    result = json.loads(line)["result"]
    if result == "OK":
        ok += 1
    elif result == "SKIP":
        skip += 1
    else:
        bad += 1
print(f"{ok} passed, {bad} failed, {skip} skipped")
