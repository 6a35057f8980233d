// SPDX-License-Identifier: MIT
mod common;

use std::time::Duration;

use common::Name;
use shmap::{Error, RecRing, RingType, Role};

fn record(i: usize) -> Vec<u8> {
    (0..1 + (i * 37) % 300).map(|k| (i + k) as u8).collect()
}

#[test]
fn rec_ring_spsc_real_lengths() {
    let n = Name::new("rec");
    let p = RecRing::create(&n, RingType::Spsc, 300, 4096, 0, Role::Producer).unwrap();
    let c = RecRing::consumer(&n).unwrap();
    assert_eq!(p.max_record(), 300);
    assert_eq!(p.capacity(), 4096);
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(p.push(&[]), Err(Error::Inval));
    assert_eq!(p.push(&[0u8; 301]), Err(Error::TooBig));
    let (mut sent, mut got) = (0usize, 0usize);
    while got < 2000 {
        while sent < 2000 && p.push(&record(sent)).is_ok() {
            sent += 1;
        }
        if got % 2 == 0 {
            let r = c.pop().unwrap();
            assert_eq!(r, record(got));
            got += 1;
        } else {
            for r in c.pop_many(7).unwrap() {
                assert_eq!(r, record(got));
                got += 1;
            }
        }
    }
    // a short buffer: the needed size is reported, nothing is popped
    p.push(&record(5)).unwrap();
    let mut small = [0u8; 3];
    assert_eq!(c.pop_into(&mut small), Err(Error::BufSize));
    assert_eq!(c.pop_wait(Duration::from_millis(10)).unwrap(), record(5));
    assert_eq!(c.pop_wait(Duration::from_millis(10)), Err(Error::Timeout));
    let recs = [record(1), record(2), record(3)];
    let refs: Vec<&[u8]> = recs.iter().map(|v| v.as_slice()).collect();
    assert_eq!(p.push_many(&refs).unwrap(), 3);
    assert_eq!(c.pop_many(10).unwrap(), recs.to_vec());
    assert_eq!(c.check(false).unwrap(), 0);
}

#[test]
fn rec_ring_broadcast() {
    let n = Name::new("recb");
    let p = RecRing::create(&n, RingType::BcastReliable, 100, 1024, 4, Role::Producer).unwrap();
    let s1 = RecRing::consumer(&n).unwrap();
    let s2 = RecRing::consumer(&n).unwrap();
    for i in 0..5 {
        p.push_wait(&record(i)[..record(i).len().min(100)], Duration::from_secs(1)).unwrap();
    }
    for s in [&s1, &s2] {
        for i in 0..5 {
            let r = record(i);
            assert_eq!(s.pop().unwrap(), r[..r.len().min(100)].to_vec());
        }
        assert_eq!(s.pop(), Err(Error::Empty));
    }
    // a fixed-slot open of a record ring is refused
    assert_eq!(shmap::Ring::consumer(&n).err(), Some(Error::Incompat));
}
