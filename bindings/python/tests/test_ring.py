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

    def test_push_timeout_pads_short_data(self):
        n, p, c = self.pair(capacity=2)
        p.push(b"ab", timeout=1)          # shmap_ring_push_bytes_wait zero-fills
        p.push(elem(1, 16), timeout=1)
        with self.assertRaises(shmap.TimeoutError):
            p.push(b"c", timeout=0.02)
        with self.assertRaises(shmap.TooBigError):
            p.push(b"x" * 17, timeout=0.02)
        self.assertEqual(c.pop(), b"ab" + bytes(14))
        self.assertEqual(c.pop(), elem(1, 16))

    def test_observer_read_at_consumers(self):
        n, p, c = self.pair(capacity=8)
        self.assertEqual(p.consumers(), 1)
        with shmap.Ring.observer(n, flags=shmap.OPEN) as o:
            self.assertEqual(o.role, shmap.OBSERVER)
            self.assertEqual((o.elem_size, o.capacity, o.type), (16, 8, shmap.SPSC))
            self.assertEqual(o.consumers(), 1)          # observers do not count
            with self.assertRaises(shmap.NotAttachedError):
                o.push(b"x")
            with self.assertRaises(shmap.NotAttachedError):
                o.pop()
            with self.assertRaises(shmap.RangeError):
                o.read_at(0)                            # nothing pushed yet
            for i in range(6):
                p.push(elem(i, 16))
            self.assertEqual([o.read_at(i) for i in range(6)], [elem(i, 16) for i in range(6)])
            self.assertEqual(p.read_at(5), elem(5, 16))  # any role may read
            self.assertEqual(c.pop_many(2), [elem(0, 16), elem(1, 16)])
            with self.assertRaises(IndexError):          # RangeError is an IndexError
                o.read_at(1)                            # consumed: below tail
            with self.assertRaises(shmap.RangeError):
                o.read_at(6)                            # not pushed yet
            self.assertEqual(c.read_at(2), elem(2, 16))
            self.assertEqual(len(o), 4)
            self.assertEqual(o.stats()["head"], 6)
            c.close()
            self.assertEqual(o.consumers(), 0)
            # an observer never takes the free consumer role
            with shmap.Ring.consumer(n, flags=shmap.OPEN) as c2:
                self.assertEqual(c2.pop(), elem(2, 16))
            with shmap.Ring("%s" % n, "observer", flags=shmap.OPEN) as o2:
                self.assertEqual(o2.role, shmap.OBSERVER)

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
            with shmap.Ring.observer(n, flags="open") as o:
                self.assertEqual(o.consumers(), 3)
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
            subs[0].close()
            self.assertEqual(p.consumers(), 2)
            for s in subs[1:]:
                s.close()
            self.assertEqual(p.consumers(), 0)

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
            with shmap.Ring.observer(n, flags="open") as o:
                with self.assertRaises(shmap.RangeError):
                    o.read_at(5)                        # lapped: outside [head - cap, head)
                self.assertEqual([o.read_at(i) for i in range(6, 10)],
                                 [elem(i, 8) for i in range(6, 10)])
            rest = list(s)
            self.assertEqual(rest, [elem(i, 8) for i in range(10 - len(rest), 10)])
            self.assertEqual(s.missed + len(rest), 10)


if __name__ == "__main__":
    unittest.main()
