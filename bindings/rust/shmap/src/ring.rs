// SPDX-License-Identifier: MIT
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr;
use std::time::Duration;

use shmap_sys as sys;

use crate::error::{check, check_unit, Error, Result, Status};
use crate::opts::{c_name, OpenMode, Options};

/// Ring types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingType {
    /// One producer, one consumer; in order, exactly once.
    Spsc,
    /// One producer, many consumers; each element to exactly one.
    Spmc,
    /// Broadcast; the producer never waits, lapped subscribers get `Overrun`.
    BcastLossy,
    /// Broadcast; the producer is gated by the slowest live subscriber.
    BcastReliable,
}

impl RingType {
    pub(crate) fn raw(self) -> u32 {
        match self {
            RingType::Spsc => sys::SHMAP_RING_SPSC,
            RingType::Spmc => sys::SHMAP_RING_SPMC,
            RingType::BcastLossy => sys::SHMAP_RING_BCAST_LOSSY,
            RingType::BcastReliable => sys::SHMAP_RING_BCAST_RELIABLE,
        }
    }
    pub(crate) fn from_raw(v: u32) -> Option<RingType> {
        match v {
            sys::SHMAP_RING_SPSC => Some(RingType::Spsc),
            sys::SHMAP_RING_SPMC => Some(RingType::Spmc),
            sys::SHMAP_RING_BCAST_LOSSY => Some(RingType::BcastLossy),
            sys::SHMAP_RING_BCAST_RELIABLE => Some(RingType::BcastReliable),
            _ => None,
        }
    }
}

/// The role a ring handle holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Producer,
    /// A consumer (SPSC, SPMC) or a subscriber (broadcast).
    Consumer,
    /// No role, for inspection: the queries, [`Ring::read_at`],
    /// [`Ring::consumers`], [`Ring::stats`], [`Ring::consumer_info`] and
    /// [`Ring::check`] work; data calls return `Error::NotAttached`. An
    /// observer never takes over a role and does not count as a consumer.
    Observer,
}

impl Role {
    pub(crate) fn raw(self) -> u32 {
        match self {
            Role::Producer => sys::SHMAP_RING_PRODUCER,
            Role::Consumer => sys::SHMAP_RING_CONSUMER,
            Role::Observer => sys::SHMAP_RING_OBSERVER,
        }
    }
}

/// Ring-wide counters returned by [`Ring::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingStats {
    /// Elements ever published.
    pub head: u64,
    /// SPSC/SPMC: elements ever consumed (incl. lost); broadcast: lowest
    /// subscriber cursor.
    pub tail: u64,
    pub lost: u64,
    pub producer_pid: u32,
    pub producer_alive: bool,
}

/// One consumer/subscriber slot, from [`Ring::consumer_info`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerInfo {
    pub pid: u32,
    pub alive: bool,
    pub cursor: u64,
    pub missed: u64,
}

/// Parameters of a ring at creation; `RingParams::default()` (all zero/None)
/// accepts what an existing ring stores.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingParams {
    pub ring_type: Option<RingType>,
    pub elem_size: u32,
    pub capacity: u64,
    pub max_consumers: u32,
}

/// A ring segment attached with one role.
///
/// ring.h: "one handle must not be used by two threads at the same time",
/// so `Ring` is `Send` (it may move to another thread) but not `Sync`.
/// Open one handle per thread instead. Sharing one is a compile error:
///
/// ```compile_fail
/// fn needs_sync<T: Sync>() {}
/// needs_sync::<shmap::Ring>();
/// ```
pub struct Ring {
    raw: *mut sys::shmap_ring,
    elem_size: u32,
    status: Status,
}

// SAFETY: the handle has no thread affinity; it is only !Sync.
unsafe impl Send for Ring {}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

impl Ring {
    /// The general form.
    pub fn open_with(name: &str, mode: OpenMode, params: RingParams, role: Role,
                     opts: &Options) -> Result<Ring> {
        let n = c_name(name)?;
        let o = opts.raw()?;
        // max_consumers is an option of the C open (0: unset)
        check(unsafe { sys::shmap_opts_set_max_consumers(o.0, params.max_consumers) })?;
        let mut raw = ptr::null_mut();
        let status = check(unsafe {
            sys::shmap_ring_open(n.as_ptr(), mode.raw(), params.ring_type.map_or(0, |t| t.raw()),
                                 params.elem_size, params.capacity, role.raw(), o.0, &mut raw)
        })?;
        Ok(Ring { raw, elem_size: unsafe { sys::shmap_ring_elem_size(raw) }, status })
    }

