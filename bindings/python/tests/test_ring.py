# SPDX-License-Identifier: MIT
import threading
import time
import unittest

import shmap
from tests.common import SegmentTest, elem


class TestRing(SegmentTest):
    def pair(self, type=shmap.SPSC, elem_size=16, capacity=8, max_consumers=0):
        n = self.name("ring")
        p = shmap.Ring(n, "producer", type=type, elem_size=elem_size, capacity=capacity,
                       max_consumers=max_consumers, flags="create")
        self.addCleanup(p.close)
        c = shmap.Ring.consumer(n, flags=shmap.OPEN)
        self.addCleanup(c.close)
        return n, p, c

    def test_spsc_push_pop(self):
        n, p, c = self.pair()
        self.assertEqual((p.capacity, p.elem_size, p.type), (8, 16, shmap.SPSC))
        self.assertEqual((p.role, c.role), (shmap.PRODUCER, shmap.CONSUMER))
        with self.assertRaises(shmap.EmptyError):
            c.pop()
        for i in range(8):
            p.push(elem(i, 16))
        self.assertEqual(len(p), 8)
        with self.assertRaises(shmap.FullError):
            p.push(elem(8, 16))
        with self.assertRaises(shmap.TimeoutError):
            p.push(elem(8, 16), timeout=0.05)
        self.assertEqual([c.pop() for _ in range(3)], [elem(i, 16) for i in range(3)])
        self.assertEqual(list(c), [elem(i, 16) for i in range(3, 8)])  # iteration drains
        p.push(b"short")
        self.assertEqual(c.pop(), b"short" + bytes(11))
        with self.assertRaises(shmap.TooBigError):
            p.push(b"x" * 17)
        with self.assertRaises(shmap.NotAttachedError):
            c.push(b"x")
        with self.assertRaises(shmap.NotAttachedError):
            p.pop()

    def test_roles_busy_and_incompatible(self):
        n, p, c = self.pair()
        with self.assertRaises(shmap.BusyError):
            shmap.Ring.producer(n, flags=shmap.OPEN)
        with self.assertRaises(shmap.BusyError):
            shmap.Ring.consumer(n, flags=shmap.OPEN)
        with self.assertRaises(shmap.IncompatibleError):
            shmap.Ring.consumer(n, type=shmap.SPMC, flags=shmap.OPEN)
        c.close()
        with shmap.Ring.consumer(n, flags=shmap.OPEN) as c2:  # role released by close
            self.assertEqual(c2.role, shmap.CONSUMER)
        self.assertEqual(shmap.info(n)["kind_name"], "ring-spsc")

    def test_blocking_pop_timeout_and_wakeup(self):
        n, p, c = self.pair()
        t0 = time.monotonic()
        with self.assertRaises(shmap.TimeoutError):
            c.pop(timeout=0.1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)
        timer = threading.Timer(0.1, lambda: p.push(b"late"))
        timer.start()
        self.assertEqual(c.pop(timeout=5)[:4], b"late")
        timer.join()

    def test_batches(self):
        n, p, c = self.pair(capacity=16)
        self.assertEqual(p.push_many([elem(i, 16) for i in range(20)]), 16)
        self.assertEqual(c.pop_many(5), [elem(i, 16) for i in range(5)])
        self.assertEqual(c.pop_many(100), [elem(i, 16) for i in range(5, 16)])
        self.assertEqual(c.pop_many(4), [])
        with self.assertRaises(shmap.TimeoutError):
            c.pop_many(4, timeout=0.02)
        self.assertEqual(p.push_many([elem(i, 16) for i in range(3)], timeout=1), 3)
        self.assertEqual(list(c.iter_wait(0.02)), [elem(i, 16) for i in range(3)])

    def test_zero_copy(self):
        n, p, c = self.pair(elem_size=8, capacity=8)
        mv = p.reserve(3)
        self.assertGreaterEqual(len(mv), 8)
        got = len(mv) // 8
        for i in range(got):
            mv[i * 8:(i + 1) * 8] = elem(i, 8)
        p.commit(got)
        view = c.peek(8)
        self.assertEqual(bytes(view), b"".join(elem(i, 8) for i in range(got)))
        with self.assertRaises(TypeError):
            view[0] = 1  # read-only
        c.release(len(view) // 8)
        with self.assertRaises(shmap.EmptyError):
            c.pop()

    def test_broadcast_every_subscriber_sees_all(self):
        n = self.name("bcast")
        with shmap.Ring.producer(n, type="bcast_reliable", elem_size=16, capacity=4,
                                 max_consumers=4, flags="create") as p:
            subs = [shmap.Ring.consumer(n, flags="open") for _ in range(3)]
            self.assertEqual(p.consumers(), 3)
            got = [[] for _ in subs]

            def read(i):
                for _ in range(40):
                    got[i].append(subs[i].pop(timeout=10))
            ths = [threading.Thread(target=read, args=(i,)) for i in range(3)]
            for th in ths:
                th.start()
            for i in range(40):
                p.push(elem(i, 16), timeout=10)
            for th in ths:
                th.join()
            for g in got:
                self.assertEqual(g, [elem(i, 16) for i in range(40)])
            for s in subs:
                s.close()

    def test_lossy_overrun(self):
        n = self.name("lossy")
        with shmap.Ring.producer(n, type=shmap.BCAST_LOSSY, elem_size=8, capacity=4,
                                 flags="create") as p, \
                shmap.Ring.consumer(n, flags="open") as s:
            for i in range(10):
                p.push(elem(i, 8))  # the producer never waits
            with self.assertRaises(shmap.OverrunError):
                s.pop()
            self.assertGreater(s.missed, 0)
            rest = list(s)
            self.assertEqual(rest, [elem(i, 8) for i in range(10 - len(rest), 10)])
            self.assertEqual(s.missed + len(rest), 10)


if __name__ == "__main__":
    unittest.main()
