// SPDX-License-Identifier: MIT

package shmap

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, want Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func TestErrors(t *testing.T) {
	var e error = ErrFull
	if ErrFull.Code() != -1007 || ErrFull.Name() != "SHMAP_E_FULL" {
		t.Fatal(ErrFull.Code(), ErrFull.Name())
	}
	op := &OpError{Op: "ring_push", Code: ErrFull}
	if !errors.Is(op, e) || !bytes.Contains([]byte(op.Error()), []byte("SHMAP_E_FULL")) {
		t.Fatal(op.Error())
	}
	if Version() == "" || LayoutVersion() == 0 || VersionNumber() == 0 {
		t.Fatal("version")
	}
	wantErr(t, Unlink("no-slash", nil), ErrInval)
	err := Unlink("/shmap-go-never-created", nil)
	wantErr(t, err, ErrNoEnt)
	if oe, ok := err.(*OpError); !ok || oe.Sys != syscall.ENOENT {
		t.Fatalf("errno not kept: %#v", err)
	}
	wantErr(t, Unlink("/a\x00b", nil), ErrInval)
	wantErr(t, Unlink("/x", &Options{Backend: U32(99)}), ErrInval)
}

func TestTable(t *testing.T) {
	n := segName(t, "tab")
	tb, err := CreateTable(n, 256, 32, 200)
	must(t, err)
	defer tb.Close()
	must(t, tb.Put([]byte("a"), []byte("1")))
	v, ok, err := tb.Get([]byte("a"))
	must(t, err)
	if !ok || string(v) != "1" {
		t.Fatalf("get a: %q %v", v, ok)
	}
	_, ok, err = tb.Get([]byte("missing"))
	must(t, err)
	if ok {
		t.Fatal("missing key found")
	}
	wantErr(t, tb.Insert([]byte("a"), []byte("2")), ErrExist)
	wantErr(t, tb.Replace([]byte("zz"), []byte("2")), ErrNotFound)
	must(t, tb.Replace([]byte("a"), []byte("2")))
	sw, err := tb.CompareAndSwap([]byte("a"), []byte("1"), []byte("3"))
	must(t, err)
	if sw {
		t.Fatal("cas with a wrong expected value swapped")
	}
	sw, err = tb.CompareAndSwap([]byte("a"), []byte("2"), []byte("3"))
	must(t, err)
	if !sw {
		t.Fatal("cas did not swap")
	}
	del, err := tb.Delete([]byte("a"))
	must(t, err)
	del2, err := tb.Delete([]byte("a"))
	must(t, err)
	if !del || del2 {
		t.Fatal("delete")
	}
	wantErr(t, tb.Put(bytes.Repeat([]byte("k"), 33), []byte("v")), ErrTooBig)
	wantErr(t, tb.Put([]byte("k"), bytes.Repeat([]byte("v"), 201)), ErrTooBig)
	wantErr(t, tb.Put(nil, []byte("v")), ErrInval)
	for i := 0; i < 3; i++ {
		must(t, tb.Update([]byte("n"), func(cur []byte, exists bool) ([]byte, bool) {
			if !exists {
				return []byte{1}, true
			}
			return []byte{cur[0] + 1}, true
		}))
	}
	v, _, _ = tb.Get([]byte("n"))
	if !bytes.Equal(v, []byte{3}) {
		t.Fatalf("update: %v", v)
	}
	wantErr(t, tb.Update([]byte("n"), func([]byte, bool) ([]byte, bool) { return nil, false }), ErrAborted)
	must(t, tb.Clear())

	want := map[string][]byte{}
	for i := uint64(0); i < 150; i++ {
		want[string(key(i))] = value(i, 200)
		must(t, tb.Insert(key(i), value(i, 200)))
	}
	if tb.Len() != 150 {
		t.Fatalf("len %d", tb.Len())
	}
	got := map[string][]byte{}
	must(t, tb.Range(func(k, v []byte) bool { got[string(k)] = v; return true }))
	if len(got) != len(want) {
		t.Fatalf("range: %d entries", len(got))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("range: %s", k)
		}
	}
	c, err := tb.Cursor()
	must(t, err)
	cnt := 0
	for c.Next() {
		cnt++
	}
	must(t, c.Err())
	must(t, c.Reset())
	for c.Next() {
		cnt++
	}
	if cnt != 300 {
		t.Fatalf("cursor count %d", cnt)
	}
	must(t, c.Close())
	live, _, probe, err := tb.Stats()
	must(t, err)
	if live != 150 || probe < 1 {
		t.Fatal("stats", live, probe)
	}
	problems, err := tb.Check(false)
	must(t, err)
	if problems != 0 {
		t.Fatal("check", problems)
	}
	// full
	for i := uint64(1000); ; i++ {
		if err := tb.Put(key(i), []byte("v")); err != nil {
			wantErr(t, err, ErrFull)
			break
		}
	}
	if tb.Len() != tb.Capacity() {
		t.Fatal("full table len", tb.Len(), tb.Capacity())
	}
	// open existing, incompatible, inspect
	t2, err := OpenTable(n, Open, 0, 0, 0, nil)
	must(t, err)
	if t2.ValueMax() != 200 || t2.KeyMax() != 32 {
		t.Fatal("reopen params")
	}
	t2.Close()
	_, err = OpenTable(n, Open, 0, 0, 199, nil)
	wantErr(t, err, ErrIncompat)
	_, err = OpenVector(n, Open, 0, 0, nil)
	wantErr(t, err, ErrIncompat)
	_, err = CreateTable(n, 256, 32, 200)
	wantErr(t, err, ErrExist)
	si, err := Inspect(n, nil)
	must(t, err)
	if si.KindName() != "htable" || len(si.Participants) == 0 {
		t.Fatal("inspect", si.KindName(), si.Participants)
	}
	reaped, err := Reap(n, nil)
	must(t, err)
	if reaped != 0 {
		t.Fatal("reaped live participants", reaped)
	}
	// cursor left open is freed by Close; use after close is an error
	_, err = tb.Cursor()
	must(t, err)
	must(t, tb.Close())
	must(t, tb.Close())
	_, _, err = tb.Get([]byte("a"))
	wantErr(t, err, ErrInval)
}

