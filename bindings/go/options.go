// SPDX-License-Identifier: MIT

package shmap

// #cgo pkg-config: shmap
// #include <stdlib.h>
// #include <shmap/shmap.h>
import "C"

import "unsafe"

// Open modes (the oflags of every open call).
const (
	Create       = uint32(C.SHMAP_CREATE)
	Open         = uint32(C.SHMAP_OPEN)
	OpenOrCreate = uint32(C.SHMAP_OPEN_OR_CREATE)
	// OpenWait opens like Open, but first waits (up to the options'
	// TimeoutMs, default 2000 ms) for another process to create the
	// segment: ErrTimeout if it never appears. Same as Open for a memfd.
	OpenWait = uint32(C.SHMAP_OPEN | C.SHMAP_OPEN_WAIT)
)

// Backends.
const (
	BackendShm   = uint32(C.SHMAP_BACKEND_SHM)
	BackendFile  = uint32(C.SHMAP_BACKEND_FILE)
	BackendMemfd = uint32(C.SHMAP_BACKEND_MEMFD)
)

// Option flags.
const (
	OptHugepages = uint32(C.SHMAP_OPT_HUGEPAGES)
	OptPrefault  = uint32(C.SHMAP_OPT_PREFAULT)
)

// Options are creation/open options; nil pointers keep the library defaults.
type Options struct {
	Backend   *uint32
	Mode      *uint32 // permission bits, default 0600
	Owner     *int64  // expected owner uid; -1: any
	Fd        *int    // memfd to open
	TimeoutMs *uint32 // open wait bound (a segment being built; with OpenWait, one not created yet)
	MaxProcs  *uint32
	Flags     *uint32
}

// U32 and I64 help fill Options literals: Options{Mode: shmap.U32(0o640)}.
func U32(v uint32) *uint32 { return &v }
func I64(v int64) *int64   { return &v }
func Int(v int) *int       { return &v }

// withOpts builds a C shmap_opts for the duration of fn.
func withOpts(o *Options, fn func(*C.shmap_opts) error) error {
	if o == nil {
		return fn(nil)
	}
	var p *C.shmap_opts
	if err := check("opts_new", C.shmap_opts_new(&p)); err != nil {
		return err
	}
	defer C.shmap_opts_free(p)
	var err error
	set := func(op string, rc C.int) {
		if err == nil {
			err = check(op, rc)
		}
	}
	if o.Backend != nil {
		set("opts_set_backend", C.shmap_opts_set_backend(p, C.uint32_t(*o.Backend)))
	}
	if o.Mode != nil {
		set("opts_set_mode", C.shmap_opts_set_mode(p, C.uint32_t(*o.Mode)))
	}
	if o.Owner != nil {
		set("opts_set_owner", C.shmap_opts_set_owner(p, C.int64_t(*o.Owner)))
	}
	if o.Fd != nil {
		set("opts_set_fd", C.shmap_opts_set_fd(p, C.int(*o.Fd)))
	}
	if o.TimeoutMs != nil {
		set("opts_set_timeout_ms", C.shmap_opts_set_timeout_ms(p, C.uint32_t(*o.TimeoutMs)))
	}
	if o.MaxProcs != nil {
		set("opts_set_max_procs", C.shmap_opts_set_max_procs(p, C.uint32_t(*o.MaxProcs)))
	}
	if o.Flags != nil {
		set("opts_set_flags", C.shmap_opts_set_flags(p, C.uint32_t(*o.Flags)))
	}
	if err != nil {
		return err
	}
	return fn(p)
}

// cstring converts a name; "" becomes NULL (a memfd needs no name).
// The result must be freed with C.free (a no-op for NULL).
func cstring(s string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, &OpError{Op: "name", Code: ErrInval}
		}
	}
	return C.CString(s), nil
}

// Unlink removes a segment's name (open handles stay valid).
func Unlink(name string, o *Options) error {
	cn, err := cstring(name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cn))
	return withOpts(o, func(p *C.shmap_opts) error {
		rc, en := C.shmap_unlink(cn, p)
		return checkSys("unlink", rc, en)
	})
}

// ptr returns a pointer to b's first byte, or nil for an empty slice.
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}
