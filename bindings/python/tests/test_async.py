# SPDX-License-Identifier: MIT
"""Rings in event loops: Ring.fileno() (the ring end's pollable descriptor)
with selectors, and the asyncio coroutines pop_async()/push_async(), against
a peer in another, unrelated process (tests/ring_peer.py)."""
import asyncio
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
import unittest

import shmap
from tests.common import SegmentTest, elem

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "ring_peer.py")
EXAMPLE = os.path.join(HERE, "..", "examples", "asyncio_ring.py")


def readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


class PeerTest(SegmentTest):
    def setUp(self):
        super().setUp()
        self._procs = []

    def tearDown(self):
        for p in self._procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        super().tearDown()

    def peer(self, *args, **kw):
        p = subprocess.Popen([sys.executable, PEER] + [str(a) for a in args], **kw)
        self._procs.append(p)
        return p

    def peer_ok(self, p, timeout=60):
        self.assertEqual(p.wait(timeout), 0)


class TestDescriptor(SegmentTest):
    def test_contract(self):
        n = self.name("fd")
        with shmap.Ring.consumer(n, type="spsc", elem_size=8, capacity=4) as c, \
                shmap.Ring.producer(n) as p, shmap.Ring.observer(n) as o:
            fd = c.fileno()
            self.assertIsInstance(fd, int)
            self.assertEqual(c.fileno(), fd)  # the same descriptor on every call
            self.assertNotEqual(p.fileno(), fd)  # one per ring end
            self.assertEqual(c.segment_fd(), -1)  # POSIX shm: no memfd
            with self.assertRaises(shmap.NotAttachedError):
                o.fileno()
            self.assertTrue(readable(fd))  # a new descriptor starts readable
            with self.assertRaises(shmap.EmptyError):
                c.pop()
            c.notify_arm()
            self.assertFalse(readable(fd))
            p.push(b"x")
            deadline = time.monotonic() + 5
            while not readable(fd) and time.monotonic() < deadline:
                select.select([fd], [], [], 0.05)
            self.assertTrue(readable(fd))
            # The producer's end: readable while there is room.
            pfd = p.fileno()
            self.assertTrue(readable(pfd))
            p.push_many([b"a", b"b", b"c"])
            with self.assertRaises(shmap.FullError):
                p.push(b"d")
            p.notify_arm()
            self.assertFalse(readable(pfd))
        with self.assertRaises(ValueError):
            c.fileno()

    def test_segment_fd_of_a_memfd_ring(self):
        with shmap.Ring(None, "producer", type="spsc", elem_size=8, capacity=4,
                        flags=shmap.CREATE, backend=shmap.BACKEND_MEMFD) as p:
            mfd = p.segment_fd()
            self.assertGreaterEqual(mfd, 0)
            self.assertNotEqual(p.fileno(), mfd)
            with shmap.Ring(None, "consumer", flags=shmap.OPEN, backend=shmap.BACKEND_MEMFD,
                            fd=mfd) as c:
                p.push(b"m")

                async def main():
                    return await c.pop_async(timeout=10)

                self.assertEqual(asyncio.run(main()), b"m".ljust(8, b"\0"))

    def test_arm_before_fileno_is_invalid(self):
        n = self.name("fd")
        with shmap.Ring.consumer(n, type="spsc", elem_size=8, capacity=4) as c:
            with self.assertRaises(shmap.InvalidArgumentError):
                c.notify_arm()


class TestSelectors(PeerTest):
    def test_drain_arm_loop_with_a_socket(self):
        # One selector waits on the ring and on a socket; the producer, an
        # unrelated process, pushes in bursts with pauses, then writes the
        # socket. Every element arrives once, in order, with no busy loop.
        n = self.name("sel")
        count = 3000
        a, b = socket.socketpair()
        with a, b, shmap.Ring.consumer(n, type="spsc", elem_size=16, capacity=64,
                                        flags="create") as c:
            peer = self.peer("produce", n, count, 97, b.fileno(), pass_fds=[b.fileno()])
            b.close()
            sel = selectors.DefaultSelector()
            sel.register(c, selectors.EVENT_READ, "ring")
            sel.register(a, selectors.EVENT_READ, "sock")
            got, done, wakeups = 0, False, 0
            while got < count or not done:
                events = sel.select(timeout=20)
                self.assertTrue(events, f"no event in 20 s with {got}/{count} elements")
                for key, _ in events:
                    if key.data == "sock":
                        msg = a.recv(16)
                        if msg == b"":
                            sel.unregister(a)
                        else:
                            self.assertEqual(msg, b"done")
                            done = True
                        continue
                    wakeups += 1
                    while True:  # drain until EMPTY, then re-arm
                        try:
                            e = c.pop()
                        except shmap.EmptyError:
                            break
                        self.assertEqual(e, elem(got, 16))
                        got += 1
                    c.notify_arm()
            sel.close()
            self.peer_ok(peer)
            self.assertEqual(got, count)
            # each wake-up found work or was one of a few needless ones
            self.assertLessEqual(wakeups, count + 50)


