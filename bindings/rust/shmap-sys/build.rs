// SPDX-License-Identifier: MIT
//! Finds libshmap by running the `pkg-config` program (no crates: nothing is
//! downloaded). Honours $PKG_CONFIG (the program) and $PKG_CONFIG_PATH.
//! $SHMAP_NO_PKG_CONFIG=1 skips the probe and links `-lshmap` from the
//! default search path (with $SHMAP_LIB_DIR added if set).
use std::env;
use std::process::Command;

fn main() {
    for v in ["PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "SHMAP_NO_PKG_CONFIG",
              "SHMAP_LIB_DIR"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    if env::var_os("SHMAP_NO_PKG_CONFIG").is_some() {
        if let Some(dir) = env::var_os("SHMAP_LIB_DIR") {
            println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
        }
        println!("cargo:rustc-link-lib=dylib=shmap");
        return;
    }

    let prog = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&prog).args(["--libs", "--cflags", "shmap"]).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "shmap-sys: cannot run `{prog}` ({e}). Install pkg-config, or set \
             SHMAP_NO_PKG_CONFIG=1 (and SHMAP_LIB_DIR) to link -lshmap directly."
        ),
    };
    if !out.status.success() {
        panic!(
            "shmap-sys: `{prog} --libs --cflags shmap` failed: {}\nInstall libshmap (its \
             shmap.pc) or point PKG_CONFIG_PATH at it (a build tree has \
             BUILD/meson-uninstalled).",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let flags = String::from_utf8_lossy(&out.stdout);
    let mut includes = Vec::new();
    for f in flags.split_whitespace() {
        if let Some(dir) = f.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
            // Exposed to dependents as DEP_SHMAP_LIBDIR.
            println!("cargo:libdir={dir}");
        } else if let Some(lib) = f.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        } else if let Some(dir) = f.strip_prefix("-I") {
            includes.push(dir.to_string());
        }
    }
    if !includes.is_empty() {
        println!("cargo:include={}", includes.join(":"));
    }
}
