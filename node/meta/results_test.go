package meta

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// inlinePart is a part of n inline bytes (the data id says which attempt).
func inlinePart(number int, n int, attempt byte) Part {
	return Part{Number: number, Size: int64(n), DataID: bytes.Repeat([]byte{attempt}, 16), Inline: bytes.Repeat([]byte{0xEE}, n)}
}

// The result a leader sends a forwarding node never holds inline bytes,
// however the result was made.
func TestEncodedResultsHoldNoInlineBytes(t *testing.T) {
	r := &Result{Garbage: []Part{inlinePart(1, 16<<10, 1), {Number: 2, DataID: []byte("coded-part-00002"), Drives: []string{"n1/0"}}},
		Replaced: &Object{VersionID: "v", Parts: []Part{inlinePart(0, 100, 3)}}}
	data, err := EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 1000 {
		t.Fatalf("%d bytes encoded", len(data))
	}
	back, err := DecodeResult(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Garbage) != 2 || back.Garbage[0].Inline != nil || !bytes.Equal(back.Garbage[0].DataID, r.Garbage[0].DataID) ||
		back.Garbage[1].Drives[0] != "n1/0" || back.Replaced.Parts[0].Inline != nil || back.Replaced.VersionID != "v" {
		t.Fatalf("decoded %+v", back)
	}
	if len(r.Garbage[0].Inline) != 16<<10 || len(r.Replaced.Parts[0].Inline) != 100 {
		t.Fatal("EncodeResult changed the result it was given")
	}
}

// A command larger than MaxCommand is refused by the leader before it
// reaches the log.
func TestLeaderRefusesOversizeCommand(t *testing.T) {
	nodes := startCluster(t, 1)
	c := NewCommand(&DeleteObjects{Bucket: "b", Tenant: "t", Keys: []string{strings.Repeat("k", MaxCommand)}})
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	before := nodes[0].s.Raft.LastIndex()
	_, err = nodes[0].s.Apply(t.Context(), data)
	if !objapi.IsKind(err, objapi.KindEntityTooLarge) || !strings.Contains(err.Error(), "beyond the limit") {
		t.Fatalf("apply: %v", err)
	}
	if nodes[0].s.Raft.LastIndex() != before {
		t.Fatal("the oversize command reached the log")
	}
}
