package meta

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// versionsHarness applies commands as a proposer does: each with its own
// id and a proposer clock (now), which the FSM clock follows.
type versionsHarness struct {
	*fsmHarness
	t     *testing.T
	now   int64
	ids   uint64
	data  uint32
	check bool // after every command: usage rows and the dataids index stay exact
}

var versionsT0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func newVersionsHarness(t *testing.T) *versionsHarness {
	h := &versionsHarness{fsmHarness: newFSMHarness(t), t: t, now: versionsT0, check: true}
	h.ok(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1}})
	return h
}

func (h *versionsHarness) do(p Payload) *Result {
	h.t.Helper()
	h.ids++
	c := NewCommand(p)
	c.ID[0] = 0x7E
	binary.BigEndian.PutUint64(c.ID[8:], h.ids)
	c.Proposed = h.now
	r := h.apply(c)
	if h.check {
		h.checkInvariants(fmt.Sprintf("%T", p))
	}
	return r
}

func (h *versionsHarness) ok(p Payload) *Result {
	h.t.Helper()
	r := h.do(p)
	if r.Err != nil {
		h.t.Fatalf("%T %+v: %v", p, p, r.Err)
	}
	return r
}

func (h *versionsHarness) refused(what string, p Payload, k objapi.Kind, says string) *Result {
	h.t.Helper()
	r := h.do(p)
	if r.Err == nil || r.Err.Kind != k || !strings.Contains(r.Err.Msg, says) {
		h.t.Errorf("%s: %v, want %v saying %q", what, r.Err, k, says)
	}
	return r
}

// tick advances the proposer clock, and the FSM's with a command at the
// new time (the FSM clock during a command is at least the one of the
// command before it).
func (h *versionsHarness) tick(d time.Duration) {
	h.t.Helper()
	h.now += int64(d)
	h.do(&SetKeyBypass{ID: "no-such-key"}) // refused, but its clock counts
}

func (h *versionsHarness) bucket(name string, versioning uint8, lock bool) {
	h.t.Helper()
	h.ok(&CreateBucket{Name: name, Tenant: "t", ObjectLock: lock})
	if versioning != VersioningOff && !lock {
		h.ok(&SetVersioning{Bucket: name, Tenant: "t", State: versioning})
	}
}

// part is a new coded part of size bytes, with a data id of its own.
func (h *versionsHarness) part(size int64) Part {
	h.data++
	id := make([]byte, 16)
	id[0] = 0xD0
	binary.BigEndian.PutUint32(id[12:], h.data)
	return Part{Number: 1, Size: size, DataID: id, K: 2, M: 2, Format: 1, BlockSize: 64 << 10, SetID: 1}
}

func (h *versionsHarness) object(vid string, size int64) Object {
	p := h.part(size)
	return Object{KeyVersion: 1, VersionID: vid, Size: size, Parts: []Part{p}}
}

// put writes bucket/key with the random version id part vid.
func (h *versionsHarness) put(bucket, key, vid string) (*Result, Object) {
	h.t.Helper()
	o := h.object(vid, 100+int64(h.data))
	return h.ok(&PutObject{Bucket: bucket, Key: key, Tenant: "t", Object: o}), o
}

func (h *versionsHarness) del(bucket, key, versionID string) *Result {
	h.t.Helper()
	return h.ok(&DeleteObject{Bucket: bucket, Key: key, Tenant: "t", VersionID: versionID, MarkerID: fmt.Sprintf("%016x", 0xAA00+h.ids)})
}

func (h *versionsHarness) current(bucket, key string) (*Object, bool) {
	var o *Object
	var ok bool
	h.f.View(func(r *Reader) error {
		var err error
		o, ok, err = r.Object(bucket, key)
		if err != nil {
			h.t.Fatal(err)
		}
		return nil
	})
	return o, ok
}

func (h *versionsHarness) version(bucket, key, id string) (o *Object, latest, ok bool) {
	h.f.View(func(r *Reader) error {
		var err error
		o, latest, ok, err = r.Version(bucket, key, id)
		if err != nil {
			h.t.Fatal(err)
		}
		return nil
	})
	return o, latest, ok
}

func (h *versionsHarness) list(bucket, prefix, delimiter, keyMarker, versionMarker string, max int) (entries []VersionEntry, prefixes []string, truncated bool, nextKey, nextVersion string) {
	h.t.Helper()
	h.f.View(func(r *Reader) error {
		var err error
		entries, prefixes, truncated, nextKey, nextVersion, err = r.ListVersions(bucket, prefix, delimiter, keyMarker, versionMarker, max)
		if err != nil {
			h.t.Fatal(err)
		}
		return nil
	})
	return
}

