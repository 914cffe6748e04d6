package node

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/checksum"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// A multipart upload has one data key, made at CreateMultipartUpload and
// bound to the upload; every part is a stream of its own under that key
// (with a fresh nonce prefix and data id per attempt), encrypted and coded
// as it arrives. Completion only writes metadata: the object's record lists
// the parts, and the data key is rewrapped for the object version. No byte
// is copied.

// CreateMultipartUpload starts an upload and returns its id.
func (n *Node) CreateMultipartUpload(ctx context.Context, c Caller, bucket, key string, opts PutOptions) (string, error) {
	if err := ValidObjectKey(key); err != nil {
		return "", err
	}
	if err := checkUserMeta(opts.UserMeta); err != nil {
		return "", err
	}
	if err := validTags(opts.Tags); err != nil {
		return "", err
	}
	alg, ctype, err := uploadChecksum(opts.ChecksumAlgorithm, opts.ChecksumType)
	if err != nil {
		return "", err
	}
	w, err := n.prepareWrite("CreateMultipartUpload", c, bucket)
	if err != nil {
		if !objapi.IsKind(err, objapi.KindNoSuchBucket) {
			return "", err
		}
		if lerr := n.cons.Linearize(ctx); lerr != nil {
			return "", lerr
		}
		if w, err = n.prepareWrite("CreateMultipartUpload", c, bucket); err != nil {
			return "", err
		}
	}
	if err := w.checkLock("CreateMultipartUpload", opts.Lock); err != nil {
		return "", err
	}
	now := n.now()
	id := newUploadID(now)
	dk, err := crypt.GenerateDataKey()
	if err != nil {
		return "", err
	}
	wrapped, err := w.tk.WrapDataKey(dk, crypt.UploadOwner(c.Tenant, bucket, key, id))
	if err != nil {
		return "", err
	}
	sealed, err := sealMeta(dk, metaOf(opts), objectAD(c.Tenant, bucket, key, "upload:"+id))
	if err != nil {
		return "", err
	}
	u := &meta.Upload{ID: id, Tenant: c.Tenant, Bucket: bucket, Key: key, Initiated: now.UnixNano(),
		WrappedKey: wrapped, KeyVersion: w.tk.Version(), SealedMeta: sealed, ChecksumAlgorithm: alg, ChecksumType: ctype,
		Limits: w.limits}
	if l := opts.Lock; l != nil {
		u.LockMode, u.LegalHold = l.Mode, l.LegalHold
		if l.Mode != "" {
			u.LockUntil = l.Until.UnixNano()
		}
	}
	if _, err := n.commit(ctx, "CreateMultipartUpload", bucket, key, meta.NewCommand((*meta.CreateUpload)(u)),
		&wrapping{tenant: c.Tenant, dk: dk, owner: crypt.UploadOwner(c.Tenant, bucket, key, id),
			set: func(w crypt.WrappedKey, v uint32) { u.WrappedKey, u.KeyVersion = w, v }}); err != nil {
		return "", err
	}
	return id, nil
}

// uploadChecksum checks an upload's checksum algorithm and type against
// what S3 allows, and fills in the type's default.
func uploadChecksum(alg, ctype string) (string, string, error) {
	if alg == "" {
		if ctype != "" {
			return "", "", objapi.Errorf("CreateMultipartUpload", objapi.KindInvalidRequest, "x-amz-checksum-type needs x-amz-checksum-algorithm")
		}
		return "", "", nil
	}
	a, ok := checksum.Lookup(alg)
	if !ok {
		return "", "", objapi.Errorf("CreateMultipartUpload", objapi.KindInvalidArgument, "unsupported checksum algorithm %q", alg)
	}
	if ctype == "" {
		ctype = a.Types()[0]
	}
	if !a.AllowsType(ctype) {
		return "", "", objapi.Errorf("CreateMultipartUpload", objapi.KindInvalidRequest, "the %s checksum type is not supported for %s", ctype, a.Name)
	}
	return a.Name, ctype, nil
}

