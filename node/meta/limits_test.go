package meta

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

func usageOf(t *testing.T, h *fsmHarness, id string) UploadUsage {
	t.Helper()
	var u UploadUsage
	h.f.View(func(r *Reader) error {
		var err error
		u, err = r.UploadUsage(id)
		return err
	})
	return u
}

func setupUpload(t *testing.T, h *fsmHarness, id string, l *Limits) {
	t.Helper()
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	if r := h.apply(NewCommand(&CreateUpload{ID: id, Tenant: "t", Bucket: "b", Key: "k", KeyVersion: 1, Limits: l})); r.Err != nil {
		t.Fatal(r.Err)
	}
}

// An upload created with limits takes part numbers up to the bound and
// inline bytes up to its budget, counted as parts arrive and are replaced;
// a part beyond either is refused with nothing stored.
func TestUploadLimits(t *testing.T) {
	h := newFSMHarness(t)
	setupUpload(t, h, "u", &Limits{MaxPartNumber: 10000, MaxUploadInline: 1000})
	putPart := func(p Part) *Result {
		t.Helper()
		return h.apply(NewCommand(&PutPart{UploadID: "u", Tenant: "t", Part: p}))
	}
	for _, n := range []int{0, 10001, -1} {
		if r := putPart(inlinePart(n, 1, 9)); !objapi.IsKind(r.Err, objapi.KindInvalidArgument) || !strings.Contains(r.Err.Msg, "between 1 and 10000") {
			t.Errorf("part number %d: %+v", n, r.Err)
		}
	}
	if r := putPart(Part{Number: 10000, DataID: bytes.Repeat([]byte{1}, 16), Size: 5 << 20}); r.Err != nil {
		t.Fatalf("part 10000, coded: %v", r.Err)
	}
	for i := 1; i <= 4; i++ {
		if r := putPart(inlinePart(i, 200, byte(10+i))); r.Err != nil {
			t.Fatalf("part %d: %v", i, r.Err)
		}
	}
	if u := usageOf(t, h, "u"); u != (UploadUsage{Parts: 5, InlineBytes: 800}) {
		t.Fatalf("usage %+v", u)
	}
	// 800 + 201 > 1000: refused, nothing stored.
	r := putPart(inlinePart(5, 201, 20))
	if !objapi.IsKind(r.Err, objapi.KindEntityTooLarge) || !strings.Contains(r.Err.Msg, "1001 bytes in the metadata, beyond its limit of 1000") {
		t.Fatalf("over the budget: %+v", r.Err)
	}
	h.f.View(func(r *Reader) error {
		if _, ok, _ := r.Part("u", 5); ok {
			t.Error("the refused part was stored")
		}
		if r.Referenced(bytes.Repeat([]byte{20}, 16)) {
			t.Error("the refused part's stream is referenced")
		}
		return nil
	})
	if u := usageOf(t, h, "u"); u != (UploadUsage{Parts: 5, InlineBytes: 800}) {
		t.Fatalf("usage after a refusal %+v", u)
	}
	// Exactly up to the budget is fine.
	if r := putPart(inlinePart(5, 200, 21)); r.Err != nil {
		t.Fatal(r.Err)
	}
	// Replacing a part counts the difference: smaller frees budget, the
	// same size again fits, larger does not.
	if r := putPart(inlinePart(1, 100, 22)); r.Err != nil || len(r.Garbage) != 1 {
		t.Fatalf("a smaller part 1: %+v", r)
	}
	if u := usageOf(t, h, "u"); u != (UploadUsage{Parts: 6, InlineBytes: 900}) {
		t.Fatalf("usage after replacing %+v", u)
	}
	if r := putPart(inlinePart(2, 200, 23)); r.Err != nil {
		t.Fatalf("part 2 again, same size: %v", r.Err)
	}
	if r := putPart(inlinePart(2, 301, 24)); !objapi.IsKind(r.Err, objapi.KindEntityTooLarge) {
		t.Fatalf("part 2 larger, over the budget: %+v", r.Err)
	}
	// A coded part (no inline bytes) replacing an inline one frees its bytes.
	if r := putPart(Part{Number: 3, Size: 5 << 20, DataID: bytes.Repeat([]byte{25}, 16)}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if u := usageOf(t, h, "u"); u != (UploadUsage{Parts: 6, InlineBytes: 700}) {
		t.Fatalf("usage %+v", u)
	}
	// Results never carry inline bytes, the abort's garbage included.
	r = h.apply(NewCommand(&AbortUpload{UploadID: "u", Tenant: "t"}))
	if r.Err != nil || len(r.Garbage) != 6 {
		t.Fatalf("abort: %+v", r)
	}
	for _, p := range r.Garbage {
		if p.Inline != nil || len(p.DataID) != 16 {
			t.Fatalf("garbage part %d: inline %d bytes, data id %x", p.Number, len(p.Inline), p.DataID)
		}
	}
	if u := usageOf(t, h, "u"); u != (UploadUsage{}) {
		t.Fatalf("usage after the abort %+v", u)
	}
}

// An upload created without limits (by a proposer of level 1, before
// every member knew them) stays unbounded; its totals are kept all the
// same, and dropped with it.
func TestUploadWithoutLimits(t *testing.T) {
	h := newFSMHarness(t)
	setupUpload(t, h, "u", nil)
	for i, n := range []int{1, 20000} {
		if r := h.apply(NewCommand(&PutPart{UploadID: "u", Tenant: "t", Part: inlinePart(n, 5000, byte(i+1))})); r.Err != nil {
			t.Fatalf("part %d: %v", n, r.Err)
		}
	}
	if u := usageOf(t, h, "u"); u != (UploadUsage{Parts: 2, InlineBytes: 10000}) {
		t.Fatalf("usage %+v", u)
	}
	r := h.apply(NewCommand(&CompleteUpload{UploadID: "u", Tenant: "t", Object: Object{VersionID: "v", KeyVersion: 1, Parts: []Part{inlinePart(1, 5000, 1)}}}))
	if r.Err != nil || len(r.Garbage) != 1 || r.Garbage[0].Inline != nil {
		t.Fatalf("complete: %+v", r)
	}
	if u := usageOf(t, h, "u"); u != (UploadUsage{}) {
		t.Fatalf("usage after completion %+v", u)
	}
}

// Sealed metadata beyond a command's bound is refused wherever it is
// stored: an upload, an object, an object's new metadata, and the object
// an upload with limits completes to.
func TestSealedMetaLimit(t *testing.T) {
	h := newFSMHarness(t)
	l := &Limits{MaxSealedMeta: 100}
	setupUpload(t, h, "u", l)
	big, fits := bytes.Repeat([]byte{1}, 101), bytes.Repeat([]byte{1}, 100)
	refused := func(what string, r *Result) {
		t.Helper()
		if !objapi.IsKind(r.Err, objapi.KindInvalidArgument) || !strings.Contains(r.Err.Msg, "101 bytes sealed, beyond the limit of 100") {
			t.Errorf("%s: %+v", what, r.Err)
		}
	}
	refused("CreateUpload", h.apply(NewCommand(&CreateUpload{ID: "u2", Tenant: "t", Bucket: "b", Key: "k", KeyVersion: 1, SealedMeta: big, Limits: l})))
	refused("PutObject", h.apply(NewCommand(&PutObject{Bucket: "b", Key: "o", Tenant: "t", Object: Object{VersionID: "v1", KeyVersion: 1, SealedMeta: big}, Limits: l})))
	if r := h.apply(NewCommand(&PutObject{Bucket: "b", Key: "o", Tenant: "t", Object: Object{VersionID: "v1", KeyVersion: 1, SealedMeta: fits}, Limits: l})); r.Err != nil {
		t.Fatal(r.Err)
	}
	refused("SetObjectMeta", h.apply(NewCommand(&SetObjectMeta{Bucket: "b", Key: "o", Tenant: "t", VersionID: "v1", SealedMeta: big, Limits: l})))
	h.apply(NewCommand(&PutPart{UploadID: "u", Tenant: "t", Part: inlinePart(1, 10, 1)}))
	refused("CompleteUpload", h.apply(NewCommand(&CompleteUpload{UploadID: "u", Tenant: "t",
		Object: Object{VersionID: "v2", KeyVersion: 1, SealedMeta: big, Parts: []Part{inlinePart(1, 10, 1)}}})))
	// Without limits (level 1), as before.
	if r := h.apply(NewCommand(&SetObjectMeta{Bucket: "b", Key: "o", Tenant: "t", VersionID: "v1", SealedMeta: big})); r.Err != nil {
		t.Fatal(r.Err)
	}
}

// A payload that carries limits needs command level 2, and travels in a
// format 3 entry; without them it stays level 1 in format 2, which every
// older binary reads. MembersLevel says when a proposer may set them.
func TestLimitsNeedLevel2(t *testing.T) {
	l := &Limits{MaxSealedMeta: 1}
	for _, tc := range []struct {
		p    Payload
		want Level
	}{
		{&CreateUpload{ID: "u"}, 1}, {&CreateUpload{ID: "u", Limits: l}, 2},
		{&PutObject{Bucket: "b"}, 1}, {&PutObject{Bucket: "b", Limits: l}, 2},
		{&SetObjectMeta{Bucket: "b"}, 1}, {&SetObjectMeta{Bucket: "b", Limits: l}, 2},
		{&PutPart{UploadID: "u"}, 1},
	} {
		c := NewCommand(tc.p)
		data, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if c.Level() != tc.want || (tc.want == 1) != (data[0] == format2) {
			t.Errorf("%T%+v: level %d, format %d", tc.p, tc.p, c.Level(), data[0])
		}
	}

	h := newFSMHarness(t)
	level := func() Level {
		var l Level
		h.f.View(func(r *Reader) error {
			var err error
			l, err = r.MembersLevel()
			return err
		})
		return l
	}
	if l := level(); l != 1 {
		t.Fatalf("no members: level %d", l)
	}
	h.apply(NewCommand(&RegisterNode{ID: "n1", CommandLevel: 2}))
	if l := level(); l != 2 {
		t.Fatalf("one member of level 2: %d", l)
	}
	h.apply(NewCommand(&RegisterNode{ID: "n2"})) // a binary before levels
	if l := level(); l != 1 {
		t.Fatalf("with a member of level 1: %d", l)
	}
	h.apply(NewCommand(&RegisterNode{ID: "n2", CommandLevel: 7})) // newer than this binary
	if l := level(); l != 2 {
		t.Fatalf("with a member newer than this binary: %d", l)
	}
}
