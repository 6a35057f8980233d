// SPDX-License-Identifier: MIT

// Command bench measures the per-call cost of the Go binding the way
// bindings/python/bench.py measures Python's: every case once per round, in a
// new (seeded random) order each round, timed on its second run in a row;
// the median over rounds of the time per call (or per key / element) in ns.
//
//	go run ./cmd/bench [-rounds 51] [-keys 10000] [-value 64] [-passes 1]
//
// Cases: get (Table.Get, a hit), get_many/key (GetMany of 16 keys, per
// key), len (Table.Len: one cgo call doing almost nothing, the cgo floor),
// push+pop (Push then Pop on an SPSC ring, per pair) and
// push_batch+pop_batch/elem (PushBatch/PopBatch of 16, per element).
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"time"

	"shmap"
)

const batch = 16

func main() {
	rounds := flag.Int("rounds", 51, "interleaved rounds")
	nkeys := flag.Int("keys", 10000, "keys in the table")
	vlen := flag.Int("value", 64, "value bytes")
	passes := flag.Int("passes", 1, "passes over the keys per case and round")
	flag.Parse()
	if err := run(*rounds, *nkeys, *vlen, *passes); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func run(rounds, n, vlen, passes int) error {
	tname := fmt.Sprintf("/shmap-gobench-%d", os.Getpid())
	rname := tname + "-r"
	t, err := shmap.CreateTable(tname, uint64(2*n), 16, uint32(vlen))
	if err != nil {
		return err
	}
	defer shmap.Unlink(tname, nil)
	defer t.Close()
	keys := make([][]byte, n)
	val := make([]byte, vlen)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%08d", i))
		must(t.Put(keys[i], val))
	}
	p, err := shmap.OpenRing(rname, shmap.Create, shmap.RingParams{Type: shmap.RingSPSC, ElemSize: 64,
		Capacity: 1024}, shmap.Producer, nil)
	if err != nil {
		return err
	}
	defer shmap.Unlink(rname, nil)
	defer p.Close()
	c, err := shmap.OpenConsumer(rname)
	if err != nil {
		return err
	}
	defer c.Close()
	elem := make([]byte, 64)
	elems := make([]byte, 64*batch)
	const ringN = 512

	type bcase struct {
		name string
		fn   func() (time.Duration, int)
	}
	cases := []bcase{
		{"get", func() (time.Duration, int) {
			t0 := time.Now()
			for _, k := range keys {
				_, _, err := t.Get(k)
				must(err)
			}
			return time.Since(t0), n
		}},
		{"get_many/key", func() (time.Duration, int) {
			t0 := time.Now()
			m := 0
			for i := 0; i+batch <= n; i += batch {
				_, err := t.GetMany(keys[i : i+batch])
				must(err)
				m += batch
			}
			return time.Since(t0), m
		}},
		{"len (cgo floor)", func() (time.Duration, int) {
			t0 := time.Now()
			for range keys {
				t.Len()
			}
			return time.Since(t0), n
		}},
		{"push+pop", func() (time.Duration, int) {
			t0 := time.Now()
			for i := 0; i < ringN; i++ {
				must(p.Push(elem))
				_, err := c.Pop()
				must(err)
			}
			return time.Since(t0), ringN
		}},
		{"push_batch+pop_batch/elem", func() (time.Duration, int) {
			t0 := time.Now()
			for i := 0; i < ringN/batch; i++ {
				_, err := p.PushBatch(elems)
				must(err)
				_, err = c.PopBatch(batch)
				must(err)
			}
			return time.Since(t0), ringN
		}},
	}
	res := make([][]float64, len(cases))
	order := make([]int, len(cases))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewSource(1))
	for r := 0; r < rounds; r++ {
		// A new order each round; a case runs twice and the second run is timed.
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, i := range order {
			cases[i].fn()
			var el time.Duration
			ops := 0
			for k := 0; k < passes; k++ {
				e, o := cases[i].fn()
				el += e
				ops += o
			}
			res[i] = append(res[i], float64(el.Nanoseconds())/float64(ops))
		}
	}
	fmt.Printf("# go binding: %d keys of 12 bytes, values of %d bytes; medians of %d interleaved rounds, ns per call\n",
		n, vlen, rounds)
	for i, bc := range cases {
		sort.Float64s(res[i])
		fmt.Printf("%-34s %9.1f\n", bc.name, res[i][len(res[i])/2])
	}
	return nil
}
