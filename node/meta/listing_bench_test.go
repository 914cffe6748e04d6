package meta

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkListingWithVersions measures how the cost of listing a prefix
// grows with the versions under it: 1 000 live keys under "docs/", and
// up to a million noncurrent versions of them, or up to a million keys
// under the same prefix whose current version is a delete marker. The
// database is filled directly (through Raft a million versions would take
// too long), in the layout the commands write (versions.go).
//
// ListObjects reads objects/<bucket> alone, so its page costs the same
// whatever the versions; ListObjectVersions reads its page and what it
// seeks past.
func BenchmarkListingWithVersions(b *testing.B) {
	for _, shape := range []struct {
		name                   string
		noncurrent, deletedKey int
	}{
		{"versions=0", 0, 0},
		{"noncurrent=10k", 10_000, 0},
		{"noncurrent=1M", 1_000_000, 0},
		{"deleted-keys=1M", 0, 1_000_000},
	} {
		h := newFSMHarness(b)
		fillVersions(b, h.f, 1000, shape.noncurrent, shape.deletedKey)
		b.Run("ListObjectsV2/"+shape.name, func(b *testing.B) {
			for b.Loop() {
				h.f.View(func(r *Reader) error {
					entries, _, _, _, err := r.List("b", "docs/", "", "", 1000)
					if err != nil || len(entries) != 1000 {
						b.Fatal(len(entries), err)
					}
					return nil
				})
			}
		})
		b.Run("ListObjectsV2-delimiter/"+shape.name, func(b *testing.B) {
			for b.Loop() {
				h.f.View(func(r *Reader) error {
					entries, _, _, _, err := r.List("b", "docs/", "/", "", 1000)
					if err != nil || len(entries) != 1000 {
						b.Fatal(len(entries), err)
					}
					return nil
				})
			}
		})
		b.Run("ListObjectVersions/"+shape.name, func(b *testing.B) {
			for b.Loop() {
				h.f.View(func(r *Reader) error {
					entries, _, _, _, _, err := r.ListVersions("b", "docs/", "", "", "", 1000)
					if err != nil || len(entries) != 1000 {
						b.Fatal(len(entries), err)
					}
					return nil
				})
			}
		})
	}
}

// fillVersions writes bucket b with live keys under docs/ (docs/k000000…),
// noncurrent versions spread evenly over them, and deleted keys (a delete
// marker over one old version each) interleaved between them.
func fillVersions(b *testing.B, f *FSM, live, noncurrent, deleted int) {
	b.Helper()
	obj := func(seq uint64) *Object {
		return &Object{VersionID: fmt.Sprintf("%032x", seq), Seq: seq, Versioned: true, Size: 1234, ETag: "0123456789abcdef0123456789abcdef",
			Modified: 1767225600123456789, KeyVersion: 1, WrappedKey: make([]byte, 72),
			Parts: []Part{{Size: 1234, ETag: "0123456789abcdef0123456789abcdef", DataID: make([]byte, 16), K: 4, M: 2, SetID: 1, Format: 1, BlockSize: 1 << 20, Cipher: make([]byte, 16)}}}
	}
	seq := uint64(1)
	per := 0
	if live > 0 {
		per = noncurrent / live
	}
	// Deleted keys sort between the live ones: docs/k000123-d000…
	perGap := 0
	if live > 0 {
		perGap = deleted / live
	}
	err := f.db.Update(func(tx *bolt.Tx) error {
		ob, err := tx.Bucket(bObjects).CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		vb, err := tx.Bucket(bVersions).CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		ob.FillPercent, vb.FillPercent = 1, 1
		for i := range live {
			key := fmt.Sprintf("docs/k%06d", i)
			for range per {
				if err := put(vb, versionKey(key, seq), obj(seq)); err != nil {
					return err
				}
				seq++
			}
			if err := put(ob, []byte(key), obj(seq)); err != nil {
				return err
			}
			seq++
			for j := range perGap {
				dk := fmt.Sprintf("%s-d%06d", key, j)
				if err := put(vb, versionKey(dk, seq), obj(seq)); err != nil {
					return err
				}
				m := &Object{VersionID: fmt.Sprintf("%032x", seq+1), Seq: seq + 1, Versioned: true, DeleteMarker: true, Modified: 1767225600123456789}
				if err := put(vb, versionKey(dk, seq+1), m); err != nil {
					return err
				}
				seq += 2
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
