package meta

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// usageRows reads every usage row, by key.
func usageRows(t *testing.T, h *fsmHarness) map[string]Usage {
	t.Helper()
	out := map[string]Usage{}
	h.f.View(func(r *Reader) error {
		return r.tx.Bucket(bUsage).ForEach(func(k, v []byte) error {
			var u Usage
			if err := unmarshal(v, &u); err != nil {
				t.Fatalf("usage %q: %v", k, err)
			}
			out[string(k)] = u
			return nil
		})
	})
	return out
}

// recomputed is what computeUsage finds from the records alone.
func recomputed(t *testing.T, h *fsmHarness) map[string]Usage {
	t.Helper()
	out := map[string]Usage{}
	h.f.View(func(r *Reader) error {
		rows, err := computeUsage(r.tx)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			out[row.key] = row.usage
		}
		return nil
	})
	return out
}

// codedPart is a part stored in shards, RS(2,2) over 64 KiB blocks.
func codedPart(n int, size int64, id byte) Part {
	return Part{Number: n, Size: size, DataID: bytes.Repeat([]byte{id}, 16), K: 2, M: 2, Format: 1, BlockSize: 64 << 10, SetID: 1}
}

// The usage rows the commands keep equal, after every command of a long
// random run, what a full scan of the records computes: puts, overwrites,
// deletes, uploads with parts replaced, completed and aborted, buckets
// made and dropped (with their uploads, too), and a tenant deleted with
// all it held.
func TestUsageRowsStayExact(t *testing.T) {
	h := newFSMHarness(t)
	rng := rand.New(rand.NewPCG(11, 12))
	tenants := []string{"t1", "t2"}
	for _, tn := range tenants {
		h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: tn, KeyVersion: 1}}))
	}
	buckets := map[string]string{} // bucket → tenant
	uploads := map[string]string{} // upload id → bucket
	var nextID byte
	id := func() byte { nextID++; return nextID }
	part := func(n int) Part {
		if rng.IntN(2) == 0 {
			return inlinePart(n, 1+rng.IntN(300), id())
		}
		return codedPart(n, int64(1+rng.IntN(1<<20)), id())
	}
	keys := []string{"a", "b", "c/d", "e"}
	abortedWith := 0 // uploads aborted by deleting their bucket
	check := func(step int, what string) {
		t.Helper()
		got, want := usageRows(t, h), recomputed(t, h)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("step %d (%s): the rows\n%v\ndiffer from a scan's\n%v", step, what, got, want)
		}
	}
	// pick chooses an entry by the seeded generator, not by map order:
	// the run is the same every time, and so is what it covers.
	pick := func(m map[string]string) (string, string, bool) {
		if len(m) == 0 {
			return "", "", false
		}
		k := slices.Sorted(maps.Keys(m))[rng.IntN(len(m))]
		return k, m[k], true
	}
	moves := rand.New(rand.NewPCG(13, 14)) // re-codes (redundancy_test.go), apart from the run's choices
	for step := range 600 {
		var what string
		switch op := rng.IntN(10); {
		case op == 0 || len(buckets) == 0:
			name := fmt.Sprintf("b%d", rng.IntN(4))
			tn := tenants[rng.IntN(len(tenants))]
			what = "create bucket " + name
			if r := h.apply(NewCommand(&CreateBucket{Name: name, Tenant: tn})); r.Err == nil {
				buckets[name] = tn
			}
		case op <= 3:
			b, tn, _ := pick(buckets)
			o := Object{KeyVersion: 1, VersionID: fmt.Sprint(step), Parts: []Part{part(0)}}
			o.Size = o.Parts[0].Size
			what = "put " + b
			h.apply(NewCommand(&PutObject{Bucket: b, Key: keys[rng.IntN(len(keys))], Tenant: tn, Object: o}))
		case op == 4:
			b, tn, _ := pick(buckets)
			what = "delete " + b
			h.apply(NewCommand(&DeleteObject{Bucket: b, Key: keys[rng.IntN(len(keys))], Tenant: tn}))
		case op == 5:
			b, tn, _ := pick(buckets)
			what = "delete objects " + b
			h.apply(NewCommand(&DeleteObjects{Bucket: b, Tenant: tn, Keys: keys[:1+rng.IntN(len(keys))]}))
		case op == 6:
			b, tn, _ := pick(buckets)
			up := fmt.Sprintf("u%d", step)
			what = "create upload " + up
			if r := h.apply(NewCommand(&CreateUpload{ID: up, Tenant: tn, Bucket: b, Key: keys[rng.IntN(len(keys))], KeyVersion: 1})); r.Err == nil {
				uploads[up] = b
			}
		case op == 7:
			up, b, ok := pick(uploads)
			if !ok {
				continue
			}
			what = "put part " + up
			h.apply(NewCommand(&PutPart{UploadID: up, Tenant: buckets[b], Part: part(1 + rng.IntN(3))}))
		case op == 8:
			up, b, ok := pick(uploads)
			if !ok {
				continue
			}
			var parts map[int]Part
			h.f.View(func(r *Reader) error {
				var err error
				parts, err = uploadParts(r.tx, up)
				return err
			})
			o := Object{KeyVersion: 1, VersionID: up, Multipart: true}
			for n := 1; n <= 3; n++ { // part 2 left out when there is a 3: unused
				if p, ok := parts[n]; ok && !(n == 2 && len(parts) == 3) {
					o.Parts = append(o.Parts, p)
					o.Size += p.Size
				}
			}
			delete(uploads, up)
			if rng.IntN(2) == 0 || len(o.Parts) == 0 {
				what = "abort " + up
				h.apply(NewCommand(&AbortUpload{UploadID: up, Tenant: buckets[b]}))
			} else {
				what = "complete " + up
				if r := h.apply(NewCommand(&CompleteUpload{UploadID: up, Tenant: buckets[b], Object: o})); r.Err != nil {
					t.Fatalf("complete: %v", r.Err)
				}
			}
		case op == 9:
			b, tn, _ := pick(buckets)
			// Half of the deletions abort the bucket's uploads (level 2),
			// some of them within a bound of parts they may exceed.
			abort := rng.IntN(2) == 0
			var bound int64
			if abort && rng.IntN(2) == 0 {
				bound = int64(1 + rng.IntN(3))
			}
			what = fmt.Sprintf("delete bucket %s (abort uploads %v, at most %d parts)", b, abort, bound)
			if r := h.apply(NewCommand(&DeleteBucket{Name: b, Tenant: tn, AbortUploads: abort, MaxAbortParts: bound})); r.Err == nil {
				delete(buckets, b)
				for up, ub := range uploads {
					if ub == b {
						delete(uploads, up)
						abortedWith++
					}
				}
			}
		}
		check(step, what)
		checkSetIndex(t, h, what)
		moveSomeStream(t, h, moves, func(what string) { check(step, what) })
	}
	if abortedWith == 0 {
		t.Fatal("no bucket was deleted with uploads in progress: the run does not cover it")
	}
	rows := usageRows(t, h)
	if len(rows) < 2 {
		t.Fatalf("rows %v", rows)
	}
	// A deleted tenant's usage ends with it; the other's stays.
	before := rows[string(usageKey("t2", ""))]
	h.apply(NewCommand(&DeleteTenant{ID: "t1"}))
	for k := range usageRows(t, h) {
		if strings.HasPrefix(k, "t1\x00") {
			t.Errorf("row %q of the deleted tenant stays", k)
		}
	}
	if got := usageRows(t, h)[string(usageKey("t2", ""))]; got != before {
		t.Errorf("t2's row changed with t1's deletion: %+v → %+v", before, got)
	}
	// Its purge counts nothing.
	for b, tn := range buckets {
		if tn == "t1" {
			h.apply(NewCommand(&PurgeBucket{Bucket: b, Max: 1000}))
		}
	}
	check(-1, "purge")
}

