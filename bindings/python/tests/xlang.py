# SPDX-License-Identifier: MIT
"""Cross-language check, Python side (run by bindings/test.sh).

  xlang.py write TABLE RING N READERS   fill TABLE with key(i) -> value(i),
        create RING (reliable broadcast), wait for READERS subscribers, push
        elem(0..N-1)
  xlang.py read TABLE RING N            subscribe to RING, verify every value
        of TABLE, pop and verify N elements

The Rust (examples/xlang.rs) and Go (cmd/xlang) programs speak the same
protocol, so any language can write while the other two read.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import shmap  # noqa: E402
from tests.common import elem, key, value  # noqa: E402

VMAX, ES, WAIT = 100, 32, 30.0


def retry_open(fn):
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return fn()
        except (shmap.NoSegmentError, shmap.NotReadyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def write(table, ring, n, readers):
    with shmap.Table.create(table, 2 * n + 16, 32, VMAX) as t:
        for i in range(n):
            t[key(i)] = value(i, VMAX)
        with shmap.Ring.producer(ring, type=shmap.BCAST_RELIABLE, elem_size=ES, capacity=64,
                                 max_consumers=4, flags=shmap.CREATE) as r:
            deadline = time.monotonic() + WAIT
            while r.consumers() < readers:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {r.consumers()} of {readers} subscribers came")
                time.sleep(0.005)
            for i in range(n):
                r.push(elem(i, ES), timeout=WAIT)


def read(table, ring, n):
    with retry_open(lambda: shmap.Ring.consumer(ring, flags=shmap.OPEN)) as r, \
            shmap.Table.open(table) as t:
        if len(t) != n:
            raise SystemExit(f"table has {len(t)} entries, want {n}")
        for i in range(n):
            if t[key(i)] != value(i, VMAX):
                raise SystemExit(f"table value {i} differs")
        for i in range(n):
            if r.pop(timeout=WAIT) != elem(i, ES):
                raise SystemExit(f"ring element {i} differs")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        read(sys.argv[2], sys.argv[3], int(sys.argv[4]))