// versionsOfKey describes a key's versions as ListVersions has them,
// newest first: "id" or "id(marker)", with a "*" on the latest.
func (h *versionsHarness) versionsOfKey(bucket, key string) []string {
	h.t.Helper()
	es, _, _, _, _ := h.list(bucket, key, "", "", "", 10000)
	var out []string
	for _, e := range es {
		if e.Key != key {
			continue
		}
		s := e.Object.S3VersionID()
		if e.Object.DeleteMarker {
			s += "(marker)"
		}
		if e.Latest {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func (h *versionsHarness) wantVersions(bucket, key string, want ...string) {
	h.t.Helper()
	if got := h.versionsOfKey(bucket, key); !slices.Equal(got, want) {
		h.t.Errorf("versions of %s/%s:\n got %q\nwant %q", bucket, key, got, want)
	}
}

func (h *versionsHarness) usage(bucket string) Usage {
	return usageRows(h.t, h.fsmHarness)[string(usageKey("t", bucket))]
}

func (h *versionsHarness) referenced(id []byte) (part bool, index bool) {
	h.f.View(func(r *Reader) error {
		_, part, _ = r.PartOf(id)
		index = r.Referenced(id)
		return nil
	})
	return part, index
}

// checkInvariants: the usage rows are what a scan computes, the set index
// what a scan of dataids computes, and the dataids index resolves exactly
// the streams the object versions and upload parts hold.
func (h *versionsHarness) checkInvariants(what string) {
	h.t.Helper()
	got, want := usageRows(h.t, h.fsmHarness), recomputed(h.t, h.fsmHarness)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("after %s: the usage rows\n%v\ndiffer from a scan's\n%v", what, got, want)
	}
	checkSetIndex(h.t, h.fsmHarness, what)
	checkDataIDs(h.t, h.fsmHarness, what)
}

// checkDataIDs compares the dataids index with the streams the records
// hold: every object version's (current or not) and every upload part's
// stream resolves through it, and every entry resolves.
func checkDataIDs(t *testing.T, h *fsmHarness, what string) {
	t.Helper()
	held := map[string]bool{}
	h.f.View(func(r *Reader) error {
		for _, root := range [][]byte{bObjects, bVersions} {
			r.tx.Bucket(root).ForEach(func(name, _ []byte) error {
				return r.tx.Bucket(root).Bucket(name).ForEach(func(k, v []byte) error {
					var o Object
					if err := unmarshal(v, &o); err != nil {
						t.Fatal(err)
					}
					for _, p := range o.Parts {
						held[hex.EncodeToString(p.DataID)] = true
					}
					return nil
				})
			})
		}
		r.tx.Bucket(bParts).ForEach(func(k, v []byte) error {
			var p Part
			if err := unmarshal(v, &p); err != nil {
				t.Fatal(err)
			}
			held[hex.EncodeToString(p.DataID)] = true
			return nil
		})
		return r.tx.Bucket(bDataIDs).ForEach(func(k, v []byte) error {
			_, ok, err := r.holderOf(k, v)
			if err != nil {
				t.Fatal(err)
			}
			id := hex.EncodeToString(k)
			if !ok {
				t.Fatalf("after %s: dataids entry %s names no holder", what, id)
			}
			if !held[id] {
				t.Fatalf("after %s: dataids entry %s names a stream no record holds", what, id)
			}
			delete(held, id)
			return nil
		})
	})
	if len(held) > 0 {
		t.Fatalf("after %s: streams held but not in the dataids index: %v", what, held)
	}
}

func rnd(n int) string { return fmt.Sprintf("%016x", 0x5000+n) }

// In an enabled bucket every write keeps what it follows: ids are
// distinct and ordered, each is found by id, a DELETE without one adds a
// delete marker, and removing versions by id promotes the newest remaining
// one back to current.
func TestVersioningEnabled(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	r1, o1 := h.put("b", "k", rnd(1))
	r2, o2 := h.put("b", "k", rnd(2))
	v1, v2 := r1.VersionID, r2.VersionID
	if len(v1) != 32 || len(v2) != 32 || v1 == v2 || v1 >= v2 || !strings.HasSuffix(v1, rnd(1)) {
		t.Fatalf("version ids %q, %q", v1, v2)
	}
	if len(r2.Garbage) != 0 || r2.Replaced != nil {
		t.Fatalf("an overwrite in an enabled bucket gave away the version it follows: %+v", r2)
	}
	h.wantVersions("b", "k", v2+"*", v1)
	if u := h.usage("b"); u.Objects != 2 || u.Bytes != o1.Size+o2.Size {
		t.Fatalf("usage %+v", u)
	}
	for _, c := range []struct {
		id     string
		want   string
		latest bool
	}{{v1, o1.VersionID, false}, {v2, o2.VersionID, true}, {"", o2.VersionID, true}} {
		o, latest, ok := h.version("b", "k", c.id)
		if !ok || o.VersionID != c.want || latest != c.latest {
			t.Errorf("Version(%q): %+v latest %v ok %v", c.id, o, latest, ok)
		}
	}
	for _, bad := range []string{v1[:16] + rnd(9), "null", "0000000000000999" + rnd(1), "nonsense"} {
		if o, _, ok := h.version("b", "k", bad); ok {
			t.Errorf("Version(%q) found %+v", bad, o)
		}
	}
	if cur, ok := h.current("b", "k"); !ok || cur.VersionID != o2.VersionID {
		t.Fatalf("current %+v", cur)
	}

	// A delete marker hides the key.
	rm := h.del("b", "k", "")
	if !rm.DeleteMarker || len(rm.VersionID) != 32 || rm.VersionID <= v2 || len(rm.Garbage) != 0 {
		t.Fatalf("delete without id: %+v", rm)
	}
	marker := rm.VersionID
	if _, ok := h.current("b", "k"); ok {
		t.Fatal("Object finds a key whose current version is a delete marker")
	}
	if o, latest, ok := h.version("b", "k", ""); !ok || !o.DeleteMarker || !latest {
		t.Errorf("Version(\"\") under a marker: %+v %v %v", o, latest, ok)
	}
	if o, latest, ok := h.version("b", "k", marker); !ok || !o.DeleteMarker || !latest {
		t.Errorf("Version(marker): %+v %v %v", o, latest, ok)
	}
	if o, latest, ok := h.version("b", "k", v2); !ok || latest || o.VersionID != o2.VersionID {
		t.Errorf("Version(v2) under a marker: %+v %v %v", o, latest, ok)
	}
	h.wantVersions("b", "k", marker+"(marker)*", v2, v1)
	if u := h.usage("b"); u.Objects != 3 || u.Bytes != 201 {
		t.Fatalf("two versions and a marker (an object of no bytes): %+v", u)
	}

	// Removing the marker by id brings v2 back.
	if r := h.del("b", "k", marker); !r.DeleteMarker || r.VersionID != marker || len(r.Garbage) != 0 {
		t.Fatalf("delete of the marker: %+v", r)
	}
	if cur, ok := h.current("b", "k"); !ok || cur.VersionID != o2.VersionID {
		t.Errorf("after removing the delete marker by id, Object finds %+v, %v; want the version under it (%s)", cur, ok, v2)
	}
	h.wantVersions("b", "k", v2+"*", v1)
	if o, latest, ok := h.version("b", "k", v2); !ok || !latest || o.VersionID != o2.VersionID {
		t.Errorf("Version(v2) after the marker's removal: %+v %v %v", o, latest, ok)
	}

	// Removing the current version by id promotes the previous one.
	r := h.del("b", "k", v2)
	if r.DeleteMarker || r.VersionID != v2 || len(r.Garbage) != 1 || !bytes.Equal(r.Garbage[0].DataID, o2.Parts[0].DataID) {
		t.Fatalf("delete of the current version: %+v", r)
	}
	if cur, ok := h.current("b", "k"); !ok || cur.VersionID != o1.VersionID {
		t.Fatalf("after removing the current version, Object finds %+v, %v; want v1", cur, ok)
	}
	h.wantVersions("b", "k", v1+"*")

	// Removing a noncurrent version leaves the current one.
	r3, o3 := h.put("b", "k", rnd(3))
	r = h.del("b", "k", v1)
	if r.VersionID != v1 || len(r.Garbage) != 1 || !bytes.Equal(r.Garbage[0].DataID, o1.Parts[0].DataID) {
		t.Fatalf("delete of a noncurrent version: %+v", r)
	}
	if cur, ok := h.current("b", "k"); !ok || cur.VersionID != o3.VersionID {
		t.Fatalf("current %+v", cur)
	}
	h.wantVersions("b", "k", r3.VersionID+"*")
	if u := h.usage("b"); u.Objects != 1 || u.Bytes != o3.Size {
		t.Fatalf("usage %+v", u)
	}

	// An id that names nothing deletes nothing; a malformed one is refused.
	if r := h.del("b", "k", v1); len(r.Garbage) != 0 || r.DeleteMarker {
		t.Errorf("delete of a gone version: %+v", r)
	}
	if r := h.del("b", "k", "null"); len(r.Garbage) != 0 {
		t.Errorf("delete of a null version there is not: %+v", r)
	}
	h.refused("a malformed version id", &DeleteObject{Bucket: "b", Key: "k", Tenant: "t", VersionID: "z z"}, objapi.KindInvalidArgument, "")
	h.wantVersions("b", "k", r3.VersionID+"*")

	// The last version removed by id leaves nothing.
	h.del("b", "k", r3.VersionID)
	h.wantVersions("b", "k")
	if _, _, ok := h.version("b", "k", ""); ok {
		t.Error("a key without versions has a current one")
	}
}

// Deleting a delete marker by id, through DeleteObjects' entries, brings
// the version under it back too; each entry's outcome is reported.
func TestVersioningDeleteObjectsEntries(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	r1, o1 := h.put("b", "k", rnd(1))
	h.put("b", "j", rnd(2))
	res := h.ok(&DeleteObjects{Bucket: "b", Tenant: "t", Entries: []DeleteEntry{{Key: "k", MarkerID: rnd(3)}, {Key: "j", MarkerID: rnd(4)}}})
	if len(res.Entries) != 2 || !res.Entries[0].DeleteMarker || !res.Entries[1].DeleteMarker || res.Entries[0].VersionID == "" {
		t.Fatalf("entries %+v", res.Entries)
	}
	marker := res.Entries[0].VersionID
	h.wantVersions("b", "k", marker+"(marker)*", r1.VersionID)
	res = h.ok(&DeleteObjects{Bucket: "b", Tenant: "t", Entries: []DeleteEntry{{Key: "k", VersionID: marker}, {Key: "k", VersionID: "bad id"}}})
	if len(res.Entries) != 2 || res.Entries[0].VersionID != marker || !res.Entries[0].DeleteMarker || !res.Entries[1].Failed ||
		objapi.Kind(res.Entries[1].Kind) != objapi.KindInvalidArgument {
		t.Fatalf("entries %+v", res.Entries)
	}
	if cur, ok := h.current("b", "k"); !ok || cur.VersionID != o1.VersionID {
		t.Errorf("after DeleteObjects removed the delete marker by id, Object finds %+v, %v; want the version under it", cur, ok)
	}
}

// With versioning suspended a PUT replaces the key's null version wherever
// it is and a DELETE makes a null delete marker; objects written before
// versioning are their keys' null versions, the oldest.
func TestVersioningSuspended(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOff, false)
	_, o0 := h.put("b", "k", rnd(0))
	_, j0 := h.put("b", "j", rnd(10))
	if o0c, _ := h.current("b", "k"); o0c.Seq != 0 || o0c.Versioned {
		t.Fatalf("an unversioned bucket's object: %+v", o0c)
	}
	h.wantVersions("b", "k", "null*")
	h.ok(&SetVersioning{Bucket: "b", Tenant: "t", State: VersioningOn})
	h.wantVersions("b", "k", "null*")
	r1, o1 := h.put("b", "k", rnd(1))
	v1 := r1.VersionID
	h.wantVersions("b", "k", v1+"*", "null")
	if o, latest, ok := h.version("b", "k", "null"); !ok || latest || o.VersionID != o0.VersionID {
		t.Fatalf("the null version: %+v %v %v", o, latest, ok)
	}
	r2, o2 := h.put("b", "k", rnd(2))
	h.wantVersions("b", "k", r2.VersionID+"*", v1, "null")

	h.ok(&SetVersioning{Bucket: "b", Tenant: "t", State: VersioningSuspended})
	// The noncurrent null version (o0, Seq 0) goes.
	r3, o3 := h.put("b", "k", rnd(3))
	if r3.VersionID != "null" || len(r3.Garbage) != 1 || !bytes.Equal(r3.Garbage[0].DataID, o0.Parts[0].DataID) {
		t.Fatalf("suspended put over a noncurrent null version: %+v", r3)
	}
	h.wantVersions("b", "k", "null*", r2.VersionID, v1)
	if o, _, _ := h.version("b", "k", "null"); o.VersionID != o3.VersionID || o.Seq == 0 || o.Versioned {
		t.Fatalf("the null version: %+v", o)
	}
	// The current null version is replaced.
	r4, o4 := h.put("b", "k", rnd(4))
	if r4.VersionID != "null" || len(r4.Garbage) != 1 || !bytes.Equal(r4.Garbage[0].DataID, o3.Parts[0].DataID) || r4.Replaced == nil {
		t.Fatalf("suspended put over the current null version: %+v", r4)
	}
	h.wantVersions("b", "k", "null*", r2.VersionID, v1)
	if u := h.usage("b"); u.Objects != 4 || u.Bytes != o4.Size+o2.Size+o1.Size+j0.Size {
		t.Fatalf("usage %+v", u)
	}
	// A DELETE removes the null version and adds a null marker.
	rd := h.del("b", "k", "")
	if rd.VersionID != "null" || !rd.DeleteMarker || len(rd.Garbage) != 1 || !bytes.Equal(rd.Garbage[0].DataID, o4.Parts[0].DataID) {
		t.Fatalf("suspended delete: %+v", rd)
	}
	h.wantVersions("b", "k", "null(marker)*", r2.VersionID, v1)
	if _, ok := h.current("b", "k"); ok {
		t.Fatal("a key under a null marker has a current object")
	}
	// Again: the marker replaces the marker.
	rd = h.del("b", "k", "")
	if rd.VersionID != "null" || !rd.DeleteMarker || len(rd.Garbage) != 0 {
		t.Fatalf("second suspended delete: %+v", rd)
	}
	h.wantVersions("b", "k", "null(marker)*", r2.VersionID, v1)
	// A PUT replaces the null marker.
	r5, o5 := h.put("b", "k", rnd(5))
	if r5.VersionID != "null" {
		t.Fatalf("put: %+v", r5)
	}
	h.wantVersions("b", "k", "null*", r2.VersionID, v1)
	if cur, ok := h.current("b", "k"); !ok || cur.VersionID != o5.VersionID {
		t.Fatalf("current %+v", cur)
	}
	// With a versioned current version, the suspended DELETE keeps it as a
	// noncurrent version.
	h.ok(&SetVersioning{Bucket: "b", Tenant: "t", State: VersioningOn})
	r6, _ := h.put("b", "k", rnd(6))
	h.wantVersions("b", "k", r6.VersionID+"*", "null", r2.VersionID, v1)
	h.ok(&SetVersioning{Bucket: "b", Tenant: "t", State: VersioningSuspended})
	rd = h.del("b", "k", "")
	if rd.VersionID != "null" || len(rd.Garbage) != 1 || !bytes.Equal(rd.Garbage[0].DataID, o5.Parts[0].DataID) {
		t.Fatalf("suspended delete over a versioned current version: %+v", rd)
	}
	h.wantVersions("b", "k", "null(marker)*", r6.VersionID, r2.VersionID, v1)
	// The pre-versioning object of j (Seq 0, current) is its null version.
	rd = h.del("b", "j", "")
	if rd.VersionID != "null" || len(rd.Garbage) != 1 || !bytes.Equal(rd.Garbage[0].DataID, j0.Parts[0].DataID) {
		t.Fatalf("suspended delete of a pre-versioning object: %+v", rd)
	}
	h.wantVersions("b", "j", "null(marker)*")
	// Unversioned again? Never: the states are On and Suspended.
	h.refused("versioning off", &SetVersioning{Bucket: "b", Tenant: "t", State: VersioningOff}, objapi.KindMalformedXML, "")
	h.refused("another tenant", &SetVersioning{Bucket: "b", Tenant: "nobody", State: VersioningOn}, objapi.KindAccessDenied, "")
	h.refused("no such bucket", &SetVersioning{Bucket: "nope", Tenant: "t", State: VersioningOn}, objapi.KindNoSuchBucket, "")
}

// A pre-versioning object (Seq 0) under later versions is found, listed
// oldest and deleted by "null".
func TestVersioningNullVersionOfOldObject(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOff, false)
	_, o0 := h.put("b", "k", rnd(0))
	h.ok(&SetVersioning{Bucket: "b", Tenant: "t", State: VersioningOn})
	r1, _ := h.put("b", "k", rnd(1))
	r2, _ := h.put("b", "k", rnd(2))
	h.wantVersions("b", "k", r2.VersionID+"*", r1.VersionID, "null")
	if part, _ := h.referenced(o0.Parts[0].DataID); !part {
		t.Error("the stream of a pre-versioning object is unreferenced once it is noncurrent")
	}
	r := h.del("b", "k", "null")
	if r.VersionID != "null" || len(r.Garbage) != 1 {
		t.Fatalf("delete of the null version: %+v", r)
	}
	h.wantVersions("b", "k", r2.VersionID+"*", r1.VersionID)
	if _, index := h.referenced(o0.Parts[0].DataID); index {
		t.Error("a removed version's stream stays in dataids")
	}
}

