package meta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Versions. A key's current version, when it is an object, lives in
// objects/<bucket> under the key, as it did before versioning: ListObjects
// reads that bucket alone, so its cost does not grow with noncurrent
// versions or delete markers, however many a prefix holds. Every other
// version — noncurrent ones and delete markers, the current one included
// when it is a marker — lives in versions/<bucket> under
//
//	key ‖ 0x00 ‖ ^Seq (u64)
//
// so that a key's versions sort newest first right after each other, and
// keys sort as in objects (S3 keys hold no 0x00). The current version of
// a key is the one in objects if there is one, else the newest in
// versions (a delete marker, or nothing: a key whose current version was
// removed by id gets its newest remaining version promoted back into
// objects when that is an object).
//
// Seq is assigned by the FSM from one counter at commit; the version id
// S3 sees is the Seq in hex followed by 16 hex digits of the proposer's
// random VersionID ("null" for the null version), so a lookup by id is one
// seek.

// Versioning states of a bucket (Bucket.Versioning).
const (
	VersioningOff       uint8 = 0
	VersioningOn        uint8 = 1
	VersioningSuspended uint8 = 2
)

// NullVersion is the S3 version id of a key's null version.
const NullVersion = "null"

var (
	bVersions = []byte("versions")
	kVSeq     = []byte("vseq")
)

func versionPrefix(key string) []byte { return append([]byte(key), 0) }

func versionKey(key string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(versionPrefix(key), ^seq)
}

// splitVersionKey parses a versions key.
func splitVersionKey(k []byte) (key string, seq uint64, ok bool) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), ^binary.BigEndian.Uint64(k[len(k)-8:]), true
}

// S3VersionID is the version id S3 clients see.
func (o *Object) S3VersionID() string {
	if !o.Versioned {
		return NullVersion
	}
	rnd := o.VersionID
	if len(rnd) > 16 {
		rnd = rnd[:16]
	}
	return fmt.Sprintf("%016x%s", o.Seq, rnd)
}

// parseVersionID returns the Seq an S3 version id names; false for a
// malformed one.
func parseVersionID(id string) (uint64, bool) {
	if len(id) < 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(id[:16], 16, 64)
	return seq, err == nil && seq > 0
}

// ValidVersionID reports whether id may be a version id at all: up to
// 1024 printable ASCII characters. One that names no version of ours is
// "no such version", as S3 answers ids it never gave.
func ValidVersionID(id string) bool {
	if id == "" || len(id) > 1024 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// nextSeq assigns the next version sequence number.
func nextSeq(tx *bolt.Tx) (uint64, error) {
	s := peekSeq(tx) + 1
	return s, tx.Bucket(bSys).Put(kVSeq, u64(s))
}

// setSeq records seq as the last sequence number assigned.
func setSeq(tx *bolt.Tx, seq uint64) error { return tx.Bucket(bSys).Put(kVSeq, u64(seq)) }

// peekSeq is the last sequence number assigned.
func peekSeq(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bSys).Get(kVSeq)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// versionsOf returns bucket's versions bucket, creating it when create is
// set (buckets made before versioning have none).
func versionsOf(tx *bolt.Tx, bucket string, create bool) (*bolt.Bucket, error) {
	vs := tx.Bucket(bVersions)
	if b := vs.Bucket([]byte(bucket)); b != nil || !create {
		return b, nil
	}
	return vs.CreateBucket([]byte(bucket))
}

// located is a version with where it is kept.
type located struct {
	o       Object
	current bool // in objects: the current version, an object
}

// versionBySeq finds the version of bucket/key with sequence number seq.
func versionBySeq(tx *bolt.Tx, bucket, key string, seq uint64) (*located, bool, error) {
	if ob := tx.Bucket(bObjects).Bucket([]byte(bucket)); ob != nil {
		var o Object
		ok, err := get(ob, []byte(key), &o)
		if err != nil {
			return nil, false, err
		}
		if ok && o.Seq == seq {
			return &located{o: o, current: true}, true, nil
		}
	}
	vb, err := versionsOf(tx, bucket, false)
	if err != nil || vb == nil {
		return nil, false, err
	}
	var o Object
	ok, err := get(vb, versionKey(key, seq), &o)
	if err != nil || !ok {
		return nil, false, err
	}
	return &located{o: o}, true, nil
}

// findVersion finds a version of bucket/key by its S3 version id.
func findVersion(tx *bolt.Tx, bucket, key, id string) (*located, bool, error) {
	if id == NullVersion {
		return findNull(tx, bucket, key)
	}
	seq, ok := parseVersionID(id)
	if !ok {
		return nil, false, nil
	}
	l, ok, err := versionBySeq(tx, bucket, key, seq)
	if err != nil || !ok || l.o.S3VersionID() != id {
		return nil, false, err
	}
	return l, true, nil
}

// findNull finds the null version of bucket/key, if it has one.
func findNull(tx *bolt.Tx, bucket, key string) (*located, bool, error) {
	if ob := tx.Bucket(bObjects).Bucket([]byte(bucket)); ob != nil {
		var o Object
		ok, err := get(ob, []byte(key), &o)
		if err != nil {
			return nil, false, err
		}
		if ok && !o.Versioned {
			return &located{o: o, current: true}, true, nil
		}
	}
	vb, err := versionsOf(tx, bucket, false)
	if err != nil || vb == nil {
		return nil, false, err
	}
	p := versionPrefix(key)
	c := vb.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var o Object
		if err := unmarshal(v, &o); err != nil {
			return nil, false, fmt.Errorf("meta: version %q: %w", k, err)
		}
		if !o.Versioned {
			return &located{o: o}, true, nil
		}
	}
	return nil, false, nil
}

