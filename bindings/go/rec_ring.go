// SPDX-License-Identifier: MIT

package shmap

// #include <stdlib.h>
// #include <shmap/shmap.h>
// #include <shmap/ring_rec.h>
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// RecRing is a ring of variable-length records (ring_rec.h): SPSC, lossy
// or reliable broadcast, Capacity bytes, records of 1..MaxRecord bytes that
// Pop returns with their real length. As for Ring, every method takes a
// mutex (the C handle is single-threaded); open one per goroutine for
// parallelism.
type RecRing struct {
	mu        sync.Mutex
	p         *C.shmap_ring
	maxRecord uint32
	// Status is Recovered if the role was taken over from a dead process.
	Status int
}

// OpenRecRing creates or opens a record ring and attaches with role
// (Producer, Consumer or Observer). On open, zero parameters accept what
// the segment stores. ringType is RingSPSC, RingBcastLossy or
// RingBcastReliable (RingSPMC: ErrNotSup).
func OpenRecRing(name string, oflags uint32, ringType uint32, maxRecord uint32, capacity uint64,
	maxConsumers uint32, role uint32, o *Options) (*RecRing, error) {
	cn, err := cstring(name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cn))
	var p *C.shmap_ring
	var rc C.int
	if o == nil && maxConsumers != 0 {
		o = &Options{} // max_consumers is an option of the C open
	}
	err = withOpts(o, func(co *C.shmap_opts) error {
		if co != nil {
			if err := check("opts_set_max_consumers",
				C.shmap_opts_set_max_consumers(co, C.uint32_t(maxConsumers))); err != nil {
				return err
			}
		}
		var en error
		rc, en = C.shmap_ring_open_rec(cn, C.uint32_t(oflags), C.uint32_t(ringType),
			C.uint32_t(maxRecord), C.uint64_t(capacity), C.uint32_t(role), co, &p)
		return checkSys("ring_open_rec", rc, en)
	})
	if err != nil {
		return nil, err
	}
	r := &RecRing{p: p, maxRecord: uint32(C.shmap_ring_elem_size(p)), Status: int(rc)}
	runtime.SetFinalizer(r, (*RecRing).Close)
	return r, nil
}

// Close releases the role and frees the handle. Safe to call twice.
func (r *RecRing) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		C.shmap_ring_close(r.p)
		r.p = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

func (r *RecRing) do(op string, fn func(p *C.shmap_ring) C.int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return &OpError{Op: op, Code: ErrInval}
	}
	return check(op, fn(r.p))
}

// MaxRecord is the largest record in bytes.
func (r *RecRing) MaxRecord() uint32 { return r.maxRecord }

// Capacity is the ring's size in bytes.
func (r *RecRing) Capacity() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return 0
	}
	return uint64(C.shmap_ring_capacity(r.p))
}

// Missed is, for a lossy subscriber, the bytes it skipped after being lapped.
func (r *RecRing) Missed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return 0
	}
	return uint64(C.shmap_ring_missed(r.p))
}

// Check verifies (and with repair fixes) the ring; returns the problems found.
func (r *RecRing) Check(repair bool) (uint64, error) {
	var n C.uint64_t
	fl := C.uint32_t(0)
	if repair {
		fl = C.SHMAP_CHECK_REPAIR
	}
	err := r.do("ring_check", func(p *C.shmap_ring) C.int { return C.shmap_ring_check(p, fl, &n) })
	return uint64(n), err
}

func (r *RecRing) checkLen(op string, data []byte) error {
	if len(data) == 0 {
		return &OpError{Op: op, Code: ErrInval}
	}
	if len(data) > int(r.maxRecord) {
		return &OpError{Op: op, Code: ErrTooBig}
	}
	return nil
}

// Push adds one record of len(data) bytes (1..MaxRecord); ErrFull if there
// is no room (never for lossy broadcast).
func (r *RecRing) Push(data []byte) error {
	if err := r.checkLen("ring_push_rec", data); err != nil {
		return err
	}
	return r.do("ring_push_rec", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_rec(p, ptr(data), C.uint32_t(len(data)))
	})
}

// PushWait pushes, waiting up to timeout for room (ErrTimeout).
func (r *RecRing) PushWait(data []byte, timeout time.Duration) error {
	if err := r.checkLen("ring_push_rec_wait", data); err != nil {
		return err
	}
	return r.do("ring_push_rec_wait", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_rec_wait(p, ptr(data), C.uint32_t(len(data)), ms(timeout))
	})
}

// Pop removes one record and returns it with its real length (ErrEmpty if
// none; lossy broadcast: ErrOverrun once when lapped).
func (r *RecRing) Pop() ([]byte, error) {
	b := make([]byte, r.maxRecord)
	var n C.uint32_t
	err := r.do("ring_pop_rec", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_pop_rec(p, ptr(b), C.uint32_t(len(b)), &n)
	})
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// PopWait pops, waiting up to timeout for a record (ErrTimeout).
func (r *RecRing) PopWait(timeout time.Duration) ([]byte, error) {
	b := make([]byte, r.maxRecord)
	var n C.uint32_t
	err := r.do("ring_pop_rec_wait", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_pop_rec_wait(p, ptr(b), C.uint32_t(len(b)), &n, ms(timeout))
	})
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// PushBatch pushes records in order, as many as fit (SPSC and reliable
// broadcast: published together); returns how many (0 and nil if full).
func (r *RecRing) PushBatch(recs [][]byte) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	lens := make([]C.uint32_t, len(recs))
	var flat []byte
	for i, d := range recs {
		if err := r.checkLen("ring_push_rec_n", d); err != nil {
			return 0, err
		}
		lens[i] = C.uint32_t(len(d))
		flat = append(flat, d...)
	}
	var done C.uint32_t
	err := r.do("ring_push_rec_n", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_rec_n(p, ptr(flat), &lens[0], C.uint32_t(len(recs)), &done)
	})
	if e, ok := err.(*OpError); ok && e.Code == ErrFull {
		return 0, nil
	}
	return int(done), err
}

// PopBatch pops up to n records (none and nil if empty).
func (r *RecRing) PopBatch(n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	buf := make([]byte, n*int(r.maxRecord))
	lens := make([]C.uint32_t, n)
	var done C.uint32_t
	err := r.do("ring_pop_rec_n", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_pop_rec_n(p, ptr(buf), C.uint64_t(len(buf)), &lens[0], C.uint32_t(n), &done)
	})
	if e, ok := err.(*OpError); ok && e.Code == ErrEmpty {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([][]byte, done)
	off := 0
	for i := range out {
		l := int(lens[i])
		out[i] = buf[off : off+l : off+l]
		off += l
	}
	return out, nil
}
