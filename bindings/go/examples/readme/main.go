// SPDX-License-Identifier: MIT

// The Go example of bindings/README.md (kept compiling by `go test ./...`).
package main

import (
	"errors"
	"fmt"
	"time"

	"shmap"
)

func main() {
	t, err := shmap.CreateTable("/demo-table", 1024, 64, 256)
	if err != nil {
		panic(err)
	}
	defer shmap.Unlink("/demo-table", nil)
	defer t.Close()
	_ = t.Put([]byte("greeting"), []byte("hello"))
	v, ok, _ := t.Get([]byte("greeting"))
	fmt.Println(string(v), ok)
	_ = t.Range(func(k, v []byte) bool { fmt.Printf("%s=%s\n", k, v); return true })

	p, _ := shmap.OpenRing("/demo-ring", shmap.Create,
		shmap.RingParams{Type: shmap.RingSPSC, ElemSize: 16, Capacity: 64}, shmap.Producer, nil)
	defer shmap.Unlink("/demo-ring", nil)
	defer p.Close()
	c, _ := shmap.OpenConsumer("/demo-ring")
	defer c.Close()
	_ = p.Push([]byte("tick"))
	if _, err := c.PopWait(time.Second); errors.Is(err, shmap.ErrTimeout) {
		fmt.Println("nothing within 1 s")
	}
}
