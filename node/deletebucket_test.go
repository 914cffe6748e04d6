package node_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
)

// A bucket whose only content is uploads in progress is deleted through a
// follower, as S3 deletes it: the uploads are aborted with it and their
// parts' shards collected. Uploads holding more parts than one deletion
// aborts are aborted one by one first, with the same outcome.
func TestDeleteBucketAbortsUploads(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	_, follower := c.leaderAndFollower(t)
	for _, tc := range []struct {
		name  string
		bound int64
	}{{"in one command", node.MaxParts}, {"one upload at a time", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			defer node.SetMaxDeleteAbortParts(tc.bound)()
			bucket := map[int64]string{node.MaxParts: "eins", 2: "einzeln"}[tc.bound]
			caller := tenantWithBucket(t, c, "gemeinde-"+bucket, bucket)
			base := shardFiles(c)
			for i, key := range []string{"a", "b"} {
				id, err := follower.CreateMultipartUpload(ctx, caller, bucket, key, node.PutOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for p := 1; p <= i+1; p++ {
					// Coded, not inline: shards on the drives.
					if _, err := follower.UploadPart(ctx, caller, bucket, key, id, p, bytes.NewReader(random(20<<10)), node.PartOptions{Size: 20 << 10}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := shardFiles(c) - base; got != 3*6 {
				t.Fatalf("%d shard files for three coded parts", got)
			}
			if err := follower.DeleteBucket(ctx, caller, bucket); err != nil {
				t.Fatalf("DeleteBucket with uploads in progress: %v", err)
			}
			for _, n := range c.nodes {
				if _, err := n.HeadBucket(ctx, caller, bucket); !node.IsKind(err, node.KindNoSuchBucket) {
					t.Fatalf("after the deletion, through %s: %v", n.ID(), err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for shardFiles(c) != base {
				if time.Now().After(deadline) {
					t.Fatalf("%d shard files of the aborted uploads left", shardFiles(c)-base)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
