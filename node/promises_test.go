package node_test

// The two core promises under faults, in-process: an acknowledged write is
// never lost (commands are applied exactly once, garbage is only what the
// metadata no longer references), reads never go back in time, and full
// drives degrade service instead of data.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/meta"
)

// leaderAndFollower returns the Raft leader and another node.
func (c *testCluster) leaderAndFollower(t *testing.T) (*node.Node, *node.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n.IsLeader() {
				return n, c.nodes[(i+1)%len(c.nodes)]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil, nil
}

func tenantWithBucket(t *testing.T, c *testCluster, tenant, bucket string) node.Caller {
	t.Helper()
	ctx := context.Background()
	info, err := c.nodes[0].CreateTenant(ctx, tenant, "", "")
	if err != nil {
		t.Fatal(err)
	}
	caller := node.Caller{Tenant: tenant, AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, bucket); err != nil {
		t.Fatal(err)
	}
	return caller
}

// A forwarded PutObject is committed, then the connection to the leader
// breaks before the answer: the forwarder sends the same command again.
// Meanwhile another write replaces the key. The retry must be answered
// with the first outcome, not applied again: the newer write stays current
// and readable after garbage collection (a second application made the
// older version current again while the newer write had handed its shards
// to the collector).
func TestForwardedRetryIsAppliedOnce(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-retry", "akten")
	leader, follower := c.leaderAndFollower(t)

	older, newer := random(40_000), random(50_000) // coded into shards, not inline
	broke := 0
	leader.OnForwardedApply(func(op meta.Op) bool {
		if op != meta.OpPutObject || broke > 0 {
			return false
		}
		broke++
		// The older write is committed; the newer one overwrites it before
		// the forwarder hears anything.
		if _, err := leader.PutObject(ctx, caller, "akten", "bescheid.pdf", bytes.NewReader(newer), node.PutOptions{Size: -1}); err != nil {
			t.Errorf("concurrent overwrite: %v", err)
		}
		return true
	})
	if _, err := follower.PutObject(ctx, caller, "akten", "bescheid.pdf", bytes.NewReader(older), node.PutOptions{Size: -1}); err != nil {
		t.Fatalf("the forwarded write, retried after the broken connection: %v", err)
	}
	leader.OnForwardedApply(nil)
	if broke != 1 {
		t.Fatalf("the connection was broken %d times", broke)
	}
	// Both writes were acknowledged; the older one took effect first (its
	// commit came first), so the newer is current, on every node, also
	// after the replaced version's shards were collected.
	time.Sleep(1500 * time.Millisecond) // GCGrace is 100 ms; the collector runs every second
	for _, n := range c.nodes {
		if got, _ := get(t, n, caller, "akten", "bescheid.pdf", node.GetOptions{}); !bytes.Equal(got, newer) {
			t.Fatalf("via %s: %d bytes, not the newer write", n.ID(), len(got))
		}
	}

	// A conditional create whose answer was lost: the retry must not be
	// refused by its own first application (412), nor lose its shards.
	created := random(30_000)
	broke = 0
	leader.OnForwardedApply(func(op meta.Op) bool {
		if op != meta.OpPutObject || broke > 0 {
			return false
		}
		broke++
		return true
	})
	if _, err := follower.PutObject(ctx, caller, "akten", "antrag.pdf", bytes.NewReader(created), node.PutOptions{Size: -1, IfNoneMatch: true}); err != nil {
		t.Fatalf("conditional create retried after a lost answer: %v", err)
	}
	leader.OnForwardedApply(nil)
	time.Sleep(1500 * time.Millisecond)
	for _, n := range c.nodes {
		if got, _ := get(t, n, caller, "akten", "antrag.pdf", node.GetOptions{}); !bytes.Equal(got, created) {
			t.Fatalf("via %s: %d bytes, not the created object", n.ID(), len(got))
		}
	}
	// And a second conditional create of the same key is refused.
	if _, err := follower.PutObject(ctx, caller, "akten", "antrag.pdf", bytes.NewReader(created), node.PutOptions{Size: -1, IfNoneMatch: true}); !node.IsKind(err, node.KindPrecondition) {
		t.Fatalf("second conditional create: %v, want a failed precondition", err)
	}
}

// mountTmpfs mounts a small tmpfs at dir for tests of full drives; it
// skips the test where mounting is not permitted (not root).
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for a full-drive test (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// fill writes a ballast file into dir until the file system has about
// leave bytes free, and returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for free(t, dir) > leave+int64(len(chunk)) {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	return path
}

func free(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("df", "-B1", "--output=avail", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	fmt.Sscan(string(bytes.TrimPrefix(bytes.TrimSpace(out), []byte("Avail"))), &n)
	return n
}

// A drive that fills up stops receiving new shards at its reserve (writes
// go on, to erasure sets with room), and a write that loses a shard
// mid-stream is acknowledged at k+1 and counts as below full protection
// until the leader has rebuilt the shard, which it does once the drive has
// room again.
func TestFullDataDrive(t *testing.T) {
	const reserve = 6 << 20
	c := startNodes(t, 3, func(cfg *node.Config) {
		if cfg.ID == "n2" {
			mountTmpfs(t, cfg.Drives[1], "24m")
		}
		cfg.DriveReserve = reserve
		cfg.RestoreEvery = 200 * time.Millisecond
		// Writes while the drive is full go to a degraded family, below
		// full protection; re-coding them is not what this test is about
		// (TestReprotect), and its moves would fill the drive meanwhile.
		cfg.ReprotectEvery = -1
	})
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-voll", "akten")
	drive := c.cfgs[2].Drives[1]

	// Fill the drive with objects until it is below its reserve; writes
	// keep succeeding, and once the drive's owner has measured it (pings
	// every second bring the figure to the others) no new shard lands on it.
	var below time.Time
	var filesThen int
	for i := 0; time.Since(below) < 3*time.Second || below.IsZero(); i++ {
		if i > 400 {
			t.Fatal("the drive never went below its reserve")
		}
		data := random(1 << 20)
		if _, err := c.nodes[i%3].PutObject(ctx, caller, "akten", fmt.Sprintf("fill/%03d", i), bytes.NewReader(data), node.PutOptions{Size: -1}); err != nil {
			t.Fatalf("write %d while the drive fills: %v", i, err)
		}
		if below.IsZero() && free(t, drive) < reserve {
			below = time.Now()
			t.Logf("drive below its reserve after %d objects (%d bytes free)", i+1, free(t, drive))
		}
		if !below.IsZero() && filesThen == 0 && time.Since(below) > 1500*time.Millisecond {
			filesThen = c.nodes[2].ShardFiles(1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := c.nodes[2].ShardFiles(1); got != filesThen {
		t.Fatalf("the drive below its reserve received %d new shards", got-filesThen)
	}
	if f := free(t, drive); f < reserve/3 {
		t.Fatalf("the drive went down to %d bytes free; its reserve is %d", f, reserve)
	}

	// Now a write that loses a shard mid-stream: with no reserve left to
	// keep the set away, the drive fills up in the middle of the stream.
	for _, n := range c.nodes {
		n.SetDriveReserve(1)
	}
	time.Sleep(1500 * time.Millisecond) // everyone measured the drive again
	ballast := fill(t, drive, 200<<10)
	data := random(4 << 20)
	if _, err := c.nodes[0].PutObject(ctx, caller, "akten", "lost-shard.bin", bytes.NewReader(data), node.PutOptions{Size: -1}); err != nil {
		t.Fatalf("a write that lost one shard must succeed with k+1: %v", err)
	}
	st, err := c.nodes[1].ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Redundancy.StreamsWithLostShards != 1 || st.BelowFullProtection < 1 {
		t.Fatalf("%d streams with lost shards, want 1 (%d below full protection)", st.Redundancy.StreamsWithLostShards, st.BelowFullProtection)
	}
	if m := c.nodes[0].Metrics(); m.BelowFullProtection != st.BelowFullProtection {
		t.Fatalf("metrics: %d streams below full protection, the status %d", m.BelowFullProtection, st.BelowFullProtection)
	}
	// Space comes back: the leader rebuilds the shard by itself.
	os.Remove(ballast)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.nodes[1].ClusterStatus(ctx)
		if err == nil && st.Redundancy.StreamsWithLostShards == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lost shard was not rebuilt: %+v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range c.nodes {
		if got, _ := get(t, n, caller, "akten", "lost-shard.bin", node.GetOptions{}); !bytes.Equal(got, data) {
			t.Fatalf("via %s: the object differs", n.ID())
		}
	}
}

// A metadata drive that fills up makes its node answer 503 at once (not
// hang), say why in its status, and serve again by itself once space
// returns — having caught up with what the others wrote meanwhile.
func TestFullMetadataDrive(t *testing.T) {
	c := startNodes(t, 3, func(cfg *node.Config) {
		mountTmpfs(t, cfg.MetaDir, "48m")
		cfg.MetaReserve = 8 << 20
	})
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-meta", "akten")
	// The leader is the worst case: it must hand over leadership.
	leader, other := c.leaderAndFollower(t)
	var idx int
	for i, n := range c.nodes {
		if n == leader {
			idx = i
		}
	}
	ballast := fill(t, c.cfgs[idx].MetaDir, 1<<20)
	start := time.Now()
	for {
		_, err := leader.LookupAccessKey(ctx, caller.AccessKey)
		if node.IsKind(err, node.KindUnavailable) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("a node with a full metadata drive still answers after %v: %v", time.Since(start), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	if _, err := leader.GetObject(ctx, caller, "akten", "x", node.GetOptions{}); !node.IsKind(err, node.KindUnavailable) || time.Since(t0) > time.Second {
		t.Fatalf("GET on the full node: %v after %v, want unavailable at once", err, time.Since(t0))
	}
	if st := leader.Status(ctx); st.Problem == "" {
		t.Fatal("the full node's status names no problem")
	}
	// The others go on, under a new leader.
	data := random(30_000)
	var err error
	for time.Since(start) < 15*time.Second {
		if _, err = other.PutObject(ctx, caller, "akten", "waehrenddessen.pdf", bytes.NewReader(data), node.PutOptions{Size: -1}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the other nodes do not serve while one metadata drive is full: %v", err)
	}
	if leader.IsLeader() {
		t.Fatal("the node with the full metadata drive still leads")
	}
	// Space returns: the node serves again and has caught up.
	os.Remove(ballast)
	deadline := time.Now().Add(15 * time.Second)
	for {
		obj, err := leader.GetObject(ctx, caller, "akten", "waehrenddessen.pdf", node.GetOptions{})
		if err == nil {
			var buf bytes.Buffer
			if err := obj.Send(ctx, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("after recovery: %v, %d bytes", err, buf.Len())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