// upload reads an upload of the caller's and unwraps its data key. A miss
// is confirmed by a linearizable read (the upload may be brand new).
func (n *Node) upload(ctx context.Context, op string, c Caller, bucket, key, id string) (*meta.Upload, *crypt.DataKey, error) {
	var (
		u  *meta.Upload
		dk *crypt.DataKey
	)
	read := func() error {
		return n.store.FSM.View(func(r *meta.Reader) error {
			got, ok, err := r.Upload(id)
			if err != nil {
				return err
			}
			if !ok || got.Tenant != c.Tenant || got.Bucket != bucket || got.Key != key {
				if _, err := bucketFor(r, op, c, bucket); err != nil {
					return err
				}
				return &objapi.Error{Op: op, Kind: objapi.KindNoSuchUpload, Bucket: bucket, Key: key}
			}
			tk, err := n.tenantKey(r, c.Tenant, got.KeyVersion)
			if err != nil {
				return err
			}
			dk, err = tk.UnwrapDataKey(got.WrappedKey, crypt.UploadOwner(c.Tenant, bucket, key, id))
			if err != nil {
				return &objapi.Error{Op: op, Kind: objapi.KindCorrupt, Err: err}
			}
			u = got
			return nil
		})
	}
	err := read()
	if objapi.IsKind(err, objapi.KindNoSuchUpload) || objapi.IsKind(err, objapi.KindNoSuchBucket) {
		if lerr := n.cons.Linearize(ctx); lerr != nil {
			return nil, nil, lerr
		}
		err = read()
	}
	return u, dk, err
}

// UploadPart stores one part.
func (n *Node) UploadPart(ctx context.Context, c Caller, bucket, key, uploadID string, part int, body io.Reader, opts PartOptions) (PartInfo, error) {
	if part < 1 || part > MaxParts {
		return PartInfo{}, objapi.Errorf("UploadPart", objapi.KindInvalidArgument, "part number must be an integer between 1 and 10000, inclusive")
	}
	if opts.Size > MaxPutSize {
		return PartInfo{}, objapi.Errorf("UploadPart", objapi.KindEntityTooLarge, "a part takes at most 5 GiB")
	}
	u, dk, err := n.upload(ctx, "UploadPart", c, bucket, key, uploadID)
	if err != nil {
		return PartInfo{}, err
	}
	if err := n.checkInlineBudget("UploadPart", u, part, opts.Size); err != nil {
		return PartInfo{}, err
	}
	if err := n.checkPartQuota("UploadPart", c, u, part, opts.Size); err != nil {
		return PartInfo{}, err
	}
	if len(opts.ContentMD5) == 0 && opts.NoChecksum && n.uploadLocked(u) {
		// Refused before a byte is stored when the request announces no
		// checksum at all (the check after the body covers the rest).
		return PartInfo{}, errLockPartIntegrity()
	}
	st, err := n.writeBody(ctx, "UploadPart", body, opts.Size, opts.ContentMD5, dk, part)
	if err != nil {
		return PartInfo{}, err
	}
	if opts.Checksums != nil {
		st.part.Checksums = toChecksums(opts.Checksums())
	}
	if len(opts.ContentMD5) == 0 && len(st.part.Checksums) == 0 && n.uploadLocked(u) {
		// S3 asks the parts of a locked object for an integrity header
		// as it asks a locked PUT.
		n.deleteShardsSoon(st.part)
		return PartInfo{}, errLockPartIntegrity()
	}
	if u.ChecksumAlgorithm != "" && findChecksum(st.part.Checksums, u.ChecksumAlgorithm) == "" {
		n.deleteShardsSoon(st.part)
		return PartInfo{}, objapi.Errorf("UploadPart", objapi.KindInvalidRequest, "the upload was created using a %s checksum; the part must carry one", u.ChecksumAlgorithm)
	}
	st.part.ETag = hex.EncodeToString(st.md5[:])
	cmd := meta.NewCommand(&meta.PutPart{UploadID: uploadID, Tenant: c.Tenant, Part: st.part})
	if _, err := n.commit(ctx, "UploadPart", bucket, key, cmd, nil, st.part); err != nil {
		return PartInfo{}, err
	}
	return PartInfo{Number: part, ETag: st.part.ETag, Size: st.part.Size, Modified: time.Unix(0, st.part.Modified).UTC(),
		Checksums: fromChecksums(st.part.Checksums)}, nil
}