// Physical counts every shard file of a coded stream and the ciphertext
// of an inline one; logical the plaintext.
func TestUsageCountsPhysicalBytes(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	coded := codedPart(0, 1<<20, 1)
	h.apply(NewCommand(&PutObject{Bucket: "b", Key: "k", Tenant: "t", Object: Object{KeyVersion: 1, Size: 1 << 20, Parts: []Part{coded}}}))
	in := inlinePart(0, 100, 2)
	h.apply(NewCommand(&PutObject{Bucket: "b", Key: "i", Tenant: "t", Object: Object{KeyVersion: 1, Size: 100, Parts: []Part{in}}}))
	u := usageRows(t, h)[string(usageKey("t", "b"))]
	// RS(2,2) of 1 MiB: four shards of at least half of it each.
	if u.Objects != 2 || u.Bytes != 1<<20+100 || u.Physical < 2<<20+int64(len(in.Inline)) || u.Physical > 2<<20+64<<10 || u.Inline != int64(len(in.Inline)) {
		t.Fatalf("usage %+v", u)
	}
	if tu := usageRows(t, h)[string(usageKey("t", ""))]; tu.Buckets != 1 || tu.Bytes != u.Bytes || tu.Physical != u.Physical {
		t.Fatalf("the tenant's row %+v", tu)
	}
}

