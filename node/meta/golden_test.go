package meta

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Golden files pin the bytes of every kind of Raft log entry and every
// record the metadata database holds: they are in every log, snapshot and
// database already written, so a change that encodes them differently, or
// no longer decodes what was written before, must be deliberate. Each file
// holds the bytes in hex and, in comment lines, what they are; the test
// checks that the fixture below still encodes to them, and that they
// decode back to the fixture and encode again to the same bytes.
//
// Fixtures are never changed, only added: a new field gets a new fixture
// that sets it, so the old files keep proving that entries and records
// written before it still decode. Regenerate after adding one with
//
//	go test ./node/meta -run TestGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "testdata/golden"

// goldenTime and goldenID are the proposer's clock and the command id of
// every golden command.
const goldenTime = int64(1767225600123456789) // 2026-01-01T00:00:00.123456789Z

var goldenID = CommandID([]byte("kcs-golden-id-01"))

func goldenBytes(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func goldenChecksums() []Checksum {
	return []Checksum{{Alg: "CRC32C", Value: "yZRlqg=="}, {Alg: "SHA256", Value: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}}
}

// goldenPart is a coded part with every field set but Inline.
func goldenPart(n int) Part {
	return Part{Number: n, Size: 5<<20 + int64(n), ETag: "9b2cf535f27731c974343645a3985328", DataID: goldenBytes(byte(0x10+n), 16),
		SetID: 7, K: 4, M: 2, BlockSize: 128 << 10, Format: 1, Cipher: goldenBytes(0xC1, 16), Checksums: goldenChecksums(),
		Modified: goldenTime + int64(n), Drives: []string{"n1/0", "n2/0", "n3/0", "n1/1", "n2/1", "n3/1"}, Lost: []int{4}}
}

// goldenInlinePart is a part kept inside the metadata.
func goldenInlinePart() Part {
	return Part{Size: 3, ETag: "900150983cd24fb0d6963f7d28e17f72", DataID: goldenBytes(0x2A, 16), BlockSize: 128 << 10, Format: 1,
		Cipher: goldenBytes(0xC2, 16), Checksums: goldenChecksums()[:1], Modified: goldenTime, Inline: goldenBytes(0xEE, 51)}
}

func goldenObject() Object {
	return Object{VersionID: "0193f5e2-5e00-7000-8000-000000000001", Size: 10<<20 + 3, ETag: "c3b5a7a7a1f2e9a0b7b3e0f5d2c1a0b9-2",
		Modified: goldenTime, SealedMeta: goldenBytes(0x5E, 40), WrappedKey: goldenBytes(0x77, 84), KeyVersion: 2,
		Checksums: []Checksum{{Alg: "CRC32C", Value: "AAAAAA==-2"}}, Parts: []Part{goldenPart(1), goldenPart(2)}, Multipart: true,
		ChecksumType: "COMPOSITE"}
}

// goldenObjectWithUploadID is a version completed from goldenUpload by a
// proposer of command level 2.
func goldenObjectWithUploadID() Object {
	o := goldenObject()
	o.UploadID = goldenUpload().ID
	return o
}

func goldenUpload() Upload {
	return Upload{ID: "0193f5e2-upload-01", Tenant: "gemeinde-oberhof", Bucket: "akten", Key: "2026/haushalt.pdf", Initiated: goldenTime,
		WrappedKey: goldenBytes(0x78, 84), KeyVersion: 2, SealedMeta: goldenBytes(0x5F, 40), ChecksumAlgorithm: "CRC32C",
		ChecksumType: "COMPOSITE"}
}

// goldenLimits are the bounds of command level 2, every field set.
func goldenLimits() *Limits {
	return &Limits{MaxPartNumber: 10000, MaxUploadInline: 16 << 20, MaxSealedMeta: 64 << 10}
}

func goldenUploadWithLimits() *Upload {
	u := goldenUpload()
	u.Limits = goldenLimits()
	return &u
}

func goldenNode() Node {
	return Node{ID: "n1", Site: "greiz", RaftAddr: "10.2.0.11:7000", RPCAddr: "10.2.0.11:7001",
		S3Addrs: []string{":9000", ":9443"}, Drives: []Drive{{ID: "n1/0", Index: 0, Path: "/srv/kcs/d1"}, {ID: "n1/1", Index: 1, Path: "/srv/kcs/d2"}},
		Joined: goldenTime, MasterKeys: []string{"mk-0123456789abcdef", "mk-fedcba9876543210"}}
}

func goldenNodeWithLevel() *Node {
	n := goldenNode()
	n.CommandLevel, n.Version = 1, "v1.0.0"
	return &n
}

func goldenTenant() Tenant {
	return Tenant{ID: "gemeinde-oberhof", Created: goldenTime, KeyVersion: 2,
		Keys: []TenantKey{{Version: 1, Wrapped: goldenBytes(0x71, 84), Created: goldenTime - 1}, {Version: 2, Wrapped: goldenBytes(0x72, 84), Created: goldenTime}}}
}

func goldenAccessKey() AccessKey {
	return AccessKey{ID: "KCS0123456789ABCDEF", Tenant: "gemeinde-oberhof", WrappedSecret: goldenBytes(0x73, 90), Created: goldenTime}
}

func goldenCORS() []CORSRule {
	return []CORSRule{{ID: "web", AllowedOrigins: []string{"https://oberhof.de"}, AllowedMethods: []string{"GET", "PUT"},
		AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: 3600}}
}

// goldenCommand is one golden log entry.
type goldenCommand struct {
	name string // file name (without .hex)
	cmd  *Command
}

func goldenEnvelope(c *Command) *Command {
	c.ID, c.Proposed = goldenID, goldenTime
	return c
}

// goldenCommands returns one entry of every command kind, each payload
// with every field set.
func goldenCommands() []goldenCommand {
	cl := Cluster{ID: "0193f5e2-cluster", Created: goldenTime, KeyCheck: goldenBytes(0x70, 80), MasterKey: "mk-0123456789abcdef"}
	node := goldenNode()
	ak := goldenAccessKey()
	up := goldenUpload()
	ten := goldenTenant()
	put := PutObject{Bucket: "akten", Key: "2026/protokoll.txt", Tenant: "gemeinde-oberhof", IfNoneMatch: true, IfMatch: `"abc"`,
		Object: Object{VersionID: "0193f5e2-v2", Size: 3, ETag: "900150983cd24fb0d6963f7d28e17f72", Modified: goldenTime,
			SealedMeta: goldenBytes(0x5E, 40), WrappedKey: goldenBytes(0x77, 84), KeyVersion: 2, Checksums: goldenChecksums()[:1],
			Parts: []Part{goldenInlinePart()}, ChecksumType: "FULL_OBJECT"}}
	return []goldenCommand{
		{"op01-init", NewCommand((*Init)(&cl))},
		{"op02-register-node", NewCommand((*RegisterNode)(&node))},
		{"op03-create-tenant", NewCommand(&CreateTenant{Tenant: ten, FirstKey: &ak})},
		{"op04-create-access-key", NewCommand((*CreateAccessKey)(&ak))},
		{"op05-delete-access-key", NewCommand(&DeleteAccessKey{ID: ak.ID, Tenant: ak.Tenant})},
		{"op06-create-bucket", NewCommand(&CreateBucket{Name: "akten", Tenant: "gemeinde-oberhof", Created: goldenTime, CORS: goldenCORS(), Purging: true})},
		{"op07-delete-bucket", NewCommand(&DeleteBucket{Name: "akten", Tenant: "gemeinde-oberhof"})},
		{"op08-put-object", NewCommand(&put)},
		{"op09-delete-object", NewCommand(&DeleteObject{Bucket: "akten", Key: "2026/protokoll.txt", Tenant: "gemeinde-oberhof", IfMatch: `"abc"`})},
		{"op10-create-upload", NewCommand((*CreateUpload)(&up))},
		{"op11-put-part", NewCommand(&PutPart{UploadID: up.ID, Tenant: up.Tenant, Part: goldenPart(3)})},
		{"op12-complete-upload", NewCommand(&CompleteUpload{UploadID: up.ID, Tenant: up.Tenant, Object: goldenObject(), IfNoneMatch: true, IfMatch: `"def"`})},
		{"op13-abort-upload", NewCommand(&AbortUpload{UploadID: up.ID, Tenant: up.Tenant})},
		{"op14-noop", NewCommand(&Noop{})},
		{"op15-put-bucket-cors", NewCommand(&PutBucketCORS{Bucket: "akten", Tenant: "gemeinde-oberhof", Rules: goldenCORS()})},
		{"op16-set-object-meta", NewCommand(&SetObjectMeta{Bucket: "akten", Key: "2026/protokoll.txt", Tenant: "gemeinde-oberhof", VersionID: "0193f5e2-v2", SealedMeta: goldenBytes(0x5D, 48)})},
		{"op17-delete-objects", NewCommand(&DeleteObjects{Bucket: "akten", Tenant: "gemeinde-oberhof", Keys: []string{"a", "b/c", "ä"}})},
		{"op18-delete-tenant", NewCommand(&DeleteTenant{ID: "gemeinde-oberhof"})},
		{"op19-purge-bucket", NewCommand(&PurgeBucket{Bucket: "akten", Max: 1000})},
		{"op20-rotate-tenant-key", NewCommand(&RotateTenantKey{Tenant: "gemeinde-oberhof", Key: TenantKey{Version: 3, Wrapped: goldenBytes(0x74, 84), Created: goldenTime}})},
		{"op21-rewrap-keys", NewCommand(&RewrapKeys{Tenant: "gemeinde-oberhof", Items: []Rewrap{
			{Bucket: "akten", Key: "2026/protokoll.txt", VersionID: "0193f5e2-v2", From: 2, To: 3, Wrapped: goldenBytes(0x75, 84)},
			{Upload: up.ID, From: 2, To: 3, Wrapped: goldenBytes(0x76, 84)},
		}})},
		{"op22-retire-tenant-key", NewCommand(&RetireTenantKey{Tenant: "gemeinde-oberhof", Version: 1})},
		{"op23-set-master-key", NewCommand(&SetMasterKey{ID: "mk-fedcba9876543210"})},
		{"op24-rewrap-master", NewCommand(&RewrapMaster{MasterKey: "mk-fedcba9876543210",
			TenantKeys: []RewrappedTenant{{Tenant: "gemeinde-oberhof", Version: 2, Wrapped: goldenBytes(0x79, 84), Old: goldenBytes(0x72, 84)}},
			AccessKeys: []RewrappedSecret{{ID: ak.ID, Wrapped: goldenBytes(0x7A, 90), Old: goldenBytes(0x73, 90)}},
			KeyCheck:   goldenBytes(0x7B, 80)})},
		{"op25-shards-restored", NewCommand(&ShardsRestored{DataID: goldenBytes(0x11, 16), Shards: []int{1, 4}})},
		{"op02-register-node-with-level", NewCommand((*RegisterNode)(goldenNodeWithLevel()))},
		// Level 2: commands that carry limits. (In this test binary level
		// 2's release is named "kcs test-2", levels_test.go; the payloads
		// are what these pin.)
		{"op10-create-upload-with-limits", NewCommand((*CreateUpload)(goldenUploadWithLimits()))},
		{"op08-put-object-with-limits", NewCommand(func() *PutObject { p := put; p.Limits = goldenLimits(); return &p }())},
		{"op16-set-object-meta-with-limits", NewCommand(&SetObjectMeta{Bucket: "akten", Key: "2026/protokoll.txt", Tenant: "gemeinde-oberhof",
			VersionID: "0193f5e2-v2", SealedMeta: goldenBytes(0x5D, 48), Limits: goldenLimits()})},
		{"op26-set-quota", NewCommand(&SetQuota{Tenant: "gemeinde-oberhof", Bucket: "akten", Quota: goldenQuota()})},
		{"op03-create-tenant-with-quota", NewCommand(&CreateTenant{Tenant: ten, FirstKey: &ak, Quota: &Quota{Bytes: 1 << 40, Objects: 1e6, Buckets: 100, Uploads: 1000, Parts: 10000, Inline: 64 << 20}})},
		// Level 2: a deletion that aborts the bucket's uploads, and a
		// completion that records its upload in the object.
		{"op07-delete-bucket-abort-uploads", NewCommand(&DeleteBucket{Name: "akten", Tenant: "gemeinde-oberhof", AbortUploads: true, MaxAbortParts: 10000})},
		{"op12-complete-upload-with-upload-id", NewCommand(&CompleteUpload{UploadID: up.ID, Tenant: up.Tenant, Object: goldenObjectWithUploadID(), IfNoneMatch: true, IfMatch: `"def"`})},
		// Level 2: re-protection, drains, removals, promotions, spreads
		// (commands_redundancy.go).
		{"op27-move-stream", NewCommand(goldenMoveStream())},
		{"op27-move-stream-upload-part", NewCommand(goldenMoveUploadPart())},
		{"op28-set-draining", NewCommand(&SetDraining{Node: "n1", Drive: "n1/1", Draining: true})},
		{"op29-remove-node", NewCommand(&RemoveNode{Node: "n1", Force: true, Removed: goldenTime})},
		{"op30-promote-node", NewCommand(&PromoteNode{Node: "n4"})},
		{"op31-spread", NewCommand(&Spread{Stop: true})},
		// Level 2: versioning, object lock, lifecycle.
		{"op32-set-versioning", NewCommand(&SetVersioning{Bucket: "akten", Tenant: "gemeinde-oberhof", State: VersioningOn})},
		{"op33-set-bucket-lock", NewCommand(&SetBucketLock{Bucket: "akten", Tenant: "gemeinde-oberhof", Default: LockConfig{Mode: "COMPLIANCE", Years: 10}})},
		{"op34-set-lifecycle", NewCommand(&SetLifecycle{Bucket: "akten", Tenant: "gemeinde-oberhof", Rules: []LifecycleRule{{ID: "r1", Enabled: true,
			Prefix: "tmp/", Tags: []Tag{{Key: "k", Value: "v"}}, SizeGreaterThan: 1, SizeLessThan: 1 << 20, ExpirationDays: 30,
			NoncurrentDays: 7, NewerNoncurrentVersions: 2, AbortIncompleteDays: 3}}})},
		{"op35-set-object-lock", NewCommand(&SetObjectLock{Bucket: "akten", Key: "a/b", Tenant: "gemeinde-oberhof", VersionID: "000000000000002a0193f5e2",
			Retention: true, Mode: "GOVERNANCE", Until: goldenTime, Bypass: true, LegalHold: true, Hold: true})},
		{"op36-set-key-bypass", NewCommand(&SetKeyBypass{ID: "AKIA", Bypass: true, Tenant: "gemeinde-oberhof"})},
		{"op37-shred-cycle", NewCommand(&ShredCycle{})},
		{"op38-set-bucket-tags", NewCommand(&SetBucketTags{Bucket: "akten", Tenant: "gemeinde-oberhof", Tags: []Tag{{Key: "kostenstelle", Value: "4711"}, {Key: "amt", Value: ""}}})},
		{"op09-delete-object-version", NewCommand(&DeleteObject{Bucket: "akten", Key: "a/b", Tenant: "gemeinde-oberhof", VersionID: "000000000000002a0193f5e2", Bypass: true, MarkerID: "m1", IfSeq: 42})},
		{"op17-delete-objects-versions", NewCommand(&DeleteObjects{Bucket: "akten", Tenant: "gemeinde-oberhof", Entries: []DeleteEntry{{Key: "a", VersionID: "null"}, {Key: "b", MarkerID: "m2"}}, Bypass: true})},
		// A command of level 2 (this test binary's, levels_test.go): a
		// format 3 entry, with its level and release.
		{"op250-test-level-2", NewCommand(&testLevel2{Note: "level two"})},
	}
}

// goldenQuota bounds everything a bucket's quota can.
func goldenQuota() Quota {
	return Quota{Bytes: 5 << 30, Objects: 10000, Uploads: 20, Parts: 500, Inline: 1 << 20}
}

// goldenRecord is one golden database record (or another value that
// outlives a binary: the result that crosses from the leader to a node of
// another version).
type goldenRecord struct {
	name string
	v    any // a pointer to the record
}

func goldenRecords() []goldenRecord {
	cl := Cluster{ID: "0193f5e2-cluster", Created: goldenTime, KeyCheck: goldenBytes(0x70, 80), MasterKey: "mk-0123456789abcdef"}
	clOld := Cluster{ID: "0193f5e2-cluster", Created: goldenTime, KeyCheck: goldenBytes(0x70, 80)}
	node := goldenNode()
	set := Set{ID: 7, K: 4, M: 2, Drives: []string{"n1/0", "n2/0", "n3/0", "n1/1", "n2/1", "n3/1"}}
	lay := Layout{Epoch: 3, Families: []Family{
		{Sites: []string{"greiz", "schmalkalden-meiningen", "soemmerda"}, K: 4, M: 2, Sets: []uint32{7, 8}},
		{Sites: []string{"greiz", "soemmerda"}, K: 2, M: 2, Sets: []uint32{9}},
	}}
	ten := goldenTenant()
	ak := goldenAccessKey()
	b := Bucket{Name: "akten", Tenant: "gemeinde-oberhof", Created: goldenTime, CORS: goldenCORS(), Purging: true}
	obj := goldenObject()
	part := goldenPart(5)
	inline := goldenInlinePart()
	up := goldenUpload()
	refObj := DataRef{Bucket: "akten", Key: "2026/haushalt.pdf", Part: 2}
	refUp := DataRef{Upload: up.ID, Part: 3}
	out := outcome{Index: 123456, Time: goldenTime}
	outFailed := outcome{Index: 123457, Time: goldenTime, Failed: true, Kind: 7, Msg: "the object exists"}
	lost := []int{1, 4}
	return []goldenRecord{
		{"cluster", &cl},
		{"cluster-before-master-key-ids", &clOld},
		{"node", &node},
		{"node-with-level", goldenNodeWithLevel()},
		{"set", &set},
		{"layout", &lay},
		{"tenant", &ten},
		{"access-key", &ak},
		{"bucket", &b},
		{"object", &obj},
		{"object-with-upload-id", func() *Object { o := goldenObjectWithUploadID(); return &o }()},
		{"part", &part},
		{"part-inline", &inline},
		{"upload", &up},
		{"dataref-object", &refObj},
		{"dataref-upload", &refUp},
		{"outcome", &out},
		{"outcome-failed", &outFailed},
		{"degraded", &lost},
		{"upload-with-limits", goldenUploadWithLimits()},
		{"upload-usage", &UploadUsage{Parts: 3000, InlineBytes: 3000 * 16432}},
		{"bucket-schema2", &Bucket{Name: "akten", Tenant: "gemeinde-oberhof", Created: goldenTime}},
		{"bucket-cors", func() *[]CORSRule { c := goldenCORS(); return &c }()},
		{"usage", &Usage{Objects: 12, Bytes: 5 << 30, Physical: 8 << 30, Inline: 4096, Uploads: 2, UploadParts: 7, UploadBytes: 35 << 20,
			UploadPhysical: 53 << 20, UploadInline: 100, Buckets: 3}},
		{"quota", func() *Quota { q := goldenQuota(); q.Buckets = 100; return &q }()},
		{"node-draining-voter", goldenNodeDrainingVoter()},
		{"part-moved", goldenMovedPart()},
		{"set-stats", &SetStats{Streams: 1 << 20, Physical: 5 << 40}},
		{"wire-result", &wireResult{Kind: 7, Msg: "the object exists", Failed: true, Garbage: []Part{part}, Replaced: &obj, Duplicate: true}},
	}
}

// goldenFile renders a golden file: comment lines, then the bytes in hex,
// 32 bytes to a line.
func goldenFile(comments []string, data []byte) []byte {
	var b bytes.Buffer
	for _, c := range comments {
		fmt.Fprintf(&b, "# %s\n", c)
	}
	h := hex.EncodeToString(data)
	for len(h) > 64 {
		b.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	b.WriteString(h + "\n")
	return b.Bytes()
}

// readGolden returns the bytes of a golden file.
func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	var h strings.Builder
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(line, "#") {
			h.WriteString(strings.TrimSpace(line))
		}
	}
	data, err := hex.DecodeString(h.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return data
}

// checkGolden compares (or, with -update, writes) a golden file.
func checkGolden(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the encoding differs from the golden file.\n got:\n%s\nwant:\n%s", path, want, got)
	}
}

