#!/usr/bin/env python3
"""Every place that must carry shmap's version carries meson.build's.

The project version is written in meson.build (the C library, its headers,
shmap.pc and the man pages take it from there). Files that cannot read it
hold a copy, and this check fails when a copy differs: the Python package
(pyproject.toml, from which its build reads it, and shmap.__version__), the
Rust crates (and the shmap-sys dependency line), and debian/changelog.
usage: check-versions.py SOURCE_ROOT
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")


def find(path, pattern):
    text = (root / path).read_text(encoding="utf-8")
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else None


want = find("meson.build", r"^\s*version:\s*'([^']+)'")
copies = {
    "bindings/python/pyproject.toml": find("bindings/python/pyproject.toml", r'^version\s*=\s*"([^"]+)"'),
    "bindings/python/shmap/__init__.py": find("bindings/python/shmap/__init__.py",
                                              r'^__version__\s*=\s*"([^"]+)"'),
    "bindings/rust/shmap/Cargo.toml": find("bindings/rust/shmap/Cargo.toml", r'^version\s*=\s*"([^"]+)"'),
    "bindings/rust/shmap/Cargo.toml (shmap-sys dependency)": find(
        "bindings/rust/shmap/Cargo.toml", r'^shmap-sys\s*=.*version\s*=\s*"([^"]+)"'),
    "bindings/rust/shmap-sys/Cargo.toml": find("bindings/rust/shmap-sys/Cargo.toml",
                                               r'^version\s*=\s*"([^"]+)"'),
    "debian/changelog": find("debian/changelog", r"^shmap \(([^)-]+)"),
}
bad = {k: v for k, v in copies.items() if v != want}
for k, v in bad.items():
    print(f"versions: {k} has {v!r}, meson.build has {want!r}")
print(f"versions: {len(copies) - len(bad)}/{len(copies)} copies match {want}")
sys.exit(1 if bad or not want else 0)
