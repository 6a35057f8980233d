# SPDX-License-Identifier: MIT
"""Options, open flags and the common handle machinery."""
import os

from . import _shmap

CREATE = 1
OPEN = 2
OPEN_OR_CREATE = 3
OPEN_WAIT = _shmap.OPEN_WAIT
"""With OPEN (``OPEN | OPEN_WAIT``, or the string "open_wait"): wait for
another process to create the segment and finish building it, up to the
options' timeout_ms (default 2000), then open it; TimeoutError if it never
appears. The wait sleeps (inotify, else a bounded back-off) without the GIL."""

BACKEND_SHM = 0
BACKEND_FILE = 1
BACKEND_MEMFD = 2

OPT_HUGEPAGES = 1
OPT_PREFAULT = 2

_FLAGS = {"create": CREATE, "open": OPEN, "open_or_create": OPEN_OR_CREATE,
          "open_wait": OPEN | OPEN_WAIT}


def oflags(value):
    """Accept CREATE/OPEN/OPEN_OR_CREATE (OPEN | OPEN_WAIT) or "create"/"open"/
    "open_or_create"/"open_wait"."""
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


def wait_kw(wait, kw):
    """The keyword arguments of an opening classmethod given its wait=:
    None or False: unchanged (the class's default flags); True: flags
    OPEN | OPEN_WAIT, waiting up to the options' timeout_ms; a number of
    seconds: the same, and it sets timeout_ms."""
    if wait is None or wait is False:
        return kw
    if kw.get("flags") is not None:
        raise TypeError("give wait= or flags=, not both")
    if wait is not True:
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
            raise ValueError("wait must be True, False, None or a number of seconds >= 0")
        if kw.get("timeout_ms") is not None:
            raise TypeError("give wait=seconds or timeout_ms=, not both")
        ms = 0xFFFFFFFF if wait * 1000 >= 0xFFFFFFFF else int(wait * 1000)
        if kw.get("options") is not None:
            kw["options"] = Options.coerce(kw["options"], {"timeout_ms": ms})
        else:
            kw["timeout_ms"] = ms
    kw["flags"] = OPEN | OPEN_WAIT
    return kw


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
