# SPDX-License-Identifier: MIT
"""shmap status codes as Python exceptions.

Every failing call raises a ShmapError (or a subclass): ``e.code`` is the
negative SHMAP_E_* value, ``e.name`` its symbolic name and ``str(e)`` the
library's shmap_strerror() text. The common cases have their own subclass,
which also derives from the matching built-in exception where one fits
(NotFoundError is a KeyError, RangeError an IndexError, TimeoutError the
built-in TimeoutError, ...).
"""
import builtins

from . import _shmap

# Pinned values from <shmap/status.h>.
OK = 0
RECOVERED = 1
E_INVAL = -1001
E_NOMEM = -1002
E_NOSPC = -1003
E_EXIST = -1004
E_NOENT = -1005
E_NOTFOUND = -1006
E_FULL = -1007
E_EMPTY = -1008
E_TIMEOUT = -1009
E_BUSY = -1010
E_INCOMPAT = -1011
E_CORRUPT = -1012
E_ACCESS = -1013
E_RANGE = -1014
E_TOOBIG = -1015
E_OVERRUN = -1016
E_SYS = -1017
E_VERSION = -1018
E_BADMAGIC = -1019
E_TRUNCATED = -1020
E_NOTREADY = -1021
E_FORKED = -1022
E_NAMETOOLONG = -1023
E_BUFSIZE = -1024
E_NOTSUP = -1025
E_PEERFAULT = -1026
E_ABORTED = -1027
E_MISMATCH = -1028
E_NOTATTACHED = -1029
E_PEERDEAD = -1030


class ShmapError(Exception):
    """A shmap call failed. Attributes: code (int < 0), name, message, errno."""

    def __init__(self, code, message=None, errno=0):
        if message is None:
            message = _shmap.strerror(code)
        self.code = code
        self.name = _shmap.errname(code)
        self.message = message
        self.sys_errno = errno
        super().__init__(code, message)

    def __str__(self):
        s = f"{self.message} ({self.name})"
        if self.sys_errno:
            import os
            s += f": {os.strerror(self.sys_errno)}"
        return s

    def __repr__(self):
        return f"{type(self).__name__}({self.code}, {self.message!r})"


class InvalidArgumentError(ShmapError, ValueError):
    """SHMAP_E_INVAL (also SHMAP_E_NAMETOOLONG)."""


class ExistsError(ShmapError, builtins.FileExistsError):
    """SHMAP_E_EXIST: the segment (or key, for insert) already exists."""


class NoSegmentError(ShmapError, builtins.FileNotFoundError):
    """SHMAP_E_NOENT: no such segment."""


class NotFoundError(ShmapError, KeyError):
    """SHMAP_E_NOTFOUND: key not found (a KeyError)."""

    __str__ = ShmapError.__str__


class FullError(ShmapError):
    """SHMAP_E_FULL: the structure is full."""


class EmptyError(ShmapError):
    """SHMAP_E_EMPTY: the structure is empty."""


class TimeoutError(ShmapError, builtins.TimeoutError):
    """SHMAP_E_TIMEOUT: a bounded wait reached its deadline."""


class BusyError(ShmapError):
    """SHMAP_E_BUSY: held by another live process."""


class IncompatibleError(ShmapError):
    """SHMAP_E_INCOMPAT: a segment of another kind or with other parameters."""


class CorruptError(ShmapError):
    """SHMAP_E_CORRUPT (also BADMAGIC, TRUNCATED, VERSION, PEERFAULT)."""


class AccessError(ShmapError, builtins.PermissionError):
    """SHMAP_E_ACCESS: permission denied or an unsafe object."""


class RangeError(ShmapError, IndexError):
    """SHMAP_E_RANGE: index out of range (an IndexError)."""


class TooBigError(ShmapError, ValueError):
    """SHMAP_E_TOOBIG: key, value or element too large."""


class OverrunError(ShmapError):
    """SHMAP_E_OVERRUN: a lossy broadcast subscriber was lapped (see Ring.missed)."""


class NotReadyError(ShmapError):
    """SHMAP_E_NOTREADY: not yet built / not yet published."""


class ForkedError(ShmapError):
    """SHMAP_E_FORKED: handle used in a child after fork(); call reattach()."""


class MismatchError(ShmapError):
    """SHMAP_E_MISMATCH: compare-and-swap found another value."""


class NotSupportedError(ShmapError):
    """SHMAP_E_NOTSUP (also: the loaded library lacks the function)."""


class AbortedError(ShmapError):
    """SHMAP_E_ABORTED: an update callback aborted."""


class NotAttachedError(ShmapError):
    """SHMAP_E_NOTATTACHED: the handle does not hold the needed role."""


class PeerDeadError(ShmapError):
    """SHMAP_E_PEERDEAD: the peer a ring end waits for died (Ring.notify_arm(),
    pop_async(), push_async(); reported once per death)."""


class BufferSizeError(ShmapError, ValueError):
    """SHMAP_E_BUFSIZE: a caller's buffer is too small (Table.get_into);
    ``needed`` is the size the value needs."""

    needed = None


_BY_CODE = {
    E_INVAL: InvalidArgumentError,
    E_NAMETOOLONG: InvalidArgumentError,
    E_EXIST: ExistsError,
    E_NOENT: NoSegmentError,
    E_NOTFOUND: NotFoundError,
    E_FULL: FullError,
    E_EMPTY: EmptyError,
    E_TIMEOUT: TimeoutError,
    E_BUSY: BusyError,
    E_INCOMPAT: IncompatibleError,
    E_CORRUPT: CorruptError,
    E_BADMAGIC: CorruptError,
    E_TRUNCATED: CorruptError,
    E_VERSION: CorruptError,
    E_PEERFAULT: CorruptError,
    E_ACCESS: AccessError,
    E_RANGE: RangeError,
    E_TOOBIG: TooBigError,
    E_OVERRUN: OverrunError,
    E_NOTREADY: NotReadyError,
    E_FORKED: ForkedError,
    E_MISMATCH: MismatchError,
    E_NOTSUP: NotSupportedError,
    E_ABORTED: AbortedError,
    E_NOTATTACHED: NotAttachedError,
    E_PEERDEAD: PeerDeadError,
    E_BUFSIZE: BufferSizeError,
}


def error(code, errno=0):
    """The exception object for a negative status code."""
    return _BY_CODE.get(code, ShmapError)(code, None, errno)


def check(rc):
    """Raise for rc < 0; return rc (0 or RECOVERED) otherwise."""
    if rc < 0:
        raise error(rc)
    return rc


_shmap._register(error)  # the extension raises through error()
