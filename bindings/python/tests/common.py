# SPDX-License-Identifier: MIT
"""Shared helpers of the Python binding tests: names, the data pattern shared
with the C peer and the other languages, and locating the C peer program."""
import itertools
import os
import shutil
import subprocess
import tempfile
import unittest

import shmap

_counter = itertools.count()


def name(tag):
    return f"/shmap-py-{tag}-{os.getpid()}-{next(_counter)}"


def key(i):
    return b"key-%d" % i


def value(i, vmax):
    n = 1 + (i * 7919) % vmax
    return bytes((i * 131 + j * 17 + 7) & 0xFF for j in range(n))


def elem(i, es):
    head = (i & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")[:es]
    return head + bytes((i + j * 29 + 3) & 0xFF for j in range(8, es))


class SegmentTest(unittest.TestCase):
    """Gives each test fresh names and unlinks them afterwards."""

    def setUp(self):
        self._names = []

    def name(self, tag="t"):
        n = name(tag)
        self._names.append(n)
        return n

    def tearDown(self):
        for n in self._names:
            try:
                shmap.unlink(n)
            except shmap.NoSegmentError:
                pass


_peer = None


def peer():
    """Path of the C peer program: $SHMAP_PEER, or compiled here with cc and
    pkg-config (skip the test if that is impossible)."""
    global _peer
    if _peer:
        return _peer
    env = os.environ.get("SHMAP_PEER")
    if env:
        _peer = env
        return env
    src = os.path.join(os.path.dirname(__file__), "..", "..", "c", "shmap_peer.c")
    cc = shutil.which("cc")
    if not cc or not shutil.which("pkg-config") or not os.path.exists(src):
        raise unittest.SkipTest("no SHMAP_PEER and no cc/pkg-config to build it")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "shmap"], capture_output=True,
                           text=True)
    if flags.returncode:
        raise unittest.SkipTest("pkg-config does not know shmap: " + flags.stderr.strip())
    out = os.path.join(tempfile.mkdtemp(prefix="shmap-peer-"), "shmap_peer")
    rpath = [f"-Wl,-rpath,{f[2:]}" for f in flags.stdout.split() if f.startswith("-L")]
    subprocess.run([cc, "-std=gnu11", "-O1", src, "-o", out] + flags.stdout.split() + rpath,
                   check=True)
    _peer = out
    return out


def run_peer(*args, timeout=60):
    r = subprocess.run([peer()] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stderr


def start_peer(*args):
    return subprocess.Popen([peer()] + [str(a) for a in args], stderr=subprocess.PIPE,
                            text=True)
