// SPDX-License-Identifier: MIT

package shmap

// #include <stdlib.h>
// #include <shmap/shmap.h>
// #include <shmap/vector.h>
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Slot states reported by SlotState.
const (
	SlotFree      = uint32(C.SHMAP_VECTOR_SLOT_FREE)
	SlotReserved  = uint32(C.SHMAP_VECTOR_SLOT_RESERVED)
	SlotPublished = uint32(C.SHMAP_VECTOR_SLOT_PUBLISHED)
	SlotReplacing = uint32(C.SHMAP_VECTOR_SLOT_REPLACING)
	SlotHole      = uint32(C.SHMAP_VECTOR_SLOT_HOLE)
)

// Vector is an append-only vector of fixed-size elements. It may be used by
// many goroutines at once; reservations belong to the handle.
type Vector struct {
	mu       sync.RWMutex
	p        *C.shmap_vector
	elemSize uint32
	Status   int
}

// OpenVector creates or opens a vector; on open, 0 parameters accept what
// is stored.
func OpenVector(name string, oflags uint32, elemSize uint32, capacity uint64, o *Options) (*Vector, error) {
	cn, err := cstring(name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cn))
	var p *C.shmap_vector
	var rc C.int
	err = withOpts(o, func(co *C.shmap_opts) error {
		var en error
		rc, en = C.shmap_vector_open(cn, C.uint32_t(oflags), C.uint32_t(elemSize), C.uint64_t(capacity), co, &p)
		return checkSys("vector_open", rc, en)
	})
	if err != nil {
		return nil, err
	}
	v := &Vector{p: p, elemSize: uint32(C.shmap_vector_elem_size(p)), Status: int(rc)}
	runtime.SetFinalizer(v, (*Vector).Close)
	return v, nil
}

// CreateVector creates a new vector.
func CreateVector(name string, elemSize uint32, capacity uint64) (*Vector, error) {
	return OpenVector(name, Create, elemSize, capacity, nil)
}

// Close frees the handle. Safe to call twice.
func (v *Vector) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.p != nil {
		C.shmap_vector_close(v.p)
		v.p = nil
		runtime.SetFinalizer(v, nil)
	}
	return nil
}

func (v *Vector) do(op string, fn func(p *C.shmap_vector) C.int) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.p == nil {
		return &OpError{Op: op, Code: ErrInval}
	}
	return check(op, fn(v.p))
}

func (v *Vector) u64(fn func(p *C.shmap_vector) C.uint64_t) uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.p == nil {
		return 0
	}
	return uint64(fn(v.p))
}

func (v *Vector) ElemSize() uint32 { return v.elemSize }

// Len is the published prefix (the watermark).
func (v *Vector) Len() uint64 {
	return v.u64(func(p *C.shmap_vector) C.uint64_t { return C.shmap_vector_size(p) })
}
func (v *Vector) Capacity() uint64 {
	return v.u64(func(p *C.shmap_vector) C.uint64_t { return C.shmap_vector_capacity(p) })
}
func (v *Vector) Reserved() uint64 {
	return v.u64(func(p *C.shmap_vector) C.uint64_t { return C.shmap_vector_reserved(p) })
}
func (v *Vector) Holes() uint64 {
	return v.u64(func(p *C.shmap_vector) C.uint64_t { return C.shmap_vector_holes(p) })
}

// Reattach attaches an inherited handle in a child after fork.
func (v *Vector) Reattach() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.p == nil {
		return &OpError{Op: "vector_reattach", Code: ErrInval}
	}
	return check("vector_reattach", C.shmap_vector_reattach(v.p))
}

func (v *Vector) pad(op string, data []byte) ([]byte, error) {
	if len(data) > int(v.elemSize) {
		return nil, &OpError{Op: op, Code: ErrTooBig}
	}
	if len(data) == int(v.elemSize) {
		return data, nil
	}
	b := make([]byte, v.elemSize)
	copy(b, data)
	return b, nil
}

// Push appends one element (zero-padded); returns its index.
func (v *Vector) Push(data []byte) (uint64, error) {
	b, err := v.pad("vector_push", data)
	if err != nil {
		return 0, err
	}
	var idx C.uint64_t
	err = v.do("vector_push", func(p *C.shmap_vector) C.int { return C.shmap_vector_push(p, ptr(b), &idx) })
	return uint64(idx), err
}

