package meta

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The FSM's state after a fixed script of commands — every kind, with
// repeats, failed conditions and the edge cases of each — is pinned byte
// for byte in testdata/golden/state.txt: a cluster whose members run
// different versions (a rolling upgrade) must still reach the same state
// on every node, so a change to how a command applies that changes what it
// writes fails here. -update rewrites the file.
func TestGoldenState(t *testing.T) {
	h := newFSMHarness(t)
	seq := byte(0)
	do := func(p Payload) *Result {
		t.Helper()
		seq++
		c := NewCommand(p)
		c.ID = CommandID(bytes.Repeat([]byte{seq}, 16))
		c.Proposed = goldenTime + int64(seq)*1e9
		return h.apply(c)
	}
	id := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	part := func(n int, data byte, lost ...int) Part {
		return Part{Number: n, Size: int64(n) + 1, ETag: fmt.Sprintf("e%d", data), DataID: id(data), SetID: 1, K: 2, M: 1, Lost: lost}
	}
	obj := func(version string, kv uint32, parts ...Part) Object {
		return Object{VersionID: version, KeyVersion: kv, ETag: "etag-" + version, WrappedKey: []byte("w-" + version), Parts: parts}
	}
	node := func(id, site string, drives int) *RegisterNode {
		n := &RegisterNode{ID: id, Site: site, RaftAddr: id + ":7000", RPCAddr: id + ":7001", Joined: goldenTime, MasterKeys: []string{"mk-1", "mk-2"}}
		for i := range drives {
			n.Drives = append(n.Drives, Drive{ID: fmt.Sprintf("%s/%d", id, i), Index: i})
		}
		return n
	}

	do(&Init{ID: "c", Created: goldenTime, KeyCheck: []byte("check-1"), MasterKey: "mk-1"})
	do(&Noop{})
	do(node("n2", "site-b", 2))
	do(node("n1", "site-a", 2))
	do(node("n3", "site-c", 2))
	do(node("n2", "site-b", 3)) // a member comes back with another drive
	do(&CreateTenant{Tenant: Tenant{ID: "t", Created: goldenTime, KeyVersion: 1, Keys: []TenantKey{{Version: 1, Wrapped: []byte("k1")}}},
		FirstKey: &AccessKey{ID: "AK1", Tenant: "t", WrappedSecret: []byte("s1")}})
	do(&CreateAccessKey{ID: "AK2", Tenant: "t", WrappedSecret: []byte("s2")})
	do(&CreateAccessKey{ID: "AK3", Tenant: "t", WrappedSecret: []byte("s3")})
	do(&DeleteAccessKey{ID: "AK3", Tenant: "t"})
	do(&CreateBucket{Name: "b", Tenant: "t", Created: goldenTime})
	do(&CreateBucket{Name: "c", Tenant: "t", Created: goldenTime})
	do(&CreateBucket{Name: "b", Tenant: "t"}) // owned by you
	do(&PutObject{Bucket: "b", Key: "x", Tenant: "t", Object: obj("vx", 1, part(0, 1))})
	do(&PutObject{Bucket: "b", Key: "y", Tenant: "t", Object: obj("vy", 1, part(0, 2, 1))})
	do(&PutObject{Bucket: "b", Key: "z", Tenant: "t", Object: obj("vz", 1, part(0, 3))})
	do(&PutObject{Bucket: "b", Key: "w", Tenant: "t", Object: obj("vw", 1, part(0, 4))})
	do(&PutObject{Bucket: "b", Key: "x", Tenant: "t", Object: obj("vx2", 1, part(0, 5, 0, 2))})
	do(&PutObject{Bucket: "b", Key: "x", Tenant: "t", IfNoneMatch: true, Object: obj("vx3", 1)}) // precondition
	do(&SetObjectMeta{Bucket: "b", Key: "y", Tenant: "t", VersionID: "vy", SealedMeta: []byte("tags")})
	do(&PutBucketCORS{Bucket: "b", Tenant: "t", Rules: []CORSRule{{ID: "r", AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}})
	do(&DeleteObjects{Bucket: "b", Tenant: "t", Keys: []string{"z", "missing", "z", ""}})
	do(&DeleteObject{Bucket: "b", Key: "w", Tenant: "t", IfMatch: `"etag-vw"`})
	do(&ShardsRestored{DataID: id(5), Shards: []int{0}})
	do(&ShardsRestored{DataID: id(2), Shards: []int{1}})
	do(&CreateUpload{ID: "u1", Tenant: "t", Bucket: "b", Key: "m", Initiated: goldenTime, KeyVersion: 1, WrappedKey: []byte("w-u1")})
	do(&PutPart{UploadID: "u1", Tenant: "t", Part: part(1, 11)})
	do(&PutPart{UploadID: "u1", Tenant: "t", Part: part(2, 12, 1)})
	do(&PutPart{UploadID: "u1", Tenant: "t", Part: part(2, 13)}) // uploaded again
	do(&PutPart{UploadID: "u1", Tenant: "t", Part: part(3, 14)})
	do(&CompleteUpload{UploadID: "u1", Tenant: "t", Object: Object{VersionID: "vm", KeyVersion: 1, WrappedKey: []byte("w-vm"), Multipart: true,
		Parts: []Part{part(1, 11), part(2, 13)}}})
	do(&CreateUpload{ID: "u2", Tenant: "t", Bucket: "b", Key: "n", KeyVersion: 1, WrappedKey: []byte("w-u2")})
	do(&PutPart{UploadID: "u2", Tenant: "t", Part: part(1, 21)})
	do(&CreateUpload{ID: "u3", Tenant: "t", Bucket: "b", Key: "o", KeyVersion: 1, WrappedKey: []byte("w-u3")})
	do(&PutPart{UploadID: "u3", Tenant: "t", Part: part(1, 31)})
	do(&AbortUpload{UploadID: "u3", Tenant: "t"})
	do(&RotateTenantKey{Tenant: "t", Key: TenantKey{Version: 2, Wrapped: []byte("k2"), Created: goldenTime}})
	do(&PutObject{Bucket: "b", Key: "v", Tenant: "t", Object: obj("vv", 1)}) // stale key
	do(&RewrapKeys{Tenant: "t", Items: []Rewrap{
		{Bucket: "b", Key: "x", VersionID: "vx2", From: 1, To: 2, Wrapped: []byte("x@2")},
		{Bucket: "b", Key: "x", VersionID: "vx2", From: 1, To: 2, Wrapped: []byte("x@2 again")},
		{Bucket: "b", Key: "y", VersionID: "old", From: 1, To: 2, Wrapped: []byte("y@2")},
		{Bucket: "gone", Key: "q", From: 1, To: 2, Wrapped: []byte("q@2")},
		{Upload: "u2", From: 1, To: 2, Wrapped: []byte("u2@2")},
		{Upload: "u2", From: 1, To: 2, Wrapped: []byte("u2@2 again")},
		{Bucket: "b", Key: "m", VersionID: "vm", From: 1, To: 3, Wrapped: []byte("m@3")},
	}})
	do(&RewrapKeys{Tenant: "t", Items: []Rewrap{
		{Bucket: "b", Key: "y", VersionID: "vy", From: 1, To: 2, Wrapped: []byte("y@2")},
		{Bucket: "b", Key: "m", VersionID: "vm", From: 1, To: 2, Wrapped: []byte("m@2")},
	}})
	do(&RetireTenantKey{Tenant: "t", Version: 2}) // the current one
	do(&RetireTenantKey{Tenant: "t", Version: 1})
	do(&SetMasterKey{ID: "mk-3"}) // no member has it
	do(&SetMasterKey{ID: "mk-2"})
	do(&RewrapMaster{MasterKey: "mk-2", TenantKeys: []RewrappedTenant{
		{Tenant: "t", Version: 2, Wrapped: []byte("k2@mk-2"), Old: []byte("k2")},
		{Tenant: "t", Version: 2, Wrapped: []byte("k2@mk-2 again"), Old: []byte("k2")},
		{Tenant: "nobody", Version: 1, Wrapped: []byte("n"), Old: []byte("o")},
	}, AccessKeys: []RewrappedSecret{
		{ID: "AK1", Wrapped: []byte("s1@mk-2"), Old: []byte("s1")},
		{ID: "AK2", Wrapped: []byte("s2@mk-2"), Old: []byte("stale")},
	}, KeyCheck: []byte("check-2")})
	do(&RewrapMaster{MasterKey: "mk-1"}) // rotated again meanwhile
	do(&CreateTenant{Tenant: Tenant{ID: "t2", KeyVersion: 1, Keys: []TenantKey{{Version: 1, Wrapped: []byte("t2k1")}}}})
	do(&CreateAccessKey{ID: "AK4", Tenant: "t2", WrappedSecret: []byte("s4")})
	do(&CreateBucket{Name: "p", Tenant: "t2"})
	for i := range 3 {
		do(&PutObject{Bucket: "p", Key: fmt.Sprint("o", i), Tenant: "t2", Object: obj(fmt.Sprint("vp", i), 1, part(0, byte(40+i)))})
	}
	do(&CreateUpload{ID: "u4", Tenant: "t2", Bucket: "p", Key: "m", KeyVersion: 1})
	do(&PutPart{UploadID: "u4", Tenant: "t2", Part: part(1, 50)})
	do(&PutPart{UploadID: "u4", Tenant: "t2", Part: part(2, 51)})
	do(&DeleteTenant{ID: "t2"})
	do(&PurgeBucket{Bucket: "p", Max: 2})
	do(&PurgeBucket{Bucket: "p", Max: 100})
	do(&PurgeBucket{Bucket: "p", Max: 100})   // gone
	do(&DeleteBucket{Name: "b", Tenant: "t"}) // not empty
	do(&DeleteBucket{Name: "c", Tenant: "t"})
	// A repeat is answered from the remembered outcome.
	h.apply(&Command{ID: CommandID(bytes.Repeat([]byte{14}, 16)), Proposed: goldenTime + 14e9,
		Payload: &PutObject{Bucket: "b", Key: "x", Tenant: "t", Object: obj("vx", 1, part(0, 1))}})

	var b strings.Builder
	for _, l := range dumpFSM(t, h.f) {
		b.WriteString(l + "\n")
	}
	checkGolden(t, filepath.Join(goldenDir, "state.txt"), []byte(b.String()))
}
