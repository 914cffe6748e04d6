package objapi

import (
	"context"
	"time"
)

// Versioning, object lock and lifecycle: the records that last.
//
// Version ids are S3's: "null" for the null version (every object written
// while the bucket was unversioned, or suspended), an opaque string for
// the others. The versions of a key are ordered by commit, newest first.
// Methods of the other roles act on a key's current version unless their
// options name one (GetOptions.VersionID, CopySource.VersionID, the
// versionID arguments here).

// Versioning states of a bucket, as GetBucketVersioning answers them: ""
// for a bucket never versioned, which it can never become again.
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// Object lock retention modes.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// Versions is the role of versioning, object lock and lifecycle.
type Versions interface {
	// CreateBucketWith is CreateBucket with options: ObjectLock creates
	// the bucket with object lock enabled and versioning with it.
	CreateBucketWith(ctx context.Context, c Caller, bucket string, opts CreateBucketOptions) error
	// PutBucketVersioning sets the bucket's versioning state, Enabled or
	// Suspended (KindMalformedXML otherwise); suspending a bucket with
	// object lock is KindInvalidBucketState.
	PutBucketVersioning(ctx context.Context, c Caller, bucket, status string) error
	// GetBucketVersioning returns the state: "" for a bucket never
	// versioned.
	GetBucketVersioning(ctx context.Context, c Caller, bucket string) (string, error)

	// DeleteVersion deletes an object as S3's DeleteObject does: without
	// opts.VersionID it removes the current version of an unversioned
	// bucket, and adds a delete marker in a versioned one (a null one,
	// replacing the null version, when suspended); with a version id it
	// removes that version for good, unless object lock protects it
	// (KindAccessDenied). The answer says what happened: the version
	// removed or the marker added, and whether that is a delete marker.
	DeleteVersion(ctx context.Context, c Caller, bucket, key string, opts DeleteOptions) (DeleteInfo, error)
	// DeleteVersions is DeleteObjects with version ids: one result per
	// entry, in any order.
	DeleteVersions(ctx context.Context, c Caller, bucket string, objs []ObjectVersion, bypassGovernance bool) ([]DeleteResult, error)
	// ListObjectVersions lists every version and delete marker by key in
	// UTF-8 byte order, and a key's versions newest first: after
	// KeyMarker (and, with VersionIDMarker, after that version of
	// KeyMarker), with Prefix, Delimiter rolling keys up into Prefixes, at
	// most MaxKeys (1…1000) versions and prefixes together.
	ListObjectVersions(ctx context.Context, c Caller, bucket string, opts ListVersionsOptions) (ListVersionsResult, error)

	// PutObjectLockConfiguration enables object lock (on a bucket with
	// versioning enabled; KindInvalidBucketState otherwise) and sets or
	// clears its default retention.
	PutObjectLockConfiguration(ctx context.Context, c Caller, bucket string, cfg ObjectLockConfig) error
	// GetObjectLockConfiguration is KindNoSuchBucketLockConfig for a
	// bucket without object lock.
	GetObjectLockConfiguration(ctx context.Context, c Caller, bucket string) (ObjectLockConfig, error)
	// PutObjectRetention sets a version's retention. Shortening or
	// removing a COMPLIANCE retention is KindAccessDenied for everyone; a
	// GOVERNANCE one needs bypassGovernance and a caller allowed to
	// bypass. A bucket without object lock is KindInvalidRequest.
	PutObjectRetention(ctx context.Context, c Caller, bucket, key, versionID string, r Retention, bypassGovernance bool) error
	// GetObjectRetention is KindNoSuchObjectLockConfig for a version
	// without retention.
	GetObjectRetention(ctx context.Context, c Caller, bucket, key, versionID string) (Retention, error)
	// PutObjectLegalHold sets or clears a version's legal hold.
	PutObjectLegalHold(ctx context.Context, c Caller, bucket, key, versionID string, on bool) error
	// GetObjectLegalHold answers the version's legal hold.
	GetObjectLegalHold(ctx context.Context, c Caller, bucket, key, versionID string) (bool, error)

	// PutBucketLifecycle replaces the bucket's lifecycle rules, which
	// s3api validated; no rule is KindMalformedXML.
	PutBucketLifecycle(ctx context.Context, c Caller, bucket string, rules []LifecycleRule) error
	// GetBucketLifecycle is KindNoSuchLifecycle without rules.
	GetBucketLifecycle(ctx context.Context, c Caller, bucket string) ([]LifecycleRule, error)
	DeleteBucketLifecycle(ctx context.Context, c Caller, bucket string) error

	// Version-aware tagging: versionID "" is the current version.
	GetVersionTagging(ctx context.Context, c Caller, bucket, key, versionID string) ([]Tag, string, error)
	PutVersionTagging(ctx context.Context, c Caller, bucket, key, versionID string, tags []Tag) (string, error)
	DeleteVersionTagging(ctx context.Context, c Caller, bucket, key, versionID string) (string, error)
}

