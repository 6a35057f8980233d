// SPDX-License-Identifier: MIT
//! A ring consumer in a poll(2) loop, with the standard library only (no
//! async runtime): wait for the ring's descriptor, drain, re-arm.
//!
//!     cargo run --example notify_poll
use std::os::fd::AsRawFd;
use std::os::raw::{c_int, c_short, c_ulong};
use std::thread;
use std::time::Duration;

use shmap::{Error, Ring, RingType, Role};

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}
const POLLIN: c_short = 1;
extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

fn main() -> Result<(), Error> {
    let name = format!("/demo-notify-{}", std::process::id());
    let c = Ring::create(&name, RingType::Spsc, 8, 64, 0, Role::Consumer)?;
    // The producer: another handle (it could as well be another process).
    let pname = name.clone();
    let producer = thread::spawn(move || -> Result<(), Error> {
        let p = Ring::producer(&pname)?;
        for i in 0u64..1000 {
            while let Err(Error::Full) = p.push(&i.to_le_bytes()) {
                thread::sleep(Duration::from_millis(1));
            }
            if i % 100 == 0 {
                thread::sleep(Duration::from_millis(5)); // the consumer goes to sleep
            }
        }
        Ok(())
    });

    let n = c.notifier()?;
    let mut got = 0u64;
    while got < 1000 {
        let mut pfd = [PollFd { fd: n.as_raw_fd(), events: POLLIN, revents: 0 }];
        // (other descriptors of the program would go into the same array)
        let k = unsafe { poll(pfd.as_mut_ptr(), 1, 5000) };
        if k == 0 {
            println!("no element for 5 s");
            break;
        }
        loop {
            match c.pop() {
                Ok(e) => {
                    assert_eq!(u64::from_le_bytes(e[..8].try_into().unwrap()), got);
                    got += 1;
                }
                Err(Error::Empty) => break,
                Err(e) => return Err(e),
            }
        }
        match n.arm() {
            Ok(()) => {}
            Err(Error::PeerDead) => println!("the producer died"),
            Err(e) => return Err(e),
        }
    }
    producer.join().unwrap()?;
    println!("received {got} elements");
    drop(n);
    drop(c);
    shmap::unlink(&name)
}
