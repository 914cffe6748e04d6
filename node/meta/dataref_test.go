package meta

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// TestPartOfFollowsTheStream checks the dataids index the scrub relies on:
// a data id leads to its part record while an object or upload holds it,
// through completion (the record moves from the upload to the object),
// and to nothing once the stream is garbage.
func TestPartOfFollowsTheStream(t *testing.T) {
	f, err := OpenFSM(filepath.Join(t.TempDir(), "fsm.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var idx uint64
	do := func(c *Command) *Result {
		t.Helper()
		data, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		idx++
		r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(*Result)
		if r.Err != nil {
			t.Fatalf("op %d: %v", c.Op(), r.Err)
		}
		return r
	}
	partOf := func(id []byte) *Part {
		t.Helper()
		var p *Part
		err := f.View(func(r *Reader) error {
			var err error
			p, _, err = r.PartOf(id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	id := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }

	do(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1"}}))
	do(NewCommand(&CreateBucket{Name: "b1", Tenant: "t1"}))
	do(NewCommand(&PutObject{Bucket: "b1", Key: "k", Tenant: "t1",
		Object: Object{Parts: []Part{{Number: 1, DataID: id(1), Size: 10}}}}))
	if p := partOf(id(1)); p == nil || p.Size != 10 {
		t.Fatalf("object part: %+v", p)
	}

	do(NewCommand(&CreateUpload{ID: "u1", Tenant: "t1", Bucket: "b1", Key: "m"}))
	do(NewCommand(&PutPart{UploadID: "u1", Tenant: "t1", Part: Part{Number: 3, DataID: id(2), Size: 30}}))
	do(NewCommand(&PutPart{UploadID: "u1", Tenant: "t1", Part: Part{Number: 4, DataID: id(3), Size: 40}}))
	if p := partOf(id(2)); p == nil || p.Size != 30 {
		t.Fatalf("upload part: %+v", p)
	}
	do(NewCommand(&CompleteUpload{UploadID: "u1", Tenant: "t1",
		Object: Object{Parts: []Part{{Number: 3, DataID: id(2), Size: 30}}}}))
	if p := partOf(id(2)); p == nil || p.Size != 30 {
		t.Fatalf("completed part: %+v", p)
	}
	if p := partOf(id(3)); p != nil {
		t.Fatalf("a part left out of the completion is garbage: %+v", p)
	}

	// Overwriting k makes its old stream garbage.
	do(NewCommand(&PutObject{Bucket: "b1", Key: "k", Tenant: "t1",
		Object: Object{Parts: []Part{{Number: 1, DataID: id(4), Size: 11}}}}))
	if p := partOf(id(1)); p != nil {
		t.Fatalf("replaced stream: %+v", p)
	}
	if p := partOf(id(4)); p == nil || p.Size != 11 {
		t.Fatalf("new stream: %+v", p)
	}

	// Streams walks every referenced stream in data id order, in pages.
	var got []byte
	var after []byte
	for {
		var page []Part
		err := f.View(func(r *Reader) error {
			var err error
			page, after, err = r.Streams(after, 1)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			got = append(got, p.DataID[0])
		}
		if after == nil {
			break
		}
	}
	if !bytes.Equal(got, []byte{2, 4}) {
		t.Fatalf("streams %v, want [2 4]", got)
	}
}
