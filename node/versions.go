package node

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Versioning, object lock and lifecycle (objapi.Versions). The metadata
// layout and the rules live in meta (versions.go there); this file turns
// requests into commands and records into answers.

// lockInfo is a version's object lock as objapi says it.
func lockInfo(o *meta.Object) objapi.ObjectLock {
	l := objapi.ObjectLock{Mode: o.LockMode, LegalHold: o.LegalHold}
	if o.LockMode != "" {
		l.Until = time.Unix(0, o.LockUntil).UTC()
	}
	return l
}

// setLock gives a new version the lock its request asked for.
func setLock(o *meta.Object, l *objapi.ObjectLock) {
	if l == nil {
		return
	}
	o.LockMode, o.LegalHold = l.Mode, l.LegalHold
	if l.Mode != "" {
		o.LockUntil = l.Until.UnixNano()
	}
}

// checkLock refuses a lock asked for on a bucket without object lock
// before any byte is written (the commit checks again).
func (w *writeCtx) checkLock(op string, l *objapi.ObjectLock) error {
	if l == nil || w.objectLock || l.Mode == "" && !l.LegalHold {
		return nil
	}
	return objapi.Errorf(op, objapi.KindInvalidRequest, "Bucket is missing Object Lock Configuration")
}

// locks reports whether a new version will be locked: it asks for it, or
// the bucket gives it a default retention.
func (w *writeCtx) locks(l *objapi.ObjectLock) bool {
	return l != nil && (l.Mode != "" || l.LegalHold) || w.lockDefault
}

// errLockIntegrity is S3's refusal of a locked write without an integrity
// header: a version kept for years must be the bytes the client meant.
func errLockIntegrity(op string) error {
	return objapi.Errorf(op, objapi.KindInvalidRequest, "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
}

// committedInfo describes a version a command committed: its version id
// is the FSM's.
func (n *Node) committedInfo(bucket, key string, o *meta.Object, sm sealedMeta, tenant string, res *meta.Result) ObjectInfo {
	info := n.info(bucket, key, o, sm, tenant)
	info.VersionID = meta.NullVersion
	if res != nil && res.VersionID != "" {
		info.VersionID = res.VersionID
	}
	info.IsLatest = true
	return info
}

// CreateBucketWith creates a bucket, with object lock (and versioning) if
// asked.
func (n *Node) CreateBucketWith(ctx context.Context, c Caller, bucket string, opts objapi.CreateBucketOptions) error {
	if !opts.ObjectLock {
		return n.CreateBucket(ctx, c, bucket)
	}
	if err := ValidBucketName(bucket); err != nil {
		return err
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.CreateBucket{Name: bucket, Tenant: c.Tenant, Created: n.now().UnixNano(),
		ObjectLock: true, Versioning: meta.VersioningOn}))
	_, err = result("CreateBucket", bucket, "", res, err)
	return err
}

// PutBucketVersioning sets a bucket's versioning state.
func (n *Node) PutBucketVersioning(ctx context.Context, c Caller, bucket, status string) error {
	var state uint8
	switch status {
	case objapi.VersioningEnabled:
		state = meta.VersioningOn
	case objapi.VersioningSuspended:
		state = meta.VersioningSuspended
	default:
		return objapi.Errorf("PutBucketVersioning", objapi.KindMalformedXML, "versioning status %q", status)
	}
	return n.propose(ctx, "PutBucketVersioning", bucket, "", &meta.SetVersioning{Bucket: bucket, Tenant: c.Tenant, State: state})
}

func (n *Node) propose(ctx context.Context, op, bucket, key string, p meta.Payload) error {
	_, err := n.proposeResult(ctx, op, bucket, key, p)
	return err
}

func (n *Node) proposeResult(ctx context.Context, op, bucket, key string, p meta.Payload) (*meta.Result, error) {
	res, err := n.cons.Propose(ctx, meta.NewCommand(p))
	return result(op, bucket, key, res, err)
}

