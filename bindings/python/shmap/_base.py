# SPDX-License-Identifier: MIT
"""Options, open flags and the common handle machinery."""
import os

from . import _shmap

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

    _FIELDS = ("backend", "mode", "owner", "fd", "timeout_ms", "max_procs", "flags")

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
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._FIELDS
                         if getattr(self, k) is not None)
        return f"Options({args})"

    @classmethod
    def coerce(cls, options, kwargs):
        if options is None and not kwargs:
            return None
        if options is None:
            return cls(**kwargs)
        if kwargs:
            merged = {k: getattr(options, k) for k in cls._FIELDS}
            merged.update(kwargs)
            return cls(**merged)
        return options

    def _new(self):
        """The C options object (shmap_opts) holding these settings; it is
        freed with the returned object. Invalid settings raise."""
        return _shmap.Opts(**{k: getattr(self, k) for k in self._FIELDS})


def c_opts(options):
    """None or the C options object of an Options."""
    return None if options is None else options._new()


def unlink(name, options=None, **kwargs):
    """Remove a segment's name (open handles stay valid)."""
    return _shmap.unlink(encode_name(name), c_opts(Options.coerce(options, kwargs)))


class Handle:
    """Mixin of the handle classes: ``with`` closes the handle. close(),
    closed and the finalizer (the handle is closed when the object dies)
    are in the C type."""

    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
