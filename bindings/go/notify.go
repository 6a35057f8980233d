// SPDX-License-Identifier: MIT

package shmap

// #include <shmap/shmap.h>
// #include <shmap/ring.h>
import "C"

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// ringNotify is a Ring's descriptor as Go's runtime poller sees it: a
// close-on-exec duplicate of the C descriptor wrapped in an *os.File (the
// C library owns and closes the original; the duplicate keeps the same
// eventfd open until the Ring closes it).
type ringNotify struct {
	waitMu sync.Mutex // one PopContext/PushContext at a time (they share the deadline)
	f      *os.File
}

// NotifyFd returns the ring end's pollable descriptor
// (shmap_ring_notify_fd): readable when the role can make progress (an
// element to pop, a free slot to push into). It starts readable; the loop
// is: wait for it, drain until ErrEmpty (push until ErrFull), NotifyArm,
// wait again. The descriptor belongs to the Ring: do not close or read it;
// it is valid until Close or Reattach. PopContext and PushContext use it
// for you.
func (r *Ring) NotifyFd() (int, error) {
	var fd C.int = -1
	err := r.do("ring_notify_fd", func(p *C.shmap_ring) C.int { return C.shmap_ring_notify_fd(p, &fd) })
	if err != nil {
		return -1, err
	}
	return int(fd), nil
}

// NotifyArm re-arms the descriptor after a drain (shmap_ring_notify_arm):
// not readable until the role can make progress (readable at once if it
// already can). ErrPeerDead: the ring is blocked and the peer the role
// waits for died (reported once per death; arm again to keep waiting).
func (r *Ring) NotifyArm() error {
	return r.do("ring_notify_arm", func(p *C.shmap_ring) C.int { return C.shmap_ring_notify_arm(p) })
}

// notifyFile returns the poller-registered duplicate, creating it once.
func (r *Ring) notifyFile() (*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nt.f != nil {
		return r.nt.f, nil
	}
	if r.p == nil {
		return nil, &OpError{Op: "ring_notify_fd", Code: ErrInval}
	}
	var fd C.int = -1
	if err := check("ring_notify_fd", C.shmap_ring_notify_fd(r.p, &fd)); err != nil {
		return nil, err
	}
	nfd, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return nil, &OpError{Op: "ring_notify_fd", Code: ErrSys, Sys: e}
	}
	// The descriptor is non-blocking, so os.NewFile registers it with the
	// runtime poller: a goroutine waiting on it parks, no thread blocks.
	r.nt.f = os.NewFile(nfd, "shmap-ring-notify")
	return r.nt.f, nil
}

// closeNotify drops the duplicate (with r.mu held: Close, Reattach).
func (r *Ring) closeNotify() {
	if r.nt.f != nil {
		_ = r.nt.f.Close()
		r.nt.f = nil
	}
}

var longAgo = time.Unix(1, 0)

// waitNotify runs try (under r.mu) until it reports done, parking on the
// descriptor between attempts; try arms the descriptor when it is blocked.
func (r *Ring) waitNotify(ctx context.Context, try func(p *C.shmap_ring) (bool, error)) error {
	r.nt.waitMu.Lock()
	defer r.nt.waitMu.Unlock()
	f, err := r.notifyFile()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	dl, _ := ctx.Deadline() // zero: none
	_ = f.SetReadDeadline(dl)
	if ctx.Done() != nil {
		stop, exited := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(exited)
			select {
			case <-ctx.Done():
				_ = f.SetReadDeadline(longAgo) // wakes the parked Read
			case <-stop:
			}
		}()
		// the watcher is gone before the next wait sets its deadline
		defer func() { close(stop); <-exited }()
	}
	var opErr error
	err = rc.Read(func(uintptr) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.p == nil {
			opErr = &OpError{Op: "ring_notify_arm", Code: ErrInval}
			return true
		}
		done, e := try(r.p)
		if done || e != nil {
			opErr = e
			return true
		}
		// blocked: arm, then park until the descriptor is readable
		if e := check("ring_notify_arm", C.shmap_ring_notify_arm(r.p)); e != nil {
			opErr = e
			return true
		}
		return false
	})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return context.DeadlineExceeded
		}
		return err
	}
	return opErr
}

// PopContext pops one element, waiting until there is one or ctx is done
// (then ctx.Err()). It waits on the ring's descriptor through Go's runtime
// poller, so a waiting goroutine holds no OS thread and the Ring's mutex is
// free meanwhile (calls of other goroutines on it go through). ErrPeerDead:
// the ring is empty and its producer died (reported once per death; call
// again to wait for a replacement). Lossy broadcast: ErrOverrun as Pop.
// One PopContext/PushContext at a time per Ring (others queue).
func (r *Ring) PopContext(ctx context.Context) ([]byte, error) {
	b := make([]byte, r.elemSize)
	err := r.waitNotify(ctx, func(p *C.shmap_ring) (bool, error) {
		rc := C.shmap_ring_pop(p, ptr(b))
		if rc == C.SHMAP_E_EMPTY {
			return false, nil
		}
		return true, check("ring_pop", rc)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// PushContext pushes one element (shorter data is zero-padded), waiting for
// a free slot until ctx is done, as PopContext waits for an element.
// ErrPeerDead (SPSC): the ring is full and its consumer died.
func (r *Ring) PushContext(ctx context.Context, data []byte) error {
	if err := r.checkLen("ring_push_bytes", data); err != nil {
		return err
	}
	return r.waitNotify(ctx, func(p *C.shmap_ring) (bool, error) {
		rc := C.shmap_ring_push_bytes(p, ptr(data), C.uint32_t(len(data)))
		if rc == C.SHMAP_E_FULL {
			return false, nil
		}
		return true, check("ring_push_bytes", rc)
	})
}
