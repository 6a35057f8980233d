# SPDX-License-Identifier: MIT
"""RecRing: rings of variable-length records (C: ring_rec.h)."""
import asyncio
import json
import os
import select
import sys
import threading
import time
import unittest

import shmap
from tests.common import SegmentTest


_PATTERN = bytes((j * 31 + 7) & 0xFF for j in range(256 + 4096))


def rec(i, lo=1, hi=300):
    """Record i: a length in [lo, hi] drawn from i, i in its first bytes,
    then a pattern that depends on i."""
    n = lo + (i * 2654435761 >> 7) % (hi - lo + 1)
    k = i % 251
    return (i.to_bytes(8, "little") + _PATTERN[k:k + max(n - 8, 0)])[:n]


def _fork(fn):
    """Run fn() in a forked child; return its pid. The child exits 0 if fn
    returned normally, 1 if it raised (reported on stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException as e:  # report, never return into unittest
            print("child:", repr(e), file=sys.stderr)
        os._exit(code)
    return pid


def _status(pid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got, st = os.waitpid(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return "timeout"


class TestRecRing(SegmentTest):
    def pair(self, type="spsc", max_record=300, capacity=4096, max_consumers=0, **kw):
        n = self.name("rec")
        p = shmap.RecRing(n, "producer", type, max_record, capacity, max_consumers, **kw)
        c = shmap.RecRing.consumer(n)
        self.addCleanup(p.close)
        self.addCleanup(c.close)
        return n, p, c

    def test_lengths_are_the_records(self):
        n, p, c = self.pair()
        self.assertIsInstance(p, shmap.Ring)
        self.assertEqual((p.max_record, p.elem_size, p.capacity, p.type, c.role),
                         (300, 300, 4096, shmap.SPSC, shmap.CONSUMER))
        data = [b"a", "wörld", bytearray(b"xyz" * 10), memoryview(b"12345678"), bytes(300)]
        for d in data:
            self.assertEqual(p.push(d), 0)
        # len() counts bytes: each record is 8 + its length rounded up to 8
        self.assertEqual(len(c), sum(8 + (len(bytes(d) if not isinstance(d, str) else
                                                  d.encode()) + 7) // 8 * 8 for d in data))
        self.assertEqual(c.pop(), b"a")
        self.assertEqual(c.pop(), "wörld".encode())
        self.assertEqual(c.pop(), b"xyz" * 10)
        self.assertEqual(c.pop(), b"12345678")
        self.assertEqual(c.pop(), bytes(300))
        self.assertRaises(shmap.EmptyError, c.pop)
        self.assertEqual(len(c), 0)
        self.assertRaises(shmap.InvalidArgumentError, p.push, b"")
        self.assertRaises(shmap.TooBigError, p.push, bytes(301))
        self.assertRaises(shmap.NotAttachedError, c.push, b"x")
        self.assertRaises(shmap.NotAttachedError, p.pop)
        self.assertRaises(shmap.NotSupportedError, c.read_at, 0)
        self.assertIn("RecRing", repr(p))

    def test_full_and_fill(self):
        _, p, c = self.pair(max_record=4096, capacity=1 << 16)
        pushed, payload, i = [], 0, 0
        while True:
            r = rec(i, 64, 4096)
            try:
                p.push(r)
            except shmap.FullError:
                break
            pushed.append(r)
            payload += len(r)
            i += 1
        # a ring of records holds its payload, not slots of the largest
        self.assertGreaterEqual(payload / p.capacity, 0.90)
        self.assertEqual(list(c), pushed)

    def test_pop_into_bufsize(self):
        _, p, c = self.pair()
        p.push(b"x" * 50)
        p.push(b"y" * 3)
        buf = bytearray(10)
        with self.assertRaises(shmap.BufferSizeError) as cm:
            c.pop_into(buf)
        self.assertEqual(cm.exception.needed, 50)
        self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual(buf, bytearray(10))  # nothing copied, nothing popped
        big = bytearray(64)
        self.assertEqual(c.pop_into(big), 50)
        self.assertEqual(bytes(big[:50]), b"x" * 50)
        self.assertEqual(c.pop_into(buf), 3)
        self.assertEqual(bytes(buf[:3]), b"yyy")
        self.assertRaises(shmap.EmptyError, c.pop_into, buf)
        with self.assertRaises((TypeError, BufferError)):
            c.pop_into(b"read-only")
        # a waiting pop_into reports BUFSIZE at once too
        p.push(b"z" * 20)
        with self.assertRaises(shmap.BufferSizeError) as cm:
            c.pop_into(bytearray(4), timeout=5)
        self.assertEqual(cm.exception.needed, 20)
        self.assertEqual(c.pop(), b"z" * 20)

    def test_records_longer_than_the_scratch_buffer(self):
        # pop() copies through a 64 KiB buffer; longer records go straight
        # into a bytes object of their length
        _, p, c = self.pair(max_record=300000, capacity=1 << 20)
        sizes = [1, 65535, 65536, 65537, 300000, 7]
        for k, s in enumerate(sizes):
            p.push(bytes([k + 1]) * s)
        for k, s in enumerate(sizes):
            self.assertEqual(c.pop(timeout=1), bytes([k + 1]) * s)
        p.push_many([b"q" * 100000, b"r" * 200000])
        self.assertEqual(c.pop_many(5), [b"q" * 100000, b"r" * 200000])

    def test_waits_release_the_gil(self):
        _, p, c = self.pair(max_record=64, capacity=256)
        t0 = time.monotonic()
        self.assertRaises(shmap.TimeoutError, c.pop, 0.05)
        self.assertGreaterEqual(time.monotonic() - t0, 0.04)
        ticks = [0]
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                ticks[0] += 1

        def later():
            time.sleep(0.1)
            p.push(b"late")
        spinner = threading.Thread(target=spin)
        spinner.start()
        pusher = threading.Thread(target=later)
        pusher.start()
        try:
            self.assertEqual(c.pop(timeout=5), b"late")
        finally:
            stop.set()
            spinner.join()
            pusher.join()
        self.assertGreater(ticks[0], 1000)  # other threads ran while pop waited
        # producer side: full, then a consumer frees room
        while True:
            try:
                p.push(b"f" * 64)
            except shmap.FullError:
                break
        self.assertRaises(shmap.TimeoutError, p.push, b"g" * 64, 0.05)
        threading.Timer(0.05, c.pop).start()
        self.assertEqual(p.push(b"g" * 64, timeout=5), 0)

    def test_batches(self):
        _, p, c = self.pair(max_record=100, capacity=1024)
        items = [rec(i, 1, 100) for i in range(40)]
        k = p.push_many(items)
        self.assertTrue(0 < k < 40)  # as many as fit
        self.assertEqual(p.push_many([]), 0)
        got = c.pop_many(1000)
        self.assertEqual(got, items[:k])
        self.assertEqual(c.pop_many(3), [])
        self.assertRaises(shmap.TooBigError, p.push_many, [b"ok", bytes(101)])
        self.assertRaises(shmap.InvalidArgumentError, p.push_many, [b"ok", b""])
        self.assertEqual(c.pop_many(3), [])  # nothing of a refused batch went in
        # all, waiting for room while a consumer thread drains
        got = []

        def drain():
            while len(got) < 40 - k:
                got.extend(c.pop_many(7, timeout=5))
        t = threading.Thread(target=drain)
        t.start()
        self.assertEqual(p.push_many(items[k:], timeout=5), 40 - k)
        t.join()
        self.assertEqual(got, items[k:])
        # a timeout says how many went in
        while p.push_many([b"z" * 100]) == 1:
            pass
        with self.assertRaises(shmap.TimeoutError) as cm:
            p.push_many([b"1", b"2"], timeout=0.05)
        self.assertEqual(cm.exception.done, 0)

    def test_zero_copy(self):
        _, p, c = self.pair()
        mv = p.reserve(100)
        self.assertEqual(len(mv), 100)
        mv[:5] = b"hello"
        self.assertRaises(shmap.BusyError, p.push, b"x")
        self.assertEqual(p.commit(5), 0)
        self.assertRaises(shmap.InvalidArgumentError, p.commit, 1)  # no reservation
        p.reserve(10)
        p.commit(0)  # dropped
        view = c.peek()
        self.assertEqual(bytes(view), b"hello")
        self.assertEqual(view.readonly, True)
        self.assertRaises(shmap.BusyError, c.pop)
        self.assertEqual(c.release(), 0)
        self.assertRaises(shmap.EmptyError, c.peek)
        self.assertRaises(shmap.TooBigError, p.reserve, 301)

    def test_clear(self):
        _, p, c = self.pair()
        for i in range(10):
            p.push(rec(i))
        self.assertEqual(c.clear(), 10)
        self.assertEqual(c.clear(), 0)
        self.assertRaises(shmap.NotAttachedError, p.clear)

    def test_kinds_do_not_mix(self):
        n, p, c = self.pair()
        self.assertRaises(shmap.IncompatibleError, shmap.Ring, n, "observer")
        f = self.name("fixed")
        with shmap.Ring(f, "producer", "spsc", 8, 16):
            self.assertRaises(shmap.IncompatibleError, shmap.RecRing, f, "observer")

    def test_broadcast(self):
        n = self.name("bc")
        with shmap.RecRing(n, "producer", "bcast_reliable", 200, 4096, 4) as p, \
                shmap.RecRing.consumer(n) as s1, shmap.RecRing.consumer(n) as s2:
            items = [rec(i, 1, 200) for i in range(10)]
            self.assertEqual(p.push_many(items), 10)
            self.assertEqual(list(s1), items)
            self.assertEqual(s2.pop_many(100), items)
        n = self.name("lossy")
        with shmap.RecRing(n, "producer", "bcast_lossy", 200, 1024, 4) as p, \
                shmap.RecRing.consumer(n) as s:
            for i in range(200):
                p.push(rec(i, 8, 200))  # never full
            self.assertRaises(shmap.OverrunError, s.pop)
            self.assertGreater(s.missed, 0)
            last = -1
            for r in s:  # the newest records, increasing, intact
                i = int.from_bytes(r[:8], "little")
                self.assertEqual(r, rec(i, 8, 200))
                self.assertGreater(i, last)
                last = i
            self.assertEqual(last, 199)

    def test_notify_descriptor(self):
        n, p, c = self.pair(max_record=64, capacity=256)
        fd = c.fileno()
        self.assertEqual(c.fileno(), fd)
        self.assertTrue(select.select([fd], [], [], 0)[0])  # starts readable
        c.notify_arm()
        self.assertFalse(select.select([fd], [], [], 0.02)[0])

        def produce():
            with shmap.RecRing.producer(n) as p2:
                time.sleep(0.05)
                p2.push(b"from a child")
        p.close()  # the child takes the producer role
        pid = _fork(produce)
        self.assertTrue(select.select([fd], [], [], 5)[0])
        self.assertEqual(c.pop(), b"from a child")
        self.assertEqual(_status(pid), 0)
        # a producer's descriptor: readable when a record of max_record fits
        with shmap.RecRing.producer(n) as p3:
            pfd = p3.fileno()
            while True:
                try:
                    p3.push(b"x" * 64)
                except shmap.FullError:
                    break
            p3.notify_arm()
            self.assertFalse(select.select([pfd], [], [], 0.02)[0])
            c.pop()
            self.assertTrue(select.select([pfd], [], [], 5)[0])

    def test_asyncio(self):
        n, p, c = self.pair(max_record=64, capacity=256)

        async def main():
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, p.push, b"async record")
            got = await c.pop_async(timeout=5)
            while True:
                try:
                    p.push(b"y" * 64)
                except shmap.FullError:
                    break
            loop.call_later(0.05, c.pop)
            await p.push_async(b"z" * 10, timeout=5)
            return got
        self.assertEqual(asyncio.run(main()), b"async record")


class TestRecRingProcesses(SegmentTest):
    """Records between processes (fork): every record once, in order,
    intact, with both sides waiting."""

    N = 20000

    def stream(self, type, consumers=1):
        n = self.name("mp")
        p = shmap.RecRing(n, "producer", type, 1000, 8192, 4 if type != "spsc" else 0)
        subs = [] if type == "spmc" else [shmap.RecRing.consumer(n) for _ in range(consumers)]
        p.close()  # the child produces

        def produce():
            with shmap.RecRing.producer(n) as q:
                i = 0
                while i < self.N:
                    k = min(1 + i % 13, self.N - i)
                    if k == 1:
                        q.push(rec(i, 8, 1000), timeout=10)
                    else:
                        self.assertEqual(
                            q.push_many([rec(j, 8, 1000) for j in range(i, i + k)], timeout=10), k)
                    i += k
                for _ in range(consumers):
                    q.push(b"end", timeout=10)  # 3 bytes: no record of the stream is that short
        return n, subs, produce

    def check_stream(self, got):
        self.assertEqual(len(got), self.N)
        for i, r in enumerate(got):
            if r != rec(i, 8, 1000):
                self.fail(f"record {i}: {len(r)} bytes, {r[:8]!r}")

    def test_spsc_fork(self):
        n, (c,), produce = self.stream("spsc")
        pid = _fork(produce)
        got, buf = [], bytearray(1000)
        try:
            while True:
                # pop, pop_into and pop_many in turn
                if len(got) % 3 == 0:
                    r = c.pop(timeout=10)
                    batch = [r]
                elif len(got) % 3 == 1:
                    k = c.pop_into(buf, timeout=10)
                    batch = [bytes(buf[:k])]
                else:
                    batch = c.pop_many(16, timeout=10)
                if b"end" in batch:
                    got.extend(batch[:batch.index(b"end")])
                    break
                got.extend(batch)
        finally:
            self.assertEqual(_status(pid), 0)
            c.close()
        self.check_stream([g for g in got if g != b"end"])

    def test_reliable_two_subscribers_fork(self):
        n, subs, produce = self.stream("bcast_reliable", consumers=2)
        pid = _fork(produce)
        got = [[], []]
        try:
            done = [False, False]
            while not all(done):
                for k, s in enumerate(subs):
                    if done[k]:
                        continue
                    for r in s.pop_many(64, timeout=10):
                        if r == b"end":
                            done[k] = True
                        elif not done[k]:
                            got[k].append(r)
        finally:
            self.assertEqual(_status(pid), 0)
            for s in subs:
                s.close()
        self.check_stream([r for r in got[0] if r != b"end"])
        self.assertEqual(got[0], got[1])

    def test_spmc_consumers_in_processes(self):
        # two forked consumers; each record reaches exactly one of them
        n, _, produce = self.stream("spmc", consumers=2)
        rfds, pids = [], []
        for _ in range(2):
            r, w = os.pipe()

            def consume(w=w):
                with shmap.RecRing.consumer(n) as c:
                    seen = []
                    while True:
                        x = c.pop(timeout=10)
                        if x == b"end":
                            break
                        seen.append(int.from_bytes(x[:8], "little"))
                        if x != rec(seen[-1], 8, 1000):
                            raise AssertionError(f"record {seen[-1]} damaged")
                    os.write(w, json.dumps(seen).encode() + b"\n")
            pids.append(_fork(consume))
            os.close(w)
            rfds.append(r)
        o = shmap.RecRing.observer(n)
        deadline = time.monotonic() + 10
        while o.consumers() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        o.close()
        ppid = _fork(produce)
        seen = []
        for r in rfds:
            data = b""
            while not data.endswith(b"\n"):
                chunk = os.read(r, 1 << 20)
                if not chunk:
                    break
                data += chunk
            os.close(r)
            seen.append(json.loads(data) if data else None)
        for pid in pids + [ppid]:
            self.assertEqual(_status(pid), 0)
        self.assertIsNotNone(seen[0])
        self.assertIsNotNone(seen[1])
        for s in seen:  # each consumer sees its records in order
            self.assertEqual(s, sorted(s))
        # every record exactly once
        self.assertEqual(sorted(i for s in seen for i in s), list(range(self.N)))


if __name__ == "__main__":
    unittest.main()
