// SPDX-License-Identifier: MIT
//! Cross-language check, Rust side (run by bindings/test.sh); same protocol
//! as bindings/python/tests/xlang.py:
//!   xlang write TABLE RING N READERS
//!   xlang read TABLE RING N
use std::process::exit;
use std::thread::sleep;
use std::time::{Duration, Instant};

use shmap::{Error, OpenMode, Options, Ring, RingParams, RingType, Role, Table};

const VMAX: u32 = 100;
const ES: u32 = 32;
const WAIT: Duration = Duration::from_secs(30);

fn key(i: u64) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

fn value(i: u64, vmax: u32) -> Vec<u8> {
    let n = 1 + (i * 7919) % vmax as u64;
    (0..n).map(|j| ((i * 131 + j * 17 + 7) & 0xff) as u8).collect()
}

fn elem(i: u64, es: u32) -> Vec<u8> {
    let mut v = i.to_le_bytes().to_vec();
    v.extend((8..es as u64).map(|j| ((i + j * 29 + 3) & 0xff) as u8));
    v
}

fn die(msg: String) -> ! {
    eprintln!("xlang (rust): {msg}");
    exit(1)
}

fn write(table: &str, ring: &str, n: u64, readers: u32) -> Result<(), Error> {
    let t = Table::create(table, 2 * n + 16, 32, VMAX)?;
    for i in 0..n {
        t.upsert(&key(i), &value(i, VMAX))?;
    }
    let p = RingParams { ring_type: Some(RingType::BcastReliable), elem_size: ES, capacity: 64,
                         max_consumers: 4 };
    let r = Ring::open_with(ring, OpenMode::Create, p, Role::Producer, &Options::new())?;
    let start = Instant::now();
    while r.consumers() < readers {
        if start.elapsed() > WAIT {
            die(format!("only {} of {readers} subscribers came", r.consumers()));
        }
        sleep(Duration::from_millis(5));
    }
    for i in 0..n {
        r.push_wait(&elem(i, ES), WAIT)?;
    }
    Ok(())
}

fn read(table: &str, ring: &str, n: u64) -> Result<(), Error> {
    let start = Instant::now();
    let r = loop {
        match Ring::consumer(ring) {
            Err(Error::NoEnt) | Err(Error::NotReady) if start.elapsed() < WAIT => {
                sleep(Duration::from_millis(10))
            }
            other => break other?,
        }
    };
    let t = Table::open(table)?;
    if t.len() != n {
        die(format!("table has {} entries, want {n}", t.len()));
    }
    for i in 0..n {
        if t.get(&key(i))? != Some(value(i, VMAX)) {
            die(format!("table value {i} differs"));
        }
    }
    for i in 0..n {
        if r.pop_wait(WAIT)? != elem(i, ES) {
            die(format!("ring element {i} differs"));
        }
    }
    Ok(())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        die("usage: xlang write|read TABLE RING N [READERS]".into());
    }
    let n: u64 = a[4].parse().unwrap_or_else(|_| die("bad N".into()));
    let r = match a[1].as_str() {
        "write" => write(&a[2], &a[3], n, a.get(5).and_then(|s| s.parse().ok()).unwrap_or(1)),
        _ => read(&a[2], &a[3], n),
    };
    if let Err(e) = r {
        die(e.to_string());
    }
}
