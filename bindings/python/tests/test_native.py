# SPDX-License-Identifier: MIT
"""What the C extension adds: the buffer protocol for keys, values and
elements, the *_into calls that fill a caller's buffer, batch calls, and
blocking calls that release the GIL."""
import array
import mmap
import threading
import time
import unittest

import shmap
from shmap import _shmap
from tests.common import SegmentTest, elem, key, value


class TestBufferProtocol(SegmentTest):
    def table(self, capacity=64, key_max=32, value_max=64):
        t = shmap.Table(self.name("buf"), capacity, key_max, value_max, flags=shmap.CREATE)
        self.addCleanup(t.close)
        return t

    def test_extension_is_used(self):
        self.assertTrue(issubclass(shmap.Table, _shmap.Table))
        self.assertTrue(issubclass(shmap.Ring, _shmap.Ring))
        self.assertTrue(issubclass(shmap.Vector, _shmap.Vector))
        self.assertTrue(_shmap.__file__.endswith(".so"))
        self.assertIn("libshmap", shmap.lib_path)

    def test_table_keys_and_values(self):
        t = self.table()
        m = mmap.mmap(-1, 16)
        m[:5] = b"mmapk"
        kinds = [b"key", bytearray(b"key"), memoryview(b"key"), memoryview(b"xkeyx")[1:4],
                 array.array("B", b"key"), "key"]
        for i, k in enumerate(kinds):
            v = [b"v%d" % i, bytearray(b"v%d" % i), memoryview(b"v%d" % i),
                 array.array("b", b"v%d" % i), "v%d" % i][i % 5]
            t[k] = v
            self.assertEqual(t[b"key"], b"v%d" % i, type(k))
            self.assertEqual(t[k], b"v%d" % i)
            self.assertIs(type(t[k]), bytes)
            self.assertIn(k, t)
        self.assertEqual(len(t), 1)
        t[memoryview(m)[:5]] = memoryview(m)[:5]
        self.assertEqual(t[b"mmapk"], b"mmapk")
        wide = array.array("I", [1, 2])  # the raw bytes of any buffer, whatever its format
        t[wide] = wide
        self.assertEqual(t[wide.tobytes()], wide.tobytes())
        self.assertTrue(t.insert(bytearray(b"ins"), memoryview(b"1")) == 0)
        self.assertTrue(t.cas(memoryview(b"ins"), bytearray(b"1"), array.array("B", b"2")))
        self.assertEqual(t.get(bytearray(b"ins")), b"2")
        self.assertTrue(t.cas_erase(bytearray(b"ins"), memoryview(b"2")))
        t.modify(memoryview(b"mod"), lambda cur: bytearray(b"from a bytearray"))
        self.assertEqual(t[b"mod"], b"from a bytearray")
        del t[bytearray(b"mod")]
        self.assertNotIn(b"mod", t)
        self.assertEqual(t.get_many([memoryview(b"key"), bytearray(b"mmapk"), b"none"]),
                         [b"v5", b"mmapk", None])
        m.close()

    def test_rejected_objects(self):
        t = self.table()
        for bad in (3, 1.5, None, [b"k"], object()):
            with self.assertRaises(TypeError):
                t[bad] = b"v"
            with self.assertRaises(TypeError):
                t[b"k"] = bad
            with self.assertRaises(TypeError):
                t[bad]
            self.assertNotIn(bad, t)
        strided = memoryview(b"abcdef")[::2]  # not contiguous: no simple buffer
        with self.assertRaises(BufferError):
            t[strided] = b"v"
        self.assertEqual(len(t), 0)

    def test_get_into(self):
        t = self.table(value_max=64)
        t[b"k"] = b"0123456789"
        buf = bytearray(64)
        self.assertEqual(t.get_into(b"k", buf), 10)
        self.assertEqual(bytes(buf[:10]), b"0123456789")
        self.assertEqual(buf[10:], bytearray(54))
        self.assertIsNone(t.get_into(b"absent", buf))            # no exception on a miss
        view = memoryview(buf)[20:40]                            # fills a slice in place
        self.assertEqual(t.get_into(bytearray(b"k"), view), 10)
        self.assertEqual(bytes(buf[20:30]), b"0123456789")
        arr = array.array("B", bytes(16))
        self.assertEqual(t.get_into("k", arr), 10)
        self.assertEqual(arr.tobytes()[:10], b"0123456789")
        small = bytearray(4)
        with self.assertRaises(shmap.BufferSizeError) as cm:
            t.get_into(b"k", small)
        self.assertEqual(cm.exception.needed, 10)
        self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual(cm.exception.code, shmap.errors.E_BUFSIZE)
        with self.assertRaises(BufferError):                      # bytes is read-only
            t.get_into(b"k", b"x" * 64)
        with self.assertRaises(shmap.TooBigError):
            t.get_into(b"k" * 33, buf)
        t.close()
        with self.assertRaises(ValueError):
            t.get_into(b"k", buf)

    def test_ring_buffers_pop_into_and_batches(self):
        n = self.name("ring")
        p = shmap.Ring.producer(n, type=shmap.SPSC, elem_size=16, capacity=8, flags="create")
        self.addCleanup(p.close)
        c = shmap.Ring.consumer(n, flags="open")
        self.addCleanup(c.close)
        p.push(bytearray(elem(0, 16)))
        p.push(memoryview(elem(1, 16)))
        p.push(array.array("B", elem(2, 16)), timeout=1)
        p.push(memoryview(b"xxshort")[2:])                       # padded with zeros
        out = bytearray(20)
        self.assertEqual(c.pop_into(out), 16)
        self.assertEqual(bytes(out[:16]), elem(0, 16))
        self.assertEqual(bytes(out[16:]), bytes(4))              # past elem_size: untouched
        self.assertEqual(c.pop_into(memoryview(out)[4:], timeout=1), 16)
        self.assertEqual(bytes(out[4:20]), elem(1, 16))
        with self.assertRaises(ValueError):                       # smaller than an element
            c.pop_into(bytearray(15))
        self.assertEqual(c.pop(), elem(2, 16))                    # nothing was consumed
        self.assertEqual(c.pop(), b"short" + bytes(11))
        with self.assertRaises(shmap.EmptyError):
            c.pop_into(out)
        with self.assertRaises(shmap.TimeoutError):
            c.pop_into(out, timeout=0.02)
        with self.assertRaises(BufferError):
            c.pop_into(bytes(16))                                 # read-only
        with self.assertRaises(shmap.TooBigError):
            p.push(bytearray(17))
        with self.assertRaises(shmap.TooBigError):
            p.push_many([b"ok", bytearray(17)])
        self.assertEqual(len(c), 0)                               # all checked before pushing
        self.assertEqual(p.push_many([bytearray(elem(i, 16)) for i in range(3)] + ["s"]), 4)
        self.assertEqual(c.pop_many(10, timeout=1),
                         [elem(i, 16) for i in range(3)] + [b"s" + bytes(15)])
        self.assertEqual(p.push_many(iter([elem(7, 16)]), timeout=1), 1)
        self.assertEqual(c.pop_many(n=1), [elem(7, 16)])
        self.assertEqual(p.push_many([]), 0)

    def test_vector_buffers(self):
        v = shmap.Vector.create(self.name("vec"), 8, 16)
        self.addCleanup(v.close)
        self.assertEqual(v.push(bytearray(b"a")), 0)
        self.assertEqual(v.push(memoryview(b"bb")), 1)
        v[0] = array.array("B", b"zz")
        self.assertEqual(v[0], b"zz" + bytes(6))
        self.assertEqual(v[1], b"bb" + bytes(6))
        with self.assertRaises(shmap.TooBigError):
            v.extend([b"ok", bytearray(9)])
        self.assertEqual(v.reserved, 2)                           # nothing reserved


