package meta

import (
	"bytes"
	"encoding/binary"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of multipart uploads.

// CreateUpload starts a multipart upload. With Limits set it needs
// command level 2, and the upload's parts are held to them (PutPart).
type CreateUpload Upload

func (c *CreateUpload) apply(tx *bolt.Tx) (*Result, error) {
	u := (*Upload)(c)
	if r, err := ownBucket(tx, u.Bucket, u.Tenant); r != nil || err != nil {
		return r, err
	}
	if r, err := currentKey(tx, u.Tenant, u.KeyVersion); r != nil || err != nil {
		return r, err
	}
	if r, err := checkSealedMeta(u.Limits, u.SealedMeta); r != nil || err != nil {
		return r, err
	}
	if tx.Bucket(bUploads).Get([]byte(u.ID)) != nil {
		return fail(objapi.KindConflict, "upload id %q exists", u.ID)
	}
	d := Usage{Uploads: 1}
	if e, err := overQuota(tx, u.Tenant, u.Bucket, d); e != nil || err != nil {
		return refuse(e), err
	}
	if err := put(tx.Bucket(bUploads), []byte(u.ID), u); err != nil {
		return nil, err
	}
	if err := charge(tx, u.Tenant, u.Bucket, d); err != nil {
		return nil, err
	}
	return &Result{}, tx.Bucket(bBucketUploads).Bucket([]byte(u.Bucket)).Put(uploadIndexKey(u.Key, u.ID), nil)
}

func (c *CreateUpload) level() Level {
	if c.LockMode != "" || c.LegalHold {
		return 2
	}
	return limitsLevel(c.Limits)
}

func uploadIndexKey(key, uploadID string) []byte {
	return append(append([]byte(key), 0), uploadID...)
}

func partKey(uploadID string, n int) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(uploadID), 0), uint32(n))
}

func ownUpload(tx *bolt.Tx, id, tenant string) (*Upload, *Result, error) {
	var u Upload
	ok, err := get(tx.Bucket(bUploads), []byte(id), &u)
	if err != nil {
		return nil, nil, err
	}
	if !ok || u.Tenant != tenant {
		r, _ := fail(objapi.KindNoSuchUpload, "")
		return nil, r, nil
	}
	return &u, nil, nil
}

// PutPart records an uploaded part, replacing an earlier upload of it.
//
// An upload created with Limits takes part numbers up to MaxPartNumber,
// and parts whose inline streams, with those of its other parts, stay
// within MaxUploadInline; the upload's running totals (uploadusage) follow
// every part. PutPart itself stays of level 1: only a binary of level 2
// or above ever applies the CreateUpload that sets limits, and so ever
// meets an upload that has them.
type PutPart struct {
	UploadID string `cbor:"1,keyasint"`
	Tenant   string `cbor:"2,keyasint"`
	Part     Part   `cbor:"3,keyasint"`
}

func (p *PutPart) apply(tx *bolt.Tx) (*Result, error) {
	u, r, err := ownUpload(tx, p.UploadID, p.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	pb := tx.Bucket(bParts)
	k := partKey(p.UploadID, p.Part.Number)
	var old Part
	exists, err := get(pb, k, &old)
	if err != nil {
		return nil, err
	}
	usage, err := uploadUsage(tx, p.UploadID)
	if err != nil {
		return nil, err
	}
	if !exists {
		usage.Parts++
	}
	usage.InlineBytes += int64(len(p.Part.Inline)) - int64(len(old.Inline))
	if l := u.Limits; l != nil {
		if l.MaxPartNumber > 0 && (p.Part.Number < 1 || p.Part.Number > l.MaxPartNumber) {
			return fail(objapi.KindInvalidArgument, "part number must be an integer between 1 and %d, inclusive", l.MaxPartNumber)
		}
		if l.MaxUploadInline > 0 && usage.InlineBytes > l.MaxUploadInline && len(p.Part.Inline) > len(old.Inline) {
			return fail(objapi.KindEntityTooLarge, "the upload's parts would keep %d bytes in the metadata, beyond its limit of %d: upload fewer, larger parts",
				usage.InlineBytes, l.MaxUploadInline)
		}
	}
	d := partUsage(&p.Part)
	if exists {
		d = d.minus(partUsage(&old))
	} else if e, err := overPartQuota(tx, u.Tenant, u.Bucket, int64(usage.Parts-1)); e != nil || err != nil {
		return refuse(e), err
	}
	if e, err := overQuota(tx, u.Tenant, u.Bucket, d); e != nil || err != nil {
		return refuse(e), err
	}
	if err := put(pb, k, &p.Part); err != nil {
		return nil, err
	}
	if err := put(tx.Bucket(bUploadUsage), []byte(p.UploadID), &usage); err != nil {
		return nil, err
	}
	if err := charge(tx, u.Tenant, u.Bucket, d); err != nil {
		return nil, err
	}
	res := &Result{}
	if exists && !bytes.Equal(old.DataID, p.Part.DataID) {
		res.Garbage = []Part{old}
	}
	return res, nil
}

// uploadUsage reads an upload's running totals (zero before its first
// part).
func uploadUsage(tx *bolt.Tx, id string) (UploadUsage, error) {
	var u UploadUsage
	_, err := get(tx.Bucket(bUploadUsage), []byte(id), &u)
	return u, err
}

func (p *PutPart) streamHome(*bolt.Tx) (*DataRef, error) { return &DataRef{Upload: p.UploadID}, nil }

func (p *PutPart) storedStreams() ([]Part, bool) { return []Part{p.Part}, true }

// uploadParts returns an upload's stored parts by number.
func uploadParts(tx *bolt.Tx, id string) (map[int]Part, error) {
	parts := map[int]Part{}
	prefix := append([]byte(id), 0)
	c := tx.Bucket(bParts).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var p Part
		if err := unmarshal(v, &p); err != nil {
			return nil, err
		}
		parts[p.Number] = p
	}
	return parts, nil
}

