// Package testaddr hands tests loopback ports to give to servers that must
// know their address before they listen (Raft advertises it, peers dial it).
//
// Asking the kernel for port 0 and closing the listener is racy in a busy
// test run: such ports come from the ephemeral range, which the kernel also
// uses as source ports of outgoing connections, so a client socket of another
// test can take the port before the server binds it ("address already in
// use"). Ports here come from below the ephemeral range instead, are checked
// free, and are never handed out twice in one process.
package testaddr

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// The range lies below Linux's default ephemeral range (32768–60999) and
// above the ports system services usually take.
const (
	low  = 10000
	high = 32000
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Loopback returns "127.0.0.1:PORT" for a port nothing listens on now.
func Loopback(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(Base(t, 0))
}

// Base returns a port p such that p+off is free for every given offset
// (offset 0 is always included), for servers that derive a group of ports
// from one base.
func Base(t testing.TB, offsets ...int) int {
	t.Helper()
	offsets = append([]int{0}, offsets...)
	span := 0
	for _, off := range offsets {
		span = max(span, off)
	}
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		base := low + rand.IntN(high-low-span)
		if free(base, offsets) {
			for _, off := range offsets {
				handed[base+off] = true
			}
			return base
		}
	}
	t.Fatal("testaddr: no free loopback port")
	return 0
}

func free(base int, offsets []int) bool {
	for _, off := range offsets {
		if handed[base+off] {
			return false
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}