// ListVersions pages through every version of many keys exactly once, in
// order (keys ascending, a key's versions newest first), whatever the page
// size, with and without a delimiter.
func TestListVersionsPaging(t *testing.T) {
	h := newVersionsHarness(t)
	h.check = false
	h.bucket("b", VersioningOff, false)
	// want is the listing a model keeps: key → ids, newest first.
	want := map[string][]string{}
	keys := []string{"a", "a/x", "b", "b/1", "b/2", "b/3/z", "c", "d", "e/f"}
	for _, k := range keys[:4] {
		h.put("b", k, rnd(0))
		want[k] = []string{"null"}
	}
	h.ok(&SetVersioning{Bucket: "b", Tenant: "t", State: VersioningOn})
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 80 {
		k := keys[rng.IntN(len(keys))]
		var id string
		if rng.IntN(4) == 0 {
			id = h.del("b", k, "").VersionID + "(marker)"
		} else {
			r, _ := h.put("b", k, rnd(i+1))
			id = r.VersionID
		}
		want[k] = append([]string{id}, want[k]...)
	}
	// One key whose versions are all markers, one with a marker under an
	// object.
	want["m"] = []string{h.del("b", "m", "").VersionID + "(marker)"}
	var all []string // "key@id"
	for _, k := range slices.Sorted(maps.Keys(want)) {
		for _, id := range want[k] {
			all = append(all, k+"@"+id)
		}
	}
	describe := func(es []VersionEntry) []string {
		var out []string
		for _, e := range es {
			s := e.Key + "@" + e.Object.S3VersionID()
			if e.Object.DeleteMarker {
				s += "(marker)"
			}
			out = append(out, s)
		}
		return out
	}
	es, ps, trunc, _, _ := h.list("b", "", "", "", "", 10000)
	if got := describe(es); !slices.Equal(got, all) || len(ps) != 0 || trunc {
		t.Fatalf("the full listing\n got %q\nwant %q", got, all)
	}
	for i, e := range es {
		if first := i == 0 || es[i-1].Key != e.Key; e.Latest != first {
			t.Errorf("%s@%s: latest %v", e.Key, e.Object.S3VersionID(), e.Latest)
		}
	}
	for _, max := range []int{1, 2, 3, 7, 50} {
		var got []string
		km, vm := "", ""
		for pages := 0; ; pages++ {
			if pages > len(all)+2 {
				t.Fatalf("max %d: no end", max)
			}
			es, _, trunc, nk, nv := h.list("b", "", "", km, vm, max)
			if len(es) > max {
				t.Fatalf("max %d: a page of %d", max, len(es))
			}
			got = append(got, describe(es)...)
			if !trunc {
				break
			}
			if len(es) == 0 {
				t.Fatalf("max %d: a truncated empty page", max)
			}
			km, vm = nk, nv
		}
		if !slices.Equal(got, all) {
			t.Errorf("max %d: paged listing\n got %q\nwant %q", max, got, all)
		}
	}
	// A key marker alone starts after the key.
	es, _, _, _, _ = h.list("b", "", "", "b/2", "", 10000)
	if len(es) == 0 || es[0].Key <= "b/2" {
		t.Errorf("after key marker b/2: %q", describe(es))
	}
	// A prefix.
	es, _, _, _, _ = h.list("b", "b/", "", "", "", 10000)
	for _, e := range es {
		if !strings.HasPrefix(e.Key, "b/") {
			t.Errorf("prefix b/: %q", e.Key)
		}
	}
	if n := len(want["b/1"]) + len(want["b/2"]) + len(want["b/3/z"]); len(es) != n {
		t.Errorf("prefix b/: %d versions, want %d", len(es), n)
	}
	// A delimiter rolls keys up into common prefixes, each once, in order
	// with the keys, across pages.
	var wantDelim []string
	seenCP := map[string]bool{}
	for _, s := range all {
		k := s[:strings.Index(s, "@")]
		if i := strings.Index(k, "/"); i >= 0 {
			if cp := k[:i+1]; !seenCP[cp] {
				seenCP[cp] = true
				wantDelim = append(wantDelim, "prefix "+cp)
			}
			continue
		}
		wantDelim = append(wantDelim, s)
	}
	for _, max := range []int{1, 2, 5, 1000} {
		var got []string
		km, vm := "", ""
		for pages := 0; pages < 1000; pages++ {
			es, ps, trunc, nk, nv := h.list("b", "", "/", km, vm, max)
			if len(es)+len(ps) > max {
				t.Fatalf("max %d: %d entries and prefixes", max, len(es)+len(ps))
			}
			// Merge entries and prefixes in key order.
			var page []string
			i, j := 0, 0
			for i < len(es) || j < len(ps) {
				if j == len(ps) || i < len(es) && es[i].Key < ps[j] {
					page = append(page, describe(es[i:i+1])...)
					i++
				} else {
					page = append(page, "prefix "+ps[j])
					j++
				}
			}
			got = append(got, page...)
			if !trunc {
				break
			}
			km, vm = nk, nv
		}
		if !slices.Equal(got, wantDelim) {
			t.Errorf("delimiter, max %d:\n got %q\nwant %q", max, got, wantDelim)
		}
	}
	// Under a prefix with the delimiter.
	_, ps, _, _, _ = h.list("b", "b/", "/", "", "", 1000)
	if !slices.Equal(ps, []string{"b/3/"}) {
		t.Errorf("prefixes under b/: %q", ps)
	}
	// max bounds a page; the next page starts at the marker's next version.
	es, _, trunc, nk, nv := h.list("b", "", "", "", "", 2)
	if !trunc || len(es) != 2 || nk != es[1].Key || nv != es[1].Object.S3VersionID() {
		t.Errorf("max 2: %d entries, truncated %v, next %q %q", len(es), trunc, nk, nv)
	}
}