// newestNoncurrent returns the newest version of key in versions.
func newestNoncurrent(vb *bolt.Bucket, key string) (*Object, bool, error) {
	if vb == nil {
		return nil, false, nil
	}
	p := versionPrefix(key)
	k, v := vb.Cursor().Seek(p)
	if k == nil || !bytes.HasPrefix(k, p) {
		return nil, false, nil
	}
	var o Object
	if err := unmarshal(v, &o); err != nil {
		return nil, false, fmt.Errorf("meta: version %q: %w", k, err)
	}
	return &o, true, nil
}

// demote moves bucket/key's current version o into versions.
func demote(tx *bolt.Tx, bucket, key string, o *Object) error {
	vb, err := versionsOf(tx, bucket, true)
	if err != nil {
		return err
	}
	if err := put(vb, versionKey(key, o.Seq), o); err != nil {
		return err
	}
	return tx.Bucket(bObjects).Bucket([]byte(bucket)).Delete([]byte(key))
}

// removeVersion deletes version l of bucket/key for good, promoting the
// newest remaining version to current when l was current and that one is
// an object.
func removeVersion(tx *bolt.Tx, bucket, key string, l *located) error {
	if !l.current {
		vb, err := versionsOf(tx, bucket, false)
		if err != nil || vb == nil {
			return err
		}
		return vb.Delete(versionKey(key, l.o.Seq))
	}
	vb, err := versionsOf(tx, bucket, false)
	if err != nil {
		return err
	}
	next, ok, err := newestNoncurrent(vb, key) // read before the first write
	if err != nil {
		return err
	}
	if err := tx.Bucket(bObjects).Bucket([]byte(bucket)).Delete([]byte(key)); err != nil {
		return err
	}
	if !ok || next.DeleteMarker {
		return nil
	}
	if err := vb.Delete(versionKey(key, next.Seq)); err != nil {
		return err
	}
	return put(tx.Bucket(bObjects).Bucket([]byte(bucket)), []byte(key), next)
}

// versionUsage is what one stored version counts: a delete marker one
// object of no bytes (a record every member keeps).
func versionUsage(o *Object) Usage {
	if o.DeleteMarker {
		return Usage{Objects: 1}
	}
	return objectUsage(o)
}

// bucketOf reads a bucket the tenant owns.
func bucketOf(tx *bolt.Tx, bucket, tenant string) (*Bucket, *Result, error) {
	if r, err := ownBucket(tx, bucket, tenant); r != nil || err != nil {
		return nil, r, err
	}
	var b Bucket
	_, err := get(tx.Bucket(bBuckets), []byte(bucket), &b)
	return &b, nil, err
}

