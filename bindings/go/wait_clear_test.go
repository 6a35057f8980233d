// SPDX-License-Identifier: MIT

package shmap

import (
	"bytes"
	"testing"
	"time"
)

func TestUpdateKeep(t *testing.T) {
	tb, err := CreateTable(segName(t, "keep"), 64, 16, 16)
	must(t, err)
	defer tb.Close()
	keep := func(cur []byte, exists bool) ([]byte, UpdateResult) { return nil, UpdateKeep }
	wantErr(t, tb.UpdateWith([]byte("k"), keep), ErrNotFound)
	if _, ok, _ := tb.Get([]byte("k")); ok {
		t.Fatal("KEEP created the key")
	}
	must(t, tb.Put([]byte("k"), []byte{41}))
	must(t, tb.UpdateWith([]byte("k"), keep))
	// Update-if-exists.
	incr := func(cur []byte, exists bool) ([]byte, UpdateResult) {
		if !exists {
			return nil, UpdateKeep
		}
		return []byte{cur[0] + 1}, UpdateCommit
	}
	must(t, tb.UpdateWith([]byte("k"), incr))
	wantErr(t, tb.UpdateWith([]byte("x"), incr), ErrNotFound)
	v, ok, err := tb.Get([]byte("k"))
	must(t, err)
	if !ok || !bytes.Equal(v, []byte{42}) {
		t.Fatalf("k = %v %v", v, ok)
	}
	if _, ok, _ := tb.Get([]byte("x")); ok {
		t.Fatal("update-if-exists created x")
	}
	wantErr(t, tb.UpdateWith([]byte("k"), func([]byte, bool) ([]byte, UpdateResult) { return nil, UpdateAbort }), ErrAborted)
	must(t, tb.UpdateWith([]byte("k"), func([]byte, bool) ([]byte, UpdateResult) { return nil, UpdateErase }))
	if tb.Len() != 0 {
		t.Fatal("erase")
	}
}

func TestOpenWait(t *testing.T) {
	o := &Options{TimeoutMs: U32(10000)}
	// A table opener that starts before its creator.
	n := segName(t, "ow")
	made := make(chan *Table, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		tb, err := CreateTable(n, 64, 8, 8)
		if err == nil {
			err = tb.Put([]byte("k"), []byte("v"))
		}
		if err != nil {
			t.Error(err)
		}
		made <- tb
	}()
	t0 := time.Now()
	tb, err := OpenTable(n, OpenWait, 0, 0, 0, o)
	must(t, err)
	defer tb.Close()
	if time.Since(t0) < 150*time.Millisecond {
		t.Fatal("did not wait")
	}
	defer (<-made).Close()
	v, ok, err := tb.Get([]byte("k"))
	must(t, err)
	if !ok || string(v) != "v" {
		t.Fatal("value")
	}

	// A ring consumer before its producer.
	rn := segName(t, "ow")
	prod := make(chan *Ring, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		p, err := OpenRing(rn, Create, RingParams{Type: RingSPSC, ElemSize: 8, Capacity: 16}, Producer, nil)
		if err == nil {
			err = p.Push(elem(7, 8))
		}
		if err != nil {
			t.Error(err)
		}
		prod <- p
	}()
	c, err := OpenRing(rn, OpenWait, RingParams{}, Consumer, o)
	must(t, err)
	defer c.Close()
	defer (<-prod).Close()
	e, err := c.PopWait(5 * time.Second)
	must(t, err)
	if !bytes.Equal(e, elem(7, 8)) {
		t.Fatal("ring element")
	}

	// A vector.
	vn := segName(t, "ow")
	vch := make(chan *Vector, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		v, err := CreateVector(vn, 8, 16)
		if err != nil {
			t.Error(err)
		}
		vch <- v
	}()
	vec, err := OpenVector(vn, OpenWait, 0, 0, o)
	must(t, err)
	defer vec.Close()
	defer (<-vch).Close()

	// Never created: ErrTimeout after the timeout; plain Open: ErrNoEnt.
	never := segName(t, "ow-never")
	short := &Options{TimeoutMs: U32(200)}
	t0 = time.Now()
	_, err = OpenTable(never, OpenWait, 0, 0, 0, short)
	wantErr(t, err, ErrTimeout)
	if time.Since(t0) < 190*time.Millisecond {
		t.Fatal("timed out early")
	}
	_, err = OpenRing(never, OpenWait, RingParams{}, Consumer, short)
	wantErr(t, err, ErrTimeout)
	_, err = OpenVector(never, OpenWait, 0, 0, short)
	wantErr(t, err, ErrTimeout)
	_, err = OpenTable(never, Open, 0, 0, 0, short)
	wantErr(t, err, ErrNoEnt)
}

func TestRingAndVectorClear(t *testing.T) {
	_, p, c := spsc(t, 8, 16)
	for i := uint64(0); i < 5; i++ {
		must(t, p.Push(elem(i, 8)))
	}
	_, err := p.Clear()
	wantErr(t, err, ErrNotAttached)
	n, err := c.Clear()
	must(t, err)
	if n != 5 || c.Len() != 0 {
		t.Fatalf("cleared %d, len %d", n, c.Len())
	}
	_, err = c.Pop()
	wantErr(t, err, ErrEmpty)
	must(t, p.Push(elem(9, 8)))
	e, err := c.Pop()
	must(t, err)
	if !bytes.Equal(e, elem(9, 8)) {
		t.Fatal("order after clear")
	}

	v, err := CreateVector(segName(t, "clr"), 8, 16)
	must(t, err)
	defer v.Close()
	_, err = v.Push(elem(1, 8))
	must(t, err)
	wantErr(t, v.Clear(), ErrNotSup)
	if v.Len() != 1 {
		t.Fatal("vector changed")
	}
}
