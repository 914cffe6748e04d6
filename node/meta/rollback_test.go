package meta

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/transport"
)

// dumpTx lists every key of every bbolt bucket, nested ones included, with
// its value: the whole state of an FSM database.
func dumpTx(tx *bolt.Tx) []string {
	var out []string
	var walk func(path string, b *bolt.Bucket)
	walk = func(path string, b *bolt.Bucket) {
		b.ForEach(func(k, v []byte) error {
			if v == nil {
				out = append(out, fmt.Sprintf("%s/%q/", path, k))
				walk(fmt.Sprintf("%s/%q", path, k), b.Bucket(k))
				return nil
			}
			out = append(out, fmt.Sprintf("%s/%q = %x", path, k, v))
			return nil
		})
	}
	tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		out = append(out, fmt.Sprintf("%q/", name))
		walk(fmt.Sprintf("%q", name), b)
		return nil
	})
	return out
}

func dumpFSM(t *testing.T, f *FSM) []string {
	t.Helper()
	var out []string
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.db.View(func(tx *bolt.Tx) error { out = dumpTx(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// damage writes into an FSM's database behind Raft's back.
func damage(t *testing.T, f *FSM, fn func(tx *bolt.Tx) error) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// breakRecord replaces a record with bytes that do not decode.
func breakRecord(t *testing.T, f *FSM, bucket []byte, key string) {
	t.Helper()
	damage(t, f, func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), []byte{0xff, 0x00}) })
}

// breakBucketSlot puts a value where the nested bucket of a bucket's
// objects belongs: creating that bucket writes its record, then fails.
func breakBucketSlot(t *testing.T, f *FSM, bucket string) {
	t.Helper()
	damage(t, f, func(tx *bolt.Tx) error { return tx.Bucket(bObjects).Put([]byte(bucket), []byte("kaputt")) })
}

func firstDifference(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i, x, y)
		}
	}
	return ""
}

var errRollback = errors.New("roll back")