// bucketView reads a bucket of the caller's, linearizably.
func (n *Node) bucketView(ctx context.Context, op string, c Caller, bucket string, fn func(r *meta.Reader, b *meta.Bucket) error) error {
	if err := n.cons.Linearize(ctx); err != nil {
		return err
	}
	return n.store.FSM.View(func(r *meta.Reader) error {
		b, err := bucketFor(r, op, c, bucket)
		if err != nil {
			return err
		}
		return fn(r, b)
	})
}

// GetBucketVersioning answers the state: "" for a bucket never versioned.
func (n *Node) GetBucketVersioning(ctx context.Context, c Caller, bucket string) (string, error) {
	var out string
	err := n.bucketView(ctx, "GetBucketVersioning", c, bucket, func(_ *meta.Reader, b *meta.Bucket) error {
		switch b.Versioning {
		case meta.VersioningOn:
			out = objapi.VersioningEnabled
		case meta.VersioningSuspended:
			out = objapi.VersioningSuspended
		}
		return nil
	})
	return out, err
}

// mayBypass checks that the caller's access key may bypass GOVERNANCE
// retention, when it asks to.
func (n *Node) mayBypass(op string, c Caller, asked bool) (bool, error) {
	if !asked {
		return false, nil
	}
	var ok bool
	err := n.store.FSM.View(func(r *meta.Reader) error {
		k, found, err := r.AccessKey(c.AccessKey)
		ok = found && k.Tenant == c.Tenant && k.BypassGovernance
		return err
	})
	if err != nil {
		return false, err
	}
	if !ok {
		return false, objapi.Errorf(op, objapi.KindAccessDenied, "this access key may not bypass governance retention")
	}
	return true, nil
}

// DeleteVersion deletes as S3's DeleteObject does.
func (n *Node) DeleteVersion(ctx context.Context, c Caller, bucket, key string, opts objapi.DeleteOptions) (objapi.DeleteInfo, error) {
	if err := ValidObjectKey(key); err != nil {
		return objapi.DeleteInfo{}, err
	}
	if opts.VersionID != "" && !meta.ValidVersionID(opts.VersionID) {
		return objapi.DeleteInfo{}, objapi.Errorf("DeleteObject", objapi.KindInvalidArgument, "Invalid version id specified")
	}
	bypass, err := n.mayBypass("DeleteObject", c, opts.BypassGovernance)
	if err != nil {
		return objapi.DeleteInfo{}, err
	}
	d := &meta.DeleteObject{Bucket: bucket, Key: key, Tenant: c.Tenant, IfMatch: etagCondition(opts.IfMatch), VersionID: opts.VersionID, Bypass: bypass}
	if n.versioned(bucket) {
		d.MarkerID = newID()
	}
	res, err := n.commit(ctx, "DeleteObject", bucket, key, meta.NewCommand(d), nil)
	if err != nil {
		return objapi.DeleteInfo{}, err
	}
	return objapi.DeleteInfo{VersionID: res.VersionID, DeleteMarker: res.DeleteMarker}, nil
}

// versioned reports whether a bucket's versioning was ever enabled (as
// this node knows it; the commit decides): deletions there may add
// delete markers, which carry an id of the proposer's. A command of
// level 2 goes only to a bucket that can have them.
func (n *Node) versioned(bucket string) bool {
	var v bool
	_ = n.store.FSM.View(func(r *meta.Reader) error {
		b, ok, err := r.Bucket(bucket)
		v = ok && b.Versioning != meta.VersioningOff
		return err
	})
	return v
}

