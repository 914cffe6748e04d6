package objtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Versioning, object lock and lifecycle (objapi.Versions), as S3 has them.
// These groups run only with Env.Versioning.

// versioned creates a new bucket with versioning enabled.
func (t *T) versioned() string {
	t.Helper()
	b := t.bucket()
	t.must(t.l.PutBucketVersioning(t.ctx, t.me, b, objapi.VersioningEnabled), "PutBucketVersioning %s Enabled", b)
	return b
}

// lockBucket creates a new bucket with object lock (and so versioning).
func (t *T) lockBucket() string {
	t.Helper()
	name := fmt.Sprintf("objtest-%04d", t.s.buckets.Add(1))
	t.must(t.l.CreateBucketWith(t.ctx, t.me, name, objapi.CreateBucketOptions{ObjectLock: true}), "CreateBucketWith %s ObjectLock", name)
	return name
}

// putMD5 stores data with its Content-MD5, as writes under object lock
// need.
func (t *T) putMD5(bucket, key string, data []byte, opts objapi.PutOptions) objapi.ObjectInfo {
	t.Helper()
	opts.ContentMD5 = md5raw(data)
	return t.put(bucket, key, data, opts)
}

// newVersion stores data and checks it got a version id of its own.
func (t *T) newVersion(bucket, key string, data []byte, opts objapi.PutOptions) string {
	t.Helper()
	info := t.put(bucket, key, data, opts)
	if info.VersionID == "" || info.VersionID == "null" {
		t.Fatalf("PutObject %s/%s in a versioned bucket: version id %q", bucket, key, info.VersionID)
	}
	return info.VersionID
}

// wantVersion fails the test unless version id of bucket/key holds data.
func (t *T) wantVersion(bucket, key, id string, data []byte, latest bool) {
	t.Helper()
	obj, got := t.get(bucket, key, objapi.GetOptions{VersionID: id})
	if !bytes.Equal(got, data) {
		t.Errorf("%s/%s version %s holds %d bytes %.16x…, want %d bytes %.16x…", bucket, key, id, len(got), got, len(data), data)
	}
	if obj.Info.VersionID != id || obj.Info.ETag != md5hex(data) || obj.Info.IsLatest != latest || obj.Info.DeleteMarker {
		t.Errorf("%s/%s version %s: VersionID %q ETag %s IsLatest %v DeleteMarker %v, want IsLatest %v",
			bucket, key, id, obj.Info.VersionID, obj.Info.ETag, obj.Info.IsLatest, obj.Info.DeleteMarker, latest)
	}
}

// wantMarkerErr fails the test unless err is of kind k and names the
// delete marker markerID.
func (t *T) wantMarkerErr(err error, k objapi.Kind, markerID, what string, args ...any) {
	t.Helper()
	t.wantKind(err, k, what, args...)
	var e *objapi.Error
	if errors.As(err, &e) && (!e.DeleteMarker || e.VersionID != markerID) {
		t.Errorf("%s: DeleteMarker %v VersionID %q, want the delete marker %q", fmt.Sprintf(what, args...), e.DeleteMarker, e.VersionID, markerID)
	}
}

// version is one entry of a ListObjectVersions, or a common prefix (id
// "").
type version struct {
	key, id        string
	latest, marker bool
}

func (v version) String() string {
	s := v.key + "@" + v.id
	if v.latest {
		s += "(latest)"
	}
	if v.marker {
		s += "(marker)"
	}
	return s
}

// pageVersions merges a page's versions and prefixes into their order.
func pageVersions(res objapi.ListVersionsResult) []version {
	var out []version
	for _, v := range res.Versions {
		out = append(out, version{key: v.Key, id: v.VersionID, latest: v.IsLatest, marker: v.DeleteMarker})
	}
	for _, p := range res.Prefixes {
		out = append(out, version{key: p})
	}
	// Stable: a key's versions keep their order (newest first).
	slices.SortStableFunc(out, func(a, b version) int { return strings.Compare(a.key, b.key) })
	return out
}

// listVersionsAll lists every page of a version listing, following the
// next markers, and checks each page's shape.
func (t *T) listVersionsAll(bucket string, opts objapi.ListVersionsOptions) []version {
	t.Helper()
	var all []version
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("listing versions %+v does not end", opts)
		}
		res, err := t.l.ListObjectVersions(t.ctx, t.me, bucket, opts)
		t.must(err, "ListObjectVersions %+v", opts)
		vs := pageVersions(res)
		if len(vs) > opts.MaxKeys {
			t.Errorf("ListObjectVersions %+v: %d entries, more than MaxKeys", opts, len(vs))
		}
		for _, v := range res.Versions {
			if v.DeleteMarker && (v.Size != 0 || v.ETag != "") || !v.DeleteMarker && v.ETag == "" || v.Modified.IsZero() {
				t.Errorf("ListObjectVersions %+v: %s: Size %d ETag %q Modified %v", opts, v.Key, v.Size, v.ETag, v.Modified)
			}
		}
		all = append(all, vs...)
		if !res.Truncated {
			return all
		}
		if len(vs) == 0 {
			t.Fatalf("ListObjectVersions %+v: truncated but empty", opts)
		}
		last := vs[len(vs)-1]
		if res.NextKeyMarker != last.key || res.NextVersionIDMarker != last.id {
			t.Errorf("ListObjectVersions %+v: next markers %q %q, want the page's last entry %v", opts, res.NextKeyMarker, res.NextVersionIDMarker, last)
		}
		opts.KeyMarker, opts.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
}

// unknownVersion is a version id no layer hands out: well-formed as
// S3's are, but not one of the key's.
const unknownVersion = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"

