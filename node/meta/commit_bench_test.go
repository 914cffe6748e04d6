package meta

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/transport"
)

// BenchmarkRaftCommit measures what every write pays for its metadata:
// a small PutObject command proposed on the leader of three in-process
// stores over loopback TLS, replicated, fsynced and applied. Many
// proposers run at once, as many clients' requests do, so the figure
// includes Raft's batching. One op is one committed command.
func BenchmarkRaftCommit(b *testing.B) {
	sec, err := transport.New([]byte("bench-cluster-secret-xyz"), nil)
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	var nodes []*testNode
	for i := range 3 {
		n := &testNode{id: fmt.Sprintf("n%d", i), dir: filepath.Join(root, fmt.Sprint(i))}
		startNode(b, sec, n)
		nodes = append(nodes, n)
	}
	defer func() {
		for _, n := range nodes {
			n.s.Close()
		}
	}()
	if err := nodes[0].s.Bootstrap(); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "n0 to lead", func() bool { return nodes[0].s.IsLeader() })
	for _, n := range nodes[1:] {
		if err := nodes[0].s.AddServer(n.id, n.addr, true); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now().UnixNano()
	apply(b, nodes, NewCommand(&Init{ID: "c1", Created: now}))
	apply(b, nodes, NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1", Created: now}}))
	apply(b, nodes, NewCommand(&CreateBucket{Name: "b1", Tenant: "t1", Created: now}))
	leader := leaderOf(nodes)
	var seq atomic.Int64
	b.SetParallelism(16) // proposers per GOMAXPROCS
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			data, err := NewCommand(&PutObject{Bucket: "b1", Key: fmt.Sprintf("k%08d", i), Tenant: "t1",
				Object: Object{VersionID: fmt.Sprint(i), ETag: "e", Size: 4096, Parts: []Part{{DataID: fmt.Appendf(nil, "d%d", i)}}}}).Encode()
			if err != nil {
				b.Error(err)
				return
			}
			res, err := leader.s.Apply(context.Background(), data)
			if err != nil || res.Err != nil {
				b.Errorf("apply: %v %v", err, res)
				return
			}
		}
	})
}