    /// Create a ring and attach with `role`.
    pub fn create(name: &str, ring_type: RingType, elem_size: u32, capacity: u64,
                  max_consumers: u32, role: Role) -> Result<Ring> {
        let p = RingParams { ring_type: Some(ring_type), elem_size, capacity, max_consumers };
        Self::open_with(name, OpenMode::Create, p, role, &Options::default())
    }

    /// Attach to an existing ring as its producer.
    pub fn producer(name: &str) -> Result<Ring> {
        Self::open_with(name, OpenMode::Open, RingParams::default(), Role::Producer,
                        &Options::default())
    }

    /// Attach to an existing ring as a consumer / subscriber.
    pub fn consumer(name: &str) -> Result<Ring> {
        Self::open_with(name, OpenMode::Open, RingParams::default(), Role::Consumer,
                        &Options::default())
    }

    /// Attach to an existing ring without a role ([`Role::Observer`]).
    pub fn observer(name: &str) -> Result<Ring> {
        Self::open_with(name, OpenMode::Open, RingParams::default(), Role::Observer,
                        &Options::default())
    }

    /// `Status::Recovered` if the role was taken over from a dead process.
    pub fn open_status(&self) -> Status {
        self.status
    }

    pub fn elem_size(&self) -> u32 {
        self.elem_size
    }
    pub fn capacity(&self) -> u64 {
        unsafe { sys::shmap_ring_capacity(self.raw) }
    }
    /// Elements in the ring (see ring.h for broadcast rings).
    pub fn len(&self) -> u64 {
        unsafe { sys::shmap_ring_size(self.raw) }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn ring_type(&self) -> Option<RingType> {
        RingType::from_raw(unsafe { sys::shmap_ring_type(self.raw) })
    }
    pub fn role(&self) -> Option<Role> {
        match unsafe { sys::shmap_ring_role(self.raw) } {
            sys::SHMAP_RING_PRODUCER => Some(Role::Producer),
            sys::SHMAP_RING_CONSUMER => Some(Role::Consumer),
            sys::SHMAP_RING_OBSERVER => Some(Role::Observer),
            _ => None,
        }
    }
    pub fn max_consumers(&self) -> u32 {
        unsafe { sys::shmap_ring_max_consumers(self.raw) }
    }
    /// Lossy broadcast subscriber: elements missed since subscribing.
    pub fn missed(&self) -> u64 {
        unsafe { sys::shmap_ring_missed(self.raw) }
    }
    /// SPMC: elements lost with consumers that died.
    pub fn lost(&self) -> u64 {
        unsafe { sys::shmap_ring_lost(self.raw) }
    }
    pub fn fd(&self) -> i32 {
        unsafe { sys::shmap_ring_fd(self.raw) }
    }
    pub fn reattach(&mut self) -> Result<Status> {
        check(unsafe { sys::shmap_ring_reattach(self.raw) })
    }

    /// Ring-wide counters (see `shmap_ring_stats`).
    pub fn stats(&self) -> Result<RingStats> {
        let mut st = sys::shmap_ring_stats_t {
            size: std::mem::size_of::<sys::shmap_ring_stats_t>() as u32,
            ..Default::default()
        };
        check(unsafe { sys::shmap_ring_stats(self.raw, &mut st) })?;
        Ok(RingStats { head: st.head, tail: st.tail, lost: st.lost,
                       producer_pid: st.producer_pid, producer_alive: st.producer_alive != 0 })
    }

    /// Consumer/subscriber slot `index`, or `None` if the slot is free.
    pub fn consumer_info(&self, index: u32) -> Result<Option<ConsumerInfo>> {
        let mut st = sys::shmap_ring_consumer_stats_t {
            size: std::mem::size_of::<sys::shmap_ring_consumer_stats_t>() as u32,
            ..Default::default()
        };
        let rc = unsafe { sys::shmap_ring_consumer_stats(self.raw, index, &mut st) };
        if rc == sys::SHMAP_E_NOTFOUND {
            return Ok(None);
        }
        check(rc)?;
        Ok(Some(ConsumerInfo { pid: st.pid, alive: st.alive != 0, cursor: st.cursor,
                               missed: st.missed }))
    }

    /// Number of live consumers (SPSC, SPMC) or subscribers (broadcast)
    /// attached now; observers and dead holders not yet reclaimed do not
    /// count. One liveness probe per occupied record.
    pub fn consumers(&self) -> u32 {
        unsafe { sys::shmap_ring_consumers(self.raw) }
    }

    /// Same as [`Ring::consumers`] (kept for older callers).
    pub fn live_consumers(&self) -> Result<u32> {
        Ok(self.consumers())
    }

    /// Copy the element at absolute position `pos` (the count of elements
    /// pushed before it) into `out` (at least elem_size bytes) without
    /// consuming it. Works for every role, including [`Role::Observer`].
    /// `Error::Range` if `pos` is outside the live window (ring.h:
    /// `[tail, head)` for SPSC/SPMC, from the lowest subscriber cursor for
    /// reliable broadcast, the last `capacity` elements for lossy
    /// broadcast); `Error::Overrun` if it was overwritten during the copy.
    pub fn read_at_into(&self, pos: u64, out: &mut [u8]) -> Result<()> {
        if out.len() < self.elem_size as usize {
            return Err(Error::BufSize);
        }
        check_unit(unsafe { sys::shmap_ring_read_at(self.raw, pos, out.as_mut_ptr().cast()) })
    }

    /// [`Ring::read_at_into`] into a new vector of elem_size bytes.
    pub fn read_at(&self, pos: u64) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.elem_size as usize];
        self.read_at_into(pos, &mut v)?;
        Ok(v)
    }

    /// Verify (and with `repair` fix) the ring; returns the problems found.
    /// Consumer side: discard the elements waiting for this consumer (SPSC:
    /// the ring; SPMC: the unclaimed elements; broadcast: this subscriber's
    /// backlog only) and return how many. A producer or observer handle gets
    /// `Error::NotAttached`: only the consuming side can give elements up
    /// without racing the other side (see `shmap_ring_clear(3)`).
    pub fn clear(&self) -> Result<u64> {
        let mut n = 0;
        check(unsafe { sys::shmap_ring_clear(self.raw, &mut n) })?;
        Ok(n)
    }

    pub fn check(&self, repair: bool) -> Result<u64> {
        let mut n = 0;
        check(unsafe {
            sys::shmap_ring_check(self.raw, if repair { sys::SHMAP_CHECK_REPAIR } else { 0 },
                                  &mut n)
        })?;
        Ok(n)
    }

    /// Push one element (`data` shorter than elem_size is zero-padded;
    /// longer is `Error::TooBig`). `Error::Full` if no slot is free.
    pub fn push(&self, data: &[u8]) -> Result<Status> {
        if data.len() > self.elem_size as usize {
            return Err(Error::TooBig);
        }
        check(unsafe { sys::shmap_ring_push_bytes(self.raw, data.as_ptr().cast(), data.len() as u32) })
    }

    /// Push, waiting up to `timeout` for a free slot (`Error::Timeout`);
    /// `data` shorter than elem_size is zero-padded by the library.
    pub fn push_wait(&self, data: &[u8], timeout: Duration) -> Result<Status> {
        if data.len() > self.elem_size as usize {
            return Err(Error::TooBig);
        }
        check(unsafe {
            sys::shmap_ring_push_bytes_wait(self.raw, data.as_ptr().cast(), data.len() as u32,
                                            ms(timeout))
        })
    }

    /// Pop one element into `out` (at least elem_size bytes).
    pub fn pop_into(&self, out: &mut [u8]) -> Result<()> {
        let n = out.len().min(u32::MAX as usize) as u32;
        check_unit(unsafe { sys::shmap_ring_pop_bytes(self.raw, out.as_mut_ptr().cast(), n) })
    }

    /// Pop one element (`Error::Empty` if none; lossy broadcast:
    /// `Error::Overrun` once when lapped).
    pub fn pop(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.elem_size as usize];
        self.pop_into(&mut v)?;
        Ok(v)
    }

    /// Pop, waiting up to `timeout` for an element (`Error::Timeout`).
    pub fn pop_wait(&self, timeout: Duration) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.elem_size as usize];
        self.pop_wait_into(&mut v, timeout)?;
        Ok(v)
    }

    pub fn pop_wait_into(&self, out: &mut [u8], timeout: Duration) -> Result<()> {
        if out.len() < self.elem_size as usize {
            return Err(Error::BufSize);
        }
        check_unit(unsafe { sys::shmap_ring_pop_wait(self.raw, out.as_mut_ptr().cast(), ms(timeout)) })
    }

    /// Push up to `elems.len() / elem_size` elements packed back to back;
    /// returns how many were pushed (0 if the ring is full).
    pub fn push_n(&self, elems: &[u8]) -> Result<usize> {
        let n = self.count(elems.len())?;
        let mut done = 0u32;
        let rc = unsafe { sys::shmap_ring_push_n(self.raw, elems.as_ptr().cast(), n, &mut done) };
        if rc == sys::SHMAP_E_FULL {
            return Ok(0);
        }
        check(rc)?;
        Ok(done as usize)
    }

    /// Pop up to `out.len() / elem_size` elements; returns how many (0 if empty).
    pub fn pop_n(&self, out: &mut [u8]) -> Result<usize> {
        let n = self.count(out.len())?;
        let mut done = 0u32;
        let rc = unsafe { sys::shmap_ring_pop_n(self.raw, out.as_mut_ptr().cast(), n, &mut done) };
        if rc == sys::SHMAP_E_EMPTY {
            return Ok(0);
        }
        check(rc)?;
        Ok(done as usize)
    }

    /// Push all packed elements, waiting up to `timeout` in total.
    pub fn push_n_wait(&self, elems: &[u8], timeout: Duration) -> Result<usize> {
        let n = self.count(elems.len())?;
        let mut done = 0u32;
        check(unsafe {
            sys::shmap_ring_push_n_wait(self.raw, elems.as_ptr().cast(), n, &mut done, ms(timeout))
        })?;
        Ok(done as usize)
    }

    /// Pop 1..n elements, waiting up to `timeout` for the first.
    pub fn pop_n_wait(&self, out: &mut [u8], timeout: Duration) -> Result<usize> {
        let n = self.count(out.len())?;
        let mut done = 0u32;
        check(unsafe {
            sys::shmap_ring_pop_n_wait(self.raw, out.as_mut_ptr().cast(), n, &mut done, ms(timeout))
        })?;
        Ok(done as usize)
    }

    fn count(&self, bytes: usize) -> Result<u32> {
        let es = self.elem_size as usize;
        if es == 0 || bytes % es != 0 {
            return Err(Error::Inval);
        }
        u32::try_from(bytes / es).map_err(|_| Error::Inval)
    }

    /// Wait until the next operation can make progress.
    pub fn wait(&self, timeout: Duration) -> Result<()> {
        check_unit(unsafe { sys::shmap_ring_wait(self.raw, ms(timeout)) })
    }

    /// The pollable descriptor of this ring end (`shmap_ring_notify_fd`),
    /// for an event loop: readable when the role can make progress (an
    /// element to pop, a free slot to push into). It starts readable; the
    /// loop is: wait for it, drain until `Empty` (push until `Full`), then
    /// [`Notifier::arm`], then wait again. The descriptor belongs to the
    /// ring (closed with it); the borrow keeps it from outliving the ring
    /// or a `reattach`.
    pub fn notifier(&self) -> Result<Notifier<'_>> {
        let mut fd: std::os::raw::c_int = -1;
        check_unit(unsafe { sys::shmap_ring_notify_fd(self.raw, &mut fd) })?;
        Ok(Notifier { ring: self, fd })
    }

    /// Re-arm this ring end's descriptor (`shmap_ring_notify_arm`); see
    /// [`Notifier::arm`].
    pub fn notify_arm(&self) -> Result<()> {
        check_unit(unsafe { sys::shmap_ring_notify_arm(self.raw) })
    }

    /// Iterate by popping until the ring is empty (each item a `Result`:
    /// a lossy subscriber sees `Err(Error::Overrun)` and iteration goes on).
    pub fn drain(&self) -> Drain<'_> {
        Drain { ring: self, timeout: None }
    }

    /// Iterate by popping with a timeout per element; ends at a timeout.
    pub fn iter_wait(&self, timeout: Duration) -> Drain<'_> {
        Drain { ring: self, timeout: Some(timeout) }
    }

    /// Zero-copy: reserve up to `n` slots to fill in place; commit with
    /// [`Reservation::commit`] (dropping it commits nothing).
    pub fn reserve(&mut self, n: u32) -> Result<Reservation<'_>> {
        let mut p = ptr::null_mut();
        let mut got = 0u32;
        check(unsafe { sys::shmap_ring_reserve(self.raw, n, &mut p, &mut got) })?;
        let len = got as usize * self.elem_size as usize;
        Ok(Reservation { ring: self, ptr: p as *mut u8, len, got, done: false })
    }

    /// Zero-copy: look at up to `n` elements in place; consume with
    /// [`Peek::release`] (dropping it consumes nothing, except SPMC claims).
    pub fn peek(&mut self, n: u32) -> Result<Peek<'_>> {
        let mut p = ptr::null();
        let mut got = 0u32;
        check(unsafe { sys::shmap_ring_peek(self.raw, n, &mut p, &mut got) })?;
        let len = got as usize * self.elem_size as usize;
        Ok(Peek { ring: self, ptr: p as *const u8, len, got, done: false })
    }

    pub fn close(self) {}
}

