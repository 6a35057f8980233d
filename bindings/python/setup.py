# SPDX-License-Identifier: MIT
"""Builds the shmap._shmap extension against libshmap found by pkg-config.

pkg-config gives the include and library flags of libshmap: an installed
shmap.pc, or a build tree's shmap-uninstalled.pc (put BUILD/meson-uninstalled
on PKG_CONFIG_PATH; the uninstalled file is preferred by pkg-config itself).
Library directories outside the default search path are also recorded as
the extension's run path, so a build-tree library is found at import.

SHMAP_PY_LIMITED_API=0 builds against the full C API instead of the stable
ABI (abi3, Python 3.11+; the default where the interpreter allows it).
"""
import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup

SYSTEM_LIBDIRS = {"/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/local/lib"}


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "shmap"], check=True, capture_output=True,
                             text=True).stdout
    except FileNotFoundError:
        sys.exit("shmap: pkg-config not found (Debian: apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        sys.exit("shmap: pkg-config does not know libshmap (install libshmap-dev, or put a "
                 "build tree's meson-uninstalled directory on PKG_CONFIG_PATH): "
                 + e.stderr.strip())
    return shlex.split(out)


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
include_dirs = [f[2:] for f in cflags if f.startswith("-I")]
library_dirs = [f[2:] for f in libs if f.startswith("-L")]
libraries = [f[2:] for f in libs if f.startswith("-l")]
rpath = [d for d in library_dirs
         if not any(d.startswith(s) for s in SYSTEM_LIBDIRS) and not d.startswith("/usr/lib/")]

limited = os.environ.get("SHMAP_PY_LIMITED_API", "1") != "0" and sys.version_info >= (3, 11)
macros = [("Py_LIMITED_API", "0x030B0000")] if limited else []

setup(
    ext_modules=[Extension(
        "shmap._shmap", ["src/shmapmodule.c"],
        include_dirs=include_dirs, library_dirs=library_dirs, libraries=libraries,
        runtime_library_dirs=rpath, define_macros=macros, py_limited_api=limited,
        extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers",
                            "-Wno-cast-function-type"],
    )],
    options={"bdist_wheel": {"py_limited_api": "cp311"}} if limited else {},
)
