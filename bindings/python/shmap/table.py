# SPDX-License-Identifier: MIT
"""The shared-memory hash table as a MutableMapping of bytes to bytes."""
import ctypes
import weakref
from collections.abc import ItemsView, MutableMapping

from . import errors
from ._base import default_flags, CREATE, OPEN, Handle, Options, call_with_opts, encode_name, oflags
from ._ffi import C, UPDATE_FN
from .errors import check

COMMIT = 0
ABORT = 1
ERASE = 2

_FIRST_BUF = 256  # first guess for a value buffer; grown on SHMAP_E_BUFSIZE
_MANY_BUF = 1 << 20  # get_many(): bytes of value buffer per C call (at least one key)


def _key(k):
    if isinstance(k, str):
        return k.encode("utf-8")
    if isinstance(k, (bytes, bytearray, memoryview)):
        return bytes(k)
    raise TypeError(f"shmap keys are bytes or str, not {type(k).__name__}")


def _val(v):
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"shmap values are bytes or str, not {type(v).__name__}")


class Abort(Exception):
    """Raise inside a Table.modify() function to change nothing."""


class _Items(ItemsView):
    def __iter__(self):
        return self._mapping.iter_items()


class Table(Handle, MutableMapping):
    """A hash table segment: ``t[b"k"] = b"v"``, ``t[b"k"]``, ``del t[b"k"]``,
    ``b"k" in t``, ``len(t)``, iteration (keys, via the C cursor API), ``get``.

    Keys and values are bytes (str is encoded as UTF-8) of 1..key_max and
    1..value_max bytes. Values always come back as bytes.

    ``Table(name, capacity, key_max, value_max, flags=None,
    options=None, **option_kwargs)``; flags None means OPEN_OR_CREATE when
    parameters are given, else OPEN; on open, 0 parameters accept what the
    segment stores. A handle may be shared by threads (the C handle is
    thread-safe), except close()/reattach()/set_timeout().
    """

    _close_fn = "htable_close"

    def __init__(self, name, capacity=0, key_max=0, value_max=0, flags=None,
                 options=None, **option_kwargs):
        options = Options.coerce(options, option_kwargs)
        out = ctypes.c_void_p()
        self.open_status = call_with_opts(options, lambda o: check(C.htable_open(
            encode_name(name), oflags(default_flags(flags, capacity, key_max, value_max)),
            capacity, key_max, value_max, o,
            ctypes.byref(out))))
        self.name = name
        self._cursors = weakref.WeakSet()
        self._adopt(out.value)
        self._vmax = C.htable_value_max(out.value)
        self._kmax = C.htable_key_max(out.value)

    @classmethod
    def create(cls, name, capacity, key_max, value_max, **kw):
        return cls(name, capacity, key_max, value_max, flags=CREATE, **kw)

    @classmethod
    def open(cls, name, **kw):
        return cls(name, flags=OPEN, **kw)

    def _before_close(self):
        for cur in list(self._cursors):
            cur.close()

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self)}/{self.capacity}"
        return f"<shmap.Table {self.name!r} {state}>"

    # --- properties -------------------------------------------------------
    @property
    def capacity(self):
        return C.htable_capacity(self._h)

    @property
    def key_max(self):
        return self._kmax

    @property
    def value_max(self):
        return self._vmax

    def fileno(self):
        """The memfd to pass to peers (memfd backend), else -1."""
        return C.htable_fd(self._h)

    def set_timeout(self, seconds):
        """Bound on waiting for a key's lock held by a live writer."""
        check(C.htable_set_timeout_ms(self._h, int(seconds * 1000)))

    def reattach(self):
        """In a child after fork(): attach the inherited handle to this process."""
        return check(C.htable_reattach(self._h))

    # --- mapping ----------------------------------------------------------
    def get_value(self, key):
        """The value of key; raises NotFoundError (a KeyError)."""
        k = _key(key)
        h = self._h
        size = min(self._vmax, _FIRST_BUF)
        n = ctypes.c_uint32()
        for _ in range(8):
            buf = ctypes.create_string_buffer(size)
            rc = C.htable_get(h, k, len(k), buf, size, ctypes.byref(n))
            if rc == errors.E_BUFSIZE:
                size = max(n.value, size)
                continue
            check(rc)
            return buf.raw[:n.value]
        raise errors.error(errors.E_BUSY)

    def get_many(self, keys):
        """Look several keys up at once (shmap_htable_get_many: the keys'
        buckets are prefetched together, so lookups in a large table overlap
        their cache misses). Returns a list with, per key, its value (bytes)
        or None if absent, in the order of keys. Any other per-key status
        raises as get_value() would: TooBigError if a key is longer than
        key_max (checked before any lookup), InvalidArgumentError for an
        empty key, BusyError, CorruptError (the first such key in order);
        so does a failure of the whole call (ForkedError, ...). Each key is
        looked up on its own: the results are not a snapshot of one instant.
        Large batches are split into calls of about 1 MiB of value buffer.
        """
        ks = [_key(k) for k in keys]
        h = self._h
        if not ks:
            return []
        kmax, vmax = self._kmax, self._vmax
        for k in ks:
            if len(k) > kmax:  # what the C call reports, without a huge key buffer
                raise errors.error(errors.E_TOOBIG)
        stride = max(1, max(len(k) for k in ks))
        vstride = max(1, vmax)
        per_call = max(1, min(len(ks), _MANY_BUF // vstride))
        vbuf = ctypes.create_string_buffer(per_call * vstride)
        vbase = ctypes.addressof(vbuf)
        vlens = (ctypes.c_uint32 * per_call)()
        rcs = (ctypes.c_int * per_call)()
        out = []
        for first in range(0, len(ks), per_call):
            chunk = ks[first:first + per_call]
            m = len(chunk)
            kbuf = b"".join(k.ljust(stride, b"\0") for k in chunk)
            klens = (ctypes.c_uint32 * m)(*map(len, chunk))
            check(C.htable_get_many(h, m, kbuf, stride, klens, vbuf, vstride, vlens, rcs))
            for i in range(m):
                r = rcs[i]
                if r == errors.OK:
                    out.append(ctypes.string_at(vbase + i * vstride, vlens[i]))
                elif r == errors.E_NOTFOUND:
                    out.append(None)
                elif r == errors.E_BUFSIZE:  # cannot happen with value_max room; ask alone
                    out.append(self.get(chunk[i]))
                else:
                    check(r)
        return out

    def __getitem__(self, key):
        return self.get_value(key)

    def get(self, key, default=None):
        try:
            return self.get_value(key)
        except errors.NotFoundError:
            return default

    def __contains__(self, key):
        try:
            self.get_value(key)
        except (errors.NotFoundError, errors.TooBigError, errors.InvalidArgumentError):
            return False
        except TypeError:
            return False
        return True

    def __setitem__(self, key, value):
        k, v = _key(key), _val(value)
        check(C.htable_upsert(self._h, k, len(k), v, len(v)))

    def __delitem__(self, key):
        k = _key(key)
        check(C.htable_erase(self._h, k, len(k)))

    def __len__(self):
        return C.htable_size(self._h)

    def insert(self, key, value):
        """Insert a key that must not exist (ExistsError otherwise)."""
        k, v = _key(key), _val(value)
        return check(C.htable_insert(self._h, k, len(k), v, len(v)))

    def replace(self, key, value):
        """Replace the value of a key that must exist (NotFoundError otherwise)."""
        k, v = _key(key), _val(value)
        return check(C.htable_replace(self._h, k, len(k), v, len(v)))

    def cas(self, key, expected, desired):
        """Compare-and-swap; True if swapped, False if the value differed."""
        k, e, d = _key(key), _val(expected), _val(desired)
        rc = C.htable_cas(self._h, k, len(k), e, len(e), d, len(d))
        if rc == errors.E_MISMATCH:
            return False
        check(rc)
        return True

    def cas_erase(self, key, expected):
        """Compare-and-erase: erase the key only if its value equals expected.
        True if erased, False if the value differed (nothing changed);
        NotFoundError (a KeyError) if the key is missing."""
        k, e = _key(key), _val(expected)
        rc = C.htable_cas_erase(self._h, k, len(k), e, len(e))
        if rc == errors.E_MISMATCH:
            return False
        check(rc)
        return True

    def modify(self, key, fn):
        """Atomic read-modify-write: fn(current bytes or None) returns the new
        value (bytes/str), or None to erase the key; raise Abort to change
        nothing (AbortedError is raised). fn runs with the key's lock held:
        keep it short and do not touch this table from it. Exceptions raised
        by fn abort the update and are re-raised."""
        k = _key(key)
        state = {}

        def cb(cur, cur_len, exists, out, out_len, _arg):
            try:
                old = ctypes.string_at(cur, cur_len) if exists else None
                new = fn(old)
                if new is None:
                    return ERASE
                new = _val(new)
                if not 0 < len(new) <= self._vmax:
                    state["exc"] = errors.error(errors.E_TOOBIG if new else errors.E_INVAL)
                    return ABORT
                ctypes.memmove(out, new, len(new))
                out_len[0] = len(new)
                return COMMIT
            except Abort:
                return ABORT
            except BaseException as e:  # re-raised below
                state["exc"] = e
                return ABORT

        cfn = UPDATE_FN(cb)
        rc = C.htable_update(self._h, k, len(k), cfn, None)
        if "exc" in state:
            raise state["exc"]
        return check(rc)

    def clear(self):
        """Erase every entry (not atomic for concurrent readers)."""
        return check(C.htable_clear(self._h))

    def stats(self):
        """(live, tombstones, longest_probe) from a scan of every bucket."""
        a, b, c = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        check(C.htable_stats(self._h, ctypes.byref(a), ctypes.byref(b), ctypes.byref(c)))
        return a.value, b.value, c.value

    def check(self, repair=False):
        """Verify (and with repair=True fix) a quiescent table; returns the
        number of problems found. Raises CorruptError if problems remain."""
        n = ctypes.c_uint64()
        check(C.htable_check(self._h, 1 if repair else 0, ctypes.byref(n)))
        return n.value

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


class Cursor(Handle):
    """Iteration cursor of a Table (use from one thread at a time)."""

    _close_fn = "htable_cursor_free"

    def __init__(self, table):
        out = ctypes.c_void_p()
        check(C.htable_cursor_new(table._h, ctypes.byref(out)))
        self._adopt(out.value)
        self._table = table
        table._cursors.add(self)
        self._kcap = min(table.key_max, _FIRST_BUF) or 1
        self._vcap = min(table.value_max, _FIRST_BUF) or 1
        self._kbuf = ctypes.create_string_buffer(self._kcap)
        self._vbuf = ctypes.create_string_buffer(self._vcap)

    def next(self):
        """The next (key, value), or None at the end of the table."""
        kl, vl = ctypes.c_uint32(), ctypes.c_uint32()
        for _ in range(8):
            rc = C.htable_cursor_next(self._h, self._kbuf, self._kcap, ctypes.byref(kl),
                                      self._vbuf, self._vcap, ctypes.byref(vl))
            if rc == errors.E_BUFSIZE:
                if kl.value > self._kcap:
                    self._kcap = kl.value
                    self._kbuf = ctypes.create_string_buffer(self._kcap)
                if vl.value > self._vcap:
                    self._vcap = vl.value
                    self._vbuf = ctypes.create_string_buffer(self._vcap)
                continue
            if rc == errors.E_NOTFOUND:
                return None
            check(rc)
            return self._kbuf.raw[:kl.value], self._vbuf.raw[:vl.value]
        raise errors.error(errors.E_BUSY)

    def reset(self):
        check(C.htable_cursor_reset(self._h))

    def __iter__(self):
        while True:
            item = self.next()
            if item is None:
                return
            yield item
