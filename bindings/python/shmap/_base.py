# SPDX-License-Identifier: MIT
"""Options, open flags and the common handle machinery."""
import ctypes
import os
import weakref

from ._ffi import C
from .errors import check

CREATE = 1
OPEN = 2
OPEN_OR_CREATE = 3

BACKEND_SHM = 0
BACKEND_FILE = 1
BACKEND_MEMFD = 2

OPT_HUGEPAGES = 1
OPT_PREFAULT = 2

_FLAGS = {"create": CREATE, "open": OPEN, "open_or_create": OPEN_OR_CREATE}


def oflags(value):
    """Accept CREATE/OPEN/OPEN_OR_CREATE or "create"/"open"/"open_or_create"."""
    if isinstance(value, str):
        try:
            return _FLAGS[value]
        except KeyError:
            raise ValueError(f"open flags must be one of {sorted(_FLAGS)}") from None
    return int(value)


def default_flags(flags, *params):
    """flags=None: OPEN_OR_CREATE when creation parameters are given, else OPEN."""
    if flags is None:
        return OPEN_OR_CREATE if any(params) else OPEN
    return flags


def encode_name(name):
    if name is None:
        return None
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if isinstance(name, str):
        return name.encode()
    return bytes(name)


class Options:
    """Segment creation/open options (see <shmap/segment.h>).

    Every argument is optional; None keeps the library default:
    backend (BACKEND_SHM/FILE/MEMFD), mode (e.g. 0o600), owner (uid or -1 for
    any), fd (memfd to open), timeout_ms (open wait), max_procs, flags
    (OPT_HUGEPAGES | OPT_PREFAULT).
    """

    _SETTERS = (("backend", "opts_set_backend"), ("mode", "opts_set_mode"),
                ("owner", "opts_set_owner"), ("fd", "opts_set_fd"),
                ("timeout_ms", "opts_set_timeout_ms"), ("max_procs", "opts_set_max_procs"),
                ("flags", "opts_set_flags"))

    def __init__(self, backend=None, mode=None, owner=None, fd=None, timeout_ms=None,
                 max_procs=None, flags=None):
        self.backend = backend
        self.mode = mode
        self.owner = owner
        self.fd = fd
        self.timeout_ms = timeout_ms
        self.max_procs = max_procs
        self.flags = flags

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k, _ in self._SETTERS
                         if getattr(self, k) is not None)
        return f"Options({args})"

    @classmethod
    def coerce(cls, options, kwargs):
        if options is None and not kwargs:
            return None
        if options is None:
            return cls(**kwargs)
        if kwargs:
            merged = {k: getattr(options, k) for k, _ in cls._SETTERS}
            merged.update(kwargs)
            return cls(**merged)
        return options

    def _new(self):
        """A C shmap_opts* holding these settings; the caller frees it."""
        p = ctypes.c_void_p()
        check(C.opts_new(ctypes.byref(p)))
        try:
            for attr, fn in self._SETTERS:
                v = getattr(self, attr)
                if v is not None:
                    check(getattr(C, fn)(p, v))
        except BaseException:
            C.opts_free(p)
            raise
        return p


def call_with_opts(options, fn):
    """fn(c_opts_pointer_or_None), freeing the C options afterwards."""
    if options is None:
        return fn(None)
    p = options._new()
    try:
        return fn(p)
    finally:
        C.opts_free(p)


def unlink(name, options=None, **kwargs):
    """Remove a segment's name (open handles stay valid)."""
    options = Options.coerce(options, kwargs)
    return call_with_opts(options, lambda o: check(C.unlink(encode_name(name), o)))


class Handle:
    """An owned C handle: closed by close(), by ``with``, or by the finalizer."""

    _close_fn = None  # name of the C close function in C

    def _adopt(self, ptr):
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, getattr(C, self._close_fn), ptr)

    @property
    def _h(self):
        p = getattr(self, "_ptr", None)
        if p is None:
            raise ValueError(f"I/O operation on a closed {type(self).__name__}")
        return p

    @property
    def closed(self):
        return getattr(self, "_ptr", None) is None

    def close(self):
        """Detach and free the handle. Idempotent."""
        if getattr(self, "_ptr", None) is None:
            return
        self._before_close()
        self._ptr = None
        self._finalizer()

    def _before_close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
