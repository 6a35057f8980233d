// SPDX-License-Identifier: MIT
//! Raw declarations of the libshmap C API (`<shmap/shmap.h>`), written by
//! hand from the public headers. Everything here is `unsafe`; use the `shmap`
//! crate for a safe interface. Status codes are pinned by the C library, so
//! they are copied here as constants.
#![allow(non_camel_case_types)]
#![no_std]

use core::ffi::{c_char, c_int, c_void};
use core::marker::{PhantomData, PhantomPinned};

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}
opaque!(shmap_opts, shmap_info, shmap_htable, shmap_htable_cursor, shmap_ring, shmap_vector);

// status.h
pub const SHMAP_OK: c_int = 0;
pub const SHMAP_RECOVERED: c_int = 1;
pub const SHMAP_E_INVAL: c_int = -1001;
pub const SHMAP_E_NOMEM: c_int = -1002;
pub const SHMAP_E_NOSPC: c_int = -1003;
pub const SHMAP_E_EXIST: c_int = -1004;
pub const SHMAP_E_NOENT: c_int = -1005;
pub const SHMAP_E_NOTFOUND: c_int = -1006;
pub const SHMAP_E_FULL: c_int = -1007;
pub const SHMAP_E_EMPTY: c_int = -1008;
pub const SHMAP_E_TIMEOUT: c_int = -1009;
pub const SHMAP_E_BUSY: c_int = -1010;
pub const SHMAP_E_INCOMPAT: c_int = -1011;
pub const SHMAP_E_CORRUPT: c_int = -1012;
pub const SHMAP_E_ACCESS: c_int = -1013;
pub const SHMAP_E_RANGE: c_int = -1014;
pub const SHMAP_E_TOOBIG: c_int = -1015;
pub const SHMAP_E_OVERRUN: c_int = -1016;
pub const SHMAP_E_SYS: c_int = -1017;
pub const SHMAP_E_VERSION: c_int = -1018;
pub const SHMAP_E_BADMAGIC: c_int = -1019;
pub const SHMAP_E_TRUNCATED: c_int = -1020;
pub const SHMAP_E_NOTREADY: c_int = -1021;
pub const SHMAP_E_FORKED: c_int = -1022;
pub const SHMAP_E_NAMETOOLONG: c_int = -1023;
pub const SHMAP_E_BUFSIZE: c_int = -1024;
pub const SHMAP_E_NOTSUP: c_int = -1025;
pub const SHMAP_E_PEERFAULT: c_int = -1026;
pub const SHMAP_E_ABORTED: c_int = -1027;
pub const SHMAP_E_MISMATCH: c_int = -1028;
pub const SHMAP_E_NOTATTACHED: c_int = -1029;
pub const SHMAP_E_PEERDEAD: c_int = -1030;

// segment.h
pub const SHMAP_CREATE: u32 = 1;
pub const SHMAP_OPEN: u32 = 2;
pub const SHMAP_OPEN_OR_CREATE: u32 = 3;
pub const SHMAP_OPEN_WAIT: u32 = 4;
pub const SHMAP_BACKEND_SHM: u32 = 0;
pub const SHMAP_BACKEND_FILE: u32 = 1;
pub const SHMAP_BACKEND_MEMFD: u32 = 2;
pub const SHMAP_OPT_HUGEPAGES: u32 = 1;
pub const SHMAP_OPT_PREFAULT: u32 = 2;
pub const SHMAP_CHECK_REPAIR: u32 = 1;
/// Largest `size` a statistics struct may announce.
pub const SHMAP_STATS_SIZE_MAX: u32 = 4096;

// Statistics structs: the caller sets `size` to the struct's size; the
// library fills the fields that fit and never writes past `size`.

/// `shmap_htable_stats_t` (htable.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct shmap_htable_stats_t {
    pub size: u32,
    pub reserved: u32,
    pub live: u64,
    pub tombstones: u64,
    pub longest_probe: u64,
}

