# SPDX-License-Identifier: MIT
"""Per-call cost of the Python binding next to python3-lmdb, in one run.

    python3 bindings/python/bench.py [--rounds 51] [--keys 10000] [--value 64] [--passes 1]

Every round runs every case, in a new (seeded random) order each round, so
the cases are interleaved and none always follows the same one; a case runs
twice in a row and only the second run is timed (warm caches, whatever ran
before it). The figure printed is the median over the rounds of the per-call
(or per-key) time, in ns. Cases:

  get           t[k] (a hit)                      vs LMDB txn.get, one read txn per get
                                                     and all gets in one long read txn
  set           t[k] = v (an update)              vs LMDB put, one write txn per put
  get_many      t.get_many(16 keys), per key      vs LMDB 16 gets in one read txn, per key
  get_into      t.get_into(k, buf)
  push/pop      ring.push(e); ring.pop() (SPSC, one process), per pair;
                also pop_into and push_many/pop_many (16), per element
                                                  vs LMDB as a queue: put (append) in one
                                                     write txn, first+delete in another

LMDB runs in a temporary directory (under /dev/shm when there is one) with
sync=False and metasync=False: no fsync, like shmap, so the comparison is
the cost of the calls and transactions, not of the disk. Keys are 12 bytes,
values --value bytes, elements 64 bytes.
"""
import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import shmap  # noqa: E402
from shmap import _shmap  # noqa: E402

try:
    import lmdb
except ImportError:  # reported, the shmap cases still run
    lmdb = None

ns = time.perf_counter_ns
BATCH = 16


def keys_of(n):
    return [b"key-%08d" % i for i in range(n)]


