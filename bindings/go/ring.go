// SPDX-License-Identifier: MIT

package shmap

// #include <stdlib.h>
// #include <shmap/shmap.h>
// #include <shmap/ring.h>
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Ring types.
const (
	RingSPSC          = uint32(C.SHMAP_RING_SPSC)
	RingSPMC          = uint32(C.SHMAP_RING_SPMC)
	RingBcastLossy    = uint32(C.SHMAP_RING_BCAST_LOSSY)
	RingBcastReliable = uint32(C.SHMAP_RING_BCAST_RELIABLE)
)

// Ring roles. An Observer holds no role (inspection only): the queries,
// ReadAt, Consumers, Stats, ConsumerInfo and Check work, data calls return
// ErrNotAttached; it never takes over a role and is not counted as a consumer.
const (
	Observer = uint32(C.SHMAP_RING_OBSERVER)
	Producer = uint32(C.SHMAP_RING_PRODUCER)
	Consumer = uint32(C.SHMAP_RING_CONSUMER)
)

// RingParams are a ring's parameters at creation; zero values on open
// accept what the segment stores.
type RingParams struct {
	Type         uint32
	ElemSize     uint32
	Capacity     uint64
	MaxConsumers uint32
}

// Ring is a ring segment attached with one role. The C handle must not be
// used by two threads at once, so every method takes a mutex: a Ring may be
// shared by goroutines, which then take turns (a blocking Pop holds it).
// For parallelism open one Ring per goroutine.
type Ring struct {
	mu       sync.Mutex
	p        *C.shmap_ring
	elemSize uint32
	nt       ringNotify // the descriptor for Go's poller (notify.go)
	// Status is Recovered if the role was taken over from a dead process.
	Status int
}

// OpenRing creates or opens a ring and attaches with role (Producer,
// Consumer or Observer).
func OpenRing(name string, oflags uint32, params RingParams, role uint32, o *Options) (*Ring, error) {
	cn, err := cstring(name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cn))
	var p *C.shmap_ring
	var rc C.int
	if o == nil && params.MaxConsumers != 0 {
		o = &Options{} // max_consumers is an option of the C open
	}
	err = withOpts(o, func(co *C.shmap_opts) error {
		if co != nil {
			if err := check("opts_set_max_consumers",
				C.shmap_opts_set_max_consumers(co, C.uint32_t(params.MaxConsumers))); err != nil {
				return err
			}
		}
		var en error
		rc, en = C.shmap_ring_open(cn, C.uint32_t(oflags), C.uint32_t(params.Type),
			C.uint32_t(params.ElemSize), C.uint64_t(params.Capacity), C.uint32_t(role), co, &p)
		return checkSys("ring_open", rc, en)
	})
	if err != nil {
		return nil, err
	}
	r := &Ring{p: p, elemSize: uint32(C.shmap_ring_elem_size(p)), Status: int(rc)}
	runtime.SetFinalizer(r, (*Ring).Close)
	return r, nil
}

// OpenProducer attaches to an existing ring as its producer.
func OpenProducer(name string) (*Ring, error) {
	return OpenRing(name, Open, RingParams{}, Producer, nil)
}

// OpenConsumer attaches to an existing ring as a consumer / subscriber.
func OpenConsumer(name string) (*Ring, error) {
	return OpenRing(name, Open, RingParams{}, Consumer, nil)
}

// OpenObserver attaches to an existing ring without a role (see Observer).
func OpenObserver(name string) (*Ring, error) {
	return OpenRing(name, Open, RingParams{}, Observer, nil)
}

// Close releases the role and frees the handle. Safe to call twice.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeNotify()
	if r.p != nil {
		C.shmap_ring_close(r.p)
		r.p = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

func (r *Ring) do(op string, fn func(p *C.shmap_ring) C.int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return &OpError{Op: op, Code: ErrInval}
	}
	return check(op, fn(r.p))
}

func (r *Ring) u64(fn func(p *C.shmap_ring) C.uint64_t) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return 0
	}
	return uint64(fn(r.p))
}

