# SPDX-License-Identifier: MIT
"""The shmap._shmap extension: its setuptools Extension, and a build of it.

pkg-config gives the include and library flags of libshmap: an installed
shmap.pc, or a build tree's shmap-uninstalled.pc (put BUILD/meson-uninstalled
on PKG_CONFIG_PATH). Library directories outside the system's are also
recorded as the extension's run path, so a build tree's library is found at
import; SHMAP_PY_RPATH=0 records none (distribution packages, whose
libshmap is found by the loader).

SHMAP_PY_LIMITED_API=0 builds against the full C API instead of the stable
ABI (abi3, Python 3.11+, the default where the interpreter allows it: it
measured no slower).
"""
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM_LIBDIRS = ("/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/local/lib")
LIMITED_API_HEX = "0x030B0000"  # 3.11: the buffer protocol joined the limited API
LIMITED_API_TAG = "cp311"


def limited_api():
    return os.environ.get("SHMAP_PY_LIMITED_API", "1") != "0" and sys.version_info >= (3, 11)


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "shmap"], check=True, capture_output=True,
                             text=True).stdout
    except FileNotFoundError:
        raise SystemExit("shmap: pkg-config not found (Debian: apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        raise SystemExit("shmap: pkg-config does not know libshmap (install libshmap-dev, or "
                         "put a build tree's meson-uninstalled directory on PKG_CONFIG_PATH): "
                         + e.stderr.strip())
    return shlex.split(out)


def extension():
    from setuptools import Extension
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    library_dirs = [f[2:] for f in libs if f.startswith("-L")]
    rpath = [d for d in library_dirs
             if not any(d == s or d.startswith(s + "/") for s in SYSTEM_LIBDIRS)]
    if os.environ.get("SHMAP_PY_RPATH", "1") == "0":
        rpath = []
    limited = limited_api()
    return Extension(
        "shmap._shmap", [os.path.join(HERE, "src", "shmapmodule.c")],
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        library_dirs=library_dirs,
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        runtime_library_dirs=rpath,
        define_macros=[("Py_LIMITED_API", LIMITED_API_HEX)] if limited else [],
        py_limited_api=limited,
        extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra",
                            "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
    )


def build(build_lib, build_temp):
    """Compile the extension into build_lib/shmap/; returns the file's path."""
    from setuptools import Distribution
    dist = Distribution({"name": "shmap", "ext_modules": [extension()]})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = build_lib
    cmd.build_temp = build_temp
    cmd.ensure_finalized()
    cmd.run()
    return cmd.get_ext_fullpath("shmap._shmap")