/// `shmap_ring_stats_t` (ring.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct shmap_ring_stats_t {
    pub size: u32,
    pub reserved: u32,
    pub head: u64,
    pub tail: u64,
    pub lost: u64,
    pub producer_pid: u32,
    pub producer_alive: u32,
}

/// `shmap_ring_consumer_stats_t` (ring.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct shmap_ring_consumer_stats_t {
    pub size: u32,
    pub reserved: u32,
    pub cursor: u64,
    pub missed: u64,
    pub pid: u32,
    pub alive: u32,
}

/// `shmap_vector_stats_t` (vector.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct shmap_vector_stats_t {
    pub size: u32,
    pub reserved: u32,
    pub published: u64,
    pub pending: u64,
    pub holes: u64,
}

// inspect.h
pub const SHMAP_KIND_HTABLE: u32 = 1;
pub const SHMAP_KIND_RING_SPSC: u32 = 2;
pub const SHMAP_KIND_RING_SPMC: u32 = 3;
pub const SHMAP_KIND_RING_BCAST: u32 = 4;
pub const SHMAP_KIND_VECTOR: u32 = 5;
pub const SHMAP_INFO_KIND: u32 = 1;
pub const SHMAP_INFO_KIND_FLAGS: u32 = 2;
pub const SHMAP_INFO_CAPACITY: u32 = 3;
pub const SHMAP_INFO_KEY_MAX: u32 = 4;
pub const SHMAP_INFO_VALUE_MAX: u32 = 5;
pub const SHMAP_INFO_ELEM_SIZE: u32 = 6;
pub const SHMAP_INFO_MAX_CONSUMERS: u32 = 7;
pub const SHMAP_INFO_TOTAL_SIZE: u32 = 8;
pub const SHMAP_INFO_DATA_SIZE: u32 = 9;
pub const SHMAP_INFO_FILE_SIZE: u32 = 10;
pub const SHMAP_INFO_CREATED_NS: u32 = 11;
pub const SHMAP_INFO_CREATOR_UID: u32 = 12;
pub const SHMAP_INFO_CREATOR_PID: u32 = 13;
pub const SHMAP_INFO_GENERATION: u32 = 14;
pub const SHMAP_INFO_MAX_PROCS: u32 = 15;
pub const SHMAP_INFO_ATTACHED: u32 = 16;
pub const SHMAP_INFO_MODE: u32 = 17;
pub const SHMAP_INFO_OWNER_UID: u32 = 18;
pub const SHMAP_INFO_HASH_SEED: u32 = 19;
pub const SHMAP_INFO_LAYOUT_VERSION: u32 = 20;
pub const SHMAP_INFO_ALLOC_SIZE: u32 = 21;
/// The highest field number defined by this version of inspect.h (fields run 1..=MAX).
pub const SHMAP_INFO_FIELD_MAX: u32 = 21;

// htable.h
pub const SHMAP_HTABLE_COMMIT: c_int = 0;
pub const SHMAP_HTABLE_ABORT: c_int = 1;
pub const SHMAP_HTABLE_ERASE: c_int = 2;
pub const SHMAP_HTABLE_KEEP: c_int = 3;
pub const SHMAP_HTABLE_KEY_MAX_LIMIT: u32 = 65535;
pub const SHMAP_HTABLE_VALUE_MAX_LIMIT: u32 = 16777216;
pub const SHMAP_HTABLE_CAPACITY_LIMIT: u64 = 2147483648;

pub type shmap_htable_update_fn = Option<
    unsafe extern "C" fn(cur: *const c_void, cur_len: u32, exists: c_int, out: *mut c_void,
                         out_len: *mut u32, arg: *mut c_void) -> c_int,
>;
pub type shmap_htable_foreach_fn = Option<
    unsafe extern "C" fn(key: *const c_void, klen: u32, val: *const c_void, vlen: u32,
                         arg: *mut c_void) -> c_int,
>;

