# SPDX-License-Identifier: MIT
"""setuptools entry point, for an in-place build of the extension:

    python3 setup.py build_ext --inplace

(pip uses the backend in _backend/, which compiles the same extension.)
"""
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_backend"))
import shmap_build  # noqa: E402
import shmap_ext  # noqa: E402

setup(name="shmap", version=shmap_build.VERSION, packages=["shmap"], ext_modules=[shmap_ext.extension()])