func (r *Ring) ElemSize() uint32 { return r.elemSize }
func (r *Ring) Capacity() uint64 {
	return r.u64(func(p *C.shmap_ring) C.uint64_t { return C.shmap_ring_capacity(p) })
}
func (r *Ring) Len() uint64 {
	return r.u64(func(p *C.shmap_ring) C.uint64_t { return C.shmap_ring_size(p) })
}

// Missed is, for a lossy broadcast subscriber, the elements it missed.
func (r *Ring) Missed() uint64 {
	return r.u64(func(p *C.shmap_ring) C.uint64_t { return C.shmap_ring_missed(p) })
}

// Lost is, for SPMC, the elements lost with consumers that died.
func (r *Ring) Lost() uint64 {
	return r.u64(func(p *C.shmap_ring) C.uint64_t { return C.shmap_ring_lost(p) })
}
func (r *Ring) Type() uint32 {
	return uint32(r.u64(func(p *C.shmap_ring) C.uint64_t { return C.uint64_t(C.shmap_ring_type(p)) }))
}
func (r *Ring) Role() uint32 {
	return uint32(r.u64(func(p *C.shmap_ring) C.uint64_t { return C.uint64_t(C.shmap_ring_role(p)) }))
}
func (r *Ring) MaxConsumers() uint32 {
	return uint32(r.u64(func(p *C.shmap_ring) C.uint64_t { return C.uint64_t(C.shmap_ring_max_consumers(p)) }))
}
func (r *Ring) Fd() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return -1
	}
	return int(C.shmap_ring_fd(r.p))
}

// Reattach makes an inherited handle usable in a child after fork.
// It closes the ring's descriptor (NotifyFd gives a new one).
func (r *Ring) Reattach() error {
	return r.do("ring_reattach", func(p *C.shmap_ring) C.int {
		r.closeNotify()
		return C.shmap_ring_reattach(p)
	})
}

// RingStats are ring-wide counters (see shmap_ring_stats).
type RingStats struct {
	Head, Tail, Lost uint64
	ProducerPid      uint32
	ProducerAlive    bool
}

// Stats reads the ring-wide counters.
func (r *Ring) Stats() (RingStats, error) {
	var st C.shmap_ring_stats_t
	st.size = C.uint32_t(unsafe.Sizeof(st))
	err := r.do("ring_stats", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_stats(p, &st)
	})
	return RingStats{uint64(st.head), uint64(st.tail), uint64(st.lost), uint32(st.producer_pid),
		st.producer_alive != 0}, err
}

// ConsumerInfo describes one consumer/subscriber slot.
type ConsumerInfo struct {
	Pid            uint32
	Alive          bool
	Cursor, Missed uint64
}

// ConsumerInfo reads slot index; ok is false for a free slot.
func (r *Ring) ConsumerInfo(index uint32) (info ConsumerInfo, ok bool, err error) {
	var st C.shmap_ring_consumer_stats_t
	st.size = C.uint32_t(unsafe.Sizeof(st))
	err = r.do("ring_consumer_stats", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_consumer_stats(p, C.uint32_t(index), &st)
	})
	if e, isOp := err.(*OpError); isOp && e.Code == ErrNotFound {
		return info, false, nil
	}
	if err != nil {
		return info, false, err
	}
	return ConsumerInfo{uint32(st.pid), st.alive != 0, uint64(st.cursor), uint64(st.missed)}, true, nil
}

// Consumers is the number of live consumers (SPSC, SPMC) or subscribers
// (broadcast) attached now; observers, and dead holders not yet reclaimed,
// do not count. It costs one liveness probe per occupied record.
func (r *Ring) Consumers() int {
	return int(r.u64(func(p *C.shmap_ring) C.uint64_t { return C.uint64_t(C.shmap_ring_consumers(p)) }))
}

// LiveConsumers is Consumers with an error result (kept for older callers).
func (r *Ring) LiveConsumers() (int, error) {
	return r.Consumers(), nil
}

