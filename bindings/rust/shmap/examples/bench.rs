// SPDX-License-Identifier: MIT
//! Per-call cost of the Rust binding, measured the way
//! bindings/python/bench.py measures Python's: every case once per round, in
//! a new (pseudo-random) order each round, timed on its second run in a row;
//! the median over rounds of the time per call (or per key / element) in ns.
//!
//!   cargo run --release --example bench [-- ROUNDS KEYS VALUE PASSES]  (51 10000 64 1)
//!
//! Cases: get (Table::get, a hit, allocating the value), get_into (into a
//! reused buffer), get_many/key (16 keys, per key), push+pop (SPSC, per
//! pair, pop_into a reused buffer) and push_n+pop_n/elem (16, per element).
use std::time::Instant;

use shmap::{Ring, RingType, Role, Table};

const BATCH: usize = 16;
const RING_N: usize = 512;

type Case<'a> = (&'static str, Box<dyn FnMut() -> (u128, usize) + 'a>);

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let rounds = *args.first().unwrap_or(&51);
    let n = *args.get(1).unwrap_or(&10000);
    let vlen = *args.get(2).unwrap_or(&64);
    let passes = *args.get(3).unwrap_or(&1);

    let tname = format!("/shmap-rsbench-{}", std::process::id());
    let rname = format!("{tname}-r");
    let t = Table::create(&tname, 2 * n as u64, 16, vlen as u32).expect("table");
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("key-{i:08}").into_bytes()).collect();
    let val = vec![0u8; vlen];
    for k in &keys {
        t.upsert(k, &val).expect("upsert");
    }
    let p = Ring::create(&rname, RingType::Spsc, 64, 1024, 0, Role::Producer).expect("ring");
    let c = Ring::consumer(&rname).expect("consumer");
    let elem = [0u8; 64];
    let elems = [0u8; 64 * BATCH];

    let mut cases: Vec<Case> = vec![
        ("get", Box::new(|| {
            let t0 = Instant::now();
            for k in &keys {
                std::hint::black_box(t.get(k).expect("get"));
            }
            (t0.elapsed().as_nanos(), n)
        })),
        ("get_into", Box::new(|| {
            let mut buf = vec![0u8; vlen];
            let t0 = Instant::now();
            for k in &keys {
                std::hint::black_box(t.get_into(k, &mut buf).expect("get_into"));
            }
            (t0.elapsed().as_nanos(), n)
        })),
        ("get_many/key", Box::new(|| {
            let t0 = Instant::now();
            let mut m = 0;
            for chunk in keys.chunks_exact(BATCH) {
                std::hint::black_box(t.get_many(chunk).expect("get_many"));
                m += BATCH;
            }
            (t0.elapsed().as_nanos(), m)
        })),
        ("push+pop", Box::new(|| {
            let mut out = [0u8; 64];
            let t0 = Instant::now();
            for _ in 0..RING_N {
                p.push(&elem).expect("push");
                c.pop_into(&mut out).expect("pop");
            }
            (t0.elapsed().as_nanos(), RING_N)
        })),
        ("push_n+pop_n/elem", Box::new(|| {
            let mut out = [0u8; 64 * BATCH];
            let t0 = Instant::now();
            for _ in 0..RING_N / BATCH {
                p.push_n(&elems).expect("push_n");
                c.pop_n(&mut out).expect("pop_n");
            }
            (t0.elapsed().as_nanos(), RING_N)
        })),
    ];
    let mut res: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..rounds {
        // A new order each round (Fisher-Yates on a xorshift); a case runs
        // twice and the second run is timed.
        for k in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(k, (seed % (k as u64 + 1)) as usize);
        }
        for &i in &order {
            (cases[i].1)();
            let (mut el, mut ops) = (0u128, 0usize);
            for _ in 0..passes {
                let (e, o) = (cases[i].1)();
                el += e;
                ops += o;
            }
            res[i].push(el as f64 / ops as f64);
        }
    }
    println!("# rust binding: {n} keys of 12 bytes, values of {vlen} bytes; medians of {rounds} interleaved rounds, ns per call");
    for (i, case) in cases.iter().enumerate() {
        res[i].sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{:34} {:9.1}", case.0, res[i][res[i].len() / 2]);
    }
    drop(cases);
    drop(c);
    drop(p);
    drop(t);
    let _ = shmap::unlink(&tname);
    let _ = shmap::unlink(&rname);
}
