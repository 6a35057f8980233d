// SPDX-License-Identifier: MIT
use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use shmap_sys as sys;

use crate::error::{check, check_unit, Error, Result, Status};
use crate::opts::{c_name, OpenMode, Options};

const FIRST_BUF: u32 = 256;
/// get_many(): bytes of value buffer per C call (at least one key per call).
const MANY_BUF: usize = 1 << 20;

/// A hash table segment: byte-string keys (1..key_max) to byte-string
/// values (1..value_max).
///
/// Thread safety (htable.h): every call except close, reattach and
/// set_timeout may run concurrently on one handle, so `Table` is `Send` and
/// `Sync`; those three take `&mut self` or `self`.
pub struct Table {
    raw: *mut sys::shmap_htable,
    key_max: u32,
    value_max: u32,
    status: Status,
}

// SAFETY: the C handle is documented thread-safe for every `&self` method.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

/// What an [`Table::update`] closure decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// Store this value (creating the key if missing).
    Commit(Vec<u8>),
    /// Erase the key.
    Erase,
    /// Change nothing; `update` returns `Err(Error::Aborted)`.
    Abort,
    /// Write nothing and succeed: `update` returns `Ok` if the key exists and
    /// `Err(Error::NotFound)` if not. A closure returning `Keep` for `None`
    /// is an update-if-exists.
    Keep,
}

impl Table {
    /// Create a new table (`Error::Exist` if the name exists).
    pub fn create(name: &str, capacity: u64, key_max: u32, value_max: u32) -> Result<Table> {
        Self::open_with(name, OpenMode::Create, capacity, key_max, value_max, &Options::default())
    }

    /// Open an existing table, accepting its stored parameters.
    pub fn open(name: &str) -> Result<Table> {
        Self::open_with(name, OpenMode::Open, 0, 0, 0, &Options::default())
    }

    /// The general form: 0 parameters on open accept what is stored.
    pub fn open_with(name: &str, mode: OpenMode, capacity: u64, key_max: u32, value_max: u32,
                     opts: &Options) -> Result<Table> {
        let n = c_name(name)?;
        let o = opts.raw()?;
        let mut raw = ptr::null_mut();
        let status = check(unsafe {
            sys::shmap_htable_open(n.as_ptr(), mode.raw(), key_max, value_max, capacity, o.0,
                                   &mut raw)
        })?;
        unsafe {
            Ok(Table { raw, key_max: sys::shmap_htable_key_max(raw),
                       value_max: sys::shmap_htable_value_max(raw), status })
        }
    }

    /// `Status::Recovered` if the open rebuilt the segment after a dead builder.
    pub fn open_status(&self) -> Status {
        self.status
    }

    pub fn capacity(&self) -> u64 {
        unsafe { sys::shmap_htable_capacity(self.raw) }
    }
    pub fn key_max(&self) -> u32 {
        self.key_max
    }
    pub fn value_max(&self) -> u32 {
        self.value_max
    }
    /// Number of live entries.
    pub fn len(&self) -> u64 {
        unsafe { sys::shmap_htable_size(self.raw) }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The memfd to pass to peers (memfd backend), else -1.
    pub fn fd(&self) -> i32 {
        unsafe { sys::shmap_htable_fd(self.raw) }
    }
    /// Bound on waiting for a key's lock held by a live writer.
    pub fn set_timeout_ms(&mut self, ms: u32) -> Result<()> {
        check_unit(unsafe { sys::shmap_htable_set_timeout_ms(self.raw, ms) })
    }
    /// In a child after fork(): attach the inherited handle to the child.
    pub fn reattach(&mut self) -> Result<()> {
        check_unit(unsafe { sys::shmap_htable_reattach(self.raw) })
    }

    /// The value of `key`, or `None` if absent.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut cap = self.value_max.min(FIRST_BUF);
        for _ in 0..8 {
            let mut buf = vec![0u8; cap as usize];
            let mut len = 0u32;
            let rc = unsafe {
                sys::shmap_htable_get(self.raw, key.as_ptr().cast(), key.len() as u32,
                                      buf.as_mut_ptr().cast(), cap, &mut len)
            };
            match rc {
                sys::SHMAP_E_BUFSIZE => {
                    cap = len.max(cap);
                    continue;
                }
                sys::SHMAP_E_NOTFOUND => return Ok(None),
                _ => {}
            }
            check(rc)?;
            buf.truncate(len as usize);
            return Ok(Some(buf));
        }
        Err(Error::Busy)
    }