// DeleteVersions deletes keys or versions of a bucket in one commit.
func (n *Node) DeleteVersions(ctx context.Context, c Caller, bucket string, objs []objapi.ObjectVersion, bypassAsked bool) ([]objapi.DeleteResult, error) {
	out := make([]objapi.DeleteResult, len(objs))
	var entries []meta.DeleteEntry
	var at []int
	versioned := n.versioned(bucket)
	for i, o := range objs {
		out[i].Key, out[i].VersionID = o.Key, o.VersionID
		if err := ValidObjectKey(o.Key); err != nil {
			out[i].Err = err
			continue
		}
		if o.VersionID != "" && !meta.ValidVersionID(o.VersionID) {
			out[i].Err = objapi.Errorf("DeleteObjects", objapi.KindNoSuchVersion, "Invalid version id specified")
			continue
		}
		e := meta.DeleteEntry{Key: o.Key, VersionID: o.VersionID}
		if versioned {
			e.MarkerID = newID()
		}
		entries = append(entries, e)
		at = append(at, i)
	}
	bypass := false
	if bypassAsked {
		var err error
		if bypass, err = n.mayBypass("DeleteObjects", c, true); err != nil {
			bypass = false // entries under GOVERNANCE fail one by one
		}
	}
	if len(entries) == 0 {
		err := n.bucketView(ctx, "DeleteObjects", c, bucket, func(*meta.Reader, *meta.Bucket) error { return nil })
		return out, err
	}
	res, err := n.proposeResult(ctx, "DeleteObjects", bucket, "", &meta.DeleteObjects{Bucket: bucket, Tenant: c.Tenant, Entries: entries, Bypass: bypass})
	if err != nil {
		if objapi.IsKind(err, objapi.KindNoSuchBucket) || objapi.IsKind(err, objapi.KindAccessDenied) {
			return nil, err
		}
		for _, i := range at {
			out[i].Err = err
		}
		return out, nil
	}
	n.gc.Add(res.Garbage)
	for j, i := range at {
		if j >= len(res.Entries) {
			break
		}
		e := res.Entries[j]
		if fe := e.Error(); fe != nil {
			fe.Op, fe.Bucket, fe.Key = "DeleteObjects", bucket, objs[i].Key
			out[i].Err = fe
			continue
		}
		out[i].DeleteMarker = e.DeleteMarker
		if e.DeleteMarker {
			out[i].DeleteMarkerVersionID = e.VersionID
		}
	}
	return out, nil
}

// ListObjectVersions lists every version and delete marker.
func (n *Node) ListObjectVersions(ctx context.Context, c Caller, bucket string, opts objapi.ListVersionsOptions) (objapi.ListVersionsResult, error) {
	var out objapi.ListVersionsResult
	err := n.bucketView(ctx, "ListObjectVersions", c, bucket, func(r *meta.Reader, _ *meta.Bucket) error {
		if opts.MaxKeys <= 0 {
			return nil
		}
		entries, prefixes, truncated, nextKey, nextVersion, err := r.ListVersions(bucket, opts.Prefix, opts.Delimiter, opts.KeyMarker, opts.VersionIDMarker, min(opts.MaxKeys, 1000))
		if err != nil {
			return err
		}
		for _, e := range entries {
			o := &e.Object
			info := ObjectInfo{Bucket: bucket, Key: e.Key, VersionID: o.S3VersionID(), IsLatest: e.Latest, DeleteMarker: o.DeleteMarker,
				Modified: time.Unix(0, o.Modified).UTC(), Owner: c.Tenant}
			if !o.DeleteMarker {
				info.Size, info.ETag, info.StorageClass = o.Size, o.ETag, storageStd
				info.Checksums, info.ChecksumType = fromChecksums(o.Checksums), o.ChecksumType
			}
			out.Versions = append(out.Versions, info)
		}
		out.Prefixes, out.Truncated = prefixes, truncated
		if truncated {
			out.NextKeyMarker, out.NextVersionIDMarker = nextKey, nextVersion
		}
		return nil
	})
	return out, err
}

