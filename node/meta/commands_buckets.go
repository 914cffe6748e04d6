package meta

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of buckets: creation, deletion, CORS, and the purge of a
// deleted tenant's buckets.

// CreateBucket creates a bucket for a tenant. CORS rules in the command
// (no proposer sets them) are stored apart, as PutBucketCORS stores them.
type CreateBucket Bucket

// level: a bucket created with object lock (and versioning) needs level 2.
func (c *CreateBucket) level() Level {
	if c.ObjectLock || c.Versioning != VersioningOff {
		return 2
	}
	return 1
}

func (c *CreateBucket) apply(tx *bolt.Tx) (*Result, error) {
	b := *(*Bucket)(c)
	if b.ObjectLock {
		b.Versioning = VersioningOn
	}
	cors := b.CORS
	b.CORS = nil
	if tx.Bucket(bTenants).Get([]byte(b.Tenant)) == nil {
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", b.Tenant)
	}
	var old Bucket
	ok, err := get(tx.Bucket(bBuckets), []byte(b.Name), &old)
	if err != nil {
		return nil, err
	}
	if ok {
		if old.Tenant == b.Tenant {
			return fail(objapi.KindBucketOwnedByYou, "")
		}
		return fail(objapi.KindBucketExists, "")
	}
	d := Usage{Buckets: 1}
	if e, err := overQuota(tx, b.Tenant, "", d); e != nil || err != nil {
		return refuse(e), err
	}
	if err := put(tx.Bucket(bBuckets), []byte(b.Name), &b); err != nil {
		return nil, err
	}
	if err := put(tx.Bucket(bUsage), usageKey(b.Tenant, b.Name), &Usage{}); err != nil {
		return nil, err
	}
	if err := charge(tx, b.Tenant, "", d); err != nil {
		return nil, err
	}
	if err := indexBucket(tx, b.Tenant, b.Name); err != nil {
		return nil, err
	}
	if len(cors) > 0 {
		if err := putBucketConfig(tx, b.Name, cfgCORS, cors); err != nil {
			return nil, err
		}
	}
	if _, err := tx.Bucket(bObjects).CreateBucketIfNotExists([]byte(b.Name)); err != nil {
		return nil, err
	}
	if _, err := tx.Bucket(bBucketUploads).CreateBucketIfNotExists([]byte(b.Name)); err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// ownBucket checks that bucket exists and belongs to tenant.
func ownBucket(tx *bolt.Tx, bucket, tenant string) (*Result, error) {
	var b Bucket
	ok, err := get(tx.Bucket(bBuckets), []byte(bucket), &b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(objapi.KindNoSuchBucket, "")
	}
	if b.Purging {
		// Its tenant was deleted; a tenant made anew under the same id
		// does not inherit it.
		return fail(objapi.KindAccessDenied, "")
	}
	if b.Tenant != tenant {
		return fail(objapi.KindAccessDenied, "")
	}
	return nil, nil
}

// bucketsOf returns a tenant's buckets in name order, through the
// tenantbuckets index: it reads the tenant's records and no other.
func bucketsOf(tx *bolt.Tx, tenant string) ([]Bucket, error) {
	var out []Bucket
	prefix := tenantBucketsPrefix(tenant)
	bb := tx.Bucket(bBuckets)
	c := tx.Bucket(bTenantBuckets).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		name := k[len(prefix):]
		var b Bucket
		ok, err := get(bb, name, &b)
		if err != nil {
			return nil, err
		}
		if !ok || b.Tenant != tenant {
			return nil, fmt.Errorf("meta: tenantbuckets lists %q for tenant %q, whose record says otherwise", name, tenant)
		}
		out = append(out, b)
	}
	return out, nil
}

// The tenantbuckets index: tenant ‖ 0x00 ‖ bucket name for every bucket,
// kept by the commands that create and remove buckets. Tenant ids hold no
// 0x00 (they are checked when a tenant is created), so a tenant's entries
// are exactly those under its prefix.

func tenantBucketsPrefix(tenant string) []byte { return append([]byte(tenant), 0) }

func indexBucket(tx *bolt.Tx, tenant, name string) error {
	return tx.Bucket(bTenantBuckets).Put(append(tenantBucketsPrefix(tenant), name...), nil)
}

// dropBucket removes a bucket's record, its index entry and its
// configuration.
func dropBucket(tx *bolt.Tx, name string) error {
	var b Bucket
	ok, err := get(tx.Bucket(bBuckets), []byte(name), &b)
	if err != nil || !ok {
		return err
	}
	if err := tx.Bucket(bTenantBuckets).Delete(append(tenantBucketsPrefix(b.Tenant), name...)); err != nil {
		return err
	}
	cfg := tx.Bucket(bBucketCfg)
	prefix := bucketConfigPrefix(name)
	var keys [][]byte
	c := cfg.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := cfg.Delete(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bBuckets).Delete([]byte(name))
}