// A version-id-marker that names a version removed since the last page
// does not make the listing skip the key's older versions.
func TestListVersionsMarkerVersionGone(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	var ids []string
	for i := range 4 {
		r, _ := h.put("b", "k", rnd(i))
		ids = append([]string{r.VersionID}, ids...)
	}
	es, _, trunc, nk, nv := h.list("b", "", "", "", "", 2)
	if !trunc || len(es) != 2 || nv != ids[1] {
		t.Fatalf("page 1: %d %v %q %q", len(es), trunc, nk, nv)
	}
	h.del("b", "k", ids[1]) // the marker version goes meanwhile
	es, _, _, _, _ = h.list("b", "", "", nk, nv, 10)
	var got []string
	for _, e := range es {
		got = append(got, e.Object.S3VersionID())
	}
	if !slices.Equal(got, ids[2:]) {
		t.Errorf("after a marker version removed meanwhile: got %q, want the older versions %q", got, ids[2:])
	}
}

func (h *versionsHarness) bucketRecord(name string) *Bucket {
	var b *Bucket
	h.f.View(func(r *Reader) error {
		var ok bool
		var err error
		b, ok, err = r.Bucket(name)
		if err != nil || !ok {
			h.t.Fatalf("bucket %s: %v %v", name, ok, err)
		}
		return nil
	})
	return b
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// Object lock: a bucket made with it is versioned for good; default
// retention dates new versions from the FSM clock; COMPLIANCE keeps a
// version from removal by anyone, GOVERNANCE from anyone without a bypass,
// a legal hold from everyone, until the FSM clock passes the date or the
// hold is lifted. A DELETE without a version id still adds a marker.
func TestObjectLock(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("lk", VersioningOn, true)
	if b := h.bucketRecord("lk"); !b.ObjectLock || b.Versioning != VersioningOn {
		t.Fatalf("a bucket made with object lock: %+v", b)
	}
	h.refused("suspending under object lock", &SetVersioning{Bucket: "lk", Tenant: "t", State: VersioningSuspended}, objapi.KindInvalidBucketState, "")
	h.ok(&SetVersioning{Bucket: "lk", Tenant: "t", State: VersioningOn})
	h.bucket("plain", VersioningOff, false)
	h.refused("lock on an unversioned bucket", &SetBucketLock{Bucket: "plain", Tenant: "t"}, objapi.KindInvalidBucketState, "Versioning must be 'Enabled'")
	h.ok(&SetVersioning{Bucket: "plain", Tenant: "t", State: VersioningSuspended})
	h.refused("lock on a suspended bucket", &SetBucketLock{Bucket: "plain", Tenant: "t"}, objapi.KindInvalidBucketState, "")
	h.refused("a version's lock in a bucket without", &PutObject{Bucket: "plain", Key: "x", Tenant: "t",
		Object: Object{KeyVersion: 1, LockMode: objapi.LockGovernance, LockUntil: h.now + int64(days(1))}}, objapi.KindInvalidRequest, "")
	h.refused("retention in a bucket without lock", &SetObjectLock{Bucket: "plain", Key: "x", Tenant: "t", Retention: true, Mode: objapi.LockGovernance, Until: h.now}, objapi.KindInvalidRequest, "")
	for _, bad := range []LockConfig{{Mode: "NONE", Days: 1}, {Mode: objapi.LockGovernance}, {Mode: objapi.LockGovernance, Days: 1, Years: 1}, {Mode: objapi.LockCompliance, Days: -1}} {
		h.refused(fmt.Sprintf("default %+v", bad), &SetBucketLock{Bucket: "lk", Tenant: "t", Default: bad}, objapi.KindMalformedXML, "")
	}
	// Enabling lock on a versioned bucket.
	h.bucket("later", VersioningOn, false)
	h.ok(&SetBucketLock{Bucket: "later", Tenant: "t"})
	if b := h.bucketRecord("later"); !b.ObjectLock {
		t.Fatalf("lock enabled later: %+v", b)
	}
	h.refused("suspending after lock", &SetVersioning{Bucket: "later", Tenant: "t", State: VersioningSuspended}, objapi.KindInvalidBucketState, "")

	// Default retention: GOVERNANCE for 2 days, from the FSM clock.
	h.tick(time.Hour)
	h.ok(&SetBucketLock{Bucket: "lk", Tenant: "t", Default: LockConfig{Mode: objapi.LockGovernance, Days: 2}})
	gr, _ := h.put("lk", "gov", rnd(1))
	g, _, _ := h.version("lk", "gov", gr.VersionID)
	if g.LockMode != objapi.LockGovernance || g.LockUntil != h.now+int64(days(2)) {
		t.Fatalf("default GOVERNANCE retention: %s until %s, want until %s", g.LockMode, fmtTime(g.LockUntil), fmtTime(h.now+int64(days(2))))
	}
	h.ok(&SetBucketLock{Bucket: "lk", Tenant: "t", Default: LockConfig{Mode: objapi.LockCompliance, Years: 1}})
	cr, _ := h.put("lk", "comp", rnd(2))
	c, _, _ := h.version("lk", "comp", cr.VersionID)
	if wantUntil := time.Unix(0, h.now).UTC().AddDate(1, 0, 0).UnixNano(); c.LockMode != objapi.LockCompliance || c.LockUntil != wantUntil {
		t.Fatalf("default COMPLIANCE retention: %s until %s, want until %s", c.LockMode, fmtTime(c.LockUntil), fmtTime(wantUntil))
	}
	// A version's own retention wins over the default.
	explicit := h.object(rnd(3), 10)
	explicit.LockMode, explicit.LockUntil = objapi.LockGovernance, h.now+int64(time.Hour)
	er := h.ok(&PutObject{Bucket: "lk", Key: "own", Tenant: "t", Object: explicit})
	if o, _, _ := h.version("lk", "own", er.VersionID); o.LockMode != objapi.LockGovernance || o.LockUntil != explicit.LockUntil {
		t.Fatalf("own retention: %+v", o)
	}
	// No default: none.
	h.ok(&SetBucketLock{Bucket: "lk", Tenant: "t"})
	fr, _ := h.put("lk", "free", rnd(4))
	if o, _, _ := h.version("lk", "free", fr.VersionID); o.LockMode != "" || o.LockUntil != 0 {
		t.Fatalf("without a default: %+v", o)
	}

	delByID := func(key, id string, bypass bool) *Result {
		return h.do(&DeleteObject{Bucket: "lk", Key: key, Tenant: "t", VersionID: id, Bypass: bypass})
	}
	denied := func(what string, r *Result) {
		t.Helper()
		if r.Err == nil || r.Err.Kind != objapi.KindAccessDenied {
			t.Errorf("%s: %v, want access denied", what, r.Err)
		}
	}
	denied("COMPLIANCE", delByID("comp", cr.VersionID, false))
	denied("COMPLIANCE with a bypass", delByID("comp", cr.VersionID, true))
	denied("GOVERNANCE", delByID("gov", gr.VersionID, false))
	if _, _, ok := h.version("lk", "comp", cr.VersionID); !ok {
		t.Fatal("a refused deletion removed the version")
	}
	// Markers may always be added, and the locked version stays.
	mr := h.del("lk", "comp", "")
	if !mr.DeleteMarker {
		t.Fatalf("a marker over a locked version: %+v", mr)
	}
	h.wantVersions("lk", "comp", mr.VersionID+"(marker)*", cr.VersionID)
	denied("COMPLIANCE, noncurrent", delByID("comp", cr.VersionID, true))
	// DeleteObjects entries report the refusal each.
	res := h.ok(&DeleteObjects{Bucket: "lk", Tenant: "t", Entries: []DeleteEntry{{Key: "comp", VersionID: cr.VersionID}, {Key: "free", VersionID: fr.VersionID}}})
	if len(res.Entries) != 2 || !res.Entries[0].Failed || objapi.Kind(res.Entries[0].Kind) != objapi.KindAccessDenied || res.Entries[1].Failed {
		t.Fatalf("entries %+v", res.Entries)
	}
	if r := delByID("gov", gr.VersionID, true); r.Err != nil {
		t.Fatalf("GOVERNANCE with a bypass: %v", r.Err)
	}
	h.wantVersions("lk", "gov")

	// Legal hold: nobody removes it, whatever the retention.
	h.ok(&SetObjectLock{Bucket: "lk", Key: "own", Tenant: "t", LegalHold: true, Hold: true})
	h.now = explicit.LockUntil + 1
	h.tick(0)
	denied("legal hold", delByID("own", er.VersionID, true))
	h.ok(&SetObjectLock{Bucket: "lk", Key: "own", Tenant: "t", VersionID: er.VersionID, LegalHold: true, Hold: false})
	if r := delByID("own", er.VersionID, false); r.Err != nil {
		t.Fatalf("expired retention, hold lifted: %v", r.Err)
	}

	// Past the retention, COMPLIANCE versions go.
	h.now = c.LockUntil
	h.tick(0)
	if r := delByID("comp", cr.VersionID, false); r.Err != nil {
		t.Fatalf("at its retain-until date: %v", r.Err)
	}
	h.wantVersions("lk", "comp", mr.VersionID+"(marker)*")
}

// SetObjectLock: COMPLIANCE is never shortened, removed or weakened before
// it ends, only lengthened; GOVERNANCE is shortened or removed only with a
// bypass, and may be strengthened.
func TestSetObjectLock(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("lk", VersioningOn, true)
	cr, _ := h.put("lk", "k", rnd(1))
	cu := h.now + int64(days(10))
	set := func(id, mode string, until int64, bypass bool) *Result {
		return h.do(&SetObjectLock{Bucket: "lk", Key: "k", Tenant: "t", VersionID: id, Retention: true, Mode: mode, Until: until, Bypass: bypass})
	}
	lock := func(id string) (string, int64) {
		o, _, ok := h.version("lk", "k", id)
		if !ok {
			t.Fatalf("version %s gone", id)
		}
		return o.LockMode, o.LockUntil
	}
	if r := set(cr.VersionID, objapi.LockCompliance, cu, false); r.Err != nil || r.VersionID != cr.VersionID {
		t.Fatalf("setting COMPLIANCE: %+v", r)
	}
	for _, c := range []struct {
		what  string
		mode  string
		until int64
	}{{"shortening", objapi.LockCompliance, cu - 1}, {"removing", "", 0}, {"weakening", objapi.LockGovernance, cu + 1}} {
		for _, bypass := range []bool{false, true} {
			if r := set(cr.VersionID, c.mode, c.until, bypass); r.Err == nil || r.Err.Kind != objapi.KindAccessDenied || !strings.Contains(r.Err.Msg, fmtTime(cu)) {
				t.Errorf("%s COMPLIANCE (bypass %v): %v", c.what, bypass, r.Err)
			}
		}
	}
	if m, u := lock(cr.VersionID); m != objapi.LockCompliance || u != cu {
		t.Fatalf("after refusals: %s %s", m, fmtTime(u))
	}
	if r := set(cr.VersionID, objapi.LockCompliance, cu+int64(days(1)), false); r.Err != nil {
		t.Fatalf("lengthening COMPLIANCE: %v", r.Err)
	}
	if m, u := lock(cr.VersionID); m != objapi.LockCompliance || u != cu+int64(days(1)) {
		t.Fatalf("lengthened: %s %s", m, fmtTime(u))
	}

	// A noncurrent GOVERNANCE version.
	h.put("lk", "k", rnd(2))
	gu := h.now + int64(days(5))
	if r := set(cr.VersionID, objapi.LockCompliance, cu+int64(days(1)), false); r.Err != nil {
		t.Fatalf("the same COMPLIANCE again: %v", r.Err)
	}
	gr, _ := h.put("lk", "g", rnd(3))
	setG := func(mode string, until int64, bypass bool) *Result {
		return h.do(&SetObjectLock{Bucket: "lk", Key: "g", Tenant: "t", VersionID: gr.VersionID, Retention: true, Mode: mode, Until: until, Bypass: bypass})
	}
	h.put("lk", "g", rnd(4)) // gr noncurrent
	if r := setG(objapi.LockGovernance, gu, false); r.Err != nil {
		t.Fatalf("GOVERNANCE on a noncurrent version: %v", r.Err)
	}
	if o, latest, _ := h.version("lk", "g", gr.VersionID); latest || o.LockMode != objapi.LockGovernance || o.LockUntil != gu {
		t.Fatalf("noncurrent version's retention: %+v", o)
	}
	if r := setG(objapi.LockGovernance, gu-1, false); r.Err == nil || r.Err.Kind != objapi.KindAccessDenied {
		t.Errorf("shortening GOVERNANCE without a bypass: %v", r.Err)
	}
	if r := setG("", 0, false); r.Err == nil || r.Err.Kind != objapi.KindAccessDenied {
		t.Errorf("removing GOVERNANCE without a bypass: %v", r.Err)
	}
	if r := setG(objapi.LockGovernance, gu+1, false); r.Err != nil {
		t.Errorf("lengthening GOVERNANCE: %v", r.Err)
	}
	if r := setG(objapi.LockGovernance, gu-1, true); r.Err != nil {
		t.Errorf("shortening GOVERNANCE with a bypass: %v", r.Err)
	}
	if r := setG("", 0, true); r.Err != nil {
		t.Errorf("removing GOVERNANCE with a bypass: %v", r.Err)
	}
	if o, _, _ := h.version("lk", "g", gr.VersionID); o.LockMode != "" || o.LockUntil != 0 {
		t.Errorf("removed retention: %+v", o)
	}
	if r := setG(objapi.LockGovernance, gu, false); r.Err != nil {
		t.Fatal(r.Err)
	}
	// Changing the mode alters GOVERNANCE retention too: the bypass is
	// needed even to make it COMPLIANCE.
	if r := setG(objapi.LockCompliance, gu+1, false); r.Err == nil || r.Err.Kind != objapi.KindAccessDenied {
		t.Errorf("GOVERNANCE to COMPLIANCE without a bypass: %v", r.Err)
	}
	if r := setG(objapi.LockCompliance, gu, true); r.Err != nil {
		t.Errorf("GOVERNANCE to COMPLIANCE with a bypass: %v", r.Err)
	}
	if r := setG("FOREVER", gu, false); r.Err == nil || r.Err.Kind != objapi.KindMalformedXML {
		t.Errorf("an unknown mode: %v", r.Err)
	}
	// Expired retention may be changed freely.
	h.now = cu + int64(days(2))
	h.tick(0)
	if r := set(cr.VersionID, "", 0, false); r.Err != nil {
		t.Errorf("removing expired COMPLIANCE: %v", r.Err)
	}
	// Markers and missing versions.
	mr := h.del("lk", "m", "")
	h.refused("lock on a marker", &SetObjectLock{Bucket: "lk", Key: "m", Tenant: "t", VersionID: mr.VersionID, LegalHold: true, Hold: true}, objapi.KindMethodNotAllowed, "")
	h.refused("lock on a current marker", &SetObjectLock{Bucket: "lk", Key: "m", Tenant: "t", LegalHold: true, Hold: true}, objapi.KindMethodNotAllowed, "")
	h.refused("no such version", &SetObjectLock{Bucket: "lk", Key: "k", Tenant: "t", VersionID: rnd(0) + rnd(0), LegalHold: true}, objapi.KindNoSuchVersion, "")
	h.refused("no such key", &SetObjectLock{Bucket: "lk", Key: "none", Tenant: "t", LegalHold: true}, objapi.KindNoSuchKey, "")
}

// A tenant is not deleted while object lock protects any of its versions:
// COMPLIANCE retention and legal holds refuse it whatever the bypass (the
// message says until when), GOVERNANCE only without BypassGovernance.
func TestDeleteTenantUnderObjectLock(t *testing.T) {
	h := newVersionsHarness(t)
	tenantExists := func(id string) bool {
		var ok bool
		h.f.View(func(r *Reader) error {
			_, ok, _ = r.Tenant(id)
			return nil
		})
		return ok
	}
	mk := func(id string) {
		h.ok(&CreateTenant{Tenant: Tenant{ID: id, KeyVersion: 1}})
		h.ok(&CreateBucket{Name: id + "-lk", Tenant: id, ObjectLock: true})
	}
	putLocked := func(tenant, key, mode string, until int64, hold bool) {
		o := h.object(rnd(int(h.data)), 10)
		o.LockMode, o.LockUntil, o.LegalHold = mode, until, hold
		h.ok(&PutObject{Bucket: tenant + "-lk", Key: key, Tenant: tenant, Object: o})
	}
	until := h.now + int64(days(30))

	mk("comp")
	putLocked("comp", "k", objapi.LockCompliance, until, false)
	putLocked("comp", "k", "", 0, false) // the locked one noncurrent
	for _, bypass := range []bool{false, true} {
		r := h.do(&DeleteTenant{ID: "comp", BypassGovernance: bypass})
		if r.Err == nil || r.Err.Kind != objapi.KindAccessDenied || !strings.Contains(r.Err.Msg, fmtTime(until)) || !strings.Contains(r.Err.Msg, "comp-lk/k") {
			t.Errorf("deleting a tenant with COMPLIANCE versions (bypass %v): %v", bypass, r.Err)
		}
	}
	if !tenantExists("comp") {
		t.Fatal("refused, yet deleted")
	}

	mk("hold")
	putLocked("hold", "k", "", 0, true)
	for _, bypass := range []bool{false, true} {
		r := h.do(&DeleteTenant{ID: "hold", BypassGovernance: bypass})
		if r.Err == nil || r.Err.Kind != objapi.KindAccessDenied || !strings.Contains(r.Err.Msg, "legal hold") {
			t.Errorf("deleting a tenant with a legal hold (bypass %v): %v", bypass, r.Err)
		}
	}

	mk("gov")
	putLocked("gov", "k", objapi.LockGovernance, until, false)
	h.ok(&DeleteObject{Bucket: "gov-lk", Key: "k", Tenant: "gov", MarkerID: rnd(99)}) // a marker over it: still there
	r := h.do(&DeleteTenant{ID: "gov"})
	if r.Err == nil || r.Err.Kind != objapi.KindAccessDenied || !strings.Contains(r.Err.Msg, fmtTime(until)) {
		t.Errorf("deleting a tenant with GOVERNANCE versions, no bypass: %v", r.Err)
	}
	if r := h.do(&DeleteTenant{ID: "gov", BypassGovernance: true}); r.Err != nil {
		t.Errorf("deleting a tenant with GOVERNANCE versions, bypassing: %v", r.Err)
	}
	if tenantExists("gov") {
		t.Error("gov not deleted")
	}

	// Once retention ends, the COMPLIANCE tenant goes.
	h.now = until
	h.tick(0)
	if r := h.do(&DeleteTenant{ID: "comp"}); r.Err != nil {
		t.Errorf("deleting after retention: %v", r.Err)
	}
	// Lifting the hold lets the other go.
	b := "hold-lk"
	var id string
	h.f.View(func(r *Reader) error {
		o, _, _, _ := r.Version(b, "k", "")
		id = o.S3VersionID()
		return nil
	})
	h.ok(&SetObjectLock{Bucket: b, Key: "k", Tenant: "hold", VersionID: id, LegalHold: true, Hold: false})
	if r := h.do(&DeleteTenant{ID: "hold"}); r.Err != nil {
		t.Errorf("deleting after the hold is lifted: %v", r.Err)
	}
}

// A default retention runs from the commit of the version it protects:
// after a quiet spell (no command for longer than the retention), a new
// version is still protected for the whole period from its own commit.
func TestDefaultRetentionAfterAQuietSpell(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("lk", VersioningOn, true)
	h.ok(&SetBucketLock{Bucket: "lk", Tenant: "t", Default: LockConfig{Mode: objapi.LockCompliance, Days: 1}})
	h.now += int64(days(10)) // nothing committed for ten days
	r, _ := h.put("lk", "k", rnd(1))
	o, _, _ := h.version("lk", "k", r.VersionID)
	if want := h.now + int64(days(1)); o.LockUntil < want {
		t.Errorf("a version committed at %s under a 1-day COMPLIANCE default is retained until %s only, want %s", fmtTime(h.now), fmtTime(o.LockUntil), fmtTime(want))
	}
	h.now += int64(time.Second)
	if r := h.do(&DeleteObject{Bucket: "lk", Key: "k", Tenant: "t", VersionID: r.VersionID}); r.Err == nil {
		t.Error("a version under a 1-day COMPLIANCE default was removed a second after its commit")
	}
}

// The streams of noncurrent versions stay referenced (dataids resolve to
// the version, through its Seq), move with MoveStream naming the Seq, and
// become garbage when the version is removed.
func TestNoncurrentVersionStreams(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	r1, o1 := h.put("b", "k", rnd(1))
	r2, o2 := h.put("b", "k", rnd(2))
	id1, id2 := o1.Parts[0].DataID, o2.Parts[0].DataID
	stream := func(id []byte) *HeldStream {
		var s *HeldStream
		h.f.View(func(r *Reader) error {
			var ok bool
			var err error
			s, ok, err = r.Stream(id)
			if err != nil || !ok {
				t.Fatalf("stream %x: %v %v", id, ok, err)
			}
			return nil
		})
		return s
	}
	v1, _, _ := h.version("b", "k", r1.VersionID)
	if s := stream(id1); s.VersionID != o1.VersionID || s.Ref.Seq != v1.Seq || s.Ref.Key != "k" {
		t.Fatalf("the noncurrent version's stream: %+v", s)
	}
	var refs []StreamRef
	var streams []Part
	h.f.View(func(r *Reader) error {
		refs, _, _ = r.StreamRefs(nil, 100)
		streams, _, _ = r.Streams(nil, 100)
		return nil
	})
	if len(refs) != 2 || len(streams) != 2 {
		t.Fatalf("stream refs %+v, streams %+v", refs, streams)
	}
	for _, sr := range refs {
		if bytes.Equal(sr.Part.DataID, id1) && (sr.Seq != v1.Seq || sr.VersionID != o1.VersionID || sr.Tenant != "t") {
			t.Errorf("stream ref of the noncurrent version: %+v", sr)
		}
	}
	to := StreamLocation{DataID: bytes.Repeat([]byte{0xE1}, 16), SetID: 2, K: 2, M: 1, BlockSize: 64 << 10, Format: 1, Drives: []string{"n1/0", "n2/0", "n3/0"}}
	move := &MoveStream{Bucket: "b", Key: "k", VersionID: o1.VersionID, Number: 1, From: id1, To: to}
	h.refused("a move without the noncurrent version's Seq", move, objapi.KindConflict, "")
	move.Seq = v1.Seq
	wrong := *move
	wrong.VersionID = "other"
	h.refused("a move naming another version id", &wrong, objapi.KindConflict, "")
	r := h.ok(move)
	if len(r.Garbage) != 1 || !bytes.Equal(r.Garbage[0].DataID, id1) {
		t.Fatalf("move: %+v", r)
	}
	if o, latest, _ := h.version("b", "k", r1.VersionID); latest || !bytes.Equal(o.Parts[0].DataID, to.DataID) || o.Parts[0].SetID != 2 {
		t.Fatalf("the moved version: %+v", o)
	}
	if part, index := h.referenced(id1); part || index {
		t.Error("the moved-from stream stays referenced")
	}
	if part, _ := h.referenced(to.DataID); !part {
		t.Error("the moved-to stream is not referenced")
	}
	// The current version moves with its Seq too.
	v2, _, _ := h.version("b", "k", r2.VersionID)
	to2 := to
	to2.DataID = bytes.Repeat([]byte{0xE2}, 16)
	h.ok(&MoveStream{Bucket: "b", Key: "k", VersionID: o2.VersionID, Number: 1, From: id2, To: to2, Seq: v2.Seq})
	// A marker over both: both stay referenced.
	h.del("b", "k", "")
	for _, id := range [][]byte{to.DataID, to2.DataID} {
		if part, _ := h.referenced(id); !part {
			t.Errorf("%x unreferenced under a marker", id)
		}
	}
	// Removed, they are garbage.
	if r := h.del("b", "k", r1.VersionID); len(r.Garbage) != 1 || !bytes.Equal(r.Garbage[0].DataID, to.DataID) {
		t.Fatalf("removing v1: %+v", r)
	}
	if part, index := h.referenced(to.DataID); part || index {
		t.Error("a removed version's stream stays referenced")
	}
	if part, _ := h.referenced(to2.DataID); !part {
		t.Error("v2's stream unreferenced after v1's removal")
	}
	h.del("b", "k", r2.VersionID)
	if part, index := h.referenced(to2.DataID); part || index {
		t.Error("a removed version's stream stays referenced")
	}
}

// A PutObject applied again (its answer lost, its outcome no longer
// remembered: here, commands without ids) leaves the version and its
// streams as the first application made them, in a versioned bucket too.
func TestRepeatedPutInAVersionedBucket(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	o := h.object(rnd(1), 10)
	p := &PutObject{Bucket: "b", Key: "k", Tenant: "t", Object: o}
	first := h.apply(NewCommand(p))
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	h.put("b", "other", rnd(2)) // the counter moves on
	p2 := &PutObject{Bucket: "b", Key: "k", Tenant: "t", Object: o}
	if r := h.apply(NewCommand(p2)); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.wantVersions("b", "k", first.VersionID+"*")
	if part, _ := h.referenced(o.Parts[0].DataID); !part {
		t.Error("after the repeat, the version's stream no longer resolves through dataids (PartOf finds nothing): its entry names another Seq")
	}
	h.checkInvariants("the repeated put")
}

// StaleObjects finds every version not under the current tenant key,
// current or not, exactly once however it pages — also when a page fills
// up at the last current object and noncurrent versions of earlier keys
// follow — and RewrapKeys with the Seq rewraps a noncurrent version.
func TestStaleObjectsCoverVersions(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	h.put("b", "a", rnd(1))
	h.put("b", "a", rnd(2)) // a's first version noncurrent
	h.put("b", "b", rnd(3))
	h.put("b", "c", rnd(4))
	h.del("b", "c", "") // c: a marker over a noncurrent version
	h.put("b", "d", rnd(5))
	h.put("b", "d", rnd(6))
	h.ok(&RotateTenantKey{Tenant: "t", Key: TenantKey{Version: 2, Wrapped: []byte("k2")}})
	// Everything is stale but the markers: a(2), b, d(2), c.
	type item struct {
		key string
		seq uint64
	}
	wantSet := map[item]bool{}
	es, _, _, _, _ := h.list("b", "", "", "", "", 100)
	for _, e := range es {
		if !e.Object.DeleteMarker {
			wantSet[item{e.Key, e.Object.Seq}] = true
		}
	}
	if len(wantSet) != 6 {
		t.Fatalf("%d versions", len(wantSet))
	}
	current := uint32(2)
	scan := func(max int) []Rewrap {
		var all []Rewrap
		after := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("max %d: no end", max)
			}
			var page []Rewrap
			h.f.View(func(r *Reader) error {
				var err error
				page, after, err = r.StaleObjects("b", current, after, max)
				if err != nil {
					t.Fatal(err)
				}
				return nil
			})
			if len(page) > max {
				t.Fatalf("max %d: a page of %d", max, len(page))
			}
			all = append(all, page...)
			if after == "" {
				return all
			}
		}
	}
	for max := 1; max <= 7; max++ {
		got := map[item]int{}
		for _, it := range scan(max) {
			got[item{it.Key, it.Seq}]++
			if it.From != 1 || it.Bucket != "b" || it.Key == "c" && it.VersionID != rnd(4) {
				t.Errorf("item %+v", it)
			}
		}
		for it := range wantSet {
			if got[it] != 1 {
				t.Errorf("max %d: %s (Seq %d) found %d times", max, it.key, it.seq, got[it])
			}
		}
		if len(got) != len(wantSet) {
			t.Errorf("max %d: %d items, want %d: %v", max, len(got), len(wantSet), got)
		}
	}

	// Rewrap everything found, noncurrent versions by their Seq.
	var items []Rewrap
	for _, it := range scan(100) {
		it.To, it.Wrapped = 2, []byte("re-"+it.Key)
		items = append(items, it)
	}
	h.ok(&RewrapKeys{Tenant: "t", Items: items})
	if left := scan(100); len(left) != 0 {
		t.Fatalf("after the rewrap, still stale: %+v", left)
	}
	es, _, _, _, _ = h.list("b", "", "", "", "", 100)
	for _, e := range es {
		if !e.Object.DeleteMarker && (e.Object.KeyVersion != 2 || string(e.Object.WrappedKey) != "re-"+e.Key) {
			t.Errorf("%s (Seq %d): key version %d, wrapped %q", e.Key, e.Object.Seq, e.Object.KeyVersion, e.Object.WrappedKey)
		}
	}
	// A rewrap computed for a version removed meanwhile does nothing.
	h.ok(&RotateTenantKey{Tenant: "t", Key: TenantKey{Version: 3, Wrapped: []byte("k3")}})
	current = 3
	stale := scan(100)
	var gone Rewrap
	for _, it := range stale {
		if it.Key == "a" {
			if o, _ := h.current("b", "a"); o.Seq != it.Seq {
				gone = it
			}
		}
	}
	if gone.Key == "" {
		t.Fatalf("a's noncurrent version not found among %+v", stale)
	}
	h.del("b", "a", fmt.Sprintf("%016x%s", gone.Seq, gone.VersionID))
	gone.To, gone.Wrapped = 3, []byte("late")
	h.ok(&RewrapKeys{Tenant: "t", Items: []Rewrap{gone}})
	if n := len(h.versionsOfKey("b", "a")); n != 1 {
		t.Errorf("a has %d versions after the rewrap of a removed one", n)
	}
}

