#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of shmapctl (TAP output).

Every test works on real segments: created by the tool or by the peer program
(test_shmapctl_peer), with real peers killed by SIGKILL, and with real files
corrupted in place. Every --json output is parsed and its values checked.

usage: test_shmapctl.py SHMAPCTL PEER [KINDS]
  KINDS: comma-separated structure kinds the build covers (vector,htable,ring)
"""
import json
import os
import select
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback

TOOL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SHMAPCTL", "shmapctl")
PEER = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SHMAPCTL_PEER", "test_shmapctl_peer")
KINDS = set(filter(None, (sys.argv[3] if len(sys.argv) > 3 else "vector").split(",")))

PREFIX = "shmapctl-t-%d-" % os.getpid()
# list scans only our own names: a scan attaches to every segment it lists
# (to read its fill), and other tests running at the same time count their
# segments' participants.
MINE = "/" + PREFIX + "*"
SHM = "/dev/shm"
_counter = [0]
_peers = []
_tmpdir = tempfile.mkdtemp(prefix="shmapctl-t-")

# Header offsets used only to corrupt files on purpose (tests, not the tool).
HDR_CAPACITY_OFF = 24
HDR_DATA_OFF_OFF = 80


class Fail(Exception):
    pass


def name(tag):
    _counter[0] += 1
    return "/%s%s-%d" % (PREFIX, tag, _counter[0])


def shm_path(n):
    return SHM + n


def check(cond, msg, *ctx):
    if not cond:
        raise Fail(msg + "".join("\n    " + str(c) for c in ctx))


def run(*args, rc=None, js=False, timeout=20):
    """Run the tool; check the exit code; parse JSON output when js."""
    p = subprocess.run([TOOL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode >= 0, "shmapctl %s died from signal %d" % (" ".join(args), -p.returncode), err)
    # Under ASan/UBSan a report may come with an expected exit code: look for it.
    check("Sanitizer" not in err and "runtime error:" not in err,
          "shmapctl %s: sanitizer report" % " ".join(args), err[-3000:])
    if rc is not None:
        ok = p.returncode in rc if isinstance(rc, (set, tuple, list)) else p.returncode == rc
        check(ok, "shmapctl %s: exit %d, expected %s" % (" ".join(args), p.returncode, rc),
              "stdout: " + out[-2000:], "stderr: " + err[-2000:])
    doc = None
    if js:
        try:
            doc = json.loads(out)
        except ValueError as e:
            raise Fail("shmapctl %s: invalid JSON (%s): %r" % (" ".join(args), e, out[:2000]))
    return p.returncode, out, err, doc


class Peer:
    """A test_shmapctl_peer process; wait_ready() waits for its 'ready' line."""

    def __init__(self, *args):
        self.p = subprocess.Popen([PEER] + list(args), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        _peers.append(self)
        self.pid = self.p.pid

    def wait_ready(self, timeout=10):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        check(r, "peer %d not ready after %ds" % (self.pid, timeout))
        line = self.p.stdout.readline().decode()
        check(line.startswith("ready"), "peer said %r" % line, self.p.stderr.read1(4096) if
              self.p.poll() is not None else "")
        return self

    def finish(self, timeout=20):
        rc = self.p.wait(timeout)
        err = self.p.stderr.read().decode()
        check(rc == 0, "peer exited %d" % rc, err)

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)


def peer_run(*args):
    Peer(*args).finish()


def corrupt(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def data_off(path):
    with open(path, "rb") as f:
        f.seek(HDR_DATA_OFF_OFF)
        return struct.unpack("<Q", f.read(8))[0]


def find_part(doc, pid):
    return [p for p in doc["participants"] if p["pid"] == pid]


# ---------------------------------------------------------------- tests ---

def t_cli():
    rc, out, _, _ = run("--help", rc=0)
    check("usage: shmapctl" in out and "Exit status" in out, "help text", out)
    rc, out, _, _ = run("--version", rc=0)
    check(out.startswith("shmapctl ") and "layout" in out, "version text", out)
    run(rc=2)
    run("frobnicate", rc=2)
    run("list", "--bogus", rc=2)
    run("info", rc=2)
    run("info", "a", "b", rc=2)
    run("dump", "/x", "--limit", "lots", rc=2)
    run("create", "vector", name("cli"), "8", rc=2)          # missing capacity
    run("create", "teapot", name("cli"), "8", "8", rc=2)     # unknown kind
    run("create", "vector", name("cli"), "0", "10", rc=2)    # invalid size
    run("info", "/", rc=2)                                   # invalid name
    n = name("missing")
    _, _, err, _ = run("info", n, rc=3)
    check("no such segment" in err, "missing message", err)
    _, _, _, d = run("info", n, "--json", rc=3, js=True)
    check(d["status"] == "SHMAP_E_NOENT" and d["error"]["name"] == "SHMAP_E_NOENT", "json error", d)
    run("check", n, rc=3)
    run("dump", n, rc=3)
    run("rm", n, rc=3)


def t_vector():
    n = name("vec")
    run("create", "vector", n, "16", "100", rc=0)
    run("create", "vector", n, "16", "100", rc=1)  # exists
    # Three published elements: two printable, one binary.
    peer_run("vector-push", n, "hello", "world!")
    peer_run("vector-push", n, "\x01\x02\x7f")
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)
    els = d["elements"]
    check(d["kind"] == "vector" and d["elem_size"] == 16 and d["count"] == 3 and len(els) == 3,
          "dump header", d)
    check(els[0]["state"] == "published" and els[0]["text"] == "hello" and
          els[0]["hex"] == "68656c6c6f" + "00" * 11 and els[0]["len"] == 16, "elem 0", els[0])
    check(els[1]["text"] == "world!", "elem 1", els[1])
    check(els[2]["text"] is None and els[2]["hex"].startswith("01027f"), "binary elem", els[2])
    _, out, _, _ = run("dump", n, rc=0)
    check('[0] "hello"' in out and "01 02 7f" in out and "|...." in out, "text dump", out)
    _, _, _, d = run("dump", n, "--json", "--limit", "2", rc=0, js=True)
    check(len(d["elements"]) == 2 and d["truncated"] is True, "limit", d)
    _, _, _, d = run("dump", n, "--json", "--bytes", "4", rc=0, js=True)
    check(d["elements"][0]["hex"] == "68656c6c" and d["elements"][0]["truncated"], "bytes", d)

    # A writer reserves 3 slots and is SIGKILLed before publishing.
    w = Peer("vector-reserve", n, "3").wait_ready()
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    check(d["kind"] == "vector" and d["params"] == {"capacity": 100, "elem_size": 16}, "params", d)
    me = find_part(d, w.pid)
    check(len(me) == 1 and me[0]["alive"] is True and d["attached"] == 1, "live writer", d)
    s = d["state"]
    check(s["size"] == 3 and s["reserved"] == 6 and s["published"] == 3 and s["pending"] == 3
          and s["holes"] == 0, "state with live writer", s)
    # A live owner: repair is refused, a plain check finds nothing wrong.
    _, _, _, d = run("check", n, "--repair", "--json", rc=4, js=True)
    check(d["status"] == "refused" and d["attached"] == 1, "repair refused", d)
    _, out, _, _ = run("check", n, "--repair", rc=4)
    check("refused" in out and str(w.pid) in out, "refusal text names the pid", out)
    _, _, _, d = run("check", n, "--json", rc=0, js=True)
    check(d["status"] == "ok" and d["problems"] == 0, "live reservation is not a problem", d)
    _, _, _, d = run("check", n, "--repair", "--force", "--json", rc=0, js=True)
    check(d["status"] == "ok" and d["problems"] == 0, "forced repair beside a live writer", d)
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)
    check([e["state"] for e in d["elements"]] == ["published"] * 3 + ["pending"] * 3, "pending", d)

    w.kill()
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    me = find_part(d, w.pid)
    check(len(me) == 1 and me[0]["alive"] is False and d["dead"] == 1 and d["attached"] == 0,
          "dead writer shown dead", d)
    check(d["state"]["pending"] == 3 and d["state"]["size"] == 3, "info does not repair", d)
    _, out, _, _ = run("info", n, rc=0)
    check("pid %-8d DEAD" % w.pid in out, "text info shows DEAD", out)
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)
    check([e["state"] for e in d["elements"]][3:] == ["pending"] * 3, "dump does not repair", d)
    _, _, _, d = run("check", n, "--json", rc=1, js=True)
    check(d["status"] == "problems" and d["problems"] >= 1 and d["repaired"] is False and
          d["result"]["name"] == "SHMAP_E_CORRUPT", "check finds the dead reservation", d)
    _, _, _, d = run("check", n, "--repair", "--json", rc=0, js=True)
    check(d["status"] == "repaired" and d["problems"] >= 1 and d["repaired"] is True, "repair", d)
    _, _, _, d = run("check", n, "--json", rc=0, js=True)
    check(d["status"] == "ok" and d["problems"] == 0, "clean after repair", d)
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    s = d["state"]
    check(s["size"] == 6 and s["holes"] == 3 and s["pending"] == 0 and s["published"] == 3, "holes", s)
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)
    check([e["state"] for e in d["elements"]] == ["published"] * 3 + ["hole"] * 3, "holes dump", d)

    # list shows it with kind, params, fill, creator.
    _, _, _, d = run("list", "--json", MINE, rc=0, js=True)
    rows = [r for r in d["segments"] if r["name"] == n]
    check(len(rows) == 1, "listed once", d)
    r = rows[0]
    check(r["status"] == "ok" and r["kind"] == "vector" and r["fill"] == {"used": 6, "capacity": 100}
          and r["creator_pid"] > 0 and r["mode"] == "0600" and r["total_size"] >= 100 * 16,
          "list row", r)
    _, out, _, _ = run("list", MINE, rc=0)
    check(n in out and "6/100" in out, "text list", out)
    run("rm", n, rc=0)
    check(not os.path.exists(shm_path(n)), "removed")


def t_htable():
    n = name("ht")
    run("create", "htable", n, "100", "16", "32", rc=0)
    peer_run("htable-put", n, "alpha", "one", "beta", "two", "gamma", "\x01\x02")
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)
    got = {e["key_text"]: (e["value_text"], e["value_hex"]) for e in d["entries"]}
    check(d["size"] == 3 and len(d["entries"]) == 3, "entries", d)
    check(got["alpha"] == ("one", "6f6e65") and got["beta"][0] == "two" and
          got["gamma"] == (None, "0102"), "entry values", got)
    _, out, _, _ = run("dump", n, rc=0)
    check('key   "alpha"' in out and 'value "one"' in out, "text dump", out)
    _, _, _, d = run("dump", n, "--json", "--limit", "1", rc=0, js=True)
    check(len(d["entries"]) == 1 and d["truncated"] is True, "limit", d)
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    s = d["state"]
    check(d["kind"] == "htable" and d["params"]["key_max"] == 16 and d["params"]["value_max"] == 32,
          "params", d)
    check(s["live"] == 3 and s["size"] == 3 and s["tombstones"] == 0 and s["longest_probe"] >= 1
          and s["capacity"] >= 100 and abs(s["load"] - 3.0 / s["capacity"]) < 1e-3, "stats", s)

    # A writer dies inside an update callback: the key's lock names a dead owner.
    w = Peer("htable-lock", n, "alpha").wait_ready()
    run("check", n, "--repair", rc=4)
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    check(find_part(d, w.pid)[0]["alive"] is True, "alive", d)
    w.kill()
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    check(find_part(d, w.pid)[0]["alive"] is False and d["dead"] == 1, "dead writer", d)
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)  # readers never wait for a lock
    got = {e["key_text"]: e["value_text"] for e in d["entries"]}
    check(got.get("alpha") == "one" and len(got) == 3, "dump beside a dead lock", got)
    _, _, _, d = run("check", n, "--json", rc=1, js=True)
    check(d["status"] == "problems" and d["problems"] >= 1, "check finds the dead lock", d)
    _, _, _, d = run("check", n, "--repair", "--json", rc=0, js=True)
    check(d["status"] == "repaired" and d["repaired"], "repaired", d)
    _, _, _, d = run("check", n, "--json", rc=0, js=True)
    check(d["status"] == "ok" and d["problems"] == 0, "clean", d)
    _, _, _, d = run("dump", n, "--json", rc=0, js=True)
    got = {e["key_text"]: e["value_text"] for e in d["entries"]}
    check(got.get("alpha") == "one" and len(got) == 3, "old value kept", got)
    _, _, _, d = run("list", "--json", n, rc=0, js=True)
    check(d["segments"][0]["fill"]["used"] == 3 and d["segments"][0]["kind"] == "htable", "list", d)
    run("rm", n, rc=0)


def ring_state_checks(s, rtype, prod_pid, cons_pid):
    check(s["type"] == rtype and s["capacity"] == 8 and s["elem_size"] == 16, "ring params", s)
    check(s["head"] == 5, "head", s)
    if rtype in ("spsc", "spmc"):
        check(s["tail"] == 2 and s["fill"] == 3, "tail/fill", s)


def t_ring():
    """Rings: the library may offer no role-less (observer) open; then the
    tool reports the state as unavailable (SHMAP_E_NOTSUP) unless --role
    is given, and the test goes on with --role consumer."""
    observer = None
    for rtype, mc in (("spsc", None), ("spmc", "4"), ("bcast-lossy", "4"), ("bcast-reliable", "4")):
        n = name("ring")
        kind = "ring-" + ("bcast" if rtype.startswith("bcast") else rtype)
        args = ["create", "ring", n, rtype, "16", "8"] + ([mc] if mc else [])
        run(*args, rc=0)
        prod = Peer("ring-push", n, "5").wait_ready()
        cons = None
        if rtype in ("spsc", "spmc"):
            cons = Peer("ring-consume", n, "2").wait_ready()
        _, _, _, d = run("info", n, "--json", rc=0, js=True)
        check(d["kind"] == kind and d["params"]["capacity"] == 8 and d["params"]["elem_size"] == 16,
              "ring header", d)
        live = [p["pid"] for p in d["participants"] if p["alive"]]
        check(prod.pid in live and (cons is None or cons.pid in live), "live peers", d)
        if d["state"] is None:
            check(d["state_error"]["name"] == "SHMAP_E_NOTSUP", "no observer open", d)
            observer = False
        else:
            observer = True
            s = d["state"]
            ring_state_checks(s, rtype, prod.pid, cons and cons.pid)
            check(s["producer"]["pid"] == prod.pid and s["producer"]["alive"], "producer", s)
            if cons:
                cs = [c for c in s["consumers"] if c["pid"] == cons.pid]
                check(len(cs) == 1 and cs[0]["alive"], "consumer", s)
        _, out, _, _ = run("info", n, rc=0)
        check("pid %-8d alive" % prod.pid in out, "text info", out)
        run("check", n, "--repair", rc=4)
        prod.kill()
        if cons:
            cons.kill()
        _, _, _, d = run("info", n, "--json", rc=0, js=True)
        check(d["attached"] == 0 and d["dead"] == (2 if cons else 1), "participants dead", d)
        dead = [p["pid"] for p in d["participants"] if not p["alive"]]
        check(prod.pid in dead, "producer listed dead", d)
        role = [] if observer else ["--role", "consumer"]
        _, _, _, d = run("check", n, "--json", *role, rc=(0, 1), js=True)
        check(d["status"] in ("ok", "problems") and d["header_ok"], "check", d)
        _, _, _, d = run("check", n, "--repair", "--json", *role, rc=0, js=True)
        check(d["status"] in ("ok", "repaired"), "repair", d)
        _, _, _, d = run("check", n, "--json", *role, rc=0, js=True)
        check(d["status"] == "ok" and d["problems"] == 0, "clean after repair", d)
        _, _, _, d = run("info", n, "--json", *role, rc=0, js=True)
        s = d["state"]
        check(s is not None, "state with --role", d)
        ring_state_checks(s, rtype, None, None)
        check(s["producer"] is None or s["producer"]["alive"] is False, "no live producer", s)
        if rtype == "spsc":
            _, _, _, d = run("dump", n, "--json", "--role", "consumer", rc=0, js=True)
            texts = [e["text"] for e in d["elements"]]
            check(texts == ["item-2", "item-3", "item-4"], "spsc dump", d)
            _, _, _, d = run("dump", n, "--json", "--role", "consumer", rc=0, js=True)
            check(len(d["elements"]) == 3, "dump consumed nothing", d)
        else:
            run("dump", n, "--role", "consumer", rc=1)
        _, _, _, d = run("list", "--json", n, *role, rc=0, js=True)
        check(d["segments"][0]["kind"] == kind, "list ring kind", d)
        run("rm", n, rc=0)
    if observer is False:
        print("# ring: the ring API has no role-less open; observed with --role consumer")


def t_corrupt_header():
    n = name("badsum")
    run("create", "vector", n, "8", "10", rc=0)
    corrupt(shm_path(n), HDR_CAPACITY_OFF, b"\xff")  # valid magic, checksum now wrong
    _, _, err, _ = run("info", n, rc=1)
    check("corrupt" in err, "info message", err)
    _, _, _, d = run("info", n, "--json", rc=1, js=True)
    check(d["error"]["name"] == "SHMAP_E_CORRUPT", "info json", d)
    _, _, _, d = run("check", n, "--json", rc=1, js=True)
    check(d["status"] == "header-invalid" and d["header_ok"] is False and d["problems"] == 1 and
          d["error"]["name"] == "SHMAP_E_CORRUPT", "check json", d)
    run("check", n, "--repair", rc=1)
    run("dump", n, rc=1)
    _, _, _, d = run("list", "--json", MINE, rc=0, js=True)
    rows = [r for r in d["segments"] if r["name"] == n]
    check(len(rows) == 1 and rows[0]["status"] == "SHMAP_E_CORRUPT", "list shows it broken", rows)
    run("rm", n, rc=0)  # a broken shmap segment may be removed


def t_corrupt_data():
    n = name("baddata")
    run("create", "vector", n, "8", "10", rc=0)
    peer_run("vector-push", n, "a", "b")
    path = shm_path(n)
    # vector layout (vector.c): 256-byte control block, then slots of 8 + esz8
    # bytes starting with a meta word whose low 3 bits are the state.
    corrupt(path, data_off(path) + 256, struct.pack("<Q", 7))
    _, _, _, d = run("check", n, "--json", rc=1, js=True)
    check(d["header_ok"] is True and d["status"] == "problems" and d["problems"] >= 1, "data", d)
    _, _, _, d = run("dump", n, "--json", rc=(0, 1), js=True)  # never a crash
    check(d["elements"][0]["state"] in ("invalid", "error") or "error" in d["elements"][0], "bad", d)
    run("info", n, "--json", rc=(0, 1), js=True)
    run("rm", n, rc=0)


def t_scribble():
    """A peer scribbled random bytes over the participant table or the data
    region of a valid segment (neither is covered by the header checksum):
    every command reports, none crashes, JSON stays valid."""
    import random
    rnd = random.Random(1234)
    kinds = [k for k in ("vector", "htable", "ring") if k in KINDS]
    params = {"vector": ["16", "64"], "htable": ["64", "16", "16"], "ring": ["spsc", "16", "64"]}
    for kind in kinds:
        for target in ("parts", "data", "both"):
            n = name("scribble")
            run("create", kind, n, *params[kind], rc=0)
            if kind == "vector":
                peer_run("vector-push", n, "x", "y", "z")
            elif kind == "htable":
                peer_run("htable-put", n, "k1", "v1", "k2", "v2")
            path = shm_path(n)
            size = os.path.getsize(path)
            doff = data_off(path)
            if target in ("parts", "both"):
                corrupt(path, 512, bytes(rnd.getrandbits(8) for _ in range(doff - 512)))
            if target in ("data", "both"):
                corrupt(path, doff, bytes(rnd.getrandbits(8) for _ in range(size - doff)))
            role = ["--role", "consumer"] if kind == "ring" else []
            _, _, _, d = run("check", n, "--json", *role, rc=(0, 1), js=True)
            if target != "parts":
                check(d["status"] != "ok", "random data found by check", kind, target, d)
            for cmd in (["info"], ["dump"], ["check"], ["check", "--repair", "--force"],
                        ["check"], ["list"]):
                run(*(cmd + [n, "--json"] + role), rc=(0, 1), js=True, timeout=20)
                run(*(cmd + [n] + role), rc=(0, 1), timeout=20)
            run("rm", n, rc=0)


def t_hostile_files():
    seg = name("src")
    run("create", "vector", seg, "8", "10", rc=0)
    with open(shm_path(seg), "rb") as f:
        good = f.read()
    files = {
        "random": (os.urandom(4096), 3),
        "shorthdr": (good[:100], 1),            # truncated header
        "shortbody": (good[:600], 1),           # valid header, body cut
        "zeros": (b"\0" * 4096, 3),             # no building mark: not a segment
        "empty": (b"", 3),                      # not made by a shmap create either
    }
    names = {}
    for tag, (data, _) in files.items():
        n = name(tag)
        names[tag] = n
        with open(shm_path(n), "wb") as f:
            f.write(data)
        os.chmod(shm_path(n), 0o600)
    fifo = name("fifo")
    os.mkfifo(shm_path(fifo), 0o600)
    link = name("link")
    os.symlink(shm_path(seg), shm_path(link))
    for tag, n in names.items():
        want = files[tag][1]
        for cmd in (["info"], ["dump"], ["check"], ["check", "--repair"]):
            _, _, _, d = run(*(cmd + [n, "--json"]), rc=want, js=True, timeout=10)
            check(d["name"] == n, "json names the segment", d)
        run("info", n, rc=want)
    for n in (fifo, link):
        for cmd in (["info"], ["dump"], ["check"]):
            _, _, _, d = run(*(cmd + [n, "--json"]), rc=1, js=True, timeout=10)
        _, _, err, _ = run("info", n, rc=1, timeout=10)
        check("not a regular file" in err or "permission" in err, "fifo/symlink message", err)
    # list skips foreign objects, FIFOs and symlinks, and never hangs on them.
    _, _, _, d = run("list", "--json", MINE, rc=0, js=True, timeout=10)
    listed = {r["name"]: r for r in d["segments"]}
    check(all(r.startswith("/" + PREFIX) for r in listed), "pattern filters the scan", listed)
    for n in (names["random"], names["shorthdr"], names["empty"], names["zeros"], fifo, link):
        check(n not in listed, "list skips " + n, listed.get(n))
    check(listed[names["shortbody"]]["status"] == "SHMAP_E_TRUNCATED", "truncated listed", listed)
    # explicit names are reported with their error
    rc, _, _, d = run("list", "--json", names["random"], seg, rc=3, js=True)
    check([r["status"] for r in d["segments"]] == ["SHMAP_E_BADMAGIC", "ok"], "explicit list", d)
    # rm leaves foreign objects alone unless --force
    run("rm", names["random"], rc=3)
    check(os.path.exists(shm_path(names["random"])), "foreign object kept")
    run("rm", "--force", names["random"], rc=0)
    check(not os.path.exists(shm_path(names["random"])), "forced removal")
    run("rm", link, rc=1)
    check(os.path.lexists(shm_path(link)), "symlink kept")
    run("rm", names["shortbody"], rc=0)
    run("rm", names["zeros"], rc=3)
    check(os.path.exists(shm_path(names["zeros"])), "zero-filled foreign object kept")
    run("rm", "--force", names["zeros"], rc=0)
    for n in (names["shorthdr"], names["empty"], fifo, link):
        os.unlink(shm_path(n))
    run("rm", seg, rc=0)


def t_odd_names():
    """Quotes, backslashes and UTF-8 in a name survive --json; a byte that is
    not UTF-8 still gives valid JSON."""
    n = name('q"uo\\te-\u00e9')
    run("create", "vector", n, "8", "8", rc=0)
    _, _, _, d = run("list", "--json", MINE, rc=0, js=True)
    check(n in [r["name"] for r in d["segments"]], "odd name round-trips", n, d)
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    check(d["name"] == n, "info name", d)
    run("rm", n, rc=0)
    raw = (PREFIX + "raw-\xff").encode("latin-1")
    path = SHM.encode() + b"/" + raw
    with open(path, "wb") as f:
        f.write(os.urandom(1024))
    try:
        p = subprocess.run([TOOL.encode(), b"info", b"/" + raw, b"--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        check(p.returncode == 3, "foreign object with a raw byte name", p.returncode)
        d = json.loads(p.stdout.decode("utf-8"))
        check(d["name"].endswith("raw-\u00ff") and b"\xff" not in p.stderr, "escaped", d, p.stderr)
    finally:
        os.unlink(path)


def t_file_backend():
    path = os.path.join(_tmpdir, "seg.vec")
    run("create", "vector", path, "32", "1k", rc=0)
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "mode 0600")
    _, _, _, d = run("info", path, "--json", rc=0, js=True)
    check(d["backend"] == "file" and d["params"]["capacity"] == 1024 and d["state"]["size"] == 0,
          "file info", d)
    _, _, _, d = run("list", "--json", path, rc=0, js=True)
    check(d["segments"][0]["backend"] == "file" and d["segments"][0]["kind"] == "vector", "list", d)
    run("check", path, rc=0)
    run("rm", path, rc=0)
    check(not os.path.exists(path), "file removed")
    other = os.path.join(_tmpdir, "plain.txt")
    with open(other, "w") as f:
        f.write("not a segment\n" * 100)
    run("info", other, rc=3)
    run("rm", other, rc=3)
    check(os.path.exists(other), "plain file kept")
    os.unlink(other)
    n = name("mode")
    run("create", "vector", n, "8", "8", "--mode", "0640", "--max-procs", "8", rc=0)
    _, _, _, d = run("info", n, "--json", rc=0, js=True)
    check(d["mode"] == "0640" and d["max_procs"] == 8, "create options", d)
    run("rm", n, rc=0)


TESTS = [("cli", t_cli, None), ("vector", t_vector, "vector"), ("htable", t_htable, "htable"),
         ("ring", t_ring, "ring"), ("corrupt header", t_corrupt_header, "vector"),
         ("corrupt data", t_corrupt_data, "vector"), ("scribbled segments", t_scribble, None),
         ("hostile files", t_hostile_files, "vector"),
         ("odd names", t_odd_names, "vector"), ("file backend", t_file_backend, "vector")]


def cleanup():
    for p in _peers:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait()
    for e in os.listdir(SHM):
        if e.startswith(PREFIX):
            try:
                os.unlink(os.path.join(SHM, e))
            except OSError:
                pass
    for e in os.listdir(_tmpdir):
        os.unlink(os.path.join(_tmpdir, e))
    os.rmdir(_tmpdir)


def main():
    print("1..%d" % len(TESTS))
    failed = 0
    t0 = time.time()
    try:
        for i, (tname, fn, need) in enumerate(TESTS, 1):
            if need and need not in KINDS:
                print("ok %d - %s # SKIP %s not built" % (i, tname, need))
                continue
            try:
                fn()
                print("ok %d - %s" % (i, tname))
            except Exception as e:  # report, continue with the next test
                failed += 1
                print("not ok %d - %s" % (i, tname))
                for line in (str(e) if isinstance(e, Fail) else traceback.format_exc()).splitlines():
                    print("# " + line)
            sys.stdout.flush()
    finally:
        cleanup()
    print("# %.1f s" % (time.time() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