// singles is what Get says for each key: the value, or nil if absent.
func singles(t *testing.T, tb *Table, keys [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, ok, err := tb.Get(k)
		must(t, err)
		if ok {
			out[i] = v
		}
	}
	return out
}

func sameValues(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results, want %d", what, len(got), len(want))
	}
	for i := range want {
		if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: result %d is %q, want %q", what, i, got[i], want[i])
		}
	}
}

func TestTableGetMany(t *testing.T) {
	tb, err := CreateTable(segName(t, "tab"), 512, 16, 200)
	must(t, err)
	defer tb.Close()
	var present, absent, mixed [][]byte
	for i := uint64(0); i < 300; i++ {
		if i%2 == 0 { // even keys present, odd keys absent
			must(t, tb.Put(key(i), value(i, 200)))
			present = append(present, key(i))
		} else {
			absent = append(absent, key(i))
		}
		mixed = append(mixed, key(i))
	}
	mixed = append(mixed, key(4), key(7))
	for _, c := range []struct {
		name string
		keys [][]byte
	}{{"present", present}, {"absent", absent}, {"mixed", mixed}} {
		got, err := tb.GetMany(c.keys)
		must(t, err)
		sameValues(t, c.name, got, singles(t, tb, c.keys))
	}
	got, err := tb.GetMany(present)
	must(t, err)
	for i, v := range got {
		if !bytes.Equal(v, value(uint64(2*i), 200)) {
			t.Fatalf("present key %d: %q", 2*i, v)
		}
	}
	got, err = tb.GetMany(absent)
	must(t, err)
	for i, v := range got {
		if v != nil {
			t.Fatalf("absent key %d: %q", 2*i+1, v)
		}
	}
	got, err = tb.GetMany(nil)
	must(t, err)
	if len(got) != 0 {
		t.Fatal("empty batch", got)
	}
	got, err = tb.GetMany([][]byte{})
	must(t, err)
	if len(got) != 0 {
		t.Fatal("empty batch", got)
	}
	// a key longer than KeyMax: ErrTooBig, as a single Get says
	long := bytes.Repeat([]byte("k"), 17)
	_, _, err = tb.Get(long)
	wantErr(t, err, ErrTooBig)
	_, err = tb.GetMany([][]byte{key(0), long, key(1)})
	wantErr(t, err, ErrTooBig)
	got, err = tb.GetMany([][]byte{bytes.Repeat([]byte("k"), 16)}) // KeyMax itself is fine
	must(t, err)
	sameValues(t, "key of KeyMax bytes", got, [][]byte{nil})
	_, _, err = tb.Get(nil)
	wantErr(t, err, ErrInval)
	_, err = tb.GetMany([][]byte{key(0), {}})
	wantErr(t, err, ErrInval)

	// more than one C call: 1 MiB of value buffer holds 209 values of 5000
	big, err := CreateTable(segName(t, "tab"), 2048, 600, 5000)
	must(t, err)
	defer big.Close()
	var keys [][]byte
	for i := uint64(0); i < 1000; i++ {
		if i%3 == 0 {
			must(t, big.Put(key(i), value(i, 5000)))
		}
		keys = append(keys, key(i))
	}
	lk := bytes.Repeat([]byte("k"), 600)
	must(t, big.Put(lk, []byte("long key")))
	keys = append(keys, lk)
	got, err = big.GetMany(keys)
	must(t, err)
	sameValues(t, "large batch", got, singles(t, big, keys))
	found := 0
	for _, v := range got {
		if v != nil {
			found++
		}
	}
	if found != 335 || string(got[len(got)-1]) != "long key" {
		t.Fatal("large batch: found", found, string(got[len(got)-1]))
	}
	must(t, big.Close())
	_, err = big.GetMany(nil)
	wantErr(t, err, ErrInval)
}

