// Package memlayer is an in-memory objapi.Layer: the test double s3api's
// tests run against. It behaves as the real object layer (package node)
// does toward its callers — objapi/objtest checks both against the same
// suite — but holds whole objects in memory, which only a test double may
// do.
package memlayer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kommunal-cloud/kcs/node/checksum"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Layer is an in-memory objapi.Layer that behaves as the real object
// layer must toward s3api (the contracts on objapi.Layer's methods):
// per-tenant ownership, S3 listing order and semantics, multipart rules,
// ETags and checksums (COMPOSITE and FULL_OBJECT), range and part
// resolution, conditional writes decided at the commit (under the lock,
// so that of racing writers exactly one wins), copies and their
// conditions, tags, CORS rules, versioning (versions, null versions and
// delete markers), object lock (retention, legal hold, governance
// bypass), lifecycle rules (kept, not applied), and reading every body to
// io.EOF before committing. It holds whole objects in memory, which only a
// test double may do.
type Layer struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*memBucket
	uploads map[string]*memUpload
	seq     int64 // upload ids begin with it: they sort by initiation
	vseq    int64 // version ids are made of it
	// bypass holds the access keys allowed to bypass GOVERNANCE
	// retention (AllowBypass).
	bypass map[string]bool
}

type memBucket struct {
	info objapi.BucketInfo
	// objects holds each key's versions and delete markers, newest (the
	// current one) first; a key without any has no entry.
	objects    map[string][]*memObject
	cors       []objapi.CORSRule
	tags       []objapi.Tag             // the bucket's
	versioning string                   // "", objapi.VersioningEnabled or objapi.VersioningSuspended
	lock       *objapi.ObjectLockConfig // nil: no object lock
	lifecycle  []objapi.LifecycleRule
}

// memObject is one version of a key, or a delete marker
// (info.DeleteMarker). info.VersionID is its S3 version id and info.Lock
// its retention and legal hold.
type memObject struct {
	info  objapi.ObjectInfo
	data  []byte
	parts []objapi.PartInfo // for objects uploaded in parts
	// uploadID is the upload the object was completed from: a retried
	// completion is answered with the object.
	uploadID string
	tags     []objapi.Tag
}

type memUpload struct {
	bucket, key, tenant, id string
	opts                    objapi.PutOptions
	checksumType            string // in effect: opts' or the algorithm's default
	initiated               time.Time
	parts                   map[int]*memPart
}

type memPart struct {
	info objapi.PartInfo
	md5  []byte
	data []byte
}

// S3's limits, as the real layer enforces them.
const (
	minPartSize = 5 << 20 // every part but the last
	maxPutSize  = 5 << 30 // a single PUT, a part, and what CopyObject copies
	maxParts    = 10000
	maxUserMeta = 2 << 10 // x-amz-meta-* names and values together
	maxTags     = 10
)

// checkUserMeta applies S3's limit on user metadata.
func checkUserMeta(op string, m map[string]string) error {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	if n > maxUserMeta {
		return objapi.Errorf(op, objapi.KindInvalidArgument, "user metadata is %d bytes, the limit is %d", n, maxUserMeta)
	}
	return nil
}

// validTags applies S3's rules for tag sets.
func validTags(op string, tags []objapi.Tag) error { return validTagSet(op, tags, maxTags) }

