package s3api

import (
	"context"
	"testing"
	"time"
)

// started reports whether enter returned for a waiter within a moment.
func enterAsync(f *fairShare, ctx context.Context, tenant string, wait time.Duration) chan func() {
	ch := make(chan func(), 1)
	go func() {
		release, err := f.enter(ctx, tenant, wait)
		if err != nil {
			close(ch)
			return
		}
		ch <- release
	}()
	return ch
}

func waitStart(t *testing.T, ch chan func(), want bool, what string) func() {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			if want {
				t.Fatalf("%s: gave up instead of starting", what)
			}
			return nil
		}
		if !want {
			t.Fatalf("%s started, but should wait", what)
		}
		return r
	case <-time.After(100 * time.Millisecond):
		if want {
			t.Fatalf("%s did not start", what)
		}
		return nil
	}
}

// queued waits until tenant has n requests waiting, so that the test
// knows their order.
func queued(t *testing.T, f *fairShare, tenant string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		got := len(f.waiting[tenant])
		f.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("%s never had %d requests waiting", tenant, n)
}

func TestFairShare(t *testing.T) {
	ctx := context.Background()
	f := &fairShare{max: 2, active: map[string]int{}, waiting: map[string][]chan struct{}{}}
	a1 := waitStart(t, enterAsync(f, ctx, "a", time.Minute), true, "a1")
	a2 := waitStart(t, enterAsync(f, ctx, "a", time.Minute), true, "a2")
	a3 := enterAsync(f, ctx, "a", time.Minute)
	queued(t, f, "a", 1)
	a4 := enterAsync(f, ctx, "a", time.Minute)
	queued(t, f, "a", 2)
	waitStart(t, a3, false, "a3 beyond the slots")
	// b is below its share (one of two): it starts at once, beyond max.
	b1 := waitStart(t, enterAsync(f, ctx, "b", time.Minute), true, "b1")
	// a gives a slot back, but a holds its share and the slots are full.
	a1()
	waitStart(t, a3, false, "a3 while a holds its share")
	// d comes: below its share, it starts at once; its second request
	// waits, behind a's.
	d1 := waitStart(t, enterAsync(f, ctx, "d", time.Minute), true, "d1")
	d2 := enterAsync(f, ctx, "d", time.Minute)
	waitStart(t, d2, false, "d2 at d's share")
	b1()
	waitStart(t, a3, false, "a3: a and d each hold their share of two")
	// d's slot is freed: the free slot goes to a (waiting longest), and d,
	// now below its share, starts too.
	d1()
	r3 := waitStart(t, a3, true, "a3 in its turn")
	rd := waitStart(t, d2, true, "d2 below its share")
	// a holds two (above its share of one): a4 waits until a is below it.
	a2()
	waitStart(t, a4, false, "a4 while a holds its share")
	r3()
	r4 := waitStart(t, a4, true, "a4 once a is below its share")
	rd()
	r4()
	if f.total != 0 || len(f.active) != 0 || len(f.waiting) != 0 || len(f.ring) != 0 {
		t.Fatalf("slots left: %+v", f)
	}
	// A waiter that gives up leaves nothing behind, and so does one that
	// times out.
	x1 := waitStart(t, enterAsync(f, ctx, "x", time.Minute), true, "x1")
	x2 := waitStart(t, enterAsync(f, ctx, "x", time.Minute), true, "x2")
	cctx, cancel := context.WithCancel(ctx)
	gone := enterAsync(f, cctx, "x", time.Minute)
	late := enterAsync(f, ctx, "x", 50*time.Millisecond)
	cancel()
	waitStart(t, gone, false, "a cancelled waiter")
	time.Sleep(100 * time.Millisecond)
	waitStart(t, late, false, "a waiter past its wait")
	x1()
	x2()
	if f.total != 0 || len(f.waiting) != 0 || len(f.ring) != 0 {
		t.Fatalf("after give-ups: %+v", f)
	}
}
