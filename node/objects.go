package node

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/kommunal-cloud/kcs/node/checksum"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// S3's size limits.
const (
	MaxPutSize  = 5 << 30    // a single PUT, and one part
	MaxObject   = 5 << 40    // a whole object
	MinPartSize = 5 << 20    // every part but the last
	MaxParts    = 10000      // parts of one upload
	maxUserMeta = 2 << 10    // x-amz-meta-* names and values together
	nullVersion = "null"     // what unversioned buckets call their version
	storageStd  = "STANDARD" // the only storage class
	metaFormat1 = byte(1)    // sealed metadata record format
)

// sealedMeta is what an object keeps encrypted besides its data: content
// type, the standard headers, user metadata and tags.
type sealedMeta struct {
	ContentType string            `json:"ct,omitempty"`
	Headers     Headers           `json:"h,omitzero"`
	UserMeta    map[string]string `json:"m,omitempty"`
	Tags        []Tag             `json:"t,omitempty"`
}

func metaOf(o PutOptions) sealedMeta {
	return sealedMeta{ContentType: o.ContentType, Headers: o.Headers, UserMeta: o.UserMeta, Tags: o.Tags}
}

// objectAD binds sealed metadata to its object version.
func objectAD(tenant, bucket, key, version string) []byte {
	b := []byte("kcs-meta")
	for _, s := range []string{tenant, bucket, key, version} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// sealMeta seals an object's metadata, and refuses metadata beyond
// maxSealedMeta.
func sealMeta(dk *crypt.DataKey, m sealedMeta, ad []byte) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sealed, err := crypt.SealMetadata(dk, append([]byte{metaFormat1}, b...), ad)
	if err != nil {
		return nil, err
	}
	return sealed, checkSealedSize(sealed)
}

func openMeta(dk *crypt.DataKey, sealed, ad []byte) (sealedMeta, error) {
	var m sealedMeta
	if len(sealed) == 0 {
		return m, nil
	}
	b, err := crypt.OpenMetadata(dk, sealed, ad)
	if err != nil {
		return m, err
	}
	if len(b) == 0 || b[0] != metaFormat1 {
		return m, fmt.Errorf("sealed metadata format %v", b[:min(1, len(b))])
	}
	err = json.Unmarshal(b[1:], &m)
	return m, err
}

func checkUserMeta(m map[string]string) error {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	if n > maxUserMeta {
		return objapi.Errorf("PutObject", objapi.KindInvalidArgument, "user metadata is %d bytes, the limit is %d", n, maxUserMeta)
	}
	return nil
}

func toChecksums(cs []Checksum) []meta.Checksum {
	var out []meta.Checksum
	for _, c := range cs {
		out = append(out, meta.Checksum{Alg: c.Algorithm, Value: c.Value})
	}
	return out
}

func fromChecksums(cs []meta.Checksum) []Checksum {
	var out []Checksum
	for _, c := range cs {
		out = append(out, Checksum{Algorithm: c.Alg, Value: c.Value})
	}
	return out
}

// limitBody fails a body that grows past max instead of truncating it.
type limitBody struct {
	r    io.Reader
	left int64
}

var errBodyTooLarge = objapi.Errorf("PutObject", objapi.KindEntityTooLarge, "body larger than 5 GiB")

func (l *limitBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errBodyTooLarge
		}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// writeCtx is what a PUT or part upload needs from the metadata before it
// writes shards.
type writeCtx struct {
	tk     *crypt.TenantKey
	limits *meta.Limits // what the command carries (nil below command level 2)
	// objectLock: the bucket has object lock; lockDefault: with a default
	// retention, which every new version gets unless it brings its own.
	objectLock, lockDefault bool
	// rules are the bucket's lifecycle rules, for x-amz-expiration.
	rules []meta.LifecycleRule
}

// version is a new object version's id, data key (fresh and random),
// the key wrapped for the version, and its sealed metadata.
type version struct {
	id      string
	dk      *crypt.DataKey
	wrapped crypt.WrappedKey
	sealed  []byte
}

func (w *writeCtx) newVersion(c Caller, bucket, key string, sm sealedMeta) (*version, error) {
	v := &version{id: newID()}
	var err error
	if v.dk, err = crypt.GenerateDataKey(); err != nil {
		return nil, err
	}
	if v.wrapped, err = w.tk.WrapDataKey(v.dk, crypt.ObjectOwner(c.Tenant, bucket, key, v.id)); err != nil {
		return nil, err
	}
	if v.sealed, err = sealMeta(v.dk, sm, objectAD(c.Tenant, bucket, key, v.id)); err != nil {
		return nil, err
	}
	return v, nil
}