/// The pollable descriptor of a ring end (see [`Ring::notifier`]): use it
/// with poll/epoll through [`AsFd`] / [`AsRawFd`] (or register it with an
/// async reactor). Not `Send`: it borrows the ring.
pub struct Notifier<'a> {
    ring: &'a Ring,
    fd: RawFd,
}

impl Notifier<'_> {
    /// After a drain: not readable until the role can make progress again
    /// (readable at once if it already can). `Err(Error::PeerDead)`: the
    /// ring is blocked and the peer the role waits for died (told once per
    /// death; arm again to keep waiting, e.g. for a replacement).
    pub fn arm(&self) -> Result<()> {
        self.ring.notify_arm()
    }
}

impl AsRawFd for Notifier<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsFd for Notifier<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open while the ring lives and is not
        // reattached; the borrow of the ring guarantees both.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        unsafe { sys::shmap_ring_close(self.raw) }
    }
}

/// Iterator returned by [`Ring::drain`] and [`Ring::iter_wait`].
pub struct Drain<'a> {
    ring: &'a Ring,
    timeout: Option<Duration>,
}

impl Iterator for Drain<'_> {
    type Item = Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = match self.timeout {
            None => self.ring.pop(),
            Some(t) => self.ring.pop_wait(t),
        };
        match r {
            Err(Error::Empty) | Err(Error::Timeout) => None,
            r => Some(r),
        }
    }
}

