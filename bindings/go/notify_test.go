// SPDX-License-Identifier: MIT

package shmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func threadCount(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	must(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Threads:") {
			n, err := strconv.Atoi(strings.TrimSpace(l[len("Threads:"):]))
			must(t, err)
			return n
		}
	}
	t.Fatal("no Threads line")
	return 0
}

func TestNotifyFdContract(t *testing.T) {
	n := segName(t, "nfd")
	p, err := OpenRing(n, Create, RingParams{Type: RingSPSC, ElemSize: 8, Capacity: 4}, Producer, nil)
	must(t, err)
	defer p.Close()
	c, err := OpenConsumer(n)
	must(t, err)
	defer c.Close()
	if err := c.NotifyArm(); !errors.Is(err, ErrInval) {
		t.Fatalf("arm before NotifyFd: %v", err)
	}
	fd, err := c.NotifyFd()
	must(t, err)
	fd2, err := c.NotifyFd()
	must(t, err)
	if fd < 0 || fd != fd2 {
		t.Fatalf("descriptors %d %d", fd, fd2)
	}
	must(t, c.NotifyArm())
	if ErrPeerDead.Code() != -1030 {
		t.Fatal("ErrPeerDead code")
	}
}

// PopContext: an element pushed later wakes it; ctx cancellation and
// deadlines end it; the Ring stays usable by other goroutines meanwhile.
func TestPopContext(t *testing.T) {
	n := segName(t, "popctx")
	p, err := OpenRing(n, Create, RingParams{Type: RingSPSC, ElemSize: 8, Capacity: 4}, Producer, nil)
	must(t, err)
	defer p.Close()
	c, err := OpenConsumer(n)
	must(t, err)
	defer c.Close()
	go func() {
		time.Sleep(30 * time.Millisecond)
		must(t, p.Push(elem(1, 8)))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := c.PopContext(ctx)
	must(t, err)
	if !bytes.Equal(b, elem(1, 8)) {
		t.Fatalf("got %v", b)
	}
	// deadline
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	t0 := time.Now()
	if _, err := c.PopContext(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("deadline honoured after %v", d)
	}
	// cancellation, while another goroutine uses the Ring
	ctx3, cancel3 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.PopContext(ctx3); errc <- err }()
	time.Sleep(30 * time.Millisecond)
	if l := c.Len(); l != 0 { // the mutex is free while PopContext waits
		t.Fatalf("len %d", l)
	}
	cancel3()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PopContext did not return after cancel")
	}
	// PushContext on a full ring
	for p.Push(elem(2, 8)) == nil {
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		_, _ = c.Pop()
	}()
	must(t, p.PushContext(context.Background(), elem(3, 8)))
}

// Many goroutines wait at once, one ring each: the goroutines hold no OS
// thread (the library's waiter thread exists before the count), and every
// one gets its element.
func TestPopContextNoThreadPerWait(t *testing.T) {
	const k = 24
	names := make([]string, k)
	prods := make([]*Ring, k)
	cons := make([]*Ring, k)
	for i := range names {
		names[i] = segName(t, "many")
		var err error
		prods[i], err = OpenRing(names[i], Create, RingParams{Type: RingSPSC, ElemSize: 8, Capacity: 4}, Producer, nil)
		must(t, err)
		defer prods[i].Close()
		cons[i], err = OpenConsumer(names[i])
		must(t, err)
		defer cons[i].Close()
		_, err = cons[i].NotifyFd() // the waiter threads exist before the count
		must(t, err)
	}
	time.Sleep(20 * time.Millisecond)
	before := threadCount(t)
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b, err := cons[i].PopContext(context.Background())
			if err == nil && !bytes.Equal(b, elem(uint64(i), 8)) {
				err = fmt.Errorf("ring %d: got %v", i, b)
			}
			errs <- err
		}(i)
	}
	time.Sleep(100 * time.Millisecond) // all parked
	during := threadCount(t)
	for i := 0; i < k; i++ {
		must(t, prods[i].Push(elem(uint64(i), 8)))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if during-before >= k/2 {
		t.Fatalf("%d goroutines waiting added %d OS threads", k, during-before)
	}
}

// A C producer (another process) streams; then it is SIGKILLed while the
// Go consumer waits in PopContext, which returns ErrPeerDead.
func TestPopContextCrossProcessAndDeath(t *testing.T) {
	const N = 2000
	n := segName(t, "xnotify")
	c, err := OpenRing(n, Create, RingParams{Type: RingSPSC, ElemSize: 32, Capacity: 16}, Consumer, nil)
	must(t, err)
	defer c.Close()
	if err := runPeerAsync(t, "ring-push", n, strconv.Itoa(N)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := uint64(0); i < N; i++ {
		b, err := c.PopContext(ctx)
		must(t, err)
		if !bytes.Equal(b, elem(i, 32)) {
			t.Fatalf("element %d: %v", i, b)
		}
	}
	cmd := exec.Command(peer(t), "ring-push", n, "1000000000")
	must(t, cmd.Start())
	for i := 0; i < 100; i++ { // it is streaming
		_, err := c.PopContext(ctx)
		must(t, err)
	}
	must(t, cmd.Process.Kill())
	killed := time.Now()
	_ = cmd.Wait()
	for {
		_, err := c.PopContext(ctx)
		if errors.Is(err, ErrPeerDead) {
			break
		}
		must(t, err)
	}
	if d := time.Since(killed); d > time.Second {
		t.Fatalf("the producer's death was seen after %v", d)
	}
	// told once: the next PopContext waits (for a replacement)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel2()
	if _, err := c.PopContext(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the death: %v", err)
	}
}

// runPeerAsync starts the C peer and reports its failure through t.
func runPeerAsync(t *testing.T, args ...string) error {
	cmd := exec.Command(peer(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	t.Cleanup(func() {
		if err := cmd.Wait(); err != nil {
			t.Errorf("peer %v: %v: %s", args, err, out.String())
		}
	})
	return nil
}
