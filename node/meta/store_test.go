package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/transport"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type testNode struct {
	id, dir, addr string
	s             *Store
}

func startNode(t testing.TB, sec *transport.Security, n *testNode) {
	t.Helper()
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := sec.Listen(addr)
	for i := 0; err != nil && i < 50; i++ { // the old listener's port may linger briefly
		time.Sleep(100 * time.Millisecond)
		l, err = sec.Listen(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	n.addr = l.Addr().String()
	s, err := OpenStore(StoreConfig{ID: n.id, Dir: n.dir, Listener: l, Dial: sec.Dial, Advertise: n.addr, Fast: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	n.s = s
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leaderOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if n.s != nil && n.s.IsLeader() {
			return n
		}
	}
	return nil
}

func apply(t testing.TB, nodes []*testNode, c *Command) *Result {
	t.Helper()
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var res *Result
	waitFor(t, "a leader to apply", func() bool {
		l := leaderOf(nodes)
		if l == nil {
			return false
		}
		res, err = l.s.Apply(context.Background(), data)
		return err == nil
	})
	return res
}

// readOn performs a linearizable read on node n the way the object layer
// does: ask the leader for a read index, wait for it locally, read.
func readOn(t *testing.T, nodes []*testNode, n *testNode, fn func(r *Reader) error) {
	t.Helper()
	var idx uint64
	waitFor(t, "a read index", func() bool {
		l := leaderOf(nodes)
		if l == nil {
			return false
		}
		var err error
		idx, err = l.s.ReadIndex(context.Background())
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.s.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if err := n.s.FSM.View(fn); err != nil {
		t.Fatal(err)
	}
}

// dump returns a node's whole state as comparable values.
func dump(t *testing.T, s *Store) map[string]any {
	out := map[string]any{}
	err := s.FSM.View(func(r *Reader) error {
		ts, _ := r.Tenants()
		out["tenants"] = ts
		bs, _ := r.BucketsOf("t1")
		out["buckets"] = bs
		es, ps, _, _, _ := r.List("b1", "", "", "", 1000)
		out["objects"], out["prefixes"] = es, ps
		ns, _ := r.Nodes()
		out["nodes"] = ns
		l, _ := r.Layout()
		out["layout"] = l
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRaftClusterAgreesAndSurvives(t *testing.T) {
	sec, err := transport.New([]byte("test-cluster-secret-xyz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	nodes := []*testNode{}
	for i := range 3 {
		nodes = append(nodes, &testNode{id: fmt.Sprintf("n%d", i), dir: filepath.Join(root, fmt.Sprint(i))})
	}
	for _, n := range nodes {
		startNode(t, sec, n)
	}
	defer func() {
		for _, n := range nodes {
			if n.s != nil {
				n.s.Close()
			}
		}
	}()
	if err := nodes[0].s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n0 to lead", func() bool { return nodes[0].s.IsLeader() })
	for _, n := range nodes[1:] {
		if err := nodes[0].s.AddServer(n.id, n.addr, true); err != nil {
			t.Fatal(err)
		}
		// Idempotent: adding again is a no-op.
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
	apply(t, nodes, NewCommand(&CreateTenant{Tenant: Tenant{ID: "t2", Created: now}}))
	if r := apply(t, nodes, NewCommand(&CreateBucket{Name: "b1", Tenant: "t1", Created: now})); r.Err != nil {
		t.Fatal(r.Err)
	}
	// Business outcomes come back as values.
	for _, c := range []struct {
		cmd  *Command
		kind objapi.Kind
	}{
		{NewCommand(&CreateBucket{Name: "b1", Tenant: "t1"}), objapi.KindBucketOwnedByYou},
		{NewCommand(&CreateBucket{Name: "b1", Tenant: "t2"}), objapi.KindBucketExists},
		{NewCommand(&PutObject{Bucket: "b1", Key: "k", Tenant: "t2"}), objapi.KindAccessDenied},
		{NewCommand(&PutObject{Bucket: "nope", Key: "k", Tenant: "t1"}), objapi.KindNoSuchBucket},
	} {
		if r := apply(t, nodes, c.cmd); r.Err == nil || r.Err.Kind != c.kind {
			t.Fatalf("op %d: %v, want %v", c.cmd.Op(), r.Err, c.kind)
		}
	}
	put := func(key, etag string) *Result {
		return apply(t, nodes, NewCommand(&PutObject{Bucket: "b1", Key: key, Tenant: "t1",
			Object: Object{VersionID: "v-" + etag, ETag: etag, Size: 1, Parts: []Part{{DataID: []byte(etag)}}}}))
	}
	for i := range 50 {
		put(fmt.Sprintf("dir%d/file%03d", i%3, i), fmt.Sprint(i))
	}
	// Overwrite returns the old version's parts as garbage.
	if r := put("dir0/file000", "new"); r.Replaced == nil || len(r.Garbage) != 1 || string(r.Garbage[0].DataID) != "0" {
		t.Fatalf("overwrite: %+v", r)
	}
	// A write acknowledged by the leader is seen on every follower at once.
	put("fresh", "f")
	for _, n := range nodes {
		readOn(t, nodes, n, func(r *Reader) error {
			if _, ok, _ := r.Object("b1", "fresh"); !ok {
				t.Fatalf("%s does not see an acknowledged write", n.id)
			}
			return nil
		})
	}
	// Listing with a delimiter rolls keys up, pages continue after prefixes.
	readOn(t, nodes, nodes[2], func(r *Reader) error {
		es, ps, trunc, next, err := r.List("b1", "", "/", "", 2)
		if err != nil || len(es) != 0 || !reflect.DeepEqual(ps, []string{"dir0/", "dir1/"}) || !trunc || next != "dir1/" {
			t.Fatalf("page 1: %v %v %v %q %v", es, ps, trunc, next, err)
		}
		es, ps, trunc, _, _ = r.List("b1", "", "/", next, 2)
		if len(es) != 1 || es[0].Key != "fresh" || !reflect.DeepEqual(ps, []string{"dir2/"}) || trunc {
			t.Fatalf("page 2: %v %v %v", es, ps, trunc)
		}
		es, _, _, _, _ = r.List("b1", "dir1/", "", "dir1/file004", 100)
		if len(es) != 15 || es[0].Key != "dir1/file007" {
			t.Fatalf("prefix after: %d entries, first %v", len(es), es)
		}
		return nil
	})

	// Every FSM holds the same state.
	waitFor(t, "followers to catch up", func() bool {
		a := nodes[0].s.FSM.Applied()
		return nodes[1].s.FSM.Applied() == a && nodes[2].s.FSM.Applied() == a
	})
	want := dump(t, nodes[0].s)
	for _, n := range nodes[1:] {
		if got := dump(t, n.s); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s differs from n0", n.id)
		}
	}
	if l, _ := want["layout"].(*Layout); l == nil || len(l.Families) != 4 || l.Families[0].K != 4 {
		t.Fatalf("layout after three nodes in three sites: %+v", want["layout"])
	}

	// Snapshot on every node, then restart them all: the FSM skips what it
	// already applied, and state is unchanged.
	for _, n := range nodes {
		if err := n.s.Raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	put("after-snapshot", "as")
	for _, n := range nodes {
		n.s.Close()
		n.s = nil
	}
	for _, n := range nodes {
		startNode(t, sec, n)
	}
	waitFor(t, "a leader after restart", func() bool { return leaderOf(nodes) != nil })
	readOn(t, nodes, nodes[1], func(r *Reader) error {
		for _, k := range []string{"after-snapshot", "fresh", "dir2/file002"} {
			if _, ok, _ := r.Object("b1", k); !ok {
				t.Fatalf("%s lost after restart", k)
			}
		}
		return nil
	})

	// Kill the leader: the others elect a new one and go on.
	old := leaderOf(nodes)
	old.s.Close()
	old.s = nil
	rest := []*testNode{}
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	put2 := apply(t, rest, NewCommand(&PutObject{Bucket: "b1", Key: "while-down", Tenant: "t1", Object: Object{ETag: "x"}}))
	if put2.Err != nil {
		t.Fatal(put2.Err)
	}
	for _, n := range rest {
		readOn(t, rest, n, func(r *Reader) error {
			if _, ok, _ := r.Object("b1", "while-down"); !ok {
				t.Fatal("write during a leader loss not visible")
			}
			return nil
		})
	}
	// A new node joins after logs were compacted into a snapshot: it gets
	// the state by snapshot restore.
	l := leaderOf(rest)
	if err := l.s.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	n3 := &testNode{id: "n3", dir: filepath.Join(root, "3")}
	startNode(t, sec, n3)
	defer func() { n3.s.Close() }()
	if err := l.s.AddServer(n3.id, n3.addr, false); err != nil {
		t.Fatal(err)
	}
	readOn(t, append(rest, n3), n3, func(r *Reader) error {
		if _, ok, _ := r.Object("b1", "while-down"); !ok {
			t.Fatal("new non-voter lacks state")
		}
		return nil
	})
	servers, _ := l.s.Servers()
	for _, sv := range servers {
		if sv.ID == "n3" && sv.Suffrage != raft.Nonvoter {
			t.Fatal("n3 should be a non-voter")
		}
	}
	if _, err := rest[0].s.ReadIndex(context.Background()); rest[0] != l && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower answered a read index: %v", err)
	}
}
