// SPDX-License-Identifier: MIT
//! The Rust example of bindings/README.md (kept compiling by `cargo test`).
use std::time::Duration;
use shmap::{Error, Ring, RingType, Role, Table};

fn main() -> Result<(), Error> {
    let t = Table::create("/demo-table", 1024, 64, 256)?;
    t.upsert(b"greeting", b"hello")?;
    assert_eq!(t.get(b"greeting")?.as_deref(), Some(&b"hello"[..]));
    for entry in t.iter()? {
        let (k, v) = entry?;
        println!("{:?} = {:?}", k, v);
    }

    let p = Ring::create("/demo-ring", RingType::Spsc, 16, 64, 0, Role::Producer)?;
    let c = Ring::consumer("/demo-ring")?;
    p.push(b"tick")?;
    match c.pop_wait(Duration::from_secs(1)) {
        Ok(elem) => println!("{:?}", elem),
        Err(Error::Timeout) => println!("nothing within 1 s"),
        Err(e) => return Err(e),
    }
    drop((t, p, c));
    shmap::unlink("/demo-table")?;
    shmap::unlink("/demo-ring")
}
