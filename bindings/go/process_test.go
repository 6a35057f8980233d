// SPDX-License-Identifier: MIT

package shmap

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestMemfdPassedToChild creates a memfd-backed table, hands its descriptor
// to a child process (this test binary, re-executed) as fd 3, and checks
// what the child wrote through its own handle.
func TestMemfdPassedToChild(t *testing.T) {
	if os.Getenv("SHMAP_GO_CHILD") == "memfd" {
		return // the child's work is in TestHelperMemfdChild
	}
	tb, err := OpenTable("", Create, 64, 16, 16, &Options{Backend: U32(BackendMemfd)})
	must(t, err)
	defer tb.Close()
	must(t, tb.Put([]byte("from"), []byte("parent")))
	fd := tb.Fd()
	if fd < 0 {
		t.Fatal("memfd table has no fd")
	}
	f := os.NewFile(uintptr(fd), "memfd")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMemfdChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SHMAP_GO_CHILD=memfd")
	cmd.ExtraFiles = []*os.File{f} // fd 3 in the child
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	v, ok, err := tb.Get([]byte("from-child"))
	must(t, err)
	if !ok || !bytes.Equal(v, []byte("parent!")) {
		t.Fatalf("child's value: %q %v", v, ok)
	}
}

func TestHelperMemfdChild(t *testing.T) {
	if os.Getenv("SHMAP_GO_CHILD") != "memfd" {
		t.Skip("helper process only")
	}
	tb, err := OpenTable("", Open, 0, 0, 0, &Options{Backend: U32(BackendMemfd), Fd: Int(3)})
	must(t, err)
	defer tb.Close()
	v, ok, err := tb.Get([]byte("from"))
	must(t, err)
	if !ok {
		t.Fatal("child does not see the parent's key")
	}
	must(t, tb.Put([]byte("from-child"), append(v, '!')))
}