// A bucket holding only noncurrent versions or delete markers is not
// empty; a purge removes its versions too.
func TestDeleteAndPurgeBucketWithVersions(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	r1, _ := h.put("b", "k", rnd(1))
	h.del("b", "k", "")
	h.refused("a bucket with a noncurrent version and a marker", &DeleteBucket{Name: "b", Tenant: "t"}, objapi.KindBucketNotEmpty, "")
	h.del("b", "k", r1.VersionID)
	h.refused("a bucket with a marker only", &DeleteBucket{Name: "b", Tenant: "t"}, objapi.KindBucketNotEmpty, "")
	es, _, _, _, _ := h.list("b", "", "", "", "", 10)
	h.del("b", "k", es[0].Object.S3VersionID())
	h.ok(&DeleteBucket{Name: "b", Tenant: "t"})
	// Made anew under the same name, it has no old versions.
	h.bucket("b", VersioningOn, false)
	if es, _, _, _, _ := h.list("b", "", "", "", "", 10); len(es) != 0 {
		t.Fatalf("a bucket made anew lists %d versions", len(es))
	}

	// A purge: current objects, noncurrent versions and markers, in
	// batches.
	h.ok(&CreateTenant{Tenant: Tenant{ID: "p", KeyVersion: 1}})
	h.ok(&CreateBucket{Name: "pb", Tenant: "p"})
	h.ok(&SetVersioning{Bucket: "pb", Tenant: "p", State: VersioningOn})
	var ids [][]byte
	for i := range 7 {
		o := h.object(rnd(i), 10)
		ids = append(ids, o.Parts[0].DataID)
		h.ok(&PutObject{Bucket: "pb", Key: fmt.Sprint("k", i%3), Tenant: "p", Object: o})
	}
	h.ok(&DeleteObject{Bucket: "pb", Key: "k0", Tenant: "p", MarkerID: rnd(50)})
	h.ok(&DeleteObject{Bucket: "pb", Key: "z", Tenant: "p", MarkerID: rnd(51)})
	h.ok(&DeleteTenant{ID: "p"})
	var garbage int
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("the purge does not end")
		}
		r := h.ok(&PurgeBucket{Bucket: "pb", Max: 2})
		garbage += len(r.Garbage)
		var exists bool
		h.f.View(func(r *Reader) error {
			_, exists, _ = r.Bucket("pb")
			return nil
		})
		if !exists {
			break
		}
	}
	if garbage != 7 {
		t.Errorf("the purge gave %d streams as garbage, want 7", garbage)
	}
	for _, id := range ids {
		if _, index := h.referenced(id); index {
			t.Errorf("%x stays in dataids after the purge", id)
		}
	}
	h.f.View(func(r *Reader) error {
		if r.tx.Bucket(bVersions).Bucket([]byte("pb")) != nil {
			t.Error("the purged bucket's versions stay")
		}
		return nil
	})
}

