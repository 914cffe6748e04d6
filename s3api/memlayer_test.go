package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/kommunal-cloud/kcs/node"
)

// memLayer is an in-memory ObjectLayer that behaves as the real object
// layer must toward s3api: per-tenant ownership, S3 listing order and
// semantics, multipart rules and ETags, range and part resolution, and
// reading every body to io.EOF before committing. It holds whole objects
// in memory, which only a test double may do.
type memLayer struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*memBucket
	uploads map[string]*memUpload

	// Fault injection, set with inject.
	panicOn  string // method name that panics
	sendFail bool   // Send fails after writing half of the bytes
	failWith error  // every method returns this error
}

// inject sets fault injection fields under the lock, so that a test can
// change them while the server runs.
func (m *memLayer) inject(f func(m *memLayer)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

type memBucket struct {
	info    node.BucketInfo
	objects map[string]*memObject
}

type memObject struct {
	info  node.ObjectInfo
	data  []byte
	parts []int64 // part sizes, for objects uploaded in parts
}

type memUpload struct {
	bucket, key, tenant string
	opts                node.PutOptions
	parts               map[int]*memPart
}

type memPart struct {
	info node.PartInfo
	md5  []byte
	data []byte
}

// minPartSize is S3's minimum size of every part but the last.
const minPartSize = 5 << 20

func newMemLayer(now func() time.Time) *memLayer {
	return &memLayer{now: now, buckets: map[string]*memBucket{}, uploads: map[string]*memUpload{}}
}

func (m *memLayer) enter(op string) error {
	m.mu.Lock()
	panicOn, err := m.panicOn, m.failWith
	m.mu.Unlock()
	if panicOn == op {
		panic("memLayer: injected panic in " + op)
	}
	return err
}

// bucketFor finds a bucket the caller owns. Call with m.mu held.
func (m *memLayer) bucketFor(op string, c node.Caller, bucket string) (*memBucket, error) {
	b, ok := m.buckets[bucket]
	if !ok {
		return nil, &node.Error{Op: op, Kind: node.KindNoSuchBucket, Bucket: bucket}
	}
	if b.info.Tenant != c.Tenant {
		return nil, &node.Error{Op: op, Kind: node.KindAccessDenied, Bucket: bucket}
	}
	return b, nil
}

func (m *memLayer) ListBuckets(ctx context.Context, c node.Caller) ([]node.BucketInfo, error) {
	if err := m.enter("ListBuckets"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []node.BucketInfo
	for _, b := range m.buckets {
		if b.info.Tenant == c.Tenant {
			out = append(out, b.info)
		}
	}
	return out, nil
}

func (m *memLayer) CreateBucket(ctx context.Context, c node.Caller, bucket string) error {
	if err := m.enter("CreateBucket"); err != nil {
		return err
	}
	if err := node.ValidBucketName(bucket); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.buckets[bucket]; ok {
		if b.info.Tenant == c.Tenant {
			return &node.Error{Op: "CreateBucket", Kind: node.KindBucketOwnedByYou, Bucket: bucket}
		}
		return &node.Error{Op: "CreateBucket", Kind: node.KindBucketExists, Bucket: bucket}
	}
	m.buckets[bucket] = &memBucket{
		info:    node.BucketInfo{Name: bucket, Created: m.now(), Tenant: c.Tenant},
		objects: map[string]*memObject{},
	}
	return nil
}

func (m *memLayer) HeadBucket(ctx context.Context, c node.Caller, bucket string) (node.BucketInfo, error) {
	if err := m.enter("HeadBucket"); err != nil {
		return node.BucketInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("HeadBucket", c, bucket)
	if err != nil {
		return node.BucketInfo{}, err
	}
	return b.info, nil
}

func (m *memLayer) DeleteBucket(ctx context.Context, c node.Caller, bucket string) error {
	if err := m.enter("DeleteBucket"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("DeleteBucket", c, bucket)
	if err != nil {
		return err
	}
	busy := len(b.objects) > 0
	for _, u := range m.uploads {
		busy = busy || u.bucket == bucket
	}
	if busy {
		return &node.Error{Op: "DeleteBucket", Kind: node.KindBucketNotEmpty, Bucket: bucket}
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
		return nil, nil, &node.Error{Op: op, Kind: node.KindInternal, Err: err}
	}
	if size >= 0 && int64(buf.Len()) != size {
		return nil, nil, &node.Error{Op: op, Kind: node.KindIncompleteBody, Msg: fmt.Sprintf("got %d of %d bytes", buf.Len(), size)}
	}
	sum = h.Sum(nil)
	if contentMD5 != nil && !bytes.Equal(contentMD5, sum) {
		return nil, nil, &node.Error{Op: op, Kind: node.KindBadDigest}
	}
	return buf.Bytes(), sum, nil
}

func checksumsOf(f func() []node.Checksum) []node.Checksum {
	if f == nil {
		return nil
	}
	return f()
}

func (m *memLayer) PutObject(ctx context.Context, c node.Caller, bucket, key string, body io.Reader, opts node.PutOptions) (node.ObjectInfo, error) {
	if err := m.enter("PutObject"); err != nil {
		return node.ObjectInfo{}, err
	}
	if err := node.ValidObjectKey(key); err != nil {
		return node.ObjectInfo{}, err
	}
	m.mu.Lock()
	_, err := m.bucketFor("PutObject", c, bucket)
	m.mu.Unlock()
	if err != nil {
		return node.ObjectInfo{}, err
	}
	data, sum, err := readBody("PutObject", body, opts.Size, opts.ContentMD5)
	if err != nil {
		return node.ObjectInfo{}, err
	}
	info := node.ObjectInfo{
		Bucket: bucket, Key: key, VersionID: "null", Size: int64(len(data)),
		ETag: hex.EncodeToString(sum), Modified: m.now(), ContentType: opts.ContentType,
		UserMeta: opts.UserMeta, Checksums: checksumsOf(opts.Checksums), Owner: c.Tenant, StorageClass: "STANDARD",
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("PutObject", c, bucket)
	if err != nil {
		return node.ObjectInfo{}, err
	}
	b.objects[key] = &memObject{info: info, data: data}
	return info, nil
}

func (m *memLayer) GetObject(ctx context.Context, c node.Caller, bucket, key string, opts node.GetOptions) (*node.Object, error) {
	if err := m.enter("GetObject"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("GetObject", c, bucket)
	if err != nil {
		return nil, err
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, &node.Error{Op: "GetObject", Kind: node.KindNoSuchKey, Bucket: bucket, Key: key}
	}
	size := int64(len(o.data))
	off, n, partial := int64(0), size, false
	bad := func() (*node.Object, error) {
		return nil, &node.Error{Op: "GetObject", Kind: node.KindInvalidRange, Bucket: bucket, Key: key}
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
			off += p
		}
		n = o.parts[opts.PartNumber-1]
	case opts.Range != nil:
		partial = true
		r := opts.Range
		if r.Suffix > 0 {
			if size == 0 {
				return bad()
			}
			n = min(r.Suffix, size)
			off = size - n
			break
		}
		if r.First >= size {
			return bad()
		}
		last := r.Last
		if last < 0 || last >= size {
			last = size - 1
		}
		off, n = r.First, last-r.First+1
	}
	data := o.data[off : off+n]
	fail := m.sendFail
	send := func(ctx context.Context, w io.Writer) error {
		if fail {
			if _, err := w.Write(data[:len(data)/2]); err != nil {
				return err
			}
			return &node.Error{Op: "GetObject", Kind: node.KindCorrupt, Err: fmt.Errorf("injected failure")}
		}
		// Write in small pieces, as a stream would, and honour ctx.
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
	info := o.info
	info.PartsCount = len(o.parts)
	return newObject(info, off, n, partial, send), nil
}

// newObject builds a node.Object with its unexported send function.
// node has no exported constructor yet (see the report to the lead); until
// it has, the test double sets the field through reflect.
func newObject(info node.ObjectInfo, off, n int64, partial bool, send func(context.Context, io.Writer) error) *node.Object {
	o := &node.Object{Info: info, Offset: off, Length: n, Partial: partial}
	f := reflect.ValueOf(o).Elem().FieldByName("send")
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(send))
	return o
}

func (m *memLayer) DeleteObject(ctx context.Context, c node.Caller, bucket, key string, _ node.DeleteOptions) error {
	if err := m.enter("DeleteObject"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("DeleteObject", c, bucket)
	if err != nil {
		return err
	}
	if _, ok := b.objects[key]; !ok {
		return &node.Error{Op: "DeleteObject", Kind: node.KindNoSuchKey, Bucket: bucket, Key: key}
	}
	delete(b.objects, key)
	return nil
}

// ListObjects lists in UTF-8 byte order (Go's string order). Keys are
// listed strictly after opts.After; when After is a common prefix of the
// previous page (it ends with the delimiter), every key under it was
// already rolled up into that prefix and is skipped.
func (m *memLayer) ListObjects(ctx context.Context, c node.Caller, bucket string, opts node.ListOptions) (node.ListResult, error) {
	if err := m.enter("ListObjects"); err != nil {
		return node.ListResult{}, err
	}
	if opts.MaxKeys < 1 || opts.MaxKeys > 1000 {
		return node.ListResult{}, node.Errorf("ListObjects", node.KindInvalidArgument, "max keys %d", opts.MaxKeys)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucketFor("ListObjects", c, bucket)
	if err != nil {
		return node.ListResult{}, err
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	skipUnder := ""
	if d := opts.Delimiter; d != "" && strings.HasSuffix(opts.After, d) && strings.HasPrefix(opts.After, opts.Prefix) {
		skipUnder = opts.After
	}
	var res node.ListResult
	count := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, opts.Prefix) || k <= opts.After || skipUnder != "" && strings.HasPrefix(k, skipUnder) {
			continue
		}
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				p := k[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if len(res.Prefixes) > 0 && res.Prefixes[len(res.Prefixes)-1] == p {
					continue
				}
				if count == opts.MaxKeys {
					res.Truncated = true
					break
				}
				res.Prefixes = append(res.Prefixes, p)
				res.Next = p
				count++
				continue
			}
		}
		if count == opts.MaxKeys {
			res.Truncated = true
			break
		}
		res.Objects = append(res.Objects, b.objects[k].info)
		res.Next = k
		count++
	}
	if !res.Truncated {
		res.Next = ""
	}
	return res, nil
}

func (m *memLayer) CreateMultipartUpload(ctx context.Context, c node.Caller, bucket, key string, opts node.PutOptions) (string, error) {
	if err := m.enter("CreateMultipartUpload"); err != nil {
		return "", err
	}
	if err := node.ValidObjectKey(key); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.bucketFor("CreateMultipartUpload", c, bucket); err != nil {
		return "", err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	uid := hex.EncodeToString(id[:])
	m.uploads[uid] = &memUpload{bucket: bucket, key: key, tenant: c.Tenant, opts: opts, parts: map[int]*memPart{}}
	return uid, nil
}

// upload finds an upload of this caller, bucket and key. Call with m.mu
// held.
func (m *memLayer) upload(op string, c node.Caller, bucket, key, id string) (*memUpload, error) {
	if _, err := m.bucketFor(op, c, bucket); err != nil {
		return nil, err
	}
	u, ok := m.uploads[id]
	if !ok || u.bucket != bucket || u.key != key || u.tenant != c.Tenant {
		return nil, &node.Error{Op: op, Kind: node.KindNoSuchUpload, Bucket: bucket, Key: key}
	}
	return u, nil
}

func (m *memLayer) UploadPart(ctx context.Context, c node.Caller, bucket, key, uploadID string, part int, body io.Reader, opts node.PartOptions) (node.PartInfo, error) {
	if err := m.enter("UploadPart"); err != nil {
		return node.PartInfo{}, err
	}
	if part < 1 || part > 10000 {
		return node.PartInfo{}, node.Errorf("UploadPart", node.KindInvalidArgument, "part number %d", part)
	}
	m.mu.Lock()
	_, err := m.upload("UploadPart", c, bucket, key, uploadID)
	m.mu.Unlock()
	if err != nil {
		return node.PartInfo{}, err
	}
	data, sum, err := readBody("UploadPart", body, opts.Size, opts.ContentMD5)
	if err != nil {
		return node.PartInfo{}, err
	}
	info := node.PartInfo{Number: part, ETag: hex.EncodeToString(sum), Size: int64(len(data)), Modified: m.now(), Checksums: checksumsOf(opts.Checksums)}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload("UploadPart", c, bucket, key, uploadID)
	if err != nil {
		return node.PartInfo{}, err
	}
	u.parts[part] = &memPart{info: info, md5: sum, data: data}
	return info, nil
}

func (m *memLayer) CompleteMultipartUpload(ctx context.Context, c node.Caller, bucket, key, uploadID string, parts []node.CompletePart, _ node.CompleteOptions) (node.ObjectInfo, error) {
	if err := m.enter("CompleteMultipartUpload"); err != nil {
		return node.ObjectInfo{}, err
	}
	const op = "CompleteMultipartUpload"
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(op, c, bucket, key, uploadID)
	if err != nil {
		return node.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return node.ObjectInfo{}, node.Errorf(op, node.KindMalformedXML, "no parts")
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return node.ObjectInfo{}, &node.Error{Op: op, Kind: node.KindInvalidPartOrder, Bucket: bucket, Key: key}
		}
	}
	h := md5.New()
	var data []byte
	var sizes []int64
	for i, cp := range parts {
		p, ok := u.parts[cp.Number]
		if !ok || p.info.ETag != cp.ETag {
			return node.ObjectInfo{}, &node.Error{Op: op, Kind: node.KindInvalidPart, Bucket: bucket, Key: key, Msg: fmt.Sprintf("part %d", cp.Number)}
		}
		if i < len(parts)-1 && p.info.Size < minPartSize {
			return node.ObjectInfo{}, &node.Error{Op: op, Kind: node.KindEntityTooSmall, Bucket: bucket, Key: key}
		}
		h.Write(p.md5)
		data = append(data, p.data...)
		sizes = append(sizes, p.info.Size)
	}
	b := m.buckets[bucket]
	info := node.ObjectInfo{
		Bucket: bucket, Key: key, VersionID: "null", Size: int64(len(data)),
		ETag:     fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts)),
		Modified: m.now(), ContentType: u.opts.ContentType, UserMeta: u.opts.UserMeta,
		PartsCount: len(parts), Owner: c.Tenant, StorageClass: "STANDARD",
	}
	b.objects[key] = &memObject{info: info, data: data, parts: sizes}
	delete(m.uploads, uploadID)
	return info, nil
}

func (m *memLayer) AbortMultipartUpload(ctx context.Context, c node.Caller, bucket, key, uploadID string) error {
	if err := m.enter("AbortMultipartUpload"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.upload("AbortMultipartUpload", c, bucket, key, uploadID); err != nil {
		return err
	}
	delete(m.uploads, uploadID)
	return nil
}

// memCreds is an in-memory Credentials.
type memCreds map[string]node.Credential

func (m memCreds) LookupAccessKey(ctx context.Context, accessKey string) (node.Credential, error) {
	c, ok := m[accessKey]
	if !ok {
		return node.Credential{}, node.Errorf("LookupAccessKey", node.KindNoSuchAccessKey, "%q", accessKey)
	}
	return c, nil
}

var (
	_ ObjectLayer = (*memLayer)(nil)
	_ Credentials = memCreds(nil)
)