// validTagSet checks a tag set against S3's rules, at most limit tags.
func validTagSet(op string, tags []objapi.Tag, limit int) error {
	if len(tags) > limit {
		return objapi.Errorf(op, objapi.KindInvalidTag, "tags cannot be greater than %d", limit)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > 128 || !utf8.ValidString(t.Key):
			return objapi.Errorf(op, objapi.KindInvalidTag, "the TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > 256 || !utf8.ValidString(t.Value):
			return objapi.Errorf(op, objapi.KindInvalidTag, "the TagValue you have provided is invalid")
		case seen[t.Key]:
			return objapi.Errorf(op, objapi.KindInvalidTag, "cannot provide multiple tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// New returns an empty Layer whose clock is now.
func New(now func() time.Time) *Layer {
	return &Layer{now: now, buckets: map[string]*memBucket{}, uploads: map[string]*memUpload{}, bypass: map[string]bool{}}
}

// AllowBypass lets accessKey bypass GOVERNANCE retention (with
// x-amz-bypass-governance-retention), as an operator allows it in the real
// layer.
func (m *Layer) AllowBypass(accessKey string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bypass[accessKey] = true
}

// bucketFor finds a bucket the caller owns. Call with m.mu held.
func (m *Layer) bucketFor(op string, c objapi.Caller, bucket string) (*memBucket, error) {
	b, ok := m.buckets[bucket]
	if !ok {
		return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchBucket, Bucket: bucket}
	}
	if b.info.Tenant != c.Tenant {
		return nil, &objapi.Error{Op: op, Kind: objapi.KindAccessDenied, Bucket: bucket}
	}
	return b, nil
}

func (m *Layer) ListBuckets(ctx context.Context, c objapi.Caller) ([]objapi.BucketInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []objapi.BucketInfo
	for _, b := range m.buckets {
		if b.info.Tenant == c.Tenant {
			out = append(out, b.info)
		}
	}
	return out, nil
}

func (m *Layer) CreateBucket(ctx context.Context, c objapi.Caller, bucket string) error {
	return m.CreateBucketWith(ctx, c, bucket, objapi.CreateBucketOptions{})
}

// CreateBucketWith creates a bucket; one with object lock has versioning
// enabled from the start.
func (m *Layer) CreateBucketWith(ctx context.Context, c objapi.Caller, bucket string, opts objapi.CreateBucketOptions) error {
	if err := objapi.ValidBucketName(bucket); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.buckets[bucket]; ok {
		if b.info.Tenant == c.Tenant {
			return &objapi.Error{Op: "CreateBucket", Kind: objapi.KindBucketOwnedByYou, Bucket: bucket}
		}
		return &objapi.Error{Op: "CreateBucket", Kind: objapi.KindBucketExists, Bucket: bucket}
	}
	b := &memBucket{
		info:    objapi.BucketInfo{Name: bucket, Created: m.now(), Tenant: c.Tenant},
		objects: map[string][]*memObject{},
	}
	if opts.ObjectLock {
		b.versioning = objapi.VersioningEnabled
		b.lock = &objapi.ObjectLockConfig{Enabled: true}
	}
	m.buckets[bucket] = b
	return nil
}

func (m *Layer) HeadBucket(ctx context.Context, c objapi.Caller, bucket string) (objapi.BucketInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("HeadBucket", c, bucket)
	if err != nil {
		return objapi.BucketInfo{}, err
	}
	return b.info, nil
}

func (m *Layer) DeleteBucket(ctx context.Context, c objapi.Caller, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("DeleteBucket", c, bucket)
	if err != nil {
		return err
	}
	if len(b.objects) > 0 {
		return &objapi.Error{Op: "DeleteBucket", Kind: objapi.KindBucketNotEmpty, Bucket: bucket}
	}
	// Uploads in progress go with the bucket, as in S3.
	for id, u := range m.uploads {
		if u.bucket == bucket {
			delete(m.uploads, id)
		}
	}
	delete(m.buckets, bucket)
	return nil
}

// readBody reads a write's body to io.EOF, as the real layer must before
// it commits, and checks the declared size and Content-MD5.
func readBody(op string, body io.Reader, size int64, contentMD5 []byte) (data, sum []byte, err error) {
	h := md5.New()
	var buf bytes.Buffer
	if _, err := io.Copy(io.MultiWriter(&buf, h), body); err != nil {
		// The real layer wraps read errors this way too: s3api must still
		// find the body's own failure underneath.
		return nil, nil, &objapi.Error{Op: op, Kind: objapi.KindInternal, Err: err}
	}
	if size >= 0 && int64(buf.Len()) != size {
		return nil, nil, &objapi.Error{Op: op, Kind: objapi.KindIncompleteBody, Msg: fmt.Sprintf("got %d of %d bytes", buf.Len(), size)}
	}
	sum = h.Sum(nil)
	if contentMD5 != nil && !bytes.Equal(contentMD5, sum) {
		return nil, nil, &objapi.Error{Op: op, Kind: objapi.KindBadDigest}
	}
	return buf.Bytes(), sum, nil
}

func checksumsOf(f func() []objapi.Checksum) []objapi.Checksum {
	if f == nil {
		return nil
	}
	return f()
}

// commitCheck decides a write's conditions against the current version.
// Call with m.mu held, right before the write.
func commitCheck(op string, b *memBucket, key string, ifNoneMatch bool, ifMatch string) error {
	cur := b.current(key)
	exists := cur != nil
	if ifNoneMatch && exists {
		return &objapi.Error{Op: op, Kind: objapi.KindPrecondition, Bucket: b.info.Name, Key: key}
	}
	if ifMatch != "" {
		if !exists {
			return &objapi.Error{Op: op, Kind: objapi.KindNoSuchKey, Bucket: b.info.Name, Key: key}
		}
		if !objapi.ETagMatches(ifMatch, cur.info.ETag) {
			return &objapi.Error{Op: op, Kind: objapi.KindPrecondition, Bucket: b.info.Name, Key: key}
		}
	}
	return nil
}

func (m *Layer) PutObject(ctx context.Context, c objapi.Caller, bucket, key string, body io.Reader, opts objapi.PutOptions) (objapi.ObjectInfo, error) {
	if err := objapi.ValidObjectKey(key); err != nil {
		return objapi.ObjectInfo{}, err
	}
	if opts.Size > maxPutSize {
		return objapi.ObjectInfo{}, objapi.Errorf("PutObject", objapi.KindEntityTooLarge, "%d bytes; a single PUT takes at most 5 GiB", opts.Size)
	}
	if err := checkUserMeta("PutObject", opts.UserMeta); err != nil {
		return objapi.ObjectInfo{}, err
	}
	if err := validTags("PutObject", opts.Tags); err != nil {
		return objapi.ObjectInfo{}, err
	}
	m.mu.Lock()
	b, err := m.bucketFor("PutObject", c, bucket)
	if err == nil {
		_, err = m.lockFor("PutObject", b, opts.Lock, true)
	}
	m.mu.Unlock()
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	data, sum, err := readBody("PutObject", body, opts.Size, opts.ContentMD5)
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	info := objapi.ObjectInfo{
		Bucket: bucket, Key: key, VersionID: "null", Size: int64(len(data)),
		ETag: hex.EncodeToString(sum), Modified: m.now(), ContentType: opts.ContentType, Headers: opts.Headers,
		UserMeta: opts.UserMeta, Checksums: checksumsOf(opts.Checksums), Owner: c.Tenant, StorageClass: "STANDARD",
		TagCount: len(opts.Tags),
	}
	if len(info.Checksums) > 0 {
		info.ChecksumType = "FULL_OBJECT"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err = m.bucketFor("PutObject", c, bucket)
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	if info.Lock, err = m.lockFor("PutObject", b, opts.Lock, true); err != nil {
		return objapi.ObjectInfo{}, err
	}
	if (info.Lock.Mode != "" || info.Lock.LegalHold) && opts.ContentMD5 == nil && len(info.Checksums) == 0 {
		return objapi.ObjectInfo{}, objapi.Errorf("PutObject", objapi.KindInvalidRequest, "Content-MD5 or x-amz-checksum- header is required for Put Object requests with Object Lock parameters")
	}
	if err := commitCheck("PutObject", b, key, opts.IfNoneMatch, opts.IfMatch); err != nil {
		return objapi.ObjectInfo{}, err
	}
	return m.add(b, key, &memObject{info: info, data: data, tags: slices.Clone(opts.Tags)}), nil
}

func (m *Layer) GetObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.GetOptions) (*objapi.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("GetObject", c, bucket)
	if err != nil {
		return nil, err
	}
	o, err := b.version("GetObject", key, opts.VersionID)
	if err != nil {
		return nil, err
	}
	size := int64(len(o.data))
	off, n, partial := int64(0), size, false
	bad := func() (*objapi.Object, error) {
		return nil, &objapi.Error{Op: "GetObject", Kind: objapi.KindInvalidRange, Bucket: bucket, Key: key}
	}
	switch {
	case opts.PartNumber > 0:
		partial = true
		if o.parts == nil {
			if opts.PartNumber != 1 {
				return bad()
			}
			break
		}
		if opts.PartNumber > len(o.parts) {
			return bad()
		}
		off = 0
		for _, p := range o.parts[:opts.PartNumber-1] {
			off += p.Size
		}
		n = o.parts[opts.PartNumber-1].Size
	case opts.Range != nil:
		partial = true
		var ok bool
		if off, n, ok = resolveRange(opts.Range, size); !ok {
			return bad()
		}
	}
	all := o.data[off : off+n]
	send := func(ctx context.Context, w io.Writer) error {
		// Write in small pieces, as a stream would, and honour ctx.
		data := all
		for len(data) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(len(data), 64<<10)
			if _, err := w.Write(data[:k]); err != nil {
				return err
			}
			data = data[k:]
		}
		return nil
	}
	info := b.describe(key, o)
	if opts.PartNumber > 0 && o.parts != nil {
		p := o.parts[opts.PartNumber-1]
		info.Part = &p
	}
	if opts.Parts {
		info.Parts = slices.Clone(o.parts)
	}
	return objapi.NewObject(info, off, n, partial, send), nil
}

// resolveRange turns a range into offset and length within size.
func resolveRange(r *objapi.RangeSpec, size int64) (off, n int64, ok bool) {
	if r.Suffix > 0 {
		if size == 0 {
			return 0, 0, false
		}
		n = min(r.Suffix, size)
		return size - n, n, true
	}
	if r.First < 0 || r.First >= size {
		return 0, 0, false
	}
	last := r.Last
	if last < 0 || last >= size {
		last = size - 1
	}
	if last < r.First {
		return 0, 0, false
	}
	return r.First, last - r.First + 1, true
}

// DeleteObject deletes a key as DeleteVersion does without a version id:
// one that does not exist is deleted already, unless the delete is
// conditional; in a versioned bucket a delete marker is added.
func (m *Layer) DeleteObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.DeleteOptions) error {
	_, err := m.DeleteVersion(ctx, c, bucket, key, opts)
	return err
}

func (m *Layer) DeleteObjects(ctx context.Context, c objapi.Caller, bucket string, keys []string) ([]objapi.DeleteResult, error) {
	objs := make([]objapi.ObjectVersion, len(keys))
	for i, k := range keys {
		objs[i] = objapi.ObjectVersion{Key: k}
	}
	return m.deleteVersions("DeleteObjects", c, bucket, objs, false)
}

// ListObjects lists in UTF-8 byte order (Go's string order) the keys
// after opts.After, rolled up into common prefixes that are listed only
// when they too sort after After: a continuation after a prefix skips the
// keys under it, and so does an After within one, as the real layer does.
func (m *Layer) ListObjects(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListOptions) (objapi.ListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("ListObjects", c, bucket)
	if err != nil || opts.MaxKeys <= 0 {
		return objapi.ListResult{}, err
	}
	max := min(opts.MaxKeys, 1000)
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if b.current(k) != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var res objapi.ListResult
	count := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, opts.Prefix) || k <= opts.After {
			continue
		}
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				p := k[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if p <= opts.After || len(res.Prefixes) > 0 && res.Prefixes[len(res.Prefixes)-1] == p {
					continue
				}
				if count == max {
					res.Truncated = true
					break
				}
				res.Prefixes = append(res.Prefixes, p)
				res.Next = p
				count++
				continue
			}
		}
		if count == max {
			res.Truncated = true
			break
		}
		o := b.current(k).info
		// What a listing tells of an object.
		res.Objects = append(res.Objects, objapi.ObjectInfo{Bucket: bucket, Key: k, VersionID: o.VersionID, Size: o.Size, ETag: o.ETag,
			Modified: o.Modified, Owner: o.Owner, StorageClass: o.StorageClass, Checksums: o.Checksums, ChecksumType: o.ChecksumType})
		res.Next = k
		count++
	}
	return res, nil
}