// Commands read and check every record they depend on before their first
// write: a record that does not decode fails them with nothing written, so
// the rollback of the batch stays a safety net. Each case applies one
// command, inside one transaction, to a database with one broken record,
// and compares the whole database before and after.
func TestCommandsReadBeforeTheyWrite(t *testing.T) {
	id := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	obj := func(version string, kv uint32, data byte) Object {
		return Object{VersionID: version, KeyVersion: kv, WrappedKey: []byte("w-" + version), Parts: []Part{{DataID: id(data), Size: 1}}}
	}
	cases := []struct {
		name  string
		setup func(h *fsmHarness)
		cmd   *Command
	}{
		{"DeleteTenant: an access key", func(h *fsmHarness) {
			breakRecord(t, h.f, bAccessKeys, "kaputt")
		}, NewCommand(&DeleteTenant{ID: "t"})},
		{"DeleteObjects: an object after one to delete", func(h *fsmHarness) {
			h.apply(NewCommand(&PutObject{Bucket: "b", Key: "k1", Tenant: "t", Object: obj("v1", 1, 5)}))
			damage(t, h.f, func(tx *bolt.Tx) error {
				return tx.Bucket(bObjects).Bucket([]byte("b")).Put([]byte("k2"), []byte{0xff})
			})
		}, NewCommand(&DeleteObjects{Bucket: "b", Tenant: "t", Keys: []string{"k1", "k2"}})},
		{"PurgeBucket: an upload after the objects", func(h *fsmHarness) {
			h.apply(NewCommand(&CreateBucket{Name: "p", Tenant: "t"}))
			h.apply(NewCommand(&PutObject{Bucket: "p", Key: "a", Tenant: "t", Object: obj("pa", 1, 3)}))
			h.apply(NewCommand(&CreateUpload{ID: "u1", Tenant: "t", Bucket: "p", Key: "m", KeyVersion: 1}))
			h.apply(NewCommand(&DeleteTenant{ID: "t"}))
			breakRecord(t, h.f, bUploads, "u1")
		}, NewCommand(&PurgeBucket{Bucket: "p", Max: 100})},
		{"RewrapKeys: the second object", func(h *fsmHarness) {
			h.apply(NewCommand(&PutObject{Bucket: "b", Key: "y", Tenant: "t", Object: obj("vy", 1, 4)}))
			h.apply(NewCommand(&RotateTenantKey{Tenant: "t", Key: TenantKey{Version: 2}}))
			damage(t, h.f, func(tx *bolt.Tx) error { return tx.Bucket(bObjects).Bucket([]byte("b")).Put([]byte("y"), []byte{0xff}) })
		}, NewCommand(&RewrapKeys{Tenant: "t", Items: []Rewrap{
			{Bucket: "b", Key: "x", VersionID: "vx", From: 1, To: 2, Wrapped: []byte("x2")},
			{Bucket: "b", Key: "y", VersionID: "vy", From: 1, To: 2, Wrapped: []byte("y2")},
		}})},
		{"RewrapMaster: an access key not in the batch", func(h *fsmHarness) {
			breakRecord(t, h.f, bAccessKeys, "kaputt")
		}, NewCommand(&RewrapMaster{MasterKey: "mk-1", TenantKeys: []RewrappedTenant{{Tenant: "t", Version: 1, Wrapped: []byte("k1-new"), Old: []byte("k1")}}})},
		{"RegisterNode: another member", func(h *fsmHarness) {
			h.apply(NewCommand(&RegisterNode{ID: "n1", Site: "s1", Drives: []Drive{{ID: "n1/0"}, {ID: "n1/1"}}}))
			breakRecord(t, h.f, bNodes, "n0")
		}, NewCommand(&RegisterNode{ID: "n2", Site: "s2", Drives: []Drive{{ID: "n2/0"}, {ID: "n2/1"}}})},
		{"CompleteUpload: a part", func(h *fsmHarness) {
			h.apply(NewCommand(&CreateUpload{ID: "u2", Tenant: "t", Bucket: "b", Key: "m", KeyVersion: 1}))
			h.apply(NewCommand(&PutPart{UploadID: "u2", Tenant: "t", Part: Part{Number: 1, DataID: id(7)}}))
			damage(t, h.f, func(tx *bolt.Tx) error { return tx.Bucket(bParts).Put(partKey("u2", 2), []byte{0xff}) })
		}, NewCommand(&CompleteUpload{UploadID: "u2", Tenant: "t", Object: Object{KeyVersion: 1, Parts: []Part{{Number: 1, DataID: id(7)}}}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newFSMHarness(t)
			h.apply(NewCommand(&Init{ID: "c", KeyCheck: []byte("check"), MasterKey: "mk-1"}))
			h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1, Keys: []TenantKey{{Version: 1, Wrapped: []byte("k1")}}},
				FirstKey: &AccessKey{ID: "AK", Tenant: "t", WrappedSecret: []byte("s")}}))
			h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
			h.apply(NewCommand(&PutObject{Bucket: "b", Key: "x", Tenant: "t", Object: obj("vx", 1, 6)}))
			c.setup(h)
			var before, after []string
			var applyErr error
			err := h.f.db.Update(func(tx *bolt.Tx) error {
				before = dumpTx(tx)
				_, applyErr = applyCommand(tx, c.cmd)
				after = dumpTx(tx)
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			if applyErr == nil {
				t.Fatal("the command applied over a broken record")
			}
			if d := firstDifference(before, after); d != "" {
				t.Fatalf("the command wrote before it failed (%v): %s", applyErr, d)
			}
		})
	}
}

// startCluster starts n metadata nodes on loopback, the first
// bootstrapping, the others added as voters, and initializes the cluster.
func startCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	sec, err := transport.New([]byte("test-cluster-secret-xyz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var nodes []*testNode
	for i := range n {
		nd := &testNode{id: fmt.Sprintf("n%d", i), dir: filepath.Join(root, fmt.Sprint(i))}
		startNode(t, sec, nd)
		nodes = append(nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			if nd.s != nil {
				nd.s.Close()
			}
		}
	})
	if err := nodes[0].s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n0 to lead", func() bool { return nodes[0].s.IsLeader() })
	for _, nd := range nodes[1:] {
		if err := nodes[0].s.AddServer(nd.id, nd.addr, true); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, nodes, NewCommand(&Init{ID: "c1", Created: time.Now().UnixNano()}))
	for i, nd := range nodes {
		apply(t, nodes, NewCommand(&RegisterNode{ID: nd.id, Site: fmt.Sprintf("site-%d", i), RaftAddr: nd.addr,
			Drives: []Drive{{ID: nd.id + "/0", Index: 0}, {ID: nd.id + "/1", Index: 1}}}))
	}
	return nodes
}

