# SPDX-License-Identifier: MIT
"""A Python process and a C process (bindings/c/shmap_peer.c) share one table,
rings and a vector; every value is verified on both sides."""
import unittest

import shmap
from tests.common import SegmentTest, elem, key, run_peer, start_peer, value

N = 2000
VMAX = 100


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
                p.push(elem(i, 32), timeout=20)
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, err)

    def test_ring_c_to_python(self):
        n = self.name("xring")
        with shmap.Ring.consumer(n, type=shmap.SPSC, elem_size=32, capacity=64,
                                 flags="create") as c:
            proc = start_peer("ring-push", n, N)
            for i in range(N):
                self.assertEqual(c.pop(timeout=20), elem(i, 32), i)
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, err)
            with self.assertRaises(shmap.EmptyError):
                c.pop()

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