def build(args):
    n = args.keys
    keys = keys_of(n)
    val = bytes(range(256)) * (args.value // 256 + 1)
    val = val[:args.value]
    name = "/shmap-pybench-%d" % os.getpid()
    t = shmap.Table(name, 2 * n, 16, max(args.value, 64), flags=shmap.CREATE)
    for k in keys:
        t[k] = val
    rname = "/shmap-pybench-r-%d" % os.getpid()
    p = shmap.Ring.producer(rname, type=shmap.SPSC, elem_size=64, capacity=1024, flags="create")
    c = shmap.Ring.consumer(rname, flags="open")
    env = tmp = None
    if lmdb is not None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        tmp = tempfile.mkdtemp(prefix="shmap-bench-lmdb-", dir=base)
        env = lmdb.open(tmp, map_size=1 << 30, sync=False, metasync=False, max_dbs=2)
        with env.begin(write=True) as txn:
            for k in keys:
                txn.put(k, val)
        env = (env, env.open_db(b"queue"))
    return t, p, c, env, tmp, keys, val, (name, rname)


def run(args):
    t, p, c, env, tmp, keys, val, names = build(args)
    env, qdb = env if env is not None else (None, None)
    elem = bytes(64)
    buf = bytearray(max(t.value_max, 64))
    ebuf = bytearray(64)
    batches = [keys[i:i + BATCH] for i in range(0, len(keys) - BATCH + 1, BATCH)]
    n = len(keys)
    ring_n = 512  # elements per push/pop case (fits the ring)
    elems16 = [elem] * BATCH

    def shmap_get():
        t0 = ns()
        for k in keys:
            t[k]
        return ns() - t0, n

    def shmap_set():
        t0 = ns()
        for k in keys:
            t[k] = val
        return ns() - t0, n

    def shmap_get_many():
        gm = t.get_many
        t0 = ns()
        for b in batches:
            gm(b)
        return ns() - t0, len(batches) * BATCH

    def shmap_get_into():
        gi = t.get_into
        t0 = ns()
        for k in keys:
            gi(k, buf)
        return ns() - t0, n

    def ring_push_pop():
        push, pop = p.push, c.pop
        t0 = ns()
        for _ in range(ring_n):
            push(elem)
            pop()
        return ns() - t0, ring_n

    def ring_pop_into():
        push, pop_into = p.push, c.pop_into
        t0 = ns()
        for _ in range(ring_n):
            push(elem)
            pop_into(ebuf)
        return ns() - t0, ring_n

    def ring_many():
        pm, qm = p.push_many, c.pop_many
        t0 = ns()
        for _ in range(ring_n // BATCH):
            pm(elems16)
            qm(BATCH)
        return ns() - t0, ring_n

    cs = {
        "shmap get": shmap_get,
        "shmap set": shmap_set,
        "shmap get_many/key": shmap_get_many,
        "shmap get_into": shmap_get_into,
        "shmap push+pop": ring_push_pop,
        "shmap push+pop_into": ring_pop_into,
        "shmap push_many+pop_many/elem": ring_many,
    }

    if env is not None:
        def lmdb_get_txn():
            begin = env.begin
            t0 = ns()
            for k in keys:
                with begin() as txn:
                    txn.get(k)
            return ns() - t0, n

        def lmdb_get_long():
            t0 = ns()
            with env.begin() as txn:
                get = txn.get
                for k in keys:
                    get(k)
            return ns() - t0, n

        def lmdb_put_txn():
            begin = env.begin
            t0 = ns()
            for k in keys:
                with begin(write=True) as txn:
                    txn.put(k, val)
            return ns() - t0, n

        def lmdb_get16_txn():
            begin = env.begin
            t0 = ns()
            for b in batches:
                with begin() as txn:
                    get = txn.get
                    for k in b:
                        get(k)
            return ns() - t0, len(batches) * BATCH

        def lmdb_queue():
            begin, q = env.begin, qdb
            t0 = ns()
            for i in range(ring_n):
                with begin(write=True, db=q) as txn:
                    txn.put(b"%016d" % i, elem, append=True)
                with begin(write=True, db=q) as txn:
                    cur = txn.cursor()
                    cur.first()
                    cur.value()
                    cur.delete()
            return ns() - t0, ring_n

        cs.update({
            "lmdb get (txn per get)": lmdb_get_txn,
            "lmdb get (one long txn)": lmdb_get_long,
            "lmdb put (txn per put)": lmdb_put_txn,
            "lmdb 16 gets in one txn/key": lmdb_get16_txn,
            "lmdb queue put+pop (txn each)": lmdb_queue,
        })

    def repeated(fn, k):
        def f():
            el = ops = 0
            for _ in range(k):
                e, o = fn()
                el += e
                ops += o
            return el, ops
        return f
    cs = {name: repeated(fn, args.passes) for name, fn in cs.items()}
    order = list(cs)
    res = {k: [] for k in order}
    rng = random.Random(1)
    for r in range(args.rounds):
        rng.shuffle(order)  # every round in a new order: no case always follows the same one
        for name in order:
            cs[name]()  # untimed: the case runs warm, whatever ran before it
            el, ops = cs[name]()
            res[name].append(el / ops)
    t.close()
    p.close()
    c.close()
    for nm in names:
        shmap.unlink(nm)
    if env is not None:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: statistics.median(v) for k, v in res.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=51)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--value", type=int, default=64)
    ap.add_argument("--passes", type=int, default=1,
                    help="passes over the keys per case and round (longer rounds, less noise)")
    args = ap.parse_args()
    api = "limited (abi3)" if _shmap.LIMITED_API else "full"
    print(f"# shmap {shmap.version()} ({api} C API), python {sys.version.split()[0]}, "
          f"lmdb {'.'.join(map(str, lmdb.version())) + ' / py-lmdb ' + lmdb.__version__ if lmdb else 'not installed'}")
    print(f"# {args.keys} keys of 12 bytes, values of {args.value} bytes; "
          f"medians of {args.rounds} interleaved rounds, ns per call")
    m = run(args)
    for k, v in m.items():
        print(f"{k:34s} {v:9.1f}")
    if "lmdb get (txn per get)" in m:
        print("# ratios")
        print(f"get / lmdb get (txn per get)     {m['shmap get'] / m['lmdb get (txn per get)']:.3f}")
        print(f"get / lmdb get (one long txn)    {m['shmap get'] / m['lmdb get (one long txn)']:.3f}")
        print(f"lmdb put (txn per put) / set     {m['lmdb put (txn per put)'] / m['shmap set']:.1f}")
        print(f"get_many per key / lmdb 16 in 1  {m['shmap get_many/key'] / m['lmdb 16 gets in one txn/key']:.3f}")


if __name__ == "__main__":
    main()
