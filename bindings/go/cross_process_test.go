// SPDX-License-Identifier: MIT

package shmap

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// A Go process and a C process (bindings/c/shmap_peer.c) share one table,
// rings and a vector; every value is verified on both sides.

const xN = 2000
const xVmax = 100

func TestCrossProcessTable(t *testing.T) {
	n := segName(t, "xtab")
	tb, err := CreateTable(n, 4096, 32, xVmax)
	must(t, err)
	defer tb.Close()
	must(t, runPeer(t, "table-write", n, fmt.Sprint(xN)))
	if tb.Len() != xN {
		t.Fatal("len", tb.Len())
	}
	seen := 0
	must(t, tb.Range(func(k, v []byte) bool { seen++; return true }))
	if seen != xN {
		t.Fatal("range saw", seen)
	}
	for i := uint64(0); i < xN; i++ {
		v, ok, err := tb.Get(key(i))
		must(t, err)
		if !ok || !bytes.Equal(v, value(i, xVmax)) {
			t.Fatal("value", i)
		}
	}
	must(t, tb.Clear())
	for i := uint64(0); i < xN; i++ {
		must(t, tb.Put(key(i), value(i, xVmax)))
	}
	must(t, runPeer(t, "table-verify", n, fmt.Sprint(xN)))
	must(t, tb.Put(key(9), []byte("changed")))
	if runPeer(t, "table-verify", n, fmt.Sprint(xN)) == nil {
		t.Fatal("the C peer must notice a wrong value")
	}
}

func TestCrossProcessRing(t *testing.T) {
	n := segName(t, "xring")
	p, err := OpenRing(n, Create, RingParams{Type: RingSPSC, ElemSize: 32, Capacity: 64}, Producer, nil)
	must(t, err)
	defer p.Close()
	cmd := exec.Command(peer(t), "ring-pop", n, fmt.Sprint(xN))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	for i := uint64(0); i < xN; i++ {
		must(t, p.PushWait(elem(i, 32), 20*time.Second))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err, stderr.String())
	}

	n2 := segName(t, "xring")
	c, err := OpenRing(n2, Create, RingParams{Type: RingSPSC, ElemSize: 32, Capacity: 64}, Consumer, nil)
	must(t, err)
	defer c.Close()
	cmd = exec.Command(peer(t), "ring-push", n2, fmt.Sprint(xN))
	stderr.Reset()
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	for i := uint64(0); i < xN; i++ {
		e, err := c.PopWait(20 * time.Second)
		must(t, err)
		if !bytes.Equal(e, elem(i, 32)) {
			t.Fatal("element", i)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err, stderr.String())
	}
	_, err = c.Pop()
	wantErr(t, err, ErrEmpty)
}

func TestCrossProcessCasErase(t *testing.T) {
	const m = 200
	n := segName(t, "xtab")
	tb, err := CreateTable(n, 512, 32, xVmax)
	must(t, err)
	defer tb.Close()
	must(t, runPeer(t, "table-write", n, fmt.Sprint(m))) // C writes, Go erases
	for i := uint64(0); i < m; i++ {
		wrong := value(i, xVmax)
		wrong[len(wrong)-1] ^= 0xff
		erased, err := tb.CasErase(key(i), wrong)
		must(t, err)
		if erased {
			t.Fatal("erased with a wrong value", i)
		}
		erased, err = tb.CasErase(key(i), value(i, xVmax))
		must(t, err)
		if !erased {
			t.Fatal("not erased", i)
		}
	}
	if tb.Len() != 0 {
		t.Fatal("len", tb.Len())
	}
	for i := uint64(0); i < m; i++ { // Go writes, C erases
		must(t, tb.Put(key(i), value(i, xVmax)))
	}
	must(t, runPeer(t, "table-cas-erase", n, fmt.Sprint(m)))
	if tb.Len() != 0 {
		t.Fatal("len after the C erase", tb.Len())
	}
	must(t, tb.Put(key(3), []byte("changed")))
	if runPeer(t, "table-cas-erase", n, "4") == nil {
		t.Fatal("the C peer must notice a missing key")
	}
}

func TestCrossProcessRingObservers(t *testing.T) {
	const m = 64
	n := segName(t, "xring")
	p, err := OpenRing(n, Create, RingParams{Type: RingSPSC, ElemSize: 32, Capacity: m}, Producer, nil)
	must(t, err)
	defer p.Close()
	c, err := OpenConsumer(n)
	must(t, err)
	defer c.Close()
	for i := uint64(0); i < m; i++ {
		must(t, p.Push(elem(i, 32)))
	}
	must(t, runPeer(t, "ring-observe", n, fmt.Sprint(m))) // a C observer reads in place
	if c.Len() != m {                                     // ... without consuming
		t.Fatal("len", c.Len())
	}
	out, err := c.PopBatch(m)
	must(t, err)
	for i := uint64(0); i < m; i++ {
		if !bytes.Equal(out[i*32:(i+1)*32], elem(i, 32)) {
			t.Fatal("element", i)
		}
	}

	n2 := segName(t, "xring")
	c2, err := OpenRing(n2, Create, RingParams{Type: RingSPSC, ElemSize: 32, Capacity: m}, Consumer, nil)
	must(t, err)
	defer c2.Close()
	o, err := OpenObserver(n2)
	must(t, err)
	defer o.Close()
	must(t, runPeer(t, "ring-push", n2, fmt.Sprint(m))) // C pushes, a Go observer reads
	if o.Consumers() != 1 {
		t.Fatal("consumers", o.Consumers())
	}
	for i := uint64(0); i < m; i++ {
		e, err := o.ReadAt(i)
		must(t, err)
		if !bytes.Equal(e, elem(i, 32)) {
			t.Fatal("read_at", i)
		}
	}
	out, err = c2.PopBatch(m)
	must(t, err)
	if len(out) != m*32 || !bytes.Equal(out[(m-1)*32:], elem(m-1, 32)) {
		t.Fatal("pop after observing")
	}
	_, err = o.ReadAt(0)
	wantErr(t, err, ErrRange)
}

func TestCrossProcessVector(t *testing.T) {
	n := segName(t, "xvec")
	v, err := CreateVector(n, 24, xN)
	must(t, err)
	defer v.Close()
	for i := uint64(0); i < xN; i++ {
		_, err := v.Push(elem(i, 24))
		must(t, err)
	}
	must(t, runPeer(t, "vector-verify", n, fmt.Sprint(xN)))
	n2 := segName(t, "xvec")
	v2, err := CreateVector(n2, 24, xN)
	must(t, err)
	defer v2.Close()
	must(t, runPeer(t, "vector-push", n2, fmt.Sprint(xN)))
	for i := uint64(0); i < xN; i++ {
		e, err := v2.Get(i)
		must(t, err)
		if !bytes.Equal(e, elem(i, 24)) {
			t.Fatal("vector element", i)
		}
	}
}
