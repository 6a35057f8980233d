// SPDX-License-Identifier: MIT

package shmap

// #include <stdlib.h>
// #include <shmap/shmap.h>
// #include <shmap/htable.h>
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

const firstBuf = 256

// manyBuf is GetMany's value buffer per C call, in bytes (at least one key).
const manyBuf = 1 << 20

// Table is a shared-memory hash table of byte-string keys and values.
//
// A Table may be used by many goroutines at once (the C handle is
// thread-safe); Close waits for calls in progress. A finalizer closes a
// Table that is garbage-collected without Close.
type Table struct {
	mu      sync.RWMutex
	p       *C.shmap_htable
	keyMax  uint32
	valMax  uint32
	cursors map[*Cursor]struct{}
	// Status is Recovered if the open rebuilt the segment after a dead builder.
	Status int
}

// OpenTable creates or opens a table (oflags Create, Open or OpenOrCreate);
// on open, 0 parameters accept what the segment stores.
func OpenTable(name string, oflags uint32, capacity uint64, keyMax, valueMax uint32,
	o *Options) (*Table, error) {
	cn, err := cstring(name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cn))
	var p *C.shmap_htable
	var rc C.int
	err = withOpts(o, func(co *C.shmap_opts) error {
		var en error
		rc, en = C.shmap_htable_open(cn, C.uint32_t(oflags), C.uint32_t(keyMax),
			C.uint32_t(valueMax), C.uint64_t(capacity), co, &p)
		return checkSys("htable_open", rc, en)
	})
	if err != nil {
		return nil, err
	}
	t := &Table{p: p, keyMax: uint32(C.shmap_htable_key_max(p)),
		valMax: uint32(C.shmap_htable_value_max(p)), cursors: map[*Cursor]struct{}{},
		Status: int(rc)}
	runtime.SetFinalizer(t, (*Table).Close)
	return t, nil
}

// CreateTable creates a new table (ErrExist if the name exists).
func CreateTable(name string, capacity uint64, keyMax, valueMax uint32) (*Table, error) {
	return OpenTable(name, Create, capacity, keyMax, valueMax, nil)
}

// Close frees the handle (and any open cursors). Safe to call twice.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil {
		return nil
	}
	for c := range t.cursors {
		c.free()
	}
	t.cursors = nil
	C.shmap_htable_close(t.p)
	t.p = nil
	runtime.SetFinalizer(t, nil)
	return nil
}

// h returns the C handle with the read lock held; the caller must RUnlock.
func (t *Table) h(op string) (*C.shmap_htable, error) {
	t.mu.RLock()
	if t.p == nil {
		t.mu.RUnlock()
		return nil, &OpError{Op: op, Code: ErrInval}
	}
	return t.p, nil
}

func (t *Table) KeyMax() uint32   { return t.keyMax }
func (t *Table) ValueMax() uint32 { return t.valMax }

// Len is the number of live entries.
func (t *Table) Len() uint64 {
	p, err := t.h("htable_size")
	if err != nil {
		return 0
	}
	defer t.mu.RUnlock()
	return uint64(C.shmap_htable_size(p))
}

// Capacity is the real capacity (a power of two).
func (t *Table) Capacity() uint64 {
	p, err := t.h("htable_capacity")
	if err != nil {
		return 0
	}
	defer t.mu.RUnlock()
	return uint64(C.shmap_htable_capacity(p))
}

// Fd is the memfd to pass to peers (memfd backend), else -1.
func (t *Table) Fd() int {
	p, err := t.h("htable_fd")
	if err != nil {
		return -1
	}
	defer t.mu.RUnlock()
	return int(C.shmap_htable_fd(p))
}

// SetTimeoutMs bounds waits for a key's lock held by a live writer.
func (t *Table) SetTimeoutMs(ms uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil {
		return &OpError{Op: "htable_set_timeout_ms", Code: ErrInval}
	}
	return check("htable_set_timeout_ms", C.shmap_htable_set_timeout_ms(t.p, C.uint32_t(ms)))
}

// Reattach attaches an inherited handle in a child after fork.
func (t *Table) Reattach() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil {
		return &OpError{Op: "htable_reattach", Code: ErrInval}
	}
	return check("htable_reattach", C.shmap_htable_reattach(t.p))
}

// Get returns the value of key; ok is false if the key is absent.
func (t *Table) Get(key []byte) (value []byte, ok bool, err error) {
	p, err := t.h("htable_get")
	if err != nil {
		return nil, false, err
	}
	defer t.mu.RUnlock()
	return t.getLocked(p, key)
}

