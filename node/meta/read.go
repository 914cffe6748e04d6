package meta

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Reader reads the FSM's state inside one read transaction. Values it
// returns are copies; they stay valid after the transaction.
type Reader struct{ tx *bolt.Tx }

// Cluster returns the cluster record, if the cluster is initialized.
func (r *Reader) Cluster() (*Cluster, bool, error) {
	var c Cluster
	ok, err := get(r.tx.Bucket(bSys), kCluster, &c)
	return &c, ok, err
}

// Layout returns the current topology epoch's layout.
func (r *Reader) Layout() (*Layout, error) {
	var l Layout
	_, err := get(r.tx.Bucket(bSys), kLayout, &l)
	return &l, err
}

// Set returns an erasure set.
func (r *Reader) Set(id uint32) (*Set, bool, error) {
	var s Set
	ok, err := get(r.tx.Bucket(bSets), u32(id), &s)
	return &s, ok, err
}

// Node returns a member.
func (r *Reader) Node(id string) (*Node, bool, error) {
	var n Node
	ok, err := get(r.tx.Bucket(bNodes), []byte(id), &n)
	return &n, ok, err
}

// Nodes returns every member, by id.
func (r *Reader) Nodes() ([]Node, error) {
	return records[Node](r.tx.Bucket(bNodes), nil)
}

// Tenant returns a tenant.
func (r *Reader) Tenant(id string) (*Tenant, bool, error) {
	var t Tenant
	ok, err := get(r.tx.Bucket(bTenants), []byte(id), &t)
	return &t, ok, err
}

// Tenants returns every tenant, by id.
func (r *Reader) Tenants() ([]Tenant, error) {
	return records[Tenant](r.tx.Bucket(bTenants), nil)
}

// AccessKey returns an access key.
func (r *Reader) AccessKey(id string) (*AccessKey, bool, error) {
	var k AccessKey
	ok, err := get(r.tx.Bucket(bAccessKeys), []byte(id), &k)
	return &k, ok, err
}

// AccessKeysOf returns a tenant's access keys.
func (r *Reader) AccessKeysOf(tenant string) ([]AccessKey, error) {
	return accessKeysOf(r.tx, tenant)
}

// Bucket returns a bucket's record, without its configuration (see
// BucketCORS).
func (r *Reader) Bucket(name string) (*Bucket, bool, error) {
	var b Bucket
	ok, err := get(r.tx.Bucket(bBuckets), []byte(name), &b)
	return &b, ok, err
}

// BucketCORS returns a bucket's CORS rules, nil when it has none (or does
// not exist).
func (r *Reader) BucketCORS(name string) ([]CORSRule, error) {
	var rules []CORSRule
	_, err := get(r.tx.Bucket(bBucketCfg), bucketConfigKey(name, cfgCORS), &rules)
	return rules, err
}

// BucketTags returns a bucket's tags (none without).
func (r *Reader) BucketTags(name string) ([]Tag, error) {
	var tags []Tag
	_, err := get(r.tx.Bucket(bBucketCfg), bucketConfigKey(name, cfgTags), &tags)
	return tags, err
}

// BucketsOf returns a tenant's buckets in name order. It reads the
// tenant's bucket records only, whatever other tenants hold.
func (r *Reader) BucketsOf(tenant string) ([]Bucket, error) {
	return bucketsOf(r.tx, tenant)
}

// Object returns the current version of bucket/key.
func (r *Reader) Object(bucket, key string) (*Object, bool, error) {
	ob := r.tx.Bucket(bObjects).Bucket([]byte(bucket))
	if ob == nil || key == "" {
		return nil, false, nil
	}
	var o Object
	ok, err := get(ob, []byte(key), &o)
	return &o, ok, err
}

// Upload returns a multipart upload.
func (r *Reader) Upload(id string) (*Upload, bool, error) {
	var u Upload
	ok, err := get(r.tx.Bucket(bUploads), []byte(id), &u)
	return &u, ok, err
}