// ReadAt copies the element at absolute position pos (the count of elements
// pushed before it) without consuming it; any role, including Observer.
// ErrRange if pos is outside the live window (ring.h: [tail, head) for
// SPSC/SPMC, from the lowest subscriber cursor for reliable broadcast, the
// last Capacity elements for lossy broadcast); ErrOverrun if the element was
// overwritten during the copy.
func (r *Ring) ReadAt(pos uint64) ([]byte, error) {
	b := make([]byte, r.elemSize)
	err := r.do("ring_read_at", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_read_at(p, C.uint64_t(pos), ptr(b))
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Check verifies (repair: fixes) the ring; returns the problems found.
// Clear discards the elements waiting for this consumer and returns how
// many: SPSC the ring, SPMC the unclaimed elements, broadcast this
// subscriber's backlog only. Producer and observer handles get
// ErrNotAttached: only the consuming side can give elements up without
// racing the other side (see shmap_ring_clear(3)).
func (r *Ring) Clear() (uint64, error) {
	var n C.uint64_t
	err := r.do("ring_clear", func(p *C.shmap_ring) C.int { return C.shmap_ring_clear(p, &n) })
	return uint64(n), err
}

func (r *Ring) Check(repair bool) (uint64, error) {
	var n C.uint64_t
	var fl C.uint32_t
	if repair {
		fl = C.SHMAP_CHECK_REPAIR
	}
	err := r.do("ring_check", func(p *C.shmap_ring) C.int { return C.shmap_ring_check(p, fl, &n) })
	return uint64(n), err
}

func ms(d time.Duration) C.uint32_t {
	m := d.Milliseconds()
	if m < 0 {
		m = 0
	}
	if m > 0xFFFFFFFF {
		m = 0xFFFFFFFF
	}
	return C.uint32_t(m)
}

func (r *Ring) checkLen(op string, data []byte) error {
	if len(data) > int(r.elemSize) {
		return &OpError{Op: op, Code: ErrTooBig}
	}
	return nil
}

// Push adds one element (shorter data is zero-padded); ErrFull if no slot is free.
func (r *Ring) Push(data []byte) error {
	if err := r.checkLen("ring_push_bytes", data); err != nil {
		return err
	}
	return r.do("ring_push_bytes", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_bytes(p, ptr(data), C.uint32_t(len(data)))
	})
}

// PushWait pushes (shorter data is zero-padded), waiting up to timeout for a
// free slot (ErrTimeout).
func (r *Ring) PushWait(data []byte, timeout time.Duration) error {
	if err := r.checkLen("ring_push_bytes_wait", data); err != nil {
		return err
	}
	return r.do("ring_push_bytes_wait", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_bytes_wait(p, ptr(data), C.uint32_t(len(data)), ms(timeout))
	})
}

// Pop removes one element (ErrEmpty if none; lossy broadcast: ErrOverrun
// once when lapped, see Missed).
func (r *Ring) Pop() ([]byte, error) {
	b := make([]byte, r.elemSize)
	err := r.do("ring_pop", func(p *C.shmap_ring) C.int { return C.shmap_ring_pop(p, ptr(b)) })
	if err != nil {
		return nil, err
	}
	return b, nil
}

