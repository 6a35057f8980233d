# SPDX-License-Identifier: MIT
"""A shmap ring in an asyncio program.

    python3 asyncio_ring.py [COUNT]

The consumer runs in an asyncio loop beside other work (a heartbeat task):
`await ring.pop_async(timeout)` waits on the ring's pollable descriptor
(Ring.fileno(), shmap_ring_notify_fd) without blocking the loop. The
producer is another process (this script started again with "produce"),
which pushes COUNT numbered elements in bursts, waiting when the ring is
full. If the producer dies, pop_async() raises shmap.PeerDeadError.
"""
import asyncio
import os
import subprocess
import sys
import time

import shmap

ELEM = 16


def produce(name, count):
    with shmap.Ring.producer(name, wait=10) as p:  # waits for the ring to exist
        for i in range(count):
            p.push(i.to_bytes(8, "little"), timeout=10)  # padded to ELEM bytes
            if i % 50 == 49:
                time.sleep(0.002)  # bursts and pauses


async def heartbeat(state):
    while True:
        await asyncio.sleep(0.05)
        state["beats"] += 1


async def consume(ring, count):
    state = {"beats": 0}
    beat = asyncio.create_task(heartbeat(state))
    try:
        for i in range(count):
            try:
                elem = await ring.pop_async(timeout=10)
            except shmap.PeerDeadError:
                print("the producer died after", i, "elements")
                return 1
            assert int.from_bytes(elem[:8], "little") == i, (i, elem)
    finally:
        beat.cancel()
    print(f"received {count} elements in order; {state['beats']} heartbeats meanwhile")
    return 0


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "produce":
        produce(sys.argv[2], int(sys.argv[3]))
        return 0
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    name = f"/shmap-asyncio-example-{os.getpid()}"
    ring = shmap.Ring.consumer(name, type="spsc", elem_size=ELEM, capacity=64, flags="create")
    try:
        producer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "produce", name,
                                     str(count)])
        rc = asyncio.run(consume(ring, count))
        if producer.wait(30) != 0:
            rc = 1
        return rc
    finally:
        ring.close()
        shmap.unlink(name)


if __name__ == "__main__":
    sys.exit(main())