    /// Look several keys up at once (`shmap_htable_get_many`: their buckets
    /// are prefetched together, so lookups in a large table overlap their
    /// cache misses). Per key, in order: `Some(value)`, or `None` if absent,
    /// exactly as [`Table::get`] would say. Any other per-key status is
    /// returned as the error [`Table::get`] would return: `Error::TooBig` if
    /// a key is longer than key_max (checked before any lookup),
    /// `Error::Inval` for an empty key, `Error::Busy`, `Error::Corrupt` (the
    /// first such key in order); so is a failure of the whole call
    /// (`Error::Forked`, ...). Each key is looked up on its own: the results
    /// are not a snapshot of one instant. Large batches are split into calls
    /// of about 1 MiB of value buffer.
    pub fn get_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut stride = 1usize;
        for k in keys {
            let len = k.as_ref().len();
            if len > self.key_max as usize {
                return Err(Error::TooBig);
            }
            stride = stride.max(len);
        }
        let vstride = (self.value_max as usize).max(1);
        let per_call = (MANY_BUF / vstride).clamp(1, keys.len());
        let mut kbuf = vec![0u8; per_call * stride];
        let mut klens = vec![0u32; per_call];
        let mut vbuf = vec![0u8; per_call * vstride];
        let mut vlens = vec![0u32; per_call];
        let mut rcs: Vec<c_int> = vec![0; per_call];
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(per_call) {
            for (i, k) in chunk.iter().enumerate() {
                let k = k.as_ref();
                kbuf[i * stride..i * stride + k.len()].copy_from_slice(k);
                klens[i] = k.len() as u32; // <= key_max, a u32
            }
            // SAFETY: every buffer has room for chunk.len() <= per_call
            // entries of its stride; the lengths fit in u32 (key_max,
            // value_max are u32 and per_call * stride was allocated).
            let rc = unsafe {
                sys::shmap_htable_get_many(self.raw, chunk.len() as u32, kbuf.as_ptr().cast(),
                                           stride as u32, klens.as_ptr(),
                                           vbuf.as_mut_ptr().cast(), vstride as u32,
                                           vlens.as_mut_ptr(), rcs.as_mut_ptr())
            };
            check(rc)?;
            for (i, k) in chunk.iter().enumerate() {
                match rcs[i] {
                    sys::SHMAP_OK => {
                        let v = &vbuf[i * vstride..];
                        out.push(Some(v[..vlens[i] as usize].to_vec()));
                    }
                    sys::SHMAP_E_NOTFOUND => out.push(None),
                    // Cannot happen with value_max bytes of room; ask alone.
                    sys::SHMAP_E_BUFSIZE => out.push(self.get(k.as_ref())?),
                    r => return Err(Error::from_code(r)),
                }
            }
        }
        Ok(out)
    }

    /// Copy the value of `key` into `buf`; returns its length
    /// (`Error::BufSize` if `buf` is too small, `Error::NotFound` if absent).
    pub fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Result<usize> {
        let mut len = 0u32;
        check(unsafe {
            sys::shmap_htable_get(self.raw, key.as_ptr().cast(), klen(key)?,
                                  buf.as_mut_ptr().cast(), clamp(buf.len()), &mut len)
        })?;
        Ok(len as usize)
    }

    pub fn contains_key(&self, key: &[u8]) -> Result<bool> {
        match self.get(key) {
            Ok(v) => Ok(v.is_some()),
            Err(Error::TooBig) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Insert a key that must not exist (`Error::Exist` otherwise).
    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<Status> {
        check(unsafe {
            sys::shmap_htable_insert(self.raw, key.as_ptr().cast(), klen(key)?,
                                     value.as_ptr().cast(), klen(value)?)
        })
    }

    /// Insert or replace.
    pub fn upsert(&self, key: &[u8], value: &[u8]) -> Result<Status> {
        check(unsafe {
            sys::shmap_htable_upsert(self.raw, key.as_ptr().cast(), klen(key)?,
                                     value.as_ptr().cast(), klen(value)?)
        })
    }

    /// Replace the value of a key that must exist (`Error::NotFound` otherwise).
    pub fn replace(&self, key: &[u8], value: &[u8]) -> Result<Status> {
        check(unsafe {
            sys::shmap_htable_replace(self.raw, key.as_ptr().cast(), klen(key)?,
                                      value.as_ptr().cast(), klen(value)?)
        })
    }

    /// Erase a key; `Ok(false)` if it was not there.
    pub fn remove(&self, key: &[u8]) -> Result<bool> {
        let rc = unsafe { sys::shmap_htable_erase(self.raw, key.as_ptr().cast(), klen(key)?) };
        if rc == sys::SHMAP_E_NOTFOUND {
            return Ok(false);
        }
        check(rc).map(|_| true)
    }

    /// Compare-and-swap: `Ok(true)` if swapped, `Ok(false)` if the value differed.
    pub fn cas(&self, key: &[u8], expected: &[u8], desired: &[u8]) -> Result<bool> {
        let rc = unsafe {
            sys::shmap_htable_cas(self.raw, key.as_ptr().cast(), klen(key)?,
                                  expected.as_ptr().cast(), klen(expected)?,
                                  desired.as_ptr().cast(), klen(desired)?)
        };
        if rc == sys::SHMAP_E_MISMATCH {
            return Ok(false);
        }
        check(rc).map(|_| true)
    }

    /// Compare-and-erase: erase the key only if its value equals `expected`.
    /// `Ok(true)` if erased, `Ok(false)` if the value differed (nothing
    /// changed), `Err(Error::NotFound)` if the key is missing. Of several
    /// concurrent callers with the current value, exactly one gets `Ok(true)`.
    pub fn cas_erase(&self, key: &[u8], expected: &[u8]) -> Result<bool> {
        let rc = unsafe {
            sys::shmap_htable_cas_erase(self.raw, key.as_ptr().cast(), klen(key)?,
                                        expected.as_ptr().cast(), klen(expected)?)
        };
        if rc == sys::SHMAP_E_MISMATCH {
            return Ok(false);
        }
        check(rc).map(|_| true)
    }

    /// Atomic read-modify-write of one key: `f` sees the current value
    /// (`None` if missing) with the key's lock held; keep it short and do not
    /// touch this table from it. A panic in `f` aborts the update and is
    /// resumed after the lock is released.
    pub fn update<F>(&self, key: &[u8], f: F) -> Result<Status>
    where
        F: FnMut(Option<&[u8]>) -> Update,
    {
        struct Ctx<F> {
            f: F,
            value_max: u32,
            panic: Option<Box<dyn std::any::Any + Send>>,
            err: Option<Error>,
        }
        unsafe extern "C" fn tramp<F: FnMut(Option<&[u8]>) -> Update>(
            cur: *const c_void, cur_len: u32, exists: c_int, out: *mut c_void,
            out_len: *mut u32, arg: *mut c_void) -> c_int {
            let ctx = &mut *(arg as *mut Ctx<F>);
            let old = if exists != 0 && !cur.is_null() {
                Some(std::slice::from_raw_parts(cur as *const u8, cur_len as usize))
            } else {
                None
            };
            match catch_unwind(AssertUnwindSafe(|| (ctx.f)(old))) {
                Ok(Update::Commit(v)) => {
                    if v.is_empty() || v.len() > ctx.value_max as usize {
                        ctx.err = Some(if v.is_empty() { Error::Inval } else { Error::TooBig });
                        return sys::SHMAP_HTABLE_ABORT;
                    }
                    ptr::copy_nonoverlapping(v.as_ptr(), out as *mut u8, v.len());
                    *out_len = v.len() as u32;
                    sys::SHMAP_HTABLE_COMMIT
                }
                Ok(Update::Erase) => sys::SHMAP_HTABLE_ERASE,
                Ok(Update::Abort) => sys::SHMAP_HTABLE_ABORT,
                Ok(Update::Keep) => sys::SHMAP_HTABLE_KEEP,
                Err(p) => {
                    ctx.panic = Some(p);
                    sys::SHMAP_HTABLE_ABORT
                }
            }
        }
        let mut ctx = Ctx { f, value_max: self.value_max, panic: None, err: None };
        let rc = unsafe {
            sys::shmap_htable_update(self.raw, key.as_ptr().cast(), klen(key)?, Some(tramp::<F>),
                                     &mut ctx as *mut Ctx<F> as *mut c_void)
        };
        if let Some(p) = ctx.panic {
            std::panic::resume_unwind(p);
        }
        if let Some(e) = ctx.err {
            return Err(e);
        }
        check(rc)
    }

    /// Erase every entry (not atomic for concurrent readers).
    pub fn clear(&self) -> Result<Status> {
        check(unsafe { sys::shmap_htable_clear(self.raw) })
    }

    /// (live, tombstones, longest probe) from a scan of every bucket.
    pub fn stats(&self) -> Result<(u64, u64, u64)> {
        let mut st = sys::shmap_htable_stats_t {
            size: std::mem::size_of::<sys::shmap_htable_stats_t>() as u32,
            ..Default::default()
        };
        check(unsafe { sys::shmap_htable_stats(self.raw, &mut st) })?;
        Ok((st.live, st.tombstones, st.longest_probe))
    }

    /// Verify a quiescent table (and repair with `repair`); returns the
    /// number of problems found.
    pub fn check(&self, repair: bool) -> Result<u64> {
        let mut n = 0;
        check(unsafe {
            sys::shmap_htable_check(self.raw, if repair { sys::SHMAP_CHECK_REPAIR } else { 0 },
                                    &mut n)
        })?;
        Ok(n)
    }

    /// Iterate over (key, value) pairs through a C cursor (weakly
    /// consistent: entries present throughout are returned exactly once).
    pub fn iter(&self) -> Result<Iter<'_>> {
        let mut c = ptr::null_mut();
        check(unsafe { sys::shmap_htable_cursor_new(self.raw, &mut c) })?;
        Ok(Iter {
            cur: c,
            kbuf: vec![0; self.key_max.clamp(1, FIRST_BUF) as usize],
            vbuf: vec![0; self.value_max.clamp(1, FIRST_BUF) as usize],
            done: false,
            _t: PhantomData,
        })
    }

    /// Close explicitly (dropping does the same).
    pub fn close(self) {}
}