var versioningTests = []test{
	{"State", func(t *T) {
		b := t.bucket()
		st, err := t.l.GetBucketVersioning(t.ctx, t.me, b)
		t.must(err, "GetBucketVersioning")
		if st != "" {
			t.Errorf("a new bucket's versioning is %q", st)
		}
		t.wantKind(t.l.PutBucketVersioning(t.ctx, t.me, b, "enabled"), objapi.KindMalformedXML, "PutBucketVersioning enabled")
		t.wantKind(t.l.PutBucketVersioning(t.ctx, t.me, b, ""), objapi.KindMalformedXML, "PutBucketVersioning \"\"")
		for _, s := range []string{objapi.VersioningEnabled, objapi.VersioningSuspended, objapi.VersioningEnabled} {
			t.must(t.l.PutBucketVersioning(t.ctx, t.me, b, s), "PutBucketVersioning %s", s)
			if st, err := t.l.GetBucketVersioning(t.ctx, t.me, b); err != nil || st != s {
				t.Errorf("GetBucketVersioning after setting %s: %q, %v", s, st, err)
			}
		}
		t.wantKind(t.l.PutBucketVersioning(t.ctx, t.other, b, objapi.VersioningSuspended), objapi.KindAccessDenied, "PutBucketVersioning by another tenant")
		_, err = t.l.GetBucketVersioning(t.ctx, t.other, b)
		t.wantKind(err, objapi.KindAccessDenied, "GetBucketVersioning by another tenant")
		t.wantKind(t.l.PutBucketVersioning(t.ctx, t.me, "objtest-nie-da", objapi.VersioningEnabled), objapi.KindNoSuchBucket, "PutBucketVersioning of a missing bucket")
	}},
	{"Overwrite", func(t *T) {
		b := t.versioned()
		d1, d2 := data(3000, 1), data(5000, 2)
		v1 := t.newVersion(b, "k", d1, objapi.PutOptions{ContentType: "text/plain"})
		v2 := t.newVersion(b, "k", d2, objapi.PutOptions{})
		if v1 == v2 {
			t.Fatalf("two versions have the id %q", v1)
		}
		t.wantData(b, "k", d2)
		t.wantVersion(b, "k", v1, d1, false)
		t.wantVersion(b, "k", v2, d2, true)
		obj, _ := t.get(b, "k", objapi.GetOptions{VersionID: v1})
		if obj.Info.ContentType != "text/plain" {
			t.Errorf("version %s: ContentType %q", v1, obj.Info.ContentType)
		}
		if obj, _ := t.get(b, "k", objapi.GetOptions{}); obj.Info.VersionID != v2 || !obj.Info.IsLatest {
			t.Errorf("current version: VersionID %q IsLatest %v, want %q", obj.Info.VersionID, obj.Info.IsLatest, v2)
		}
		// A range of an old version.
		obj, got := t.get(b, "k", objapi.GetOptions{VersionID: v1, Range: &objapi.RangeSpec{First: 10, Last: 19}})
		if !bytes.Equal(got, d1[10:20]) || !obj.Partial {
			t.Errorf("range of version %s: %x", v1, got)
		}
		_, err := t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{VersionID: unknownVersion})
		t.wantKind(err, objapi.KindNoSuchVersion, "GetObject of an unknown version")
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{VersionID: "null"})
		t.wantKind(err, objapi.KindNoSuchVersion, "GetObject of the null version, which the key does not have")
		_, err = t.l.GetObject(t.ctx, t.me, b, "nie-da", objapi.GetOptions{VersionID: v1})
		t.wantKind(err, objapi.KindNoSuchVersion, "GetObject by version of a missing key")
		if keys := t.keys(b); !slices.Equal(keys, []string{"k"}) {
			t.Errorf("ListObjects: %q", keys)
		}
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", v2, true, false}, {"k", v1, false, false}}) {
			t.Errorf("ListObjectVersions: %v", vs)
		}
	}},
	{"DeleteMarker", func(t *T) {
		b := t.versioned()
		d1 := data(100, 3)
		v1 := t.newVersion(b, "k", d1, objapi.PutOptions{})
		del, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion")
		if !del.DeleteMarker || del.VersionID == "" || del.VersionID == "null" || del.VersionID == v1 {
			t.Fatalf("DeleteVersion in a versioned bucket: %+v, want a new delete marker", del)
		}
		marker := del.VersionID
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{})
		t.wantMarkerErr(err, objapi.KindNoSuchKey, marker, "GetObject behind a delete marker")
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{VersionID: marker})
		t.wantMarkerErr(err, objapi.KindMethodNotAllowed, marker, "GetObject of the delete marker by its id")
		_, err = t.l.GetObjectTagging(t.ctx, t.me, b, "k")
		t.wantKind(err, objapi.KindNoSuchKey, "GetObjectTagging behind a delete marker")
		t.wantVersion(b, "k", v1, d1, false)
		if keys := t.keys(b); len(keys) != 0 {
			t.Errorf("ListObjects lists %q behind a delete marker", keys)
		}
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", marker, true, true}, {"k", v1, false, false}}) {
			t.Errorf("ListObjectVersions: %v", vs)
		}
		// A second delete adds a second marker.
		del2, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion again")
		if !del2.DeleteMarker || del2.VersionID == marker || del2.VersionID == "" {
			t.Errorf("second DeleteVersion: %+v", del2)
		}
		// Removing the markers restores the object.
		for _, id := range []string{del2.VersionID, marker} {
			d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: id})
			t.must(err, "DeleteVersion of the marker %s", id)
			if d.VersionID != id || !d.DeleteMarker {
				t.Errorf("DeleteVersion of the marker %s: %+v", id, d)
			}
		}
		t.wantData(b, "k", d1)
		t.wantVersion(b, "k", v1, d1, true)
		// DeleteObject in a versioned bucket adds a marker too.
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{}), "DeleteObject")
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{})
		t.wantKind(err, objapi.KindNoSuchKey, "GetObject after DeleteObject")
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); len(vs) != 2 || !vs[0].marker || vs[1].id != v1 {
			t.Errorf("ListObjectVersions after DeleteObject: %v", vs)
		}
		// A delete of a key that never existed adds a marker as well.
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "nie-da", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion of a missing key")
		if !d.DeleteMarker || d.VersionID == "" {
			t.Errorf("DeleteVersion of a missing key: %+v", d)
		}
	}},
	{"DeleteVersion", func(t *T) {
		b := t.versioned()
		d1, d2 := data(10, 4), data(20, 5)
		v1 := t.newVersion(b, "k", d1, objapi.PutOptions{})
		v2 := t.newVersion(b, "k", d2, objapi.PutOptions{})
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v2})
		t.must(err, "DeleteVersion %s", v2)
		if d.VersionID != v2 || d.DeleteMarker {
			t.Errorf("DeleteVersion %s: %+v", v2, d)
		}
		// The next newest is current again.
		t.wantData(b, "k", d1)
		t.wantVersion(b, "k", v1, d1, true)
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{VersionID: v2})
		t.wantKind(err, objapi.KindNoSuchVersion, "GetObject of a removed version")
		// A version that is not there is deleted already.
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v2})
		t.must(err, "DeleteVersion of a removed version")
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: unknownVersion})
		t.must(err, "DeleteVersion of an unknown version")
		t.wantData(b, "k", d1)
		_, err = t.l.DeleteVersion(t.ctx, t.other, b, "k", objapi.DeleteOptions{VersionID: v1})
		t.wantKind(err, objapi.KindAccessDenied, "DeleteVersion by another tenant")
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v1})
		t.must(err, "DeleteVersion %s", v1)
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{})
		t.wantKind(err, objapi.KindNoSuchKey, "GetObject with no version left")
		var e *objapi.Error
		if errors.As(err, &e) && e.DeleteMarker {
			t.Errorf("GetObject with no version left says there is a delete marker: %+v", e)
		}
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); len(vs) != 0 {
			t.Errorf("ListObjectVersions: %v", vs)
		}
		t.must(t.l.DeleteBucket(t.ctx, t.me, b), "DeleteBucket without versions")
	}},
	{"BucketNotEmpty", func(t *T) {
		b := t.versioned()
		v := t.newVersion(b, "k", []byte("x"), objapi.PutOptions{})
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion")
		t.wantKind(t.l.DeleteBucket(t.ctx, t.me, b), objapi.KindBucketNotEmpty, "DeleteBucket with an old version and a delete marker")
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v})
		t.must(err, "DeleteVersion %s", v)
		t.wantKind(t.l.DeleteBucket(t.ctx, t.me, b), objapi.KindBucketNotEmpty, "DeleteBucket with a delete marker")
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: d.VersionID})
		t.must(err, "DeleteVersion of the marker")
		t.must(t.l.DeleteBucket(t.ctx, t.me, b), "DeleteBucket emptied")
	}},
	{"Unversioned", func(t *T) {
		b := t.bucket()
		info := t.put(b, "k", []byte("eins"), objapi.PutOptions{})
		if info.VersionID != "null" {
			t.Errorf("PutObject in an unversioned bucket: version %q", info.VersionID)
		}
		t.wantVersion(b, "k", "null", []byte("eins"), true)
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", "null", true, false}}) {
			t.Errorf("ListObjectVersions: %v", vs)
		}
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion")
		if d.DeleteMarker || d.VersionID != "" {
			t.Errorf("DeleteVersion in an unversioned bucket: %+v", d)
		}
		t.wantNoObject(b, "k")
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); len(vs) != 0 {
			t.Errorf("ListObjectVersions after the delete: %v", vs)
		}
		// By the null version id.
		t.put(b, "k", []byte("zwei"), objapi.PutOptions{})
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: "null"})
		t.must(err, "DeleteVersion null")
		t.wantNoObject(b, "k")
	}},
	{"Suspended", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("null-0"), objapi.PutOptions{})
		t.must(t.l.PutBucketVersioning(t.ctx, t.me, b, objapi.VersioningEnabled), "PutBucketVersioning Enabled")
		// The object written before versioning is the null version.
		t.wantVersion(b, "k", "null", []byte("null-0"), true)
		va := t.newVersion(b, "k", []byte("A"), objapi.PutOptions{})
		t.wantVersion(b, "k", "null", []byte("null-0"), false)
		t.must(t.l.PutBucketVersioning(t.ctx, t.me, b, objapi.VersioningSuspended), "PutBucketVersioning Suspended")
		// A write replaces the null version wherever it is, and is current.
		info := t.put(b, "k", []byte("null-1"), objapi.PutOptions{})
		if info.VersionID != "null" {
			t.Errorf("PutObject in a suspended bucket: version %q", info.VersionID)
		}
		t.wantData(b, "k", []byte("null-1"))
		t.wantVersion(b, "k", "null", []byte("null-1"), true)
		t.wantVersion(b, "k", va, []byte("A"), false)
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", "null", true, false}, {"k", va, false, false}}) {
			t.Errorf("ListObjectVersions: %v", vs)
		}
		// A delete replaces the null version with a null delete marker.
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion in a suspended bucket")
		if !d.DeleteMarker || d.VersionID != "null" {
			t.Errorf("DeleteVersion in a suspended bucket: %+v, want a null delete marker", d)
		}
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{})
		t.wantMarkerErr(err, objapi.KindNoSuchKey, "null", "GetObject behind the null delete marker")
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{VersionID: "null"})
		t.wantMarkerErr(err, objapi.KindMethodNotAllowed, "null", "GetObject of the null delete marker")
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", "null", true, true}, {"k", va, false, false}}) {
			t.Errorf("ListObjectVersions after the delete: %v", vs)
		}
		// Versions written while enabled stay.
		t.wantVersion(b, "k", va, []byte("A"), false)
		// A write replaces the null marker.
		t.put(b, "k", []byte("null-2"), objapi.PutOptions{})
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", "null", true, false}, {"k", va, false, false}}) {
			t.Errorf("ListObjectVersions after writing again: %v", vs)
		}
		// Enabled again: new versions go on top of the null one.
		t.must(t.l.PutBucketVersioning(t.ctx, t.me, b, objapi.VersioningEnabled), "PutBucketVersioning Enabled again")
		vb := t.newVersion(b, "k", []byte("B"), objapi.PutOptions{})
		if vs := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: 1000}); !slices.Equal(vs, []version{{"k", vb, true, false}, {"k", "null", false, false}, {"k", va, false, false}}) {
			t.Errorf("ListObjectVersions after enabling again: %v", vs)
		}
		t.wantVersion(b, "k", "null", []byte("null-2"), false)
	}},
	{"ListVersions", func(t *T) {
		b := t.versioned()
		ids := map[string][]string{} // newest first
		for _, k := range []string{"a", "a", "a", "b", "c", "dir/x", "dir/y", "dir/y", "e/f/g"} {
			ids[k] = append([]string{t.newVersion(b, k, []byte(k), objapi.PutOptions{})}, ids[k]...)
		}
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "b", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion b")
		ids["b"] = append([]string{d.VersionID}, ids["b"]...)
		var want []version
		for _, k := range []string{"a", "b", "c", "dir/x", "dir/y", "e/f/g"} {
			for i, id := range ids[k] {
				want = append(want, version{k, id, i == 0, k == "b" && i == 0})
			}
		}
		res, err := t.l.ListObjectVersions(t.ctx, t.me, b, objapi.ListVersionsOptions{MaxKeys: 1000})
		t.must(err, "ListObjectVersions")
		if res.Truncated || res.NextKeyMarker != "" || res.NextVersionIDMarker != "" {
			t.Errorf("whole listing: Truncated %v, next markers %q %q", res.Truncated, res.NextKeyMarker, res.NextVersionIDMarker)
		}
		for _, v := range res.Versions {
			if v.Bucket != "" && v.Bucket != b || v.Owner != t.me.Tenant {
				t.Errorf("version %s@%s: Bucket %q Owner %q", v.Key, v.VersionID, v.Bucket, v.Owner)
			}
			if !v.DeleteMarker && (v.Size != int64(len(v.Key)) || v.ETag != md5hex([]byte(v.Key)) || v.StorageClass != "STANDARD") {
				t.Errorf("version %s@%s: Size %d ETag %s StorageClass %q", v.Key, v.VersionID, v.Size, v.ETag, v.StorageClass)
			}
		}
		if got := pageVersions(res); !slices.Equal(got, want) {
			t.Errorf("ListObjectVersions:\n\tgot  %v\n\twant %v", got, want)
		}
		for _, max := range []int{1, 2, 3, 5} {
			if got := t.listVersionsAll(b, objapi.ListVersionsOptions{MaxKeys: max}); !slices.Equal(got, want) {
				t.Errorf("ListObjectVersions by %d:\n\tgot  %v\n\twant %v", max, got, want)
			}
		}
		// KeyMarker alone: after all of that key's versions.
		if got := t.listVersionsAll(b, objapi.ListVersionsOptions{KeyMarker: "a", MaxKeys: 1000}); !slices.Equal(got, want[3:]) {
			t.Errorf("after key a:\n\tgot  %v\n\twant %v", got, want[3:])
		}
		// Both: after that version of that key.
		if got := t.listVersionsAll(b, objapi.ListVersionsOptions{KeyMarker: "a", VersionIDMarker: ids["a"][0], MaxKeys: 1000}); !slices.Equal(got, want[1:]) {
			t.Errorf("after a@%s:\n\tgot  %v\n\twant %v", ids["a"][0], got, want[1:])
		}
		if got := t.listVersionsAll(b, objapi.ListVersionsOptions{KeyMarker: "b", VersionIDMarker: ids["b"][0], MaxKeys: 1000}); !slices.Equal(got, want[4:]) {
			t.Errorf("after the marker of b:\n\tgot  %v\n\twant %v", got, want[4:])
		}
		// Prefix.
		if got := t.listVersionsAll(b, objapi.ListVersionsOptions{Prefix: "dir/", MaxKeys: 1000}); !slices.Equal(got, want[6:9]) {
			t.Errorf("prefix dir/:\n\tgot  %v\n\twant %v", got, want[6:9])
		}
		// Delimiter: prefixes count as one entry each.
		wantDelim := append(slices.Clone(want[:6]), version{key: "dir/"}, version{key: "e/"})
		for _, max := range []int{1, 2, 1000} {
			if got := t.listVersionsAll(b, objapi.ListVersionsOptions{Delimiter: "/", MaxKeys: max}); !slices.Equal(got, wantDelim) {
				t.Errorf("delimiter / by %d:\n\tgot  %v\n\twant %v", max, got, wantDelim)
			}
		}
		res, err = t.l.ListObjectVersions(t.ctx, t.me, b, objapi.ListVersionsOptions{Delimiter: "/", MaxKeys: 1000})
		t.must(err, "ListObjectVersions with a delimiter")
		if !slices.Equal(res.Prefixes, []string{"dir/", "e/"}) {
			t.Errorf("Prefixes %q", res.Prefixes)
		}
		wantE := []version{{key: "e/f/"}}
		if got := t.listVersionsAll(b, objapi.ListVersionsOptions{Prefix: "e/", Delimiter: "/", MaxKeys: 1000}); !slices.Equal(got, wantE) {
			t.Errorf("prefix e/ delimiter /: %v", got)
		}
		_, err = t.l.ListObjectVersions(t.ctx, t.other, b, objapi.ListVersionsOptions{MaxKeys: 1000})
		t.wantKind(err, objapi.KindAccessDenied, "ListObjectVersions by another tenant")
		_, err = t.l.ListObjectVersions(t.ctx, t.me, "objtest-nie-da", objapi.ListVersionsOptions{MaxKeys: 1000})
		t.wantKind(err, objapi.KindNoSuchBucket, "ListObjectVersions of a missing bucket")
		// ListObjects lists the keys whose current version is no marker.
		if keys := t.keys(b); !slices.Equal(keys, []string{"a", "c", "dir/x", "dir/y", "e/f/g"}) {
			t.Errorf("ListObjects: %q", keys)
		}
	}},
	{"DeleteVersions", func(t *T) {
		b := t.versioned()
		k1v1 := t.newVersion(b, "k1", []byte("1"), objapi.PutOptions{})
		k1v2 := t.newVersion(b, "k1", []byte("2"), objapi.PutOptions{})
		t.newVersion(b, "k2", []byte("3"), objapi.PutOptions{})
		res, err := t.l.DeleteVersions(t.ctx, t.me, b, []objapi.ObjectVersion{
			{Key: "k1", VersionID: k1v1}, {Key: "k2"}, {Key: "k3"}, {Key: strings.Repeat("x", 1025)},
		}, false)
		t.must(err, "DeleteVersions")
		byKey := map[string]objapi.DeleteResult{}
		for _, r := range res {
			byKey[r.Key] = r
		}
		if len(res) != 4 || len(byKey) != 4 {
			t.Fatalf("DeleteVersions: %d results %+v, want one per entry", len(res), res)
		}
		if r := byKey["k1"]; r.Err != nil || r.VersionID != k1v1 || r.DeleteMarker || r.DeleteMarkerVersionID != "" {
			t.Errorf("removing a version: %+v", r)
		}
		k2marker := byKey["k2"].DeleteMarkerVersionID
		if r := byKey["k2"]; r.Err != nil || r.VersionID != "" || !r.DeleteMarker || k2marker == "" {
			t.Errorf("deleting a key: %+v, want a new delete marker", r)
		}
		if r := byKey["k3"]; r.Err != nil || !r.DeleteMarker || r.DeleteMarkerVersionID == "" {
			t.Errorf("deleting a missing key: %+v, want a new delete marker", r)
		}
		if r := byKey[strings.Repeat("x", 1025)]; r.Err == nil {
			t.Errorf("deleting a key too long: %+v", r)
		}
		t.wantVersion(b, "k1", k1v2, []byte("2"), true)
		_, err = t.l.GetObject(t.ctx, t.me, b, "k1", objapi.GetOptions{VersionID: k1v1})
		t.wantKind(err, objapi.KindNoSuchVersion, "GetObject of the removed version")
		_, err = t.l.GetObject(t.ctx, t.me, b, "k2", objapi.GetOptions{})
		t.wantMarkerErr(err, objapi.KindNoSuchKey, k2marker, "GetObject behind the marker DeleteVersions added")
		// Removing a marker by id.
		res, err = t.l.DeleteVersions(t.ctx, t.me, b, []objapi.ObjectVersion{{Key: "k2", VersionID: k2marker}, {Key: "k1", VersionID: unknownVersion}}, false)
		t.must(err, "DeleteVersions of the marker")
		for _, r := range res {
			switch {
			case r.Key == "k2" && (r.Err != nil || r.VersionID != k2marker || !r.DeleteMarker || r.DeleteMarkerVersionID != k2marker):
				t.Errorf("removing a delete marker: %+v", r)
			case r.Key == "k1" && (r.Err != nil || r.VersionID != unknownVersion):
				t.Errorf("removing an unknown version: %+v", r)
			}
		}
		t.wantData(b, "k2", []byte("3"))
		// DeleteObjects in a versioned bucket adds markers.
		res, err = t.l.DeleteObjects(t.ctx, t.me, b, []string{"k1"})
		t.must(err, "DeleteObjects")
		if len(res) != 1 || res[0].Err != nil || !res[0].DeleteMarker || res[0].DeleteMarkerVersionID == "" {
			t.Errorf("DeleteObjects in a versioned bucket: %+v", res)
		}
		t.wantVersion(b, "k1", k1v2, []byte("2"), false)
		_, err = t.l.DeleteVersions(t.ctx, t.other, b, []objapi.ObjectVersion{{Key: "k1", VersionID: k1v2}}, false)
		t.wantKind(err, objapi.KindAccessDenied, "DeleteVersions by another tenant")
		t.wantVersion(b, "k1", k1v2, []byte("2"), false)
	}},
	{"CopyVersion", func(t *T) {
		b := t.versioned()
		old, cur := data(4000, 6), data(6000, 7)
		v1 := t.newVersion(b, "k", old, objapi.PutOptions{ContentType: "text/alt"})
		t.newVersion(b, "k", cur, objapi.PutOptions{})
		info, err := t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k", VersionID: v1}, b, "kopie", objapi.CopyOptions{})
		t.must(err, "CopyObject of an old version")
		if info.VersionID == "" || info.VersionID == "null" || info.ETag != md5hex(old) {
			t.Errorf("CopyObject of an old version: VersionID %q ETag %s", info.VersionID, info.ETag)
		}
		t.wantData(b, "kopie", old)
		if obj, _ := t.get(b, "kopie", objapi.GetOptions{}); obj.Info.ContentType != "text/alt" {
			t.Errorf("copy of an old version: ContentType %q", obj.Info.ContentType)
		}
		// An old version copied onto its own key becomes current again.
		info, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k", VersionID: v1}, b, "k", objapi.CopyOptions{})
		t.must(err, "CopyObject of an old version onto its key")
		if info.VersionID == v1 {
			t.Errorf("the restored version kept the id %q", v1)
		}
		t.wantData(b, "k", old)
		t.wantVersion(b, "k", v1, old, false)
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k", VersionID: unknownVersion}, b, "x", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindNoSuchVersion, "CopyObject of an unknown version")
		// Behind a delete marker there is nothing to copy, and a marker
		// itself cannot be copied.
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion")
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k"}, b, "x", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindNoSuchKey, "CopyObject behind a delete marker")
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k", VersionID: d.VersionID}, b, "x", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindInvalidRequest, "CopyObject of a delete marker")
		t.wantNoObject(b, "x")
		// UploadPartCopy from an old version.
		id := t.upload(b, "teile", objapi.PutOptions{})
		p, err := t.l.UploadPartCopy(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k", VersionID: v1, Range: &objapi.RangeSpec{First: 100, Last: 199}}, b, "teile", id, 1)
		t.must(err, "UploadPartCopy of an old version")
		if p.ETag != md5hex(old[100:200]) {
			t.Errorf("UploadPartCopy of an old version: ETag %s", p.ETag)
		}
		done, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "teile", id, []objapi.CompletePart{{Number: 1, ETag: p.ETag}}, objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload")
		if done.VersionID == "" || done.VersionID == "null" {
			t.Errorf("CompleteMultipartUpload in a versioned bucket: version %q", done.VersionID)
		}
		obj, got := t.get(b, "teile", objapi.GetOptions{VersionID: done.VersionID})
		if !bytes.Equal(got, old[100:200]) || obj.Info.VersionID != done.VersionID || !obj.Info.IsLatest {
			t.Errorf("the completed version: %d bytes, VersionID %q IsLatest %v", len(got), obj.Info.VersionID, obj.Info.IsLatest)
		}
	}},
	{"Tagging", func(t *T) {
		b := t.versioned()
		ta, tb, tc := []objapi.Tag{{Key: "v", Value: "1"}}, []objapi.Tag{{Key: "v", Value: "2"}, {Key: "x", Value: ""}}, []objapi.Tag{{Key: "neu", Value: "3"}}
		v1 := t.newVersion(b, "k", []byte("1"), objapi.PutOptions{Tags: ta})
		v2 := t.newVersion(b, "k", []byte("2"), objapi.PutOptions{Tags: tb})
		tags, id, err := t.l.GetVersionTagging(t.ctx, t.me, b, "k", v1)
		t.must(err, "GetVersionTagging %s", v1)
		if !sameTags(tags, ta) || id != v1 {
			t.Errorf("GetVersionTagging %s: %v %q", v1, tags, id)
		}
		tags, id, err = t.l.GetVersionTagging(t.ctx, t.me, b, "k", "")
		t.must(err, "GetVersionTagging of the current version")
		if !sameTags(tags, tb) || id != v2 {
			t.Errorf("GetVersionTagging of the current version: %v %q, want %v %q", tags, id, tb, v2)
		}
		id, err = t.l.PutVersionTagging(t.ctx, t.me, b, "k", v1, tc)
		t.must(err, "PutVersionTagging %s", v1)
		if id != v1 {
			t.Errorf("PutVersionTagging %s answered %q", v1, id)
		}
		if tags, _, _ := t.l.GetVersionTagging(t.ctx, t.me, b, "k", v1); !sameTags(tags, tc) {
			t.Errorf("tags of %s after PutVersionTagging: %v", v1, tags)
		}
		if tags, err := t.l.GetObjectTagging(t.ctx, t.me, b, "k"); err != nil || !sameTags(tags, tb) {
			t.Errorf("tagging an old version changed the current one's tags: %v, %v", tags, err)
		}
		if obj, _ := t.get(b, "k", objapi.GetOptions{VersionID: v1}); obj.Info.TagCount != 1 {
			t.Errorf("version %s: TagCount %d", v1, obj.Info.TagCount)
		}
		id, err = t.l.DeleteVersionTagging(t.ctx, t.me, b, "k", v1)
		t.must(err, "DeleteVersionTagging %s", v1)
		if id != v1 {
			t.Errorf("DeleteVersionTagging %s answered %q", v1, id)
		}
		if tags, _, _ := t.l.GetVersionTagging(t.ctx, t.me, b, "k", v1); len(tags) != 0 {
			t.Errorf("tags of %s after DeleteVersionTagging: %v", v1, tags)
		}
		if tags, _ := t.l.GetObjectTagging(t.ctx, t.me, b, "k"); !sameTags(tags, tb) {
			t.Errorf("current tags after DeleteVersionTagging of an old version: %v", tags)
		}
		// The current version's, through the old calls.
		t.must(t.l.PutObjectTagging(t.ctx, t.me, b, "k", ta), "PutObjectTagging")
		if tags, _, _ := t.l.GetVersionTagging(t.ctx, t.me, b, "k", v2); !sameTags(tags, ta) {
			t.Errorf("PutObjectTagging did not tag the current version: %v", tags)
		}
		_, _, err = t.l.GetVersionTagging(t.ctx, t.me, b, "k", unknownVersion)
		t.wantKind(err, objapi.KindNoSuchVersion, "GetVersionTagging of an unknown version")
		_, err = t.l.PutVersionTagging(t.ctx, t.me, b, "k", unknownVersion, ta)
		t.wantKind(err, objapi.KindNoSuchVersion, "PutVersionTagging of an unknown version")
		_, err = t.l.PutVersionTagging(t.ctx, t.me, b, "k", v1, elevenTags())
		t.wantKind(err, objapi.KindInvalidTag, "PutVersionTagging with eleven tags")
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion")
		_, _, err = t.l.GetVersionTagging(t.ctx, t.me, b, "k", "")
		t.wantKind(err, objapi.KindNoSuchKey, "GetVersionTagging behind a delete marker")
		_, _, err = t.l.GetVersionTagging(t.ctx, t.me, b, "k", d.VersionID)
		t.wantKind(err, objapi.KindMethodNotAllowed, "GetVersionTagging of a delete marker")
		if tags, _, err := t.l.GetVersionTagging(t.ctx, t.me, b, "k", v2); err != nil || !sameTags(tags, ta) {
			t.Errorf("GetVersionTagging %s behind a delete marker: %v, %v", v2, tags, err)
		}
	}},
}

