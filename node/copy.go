package node

import (
	"context"
	"encoding/hex"
	"hash"
	"io"
	"time"

	"github.com/kommunal-cloud/kcs/node/checksum"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// A copy writes the data again: the source is read (verified and
// decrypted) and stored as a new stream under the destination's own data
// key. Sharing the stored data would save the write but tie versions
// together — reference counts in the metadata, garbage collection that must
// consult them, and one data key serving several objects — and a copy is
// rare next to reads and writes. See ARCHITECTURE.md.

// maxCopySource is S3's limit on what one CopyObject copies.
const maxCopySource = 5 << 30

// copySource is a source object opened for reading.
type copySource struct {
	o     *meta.Object
	dk    *crypt.DataKey
	sm    sealedMeta
	sites map[string]string
	// latest: the source is its key's current version (copying an older
	// one onto its own key restores it).
	latest bool
}

// openCopySource reads the source's record and checks S3's copy
// conditions.
func (n *Node) openCopySource(ctx context.Context, op string, c Caller, src CopySource) (*copySource, error) {
	if err := ValidObjectKey(src.Key); err != nil {
		return nil, err
	}
	cs := &copySource{sites: map[string]string{}}
	err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		cs.o, cs.latest, cs.dk, cs.sm, err = n.openVersion(r, op, c, src.Bucket, src.Key, src.VersionID)
		if objapi.IsKind(err, objapi.KindMethodNotAllowed) {
			return objapi.Errorf(op, objapi.KindInvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
		}
		if err != nil {
			return err
		}
		nodes, err := r.Nodes()
		for _, x := range nodes {
			cs.sites[x.ID] = x.Site
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := copyConditions(src, cs.o); err != nil {
		return nil, err
	}
	return cs, nil
}

// copyConditions evaluates x-amz-copy-source-if-*. As S3 documents, a
// matching If-Match overrides a failing If-Unmodified-Since, and a failing
// If-None-Match fails whatever If-Modified-Since says.
func copyConditions(src CopySource, o *meta.Object) error {
	fail := func(what string) error {
		return objapi.Errorf("copy", objapi.KindPrecondition, "the copy source's %s condition failed", what)
	}
	modified := time.Unix(0, o.Modified).Truncate(time.Second)
	if src.IfMatch != "" {
		if !objapi.ETagMatches(src.IfMatch, o.ETag) {
			return fail("If-Match")
		}
	} else if !src.IfUnmodifiedSince.IsZero() && modified.After(src.IfUnmodifiedSince) {
		return fail("If-Unmodified-Since")
	}
	if src.IfNoneMatch != "" {
		if objapi.ETagMatches(src.IfNoneMatch, o.ETag) {
			return fail("If-None-Match")
		}
	} else if !src.IfModifiedSince.IsZero() && !modified.After(src.IfModifiedSince) {
		return fail("If-Modified-Since")
	}
	return nil
}

// stream returns a reader of plaintext [off, off+length) of the source,
// fed by a goroutine that decodes and decrypts it.
func (n *Node) sourceReader(ctx context.Context, cs *copySource, off, length int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(n.sendParts(ctx, pw, cs.o, cs.dk, cs.sites, off, length))
	}()
	return pr
}

// CopyObject copies an object within or across the caller's buckets.
func (n *Node) CopyObject(ctx context.Context, c Caller, src CopySource, bucket, key string, opts CopyOptions) (ObjectInfo, error) {
	const op = "CopyObject"
	if err := ValidObjectKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return ObjectInfo{}, err
	}
	cs, err := n.openCopySource(ctx, op, c, src)
	if err != nil {
		return ObjectInfo{}, err
	}
	if src.Bucket == bucket && src.Key == key && cs.latest && !opts.ReplaceMetadata && !opts.ReplaceTags && opts.Put.ChecksumAlgorithm == "" {
		return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidRequest,
			"this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes")
	}
	if cs.o.Size > maxCopySource {
		return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidRequest, "the specified copy source is larger than the maximum allowable size for a copy source: %d", maxCopySource)
	}
	sm := cs.sm
	if opts.ReplaceMetadata {
		if err := checkUserMeta(opts.Put.UserMeta); err != nil {
			return ObjectInfo{}, err
		}
		tags := sm.Tags
		sm = metaOf(opts.Put)
		sm.Tags = tags
	}
	if opts.ReplaceTags {
		if err := validTags(opts.Put.Tags); err != nil {
			return ObjectInfo{}, err
		}
		sm.Tags = opts.Put.Tags
	}
	w, err := n.prepareWrite(op, c, bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := n.checkObjectQuota(op, c, bucket, key, cs.o.Size); err != nil {
		return ObjectInfo{}, err
	}
	v, err := w.newVersion(c, bucket, key, sm)
	if err != nil {
		return ObjectInfo{}, err
	}
	version, dk, wrapped, sealed := v.id, v.dk, v.wrapped, v.sealed
	// A new checksum algorithm asked for is computed over the copied bytes.
	var h hash.Hash
	var alg *checksum.Algorithm
	if opts.Put.ChecksumAlgorithm != "" {
		var ok bool
		if alg, ok = checksum.Lookup(opts.Put.ChecksumAlgorithm); !ok {
			return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidArgument, "unsupported checksum algorithm %q", opts.Put.ChecksumAlgorithm)
		}
		h = alg.New()
	}
	rd := n.sourceReader(ctx, cs, 0, cs.o.Size)
	var body io.Reader = rd
	if h != nil {
		body = io.TeeReader(rd, h)
	}
	st, err := n.writeStream(ctx, body, dk, partAD(0), 0)
	rd.Close()
	if err != nil {
		return ObjectInfo{}, err
	}
	st.part.ETag = hex.EncodeToString(st.md5[:])
	obj := meta.Object{
		VersionID: version, Size: st.part.Size, ETag: st.part.ETag, Modified: st.part.Modified,
		SealedMeta: sealed, WrappedKey: wrapped, KeyVersion: w.tk.Version(), Parts: []meta.Part{st.part},
	}
	// A whole-object checksum still describes the copy; a composite one
	// described the source's parts, which the copy does not have.
	switch {
	case h != nil:
		obj.Checksums = []meta.Checksum{{Alg: alg.Name, Value: checksum.Encode(h.Sum(nil))}}
		obj.ChecksumType = checksum.FullObject
	case cs.o.ChecksumType == checksum.FullObject:
		obj.Checksums, obj.ChecksumType = cs.o.Checksums, checksum.FullObject
	}
	obj.Parts[0].Checksums = obj.Checksums
	setLock(&obj, opts.Put.Lock)
	cmd := meta.NewCommand(&meta.PutObject{Bucket: bucket, Key: key, Tenant: c.Tenant, Object: obj,
		IfNoneMatch: opts.Put.IfNoneMatch, IfMatch: etagCondition(opts.Put.IfMatch), Limits: w.limits})
	res, err := n.commit(ctx, op, bucket, key, cmd, &wrapping{tenant: c.Tenant, dk: dk, owner: crypt.ObjectOwner(c.Tenant, bucket, key, version),
		set: func(w crypt.WrappedKey, v uint32) {
			cmd.Payload.(*meta.PutObject).Object.WrappedKey, cmd.Payload.(*meta.PutObject).Object.KeyVersion = w, v
		}}, st.part)
	if err != nil {
		return ObjectInfo{}, err
	}
	info := n.committedInfo(bucket, key, &obj, sm, c.Tenant, res)
	info.CopySourceVersionID = cs.o.S3VersionID()
	return info, nil
}

