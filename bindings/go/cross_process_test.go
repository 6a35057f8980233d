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
