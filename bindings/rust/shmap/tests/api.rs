// SPDX-License-Identifier: MIT
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{elem, key, value, Name};
use shmap::{Error, OpenMode, Options, Ring, RingParams, RingType, Role, Table, Update, Vector};

#[test]
fn errors_carry_code_and_text() {
    let e = Error::from_code(shmap::sys::SHMAP_E_FULL);
    assert_eq!(e, Error::Full);
    assert_eq!(e.code(), -1007);
    assert_eq!(e.name(), "SHMAP_E_FULL");
    assert!(e.to_string().contains(e.message()));
    assert_eq!(Error::from_code(-1999), Error::Other(-1999));
    assert_eq!(Error::Other(-1999).code(), -1999);
    assert!(!shmap::version().is_empty());
    assert_eq!(shmap::unlink("no-slash"), Err(Error::Inval));
    assert_eq!(shmap::unlink("/shmap-rs-never-created"), Err(Error::NoEnt));
    assert_eq!(shmap::unlink("/a\0b"), Err(Error::Inval));
}

#[test]
fn table_basics() {
    let n = Name::new("tab");
    let t = Table::create(&n, 64, 32, 64).unwrap();
    assert!(t.is_empty());
    t.upsert(b"a", b"1").unwrap();
    t.upsert("é".as_bytes(), b"zwei").unwrap();
    assert_eq!(t.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(t.get("é".as_bytes()).unwrap().unwrap(), b"zwei");
    assert_eq!(t.get(b"b").unwrap(), None);
    assert!(t.contains_key(b"a").unwrap());
    assert!(!t.contains_key(&[b'x'; 100]).unwrap());
    assert_eq!(t.len(), 2);
    assert_eq!(t.insert(b"a", b"2"), Err(Error::Exist));
    assert_eq!(t.replace(b"zz", b"2"), Err(Error::NotFound));
    t.replace(b"a", b"2").unwrap();
    assert!(!t.cas(b"a", b"1", b"3").unwrap());
    assert!(t.cas(b"a", b"2", b"3").unwrap());
    assert!(t.remove(b"a").unwrap());
    assert!(!t.remove(b"a").unwrap());
    assert_eq!(t.upsert(&[b'k'; 33], b"v"), Err(Error::TooBig));
    assert_eq!(t.upsert(b"k", &[b'v'; 65]), Err(Error::TooBig));
    assert_eq!(t.upsert(b"", b"v"), Err(Error::Inval));
    let mut small = [0u8; 2];
    assert_eq!(t.get_into("é".as_bytes(), &mut small), Err(Error::BufSize));

    // update: counter, abort, erase, panic
    for _ in 0..3 {
        t.update(b"n", |cur| match cur {
            None => Update::Commit(b"1".to_vec()),
            Some(c) => {
                let v: u32 = std::str::from_utf8(c).unwrap().parse().unwrap();
                Update::Commit((v + 1).to_string().into_bytes())
            }
        })
        .unwrap();
    }
    assert_eq!(t.get(b"n").unwrap().unwrap(), b"3");
    assert_eq!(t.update(b"n", |_| Update::Abort), Err(Error::Aborted));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = t.update(b"n", |_| panic!("boom"));
    }));
    assert!(r.is_err());
    assert_eq!(t.get(b"n").unwrap().unwrap(), b"3");
    t.update(b"n", |_| Update::Erase).unwrap();
    assert_eq!(t.get(b"n").unwrap(), None);
    t.clear().unwrap();
    assert_eq!(t.len(), 0);
    assert_eq!(t.check(false).unwrap(), 0);
}

#[test]
fn table_iteration_and_full() {
    let n = Name::new("tab");
    let t = Table::create(&n, 256, 16, 200).unwrap();
    let want: HashMap<Vec<u8>, Vec<u8>> = (0..150).map(|i| (key(i), value(i, 200))).collect();
    for (k, v) in &want {
        t.insert(k, v).unwrap();
    }
    let got: HashMap<Vec<u8>, Vec<u8>> = t.iter().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(got, want);
    let mut it = t.iter().unwrap();
    let first: Vec<_> = it.by_ref().map(|r| r.unwrap()).collect();
    it.reset().unwrap();
    assert_eq!(first, it.map(|r| r.unwrap()).collect::<Vec<_>>());
    assert_eq!(t.stats().unwrap().0, 150);
    let cap = t.capacity();
    let mut i = 1000;
    loop {
        match t.upsert(&key(i), b"v") {
            Ok(_) => i += 1,
            Err(e) => {
                assert_eq!(e, Error::Full);
                break;
            }
        }
    }
    assert_eq!(t.len(), cap);
}

