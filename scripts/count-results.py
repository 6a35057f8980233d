#!/usr/bin/env python3
"""Sum meson testlog.json files (and extra result files) into one line:
`N passed, N failed`. Extra files hold lines `name: ok|fail|skip`."""
import json
import sys

passed = failed = skipped = 0
failures = []
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        failed += 1
        failures.append(f"{path}: missing (the run did not happen)")
        continue
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if path.endswith('.json'):
            rec = json.loads(line)
            res, name = rec.get('result'), rec.get('name')
        else:
            name, _, res = line.rpartition(':')
            res = res.strip().upper()
        if res in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif res == 'SKIP':
            skipped += 1
        else:
            failed += 1
            failures.append(f"{path}: {name}: {res}")
for f in failures:
    print("FAILED:", f)
if skipped:
    print(f"{skipped} skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