// checkCopyConditions evaluates a copy source's conditions as S3 does:
// an If-Match that holds overrides If-Unmodified-Since, an If-None-Match
// that fails overrides If-Modified-Since, and a failure is 412.
func checkCopyConditions(op string, src objapi.CopySource, info objapi.ObjectInfo) error {
	mod := info.Modified.Truncate(time.Second)
	fail := &objapi.Error{Op: op, Kind: objapi.KindPrecondition, Bucket: src.Bucket, Key: src.Key}
	if src.IfMatch != "" {
		if !objapi.ETagMatches(src.IfMatch, info.ETag) {
			return fail
		}
	} else if !src.IfUnmodifiedSince.IsZero() && mod.After(src.IfUnmodifiedSince) {
		return fail
	}
	if src.IfNoneMatch != "" {
		if objapi.ETagMatches(src.IfNoneMatch, info.ETag) {
			return fail
		}
	} else if !src.IfModifiedSince.IsZero() && !mod.After(src.IfModifiedSince) {
		return fail
	}
	return nil
}

// copySourceObject finds a copy's source and checks its conditions. Call
// with m.mu held.
func (m *Layer) copySourceObject(op string, c objapi.Caller, src objapi.CopySource) (*memObject, error) {
	sb, err := m.bucketFor(op, c, src.Bucket)
	if err != nil {
		return nil, err
	}
	so, err := sb.version(op, src.Key, src.VersionID)
	if objapi.IsKind(err, objapi.KindMethodNotAllowed) {
		return nil, objapi.Errorf(op, objapi.KindInvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
	}
	if err != nil {
		return nil, err
	}
	if err := checkCopyConditions(op, src, so.info); err != nil {
		return nil, err
	}
	return so, nil
}

// checksumOver computes a full-object checksum of data.
func checksumOver(alg string, data []byte) objapi.Checksum {
	a, ok := checksum.Lookup(alg)
	if !ok {
		panic("memlayer: unknown checksum algorithm " + alg)
	}
	h := a.New()
	h.Write(data)
	return objapi.Checksum{Algorithm: a.Name, Value: checksum.Encode(h.Sum(nil))}
}

func (m *Layer) CopyObject(ctx context.Context, c objapi.Caller, src objapi.CopySource, bucket, key string, opts objapi.CopyOptions) (objapi.ObjectInfo, error) {
	const op = "CopyObject"
	if err := objapi.ValidObjectKey(key); err != nil {
		return objapi.ObjectInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	so, err := m.copySourceObject(op, c, src)
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	if src.Bucket == bucket && src.Key == key && (src.VersionID == "" || so == m.buckets[bucket].current(key)) &&
		!opts.ReplaceMetadata && !opts.ReplaceTags && opts.Put.ChecksumAlgorithm == "" {
		return objapi.ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if so.info.Size > maxPutSize {
		return objapi.ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	if opts.ReplaceMetadata {
		if err := checkUserMeta(op, opts.Put.UserMeta); err != nil {
			return objapi.ObjectInfo{}, err
		}
	}
	if opts.ReplaceTags {
		if err := validTags(op, opts.Put.Tags); err != nil {
			return objapi.ObjectInfo{}, err
		}
	}
	db, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	if alg := opts.Put.ChecksumAlgorithm; alg != "" {
		if _, ok := checksum.Lookup(alg); !ok {
			return objapi.ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidArgument, "unsupported checksum algorithm %q", alg)
		}
	}
	lock, err := m.lockFor(op, db, opts.Put.Lock, true)
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	if err := commitCheck(op, db, key, opts.Put.IfNoneMatch, opts.Put.IfMatch); err != nil {
		return objapi.ObjectInfo{}, err
	}
	data := slices.Clone(so.data)
	sum := md5.Sum(data)
	info := objapi.ObjectInfo{
		Bucket: bucket, Key: key, VersionID: "null", Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]),
		Modified: m.now(), ContentType: so.info.ContentType, Headers: so.info.Headers, UserMeta: so.info.UserMeta,
		Owner: c.Tenant, StorageClass: "STANDARD", Lock: lock,
	}
	if opts.ReplaceMetadata {
		info.ContentType, info.Headers, info.UserMeta = opts.Put.ContentType, opts.Put.Headers, opts.Put.UserMeta
	}
	tags := so.tags
	if opts.ReplaceTags {
		tags = opts.Put.Tags
	}
	switch {
	case opts.Put.ChecksumAlgorithm != "":
		info.Checksums = []objapi.Checksum{checksumOver(opts.Put.ChecksumAlgorithm, data)}
	case so.info.ChecksumType == "FULL_OBJECT":
		// A COMPOSITE checksum describes the source's parts, which the copy
		// does not have; a full-object one still holds.
		info.Checksums = so.info.Checksums
	}
	if len(info.Checksums) > 0 {
		info.ChecksumType = "FULL_OBJECT"
	}
	info.TagCount = len(tags)
	return m.add(db, key, &memObject{info: info, data: data, tags: slices.Clone(tags)}), nil
}

func (m *Layer) UploadPartCopy(ctx context.Context, c objapi.Caller, src objapi.CopySource, bucket, key, uploadID string, part int) (objapi.PartInfo, error) {
	const op = "UploadPartCopy"
	if part < 1 || part > maxParts {
		return objapi.PartInfo{}, objapi.Errorf(op, objapi.KindInvalidArgument, "part number %d", part)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(op, c, bucket, key, uploadID)
	if err != nil {
		return objapi.PartInfo{}, err
	}
	so, err := m.copySourceObject(op, c, src)
	if err != nil {
		return objapi.PartInfo{}, err
	}
	data := so.data
	if r := src.Range; r != nil {
		// Only bytes=first-last, within the source.
		if r.Suffix > 0 || r.First < 0 || r.Last < 0 || r.First > r.Last || r.Last >= int64(len(data)) {
			return objapi.PartInfo{}, &objapi.Error{Op: op, Kind: objapi.KindInvalidRange, Bucket: src.Bucket, Key: src.Key}
		}
		data = data[r.First : r.Last+1]
	}
	if len(data) > maxPutSize {
		return objapi.PartInfo{}, objapi.Errorf(op, objapi.KindEntityTooLarge, "a part takes at most 5 GiB")
	}
	data = slices.Clone(data)
	sum := md5.Sum(data)
	info := objapi.PartInfo{Number: part, ETag: hex.EncodeToString(sum[:]), Size: int64(len(data)), Modified: m.now()}
	if alg := u.opts.ChecksumAlgorithm; alg != "" {
		info.Checksums = []objapi.Checksum{checksumOver(alg, data)}
	}
	u.parts[part] = &memPart{info: info, md5: sum[:], data: data}
	return info, nil
}

func (m *Layer) CreateMultipartUpload(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.PutOptions) (string, error) {
	const op = "CreateMultipartUpload"
	if err := objapi.ValidObjectKey(key); err != nil {
		return "", err
	}
	if err := checkUserMeta(op, opts.UserMeta); err != nil {
		return "", err
	}
	if err := validTags(op, opts.Tags); err != nil {
		return "", err
	}
	alg, typ := opts.ChecksumAlgorithm, opts.ChecksumType
	if alg == "" && typ != "" {
		return "", objapi.Errorf(op, objapi.KindInvalidRequest, "a checksum type needs an algorithm")
	}
	if alg != "" {
		a, ok := checksum.Lookup(alg)
		if !ok {
			return "", objapi.Errorf(op, objapi.KindInvalidArgument, "unsupported checksum algorithm %q", alg)
		}
		if typ == "" {
			typ = a.Types()[0]
		}
		if !a.AllowsType(typ) {
			return "", objapi.Errorf(op, objapi.KindInvalidRequest, "the %s checksum type is not supported for %s", typ, a.Name)
		}
		opts.ChecksumAlgorithm = a.Name
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return "", err
	}
	if _, err := m.lockFor(op, b, opts.Lock, true); err != nil {
		return "", err
	}
	// Ids sort by initiation, as the real layer's do: S3 lists a key's
	// uploads by initiation and continues after an upload-id-marker.
	m.seq++
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	uid := fmt.Sprintf("%016x%x", m.seq, rnd)
	m.uploads[uid] = &memUpload{bucket: bucket, key: key, tenant: c.Tenant, id: uid, opts: opts, checksumType: typ,
		initiated: m.now(), parts: map[int]*memPart{}}
	return uid, nil
}

// upload finds an upload of this caller, bucket and key. Call with m.mu
// held.
func (m *Layer) upload(op string, c objapi.Caller, bucket, key, id string) (*memUpload, error) {
	if _, err := m.bucketFor(op, c, bucket); err != nil {
		return nil, err
	}
	u, ok := m.uploads[id]
	if !ok || u.bucket != bucket || u.key != key || u.tenant != c.Tenant {
		return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchUpload, Bucket: bucket, Key: key}
	}
	return u, nil
}

func (m *Layer) UploadPart(ctx context.Context, c objapi.Caller, bucket, key, uploadID string, part int, body io.Reader, opts objapi.PartOptions) (objapi.PartInfo, error) {
	if part < 1 || part > maxParts {
		return objapi.PartInfo{}, objapi.Errorf("UploadPart", objapi.KindInvalidArgument, "part number %d", part)
	}
	if opts.Size > maxPutSize {
		return objapi.PartInfo{}, objapi.Errorf("UploadPart", objapi.KindEntityTooLarge, "a part takes at most 5 GiB")
	}
	m.mu.Lock()
	_, err := m.upload("UploadPart", c, bucket, key, uploadID)
	m.mu.Unlock()
	if err != nil {
		return objapi.PartInfo{}, err
	}
	data, sum, err := readBody("UploadPart", body, opts.Size, opts.ContentMD5)
	if err != nil {
		return objapi.PartInfo{}, err
	}
	info := objapi.PartInfo{Number: part, ETag: hex.EncodeToString(sum), Size: int64(len(data)), Modified: m.now(), Checksums: checksumsOf(opts.Checksums)}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload("UploadPart", c, bucket, key, uploadID)
	if err != nil {
		return objapi.PartInfo{}, err
	}
	if alg := u.opts.ChecksumAlgorithm; alg != "" && findChecksum(info.Checksums, alg) == "" {
		// The upload's checksum is built from its parts': each must
		// bring one.
		return objapi.PartInfo{}, objapi.Errorf("UploadPart", objapi.KindInvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: %s", strings.ToLower(alg))
	}
	u.parts[part] = &memPart{info: info, md5: sum, data: data}
	return info, nil
}

func findChecksum(cs []objapi.Checksum, alg string) string {
	for _, c := range cs {
		if c.Algorithm == alg {
			return c.Value
		}
	}
	return ""
}

func (m *Layer) CompleteMultipartUpload(ctx context.Context, c objapi.Caller, bucket, key, uploadID string, parts []objapi.CompletePart, opts objapi.CompleteOptions) (objapi.ObjectInfo, error) {
	const op = "CompleteMultipartUpload"
	if len(parts) == 0 {
		return objapi.ObjectInfo{}, objapi.Errorf(op, objapi.KindMalformedXML, "no parts")
	}
	if len(parts) > maxParts {
		return objapi.ObjectInfo{}, objapi.Errorf(op, objapi.KindTooManyParts, "at most 10000 parts")
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return objapi.ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindInvalidPartOrder, Bucket: bucket, Key: key}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(op, c, bucket, key, uploadID)
	if objapi.IsKind(err, objapi.KindNoSuchUpload) {
		return m.completedAgain(bucket, key, uploadID, parts, err)
	}
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	if opts.ChecksumType != "" && opts.ChecksumType != u.checksumType {
		return objapi.ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidRequest, "The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", cmp.Or(u.checksumType, "null"))
	}
	alg := u.opts.ChecksumAlgorithm
	h := md5.New()
	var composite hash.Hash
	if alg != "" && u.checksumType == "COMPOSITE" {
		a, _ := checksum.Lookup(alg)
		composite = a.New()
	}
	var data []byte
	var done []objapi.PartInfo
	for i, cp := range parts {
		p, ok := u.parts[cp.Number]
		if !ok || p.info.ETag != strings.Trim(cp.ETag, `"`) {
			return objapi.ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindInvalidPart, Bucket: bucket, Key: key, Msg: fmt.Sprintf("part %d", cp.Number)}
		}
		for _, want := range cp.Checksums {
			if findChecksum(p.info.Checksums, want.Algorithm) != want.Value {
				return objapi.ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindInvalidPart, Bucket: bucket, Key: key, Msg: fmt.Sprintf("part %d: its %s differs", cp.Number, want.Algorithm)}
			}
		}
		if i < len(parts)-1 && p.info.Size < minPartSize {
			return objapi.ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindEntityTooSmall, Bucket: bucket, Key: key}
		}
		if composite != nil {
			a, _ := checksum.Lookup(alg)
			d, err := a.Decode(findChecksum(p.info.Checksums, alg))
			if err != nil {
				return objapi.ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindInternal, Err: err}
			}
			composite.Write(d)
		}
		h.Write(p.md5)
		data = append(data, p.data...)
		done = append(done, p.info)
	}
	var sums []objapi.Checksum
	switch {
	case composite != nil:
		sums = []objapi.Checksum{{Algorithm: alg, Value: fmt.Sprintf("%s-%d", checksum.Encode(composite.Sum(nil)), len(parts))}}
	case alg != "":
		sums = []objapi.Checksum{checksumOver(alg, data)}
	}
	for _, want := range opts.Checksums {
		if findChecksum(sums, want.Algorithm) != want.Value {
			return objapi.ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindBadDigest, Bucket: bucket, Key: key, Msg: "the " + want.Algorithm + " you specified did not match the calculated checksum"}
		}
	}
	b := m.buckets[bucket]
	lock, err := m.lockFor(op, b, u.opts.Lock, false)
	if err != nil {
		return objapi.ObjectInfo{}, err
	}
	if err := commitCheck(op, b, key, opts.IfNoneMatch, opts.IfMatch); err != nil {
		return objapi.ObjectInfo{}, err
	}
	info := objapi.ObjectInfo{
		Bucket: bucket, Key: key, VersionID: "null", Size: int64(len(data)),
		ETag:     fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts)),
		Modified: m.now(), ContentType: u.opts.ContentType, UserMeta: u.opts.UserMeta, Headers: u.opts.Headers,
		PartsCount: len(parts), Owner: c.Tenant, StorageClass: "STANDARD", Checksums: sums, TagCount: len(u.opts.Tags),
		Lock: lock,
	}
	if len(sums) > 0 {
		info.ChecksumType = u.checksumType
	}
	info = m.add(b, key, &memObject{info: info, data: data, parts: done, uploadID: uploadID, tags: slices.Clone(u.opts.Tags)})
	delete(m.uploads, uploadID)
	return info, nil
}