// PutObjectLockConfiguration enables object lock and sets the default
// retention.
func (n *Node) PutObjectLockConfiguration(ctx context.Context, c Caller, bucket string, cfg objapi.ObjectLockConfig) error {
	if !cfg.Enabled {
		return objapi.Errorf("PutObjectLockConfiguration", objapi.KindMalformedXML, "ObjectLockEnabled must be Enabled")
	}
	return n.propose(ctx, "PutObjectLockConfiguration", bucket, "", &meta.SetBucketLock{Bucket: bucket, Tenant: c.Tenant,
		Default: meta.LockConfig{Mode: cfg.Mode, Days: cfg.Days, Years: cfg.Years}})
}

// GetObjectLockConfiguration answers a bucket's object lock configuration.
func (n *Node) GetObjectLockConfiguration(ctx context.Context, c Caller, bucket string) (objapi.ObjectLockConfig, error) {
	var out objapi.ObjectLockConfig
	err := n.bucketView(ctx, "GetObjectLockConfiguration", c, bucket, func(r *meta.Reader, b *meta.Bucket) error {
		if !b.ObjectLock {
			return objapi.Errorf("GetObjectLockConfiguration", objapi.KindNoSuchBucketLockConfig, "Object Lock configuration does not exist for this bucket")
		}
		out.Enabled = true
		d, ok, err := r.BucketLock(bucket)
		if ok {
			out.Mode, out.Days, out.Years = d.Mode, d.Days, d.Years
		}
		return err
	})
	return out, err
}

// PutObjectRetention sets a version's retention.
func (n *Node) PutObjectRetention(ctx context.Context, c Caller, bucket, key, versionID string, r objapi.Retention, bypassAsked bool) error {
	if err := n.checkVersionArgs("PutObjectRetention", key, versionID); err != nil {
		return err
	}
	bypass, err := n.mayBypass("PutObjectRetention", c, bypassAsked)
	if err != nil {
		return err
	}
	s := &meta.SetObjectLock{Bucket: bucket, Key: key, Tenant: c.Tenant, VersionID: versionID, Retention: true, Mode: r.Mode, Bypass: bypass}
	if r.Mode != "" {
		s.Until = r.Until.UnixNano()
	}
	return n.propose(ctx, "PutObjectRetention", bucket, key, s)
}

// lookupVersion finds the version id names ("" the current one) of
// bucket/key for a read, and whether it is the current one: none is
// KindNoSuchVersion (by id) or KindNoSuchKey, a delete marker the kind
// given, its id in the error for S3's x-amz-delete-marker headers.
func lookupVersion(r *meta.Reader, op, bucket, key, id string, marker objapi.Kind) (*meta.Object, bool, error) {
	o, latest, ok, err := r.Version(bucket, key, id)
	switch {
	case err != nil:
		return nil, false, err
	case !ok && id != "":
		return nil, false, &objapi.Error{Op: op, Kind: objapi.KindNoSuchVersion, Bucket: bucket, Key: key}
	case !ok:
		return nil, false, &objapi.Error{Op: op, Kind: objapi.KindNoSuchKey, Bucket: bucket, Key: key}
	case o.DeleteMarker:
		return nil, false, &objapi.Error{Op: op, Kind: marker, Bucket: bucket, Key: key, DeleteMarker: true, VersionID: o.S3VersionID()}
	}
	return o, latest, nil
}

func (n *Node) checkVersionArgs(op, key, versionID string) error {
	if err := ValidObjectKey(key); err != nil {
		return err
	}
	if versionID != "" && !meta.ValidVersionID(versionID) {
		return objapi.Errorf(op, objapi.KindInvalidArgument, "Invalid version id specified")
	}
	return nil
}

// readVersion reads a version's record (no data key) in a bucket of the
// caller's: lock reads need no decryption.
func (n *Node) readVersion(ctx context.Context, op string, c Caller, bucket, key, versionID string, fn func(b *meta.Bucket, o *meta.Object) error) error {
	if err := n.checkVersionArgs(op, key, versionID); err != nil {
		return err
	}
	return n.bucketView(ctx, op, c, bucket, func(r *meta.Reader, b *meta.Bucket) error {
		o, _, err := lookupVersion(r, op, bucket, key, versionID, objapi.KindMethodNotAllowed)
		if err != nil {
			return err
		}
		return fn(b, o)
	})
}