// ring.h
pub const SHMAP_RING_SPSC: u32 = 1;
pub const SHMAP_RING_SPMC: u32 = 2;
pub const SHMAP_RING_BCAST_LOSSY: u32 = 3;
pub const SHMAP_RING_BCAST_RELIABLE: u32 = 4;
/// No role: inspection only (queries, read_at, consumers, stats, check).
pub const SHMAP_RING_OBSERVER: u32 = 0;
pub const SHMAP_RING_PRODUCER: u32 = 1;
pub const SHMAP_RING_CONSUMER: u32 = 2;
pub const SHMAP_RING_ELEM_MAX: u32 = 1 << 20;
pub const SHMAP_RING_CAPACITY_MAX: u64 = 1 << 32;
pub const SHMAP_RING_DATA_MAX: u64 = 1 << 40;
pub const SHMAP_RING_CONSUMERS_MAX: u32 = 1024;
pub const SHMAP_RING_CONSUMERS_DEFAULT: u32 = 16;

// vector.h
pub const SHMAP_VECTOR_ELEM_MAX: u32 = 1 << 24;
pub const SHMAP_VECTOR_CAPACITY_MAX: u64 = 1 << 40;
pub const SHMAP_VECTOR_RESERVE_MAX: u32 = (1 << 29) - 1;
pub const SHMAP_VECTOR_SLOT_FREE: u32 = 0;
pub const SHMAP_VECTOR_SLOT_RESERVED: u32 = 1;
pub const SHMAP_VECTOR_SLOT_PUBLISHED: u32 = 2;
pub const SHMAP_VECTOR_SLOT_REPLACING: u32 = 3;
pub const SHMAP_VECTOR_SLOT_HOLE: u32 = 4;

