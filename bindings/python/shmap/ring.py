# SPDX-License-Identifier: MIT
"""Ring buffers: SPSC, SPMC, lossy and reliable broadcast, of fixed-size slots (Ring)
or of variable-length records (RecRing)."""
import asyncio

from . import _shmap, errors
from ._base import default_flags, Handle, Options, c_opts, encode_name, oflags, wait_kw

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


class Ring(_shmap.Ring, Handle):
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
    (bytes, str or any buffer) with zeros. pop()/push() take an optional
    timeout in seconds (None: do not wait; EmptyError/FullError instead of
    TimeoutError); a wait releases the GIL. pop_into() fills a caller's
    buffer; push_many()/pop_many() move a batch in one C call. Iterating a
    consumer pops until the ring is empty. The C handle must not be used by
    two threads at once, so calls on one Ring are serialised by a lock (a
    blocking pop holds it); open one handle per thread for parallelism.

    Event loops: fileno() is the ring end's pollable descriptor (selectors,
    select, poll, asyncio's add_reader; see notify_arm()), and the
    coroutines pop_async()/push_async() wait on it in the running asyncio
    loop. segment_fd() is the memfd of the segment (memfd backend).
    """

    def __init__(self, name, role, type=0, elem_size=0, capacity=0, max_consumers=0,
                 flags=None, options=None, **option_kwargs):
        role = _ROLES.get(role, role) if isinstance(role, str) else role
        type = _TYPES.get(type, type) if isinstance(type, str) else type
        if isinstance(role, str) or isinstance(type, str):
            raise ValueError("unknown ring role or type")
        options = Options.coerce(options, option_kwargs)
        self.open_status = self._open(
            encode_name(name), oflags(default_flags(flags, elem_size, capacity)), type,
            elem_size, capacity, max_consumers, role, c_opts(options))
        self.name = name

    @classmethod
    def producer(cls, name, wait=None, **kw):
        """Attach as the producer. wait (also for consumer() and observer()):
        True waits for another process to create the ring, up to the
        options' timeout (timeout_ms, default 2 s), seconds sets that
        timeout; then TimeoutError (flags OPEN | OPEN_WAIT)."""
        return cls(name, PRODUCER, **wait_kw(wait, kw))

    @classmethod
    def consumer(cls, name, wait=None, **kw):
        """Attach as a consumer / subscriber (wait: see producer())."""
        return cls(name, CONSUMER, **wait_kw(wait, kw))

    @classmethod
    def observer(cls, name, wait=None, **kw):
        """Attach without a role (inspection only; see the class docstring)."""
        return cls(name, OBSERVER, **wait_kw(wait, kw))

    def __repr__(self):
        if self.closed:
            return f"<shmap.Ring {self.name!r} closed>"
        return (f"<shmap.Ring {self.name!r} type={self.type} role={self.role} "
                f"{len(self)}/{self.capacity}x{self.elem_size}>")

    # push, pop, pop_into, push_many, pop_many, wait, reserve, commit, peek,
    # release, read_at, clear, stats, consumer_info, consumers, check, fileno,
    # reattach, len() and the properties are the C type's.

    def close(self):
        """Detach and free the handle (releasing its role). Idempotent. A
        pop_async()/push_async() waiting on it raises ValueError; close from
        the thread of the event loop they run in."""
        st = getattr(self, "_aw", None)
        if st is not None:
            st.abort(ValueError("I/O operation on a closed Ring"))
        _shmap.Ring.close(self)

    # --- asyncio ------------------------------------------------------------
    async def pop_async(self, timeout=None):
        """Pop one element, waiting in the running asyncio loop (on fileno())
        without blocking it. timeout: seconds (None: no bound), then
        shmap.TimeoutError. PeerDeadError when the ring is empty and its
        producer died (told once per death: awaiting again waits for a
        replacement producer); OverrunError as pop() for a lapped lossy
        subscriber. Several coroutines of one loop may await the same
        ring; one ring is awaited in one loop at a time."""
        return await self._async_op(self.pop, errors.EmptyError, timeout)

    async def push_async(self, data, timeout=None):
        """Push one element (padded as push()), waiting in the running asyncio
        loop for a free slot. timeout, PeerDeadError (an SPSC consumer that
        died with the ring full) as pop_async()."""
        return await self._async_op(lambda: self.push(data), errors.FullError, timeout)

    async def _async_op(self, op, blocked, timeout):
        # The documented loop: try (drain), arm once blocked, wait for the
        # descriptor, try again. arm() makes the descriptor readable at once
        # if progress became possible before it, so no wake-up is lost, and
        # unreadable otherwise, so the loop never spins.
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(timeout, 0.0)
        self.fileno()  # arm needs the descriptor; it starts readable
        while True:
            try:
                return op()
            except blocked:
                pass
            self.notify_arm()
            await self._readable(loop, deadline)

    async def _readable(self, loop, deadline):
        st = getattr(self, "_aw", None)
        if st is None:
            st = self._aw = _LoopWaiters(self, loop, self.fileno())
        elif st.loop is not loop:
            raise RuntimeError("a Ring is awaited in one event loop at a time")
        fut = st.add()
        try:
            if deadline is None:
                await fut
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise errors.error(errors.E_TIMEOUT)
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                raise errors.error(errors.E_TIMEOUT) from None
        finally:
            st.discard(fut)

    def __iter__(self):
        """Pop elements until the ring is empty (consumer)."""
        from .errors import EmptyError
        while True:
            try:
                yield self.pop()
            except EmptyError:
                return

    def iter_wait(self, timeout):
        """Pop elements, waiting up to timeout seconds for each; stops at a timeout."""
        from .errors import TimeoutError
        while True:
            try:
                yield self.pop(timeout)
            except TimeoutError:
                return


class RecRing(_shmap.RecRing, Ring):
    """A ring of variable-length records (C: ring_rec.h), attached with one
    role, as Ring: ``RecRing(name, role, type=0, max_record=0, capacity=0,
    max_consumers=0, flags=None, options=None, **option_kwargs)``. Records
    are 1..max_record bytes; capacity counts bytes (a power of two, at least
    twice a record of max_record bytes with its 8-byte header); each record
    takes its length rounded up to 8 plus an 8-byte header, never a fixed
    slot. Types SPSC, SPMC, BCAST_LOSSY, BCAST_RELIABLE.

    push(data) pushes one record of len(data) bytes (bytes, str as UTF-8,
    or any buffer); pop() returns the record as bytes of its own length;
    pop_into(buffer) copies it into a caller's buffer and returns its
    length, or raises BufferSizeError (``.needed``) without popping;
    push_many()/pop_many() move a batch in one C call; reserve(n)/commit(n)
    and peek()/release() work in place. Waits (timeout in seconds) release
    the GIL. fileno()/notify_arm(), pop_async()/push_async(), wait(),
    iteration, close(), reattach(), stats(), consumer_info(), consumers(),
    check() and the properties are Ring's; len() and capacity count bytes
    (headers and padding included), elem_size is max_record, missed counts
    the bytes a lossy subscriber skipped and lost the records SPMC consumers
    died holding. read_at() raises NotSupportedError (records have no
    element positions).
    """

    def __init__(self, name, role, type=0, max_record=0, capacity=0, max_consumers=0,
                 flags=None, options=None, **option_kwargs):
        # Ring's open, with max_record where Ring has elem_size (self._open
        # is the record ring's)
        super().__init__(name, role, type, max_record, capacity, max_consumers, flags,
                         options, **option_kwargs)

    def __repr__(self):
        if self.closed:
            return f"<shmap.RecRing {self.name!r} closed>"
        return (f"<shmap.RecRing {self.name!r} type={self.type} role={self.role} "
                f"{len(self)}/{self.capacity} bytes, max_record={self.max_record}>")

    # push, pop, pop_into, push_many, pop_many, reserve, commit, peek, release,
    # clear and max_record are the C type's; the rest is Ring's.

    async def push_async(self, data, timeout=None):
        """Push one record, waiting in the running asyncio loop for room
        (for a record of max_record bytes). timeout, PeerDeadError as
        Ring.pop_async()."""
        return await self._async_op(lambda: self.push(data), errors.FullError, timeout)


class _LoopWaiters:
    """The coroutines of one event loop waiting for a ring's descriptor: one
    reader callback for all of them (add_reader keeps one per descriptor),
    removed when it fires or when the last waiter gives up."""

    def __init__(self, ring, loop, fd):
        self.ring, self.loop, self.fd = ring, loop, fd
        self.futs = []
        loop.add_reader(fd, self.wake)

    def add(self):
        fut = self.loop.create_future()
        self.futs.append(fut)
        return fut

    def _detach(self):
        if self.ring._aw is self:
            self.ring._aw = None
            self.loop.remove_reader(self.fd)

    def wake(self):
        self._detach()
        for f in self.futs:
            if not f.done():
                f.set_result(None)
        self.futs = []

    def discard(self, fut):
        if fut in self.futs:
            self.futs.remove(fut)
        if not self.futs:
            self._detach()

    def abort(self, exc):
        try:
            self._detach()
        except Exception:  # a closed loop: nothing to remove
            self.ring._aw = None
        for f in self.futs:
            if not f.done():
                f.set_exception(exc)
        self.futs = []
