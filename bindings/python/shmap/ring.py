# SPDX-License-Identifier: MIT
"""Ring buffers: SPSC, SPMC, lossy and reliable broadcast."""
import ctypes
import threading

from . import errors
from ._base import default_flags, Handle, Options, call_with_opts, encode_name, oflags
from ._ffi import C
from .errors import check

SPSC = 1
SPMC = 2
BCAST_LOSSY = 3
BCAST_RELIABLE = 4

OBSERVER = 0
PRODUCER = 1
CONSUMER = 2

_TYPES = {"spsc": SPSC, "spmc": SPMC, "bcast_lossy": BCAST_LOSSY,
          "bcast_reliable": BCAST_RELIABLE}
_ROLES = {"observer": OBSERVER, "producer": PRODUCER, "consumer": CONSUMER}


def _ms(timeout):
    """Seconds (float) to a uint32 millisecond count, clamped."""
    if timeout is None:
        return None
    ms = int(timeout * 1000)
    return max(0, min(ms, 0xFFFFFFFF))


class Ring(Handle):
    """A ring segment, attached with one role (PRODUCER, CONSUMER, or
    OBSERVER: no role, for inspection: queries, read_at(), consumers(),
    stats(), consumer_info() and check() work, data calls raise
    NotAttachedError; an observer never takes over a role).

    ``Ring(name, role, type=0, elem_size=0, capacity=0, max_consumers=0,
    flags=None, options=None, **option_kwargs)``: role and type
    also accept "producer"/"consumer" and "spsc"/"spmc"/"bcast_lossy"/
    "bcast_reliable". flags None means OPEN_OR_CREATE when elem_size or
    capacity is given, else OPEN; on open, 0 parameters accept what is stored.

    Elements are bytes of exactly elem_size bytes; push() pads shorter data
    with zeros. pop()/push() take an optional timeout in seconds (None: do
    not wait; EmptyError/FullError instead of TimeoutError). Iterating a
    consumer pops until the ring is empty. The C handle must not be used by
    two threads at once, so calls on one Ring are serialised by a lock (a
    blocking pop holds it); open one handle per thread for parallelism.
    """

    _close_fn = "ring_close"

    def __init__(self, name, role, type=0, elem_size=0, capacity=0, max_consumers=0,
                 flags=None, options=None, **option_kwargs):
        role = _ROLES.get(role, role) if isinstance(role, str) else role
        type = _TYPES.get(type, type) if isinstance(type, str) else type
        if isinstance(role, str) or isinstance(type, str):
            raise ValueError("unknown ring role or type")
        options = Options.coerce(options, option_kwargs)
        out = ctypes.c_void_p()
        self.open_status = call_with_opts(options, lambda o: check(C.ring_open(
            encode_name(name), oflags(default_flags(flags, elem_size, capacity)), type,
            elem_size, capacity, max_consumers, role,
            o, ctypes.byref(out))))
        self.name = name
        self._lock = threading.Lock()
        self._adopt(out.value)
        self.elem_size = C.ring_elem_size(out.value)
        self._buf = ctypes.create_string_buffer(self.elem_size)

    def _c(self, fn, *args):
        # The C handle must not be used by two threads at once: serialise.
        with self._lock:
            return fn(self._h, *args)

    def close(self):
        lock = getattr(self, "_lock", None)
        if lock is None:
            return super().close()
        with lock:
            super().close()

    @classmethod
    def producer(cls, name, **kw):
        return cls(name, PRODUCER, **kw)

    @classmethod
    def consumer(cls, name, **kw):
        return cls(name, CONSUMER, **kw)

    @classmethod
    def observer(cls, name, **kw):
        """Attach without a role (inspection only; see the class docstring)."""
        return cls(name, OBSERVER, **kw)

    def __repr__(self):
        if self.closed:
            return f"<shmap.Ring {self.name!r} closed>"
        return (f"<shmap.Ring {self.name!r} type={self.type} role={self.role} "
                f"{len(self)}/{self.capacity}x{self.elem_size}>")

    # --- queries ----------------------------------------------------------
    def __len__(self):
        return self._c(C.ring_size)

    @property
    def capacity(self):
        return self._c(C.ring_capacity)

    @property
    def type(self):
        return self._c(C.ring_type)

    @property
    def role(self):
        return self._c(C.ring_role)

    @property
    def max_consumers(self):
        return self._c(C.ring_max_consumers)

    @property
    def missed(self):
        """Lossy broadcast subscriber: elements missed since subscribing."""
        return self._c(C.ring_missed)

    @property
    def lost(self):
        """SPMC: elements claimed by consumers that died before finishing them."""
        return self._c(C.ring_lost)

    def fileno(self):
        return self._c(C.ring_fd)

    def reattach(self):
        return check(self._c(C.ring_reattach))

    def stats(self):
        """dict(head, tail, lost, producer_pid, producer_alive)."""
        h, t, l = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        pid, alive = ctypes.c_uint32(), ctypes.c_uint32()
        check(self._c(C.ring_stats, ctypes.byref(h), ctypes.byref(t), ctypes.byref(l),
                           ctypes.byref(pid), ctypes.byref(alive)))
        return {"head": h.value, "tail": t.value, "lost": l.value,
                "producer_pid": pid.value, "producer_alive": bool(alive.value)}

    def consumer_info(self, index):
        """dict(pid, alive, cursor, missed) of consumer slot index, or None if free."""
        pid, alive = ctypes.c_uint32(), ctypes.c_uint32()
        cur, missed = ctypes.c_uint64(), ctypes.c_uint64()
        rc = self._c(C.ring_consumer_info, index, ctypes.byref(pid), ctypes.byref(alive),
                                  ctypes.byref(cur), ctypes.byref(missed))
        if rc == errors.E_NOTFOUND:
            return None
        check(rc)
        return {"pid": pid.value, "alive": bool(alive.value), "cursor": cur.value,
                "missed": missed.value}

    def consumers(self):
        """Number of attached, live consumers/subscribers (observers do not
        count; a dead one not yet reclaimed is not counted)."""
        return self._c(C.ring_consumers)

    def read_at(self, pos):
        """Copy the element at absolute position pos (elements pushed before
        it) without consuming it; any role, including OBSERVER. RangeError
        (an IndexError) if pos is outside the live window (see ring.h:
        [tail, head) for SPSC/SPMC, from the lowest subscriber cursor for
        reliable broadcast, the last capacity elements for lossy broadcast);
        OverrunError if the element was overwritten during the copy."""
        buf = ctypes.create_string_buffer(self.elem_size)
        check(self._c(C.ring_read_at, pos, buf))
        return buf.raw

    def check(self, repair=False):
        n = ctypes.c_uint64()
        check(self._c(C.ring_check, 1 if repair else 0, ctypes.byref(n)))
        return n.value

    # --- copy API ---------------------------------------------------------
    def _elem(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        data = bytes(data)
        if len(data) > self.elem_size:
            raise errors.error(errors.E_TOOBIG)
        return data

    def push(self, data, timeout=None):
        """Push one element (padded to elem_size). Without timeout: FullError
        if no slot is free; with one (seconds): wait, then TimeoutError."""
        data = self._elem(data)
        ms = _ms(timeout)
        if ms is None:
            return check(self._c(C.ring_push_bytes, data, len(data)))
        return check(self._c(C.ring_push_bytes_wait, data, len(data), ms))

    def pop(self, timeout=None):
        """Pop one element (elem_size bytes). Without timeout: EmptyError if
        none; with one (seconds): wait, then TimeoutError. Lossy broadcast:
        OverrunError when lapped (see missed), then continues."""
        ms = _ms(timeout)
        buf = self._buf
        if ms is None:
            check(self._c(C.ring_pop, buf))
        else:
            check(self._c(C.ring_pop_wait, buf, ms))
        return buf.raw

    def push_many(self, items, timeout=None):
        """Push a sequence of elements in order; returns how many were pushed
        (without timeout: as many as fit; with one: all, or TimeoutError)."""
        es = self.elem_size
        items = [self._elem(x) for x in items]
        if not items:
            return 0
        blob = b"".join(x + bytes(es - len(x)) for x in items)
        done = ctypes.c_uint32()
        ms = _ms(timeout)
        if ms is None:
            rc = self._c(C.ring_push_n, blob, len(items), ctypes.byref(done))
            if rc == errors.E_FULL:
                return 0
        else:
            rc = self._c(C.ring_push_n_wait, blob, len(items), ctypes.byref(done), ms)
        check(rc)
        return done.value

    def pop_many(self, n, timeout=None):
        """Pop up to n elements; returns a list (empty if none, without timeout)."""
        if n <= 0:
            return []
        es = self.elem_size
        buf = ctypes.create_string_buffer(es * n)
        done = ctypes.c_uint32()
        ms = _ms(timeout)
        if ms is None:
            rc = self._c(C.ring_pop_n, buf, n, ctypes.byref(done))
            if rc == errors.E_EMPTY:
                return []
        else:
            rc = self._c(C.ring_pop_n_wait, buf, n, ctypes.byref(done), ms)
        check(rc)
        raw = buf.raw
        return [raw[i * es:(i + 1) * es] for i in range(done.value)]

    def wait(self, timeout):
        """Wait until the next operation can make progress (seconds)."""
        return check(self._c(C.ring_wait, _ms(timeout)))

    def __iter__(self):
        """Pop elements until the ring is empty (consumer)."""
        while True:
            try:
                yield self.pop()
            except errors.EmptyError:
                return

    def iter_wait(self, timeout):
        """Pop elements, waiting up to timeout seconds for each; stops at a timeout."""
        while True:
            try:
                yield self.pop(timeout)
            except errors.TimeoutError:
                return

    # --- zero-copy API ----------------------------------------------------
    def reserve(self, n=1):
        """Reserve up to n slots; returns a writable memoryview of got*elem_size
        bytes, valid until commit(). Fill it, then commit(k)."""
        ptr, got = ctypes.c_void_p(), ctypes.c_uint32()
        check(self._c(C.ring_reserve, n, ctypes.byref(ptr), ctypes.byref(got)))
        arr = (ctypes.c_char * (got.value * self.elem_size)).from_address(ptr.value)
        return memoryview(arr).cast("B")

    def commit(self, n):
        return check(self._c(C.ring_commit, n))

    def peek(self, n=1):
        """Look at up to n elements in place: a read-only memoryview valid
        until release(). Lossy broadcast: release() may raise OverrunError,
        and then what was read must be discarded."""
        ptr, got = ctypes.c_void_p(), ctypes.c_uint32()
        check(self._c(C.ring_peek, n, ctypes.byref(ptr), ctypes.byref(got)))
        arr = (ctypes.c_char * (got.value * self.elem_size)).from_address(ptr.value)
        return memoryview(arr).cast("B").toreadonly()

    def release(self, n):
        return check(self._c(C.ring_release, n))