// vmodel is what S3 semantics say a bucket's keys hold: each key's
// versions, newest first.
type vmodel struct {
	state    uint8
	versions map[string][]mversion
}

type mversion struct {
	id     string // S3's
	marker bool
}

func (m *vmodel) dropNull(key string) {
	m.versions[key] = slices.DeleteFunc(m.versions[key], func(v mversion) bool { return v.id == NullVersion })
}

func (m *vmodel) put(key, id string) {
	if m.state != VersioningOn {
		m.dropNull(key)
	}
	m.versions[key] = append([]mversion{{id: id}}, m.versions[key]...)
}

func (m *vmodel) del(key, id string, marker bool) {
	switch m.state {
	case VersioningOff:
		delete(m.versions, key)
		return
	case VersioningSuspended:
		m.dropNull(key)
	}
	m.versions[key] = append([]mversion{{id: id, marker: true}}, m.versions[key]...)
}

func (m *vmodel) delVersion(key, id string) {
	m.versions[key] = slices.DeleteFunc(m.versions[key], func(v mversion) bool { return v.id == id })
}

// A long random run of versioned operations — puts and completed uploads
// under every versioning state, deletes with and without version ids,
// multi-object deletes of keys and of versions, moves of streams of
// current and noncurrent versions, metadata changes of noncurrent
// versions — keeps the usage rows, the set index and the dataids index
// exact after every command, and the versions what S3 semantics say.
func TestVersionedRandomRun(t *testing.T) {
	h := newVersionsHarness(t)
	rng := rand.New(rand.NewPCG(21, 22))
	models := map[string]*vmodel{}
	keys := []string{"a", "b", "c/d", "e"}
	currentMismatches := 0
	checkModel := func(step int, what string) {
		t.Helper()
		for b, m := range models {
			for _, k := range keys {
				var want []string
				for _, v := range m.versions[k] {
					s := v.id
					if v.marker {
						s += "(marker)"
					}
					want = append(want, s)
				}
				var got []string
				for _, s := range h.versionsOfKey(b, k) {
					got = append(got, strings.TrimSuffix(s, "*"))
				}
				if !slices.Equal(got, want) {
					t.Fatalf("step %d (%s): versions of %s/%s\n got %q\nwant %q", step, what, b, k, got, want)
				}
				// The current object is the newest version unless that is a
				// marker.
				cur, ok := h.current(b, k)
				vs := m.versions[k]
				wantCur := len(vs) > 0 && !vs[0].marker
				if ok != wantCur || ok && cur.S3VersionID() != vs[0].id {
					if currentMismatches++; currentMismatches == 1 {
						t.Errorf("step %d (%s): the current object of %s/%s is %v %v, want %v (versions %q)", step, what, b, k, ok, cur.S3VersionID(), wantCur, want)
					}
				}
			}
		}
	}
	var uploads []string
	upBucket := map[string]string{}
	upKey := map[string]string{}
	counts := map[string]int{}
	for step := range 700 {
		h.now += int64(time.Second)
		var what string
		bucketNames := slices.Sorted(maps.Keys(models))
		pickBucket := func() (string, *vmodel) {
			b := bucketNames[rng.IntN(len(bucketNames))]
			return b, models[b]
		}
		op := rng.IntN(14)
		if len(models) == 0 {
			op = 0
		}
		switch op {
		case 0:
			name := fmt.Sprintf("b%d", rng.IntN(3))
			what = "create bucket " + name
			if r := h.do(&CreateBucket{Name: name, Tenant: "t"}); r.Err == nil {
				models[name] = &vmodel{versions: map[string][]mversion{}}
			}
		case 1:
			b, m := pickBucket()
			st := []uint8{VersioningOn, VersioningSuspended}[rng.IntN(2)]
			what = fmt.Sprintf("versioning %d on %s", st, b)
			h.ok(&SetVersioning{Bucket: b, Tenant: "t", State: st})
			m.state = st
		case 2, 3, 4:
			b, m := pickBucket()
			k := keys[rng.IntN(len(keys))]
			what = "put " + b + "/" + k
			r, _ := h.put(b, k, rnd(step))
			id := r.VersionID
			if m.state == VersioningOff {
				id = NullVersion
			}
			m.put(k, id)
		case 5:
			b, m := pickBucket()
			k := keys[rng.IntN(len(keys))]
			what = "delete " + b + "/" + k
			r := h.del(b, k, "")
			m.del(k, r.VersionID, true)
		case 6, 7:
			b, m := pickBucket()
			k := keys[rng.IntN(len(keys))]
			vs := m.versions[k]
			id := "null"
			if len(vs) > 0 && rng.IntN(5) > 0 {
				id = vs[rng.IntN(len(vs))].id
			}
			what = "delete " + b + "/" + k + " version " + id
			h.del(b, k, id)
			m.delVersion(k, id)
		case 8:
			b, m := pickBucket()
			var entries []DeleteEntry
			for range 1 + rng.IntN(4) {
				k := keys[rng.IntN(len(keys))]
				e := DeleteEntry{Key: k, MarkerID: rnd(1000 + step)}
				if vs := m.versions[k]; len(vs) > 0 && rng.IntN(2) == 0 {
					e.VersionID = vs[rng.IntN(len(vs))].id
				}
				entries = append(entries, e)
			}
			what = fmt.Sprintf("delete objects %s %+v", b, entries)
			r := h.ok(&DeleteObjects{Bucket: b, Tenant: "t", Entries: entries})
			for i, e := range entries {
				if r.Entries[i].Failed {
					t.Fatalf("step %d: entry %+v failed: %+v", step, e, r.Entries[i])
				}
				if e.VersionID != "" {
					m.delVersion(e.Key, e.VersionID)
				} else {
					m.del(e.Key, r.Entries[i].VersionID, true)
				}
			}
		case 9:
			b, m := pickBucket()
			ks := keys[:1+rng.IntN(len(keys))]
			what = fmt.Sprintf("delete objects %s keys %q", b, ks)
			h.ok(&DeleteObjects{Bucket: b, Tenant: "t", Keys: ks})
			// Markers without a random part: their ids are Seq only.
			for _, k := range ks {
				if m.state == VersioningOff {
					delete(m.versions, k)
					continue
				}
				es := h.versionsOfKey(b, k)
				id := strings.TrimSuffix(strings.TrimSuffix(es[0], "*"), "(marker)")
				m.del(k, id, true)
			}
		case 10:
			what = "move a stream"
			var held []HeldStream
			h.f.View(func(r *Reader) error {
				return r.tx.Bucket(bDataIDs).ForEach(func(k, _ []byte) error {
					if s, ok, _ := r.Stream(k); ok && coded(&s.Part) {
						held = append(held, *s)
					}
					return nil
				})
			})
			if len(held) == 0 {
				continue
			}
			s := held[rng.IntN(len(held))]
			to := StreamLocation{DataID: make([]byte, 16), SetID: uint32(10 + rng.IntN(3)), K: 2, M: 1, BlockSize: 64 << 10, Format: 1, Drives: []string{"n1/0", "n2/0", "n3/0"}}
			to.DataID[0] = 0xE0
			binary.BigEndian.PutUint64(to.DataID[8:], uint64(step))
			r := h.do(&MoveStream{Bucket: s.Ref.Bucket, Key: s.Ref.Key, VersionID: s.VersionID, Upload: s.Ref.Upload, Number: s.Part.Number, From: s.Part.DataID, To: to, Seq: s.Ref.Seq})
			if r.Err != nil {
				t.Fatalf("step %d: move of %s: %v", step, s.Where(), r.Err)
			}
			counts["move"]++
		case 11:
			b, _ := pickBucket()
			k := keys[rng.IntN(len(keys))]
			up := fmt.Sprintf("u%d", step)
			what = "upload " + up
			h.ok(&CreateUpload{ID: up, Tenant: "t", Bucket: b, Key: k, KeyVersion: 1})
			for n := 1; n <= 2; n++ {
				p := h.part(int64(1000 + n))
				p.Number = n
				h.ok(&PutPart{UploadID: up, Tenant: "t", Part: p})
			}
			uploads = append(uploads, up)
			upBucket[up], upKey[up] = b, k
		case 12:
			if len(uploads) == 0 {
				continue
			}
			up := uploads[0]
			uploads = uploads[1:]
			b, k := upBucket[up], upKey[up]
			m, ok := models[b]
			if !ok {
				continue
			}
			var parts map[int]Part
			h.f.View(func(r *Reader) error {
				var err error
				parts, err = uploadParts(r.tx, up)
				return err
			})
			o := Object{KeyVersion: 1, VersionID: rnd(2000 + step), Multipart: true}
			for n := 1; n <= 2; n++ {
				o.Parts = append(o.Parts, parts[n])
				o.Size += parts[n].Size
			}
			what = "complete " + up
			r := h.ok(&CompleteUpload{UploadID: up, Tenant: "t", Object: o})
			id := r.VersionID
			if m.state == VersioningOff {
				id = NullVersion
			}
			m.put(k, id)
			counts["complete"]++
		case 13:
			// New metadata on a random noncurrent version, by its Seq.
			b, _ := pickBucket()
			es, _, _, _, _ := h.list(b, "", "", "", "", 1000)
			var cands []VersionEntry
			for _, e := range es {
				if !e.Latest && !e.Object.DeleteMarker {
					cands = append(cands, e)
				}
			}
			if len(cands) == 0 {
				continue
			}
			e := cands[rng.IntN(len(cands))]
			what = "set meta of " + e.Key + " " + e.Object.S3VersionID()
			h.ok(&SetObjectMeta{Bucket: b, Key: e.Key, Tenant: "t", VersionID: e.Object.VersionID, Seq: e.Object.Seq, SealedMeta: []byte(what)})
			if o, _, _ := h.version(b, e.Key, e.Object.S3VersionID()); string(o.SealedMeta) != what {
				t.Fatalf("step %d: %s: %+v", step, what, o)
			}
			counts["meta"]++
		}
		counts[fmt.Sprint(op)]++
		checkModel(step, what)
	}
	for _, what := range []string{"move", "complete", "meta"} {
		if counts[what] < 5 {
			t.Errorf("the run did %d %s operations: too few to cover them", counts[what], what)
		}
	}
	// Every bucket emptied version by version can be deleted.
	for b, m := range models {
		for k, vs := range m.versions {
			for _, v := range vs {
				h.del(b, k, v.id)
			}
		}
		h.ok(&DeleteBucket{Name: b, Tenant: "t", AbortUploads: true})
	}
	if u := usageRows(t, h.fsmHarness)[string(usageKey("t", ""))]; u != (Usage{}) {
		t.Errorf("the tenant's usage after everything went: %+v", u)
	}
}

