// SPDX-License-Identifier: MIT

package shmap

// #include <shmap/shmap.h>
import "C"

import (
	"fmt"
	"syscall"
)

// Errno is a shmap status code (negative). It implements error, and the
// Err* values below can be matched with errors.Is on any error this package
// returns.
type Errno int

// Pinned status codes from <shmap/status.h>.
const (
	ErrInval       Errno = -1001
	ErrNoMem       Errno = -1002
	ErrNoSpc       Errno = -1003
	ErrExist       Errno = -1004
	ErrNoEnt       Errno = -1005
	ErrNotFound    Errno = -1006
	ErrFull        Errno = -1007
	ErrEmpty       Errno = -1008
	ErrTimeout     Errno = -1009
	ErrBusy        Errno = -1010
	ErrIncompat    Errno = -1011
	ErrCorrupt     Errno = -1012
	ErrAccess      Errno = -1013
	ErrRange       Errno = -1014
	ErrTooBig      Errno = -1015
	ErrOverrun     Errno = -1016
	ErrSys         Errno = -1017
	ErrVersion     Errno = -1018
	ErrBadMagic    Errno = -1019
	ErrTruncated   Errno = -1020
	ErrNotReady    Errno = -1021
	ErrForked      Errno = -1022
	ErrNameTooLong Errno = -1023
	ErrBufSize     Errno = -1024
	ErrNotSup      Errno = -1025
	ErrPeerFault   Errno = -1026
	ErrAborted     Errno = -1027
	ErrMismatch    Errno = -1028
	ErrNotAttached Errno = -1029
	ErrPeerDead    Errno = -1030
)

// Recovered is the informational status SHMAP_RECOVERED.
const Recovered = 1

// Error returns shmap_strerror's text and the symbolic name.
func (e Errno) Error() string {
	return fmt.Sprintf("%s (%s)", C.GoString(C.shmap_strerror(C.int(e))), e.Name())
}

// Name is the symbolic name, e.g. "SHMAP_E_FULL".
func (e Errno) Name() string { return C.GoString(C.shmap_errname(C.int(e))) }

// Code is the C status value.
func (e Errno) Code() int { return int(e) }

// Timeout reports whether the error is a timeout (net.Error style).
func (e Errno) Timeout() bool { return e == ErrTimeout }

// OpError is returned by every failing call: the C function and the code.
type OpError struct {
	Op   string
	Code Errno
	// Sys is the errno the library kept for a system-call failure
	// (ErrSys, ErrNoSpc, ErrAccess, ErrNoEnt from open/unlink/inspect), else 0.
	Sys syscall.Errno
}

func (e *OpError) Error() string {
	s := "shmap_" + e.Op + ": " + e.Code.Error()
	if e.Sys != 0 {
		s += ": " + e.Sys.Error()
	}
	return s
}

// Unwrap gives the Errno, so errors.Is(err, shmap.ErrFull) works.
func (e *OpError) Unwrap() error { return e.Code }

func check(op string, rc C.int) error {
	if rc < 0 {
		return &OpError{Op: op, Code: Errno(rc)}
	}
	return nil
}

// checkSys is check for calls that keep errno on a system-call failure.
func checkSys(op string, rc C.int, err error) error {
	if rc >= 0 {
		return nil
	}
	e := &OpError{Op: op, Code: Errno(rc)}
	switch e.Code {
	case ErrSys, ErrNoSpc, ErrAccess, ErrNoEnt:
		if en, ok := err.(syscall.Errno); ok {
			e.Sys = en
		}
	}
	return e
}

// Version is the version of the loaded C library, e.g. "1.0.0".
func Version() string { return C.GoString(C.shmap_version_string()) }

// VersionNumber is the loaded library's MAJOR*10000+MINOR*100+PATCH.
func VersionNumber() uint32 { return uint32(C.shmap_version()) }

// LayoutVersion is the segment format version of the loaded C library.
func LayoutVersion() uint32 { return uint32(C.shmap_layout_version()) }
