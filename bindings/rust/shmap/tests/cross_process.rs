// SPDX-License-Identifier: MIT
//! A Rust process and a C process (bindings/c/shmap_peer.c) share one table,
//! rings and a vector; every value is verified on both sides.
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{elem, key, run_peer, spawn_peer, value, wait_peer, Name};
use shmap::{Error, Ring, RingType, Role, Table, Vector};

const N: u64 = 2000;
const VMAX: u32 = 100;

#[test]
fn table_shared_with_c() {
    let n = Name::new("xtab");
    let t = Table::create(&n, 4096, 32, VMAX).unwrap();
    run_peer(&["table-write", &n, &N.to_string()]).unwrap();
    assert_eq!(t.len(), N);
    let got: HashMap<Vec<u8>, Vec<u8>> = t.iter().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(got.len() as u64, N);
    for i in 0..N {
        assert_eq!(t.get(&key(i)).unwrap().unwrap(), value(i, VMAX), "key {i}");
        assert_eq!(got[&key(i)], value(i, VMAX));
    }
    t.clear().unwrap();
    for i in 0..N {
        t.upsert(&key(i), &value(i, VMAX)).unwrap();
    }
    run_peer(&["table-verify", &n, &N.to_string()]).unwrap();
    t.upsert(&key(5), b"changed").unwrap();
    assert!(run_peer(&["table-verify", &n, &N.to_string()]).is_err());
}

#[test]
fn ring_rust_to_c_and_back() {
    let n = Name::new("xring");
    let p = Ring::create(&n, RingType::Spsc, 32, 64, 0, Role::Producer).unwrap();
    let child = spawn_peer(&["ring-pop", &n, &N.to_string()]);
    for i in 0..N {
        p.push_wait(&elem(i, 32), Duration::from_secs(20)).unwrap();
    }
    wait_peer(child).unwrap();

    let n2 = Name::new("xring");
    let c = Ring::create(&n2, RingType::Spsc, 32, 64, 0, Role::Consumer).unwrap();
    let child = spawn_peer(&["ring-push", &n2, &N.to_string()]);
    for i in 0..N {
        assert_eq!(c.pop_wait(Duration::from_secs(20)).unwrap(), elem(i, 32), "element {i}");
    }
    wait_peer(child).unwrap();
    assert_eq!(c.pop(), Err(Error::Empty));
}

#[test]
fn cas_erase_shared_with_c() {
    let n = Name::new("xtab");
    let m = 200u64;
    let t = Table::create(&n, 512, 32, VMAX).unwrap();
    run_peer(&["table-write", &n, &m.to_string()]).unwrap(); // C writes, Rust erases
    for i in 0..m {
        let mut wrong = value(i, VMAX);
        *wrong.last_mut().unwrap() ^= 0xff;
        assert!(!t.cas_erase(&key(i), &wrong).unwrap(), "key {i}");
        assert!(t.cas_erase(&key(i), &value(i, VMAX)).unwrap(), "key {i}");
    }
    assert!(t.is_empty());
    for i in 0..m {
        t.upsert(&key(i), &value(i, VMAX)).unwrap(); // Rust writes, C erases
    }
    run_peer(&["table-cas-erase", &n, &m.to_string()]).unwrap();
    assert!(t.is_empty());
    t.upsert(&key(3), b"changed").unwrap();
    assert!(run_peer(&["table-cas-erase", &n, "4"]).is_err());
}

#[test]
fn ring_observers_with_c() {
    let m = 64u64;
    let n = Name::new("xring");
    let p = Ring::create(&n, RingType::Spsc, 32, m, 0, Role::Producer).unwrap();
    let c = Ring::consumer(&n).unwrap();
    for i in 0..m {
        p.push(&elem(i, 32)).unwrap();
    }
    run_peer(&["ring-observe", &n, &m.to_string()]).unwrap(); // a C observer reads in place
    assert_eq!(c.len(), m); // ... without consuming
    for i in 0..m {
        assert_eq!(c.pop().unwrap(), elem(i, 32));
    }

    let n2 = Name::new("xring");
    let c = Ring::create(&n2, RingType::Spsc, 32, m, 0, Role::Consumer).unwrap();
    let o = Ring::observer(&n2).unwrap();
    run_peer(&["ring-push", &n2, &m.to_string()]).unwrap(); // C pushes, a Rust observer reads
    assert_eq!(o.consumers(), 1);
    for i in 0..m {
        assert_eq!(o.read_at(i).unwrap(), elem(i, 32), "position {i}");
    }
    for i in 0..m {
        assert_eq!(c.pop().unwrap(), elem(i, 32));
    }
    assert_eq!(o.read_at(0), Err(Error::Range));
}

