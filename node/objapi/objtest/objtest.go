// Package objtest is the object layer's conformance suite, in the manner of
// perkeep's storagetest: one set of behaviour tests of objapi.Layer that
// every implementation runs — the real one (package node, on an in-process
// cluster) and the in-memory double s3api's tests use (objapi/memlayer) —
// so that the double cannot drift from what it stands in for.
//
// The tests call the layer directly, in objapi's types, and check what
// objapi.Layer's comments promise: results, the error kind of every
// failure, and what a failed call leaves behind. Where an implementation
// and the suite disagree, the real object layer is the reference.
package objtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Env is a layer under test and two callers of different tenants that
// both may create buckets in it.
type Env struct {
	Layer objapi.Layer
	// Caller creates the buckets the tests use; Other is another tenant,
	// which must not reach them.
	Caller, Other objapi.Caller
	// Skip names tests ("Group/Test") the layer is known to fail, each
	// with the reason; they are skipped with it, so that the deviation
	// shows in every run until it is fixed and the entry removed.
	Skip map[string]string
	// Versioning says the layer implements objapi.Versions: versioning,
	// object lock and lifecycle. Without it the groups testing them
	// (versionGroups) are skipped.
	Versioning bool
	// AllowBypass, if set, lets an access key bypass GOVERNANCE retention,
	// as an operator allows it; Run grants it to Caller's access key.
	// Without it the tests of an allowed bypass are skipped.
	AllowBypass func(accessKey string)
	// Colleague is another access key of Caller's tenant, never allowed to
	// bypass GOVERNANCE retention. Without it (an empty AccessKey) the
	// tests of a refused bypass by a key not allowed are skipped.
	Colleague objapi.Caller
}

// versionGroups are the groups that need Env.Versioning.
var versionGroups = map[string]bool{"Versioning": true, "ObjectLock": true, "Lifecycle": true}

// Run runs the suite against the layer newEnv returns. newEnv is called
// once; every test creates buckets of its own (their names start with
// "objtest-"), so the tests share the layer and do not depend on each
// other's order.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	env := newEnv(t)
	if env.Caller.Tenant == "" || env.Other.Tenant == "" || env.Caller.Tenant == env.Other.Tenant {
		t.Fatalf("objtest: Env needs two callers of different tenants, got %q and %q", env.Caller.Tenant, env.Other.Tenant)
	}
	if env.Colleague.AccessKey != "" && (env.Colleague.Tenant != env.Caller.Tenant || env.Colleague.AccessKey == env.Caller.AccessKey) {
		t.Fatalf("objtest: Env.Colleague must be another access key of Caller's tenant, got %+v", env.Colleague)
	}
	if env.AllowBypass != nil {
		env.AllowBypass(env.Caller.AccessKey)
	}
	s := &suite{env: env}
	for _, group := range []struct {
		name  string
		tests []test
	}{
		{"Buckets", bucketTests},
		{"Objects", objectTests},
		{"Ranges", rangeTests},
		{"Listing", listTests},
		{"Conditional", conditionalTests},
		{"Multipart", multipartTests},
		{"MultipartListing", uploadListTests},
		{"Checksums", checksumTests},
		{"Copy", copyTests},
		{"Tagging", taggingTests},
		{"CORS", corsTests},
		{"Versioning", versioningTests},
		{"ObjectLock", objectLockTests},
		{"Lifecycle", lifecycleTests},
	} {
		t.Run(group.name, func(t *testing.T) {
			if versionGroups[group.name] && !env.Versioning {
				t.Skip("the layer does not implement versioning yet (Env.Versioning)")
			}
			for _, tc := range group.tests {
				t.Run(tc.name, func(t *testing.T) {
					if why, ok := env.Skip[group.name+"/"+tc.name]; ok {
						t.Skip("known deviation: " + why)
					}
					tc.fn(s.tester(t))
				})
			}
		})
	}
}

// test is one behaviour test.
type test struct {
	name string
	fn   func(t *T)
}

type suite struct {
	env     Env
	buckets atomic.Int64
}

// T is a test's handle on the layer: the *testing.T, the layer, the two
// callers and helpers that fail the test on an unexpected error.
type T struct {
	*testing.T
	s     *suite
	ctx   context.Context
	l     objapi.Layer
	me    objapi.Caller
	other objapi.Caller
}

func (s *suite) tester(t *testing.T) *T {
	return &T{T: t, s: s, ctx: t.Context(), l: s.env.Layer, me: s.env.Caller, other: s.env.Other}
}

