# SPDX-License-Identifier: MIT
"""shmap: lock-free data structures in shared memory, from Python (ctypes).

    import shmap
    with shmap.Table("/demo", capacity=1024, key_max=64, value_max=256) as t:
        t["greeting"] = b"hello"          # str keys are UTF-8 encoded
        assert t[b"greeting"] == b"hello"
    shmap.unlink("/demo")

The library is loaded from $SHMAP_LIBRARY or by its soname libshmap.so.0.
"""
from ._ffi import C as _C, lib_path
from ._base import (CREATE, OPEN, OPEN_OR_CREATE, BACKEND_SHM, BACKEND_FILE, BACKEND_MEMFD,
                    OPT_HUGEPAGES, OPT_PREFAULT, Options, unlink)
from .errors import *  # noqa: F401,F403
from .errors import ShmapError, RECOVERED
from .table import Table, Cursor, Abort
from .ring import Ring, SPSC, SPMC, BCAST_LOSSY, BCAST_RELIABLE, PRODUCER, CONSUMER, OBSERVER
from .vector import Vector
from .info import info, kind_name, cleanup_stale, reap, FIELD_MAX as INFO_FIELD_MAX


def version():
    """Version of the loaded C library, e.g. "0.1.0"."""
    return _C.version_string().decode()


def layout_version():
    """Segment format version of the loaded C library."""
    return _C.layout_version()


def strerror(code):
    return _C.strerror(code).decode()


__version__ = "0.1.0"
