# SPDX-License-Identifier: MIT
"""A small PEP 517/660 build backend: the standard library, plus
setuptools' build_ext to compile the extension (shmap_ext.py).

A wheel is a zip of shmap/*.py, the compiled shmap/_shmap*.so and metadata,
written here rather than by setuptools' bdist_wheel, which (before
setuptools 70.1) needs the separate `wheel` package: so the only build
requirement is setuptools, which Debian ships (python3-setuptools). Build
offline with `pip install --no-build-isolation bindings/python`.
"""
import base64
import hashlib
import io
import os
import re
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmap_ext  # noqa: E402

NAME = "shmap"
HERE = shmap_ext.HERE


def _project_version():
    """The version pyproject.toml declares (the one place it is written here)."""
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\s*version\s*=\s*"([^"]+)"', line)
            if m:
                return m.group(1)
    raise SystemExit("shmap: no version in pyproject.toml")


VERSION = _project_version()
DIST_INFO = f"{NAME}-{VERSION}.dist-info"

METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: Python bindings (a C extension) for libshmap: lock-free data structures in shared memory
License: MIT
Requires-Python: >=3.8
"""


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    if shmap_ext.limited_api():
        return f"{shmap_ext.LIMITED_API_TAG}-abi3-{plat}"
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return f"{py}-{py}-{plat}"


def _wheel_file(tag):
    return f"""Wheel-Version: 1.0
Generator: shmap_build
Root-Is-Purelib: false
Tag: {tag}
"""


def _package_files():
    pkg = os.path.join(HERE, NAME)
    for fn in sorted(os.listdir(pkg)):
        if fn.endswith(".py"):
            yield os.path.join(pkg, fn), f"{NAME}/{fn}"


def _digest(data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={h},{len(data)}"


def _write_wheel(directory, entries):
    tag = _tag()
    fname = f"{NAME}-{VERSION}-{tag}.whl"
    record = []
    with zipfile.ZipFile(os.path.join(directory, fname), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in entries + [(f"{DIST_INFO}/METADATA", METADATA.encode()),
                                    (f"{DIST_INFO}/WHEEL", _wheel_file(tag).encode())]:
            z.writestr(arc, data)
            record.append(f"{arc},{_digest(data)}")
        record.append(f"{DIST_INFO}/RECORD,,")
        z.writestr(f"{DIST_INFO}/RECORD", "\n".join(record) + "\n")
    return fname


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(METADATA)
    with open(os.path.join(d, "WHEEL"), "w") as f:
        f.write(_wheel_file(_tag()))
    return DIST_INFO


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    entries = []
    for path, arc in _package_files():
        with open(path, "rb") as f:
            entries.append((arc, f.read()))
    with tempfile.TemporaryDirectory(prefix="shmap-build-") as tmp:
        so = shmap_ext.build(os.path.join(tmp, "lib"), os.path.join(tmp, "temp"))
        with open(so, "rb") as f:
            entries.append((f"{NAME}/{os.path.basename(so)}", f.read()))
    return _write_wheel(wheel_directory, entries)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # The extension is built in place, next to the sources the .pth points at.
    with tempfile.TemporaryDirectory(prefix="shmap-build-") as tmp:
        shmap_ext.build(HERE, tmp)
    return _write_wheel(wheel_directory, [(f"__editable__.{NAME}.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{VERSION}"
    fname = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, fname), "w:gz") as t:
        for rel in ["pyproject.toml", "README.md", "setup.py", "src/shmapmodule.c"]:
            p = os.path.join(HERE, rel)
            if os.path.exists(p):
                t.add(p, f"{base}/{rel}")
        for d in ["_backend", NAME, "tests"]:
            for fn in sorted(os.listdir(os.path.join(HERE, d))):
                if fn.endswith(".py"):
                    t.add(os.path.join(HERE, d, fn), f"{base}/{d}/{fn}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return fname
