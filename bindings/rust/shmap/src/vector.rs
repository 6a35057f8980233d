// SPDX-License-Identifier: MIT
use std::borrow::Cow;
use std::ptr;

use shmap_sys as sys;

use crate::error::{check, check_unit, Error, Result, Status};
use crate::opts::{c_name, OpenMode, Options};

/// An append-only vector of fixed-size elements.
///
/// vector.h: "a handle may be used by several threads at once", so `Vector`
/// is `Send` and `Sync` (reattach takes `&mut self`). Reservations belong to
/// the handle: a thread must only write/publish slots it reserved itself.
pub struct Vector {
    raw: *mut sys::shmap_vector,
    elem_size: u32,
    status: Status,
}

// SAFETY: documented thread-safe handle.
unsafe impl Send for Vector {}
unsafe impl Sync for Vector {}

impl Vector {
    pub fn create(name: &str, elem_size: u32, capacity: u64) -> Result<Vector> {
        Self::open_with(name, OpenMode::Create, elem_size, capacity, &Options::default())
    }

    pub fn open(name: &str) -> Result<Vector> {
        Self::open_with(name, OpenMode::Open, 0, 0, &Options::default())
    }

    pub fn open_with(name: &str, mode: OpenMode, elem_size: u32, capacity: u64,
                     opts: &Options) -> Result<Vector> {
        let n = c_name(name)?;
        let o = opts.raw()?;
        let mut raw = ptr::null_mut();
        let status = check(unsafe {
            sys::shmap_vector_open(n.as_ptr(), mode.raw(), elem_size, capacity, o.0, &mut raw)
        })?;
        Ok(Vector { raw, elem_size: unsafe { sys::shmap_vector_elem_size(raw) }, status })
    }

    pub fn open_status(&self) -> Status {
        self.status
    }
    pub fn elem_size(&self) -> u32 {
        self.elem_size
    }
    pub fn capacity(&self) -> u64 {
        unsafe { sys::shmap_vector_capacity(self.raw) }
    }
    /// Published prefix length (the watermark).
    pub fn len(&self) -> u64 {
        unsafe { sys::shmap_vector_size(self.raw) }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn reserved(&self) -> u64 {
        unsafe { sys::shmap_vector_reserved(self.raw) }
    }
    pub fn holes(&self) -> u64 {
        unsafe { sys::shmap_vector_holes(self.raw) }
    }
    pub fn fd(&self) -> i32 {
        unsafe { sys::shmap_vector_fd(self.raw) }
    }
    pub fn reattach(&mut self) -> Result<()> {
        check_unit(unsafe { sys::shmap_vector_reattach(self.raw) })
    }

    fn elem<'a>(&self, data: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        let es = self.elem_size as usize;
        match data.len() {
            n if n > es => Err(Error::TooBig),
            n if n == es => Ok(Cow::Borrowed(data)),
            _ => {
                let mut v = data.to_vec();
                v.resize(es, 0);
                Ok(Cow::Owned(v))
            }
        }
    }

    /// Append one element (zero-padded to elem_size); returns its index.
    pub fn push(&self, data: &[u8]) -> Result<u64> {
        let e = self.elem(data)?;
        let mut idx = 0;
        check(unsafe { sys::shmap_vector_push(self.raw, e.as_ptr().cast(), &mut idx) })?;
        Ok(idx)
    }

