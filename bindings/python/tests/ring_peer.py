# SPDX-License-Identifier: MIT
"""The other process of the event-loop tests (run as a program, so that it is
unrelated to the test process: no fork, nothing inherited).

    ring_peer.py produce NAME N [PAUSE_EVERY] [SOCK_FD]
        attach as producer (waiting for the ring), push elem(i) for i < N,
        sleeping a random 0-3 ms every PAUSE_EVERY elements; then, with
        SOCK_FD, send b"done" on that socket.
    ring_peer.py consume NAME N [PAUSE_EVERY]
        attach as consumer, pop N elements and check each is elem(i).
    ring_peer.py hold ROLE NAME K
        attach as ROLE; a producer pushes K elements, a consumer pops K
        (waiting for them); then print "ready" and sleep until killed.

Exit status 0 when everything checked out.
"""
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import shmap  # noqa: E402
from tests.common import elem  # noqa: E402


def main(argv):
    mode = argv[1]
    if mode == "hold":
        role, name, k = argv[2], argv[3], int(argv[4])
        r = shmap.Ring(name, role, flags="open_wait", timeout_ms=20000)
        for i in range(k):
            if role == "producer":
                r.push(elem(i, r.elem_size), timeout=20)
            else:
                r.pop(timeout=20)
        print("ready", flush=True)
        time.sleep(120)
        return 1
    name, n = argv[2], int(argv[3])
    every = int(argv[4]) if len(argv) > 4 else 0
    rnd = random.Random(n)
    if mode == "produce":
        with shmap.Ring.producer(name, wait=20) as p:
            es = p.elem_size
            for i in range(n):
                p.push(elem(i, es), timeout=20)
                if every and i % every == every - 1:
                    time.sleep(rnd.random() * 0.003)
        if len(argv) > 5:
            with socket.socket(fileno=int(argv[5])) as s:
                s.sendall(b"done")
        return 0
    if mode == "consume":
        with shmap.Ring.consumer(name, wait=20) as c:
            es = c.elem_size
            for i in range(n):
                got = c.pop(timeout=20)
                if got != elem(i, es):
                    print(f"ring_peer: element {i} differs: {got!r}", file=sys.stderr)
                    return 1
                if every and i % every == every - 1:
                    time.sleep(rnd.random() * 0.003)
        return 0
    print("ring_peer: unknown mode", mode, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
