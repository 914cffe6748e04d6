package meta

import (
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of objects' current versions.

// PutObject makes Object the current version of Bucket/Key.
type PutObject struct {
	Bucket string `cbor:"1,keyasint"`
	Key    string `cbor:"2,keyasint"`
	Tenant string `cbor:"3,keyasint"`
	Object Object `cbor:"4,keyasint"`
	// Conditions, decided in the commit so that racing writers cannot
	// both win: IfNoneMatch requires no current version, IfMatch requires
	// the current version's ETag.
	IfNoneMatch bool   `cbor:"5,keyasint"`
	IfMatch     string `cbor:"6,keyasint"`
	// Limits bound the object's sealed metadata (level 2).
	Limits *Limits `cbor:"7,keyasint,omitempty"`
}

func (p *PutObject) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := checkSealedMeta(p.Limits, p.Object.SealedMeta); r != nil || err != nil {
		return r, err
	}
	return putObject(tx, p.Bucket, p.Key, p.Tenant, &p.Object, p.IfNoneMatch, p.IfMatch, nil, Usage{})
}

func (p *PutObject) level() Level { return limitsLevel(p.Limits) }

func (p *PutObject) streamHome(*bolt.Tx) (*DataRef, error) {
	return &DataRef{Bucket: p.Bucket, Key: p.Key}, nil
}

func (p *PutObject) storedStreams() ([]Part, bool) { return p.Object.Parts, true }

// putObject makes o the current version of bucket/key, checking the
// conditions against the version it replaces and the quotas against what
// it stores. extraGarbage is added to the result (unused parts of a
// completed upload), and extra to the change of usage (the completed
// upload that leaves).
func putObject(tx *bolt.Tx, bucket, key, tenant string, o *Object, ifNoneMatch bool, ifMatch string, extraGarbage []Part, extra Usage) (*Result, error) {
	if r, err := ownBucket(tx, bucket, tenant); r != nil || err != nil {
		return r, err
	}
	if r, err := currentKey(tx, tenant, o.KeyVersion); r != nil || err != nil {
		return r, err
	}
	ob := tx.Bucket(bObjects).Bucket([]byte(bucket))
	var old Object
	exists, err := get(ob, []byte(key), &old)
	if err != nil {
		return nil, err
	}
	if ifNoneMatch && exists {
		return fail(objapi.KindPrecondition, "the object exists")
	}
	if ifMatch != "" && (!exists || !etagMatch(ifMatch, old.ETag)) {
		if !exists {
			return fail(objapi.KindNoSuchKey, "")
		}
		return fail(objapi.KindPrecondition, "the object's ETag differs")
	}
	if exists && old.VersionID != "" && old.VersionID == o.VersionID {
		// The same command applied twice (a forwarded proposal retried
		// after its answer was lost): nothing was replaced.
		return &Result{}, nil
	}
	d := objectUsage(o).plus(extra)
	if exists {
		d = d.minus(objectUsage(&old))
	}
	if e, err := overQuota(tx, tenant, bucket, d); e != nil || err != nil {
		return refuse(e), err
	}
	if err := put(ob, []byte(key), o); err != nil {
		return nil, err
	}
	if err := charge(tx, tenant, bucket, d); err != nil {
		return nil, err
	}
	res := &Result{Garbage: extraGarbage}
	if exists {
		res.Replaced = &old
		res.Garbage = append(res.Garbage, old.Parts...)
	}
	return res, nil
}

func etagMatch(cond, etag string) bool {
	for _, c := range strings.Split(cond, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.Trim(c, `"`) == etag {
			return true
		}
	}
	return false
}

// DeleteObject removes the current version of Bucket/Key.
type DeleteObject struct {
	Bucket  string `cbor:"1,keyasint"`
	Key     string `cbor:"2,keyasint"`
	Tenant  string `cbor:"3,keyasint"`
	IfMatch string `cbor:"4,keyasint"`
}

func (d *DeleteObject) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, d.Bucket, d.Tenant); r != nil || err != nil {
		return r, err
	}
	ob := tx.Bucket(bObjects).Bucket([]byte(d.Bucket))
	var old Object
	exists, err := get(ob, []byte(d.Key), &old)
	if err != nil {
		return nil, err
	}
	if d.IfMatch != "" && !exists {
		return fail(objapi.KindNoSuchKey, "")
	}
	if d.IfMatch != "" && !etagMatch(d.IfMatch, old.ETag) {
		return fail(objapi.KindPrecondition, "the object's ETag differs")
	}
	if !exists {
		return &Result{}, nil
	}
	if err := ob.Delete([]byte(d.Key)); err != nil {
		return nil, err
	}
	if err := charge(tx, d.Tenant, d.Bucket, objectUsage(&old).neg()); err != nil {
		return nil, err
	}
	return &Result{Replaced: &old, Garbage: old.Parts}, nil
}

// DeleteObjects removes the current versions of many keys of a bucket in
// one commit (S3's multi-object delete).
type DeleteObjects struct {
	Bucket string   `cbor:"1,keyasint"`
	Tenant string   `cbor:"2,keyasint"`
	Keys   []string `cbor:"3,keyasint"`
}

func (d *DeleteObjects) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, d.Bucket, d.Tenant); r != nil || err != nil {
		return r, err
	}
	ob := tx.Bucket(bObjects).Bucket([]byte(d.Bucket))
	res := &Result{}
	var gone []string // every record is read before the first delete
	var freed Usage
	seen := map[string]bool{}
	for _, k := range d.Keys {
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		var old Object
		ok, err := get(ob, []byte(k), &old)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		gone = append(gone, k)
		res.Garbage = append(res.Garbage, old.Parts...)
		freed = freed.plus(objectUsage(&old))
	}
	for _, k := range gone {
		if err := ob.Delete([]byte(k)); err != nil {
			return nil, err
		}
	}
	return res, charge(tx, d.Tenant, d.Bucket, freed.neg())
}

// SetObjectMeta replaces the sealed metadata (tags, say) of one object
// version; it fails with KindConflict if the version is no longer current.
type SetObjectMeta struct {
	Bucket     string `cbor:"1,keyasint"`
	Key        string `cbor:"2,keyasint"`
	Tenant     string `cbor:"3,keyasint"`
	VersionID  string `cbor:"4,keyasint"`
	SealedMeta []byte `cbor:"5,keyasint"`
	// Limits bound the new sealed metadata (level 2).
	Limits *Limits `cbor:"6,keyasint,omitempty"`
}

func (s *SetObjectMeta) level() Level { return limitsLevel(s.Limits) }

func (s *SetObjectMeta) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, s.Bucket, s.Tenant); r != nil || err != nil {
		return r, err
	}
	if r, err := checkSealedMeta(s.Limits, s.SealedMeta); r != nil || err != nil {
		return r, err
	}
	ob := tx.Bucket(bObjects).Bucket([]byte(s.Bucket))
	var o Object
	ok, err := get(ob, []byte(s.Key), &o)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(objapi.KindNoSuchKey, "")
	}
	if o.VersionID != s.VersionID {
		return fail(objapi.KindConflict, "the object changed meanwhile")
	}
	o.SealedMeta = s.SealedMeta
	return &Result{}, put(ob, []byte(s.Key), &o)
}