// Delete markers count as objects: a flood of DELETEs of keys that never
// existed (each adds a marker in a versioned bucket) stops at the objects
// quota, as writes do, and removing a marker frees its place.
func TestDeleteMarkersCountAgainstTheQuota(t *testing.T) {
	h := newVersionsHarness(t)
	h.bucket("b", VersioningOn, false)
	h.ok(&SetQuota{Tenant: "t", Bucket: "b", Quota: Quota{Objects: 3}})
	h.put("b", "k", rnd(1))
	m1 := h.del("b", "nie-da-1", "")
	h.del("b", "nie-da-2", "")
	h.refused("a marker beyond the objects quota", &DeleteObject{Bucket: "b", Key: "nie-da-3", Tenant: "t", MarkerID: rnd(2)}, objapi.KindQuotaExceeded, "objects")
	res := h.ok(&DeleteObjects{Bucket: "b", Tenant: "t", Entries: []DeleteEntry{{Key: "nie-da-4", MarkerID: rnd(3)}}})
	if len(res.Entries) != 1 || !res.Entries[0].Failed || objapi.Kind(res.Entries[0].Kind) != objapi.KindQuotaExceeded {
		t.Fatalf("a marker beyond the quota in DeleteObjects: %+v", res.Entries)
	}
	if u := h.usage("b"); u.Objects != 3 {
		t.Fatalf("usage %+v", u)
	}
	h.del("b", "nie-da-1", m1.VersionID)
	h.del("b", "nie-da-3", "")
	h.checkInvariants("after the markers")
}