func TestTableGoroutines(t *testing.T) {
	n := segName(t, "tab")
	tb, err := CreateTable(n, 4096, 16, 100)
	must(t, err)
	defer tb.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := uint64(0); g < 4; g++ {
		wg.Add(1)
		go func(base uint64) {
			defer wg.Done()
			for i := base; i < base+300; i++ {
				if err := tb.Put(key(i), value(i, 100)); err != nil {
					errs <- err
					return
				}
				v, ok, err := tb.Get(key(i))
				if err != nil || !ok || !bytes.Equal(v, value(i, 100)) {
					errs <- errors.New("wrong value read back")
					return
				}
			}
		}(g * 1000)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if tb.Len() != 1200 {
		t.Fatal("len", tb.Len())
	}
}

func TestFinalizer(t *testing.T) {
	n := segName(t, "fin")
	func() {
		_, err := CreateTable(n, 16, 8, 8)
		must(t, err)
	}()
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	si, err := Inspect(n, nil)
	must(t, err)
	for _, p := range si.Participants {
		if p.Alive {
			t.Fatal("finalizer did not close the handle")
		}
	}
}

func spsc(t *testing.T, es uint32, cp uint64) (string, *Ring, *Ring) {
	n := segName(t, "ring")
	p, err := OpenRing(n, Create, RingParams{Type: RingSPSC, ElemSize: es, Capacity: cp}, Producer, nil)
	must(t, err)
	c, err := OpenConsumer(n)
	must(t, err)
	t.Cleanup(func() { p.Close(); c.Close() })
	return n, p, c
}

func TestRingSPSC(t *testing.T) {
	n, p, c := spsc(t, 16, 8)
	if p.Capacity() != 8 || p.ElemSize() != 16 || p.Type() != RingSPSC || p.Role() != Producer || c.Role() != Consumer {
		t.Fatal("ring params")
	}
	_, err := c.Pop()
	wantErr(t, err, ErrEmpty)
	for i := uint64(0); i < 8; i++ {
		must(t, p.Push(elem(i, 16)))
	}
	wantErr(t, p.Push(elem(8, 16)), ErrFull)
	wantErr(t, p.PushWait(elem(8, 16), 30*time.Millisecond), ErrTimeout)
	e, err := c.Pop()
	must(t, err)
	if !bytes.Equal(e, elem(0, 16)) {
		t.Fatal("pop 0")
	}
	rest, err := c.Drain()
	must(t, err)
	if len(rest) != 7 || !bytes.Equal(rest[6], elem(7, 16)) {
		t.Fatal("drain")
	}
	must(t, p.Push([]byte("short")))
	e, _ = c.Pop()
	if !bytes.Equal(e, append([]byte("short"), make([]byte, 11)...)) {
		t.Fatal("padding")
	}
	wantErr(t, p.Push(make([]byte, 17)), ErrTooBig)
	wantErr(t, c.Push([]byte("x")), ErrNotAttached)
	_, err = p.Pop()
	wantErr(t, err, ErrNotAttached)
	_, err = OpenProducer(n)
	wantErr(t, err, ErrBusy)
	_, err = OpenConsumer(n)
	wantErr(t, err, ErrBusy)
	_, err = OpenRing(n, Open, RingParams{Type: RingSPMC}, Consumer, nil)
	wantErr(t, err, ErrIncompat)
	start := time.Now()
	_, err = c.PopWait(100 * time.Millisecond)
	wantErr(t, err, ErrTimeout)
	if time.Since(start) < 90*time.Millisecond {
		t.Fatal("PopWait returned early")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = p.Push([]byte("late"))
	}()
	e, err = c.PopWait(5 * time.Second)
	must(t, err)
	if string(e[:4]) != "late" {
		t.Fatal("late")
	}
	// batches
	var blob []byte
	for i := uint64(0); i < 5; i++ {
		blob = append(blob, elem(i, 16)...)
	}
	k, err := p.PushBatch(blob)
	must(t, err)
	if k != 5 {
		t.Fatal("push batch", k)
	}
	out, err := c.PopBatch(3)
	must(t, err)
	if !bytes.Equal(out, blob[:48]) {
		t.Fatal("pop batch")
	}
	out, err = c.PopBatchWait(10, time.Second)
	must(t, err)
	if !bytes.Equal(out, blob[48:]) {
		t.Fatal("pop batch wait")
	}
	// zero copy
	buf, err := p.Reserve(2)
	must(t, err)
	got := len(buf) / 16
	for i := 0; i < got; i++ {
		copy(buf[i*16:], elem(uint64(100+i), 16))
	}
	must(t, p.Commit(got))
	view, err := c.Peek(8)
	must(t, err)
	if len(view) != got*16 || !bytes.Equal(view[:16], elem(100, 16)) {
		t.Fatal("peek")
	}
	must(t, c.Release(got))
	st, err := p.Stats()
	must(t, err)
	if st.Head != st.Tail || !st.ProducerAlive || st.ProducerPid != uint32(os.Getpid()) {
		t.Fatal("stats", st)
	}
	ci, ok, err := p.ConsumerInfo(0)
	must(t, err)
	if !ok || !ci.Alive || ci.Pid != uint32(os.Getpid()) {
		t.Fatal("consumer info", ci, ok)
	}
	k, err = p.PushBatchWait(blob, time.Second)
	must(t, err)
	if k != 5 {
		t.Fatal("push batch wait", k)
	}
	out, err = c.PopBatch(5)
	must(t, err)
	if !bytes.Equal(out, blob) {
		t.Fatal("pop after push batch wait")
	}
	_, err = c.Pop()
	wantErr(t, err, ErrEmpty)
	si, err := Inspect(n, nil)
	must(t, err)
	if si.KindName() != "ring-spsc" {
		t.Fatal(si.KindName())
	}
}

func TestRingBroadcast(t *testing.T) {
	n := segName(t, "bcast")
	p, err := OpenRing(n, Create, RingParams{Type: RingBcastReliable, ElemSize: 16, Capacity: 4, MaxConsumers: 4}, Producer, nil)
	must(t, err)
	defer p.Close()
	var subs []*Ring
	for i := 0; i < 3; i++ {
		s, err := OpenConsumer(n)
		must(t, err)
		defer s.Close()
		subs = append(subs, s)
	}
	live, err := p.LiveConsumers()
	must(t, err)
	if live != 3 || p.Consumers() != 3 {
		t.Fatal("live consumers", live, p.Consumers())
	}
	o, err := OpenObserver(n)
	must(t, err)
	if o.Consumers() != 3 { // observers do not count
		t.Fatal("observer counted", o.Consumers())
	}
	o.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, s := range subs {
		wg.Add(1)
		go func(s *Ring) {
			defer wg.Done()
			for i := uint64(0); i < 40; i++ {
				e, err := s.PopWait(10 * time.Second)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(e, elem(i, 16)) {
					errs <- errors.New("broadcast element differs")
					return
				}
			}
		}(s)
	}
	for i := uint64(0); i < 40; i++ {
		must(t, p.PushWait(elem(i, 16), 10*time.Second))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	n2 := segName(t, "lossy")
	lp, err := OpenRing(n2, Create, RingParams{Type: RingBcastLossy, ElemSize: 8, Capacity: 4}, Producer, nil)
	must(t, err)
	defer lp.Close()
	ls, err := OpenConsumer(n2)
	must(t, err)
	defer ls.Close()
	for i := uint64(0); i < 10; i++ {
		must(t, lp.Push(elem(i, 8)))
	}
	lo, err := OpenObserver(n2)
	must(t, err)
	_, err = lo.ReadAt(5) // lapped: outside [head - 4, head)
	wantErr(t, err, ErrRange)
	for i := uint64(6); i < 10; i++ {
		e, err := lo.ReadAt(i)
		must(t, err)
		if !bytes.Equal(e, elem(i, 8)) {
			t.Fatal("lossy read_at", i)
		}
	}
	lo.Close()
	_, err = ls.Pop()
	wantErr(t, err, ErrOverrun)
	rest, err := ls.Drain()
	must(t, err)
	k := uint64(len(rest))
	for j, e := range rest {
		if !bytes.Equal(e, elem(10-k+uint64(j), 8)) {
			t.Fatal("lossy resync element", j)
		}
	}
	if ls.Missed()+k != 10 {
		t.Fatal("missed", ls.Missed(), k)
	}
}

func TestVector(t *testing.T) {
	n := segName(t, "vec")
	v, err := CreateVector(n, 16, 100)
	must(t, err)
	defer v.Close()
	for i := uint64(0); i < 50; i++ {
		idx, err := v.Push(elem(i, 16))
		must(t, err)
		if idx != i {
			t.Fatal("index", idx)
		}
	}
	if v.Len() != 50 {
		t.Fatal("len")
	}
	for i := uint64(0); i < 50; i++ {
		e, err := v.Get(i)
		must(t, err)
		if !bytes.Equal(e, elem(i, 16)) {
			t.Fatal("get", i)
		}
	}
	_, err = v.Get(50)
	wantErr(t, err, ErrRange)
	var cur uint64
	for i := uint64(0); ; i++ {
		idx, e, ok, err := v.Next(&cur)
		must(t, err)
		if !ok {
			if i != 50 {
				t.Fatal("iterated", i)
			}
			break
		}
		if idx != i || !bytes.Equal(e, elem(i, 16)) {
			t.Fatal("next", i)
		}
	}
	must(t, v.Replace(3, []byte("new")))
	e, _ := v.Get(3)
	if !bytes.Equal(e, append([]byte("new"), make([]byte, 13)...)) {
		t.Fatal("replace")
	}
	_, err = v.Push(make([]byte, 17))
	wantErr(t, err, ErrTooBig)
	first, err := v.Reserve(2)
	must(t, err)
	_, err = v.Get(first)
	wantErr(t, err, ErrNotReady)
	st, owner, err := v.SlotState(first)
	must(t, err)
	if st != SlotReserved || owner == 0 {
		t.Fatal("slot state", st, owner)
	}
	must(t, v.Write(first, []byte("a")))
	sb, err := v.SlotBytes(first + 1)
	must(t, err)
	copy(sb, "b")
	must(t, v.Publish(first, 2))
	if v.Len() != 52 {
		t.Fatal("len after publish")
	}
	for {
		if _, err := v.Push([]byte("f")); err != nil {
			wantErr(t, err, ErrFull)
			break
		}
	}
	if v.Len() != v.Capacity() {
		t.Fatal("full")
	}
	si, err := Inspect(n, nil)
	must(t, err)
	if si.KindName() != "vector" {
		t.Fatal(si.KindName())
	}
}

func TestTableCasErase(t *testing.T) {
	n := segName(t, "tab")
	tb, err := CreateTable(n, 256, 32, 64)
	must(t, err)
	defer tb.Close()
	must(t, tb.Put([]byte("k"), []byte("v1")))
	for _, wrong := range []string{"other", "v", "v1x"} {
		erased, err := tb.CasErase([]byte("k"), []byte(wrong))
		must(t, err)
		if erased {
			t.Fatalf("erased with expected %q", wrong)
		}
	}
	if v, ok, _ := tb.Get([]byte("k")); !ok || string(v) != "v1" {
		t.Fatal("value changed by a failed cas_erase")
	}
	erased, err := tb.CasErase([]byte("k"), []byte("v1"))
	must(t, err)
	if !erased || tb.Len() != 0 {
		t.Fatal("cas_erase with the current value did not erase")
	}
	_, err = tb.CasErase([]byte("k"), []byte("v1"))
	wantErr(t, err, ErrNotFound)
	_, err = tb.CasErase([]byte("k"), nil)
	wantErr(t, err, ErrInval)
	_, err = tb.CasErase([]byte("k"), bytes.Repeat([]byte("v"), 65))
	wantErr(t, err, ErrTooBig)

	// Update erases with a nil new value; nothing to do on a missing key.
	must(t, tb.Put([]byte("n"), []byte{7}))
	must(t, tb.Update([]byte("n"), func(cur []byte, exists bool) ([]byte, bool) {
		if !exists || !bytes.Equal(cur, []byte{7}) {
			t.Error("update saw", cur, exists)
		}
		return nil, true
	}))
	if _, ok, _ := tb.Get([]byte("n")); ok {
		t.Fatal("update did not erase")
	}
	must(t, tb.Update([]byte("n"), func(cur []byte, exists bool) ([]byte, bool) { return nil, true }))
	if tb.Len() != 0 {
		t.Fatal("erase of a missing key created it")
	}

	// Racing goroutines with the current value: exactly one erases each key.
	// Rounds run one at a time (the next key is written once every worker
	// finished the previous one), so at most one key is live.
	const rounds, workers = 300, 4
	var wins [workers]int
	var wg sync.WaitGroup
	start := make([]chan struct{}, workers)
	done := make(chan error, workers)
	for w := range start {
		start[w] = make(chan struct{})
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := uint64(0); r < rounds; r++ {
				if _, ok := <-start[w]; !ok {
					return
				}
				erased, err := tb.CasErase(key(r), value(r, 64))
				if err != nil && !errors.Is(err, ErrNotFound) {
					done <- err
					return
				}
				if erased {
					wins[w]++
				}
				done <- nil
			}
		}(w)
	}
	var failed error
	for r := uint64(0); r < rounds && failed == nil; r++ {
		if failed = tb.Put(key(r), value(r, 64)); failed != nil {
			break
		}
		for w := 0; w < workers; w++ {
			start[w] <- struct{}{}
		}
		for w := 0; w < workers; w++ {
			if err := <-done; err != nil && failed == nil {
				failed = err
			}
		}
	}
	for w := range start {
		close(start[w])
	}
	wg.Wait()
	must(t, failed)
	total := 0
	for _, w := range wins {
		total += w
	}
	if total != rounds || tb.Len() != 0 {
		t.Fatal("cas_erase winners", total, "left", tb.Len())
	}
}

// Update decrements counters to zero and erases them at zero, from racing
// goroutines: every decrement is applied exactly once and every key ends up
// erased exactly when its count is spent.
func TestTableUpdateEraseRace(t *testing.T) {
	n := segName(t, "tab")
	tb, err := CreateTable(n, 256, 32, 16)
	must(t, err)
	defer tb.Close()
	const keys, workers, per = 20, 4, 5 // each key starts at workers*per
	for k := uint64(0); k < keys; k++ {
		must(t, tb.Put(key(k), []byte{workers * per}))
	}
	var wg sync.WaitGroup
	var erasedBy [keys]int32
	var mu sync.Mutex
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				for k := uint64(0); k < keys; k++ {
					var erasing bool
					err := tb.Update(key(k), func(cur []byte, exists bool) ([]byte, bool) {
						erasing = false
						if !exists || len(cur) != 1 || cur[0] == 0 {
							return nil, false
						}
						if cur[0] == 1 {
							erasing = true
							return nil, true
						}
						return []byte{cur[0] - 1}, true
					})
					if err != nil {
						errs <- err
						return
					}
					if erasing {
						mu.Lock()
						erasedBy[k]++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k := 0; k < keys; k++ {
		if erasedBy[k] != 1 {
			t.Fatal("key", k, "erased", erasedBy[k], "times")
		}
	}
	if tb.Len() != 0 {
		t.Fatal("keys left", tb.Len())
	}
}

func TestRingObserverReadAt(t *testing.T) {
	n, p, c := spsc(t, 16, 8)
	if p.Consumers() != 1 {
		t.Fatal("consumers", p.Consumers())
	}
	o, err := OpenObserver(n)
	must(t, err)
	defer o.Close()
	if o.Role() != Observer || o.ElemSize() != 16 || o.Capacity() != 8 || o.Type() != RingSPSC {
		t.Fatal("observer params")
	}
	if o.Consumers() != 1 {
		t.Fatal("observer counted as consumer")
	}
	wantErr(t, o.Push([]byte("x")), ErrNotAttached)
	_, err = o.Pop()
	wantErr(t, err, ErrNotAttached)
	_, err = o.ReadAt(0)
	wantErr(t, err, ErrRange)
	for i := uint64(0); i < 6; i++ {
		must(t, p.Push(elem(i, 16)))
	}
	for i := uint64(0); i < 6; i++ {
		e, err := o.ReadAt(i)
		must(t, err)
		if !bytes.Equal(e, elem(i, 16)) {
			t.Fatal("read_at", i)
		}
	}
	if e, err := p.ReadAt(5); err != nil || !bytes.Equal(e, elem(5, 16)) {
		t.Fatal("producer read_at", err)
	}
	for i := uint64(0); i < 2; i++ {
		e, err := c.Pop()
		must(t, err)
		if !bytes.Equal(e, elem(i, 16)) {
			t.Fatal("pop", i)
		}
	}
	_, err = o.ReadAt(1) // consumed
	wantErr(t, err, ErrRange)
	_, err = o.ReadAt(6) // not pushed yet
	wantErr(t, err, ErrRange)
	if e, err := c.ReadAt(2); err != nil || !bytes.Equal(e, elem(2, 16)) {
		t.Fatal("consumer read_at", err)
	}
	if o.Len() != 4 {
		t.Fatal("len", o.Len())
	}
	st, err := o.Stats()
	must(t, err)
	if st.Head != 6 {
		t.Fatal("head", st.Head)
	}
	c.Close()
	if o.Consumers() != 0 {
		t.Fatal("consumers after close", o.Consumers())
	}
	c2, err := OpenConsumer(n) // the observer did not take the free role
	must(t, err)
	defer c2.Close()
	// PushWait zero-fills short data (shmap_ring_push_bytes_wait).
	must(t, p.PushWait([]byte("ab"), time.Second))
	wantErr(t, p.PushWait(make([]byte, 17), 10*time.Millisecond), ErrTooBig)
	for i := uint64(2); i < 6; i++ {
		e, err := c2.Pop()
		must(t, err)
		if !bytes.Equal(e, elem(i, 16)) {
			t.Fatal("pop after reopen", i)
		}
	}
	e, err := c2.Pop()
	must(t, err)
	if !bytes.Equal(e, append([]byte("ab"), make([]byte, 14)...)) {
		t.Fatal("push_bytes_wait padding", e)
	}
}

func TestInfoFieldMax(t *testing.T) {
	if InfoFieldMax < InfoLayoutVersion {
		t.Fatal("InfoFieldMax", InfoFieldMax)
	}
	n := segName(t, "tab")
	tb, err := CreateTable(n, 16, 8, 8)
	must(t, err)
	defer tb.Close()
	si, err := Inspect(n, nil)
	must(t, err)
	if uint32(len(si.Fields)) != InfoFieldMax {
		t.Fatal("fields", len(si.Fields), InfoFieldMax)
	}
	if si.Fields[InfoLayoutVersion] == 0 || si.Fields[InfoValueMax] != 8 {
		t.Fatal("field values", si.Fields)
	}
}
