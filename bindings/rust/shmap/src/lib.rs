// SPDX-License-Identifier: MIT
//! Safe Rust bindings for libshmap: lock-free data structures in shared
//! memory, shared by processes.
//!
//! ```no_run
//! use shmap::{Table, unlink};
//! let t = Table::create("/demo", 1024, 64, 256)?;
//! t.upsert(b"greeting", b"hello")?;
//! assert_eq!(t.get(b"greeting")?.as_deref(), Some(&b"hello"[..]));
//! drop(t);
//! unlink("/demo")?;
//! # Ok::<(), shmap::Error>(())
//! ```
//!
//! Every handle is owned and closed on `Drop`. Errors are [`Error`] values
//! carrying the C status code. `Send`/`Sync` follow the C headers'
//! concurrency notes: [`Table`] and [`Vector`] are `Send + Sync`, [`Ring`]
//! is only `Send` (one thread at a time per handle).

mod error;
mod info;
mod opts;
mod rec_ring;
mod ring;
mod table;
mod vector;

pub use error::{Error, Result, Status};
pub use info::{cleanup_stale, info, info_with, kind_name, reap, reap_with, Info, Participant};
pub use opts::{unlink, unlink_with, Backend, OpenMode, Options};
pub use rec_ring::RecRing;
pub use ring::{ConsumerInfo, Drain, Notifier, Peek, Reservation, Ring, RingParams, RingStats, RingType,
               Role};
pub use shmap_sys as sys;
pub use table::{Iter as TableIter, Table, Update};
pub use vector::{Iter as VectorIter, Vector};

/// Version of the loaded C library, e.g. "1.0.0".
pub fn version() -> &'static str {
    unsafe { error::cstr(sys::shmap_version_string()) }
}

/// Version of the loaded C library as MAJOR*10000+MINOR*100+PATCH.
pub fn version_number() -> u32 {
    unsafe { sys::shmap_version() }
}

/// Segment format version of the loaded C library.
pub fn layout_version() -> u32 {
    unsafe { sys::shmap_layout_version() }
}
