// SPDX-License-Identifier: MIT

package shmap

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var nameCounter uint32

// segName returns a unique segment name, unlinked when the test ends.
func segName(t *testing.T, tag string) string {
	n := fmt.Sprintf("/shmap-go-%s-%d-%d", tag, os.Getpid(), atomic.AddUint32(&nameCounter, 1))
	t.Cleanup(func() { _ = Unlink(n, nil) })
	return n
}

func key(i uint64) []byte { return []byte(fmt.Sprintf("key-%d", i)) }

func value(i uint64, vmax uint32) []byte {
	n := 1 + (i*7919)%uint64(vmax)
	b := make([]byte, n)
	for j := uint64(0); j < n; j++ {
		b[j] = byte((i*131 + j*17 + 7) & 0xff)
	}
	return b
}

func elem(i uint64, es uint32) []byte {
	b := make([]byte, es)
	var h [8]byte
	binary.LittleEndian.PutUint64(h[:], i)
	copy(b, h[:])
	for j := uint64(8); j < uint64(es); j++ {
		b[j] = byte((i + j*29 + 3) & 0xff)
	}
	return b
}

var (
	peerOnce sync.Once
	peerPath string
	peerErr  error
)

// peer returns the C peer program: $SHMAP_PEER, or built with cc + pkg-config.
func peer(t *testing.T) string {
	peerOnce.Do(func() {
		if p := os.Getenv("SHMAP_PEER"); p != "" {
			peerPath = p
			return
		}
		flags, err := exec.Command("pkg-config", "--cflags", "--libs", "shmap").Output()
		if err != nil {
			peerErr = fmt.Errorf("pkg-config shmap: %v", err)
			return
		}
		dir, err := os.MkdirTemp("", "shmap-peer-")
		if err != nil {
			peerErr = err
			return
		}
		out := filepath.Join(dir, "shmap_peer")
		args := append([]string{"-std=gnu11", "../c/shmap_peer.c", "-o", out},
			strings.Fields(string(flags))...)
		if b, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
			peerErr = fmt.Errorf("cc: %v: %s", err, b)
			return
		}
		peerPath = out
	})
	if peerErr != nil {
		t.Fatalf("C peer: %v", peerErr)
	}
	return peerPath
}

func runPeer(t *testing.T, args ...string) error {
	out, err := exec.Command(peer(t), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