// completedAgain answers a completion of an upload no longer in
// progress: with the object it made, while that is the key's current
// version and parts lists the parts it was made from (a retry after
// success, as S3 answers it); with notFound otherwise. Call with m.mu
// held, the bucket checked.
func (m *Layer) completedAgain(bucket, key, uploadID string, parts []objapi.CompletePart, notFound error) (objapi.ObjectInfo, error) {
	b := m.buckets[bucket]
	o := b.current(key)
	if o == nil || o.uploadID != uploadID || len(o.parts) != len(parts) {
		return objapi.ObjectInfo{}, notFound
	}
	for i, cp := range parts {
		p := o.parts[i]
		if cp.Number != p.Number || strings.Trim(cp.ETag, `"`) != p.ETag {
			return objapi.ObjectInfo{}, notFound
		}
		for _, want := range cp.Checksums {
			if findChecksum(p.Checksums, want.Algorithm) != want.Value {
				return objapi.ObjectInfo{}, notFound
			}
		}
	}
	return b.describe(key, o), nil
}

func (m *Layer) AbortMultipartUpload(ctx context.Context, c objapi.Caller, bucket, key, uploadID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.upload("AbortMultipartUpload", c, bucket, key, uploadID); err != nil {
		return err
	}
	delete(m.uploads, uploadID)
	return nil
}

