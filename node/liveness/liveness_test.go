package liveness

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
)

// ClockAhead judges this node's clock against what its peers answered:
// only a majority known to be behind by more than the limit refuses.
func TestClockAhead(t *testing.T) {
	members := []meta.Node{{ID: "a", RPCAddr: "a"}, {ID: "b", RPCAddr: "b"}, {ID: "c", RPCAddr: "c"}}
	skew := map[string]time.Duration{} // peer address → how far its clock is behind
	tr := New(context.Background(), Config{
		Self:    "a",
		Members: func() []meta.Node { return members },
		Status: func(_ context.Context, addr string) (rpc.Status, error) {
			return rpc.Status{ID: addr, Now: time.Now().Add(-skew[addr]).UnixNano()}, nil
		},
		Local: func() []rpc.DriveStatus { return nil },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if _, ahead := tr.ClockAhead(time.Minute); ahead {
		t.Fatal("ahead before any probe")
	}
	for _, tc := range []struct {
		b, c  time.Duration
		ahead bool
	}{
		{0, 0, false},
		{time.Hour, 0, false},                // one peer behind: it is the odd one
		{time.Hour, 30 * time.Second, false}, // within the limit
		{time.Hour, 2 * time.Minute, true},   // both behind: this node is ahead
		{-time.Hour, -time.Hour, false},      // both ahead of this node: not its problem here
	} {
		skew["b"], skew["c"] = tc.b, tc.c
		tr.ProbeAll(context.Background())
		by, ahead := tr.ClockAhead(time.Minute)
		if ahead != tc.ahead {
			t.Errorf("peers behind by %v and %v: ahead %v (by %v), want %v", tc.b, tc.c, ahead, by, tc.ahead)
		}
		if ahead && (by < 2*time.Minute-time.Second || by > 2*time.Minute+time.Second) {
			t.Errorf("ahead by %v, want the nearer peer's 2m", by)
		}
	}
	// Readings grow stale: a peer not heard from lately is not counted.
	skew["b"], skew["c"] = time.Hour, time.Hour
	tr.ProbeAll(context.Background())
	tr.mu.Lock()
	for id, c := range tr.clocks {
		c.at = c.at.Add(-2 * ClockFresh)
		tr.clocks[id] = c
	}
	tr.mu.Unlock()
	if _, ahead := tr.ClockAhead(time.Minute); ahead {
		t.Error("stale readings decided")
	}
}
