// SPDX-License-Identifier: MIT
use std::ptr;
use std::time::Duration;

use shmap_sys as sys;

use crate::error::{check, check_unit, Error, Result, Status};
use crate::opts::{c_name, OpenMode, Options};
use crate::ring::{RingType, Role};

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

/// A ring of variable-length records (ring_rec.h): SPSC, lossy or reliable
/// broadcast, `capacity` bytes, records of 1..`max_record` bytes that come
/// back with their own length.
///
/// Like [`crate::Ring`], one handle must not be used by two threads at the
/// same time: `RecRing` is `Send` but not `Sync`.
pub struct RecRing {
    raw: *mut sys::shmap_ring,
    max_record: u32,
    status: Status,
}

// SAFETY: the handle has no thread affinity; it is only !Sync.
unsafe impl Send for RecRing {}

impl RecRing {
    /// The general form: `ring_type`, `max_record`, `capacity` and
    /// `max_consumers` may be `None`/0 on open to accept what is stored.
    pub fn open_with(name: &str, mode: OpenMode, ring_type: Option<RingType>, max_record: u32,
                     capacity: u64, max_consumers: u32, role: Role, opts: &Options)
                     -> Result<RecRing> {
        let n = c_name(name)?;
        let o = opts.raw()?;
        // max_consumers is an option of the C open (0: unset)
        check(unsafe { sys::shmap_opts_set_max_consumers(o.0, max_consumers) })?;
        let mut raw = ptr::null_mut();
        let status = check(unsafe {
            sys::shmap_ring_open_rec(n.as_ptr(), mode.raw(), ring_type.map_or(0, |t| t.raw()),
                                     max_record, capacity, role.raw(), o.0, &mut raw)
        })?;
        Ok(RecRing { raw, max_record: unsafe { sys::shmap_ring_elem_size(raw) }, status })
    }

    /// Create a record ring and attach with `role`.
    pub fn create(name: &str, ring_type: RingType, max_record: u32, capacity: u64,
                  max_consumers: u32, role: Role) -> Result<RecRing> {
        Self::open_with(name, OpenMode::Create, Some(ring_type), max_record, capacity,
                        max_consumers, role, &Options::default())
    }

    /// Attach to an existing record ring as its producer.
    pub fn producer(name: &str) -> Result<RecRing> {
        Self::open_with(name, OpenMode::Open, None, 0, 0, 0, Role::Producer, &Options::default())
    }

    /// Attach to an existing record ring as a consumer / subscriber.
    pub fn consumer(name: &str) -> Result<RecRing> {
        Self::open_with(name, OpenMode::Open, None, 0, 0, 0, Role::Consumer, &Options::default())
    }