// Parts returns an upload's parts by number.
func (r *Reader) Parts(uploadID string) (map[int]Part, error) {
	return uploadParts(r.tx, uploadID)
}

// Part returns one part of an upload.
func (r *Reader) Part(uploadID string, number int) (*Part, bool, error) {
	var p Part
	ok, err := get(r.tx.Bucket(bParts), partKey(uploadID, number), &p)
	return &p, ok, err
}

// UploadUsage returns what an upload's parts hold in the metadata.
func (r *Reader) UploadUsage(uploadID string) (UploadUsage, error) {
	return uploadUsage(r.tx, uploadID)
}

// ListEntry is one key of a listing with its record.
type ListEntry struct {
	Key    string
	Object Object
}

// List returns up to max keys and common prefixes of bucket in byte order:
// keys that start with prefix and come after after; with a delimiter, keys
// that have it after the prefix roll up into one common prefix each. It
// seeks past a whole common prefix at once, so a listing costs in the page
// size, not in the number of keys under the prefixes it rolls up.
func (r *Reader) List(bucket, prefix, delimiter, after string, max int) (entries []ListEntry, prefixes []string, truncated bool, next string, err error) {
	ob := r.tx.Bucket(bObjects).Bucket([]byte(bucket))
	if ob == nil {
		return nil, nil, false, "", nil
	}
	c := ob.Cursor()
	start := []byte(prefix)
	if after >= prefix {
		start = append([]byte(after), 0) // the least key greater than after
	}
	n := 0
	for k, v := c.Seek(start); k != nil; {
		key := string(k)
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if delimiter != "" {
			if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
				cp := key[:len(prefix)+i+len(delimiter)]
				if cp > after {
					if n == max {
						return entries, prefixes, true, next, nil
					}
					prefixes = append(prefixes, cp)
					next = cp
					n++
				}
				succ := successor([]byte(cp))
				if succ == nil {
					break
				}
				k, v = c.Seek(succ)
				continue
			}
		}
		if n == max {
			return entries, prefixes, true, next, nil
		}
		var o Object
		if err := unmarshal(v, &o); err != nil {
			return nil, nil, false, "", err
		}
		entries = append(entries, ListEntry{Key: key, Object: o})
		next = key
		n++
		k, v = c.Next()
	}
	return entries, prefixes, false, next, nil
}

// successor returns the least byte string greater than every string that
// starts with p, or nil if there is none (p is all 0xff).
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

// HasObjects reports whether a bucket holds any object.
func (r *Reader) HasObjects(bucket string) bool {
	ob := r.tx.Bucket(bObjects).Bucket([]byte(bucket))
	if ob == nil {
		return false
	}
	k, _ := ob.Cursor().First()
	return k != nil
}

// UploadEntry is one upload of a listing.
type UploadEntry struct {
	Key    string
	Upload Upload
}

// ListUploads lists a bucket's uploads in progress by key, then by upload
// id (ids begin with their initiation time, so this is initiation order):
// after keyMarker (and, for keyMarker itself, after uploadIDMarker), with
// prefix, rolling keys up to common prefixes at the delimiter, at most max
// entries (uploads and prefixes).
func (r *Reader) ListUploads(bucket, prefix, delimiter, keyMarker, uploadIDMarker string, max int) (entries []UploadEntry, prefixes []string, truncated bool, err error) {
	ub := r.tx.Bucket(bBucketUploads).Bucket([]byte(bucket))
	if ub == nil {
		return nil, nil, false, nil
	}
	start := []byte(prefix)
	if keyMarker != "" {
		var from []byte
		if uploadIDMarker == "" {
			from = append([]byte(keyMarker), 1) // past every upload of keyMarker
		} else {
			from = append(uploadIndexKey(keyMarker, uploadIDMarker), 0)
		}
		if bytes.Compare(from, start) > 0 {
			start = from
		}
	}
	c := ub.Cursor()
	n := 0
	for k, _ := c.Seek(start); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		key, id := string(k[:i]), string(k[i+1:])
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if delimiter != "" {
			if j := strings.Index(key[len(prefix):], delimiter); j >= 0 {
				cp := key[:len(prefix)+j+len(delimiter)]
				if cp > keyMarker {
					if n == max {
						return entries, prefixes, true, nil
					}
					prefixes = append(prefixes, cp)
					n++
				}
				succ := successor([]byte(cp))
				if succ == nil {
					break
				}
				k, _ = c.Seek(succ)
				continue
			}
		}
		if n == max {
			return entries, prefixes, true, nil
		}
		u, ok, err := r.Upload(id)
		if err != nil {
			return nil, nil, false, err
		}
		if ok {
			entries = append(entries, UploadEntry{Key: key, Upload: *u})
			n++
		}
		k, _ = c.Next()
	}
	return entries, prefixes, false, nil
}