#[test]
fn table_open_existing_and_threads() {
    let n = Name::new("tab");
    let t = Arc::new(Table::create(&n, 4096, 16, 100).unwrap());
    assert_eq!(Table::create(&n, 4096, 16, 100).err(), Some(Error::Exist));
    assert_eq!(
        Table::open_with(&n, OpenMode::Open, 0, 16, 99, &Options::new()).err(),
        Some(Error::Incompat)
    );
    assert_eq!(Vector::open(&n).err(), Some(Error::Incompat));
    let info = shmap::info(&n).unwrap();
    assert_eq!(info.kind_name(), "htable");
    assert_eq!(shmap::reap(&n).unwrap(), 0); // only live participants
    assert_eq!(shmap::reap(&Name::new("missing")).err(), Some(Error::NoEnt));
    assert!(info.participants.iter().any(|p| p.alive));
    let hs: Vec<_> = (0..4u64)
        .map(|b| {
            let t = Arc::clone(&t);
            thread::spawn(move || {
                for i in b * 1000..b * 1000 + 300 {
                    t.upsert(&key(i), &value(i, 100)).unwrap();
                    assert_eq!(t.get(&key(i)).unwrap().unwrap(), value(i, 100));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(t.len(), 1200);
    let t2 = Table::open(&n).unwrap();
    assert_eq!(t2.value_max(), 100);
    assert_eq!(t2.get(&key(3001)).unwrap().unwrap(), value(3001, 100));
    assert_eq!(Table::open(&Name::new("missing")).err(), Some(Error::NoEnt));
}

#[test]
fn table_get_many() {
    let n = Name::new("tab");
    let t = Table::create(&n, 512, 16, 200).unwrap();
    for i in (0..300).step_by(2) {
        t.upsert(&key(i), &value(i, 200)).unwrap(); // even keys present, odd absent
    }
    let present: Vec<Vec<u8>> = (0..300).step_by(2).map(key).collect();
    let absent: Vec<Vec<u8>> = (1..300).step_by(2).map(key).collect();
    let mut mixed: Vec<Vec<u8>> = (0..300).map(key).collect();
    mixed.extend([key(4), key(7)]);
    for keys in [&present, &absent, &mixed] {
        let singles: Vec<Option<Vec<u8>>> = keys.iter().map(|k| t.get(k).unwrap()).collect();
        assert_eq!(t.get_many(keys).unwrap(), singles);
    }
    assert_eq!(t.get_many(&present).unwrap(),
               (0..300).step_by(2).map(|i| Some(value(i, 200))).collect::<Vec<_>>());
    assert_eq!(t.get_many(&absent).unwrap(), vec![None; absent.len()]);
    // &[&[u8]] as in the C-style call, and the empty batch
    let refs: [&[u8]; 3] = [b"key-0", b"key-1", b"key-2"];
    assert_eq!(t.get_many(&refs).unwrap(), vec![Some(value(0, 200)), None, Some(value(2, 200))]);
    assert_eq!(t.get_many::<&[u8]>(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
    // a key longer than key_max: TooBig, as a single get says
    let long = vec![b'k'; 17];
    assert_eq!(t.get(&long), Err(Error::TooBig));
    assert_eq!(t.get_many(&[&key(0)[..], &long[..], &key(1)[..]]), Err(Error::TooBig));
    assert_eq!(t.get_many(&[&[b'k'; 16][..]]).unwrap(), vec![None]); // key_max itself is fine
    assert_eq!(t.get(b""), Err(Error::Inval));
    assert_eq!(t.get_many(&[&key(0)[..], b""]), Err(Error::Inval));

    // more than one C call: 1 MiB of value buffer holds 209 values of 5000
    let n2 = Name::new("tab");
    let big = Table::create(&n2, 2048, 600, 5000).unwrap();
    for i in (0..1000).step_by(3) {
        big.upsert(&key(i), &value(i, 5000)).unwrap();
    }
    big.upsert(&[b'k'; 600], b"long key").unwrap();
    let mut keys: Vec<Vec<u8>> = (0..1000).map(key).collect();
    keys.push(vec![b'k'; 600]);
    let got = big.get_many(&keys).unwrap();
    let singles: Vec<Option<Vec<u8>>> = keys.iter().map(|k| big.get(k).unwrap()).collect();
    assert_eq!(got, singles);
    assert_eq!(got.iter().filter(|v| v.is_some()).count(), 335);
    assert_eq!(got.last().unwrap().as_deref(), Some(&b"long key"[..]));
}

fn spsc(n: &str, es: u32, cap: u64) -> (Ring, Ring) {
    let p = Ring::create(n, RingType::Spsc, es, cap, 0, Role::Producer).unwrap();
    let c = Ring::consumer(n).unwrap();
    (p, c)
}

#[test]
fn ring_spsc() {
    let n = Name::new("ring");
    let (p, c) = spsc(&n, 16, 8);
    assert_eq!((p.capacity(), p.elem_size()), (8, 16));
    assert_eq!(p.ring_type(), Some(RingType::Spsc));
    assert_eq!((p.role(), c.role()), (Some(Role::Producer), Some(Role::Consumer)));
    assert_eq!(c.pop(), Err(Error::Empty));
    for i in 0..8 {
        p.push(&elem(i, 16)).unwrap();
    }
    assert_eq!(p.push(&elem(8, 16)), Err(Error::Full));
    assert_eq!(p.push_wait(&elem(8, 16), Duration::from_millis(30)), Err(Error::Timeout));
    assert_eq!(c.pop().unwrap(), elem(0, 16));
    let rest: Vec<Vec<u8>> = c.drain().map(|r| r.unwrap()).collect();
    assert_eq!(rest, (1..8).map(|i| elem(i, 16)).collect::<Vec<_>>());
    p.push(b"short").unwrap();
    let mut want = b"short".to_vec();
    want.resize(16, 0);
    assert_eq!(c.pop().unwrap(), want);
    assert_eq!(p.push(&[0; 17]), Err(Error::TooBig));
    assert_eq!(c.push(b"x"), Err(Error::NotAttached));
    assert_eq!(p.pop().err(), Some(Error::NotAttached));
    assert_eq!(Ring::producer(&n).err(), Some(Error::Busy));
    assert_eq!(Ring::consumer(&n).err(), Some(Error::Busy));
    let t0 = Instant::now();
    assert_eq!(c.pop_wait(Duration::from_millis(100)).err(), Some(Error::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(90));
    drop(c);
    let c = Ring::consumer(&n).unwrap();
    // batches
    let blob: Vec<u8> = (0..5).flat_map(|i| elem(i, 16)).collect();
    assert_eq!(p.push_n(&blob).unwrap(), 5);
    let mut out = vec![0u8; 16 * 3];
    assert_eq!(c.pop_n(&mut out).unwrap(), 3);
    assert_eq!(out, (0..3).flat_map(|i| elem(i, 16)).collect::<Vec<u8>>());
    assert_eq!(c.pop_n_wait(&mut out, Duration::from_secs(1)).unwrap(), 2);
    assert_eq!(&out[..32], &(3..5).flat_map(|i| elem(i, 16)).collect::<Vec<u8>>()[..]);
    assert_eq!(shmap::info(&n).unwrap().kind_name(), "ring-spsc");
    let st = p.stats().unwrap();
    assert_eq!((st.head, st.tail), (14, 14)); // 8 + 1 + 5 pushed, all popped
    assert!(st.producer_alive);
    assert_eq!(st.producer_pid, std::process::id());
    let ci = p.consumer_info(0).unwrap().unwrap();
    assert!(ci.alive);
    assert_eq!(ci.pid, std::process::id());
}

#[test]
fn table_cas_erase() {
    let n = Name::new("tab");
    let t = Table::create(&n, 64, 32, 64).unwrap();
    t.upsert(b"k", b"v1").unwrap();
    assert!(!t.cas_erase(b"k", b"other").unwrap()); // value differs: kept
    assert!(!t.cas_erase(b"k", b"v").unwrap()); // a prefix is not equal
    assert!(!t.cas_erase(b"k", b"v1x").unwrap());
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(t.cas_erase(b"k", b"v1").unwrap());
    assert_eq!(t.get(b"k").unwrap(), None);
    assert!(t.is_empty());
    assert_eq!(t.cas_erase(b"k", b"v1"), Err(Error::NotFound));
    assert_eq!(t.cas_erase(b"k", b""), Err(Error::Inval));
    assert_eq!(t.cas_erase(b"k", &[b'v'; 65]), Err(Error::TooBig));

    // Racing threads with the current value: exactly one erases each key.
    let t = Arc::new(t);
    let rounds = 300u64;
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let hs: Vec<_> = (0..4)
        .map(|w| {
            let (t, barrier) = (Arc::clone(&t), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut wins = 0u64;
                for r in 0..rounds {
                    barrier.wait();
                    if w == 0 {
                        t.upsert(&key(r), &value(r, 64)).unwrap();
                    }
                    barrier.wait();
                    match t.cas_erase(&key(r), &value(r, 64)) {
                        Ok(true) => wins += 1,
                        Ok(false) => panic!("value mismatch in round {r}"),
                        Err(Error::NotFound) => {}
                        Err(e) => panic!("round {r}: {e:?}"),
                    }
                }
                wins
            })
        })
        .collect();
    let wins: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(wins, rounds);
    assert!(t.is_empty());
}

#[test]
fn ring_observer_read_at_consumers() {
    let n = Name::new("ring");
    let (p, c) = spsc(&n, 16, 8);
    assert_eq!(p.consumers(), 1);
    let o = Ring::observer(&n).unwrap();
    assert_eq!(o.role(), Some(Role::Observer));
    assert_eq!((o.elem_size(), o.capacity(), o.ring_type()), (16, 8, Some(RingType::Spsc)));
    assert_eq!(o.consumers(), 1);
    assert_eq!(o.push(b"x"), Err(Error::NotAttached));
    assert_eq!(o.pop().err(), Some(Error::NotAttached));
    assert_eq!(o.read_at(0), Err(Error::Range)); // nothing pushed yet
    for i in 0..6 {
        p.push(&elem(i, 16)).unwrap();
    }
    for i in 0..6 {
        assert_eq!(o.read_at(i).unwrap(), elem(i, 16));
    }
    assert_eq!(p.read_at(5).unwrap(), elem(5, 16)); // any role may read
    let mut small = [0u8; 15];
    assert_eq!(o.read_at_into(0, &mut small), Err(Error::BufSize));
    assert_eq!(c.pop().unwrap(), elem(0, 16));
    assert_eq!(c.pop().unwrap(), elem(1, 16));
    assert_eq!(o.read_at(1), Err(Error::Range)); // consumed
    assert_eq!(o.read_at(6), Err(Error::Range)); // not pushed yet
    assert_eq!(c.read_at(2).unwrap(), elem(2, 16));
    assert_eq!(o.len(), 4);
    assert_eq!(o.stats().unwrap().head, 6);
    drop(c);
    assert_eq!(o.consumers(), 0);
    // the observer did not take the free consumer role
    let c2 = Ring::consumer(&n).unwrap();
    assert_eq!(c2.pop().unwrap(), elem(2, 16));
    // push_wait zero-fills short data (shmap_ring_push_bytes_wait)
    p.push_wait(b"ab", Duration::from_secs(1)).unwrap();
    let mut want = b"ab".to_vec();
    want.resize(16, 0);
    for _ in 3..6 {
        c2.pop().unwrap();
    }
    assert_eq!(c2.pop().unwrap(), want);
    assert_eq!(p.push_wait(&[0; 17], Duration::from_millis(10)), Err(Error::TooBig));
}

#[test]
fn ring_blocking_pop_is_woken() {
    let n = Name::new("ring");
    let (p, c) = spsc(&n, 8, 4);
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        p.push(b"late").unwrap();
        p // the producer moves between threads: Ring is Send
    });
    assert_eq!(&c.pop_wait(Duration::from_secs(5)).unwrap()[..4], b"late");
    h.join().unwrap();
}

#[test]
fn ring_zero_copy() {
    let n = Name::new("ring");
    let (mut p, mut c) = spsc(&n, 8, 8);
    let mut r = p.reserve(3).unwrap();
    let got = r.got();
    assert!((1..=3).contains(&got));
    for i in 0..got as usize {
        r[i * 8..(i + 1) * 8].copy_from_slice(&elem(i as u64, 8));
    }
    r.commit(got).unwrap();
    let pk = c.peek(8).unwrap();
    assert_eq!(pk.got(), got);
    assert_eq!(&pk[..], &(0..got as u64).flat_map(|i| elem(i, 8)).collect::<Vec<u8>>()[..]);
    pk.release(got).unwrap();
    assert_eq!(c.pop(), Err(Error::Empty));
    {
        let _dropped = p.reserve(1).unwrap(); // dropped: nothing published
    }
    assert_eq!(c.pop(), Err(Error::Empty));
}

#[test]
fn ring_broadcast() {
    let n = Name::new("bcast");
    let p = Ring::open_with(&n, OpenMode::Create,
                            RingParams { ring_type: Some(RingType::BcastReliable), elem_size: 16,
                                         capacity: 4, max_consumers: 4 },
                            Role::Producer, &Options::new()).unwrap();
    let subs: Vec<Ring> = (0..3).map(|_| Ring::consumer(&n).unwrap()).collect();
    assert_eq!(p.consumers(), 3);
    assert_eq!(p.live_consumers().unwrap(), 3);
    assert_eq!(Ring::observer(&n).unwrap().consumers(), 3); // observers do not count
    let hs: Vec<_> = subs
        .into_iter()
        .map(|s| {
            thread::spawn(move || {
                for i in 0..40 {
                    assert_eq!(s.pop_wait(Duration::from_secs(10)).unwrap(), elem(i, 16));
                }
            })
        })
        .collect();
    for i in 0..40 {
        p.push_wait(&elem(i, 16), Duration::from_secs(10)).unwrap();
    }
    for h in hs {
        h.join().unwrap();
    }

    let n2 = Name::new("lossy");
    let p = Ring::create(&n2, RingType::BcastLossy, 8, 4, 0, Role::Producer).unwrap();
    let s = Ring::consumer(&n2).unwrap();
    for i in 0..10 {
        p.push(&elem(i, 8)).unwrap();
    }
    {
        let o = Ring::observer(&n2).unwrap();
        assert_eq!(o.read_at(5), Err(Error::Range)); // lapped: outside [head - 4, head)
        for i in 6..10 {
            assert_eq!(o.read_at(i).unwrap(), elem(i, 8));
        }
    }
    assert_eq!(s.pop(), Err(Error::Overrun));
    assert!(s.missed() > 0);
    let rest: Vec<Vec<u8>> = s.drain().map(|r| r.unwrap()).collect();
    let k = rest.len() as u64;
    assert_eq!(rest, (10 - k..10).map(|i| elem(i, 8)).collect::<Vec<_>>());
    assert_eq!(s.missed() + k, 10);
}

#[test]
fn vector_basics() {
    let n = Name::new("vec");
    let v = Vector::create(&n, 16, 100).unwrap();
    for i in 0..50 {
        assert_eq!(v.push(&elem(i, 16)).unwrap(), i);
    }
    assert_eq!(v.len(), 50);
    for i in 0..50 {
        assert_eq!(v.get(i).unwrap(), elem(i, 16));
    }
    assert_eq!(v.get(50), Err(Error::Range));
    let all: Vec<(u64, Vec<u8>)> = v.iter().map(|r| r.unwrap()).collect();
    assert_eq!(all, (0..50).map(|i| (i, elem(i, 16))).collect::<Vec<_>>());
    v.replace(3, b"new").unwrap();
    let mut want = b"new".to_vec();
    want.resize(16, 0);
    assert_eq!(v.get(3).unwrap(), want);
    assert_eq!(v.push(&[0; 17]), Err(Error::TooBig));
    let first = v.reserve(2).unwrap();
    assert_eq!(v.get(first), Err(Error::NotReady));
    v.write(first, b"a").unwrap();
    unsafe {
        let p = v.slot_ptr(first + 1).unwrap();
        std::ptr::copy_nonoverlapping(b"b".as_ptr(), p, 1);
    }
    v.publish(first, 2).unwrap();
    assert_eq!(v.len(), 52);
    assert_eq!(v.stat().unwrap(), (52, 0, 0));
    while v.push(b"f").is_ok() {}
    assert_eq!(v.push(b"f"), Err(Error::Full));
    assert_eq!(v.len(), v.capacity());
    assert_eq!(v.check(false).unwrap(), 0);
    let v2 = Vector::open(&n).unwrap();
    assert_eq!(v2.elem_size(), 16);
    assert_eq!(shmap::info(&n).unwrap().kind_name(), "vector");
    // Vector is Sync: share it between threads.
    let v = Arc::new(v);
    let h = {
        let v = Arc::clone(&v);
        thread::spawn(move || v.get(0).unwrap())
    };
    assert_eq!(h.join().unwrap(), elem(0, 16));
}

#[test]
fn send_sync_follow_the_c_docs() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Table>();
    sync::<Table>();
    send::<Vector>();
    sync::<Vector>();
    send::<Ring>(); // Ring is !Sync: see the compile_fail doc-test on Ring
    send::<shmap::TableIter<'static>>();
}

#[test]
fn memfd_table_opened_by_fd() {
    use shmap::Backend;
    let t = Table::open_with("", OpenMode::Create, 64, 16, 16,
                             &Options::new().backend(Backend::Memfd)).unwrap();
    assert!(t.fd() >= 0);
    t.upsert(b"from", b"first").unwrap();
    let t2 = Table::open_with("", OpenMode::Open, 0, 0, 0,
                              &Options::new().backend(Backend::Memfd).fd(t.fd())).unwrap();
    assert_eq!(t2.get(b"from").unwrap().unwrap(), b"first");
    t2.upsert(b"second", b"handle").unwrap();
    assert_eq!(t.get(b"second").unwrap().unwrap(), b"handle");
}

#[test]
fn table_update_keep() {
    let n = Name::new("keep");
    let t = Table::create(&n, 64, 16, 16).unwrap();
    // Keep on a missing key: NotFound, nothing created.
    assert_eq!(t.update(b"k", |_| Update::Keep), Err(Error::NotFound));
    assert_eq!(t.get(b"k").unwrap(), None);
    t.upsert(b"k", b"41").unwrap();
    assert!(t.update(b"k", |_| Update::Keep).is_ok());
    assert_eq!(t.get(b"k").unwrap().unwrap(), b"41");
    // Update-if-exists.
    let incr = |cur: Option<&[u8]>| match cur {
        None => Update::Keep,
        Some(c) => {
            let v: u32 = std::str::from_utf8(c).unwrap().parse().unwrap();
            Update::Commit((v + 1).to_string().into_bytes())
        }
    };
    t.update(b"k", incr).unwrap();
    assert_eq!(t.update(b"x", incr), Err(Error::NotFound));
    assert_eq!(t.get(b"k").unwrap().unwrap(), b"42");
    assert_eq!(t.get(b"x").unwrap(), None);
    assert_eq!(t.len(), 1);
}

#[test]
fn open_wait_for_a_creator() {
    let opts = Options::new().timeout_ms(10_000);
    // Table: the opener starts first; the creator appears 200 ms later.
    let n = Name::new("ow");
    let name = n.0.clone();
    let creator = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        let t = Table::create(&name, 64, 8, 8).unwrap();
        t.upsert(b"k", b"v").unwrap();
        t
    });
    let t0 = Instant::now();
    let t = Table::open_with(&n, OpenMode::OpenWait, 0, 0, 0, &opts).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let _keep = creator.join().unwrap();
    assert_eq!(t.get(b"k").unwrap().unwrap(), b"v");

    // Ring consumer before its producer.
    let n = Name::new("ow");
    let name = n.0.clone();
    let creator = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        let p = Ring::create(&name, RingType::Spsc, 8, 16, 0, Role::Producer).unwrap();
        p.push(&7u64.to_le_bytes()).unwrap();
        p
    });
    let c = Ring::open_with(&n, OpenMode::OpenWait, RingParams::default(), Role::Consumer, &opts).unwrap();
    let _p = creator.join().unwrap();
    assert_eq!(c.pop_wait(Duration::from_secs(5)).unwrap(), 7u64.to_le_bytes());

    // Vector.
    let n = Name::new("ow");
    let name = n.0.clone();
    let creator = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        Vector::create(&name, 8, 16).unwrap()
    });
    let v = Vector::open_with(&n, OpenMode::OpenWait, 0, 0, &opts).unwrap();
    let _c = creator.join().unwrap();
    assert_eq!(v.elem_size(), 8);

    // Nobody creates it: Timeout after the options' timeout; plain Open: NoEnt.
    let n = Name::new("ow-never");
    let short = Options::new().timeout_ms(200);
    let t0 = Instant::now();
    assert_eq!(Table::open_with(&n, OpenMode::OpenWait, 0, 0, 0, &short).err(), Some(Error::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        Ring::open_with(&n, OpenMode::OpenWait, RingParams::default(), Role::Consumer, &short).err(),
        Some(Error::Timeout)
    );
    assert_eq!(Vector::open_with(&n, OpenMode::OpenWait, 0, 0, &short).err(), Some(Error::Timeout));
    assert_eq!(Table::open(&n).err(), Some(Error::NoEnt));
}

