# SPDX-License-Identifier: MIT
"""The append-only vector."""
import ctypes

from . import errors
from ._base import default_flags, CREATE, OPEN, Handle, Options, call_with_opts, encode_name, oflags
from ._ffi import C
from .errors import check

SLOT_FREE = 0
SLOT_RESERVED = 1
SLOT_PUBLISHED = 2
SLOT_REPLACING = 3
SLOT_HOLE = 4


class Vector(Handle):
    """An append-only vector of fixed-size elements.

    ``Vector(name, elem_size=0, capacity=0, flags=None, options=None,
    **option_kwargs)`` (flags None: OPEN_OR_CREATE with parameters, else
    OPEN). ``v.push(b"...")`` returns the index; ``v[i]`` reads
    (RangeError is an IndexError, NotReadyError for an unpublished slot,
    NotFoundError for a hole); ``v[i] = data`` replaces; ``len(v)`` is the
    published prefix; iterating yields the published elements in order,
    skipping holes. Data shorter than elem_size is padded with zeros.
    A handle may be shared by threads.
    """

    _close_fn = "vector_close"

    def __init__(self, name, elem_size=0, capacity=0, flags=None, options=None,
                 **option_kwargs):
        options = Options.coerce(options, option_kwargs)
        out = ctypes.c_void_p()
        self.open_status = call_with_opts(options, lambda o: check(C.vector_open(
            encode_name(name), oflags(default_flags(flags, elem_size, capacity)), elem_size,
            capacity, o, ctypes.byref(out))))
        self.name = name
        self._adopt(out.value)
        self.elem_size = C.vector_elem_size(out.value)

    @classmethod
    def create(cls, name, elem_size, capacity, **kw):
        return cls(name, elem_size, capacity, flags=CREATE, **kw)

    @classmethod
    def open(cls, name, **kw):
        return cls(name, flags=OPEN, **kw)

    def __repr__(self):
        if self.closed:
            return f"<shmap.Vector {self.name!r} closed>"
        return f"<shmap.Vector {self.name!r} {len(self)}/{self.capacity}x{self.elem_size}>"

    def _elem(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        data = bytes(data)
        if len(data) > self.elem_size:
            raise errors.error(errors.E_TOOBIG)
        if len(data) < self.elem_size:
            data += bytes(self.elem_size - len(data))
        return data

    def _index(self, i):
        if i < 0:
            i += len(self)
            if i < 0:
                raise errors.error(errors.E_RANGE)
        return i

    @property
    def capacity(self):
        return C.vector_capacity(self._h)

    @property
    def reserved(self):
        return C.vector_reserved(self._h)

    @property
    def holes(self):
        return C.vector_holes(self._h)

    def __len__(self):
        return C.vector_size(self._h)

    def fileno(self):
        return C.vector_fd(self._h)

    def reattach(self):
        return check(C.vector_reattach(self._h))

    def push(self, data):
        """Append one element; returns its index (FullError when full)."""
        idx = ctypes.c_uint64()
        check(C.vector_push(self._h, self._elem(data), ctypes.byref(idx)))
        return idx.value

    append = push

    def extend(self, items):
        """Reserve len(items) contiguous slots, write and publish them; returns
        the first index."""
        items = [self._elem(x) for x in items]
        if not items:
            return None
        first = self.reserve(len(items))
        for i, x in enumerate(items):
            self.write(first + i, x)
        self.publish(first, len(items))
        return first

    def reserve(self, n):
        first = ctypes.c_uint64()
        check(C.vector_reserve(self._h, n, ctypes.byref(first)))
        return first.value

    def write(self, index, data):
        check(C.vector_write(self._h, index, self._elem(data)))

    def slot(self, index):
        """Zero-copy: a writable memoryview of a slot this handle reserved and
        has not published (elem_size bytes). Do not use it after publish()."""
        p = ctypes.c_void_p()
        check(C.vector_slot_ptr(self._h, index, ctypes.byref(p)))
        return memoryview((ctypes.c_char * self.elem_size).from_address(p.value)).cast("B")

    def publish(self, first, n):
        check(C.vector_publish(self._h, first, n))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        buf = ctypes.create_string_buffer(self.elem_size)
        check(C.vector_get(self._h, self._index(index), buf))
        return buf.raw

    def __setitem__(self, index, data):
        check(C.vector_replace(self._h, self._index(index), self._elem(data)))

    def items(self, start=0):
        """Yield (index, element) over the published prefix, skipping holes;
        stops at the end or at a slot still being written."""
        cur = ctypes.c_uint64(start)
        idx = ctypes.c_uint64()
        buf = ctypes.create_string_buffer(self.elem_size)
        while True:
            rc = C.vector_next(self._h, ctypes.byref(cur), buf, ctypes.byref(idx))
            if rc in (errors.E_EMPTY, errors.E_NOTREADY):
                return
            check(rc)
            yield idx.value, buf.raw

    def __iter__(self):
        for _, e in self.items():
            yield e

    def slot_state(self, index):
        """(state, owner) of one slot: SLOT_* constant and owner id."""
        st, ow = ctypes.c_uint32(), ctypes.c_uint32()
        check(C.vector_slot_state(self._h, index, ctypes.byref(st), ctypes.byref(ow)))
        return st.value, ow.value

    def stat(self):
        """(published, pending, holes) over the reserved slots."""
        a, b, c = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        check(C.vector_stat(self._h, ctypes.byref(a), ctypes.byref(b), ctypes.byref(c)))
        return a.value, b.value, c.value

    def recover(self):
        return check(C.vector_recover(self._h))

    def check(self, repair=False):
        n = ctypes.c_uint64()
        check(C.vector_check(self._h, 1 if repair else 0, ctypes.byref(n)))
        return n.value
