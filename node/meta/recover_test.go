package meta

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/transport"
)

// threeNodes starts a three-voter cluster with its cluster and node records,
// a tenant and a bucket.
func threeNodes(t *testing.T, sec *transport.Security, root string) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := range 3 {
		n := &testNode{id: fmt.Sprintf("n%d", i), dir: filepath.Join(root, fmt.Sprint(i))}
		startNode(t, sec, n)
		nodes = append(nodes, n)
	}
	if err := nodes[0].s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n0 to lead", func() bool { return nodes[0].s.IsLeader() })
	for _, n := range nodes[1:] {
		if err := nodes[0].s.AddServer(n.id, n.addr, true); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UnixNano()
	apply(t, nodes, NewCommand(&Init{ID: "c1", Created: now}))
	for i, n := range nodes {
		apply(t, nodes, NewCommand(&RegisterNode{ID: n.id, Site: fmt.Sprintf("site-%d", i), RaftAddr: n.addr,
			Drives: []Drive{{ID: n.id + "/0", Index: 0}, {ID: n.id + "/1", Index: 1}}}))
	}
	apply(t, nodes, NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1", Created: now}}))
	if r := apply(t, nodes, NewCommand(&CreateBucket{Name: "b1", Tenant: "t1", Created: now})); r.Err != nil {
		t.Fatal(r.Err)
	}
	return nodes
}

func putTestObject(t *testing.T, nodes []*testNode, key string) {
	t.Helper()
	r := apply(t, nodes, NewCommand(&PutObject{Bucket: "b1", Key: key, Tenant: "t1",
		Object: Object{VersionID: "v-" + key, ETag: key, Size: 1, Parts: []Part{{DataID: []byte("d-" + key)}}}}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
}

func closeAll(nodes []*testNode) {
	for _, n := range nodes {
		if n.s != nil {
			n.s.Close()
			n.s = nil
		}
	}
}

func hasObjects(t *testing.T, nodes []*testNode, n *testNode, keys ...string) {
	t.Helper()
	readOn(t, nodes, n, func(r *Reader) error {
		for _, k := range keys {
			if _, ok, _ := r.Object("b1", k); !ok {
				t.Fatalf("%s: object %s missing", n.id, k)
			}
		}
		return nil
	})
}

// Two of three members lost for good: the survivor, recovered with Raft's
// RecoverCluster, leads a cluster of its own with everything it had —
// what a snapshot held and the log entries after it — and takes writes.
func TestRecoverAfterLosingTheMajority(t *testing.T) {
	sec, err := transport.New([]byte("test-cluster-secret-xyz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	nodes := threeNodes(t, sec, root)
	defer closeAll(nodes)
	for i := range 20 {
		putTestObject(t, nodes, fmt.Sprint("before-snapshot-", i))
	}
	if err := nodes[0].s.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		putTestObject(t, nodes, fmt.Sprint("after-snapshot-", i))
	}
	hasObjects(t, nodes, nodes[0], "after-snapshot-19") // n0 applied everything
	closeAll(nodes)
	for _, n := range nodes[1:] {
		os.RemoveAll(n.dir) // destroyed
	}
	n0 := nodes[0]

	if _, _, err := Recover(n0.dir, "n0", []Peer{{ID: "n1", RaftAddr: "127.0.0.1:1"}}, quiet); err == nil || !strings.Contains(err.Error(), "must be one of the members") {
		t.Fatalf("recovery without this node: %v", err)
	}
	before, after, err := Recover(n0.dir, "n0", []Peer{{ID: "n0", RaftAddr: n0.addr}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Voters) != 3 || len(after.Voters) != 1 || after.Voters[0].ID != "n0" {
		t.Fatalf("voters before %v, after %v", before.Voters, after.Voters)
	}
	if after.Applied != before.LastIndex || after.LastIndex != before.LastIndex || before.Cluster != "c1" || len(before.Nodes) != 3 {
		t.Fatalf("before %+v, after %+v", before, after)
	}
	startNode(t, sec, n0)
	waitFor(t, "the survivor to lead alone", func() bool { return n0.s.IsLeader() })
	alone := []*testNode{n0}
	hasObjects(t, alone, n0, "before-snapshot-0", "before-snapshot-19", "after-snapshot-0", "after-snapshot-19")
	putTestObject(t, alone, "after-recovery")
	hasObjects(t, alone, n0, "after-recovery")
	// A new member joins the recovered cluster.
	n3 := &testNode{id: "n3", dir: filepath.Join(root, "3")}
	startNode(t, sec, n3)
	defer n3.s.Close()
	if err := n0.s.AddServer(n3.id, n3.addr, true); err != nil {
		t.Fatal(err)
	}
	both := []*testNode{n0, n3}
	putTestObject(t, both, "with-a-new-member")
	hasObjects(t, both, n3, "before-snapshot-0", "after-snapshot-19", "after-recovery", "with-a-new-member")
}

// A snapshot of the state, restored on three new members with a
// configuration of their new addresses, is a cluster that goes on from
// the snapshot's index.
func TestRestoreSnapshotStartsANewCluster(t *testing.T) {
	sec, err := transport.New([]byte("test-cluster-secret-xyz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	old := threeNodes(t, sec, filepath.Join(root, "old"))
	defer closeAll(old)
	for i := range 10 {
		putTestObject(t, old, fmt.Sprint("obj-", i))
	}
	hasObjects(t, old, old[1], "obj-9")
	snap, err := old[1].s.FSM.OpenStateSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	index := snap.Applied()
	if int64(buf.Len()) != snap.Size() || snap.Cluster() != "c1" {
		t.Fatalf("snapshot of %d bytes, Size %d, cluster %q", buf.Len(), snap.Size(), snap.Cluster())
	}
	snap.Close()
	putTestObject(t, old, "after-the-backup")
	closeAll(old)

	// The new members' addresses, known before they start.
	var fresh []*testNode
	var peers []Peer
	for i := range 3 {
		l, err := sec.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n := &testNode{id: fmt.Sprintf("n%d", i), dir: filepath.Join(root, "new", fmt.Sprint(i)), addr: l.Addr().String()}
		l.Close()
		fresh = append(fresh, n)
		peers = append(peers, Peer{ID: n.id, RaftAddr: n.addr})
	}
	defer closeAll(fresh)

	// Refusals leave nothing behind.
	bad := filepath.Join(root, "bad")
	if _, err := RestoreSnapshot(bad, "n0", append(peers, Peer{ID: "n9", RaftAddr: "127.0.0.1:9"}), index, int64(buf.Len()), bytes.NewReader(buf.Bytes()), quiet); err == nil || !strings.Contains(err.Error(), "no node n9") {
		t.Fatalf("a peer the backup does not know: %v", err)
	}
	if _, err := RestoreSnapshot(bad, "n0", peers, index+1, int64(buf.Len()), bytes.NewReader(buf.Bytes()), quiet); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a backup whose index does not match: %v", err)
	}
	if _, err := RestoreSnapshot(bad, "n0", peers, index, int64(buf.Len()), bytes.NewReader(buf.Bytes()[:buf.Len()/2]), quiet); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a snapshot cut in half: %v", err)
	}
	if ents, _ := os.ReadDir(bad); len(ents) != 0 {
		t.Fatalf("a refused restore left %v", ents)
	}

	for _, n := range fresh {
		st, err := RestoreSnapshot(n.dir, n.id, peers, index, int64(buf.Len()), bytes.NewReader(buf.Bytes()), quiet)
		if err != nil {
			t.Fatal(err)
		}
		if st.Cluster != "c1" || len(st.Nodes) != 3 || st.Applied != index {
			t.Fatalf("restored %+v", st)
		}
	}
	if _, err := RestoreSnapshot(fresh[0].dir, "n0", peers, index, int64(buf.Len()), bytes.NewReader(buf.Bytes()), quiet); err == nil || !strings.Contains(err.Error(), "already holds metadata") {
		t.Fatalf("a restore over metadata: %v", err)
	}
	for _, n := range fresh {
		startNode(t, sec, n)
	}
	waitFor(t, "a leader of the new cluster", func() bool { return leaderOf(fresh) != nil })
	for _, n := range fresh {
		hasObjects(t, fresh, n, "obj-0", "obj-9")
		n.s.FSM.View(func(r *Reader) error {
			if _, ok, _ := r.Object("b1", "after-the-backup"); ok {
				t.Fatalf("%s has a write from after the backup", n.id)
			}
			return nil
		})
	}
	putTestObject(t, fresh, "in-the-new-cluster")
	for _, n := range fresh {
		hasObjects(t, fresh, n, "in-the-new-cluster")
		if a := n.s.FSM.Applied(); a <= index {
			t.Fatalf("%s applied %d, the backup %d", n.id, a, index)
		}
	}
}