func (n *Node) prepareWrite(op string, c Caller, bucket string) (*writeCtx, error) {
	var w writeCtx
	err := n.store.FSM.View(func(r *meta.Reader) error {
		b, err := bucketFor(r, op, c, bucket)
		if err != nil {
			return err
		}
		w.rules = bucketRules(r, bucket)
		if w.objectLock = b.ObjectLock; b.ObjectLock {
			_, w.lockDefault, err = r.BucketLock(bucket)
			if err != nil {
				return err
			}
		}
		w.tk, err = n.currentTenantKey(r, c.Tenant)
		w.limits = n.limits(r)
		return err
	})
	return &w, err
}

// PutObject stores an object: a new version, encrypted under a fresh data
// key, coded over an erasure set, durable, then committed through Raft.
func (n *Node) PutObject(ctx context.Context, c Caller, bucket, key string, body io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := ValidObjectKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if opts.Size > MaxPutSize {
		return ObjectInfo{}, objapi.Errorf("PutObject", objapi.KindEntityTooLarge, "%d bytes; a single PUT takes at most 5 GiB", opts.Size)
	}
	if err := checkUserMeta(opts.UserMeta); err != nil {
		return ObjectInfo{}, err
	}
	if err := validTags(opts.Tags); err != nil {
		return ObjectInfo{}, err
	}
	// Fail a doomed request before writing shards; the commit checks again.
	w, err := n.prepareWrite("PutObject", c, bucket)
	if err != nil {
		if objapi.IsKind(err, objapi.KindNoSuchBucket) {
			// Maybe created elsewhere a moment ago.
			if lerr := n.cons.Linearize(ctx); lerr != nil {
				return ObjectInfo{}, lerr
			}
			w, err = n.prepareWrite("PutObject", c, bucket)
		}
		if err != nil {
			return ObjectInfo{}, err
		}
	}
	if err := n.checkObjectQuota("PutObject", c, bucket, key, opts.Size); err != nil {
		return ObjectInfo{}, err
	}
	if err := w.checkLock("PutObject", opts.Lock); err != nil {
		return ObjectInfo{}, err
	}
	if w.locks(opts.Lock) && len(opts.ContentMD5) == 0 && opts.NoChecksum {
		return ObjectInfo{}, errLockIntegrity("PutObject")
	}
	sm := metaOf(opts)
	v, err := w.newVersion(c, bucket, key, sm)
	if err != nil {
		return ObjectInfo{}, err
	}
	version, dk, wrapped, sealed := v.id, v.dk, v.wrapped, v.sealed
	st, err := n.writeBody(ctx, "PutObject", body, opts.Size, opts.ContentMD5, dk, 0)
	if err != nil {
		return ObjectInfo{}, err
	}
	var sums []Checksum
	if opts.Checksums != nil {
		sums = opts.Checksums()
	}
	if w.locks(opts.Lock) && len(opts.ContentMD5) == 0 && len(sums) == 0 {
		n.deleteShardsSoon(st.part)
		return ObjectInfo{}, errLockIntegrity("PutObject")
	}
	st.part.ETag = hex.EncodeToString(st.md5[:])
	st.part.Checksums = toChecksums(sums)
	obj := meta.Object{
		VersionID: version, Size: st.part.Size, ETag: st.part.ETag, Modified: st.part.Modified,
		SealedMeta: sealed, WrappedKey: wrapped, KeyVersion: w.tk.Version(), Checksums: st.part.Checksums,
		Parts: []meta.Part{st.part},
	}
	setLock(&obj, opts.Lock)
	if len(obj.Checksums) > 0 {
		obj.ChecksumType = checksum.FullObject
	}
	cmd := meta.NewCommand(&meta.PutObject{Bucket: bucket, Key: key, Tenant: c.Tenant, Object: obj,
		IfNoneMatch: opts.IfNoneMatch, IfMatch: etagCondition(opts.IfMatch), Limits: w.limits})
	res, err := n.commit(ctx, "PutObject", bucket, key, cmd, &wrapping{tenant: c.Tenant, dk: dk, owner: crypt.ObjectOwner(c.Tenant, bucket, key, version),
		set: func(w crypt.WrappedKey, v uint32) {
			cmd.Payload.(*meta.PutObject).Object.WrappedKey, cmd.Payload.(*meta.PutObject).Object.KeyVersion = w, v
		}}, st.part)
	if err != nil {
		return ObjectInfo{}, err
	}
	info := n.committedInfo(bucket, key, &obj, sm, c.Tenant, res)
	info.Expiration = expiration(w.rules, key, &obj, opts.Tags)
	return info, nil
}

