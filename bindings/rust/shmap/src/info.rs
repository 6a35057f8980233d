// SPDX-License-Identifier: MIT
use std::ffi::CString;
use std::ptr;

use shmap_sys as sys;

use crate::error::{check, cstr, Error, Result};
use crate::opts::{c_name, Options};

/// One participant slot of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Participant {
    pub slot: u32,
    pub pid: u32,
    pub start_time: u64,
    pub alive: bool,
}

/// A snapshot of a segment's header (read without attaching).
#[derive(Clone, Debug)]
pub struct Info {
    fields: Vec<u64>,
    pub participants: Vec<Participant>,
}

impl Info {
    /// Any `sys::SHMAP_INFO_*` field (0 for an unknown one).
    pub fn field(&self, f: u32) -> u64 {
        self.fields.get(f as usize).copied().unwrap_or(0)
    }
    pub fn kind(&self) -> u32 {
        self.field(sys::SHMAP_INFO_KIND) as u32
    }
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind())
    }
    pub fn capacity(&self) -> u64 {
        self.field(sys::SHMAP_INFO_CAPACITY)
    }
    pub fn attached(&self) -> u64 {
        self.field(sys::SHMAP_INFO_ATTACHED)
    }
}

/// Read and validate a segment's header and participant table.
pub fn info(name: &str) -> Result<Info> {
    info_with(name, &Options::default())
}

pub fn info_with(name: &str, opts: &Options) -> Result<Info> {
    let n = c_name(name)?;
    let o = opts.raw()?;
    let mut p = ptr::null_mut();
    check(unsafe { sys::shmap_info_open(n.as_ptr(), o.0, &mut p) })?;
    struct Guard(*mut sys::shmap_info);
    impl Drop for Guard {
        fn drop(&mut self) {
            unsafe { sys::shmap_info_free(self.0) }
        }
    }
    let g = Guard(p);
    let fields: Vec<u64> = (0..=sys::SHMAP_INFO_FIELD_MAX)
        .map(|f| unsafe { sys::shmap_info_field(g.0, f) })
        .collect();
    let mut participants = Vec::new();
    let procs = fields[sys::SHMAP_INFO_MAX_PROCS as usize].min(4096) as u32;
    for slot in 0..procs {
        let (mut pid, mut st, mut alive) = (0u32, 0u64, 0u32);
        let rc = unsafe { sys::shmap_info_participant(g.0, slot, &mut pid, &mut st, &mut alive) };
        if rc == sys::SHMAP_E_NOTFOUND {
            continue;
        }
        check(rc)?;
        participants.push(Participant { slot, pid, start_time: st, alive: alive != 0 });
    }
    Ok(Info { fields, participants })
}

/// "htable", "ring-spsc", "ring-spmc", "ring-bcast", "vector" or "unknown".
pub fn kind_name(kind: u32) -> &'static str {
    unsafe { cstr(sys::shmap_kind_name(kind)) }
}

/// Unlink unused POSIX shm segments whose name starts with `prefix`;
/// returns how many were removed.
pub fn cleanup_stale(prefix: &str) -> Result<u32> {
    let p = CString::new(prefix).map_err(|_| Error::Inval)?;
    let mut n = 0;
    check(unsafe { sys::shmap_cleanup_stale(p.as_ptr(), &mut n) })?;
    Ok(n)
}

/// Free the participant slots of processes that died while attached to
/// segment `name`; returns how many were freed (live ones are never touched).
pub fn reap(name: &str) -> Result<u32> {
    reap_with(name, &Options::default())
}

pub fn reap_with(name: &str, opts: &Options) -> Result<u32> {
    let n = c_name(name)?;
    let o = opts.raw()?;
    let mut reaped = 0;
    check(unsafe { sys::shmap_reap(n.as_ptr(), o.0, &mut reaped) })?;
    Ok(reaped)
}