#[test]
fn vector_shared_with_c() {
    let n = Name::new("xvec");
    let v = Vector::create(&n, 24, N).unwrap();
    for i in 0..N {
        v.push(&elem(i, 24)).unwrap();
    }
    run_peer(&["vector-verify", &n, &N.to_string()]).unwrap();
    let n2 = Name::new("xvec");
    let v = Vector::create(&n2, 24, N).unwrap();
    run_peer(&["vector-push", &n2, &N.to_string()]).unwrap();
    assert_eq!(v.len(), N);
    for (k, r) in v.iter().enumerate() {
        assert_eq!(r.unwrap(), (k as u64, elem(k as u64, 24)));
    }
}

mod notify_poll {
    use std::os::fd::AsRawFd;
    use std::os::raw::{c_int, c_short, c_ulong};

    #[repr(C)]
    struct PollFd {
        fd: c_int,
        events: c_short,
        revents: c_short,
    }
    extern "C" {
        fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
    }

    /// poll(2) on one descriptor for POLLIN, up to `ms`.
    pub fn readable(fd: &impl AsRawFd, ms: i32) -> bool {
        let mut p = PollFd { fd: fd.as_raw_fd(), events: 1, revents: 0 };
        unsafe { poll(&mut p, 1, ms) == 1 && p.revents & 1 != 0 }
    }
}

/// A Rust consumer in a poll loop on its ring descriptor while the C peer
/// (another process) pushes; then the peer is SIGKILLed mid-stream and the
/// consumer learns of it through the descriptor.
#[test]
fn notifier_with_c_producer() {
    use notify_poll::readable;
    let n = Name::new("xnotify");
    let c = Ring::create(&n, RingType::Spsc, 32, 16, 0, Role::Consumer).unwrap();
    let nt = c.notifier().unwrap();
    assert!(readable(&nt, 0)); // starts readable
    let child = spawn_peer(&["ring-push", &n, &N.to_string()]);
    let mut got = 0u64;
    while got < N {
        assert!(readable(&nt, 10_000), "no wake-up after {got} elements");
        loop {
            match c.pop() {
                Ok(e) => {
                    assert_eq!(e, elem(got, 32), "element {got}");
                    got += 1;
                }
                Err(Error::Empty) => break,
                Err(e) => panic!("pop: {e}"),
            }
        }
        nt.arm().unwrap();
    }
    wait_peer(child).unwrap();
    assert!(!readable(&nt, 0));

    // the producer killed while the consumer waits on the descriptor
    let mut child = spawn_peer(&["ring-push", &n, "1000000000"]);
    let t0 = std::time::Instant::now();
    loop {
        assert!(readable(&nt, 10_000));
        while c.pop().is_ok() {}
        if t0.elapsed() > Duration::from_millis(100) {
            break;
        }
        nt.arm().unwrap();
    }
    nt.arm().unwrap();
    child.kill().unwrap();
    let killed = std::time::Instant::now();
    let _ = child.wait();
    loop {
        assert!(readable(&nt, 5000), "no event after the producer's death");
        while c.pop().is_ok() {}
        match nt.arm() {
            Ok(()) => continue,
            Err(Error::PeerDead) => break,
            Err(e) => panic!("arm: {e}"),
        }
    }
    assert!(killed.elapsed() < Duration::from_secs(1), "took {:?}", killed.elapsed());
    nt.arm().unwrap(); // told once
    assert!(!readable(&nt, 200));
}