func dropUpload(tx *bolt.Tx, u *Upload) error {
	prefix := append([]byte(u.ID), 0)
	pb := tx.Bucket(bParts)
	var keys [][]byte
	c := pb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := pb.Delete(k); err != nil {
			return err
		}
	}
	if ub := tx.Bucket(bBucketUploads).Bucket([]byte(u.Bucket)); ub != nil {
		if err := ub.Delete(uploadIndexKey(u.Key, u.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bUploadUsage).Delete([]byte(u.ID)); err != nil {
		return err
	}
	return tx.Bucket(bUploads).Delete([]byte(u.ID))
}

// CompleteUpload turns an upload into the object's current version. The
// proposer lists the parts it chose in Object.Parts; the FSM checks that
// each is still the stored one (a part uploaded again meanwhile fails the
// commit) and returns the upload's other parts as garbage. The object's
// sealed metadata is held to the upload's limits.
type CompleteUpload struct {
	UploadID    string `cbor:"1,keyasint"`
	Tenant      string `cbor:"2,keyasint"`
	Object      Object `cbor:"3,keyasint"`
	IfNoneMatch bool   `cbor:"4,keyasint"`
	IfMatch     string `cbor:"5,keyasint"`
}

func (c *CompleteUpload) apply(tx *bolt.Tx) (*Result, error) {
	u, r, err := ownUpload(tx, c.UploadID, c.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	if r, err := checkSealedMeta(u.Limits, c.Object.SealedMeta); r != nil || err != nil {
		return r, err
	}
	stored, err := uploadParts(tx, u.ID)
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for i, p := range c.Object.Parts {
		s, ok := stored[p.Number]
		if ok && len(s.MovedFrom) > 0 && bytes.Equal(s.MovedFrom, p.DataID) {
			// The leader re-coded the part onto another set after the
			// proposer read it (MoveStream): the object takes it where it
			// is now, and the dataids index follows (storedStreams).
			p = withLocation(p, &s)
			c.Object.Parts[i] = p
		}
		if !ok || !bytes.Equal(s.DataID, p.DataID) {
			return fail(objapi.KindInvalidPart, "part %d changed or is gone", p.Number)
		}
		used[p.Number] = true
	}
	var unused []Part
	nums := make([]int, 0, len(stored))
	for n := range stored {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		if !used[n] {
			unused = append(unused, stored[n])
		}
	}
	res, err := putObject(tx, u.Bucket, u.Key, u.Tenant, &c.Object, c.IfNoneMatch, c.IfMatch, unused, uploadUsageOf(stored).neg())
	if err != nil || res.Err != nil {
		return res, err
	}
	return res, dropUpload(tx, u)
}

// level: recording the upload in the object (Object.UploadID) changes
// what the command writes; a binary of level 1 would store the version
// without it.
func (c *CompleteUpload) level() Level {
	if c.Object.UploadID != "" {
		return 2
	}
	return 1
}

func (c *CompleteUpload) streamHome(tx *bolt.Tx) (*DataRef, error) {
	var u Upload
	ok, err := get(tx.Bucket(bUploads), []byte(c.UploadID), &u)
	if err != nil || !ok {
		return nil, err // a missing upload fails in apply
	}
	return &DataRef{Bucket: u.Bucket, Key: u.Key, Seq: homeSeq(tx, u.Bucket)}, nil
}

func (c *CompleteUpload) storedStreams() ([]Part, bool) { return c.Object.Parts, false }

// AbortUpload drops an upload and returns its parts as garbage.
type AbortUpload struct {
	UploadID string `cbor:"1,keyasint"`
	Tenant   string `cbor:"2,keyasint"`
}

func (a *AbortUpload) apply(tx *bolt.Tx) (*Result, error) {
	u, r, err := ownUpload(tx, a.UploadID, a.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	stored, err := uploadParts(tx, u.ID)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, p := range stored {
		res.Garbage = append(res.Garbage, p)
	}
	sort.Slice(res.Garbage, func(i, j int) bool { return res.Garbage[i].Number < res.Garbage[j].Number })
	if err := dropUpload(tx, u); err != nil {
		return nil, err
	}
	return res, charge(tx, u.Tenant, u.Bucket, uploadUsageOf(stored).neg())
}
