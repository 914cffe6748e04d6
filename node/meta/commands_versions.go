package meta

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of versioning, object lock and lifecycle configuration,
// and of a version's retention and legal hold (all level 2). Deleting
// versions is DeleteObject's (commands_objects.go).

// Kinds of bucket configuration (bucketcfg) besides CORS.
const (
	cfgLock      = "lock"
	cfgLifecycle = "lifecycle"
)

// SetVersioning sets a bucket's versioning state: VersioningOn or
// VersioningSuspended (a bucket never returns to VersioningOff).
type SetVersioning struct {
	Bucket string `cbor:"1,keyasint"`
	Tenant string `cbor:"2,keyasint"`
	State  uint8  `cbor:"3,keyasint"`
}

func (s *SetVersioning) apply(tx *bolt.Tx) (*Result, error) {
	b, r, err := bucketOf(tx, s.Bucket, s.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	switch {
	case s.State != VersioningOn && s.State != VersioningSuspended:
		return fail(objapi.KindMalformedXML, "versioning state %d", s.State)
	case b.ObjectLock && s.State != VersioningOn:
		return fail(objapi.KindInvalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
	}
	b.Versioning = s.State
	return &Result{}, put(tx.Bucket(bBuckets), []byte(b.Name), b)
}

// LockConfig is a bucket's default retention: new versions that bring
// none get Mode for Days days or Years years from their commit.
type LockConfig struct {
	Mode  string `cbor:"1,keyasint,omitempty"`
	Days  int    `cbor:"2,keyasint,omitempty"`
	Years int    `cbor:"3,keyasint,omitempty"`
}

// until is the retain-until of a version committed at now (unix ns).
func (c *LockConfig) until(now int64) int64 {
	return time.Unix(0, now).UTC().AddDate(c.Years, 0, c.Days).UnixNano()
}

// SetBucketLock enables object lock on a bucket whose versioning is
// enabled (it cannot be disabled again), and sets its default retention
// (none with a zero Default).
type SetBucketLock struct {
	Bucket  string     `cbor:"1,keyasint"`
	Tenant  string     `cbor:"2,keyasint"`
	Default LockConfig `cbor:"3,keyasint"`
}

func (s *SetBucketLock) apply(tx *bolt.Tx) (*Result, error) {
	b, r, err := bucketOf(tx, s.Bucket, s.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	if !b.ObjectLock && b.Versioning != VersioningOn {
		return fail(objapi.KindInvalidBucketState, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
	}
	d := s.Default
	if d.Mode != "" && (d.Mode != objapi.LockGovernance && d.Mode != objapi.LockCompliance || (d.Days > 0) == (d.Years > 0) || d.Days < 0 || d.Years < 0) {
		return fail(objapi.KindMalformedXML, "a default retention needs a mode and either days or years")
	}
	if !b.ObjectLock {
		b.ObjectLock = true
		if err := put(tx.Bucket(bBuckets), []byte(b.Name), b); err != nil {
			return nil, err
		}
	}
	if d.Mode == "" {
		return &Result{}, tx.Bucket(bBucketCfg).Delete(bucketConfigKey(b.Name, cfgLock))
	}
	return &Result{}, putBucketConfig(tx, b.Name, cfgLock, &d)
}

// LifecycleRule is one rule of a bucket's lifecycle configuration (see
// objapi.LifecycleRule; times are unix ns).
type LifecycleRule struct {
	ID                        string `cbor:"1,keyasint,omitempty"`
	Enabled                   bool   `cbor:"2,keyasint,omitempty"`
	Prefix                    string `cbor:"3,keyasint,omitempty"`
	Tags                      []Tag  `cbor:"4,keyasint,omitempty"`
	SizeGreaterThan           int64  `cbor:"5,keyasint,omitempty"`
	SizeLessThan              int64  `cbor:"6,keyasint,omitempty"`
	ExpirationDays            int    `cbor:"7,keyasint,omitempty"`
	ExpirationDate            int64  `cbor:"8,keyasint,omitempty"`
	ExpiredObjectDeleteMarker bool   `cbor:"9,keyasint,omitempty"`
	NoncurrentDays            int    `cbor:"10,keyasint,omitempty"`
	NewerNoncurrentVersions   int    `cbor:"11,keyasint,omitempty"`
	AbortIncompleteDays       int    `cbor:"12,keyasint,omitempty"`
	LegacyPrefix              bool   `cbor:"13,keyasint,omitempty"` // only how GET shows the prefix
}

// Tag is an object tag in a lifecycle filter.
type Tag struct {
	Key   string `cbor:"1,keyasint"`
	Value string `cbor:"2,keyasint"`
}

// SetLifecycle replaces (or, with no rules, removes) a bucket's lifecycle
// configuration.
type SetLifecycle struct {
	Bucket string          `cbor:"1,keyasint"`
	Tenant string          `cbor:"2,keyasint"`
	Rules  []LifecycleRule `cbor:"3,keyasint"`
}

func (s *SetLifecycle) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, s.Bucket, s.Tenant); r != nil || err != nil {
		return r, err
	}
	if len(s.Rules) == 0 {
		return &Result{}, tx.Bucket(bBucketCfg).Delete(bucketConfigKey(s.Bucket, cfgLifecycle))
	}
	return &Result{}, putBucketConfig(tx, s.Bucket, cfgLifecycle, s.Rules)
}

// SetObjectLock sets a version's retention (Retention: to Mode until
// Until; Mode "" removes it) and/or its legal hold (LegalHold: to Hold).
// No one shortens or removes a COMPLIANCE retention before it ends; a
// GOVERNANCE one only with Bypass, which the proposer allows only for
// access keys an operator permitted.
type SetObjectLock struct {
	Bucket    string `cbor:"1,keyasint"`
	Key       string `cbor:"2,keyasint"`
	Tenant    string `cbor:"3,keyasint"`
	VersionID string `cbor:"4,keyasint"` // S3's; "" for the current version
	Retention bool   `cbor:"5,keyasint,omitempty"`
	Mode      string `cbor:"6,keyasint,omitempty"`
	Until     int64  `cbor:"7,keyasint,omitempty"`
	Bypass    bool   `cbor:"8,keyasint,omitempty"`
	LegalHold bool   `cbor:"9,keyasint,omitempty"`
	Hold      bool   `cbor:"10,keyasint,omitempty"`
}

func (s *SetObjectLock) apply(tx *bolt.Tx) (*Result, error) {
	b, r, err := bucketOf(tx, s.Bucket, s.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	if !b.ObjectLock {
		return fail(objapi.KindInvalidRequest, "Bucket is missing Object Lock Configuration")
	}
	l, ok, err := currentOrVersion(tx, s.Bucket, s.Key, s.VersionID)
	if err != nil {
		return nil, err
	}
	if !ok {
		if s.VersionID != "" {
			return fail(objapi.KindNoSuchVersion, "")
		}
		return fail(objapi.KindNoSuchKey, "")
	}
	if l.o.DeleteMarker {
		return fail(objapi.KindMethodNotAllowed, "")
	}
	o := &l.o
	if s.Retention {
		now := fsmClock(tx)
		if s.Mode != "" && s.Mode != objapi.LockGovernance && s.Mode != objapi.LockCompliance {
			return fail(objapi.KindMalformedXML, "retention mode %q", s.Mode)
		}
		if o.LockMode != "" && o.LockUntil > now {
			// Any change of a protected version's mode alters its
			// retention: from COMPLIANCE it is refused, from GOVERNANCE
			// (even to COMPLIANCE) it needs the bypass, as a shorter
			// period does. Only a later date in the same mode is free.
			weaker := s.Mode == "" || s.Until < o.LockUntil || s.Mode != o.LockMode
			switch {
			case weaker && o.LockMode == objapi.LockCompliance:
				return fail(objapi.KindAccessDenied, "the version is under COMPLIANCE retention until %s", fmtTime(o.LockUntil))
			case weaker && !s.Bypass:
				return fail(objapi.KindAccessDenied, "the version is under GOVERNANCE retention until %s", fmtTime(o.LockUntil))
			}
		}
		o.LockMode, o.LockUntil = s.Mode, s.Until
		if s.Mode == "" {
			o.LockUntil = 0
		}
	}
	if s.LegalHold {
		o.LegalHold = s.Hold
	}
	return &Result{VersionID: o.S3VersionID()}, storeVersion(tx, s.Bucket, s.Key, l)
}

// currentOrVersion finds a version by S3 id, or the current one (an
// object or a delete marker) for "".
func currentOrVersion(tx *bolt.Tx, bucket, key, id string) (*located, bool, error) {
	if id != "" {
		return findVersion(tx, bucket, key, id)
	}
	var o Object
	ok, err := get(tx.Bucket(bObjects).Bucket([]byte(bucket)), []byte(key), &o)
	if err != nil || ok {
		return &located{o: o, current: true}, ok, err
	}
	vb, err := versionsOf(tx, bucket, false)
	if err != nil {
		return nil, false, err
	}
	m, ok, err := newestNoncurrent(vb, key)
	if err != nil || !ok {
		return nil, false, err
	}
	return &located{o: *m}, true, nil
}

// ShredCycle has every node shred (Store.Shred) what the commits before it
// removed: the wrapped data keys of deleted versions, which a Raft log
// entry, a snapshot or a free page of a database may still hold. The
// leader proposes it periodically when anything was committed since the
// last one, so that a deleted record's key leaves every disk within a
// stated bound (DSGVO Art. 17 for single records).
type ShredCycle struct{}

func (*ShredCycle) apply(tx *bolt.Tx) (*Result, error) { return &Result{}, markShred(tx) }

// SetKeyBypass grants an access key the right to bypass GOVERNANCE
// retention, or takes it back: an operator's decision.
type SetKeyBypass struct {
	ID     string `cbor:"1,keyasint"`
	Bypass bool   `cbor:"2,keyasint"`
	// Tenant, when set, must own the key.
	Tenant string `cbor:"3,keyasint,omitempty"`
}

func (s *SetKeyBypass) apply(tx *bolt.Tx) (*Result, error) {
	var k AccessKey
	ok, err := get(tx.Bucket(bAccessKeys), []byte(s.ID), &k)
	if err != nil {
		return nil, err
	}
	if !ok || s.Tenant != "" && k.Tenant != s.Tenant {
		return fail(objapi.KindNoSuchAccessKey, "access key %q does not exist", s.ID)
	}
	k.BypassGovernance = s.Bypass
	return &Result{}, put(tx.Bucket(bAccessKeys), []byte(s.ID), &k)
}