// Bucket configuration lives apart from the bucket record, under bucket
// name ‖ 0x00 ‖ kind in bucketcfg: listing buckets never decodes it, and a
// request reads only the kind it needs. S3 bucket names hold no 0x00.
// Kinds are append only (policies and lifecycle rules will join CORS).
const cfgCORS = "cors"

func bucketConfigPrefix(bucket string) []byte { return append([]byte(bucket), 0) }

func bucketConfigKey(bucket, kind string) []byte { return append(bucketConfigPrefix(bucket), kind...) }

func putBucketConfig(tx *bolt.Tx, bucket, kind string, v any) error {
	return put(tx.Bucket(bBucketCfg), bucketConfigKey(bucket, kind), v)
}

// DeleteBucket removes an empty bucket. With AbortUploads (command level
// 2) it aborts the bucket's multipart uploads in progress with it, as S3
// does, returning their parts as garbage; without, uploads in progress
// refuse the deletion as objects do, which is what a binary of level 1
// does with any DeleteBucket. MaxAbortParts bounds the parts one
// deletion aborts (0: no bound), as one AbortUpload is bounded by an
// upload's 10 000: beyond it the deletion is refused, and the proposer
// aborts the uploads one by one first.
type DeleteBucket struct {
	Name          string `cbor:"1,keyasint"`
	Tenant        string `cbor:"2,keyasint"`
	AbortUploads  bool   `cbor:"3,keyasint,omitempty"`
	MaxAbortParts int64  `cbor:"4,keyasint,omitempty"`
}

func (d *DeleteBucket) level() Level {
	if d.AbortUploads {
		return 2
	}
	return 1
}

func (d *DeleteBucket) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, d.Name, d.Tenant); r != nil || err != nil {
		return r, err
	}
	name := []byte(d.Name)
	for _, parent := range [][]byte{bObjects, bVersions} {
		if ob := tx.Bucket(parent).Bucket(name); ob != nil {
			if k, _ := ob.Cursor().First(); k != nil {
				return fail(objapi.KindBucketNotEmpty, "")
			}
		}
	}
	// An empty bucket's row is zero but for its uploads; whatever it
	// holds leaves the tenant's with it.
	left, err := readUsage(tx, d.Tenant, d.Name)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	var uploads []Upload
	if ub := tx.Bucket(bBucketUploads).Bucket(name); ub != nil {
		if k, _ := ub.Cursor().First(); k != nil {
			if !d.AbortUploads {
				return fail(objapi.KindBucketNotEmpty, "multipart uploads in progress")
			}
			if d.MaxAbortParts > 0 && left.UploadParts > d.MaxAbortParts {
				return fail(objapi.KindBucketNotEmpty, "its multipart uploads in progress hold %d parts, more than one deletion aborts (%d)",
					left.UploadParts, d.MaxAbortParts)
			}
		}
		// Everything is read before the first write.
		c := ub.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			i := bytes.LastIndexByte(k, 0)
			if i < 0 {
				return nil, fmt.Errorf("meta: bucketuploads key %q of bucket %q has no upload id", k, d.Name)
			}
			var u Upload
			ok, err := get(tx.Bucket(bUploads), k[i+1:], &u)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("meta: bucketuploads of bucket %q lists upload %q, which does not exist", d.Name, k[i+1:])
			}
			parts, err := uploadParts(tx, u.ID)
			if err != nil {
				return nil, err
			}
			for _, n := range slices.Sorted(maps.Keys(parts)) {
				res.Garbage = append(res.Garbage, parts[n])
			}
			uploads = append(uploads, u)
		}
	}
	for i := range uploads {
		if err := dropUpload(tx, &uploads[i]); err != nil {
			return nil, err
		}
	}
	for _, parent := range [][]byte{bObjects, bBucketUploads, bVersions} {
		if tx.Bucket(parent).Bucket(name) != nil {
			if err := tx.Bucket(parent).DeleteBucket(name); err != nil {
				return nil, err
			}
		}
	}
	if err := charge(tx, d.Tenant, "", left.plus(Usage{Buckets: 1}).neg()); err != nil {
		return nil, err
	}
	if err := dropRow(tx, usageKey(d.Tenant, d.Name)); err != nil {
		return nil, err
	}
	return res, dropBucket(tx, d.Name)
}

// PutBucketCORS sets (or, with no rules, removes) a bucket's CORS rules.
type PutBucketCORS struct {
	Bucket string     `cbor:"1,keyasint"`
	Tenant string     `cbor:"2,keyasint"`
	Rules  []CORSRule `cbor:"3,keyasint"`
}

