# SPDX-License-Identifier: MIT
"""Opening and waiting for the creator (OPEN_WAIT), the update result KEEP,
and clear() on rings (a consumer-side drain) and vectors (refused)."""
import os
import pickle
import sys
import threading
import time
import unittest

import shmap
from tests.common import SegmentTest


def _fork(fn):
    """Run fn() in a forked child; returns (pid, read end of a pipe the child
    writes one line to before calling fn). The child exits 0 if fn returned
    something other than False, else 1."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.write(w, b"started\n")
            code = 0 if fn() is not False else 1
        except BaseException as e:  # report, never return into unittest
            print("child:", repr(e), file=sys.stderr)
        os._exit(code)
    os.close(w)
    return pid, r


def _wait_child(pid, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "killed after %.0f s" % timeout
        time.sleep(0.01)


class TestOpenWait(SegmentTest):
    def test_flag_values(self):
        self.assertEqual(shmap.OPEN_WAIT, 4)  # SHMAP_OPEN_WAIT, compiled from segment.h
        from shmap._base import oflags
        self.assertEqual(oflags("open_wait"), shmap.OPEN | shmap.OPEN_WAIT)

    def _opener_before_creator(self, open_in_child, create_in_parent):
        """A child opens with OPEN_WAIT before the parent creates the segment;
        the child must see what the creator wrote."""
        pid, r = _fork(open_in_child)
        with os.fdopen(r, "rb") as f:
            self.assertEqual(f.readline(), b"started\n")
        time.sleep(0.3)  # the child is (very likely) waiting in the open by now
        with create_in_parent():
            self.assertEqual(_wait_child(pid), 0)

    def test_table_opener_started_before_creator(self):
        n = self.name("wtab")

        def child():
            t0 = time.monotonic()
            with shmap.Table.open(n, wait=15) as t:
                waited = time.monotonic() - t0
                deadline = time.monotonic() + 10
                while b"k" not in t:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.005)
                # woken by the creation, well before its 15 s bound
                return t[b"k"] == b"from-creator" and waited < 10

        class create:
            def __enter__(self_):
                self_.t = shmap.Table.create(n, 64, 16, 32)
                self_.t[b"k"] = b"from-creator"

            def __exit__(self_, *a):
                self_.t.close()

        self._opener_before_creator(child, create)

    def test_ring_consumer_started_before_producer(self):
        n = self.name("wring")

        def child():
            with shmap.Ring(n, "consumer", flags="open_wait",
                            timeout_ms=15000) as c:
                return [c.pop(timeout=10) for _ in range(3)] == [b"a" * 8, b"b" * 8, b"c" * 8]

        class create:
            def __enter__(self_):
                self_.p = shmap.Ring.producer(n, type="spsc", elem_size=8, capacity=16,
                                              flags="create")
                for x in (b"a", b"b", b"c"):
                    self_.p.push(x * 8, timeout=10)

            def __exit__(self_, *a):
                self_.p.close()

        self._opener_before_creator(child, create)

    def test_vector_opener_started_before_creator(self):
        n = self.name("wvec")

        def child():
            with shmap.Vector.open(n, wait=True, timeout_ms=15000) as v:
                deadline = time.monotonic() + 10
                while len(v) < 1:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.005)
                return v[0] == b"v0".ljust(16, b"\0")

        class create:
            def __enter__(self_):
                self_.v = shmap.Vector.create(n, 16, 32)
                self_.v.push(b"v0")

            def __exit__(self_, *a):
                self_.v.close()

        self._opener_before_creator(child, create)

    def test_timeout_when_never_created(self):
        n = self.name("never")
        for opener in (lambda: shmap.Table.open(n, wait=0.25),
                       lambda: shmap.Ring.consumer(n, wait=0.25),
                       lambda: shmap.Vector(n, flags=shmap.OPEN | shmap.OPEN_WAIT,
                                            timeout_ms=250)):
            t0 = time.monotonic()
            with self.assertRaises(shmap.TimeoutError) as cm:
                opener()
            took = time.monotonic() - t0
            self.assertIsInstance(cm.exception, TimeoutError)  # the built-in one too
            self.assertEqual(cm.exception.code, shmap.E_TIMEOUT)
            self.assertGreaterEqual(took, 0.2)
            self.assertLess(took, 5.0)
        # without the flag: at once, and a different error
        with self.assertRaises(shmap.NoSegmentError):
            shmap.Table.open(n)

    def test_timeout_in_another_process(self):
        n = self.name("never2")

        def child():
            try:
                shmap.Table(n, flags="open_wait", timeout_ms=200)
            except shmap.TimeoutError:
                return True
            return False

        pid, r = _fork(child)
        with os.fdopen(r, "rb") as f:
            f.readline()
        self.assertEqual(_wait_child(pid), 0)

    def test_wait_with_create_is_invalid(self):
        n = self.name("inval")
        with self.assertRaises(shmap.InvalidArgumentError):
            shmap.Table(n, 16, 8, 8, flags=shmap.CREATE | shmap.OPEN_WAIT)
        with self.assertRaises(shmap.InvalidArgumentError):
            shmap.Table(n, 16, 8, 8, flags=shmap.OPEN_WAIT)
        with self.assertRaises(TypeError):
            shmap.Table.open(n, wait=1, flags=shmap.OPEN)
        with self.assertRaises(TypeError):
            shmap.Table.open(n, wait=1, timeout_ms=5)
        with self.assertRaises(ValueError):
            shmap.Table.open(n, wait=-1)

    def test_wait_seconds_override_options(self):
        n = self.name("opts")
        opts = shmap.Options(timeout_ms=60000)
        t0 = time.monotonic()
        with self.assertRaises(shmap.TimeoutError):
            shmap.Table.open(n, wait=0.1, options=opts)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(opts.timeout_ms, 60000)  # the caller's object is not changed

    def test_gil_released_while_waiting(self):
        # The creator is a thread of this process: if the opener held the GIL
        # while it waits, the thread could not run and the open would time out.
        n = self.name("gil")
        made = []

        def creator():
            time.sleep(0.2)
            t = shmap.Table.create(n, 16, 8, 8)
            t[b"k"] = b"v"
            made.append(t)

        th = threading.Thread(target=creator)
        th.start()
        try:
            with shmap.Table.open(n, wait=10) as t:
                th.join()
                self.assertEqual(t[b"k"], b"v")
        finally:
            th.join()
            for t in made:
                t.close()


class TestKeep(SegmentTest):
    def test_keep_existing_key_writes_nothing(self):
        with shmap.Table.create(self.name("keep"), 64, 16, 32) as t:
            t[b"k"] = b"old"
            seen = []

            def fn(cur):
                seen.append(cur)
                return shmap.KEEP

            self.assertEqual(t.modify(b"k", fn), 0)
            self.assertEqual(seen, [b"old"])
            self.assertEqual(t[b"k"], b"old")
            self.assertEqual(len(t), 1)

    def test_keep_missing_key_is_not_found(self):
        with shmap.Table.create(self.name("keep"), 64, 16, 32) as t:
            with self.assertRaises(shmap.NotFoundError) as cm:
                t.modify(b"absent", lambda cur: shmap.KEEP)
            self.assertIsInstance(cm.exception, KeyError)
            self.assertNotIn(b"absent", t)
            self.assertEqual(len(t), 0)

    def test_update_if_exists(self):
        with shmap.Table.create(self.name("keep"), 64, 16, 32) as t:
            t[b"n"] = b"1"

            def incr(cur):
                return shmap.KEEP if cur is None else b"%d" % (int(cur) + 1)

            t.modify(b"n", incr)
            t.modify(b"n", incr)
            self.assertEqual(t[b"n"], b"3")
            with self.assertRaises(KeyError):
                t.modify(b"m", incr)
            self.assertNotIn(b"m", t)

    def test_keep_differs_from_abort_and_erase(self):
        with shmap.Table.create(self.name("keep"), 64, 16, 32) as t:
            t[b"k"] = b"v"

            def abort(cur):
                raise shmap.Abort

            with self.assertRaises(shmap.AbortedError):
                t.modify(b"k", abort)
            self.assertEqual(t.modify(b"k", lambda cur: shmap.KEEP), 0)
            self.assertEqual(t[b"k"], b"v")
            t.modify(b"k", lambda cur: None)
            self.assertNotIn(b"k", t)

    def test_keep_is_a_singleton(self):
        self.assertIs(pickle.loads(pickle.dumps(shmap.KEEP)), shmap.KEEP)
        self.assertEqual(repr(shmap.KEEP), "shmap.KEEP")


class TestRingClear(SegmentTest):
    def test_spsc_consumer_drains(self):
        n = self.name("clr")
        with shmap.Ring.producer(n, type="spsc", elem_size=8, capacity=16) as p, \
                shmap.Ring.consumer(n) as c:
            self.assertEqual(c.clear(), 0)  # empty: nothing to discard
            for i in range(5):
                p.push(b"%d" % i)
            self.assertEqual(c.clear(), 5)
            self.assertEqual(len(c), 0)
            with self.assertRaises(shmap.EmptyError):
                c.pop()
            p.push(b"after")  # the ring goes on
            self.assertEqual(c.pop(), b"after".ljust(8, b"\0"))
            st = c.stats()
            self.assertEqual(st["head"], st["tail"])

    def test_producer_and_observer_refused(self):
        n = self.name("clr")
        with shmap.Ring.producer(n, type="spsc", elem_size=8, capacity=16) as p, \
                shmap.Ring.observer(n) as o, shmap.Ring.consumer(n) as c:
            p.push(b"x")
            for h in (p, o):
                with self.assertRaises(shmap.NotAttachedError) as cm:
                    h.clear()
                self.assertEqual(cm.exception.discarded, 0)
            self.assertEqual(c.pop(), b"x".ljust(8, b"\0"))  # nothing was discarded

    def test_busy_while_peek_outstanding(self):
        n = self.name("clr")
        with shmap.Ring.producer(n, type="spsc", elem_size=8, capacity=16) as p, \
                shmap.Ring.consumer(n) as c:
            p.push_many([b"a", b"b", b"c"])
            view = c.peek(1)
            self.assertEqual(len(view), 8)
            with self.assertRaises(shmap.BusyError) as cm:
                c.clear()
            self.assertEqual(cm.exception.discarded, 0)
            view.release()
            c.release(1)
            self.assertEqual(c.clear(), 2)

    def test_broadcast_clears_one_subscriber_only(self):
        n = self.name("clr")
        with shmap.Ring.producer(n, type="bcast_reliable", elem_size=8, capacity=16,
                                 max_consumers=4) as p, \
                shmap.Ring.consumer(n) as a, shmap.Ring.consumer(n) as b:
            for i in range(4):
                p.push(b"%d" % i)
            self.assertEqual(a.clear(), 4)
            with self.assertRaises(shmap.EmptyError):
                a.pop()
            self.assertEqual([x.rstrip(b"\0") for x in b.pop_many(10)], [b"0", b"1", b"2", b"3"])

    def test_spmc_discards_unclaimed(self):
        n = self.name("clr")
        with shmap.Ring.producer(n, type="spmc", elem_size=8, capacity=16,
                                 max_consumers=4) as p, \
                shmap.Ring.consumer(n) as a, shmap.Ring.consumer(n) as b:
            for i in range(6):
                p.push(b"%d" % i)
            self.assertEqual(a.pop(), b"0".ljust(8, b"\0"))
            self.assertEqual(b.clear(), 5)
            with self.assertRaises(shmap.EmptyError):
                a.pop()

    def test_closed(self):
        n = self.name("clr")
        c = shmap.Ring.consumer(n, type="spsc", elem_size=8, capacity=16)
        c.close()
        with self.assertRaises(ValueError):
            c.clear()


class TestVectorClear(SegmentTest):
    def test_refused_and_nothing_changes(self):
        with shmap.Vector.create(self.name("vclr"), 8, 16) as v:
            v.push(b"a")
            v.push(b"b")
            with self.assertRaises(shmap.NotSupportedError) as cm:
                v.clear()
            self.assertEqual(cm.exception.code, shmap.E_NOTSUP)
            self.assertEqual(len(v), 2)
            self.assertEqual(v[1], b"b".ljust(8, b"\0"))
        with self.assertRaises(ValueError):
            v.clear()


if __name__ == "__main__":
    unittest.main()