// getLocked is Get with the read lock held.
func (t *Table) getLocked(p *C.shmap_htable, key []byte) (value []byte, ok bool, err error) {
	size := t.valMax
	if size > firstBuf {
		size = firstBuf
	}
	for i := 0; i < 8; i++ {
		buf := make([]byte, size)
		var n C.uint32_t
		rc := C.shmap_htable_get(p, ptr(key), C.uint32_t(len(key)), ptr(buf), C.uint32_t(size), &n)
		switch Errno(rc) {
		case ErrBufSize:
			if uint32(n) > size {
				size = uint32(n)
			}
			continue
		case ErrNotFound:
			return nil, false, nil
		}
		if err := check("htable_get", rc); err != nil {
			return nil, false, err
		}
		return buf[:n], true, nil
	}
	return nil, false, &OpError{Op: "htable_get", Code: ErrBusy}
}

// GetMany looks several keys up at once (shmap_htable_get_many: their
// buckets are prefetched together, so lookups in a large table overlap
// their cache misses). values[i] is key i's value, or nil if it is absent,
// exactly as Get would say. Any other per-key status is returned as the
// error Get would return: ErrTooBig if a key is longer than KeyMax (checked
// before any lookup), ErrInval for an empty key, ErrBusy, ErrCorrupt (the
// first such key in order); so is a failure of the whole call (ErrForked,
// ...). Each key is looked up on its own: the results are not a snapshot
// of one instant. Large batches are split into calls of about 1 MiB of
// value buffer. Keys and values are passed as flat Go buffers holding no Go
// pointers.
func (t *Table) GetMany(keys [][]byte) (values [][]byte, err error) {
	const op = "htable_get_many"
	p, err := t.h(op)
	if err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	stride := 1
	for _, k := range keys {
		if uint64(len(k)) > uint64(t.keyMax) {
			return nil, &OpError{Op: op, Code: ErrTooBig}
		}
		if len(k) > stride {
			stride = len(k)
		}
	}
	vstride := int(t.valMax)
	if vstride < 1 {
		vstride = 1
	}
	perCall := manyBuf / vstride
	if perCall < 1 {
		perCall = 1
	}
	if perCall > len(keys) {
		perCall = len(keys)
	}
	kbuf := make([]byte, perCall*stride)
	klens := make([]C.uint32_t, perCall)
	vbuf := make([]byte, perCall*vstride)
	vlens := make([]C.uint32_t, perCall)
	rcs := make([]C.int, perCall)
	values = make([][]byte, 0, len(keys))
	for first := 0; first < len(keys); first += perCall {
		chunk := keys[first:]
		if len(chunk) > perCall {
			chunk = chunk[:perCall]
		}
		for i, k := range chunk {
			copy(kbuf[i*stride:], k)
			klens[i] = C.uint32_t(len(k))
		}
		rc := C.shmap_htable_get_many(p, C.uint32_t(len(chunk)), unsafe.Pointer(&kbuf[0]),
			C.uint32_t(stride), &klens[0], unsafe.Pointer(&vbuf[0]), C.uint32_t(vstride),
			&vlens[0], &rcs[0])
		if err := check(op, rc); err != nil {
			return nil, err
		}
		for i := range chunk {
			switch Errno(rcs[i]) {
			case 0:
				off := i * vstride
				values = append(values, append([]byte(nil), vbuf[off:off+int(vlens[i])]...))
			case ErrNotFound:
				values = append(values, nil)
			case ErrBufSize: // cannot happen with ValueMax bytes of room; ask alone
				v, _, err := t.getLocked(p, chunk[i])
				if err != nil {
					return nil, err
				}
				values = append(values, v)
			default:
				return nil, &OpError{Op: op, Code: Errno(rcs[i])}
			}
		}
	}
	return values, nil
}

func (t *Table) write(op string, fn func(p *C.shmap_htable) C.int) error {
	p, err := t.h(op)
	if err != nil {
		return err
	}
	defer t.mu.RUnlock()
	return check(op, fn(p))
}

// Put inserts or replaces (upsert).
func (t *Table) Put(key, value []byte) error {
	return t.write("htable_upsert", func(p *C.shmap_htable) C.int {
		return C.shmap_htable_upsert(p, ptr(key), C.uint32_t(len(key)), ptr(value), C.uint32_t(len(value)))
	})
}

// Insert adds a key that must not exist (ErrExist otherwise).
func (t *Table) Insert(key, value []byte) error {
	return t.write("htable_insert", func(p *C.shmap_htable) C.int {
		return C.shmap_htable_insert(p, ptr(key), C.uint32_t(len(key)), ptr(value), C.uint32_t(len(value)))
	})
}

// Replace changes the value of a key that must exist (ErrNotFound otherwise).
func (t *Table) Replace(key, value []byte) error {
	return t.write("htable_replace", func(p *C.shmap_htable) C.int {
		return C.shmap_htable_replace(p, ptr(key), C.uint32_t(len(key)), ptr(value), C.uint32_t(len(value)))
	})
}

