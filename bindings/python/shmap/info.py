# SPDX-License-Identifier: MIT
"""Inspecting segments without attaching (see <shmap/inspect.h>)."""
from . import _shmap
from ._base import Options, c_opts, encode_name

KIND_HTABLE = 1
KIND_RING_SPSC = 2
KIND_RING_SPMC = 3
KIND_RING_BCAST = 4
KIND_VECTOR = 5

# SHMAP_INFO_FIELD_MAX of the <shmap/inspect.h> the extension was built with:
# the highest field number (fields run 1..FIELD_MAX). FIELDS names each one.
FIELD_MAX = _shmap.INFO_FIELD_MAX

FIELDS = {
    "kind": 1, "kind_flags": 2, "capacity": 3, "key_max": 4, "value_max": 5,
    "elem_size": 6, "max_consumers": 7, "total_size": 8, "data_size": 9,
    "file_size": 10, "created_ns": 11, "creator_uid": 12, "creator_pid": 13,
    "generation": 14, "max_procs": 15, "attached": 16, "mode": 17, "owner_uid": 18,
    "hash_seed": 19, "layout_version": 20, "alloc_size": 21,
}


def kind_name(kind):
    return _shmap.kind_name(kind)


def info(name, options=None, **kwargs):
    """A dict snapshot of a segment's header: every SHMAP_INFO_* field (by
    lower-case name), "kind_name", and "participants": a list of dicts
    (slot, pid, start_time, alive) for the used participant slots."""
    values, parts = _shmap._info(encode_name(name), c_opts(Options.coerce(options, kwargs)),
                                 FIELD_MAX)
    d = {k: values[v - 1] for k, v in FIELDS.items() if v <= FIELD_MAX}
    d["kind_name"] = kind_name(d["kind"])
    d["participants"] = [{"slot": s, "pid": p, "start_time": st, "alive": a}
                         for s, p, st, a in parts]
    return d


def cleanup_stale(prefix):
    """Unlink every unused POSIX shm segment whose name starts with prefix;
    returns how many were removed."""
    return _shmap.cleanup_stale(encode_name(prefix))


def reap(name, options=None, **kwargs):
    """Free the participant slots of processes that died while attached to
    segment name; returns how many were freed (live processes are never
    touched)."""
    return _shmap.reap(encode_name(name), c_opts(Options.coerce(options, kwargs)))