func (u *memUpload) info() objapi.UploadInfo {
	return objapi.UploadInfo{Bucket: u.bucket, Key: u.key, UploadID: u.id, Initiated: u.initiated, Owner: u.tenant,
		StorageClass: "STANDARD", ChecksumAlgorithm: u.opts.ChecksumAlgorithm, ChecksumType: u.checksumType}
}

func (m *Layer) HeadUpload(ctx context.Context, c objapi.Caller, bucket, key, uploadID string) (objapi.UploadInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload("HeadUpload", c, bucket, key, uploadID)
	if objapi.IsKind(err, objapi.KindNoSuchUpload) {
		if o := m.buckets[bucket].current(key); o != nil && uploadID != "" && o.uploadID == uploadID {
			info := objapi.UploadInfo{Bucket: bucket, Key: key, UploadID: uploadID, Initiated: o.info.Modified, Owner: c.Tenant,
				StorageClass: "STANDARD", ChecksumType: o.info.ChecksumType, Completed: true}
			if len(o.info.Checksums) > 0 {
				info.ChecksumAlgorithm = o.info.Checksums[0].Algorithm
			}
			return info, nil
		}
	}
	if err != nil {
		return objapi.UploadInfo{}, err
	}
	return u.info(), nil
}

func (m *Layer) ListParts(ctx context.Context, c objapi.Caller, bucket, key, uploadID string, opts objapi.ListPartsOptions) (objapi.ListPartsResult, error) {
	max := opts.MaxParts
	if max <= 0 || max > 1000 {
		max = 1000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload("ListParts", c, bucket, key, uploadID)
	if err != nil {
		return objapi.ListPartsResult{}, err
	}
	nums := slices.Sorted(maps.Keys(u.parts))
	res := objapi.ListPartsResult{Upload: u.info()}
	for _, n := range nums {
		if n <= opts.Marker {
			continue
		}
		if len(res.Parts) == max {
			res.Truncated = true
			break
		}
		res.Parts = append(res.Parts, u.parts[n].info)
		res.NextMarker = n
	}
	return res, nil
}

// ListMultipartUploads lists uploads by key, then by id (initiation
// order): after KeyMarker's uploads, or with UploadIDMarker after that one
// of KeyMarker's. Common prefixes are listed when they sort after
// KeyMarker, which a continuation after a prefix is.
func (m *Layer) ListMultipartUploads(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListUploadsOptions) (objapi.ListUploadsResult, error) {
	max := opts.MaxUploads
	if max <= 0 || max > 1000 {
		max = 1000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.bucketFor("ListMultipartUploads", c, bucket); err != nil {
		return objapi.ListUploadsResult{}, err
	}
	var all []*memUpload
	for _, u := range m.uploads {
		if u.bucket != bucket || !strings.HasPrefix(u.key, opts.Prefix) {
			continue
		}
		switch {
		case opts.KeyMarker == "":
		case u.key < opts.KeyMarker:
			continue
		case u.key == opts.KeyMarker && (opts.UploadIDMarker == "" || u.id <= opts.UploadIDMarker):
			continue
		}
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b *memUpload) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.id, b.id)) })
	var res objapi.ListUploadsResult
	count := 0
	for _, u := range all {
		if opts.Delimiter != "" {
			if i := strings.Index(u.key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				p := u.key[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if p <= opts.KeyMarker || len(res.Prefixes) > 0 && res.Prefixes[len(res.Prefixes)-1] == p {
					continue
				}
				if count == max {
					res.Truncated = true
					break
				}
				res.Prefixes = append(res.Prefixes, p)
				res.NextKeyMarker, res.NextUploadIDMarker = p, ""
				count++
				continue
			}
		}
		if count == max {
			res.Truncated = true
			break
		}
		res.Uploads = append(res.Uploads, u.info())
		res.NextKeyMarker, res.NextUploadIDMarker = u.key, u.id
		count++
	}
	if !res.Truncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	return res, nil
}

// object finds an object of the caller's. Call with m.mu held.
func (m *Layer) object(op string, c objapi.Caller, bucket, key string) (*memObject, error) {
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return nil, err
	}
	return b.version(op, key, "")
}

func (m *Layer) GetObjectTagging(ctx context.Context, c objapi.Caller, bucket, key string) ([]objapi.Tag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.object("GetObjectTagging", c, bucket, key)
	if err != nil {
		return nil, err
	}
	return slices.Clone(o.tags), nil
}

func (m *Layer) PutObjectTagging(ctx context.Context, c objapi.Caller, bucket, key string, tags []objapi.Tag) error {
	if err := validTags("PutObjectTagging", tags); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.object("PutObjectTagging", c, bucket, key)
	if err != nil {
		return err
	}
	o.tags = slices.Clone(tags)
	o.info.TagCount = len(tags)
	return nil
}

func (m *Layer) DeleteObjectTagging(ctx context.Context, c objapi.Caller, bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.object("DeleteObjectTagging", c, bucket, key)
	if err != nil {
		return err
	}
	o.tags, o.info.TagCount = nil, 0
	return nil
}

func (m *Layer) PutBucketTagging(ctx context.Context, c objapi.Caller, bucket string, tags []objapi.Tag) error {
	if len(tags) == 0 {
		return objapi.Errorf("PutBucketTagging", objapi.KindMalformedXML, "a TagSet needs at least one Tag")
	}
	if err := validTagSet("PutBucketTagging", tags, 50); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("PutBucketTagging", c, bucket)
	if err != nil {
		return err
	}
	b.tags = slices.Clone(tags)
	return nil
}

func (m *Layer) GetBucketTagging(ctx context.Context, c objapi.Caller, bucket string) ([]objapi.Tag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("GetBucketTagging", c, bucket)
	if err != nil {
		return nil, err
	}
	if len(b.tags) == 0 {
		return nil, &objapi.Error{Op: "GetBucketTagging", Kind: objapi.KindNoSuchTagSet, Bucket: bucket}
	}
	return slices.Clone(b.tags), nil
}

