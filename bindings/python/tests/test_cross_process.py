# SPDX-License-Identifier: MIT
"""A Python process and a C process (bindings/c/shmap_peer.c) share one table,
rings and a vector; every value is verified on both sides."""
import unittest

import shmap
from tests.common import SegmentTest, elem, key, run_peer, start_peer, value

N = 2000
VMAX = 100
WAIT = 20.0


def _peer_died(proc):
    if proc.poll() not in (None, 0):
        raise AssertionError("the C peer failed: " + proc.stderr.read())


def push_while_alive(ring, data, proc):
    """Push, waiting up to WAIT seconds, but fail at once if the peer died."""
    for _ in range(int(WAIT * 10)):
        try:
            return ring.push(data, timeout=0.1)
        except shmap.TimeoutError:
            _peer_died(proc)
    raise AssertionError("push timed out")


def pop_while_alive(ring, proc, i):
    for _ in range(int(WAIT * 10)):
        try:
            return ring.pop(timeout=0.1)
        except shmap.TimeoutError:
            _peer_died(proc)
    raise AssertionError(f"pop of element {i} timed out")


class TestCrossProcess(SegmentTest):
    def setUp(self):
        super().setUp()
        from tests.common import peer
        peer()  # skip early if there is no C peer

    def test_table(self):
        n = self.name("xtab")
        with shmap.Table.create(n, 4096, 32, VMAX) as t:
            rc, err = run_peer("table-write", n, N)
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(t), N)
            got = dict(t.items())
            self.assertEqual(len(got), N)
            for i in range(N):
                self.assertEqual(t[key(i)], value(i, VMAX), i)
                self.assertEqual(got[key(i)], value(i, VMAX), i)
            t.clear()
            self.assertEqual(len(t), 0)
            for i in range(N):
                t[key(i)] = value(i, VMAX)
            rc, err = run_peer("table-verify", n, N)
            self.assertEqual(rc, 0, err)
            t[key(7)] = b"changed"
            rc, err = run_peer("table-verify", n, N)
            self.assertNotEqual(rc, 0, "the C peer must notice a wrong value")

    def test_ring_python_to_c(self):
        n = self.name("xring")
        with shmap.Ring.producer(n, type=shmap.SPSC, elem_size=32, capacity=64,
                                 flags="create") as p:
            proc = start_peer("ring-pop", n, N)
            for i in range(N):
                push_while_alive(p, elem(i, 32), proc)
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, err)

    def test_ring_c_to_python(self):
        n = self.name("xring")
        with shmap.Ring.consumer(n, type=shmap.SPSC, elem_size=32, capacity=64,
                                 flags="create") as c:
            proc = start_peer("ring-push", n, N)
            for i in range(N):
                self.assertEqual(pop_while_alive(c, proc, i), elem(i, 32), i)
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, err)
            with self.assertRaises(shmap.EmptyError):
                c.pop()

    def test_cas_erase_both_ways(self):
        n = self.name("xtab")
        m = 200
        with shmap.Table.create(n, 512, 32, VMAX) as t:
            rc, err = run_peer("table-write", n, m)       # C writes, Python erases
            self.assertEqual(rc, 0, err)
            for i in range(m):
                wrong = value(i, VMAX)[:-1] + bytes([value(i, VMAX)[-1] ^ 0xFF])
                self.assertFalse(t.cas_erase(key(i), wrong), i)
                self.assertTrue(t.cas_erase(key(i), value(i, VMAX)), i)
            self.assertEqual(len(t), 0)
            for i in range(m):                             # Python writes, C erases
                t[key(i)] = value(i, VMAX)
            rc, err = run_peer("table-cas-erase", n, m)
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(t), 0)
            t[key(3)] = b"changed"
            rc, err = run_peer("table-cas-erase", n, 4)
            self.assertNotEqual(rc, 0, "the C peer must notice a missing key")

    def test_ring_observers(self):
        n = self.name("xring")
        m = 64
        with shmap.Ring.producer(n, type=shmap.SPSC, elem_size=32, capacity=m,
                                 flags="create") as p, \
                shmap.Ring.consumer(n, flags="open") as c:
            for i in range(m):
                p.push(elem(i, 32))
            rc, err = run_peer("ring-observe", n, m)     # a C observer reads in place
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(c), m)                    # ... without consuming
            self.assertEqual(c.pop_many(m), [elem(i, 32) for i in range(m)])
        n2 = self.name("xring")
        with shmap.Ring.consumer(n2, type=shmap.SPSC, elem_size=32, capacity=m,
                                 flags="create") as c, \
                shmap.Ring.observer(n2, flags="open") as o:
            rc, err = run_peer("ring-push", n2, m)         # C pushes, a Python observer reads
            self.assertEqual(rc, 0, err)
            self.assertEqual(o.consumers(), 1)
            self.assertEqual([o.read_at(i) for i in range(m)], [elem(i, 32) for i in range(m)])
            self.assertFalse(o.stats()["producer_alive"])
            self.assertEqual(c.pop_many(m), [elem(i, 32) for i in range(m)])
            with self.assertRaises(shmap.RangeError):
                o.read_at(0)

    def test_vector(self):
        n = self.name("xvec")
        with shmap.Vector.create(n, 24, N) as v:
            for i in range(N):
                v.push(elem(i, 24))
            rc, err = run_peer("vector-verify", n, N)
            self.assertEqual(rc, 0, err)
        n2 = self.name("xvec")
        with shmap.Vector.create(n2, 24, N) as v:
            rc, err = run_peer("vector-push", n2, N)
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(v), N)
            self.assertEqual(list(v), [elem(i, 24) for i in range(N)])


if __name__ == "__main__":
    unittest.main()