// CreateBucketOptions go with CreateBucketWith.
type CreateBucketOptions struct {
	ObjectLock bool // x-amz-bucket-object-lock-enabled: true
}

// DeleteInfo is what a DeleteVersion did.
type DeleteInfo struct {
	// VersionID is the version removed, or the delete marker added
	// ("null" for null ones); empty in an unversioned bucket.
	VersionID string
	// DeleteMarker: the version removed was a delete marker, or a delete
	// marker was added.
	DeleteMarker bool
}

// ObjectVersion names one entry of a DeleteVersions.
type ObjectVersion struct {
	Key       string
	VersionID string // "" for the current version
}

// ListVersionsOptions go with a ListObjectVersions.
type ListVersionsOptions struct {
	Prefix          string
	Delimiter       string
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int // 1..1000
}

// ListVersionsResult is one page of versions. Versions carry Key,
// VersionID, IsLatest, DeleteMarker, Modified, Owner and, for versions
// that are not delete markers, Size, ETag, StorageClass, Checksums.
type ListVersionsResult struct {
	Versions            []ObjectInfo
	Prefixes            []string
	Truncated           bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// ObjectLock is a version's lock as set at PUT, copy or multipart creation
// (the x-amz-object-lock-* headers) or later.
type ObjectLock struct {
	Mode      string    // LockGovernance, LockCompliance or ""
	Until     time.Time // retain until; zero without Mode
	LegalHold bool
}

// Retention is a version's retention: Mode "" clears it.
type Retention struct {
	Mode  string
	Until time.Time
}

// ObjectLockConfig is a bucket's object lock configuration. Mode "" is no
// default retention; otherwise exactly one of Days and Years is set.
type ObjectLockConfig struct {
	Enabled bool
	Mode    string
	Days    int
	Years   int
}

// LifecycleRule is one rule of a bucket's lifecycle configuration, as
// s3api parsed and validated it.
type LifecycleRule struct {
	ID      string
	Enabled bool
	Filter  LifecycleFilter
	// LegacyPrefix: the rule named its prefix in the top-level Prefix
	// element S3 keeps for old clients, not in a Filter. It means the same;
	// GET answers the rule in the form it was given.
	LegacyPrefix bool
	// Expiration of current versions: after Days days, or at Date (UTC
	// midnight); ExpiredObjectDeleteMarker removes delete markers that
	// are a key's only version left.
	ExpirationDays            int
	ExpirationDate            time.Time
	ExpiredObjectDeleteMarker bool
	// NoncurrentDays removes versions that have been noncurrent that
	// long, keeping the NewerNoncurrentVersions newest noncurrent ones.
	NoncurrentDays          int
	NewerNoncurrentVersions int
	// AbortIncompleteDays aborts uploads initiated that many days ago.
	AbortIncompleteDays int
}

// LifecycleFilter selects the objects a rule applies to: all of the set
// conditions hold (S3's And).
type LifecycleFilter struct {
	Prefix                string
	Tags                  []Tag
	ObjectSizeGreaterThan int64 // 0: none
	ObjectSizeLessThan    int64 // 0: none
}