func (n *Node) info(bucket, key string, o *meta.Object, sm sealedMeta, tenant string) ObjectInfo {
	info := ObjectInfo{
		Bucket: bucket, Key: key, VersionID: o.S3VersionID(), Size: o.Size, ETag: o.ETag,
		Modified: time.Unix(0, o.Modified).UTC(), ContentType: sm.ContentType, UserMeta: sm.UserMeta,
		Checksums: fromChecksums(o.Checksums), Owner: tenant, StorageClass: storageStd,
		Headers: sm.Headers, TagCount: len(sm.Tags), ChecksumType: o.ChecksumType,
	}
	if o.Multipart {
		info.PartsCount = len(o.Parts)
	}
	info.Lock = lockInfo(o)
	return info
}

// partInfo describes one part of an object uploaded in parts.
func partInfo(p *meta.Part) PartInfo {
	return PartInfo{Number: p.Number, ETag: p.ETag, Size: p.Size, Modified: time.Unix(0, p.Modified).UTC(), Checksums: fromChecksums(p.Checksums)}
}

// openObject reads an object's current version, unwraps its data key and
// opens its sealed metadata, within one read transaction.
func (n *Node) openObject(r *meta.Reader, op string, c Caller, bucket, key string) (*meta.Object, *crypt.DataKey, sealedMeta, error) {
	o, _, dk, sm, err := n.openVersion(r, op, c, bucket, key, "")
	return o, dk, sm, err
}

// openVersion is openObject for the version with S3 version id id ("" for
// the current one), and says whether it is the current one. A delete
// marker is KindNoSuchKey as the current version and KindMethodNotAllowed
// by id, its id in the error.
func (n *Node) openVersion(r *meta.Reader, op string, c Caller, bucket, key, id string) (*meta.Object, bool, *crypt.DataKey, sealedMeta, error) {
	var sm sealedMeta
	if _, err := bucketFor(r, op, c, bucket); err != nil {
		return nil, false, nil, sm, err
	}
	if id != "" && !meta.ValidVersionID(id) {
		return nil, false, nil, sm, &objapi.Error{Op: op, Kind: objapi.KindInvalidArgument, Bucket: bucket, Key: key, Msg: "Invalid version id specified"}
	}
	marker := objapi.KindNoSuchKey
	if id != "" {
		marker = objapi.KindMethodNotAllowed
	}
	o, latest, err := lookupVersion(r, op, bucket, key, id, marker)
	if err != nil {
		return nil, false, nil, sm, err
	}
	tk, err := n.tenantKey(r, c.Tenant, o.KeyVersion)
	if err != nil {
		return nil, false, nil, sm, err
	}
	dk, err := tk.UnwrapDataKey(o.WrappedKey, crypt.ObjectOwner(c.Tenant, bucket, key, o.VersionID))
	if err != nil {
		return nil, false, nil, sm, &objapi.Error{Op: op, Kind: objapi.KindCorrupt, Bucket: bucket, Key: key, Err: err}
	}
	sm, err = openMeta(dk, o.SealedMeta, objectAD(c.Tenant, bucket, key, o.VersionID))
	if err != nil {
		return nil, false, nil, sm, &objapi.Error{Op: op, Kind: objapi.KindCorrupt, Bucket: bucket, Key: key, Err: err}
	}
	return o, latest, dk, sm, nil
}