// Get returns element index (ErrRange, ErrNotReady, ErrNotFound for a hole).
func (v *Vector) Get(index uint64) ([]byte, error) {
	b := make([]byte, v.elemSize)
	err := v.do("vector_get", func(p *C.shmap_vector) C.int {
		return C.shmap_vector_get(p, C.uint64_t(index), ptr(b))
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Replace swaps in a new value for a published element.
func (v *Vector) Replace(index uint64, data []byte) error {
	b, err := v.pad("vector_replace", data)
	if err != nil {
		return err
	}
	return v.do("vector_replace", func(p *C.shmap_vector) C.int {
		return C.shmap_vector_replace(p, C.uint64_t(index), ptr(b))
	})
}

// Reserve reserves n contiguous slots and returns the first index.
func (v *Vector) Reserve(n uint64) (uint64, error) {
	var first C.uint64_t
	err := v.do("vector_reserve", func(p *C.shmap_vector) C.int {
		return C.shmap_vector_reserve(p, C.uint64_t(n), &first)
	})
	return uint64(first), err
}

// Write fills a slot this handle reserved.
func (v *Vector) Write(index uint64, data []byte) error {
	b, err := v.pad("vector_write", data)
	if err != nil {
		return err
	}
	return v.do("vector_write", func(p *C.shmap_vector) C.int {
		return C.shmap_vector_write(p, C.uint64_t(index), ptr(b))
	})
}

// SlotBytes gives zero-copy access to a slot this handle reserved and has
// not published: ElemSize writable bytes in the mapping. Do not use the
// slice after Publish.
func (v *Vector) SlotBytes(index uint64) ([]byte, error) {
	var p unsafe.Pointer
	err := v.do("vector_slot_ptr", func(h *C.shmap_vector) C.int {
		return C.shmap_vector_slot_ptr(h, C.uint64_t(index), &p)
	})
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), int(v.elemSize)), nil
}

// SlotState reports one slot's state (SHMAP_VECTOR_SLOT_*) and owner id.
func (v *Vector) SlotState(index uint64) (state, owner uint32, err error) {
	var s, o C.uint32_t
	err = v.do("vector_slot_state", func(h *C.shmap_vector) C.int {
		return C.shmap_vector_slot_state(h, C.uint64_t(index), &s, &o)
	})
	return uint32(s), uint32(o), err
}

// Fd is the memfd to pass to peers (memfd backend), else -1.
func (v *Vector) Fd() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.p == nil {
		return -1
	}
	return int(C.shmap_vector_fd(v.p))
}

// Publish makes reserved slots [first, first+n) visible.
func (v *Vector) Publish(first, n uint64) error {
	return v.do("vector_publish", func(p *C.shmap_vector) C.int {
		return C.shmap_vector_publish(p, C.uint64_t(first), C.uint64_t(n))
	})
}

// Next returns the next published element at or after *cursor (skipping
// holes) and advances it; ok is false at the end or at an unpublished slot.
func (v *Vector) Next(cursor *uint64) (index uint64, elem []byte, ok bool, err error) {
	b := make([]byte, v.elemSize)
	c := C.uint64_t(*cursor)
	var idx C.uint64_t
	err = v.do("vector_next", func(p *C.shmap_vector) C.int {
		return C.shmap_vector_next(p, &c, ptr(b), &idx)
	})
	*cursor = uint64(c)
	if e, isOp := err.(*OpError); isOp && (e.Code == ErrEmpty || e.Code == ErrNotReady) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	return uint64(idx), b, true, nil
}

// Recover turns a dead writer's unpublished slots into holes.
func (v *Vector) Recover() error {
	return v.do("vector_recover", func(p *C.shmap_vector) C.int { return C.shmap_vector_recover(p) })
}

// Check verifies (repair: fixes) a quiescent vector; returns problems found.
// Clear is refused with ErrNotSup: a vector is append-only and a published
// index stays valid for every reader (see shmap_vector_clear(3)). Create a
// new vector to start over.
func (v *Vector) Clear() error {
	return v.do("vector_clear", func(p *C.shmap_vector) C.int { return C.shmap_vector_clear(p) })
}

func (v *Vector) Check(repair bool) (uint64, error) {
	var n C.uint64_t
	var fl C.uint32_t
	if repair {
		fl = C.SHMAP_CHECK_REPAIR
	}
	err := v.do("vector_check", func(p *C.shmap_vector) C.int { return C.shmap_vector_check(p, fl, &n) })
	return uint64(n), err
}

// Stat counts published, pending and hole slots.
func (v *Vector) Stat() (published, pending, holes uint64, err error) {
	var st C.shmap_vector_stats_t
	st.size = C.uint32_t(unsafe.Sizeof(st))
	err = v.do("vector_stats", func(p *C.shmap_vector) C.int { return C.shmap_vector_stats(p, &st) })
	return uint64(st.published), uint64(st.pending), uint64(st.holes), err
}
