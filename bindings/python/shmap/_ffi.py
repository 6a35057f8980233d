# SPDX-License-Identifier: MIT
"""Loading libshmap and declaring its C prototypes (ctypes only).

The library is found, in order, at:
  1. the path in the environment variable SHMAP_LIBRARY (a build tree);
  2. its soname, ``libshmap.so.0`` (the dynamic loader's search path);
  3. whatever ctypes.util.find_library("shmap") returns, as a last resort.

A function missing from the loaded library (an older build) is replaced by
a stub that raises NotSupportedError when called, so the rest still works.
"""
import ctypes
import ctypes.util
import os

SONAME = "libshmap.so.0"

c_int = ctypes.c_int
u32 = ctypes.c_uint32
u64 = ctypes.c_uint64
i64 = ctypes.c_int64
vp = ctypes.c_void_p
cp = ctypes.c_char_p
P = ctypes.POINTER
size_t = ctypes.c_size_t


def _load():
    tried = []
    path = os.environ.get("SHMAP_LIBRARY")
    if path:
        # An explicit path must work: falling back silently would test the
        # wrong library.
        return ctypes.CDLL(path, use_errno=True), path
    try:
        return ctypes.CDLL(SONAME, use_errno=True), SONAME
    except OSError as e:
        tried.append(f"{SONAME}: {e}")
    found = ctypes.util.find_library("shmap")
    if found:
        try:
            return ctypes.CDLL(found, use_errno=True), found
        except OSError as e:
            tried.append(f"{found}: {e}")
    raise ImportError("cannot load libshmap (set SHMAP_LIBRARY to its path); tried: "
                      + "; ".join(tried))


lib, lib_path = _load()

# Callback types (Python may pass C function pointers; Go cannot, hence the
# cursor forms used everywhere else).
UPDATE_FN = ctypes.CFUNCTYPE(c_int, vp, u32, c_int, vp, P(u32), vp)