// payloadOffset is where the payload of an entry of format 2 or 3 begins.
func payloadOffset(entry []byte) int {
	if entry[0] >= format3 {
		return envelopeV2 + 3 + int(entry[4])
	}
	return envelopeV2
}

func diagnose(t *testing.T, data []byte) string {
	t.Helper()
	d, err := cbor.Diagnose(data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkNoStrayGoldens fails for golden files no fixture produces: a
// fixture that was removed took its decoding guarantee with it.
func checkNoStrayGoldens(t *testing.T, dir string, names []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.hex"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.Contains(names, strings.TrimSuffix(filepath.Base(f), ".hex")) {
			t.Errorf("%s: no fixture produces it (fixtures are only ever added)", f)
		}
	}
}

func TestGoldenCommands(t *testing.T) {
	dir := filepath.Join(goldenDir, "commands")
	var names []string
	for _, g := range goldenCommands() {
		names = append(names, g.name)
		t.Run(g.name, func(t *testing.T) {
			c := goldenEnvelope(g.cmd)
			data, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, g.name+".hex")
			envelope := fmt.Sprintf("op %d, command format %d, id %x, proposed %d", c.Op(), data[0], c.ID, c.Proposed)
			if data[0] >= format3 {
				envelope += fmt.Sprintf(", level %d, release %q", c.Level(), levelReleases[c.Level()])
			}
			checkGolden(t, path, goldenFile([]string{
				envelope,
				"payload: " + diagnose(t, data[payloadOffset(data):]),
			}, data))

			old := readGolden(t, path)
			back, err := DecodeCommand(old)
			if err != nil {
				t.Fatalf("the golden entry no longer decodes: %v", err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("the golden entry decodes to\n%+v\nwant\n%+v", back, c)
			}
			again, err := back.Encode()
			if err != nil || !bytes.Equal(again, old) {
				t.Fatalf("the decoded golden entry encodes differently (%v):\n%x\n%x", err, again, old)
			}
		})
	}
	checkNoStrayGoldens(t, dir, names)
}