// future is a retain-until date d from now, in whole seconds, as S3's
// dates are.
func future(d time.Duration) time.Time {
	return time.Now().Add(d).Truncate(time.Second).UTC()
}

// wantRetention fails the test unless the version's retention is r.
func (t *T) wantRetention(bucket, key, id string, r objapi.Retention) {
	t.Helper()
	got, err := t.l.GetObjectRetention(t.ctx, t.me, bucket, key, id)
	t.must(err, "GetObjectRetention %s/%s@%s", bucket, key, id)
	if got.Mode != r.Mode || !got.Until.Equal(r.Until) {
		t.Errorf("retention of %s/%s@%s: %s until %v, want %s until %v", bucket, key, id, got.Mode, got.Until, r.Mode, r.Until)
	}
}

var objectLockTests = []test{
	{"Config", func(t *T) {
		b := t.lockBucket()
		if st, err := t.l.GetBucketVersioning(t.ctx, t.me, b); err != nil || st != objapi.VersioningEnabled {
			t.Errorf("a bucket created with object lock: versioning %q, %v", st, err)
		}
		cfg, err := t.l.GetObjectLockConfiguration(t.ctx, t.me, b)
		t.must(err, "GetObjectLockConfiguration")
		if !cfg.Enabled || cfg.Mode != "" {
			t.Errorf("a bucket created with object lock: %+v", cfg)
		}
		t.wantKind(t.l.PutBucketVersioning(t.ctx, t.me, b, objapi.VersioningSuspended), objapi.KindInvalidBucketState, "suspending versioning under object lock")
		if st, _ := t.l.GetBucketVersioning(t.ctx, t.me, b); st != objapi.VersioningEnabled {
			t.Errorf("versioning %q after a refused suspension", st)
		}
		set := objapi.ObjectLockConfig{Enabled: true, Mode: objapi.LockGovernance, Days: 3}
		t.must(t.l.PutObjectLockConfiguration(t.ctx, t.me, b, set), "PutObjectLockConfiguration")
		if cfg, err := t.l.GetObjectLockConfiguration(t.ctx, t.me, b); err != nil || cfg != set {
			t.Errorf("GetObjectLockConfiguration: %+v, %v, want %+v", cfg, err, set)
		}
		set = objapi.ObjectLockConfig{Enabled: true, Mode: objapi.LockCompliance, Years: 1}
		t.must(t.l.PutObjectLockConfiguration(t.ctx, t.me, b, set), "PutObjectLockConfiguration in years")
		if cfg, err := t.l.GetObjectLockConfiguration(t.ctx, t.me, b); err != nil || cfg != set {
			t.Errorf("GetObjectLockConfiguration: %+v, %v, want %+v", cfg, err, set)
		}
		// Clearing the default retention.
		t.must(t.l.PutObjectLockConfiguration(t.ctx, t.me, b, objapi.ObjectLockConfig{Enabled: true}), "PutObjectLockConfiguration without retention")
		if cfg, err := t.l.GetObjectLockConfiguration(t.ctx, t.me, b); err != nil || cfg != (objapi.ObjectLockConfig{Enabled: true}) {
			t.Errorf("GetObjectLockConfiguration after clearing: %+v, %v", cfg, err)
		}
		t.wantKind(t.l.PutObjectLockConfiguration(t.ctx, t.other, b, set), objapi.KindAccessDenied, "PutObjectLockConfiguration by another tenant")

		// A bucket without: enabled later, on a versioned bucket only.
		p := t.bucket()
		_, err = t.l.GetObjectLockConfiguration(t.ctx, t.me, p)
		t.wantKind(err, objapi.KindNoSuchBucketLockConfig, "GetObjectLockConfiguration without object lock")
		t.wantKind(t.l.PutObjectLockConfiguration(t.ctx, t.me, p, objapi.ObjectLockConfig{Enabled: true}), objapi.KindInvalidBucketState, "PutObjectLockConfiguration on an unversioned bucket")
		t.must(t.l.PutBucketVersioning(t.ctx, t.me, p, objapi.VersioningSuspended), "PutBucketVersioning Suspended")
		t.wantKind(t.l.PutObjectLockConfiguration(t.ctx, t.me, p, objapi.ObjectLockConfig{Enabled: true}), objapi.KindInvalidBucketState, "PutObjectLockConfiguration on a suspended bucket")
		t.must(t.l.PutBucketVersioning(t.ctx, t.me, p, objapi.VersioningEnabled), "PutBucketVersioning Enabled")
		t.must(t.l.PutObjectLockConfiguration(t.ctx, t.me, p, objapi.ObjectLockConfig{Enabled: true}), "PutObjectLockConfiguration on a versioned bucket")
		if cfg, err := t.l.GetObjectLockConfiguration(t.ctx, t.me, p); err != nil || !cfg.Enabled {
			t.Errorf("GetObjectLockConfiguration after enabling: %+v, %v", cfg, err)
		}
		t.wantKind(t.l.PutBucketVersioning(t.ctx, t.me, p, objapi.VersioningSuspended), objapi.KindInvalidBucketState, "suspending versioning after enabling object lock")
	}},
	{"WithoutObjectLock", func(t *T) {
		b := t.versioned()
		lock := &objapi.ObjectLock{Mode: objapi.LockGovernance, Until: future(time.Hour)}
		body := []byte("x")
		_, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(body), objapi.PutOptions{Size: 1, ContentMD5: md5raw(body), Lock: lock})
		t.wantKind(err, objapi.KindInvalidRequest, "PutObject with a lock into a bucket without object lock")
		_, err = t.l.CreateMultipartUpload(t.ctx, t.me, b, "k", objapi.PutOptions{Lock: lock})
		t.wantKind(err, objapi.KindInvalidRequest, "CreateMultipartUpload with a lock into a bucket without object lock")
		t.wantNoObject(b, "k")
		v := t.newVersion(b, "k", body, objapi.PutOptions{})
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k"}, b, "kopie", objapi.CopyOptions{Put: objapi.PutOptions{Lock: lock}})
		t.wantKind(err, objapi.KindInvalidRequest, "CopyObject with a lock into a bucket without object lock")
		t.wantKind(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{Mode: lock.Mode, Until: lock.Until}, false), objapi.KindInvalidRequest, "PutObjectRetention without object lock")
		t.wantKind(t.l.PutObjectLegalHold(t.ctx, t.me, b, "k", v, true), objapi.KindInvalidRequest, "PutObjectLegalHold without object lock")
		_, err = t.l.GetObjectLegalHold(t.ctx, t.me, b, "k", v)
		t.wantKind(err, objapi.KindInvalidRequest, "GetObjectLegalHold without object lock")
		obj, _ := t.get(b, "k", objapi.GetOptions{})
		if obj.Info.Lock != (objapi.ObjectLock{}) {
			t.Errorf("an object without object lock: Lock %+v", obj.Info.Lock)
		}
	}},
	{"Compliance", func(t *T) {
		b := t.lockBucket()
		until := future(time.Hour)
		body := data(1000, 8)
		info := t.putMD5(b, "k", body, objapi.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: until}})
		v := info.VersionID
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockCompliance, Until: until})
		obj, _ := t.get(b, "k", objapi.GetOptions{VersionID: v})
		if obj.Info.Lock.Mode != objapi.LockCompliance || !obj.Info.Lock.Until.Equal(until) || obj.Info.Lock.LegalHold {
			t.Errorf("GetObject: Lock %+v", obj.Info.Lock)
		}
		// Removing the version is refused, even with a bypass.
		for _, bypass := range []bool{false, true} {
			_, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v, BypassGovernance: bypass})
			t.wantKind(err, objapi.KindAccessDenied, "DeleteVersion under COMPLIANCE (bypass %v)", bypass)
		}
		res, err := t.l.DeleteVersions(t.ctx, t.me, b, []objapi.ObjectVersion{{Key: "k", VersionID: v}}, true)
		t.must(err, "DeleteVersions")
		if len(res) != 1 || !objapi.IsKind(res[0].Err, objapi.KindAccessDenied) {
			t.Errorf("DeleteVersions under COMPLIANCE: %+v", res)
		}
		// A delete without version id only adds a marker.
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{})
		t.must(err, "DeleteVersion without a version id under COMPLIANCE")
		if !d.DeleteMarker {
			t.Errorf("DeleteVersion without a version id: %+v", d)
		}
		t.wantVersion(b, "k", v, body, false)
		// The retention can only grow.
		for what, r := range map[string]objapi.Retention{
			"shortening":         {Mode: objapi.LockCompliance, Until: until.Add(-time.Minute)},
			"removing":           {},
			"turning GOVERNANCE": {Mode: objapi.LockGovernance, Until: until.Add(time.Hour)},
		} {
			for _, bypass := range []bool{false, true} {
				t.wantKind(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, r, bypass), objapi.KindAccessDenied, "%s a COMPLIANCE retention (bypass %v)", what, bypass)
			}
		}
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockCompliance, Until: until})
		longer := until.Add(24 * time.Hour)
		t.must(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{Mode: objapi.LockCompliance, Until: longer}, false), "extending a COMPLIANCE retention")
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockCompliance, Until: longer})
		// The marker is no protected version.
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: d.VersionID})
		t.must(err, "DeleteVersion of the delete marker")
		t.wantData(b, "k", body)
		t.wantKind(t.l.DeleteBucket(t.ctx, t.me, b), objapi.KindBucketNotEmpty, "DeleteBucket with a locked version")
	}},
	{"Governance", func(t *T) {
		b := t.lockBucket()
		until := future(time.Hour)
		v := t.putMD5(b, "k", []byte("g"), objapi.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockGovernance, Until: until}}).VersionID
		_, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v})
		t.wantKind(err, objapi.KindAccessDenied, "DeleteVersion under GOVERNANCE without a bypass")
		t.wantKind(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: until.Add(-time.Minute)}, false), objapi.KindAccessDenied, "shortening GOVERNANCE without a bypass")
		t.wantKind(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{}, false), objapi.KindAccessDenied, "removing GOVERNANCE without a bypass")
		if col := t.s.env.Colleague; col.AccessKey != "" {
			_, err := t.l.DeleteVersion(t.ctx, col, b, "k", objapi.DeleteOptions{VersionID: v, BypassGovernance: true})
			t.wantKind(err, objapi.KindAccessDenied, "DeleteVersion under GOVERNANCE with a bypass by a key not allowed it")
			t.wantKind(t.l.PutObjectRetention(t.ctx, col, b, "k", v, objapi.Retention{}, true), objapi.KindAccessDenied, "removing GOVERNANCE with a bypass by a key not allowed it")
			res, err := t.l.DeleteVersions(t.ctx, col, b, []objapi.ObjectVersion{{Key: "k", VersionID: v}}, true)
			t.must(err, "DeleteVersions by a key not allowed to bypass")
			if len(res) != 1 || !objapi.IsKind(res[0].Err, objapi.KindAccessDenied) {
				t.Errorf("DeleteVersions under GOVERNANCE with a bypass by a key not allowed it: %+v", res)
			}
		}
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: until})
		// Extending needs no bypass.
		longer := until.Add(time.Hour)
		t.must(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: longer}, false), "extending GOVERNANCE")
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: longer})
		// A new mode alters the retention, even a stronger one.
		t.wantKind(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{Mode: objapi.LockCompliance, Until: longer}, false), objapi.KindAccessDenied, "GOVERNANCE to COMPLIANCE without a bypass")
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: longer})
		if t.s.env.AllowBypass == nil {
			t.Skip("no Env.AllowBypass: an allowed bypass is not tested")
		}
		t.must(t.l.PutObjectRetention(t.ctx, t.me, b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: until}, true), "shortening GOVERNANCE with a bypass")
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockGovernance, Until: until})
		d, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v, BypassGovernance: true})
		t.must(err, "DeleteVersion under GOVERNANCE with a bypass")
		if d.VersionID != v || d.DeleteMarker {
			t.Errorf("DeleteVersion with a bypass: %+v", d)
		}
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{VersionID: v})
		t.wantKind(err, objapi.KindNoSuchVersion, "GetObject of the version removed with a bypass")
		// DeleteVersions with a bypass; and removing a retention with one.
		v2 := t.putMD5(b, "k2", []byte("g2"), objapi.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockGovernance, Until: until}}).VersionID
		v3 := t.putMD5(b, "k3", []byte("g3"), objapi.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockGovernance, Until: until}}).VersionID
		res, err := t.l.DeleteVersions(t.ctx, t.me, b, []objapi.ObjectVersion{{Key: "k2", VersionID: v2}}, true)
		t.must(err, "DeleteVersions with a bypass")
		if len(res) != 1 || res[0].Err != nil {
			t.Errorf("DeleteVersions under GOVERNANCE with a bypass: %+v", res)
		}
		t.must(t.l.PutObjectRetention(t.ctx, t.me, b, "k3", v3, objapi.Retention{}, true), "removing GOVERNANCE with a bypass")
		_, err = t.l.GetObjectRetention(t.ctx, t.me, b, "k3", v3)
		t.wantKind(err, objapi.KindNoSuchObjectLockConfig, "GetObjectRetention after removing it")
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k3", objapi.DeleteOptions{VersionID: v3})
		t.must(err, "DeleteVersion after the retention was removed")
	}},
	{"LegalHold", func(t *T) {
		b := t.lockBucket()
		v := t.put(b, "k", []byte("h"), objapi.PutOptions{}).VersionID
		on, err := t.l.GetObjectLegalHold(t.ctx, t.me, b, "k", v)
		t.must(err, "GetObjectLegalHold")
		if on {
			t.Errorf("a new version is under legal hold")
		}
		_, err = t.l.GetObjectRetention(t.ctx, t.me, b, "k", v)
		t.wantKind(err, objapi.KindNoSuchObjectLockConfig, "GetObjectRetention of a version without retention")
		t.must(t.l.PutObjectLegalHold(t.ctx, t.me, b, "k", v, true), "PutObjectLegalHold on")
		if on, err := t.l.GetObjectLegalHold(t.ctx, t.me, b, "k", v); err != nil || !on {
			t.Errorf("GetObjectLegalHold after setting it: %v, %v", on, err)
		}
		if obj, _ := t.get(b, "k", objapi.GetOptions{}); !obj.Info.Lock.LegalHold {
			t.Errorf("GetObject: Lock %+v", obj.Info.Lock)
		}
		for _, bypass := range []bool{false, true} {
			_, err := t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v, BypassGovernance: bypass})
			t.wantKind(err, objapi.KindAccessDenied, "DeleteVersion under legal hold (bypass %v)", bypass)
		}
		t.must(t.l.PutObjectLegalHold(t.ctx, t.me, b, "k", v, false), "PutObjectLegalHold off")
		if on, err := t.l.GetObjectLegalHold(t.ctx, t.me, b, "k", v); err != nil || on {
			t.Errorf("GetObjectLegalHold after clearing it: %v, %v", on, err)
		}
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v})
		t.must(err, "DeleteVersion after the legal hold ended")
		// Set at the write.
		v = t.putMD5(b, "k", []byte("h2"), objapi.PutOptions{Lock: &objapi.ObjectLock{LegalHold: true}}).VersionID
		if on, err := t.l.GetObjectLegalHold(t.ctx, t.me, b, "k", v); err != nil || !on {
			t.Errorf("GetObjectLegalHold of a version written with one: %v, %v", on, err)
		}
		t.wantKind(t.l.PutObjectLegalHold(t.ctx, t.me, b, "k", unknownVersion, true), objapi.KindNoSuchVersion, "PutObjectLegalHold of an unknown version")
		t.wantKind(t.l.PutObjectLegalHold(t.ctx, t.other, b, "k", v, false), objapi.KindAccessDenied, "PutObjectLegalHold by another tenant")
		t.must(t.l.PutObjectLegalHold(t.ctx, t.me, b, "k", v, false), "PutObjectLegalHold off")
	}},
	{"DefaultRetention", func(t *T) {
		b := t.lockBucket()
		t.must(t.l.PutObjectLockConfiguration(t.ctx, t.me, b, objapi.ObjectLockConfig{Enabled: true, Mode: objapi.LockGovernance, Days: 1}), "PutObjectLockConfiguration")
		before := time.Now()
		v := t.putMD5(b, "k", []byte("d"), objapi.PutOptions{}).VersionID
		after := time.Now()
		r, err := t.l.GetObjectRetention(t.ctx, t.me, b, "k", v)
		t.must(err, "GetObjectRetention of a version under default retention")
		lo, hi := before.AddDate(0, 0, 1).Add(-2*time.Second), after.AddDate(0, 0, 1).Add(2*time.Second)
		if r.Mode != objapi.LockGovernance || r.Until.Before(lo) || r.Until.After(hi) {
			t.Errorf("default retention: %s until %v, want GOVERNANCE until about a day from now", r.Mode, r.Until)
		}
		if obj, _ := t.get(b, "k", objapi.GetOptions{}); obj.Info.Lock.Mode != objapi.LockGovernance || !obj.Info.Lock.Until.Equal(r.Until) {
			t.Errorf("GetObject: Lock %+v, want %+v", obj.Info.Lock, r)
		}
		_, err = t.l.DeleteVersion(t.ctx, t.me, b, "k", objapi.DeleteOptions{VersionID: v})
		t.wantKind(err, objapi.KindAccessDenied, "DeleteVersion under default retention")
		// An explicit retention wins over the default.
		until := future(3 * time.Hour)
		v = t.putMD5(b, "k", []byte("e"), objapi.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: until}}).VersionID
		t.wantRetention(b, "k", v, objapi.Retention{Mode: objapi.LockCompliance, Until: until})
		// Writes under a lock need an integrity check.
		body := []byte("ohne")
		_, err = t.l.PutObject(t.ctx, t.me, b, "ohne", bytes.NewReader(body), objapi.PutOptions{Size: int64(len(body))})
		t.wantKind(err, objapi.KindInvalidRequest, "PutObject under default retention without Content-MD5 or checksum")
		t.wantNoObject(b, "ohne")
		sum := sumOf("CRC32", body)
		info, err := t.l.PutObject(t.ctx, t.me, b, "mit", bytes.NewReader(body), objapi.PutOptions{Size: int64(len(body)),
			Checksums: func() []objapi.Checksum { return []objapi.Checksum{sum} }})
		t.must(err, "PutObject under default retention with a checksum")
		if r := mustRetention(t, b, "mit", info.VersionID); r.Mode != objapi.LockGovernance {
			t.Errorf("default retention of a write with a checksum: %+v", r)
		}

		n := t.lockBucket()
		_, err = t.l.PutObject(t.ctx, t.me, n, "ohne", bytes.NewReader(body), objapi.PutOptions{Size: int64(len(body)), Lock: &objapi.ObjectLock{Mode: objapi.LockGovernance, Until: until}})
		t.wantKind(err, objapi.KindInvalidRequest, "PutObject with a retention without Content-MD5 or checksum")
		_, err = t.l.PutObject(t.ctx, t.me, n, "ohne", bytes.NewReader(body), objapi.PutOptions{Size: int64(len(body)), Lock: &objapi.ObjectLock{LegalHold: true}})
		t.wantKind(err, objapi.KindInvalidRequest, "PutObject with a legal hold without Content-MD5 or checksum")
		t.wantNoObject(n, "ohne")
		// Without a lock, a lock bucket takes writes without either.
		t.put(n, "frei", body, objapi.PutOptions{})
		_, err = t.l.GetObjectRetention(t.ctx, t.me, n, "frei", "")
		t.wantKind(err, objapi.KindNoSuchObjectLockConfig, "GetObjectRetention without default retention")
	}},
}

