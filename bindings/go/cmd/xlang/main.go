// SPDX-License-Identifier: MIT

// Command xlang is the Go side of the cross-language check run by
// bindings/test.sh; same protocol as bindings/python/tests/xlang.py:
//
//	xlang write TABLE RING N READERS
//	xlang read TABLE RING N
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"shmap"
)

const (
	vmax = 100
	es   = 32
	wait = 30 * time.Second
)

func key(i uint64) []byte { return []byte(fmt.Sprintf("key-%d", i)) }

func value(i uint64) []byte {
	n := 1 + (i*7919)%vmax
	b := make([]byte, n)
	for j := uint64(0); j < n; j++ {
		b[j] = byte((i*131 + j*17 + 7) & 0xff)
	}
	return b
}

func elem(i uint64) []byte {
	b := make([]byte, es)
	binary.LittleEndian.PutUint64(b, i)
	for j := uint64(8); j < es; j++ {
		b[j] = byte((i + j*29 + 3) & 0xff)
	}
	return b
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "xlang (go): "+format+"\n", a...)
	os.Exit(1)
}

func write(table, ring string, n uint64, readers int) error {
	t, err := shmap.CreateTable(table, 2*n+16, 32, vmax)
	if err != nil {
		return err
	}
	defer t.Close()
	for i := uint64(0); i < n; i++ {
		if err := t.Put(key(i), value(i)); err != nil {
			return err
		}
	}
	r, err := shmap.OpenRing(ring, shmap.Create, shmap.RingParams{Type: shmap.RingBcastReliable,
		ElemSize: es, Capacity: 64, MaxConsumers: 4}, shmap.Producer, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	start := time.Now()
	for {
		live := r.Consumers()
		if live >= readers {
			break
		}
		if time.Since(start) > wait {
			die("only %d of %d subscribers came", live, readers)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := uint64(0); i < n; i++ {
		if err := r.PushWait(elem(i), wait); err != nil {
			return err
		}
	}
	return nil
}

func read(table, ring string, n uint64) error {
	start := time.Now()
	var r *shmap.Ring
	var err error
	for {
		r, err = shmap.OpenConsumer(ring)
		if (errors.Is(err, shmap.ErrNoEnt) || errors.Is(err, shmap.ErrNotReady)) && time.Since(start) < wait {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		return err
	}
	defer r.Close()
	t, err := shmap.OpenTable(table, shmap.Open, 0, 0, 0, nil)
	if err != nil {
		return err
	}
	defer t.Close()
	if t.Len() != n {
		die("table has %d entries, want %d", t.Len(), n)
	}
	for i := uint64(0); i < n; i++ {
		v, ok, err := t.Get(key(i))
		if err != nil {
			return err
		}
		if !ok || !bytes.Equal(v, value(i)) {
			die("table value %d differs", i)
		}
	}
	for i := uint64(0); i < n; i++ {
		e, err := r.PopWait(wait)
		if err != nil {
			return err
		}
		if !bytes.Equal(e, elem(i)) {
			die("ring element %d differs", i)
		}
	}
	return nil
}

func main() {
	if len(os.Args) < 5 {
		die("usage: xlang write|read TABLE RING N [READERS]")
	}
	n, err := strconv.ParseUint(os.Args[4], 10, 64)
	if err != nil {
		die("bad N")
	}
	if os.Args[1] == "write" {
		readers := 1
		if len(os.Args) > 5 {
			readers, _ = strconv.Atoi(os.Args[5])
		}
		err = write(os.Args[2], os.Args[3], n, readers)
	} else {
		err = read(os.Args[2], os.Args[3], n)
	}
	if err != nil {
		die("%v", err)
	}
}