// Delete erases a key; it reports whether the key was there.
func (t *Table) Delete(key []byte) (bool, error) {
	err := t.write("htable_erase", func(p *C.shmap_htable) C.int {
		return C.shmap_htable_erase(p, ptr(key), C.uint32_t(len(key)))
	})
	if e, ok := err.(*OpError); ok && e.Code == ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// CompareAndSwap replaces the value with desired if it equals expected;
// it reports whether it swapped.
func (t *Table) CompareAndSwap(key, expected, desired []byte) (bool, error) {
	err := t.write("htable_cas", func(p *C.shmap_htable) C.int {
		return C.shmap_htable_cas(p, ptr(key), C.uint32_t(len(key)), ptr(expected),
			C.uint32_t(len(expected)), ptr(desired), C.uint32_t(len(desired)))
	})
	if e, ok := err.(*OpError); ok && e.Code == ErrMismatch {
		return false, nil
	}
	return err == nil, err
}

// CasErase erases key only if its value equals expected; it reports
// whether it erased (false: the value differed, nothing changed). A missing
// key is ErrNotFound, as for CompareAndSwap. Of several goroutines or
// processes calling it with the current value, exactly one gets true.
func (t *Table) CasErase(key, expected []byte) (bool, error) {
	err := t.write("htable_cas_erase", func(p *C.shmap_htable) C.int {
		return C.shmap_htable_cas_erase(p, ptr(key), C.uint32_t(len(key)), ptr(expected),
			C.uint32_t(len(expected)))
	})
	if e, ok := err.(*OpError); ok && e.Code == ErrMismatch {
		return false, nil
	}
	return err == nil, err
}

// UpdateResult is what an UpdateWith function decides (the C callback
// results SHMAP_HTABLE_*).
type UpdateResult int

const (
	UpdateCommit = UpdateResult(C.SHMAP_HTABLE_COMMIT) // store newValue (creating the key)
	UpdateAbort  = UpdateResult(C.SHMAP_HTABLE_ABORT)  // change nothing: ErrAborted
	UpdateErase  = UpdateResult(C.SHMAP_HTABLE_ERASE)  // erase the key (nothing if missing)
	// UpdateKeep writes nothing and succeeds: nil if the key exists,
	// ErrNotFound if not. Returning it when exists is false makes an
	// update-if-exists.
	UpdateKeep = UpdateResult(C.SHMAP_HTABLE_KEEP)
)

// Update is a read-modify-write (see UpdateWith): ok=false changes nothing
// (ErrAborted), and a nil newValue with ok=true erases the key (nothing to
// do if it is missing).
func (t *Table) Update(key []byte, fn func(cur []byte, exists bool) (newValue []byte, ok bool)) error {
	return t.UpdateWith(key, func(cur []byte, exists bool) ([]byte, UpdateResult) {
		nv, ok := fn(cur, exists)
		switch {
		case !ok:
			return nil, UpdateAbort
		case nv == nil:
			return nil, UpdateErase
		}
		return nv, UpdateCommit
	})
}

// UpdateWith is a read-modify-write built on Get, Insert, CompareAndSwap and
// CasErase (Go cannot pass the C update callback): fn gets a copy of the
// current value (nil, false if missing) and decides with an UpdateResult.
// Each write only succeeds if the value is still the one fn saw, so the
// result is atomic; fn may run several times under contention (ErrBusy after
// 1000 lost races). UpdateCommit with an empty or nil newValue is ErrInval.
func (t *Table) UpdateWith(key []byte, fn func(cur []byte, exists bool) ([]byte, UpdateResult)) error {
	for i := 0; i < 1000; i++ {
		cur, exists, err := t.Get(key)
		if err != nil {
			return err
		}
		nv, res := fn(cur, exists)
		switch res {
		case UpdateCommit:
			if len(nv) == 0 {
				return &OpError{Op: "htable_update", Code: ErrInval}
			}
		case UpdateAbort:
			return &OpError{Op: "htable_update", Code: ErrAborted}
		case UpdateKeep:
			if !exists {
				return &OpError{Op: "htable_update", Code: ErrNotFound}
			}
			return nil
		case UpdateErase:
			nv = nil
		default:
			return &OpError{Op: "htable_update", Code: ErrInval}
		}
		if nv == nil {
			if !exists {
				return nil
			}
			erased, err := t.CasErase(key, cur)
			if err != nil {
				if e, ok := err.(*OpError); ok && e.Code == ErrNotFound {
					continue
				}
				return err
			}
			if erased {
				return nil
			}
			continue
		}
		if !exists {
			err = t.Insert(key, nv)
			if e, ok := err.(*OpError); ok && e.Code == ErrExist {
				continue
			}
			return err
		}
		swapped, err := t.CompareAndSwap(key, cur, nv)
		if err != nil {
			if e, ok := err.(*OpError); ok && e.Code == ErrNotFound {
				continue
			}
			return err
		}
		if swapped {
			return nil
		}
	}
	return &OpError{Op: "htable_update", Code: ErrBusy}
}

// Clear erases every entry.
func (t *Table) Clear() error {
	return t.write("htable_clear", func(p *C.shmap_htable) C.int { return C.shmap_htable_clear(p) })
}

// Stats scans every bucket: live entries, tombstones, longest probe.
func (t *Table) Stats() (live, tombstones, longestProbe uint64, err error) {
	var st C.shmap_htable_stats_t
	st.size = C.uint32_t(unsafe.Sizeof(st))
	err = t.write("htable_stats", func(p *C.shmap_htable) C.int { return C.shmap_htable_stats(p, &st) })
	return uint64(st.live), uint64(st.tombstones), uint64(st.longest_probe), err
}

// Check verifies a quiescent table (repair: fix what dead processes left);
// it returns the number of problems found.
func (t *Table) Check(repair bool) (uint64, error) {
	var n C.uint64_t
	var fl C.uint32_t
	if repair {
		fl = C.SHMAP_CHECK_REPAIR
	}
	err := t.write("htable_check", func(p *C.shmap_htable) C.int { return C.shmap_htable_check(p, fl, &n) })
	return uint64(n), err
}

// Cursor iterates over a table through the C cursor API. Use it from one
// goroutine at a time; Close it (or let the Table's Close free it).
type Cursor struct {
	t      *Table
	c      *C.shmap_htable_cursor
	kb, vb []byte
	err    error
	key    []byte
	val    []byte
}

// Cursor opens an iteration cursor (weakly consistent).
func (t *Table) Cursor() (*Cursor, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil {
		return nil, &OpError{Op: "htable_cursor_new", Code: ErrInval}
	}
	var c *C.shmap_htable_cursor
	if err := check("htable_cursor_new", C.shmap_htable_cursor_new(t.p, &c)); err != nil {
		return nil, err
	}
	kc, vc := t.keyMax, t.valMax
	if kc > firstBuf {
		kc = firstBuf
	}
	if vc > firstBuf {
		vc = firstBuf
	}
	cur := &Cursor{t: t, c: c, kb: make([]byte, kc+1), vb: make([]byte, vc+1)}
	t.cursors[cur] = struct{}{}
	return cur, nil
}

// Next advances to the next entry; false at the end or on an error (Err).
func (c *Cursor) Next() bool {
	if c.err != nil {
		return false
	}
	t := c.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	if c.c == nil {
		c.err = &OpError{Op: "htable_cursor_next", Code: ErrInval}
		return false
	}
	for i := 0; i < 8; i++ {
		var kl, vl C.uint32_t
		rc := C.shmap_htable_cursor_next(c.c, ptr(c.kb), C.uint32_t(len(c.kb)), &kl,
			ptr(c.vb), C.uint32_t(len(c.vb)), &vl)
		switch Errno(rc) {
		case ErrBufSize:
			if int(kl) > len(c.kb) {
				c.kb = make([]byte, kl)
			}
			if int(vl) > len(c.vb) {
				c.vb = make([]byte, vl)
			}
			continue
		case ErrNotFound:
			return false
		}
		if err := check("htable_cursor_next", rc); err != nil {
			c.err = err
			return false
		}
		c.key = append([]byte(nil), c.kb[:kl]...)
		c.val = append([]byte(nil), c.vb[:vl]...)
		return true
	}
	c.err = &OpError{Op: "htable_cursor_next", Code: ErrBusy}
	return false
}

// Key and Value of the current entry (fresh copies).
func (c *Cursor) Key() []byte   { return c.key }
func (c *Cursor) Value() []byte { return c.val }

// Err is the error that stopped Next, if any.
func (c *Cursor) Err() error { return c.err }

// Reset restarts from the beginning.
func (c *Cursor) Reset() error {
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	if c.c == nil {
		return &OpError{Op: "htable_cursor_reset", Code: ErrInval}
	}
	c.err = nil
	return check("htable_cursor_reset", C.shmap_htable_cursor_reset(c.c))
}

func (c *Cursor) free() {
	if c.c != nil {
		C.shmap_htable_cursor_free(c.c)
		c.c = nil
	}
}

// Close frees the cursor.
func (c *Cursor) Close() error {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	c.free()
	if c.t.cursors != nil {
		delete(c.t.cursors, c)
	}
	return nil
}

// Range calls fn for each entry until it returns false (via a cursor; no C
// callback is involved).
func (t *Table) Range(fn func(key, value []byte) bool) error {
	c, err := t.Cursor()
	if err != nil {
		return err
	}
	defer c.Close()
	for c.Next() {
		if !fn(c.Key(), c.Value()) {
			return nil
		}
	}
	return c.Err()
}