func (m *Layer) DeleteBucketTagging(ctx context.Context, c objapi.Caller, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("DeleteBucketTagging", c, bucket)
	if err != nil {
		return err
	}
	b.tags = nil
	return nil
}

func (m *Layer) PutBucketCors(ctx context.Context, c objapi.Caller, bucket string, rules []objapi.CORSRule) error {
	if len(rules) == 0 {
		return objapi.Errorf("PutBucketCors", objapi.KindMalformedXML, "a CORS configuration needs at least one rule")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("PutBucketCors", c, bucket)
	if err != nil {
		return err
	}
	b.cors = slices.Clone(rules)
	return nil
}

func (m *Layer) GetBucketCors(ctx context.Context, c objapi.Caller, bucket string) ([]objapi.CORSRule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("GetBucketCors", c, bucket)
	if err != nil {
		return nil, err
	}
	if b.cors == nil {
		return nil, &objapi.Error{Op: "GetBucketCors", Kind: objapi.KindNoSuchCORS, Bucket: bucket}
	}
	return slices.Clone(b.cors), nil
}

func (m *Layer) DeleteBucketCors(ctx context.Context, c objapi.Caller, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("DeleteBucketCors", c, bucket)
	if err != nil {
		return err
	}
	b.cors = nil
	return nil
}

// BucketCORS answers without a caller, and with nil rather than an error
// for a missing bucket: a preflight must not tell the two apart.
func (m *Layer) BucketCORS(ctx context.Context, bucket string) ([]objapi.CORSRule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return nil, nil
	}
	return slices.Clone(b.cors), nil
}

// Versions: a key's versions are kept newest first; the current one is
// the first, and a delete marker there means the key is absent.

// current returns key's current version, nil when the key has none or
// its current version is a delete marker.
func (b *memBucket) current(key string) *memObject {
	vs := b.objects[key]
	if len(vs) == 0 || vs[0].info.DeleteMarker {
		return nil
	}
	return vs[0]
}

// find returns the index of key's version id, -1 if there is none.
func (b *memBucket) find(key, id string) int {
	return slices.IndexFunc(b.objects[key], func(o *memObject) bool { return o.info.VersionID == id })
}

// remove drops key's version i.
func (b *memBucket) remove(key string, i int) {
	vs := slices.Delete(b.objects[key], i, i+1)
	if len(vs) == 0 {
		delete(b.objects, key)
		return
	}
	b.objects[key] = vs
}

// version resolves a read of key's version id, "" for the current one,
// with S3's errors: KindNoSuchKey for a key without a current version
// (DeleteMarker and VersionID set when a delete marker is current),
// KindNoSuchVersion for an id key does not have, KindMethodNotAllowed for
// one that is a delete marker.
func (b *memBucket) version(op, key, id string) (*memObject, error) {
	vs := b.objects[key]
	if id == "" {
		switch {
		case len(vs) == 0:
			return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchKey, Bucket: b.info.Name, Key: key}
		case vs[0].info.DeleteMarker:
			return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchKey, Bucket: b.info.Name, Key: key, DeleteMarker: true, VersionID: vs[0].info.VersionID}
		}
		return vs[0], nil
	}
	i := b.find(key, id)
	switch {
	case i < 0:
		return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchVersion, Bucket: b.info.Name, Key: key, Msg: "the specified version does not exist"}
	case vs[i].info.DeleteMarker:
		return nil, &objapi.Error{Op: op, Kind: objapi.KindMethodNotAllowed, Bucket: b.info.Name, Key: key, DeleteMarker: true, VersionID: id,
			Msg: "the specified method is not allowed against this resource"}
	}
	return vs[i], nil
}

// describe returns what a read tells of version o of key.
func (b *memBucket) describe(key string, o *memObject) objapi.ObjectInfo {
	info := o.info
	info.PartsCount = len(o.parts)
	info.TagCount = len(o.tags)
	info.IsLatest = len(b.objects[key]) > 0 && b.objects[key][0] == o
	return info
}

// versionID returns the id of a version, as the version-aware calls
// answer it: empty in a bucket never versioned.
func (b *memBucket) versionID(o *memObject) string {
	if b.versioning == "" {
		return ""
	}
	return o.info.VersionID
}

// add makes o key's current version: a new version with a new id in a
// versioning-enabled bucket; otherwise the null version, replacing the
// one there was. It returns o's info as a write answers it. Call with
// m.mu held.
func (m *Layer) add(b *memBucket, key string, o *memObject) objapi.ObjectInfo {
	vs := b.objects[key]
	if b.versioning == objapi.VersioningEnabled {
		m.vseq++
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		o.info.VersionID = fmt.Sprintf("%016x%x", m.vseq, rnd)
	} else {
		o.info.VersionID = "null"
		vs = slices.DeleteFunc(slices.Clone(vs), func(v *memObject) bool { return v.info.VersionID == "null" })
	}
	b.objects[key] = append([]*memObject{o}, vs...)
	return b.describe(key, o)
}

// lockFor returns the lock a new version of bucket b takes: explicit (if
// not nil; checked when check), else, or without a retention mode, the
// bucket's default retention. Call with m.mu held.
func (m *Layer) lockFor(op string, b *memBucket, explicit *objapi.ObjectLock, check bool) (objapi.ObjectLock, error) {
	var l objapi.ObjectLock
	if explicit != nil {
		if b.lock == nil {
			return l, objapi.Errorf(op, objapi.KindInvalidRequest, "Bucket is missing Object Lock Configuration")
		}
		if check {
			if err := checkRetention(op, objapi.Retention{Mode: explicit.Mode, Until: explicit.Until}, m.now()); err != nil {
				return l, err
			}
		}
		l = *explicit
	}
	if l.Mode == "" && b.lock != nil && b.lock.Mode != "" {
		l.Mode, l.Until = b.lock.Mode, m.now().AddDate(b.lock.Years, 0, b.lock.Days)
	}
	return l, nil
}

// checkRetention applies S3's rules to a retention being set: a known
// mode with a date in the future, or neither.
func checkRetention(op string, r objapi.Retention, now time.Time) error {
	switch {
	case r.Mode == "" && r.Until.IsZero():
		return nil
	case r.Mode != objapi.LockGovernance && r.Mode != objapi.LockCompliance:
		return objapi.Errorf(op, objapi.KindInvalidArgument, "unknown retention mode %q", r.Mode)
	case r.Until.IsZero():
		return objapi.Errorf(op, objapi.KindInvalidArgument, "a retention mode needs a retain-until date")
	case !r.Until.After(now):
		return objapi.Errorf(op, objapi.KindInvalidArgument, "The retain until date must be in the future!")
	}
	return nil
}

// mayBypass reports whether a caller asking to bypass GOVERNANCE
// retention may. Call with m.mu held.
func (m *Layer) mayBypass(c objapi.Caller, asked bool) bool {
	return asked && m.bypass[c.AccessKey]
}

// protected says why object lock keeps version o from being removed, ""
// if it does not.
func (m *Layer) protected(c objapi.Caller, o *memObject, bypass bool) string {
	l := o.info.Lock
	switch {
	case l.LegalHold:
		return "the object is under legal hold"
	case l.Mode == "" || !l.Until.After(m.now()):
		return ""
	case l.Mode == objapi.LockCompliance:
		return "the object is under COMPLIANCE retention"
	case !m.mayBypass(c, bypass):
		return "the object is under GOVERNANCE retention"
	}
	return ""
}

