package node_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
)

// waitReadiness polls n.Ready until it answers as wanted (nil when ready).
func waitReadiness(t *testing.T, n *node.Node, ready bool, within time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := n.Ready(context.Background())
		if (err == nil) == ready {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ready=%v after %v, want %v (%v)", n.ID(), err == nil, within, ready, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A node is ready while it has a leader and is caught up with it; it
// turns unready when the others go away and ready again when they come
// back; a node whose drives all fail is not ready.
func TestReady(t *testing.T) {
	c := startNodes(t, 3)
	for _, n := range c.nodes {
		waitReadiness(t, n, true, 10*time.Second)
	}

	// Two of three voters gone: no quorum, no leader.
	for i := 1; i < 3; i++ {
		c.nodes[i].Close()
		c.nodes[i] = nil
	}
	start := time.Now()
	err := waitReadiness(t, c.nodes[0], false, 10*time.Second)
	t.Logf("unready after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "leader") {
		t.Errorf("unready for another reason: %v", err)
	}
	// Answers stay quick while unready.
	t0 := time.Now()
	c.nodes[0].Ready(context.Background())
	if d := time.Since(t0); d > node.ReadyTimeout+time.Second {
		t.Errorf("a probe took %v", d)
	}

	// One comes back: a quorum again.
	cfg := c.cfgs[1]
	cfg.Bootstrap, cfg.Join = false, ""
	n1, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[1] = n1
	waitReadiness(t, c.nodes[0], true, 15*time.Second)
	waitReadiness(t, n1, true, 15*time.Second)

	// Every data drive of node 0 gone.
	for _, d := range c.cfgs[0].Drives {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	err = waitReadiness(t, c.nodes[0], false, 5*time.Second)
	if !strings.Contains(err.Error(), "drive") {
		t.Errorf("unready for another reason: %v", err)
	}
	for _, d := range c.cfgs[0].Drives {
		os.MkdirAll(d, 0o700)
	}
	waitReadiness(t, c.nodes[0], true, 5*time.Second)
}
