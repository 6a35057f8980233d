#!/usr/bin/env python3
"""The failpoint list (src/failpoints.h) against the code and the tests.

Fails when a SHMAP_FAILPOINT("name") in src/ is missing from the list, when
the list names a failpoint the code no longer has, when no test arms a
listed failpoint (its name appears in no string literal under tests/), or
when a test arms a name shaped like a failpoint that the list does not have.
usage: check-failpoints.py SOURCE_ROOT
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
listed = re.findall(r'^SHMAP_FP\("([^"]+)"', (root / "src/failpoints.h").read_text(), re.M)
used = set()
hooks = set()  # SHMAP_TEST_HOOK points: named like failpoints, armed another way
# the .c files and every header (inline steps carry failpoints: the SPSC ring's, the table's copy)
for f in sorted(list((root / "src").glob("*.c")) + [h for h in (root / "src").glob("*.h") if h.name != "failpoints.h"]):
    text = f.read_text()
    used.update(re.findall(r'SHMAP_FAILPOINT\("([^"]+)"\)', text))
    hooks.update(re.findall(r'SHMAP_TEST_HOOK\("([^"]+)"', text))
armed = set()
for f in sorted((root / "tests").rglob("*")):
    if f.suffix in (".c", ".h", ".py", ".sh") and f.is_file():
        armed.update(re.findall(r'"([a-z0-9_.]+)(?::\d+)?"', f.read_text(errors="replace")))
problems = []
dups = {n for n in listed if listed.count(n) > 1}
problems += [f"listed twice: {n}" for n in sorted(dups)]
problems += [f"in the code, not in src/failpoints.h: {n}" for n in sorted(used - set(listed))]
problems += [f"listed, not in the code: {n}" for n in sorted(set(listed) - used)]
problems += [f"never armed by a test: {n}" for n in sorted(set(listed) - armed)]
# Strings in tests shaped like failpoint names must name one (a stale name
# would arm nothing; the failpoint build aborts on it at run time too).
shaped = {a for a in armed if re.fullmatch(r"(seg|htable|ring|vector)\.[a-z_]+\.[a-z_.]+", a)}
problems += [f"armed by a test, no such failpoint: {n}" for n in sorted(shaped - set(listed) - hooks)]
for p in problems:
    print("failpoints:", p)
print(f"failpoints: {len(listed)} listed, {len(used)} in the code, "
      f"{len(set(listed) & armed)} armed by tests")
sys.exit(1 if problems else 0)
