package meta

import (
	"bytes"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Reads of versions (see versions.go for the layout).

// Version returns a version of bucket/key by S3 version id, or the
// current one (an object or a delete marker) for "", and whether it is
// the current one.
func (r *Reader) Version(bucket, key, id string) (o *Object, latest, ok bool, err error) {
	if r.tx.Bucket(bObjects).Bucket([]byte(bucket)) == nil || key == "" {
		return nil, false, false, nil
	}
	l, ok, err := currentOrVersion(r.tx, bucket, key, id)
	if err != nil || !ok {
		return nil, false, false, err
	}
	if l.current {
		return &l.o, true, true, nil
	}
	// A version in versions is current only if it is the newest there
	// and the key has no object in objects.
	if ob := r.tx.Bucket(bObjects).Bucket([]byte(bucket)); ob.Get([]byte(key)) == nil {
		vb, _ := versionsOf(r.tx, bucket, false)
		if n, found, err := newestNoncurrent(vb, key); err != nil {
			return nil, false, false, err
		} else if found && n.Seq == l.o.Seq {
			latest = true
		}
	}
	return &l.o, latest, true, nil
}

// VersionEntry is one version of a versions listing.
type VersionEntry struct {
	Key    string
	Object Object
	Latest bool
}

// ListVersions lists bucket's versions and delete markers by key, and a
// key's newest first: keys with prefix after keyMarker (with versionMarker,
// the versions of keyMarker after that one first), keys holding the
// delimiter after the prefix rolled up into common prefixes, at most max
// entries and prefixes together. Truncated pages name where the next
// begins (nextKey, and nextVersion "" after a prefix). It reads the page
// and what it seeks past, whatever the bucket holds.
func (r *Reader) ListVersions(bucket, prefix, delimiter, keyMarker, versionMarker string, max int) (entries []VersionEntry, prefixes []string, truncated bool, nextKey, nextVersion string, err error) {
	ob := r.tx.Bucket(bObjects).Bucket([]byte(bucket))
	if ob == nil {
		return nil, nil, false, "", "", nil
	}
	vb := r.tx.Bucket(bVersions).Bucket([]byte(bucket))
	oc := ob.Cursor()
	var vc *bolt.Cursor
	if vb != nil {
		vc = vb.Cursor()
	}
	// keyFrom returns the least key at or after from (exclusive: after
	// it) in either bucket.
	keyFrom := func(from string, after bool) (string, bool) {
		ofrom, vfrom := []byte(from), []byte(from)
		if after {
			ofrom = append([]byte(from), 0)    // keys are never 0x00-terminated
			vfrom = append([]byte(from), 0x01) // past from ‖ 0x00 ‖ seq
		}
		var best string
		found := false
		if k, _ := oc.Seek(ofrom); k != nil {
			best, found = string(k), true
		}
		if vc != nil {
			if k, _ := vc.Seek(vfrom); k != nil {
				if key, _, ok := splitVersionKey(k); ok && (!found || key < best) {
					best, found = key, true
				}
			}
		}
		return best, found
	}
	// The marker version's Seq: a key's versions sort by it, so a page
	// resumes right after it even if it was removed meanwhile.
	var markerSeq uint64
	haveSeq := false
	if versionMarker == NullVersion {
		if l, ok, err := findNull(r.tx, bucket, keyMarker); err != nil {
			return nil, nil, false, "", "", err
		} else if ok {
			markerSeq, haveSeq = l.o.Seq, true
		}
	} else if s, ok := parseVersionID(versionMarker); ok {
		markerSeq, haveSeq = s, true
	}
	n := 0
	var key string
	var ok bool
	switch {
	case keyMarker != "" && keyMarker >= prefix && versionMarker == "":
		key, ok = keyFrom(keyMarker, true)
	case keyMarker != "" && keyMarker >= prefix:
		key, ok = keyFrom(keyMarker, false)
	default:
		key, ok = keyFrom(prefix, false)
	}
	for ok {
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if delimiter != "" {
			if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
				cp := key[:len(prefix)+i+len(delimiter)]
				if keyMarker == "" || cp > keyMarker {
					if n == max {
						return entries, prefixes, true, nextKey, nextVersion, nil
					}
					prefixes = append(prefixes, cp)
					nextKey, nextVersion = cp, ""
					n++
				}
				succ := successor([]byte(cp))
				if succ == nil {
					break
				}
				key, ok = keyFrom(string(succ), false)
				continue
			}
		}
		// The key's versions, newest first: the current object, then
		// versions.
		skipping := key == keyMarker && versionMarker != ""
		first := true
		emit := func(o *Object) (bool, error) {
			latest := first
			first = false
			if skipping && haveSeq && o.Seq < markerSeq {
				skipping = false
			}
			if skipping {
				if o.S3VersionID() == versionMarker {
					skipping = false
				}
				return true, nil
			}
			if n == max {
				truncated = true
				return false, nil
			}
			entries = append(entries, VersionEntry{Key: key, Object: *o, Latest: latest})
			nextKey, nextVersion = key, o.S3VersionID()
			n++
			return true, nil
		}
		if v := ob.Get([]byte(key)); v != nil {
			var o Object
			if err := unmarshal(v, &o); err != nil {
				return nil, nil, false, "", "", err
			}
			if more, _ := emit(&o); !more {
				return entries, prefixes, true, nextKey, nextVersion, nil
			}
		}
		if vc != nil {
			p := versionPrefix(key)
			for k, v := vc.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = vc.Next() {
				var o Object
				if err := unmarshal(v, &o); err != nil {
					return nil, nil, false, "", "", err
				}
				if more, _ := emit(&o); !more {
					return entries, prefixes, true, nextKey, nextVersion, nil
				}
			}
		}
		key, ok = keyFrom(key, true)
	}
	return entries, prefixes, false, nextKey, nextVersion, nil
}

// BucketLock returns a bucket's default retention, if it has one.
func (r *Reader) BucketLock(bucket string) (*LockConfig, bool, error) {
	var c LockConfig
	ok, err := get(r.tx.Bucket(bBucketCfg), bucketConfigKey(bucket, cfgLock), &c)
	return &c, ok, err
}

// Lifecycle returns a bucket's lifecycle rules, nil without any.
func (r *Reader) Lifecycle(bucket string) ([]LifecycleRule, error) {
	var rules []LifecycleRule
	_, err := get(r.tx.Bucket(bBucketCfg), bucketConfigKey(bucket, cfgLifecycle), &rules)
	return rules, err
}

// HasVersions reports whether a bucket holds noncurrent versions or
// delete markers.
func (r *Reader) HasVersions(bucket string) bool {
	vb := r.tx.Bucket(bVersions).Bucket([]byte(bucket))
	if vb == nil {
		return false
	}
	k, _ := vb.Cursor().First()
	return k != nil
}

// LifecycleBuckets returns the names of the buckets that have lifecycle
// rules, in name order (the lifecycle worker's list; it reads the bucket
// configurations' keys only).
func (r *Reader) LifecycleBuckets() ([]string, error) {
	var out []string
	suffix := append([]byte{0}, cfgLifecycle...)
	err := r.tx.Bucket(bBucketCfg).ForEach(func(k, _ []byte) error {
		if bytes.HasSuffix(k, suffix) {
			out = append(out, string(k[:len(k)-len(suffix)]))
		}
		return nil
	})
	return out, err
}
