// SPDX-License-Identifier: MIT

package shmap

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
)

func recOf(i int) []byte {
	b := make([]byte, 1+(i*37)%300)
	for k := range b {
		b[k] = byte(i + k)
	}
	return b
}

func TestRecRingSPSC(t *testing.T) {
	name := fmt.Sprintf("/shmap-go-rec-%d", os.Getpid())
	defer Unlink(name, nil)
	p, err := OpenRecRing(name, Create, RingSPSC, 300, 4096, 0, Producer, nil)
	must(t, err)
	defer p.Close()
	c, err := OpenRecRing(name, Open, 0, 0, 0, 0, Consumer, nil)
	must(t, err)
	defer c.Close()
	if p.MaxRecord() != 300 || p.Capacity() != 4096 {
		t.Fatal(p.MaxRecord(), p.Capacity())
	}
	_, err = c.Pop()
	wantErr(t, err, ErrEmpty)
	wantErr(t, p.Push(nil), ErrInval)
	wantErr(t, p.Push(make([]byte, 301)), ErrTooBig)
	sent, got := 0, 0
	for got < 2000 {
		for sent < 2000 && p.Push(recOf(sent)) == nil {
			sent++
		}
		if got%2 == 0 {
			b, err := c.Pop()
			must(t, err)
			if !bytes.Equal(b, recOf(got)) {
				t.Fatalf("record %d: %d bytes", got, len(b))
			}
			got++
		} else {
			rs, err := c.PopBatch(7)
			must(t, err)
			for _, b := range rs {
				if !bytes.Equal(b, recOf(got)) {
					t.Fatalf("record %d: %d bytes", got, len(b))
				}
				got++
			}
		}
	}
	n, err := p.PushBatch([][]byte{recOf(1), recOf(2), recOf(3)})
	must(t, err)
	if n != 3 {
		t.Fatal(n)
	}
	for i := 1; i <= 3; i++ {
		b, err := c.PopWait(100 * time.Millisecond)
		must(t, err)
		if !bytes.Equal(b, recOf(i)) {
			t.Fatal(i)
		}
	}
	_, err = c.PopWait(10 * time.Millisecond)
	wantErr(t, err, ErrTimeout)
	if _, err := OpenRing(name, Open, RingParams{}, Observer, nil); err == nil {
		t.Fatal("a record ring opened as a fixed-slot ring")
	}
}
