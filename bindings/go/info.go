// SPDX-License-Identifier: MIT

package shmap

// #include <stdlib.h>
// #include <shmap/shmap.h>
import "C"

import "unsafe"

// Info field numbers (SHMAP_INFO_*).
const (
	InfoKind          = uint32(C.SHMAP_INFO_KIND)
	InfoCapacity      = uint32(C.SHMAP_INFO_CAPACITY)
	InfoKeyMax        = uint32(C.SHMAP_INFO_KEY_MAX)
	InfoValueMax      = uint32(C.SHMAP_INFO_VALUE_MAX)
	InfoElemSize      = uint32(C.SHMAP_INFO_ELEM_SIZE)
	InfoMaxConsumers  = uint32(C.SHMAP_INFO_MAX_CONSUMERS)
	InfoMaxProcs      = uint32(C.SHMAP_INFO_MAX_PROCS)
	InfoAttached      = uint32(C.SHMAP_INFO_ATTACHED)
	InfoLayoutVersion = uint32(C.SHMAP_INFO_LAYOUT_VERSION)
	InfoAllocSize     = uint32(C.SHMAP_INFO_ALLOC_SIZE)
	// InfoFieldMax is the highest field number (fields run 1..InfoFieldMax).
	InfoFieldMax = uint32(C.SHMAP_INFO_FIELD_MAX)
)

// Participant is one used participant slot of a segment.
type Participant struct {
	Slot      uint32
	Pid       uint32
	StartTime uint64
	Alive     bool
}

// SegmentInfo is a snapshot of a segment's header, read without attaching.
type SegmentInfo struct {
	Fields       map[uint32]uint64 // every SHMAP_INFO_* field
	Participants []Participant
}

// KindName is "htable", "ring-spsc", "ring-spmc", "ring-bcast", "vector" or "unknown".
func (i *SegmentInfo) KindName() string { return KindName(uint32(i.Fields[InfoKind])) }

// KindName names a SHMAP_KIND_* value.
func KindName(kind uint32) string { return C.GoString(C.shmap_kind_name(C.uint32_t(kind))) }

// Inspect reads and validates a segment's header and participant table.
func Inspect(name string, o *Options) (*SegmentInfo, error) {
	cn, err := cstring(name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cn))
	var p *C.shmap_info
	err = withOpts(o, func(co *C.shmap_opts) error {
		rc, en := C.shmap_info_open(cn, co, &p)
		return checkSys("info_open", rc, en)
	})
	if err != nil {
		return nil, err
	}
	defer C.shmap_info_free(p)
	si := &SegmentInfo{Fields: map[uint32]uint64{}}
	for f := uint32(1); f <= InfoFieldMax; f++ {
		si.Fields[f] = uint64(C.shmap_info_field(p, C.uint32_t(f)))
	}
	procs := si.Fields[InfoMaxProcs]
	if procs > 4096 {
		procs = 4096
	}
	for s := uint32(0); s < uint32(procs); s++ {
		var pid, alive C.uint32_t
		var st C.uint64_t
		rc := C.shmap_info_participant(p, C.uint32_t(s), &pid, &st, &alive)
		if Errno(rc) == ErrNotFound {
			continue
		}
		if err := check("info_participant", rc); err != nil {
			return nil, err
		}
		si.Participants = append(si.Participants, Participant{s, uint32(pid), uint64(st), alive != 0})
	}
	return si, nil
}

// CleanupStale unlinks unused POSIX shm segments whose name starts with
// prefix; it returns how many were removed.
func CleanupStale(prefix string) (uint32, error) {
	cp, err := cstring(prefix)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(cp))
	var n C.uint32_t
	err = check("cleanup_stale", C.shmap_cleanup_stale(cp, &n))
	return uint32(n), err
}

// Reap frees the participant slots of processes that died while attached to
// the segment; it returns how many were freed (live ones are never touched).
func Reap(name string, o *Options) (uint32, error) {
	cn, err := cstring(name)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(cn))
	var n C.uint32_t
	err = withOpts(o, func(co *C.shmap_opts) error {
		rc, en := C.shmap_reap(cn, co, &n)
		return checkSys("reap", rc, en)
	})
	return uint32(n), err
}