func (m *Layer) PutBucketVersioning(ctx context.Context, c objapi.Caller, bucket, status string) error {
	const op = "PutBucketVersioning"
	if status != objapi.VersioningEnabled && status != objapi.VersioningSuspended {
		return objapi.Errorf(op, objapi.KindMalformedXML, "versioning status %q", status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return err
	}
	if status == objapi.VersioningSuspended && b.lock != nil {
		return &objapi.Error{Op: op, Kind: objapi.KindInvalidBucketState, Bucket: bucket,
			Msg: "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."}
	}
	b.versioning = status
	return nil
}

func (m *Layer) GetBucketVersioning(ctx context.Context, c objapi.Caller, bucket string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("GetBucketVersioning", c, bucket)
	if err != nil {
		return "", err
	}
	return b.versioning, nil
}

func (m *Layer) DeleteVersion(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.DeleteOptions) (objapi.DeleteInfo, error) {
	const op = "DeleteObject"
	if err := objapi.ValidObjectKey(key); err != nil {
		return objapi.DeleteInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return objapi.DeleteInfo{}, err
	}
	return m.deleteVersion(op, c, b, key, opts)
}

// deleteVersion is DeleteVersion on a bucket found. Call with m.mu held.
func (m *Layer) deleteVersion(op string, c objapi.Caller, b *memBucket, key string, opts objapi.DeleteOptions) (objapi.DeleteInfo, error) {
	if opts.VersionID != "" {
		i := b.find(key, opts.VersionID)
		if i < 0 {
			// S3 answers a version that is not there as deleted.
			return objapi.DeleteInfo{VersionID: opts.VersionID}, nil
		}
		o := b.objects[key][i]
		if opts.IfMatch != "" && (o.info.DeleteMarker || !objapi.ETagMatches(opts.IfMatch, o.info.ETag)) {
			return objapi.DeleteInfo{}, &objapi.Error{Op: op, Kind: objapi.KindPrecondition, Bucket: b.info.Name, Key: key}
		}
		if why := m.protected(c, o, opts.BypassGovernance); why != "" {
			return objapi.DeleteInfo{}, &objapi.Error{Op: op, Kind: objapi.KindAccessDenied, Bucket: b.info.Name, Key: key, Msg: why}
		}
		b.remove(key, i)
		return objapi.DeleteInfo{VersionID: opts.VersionID, DeleteMarker: o.info.DeleteMarker}, nil
	}
	cur := b.current(key)
	if opts.IfMatch != "" {
		if cur == nil {
			return objapi.DeleteInfo{}, &objapi.Error{Op: op, Kind: objapi.KindNoSuchKey, Bucket: b.info.Name, Key: key}
		}
		if !objapi.ETagMatches(opts.IfMatch, cur.info.ETag) {
			return objapi.DeleteInfo{}, &objapi.Error{Op: op, Kind: objapi.KindPrecondition, Bucket: b.info.Name, Key: key}
		}
	}
	if b.versioning == "" {
		delete(b.objects, key)
		return objapi.DeleteInfo{}, nil
	}
	marker := &memObject{info: objapi.ObjectInfo{Bucket: b.info.Name, Key: key, DeleteMarker: true, Modified: m.now(), Owner: c.Tenant}}
	info := m.add(b, key, marker)
	return objapi.DeleteInfo{VersionID: info.VersionID, DeleteMarker: true}, nil
}

func (m *Layer) DeleteVersions(ctx context.Context, c objapi.Caller, bucket string, objs []objapi.ObjectVersion, bypassGovernance bool) ([]objapi.DeleteResult, error) {
	return m.deleteVersions("DeleteObjects", c, bucket, objs, bypassGovernance)
}

func (m *Layer) deleteVersions(op string, c objapi.Caller, bucket string, objs []objapi.ObjectVersion, bypass bool) ([]objapi.DeleteResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Invalid keys fail alone; as in the real layer, the bucket is looked
	// up only for keys that could be deleted.
	var b *memBucket
	out := make([]objapi.DeleteResult, 0, len(objs))
	// Reverse order: s3api must not rely on the results' order.
	for _, ov := range slices.Backward(objs) {
		if err := objapi.ValidObjectKey(ov.Key); err != nil {
			out = append(out, objapi.DeleteResult{Key: ov.Key, VersionID: ov.VersionID, Err: err})
			continue
		}
		if b == nil {
			var err error
			if b, err = m.bucketFor(op, c, bucket); err != nil {
				return nil, err
			}
		}
		r := objapi.DeleteResult{Key: ov.Key, VersionID: ov.VersionID}
		d, err := m.deleteVersion(op, c, b, ov.Key, objapi.DeleteOptions{VersionID: ov.VersionID, BypassGovernance: bypass})
		switch {
		case err != nil:
			r.Err = err
		case d.DeleteMarker:
			r.DeleteMarker, r.DeleteMarkerVersionID = true, d.VersionID
		}
		out = append(out, r)
	}
	return out, nil
}

// ListObjectVersions lists every version and delete marker, by key in
// UTF-8 byte order and a key's versions newest first. With KeyMarker
// alone it lists keys after it; with VersionIDMarker too, KeyMarker's
// versions after that one (none, if KeyMarker has no such version) and
// then later keys. Common prefixes are listed when they sort after
// KeyMarker, as ListObjects lists them after After.
func (m *Layer) ListObjectVersions(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListVersionsOptions) (objapi.ListVersionsResult, error) {
	const op = "ListObjectVersions"
	if opts.VersionIDMarker != "" && opts.KeyMarker == "" {
		return objapi.ListVersionsResult{}, objapi.Errorf(op, objapi.KindInvalidArgument, "A version-id marker cannot be specified without a key marker.")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil || opts.MaxKeys <= 0 {
		return objapi.ListVersionsResult{}, err
	}
	max := min(opts.MaxKeys, 1000)
	keys := slices.Sorted(maps.Keys(b.objects))
	var res objapi.ListVersionsResult
	count := 0
	full := func() bool {
		if count == max {
			res.Truncated = true
		}
		return res.Truncated
	}
keys:
	for _, k := range keys {
		if !strings.HasPrefix(k, opts.Prefix) || k < opts.KeyMarker || k == opts.KeyMarker && opts.VersionIDMarker == "" {
			continue
		}
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				p := k[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if p <= opts.KeyMarker || len(res.Prefixes) > 0 && res.Prefixes[len(res.Prefixes)-1] == p {
					continue
				}
				if full() {
					break
				}
				res.Prefixes = append(res.Prefixes, p)
				res.NextKeyMarker, res.NextVersionIDMarker = p, ""
				count++
				continue
			}
		}
		vs := b.objects[k]
		if k == opts.KeyMarker {
			i := b.find(k, opts.VersionIDMarker)
			if i < 0 {
				continue
			}
			vs = vs[i+1:]
		}
		for _, o := range vs {
			if full() {
				break keys
			}
			v := objapi.ObjectInfo{Bucket: bucket, Key: k, VersionID: o.info.VersionID, IsLatest: o == b.objects[k][0],
				DeleteMarker: o.info.DeleteMarker, Modified: o.info.Modified, Owner: o.info.Owner}
			if !o.info.DeleteMarker {
				v.Size, v.ETag, v.StorageClass = o.info.Size, o.info.ETag, o.info.StorageClass
				v.Checksums, v.ChecksumType = o.info.Checksums, o.info.ChecksumType
			}
			res.Versions = append(res.Versions, v)
			res.NextKeyMarker, res.NextVersionIDMarker = k, o.info.VersionID
			count++
		}
	}
	if !res.Truncated {
		res.NextKeyMarker, res.NextVersionIDMarker = "", ""
	}
	return res, nil
}

func (m *Layer) PutObjectLockConfiguration(ctx context.Context, c objapi.Caller, bucket string, cfg objapi.ObjectLockConfig) error {
	const op = "PutObjectLockConfiguration"
	switch {
	case cfg.Mode == "" && (cfg.Days != 0 || cfg.Years != 0):
		return objapi.Errorf(op, objapi.KindMalformedXML, "a default retention needs a mode")
	case cfg.Mode == "":
	case cfg.Mode != objapi.LockGovernance && cfg.Mode != objapi.LockCompliance:
		return objapi.Errorf(op, objapi.KindMalformedXML, "unknown retention mode %q", cfg.Mode)
	case (cfg.Days != 0) == (cfg.Years != 0):
		return objapi.Errorf(op, objapi.KindMalformedXML, "a default retention takes either Days or Years")
	case cfg.Days < 0 || cfg.Years < 0:
		return objapi.Errorf(op, objapi.KindInvalidArgument, "Default retention period must be a positive integer value.")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return err
	}
	if b.lock == nil && b.versioning != objapi.VersioningEnabled {
		return &objapi.Error{Op: op, Kind: objapi.KindInvalidBucketState, Bucket: bucket,
			Msg: "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"}
	}
	cfg.Enabled = true
	b.lock = &cfg
	return nil
}

func (m *Layer) GetObjectLockConfiguration(ctx context.Context, c objapi.Caller, bucket string) (objapi.ObjectLockConfig, error) {
	const op = "GetObjectLockConfiguration"
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return objapi.ObjectLockConfig{}, err
	}
	if b.lock == nil {
		return objapi.ObjectLockConfig{}, &objapi.Error{Op: op, Kind: objapi.KindNoSuchBucketLockConfig, Bucket: bucket}
	}
	return *b.lock, nil
}

