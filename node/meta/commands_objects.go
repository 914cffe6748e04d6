package meta

import (
	"bytes"
	"fmt"
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

func (p *PutObject) streamHome(tx *bolt.Tx) (*DataRef, error) {
	return &DataRef{Bucket: p.Bucket, Key: p.Key, Seq: homeSeq(tx, p.Bucket)}, nil
}

func (p *PutObject) storedStreams() ([]Part, bool) { return p.Object.Parts, true }

// putObject makes o the current version of bucket/key, checking the
// conditions against the version it replaces and the quotas against what
// it stores. extraGarbage is added to the result (unused parts of a
// completed upload), and extra to the change of usage (the completed
// upload that leaves). In a versioned bucket the version it follows
// becomes noncurrent; otherwise o is the null version and replaces the
// one there was (see versions.go).
func putObject(tx *bolt.Tx, bucket, key, tenant string, o *Object, ifNoneMatch bool, ifMatch string, extraGarbage []Part, extra Usage) (*Result, error) {
	b, r, err := bucketOf(tx, bucket, tenant)
	if r != nil || err != nil {
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
		res := &Result{Duplicate: true}
		if b.Versioning != VersioningOff {
			res.VersionID = old.S3VersionID()
		}
		return res, nil
	}
	if r := lockDefaults(tx, b, o); r != nil {
		return r, nil
	}
	res := &Result{Garbage: extraGarbage}
	if b.Versioning != VersioningOff {
		// Versions of an unversioned bucket keep Seq 0, as they had before
		// versioning: their records stay what a binary before it writes.
		o.Seq = peekSeq(tx) + 1 // taken (setSeq) once everything is read
		o.Versioned = b.Versioning == VersioningOn
		res.VersionID = o.S3VersionID()
		// A version's time is its proposer's; writers racing through
		// different nodes must not make a newer version look older (tools
		// restore "the version as of T" by LastModified).
		newest := &old
		if !exists {
			vb, err := versionsOf(tx, bucket, false)
			if err != nil {
				return nil, err
			}
			n, ok, err := newestNoncurrent(vb, key)
			if err != nil {
				return nil, err
			}
			newest = nil
			if ok {
				newest = n
			}
		}
		if newest != nil && newest.Modified >= o.Modified {
			o.Modified = newest.Modified + 1
		}
	}
	d := objectUsage(o).plus(extra)
	var dropNull *located // a noncurrent null version o replaces
	if b.Versioning == VersioningSuspended && (!exists || old.Versioned) {
		l, ok, err := findNull(tx, bucket, key)
		if err != nil {
			return nil, err
		}
		if ok && !l.current {
			dropNull = l
			d = d.minus(versionUsage(&l.o))
			res.Garbage = append(res.Garbage, l.o.Parts...)
		}
	}
	replace := exists && !old.Versioned && b.Versioning != VersioningOn
	if replace {
		d = d.minus(objectUsage(&old))
		res.Replaced = &old
		res.Garbage = append(res.Garbage, old.Parts...)
	}
	if e, err := overQuota(tx, tenant, bucket, d); e != nil || err != nil {
		return refuse(e), err
	}
	if o.Seq != 0 {
		if err := setSeq(tx, o.Seq); err != nil {
			return nil, err
		}
	}
	if exists && !replace {
		if err := demote(tx, bucket, key, &old); err != nil {
			return nil, err
		}
	}
	if dropNull != nil {
		if err := removeVersion(tx, bucket, key, dropNull); err != nil {
			return nil, err
		}
	}
	if err := put(ob, []byte(key), o); err != nil {
		return nil, err
	}
	return res, charge(tx, tenant, bucket, d)
}

// lockDefaults checks a new version's object lock against its bucket, and
// gives it the bucket's default retention when it brings none.
func lockDefaults(tx *bolt.Tx, b *Bucket, o *Object) *Result {
	if !b.ObjectLock {
		if o.LockMode != "" || o.LegalHold {
			r, _ := fail(objapi.KindInvalidRequest, "Bucket is missing Object Lock Configuration")
			return r
		}
		return nil
	}
	if o.LockMode != "" {
		return nil
	}
	var cfg LockConfig
	if ok, err := get(tx.Bucket(bBucketCfg), bucketConfigKey(b.Name, cfgLock), &cfg); err != nil || !ok || cfg.Mode == "" {
		return nil
	}
	o.LockMode = cfg.Mode
	o.LockUntil = cfg.until(fsmClock(tx))
	return nil
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

// DeleteObject deletes as S3's DeleteObject does (see deleteObject).
type DeleteObject struct {
	Bucket  string `cbor:"1,keyasint"`
	Key     string `cbor:"2,keyasint"`
	Tenant  string `cbor:"3,keyasint"`
	IfMatch string `cbor:"4,keyasint"`
	// VersionID (S3's) removes that version for good; Bypass is a
	// GOVERNANCE bypass the proposer checked the caller may make; MarkerID
	// is the random part of the id of a delete marker the command adds. All
	// level 2.
	VersionID string `cbor:"5,keyasint,omitempty"`
	Bypass    bool   `cbor:"6,keyasint,omitempty"`
	MarkerID  string `cbor:"7,keyasint,omitempty"`
	// IfSeq deletes only if the current version is still the one with
	// this Seq (the lifecycle worker's expiry of what it looked at).
	IfSeq uint64 `cbor:"8,keyasint,omitempty"`
}

func (d *DeleteObject) level() Level {
	if d.VersionID != "" || d.Bypass || d.MarkerID != "" || d.IfSeq != 0 {
		return 2
	}
	return 1
}

func (d *DeleteObject) apply(tx *bolt.Tx) (*Result, error) {
	b, r, err := bucketOf(tx, d.Bucket, d.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	res := &Result{}
	var freed Usage
	e, err := deleteObject(tx, b, d, res, &freed)
	if err != nil || e != nil {
		return refuse(e), err
	}
	return res, charge(tx, d.Tenant, d.Bucket, freed.neg())
}

// deleteObject applies one deletion of bucket b to res, adding what it
// frees to freed. Without a version id: in an unversioned bucket the key's
// version goes; in a versioned one a delete marker becomes current (the
// current version noncurrent), and when versioning is suspended the null
// version goes and the marker is the null version. With one: that version
// goes for good unless object lock keeps it, and the newest remaining one
// becomes current. A version id that names nothing deletes nothing, as in
// S3.
func deleteObject(tx *bolt.Tx, b *Bucket, d *DeleteObject, res *Result, freed *Usage) (*objapi.Error, error) {
	ob := tx.Bucket(bObjects).Bucket([]byte(b.Name))
	var cur Object
	exists, err := get(ob, []byte(d.Key), &cur)
	if err != nil {
		return nil, err
	}
	if d.IfMatch != "" && !exists {
		return objapi.Errorf("", objapi.KindNoSuchKey, ""), nil
	}
	if d.IfMatch != "" && !etagMatch(d.IfMatch, cur.ETag) {
		return objapi.Errorf("", objapi.KindPrecondition, "the object's ETag differs"), nil
	}
	if d.IfSeq != 0 && (!exists || cur.Seq != d.IfSeq) {
		return objapi.Errorf("", objapi.KindConflict, "the object changed meanwhile"), nil
	}
	if d.VersionID != "" {
		if !ValidVersionID(d.VersionID) {
			return objapi.Errorf("", objapi.KindInvalidArgument, "Invalid version id specified"), nil
		}
		l, ok, err := findVersion(tx, b.Name, d.Key, d.VersionID)
		if err != nil || !ok {
			return nil, err
		}
		if e := lockRefusal(&l.o, fsmClock(tx), d.Bypass); e != nil {
			return e, nil
		}
		res.VersionID, res.DeleteMarker = d.VersionID, l.o.DeleteMarker
		res.Garbage = append(res.Garbage, l.o.Parts...)
		*freed = freed.plus(versionUsage(&l.o))
		if l.current {
			res.Replaced = &l.o
		}
		if err := removeVersion(tx, b.Name, d.Key, l); err != nil {
			return nil, err
		}
		return nil, promoteNewest(tx, b.Name, d.Key)
	}
	if b.Versioning == VersioningOff {
		if !exists {
			return nil, nil
		}
		res.Replaced = &cur
		res.Garbage = append(res.Garbage, cur.Parts...)
		*freed = freed.plus(objectUsage(&cur))
		return nil, ob.Delete([]byte(d.Key))
	}
	var null *located
	if b.Versioning == VersioningSuspended {
		l, ok, err := findNull(tx, b.Name, d.Key)
		if err != nil {
			return nil, err
		}
		if ok {
			null = l
		}
	}
	// A delete marker is a record every member keeps, whatever the key:
	// it counts as an object, so the objects quota bounds them too.
	grow := Usage{Objects: 1}
	if null != nil {
		grow = grow.minus(versionUsage(&null.o))
	}
	if e, err := overQuota(tx, b.Tenant, b.Name, grow.minus(*freed)); e != nil || err != nil {
		return e, err
	}
	*freed = freed.minus(Usage{Objects: 1})
	if l := null; l != nil {
		res.Garbage = append(res.Garbage, l.o.Parts...)
		*freed = freed.plus(versionUsage(&l.o))
		if l.current {
			exists = false
			if err := ob.Delete([]byte(d.Key)); err != nil {
				return nil, err
			}
		} else if err := removeVersion(tx, b.Name, d.Key, l); err != nil {
			return nil, err
		}
	}
	if exists {
		if err := demote(tx, b.Name, d.Key, &cur); err != nil {
			return nil, err
		}
	}
	seq, err := nextSeq(tx)
	if err != nil {
		return nil, err
	}
	m := Object{VersionID: d.MarkerID, Seq: seq, Versioned: b.Versioning == VersioningOn, DeleteMarker: true, Modified: fsmClock(tx)}
	vb, err := versionsOf(tx, b.Name, true)
	if err != nil {
		return nil, err
	}
	res.VersionID, res.DeleteMarker = m.S3VersionID(), true
	return nil, put(vb, versionKey(d.Key, seq), &m)
}

// DeleteObjects deletes many keys, or versions, of a bucket in one commit
// (S3's multi-object delete): Keys are deleted as DeleteObject without a
// version id does, Entries (level 2) as DeleteObject with theirs. Each
// entry's outcome is in the Result's Entries, in order.
type DeleteObjects struct {
	Bucket  string        `cbor:"1,keyasint"`
	Tenant  string        `cbor:"2,keyasint"`
	Keys    []string      `cbor:"3,keyasint"`
	Entries []DeleteEntry `cbor:"4,keyasint,omitempty"`
	Bypass  bool          `cbor:"5,keyasint,omitempty"`
}

// DeleteEntry is one deletion of a DeleteObjects.
type DeleteEntry struct {
	Key       string `cbor:"1,keyasint"`
	VersionID string `cbor:"2,keyasint,omitempty"`
	MarkerID  string `cbor:"3,keyasint,omitempty"`
}

func (d *DeleteObjects) level() Level {
	if len(d.Entries) > 0 || d.Bypass {
		return 2
	}
	return 1
}

func (d *DeleteObjects) apply(tx *bolt.Tx) (*Result, error) {
	b, r, err := bucketOf(tx, d.Bucket, d.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	entries := d.Entries
	seen := map[string]bool{}
	for _, k := range d.Keys {
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		entries = append(entries, DeleteEntry{Key: k})
	}
	if err := readBeforeDeleting(tx, b, entries); err != nil {
		return nil, err
	}
	res := &Result{}
	var freed Usage
	for _, e := range entries {
		one := &Result{}
		fail, err := deleteObject(tx, b, &DeleteObject{Bucket: d.Bucket, Key: e.Key, Tenant: d.Tenant, VersionID: e.VersionID,
			MarkerID: e.MarkerID, Bypass: d.Bypass}, one, &freed)
		if err != nil {
			return nil, err
		}
		res.Garbage = append(res.Garbage, one.Garbage...)
		er := EntryResult{VersionID: one.VersionID, DeleteMarker: one.DeleteMarker}
		if fail != nil {
			er.Failed, er.Kind, er.Msg = true, uint16(fail.Kind), fail.Msg
		}
		if len(d.Entries) > 0 {
			res.Entries = append(res.Entries, er)
		}
	}
	return res, charge(tx, d.Tenant, d.Bucket, freed.neg())
}

// SetObjectMeta replaces the sealed metadata (tags, say) of one object
// version: the current one, or the one with sequence number Seq (level
// 2); it fails with KindConflict if the version (its VersionID) is no
// longer current, or gone.
type SetObjectMeta struct {
	Bucket     string `cbor:"1,keyasint"`
	Key        string `cbor:"2,keyasint"`
	Tenant     string `cbor:"3,keyasint"`
	VersionID  string `cbor:"4,keyasint"`
	SealedMeta []byte `cbor:"5,keyasint"`
	// Limits bound the new sealed metadata (level 2).
	Limits *Limits `cbor:"6,keyasint,omitempty"`
	Seq    uint64  `cbor:"7,keyasint,omitempty"`
}

func (s *SetObjectMeta) level() Level {
	if s.Seq != 0 {
		return 2
	}
	return limitsLevel(s.Limits)
}

func (s *SetObjectMeta) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, s.Bucket, s.Tenant); r != nil || err != nil {
		return r, err
	}
	if r, err := checkSealedMeta(s.Limits, s.SealedMeta); r != nil || err != nil {
		return r, err
	}
	// The version the proposer opened, wherever it is now: the current
	// one, or one a newer version made noncurrent meanwhile.
	l, ok, err := versionBySeq(tx, s.Bucket, s.Key, s.Seq)
	if err != nil {
		return nil, err
	}
	if !ok || l.o.VersionID != s.VersionID || l.o.DeleteMarker {
		if !ok && s.Seq == 0 && tx.Bucket(bObjects).Bucket([]byte(s.Bucket)).Get([]byte(s.Key)) == nil {
			return fail(objapi.KindNoSuchKey, "")
		}
		return fail(objapi.KindConflict, "the object changed meanwhile")
	}
	l.o.SealedMeta = s.SealedMeta
	return &Result{}, storeVersion(tx, s.Bucket, s.Key, l)
}

// readBeforeDeleting decodes, before the first write of a DeleteObjects,
// every record its entries' deletions read: a key's current version, the
// version an entry names, the null version in a suspended bucket, and as
// many of the newest noncurrent versions as deletions of the key may
// promote. An entry's writes are well-formed, so what later entries read
// decodes too; and a key with a million versions costs a few records, not
// a million, in an apply every other command waits for.
func readBeforeDeleting(tx *bolt.Tx, b *Bucket, entries []DeleteEntry) error {
	ob := tx.Bucket(bObjects).Bucket([]byte(b.Name))
	vb, err := versionsOf(tx, b.Name, false)
	if err != nil {
		return err
	}
	perKey := map[string]int{}
	for _, e := range entries {
		perKey[e.Key]++
		var o Object
		if _, err := get(ob, []byte(e.Key), &o); err != nil {
			return err
		}
		if e.VersionID != "" && ValidVersionID(e.VersionID) {
			if _, _, err := findVersion(tx, b.Name, e.Key, e.VersionID); err != nil {
				return err
			}
		}
		if e.VersionID == "" && b.Versioning == VersioningSuspended {
			if _, _, err := findNull(tx, b.Name, e.Key); err != nil {
				return err
			}
		}
	}
	if vb == nil {
		return nil
	}
	for key, n := range perKey {
		p := versionPrefix(key)
		c := vb.Cursor()
		left := n + 1
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && left > 0; k, v = c.Next() {
			var o Object
			if err := unmarshal(v, &o); err != nil {
				return fmt.Errorf("meta: version %q: %w", k, err)
			}
			left--
		}
	}
	return nil
}