    /// `Status::Recovered` if the role was taken over from a dead process.
    pub fn open_status(&self) -> Status {
        self.status
    }
    /// The largest record, in bytes.
    pub fn max_record(&self) -> u32 {
        self.max_record
    }
    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        unsafe { sys::shmap_ring_capacity(self.raw) }
    }
    /// Bytes in the ring (headers and padding included).
    pub fn len_bytes(&self) -> u64 {
        unsafe { sys::shmap_ring_size(self.raw) }
    }
    pub fn ring_type(&self) -> Option<RingType> {
        RingType::from_raw(unsafe { sys::shmap_ring_type(self.raw) })
    }
    /// Lossy subscriber: bytes skipped after being lapped.
    pub fn missed(&self) -> u64 {
        unsafe { sys::shmap_ring_missed(self.raw) }
    }
    /// Verify (and with `repair` fix) the ring; returns the problems found.
    pub fn check(&self, repair: bool) -> Result<u64> {
        let mut n = 0;
        check(unsafe {
            sys::shmap_ring_check(self.raw, if repair { sys::SHMAP_CHECK_REPAIR } else { 0 },
                                  &mut n)
        })?;
        Ok(n)
    }

    fn len_of(&self, data: &[u8]) -> Result<u32> {
        if data.is_empty() {
            return Err(Error::Inval);
        }
        if data.len() > self.max_record as usize {
            return Err(Error::TooBig);
        }
        Ok(data.len() as u32)
    }

    /// Push one record of `data.len()` bytes (1..max_record). `Error::Full`
    /// if there is no room (never for lossy broadcast).
    pub fn push(&self, data: &[u8]) -> Result<Status> {
        let len = self.len_of(data)?;
        check(unsafe { sys::shmap_ring_push_rec(self.raw, data.as_ptr().cast(), len) })
    }

    /// Push, waiting up to `timeout` for room (`Error::Timeout`).
    pub fn push_wait(&self, data: &[u8], timeout: Duration) -> Result<Status> {
        let len = self.len_of(data)?;
        check(unsafe {
            sys::shmap_ring_push_rec_wait(self.raw, data.as_ptr().cast(), len, ms(timeout))
        })
    }

    /// Push records in order, as many as fit; returns how many (0 if full).
    pub fn push_many(&self, records: &[&[u8]]) -> Result<usize> {
        let mut flat = Vec::new();
        let mut lens = Vec::with_capacity(records.len());
        for r in records {
            lens.push(self.len_of(r)?);
            flat.extend_from_slice(r);
        }
        let mut done = 0u32;
        let rc = unsafe {
            sys::shmap_ring_push_rec_n(self.raw, flat.as_ptr().cast(), lens.as_ptr(),
                                       lens.len() as u32, &mut done)
        };
        if rc == sys::SHMAP_E_FULL {
            return Ok(0);
        }
        check(rc)?;
        Ok(done as usize)
    }

    /// Pop one record into `out`; returns its length. `Error::BufSize` if
    /// `out` is shorter than the record (nothing popped; see
    /// [`RecRing::pop`] for a call that always fits).
    pub fn pop_into(&self, out: &mut [u8]) -> Result<usize> {
        let mut len = 0u32;
        let n = out.len().min(u32::MAX as usize) as u32;
        check_unit(unsafe { sys::shmap_ring_pop_rec(self.raw, out.as_mut_ptr().cast(), n, &mut len) })?;
        Ok(len as usize)
    }

    /// Pop one record with its real length (`Error::Empty` if none; lossy
    /// broadcast: `Error::Overrun` once when lapped).
    pub fn pop(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.max_record as usize];
        let n = self.pop_into(&mut v)?;
        v.truncate(n);
        Ok(v)
    }

    /// Pop, waiting up to `timeout` for a record (`Error::Timeout`).
    pub fn pop_wait(&self, timeout: Duration) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.max_record as usize];
        let mut len = 0u32;
        check_unit(unsafe {
            sys::shmap_ring_pop_rec_wait(self.raw, v.as_mut_ptr().cast(), self.max_record, &mut len,
                                         ms(timeout))
        })?;
        v.truncate(len as usize);
        Ok(v)
    }

    /// Pop up to `max` records (none if empty).
    pub fn pop_many(&self, max: usize) -> Result<Vec<Vec<u8>>> {
        let n = max.min(4096);
        let mut buf = vec![0u8; n * self.max_record as usize];
        let mut lens = vec![0u32; n];
        let mut done = 0u32;
        let rc = unsafe {
            sys::shmap_ring_pop_rec_n(self.raw, buf.as_mut_ptr().cast(), buf.len() as u64,
                                      lens.as_mut_ptr(), n as u32, &mut done)
        };
        if rc == sys::SHMAP_E_EMPTY {
            return Ok(Vec::new());
        }
        check(rc)?;
        let mut out = Vec::with_capacity(done as usize);
        let mut off = 0usize;
        for &l in &lens[..done as usize] {
            out.push(buf[off..off + l as usize].to_vec());
            off += l as usize;
        }
        Ok(out)
    }
}

impl Drop for RecRing {
    fn drop(&mut self) {
        unsafe { sys::shmap_ring_close(self.raw) }
    }
}