// mustRetention returns a version's retention.
func mustRetention(t *T, bucket, key, id string) objapi.Retention {
	t.Helper()
	r, err := t.l.GetObjectRetention(t.ctx, t.me, bucket, key, id)
	t.must(err, "GetObjectRetention %s/%s@%s", bucket, key, id)
	if r.Mode == "" || r.Until.IsZero() {
		t.Errorf("retention of %s/%s@%s: %+v", bucket, key, id, r)
	}
	return r
}

// sameLifecycle compares lifecycle rules, dates by instant.
func sameLifecycle(a, b []objapi.LifecycleRule) bool {
	return slices.EqualFunc(a, b, func(x, y objapi.LifecycleRule) bool {
		return x.ID == y.ID && x.Enabled == y.Enabled && x.Filter.Prefix == y.Filter.Prefix && sameTags(x.Filter.Tags, y.Filter.Tags) &&
			x.Filter.ObjectSizeGreaterThan == y.Filter.ObjectSizeGreaterThan && x.Filter.ObjectSizeLessThan == y.Filter.ObjectSizeLessThan &&
			x.ExpirationDays == y.ExpirationDays && x.ExpirationDate.Equal(y.ExpirationDate) &&
			x.ExpiredObjectDeleteMarker == y.ExpiredObjectDeleteMarker && x.NoncurrentDays == y.NoncurrentDays &&
			x.NewerNoncurrentVersions == y.NewerNoncurrentVersions && x.AbortIncompleteDays == y.AbortIncompleteDays
	})
}