func (p *PutBucketCORS) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, p.Bucket, p.Tenant); r != nil || err != nil {
		return r, err
	}
	if len(p.Rules) == 0 {
		return &Result{}, tx.Bucket(bBucketCfg).Delete(bucketConfigKey(p.Bucket, cfgCORS))
	}
	return &Result{}, putBucketConfig(tx, p.Bucket, cfgCORS, p.Rules)
}

// cfgTags holds a bucket's tags (S3's bucket tagging).
const cfgTags = "tags"

// SetBucketTags replaces (or, with no tags, removes) a bucket's tags.
type SetBucketTags struct {
	Bucket string `cbor:"1,keyasint"`
	Tenant string `cbor:"2,keyasint"`
	Tags   []Tag  `cbor:"3,keyasint"`
}

func (s *SetBucketTags) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, s.Bucket, s.Tenant); r != nil || err != nil {
		return r, err
	}
	if len(s.Tags) == 0 {
		return &Result{}, tx.Bucket(bBucketCfg).Delete(bucketConfigKey(s.Bucket, cfgTags))
	}
	return &Result{}, putBucketConfig(tx, s.Bucket, cfgTags, s.Tags)
}

// PurgeBucket removes up to Max objects and uploads of a bucket marked for
// purging (its tenant was deleted), and the bucket itself once it is empty.
type PurgeBucket struct {
	Bucket string `cbor:"1,keyasint"`
	Max    int    `cbor:"2,keyasint"`
}

// apply deletes up to p.Max objects and uploads of a purging
// bucket, returning their streams as garbage, and the bucket once empty.
func (p *PurgeBucket) apply(tx *bolt.Tx) (*Result, error) {
	var b Bucket
	ok, err := get(tx.Bucket(bBuckets), []byte(p.Bucket), &b)
	if err != nil {
		return nil, err
	}
	if !ok || !b.Purging {
		return fail(objapi.KindNoSuchBucket, "bucket %q is not being purged", p.Bucket)
	}
	name := []byte(p.Bucket)
	res := &Result{}
	left := max(p.Max, 1)
	// What this batch removes is read first, objects then uploads; the
	// writes begin once all of it decoded.
	ob := tx.Bucket(bObjects).Bucket(name)
	var keys [][]byte
	if ob != nil {
		c := ob.Cursor()
		for k, v := c.First(); k != nil && len(keys) < left; k, v = c.Next() {
			var o Object
			if err := unmarshal(v, &o); err != nil {
				return nil, err
			}
			res.Garbage = append(res.Garbage, o.Parts...)
			keys = append(keys, bytes.Clone(k))
		}
		left -= len(keys)
	}
	// Then noncurrent versions and delete markers.
	vb := tx.Bucket(bVersions).Bucket(name)
	var vkeys [][]byte
	if vb != nil && left > 0 {
		c := vb.Cursor()
		for k, v := c.First(); k != nil && len(vkeys) < left; k, v = c.Next() {
			var o Object
			if err := unmarshal(v, &o); err != nil {
				return nil, err
			}
			res.Garbage = append(res.Garbage, o.Parts...)
			vkeys = append(vkeys, bytes.Clone(k))
		}
		left -= len(vkeys)
	}
	var uploads []Upload
	if ub := tx.Bucket(bBucketUploads).Bucket(name); ub != nil && left > 0 {
		var ids []string
		c := ub.Cursor()
		for k, _ := c.First(); k != nil && len(ids) < left; k, _ = c.Next() {
			if i := bytes.LastIndexByte(k, 0); i >= 0 {
				ids = append(ids, string(k[i+1:]))
			}
		}
		for _, id := range ids {
			var u Upload
			ok, err := get(tx.Bucket(bUploads), []byte(id), &u)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			parts, err := uploadParts(tx, id)
			if err != nil {
				return nil, err
			}
			for _, n := range slices.Sorted(maps.Keys(parts)) {
				res.Garbage = append(res.Garbage, parts[n])
			}
			uploads = append(uploads, u)
		}
		left -= len(ids)
	}
	for _, k := range keys {
		if err := ob.Delete(k); err != nil {
			return nil, err
		}
	}
	for _, k := range vkeys {
		if err := vb.Delete(k); err != nil {
			return nil, err
		}
	}
	for i := range uploads {
		if err := dropUpload(tx, &uploads[i]); err != nil {
			return nil, err
		}
	}
	if left <= 0 {
		return res, nil // perhaps more: the next command goes on
	}
	for _, parent := range [][]byte{bObjects, bBucketUploads, bVersions} {
		if tx.Bucket(parent).Bucket(name) != nil {
			if err := tx.Bucket(parent).DeleteBucket(name); err != nil {
				return nil, err
			}
		}
	}
	return res, dropBucket(tx, p.Bucket)
}