// UploadsOlderThan returns the uploads initiated before the given time
// (unix nanoseconds) that skip (if not nil) does not leave out, at most
// max of them.
func (r *Reader) UploadsOlderThan(before int64, max int, skip func(*Upload) bool) ([]Upload, error) {
	var out []Upload
	err := r.tx.Bucket(bUploads).ForEach(func(_, v []byte) error {
		if len(out) >= max {
			return nil
		}
		var u Upload
		if err := unmarshal(v, &u); err != nil {
			return err
		}
		if u.Initiated < before && (skip == nil || !skip(&u)) {
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// Referenced reports whether some object version or upload part uses the
// stream with this data id.
func (r *Reader) Referenced(dataID []byte) bool {
	return r.tx.Bucket(bDataIDs).Get(dataID) != nil
}

// PartOf finds the part record of the stream with this data id, through
// the dataids index. It reports false when no object or upload holds the
// stream (an orphan, or a stream replaced meanwhile).
func (r *Reader) PartOf(dataID []byte) (*Part, bool, error) {
	v := r.tx.Bucket(bDataIDs).Get(dataID)
	if v == nil {
		return nil, false, nil
	}
	return r.resolve(dataID, v)
}

// Streams returns the part records of up to max referenced streams whose
// data ids come after after, in data id order, and the last data id it
// looked at (nil at the end): a scan over every stream in short read
// transactions.
func (r *Reader) Streams(after []byte, max int) ([]Part, []byte, error) {
	var out []Part
	last, err := r.pageStreams(after, func() bool { return len(out) < max }, func(h *holder) error {
		out = append(out, *h.part)
		return nil
	})
	return out, last, err
}

// holder is a referenced stream's part record with what holds it: its
// data reference and, for an object's stream, the object version.
type holder struct {
	part   *Part
	ref    DataRef
	object *Object // nil for an upload's part
}

// pageStreams walks the referenced streams after the data id after, in
// data id order, handing each whose holder still names it to fn while
// more is true, and returns the last data id looked at (nil at the end).
func (r *Reader) pageStreams(after []byte, more func() bool, fn func(*holder) error) ([]byte, error) {
	c := r.tx.Bucket(bDataIDs).Cursor()
	k, v := c.First()
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	var last []byte
	for ; k != nil && more(); k, v = c.Next() {
		last = bytes.Clone(k)
		h, ok, err := r.holderOf(k, v)
		if err != nil {
			return last, err
		}
		if ok {
			if err := fn(h); err != nil {
				return last, err
			}
		}
	}
	if k == nil {
		last = nil
	}
	return last, nil
}

func (r *Reader) resolve(dataID, v []byte) (*Part, bool, error) {
	h, ok, err := r.holderOf(dataID, v)
	if !ok || err != nil {
		return nil, ok, err
	}
	return h.part, true, nil
}

// holderOf reads the part record a dataids entry (dataID → v) points to,
// with its holder; false if the holder no longer names the stream.
func (r *Reader) holderOf(dataID, v []byte) (*holder, bool, error) {
	h := &holder{}
	if err := decMode.Unmarshal(v, &h.ref); err != nil {
		return nil, false, fmt.Errorf("dataids %x: %w", dataID, err)
	}
	ref := &h.ref
	var parts []Part
	if ref.Upload != "" {
		var p Part
		ok, err := get(r.tx.Bucket(bParts), partKey(ref.Upload, ref.Part), &p)
		if err != nil || !ok {
			return nil, false, err
		}
		parts = []Part{p}
	} else {
		l, ok, err := versionBySeq(r.tx, ref.Bucket, ref.Key, ref.Seq)
		if err != nil || !ok {
			return nil, false, err
		}
		h.object, parts = &l.o, l.o.Parts
	}
	for i := range parts {
		if parts[i].Number == ref.Part && bytes.Equal(parts[i].DataID, dataID) {
			h.part = &parts[i]
			return h, true, nil
		}
	}
	return nil, false, nil
}

// PurgingBuckets lists the buckets of deleted tenants still being purged.
func (r *Reader) PurgingBuckets() ([]string, error) {
	bs, err := records(r.tx.Bucket(bBuckets), func(b *Bucket) bool { return b.Purging })
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	return out, err
}

// StaleObjects returns up to max object versions of bucket after the
// position after whose data keys are wrapped by another tenant key
// version than current, as Rewrap items holding the old wrapped key (the
// caller rewraps it), and the position to go on after ("" at the end of
// the bucket). Noncurrent versions come after the current ones; a
// position is opaque to callers.
func (r *Reader) StaleObjects(bucket string, current uint32, after string, max int) ([]Rewrap, string, error) {
	var out []Rewrap
	phases := []struct {
		tag  string
		root []byte
	}{{"o", bObjects}, {"v", bVersions}}
	for i, ph := range phases {
		if after != "" && after[:1] != ph.tag {
			if i == 0 {
				continue // resuming in a later phase
			}
		}
		b := r.tx.Bucket(ph.root).Bucket([]byte(bucket))
		if b == nil {
			after = ""
			continue
		}
		c := b.Cursor()
		k, v := c.First()
		if len(after) > 1 && after[:1] == ph.tag {
			k, v = c.Seek(append([]byte(after[1:]), 0)) // the least key after it
		}
		for ; k != nil; k, v = c.Next() {
			if len(out) >= max {
				if last := out[len(out)-1]; last.phase != ph.tag {
					return out, ph.tag, nil // the phase from its start
				}
				return out, ph.tag + string(out[len(out)-1].pos), nil
			}
			var o Object
			if err := unmarshal(v, &o); err != nil {
				return nil, "", err
			}
			if o.DeleteMarker || o.KeyVersion == current {
				continue
			}
			it := Rewrap{Bucket: bucket, Key: string(k), VersionID: o.VersionID, Seq: o.Seq, From: o.KeyVersion, Wrapped: o.WrappedKey, pos: bytes.Clone(k), phase: ph.tag}
			if ph.tag == "v" {
				it.Key, _, _ = splitVersionKey(k)
			}
			out = append(out, it)
		}
		after = ""
	}
	return out, "", nil
}

// StaleUploads returns the multipart uploads of tenant whose data keys are
// wrapped by another tenant key version than current.
func (r *Reader) StaleUploads(tenant string, current uint32) ([]Rewrap, error) {
	ups, err := records(r.tx.Bucket(bUploads), func(u *Upload) bool { return u.Tenant == tenant && u.KeyVersion != current })
	out := make([]Rewrap, len(ups))
	for i, u := range ups {
		out[i] = Rewrap{Bucket: u.Bucket, Key: u.Key, Upload: u.ID, From: u.KeyVersion, Wrapped: u.WrappedKey}
	}
	return out, err
}

// MasterPending counts the tenant keys, access key secrets and key check
// that a master key other than the cluster's current one wraps: work left
// for a master key rotation.
func (r *Reader) MasterPending() (int, error) {
	c, ok, err := r.Cluster()
	if err != nil || !ok || c.MasterKey == "" {
		return 0, err
	}
	return masterPending(r.tx, c.MasterKey)
}

// AccessKeys returns every access key, by id.
func (r *Reader) AccessKeys() ([]AccessKey, error) {
	return records[AccessKey](r.tx.Bucket(bAccessKeys), nil)
}