class TestAsyncio(PeerTest):
    def test_asyncio_consumer_fed_by_another_process(self):
        n = self.name("aio")
        count = 3000

        async def main(c):
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.005)
                    ticks += 1

            t = asyncio.create_task(ticker())
            for i in range(count):
                e = await c.pop_async(timeout=20)
                self.assertEqual(e, elem(i, 24), f"element {i}")
            t.cancel()
            return ticks

        with shmap.Ring.consumer(n, type="spsc", elem_size=24, capacity=32,
                                 flags="create") as c:
            peer = self.peer("produce", n, count, 113)
            ticks = asyncio.run(main(c))
            self.peer_ok(peer)
        self.assertGreater(ticks, 0)  # the loop kept running while the consumer waited

    def test_push_async_into_another_process(self):
        n = self.name("aiop")
        count = 1000

        async def main(p):
            for i in range(count):
                await p.push_async(elem(i, 16), timeout=20)

        with shmap.Ring.producer(n, type="spsc", elem_size=16, capacity=8,
                                 flags="create") as p:
            peer = self.peer("consume", n, count, 61)
            asyncio.run(main(p))
            self.peer_ok(peer)

    def test_broadcast_subscribers_in_one_loop(self):
        # Two subscribers of a reliable broadcast ring awaited in one loop;
        # the producer is another process.
        n = self.name("aiob")
        count = 500

        async def sub(r):
            for i in range(count):
                self.assertEqual(await r.pop_async(timeout=20), elem(i, 16))

        async def main(a, b):
            await asyncio.gather(sub(a), sub(b))

        with shmap.Ring.consumer(n, type="bcast_reliable", elem_size=16, capacity=16,
                                 max_consumers=4, flags="create") as a, \
                shmap.Ring.consumer(n) as b:
            peer = self.peer("produce", n, count, 50)
            asyncio.run(main(a, b))
            self.peer_ok(peer)

    def test_producer_sigkilled_while_consumer_awaits(self):
        # C contract: the descriptor turns readable within one armed slice of
        # the waiter (100 ms) plus the kernel's release of the dead process's
        # lock; the next arm reports SHMAP_E_PEERDEAD once.
        n = self.name("aiok")
        with shmap.Ring.consumer(n, type="spsc", elem_size=16, capacity=8,
                                 flags="create") as c:
            peer = self.peer("hold", "producer", n, 3, stdout=subprocess.PIPE)
            self.assertEqual(peer.stdout.readline(), b"ready\n")

            async def main():
                for i in range(3):
                    self.assertEqual(await c.pop_async(timeout=10), elem(i, 16))
                waiter = asyncio.create_task(c.pop_async())  # no timeout
                await asyncio.sleep(0.3)
                self.assertFalse(waiter.done())
                killed = time.monotonic()
                os.kill(peer.pid, signal.SIGKILL)
                with self.assertRaises(shmap.PeerDeadError):
                    await asyncio.wait_for(waiter, 10)
                learnt = time.monotonic() - killed
                # told once: waiting again waits (for a replacement producer)
                with self.assertRaises(shmap.TimeoutError):
                    await c.pop_async(timeout=0.3)
                return learnt

            learnt = asyncio.run(main())
            peer.wait()
            # 100 ms slice + lock release; generous for a loaded machine
            self.assertLess(learnt, 3.0)
            # a replacement producer takes the role over and is heard
            with shmap.Ring.producer(n) as p:
                p.push(b"again")

                async def again():
                    return await c.pop_async(timeout=10)

                self.assertEqual(asyncio.run(again()), b"again".ljust(16, b"\0"))

    def test_consumer_sigkilled_while_producer_awaits(self):
        n = self.name("aiokc")
        with shmap.Ring.producer(n, type="spsc", elem_size=16, capacity=4,
                                 flags="create") as p:
            peer = self.peer("hold", "consumer", n, 0, stdout=subprocess.PIPE)
            self.assertEqual(peer.stdout.readline(), b"ready\n")
            for i in range(4):
                p.push(b"%d" % i)

            async def main():
                waiter = asyncio.create_task(p.push_async(b"more"))
                await asyncio.sleep(0.2)
                self.assertFalse(waiter.done())
                peer.send_signal(signal.SIGKILL)
                with self.assertRaises(shmap.PeerDeadError):
                    await asyncio.wait_for(waiter, 10)

            asyncio.run(main())

    def test_timeout_without_spinning(self):
        n = self.name("aiot")
        with shmap.Ring.consumer(n, type="spsc", elem_size=8, capacity=4) as c, \
                shmap.Ring.producer(n) as p:
            async def main():
                cpu = time.process_time()
                t0 = time.monotonic()
                with self.assertRaises(shmap.TimeoutError):
                    await c.pop_async(timeout=0.4)
                return time.monotonic() - t0, time.process_time() - cpu

            took, cpu = asyncio.run(main())
            self.assertGreaterEqual(took, 0.35)
            self.assertLess(cpu, 0.2)  # slept: the process (waiter thread included) used little CPU
            p.push_many([b"a", b"b", b"c", b"d"])

            async def full():
                with self.assertRaises(shmap.TimeoutError):
                    await p.push_async(b"e", timeout=0.1)
                with self.assertRaises(shmap.TimeoutError):
                    await p.push_async(b"e", timeout=0)
                return await c.pop_async(timeout=0)

            self.assertEqual(asyncio.run(full()), b"a".ljust(8, b"\0"))

    def test_several_coroutines_on_one_ring(self):
        n = self.name("aiom")
        with shmap.Ring.consumer(n, type="spsc", elem_size=8, capacity=16) as c, \
                shmap.Ring.producer(n) as p:
            async def main():
                waiters = [asyncio.create_task(c.pop_async(timeout=10)) for _ in range(3)]
                await asyncio.sleep(0.05)
                asyncio.get_running_loop().call_later(0.05, p.push_many, [b"1", b"2", b"3"])
                return sorted(x.rstrip(b"\0") for x in await asyncio.gather(*waiters))

            self.assertEqual(asyncio.run(main()), [b"1", b"2", b"3"])

    def test_both_ends_in_one_loop(self):
        # A producer and a consumer coroutine on a 4-slot ring: each waits
        # for the other in turn, through both descriptors.
        n = self.name("aio2")
        count = 2000
        with shmap.Ring.consumer(n, type="spsc", elem_size=16, capacity=4) as c, \
                shmap.Ring.producer(n) as p:
            async def produce():
                for i in range(count):
                    await p.push_async(elem(i, 16), timeout=20)

            async def consume():
                for i in range(count):
                    self.assertEqual(await c.pop_async(timeout=20), elem(i, 16))

            async def main():
                await asyncio.gather(produce(), consume())

            asyncio.run(main())

    def test_lossy_subscriber_overrun(self):
        # As pop(): a lapped subscriber gets OverrunError once, then goes on.
        n = self.name("aiol")
        with shmap.Ring.producer(n, type="bcast_lossy", elem_size=8, capacity=4,
                                 max_consumers=2) as p, shmap.Ring.consumer(n) as s:
            async def main():
                t = asyncio.create_task(s.pop_async(timeout=10))
                await asyncio.sleep(0.05)
                p.push(b"0")
                first = await t
                for i in range(1, 11):
                    p.push(b"%d" % i)
                with self.assertRaises(shmap.OverrunError):
                    await s.pop_async(timeout=10)
                return first, await s.pop_async(timeout=10)

            first, after = asyncio.run(main())
            self.assertEqual(first, b"0".ljust(8, b"\0"))
            self.assertGreater(s.missed, 0)
            self.assertIn(after.rstrip(b"\0"), [b"%d" % i for i in range(7, 11)])

    def test_cancel_and_close(self):
        n = self.name("aioc")
        c = shmap.Ring.consumer(n, type="spsc", elem_size=8, capacity=4)

        async def main():
            t = asyncio.create_task(c.pop_async())
            await asyncio.sleep(0.05)
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await t
            t = asyncio.create_task(c.pop_async())
            await asyncio.sleep(0.05)
            c.close()
            with self.assertRaises(ValueError):
                await t

        asyncio.run(main())


class TestExample(unittest.TestCase):
    def test_asyncio_example_runs(self):
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
        r = subprocess.run([sys.executable, EXAMPLE, "200"], env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("received 200", r.stdout)


if __name__ == "__main__":
    unittest.main()