# name: (restype, [argtypes])
_PROTOS = {
    # status / version
    "shmap_strerror": (cp, [c_int]),
    "shmap_errname": (cp, [c_int]),
    "shmap_version": (u32, []),
    "shmap_version_string": (cp, []),
    "shmap_layout_version": (u32, []),
    # segment options
    "shmap_opts_new": (c_int, [P(vp)]),
    "shmap_opts_free": (None, [vp]),
    "shmap_opts_set_backend": (c_int, [vp, u32]),
    "shmap_opts_set_mode": (c_int, [vp, u32]),
    "shmap_opts_set_owner": (c_int, [vp, i64]),
    "shmap_opts_set_fd": (c_int, [vp, c_int]),
    "shmap_opts_set_timeout_ms": (c_int, [vp, u32]),
    "shmap_opts_set_max_procs": (c_int, [vp, u32]),
    "shmap_opts_set_flags": (c_int, [vp, u32]),
    "shmap_unlink": (c_int, [cp, vp]),
    # inspect
    "shmap_info_open": (c_int, [cp, vp, P(vp)]),
    "shmap_info_free": (None, [vp]),
    "shmap_info_field": (u64, [vp, u32]),
    "shmap_info_participant": (c_int, [vp, u32, P(u32), P(u64), P(u32)]),
    "shmap_kind_name": (cp, [u32]),
    "shmap_cleanup_stale": (c_int, [cp, P(u32)]),
    "shmap_reap": (c_int, [cp, vp, P(u32)]),
    # hash table
    "shmap_htable_open": (c_int, [cp, u32, u64, u32, u32, vp, P(vp)]),
    "shmap_htable_close": (None, [vp]),
    "shmap_htable_reattach": (c_int, [vp]),
    "shmap_htable_fd": (c_int, [vp]),
    "shmap_htable_set_timeout_ms": (c_int, [vp, u32]),
    "shmap_htable_get": (c_int, [vp, cp, u32, vp, u32, P(u32)]),
    "shmap_htable_get_many": (c_int, [vp, u32, vp, u32, P(u32), vp, u32, P(u32), P(c_int)]),
    "shmap_htable_insert": (c_int, [vp, cp, u32, cp, u32]),
    "shmap_htable_upsert": (c_int, [vp, cp, u32, cp, u32]),
    "shmap_htable_replace": (c_int, [vp, cp, u32, cp, u32]),
    "shmap_htable_erase": (c_int, [vp, cp, u32]),
    "shmap_htable_cas": (c_int, [vp, cp, u32, cp, u32, cp, u32]),
    "shmap_htable_cas_erase": (c_int, [vp, cp, u32, cp, u32]),
    "shmap_htable_update": (c_int, [vp, cp, u32, UPDATE_FN, vp]),
    "shmap_htable_cursor_new": (c_int, [vp, P(vp)]),
    "shmap_htable_cursor_next": (c_int, [vp, vp, u32, P(u32), vp, u32, P(u32)]),
    "shmap_htable_cursor_reset": (c_int, [vp]),
    "shmap_htable_cursor_free": (None, [vp]),
    "shmap_htable_size": (u64, [vp]),
    "shmap_htable_capacity": (u64, [vp]),
    "shmap_htable_key_max": (u32, [vp]),
    "shmap_htable_value_max": (u32, [vp]),
    "shmap_htable_stats": (c_int, [vp, P(u64), P(u64), P(u64)]),
    "shmap_htable_clear": (c_int, [vp]),
    "shmap_htable_check": (c_int, [vp, u32, P(u64)]),
    # rings
    "shmap_ring_open": (c_int, [cp, u32, u32, u32, u64, u32, u32, vp, P(vp)]),
    "shmap_ring_close": (None, [vp]),
    "shmap_ring_reattach": (c_int, [vp]),
    "shmap_ring_fd": (c_int, [vp]),
    "shmap_ring_push": (c_int, [vp, vp]),
    "shmap_ring_push_bytes": (c_int, [vp, cp, u32]),
    "shmap_ring_push_bytes_wait": (c_int, [vp, cp, u32, u32]),
    "shmap_ring_pop": (c_int, [vp, vp]),
    "shmap_ring_pop_bytes": (c_int, [vp, vp, u32]),
    "shmap_ring_push_n": (c_int, [vp, vp, u32, P(u32)]),
    "shmap_ring_pop_n": (c_int, [vp, vp, u32, P(u32)]),
    "shmap_ring_push_wait": (c_int, [vp, vp, u32]),
    "shmap_ring_pop_wait": (c_int, [vp, vp, u32]),
    "shmap_ring_push_n_wait": (c_int, [vp, vp, u32, P(u32), u32]),
    "shmap_ring_pop_n_wait": (c_int, [vp, vp, u32, P(u32), u32]),
    "shmap_ring_wait": (c_int, [vp, u32]),
    "shmap_ring_reserve": (c_int, [vp, u32, P(vp), P(u32)]),
    "shmap_ring_commit": (c_int, [vp, u32]),
    "shmap_ring_peek": (c_int, [vp, u32, P(vp), P(u32)]),
    "shmap_ring_release": (c_int, [vp, u32]),
    "shmap_ring_size": (u64, [vp]),
    "shmap_ring_capacity": (u64, [vp]),
    "shmap_ring_elem_size": (u32, [vp]),
    "shmap_ring_type": (u32, [vp]),
    "shmap_ring_role": (u32, [vp]),
    "shmap_ring_max_consumers": (u32, [vp]),
    "shmap_ring_consumers": (u32, [vp]),
    "shmap_ring_read_at": (c_int, [vp, u64, vp]),
    "shmap_ring_missed": (u64, [vp]),
    "shmap_ring_lost": (u64, [vp]),
    "shmap_ring_stats": (c_int, [vp, P(u64), P(u64), P(u64), P(u32), P(u32)]),
    "shmap_ring_consumer_info": (c_int, [vp, u32, P(u32), P(u32), P(u64), P(u64)]),
    "shmap_ring_check": (c_int, [vp, u32, P(u64)]),
    # vector
    "shmap_vector_open": (c_int, [cp, u32, u32, u64, vp, P(vp)]),
    "shmap_vector_close": (None, [vp]),
    "shmap_vector_reattach": (c_int, [vp]),
    "shmap_vector_fd": (c_int, [vp]),
    "shmap_vector_push": (c_int, [vp, cp, P(u64)]),
    "shmap_vector_reserve": (c_int, [vp, u64, P(u64)]),
    "shmap_vector_write": (c_int, [vp, u64, cp]),
    "shmap_vector_slot_ptr": (c_int, [vp, u64, P(vp)]),
    "shmap_vector_publish": (c_int, [vp, u64, u64]),
    "shmap_vector_get": (c_int, [vp, u64, vp]),
    "shmap_vector_replace": (c_int, [vp, u64, cp]),
    "shmap_vector_next": (c_int, [vp, P(u64), vp, P(u64)]),
    "shmap_vector_size": (u64, [vp]),
    "shmap_vector_reserved": (u64, [vp]),
    "shmap_vector_capacity": (u64, [vp]),
    "shmap_vector_elem_size": (u32, [vp]),
    "shmap_vector_holes": (u64, [vp]),
    "shmap_vector_slot_state": (c_int, [vp, u64, P(u32), P(u32)]),
    "shmap_vector_stat": (c_int, [vp, P(u64), P(u64), P(u64)]),
    "shmap_vector_recover": (c_int, [vp]),
    "shmap_vector_check": (c_int, [vp, u32, P(u64)]),
}


class _Missing:
    """Stands in for a function the loaded library does not export."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        from .errors import NotSupportedError, E_NOTSUP
        raise NotSupportedError(E_NOTSUP, f"{self.name} is not in {lib_path}")


class _Funcs:
    pass


C = _Funcs()
missing = []
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        missing.append(_name)
        setattr(C, _name[len("shmap_"):], _Missing(_name))
        continue
    _f.restype = _res
    _f.argtypes = _args
    setattr(C, _name[len("shmap_"):], _f)