extern "C" {
    // status.h, version.h
    pub fn shmap_strerror(code: c_int) -> *const c_char;
    pub fn shmap_errname(code: c_int) -> *const c_char;
    pub fn shmap_version() -> u32;
    pub fn shmap_version_string() -> *const c_char;
    pub fn shmap_layout_version() -> u32;

    // segment.h
    pub fn shmap_opts_new(ret: *mut *mut shmap_opts) -> c_int;
    pub fn shmap_opts_free(opts: *mut shmap_opts);
    pub fn shmap_opts_set_backend(opts: *mut shmap_opts, backend: u32) -> c_int;
    pub fn shmap_opts_set_mode(opts: *mut shmap_opts, mode: u32) -> c_int;
    pub fn shmap_opts_set_owner(opts: *mut shmap_opts, uid: i64) -> c_int;
    pub fn shmap_opts_set_fd(opts: *mut shmap_opts, fd: c_int) -> c_int;
    pub fn shmap_opts_set_timeout_ms(opts: *mut shmap_opts, ms: u32) -> c_int;
    pub fn shmap_opts_set_max_procs(opts: *mut shmap_opts, n: u32) -> c_int;
    pub fn shmap_opts_set_max_consumers(opts: *mut shmap_opts, n: u32) -> c_int;
    pub fn shmap_opts_set_flags(opts: *mut shmap_opts, flags: u32) -> c_int;
    pub fn shmap_unlink(name: *const c_char, opts: *const shmap_opts) -> c_int;

    // inspect.h
    pub fn shmap_info_open(name: *const c_char, opts: *const shmap_opts,
                           ret: *mut *mut shmap_info) -> c_int;
    pub fn shmap_info_free(info: *mut shmap_info);
    pub fn shmap_info_field(info: *const shmap_info, field: u32) -> u64;
    pub fn shmap_info_participant(info: *const shmap_info, slot: u32, pid: *mut u32,
                                  start_time: *mut u64, alive: *mut u32) -> c_int;
    pub fn shmap_kind_name(kind: u32) -> *const c_char;
    pub fn shmap_cleanup_stale(prefix: *const c_char, removed: *mut u32) -> c_int;
    pub fn shmap_reap(name: *const c_char, opts: *const shmap_opts, reaped: *mut u32) -> c_int;

    // htable.h
    pub fn shmap_htable_open(name: *const c_char, oflags: u32, key_max: u32, value_max: u32,
                             capacity: u64, opts: *const shmap_opts,
                             ret: *mut *mut shmap_htable) -> c_int;
    pub fn shmap_htable_close(t: *mut shmap_htable);
    pub fn shmap_htable_reattach(t: *mut shmap_htable) -> c_int;
    pub fn shmap_htable_fd(t: *const shmap_htable) -> c_int;
    pub fn shmap_htable_set_timeout_ms(t: *mut shmap_htable, ms: u32) -> c_int;
    pub fn shmap_htable_get(t: *const shmap_htable, key: *const c_void, klen: u32,
                            val: *mut c_void, val_cap: u32, val_len: *mut u32) -> c_int;
    pub fn shmap_htable_get_many(t: *const shmap_htable, n: u32, keys: *const c_void,
                                 key_stride: u32, klens: *const u32, vals: *mut c_void,
                                 val_stride: u32, val_lens: *mut u32, rcs: *mut c_int) -> c_int;
    pub fn shmap_htable_insert(t: *mut shmap_htable, key: *const c_void, klen: u32,
                               val: *const c_void, vlen: u32) -> c_int;
    pub fn shmap_htable_upsert(t: *mut shmap_htable, key: *const c_void, klen: u32,
                               val: *const c_void, vlen: u32) -> c_int;
    pub fn shmap_htable_replace(t: *mut shmap_htable, key: *const c_void, klen: u32,
                                val: *const c_void, vlen: u32) -> c_int;
    pub fn shmap_htable_erase(t: *mut shmap_htable, key: *const c_void, klen: u32) -> c_int;
    pub fn shmap_htable_cas(t: *mut shmap_htable, key: *const c_void, klen: u32,
                            expected: *const c_void, elen: u32, desired: *const c_void,
                            dlen: u32) -> c_int;
    pub fn shmap_htable_cas_erase(t: *mut shmap_htable, key: *const c_void, klen: u32,
                                  expected: *const c_void, elen: u32) -> c_int;
    pub fn shmap_htable_update(t: *mut shmap_htable, key: *const c_void, klen: u32,
                               f: shmap_htable_update_fn, arg: *mut c_void) -> c_int;
    pub fn shmap_htable_cursor_new(t: *const shmap_htable,
                                   ret: *mut *mut shmap_htable_cursor) -> c_int;
    pub fn shmap_htable_cursor_next(c: *mut shmap_htable_cursor, key: *mut c_void,
                                    key_cap: u32, klen: *mut u32, val: *mut c_void,
                                    val_cap: u32, vlen: *mut u32) -> c_int;
    pub fn shmap_htable_cursor_reset(c: *mut shmap_htable_cursor) -> c_int;
    pub fn shmap_htable_cursor_free(c: *mut shmap_htable_cursor);
    pub fn shmap_htable_foreach(t: *const shmap_htable, f: shmap_htable_foreach_fn,
                                arg: *mut c_void) -> c_int;
    pub fn shmap_htable_size(t: *const shmap_htable) -> u64;
    pub fn shmap_htable_capacity(t: *const shmap_htable) -> u64;
    pub fn shmap_htable_key_max(t: *const shmap_htable) -> u32;
    pub fn shmap_htable_value_max(t: *const shmap_htable) -> u32;
    pub fn shmap_htable_stats(t: *const shmap_htable, st: *mut shmap_htable_stats_t) -> c_int;
    pub fn shmap_htable_clear(t: *mut shmap_htable) -> c_int;
    pub fn shmap_htable_check(t: *mut shmap_htable, flags: u32, problems: *mut u64) -> c_int;

    // ring.h
    pub fn shmap_ring_open(name: *const c_char, oflags: u32, type_: u32, elem_size: u32,
                           capacity: u64, role: u32, opts: *const shmap_opts,
                           ret: *mut *mut shmap_ring) -> c_int;
    pub fn shmap_ring_close(r: *mut shmap_ring);
    pub fn shmap_ring_reattach(r: *mut shmap_ring) -> c_int;
    pub fn shmap_ring_fd(r: *const shmap_ring) -> c_int;
    pub fn shmap_ring_push(r: *mut shmap_ring, elem: *const c_void) -> c_int;
    pub fn shmap_ring_push_bytes(r: *mut shmap_ring, data: *const c_void, len: u32) -> c_int;
    pub fn shmap_ring_push_bytes_wait(r: *mut shmap_ring, data: *const c_void, len: u32,
                                      timeout_ms: u32) -> c_int;
    pub fn shmap_ring_pop(r: *mut shmap_ring, out: *mut c_void) -> c_int;
    pub fn shmap_ring_pop_bytes(r: *mut shmap_ring, out: *mut c_void, out_len: u32) -> c_int;
    pub fn shmap_ring_push_n(r: *mut shmap_ring, elems: *const c_void, n: u32,
                             done: *mut u32) -> c_int;
    pub fn shmap_ring_pop_n(r: *mut shmap_ring, out: *mut c_void, n: u32,
                            done: *mut u32) -> c_int;
    pub fn shmap_ring_push_wait(r: *mut shmap_ring, elem: *const c_void,
                                timeout_ms: u32) -> c_int;
    pub fn shmap_ring_pop_wait(r: *mut shmap_ring, out: *mut c_void, timeout_ms: u32) -> c_int;
    pub fn shmap_ring_push_n_wait(r: *mut shmap_ring, elems: *const c_void, n: u32,
                                  done: *mut u32, timeout_ms: u32) -> c_int;
    pub fn shmap_ring_pop_n_wait(r: *mut shmap_ring, out: *mut c_void, n: u32, done: *mut u32,
                                 timeout_ms: u32) -> c_int;
    pub fn shmap_ring_wait(r: *mut shmap_ring, timeout_ms: u32) -> c_int;
    pub fn shmap_ring_notify_fd(r: *mut shmap_ring, fd: *mut c_int) -> c_int;
    pub fn shmap_ring_notify_arm(r: *mut shmap_ring) -> c_int;
    pub fn shmap_ring_reserve(r: *mut shmap_ring, n: u32, ptr: *mut *mut c_void,
                              got: *mut u32) -> c_int;
    pub fn shmap_ring_commit(r: *mut shmap_ring, n: u32) -> c_int;
    pub fn shmap_ring_peek(r: *mut shmap_ring, n: u32, ptr: *mut *const c_void,
                           got: *mut u32) -> c_int;
    pub fn shmap_ring_release(r: *mut shmap_ring, n: u32) -> c_int;
    pub fn shmap_ring_clear(r: *mut shmap_ring, discarded: *mut u64) -> c_int;
    pub fn shmap_ring_size(r: *const shmap_ring) -> u64;
    pub fn shmap_ring_capacity(r: *const shmap_ring) -> u64;
    pub fn shmap_ring_elem_size(r: *const shmap_ring) -> u32;
    pub fn shmap_ring_type(r: *const shmap_ring) -> u32;
    pub fn shmap_ring_role(r: *const shmap_ring) -> u32;
    pub fn shmap_ring_max_consumers(r: *const shmap_ring) -> u32;
    pub fn shmap_ring_consumers(r: *const shmap_ring) -> u32;
    pub fn shmap_ring_read_at(r: *const shmap_ring, pos: u64, out: *mut c_void) -> c_int;
    pub fn shmap_ring_missed(r: *const shmap_ring) -> u64;
    pub fn shmap_ring_lost(r: *const shmap_ring) -> u64;
    pub fn shmap_ring_stats(r: *const shmap_ring, st: *mut shmap_ring_stats_t) -> c_int;
    pub fn shmap_ring_consumer_stats(r: *const shmap_ring, index: u32,
                                     st: *mut shmap_ring_consumer_stats_t) -> c_int;
    pub fn shmap_ring_check(r: *mut shmap_ring, flags: u32, problems: *mut u64) -> c_int;

    // ring_rec.h
    pub fn shmap_ring_open_rec(name: *const c_char, oflags: u32, type_: u32, max_record: u32,
                               capacity: u64, role: u32, opts: *const shmap_opts,
                               ret: *mut *mut shmap_ring) -> c_int;
    pub fn shmap_ring_push_rec(r: *mut shmap_ring, data: *const c_void, len: u32) -> c_int;
    pub fn shmap_ring_pop_rec(r: *mut shmap_ring, out: *mut c_void, out_len: u32,
                              len: *mut u32) -> c_int;
    pub fn shmap_ring_push_rec_wait(r: *mut shmap_ring, data: *const c_void, len: u32,
                                    timeout_ms: u32) -> c_int;
    pub fn shmap_ring_pop_rec_wait(r: *mut shmap_ring, out: *mut c_void, out_len: u32,
                                   len: *mut u32, timeout_ms: u32) -> c_int;
    pub fn shmap_ring_push_rec_n(r: *mut shmap_ring, data: *const c_void, lens: *const u32,
                                 n: u32, done: *mut u32) -> c_int;
    pub fn shmap_ring_pop_rec_n(r: *mut shmap_ring, out: *mut c_void, out_len: u64,
                                lens: *mut u32, n: u32, done: *mut u32) -> c_int;
    pub fn shmap_ring_push_rec_n_wait(r: *mut shmap_ring, data: *const c_void, lens: *const u32,
                                      n: u32, done: *mut u32, timeout_ms: u32) -> c_int;
    pub fn shmap_ring_pop_rec_n_wait(r: *mut shmap_ring, out: *mut c_void, out_len: u64,
                                     lens: *mut u32, n: u32, done: *mut u32,
                                     timeout_ms: u32) -> c_int;
    pub fn shmap_ring_reserve_rec(r: *mut shmap_ring, len: u32, ptr: *mut *mut c_void) -> c_int;
    pub fn shmap_ring_commit_rec(r: *mut shmap_ring, len: u32) -> c_int;
    pub fn shmap_ring_peek_rec(r: *mut shmap_ring, ptr: *mut *const c_void, len: *mut u32) -> c_int;
    pub fn shmap_ring_release_rec(r: *mut shmap_ring) -> c_int;

    // vector.h
    pub fn shmap_vector_open(name: *const c_char, oflags: u32, elem_size: u32, capacity: u64,
                             opts: *const shmap_opts, ret: *mut *mut shmap_vector) -> c_int;
    pub fn shmap_vector_close(v: *mut shmap_vector);
    pub fn shmap_vector_reattach(v: *mut shmap_vector) -> c_int;
    pub fn shmap_vector_fd(v: *const shmap_vector) -> c_int;
    pub fn shmap_vector_push(v: *mut shmap_vector, elem: *const c_void, index: *mut u64) -> c_int;
    pub fn shmap_vector_reserve(v: *mut shmap_vector, n: u64, first: *mut u64) -> c_int;
    pub fn shmap_vector_write(v: *mut shmap_vector, index: u64, elem: *const c_void) -> c_int;
    pub fn shmap_vector_slot_ptr(v: *mut shmap_vector, index: u64, ptr: *mut *mut c_void) -> c_int;
    pub fn shmap_vector_publish(v: *mut shmap_vector, first: u64, n: u64) -> c_int;
    pub fn shmap_vector_get(v: *mut shmap_vector, index: u64, out: *mut c_void) -> c_int;
    pub fn shmap_vector_replace(v: *mut shmap_vector, index: u64, elem: *const c_void) -> c_int;
    pub fn shmap_vector_next(v: *mut shmap_vector, cursor: *mut u64, out: *mut c_void,
                             index: *mut u64) -> c_int;
    pub fn shmap_vector_size(v: *const shmap_vector) -> u64;
    pub fn shmap_vector_reserved(v: *const shmap_vector) -> u64;
    pub fn shmap_vector_capacity(v: *const shmap_vector) -> u64;
    pub fn shmap_vector_elem_size(v: *const shmap_vector) -> u32;
    pub fn shmap_vector_holes(v: *const shmap_vector) -> u64;
    pub fn shmap_vector_slot_state(v: *const shmap_vector, index: u64, state: *mut u32,
                                   owner: *mut u32) -> c_int;
    pub fn shmap_vector_stats(v: *const shmap_vector, st: *mut shmap_vector_stats_t) -> c_int;
    pub fn shmap_vector_recover(v: *mut shmap_vector) -> c_int;
    pub fn shmap_vector_check(v: *mut shmap_vector, flags: u32, problems: *mut u64) -> c_int;
    pub fn shmap_vector_clear(v: *mut shmap_vector) -> c_int;
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    #[test]
    fn strerror_and_version_link() {
        unsafe {
            let s = core::ffi::CStr::from_ptr(shmap_errname(SHMAP_E_FULL));
            assert_eq!(s.to_bytes(), b"SHMAP_E_FULL");
            assert!(shmap_version() > 0);
            let mut o: *mut shmap_opts = core::ptr::null_mut();
            assert_eq!(shmap_opts_new(&mut o), SHMAP_OK);
            assert_eq!(shmap_opts_set_backend(o, 99), SHMAP_E_INVAL);
            shmap_opts_free(o);
        }
    }

    /// The constants this crate copies from the C headers by hand must match
    /// them (checked when the crate is built inside the source tree).
    #[test]
    fn constants_match_the_headers() {
        let inc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../include/shmap");
        let read = |f: &str| -> Option<String> { std::fs::read_to_string(inc.join(f)).ok() };
        let define = |text: &str, name: &str| -> Option<u64> {
            text.lines().find_map(|l| {
                let mut w = l.split_whitespace();
                if w.next() != Some("#define") || w.next() != Some(name) {
                    return None;
                }
                let v = w.next()?.trim_end_matches('u');
                v.parse().ok()
            })
        };
        let (Some(inspect), Some(ring)) = (read("inspect.h"), read("ring.h")) else {
            std::eprintln!("headers not found next to the crate; skipped");
            return;
        };
        assert_eq!(define(&inspect, "SHMAP_INFO_FIELD_MAX"), Some(SHMAP_INFO_FIELD_MAX as u64));
        assert_eq!(define(&inspect, "SHMAP_INFO_LAYOUT_VERSION"),
                   Some(SHMAP_INFO_LAYOUT_VERSION as u64));
        assert_eq!(define(&ring, "SHMAP_RING_OBSERVER"), Some(SHMAP_RING_OBSERVER as u64));
        assert_eq!(define(&ring, "SHMAP_RING_PRODUCER"), Some(SHMAP_RING_PRODUCER as u64));
        assert_eq!(define(&ring, "SHMAP_RING_CONSUMER"), Some(SHMAP_RING_CONSUMER as u64));
        if let (Some(seg), Some(ht)) = (read("segment.h"), read("htable.h")) {
            assert_eq!(define(&seg, "SHMAP_OPEN_WAIT"), Some(SHMAP_OPEN_WAIT as u64));
            assert_eq!(define(&ht, "SHMAP_HTABLE_KEEP"), Some(SHMAP_HTABLE_KEEP as u64));
        }
        assert_eq!(define(&ring, "SHMAP_RING_CONSUMERS_DEFAULT"),
                   Some(SHMAP_RING_CONSUMERS_DEFAULT as u64));
        if let Some(common) = read("common.h") {
            assert_eq!(define(&common, "SHMAP_STATS_SIZE_MAX"), Some(SHMAP_STATS_SIZE_MAX as u64));
        }
    }

    /// The statistics structs have the C layout (sizes of the C structs).
    #[test]
    fn stats_struct_sizes() {
        assert_eq!(core::mem::size_of::<shmap_htable_stats_t>(), 32);
        assert_eq!(core::mem::size_of::<shmap_ring_stats_t>(), 40);
        assert_eq!(core::mem::size_of::<shmap_ring_consumer_stats_t>(), 32);
        assert_eq!(core::mem::size_of::<shmap_vector_stats_t>(), 32);
    }
}