// An entry of command format 1 (op and payload, no id, no clock), as the
// first versions wrote them: it is never written again, so its golden file
// is not regenerated, only decoded.
func TestGoldenCommandFormat1(t *testing.T) {
	path := filepath.Join(goldenDir, "format1", "create-tenant.hex")
	ak := goldenAccessKey()
	want := NewCommand(&CreateTenant{Tenant: goldenTenant(), FirstKey: &ak})
	if *update {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			payload, err := marshal(want.Payload)
			if err != nil {
				t.Fatal(err)
			}
			data := append([]byte{1, byte(OpCreateTenant)}, payload...)
			checkGolden(t, path, goldenFile([]string{
				"op 3, command format 1 (no id, no clock): written by the first versions, never regenerated",
				"payload: " + diagnose(t, payload),
			}, data))
		}
	}
	back, err := DecodeCommand(readGolden(t, path))
	if err != nil {
		t.Fatalf("the format 1 entry no longer decodes: %v", err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("the format 1 entry decodes to\n%+v\nwant\n%+v", back, want)
	}
}

func TestGoldenRecords(t *testing.T) {
	dir := filepath.Join(goldenDir, "records")
	var names []string
	for _, g := range goldenRecords() {
		names = append(names, g.name)
		t.Run(g.name, func(t *testing.T) {
			data, err := marshal(g.v)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, g.name+".hex")
			checkGolden(t, path, goldenFile([]string{
				fmt.Sprintf("%T", g.v),
				diagnose(t, data),
			}, data))

			old := readGolden(t, path)
			back := reflect.New(reflect.TypeOf(g.v).Elem())
			if err := unmarshal(old, back.Interface()); err != nil {
				t.Fatalf("the golden record no longer decodes: %v", err)
			}
			if !reflect.DeepEqual(back.Interface(), g.v) {
				t.Fatalf("the golden record decodes to\n%+v\nwant\n%+v", back.Interface(), g.v)
			}
			again, err := marshal(back.Interface())
			if err != nil || !bytes.Equal(again, old) {
				t.Fatalf("the decoded golden record encodes differently (%v):\n%x\n%x", err, again, old)
			}
		})
	}
	checkNoStrayGoldens(t, dir, names)
}

// Every kind of command has its golden entry.
func TestGoldenCoversEveryCommand(t *testing.T) {
	have := map[Op]bool{}
	for _, g := range goldenCommands() {
		have[g.cmd.Op()] = true
	}
	for op, k := range kinds {
		if !have[op] {
			t.Errorf("op %d (%v) has no golden entry: add one to goldenCommands", op, k.typ)
		}
	}
}