// GetObjectRetention answers a version's retention.
func (n *Node) GetObjectRetention(ctx context.Context, c Caller, bucket, key, versionID string) (objapi.Retention, error) {
	var out objapi.Retention
	err := n.readVersion(ctx, "GetObjectRetention", c, bucket, key, versionID, func(b *meta.Bucket, o *meta.Object) error {
		if !b.ObjectLock {
			return objapi.Errorf("GetObjectRetention", objapi.KindInvalidRequest, "Bucket is missing Object Lock Configuration")
		}
		if o.LockMode == "" {
			return objapi.Errorf("GetObjectRetention", objapi.KindNoSuchObjectLockConfig, "The specified object does not have a ObjectLock configuration")
		}
		out = objapi.Retention{Mode: o.LockMode, Until: time.Unix(0, o.LockUntil).UTC()}
		return nil
	})
	return out, err
}

// PutObjectLegalHold sets or clears a version's legal hold.
func (n *Node) PutObjectLegalHold(ctx context.Context, c Caller, bucket, key, versionID string, on bool) error {
	if err := n.checkVersionArgs("PutObjectLegalHold", key, versionID); err != nil {
		return err
	}
	return n.propose(ctx, "PutObjectLegalHold", bucket, key, &meta.SetObjectLock{Bucket: bucket, Key: key, Tenant: c.Tenant, VersionID: versionID,
		LegalHold: true, Hold: on})
}

// GetObjectLegalHold answers a version's legal hold.
func (n *Node) GetObjectLegalHold(ctx context.Context, c Caller, bucket, key, versionID string) (bool, error) {
	var on bool
	err := n.readVersion(ctx, "GetObjectLegalHold", c, bucket, key, versionID, func(b *meta.Bucket, o *meta.Object) error {
		if !b.ObjectLock {
			return objapi.Errorf("GetObjectLegalHold", objapi.KindInvalidRequest, "Bucket is missing Object Lock Configuration")
		}
		on = o.LegalHold
		return nil
	})
	return on, err
}

// PutBucketLifecycle replaces the bucket's lifecycle rules.
func (n *Node) PutBucketLifecycle(ctx context.Context, c Caller, bucket string, rules []objapi.LifecycleRule) error {
	if len(rules) == 0 {
		return objapi.Errorf("PutBucketLifecycleConfiguration", objapi.KindMalformedXML, "no rule")
	}
	mr := make([]meta.LifecycleRule, len(rules))
	for i, r := range rules {
		mr[i] = meta.LifecycleRule{ID: r.ID, Enabled: r.Enabled, Prefix: r.Filter.Prefix, LegacyPrefix: r.LegacyPrefix,
			SizeGreaterThan: r.Filter.ObjectSizeGreaterThan, SizeLessThan: r.Filter.ObjectSizeLessThan,
			ExpirationDays: r.ExpirationDays, ExpiredObjectDeleteMarker: r.ExpiredObjectDeleteMarker,
			NoncurrentDays: r.NoncurrentDays, NewerNoncurrentVersions: r.NewerNoncurrentVersions, AbortIncompleteDays: r.AbortIncompleteDays}
		if !r.ExpirationDate.IsZero() {
			mr[i].ExpirationDate = r.ExpirationDate.UnixNano()
		}
		mr[i].Tags = toMetaTags(r.Filter.Tags)
	}
	return n.propose(ctx, "PutBucketLifecycleConfiguration", bucket, "", &meta.SetLifecycle{Bucket: bucket, Tenant: c.Tenant, Rules: mr})
}

