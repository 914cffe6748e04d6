package node_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
)

// An upload of 3 000 small parts held in the metadata, aborted through a
// follower: the leader's answer used to carry every part's inline bytes
// (18 MB here) and was cut at the RPC's 16 MiB, so the abort, committed,
// answered an error. Results now hold no inline bytes: the abort succeeds,
// the upload is gone, and its coded parts' shards are collected.
func TestAbortLargeUploadThroughFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("3 000 part uploads")
	}
	c := startNodes(t, 3, func(cfg *node.Config) { cfg.MaxUploadInline = 64 << 20 })
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-viele", "teile")
	_, follower := c.leaderAndFollower(t)
	id, err := follower.CreateMultipartUpload(ctx, caller, "teile", "k", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := shardFiles(c)
	const parts = 3000
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.nodes[w%len(c.nodes)]
			for {
				p := int(next.Add(1))
				if p > parts+2 || t.Failed() {
					return
				}
				size := 6000 // inline
				if p > parts {
					size = 20 << 10 // coded: shards on the drives
				}
				if _, err := n.UploadPart(ctx, caller, "teile", "k", id, p, bytes.NewReader(random(size)), node.PartOptions{Size: int64(size)}); err != nil {
					t.Errorf("part %d: %v", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	coded := shardFiles(c) - base
	if coded != 2*6 {
		t.Fatalf("%d shard files for two coded parts", coded)
	}

	if err := follower.AbortMultipartUpload(ctx, caller, "teile", "k", id); err != nil {
		t.Fatalf("abort through the follower: %v", err)
	}
	for _, n := range c.nodes {
		if _, err := n.ListParts(ctx, caller, "teile", "k", id, node.ListPartsOptions{}); !node.IsKind(err, node.KindNoSuchUpload) {
			t.Fatalf("after the abort, through %s: %v", n.ID(), err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for shardFiles(c) != base {
		if time.Now().After(deadline) {
			t.Fatalf("%d shard files of the aborted upload left", shardFiles(c)-base)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The bucket is empty again.
	if err := follower.DeleteBucket(ctx, caller, "teile"); err != nil {
		t.Fatal(err)
	}
}

// An upload's small parts may keep at most MaxUploadInline bytes in the
// metadata: a part that can be seen to cross it is refused before its data
// is written, one of unknown size by the metadata at its commit;
// uploading a part again counts once, and coded parts do not count.
func TestUploadInlineBudget(t *testing.T) {
	const budget = 40 << 10
	c := startNodes(t, 3, func(cfg *node.Config) { cfg.MaxUploadInline = budget })
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-klein", "teile")
	n := c.nodes[1]
	id, err := n.CreateMultipartUpload(ctx, caller, "teile", "k", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(part, size int, known bool) error {
		opts := node.PartOptions{Size: -1}
		if known {
			opts.Size = int64(size)
		}
		_, err := n.UploadPart(ctx, caller, "teile", "k", id, part, bytes.NewReader(random(size)), opts)
		return err
	}
	// Each 10 KiB part keeps 10 272 bytes (header and tag) inline.
	for p := 1; p <= 3; p++ {
		if err := upload(p, 10<<10, true); err != nil {
			t.Fatalf("part %d: %v", p, err)
		}
	}
	for _, known := range []bool{true, false} {
		err := upload(4, 10<<10, known)
		if !node.IsKind(err, node.KindEntityTooLarge) || !strings.Contains(err.Error(), "41088 bytes in the metadata, beyond its limit of 40960") {
			t.Fatalf("a fourth small part (size known: %v): %v", known, err)
		}
	}
	if err := upload(2, 10<<10, false); err != nil {
		t.Fatalf("part 2 again: %v", err)
	}
	if err := upload(4, 20<<10, true); err != nil {
		t.Fatalf("a coded fourth part: %v", err)
	}
	if err := upload(10001, 1, true); !node.IsKind(err, node.KindInvalidArgument) {
		t.Fatalf("part 10001: %v", err)
	}
	res, err := n.ListParts(ctx, caller, "teile", "k", id, node.ListPartsOptions{})
	if err != nil || len(res.Parts) != 4 {
		t.Fatalf("parts: %+v, %v", res.Parts, err)
	}
}

// Sealed metadata beyond its bound is refused before anything is written.
func TestSealedMetadataBound(t *testing.T) {
	c := startNodes(t, 1)
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-meta", "akten")
	n := c.nodes[0]
	huge := node.PutOptions{Size: 3, ContentType: strings.Repeat("x", 70<<10)}
	if _, err := n.PutObject(ctx, caller, "akten", "k", strings.NewReader("abc"), huge); !node.IsKind(err, node.KindInvalidArgument) ||
		!strings.Contains(err.Error(), "beyond the limit of 65536") {
		t.Fatalf("put: %v", err)
	}
	if _, err := n.CreateMultipartUpload(ctx, caller, "akten", "k", huge); !node.IsKind(err, node.KindInvalidArgument) {
		t.Fatalf("create upload: %v", err)
	}
	if _, err := n.PutObject(ctx, caller, "akten", "k", strings.NewReader("abc"), node.PutOptions{Size: 3, ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	var tags []node.Tag
	for i := range 10 {
		tags = append(tags, node.Tag{Key: fmt.Sprint(i, strings.Repeat("k", 120)), Value: strings.Repeat("v", 256)})
	}
	if err := n.PutObjectTagging(ctx, caller, "akten", "k", tags); err != nil {
		t.Fatalf("the most tags S3 allows: %v", err)
	}
}
