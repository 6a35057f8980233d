# SPDX-License-Identifier: MIT
"""shmap: lock-free data structures in shared memory, from Python.

    import shmap
    with shmap.Table("/demo", capacity=1024, key_max=64, value_max=256) as t:
        t["greeting"] = b"hello"          # str keys are UTF-8 encoded
        assert t[b"greeting"] == b"hello"
    shmap.unlink("/demo")

The calls go through a C extension (shmap._shmap) linked against
libshmap.so.1. $SHMAP_LIBRARY, when set, names the libshmap to use instead
of the one the dynamic loader would find (a build tree, for example).
"""
import os as _os

_path = _os.environ.get("SHMAP_LIBRARY")
if _path:
    # Loaded before the extension: the loader then resolves the extension's
    # libshmap.so.1 to this already loaded copy (same soname). An explicit
    # path must work: falling back silently would test the wrong library.
    import ctypes as _ctypes
    try:
        _ctypes.CDLL(_path, mode=_os.RTLD_NOW | _os.RTLD_GLOBAL)
    except OSError as _e:
        raise ImportError(f"cannot load libshmap from SHMAP_LIBRARY={_path}: {_e}") from None

from . import _shmap  # noqa: E402
from ._base import (CREATE, OPEN, OPEN_OR_CREATE, OPEN_WAIT, BACKEND_SHM,  # noqa: E402
                    BACKEND_FILE, BACKEND_MEMFD, OPT_HUGEPAGES, OPT_PREFAULT, Options, unlink)
from .errors import *  # noqa: F401,F403,E402
from .errors import ShmapError, RECOVERED  # noqa: E402
from .table import Table, Cursor, Abort, KEEP  # noqa: E402
from .ring import (Ring, RecRing, SPSC, SPMC, BCAST_LOSSY, BCAST_RELIABLE, PRODUCER,  # noqa: E402
                   CONSUMER, OBSERVER)
from .vector import Vector  # noqa: E402
from .info import info, kind_name, cleanup_stale, reap, FIELD_MAX as INFO_FIELD_MAX  # noqa: E402

lib_path = _shmap.lib_path()
"""Path of the libshmap the extension uses."""


def version():
    """Version of the loaded C library, e.g. "1.0.0"."""
    return _shmap.version()


def layout_version():
    """Segment format version of the loaded C library."""
    return _shmap.layout_version()


def strerror(code):
    return _shmap.strerror(code)


__version__ = "1.0.0"
