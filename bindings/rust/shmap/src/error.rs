// SPDX-License-Identifier: MIT
use std::ffi::CStr;
use std::fmt;

use shmap_sys as sys;

/// A failed shmap call: one variant per status code, `Other` for codes this
/// crate does not know yet. `code()` gives the C value and `Display` the
/// library's `shmap_strerror()` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    Inval,
    NoMem,
    NoSpc,
    Exist,
    NoEnt,
    NotFound,
    Full,
    Empty,
    Timeout,
    Busy,
    Incompat,
    Corrupt,
    Access,
    Range,
    TooBig,
    Overrun,
    Sys,
    Version,
    BadMagic,
    Truncated,
    NotReady,
    Forked,
    NameTooLong,
    BufSize,
    NotSup,
    PeerFault,
    Aborted,
    Mismatch,
    NotAttached,
    PeerDead,
    Other(i32),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

const TABLE: &[(i32, Error)] = &[
    (sys::SHMAP_E_INVAL, Error::Inval),
    (sys::SHMAP_E_NOMEM, Error::NoMem),
    (sys::SHMAP_E_NOSPC, Error::NoSpc),
    (sys::SHMAP_E_EXIST, Error::Exist),
    (sys::SHMAP_E_NOENT, Error::NoEnt),
    (sys::SHMAP_E_NOTFOUND, Error::NotFound),
    (sys::SHMAP_E_FULL, Error::Full),
    (sys::SHMAP_E_EMPTY, Error::Empty),
    (sys::SHMAP_E_TIMEOUT, Error::Timeout),
    (sys::SHMAP_E_BUSY, Error::Busy),
    (sys::SHMAP_E_INCOMPAT, Error::Incompat),
    (sys::SHMAP_E_CORRUPT, Error::Corrupt),
    (sys::SHMAP_E_ACCESS, Error::Access),
    (sys::SHMAP_E_RANGE, Error::Range),
    (sys::SHMAP_E_TOOBIG, Error::TooBig),
    (sys::SHMAP_E_OVERRUN, Error::Overrun),
    (sys::SHMAP_E_SYS, Error::Sys),
    (sys::SHMAP_E_VERSION, Error::Version),
    (sys::SHMAP_E_BADMAGIC, Error::BadMagic),
    (sys::SHMAP_E_TRUNCATED, Error::Truncated),
    (sys::SHMAP_E_NOTREADY, Error::NotReady),
    (sys::SHMAP_E_FORKED, Error::Forked),
    (sys::SHMAP_E_NAMETOOLONG, Error::NameTooLong),
    (sys::SHMAP_E_BUFSIZE, Error::BufSize),
    (sys::SHMAP_E_NOTSUP, Error::NotSup),
    (sys::SHMAP_E_PEERFAULT, Error::PeerFault),
    (sys::SHMAP_E_ABORTED, Error::Aborted),
    (sys::SHMAP_E_MISMATCH, Error::Mismatch),
    (sys::SHMAP_E_NOTATTACHED, Error::NotAttached),
    (sys::SHMAP_E_PEERDEAD, Error::PeerDead),
];

impl Error {
    /// The error for a negative status code.
    pub fn from_code(code: i32) -> Error {
        TABLE.iter().find(|(c, _)| *c == code).map(|(_, e)| *e).unwrap_or(Error::Other(code))
    }

    /// The C status code (negative).
    pub fn code(&self) -> i32 {
        match self {
            Error::Other(c) => *c,
            e => TABLE.iter().find(|(_, x)| x == e).map(|(c, _)| *c).unwrap_or(0),
        }
    }

    /// Symbolic name, e.g. "SHMAP_E_FULL".
    pub fn name(&self) -> &'static str {
        unsafe { cstr(sys::shmap_errname(self.code())) }
    }

    /// The library's description (`shmap_strerror`).
    pub fn message(&self) -> &'static str {
        unsafe { cstr(sys::shmap_strerror(self.code())) }
    }
}

pub(crate) unsafe fn cstr(p: *const std::os::raw::c_char) -> &'static str {
    if p.is_null() {
        return "";
    }
    CStr::from_ptr(p).to_str().unwrap_or("")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())
    }
}

impl std::error::Error for Error {}

/// Success codes of a call that can succeed in two ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// SHMAP_OK
    Ok,
    /// SHMAP_RECOVERED: done, after recovering state a dead process left.
    Recovered,
}

pub(crate) fn check(rc: i32) -> Result<Status> {
    if rc < 0 {
        Err(Error::from_code(rc))
    } else if rc == sys::SHMAP_RECOVERED {
        Ok(Status::Recovered)
    } else {
        Ok(Status::Ok)
    }
}

pub(crate) fn check_unit(rc: i32) -> Result<()> {
    check(rc).map(|_| ())
}
