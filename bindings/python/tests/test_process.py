# SPDX-License-Identifier: MIT
"""Library loading, fork + reattach, and the memfd backend (fd inheritance)."""
import os
import subprocess
import sys
import unittest

import shmap
from tests.common import SegmentTest, elem, key, value

HERE = os.path.dirname(os.path.abspath(__file__))


def _child(fn):
    """Run fn() in a forked child; return its exit status (0 = passed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if fn() is not False else 1
        except BaseException as e:  # report, never return into unittest
            print("child:", repr(e), file=sys.stderr)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class TestLoading(unittest.TestCase):
    def run_py(self, code, **env):
        e = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."), **env)
        return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                              text=True, timeout=60)

    def test_explicit_path_is_used_or_fails(self):
        r = self.run_py("import shmap; print(shmap.lib_path)")
        self.assertEqual(r.returncode, 0, r.stderr)
        if os.environ.get("SHMAP_LIBRARY"):
            self.assertEqual(r.stdout.strip(), os.environ["SHMAP_LIBRARY"])
        r = self.run_py("import shmap", SHMAP_LIBRARY="/nonexistent/libshmap.so.1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nonexistent", r.stderr)

    def test_no_multiprocessing_shared_memory(self):
        import shmap as pkg
        src = ""
        for fn in os.listdir(os.path.dirname(pkg.__file__)):
            if fn.endswith(".py"):
                with open(os.path.join(os.path.dirname(pkg.__file__), fn)) as f:
                    src += f.read()
        self.assertNotIn("multiprocessing", src)


class TestFork(SegmentTest):
    def test_child_reattaches_table(self):
        with shmap.Table.create(self.name("fork"), 256, 16, 100) as t:
            t[b"parent"] = b"1"

            def child():
                try:
                    t[b"x"] = b"y"
                    return False  # must have raised ForkedError
                except shmap.ForkedError:
                    pass
                t.reattach()
                for i in range(100):
                    t[key(i)] = value(i, 100)
                return t[b"parent"] == b"1"
            self.assertEqual(_child(child), 0)
            for i in range(100):
                self.assertEqual(t[key(i)], value(i, 100))
            self.assertNotIn(b"x", t)

    def test_dead_participant_is_reaped(self):
        n = self.name("reap")
        with shmap.Table.create(n, 16, 8, 8) as t:
            def child():
                t2 = shmap.Table.open(n)  # attached, then the process dies
                t2[b"k"] = b"v"
                os._exit(0)  # no close, no finalizer
            self.assertEqual(_child(child), 0)
            self.assertEqual(t[b"k"], b"v")
            dead = [p for p in shmap.info(n)["participants"] if not p["alive"]]
            self.assertGreaterEqual(len(dead), 1)
            self.assertEqual(shmap.reap(n), len(dead))
            parts = shmap.info(n)["participants"]
            self.assertTrue(parts and all(p["alive"] for p in parts))
            self.assertEqual(shmap.reap(n), 0)

    def test_killed_producer_role_is_taken_over(self):
        n = self.name("kill")
        with shmap.Ring.consumer(n, type=shmap.SPSC, elem_size=16, capacity=64,
                                 flags="create") as c:
            pid = os.fork()
            if pid == 0:
                try:
                    p = shmap.Ring.producer(n)
                    for i in range(10):
                        p.push(elem(i, 16))
                finally:
                    os.kill(os.getpid(), 9)  # die holding the producer role
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.WTERMSIG(status), 9)
            with shmap.Ring.producer(n) as p:
                self.assertEqual(p.open_status, shmap.RECOVERED)
                for i in range(10, 20):
                    p.push(elem(i, 16))
            self.assertEqual(list(c), [elem(i, 16) for i in range(20)])

    def test_memfd_shared_by_fd(self):
        with shmap.Table(None, 64, 16, 16, flags=shmap.CREATE,
                         backend=shmap.BACKEND_MEMFD) as t:
            fd = t.fileno()
            self.assertGreaterEqual(fd, 0)
            t[b"from"] = b"parent"

            def child():
                with shmap.Table(None, flags=shmap.OPEN, backend=shmap.BACKEND_MEMFD,
                                 fd=fd) as t2:
                    t2[b"from-child"] = t2[b"from"] + b"!"
                return True
            self.assertEqual(_child(child), 0)
            self.assertEqual(t[b"from-child"], b"parent!")

    def test_ring_between_processes(self):
        n = self.name("fring")
        with shmap.Ring.producer(n, type=shmap.SPSC, elem_size=16, capacity=8,
                                 flags="create") as p:
            def child():
                with shmap.Ring.consumer(n, flags="open") as c:
                    return all(c.pop(timeout=20) == elem(i, 16) for i in range(500))
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = 0 if child() else 1
                finally:
                    os._exit(code)
            for i in range(500):
                p.push(elem(i, 16), timeout=20)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)


if __name__ == "__main__":
    unittest.main()
