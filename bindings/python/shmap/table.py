# SPDX-License-Identifier: MIT
"""The shared-memory hash table as a MutableMapping of bytes to bytes."""
import weakref
from collections.abc import ItemsView, MutableMapping

from . import _shmap
from ._base import (default_flags, CREATE, OPEN, Handle, Options, c_opts, encode_name, oflags,
                    wait_kw)

COMMIT = 0
ABORT = 1
ERASE = 2


class Abort(Exception):
    """Raise inside a Table.modify() function to change nothing."""


class _Keep:
    """The type of KEEP (one instance)."""

    __slots__ = ()

    def __repr__(self):
        return "shmap.KEEP"

    def __reduce__(self):
        return "KEEP"


KEEP = _Keep()
"""Return it from a Table.modify() function to write nothing: modify()
then succeeds if the key exists and raises NotFoundError if it does not (an
update-if-exists returns KEEP when it is given None)."""


class _Items(ItemsView):
    def __iter__(self):
        return self._mapping.iter_items()


class Table(_shmap.Table, Handle, MutableMapping):
    """A hash table segment: ``t[b"k"] = b"v"``, ``t[b"k"]``, ``del t[b"k"]``,
    ``b"k" in t``, ``len(t)``, iteration (keys, via the C cursor API), ``get``.

    Keys and values are bytes of 1..key_max and 1..value_max bytes: bytes,
    bytearray, memoryview or anything else with the buffer protocol (str is
    encoded as UTF-8). Values always come back as bytes; get_into() copies
    one into a caller's buffer instead, get_many() looks many keys up in one
    call.

    ``Table(name, capacity, key_max, value_max, flags=None,
    options=None, **option_kwargs)``; flags None means OPEN_OR_CREATE when
    parameters are given, else OPEN; on open, 0 parameters accept what the
    segment stores. A handle may be shared by threads (the C handle is
    thread-safe), except close()/reattach()/set_timeout(). Readers keep the
    GIL (they never block); writers release it while they may wait for a
    key's lock.
    """

    def __init__(self, name, capacity=0, key_max=0, value_max=0, flags=None,
                 options=None, **option_kwargs):
        options = Options.coerce(options, option_kwargs)
        self._cursors = weakref.WeakSet()
        self.open_status = self._open(
            encode_name(name), oflags(default_flags(flags, capacity, key_max, value_max)),
            capacity, key_max, value_max, c_opts(options))
        self.name = name

    @classmethod
    def create(cls, name, capacity, key_max, value_max, **kw):
        return cls(name, capacity, key_max, value_max, flags=CREATE, **kw)

    @classmethod
    def open(cls, name, wait=None, **kw):
        """Open an existing table, accepting its stored parameters. wait=True
        waits for another process to create it, up to the options' timeout
        (timeout_ms, default 2 s); wait=seconds sets that timeout; then
        TimeoutError. Without wait, NoSegmentError if it does not exist."""
        if wait is None or wait is False:
            return cls(name, flags=OPEN, **kw)
        return cls(name, **wait_kw(wait, kw))

    def close(self):
        """Detach and free the handle (and its cursors). Idempotent."""
        for cur in list(getattr(self, "_cursors", ())):
            cur.close()
        _shmap.Table.close(self)

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self)}/{self.capacity}"
        return f"<shmap.Table {self.name!r} {state}>"

    # get_value, __getitem__, get, get_into, __contains__, __setitem__,
    # __delitem__, __len__, get_many, insert, replace, cas, cas_erase, clear, stats,
    # check, fileno, set_timeout, reattach, capacity, key_max and value_max
    # are the C type's.

    def modify(self, key, fn):
        """Atomic read-modify-write: fn(current bytes or None) returns the new
        value (bytes/str/buffer), None to erase the key, or KEEP to write
        nothing (modify() then returns normally if the key exists and raises
        NotFoundError, a KeyError, if it does not: an update-if-exists is an
        fn returning KEEP for None); raise Abort to change nothing and make
        modify() raise AbortedError. fn runs with the key's lock held: keep
        it short and do not touch this table from it. Exceptions raised by
        fn abort the update and are re-raised. Returns 0, or RECOVERED when
        a dead writer's lock on the key was taken over."""
        return self._update(key, fn, Abort, KEEP)

    # --- iteration --------------------------------------------------------
    def cursor(self):
        """A Cursor over the entries (weakly consistent)."""
        return Cursor(self)

    def iter_items(self):
        """Yield (key, value) pairs through a cursor (freed when done)."""
        with Cursor(self) as c:
            while True:
                item = c.next()
                if item is None:
                    return
                yield item

    def __iter__(self):
        for k, _ in self.iter_items():
            yield k

    def items(self):
        return _Items(self)


class Cursor(_shmap.Cursor, Handle):
    """Iteration cursor of a Table (use from one thread at a time):
    next() returns (key, value) or None at the end; reset(); close()."""

    def __init__(self, table):
        super().__init__(table)
        table._cursors.add(self)

    def __iter__(self):
        while True:
            item = self.next()
            if item is None:
                return
            yield item