// CompleteMultipartUpload makes the listed parts the object. Parts must be
// in ascending order, exist with the ETags given, and all but the last be
// at least 5 MiB.
func (n *Node) CompleteMultipartUpload(ctx context.Context, c Caller, bucket, key, uploadID string, parts []CompletePart, opts CompleteOptions) (ObjectInfo, error) {
	const op = "CompleteMultipartUpload"
	if len(parts) == 0 {
		return ObjectInfo{}, objapi.Errorf(op, objapi.KindMalformedXML, "you must specify at least one part")
	}
	if len(parts) > MaxParts {
		return ObjectInfo{}, objapi.Errorf(op, objapi.KindTooManyParts, "at most 10000 parts")
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidPartOrder, "the list of parts was not in ascending order")
		}
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return ObjectInfo{}, err
	}
	u, dk, err := n.upload(ctx, op, c, bucket, key, uploadID)
	if objapi.IsKind(err, objapi.KindNoSuchUpload) {
		return n.completedAgain(c, bucket, key, uploadID, parts)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	var stored map[int]meta.Part
	var tk *crypt.TenantKey
	var level meta.Level
	err = n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		if stored, err = r.Parts(uploadID); err != nil {
			return err
		}
		if level, err = r.MembersLevel(); err != nil {
			return err
		}
		// The object's data key is wrapped by the current version, which
		// may be newer than the upload's.
		tk, err = n.currentTenantKey(r, c.Tenant)
		return err
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	var chosen []meta.Part
	var size int64
	sums := md5.New()
	if opts.ChecksumType != "" && opts.ChecksumType != u.ChecksumType {
		return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidRequest, "the upload was created with checksum type %q, not %q", u.ChecksumType, opts.ChecksumType)
	}
	for i, cp := range parts {
		p, ok := stored[cp.Number]
		if !ok || strings.Trim(cp.ETag, `"`) != p.ETag {
			return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidPart, "part %d was not uploaded or its ETag differs", cp.Number)
		}
		for _, want := range cp.Checksums {
			if got := findChecksum(p.Checksums, want.Algorithm); got != want.Value {
				return ObjectInfo{}, objapi.Errorf(op, objapi.KindInvalidPart, "part %d's %s checksum differs from the uploaded part's", cp.Number, want.Algorithm)
			}
		}
		if i < len(parts)-1 && p.Size < MinPartSize {
			return ObjectInfo{}, objapi.Errorf(op, objapi.KindEntityTooSmall, "part %d is %d bytes; every part but the last must be at least 5 MiB", cp.Number, p.Size)
		}
		raw, _ := hex.DecodeString(p.ETag)
		sums.Write(raw)
		size += p.Size
		chosen = append(chosen, p)
	}
	if size > MaxObject {
		return ObjectInfo{}, objapi.Errorf(op, objapi.KindEntityTooLarge, "the object would be %d bytes, beyond 5 TiB", size)
	}
	version := newID()
	wrapped, err := tk.WrapDataKey(dk, crypt.ObjectOwner(c.Tenant, bucket, key, version))
	if err != nil {
		return ObjectInfo{}, err
	}
	sm, err := openMeta(dk, u.SealedMeta, objectAD(c.Tenant, bucket, key, "upload:"+uploadID))
	if err != nil {
		return ObjectInfo{}, &objapi.Error{Op: op, Kind: objapi.KindCorrupt, Err: err}
	}
	sealed, err := sealMeta(dk, sm, objectAD(c.Tenant, bucket, key, version))
	if err != nil {
		return ObjectInfo{}, err
	}
	obj := meta.Object{
		VersionID: version, Size: size, ETag: fmt.Sprintf("%x-%d", sums.Sum(nil), len(parts)),
		Modified: n.now().UnixNano(), SealedMeta: sealed, WrappedKey: wrapped, KeyVersion: tk.Version(),
		Parts: chosen, Multipart: true,
		LockMode: u.LockMode, LockUntil: u.LockUntil, LegalHold: u.LegalHold,
	}
	if level >= 2 {
		// Recorded so that a retry of this completion is answered with
		// the version (completedAgain); a member of level 1 would drop it.
		obj.UploadID = uploadID
	}
	if u.ChecksumAlgorithm != "" {
		value, err := objectChecksum(u, chosen)
		if err != nil {
			return ObjectInfo{}, err
		}
		obj.Checksums = []meta.Checksum{{Alg: u.ChecksumAlgorithm, Value: value}}
		obj.ChecksumType = u.ChecksumType
	}
	for _, want := range opts.Checksums {
		if findChecksum(obj.Checksums, want.Algorithm) != want.Value {
			return ObjectInfo{}, objapi.Errorf(op, objapi.KindBadDigest, "the %s you specified for the object did not match the one computed from its parts", want.Algorithm)
		}
	}
	cmd := meta.NewCommand(&meta.CompleteUpload{UploadID: uploadID, Tenant: c.Tenant, Object: obj,
		IfNoneMatch: opts.IfNoneMatch, IfMatch: etagCondition(opts.IfMatch)})
	res, err := n.commit(ctx, op, bucket, key, cmd, &wrapping{tenant: c.Tenant, dk: dk, owner: crypt.ObjectOwner(c.Tenant, bucket, key, version),
		set: func(w crypt.WrappedKey, v uint32) {
			cmd.Payload.(*meta.CompleteUpload).Object.WrappedKey, cmd.Payload.(*meta.CompleteUpload).Object.KeyVersion = w, v
		}})
	if err != nil {
		return ObjectInfo{}, err
	}
	return n.committedInfo(bucket, key, &obj, sm, c.Tenant, res), nil
}

