# SPDX-License-Identifier: MIT
"""Ring buffers: SPSC, SPMC, lossy and reliable broadcast."""
from . import _shmap
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
