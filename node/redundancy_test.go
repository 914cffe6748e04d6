package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
)

// shardsOn lists the names of the shard files under a node's drives.
func shardsOn(t *testing.T, drives []string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, d := range drives {
		filepath.WalkDir(filepath.Join(d, "kcs", "shards"), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				out[e.Name()] = true
			}
			return nil
		})
	}
	return out
}

// In process, under the race detector: objects written while a site is
// down are stored in the degraded geometry; once it is back, the leader
// re-codes every one of them onto the full family — the status counts
// them down to zero, they read back byte for byte, and the returning
// site's drives hold their shards — while an upload's part moved before
// its completion still completes.
func TestReprotect(t *testing.T) {
	c := startNodes(t, 3, func(cfg *node.Config) {
		cfg.ReprotectEvery = 200 * time.Millisecond
		cfg.InlineLimit = -1 // every object in shards
	})
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-ausfall", "akten")
	want := map[string][]byte{}
	put := func(n *node.Node, key string, size int) {
		t.Helper()
		data := random(size)
		// Until the others have seen the site go (probes every second), a
		// write may still pick it and fail, as clients then retry.
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			_, err := n.PutObject(ctx, caller, "akten", key, bytes.NewReader(data), node.PutOptions{Size: -1})
			if err == nil {
				break
			}
			if !node.IsKind(err, node.KindUnavailable) || time.Since(start) > 10*time.Second {
				t.Fatalf("put %s: %v", key, err)
			}
		}
		want[key] = data
	}
	put(c.nodes[0], "before", 50_000)

	down := c.cfgs[2]
	c.nodes[2].Close()
	for i := range 8 {
		put(c.nodes[i%2], fmt.Sprintf("during/%d", i), []int{0, 1, 4095, 4096, 20_000, 100_000, 300_000, 1 << 20}[i])
	}
	id, err := c.nodes[0].CreateMultipartUpload(ctx, caller, "akten", "upload", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := random(5<<20), random(1000)
	i1, err := c.nodes[1].UploadPart(ctx, caller, "akten", "upload", id, 1, bytes.NewReader(p1), node.PartOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	i2, err := c.nodes[0].UploadPart(ctx, caller, "akten", "upload", id, 2, bytes.NewReader(p2), node.PartOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.nodes[0].ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BelowFullProtection < 10 {
		t.Fatalf("%d streams below full protection while a site is down, want the 10 written meanwhile", st.BelowFullProtection)
	}
	t.Logf("below full protection while site-2 is down: %d streams", st.BelowFullProtection)

	// The site comes back.
	down.Bootstrap, down.Join = false, ""
	if c.nodes[2], err = node.Start(ctx, down); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		st, err = c.nodes[1].ClusterStatus(ctx)
		if err == nil && st.BelowFullProtection == 0 {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("still below full protection after %v: %+v %v", time.Since(start), st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("full protection again %v after the site returned; %d streams re-coded", time.Since(start).Round(time.Millisecond), st.Redundancy.StreamsMoved)
	if st.Redundancy.StreamsMoved < 10 {
		t.Fatalf("%d streams re-coded, want at least 10", st.Redundancy.StreamsMoved)
	}
	if _, err := c.nodes[2].CompleteMultipartUpload(ctx, caller, "akten", "upload", id,
		[]node.CompletePart{{Number: 1, ETag: i1.ETag}, {Number: 2, ETag: i2.ETag}}, node.CompleteOptions{}); err != nil {
		t.Fatalf("completing the upload whose parts moved: %v", err)
	}
	want["upload"] = append(append([]byte(nil), p1...), p2...)
	back := shardsOn(t, down.Drives)
	for key, data := range want {
		for _, n := range c.nodes {
			if got, _ := get(t, n, caller, "akten", key, node.GetOptions{}); !bytes.Equal(got, data) {
				t.Fatalf("%s via %s differs after re-protection", key, n.ID())
			}
		}
		ids, drives := c.nodes[0].StreamsOf("akten", key)
		for i, dataID := range ids {
			if len(drives[i]) != 6 {
				t.Fatalf("%s part %d on %d drives, want RS(4,2)'s 6", key, i, len(drives[i]))
			}
			onSite2 := 0
			for _, d := range drives[i] {
				if strings.HasPrefix(d, "n2/") {
					onSite2++
					found := false
					for name := range back {
						found = found || strings.HasPrefix(name, dataID)
					}
					if !found {
						t.Fatalf("%s: no shard of %s on site-2's drives", key, dataID)
					}
				}
			}
			if onSite2 != 2 {
				t.Fatalf("%s part %d has %d shards on site-2, want 2", key, i, onSite2)
			}
		}
	}
	if m := c.nodes[1].Metrics(); m.BelowFullProtection != 0 {
		t.Fatalf("metrics: %d streams below full protection", m.BelowFullProtection)
	}
}
