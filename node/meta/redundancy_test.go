package meta

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Golden fixtures of the redundancy commands and records (golden_test.go
// lists them).

func goldenLocation() StreamLocation {
	return StreamLocation{DataID: goldenBytes(0x3C, 16), SetID: 12, K: 4, M: 2, BlockSize: 128 << 10, Format: 1,
		Drives: []string{"n1/0", "n2/0", "n3/0", "n4/0", "n2/1", "n3/1"}, Lost: []int{5}}
}

func goldenMoveStream() *MoveStream {
	return &MoveStream{Bucket: "akten", Key: "2026/haushalt.pdf", VersionID: "0193f5e2-5e00-7000-8000-000000000001", Number: 2,
		From: goldenBytes(0x12, 16), To: goldenLocation()}
}

func goldenMoveUploadPart() *MoveStream {
	return &MoveStream{Upload: goldenUpload().ID, Number: 3, From: goldenBytes(0x13, 16), To: goldenLocation()}
}

func goldenNodeDrainingVoter() *Node {
	n := goldenNode()
	n.CommandLevel, n.Version = 2, "v1.1.0"
	n.Draining, n.Voter = true, true
	n.Drives[1].Draining = true
	return &n
}

func goldenMovedPart() *Part {
	p := goldenPart(3)
	p.MovedFrom = goldenBytes(0x13, 16)
	return &p
}

// setIndex reads the set index as the commands keep it.
func setIndex(t *testing.T, h *fsmHarness) (streams []string, stats map[uint32]SetStats) {
	t.Helper()
	h.f.View(func(r *Reader) error {
		r.tx.Bucket(bSetStreams).ForEach(func(k, _ []byte) error { streams = append(streams, fmt.Sprintf("%x", k)); return nil })
		var err error
		if stats, err = r.SetStats(); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	return streams, stats
}

// recomputedSetIndex is the set index a scan of the dataids index and
// the part records finds: what migrate3to4 computes.
func recomputedSetIndex(t *testing.T, h *fsmHarness) (streams []string, stats map[uint32]SetStats) {
	t.Helper()
	stats = map[uint32]SetStats{}
	h.f.View(func(r *Reader) error {
		return r.tx.Bucket(bDataIDs).ForEach(func(k, v []byte) error {
			p, ok, err := r.resolve(k, v)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || !coded(p) {
				return nil
			}
			streams = append(streams, fmt.Sprintf("%x", setStreamKey(p.SetID, p.DataID)))
			s := stats[p.SetID]
			s.Streams++
			s.Physical += PhysicalSize(p)
			stats[p.SetID] = s
			return nil
		})
	})
	slices.Sort(streams)
	return streams, stats
}

func checkSetIndex(t *testing.T, h *fsmHarness, what string) {
	t.Helper()
	gs, gst := setIndex(t, h)
	ws, wst := recomputedSetIndex(t, h)
	if fmt.Sprint(gs) != fmt.Sprint(ws) || fmt.Sprint(gst) != fmt.Sprint(wst) {
		t.Fatalf("%s: the set index\n%v %v\ndiffers from a scan's\n%v %v", what, gs, gst, ws, wst)
	}
}

// moveSomeStream re-codes a random coded stream onto another set now and
// then (TestUsageRowsStayExact calls it after every step, with a random
// source of its own so the run's other choices stay as they were), and
// sometimes proposes a move against a stream that is no longer there. The
// usage rows (check) and the set index must stay exact.
func moveSomeStream(t *testing.T, h *fsmHarness, rng *rand.Rand, check func(what string)) {
	t.Helper()
	if rng.IntN(3) != 0 {
		return
	}
	var held []HeldStream
	h.f.View(func(r *Reader) error {
		return r.tx.Bucket(bDataIDs).ForEach(func(k, _ []byte) error {
			s, ok, err := r.Stream(k)
			if err != nil {
				t.Fatal(err)
			}
			if ok && coded(&s.Part) {
				held = append(held, *s)
			}
			return nil
		})
	})
	if len(held) == 0 {
		return
	}
	s := held[rng.IntN(len(held))]
	geo := [][2]int{{4, 2}, {2, 1}, {2, 2}}[rng.IntN(3)]
	to := StreamLocation{DataID: make([]byte, 16), SetID: uint32(10 + rng.IntN(3)), K: geo[0], M: geo[1], BlockSize: 64 << 10, Format: 1}
	for i := range to.DataID {
		to.DataID[i] = byte(rng.IntN(256))
	}
	for i := range geo[0] + geo[1] {
		to.Drives = append(to.Drives, fmt.Sprintf("n%d/0", i))
	}
	c := &MoveStream{Bucket: s.Ref.Bucket, Key: s.Ref.Key, VersionID: s.VersionID, Seq: s.Ref.Seq, Upload: s.Ref.Upload, Number: s.Part.Number, From: s.Part.DataID, To: to}
	stale := rng.IntN(5) == 0
	if stale {
		c.From = bytes.Repeat([]byte{0xEE}, 16)
	}
	r := h.apply(NewCommand(c))
	switch {
	case stale && (r.Err == nil || r.Err.Kind != objapi.KindConflict):
		t.Fatalf("a move of a stream that is not there: %v", r.Err)
	case !stale && r.Err != nil:
		t.Fatalf("move of %s: %v", s.Where(), r.Err)
	case !stale && (len(r.Garbage) != 1 || !bytes.Equal(r.Garbage[0].DataID, s.Part.DataID)):
		t.Fatalf("move of %s: garbage %v, want the old stream", s.Where(), r.Garbage)
	}
	what := "move " + s.Where()
	check(what)
	checkSetIndex(t, h, what)
	if !stale {
		h.f.View(func(rd *Reader) error {
			if rd.Referenced(s.Part.DataID) || !rd.Referenced(to.DataID) {
				t.Fatalf("%s: the dataids index does not follow the move", what)
			}
			return nil
		})
	}
}

// A moved object part keeps its size, ETag, cipher header and checksums;
// its location and physical bytes change; the old stream is garbage and
// leaves every index; a move against a replaced version is refused.
func TestMoveStream(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	old := codedPart(0, 5<<20, 1)
	old.Cipher, old.ETag, old.Lost = bytes.Repeat([]byte{0xC1}, 16), "etag", []int{3}
	old.Checksums = []Checksum{{Alg: "CRC32C", Value: "x"}}
	if r := h.apply(NewCommand(&PutObject{Bucket: "b", Key: "k", Tenant: "t", Object: Object{VersionID: "v1", KeyVersion: 1, Size: old.Size, Parts: []Part{old}}})); r.Err != nil {
		t.Fatal(r.Err)
	}
	before, _ := setIndex(t, h)
	if len(before) != 1 {
		t.Fatalf("set index %v", before)
	}
	to := StreamLocation{DataID: bytes.Repeat([]byte{2}, 16), SetID: 5, K: 4, M: 2, BlockSize: 64 << 10, Format: 1,
		Drives: []string{"a/0", "b/0", "c/0", "a/1", "b/1", "c/1"}}
	if r := h.apply(NewCommand(&MoveStream{Bucket: "b", Key: "k", VersionID: "v0", Number: 0, From: old.DataID, To: to})); r.Err == nil || r.Err.Kind != objapi.KindConflict {
		t.Fatalf("a move against another version: %v", r.Err)
	}
	r := h.apply(NewCommand(&MoveStream{Bucket: "b", Key: "k", VersionID: "v1", Number: 0, From: old.DataID, To: to}))
	if r.Err != nil || len(r.Garbage) != 1 || !bytes.Equal(r.Garbage[0].DataID, old.DataID) {
		t.Fatalf("move: %v, garbage %v", r.Err, r.Garbage)
	}
	h.f.View(func(rd *Reader) error {
		o, _, _ := rd.Object("b", "k")
		p := o.Parts[0]
		if !bytes.Equal(p.DataID, to.DataID) || p.SetID != 5 || p.K != 4 || p.M != 2 || len(p.Drives) != 6 || p.Lost != nil {
			t.Errorf("moved part %+v", p)
		}
		if p.Size != old.Size || p.ETag != old.ETag || !bytes.Equal(p.Cipher, old.Cipher) || len(p.Checksums) != 1 || p.MovedFrom != nil {
			t.Errorf("a move changed what the stream is: %+v", p)
		}
		if rd.DegradedCount() != 0 {
			t.Error("the old stream's lost shards stay in the degraded index")
		}
		u, _ := rd.Usage("t", "b")
		if u.Physical != PhysicalSize(&p) {
			t.Errorf("physical %d, want the moved stream's %d", u.Physical, PhysicalSize(&p))
		}
		if got := rd.SetStreams(5, nil, 10); len(got) != 1 || !bytes.Equal(got[0], to.DataID) {
			t.Errorf("set 5 streams %x", got)
		}
		if got := rd.SetStreams(1, nil, 10); len(got) != 0 {
			t.Errorf("set 1 streams %x", got)
		}
		return nil
	})
	checkSetIndex(t, h, "after the move")
	// The same move again (a proposer's retry as a new command) finds the
	// stream gone from its old place.
	if r := h.apply(NewCommand(&MoveStream{Bucket: "b", Key: "k", VersionID: "v1", Number: 0, From: old.DataID, To: to})); r.Err == nil || r.Err.Kind != objapi.KindConflict {
		t.Fatalf("a repeated move: %v", r.Err)
	}
	inline := inlinePart(0, 10, 9)
	h.apply(NewCommand(&PutObject{Bucket: "b", Key: "small", Tenant: "t", Object: Object{VersionID: "s", KeyVersion: 1, Size: 10, Parts: []Part{inline}}}))
	to.DataID = bytes.Repeat([]byte{3}, 16)
	if r := h.apply(NewCommand(&MoveStream{Bucket: "b", Key: "small", VersionID: "s", From: inline.DataID, To: to})); r.Err == nil || r.Err.Kind != objapi.KindInvalidArgument {
		t.Fatalf("a move of an inline stream: %v", r.Err)
	}
}

// An upload's part moved after the proposer of its completion read it:
// the completion still takes it, where it is now, and the indexes follow.
func TestCompletionTakesAMovedPart(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	h.apply(NewCommand(&CreateUpload{ID: "u", Tenant: "t", Bucket: "b", Key: "k", KeyVersion: 1}))
	p1, p2 := codedPart(1, 5<<20, 1), codedPart(2, 100, 2)
	for _, p := range []Part{p1, p2} {
		if r := h.apply(NewCommand(&PutPart{UploadID: "u", Tenant: "t", Part: p})); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	to := StreamLocation{DataID: bytes.Repeat([]byte{7}, 16), SetID: 4, K: 4, M: 2, BlockSize: 64 << 10, Format: 1,
		Drives: []string{"a/0", "b/0", "c/0", "a/1", "b/1", "c/1"}}
	if r := h.apply(NewCommand(&MoveStream{Upload: "u", Number: 1, From: p1.DataID, To: to})); r.Err != nil {
		t.Fatal(r.Err)
	}
	checkSetIndex(t, h, "after moving the part")
	// The completion was proposed with the parts as they were.
	r := h.apply(NewCommand(&CompleteUpload{UploadID: "u", Tenant: "t", Object: Object{VersionID: "v", KeyVersion: 1, Multipart: true,
		Size: p1.Size + p2.Size, Parts: []Part{p1, p2}}}))
	if r.Err != nil {
		t.Fatalf("completion with a part moved meanwhile: %v", r.Err)
	}
	h.f.View(func(rd *Reader) error {
		o, _, _ := rd.Object("b", "k")
		if !bytes.Equal(o.Parts[0].DataID, to.DataID) || o.Parts[0].SetID != 4 || o.Parts[0].MovedFrom != nil {
			t.Errorf("the object's part 1 is %+v, want the moved stream", o.Parts[0])
		}
		if rd.Referenced(p1.DataID) || !rd.Referenced(to.DataID) || !rd.Referenced(p2.DataID) {
			t.Error("the dataids index does not follow the moved part")
		}
		return nil
	})
	checkSetIndex(t, h, "after the completion")
	if got, want := usageRows(t, h), recomputed(t, h); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("usage %v, a scan finds %v", got, want)
	}
}

// Draining a drive or a node takes it out of the layout (new sets avoid
// it) and puts the sets that use it below full protection; a registration
// of the node keeps the drain; undraining brings it back; a drain that
// would leave nothing to place data on is refused.
func TestDrainAndSetClasses(t *testing.T) {
	h := newFSMHarness(t)
	for i, site := range []string{"a", "b", "c"} {
		n := &RegisterNode{ID: fmt.Sprintf("n%d", i+1), Site: site, RaftAddr: "r", RPCAddr: "p"}
		for d := range 2 {
			n.Drives = append(n.Drives, Drive{ID: fmt.Sprintf("n%d/%d", i+1, d), Index: d})
		}
		h.apply(NewCommand(n))
	}
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	var lay *Layout
	var full *Set
	h.f.View(func(r *Reader) error {
		lay, _ = r.Layout()
		full, _, _ = r.Set(lay.Families[0].Sets[0])
		return nil
	})
	if lay.Families[0].K != 4 {
		t.Fatalf("layout %+v", lay)
	}
	degraded := lay.Families[1].Sets[0]
	put := func(key string, id byte, set *Set) {
		p := codedPart(0, 1000, id)
		p.SetID, p.K, p.M, p.Drives = set.ID, set.K, set.M, set.Drives
		if r := h.apply(NewCommand(&PutObject{Bucket: "b", Key: key, Tenant: "t", Object: Object{VersionID: key, KeyVersion: 1, Size: 1000, Parts: []Part{p}}})); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var dset *Set
	h.f.View(func(r *Reader) error { dset, _, _ = r.Set(degraded); return nil })
	put("full", 1, full)
	put("degraded", 2, dset)
	protection := func() *Protection {
		var p *Protection
		h.f.View(func(r *Reader) error {
			var err error
			if p, err = r.Protection(); err != nil {
				t.Fatal(err)
			}
			return nil
		})
		return p
	}
	if p := protection(); p.Below != 1 || p.InBelowSets != 1 || p.Outside != 0 {
		t.Fatalf("one stream in a degraded family's set: %+v", p)
	}
	if r := h.apply(NewCommand(&SetDraining{Node: "n1", Drive: "n1/1", Draining: true})); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.f.View(func(r *Reader) error {
		l, _ := r.Layout()
		if l.Epoch == lay.Epoch {
			t.Error("a drain made no new topology epoch")
		}
		for _, id := range l.Families[0].Sets {
			s, _, _ := r.Set(id)
			if slices.Contains(s.Drives, "n1/1") {
				t.Errorf("set %d of the new layout uses the draining drive", id)
			}
		}
		return nil
	})
	// Site a keeps one drive: the full geometry is RS(2,2) now. The RS(4,2)
	// stream on n1/1 is below it; the one a degraded family put on sites b
	// and c has just what the new topology promises (a spread would move
	// it onto the new family).
	if p := protection(); p.Below != 1 || p.Outside != 1 || p.Draining["n1/1"] != 1 {
		t.Fatalf("after draining n1/1: %+v", p)
	}
	// The node registers again (a restart): the drain stays.
	h.apply(NewCommand(&RegisterNode{ID: "n1", Site: "a", RaftAddr: "r2", RPCAddr: "p", Drives: []Drive{{ID: "n1/0"}, {ID: "n1/1", Index: 1}}}))
	if p := protection(); p.Draining["n1/1"] != 1 {
		t.Fatalf("a registration ended the drain: %+v", p)
	}
	if r := h.apply(NewCommand(&SetDraining{Node: "n1", Drive: "n1/1"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if p := protection(); p.Below != 1 || len(p.Draining) != 0 {
		t.Fatalf("after undraining: %+v", p)
	}
	// Nodes: draining every one leaves nothing.
	for _, n := range []string{"n1", "n2"} {
		if r := h.apply(NewCommand(&SetDraining{Node: n, Draining: true})); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if r := h.apply(NewCommand(&SetDraining{Node: "n3", Draining: true})); r.Err == nil || !strings.Contains(r.Err.Msg, "no drives") {
		t.Fatalf("draining the last node: %v", r.Err)
	}
	if r := h.apply(NewCommand(&SetDraining{Node: "n9", Draining: true})); r.Err == nil {
		t.Fatal("drained a member that does not exist")
	}
	if p := protection(); p.Draining["n1"] != 1 || p.Draining["n2"] != 2 {
		t.Fatalf("draining n1 and n2: %+v", p)
	}
	// Removal: refused while streams are there, allowed with force; a
	// removed node cannot register again.
	if r := h.apply(NewCommand(&RemoveNode{Node: "n1"})); r.Err == nil || r.Err.Kind != objapi.KindConflict || !strings.Contains(r.Err.Msg, "drain it first") {
		t.Fatalf("removing a node that holds shards: %v", r.Err)
	}
	if r := h.apply(NewCommand(&RemoveNode{Node: "n1", Force: true, Removed: 1})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := h.apply(NewCommand(&RegisterNode{ID: "n1", Site: "a", RaftAddr: "r", RPCAddr: "p", Drives: []Drive{{ID: "n1/0"}}})); r.Err == nil || r.Err.Kind != objapi.KindConflict {
		t.Fatalf("a removed node registered again: %v", r.Err)
	}
	h.f.View(func(r *Reader) error {
		if !r.Removed("n1") {
			t.Error("n1 is not remembered as removed")
		}
		if _, ok, _ := r.Node("n1"); ok {
			t.Error("n1's record stays")
		}
		return nil
	})
	if r := h.apply(NewCommand(&PromoteNode{Node: "n3"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.apply(NewCommand(&RegisterNode{ID: "n3", Site: "c", RaftAddr: "r", RPCAddr: "p", Drives: []Drive{{ID: "n3/0"}, {ID: "n3/1", Index: 1}}}))
	h.f.View(func(r *Reader) error {
		if n, _, _ := r.Node("n3"); !n.Voter {
			t.Error("a registration took the promotion back")
		}
		return nil
	})
	if r := h.apply(NewCommand(&Spread{})); r.Err != nil || !protection().Spreading {
		t.Fatalf("spread: %v", r.Err)
	}
	if r := h.apply(NewCommand(&Spread{Stop: true})); r.Err != nil || protection().Spreading {
		t.Fatalf("spread stopped: %v", r.Err)
	}
}