var lifecycleTests = []test{
	{"RoundTrip", func(t *T) {
		b := t.bucket()
		_, err := t.l.GetBucketLifecycle(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchLifecycle, "GetBucketLifecycle without rules")
		t.wantKind(t.l.PutBucketLifecycle(t.ctx, t.me, b, nil), objapi.KindMalformedXML, "PutBucketLifecycle without rules")
		rules := []objapi.LifecycleRule{
			{ID: "logs", Enabled: true, Filter: objapi.LifecycleFilter{Prefix: "logs/", Tags: []objapi.Tag{{Key: "a", Value: "b"}}, ObjectSizeGreaterThan: 10, ObjectSizeLessThan: 1 << 20},
				ExpirationDays: 30, NoncurrentDays: 7, NewerNoncurrentVersions: 2, AbortIncompleteDays: 3},
			{ID: "stichtag", Enabled: false, ExpirationDate: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
			{ID: "marker", Enabled: true, ExpiredObjectDeleteMarker: true},
		}
		t.must(t.l.PutBucketLifecycle(t.ctx, t.me, b, rules), "PutBucketLifecycle")
		got, err := t.l.GetBucketLifecycle(t.ctx, t.me, b)
		t.must(err, "GetBucketLifecycle")
		if !sameLifecycle(got, rules) {
			t.Errorf("GetBucketLifecycle:\n\tgot  %+v\n\twant %+v", got, rules)
		}
		// Replaced whole.
		t.must(t.l.PutBucketLifecycle(t.ctx, t.me, b, rules[2:]), "PutBucketLifecycle again")
		if got, err := t.l.GetBucketLifecycle(t.ctx, t.me, b); err != nil || !sameLifecycle(got, rules[2:]) {
			t.Errorf("GetBucketLifecycle after replacing: %+v, %v", got, err)
		}
		t.wantKind(t.l.PutBucketLifecycle(t.ctx, t.other, b, rules), objapi.KindAccessDenied, "PutBucketLifecycle by another tenant")
		_, err = t.l.GetBucketLifecycle(t.ctx, t.other, b)
		t.wantKind(err, objapi.KindAccessDenied, "GetBucketLifecycle by another tenant")
		t.wantKind(t.l.DeleteBucketLifecycle(t.ctx, t.other, b), objapi.KindAccessDenied, "DeleteBucketLifecycle by another tenant")
		t.must(t.l.DeleteBucketLifecycle(t.ctx, t.me, b), "DeleteBucketLifecycle")
		_, err = t.l.GetBucketLifecycle(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchLifecycle, "GetBucketLifecycle after DeleteBucketLifecycle")
		_, err = t.l.GetBucketLifecycle(t.ctx, t.me, "objtest-nie-da")
		t.wantKind(err, objapi.KindNoSuchBucket, "GetBucketLifecycle of a missing bucket")
	}},
}