class TestGilRelease(SegmentTest):
    """While one thread waits in a blocking call, another runs Python."""

    def counter_during(self, blocking_call):
        """Run blocking_call() (a wait of 0.3 s) in this thread while a
        second thread counts its loops that fall in the middle of the wait
        (0.1 to 0.2 s after it began); returns that count (0 if the wait
        held the GIL)."""
        hits = [0]
        t0 = [None]
        stop = threading.Event()
        started = threading.Event()

        def spin():
            started.set()
            while not stop.is_set():
                b = t0[0]
                if b is not None and b + 0.1 < time.monotonic() < b + 0.2:
                    hits[0] += 1
        th = threading.Thread(target=spin)
        th.start()
        started.wait()
        try:
            t0[0] = time.monotonic()
            blocking_call()
        finally:
            stop.set()
            th.join()
        return hits[0]

    def test_pop_wait_lets_others_run(self):
        n = self.name("gil")
        with shmap.Ring.producer(n, type=shmap.SPSC, elem_size=8, capacity=4,
                                 flags="create") as p, shmap.Ring.consumer(n, flags="open") as c:
            def wait_pop():
                with self.assertRaises(shmap.TimeoutError):
                    c.pop(timeout=0.3)
            self.assertGreater(self.counter_during(wait_pop), 100)

            def wait_pop_into():
                with self.assertRaises(shmap.TimeoutError):
                    c.pop_into(bytearray(8), timeout=0.3)
            self.assertGreater(self.counter_during(wait_pop_into), 100)

            def wait_pop_many():
                with self.assertRaises(shmap.TimeoutError):
                    c.pop_many(2, timeout=0.3)
            self.assertGreater(self.counter_during(wait_pop_many), 100)

            for i in range(4):
                p.push(elem(i, 8))

            def wait_push():
                with self.assertRaises(shmap.TimeoutError):
                    p.push(b"full", timeout=0.3)
            self.assertGreater(self.counter_during(wait_push), 100)

            def wait_push_many():
                with self.assertRaises(shmap.TimeoutError):
                    p.push_many([b"a"], timeout=0.3)
            self.assertGreater(self.counter_during(wait_push_many), 100)

    def test_waiter_is_woken_by_a_thread_of_the_same_process(self):
        # Without the GIL released, the pushing thread could not run until
        # the pop timed out.
        n = self.name("gil")
        with shmap.Ring.producer(n, type=shmap.SPSC, elem_size=8, capacity=4,
                                 flags="create") as p, shmap.Ring.consumer(n, flags="open") as c:
            got = []
            entered = threading.Event()

            def consumer():
                entered.set()
                got.append(c.pop(timeout=10))
            th = threading.Thread(target=consumer)
            th.start()
            entered.wait()
            time.sleep(0.05)
            t0 = time.monotonic()
            p.push(b"wake")
            th.join(10)
            self.assertEqual(got, [b"wake" + bytes(4)])
            self.assertLess(time.monotonic() - t0, 5)

    def test_writer_waits_for_modify_without_the_gil(self):
        # A thread inside modify() holds the key's lock while its Python
        # callback runs (and may give the GIL away); a writer of the same key
        # in another thread must wait without holding the GIL, or the
        # callback could never finish and the writer would time out.
        t = shmap.Table(self.name("gil"), 64, 16, 16, flags=shmap.CREATE)
        self.addCleanup(t.close)
        t.set_timeout(3)
        t[b"k"] = b"0"
        in_cb = threading.Event()

        def slow(cur):
            in_cb.set()
            time.sleep(0.3)  # gives the GIL away with the key's lock held
            return b"modified"
        th = threading.Thread(target=lambda: t.modify(b"k", slow))
        th.start()
        in_cb.wait()
        t0 = time.monotonic()
        t[b"k"] = b"set"          # waits for the lock: the callback must run meanwhile
        waited = time.monotonic() - t0
        th.join()
        self.assertEqual(t[b"k"], b"set")
        self.assertGreater(waited, 0.1)
        self.assertLess(waited, 2.5)

    def test_close_refused_while_a_call_waits(self):
        # A writer waiting (without the GIL) for a key's lock keeps the
        # handle: close() from another thread raises instead of freeing it.
        t = shmap.Table(self.name("gil"), 64, 16, 16, flags=shmap.CREATE)
        self.addCleanup(t.close)
        t.set_timeout(5)
        in_cb, release, writing = threading.Event(), threading.Event(), threading.Event()

        def slow(cur):
            in_cb.set()
            release.wait(5)
            return b"m"
        th = threading.Thread(target=lambda: t.modify(b"k", slow))
        th.start()
        in_cb.wait()
        with self.assertRaises(RuntimeError):
            t.close()                         # modify() is inside the C call
        w = threading.Thread(target=lambda: (writing.set(), t.__setitem__(b"k", b"w")))
        w.start()
        writing.wait()
        time.sleep(0.05)
        release.set()
        th.join()
        w.join()
        self.assertEqual(t[b"k"], b"w")
        t.close()
        self.assertTrue(t.closed)

    def test_reader_never_waits(self):
        t = shmap.Table(self.name("gil"), 64, 16, 16, flags=shmap.CREATE)
        self.addCleanup(t.close)
        t[b"k"] = b"old"
        in_cb = threading.Event()
        release = threading.Event()

        def slow(cur):
            in_cb.set()
            release.wait(5)
            return b"new"
        th = threading.Thread(target=lambda: t.modify(b"k", slow))
        th.start()
        in_cb.wait()
        self.assertEqual(t[b"k"], b"old")   # a get does not wait for the lock
        self.assertEqual(t.get_many([b"k"]), [b"old"])
        release.set()
        th.join()
        self.assertEqual(t[b"k"], b"new")


class TestBatches(SegmentTest):
    def test_get_many_matches_single_gets(self):
        t = shmap.Table(self.name("many"), 1024, 16, 100, flags=shmap.CREATE)
        self.addCleanup(t.close)
        for i in range(0, 500, 2):
            t[key(i)] = value(i, 100)
        keys = [key(i) for i in range(500)]
        self.assertEqual(t.get_many(keys), [t.get(k) for k in keys])
        self.assertEqual(t.get_many(tuple(keys[:3])), [value(0, 100), None, value(2, 100)])
        self.assertEqual(t.get_many(k for k in keys[:2]), [value(0, 100), None])


if __name__ == "__main__":
    unittest.main()