// waitAllApplied waits until every node has applied what the leader has.
func waitAllApplied(t *testing.T, nodes []*testNode) {
	t.Helper()
	var want uint64
	waitFor(t, "a leader", func() bool {
		l := leaderOf(nodes)
		if l != nil {
			want = l.s.FSM.Applied()
		}
		return l != nil
	})
	waitFor(t, "every node to apply everything", func() bool {
		for _, n := range nodes {
			if n.s.FSM.Applied() < want {
				return false
			}
		}
		return true
	})
}

// The same failure in the middle of one command's writes, on every node of
// a real cluster: each node rolls the batch back and applies it again
// without that command, so none of its writes stays anywhere, the batch's
// other commands are applied, and the three databases stay identical.
func TestHalfAppliedCommandRollsBackOnEveryNode(t *testing.T) {
	nodes := startCluster(t, 3)
	now := time.Now().UnixNano()
	apply(t, nodes, NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1", Created: now}}))
	apply(t, nodes, NewCommand(&CreateBucket{Name: "b1", Tenant: "t1", Created: now}))
	waitAllApplied(t, nodes)
	for _, n := range nodes {
		breakBucketSlot(t, n.s.FSM, "b9")
	}

	cmds := []*Command{
		NewCommand(&CreateTenant{Tenant: Tenant{ID: "t2", Created: now}}),
		NewCommand(&CreateBucket{Name: "b9", Tenant: "t1", Created: now}), // writes its record, then fails
		NewCommand(&PutBucketCORS{Bucket: "b9", Tenant: "t1", Rules: []CORSRule{{AllowedOrigins: []string{"*"}}}}),
		NewCommand(&PutObject{Bucket: "b1", Key: "k", Tenant: "t1", Object: Object{VersionID: "v1", Parts: []Part{{DataID: bytes.Repeat([]byte{1}, 16)}}}}),
	}
	ok := objapi.Kind(1<<16 - 1) // no error
	want := []objapi.Kind{ok, objapi.KindInternal, objapi.KindNoSuchBucket, ok}
	var results []*Result
	waitFor(t, "the batch to be applied", func() bool {
		l := leaderOf(nodes)
		if l == nil {
			return false
		}
		// Handed to Raft together, the entries are appended, committed and
		// applied as one batch.
		var futures []interface {
			Error() error
			Response() any
		}
		for i, c := range cmds {
			c.ID[0], c.ID[1], c.Proposed = 0xBA, byte(i), now
			data, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, l.s.Raft.Apply(data, 10*time.Second))
		}
		results = results[:0]
		for _, f := range futures {
			if f.Error() != nil {
				return false // leadership moved: the ids make the repeat harmless
			}
			results = append(results, f.Response().(*Result))
		}
		return true
	})
	for i, r := range results {
		if (want[i] == ok) != (r.Err == nil) || r.Err != nil && r.Err.Kind != want[i] {
			t.Fatalf("command %d: %+v, want kind %v", i, r.Err, want[i])
		}
	}

	waitAllApplied(t, nodes)
	for _, n := range nodes {
		n.s.FSM.View(func(r *Reader) error {
			if _, ok, _ := r.Bucket("b9"); ok {
				t.Errorf("%s: the failed command's record stayed", n.id)
			}
			if _, ok, _ := r.Tenant("t2"); !ok {
				t.Errorf("%s: the batch's first command is missing", n.id)
			}
			if _, ok, _ := r.Object("b1", "k"); !ok {
				t.Errorf("%s: the batch's last command is missing", n.id)
			}
			if res, ok, _ := r.Outcome(cmds[1].ID); !ok || !objapi.IsKind(res.Err, objapi.KindInternal) {
				t.Errorf("%s: the failed command's outcome: %+v %v", n.id, res, ok)
			}
			return nil
		})
	}
	first := dumpFSM(t, nodes[0].s.FSM)
	if !slices.ContainsFunc(first, func(l string) bool { return strings.HasPrefix(l, `"objects"/"b9" = `) }) {
		t.Fatal("the damage is not in the dump")
	}
	for _, n := range nodes[1:] {
		if d := firstDifference(first, dumpFSM(t, n.s.FSM)); d != "" {
			t.Fatalf("%s's database differs from n0's: %s", n.id, d)
		}
	}

	// The command's repeat (a proposer that lost the answer) gets the same
	// outcome.
	if r := apply(t, nodes, cmds[1]); !objapi.IsKind(r.Err, objapi.KindInternal) || !r.Duplicate {
		t.Fatalf("repeat: %+v", r)
	}
}