// bucket creates a new, empty bucket of the caller's.
func (t *T) bucket() string {
	t.Helper()
	name := fmt.Sprintf("objtest-%04d", t.s.buckets.Add(1))
	if err := t.l.CreateBucket(t.ctx, t.me, name); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

// wantKind fails the test unless err is an *objapi.Error of kind k.
func (t *T) wantKind(err error, k objapi.Kind, what string, args ...any) {
	t.Helper()
	if !objapi.IsKind(err, k) {
		t.Errorf("%s: got %v (kind %v), want kind %v", fmt.Sprintf(what, args...), err, kindOf(err), k)
	}
}

func kindOf(err error) string {
	if err == nil {
		return "none"
	}
	return objapi.KindOf(err).String()
}

// must fails the test at once on an error.
func (t *T) must(err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// put stores data at bucket/key with opts (Size is set to len(data)).
func (t *T) put(bucket, key string, data []byte, opts objapi.PutOptions) objapi.ObjectInfo {
	t.Helper()
	opts.Size = int64(len(data))
	info, err := t.l.PutObject(t.ctx, t.me, bucket, key, bytes.NewReader(data), opts)
	t.must(err, "PutObject %s/%s", bucket, key)
	return info
}

// get reads an object (or the range or part opts ask for) and its bytes.
func (t *T) get(bucket, key string, opts objapi.GetOptions) (*objapi.Object, []byte) {
	t.Helper()
	obj, err := t.l.GetObject(t.ctx, t.me, bucket, key, opts)
	t.must(err, "GetObject %s/%s", bucket, key)
	var buf bytes.Buffer
	t.must(obj.Send(t.ctx, &buf), "Send %s/%s", bucket, key)
	if int64(buf.Len()) != obj.Length {
		t.Errorf("GetObject %s/%s: Send wrote %d bytes, Length is %d", bucket, key, buf.Len(), obj.Length)
	}
	return obj, buf.Bytes()
}

// wantData fails the test unless bucket/key holds exactly data.
func (t *T) wantData(bucket, key string, data []byte) {
	t.Helper()
	_, got := t.get(bucket, key, objapi.GetOptions{})
	if !bytes.Equal(got, data) {
		t.Errorf("%s/%s holds %d bytes %.16x…, want %d bytes %.16x…", bucket, key, len(got), got, len(data), data)
	}
}

// wantNoObject fails the test unless bucket/key does not exist.
func (t *T) wantNoObject(bucket, key string) {
	t.Helper()
	_, err := t.l.GetObject(t.ctx, t.me, bucket, key, objapi.GetOptions{})
	t.wantKind(err, objapi.KindNoSuchKey, "GetObject %s/%s", bucket, key)
}

// keys lists a bucket whole and returns its keys.
func (t *T) keys(bucket string) []string {
	t.Helper()
	res, err := t.l.ListObjects(t.ctx, t.me, bucket, objapi.ListOptions{MaxKeys: 1000})
	t.must(err, "ListObjects %s", bucket)
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.Key)
	}
	return out
}

// data returns n bytes that differ from other calls' (seed).
func data(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func md5raw(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}

// failingBody returns data, then err instead of io.EOF: a body whose
// signature or checksum fails at its end.
type failingBody struct {
	r   io.Reader
	err error
}

func (f *failingBody) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// sameTags compares tag sets as sets.
func sameTags(a, b []objapi.Tag) bool {
	key := func(x, y objapi.Tag) int { return strings.Compare(x.Key+"\x00"+x.Value, y.Key+"\x00"+y.Value) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, key)
	slices.SortFunc(b, key)
	return slices.Equal(a, b)
}

// sameChecksums compares checksum lists, nil and empty alike.
func sameChecksums(a, b []objapi.Checksum) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

// checkInfo compares what a layer says about an object with what the test
// expects, field by field, for the fields the contract names.
func (t *T) checkInfo(what string, got, want objapi.ObjectInfo) {
	t.Helper()
	var diffs []string
	diff := func(field string, g, w any) { diffs = append(diffs, fmt.Sprintf("%s %v, want %v", field, g, w)) }
	if got.Bucket != want.Bucket {
		diff("Bucket", got.Bucket, want.Bucket)
	}
	if got.Key != want.Key {
		diff("Key", got.Key, want.Key)
	}
	if got.VersionID != "null" {
		diff("VersionID", got.VersionID, "null")
	}
	if got.Size != want.Size {
		diff("Size", got.Size, want.Size)
	}
	if got.ETag != want.ETag {
		diff("ETag", got.ETag, want.ETag)
	}
	if got.ContentType != want.ContentType {
		diff("ContentType", got.ContentType, want.ContentType)
	}
	if !maps.Equal(got.UserMeta, want.UserMeta) { // nil and empty alike
		diff("UserMeta", got.UserMeta, want.UserMeta)
	}
	if got.Headers != want.Headers {
		diff("Headers", got.Headers, want.Headers)
	}
	if got.TagCount != want.TagCount {
		diff("TagCount", got.TagCount, want.TagCount)
	}
	if got.PartsCount != want.PartsCount {
		diff("PartsCount", got.PartsCount, want.PartsCount)
	}
	if !sameChecksums(got.Checksums, want.Checksums) {
		diff("Checksums", got.Checksums, want.Checksums)
	}
	if got.ChecksumType != want.ChecksumType {
		diff("ChecksumType", got.ChecksumType, want.ChecksumType)
	}
	if got.StorageClass != "STANDARD" {
		diff("StorageClass", got.StorageClass, "STANDARD")
	}
	if got.Owner != t.me.Tenant {
		diff("Owner", got.Owner, t.me.Tenant)
	}
	if got.Modified.IsZero() || !want.Modified.IsZero() && !got.Modified.Equal(want.Modified) {
		diff("Modified", got.Modified, want.Modified)
	}
	if len(diffs) > 0 {
		t.Errorf("%s:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}