// UploadPartCopy makes a part from (a range of) an existing object. If the
// upload carries a checksum algorithm, the part's checksum is computed over
// the copied bytes.
func (n *Node) UploadPartCopy(ctx context.Context, c Caller, src CopySource, bucket, key, uploadID string, part int) (PartInfo, error) {
	const op = "UploadPartCopy"
	if part < 1 || part > MaxParts {
		return PartInfo{}, objapi.Errorf(op, objapi.KindInvalidArgument, "part number must be an integer between 1 and 10000, inclusive")
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return PartInfo{}, err
	}
	u, dk, err := n.upload(ctx, op, c, bucket, key, uploadID)
	if err != nil {
		return PartInfo{}, err
	}
	cs, err := n.openCopySource(ctx, op, c, src)
	if err != nil {
		return PartInfo{}, err
	}
	off, length := int64(0), cs.o.Size
	if src.Range != nil {
		r := *src.Range
		if r.Suffix > 0 || r.Last < 0 || r.First > r.Last || r.Last >= cs.o.Size {
			return PartInfo{}, objapi.Errorf(op, objapi.KindInvalidRange, "the x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
		off, length = r.First, r.Last-r.First+1
	}
	if length > MaxPutSize {
		return PartInfo{}, objapi.Errorf(op, objapi.KindEntityTooLarge, "a part takes at most 5 GiB")
	}
	if err := n.checkInlineBudget(op, u, part, length); err != nil {
		return PartInfo{}, err
	}
	if err := n.checkPartQuota(op, c, u, part, length); err != nil {
		return PartInfo{}, err
	}
	var h hash.Hash
	var alg *checksum.Algorithm
	if u.ChecksumAlgorithm != "" {
		alg, _ = checksum.Lookup(u.ChecksumAlgorithm)
		h = alg.New()
	}
	rd := n.sourceReader(ctx, cs, off, length)
	var body io.Reader = rd
	if h != nil {
		body = io.TeeReader(rd, h)
	}
	st, err := n.writeStream(ctx, body, dk, partAD(part), part)
	rd.Close()
	if err != nil {
		return PartInfo{}, err
	}
	st.part.ETag = hex.EncodeToString(st.md5[:])
	if h != nil {
		st.part.Checksums = []meta.Checksum{{Alg: alg.Name, Value: checksum.Encode(h.Sum(nil))}}
	}
	cmd := meta.NewCommand(&meta.PutPart{UploadID: uploadID, Tenant: c.Tenant, Part: st.part})
	if _, err := n.commit(ctx, op, bucket, key, cmd, nil, st.part); err != nil {
		return PartInfo{}, err
	}
	return PartInfo{Number: part, ETag: st.part.ETag, Size: st.part.Size, Modified: time.Unix(0, st.part.Modified).UTC(),
		Checksums: fromChecksums(st.part.Checksums)}, nil
}