    /// The element at `index` (`Error::Range`, `Error::NotReady`, `Error::NotFound` for a hole).
    pub fn get(&self, index: u64) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.elem_size as usize];
        self.get_into(index, &mut v)?;
        Ok(v)
    }

    pub fn get_into(&self, index: u64, out: &mut [u8]) -> Result<()> {
        if out.len() < self.elem_size as usize {
            return Err(Error::BufSize);
        }
        check_unit(unsafe { sys::shmap_vector_get(self.raw, index, out.as_mut_ptr().cast()) })
    }

    /// Replace a published element (readers see old or new, never a mix).
    pub fn replace(&self, index: u64, data: &[u8]) -> Result<Status> {
        let e = self.elem(data)?;
        check(unsafe { sys::shmap_vector_replace(self.raw, index, e.as_ptr().cast()) })
    }

    /// Reserve `n` contiguous slots; returns the first index.
    pub fn reserve(&self, n: u64) -> Result<u64> {
        let mut first = 0;
        check(unsafe { sys::shmap_vector_reserve(self.raw, n, &mut first) })?;
        Ok(first)
    }

    /// Write a slot this handle reserved.
    pub fn write(&self, index: u64, data: &[u8]) -> Result<()> {
        let e = self.elem(data)?;
        check_unit(unsafe { sys::shmap_vector_write(self.raw, index, e.as_ptr().cast()) })
    }

    /// Zero-copy access to a slot this handle reserved and has not published:
    /// a pointer to `elem_size` writable bytes in the mapping.
    ///
    /// # Safety
    /// The pointer must not be used after the slot is published, and no two
    /// threads may write the same slot (reservations belong to the handle,
    /// not to a thread).
    pub unsafe fn slot_ptr(&self, index: u64) -> Result<*mut u8> {
        let mut p = ptr::null_mut();
        check(sys::shmap_vector_slot_ptr(self.raw, index, &mut p))?;
        Ok(p as *mut u8)
    }

    /// Publish reserved slots [first, first + n).
    pub fn publish(&self, first: u64, n: u64) -> Result<()> {
        check_unit(unsafe { sys::shmap_vector_publish(self.raw, first, n) })
    }

    /// Iterate (index, element) over the published prefix, skipping holes;
    /// ends at the end or at a slot still being written.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    pub fn iter_from(&self, start: u64) -> Iter<'_> {
        Iter { v: self, cursor: start, done: false }
    }

    pub fn recover(&self) -> Result<Status> {
        check(unsafe { sys::shmap_vector_recover(self.raw) })
    }

    /// Always `Err(Error::NotSup)`: a vector is append-only, and a published
    /// index stays valid for every reader (see `shmap_vector_clear(3)`).
    /// Create a new vector to start over.
    pub fn clear(&self) -> Result<()> {
        check(unsafe { sys::shmap_vector_clear(self.raw) }).map(|_| ())
    }

    pub fn check(&self, repair: bool) -> Result<u64> {
        let mut n = 0;
        check(unsafe {
            sys::shmap_vector_check(self.raw, if repair { sys::SHMAP_CHECK_REPAIR } else { 0 },
                                    &mut n)
        })?;
        Ok(n)
    }

    /// (published, pending, holes) over the reserved slots.
    pub fn stat(&self) -> Result<(u64, u64, u64)> {
        let mut st = sys::shmap_vector_stats_t {
            size: std::mem::size_of::<sys::shmap_vector_stats_t>() as u32,
            ..Default::default()
        };
        check(unsafe { sys::shmap_vector_stats(self.raw, &mut st) })?;
        Ok((st.published, st.pending, st.holes))
    }

    /// (state, owner) of one slot (sys::SHMAP_VECTOR_SLOT_*).
    pub fn slot_state(&self, index: u64) -> Result<(u32, u32)> {
        let (mut s, mut o) = (0, 0);
        check(unsafe { sys::shmap_vector_slot_state(self.raw, index, &mut s, &mut o) })?;
        Ok((s, o))
    }

    pub fn close(self) {}
}

impl Drop for Vector {
    fn drop(&mut self) {
        unsafe { sys::shmap_vector_close(self.raw) }
    }
}

pub struct Iter<'a> {
    v: &'a Vector,
    cursor: u64,
    done: bool,
}

impl Iterator for Iter<'_> {
    type Item = Result<(u64, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut out = vec![0u8; self.v.elem_size as usize];
        let mut idx = 0;
        let rc = unsafe {
            sys::shmap_vector_next(self.v.raw, &mut self.cursor, out.as_mut_ptr().cast(), &mut idx)
        };
        match rc {
            sys::SHMAP_E_EMPTY | sys::SHMAP_E_NOTREADY => {
                self.done = true;
                None
            }
            rc if rc < 0 => {
                self.done = true;
                Some(Err(Error::from_code(rc)))
            }
            _ => Some(Ok((idx, out))),
        }
    }
}