// lockRefusal says why object lock keeps version o from being removed or
// its retention from being shortened at FSM time now: nil if nothing
// does. bypass is a GOVERNANCE bypass the proposer checked the caller may
// make.
func lockRefusal(o *Object, now int64, bypass bool) *objapi.Error {
	if o.LegalHold {
		return objapi.Errorf("", objapi.KindAccessDenied, "the version is under legal hold")
	}
	if o.LockMode == "" || o.LockUntil <= now {
		return nil
	}
	if o.LockMode == objapi.LockGovernance && bypass {
		return nil
	}
	return objapi.Errorf("", objapi.KindAccessDenied, "the version is under %s retention until %s", o.LockMode, fmtTime(o.LockUntil))
}

// Locked reports whether object lock keeps the version from being
// removed at time now (unix ns), bypassing GOVERNANCE or not, and why.
func (o *Object) Locked(now int64, bypass bool) error {
	if e := lockRefusal(o, now, bypass); e != nil {
		return e
	}
	return nil
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }

// storeVersion writes version l back where it is kept.
func storeVersion(tx *bolt.Tx, bucket, key string, l *located) error {
	if l.current {
		return put(tx.Bucket(bObjects).Bucket([]byte(bucket)), []byte(key), &l.o)
	}
	vb, err := versionsOf(tx, bucket, true)
	if err != nil {
		return err
	}
	return put(vb, versionKey(key, l.o.Seq), &l.o)
}

// homeSeq is the Seq a version written into bucket by the next command
// gets (putObject): 0 in an unversioned bucket.
func homeSeq(tx *bolt.Tx, bucket string) uint64 {
	var b Bucket
	if ok, err := get(tx.Bucket(bBuckets), []byte(bucket), &b); err != nil || !ok || b.Versioning == VersioningOff {
		return 0
	}
	return peekSeq(tx) + 1
}

// lockedIn refuses the removal of every version of a bucket at time now
// (a tenant's deletion) if object lock protects any: it names how many
// versions, an example, and until when the last retention runs.
func lockedIn(tx *bolt.Tx, bucket string, now int64, bypass bool) (*objapi.Error, error) {
	var n, holds int
	var until int64
	var example string
	check := func(key string, v []byte) error {
		var o Object
		if err := unmarshal(v, &o); err != nil {
			return fmt.Errorf("meta: version of %q/%q: %w", bucket, key, err)
		}
		if lockRefusal(&o, now, bypass) == nil {
			return nil
		}
		n++
		if o.LegalHold {
			holds++
		}
		if o.LockUntil > now && (o.LockMode == objapi.LockCompliance || !bypass) {
			until = max(until, o.LockUntil)
		}
		if example == "" {
			example = bucket + "/" + key
		}
		return nil
	}
	if ob := tx.Bucket(bObjects).Bucket([]byte(bucket)); ob != nil {
		if err := ob.ForEach(func(k, v []byte) error { return check(string(k), v) }); err != nil {
			return nil, err
		}
	}
	if vb := tx.Bucket(bVersions).Bucket([]byte(bucket)); vb != nil {
		err := vb.ForEach(func(k, v []byte) error {
			key, _, _ := splitVersionKey(k)
			return check(key, v)
		})
		if err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, nil
	}
	msg := fmt.Sprintf("bucket %q holds %d versions under object lock (e.g. %s)", bucket, n, example)
	if until > 0 {
		msg += "; retention runs until " + fmtTime(until)
	}
	if holds > 0 {
		msg += fmt.Sprintf("; %d under legal hold, until it is removed", holds)
	}
	if !bypass {
		msg += " (GOVERNANCE retention yields to --bypass-governance; COMPLIANCE and legal hold to no one)"
	}
	return objapi.Errorf("", objapi.KindAccessDenied, "%s", msg), nil
}

// promoteNewest makes the newest version of key in versions current when
// the key has no object and that version is an object.
func promoteNewest(tx *bolt.Tx, bucket, key string) error {
	ob := tx.Bucket(bObjects).Bucket([]byte(bucket))
	if ob.Get([]byte(key)) != nil {
		return nil
	}
	vb, err := versionsOf(tx, bucket, false)
	if err != nil {
		return err
	}
	next, ok, err := newestNoncurrent(vb, key)
	if err != nil || !ok || next.DeleteMarker {
		return err
	}
	if err := vb.Delete(versionKey(key, next.Seq)); err != nil {
		return err
	}
	return put(ob, []byte(key), next)
}
