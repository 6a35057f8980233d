# SPDX-License-Identifier: MIT
"""Inspecting segments without attaching (see <shmap/inspect.h>)."""
import ctypes

from . import errors
from ._base import Options, call_with_opts, encode_name
from ._ffi import C
from .errors import check

KIND_HTABLE = 1
KIND_RING_SPSC = 2
KIND_RING_SPMC = 3
KIND_RING_BCAST = 4
KIND_VECTOR = 5

# SHMAP_INFO_FIELD_MAX of <shmap/inspect.h>: the highest field number (fields
# run 1..FIELD_MAX). ctypes cannot read a macro, so it is mirrored here; the
# tests compare it with the header of the source tree. FIELDS names each one.
FIELD_MAX = 21

FIELDS = {
    "kind": 1, "kind_flags": 2, "capacity": 3, "key_max": 4, "value_max": 5,
    "elem_size": 6, "max_consumers": 7, "total_size": 8, "data_size": 9,
    "file_size": 10, "created_ns": 11, "creator_uid": 12, "creator_pid": 13,
    "generation": 14, "max_procs": 15, "attached": 16, "mode": 17, "owner_uid": 18,
    "hash_seed": 19, "layout_version": 20, "alloc_size": 21,
}


def kind_name(kind):
    return C.kind_name(kind).decode()


def info(name, options=None, **kwargs):
    """A dict snapshot of a segment's header: every SHMAP_INFO_* field (by
    lower-case name), "kind_name", and "participants": a list of dicts
    (slot, pid, start_time, alive) for the used participant slots."""
    options = Options.coerce(options, kwargs)
    p = ctypes.c_void_p()
    call_with_opts(options, lambda o: check(C.info_open(encode_name(name), o, ctypes.byref(p))))
    try:
        d = {k: C.info_field(p, v) for k, v in FIELDS.items() if v <= FIELD_MAX}
        d["kind_name"] = kind_name(d["kind"])
        parts = []
        pid, st, alive = ctypes.c_uint32(), ctypes.c_uint64(), ctypes.c_uint32()
        for slot in range(d["max_procs"]):
            rc = C.info_participant(p, slot, ctypes.byref(pid), ctypes.byref(st),
                                    ctypes.byref(alive))
            if rc == errors.E_NOTFOUND:
                continue
            check(rc)
            parts.append({"slot": slot, "pid": pid.value, "start_time": st.value,
                          "alive": bool(alive.value)})
        d["participants"] = parts
        return d
    finally:
        C.info_free(p)


def cleanup_stale(prefix):
    """Unlink every unused POSIX shm segment whose name starts with prefix;
    returns how many were removed."""
    n = ctypes.c_uint32()
    check(C.cleanup_stale(encode_name(prefix), ctypes.byref(n)))
    return n.value


def reap(name, options=None, **kwargs):
    """Free the participant slots of processes that died while attached to
    segment name; returns how many were freed (live processes are never
    touched)."""
    options = Options.coerce(options, kwargs)
    n = ctypes.c_uint32()
    call_with_opts(options, lambda o: check(C.reap(encode_name(name), o, ctypes.byref(n))))
    return n.value
