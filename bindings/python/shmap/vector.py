# SPDX-License-Identifier: MIT
"""The append-only vector."""
from . import _shmap, errors
from ._base import (default_flags, CREATE, OPEN, Handle, Options, c_opts, encode_name, oflags,
                    wait_kw)

SLOT_FREE = 0
SLOT_RESERVED = 1
SLOT_PUBLISHED = 2
SLOT_REPLACING = 3
SLOT_HOLE = 4


class Vector(_shmap.Vector, Handle):
    """An append-only vector of fixed-size elements.

    ``Vector(name, elem_size=0, capacity=0, flags=None, options=None,
    **option_kwargs)`` (flags None: OPEN_OR_CREATE with parameters, else
    OPEN). ``v.push(b"...")`` returns the index; ``v[i]`` reads
    (RangeError is an IndexError, NotReadyError for an unpublished slot,
    NotFoundError for a hole); ``v[i] = data`` replaces; ``len(v)`` is the
    published prefix; iterating yields the published elements in order,
    skipping holes. Data (bytes, str or any buffer) shorter than elem_size
    is padded with zeros. A handle may be shared by threads.
    """

    def __init__(self, name, elem_size=0, capacity=0, flags=None, options=None,
                 **option_kwargs):
        options = Options.coerce(options, option_kwargs)
        self.open_status = self._open(
            encode_name(name), oflags(default_flags(flags, elem_size, capacity)), elem_size,
            capacity, c_opts(options))
        self.name = name

    @classmethod
    def create(cls, name, elem_size, capacity, **kw):
        return cls(name, elem_size, capacity, flags=CREATE, **kw)

    @classmethod
    def open(cls, name, wait=None, **kw):
        """Open an existing vector; wait as Table.open()."""
        if wait is None or wait is False:
            return cls(name, flags=OPEN, **kw)
        return cls(name, **wait_kw(wait, kw))

    def __repr__(self):
        if self.closed:
            return f"<shmap.Vector {self.name!r} closed>"
        return f"<shmap.Vector {self.name!r} {len(self)}/{self.capacity}x{self.elem_size}>"

    def _index(self, i):
        if i < 0:
            i += len(self)
            if i < 0:
                raise errors.error(errors.E_RANGE)
        return i

    # push/append, reserve, write, slot, publish, slot_state, stat, recover,
    # check, clear (always NotSupportedError), fileno, reattach, len() and
    # the properties are the C type's.

    def extend(self, items):
        """Reserve len(items) contiguous slots, write and publish them; returns
        the first index."""
        items = list(items)
        for x in items:  # all checked before any slot is reserved
            n = len(x.encode()) if isinstance(x, str) else memoryview(x).nbytes
            if n > self.elem_size:
                raise errors.error(errors.E_TOOBIG)
        if not items:
            return None
        first = self.reserve(len(items))
        for i, x in enumerate(items):
            self.write(first + i, x)
        self.publish(first, len(items))
        return first

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._get(self._index(index))

    def __setitem__(self, index, data):
        self._replace(self._index(index), data)

    def items(self, start=0):
        """Yield (index, element) over the published prefix, skipping holes;
        stops at the end or at a slot still being written."""
        cur = start
        while True:
            r = self._next(cur)
            if r is None:
                return
            idx, elem, cur = r
            yield idx, elem

    def __iter__(self):
        for _, e in self.items():
            yield e