func setQuota(t *testing.T, h *fsmHarness, tenant, bucket string, q Quota) {
	t.Helper()
	if r := h.apply(NewCommand(&SetQuota{Tenant: tenant, Bucket: bucket, Quota: q})); r.Err != nil {
		t.Fatal(r.Err)
	}
}

func refusedQuota(t *testing.T, what string, r *Result, kind objapi.Kind, says string) {
	t.Helper()
	if r.Err == nil {
		t.Errorf("%s: not refused, want %v saying %q", what, kind, says)
		return
	}
	if !objapi.IsKind(r.Err, kind) || !strings.Contains(r.Err.Msg, says) {
		t.Errorf("%s: %+v, want %v saying %q", what, r.Err, kind, says)
	}
}

// Every quota refuses the command that would cross it, with nothing
// stored; commands that shrink a measure pass even above it; raising or
// removing the quota lets the tenant go on.
func TestQuotasRefuseWhatCrossesThem(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}, Quota: &Quota{Buckets: 2}}))
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "other", KeyVersion: 1}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	h.apply(NewCommand(&CreateBucket{Name: "c", Tenant: "t"}))
	refusedQuota(t, "a third bucket", h.apply(NewCommand(&CreateBucket{Name: "d", Tenant: "t"})), objapi.KindTooManyBuckets, "3 buckets, beyond its quota of 2")
	if r := h.apply(NewCommand(&CreateBucket{Name: "o", Tenant: "other"})); r.Err != nil {
		t.Fatalf("another tenant's bucket: %v", r.Err)
	}

	put := func(key string, size int64, id byte) *Result {
		p := codedPart(0, size, id)
		return h.apply(NewCommand(&PutObject{Bucket: "b", Key: key, Tenant: "t", Object: Object{KeyVersion: 1, Size: size, Parts: []Part{p}}}))
	}
	setQuota(t, h, "t", "", Quota{Buckets: 2, Bytes: 1000, Objects: 3})
	if r := put("k1", 600, 1); r.Err != nil {
		t.Fatal(r.Err)
	}
	refusedQuota(t, "beyond the bytes", put("k2", 401, 2), objapi.KindQuotaExceeded, "1001 stored bytes, beyond its quota of 1000")
	h.f.View(func(r *Reader) error {
		if _, ok, _ := r.Object("b", "k2"); ok {
			t.Error("the refused object was stored")
		}
		return nil
	})
	if r := put("k2", 400, 3); r.Err != nil {
		t.Fatalf("exactly up to the quota: %v", r.Err)
	}
	// A replacement counts the difference.
	if r := put("k1", 500, 4); r.Err != nil {
		t.Fatalf("a smaller replacement: %v", r.Err)
	}
	if r := put("k3", 100, 5); r.Err != nil {
		t.Fatal(r.Err)
	}
	refusedQuota(t, "a fourth object", put("k4", 0, 6), objapi.KindQuotaExceeded, "4 objects, beyond its quota of 3")
	// Lowered below the usage: deletes and smaller replacements pass.
	setQuota(t, h, "t", "", Quota{Buckets: 2, Bytes: 100})
	if r := put("k1", 10, 7); r.Err != nil {
		t.Fatalf("a smaller replacement above the quota: %v", r.Err)
	}
	refusedQuota(t, "a larger replacement above the quota", put("k1", 11, 8), objapi.KindQuotaExceeded, "stored bytes")
	if r := h.apply(NewCommand(&DeleteObject{Bucket: "b", Key: "k2", Tenant: "t"})); r.Err != nil {
		t.Fatalf("a delete above the quota: %v", r.Err)
	}
	setQuota(t, h, "t", "", Quota{})
	if r := put("k5", 1<<30, 9); r.Err != nil {
		t.Fatalf("without a quota: %v", r.Err)
	}

	// A bucket's quota binds the bucket only.
	setQuota(t, h, "t", "b", Quota{Objects: 3})
	refusedQuota(t, "beyond the bucket's objects", put("k6", 1, 10), objapi.KindQuotaExceeded, `bucket "b" would have 4 objects`)
	if r := h.apply(NewCommand(&PutObject{Bucket: "c", Key: "x", Tenant: "t", Object: Object{KeyVersion: 1, Size: 1, Parts: []Part{codedPart(0, 1, 11)}}})); r.Err != nil {
		t.Fatalf("another bucket: %v", r.Err)
	}
	refusedQuota(t, "a bucket quota on buckets", h.apply(NewCommand(&SetQuota{Tenant: "t", Bucket: "b", Quota: Quota{Buckets: 1}})), objapi.KindInvalidArgument, "does not bound buckets")
	refusedQuota(t, "a negative quota", h.apply(NewCommand(&SetQuota{Tenant: "t", Quota: Quota{Bytes: -1}})), objapi.KindInvalidArgument, "not negative")
	refusedQuota(t, "another tenant's bucket", h.apply(NewCommand(&SetQuota{Tenant: "other", Bucket: "b", Quota: Quota{Objects: 1}})), objapi.KindNoSuchBucket, "")
	refusedQuota(t, "no such tenant", h.apply(NewCommand(&SetQuota{Tenant: "nobody", Quota: Quota{Objects: 1}})), objapi.KindNoSuchTenant, "")
}