// lifecycleRules turns stored rules into objapi's.
func lifecycleRules(mr []meta.LifecycleRule) []objapi.LifecycleRule {
	out := make([]objapi.LifecycleRule, len(mr))
	for i, r := range mr {
		out[i] = objapi.LifecycleRule{ID: r.ID, Enabled: r.Enabled, LegacyPrefix: r.LegacyPrefix,
			Filter:         objapi.LifecycleFilter{Prefix: r.Prefix, ObjectSizeGreaterThan: r.SizeGreaterThan, ObjectSizeLessThan: r.SizeLessThan},
			ExpirationDays: r.ExpirationDays, ExpiredObjectDeleteMarker: r.ExpiredObjectDeleteMarker,
			NoncurrentDays: r.NoncurrentDays, NewerNoncurrentVersions: r.NewerNoncurrentVersions, AbortIncompleteDays: r.AbortIncompleteDays}
		if r.ExpirationDate != 0 {
			out[i].ExpirationDate = time.Unix(0, r.ExpirationDate).UTC()
		}
		out[i].Filter.Tags = fromMetaTags(r.Tags)
	}
	return out
}

// GetBucketLifecycle answers the bucket's lifecycle rules.
func (n *Node) GetBucketLifecycle(ctx context.Context, c Caller, bucket string) ([]objapi.LifecycleRule, error) {
	var out []objapi.LifecycleRule
	err := n.bucketView(ctx, "GetBucketLifecycleConfiguration", c, bucket, func(r *meta.Reader, _ *meta.Bucket) error {
		mr, err := r.Lifecycle(bucket)
		if err != nil {
			return err
		}
		if len(mr) == 0 {
			return objapi.Errorf("GetBucketLifecycleConfiguration", objapi.KindNoSuchLifecycle, "The lifecycle configuration does not exist")
		}
		out = lifecycleRules(mr)
		return nil
	})
	return out, err
}

// DeleteBucketLifecycle removes the bucket's lifecycle rules.
func (n *Node) DeleteBucketLifecycle(ctx context.Context, c Caller, bucket string) error {
	return n.propose(ctx, "DeleteBucketLifecycle", bucket, "", &meta.SetLifecycle{Bucket: bucket, Tenant: c.Tenant})
}

// expiration is the x-amz-expiration value of a current version: the
// earliest expiry of the enabled rules that match it, with the rule's id
// (S3's form: expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="…"),
// or "" when no rule expires it.
func expiration(rules []meta.LifecycleRule, key string, o *meta.Object, tags []Tag) string {
	var best time.Time
	var id string
	for i := range rules {
		r := &rules[i]
		if !r.Enabled || r.ExpirationDays == 0 && r.ExpirationDate == 0 || !ruleMatches(r, key, o, func() ([]Tag, bool) { return tags, true }) {
			continue
		}
		due := time.Unix(0, r.ExpirationDate).UTC()
		if r.ExpirationDate == 0 {
			due = midnightAfter(o.Modified, r.ExpirationDays)
		}
		if id == "" || due.Before(best) {
			best, id = due, r.ID
		}
	}
	if id == "" {
		return ""
	}
	return fmt.Sprintf(`expiry-date="%s", rule-id="%s"`, best.Format(http.TimeFormat), id)
}

func hasTags(have []Tag, want []meta.Tag) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(t Tag) bool { return t.Key == w.Key && t.Value == w.Value }) {
			return false
		}
	}
	return true
}

// bucketRules reads a bucket's lifecycle rules, nil without any (or on
// an error: the header is a courtesy).
func bucketRules(r *meta.Reader, bucket string) []meta.LifecycleRule {
	rules, _ := r.Lifecycle(bucket)
	return rules
}

// uploadLocked reports whether the object an upload completes into will
// be locked: it asked for a lock at creation, or its bucket has a default
// retention.
func (n *Node) uploadLocked(u *meta.Upload) bool {
	if u.LockMode != "" || u.LegalHold {
		return true
	}
	var locked bool
	_ = n.store.FSM.View(func(r *meta.Reader) error {
		b, ok, err := r.Bucket(u.Bucket)
		if err != nil || !ok || !b.ObjectLock {
			return err
		}
		_, locked, err = r.BucketLock(u.Bucket)
		return err
	})
	return locked
}