// PopWait pops, waiting up to timeout for an element (ErrTimeout).
func (r *Ring) PopWait(timeout time.Duration) ([]byte, error) {
	b := make([]byte, r.elemSize)
	err := r.do("ring_pop_wait", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_pop_wait(p, ptr(b), ms(timeout))
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// PushBatch pushes elements packed back to back in elems (a multiple of
// ElemSize bytes), as many as fit; returns how many (0 if full).
func (r *Ring) PushBatch(elems []byte) (int, error) {
	if r.elemSize == 0 || len(elems)%int(r.elemSize) != 0 {
		return 0, &OpError{Op: "ring_push_n", Code: ErrInval}
	}
	var done C.uint32_t
	err := r.do("ring_push_n", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_n(p, ptr(elems), C.uint32_t(len(elems)/int(r.elemSize)), &done)
	})
	if e, ok := err.(*OpError); ok && e.Code == ErrFull {
		return 0, nil
	}
	return int(done), err
}

// PushBatchWait pushes all packed elements, waiting up to timeout in total;
// on ErrTimeout some may have been pushed (the count says how many).
func (r *Ring) PushBatchWait(elems []byte, timeout time.Duration) (int, error) {
	if r.elemSize == 0 || len(elems)%int(r.elemSize) != 0 {
		return 0, &OpError{Op: "ring_push_n_wait", Code: ErrInval}
	}
	var done C.uint32_t
	err := r.do("ring_push_n_wait", func(p *C.shmap_ring) C.int {
		return C.shmap_ring_push_n_wait(p, ptr(elems), C.uint32_t(len(elems)/int(r.elemSize)), &done, ms(timeout))
	})
	return int(done), err
}

// PopBatch pops up to n elements; returns them packed (empty if none).
func (r *Ring) PopBatch(n int) ([]byte, error) {
	return r.popBatch(n, -1)
}

// PopBatchWait pops 1..n elements, waiting up to timeout for the first.
func (r *Ring) PopBatchWait(n int, timeout time.Duration) ([]byte, error) {
	return r.popBatch(n, timeout)
}

func (r *Ring) popBatch(n int, timeout time.Duration) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	b := make([]byte, n*int(r.elemSize))
	var done C.uint32_t
	var err error
	if timeout < 0 {
		err = r.do("ring_pop_n", func(p *C.shmap_ring) C.int {
			return C.shmap_ring_pop_n(p, ptr(b), C.uint32_t(n), &done)
		})
		if e, ok := err.(*OpError); ok && e.Code == ErrEmpty {
			return nil, nil
		}
	} else {
		err = r.do("ring_pop_n_wait", func(p *C.shmap_ring) C.int {
			return C.shmap_ring_pop_n_wait(p, ptr(b), C.uint32_t(n), &done, ms(timeout))
		})
	}
	if err != nil {
		return nil, err
	}
	return b[:int(done)*int(r.elemSize)], nil
}

// Wait blocks until the next operation can make progress, up to timeout.
func (r *Ring) Wait(timeout time.Duration) error {
	return r.do("ring_wait", func(p *C.shmap_ring) C.int { return C.shmap_ring_wait(p, ms(timeout)) })
}

// Drain pops until the ring is empty and returns the elements (a lossy
// subscriber's overrun stops it with ErrOverrun).
func (r *Ring) Drain() ([][]byte, error) {
	var out [][]byte
	for {
		e, err := r.Pop()
		if err != nil {
			if oe, ok := err.(*OpError); ok && oe.Code == ErrEmpty {
				return out, nil
			}
			return out, err
		}
		out = append(out, e)
	}
}

// Reserve reserves up to n slots for in-place writing and returns them as
// one slice of got*ElemSize bytes, valid until Commit. Only the goroutine
// that reserved may call Commit (the Ring's mutex is NOT held in between).
func (r *Ring) Reserve(n int) ([]byte, error) {
	var p unsafe.Pointer
	var got C.uint32_t
	err := r.do("ring_reserve", func(h *C.shmap_ring) C.int {
		return C.shmap_ring_reserve(h, C.uint32_t(n), &p, &got)
	})
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), int(got)*int(r.elemSize)), nil
}

// Commit publishes the first n reserved slots (0 drops the reservation).
func (r *Ring) Commit(n int) error {
	return r.do("ring_commit", func(p *C.shmap_ring) C.int { return C.shmap_ring_commit(p, C.uint32_t(n)) })
}

// Peek looks at up to n elements in place; the slice is valid until Release.
func (r *Ring) Peek(n int) ([]byte, error) {
	var p unsafe.Pointer
	var got C.uint32_t
	err := r.do("ring_peek", func(h *C.shmap_ring) C.int {
		return C.shmap_ring_peek(h, C.uint32_t(n), &p, &got)
	})
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), int(got)*int(r.elemSize)), nil
}

// Release consumes the first n peeked elements.
func (r *Ring) Release(n int) error {
	return r.do("ring_release", func(p *C.shmap_ring) C.int { return C.shmap_ring_release(p, C.uint32_t(n)) })
}