#[test]
fn ring_clear_and_vector_clear() {
    let n = Name::new("clr");
    let p = Ring::create(&n, RingType::Spsc, 8, 16, 0, Role::Producer).unwrap();
    let c = Ring::consumer(&n).unwrap();
    for i in 0u64..5 {
        p.push(&i.to_le_bytes()).unwrap();
    }
    assert_eq!(p.clear(), Err(Error::NotAttached));
    assert_eq!(c.clear().unwrap(), 5);
    assert!(c.is_empty());
    assert_eq!(c.pop().err(), Some(Error::Empty));
    p.push(&9u64.to_le_bytes()).unwrap();
    assert_eq!(c.pop().unwrap(), 9u64.to_le_bytes());

    let n = Name::new("clr");
    let v = Vector::create(&n, 8, 16).unwrap();
    v.push(&1u64.to_le_bytes()).unwrap();
    assert_eq!(v.clear(), Err(Error::NotSup));
    assert_eq!(v.len(), 1);
}

#[test]
fn notifier_contract() {
    use std::os::fd::{AsFd, AsRawFd};
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
    fn readable(fd: c_int, ms: c_int) -> bool {
        let mut p = PollFd { fd, events: 1, revents: 0 };
        unsafe { poll(&mut p, 1, ms) == 1 && p.revents & 1 != 0 }
    }
    assert_eq!(Error::from_code(-1030), Error::PeerDead);
    let n = Name::new("notify");
    let p = Ring::create(&n, RingType::Spsc, 8, 4, 0, Role::Producer).unwrap();
    let c = Ring::consumer(&n).unwrap();
    assert_eq!(c.notify_arm(), Err(Error::Inval)); // no descriptor yet
    let o = Ring::observer(&n).unwrap();
    assert_eq!(o.notifier().err(), Some(Error::NotAttached));
    let cn = c.notifier().unwrap();
    let fd = cn.as_raw_fd();
    assert_eq!(cn.as_fd().as_raw_fd(), fd);
    assert!(readable(fd, 0));
    cn.arm().unwrap();
    assert!(!readable(fd, 20));
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        p.push(&7u64.to_le_bytes()).unwrap();
        p
    });
    assert!(readable(fd, 5000));
    assert_eq!(c.pop().unwrap(), 7u64.to_le_bytes());
    cn.arm().unwrap();
    assert!(!readable(fd, 0));
    // the producer's descriptor: readable while a slot is free
    let p = t.join().unwrap();
    let pn = p.notifier().unwrap();
    while p.push(&1u64.to_le_bytes()).is_ok() {}
    pn.arm().unwrap();
    assert!(!readable(pn.as_raw_fd(), 20));
    c.pop().unwrap();
    assert!(readable(pn.as_raw_fd(), 5000));
}
