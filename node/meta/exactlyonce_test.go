package meta

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/transport"
)

// fsmHarness applies commands to an FSM directly, as Raft would.
type fsmHarness struct {
	t   testing.TB
	f   *FSM
	idx uint64
}

func newFSMHarness(t testing.TB) *fsmHarness {
	f, err := OpenFSM(filepath.Join(t.TempDir(), "fsm.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fsmHarness{t: t, f: f}
}

func (h *fsmHarness) entry(c *Command) *raft.Log {
	h.t.Helper()
	data, err := c.Encode()
	if err != nil {
		h.t.Fatal(err)
	}
	h.idx++
	return &raft.Log{Index: h.idx, Type: raft.LogCommand, Data: data}
}

func (h *fsmHarness) apply(c *Command) *Result {
	h.t.Helper()
	return h.f.Apply(h.entry(c)).(*Result)
}

func (h *fsmHarness) batch(cs ...*Command) []*Result {
	h.t.Helper()
	var logs []*raft.Log
	for _, c := range cs {
		logs = append(logs, h.entry(c))
	}
	var out []*Result
	for _, r := range h.f.ApplyBatch(logs) {
		out = append(out, r.(*Result))
	}
	return out
}

func (h *fsmHarness) current(bucket, key string) string {
	h.t.Helper()
	var v string
	h.f.View(func(r *Reader) error {
		o, ok, err := r.Object(bucket, key)
		if ok {
			v = o.VersionID
		}
		return err
	})
	return v
}

func withID(c *Command, b byte) *Command {
	c.ID = CommandID(bytes.Repeat([]byte{b}, 16))
	c.Proposed = time.Now().UnixNano()
	return c
}

func putVersion(version string, dataID byte, ifNoneMatch bool) *PutObject {
	return &PutObject{Bucket: "b1", Key: "k", Tenant: "t1", IfNoneMatch: ifNoneMatch,
		Object: Object{VersionID: version, Parts: []Part{{DataID: bytes.Repeat([]byte{dataID}, 16), Size: 1}}}}
}

// A command that reaches the log twice (a forward retried after its answer
// was lost) is applied once: the repeat gets the first outcome, even when
// other commands changed the key in between.
func TestRepeatedCommandIsAppliedOnce(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(withID(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1"}}), 1))
	h.apply(withID(NewCommand(&CreateBucket{Name: "b1", Tenant: "t1"}), 2))

	older := withID(NewCommand(putVersion("older", 0xA, false)), 3)
	if r := h.apply(older); r.Err != nil || r.Duplicate {
		t.Fatalf("first put: %+v", r)
	}
	if r := h.apply(withID(NewCommand(putVersion("newer", 0xB, false)), 4)); r.Err != nil || len(r.Garbage) != 1 {
		t.Fatalf("overwrite: %+v", r)
	}
	r := h.apply(older) // the same bytes again
	if r.Err != nil || !r.Duplicate || len(r.Garbage) != 0 {
		t.Fatalf("repeat: %+v, want the first (successful) outcome, no garbage", r)
	}
	if v := h.current("b1", "k"); v != "newer" {
		t.Fatalf("current version %q after the repeat, want the newer", v)
	}
	// The newer version's stream is still referenced; the older one is not.
	h.f.View(func(r *Reader) error {
		if !r.Referenced(bytes.Repeat([]byte{0xB}, 16)) || r.Referenced(bytes.Repeat([]byte{0xA}, 16)) {
			t.Error("the dataids index follows the repeat")
		}
		return nil
	})

	// A conditional create: its repeat is not refused by its own first
	// application, while another create is.
	create := withID(NewCommand(&PutObject{Bucket: "b1", Key: "neu", Tenant: "t1", IfNoneMatch: true,
		Object: Object{VersionID: "c1", Parts: []Part{{DataID: bytes.Repeat([]byte{0xC}, 16)}}}}), 5)
	if r := h.apply(create); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := h.apply(create); r.Err != nil || !r.Duplicate {
		t.Fatalf("repeated conditional create: %+v", r)
	}
	other := withID(NewCommand(&PutObject{Bucket: "b1", Key: "neu", Tenant: "t1", IfNoneMatch: true,
		Object: Object{VersionID: "c2"}}), 6)
	if r := h.apply(other); !objapi.IsKind(r.Err, objapi.KindPrecondition) {
		t.Fatalf("a second create: %+v", r)
	}
	// A refusal is remembered too: the repeat of a refused command is
	// refused the same way, though the key is gone by now.
	h.apply(withID(NewCommand(&DeleteObject{Bucket: "b1", Key: "neu", Tenant: "t1"}), 7))
	if r := h.apply(other); !objapi.IsKind(r.Err, objapi.KindPrecondition) || !r.Duplicate {
		t.Fatalf("repeat of a refused create: %+v", r)
	}
	if v := h.current("b1", "neu"); v != "" {
		t.Fatalf("the refused create's repeat created %q", v)
	}

	// The outcome can be asked for by id, and crosses the RPC intact.
	h.f.View(func(r *Reader) error {
		res, ok, err := r.Outcome(other.ID)
		if err != nil || !ok || !objapi.IsKind(res.Err, objapi.KindPrecondition) {
			t.Errorf("outcome by id: %+v %v %v", res, ok, err)
		}
		return nil
	})
	b, _ := EncodeResult(&Result{Duplicate: true})
	if back, err := DecodeResult(b); err != nil || !back.Duplicate {
		t.Fatalf("result over the wire: %+v %v", back, err)
	}
}

// Commands of format 1 (no id) still decode and apply.
func TestCommandFormat1StillApplies(t *testing.T) {
	h := newFSMHarness(t)
	payload, err := marshal(&CreateTenant{Tenant: Tenant{ID: "alt"}})
	if err != nil {
		t.Fatal(err)
	}
	h.idx++
	r := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: append([]byte{1, byte(OpCreateTenant)}, payload...)}).(*Result)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	h.f.View(func(r *Reader) error {
		if _, ok, _ := r.Tenant("alt"); !ok {
			t.Error("format 1 command not applied")
		}
		return nil
	})
	if _, err := DecodeCommand([]byte{9, byte(OpNoop)}); err == nil {
		t.Fatal("an unknown format decodes")
	}
}

// A command that fails part-way through its writes leaves nothing behind:
// the batch is applied again without it, and it is answered as an
// internal error (the same on every node, and to a repeat).
func TestHalfAppliedCommandRollsBack(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(withID(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1"}}), 1))
	h.apply(withID(NewCommand(&CreateBucket{Name: "b1", Tenant: "t1"}), 2))
	// Where the objects of a bucket b9 would go, a value instead of a
	// nested bucket: creating b9 writes its record, then fails.
	breakBucketSlot(t, h.f, "b9")

	create := withID(NewCommand(&CreateBucket{Name: "b9", Tenant: "t1"}), 3)
	res := h.batch(
		withID(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t2"}}), 4),
		create,
		// Had b9's record stayed, this would find it.
		withID(NewCommand(&PutBucketCORS{Bucket: "b9", Tenant: "t1", Rules: []CORSRule{{AllowedOrigins: []string{"*"}}}}), 5),
		withID(NewCommand(&CreateBucket{Name: "b3", Tenant: "t1"}), 6),
	)
	if res[0].Err != nil || !objapi.IsKind(res[1].Err, objapi.KindInternal) || !objapi.IsKind(res[2].Err, objapi.KindNoSuchBucket) || res[3].Err != nil {
		t.Fatalf("batch results: %v / %v / %v / %v", res[0].Err, res[1].Err, res[2].Err, res[3].Err)
	}
	h.f.View(func(r *Reader) error {
		if _, ok, _ := r.Bucket("b9"); ok {
			t.Error("the failed command's first write stayed")
		}
		if _, ok, _ := r.Tenant("t2"); !ok {
			t.Error("the batch's first command was lost")
		}
		if _, ok, _ := r.Bucket("b3"); !ok {
			t.Error("the batch's last command was lost")
		}
		return nil
	})
	if r := h.apply(create); !objapi.IsKind(r.Err, objapi.KindInternal) || !r.Duplicate {
		t.Fatalf("repeat of the failed command: %+v", r)
	}
	if got := h.f.Applied(); got != h.idx {
		t.Fatalf("applied %d, want %d", got, h.idx)
	}
}

// Remembered outcomes are forgotten once they are older than both bounds,
// so the table stays bounded.
func TestOutcomesAreForgotten(t *testing.T) {
	oldRet, oldMin := outcomeRetention, outcomeMinEntries
	outcomeRetention, outcomeMinEntries = int64(10*time.Minute), 20
	defer func() { outcomeRetention, outcomeMinEntries = oldRet, oldMin }()

	h := newFSMHarness(t)
	t0 := time.Now().UnixNano()
	for i := range 100 {
		c := NewCommand(&Noop{})
		c.ID[0], c.ID[1] = byte(i), 1
		c.Proposed = t0 + int64(i)*int64(time.Minute)
		h.apply(c)
	}
	count := 0
	h.f.View(func(r *Reader) error {
		count = r.tx.Bucket(bCmds).Stats().KeyN
		if r.tx.Bucket(bCmdLog).Stats().KeyN != count {
			t.Error("cmds and cmdlog disagree")
		}
		return nil
	})
	// The last 20 entries are kept by count, and those of the last 10
	// minutes by time: 20 in all.
	if count != 20 {
		t.Fatalf("%d outcomes remembered, want 20", count)
	}
}

// The read index covers what the leader committed even when the last
// committed entries never reach the FSM (a barrier): waiting for it must
// not hang, and it must cover every command committed before.
func TestReadIndexAfterBarrier(t *testing.T) {
	sec, err := transport.New([]byte("test-cluster-secret-xyz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{id: "a", dir: t.TempDir()}
	startNode(t, sec, n)
	defer n.s.Close()
	if err := n.s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	nodes := []*testNode{n}
	apply(t, nodes, withID(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1"}}), 1))
	cmdIndex := n.s.FSM.Applied()
	if err := n.s.Raft.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if n.s.Raft.CommitIndex() <= cmdIndex {
		t.Fatalf("the barrier did not move the commit index (%d)", n.s.Raft.CommitIndex())
	}
	idx, err := n.s.ReadIndex(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if idx < cmdIndex {
		t.Fatalf("read index %d below the last command %d", idx, cmdIndex)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.s.WaitApplied(ctx, idx); err != nil {
		t.Fatalf("waiting for read index %d (FSM at %d, commit %d): %v", idx, n.s.FSM.Applied(), n.s.Raft.CommitIndex(), err)
	}
}