// GetObject resolves an object version, the range or part asked for, and
// returns it ready to send. Only Send reads shards.
func (n *Node) GetObject(ctx context.Context, c Caller, bucket, key string, opts GetOptions) (*Object, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var (
		o      *meta.Object
		latest bool
		rules  []meta.LifecycleRule
		dk     *crypt.DataKey
		sm     sealedMeta
		sites  = map[string]string{}
	)
	err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		o, latest, dk, sm, err = n.openVersion(r, "GetObject", c, bucket, key, opts.VersionID)
		if err != nil {
			return err
		}
		if latest {
			rules = bucketRules(r, bucket)
		}
		nodes, err := r.Nodes()
		for _, x := range nodes {
			sites[x.ID] = x.Site
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	obj := &Object{Info: n.info(bucket, key, o, sm, c.Tenant), Length: o.Size}
	obj.Info.IsLatest = latest
	if latest {
		obj.Info.Expiration = expiration(rules, key, o, sm.Tags)
	}
	if opts.Parts && o.Multipart {
		obj.Info.Parts = make([]PartInfo, len(o.Parts))
		for i := range o.Parts {
			obj.Info.Parts[i] = partInfo(&o.Parts[i])
		}
	}
	switch {
	case opts.PartNumber > 0:
		if !o.Multipart {
			if opts.PartNumber != 1 {
				return nil, objapi.Errorf("GetObject", objapi.KindInvalidRange, "the object has one part; part %d is not satisfiable", opts.PartNumber)
			}
		} else {
			if opts.PartNumber > len(o.Parts) {
				return nil, objapi.Errorf("GetObject", objapi.KindInvalidRange, "the object has %d parts; part %d is not satisfiable", len(o.Parts), opts.PartNumber)
			}
			for i := 0; i < opts.PartNumber-1; i++ {
				obj.Offset += o.Parts[i].Size
			}
			obj.Length = o.Parts[opts.PartNumber-1].Size
			p := partInfo(&o.Parts[opts.PartNumber-1])
			obj.Info.Part = &p
		}
		obj.Partial = true
	case opts.Range != nil:
		off, length, err := resolveRange(o.Size, opts.Range)
		if err != nil {
			return nil, err
		}
		obj.Offset, obj.Length, obj.Partial = off, length, true
	}
	return NewObject(obj.Info, obj.Offset, obj.Length, obj.Partial, func(ctx context.Context, w io.Writer) error {
		return n.sendParts(ctx, w, o, dk, sites, obj.Offset, obj.Length)
	}), nil
}

// sendParts writes [off, off+length) of an object, part by part.
func (n *Node) sendParts(ctx context.Context, w io.Writer, o *meta.Object, dk *crypt.DataKey, sites map[string]string, off, length int64) error {
	var base int64
	end := off + length
	for i := range o.Parts {
		p := &o.Parts[i]
		lo, hi := max(off, base), min(end, base+p.Size)
		if lo < hi {
			ad := partAD(0)
			if o.Multipart {
				ad = partAD(p.Number)
			}
			if err := n.readStream(ctx, w, p, dk, ad, sites, lo-base, hi-lo); err != nil {
				return err
			}
		}
		base += p.Size
		if base >= end {
			break
		}
	}
	return nil
}

// resolveRange turns a Range header into an offset and length within size,
// or KindInvalidRange when no byte of it exists.
func resolveRange(size int64, r *RangeSpec) (int64, int64, error) {
	bad := func() (int64, int64, error) {
		return 0, 0, objapi.Errorf("GetObject", objapi.KindInvalidRange, "the requested range is not satisfiable")
	}
	if r.Suffix > 0 {
		if size == 0 {
			return bad()
		}
		n := min(r.Suffix, size)
		return size - n, n, nil
	}
	if r.First < 0 || r.First >= size {
		return bad()
	}
	last := r.Last
	if last < 0 || last >= size {
		last = size - 1
	}
	if last < r.First {
		return bad()
	}
	return r.First, last - r.First + 1, nil
}

// DeleteObject deletes an object as DeleteVersion does; deleting a key
// that does not exist succeeds, as in S3.
func (n *Node) DeleteObject(ctx context.Context, c Caller, bucket, key string, opts DeleteOptions) error {
	_, err := n.DeleteVersion(ctx, c, bucket, key, opts)
	return err
}

// ListObjects lists a bucket of the caller's in UTF-8 byte order.
func (n *Node) ListObjects(ctx context.Context, c Caller, bucket string, opts ListOptions) (ListResult, error) {
	var out ListResult
	if err := n.cons.Linearize(ctx); err != nil {
		return out, err
	}
	err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, err := bucketFor(r, "ListObjects", c, bucket); err != nil {
			return err
		}
		if opts.MaxKeys <= 0 {
			return nil
		}
		entries, prefixes, truncated, next, err := r.List(bucket, opts.Prefix, opts.Delimiter, opts.After, min(opts.MaxKeys, 1000))
		if err != nil {
			return err
		}
		for _, e := range entries {
			out.Objects = append(out.Objects, ObjectInfo{
				Bucket: bucket, Key: e.Key, VersionID: nullVersion, Size: e.Object.Size, ETag: e.Object.ETag,
				Modified: time.Unix(0, e.Object.Modified).UTC(), Owner: c.Tenant, StorageClass: storageStd,
				Checksums: fromChecksums(e.Object.Checksums), ChecksumType: e.Object.ChecksumType,
			})
		}
		out.Prefixes, out.Truncated, out.Next = prefixes, truncated, next
		return nil
	})
	return out, err
}

// DeleteObjects deletes keys of a bucket in one metadata commit, as
// DeleteVersions does without version ids.
func (n *Node) DeleteObjects(ctx context.Context, c Caller, bucket string, keys []string) ([]DeleteResult, error) {
	objs := make([]objapi.ObjectVersion, len(keys))
	for i, k := range keys {
		objs[i].Key = k
	}
	return n.DeleteVersions(ctx, c, bucket, objs, false)
}
