# SPDX-License-Identifier: MIT
import threading
import unittest

import shmap
from tests.common import SegmentTest, key, value


class TestTable(SegmentTest):
    def table(self, capacity=64, key_max=32, value_max=64, **kw):
        t = shmap.Table(self.name("tab"), capacity, key_max, value_max, flags=shmap.CREATE, **kw)
        self.addCleanup(t.close)
        return t

    def test_mapping_basics(self):
        t = self.table()
        self.assertEqual(len(t), 0)
        t[b"a"] = b"1"
        t["é"] = "zwei"  # str keys and values are UTF-8
        self.assertEqual(t[b"a"], b"1")
        self.assertEqual(t["é"], "zwei".encode())
        self.assertEqual(t["é".encode()], b"zwei")
        self.assertIn(b"a", t)
        self.assertIn("a", t)
        self.assertNotIn(b"b", t)
        self.assertNotIn(b"x" * 1000, t)  # longer than key_max: just absent
        self.assertEqual(len(t), 2)
        self.assertEqual(t.get(b"b"), None)
        self.assertEqual(t.get(b"b", b"d"), b"d")
        t[b"a"] = b"one"
        self.assertEqual(t[b"a"], b"one")
        del t[b"a"]
        self.assertNotIn(b"a", t)
        with self.assertRaises(KeyError):
            t[b"a"]
        with self.assertRaises(shmap.NotFoundError) as cm:
            del t[b"a"]
        self.assertEqual(cm.exception.code, shmap.errors.E_NOTFOUND)
        self.assertEqual(len(t), 1)

    def test_iteration_every_value(self):
        t = self.table(capacity=256, value_max=200)
        want = {key(i): value(i, 200) for i in range(150)}
        for k, v in want.items():
            t[k] = v
        self.assertEqual(len(t), 150)
        self.assertEqual(sorted(t), sorted(want))
        self.assertEqual(dict(t.items()), want)
        self.assertEqual(sorted(t.keys()), sorted(want))
        self.assertEqual(sorted(t.values()), sorted(want.values()))
        for k, v in want.items():
            self.assertEqual(t[k], v)
        c = t.cursor()
        first = [kv for kv in c]
        c.reset()
        self.assertEqual(first, list(c))
        c.close()
        live, tomb, probe = t.stats()
        self.assertEqual(live, 150)
        self.assertGreaterEqual(probe, 1)

    def test_large_values_grow_buffers(self):
        t = self.table(capacity=16, key_max=600, value_max=5000)
        big_k, big_v = b"k" * 600, bytes(range(256)) * 19 + b"x" * 136
        t[big_k] = big_v
        self.assertEqual(t[big_k], big_v)
        self.assertEqual(dict(t.items()), {big_k: big_v})

    def test_insert_replace_cas_modify(self):
        t = self.table()
        t.insert(b"k", b"v1")
        with self.assertRaises(shmap.ExistsError):
            t.insert(b"k", b"v2")
        with self.assertRaises(shmap.NotFoundError):
            t.replace(b"nope", b"v")
        t.replace(b"k", b"v2")
        self.assertFalse(t.cas(b"k", b"v1", b"v3"))
        self.assertTrue(t.cas(b"k", b"v2", b"v3"))
        self.assertEqual(t[b"k"], b"v3")
        t.modify(b"n", lambda cur: b"1" if cur is None else b"%d" % (int(cur) + 1))
        t.modify(b"n", lambda cur: b"%d" % (int(cur) + 1))
        self.assertEqual(t[b"n"], b"2")

        def abort(cur):
            raise shmap.Abort()
        with self.assertRaises(shmap.AbortedError):
            t.modify(b"n", abort)
        with self.assertRaises(ZeroDivisionError):
            t.modify(b"n", lambda cur: 1 // 0)
        self.assertEqual(t[b"n"], b"2")
        t.modify(b"n", lambda cur: None)
        self.assertNotIn(b"n", t)

    def test_get_many(self):
        t = self.table(capacity=512, key_max=16, value_max=200)
        for i in range(0, 300, 2):  # even keys present, odd keys absent
            t[key(i)] = value(i, 200)
        present = [key(i) for i in range(0, 300, 2)]
        absent = [key(i) for i in range(1, 300, 2)]
        mixed = [key(i) for i in range(300)] + [key(4), "key-6", bytearray(b"key-7")]
        for keys in (present, absent, mixed):
            got = t.get_many(keys)
            self.assertEqual(got, [t.get(k) for k in keys])
        self.assertEqual(t.get_many(present), [value(i, 200) for i in range(0, 300, 2)])
        self.assertEqual(t.get_many(absent), [None] * len(absent))
        self.assertEqual(t.get_many(iter([key(0), key(1)])), [value(0, 200), None])
        self.assertEqual(t.get_many([]), [])
        with self.assertRaises(shmap.TooBigError) as cm:
            t.get_many([key(0), b"k" * (t.key_max + 1), key(1)])
        self.assertEqual(cm.exception.code, shmap.errors.E_TOOBIG)
        with self.assertRaises(shmap.TooBigError):   # the same as a single get
            t[b"k" * (t.key_max + 1)]
        self.assertEqual(t.get_many([b"k" * t.key_max]), [None])  # key_max itself is fine
        with self.assertRaises(shmap.InvalidArgumentError):
            t.get_many([key(0), b""])
        with self.assertRaises(TypeError):
            t.get_many([key(0), 3])
        t.close()
        with self.assertRaises(ValueError):
            t.get_many([])

    def test_get_many_large_batch(self):
        # More than one C call: 1 MiB of value buffer holds 209 values of 5000.
        t = self.table(capacity=2048, key_max=600, value_max=5000)
        for i in range(0, 1000, 3):
            t[key(i)] = value(i, 5000)
        t[b"k" * 600] = b"long key"
        keys = [key(i) for i in range(1000)] + [b"k" * 600]
        got = t.get_many(keys)
        self.assertEqual(got, [t.get(k) for k in keys])
        self.assertEqual(sum(v is not None for v in got), 335)
        self.assertEqual(got[-1], b"long key")

    def test_cas_erase(self):
        t = self.table()
        t[b"k"] = b"v1"
        self.assertFalse(t.cas_erase(b"k", b"other"))   # value differs: kept
        self.assertEqual(t[b"k"], b"v1")
        self.assertFalse(t.cas_erase(b"k", b"v"))       # a prefix is not equal
        self.assertFalse(t.cas_erase(b"k", b"v1x"))
        self.assertTrue(t.cas_erase("k", "v1"))         # str is encoded as UTF-8
        self.assertNotIn(b"k", t)
        self.assertEqual(len(t), 0)
        with self.assertRaises(shmap.NotFoundError):
            t.cas_erase(b"k", b"v1")
        with self.assertRaises(KeyError):               # NotFoundError is a KeyError
            t.cas_erase(b"missing", b"v")
        with self.assertRaises(shmap.InvalidArgumentError):
            t.cas_erase(b"k", b"")
        with self.assertRaises(shmap.TooBigError):
            t.cas_erase(b"k", b"x" * (t.value_max + 1))

    def test_cas_erase_threads_exactly_one_wins(self):
        t = self.table(capacity=256)
        rounds, nthreads = 200, 4
        wins = [0] * nthreads
        barrier = threading.Barrier(nthreads)

        def worker(w):
            for r in range(rounds):
                barrier.wait()
                if w == 0:
                    t[b"r%d" % r] = b"v%d" % r
                barrier.wait()
                try:
                    if t.cas_erase(b"r%d" % r, b"v%d" % r):
                        wins[w] += 1
                except shmap.NotFoundError:
                    pass
        ths = [threading.Thread(target=worker, args=(w,)) for w in range(nthreads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        self.assertEqual(sum(wins), rounds)
        self.assertEqual(len(t), 0)

    def test_limits(self):
        t = self.table(capacity=16, key_max=8, value_max=8)
        self.assertGreaterEqual(t.capacity, 16)
        self.assertEqual((t.key_max, t.value_max), (8, 8))
        with self.assertRaises(shmap.TooBigError):
            t[b"k" * 9] = b"v"
        with self.assertRaises(shmap.TooBigError):
            t[b"k"] = b"v" * 9
        with self.assertRaises(shmap.InvalidArgumentError):
            t[b""] = b"v"
        with self.assertRaises(TypeError):
            t[3] = b"v"
        n = 0
        with self.assertRaises(shmap.FullError):
            for n in range(t.capacity + 1):
                t[b"%d" % n] = b"v"
        self.assertEqual(len(t), t.capacity)
        t.clear()
        self.assertEqual(len(t), 0)
        self.assertEqual(t.check(), 0)

    def test_open_existing_and_errors(self):
        n = self.name("tab")
        with shmap.Table.create(n, 32, 16, 16) as t:
            t[b"x"] = b"y"
            with shmap.Table.open(n) as t2:  # 0 parameters: accept the stored ones
                self.assertEqual(t2[b"x"], b"y")
                self.assertEqual(t2.value_max, 16)
            with self.assertRaises(shmap.ExistsError):
                shmap.Table.create(n, 32, 16, 16)
            with self.assertRaises(shmap.IncompatibleError):
                shmap.Table(n, 32, 16, 17, flags=shmap.OPEN)
            with self.assertRaises(shmap.IncompatibleError):
                shmap.Vector(n, flags="open")
            info = shmap.info(n)
            self.assertEqual(info["kind_name"], "htable")
            self.assertEqual(info["value_max"], 16)
            self.assertTrue(any(p["alive"] for p in info["participants"]))
        self.assertTrue(t.closed)
        with self.assertRaises(ValueError):
            t[b"x"]
        t.close()  # idempotent
        with self.assertRaises(shmap.NoSegmentError):
            shmap.Table.open(self.name("missing"))

    def test_threads_share_a_handle(self):
        t = self.table(capacity=4096, value_max=100)
        errs = []

        def work(base):
            try:
                for i in range(base, base + 300):
                    t[key(i)] = value(i, 100)
                    self.assertEqual(t[key(i)], value(i, 100))
            except Exception as e:  # pragma: no cover
                errs.append(e)
        ths = [threading.Thread(target=work, args=(b * 1000,)) for b in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        self.assertEqual(errs, [])
        self.assertEqual(len(t), 1200)

    def test_finalizer_closes(self):
        # The handle is closed (the process detaches) when the object dies.
        n = self.name("tab")
        t = shmap.Table(n, 16, 8, 8, flags=shmap.CREATE)
        self.assertEqual(shmap.info(n)["attached"], 1)
        del t
        import gc
        gc.collect()
        self.assertEqual(shmap.info(n)["attached"], 0)

if __name__ == "__main__":
    unittest.main()