// lockedVersion finds a version for the object lock calls: in a bucket
// with object lock (KindInvalidRequest otherwise), not a delete marker.
// Call with m.mu held.
func (m *Layer) lockedVersion(op string, c objapi.Caller, bucket, key, versionID string) (*memObject, error) {
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return nil, err
	}
	if b.lock == nil {
		return nil, &objapi.Error{Op: op, Kind: objapi.KindInvalidRequest, Bucket: bucket, Msg: "Bucket is missing Object Lock Configuration"}
	}
	return b.version(op, key, versionID)
}

func (m *Layer) PutObjectRetention(ctx context.Context, c objapi.Caller, bucket, key, versionID string, r objapi.Retention, bypassGovernance bool) error {
	const op = "PutObjectRetention"
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.lockedVersion(op, c, bucket, key, versionID)
	if err != nil {
		return err
	}
	if err := checkRetention(op, r, m.now()); err != nil {
		return err
	}
	cur := o.info.Lock
	if cur.Mode != "" && cur.Until.After(m.now()) {
		// Only a later date in the same mode leaves the retention as
		// strong as it was without a bypass.
		weaker := r.Mode != cur.Mode || r.Until.Before(cur.Until)
		switch {
		case cur.Mode == objapi.LockCompliance && weaker:
			return &objapi.Error{Op: op, Kind: objapi.KindAccessDenied, Bucket: bucket, Key: key, Msg: "a COMPLIANCE retention can only be extended"}
		case cur.Mode == objapi.LockGovernance && weaker && !m.mayBypass(c, bypassGovernance):
			return &objapi.Error{Op: op, Kind: objapi.KindAccessDenied, Bucket: bucket, Key: key, Msg: "a GOVERNANCE retention is shortened or changed only with a bypass"}
		}
	}
	o.info.Lock.Mode, o.info.Lock.Until = r.Mode, r.Until
	return nil
}

func (m *Layer) GetObjectRetention(ctx context.Context, c objapi.Caller, bucket, key, versionID string) (objapi.Retention, error) {
	const op = "GetObjectRetention"
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.lockedVersion(op, c, bucket, key, versionID)
	if err != nil {
		return objapi.Retention{}, err
	}
	if o.info.Lock.Mode == "" {
		return objapi.Retention{}, &objapi.Error{Op: op, Kind: objapi.KindNoSuchObjectLockConfig, Bucket: bucket, Key: key}
	}
	return objapi.Retention{Mode: o.info.Lock.Mode, Until: o.info.Lock.Until}, nil
}

func (m *Layer) PutObjectLegalHold(ctx context.Context, c objapi.Caller, bucket, key, versionID string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.lockedVersion("PutObjectLegalHold", c, bucket, key, versionID)
	if err != nil {
		return err
	}
	o.info.Lock.LegalHold = on
	return nil
}

func (m *Layer) GetObjectLegalHold(ctx context.Context, c objapi.Caller, bucket, key, versionID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, err := m.lockedVersion("GetObjectLegalHold", c, bucket, key, versionID)
	if err != nil {
		return false, err
	}
	return o.info.Lock.LegalHold, nil
}

func (m *Layer) PutBucketLifecycle(ctx context.Context, c objapi.Caller, bucket string, rules []objapi.LifecycleRule) error {
	const op = "PutBucketLifecycleConfiguration"
	if len(rules) == 0 {
		return objapi.Errorf(op, objapi.KindMalformedXML, "a lifecycle configuration needs at least one rule")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return err
	}
	b.lifecycle = cloneRules(rules)
	return nil
}

func cloneRules(rules []objapi.LifecycleRule) []objapi.LifecycleRule {
	out := slices.Clone(rules)
	for i := range out {
		out[i].Filter.Tags = slices.Clone(out[i].Filter.Tags)
	}
	return out
}

func (m *Layer) GetBucketLifecycle(ctx context.Context, c objapi.Caller, bucket string) ([]objapi.LifecycleRule, error) {
	const op = "GetBucketLifecycleConfiguration"
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return nil, err
	}
	if b.lifecycle == nil {
		return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchLifecycle, Bucket: bucket}
	}
	return cloneRules(b.lifecycle), nil
}

func (m *Layer) DeleteBucketLifecycle(ctx context.Context, c objapi.Caller, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("DeleteBucketLifecycle", c, bucket)
	if err != nil {
		return err
	}
	b.lifecycle = nil
	return nil
}

// taggedVersion finds the version a version-aware tagging call acts on.
// Call with m.mu held.
func (m *Layer) taggedVersion(op string, c objapi.Caller, bucket, key, versionID string) (*memBucket, *memObject, error) {
	b, err := m.bucketFor(op, c, bucket)
	if err != nil {
		return nil, nil, err
	}
	o, err := b.version(op, key, versionID)
	return b, o, err
}

func (m *Layer) GetVersionTagging(ctx context.Context, c objapi.Caller, bucket, key, versionID string) ([]objapi.Tag, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, o, err := m.taggedVersion("GetObjectTagging", c, bucket, key, versionID)
	if err != nil {
		return nil, "", err
	}
	return slices.Clone(o.tags), b.versionID(o), nil
}

func (m *Layer) PutVersionTagging(ctx context.Context, c objapi.Caller, bucket, key, versionID string, tags []objapi.Tag) (string, error) {
	if err := validTags("PutObjectTagging", tags); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, o, err := m.taggedVersion("PutObjectTagging", c, bucket, key, versionID)
	if err != nil {
		return "", err
	}
	o.tags = slices.Clone(tags)
	o.info.TagCount = len(tags)
	return b.versionID(o), nil
}

func (m *Layer) DeleteVersionTagging(ctx context.Context, c objapi.Caller, bucket, key, versionID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, o, err := m.taggedVersion("DeleteObjectTagging", c, bucket, key, versionID)
	if err != nil {
		return "", err
	}
	o.tags, o.info.TagCount = nil, 0
	return b.versionID(o), nil
}

var _ objapi.Layer = (*Layer)(nil)
