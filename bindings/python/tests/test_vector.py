# SPDX-License-Identifier: MIT
import unittest

import shmap
from tests.common import SegmentTest, elem


class TestVector(SegmentTest):
    def vec(self, elem_size=16, capacity=100):
        v = shmap.Vector.create(self.name("vec"), elem_size, capacity)
        self.addCleanup(v.close)
        return v

    def test_push_get_iterate(self):
        v = self.vec()
        self.assertEqual(len(v), 0)
        for i in range(50):
            self.assertEqual(v.push(elem(i, 16)), i)
        self.assertEqual(len(v), 50)
        self.assertEqual(v.reserved, 50)
        for i in range(50):
            self.assertEqual(v[i], elem(i, 16))
        self.assertEqual(v[-1], elem(49, 16))
        self.assertEqual(list(v), [elem(i, 16) for i in range(50)])
        self.assertEqual(v[2:4], [elem(2, 16), elem(3, 16)])
        self.assertEqual([i for i, _ in v.items(start=45)], list(range(45, 50)))
        with self.assertRaises(IndexError):
            v[50]
        with self.assertRaises(shmap.RangeError):
            v[10**6]

    def test_pad_replace_extend(self):
        v = self.vec(elem_size=8, capacity=10)
        i = v.push(b"ab")
        self.assertEqual(v[i], b"ab" + bytes(6))
        v[i] = b"zz"
        self.assertEqual(v[i], b"zz" + bytes(6))
        with self.assertRaises(shmap.TooBigError):
            v.push(b"x" * 9)
        first = v.extend([b"1", b"2", b"3"])
        self.assertEqual(first, 1)
        self.assertEqual(v[3], b"3" + bytes(7))
        first = v.reserve(2)
        self.assertEqual(len(v), 4)  # reserved, not yet published
        with self.assertRaises(shmap.NotReadyError):
            v[first]
        v.write(first, b"r0")
        self.assertEqual(v.slot_state(first)[0], shmap.vector.SLOT_RESERVED)
        mv = v.slot(first + 1)
        mv[:2] = b"r1"
        del mv
        v.publish(first, 2)
        self.assertEqual(len(v), 6)
        self.assertEqual(v[first + 1], b"r1" + bytes(6))
        self.assertEqual(v.slot_state(first)[0], shmap.vector.SLOT_PUBLISHED)
        self.assertEqual(v.stat(), (6, 0, 0))
        while True:
            try:
                v.push(b"f")
            except shmap.FullError:
                break
        self.assertEqual(len(v), v.capacity)
        self.assertEqual(v.check(), 0)

    def test_open_existing(self):
        n = self.name("vec")
        with shmap.Vector.create(n, 4, 8) as v:
            v.push(b"abcd")
            with shmap.Vector.open(n) as v2:
                self.assertEqual(v2.elem_size, 4)
                self.assertEqual(v2[0], b"abcd")
            with self.assertRaises(shmap.IncompatibleError):
                shmap.Vector(n, 5, 8, flags=shmap.OPEN)
            self.assertEqual(shmap.info(n)["kind_name"], "vector")


if __name__ == "__main__":
    unittest.main()
