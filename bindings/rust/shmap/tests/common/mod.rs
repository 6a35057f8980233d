// SPDX-License-Identifier: MIT
//! Helpers shared by the integration tests: unique names unlinked on drop,
//! the data pattern shared with the C peer and the other languages, and the
//! C peer program itself.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A segment name, unlinked when dropped.
pub struct Name(pub String);

impl Name {
    pub fn new(tag: &str) -> Name {
        Name(format!("/shmap-rs-{tag}-{}-{}", std::process::id(),
                     COUNTER.fetch_add(1, Ordering::Relaxed)))
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = shmap::unlink(&self.0);
    }
}

pub fn key(i: u64) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

pub fn value(i: u64, vmax: u32) -> Vec<u8> {
    let n = 1 + (i.wrapping_mul(7919) % vmax as u64);
    (0..n).map(|j| (i.wrapping_mul(131).wrapping_add(j * 17).wrapping_add(7) & 0xff) as u8).collect()
}

pub fn elem(i: u64, es: u32) -> Vec<u8> {
    let mut v: Vec<u8> = i.to_le_bytes().iter().copied().take(es as usize).collect();
    v.extend((8..es as u64).map(|j| (i.wrapping_add(j * 29).wrapping_add(3) & 0xff) as u8));
    v
}

/// The C peer program: $SHMAP_PEER, or built here with cc and pkg-config.
pub fn peer() -> PathBuf {
    static PEER: OnceLock<PathBuf> = OnceLock::new();
    PEER.get_or_init(|| {
        if let Some(p) = std::env::var_os("SHMAP_PEER") {
            return PathBuf::from(p);
        }
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../c/shmap_peer.c");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shmap_peer");
        let flags = Command::new("pkg-config").args(["--cflags", "--libs", "shmap"]).output()
            .expect("run pkg-config");
        assert!(flags.status.success(), "pkg-config shmap failed");
        let flags = String::from_utf8(flags.stdout).unwrap();
        let st = Command::new("cc").arg("-std=gnu11").arg(&src).arg("-o").arg(&out)
            .args(flags.split_whitespace()).status().expect("run cc");
        assert!(st.success(), "building the C peer failed");
        out
    })
    .clone()
}

/// Run the peer to completion; Ok(()) or Err(its stderr).
pub fn run_peer(args: &[&str]) -> Result<(), String> {
    let out = Command::new(peer()).args(args).stderr(Stdio::piped()).output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn spawn_peer(args: &[&str]) -> std::process::Child {
    Command::new(peer()).args(args).stderr(Stdio::piped()).spawn().expect("spawn peer")
}

pub fn wait_peer(child: std::process::Child) -> Result<(), String> {
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