/// Slots reserved for in-place writing (`got()` elements).
pub struct Reservation<'a> {
    ring: &'a mut Ring,
    ptr: *mut u8,
    len: usize,
    got: u32,
    done: bool,
}

impl Reservation<'_> {
    pub fn got(&self) -> u32 {
        self.got
    }
    /// Publish the first `n` slots (the rest is dropped).
    pub fn commit(mut self, n: u32) -> Result<()> {
        self.done = true;
        check_unit(unsafe { sys::shmap_ring_commit(self.ring.raw, n) })
    }
}

impl Deref for Reservation<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for Reservation<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            unsafe { sys::shmap_ring_commit(self.ring.raw, 0) };
        }
    }
}

/// Elements looked at in place (`got()` elements). Lossy broadcast: the
/// elements are a copy in the handle's own buffer, validated when peek made
/// it, so the producer cannot change them while they are read; a lap that
/// happens meanwhile shows as `Err(Error::Overrun)` at the next pop or peek.
pub struct Peek<'a> {
    ring: &'a mut Ring,
    ptr: *const u8,
    len: usize,
    got: u32,
    done: bool,
}

impl Peek<'_> {
    pub fn got(&self) -> u32 {
        self.got
    }
    /// Consume the first `n` elements.
    pub fn release(mut self, n: u32) -> Result<()> {
        self.done = true;
        check_unit(unsafe { sys::shmap_ring_release(self.ring.raw, n) })
    }
}

impl Deref for Peek<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Peek<'_> {
    fn drop(&mut self) {
        if !self.done {
            unsafe { sys::shmap_ring_release(self.ring.raw, 0) };
        }
    }
}