// completedVersion returns bucket/key's current version if it was
// completed from upload uploadID (it records the upload: Object.UploadID).
// The caller has checked that the bucket is the caller's.
func completedVersion(r *meta.Reader, bucket, key, uploadID string) (*meta.Object, bool, error) {
	if uploadID == "" {
		return nil, false, nil
	}
	o, ok, err := r.Object(bucket, key)
	if err != nil || !ok || o.UploadID != uploadID {
		return nil, false, err
	}
	return o, true, nil
}

// completedAgain answers a CompleteMultipartUpload whose upload is no
// longer in progress. S3 answers a completion retried after it succeeded
// (an SDK whose answer timed out) with the object it made, its ETag and
// checksums, not NoSuchUpload, conditions and all (the reference does not
// say so; runs against S3 show it:
// https://github.com/minio/minio/issues/13318,
// https://github.com/adobe/S3Mock/issues/2586). So does kcs, while the
// upload's version is still the key's current one and the request lists
// the parts it was completed from. Anything else is NoSuchUpload.
func (n *Node) completedAgain(c Caller, bucket, key, uploadID string, parts []CompletePart) (ObjectInfo, error) {
	const op = "CompleteMultipartUpload"
	noSuch := &objapi.Error{Op: op, Kind: objapi.KindNoSuchUpload, Bucket: bucket, Key: key}
	var info ObjectInfo
	// n.upload confirmed the miss with a linearizable read; the
	// version is read after it.
	err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, err := bucketFor(r, op, c, bucket); err != nil {
			return err
		}
		o, done, err := completedVersion(r, bucket, key, uploadID)
		if err != nil {
			return err
		}
		if !done || len(o.Parts) != len(parts) {
			return noSuch
		}
		for i, cp := range parts {
			p := &o.Parts[i]
			if cp.Number != p.Number || objapi.UnquoteETag(cp.ETag) != p.ETag {
				return noSuch
			}
			for _, want := range cp.Checksums {
				if findChecksum(p.Checksums, want.Algorithm) != want.Value {
					return noSuch
				}
			}
		}
		o, _, sm, err := n.openObject(r, op, c, bucket, key)
		if err != nil {
			return err
		}
		info = n.info(bucket, key, o, sm, c.Tenant)
		return nil
	})
	return info, err
}

// AbortMultipartUpload drops an upload; its parts' shards are collected.
func (n *Node) AbortMultipartUpload(ctx context.Context, c Caller, bucket, key, uploadID string) error {
	if _, _, err := n.upload(ctx, "AbortMultipartUpload", c, bucket, key, uploadID); err != nil {
		return err
	}
	_, err := n.commit(ctx, "AbortMultipartUpload", bucket, key, meta.NewCommand(&meta.AbortUpload{UploadID: uploadID, Tenant: c.Tenant}), nil)
	return err
}

func findChecksum(cs []meta.Checksum, alg string) string {
	for _, c := range cs {
		if strings.EqualFold(c.Alg, alg) {
			return c.Value
		}
	}
	return ""
}

// objectChecksum forms a multipart object's checksum from its parts':
// COMPOSITE (the algorithm over the binary part checksums, "-N") or
// FULL_OBJECT (the parts' CRCs combined into the whole object's).
func objectChecksum(u *meta.Upload, parts []meta.Part) (string, error) {
	const op = "CompleteMultipartUpload"
	a, ok := checksum.Lookup(u.ChecksumAlgorithm)
	if !ok {
		return "", objapi.Errorf(op, objapi.KindInternal, "upload has unknown checksum algorithm %q", u.ChecksumAlgorithm)
	}
	var raw [][]byte
	var crcs []checksum.Part
	for _, p := range parts {
		v := findChecksum(p.Checksums, a.Name)
		if v == "" {
			return "", objapi.Errorf(op, objapi.KindInvalidRequest, "the upload was created using a %s checksum; part %d was uploaded without one", a.Name, p.Number)
		}
		d, err := a.Decode(v)
		if err != nil {
			return "", &objapi.Error{Op: op, Kind: objapi.KindInternal, Err: err}
		}
		raw = append(raw, d)
		crcs = append(crcs, checksum.Part{CRC: d, Size: p.Size})
	}
	if u.ChecksumType == checksum.FullObject {
		v, err := a.FullObjectOf(crcs)
		if err != nil {
			return "", &objapi.Error{Op: op, Kind: objapi.KindInternal, Err: err}
		}
		return v, nil
	}
	return a.CompositeOf(raw), nil
}

// errLockPartIntegrity refuses a part of a locked object that brings no
// integrity header, as S3 does.
func errLockPartIntegrity() error {
	return objapi.Errorf("UploadPart", objapi.KindInvalidRequest, "Content-MD5 OR x-amz-checksum- HTTP header is required for Upload Part requests with Object Lock parameters")
}