// Uploads, parts per upload and bytes in the metadata: an upload that
// would cross the byte quota is refused at the part that crosses it, and
// aborting it gives everything back.
func TestQuotasBoundUploads(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}, Quota: &Quota{Uploads: 1, Parts: 2, Bytes: 3000, Inline: 250}}))
	h.apply(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	if r := h.apply(NewCommand(&CreateUpload{ID: "u1", Tenant: "t", Bucket: "b", Key: "k", KeyVersion: 1})); r.Err != nil {
		t.Fatal(r.Err)
	}
	refusedQuota(t, "a second upload", h.apply(NewCommand(&CreateUpload{ID: "u2", Tenant: "t", Bucket: "b", Key: "k", KeyVersion: 1})),
		objapi.KindQuotaExceeded, "2 open multipart uploads")
	part := func(p Part) *Result { return h.apply(NewCommand(&PutPart{UploadID: "u1", Tenant: "t", Part: p})) }
	if r := part(codedPart(1, 2000, 1)); r.Err != nil {
		t.Fatal(r.Err)
	}
	refusedQuota(t, "the part that crosses the bytes", part(codedPart(2, 1001, 2)), objapi.KindQuotaExceeded, "3001 stored bytes")
	refusedQuota(t, "inline beyond the quota", part(inlinePart(2, 300, 3)), objapi.KindQuotaExceeded, "bytes in the metadata")
	if r := part(inlinePart(2, 100, 4)); r.Err != nil {
		t.Fatal(r.Err)
	}
	refusedQuota(t, "a third part", part(codedPart(3, 1, 5)), objapi.KindQuotaExceeded, "3 parts, beyond the quota of 2 parts per upload")
	if r := part(codedPart(1, 900, 6)); r.Err != nil {
		t.Fatalf("replacing a part: %v", r.Err)
	}
	if r := h.apply(NewCommand(&AbortUpload{UploadID: "u1", Tenant: "t"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if u := usageRows(t, h)[string(usageKey("t", ""))]; u != (Usage{Buckets: 1}) {
		t.Fatalf("after the abort: %+v", u)
	}
}
