#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Man pages: a generated section-3 page for every SHMAP_API function, each
page and shmapctl(1) rendered by groff without warnings, and everything
registered for installation (TAP output).

usage: test_shmapctl_man.py MAN3_DIR SHMAPCTL_1 BUILD_ROOT HEADER_DIR...
"""
import json
import os
import re
import shutil
import subprocess
import sys

man3_dir, shmapctl_1, build_root = sys.argv[1:4]
header_dirs = sys.argv[4:]
results = []


def tap(ok, name, detail=""):
    results.append((ok, name, detail))


def api_functions():
    """Every function declared with SHMAP_API (as tests/check-symbols.sh reads them)."""
    names = set()
    for d in header_dirs:
        for f in sorted(os.listdir(d)):
            if not f.endswith(".h"):
                continue
            text = open(os.path.join(d, f), encoding="utf-8").read()
            for decl in text.replace("\n", " ").split(";"):
                if "SHMAP_API" not in decl or "#define" in decl.split("SHMAP_API")[0][-40:]:
                    continue
                m = re.search(r"[ *](shmap_[A-Za-z0-9_]*)\s*\(", decl)
                if m:
                    names.add(m.group(1))
    return names


def groff_warnings(path, section):
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stderr.decode("utf-8", "replace").strip()


funcs = api_functions()
tap(len(funcs) > 20, "SHMAP_API functions found in the headers", "%d found" % len(funcs))
missing = []
bad = []
for fn in sorted(funcs):
    path = os.path.join(man3_dir, fn + ".3")
    if not os.path.exists(path):
        missing.append(fn)
        continue
    text = open(path, encoding="utf-8").read()
    if not re.search(r"^\.TH %s 3 " % re.escape(fn.upper()), text, re.M) or \
            "\\fB%s\\fR(" % fn not in text or ".SH SYNOPSIS" not in text:
        bad.append(fn)
tap(not missing, "a man page for every SHMAP_API function", "missing: " + " ".join(missing))
tap(not bad, "each page has .TH, NAME and SYNOPSIS with the prototype", "bad: " + " ".join(bad))
for overview in ("shmap.3", "shmap-vector.3", "shmap-inspect.3", "shmap-status.3"):
    tap(os.path.exists(os.path.join(man3_dir, overview)), "overview page " + overview)

if shutil.which("groff"):
    warn = []
    pages = sorted(f for f in os.listdir(man3_dir) if f.endswith(".3"))
    for f in pages:
        rc, err = groff_warnings(os.path.join(man3_dir, f), 3)
        if rc != 0 or err:
            warn.append("%s: %s" % (f, err or "exit %d" % rc))
    tap(not warn, "groff renders the %d section-3 pages without warnings" % len(pages),
        "\n".join(warn[:20]))
    rc, err = groff_warnings(shmapctl_1, 1)
    tap(rc == 0 and not err, "groff renders shmapctl.1 without warnings", err)
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80")
        env.pop("MAN_KEEP_FORMATTING", None)
        p = subprocess.run(["man", "--warnings", "-l", shmapctl_1], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace").strip()
        tap(p.returncode == 0 and not err and "EXIT STATUS" in out and "shmapctl" in out,
            "man -l renders shmapctl.1 without warnings", err)
else:
    tap(True, "groff not installed # SKIP")

# Registered for installation by meson install.
p = subprocess.run(["meson", "introspect", "--installed", build_root], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
if p.returncode == 0:
    inst = json.loads(p.stdout.decode())
    dests = set(os.path.basename(v) for v in inst.values() if "/man" in v)
    need = set(f + ".3" for f in funcs) | {"shmapctl.1", "shmap.3"}
    tap(need <= dests, "meson install installs the man pages",
        "not installed: " + " ".join(sorted(need - dests)[:20]))
else:
    tap(True, "meson introspect unavailable # SKIP")

print("1..%d" % len(results))
failed = 0
for i, (ok, name, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if not ok:
        failed += 1
        for line in detail.splitlines():
            print("# " + line)
sys.exit(1 if failed else 0)
