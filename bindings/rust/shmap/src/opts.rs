// SPDX-License-Identifier: MIT
use std::ffi::CString;
use std::ptr;

use shmap_sys as sys;

use crate::error::{check_unit, Error, Result};

/// How an `open` call treats the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create; `Error::Exist` if the name exists.
    Create,
    /// Open an existing segment; `Error::NoEnt` if missing.
    Open,
    /// Open, or create if missing (safe when many processes race).
    OpenOrCreate,
    /// Open, waiting up to the options' timeout for another process to
    /// create the segment (`Error::Timeout` if it never appears). For a memfd
    /// (opened by descriptor) the same as `Open`.
    OpenWait,
}

impl OpenMode {
    pub(crate) fn raw(self) -> u32 {
        match self {
            OpenMode::Create => sys::SHMAP_CREATE,
            OpenMode::Open => sys::SHMAP_OPEN,
            OpenMode::OpenOrCreate => sys::SHMAP_OPEN_OR_CREATE,
            OpenMode::OpenWait => sys::SHMAP_OPEN | sys::SHMAP_OPEN_WAIT,
        }
    }
}

/// Segment backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// POSIX shared memory (`/name`), the default.
    Shm,
    /// A regular file at a path.
    File,
    /// An anonymous memfd shared by passing its descriptor.
    Memfd,
}

/// Creation and open options (a builder; converted to a C `shmap_opts` at
/// each open). `Options::default()` keeps every library default.
#[derive(Clone, Debug, Default)]
pub struct Options {
    backend: Option<Backend>,
    mode: Option<u32>,
    owner: Option<i64>,
    fd: Option<i32>,
    timeout_ms: Option<u32>,
    max_procs: Option<u32>,
    flags: Option<u32>,
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }
    pub fn backend(mut self, b: Backend) -> Self {
        self.backend = Some(b);
        self
    }
    /// Permission bits of a created segment (default 0o600).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Expected owner uid of an existing segment; -1 accepts any owner.
    pub fn owner(mut self, uid: i64) -> Self {
        self.owner = Some(uid);
        self
    }
    /// Memfd backend: open the segment behind this descriptor.
    pub fn fd(mut self, fd: i32) -> Self {
        self.fd = Some(fd);
        self
    }
    /// Bound on waiting for a segment another process is building, and with
    /// `OpenMode::OpenWait` for it to be created (default 2000 ms).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
    /// Participant slots of a created segment (1..4000, default 128).
    pub fn max_procs(mut self, n: u32) -> Self {
        self.max_procs = Some(n);
        self
    }
    /// `sys::SHMAP_OPT_HUGEPAGES | sys::SHMAP_OPT_PREFAULT`.
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags = Some(flags);
        self
    }

    pub(crate) fn raw(&self) -> Result<RawOpts> {
        let mut p: *mut sys::shmap_opts = ptr::null_mut();
        check_unit(unsafe { sys::shmap_opts_new(&mut p) })?;
        let raw = RawOpts(p);
        unsafe {
            if let Some(b) = self.backend {
                let b = match b {
                    Backend::Shm => sys::SHMAP_BACKEND_SHM,
                    Backend::File => sys::SHMAP_BACKEND_FILE,
                    Backend::Memfd => sys::SHMAP_BACKEND_MEMFD,
                };
                check_unit(sys::shmap_opts_set_backend(p, b))?;
            }
            if let Some(m) = self.mode {
                check_unit(sys::shmap_opts_set_mode(p, m))?;
            }
            if let Some(o) = self.owner {
                check_unit(sys::shmap_opts_set_owner(p, o))?;
            }
            if let Some(fd) = self.fd {
                check_unit(sys::shmap_opts_set_fd(p, fd))?;
            }
            if let Some(t) = self.timeout_ms {
                check_unit(sys::shmap_opts_set_timeout_ms(p, t))?;
            }
            if let Some(n) = self.max_procs {
                check_unit(sys::shmap_opts_set_max_procs(p, n))?;
            }
            if let Some(f) = self.flags {
                check_unit(sys::shmap_opts_set_flags(p, f))?;
            }
        }
        Ok(raw)
    }
}

/// An owned C options object.
pub(crate) struct RawOpts(pub(crate) *mut sys::shmap_opts);

impl Drop for RawOpts {
    fn drop(&mut self) {
        unsafe { sys::shmap_opts_free(self.0) }
    }
}

/// A segment name for C: "" becomes NULL (a memfd being created needs no name).
pub(crate) struct CName(Option<CString>);

impl CName {
    pub(crate) fn as_ptr(&self) -> *const std::os::raw::c_char {
        self.0.as_ref().map_or(ptr::null(), |c| c.as_ptr())
    }
}

pub(crate) fn c_name(name: &str) -> Result<CName> {
    if name.is_empty() {
        return Ok(CName(None));
    }
    CString::new(name).map(|c| CName(Some(c))).map_err(|_| Error::Inval)
}

/// Remove a segment's name (open handles stay valid).
pub fn unlink(name: &str) -> Result<()> {
    unlink_with(name, &Options::default())
}

/// Remove a segment's name with a backend chosen by `opts`.
pub fn unlink_with(name: &str, opts: &Options) -> Result<()> {
    let n = c_name(name)?;
    let o = opts.raw()?;
    check_unit(unsafe { sys::shmap_unlink(n.as_ptr(), o.0) })
}