impl Drop for Table {
    fn drop(&mut self) {
        unsafe { sys::shmap_htable_close(self.raw) }
    }
}

fn klen(b: &[u8]) -> Result<u32> {
    u32::try_from(b.len()).map_err(|_| Error::TooBig)
}

fn clamp(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// A cursor over a [`Table`]; borrows it, so the table outlives the cursor
/// (htable.h: cursors must be freed before the table is closed):
///
/// ```compile_fail
/// let t = shmap::Table::open("/x").unwrap();
/// let it = t.iter().unwrap();
/// drop(t); // error: `t` is still borrowed by `it`
/// it.count();
/// ```
///
/// A cursor is used by one thread at a time: `Send`, not `Sync`.
///
/// ```compile_fail
/// fn needs_sync<T: Sync>() {}
/// needs_sync::<shmap::TableIter<'static>>();
/// ```
pub struct Iter<'a> {
    cur: *mut sys::shmap_htable_cursor,
    kbuf: Vec<u8>,
    vbuf: Vec<u8>,
    done: bool,
    _t: PhantomData<&'a Table>,
}

// SAFETY: a cursor may be used by one thread at a time (it is not Sync), and
// it only borrows a Sync table.
unsafe impl Send for Iter<'_> {}

impl Iter<'_> {
    /// Restart from the beginning.
    pub fn reset(&mut self) -> Result<()> {
        self.done = false;
        check_unit(unsafe { sys::shmap_htable_cursor_reset(self.cur) })
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        for _ in 0..8 {
            let (mut kl, mut vl) = (0u32, 0u32);
            let rc = unsafe {
                sys::shmap_htable_cursor_next(self.cur, self.kbuf.as_mut_ptr().cast(),
                                              clamp(self.kbuf.len()), &mut kl,
                                              self.vbuf.as_mut_ptr().cast(),
                                              clamp(self.vbuf.len()), &mut vl)
            };
            match rc {
                sys::SHMAP_E_BUFSIZE => {
                    if kl as usize > self.kbuf.len() {
                        self.kbuf.resize(kl as usize, 0);
                    }
                    if vl as usize > self.vbuf.len() {
                        self.vbuf.resize(vl as usize, 0);
                    }
                    continue;
                }
                sys::SHMAP_E_NOTFOUND => {
                    self.done = true;
                    return None;
                }
                rc if rc < 0 => {
                    self.done = true;
                    return Some(Err(Error::from_code(rc)));
                }
                _ => {
                    return Some(Ok((self.kbuf[..kl as usize].to_vec(),
                                    self.vbuf[..vl as usize].to_vec())))
                }
            }
        }
        self.done = true;
        Some(Err(Error::Busy))
    }
}

impl Drop for Iter<'_> {
    fn drop(&mut self) {
        unsafe { sys::shmap_htable_cursor_free(self.cur) }
    }
}
