package meta

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Stored usage and quotas (schema 3).
//
// The usage bucket holds one Usage row per tenant (key tenant ‖ 0x00) and
// one per bucket of it (tenant ‖ 0x00 ‖ bucket name); the quotas bucket
// holds the quotas set, under the same keys. A tenant's row exists exactly
// while the tenant does, a bucket's while the bucket does and is not being
// purged: CreateTenant and CreateBucket make them (zero), DeleteBucket and
// DeleteTenant drop them with the quotas. A deleted tenant's usage ends
// with its deletion, so PurgeBucket, which deletes what a deleted tenant
// left, counts nothing.
//
// Every command that stores, replaces or drops an object version, an
// upload or a part computes its change (a Usage of differences: what it
// stores minus what it drops), checks it against the quotas before its
// first write, and adds it to the bucket's and the tenant's rows in its
// transaction. The rows are thus exact after every command, on every
// member alike, through restarts, snapshots and leader changes; a
// migration (migrate2to3) computes them once for a database of schema 2.
// With versioning, a put that keeps the version it shadows simply does not
// subtract it: every stored version counts.

// usageKey is the key of a tenant's row (bucket "") or of one of its
// buckets' rows. Tenant ids and bucket names hold no 0x00.
func usageKey(tenant, bucket string) []byte {
	return append(append([]byte(tenant), 0), bucket...)
}

func (u Usage) plus(v Usage) Usage {
	return Usage{
		Objects: u.Objects + v.Objects, Bytes: u.Bytes + v.Bytes, Physical: u.Physical + v.Physical, Inline: u.Inline + v.Inline,
		Uploads: u.Uploads + v.Uploads, UploadParts: u.UploadParts + v.UploadParts, UploadBytes: u.UploadBytes + v.UploadBytes,
		UploadPhysical: u.UploadPhysical + v.UploadPhysical, UploadInline: u.UploadInline + v.UploadInline,
		Buckets: u.Buckets + v.Buckets,
	}
}

func (u Usage) minus(v Usage) Usage { return u.plus(v.neg()) }

func (v Usage) neg() Usage {
	return Usage{
		Objects: -v.Objects, Bytes: -v.Bytes, Physical: -v.Physical, Inline: -v.Inline, Uploads: -v.Uploads,
		UploadParts: -v.UploadParts, UploadBytes: -v.UploadBytes, UploadPhysical: -v.UploadPhysical,
		UploadInline: -v.UploadInline, Buckets: -v.Buckets,
	}
}

// StoredBytes is what Quota.Bytes bounds: the logical bytes of objects
// and of open uploads' parts.
func (u Usage) StoredBytes() int64 { return u.Bytes + u.UploadBytes }

// StoredPhysical is the physical bytes of objects and open uploads' parts.
func (u Usage) StoredPhysical() int64 { return u.Physical + u.UploadPhysical }

// StoredInline is what Quota.Inline bounds: the bytes objects and parts
// keep in the replicated metadata.
func (u Usage) StoredInline() int64 { return u.Inline + u.UploadInline }

// IsZero reports whether a quota bounds nothing.
func (q Quota) IsZero() bool { return q == Quota{} }

// PhysicalSize is what a stream takes where it is stored: the ciphertext
// of an inline stream, kept in the metadata; for a coded one, every shard
// file of its k+m (frame headers and the last stripe's padding included),
// as erasure.Layout computes them for the ciphertext of Size plaintext
// bytes under the stream's header. Shards lost at the write count: they
// are rebuilt. Records that carry no valid header or geometry (none a
// node writes) count their ciphertext or plaintext size, so the result is
// always defined and the same on every member.
func PhysicalSize(p *Part) int64 {
	if len(p.Inline) > 0 {
		return int64(len(p.Inline))
	}
	ct := p.Size
	if h, err := crypt.ParseHeader(p.Cipher); err == nil {
		ct = h.CiphertextSize(p.Size)
	}
	l := erasure.Layout{Params: erasure.Params{Format: p.Format, K: p.K, M: p.M, BlockSize: p.BlockSize}, Size: ct}
	if l.Validate() != nil {
		return ct
	}
	return int64(l.Shards()) * l.ShardSize()
}

// objectUsage is what one stored object version counts.
func objectUsage(o *Object) Usage {
	u := Usage{Objects: 1, Bytes: o.Size}
	for i := range o.Parts {
		u.Physical += PhysicalSize(&o.Parts[i])
		u.Inline += int64(len(o.Parts[i].Inline))
	}
	return u
}

// partUsage is what one stored part of an open upload counts.
func partUsage(p *Part) Usage {
	return Usage{UploadParts: 1, UploadBytes: p.Size, UploadPhysical: PhysicalSize(p), UploadInline: int64(len(p.Inline))}
}

// uploadUsageOf is what an open upload counts with its stored parts.
func uploadUsageOf(parts map[int]Part) Usage {
	u := Usage{Uploads: 1}
	for _, p := range parts {
		u = u.plus(partUsage(&p))
	}
	return u
}

func readUsage(tx *bolt.Tx, tenant, bucket string) (Usage, error) {
	var u Usage
	_, err := get(tx.Bucket(bUsage), usageKey(tenant, bucket), &u)
	return u, err
}

func readQuota(tx *bolt.Tx, tenant, bucket string) (Quota, bool, error) {
	var q Quota
	ok, err := get(tx.Bucket(bQuotas), usageKey(tenant, bucket), &q)
	return q, ok, err
}

// charge adds d to a bucket's row and to its tenant's (Buckets to the
// tenant's only).
func charge(tx *bolt.Tx, tenant, bucket string, d Usage) error {
	if d == (Usage{}) {
		return nil
	}
	ub := tx.Bucket(bUsage)
	t, err := readUsage(tx, tenant, "")
	if err != nil {
		return err
	}
	if bucket != "" {
		b, err := readUsage(tx, tenant, bucket)
		if err != nil {
			return err
		}
		bd := d
		bd.Buckets = 0
		if err := put(ub, usageKey(tenant, bucket), b.plus(bd)); err != nil {
			return err
		}
	}
	return put(ub, usageKey(tenant, ""), t.plus(d))
}

// measure is one quantity a quota bounds.
type measure struct {
	what  string
	kind  objapi.Kind
	limit func(*Quota) int64
	value func(*Usage) int64
}

var measures = []measure{
	{"stored bytes", objapi.KindQuotaExceeded, func(q *Quota) int64 { return q.Bytes }, (*Usage).StoredBytes},
	{"objects", objapi.KindQuotaExceeded, func(q *Quota) int64 { return q.Objects }, func(u *Usage) int64 { return u.Objects }},
	{"open multipart uploads", objapi.KindQuotaExceeded, func(q *Quota) int64 { return q.Uploads }, func(u *Usage) int64 { return u.Uploads }},
	{"bytes in the metadata", objapi.KindQuotaExceeded, func(q *Quota) int64 { return q.Inline }, (*Usage).StoredInline},
	{"buckets", objapi.KindTooManyBuckets, func(q *Quota) int64 { return q.Buckets }, func(u *Usage) int64 { return u.Buckets }},
}

func owner(tenant, bucket string) string {
	if bucket == "" {
		return fmt.Sprintf("tenant %q", tenant)
	}
	return fmt.Sprintf("bucket %q", bucket)
}

// overQuota returns the refusal of a change d to a bucket of tenant (or,
// with bucket "", to the tenant alone) that takes a measure beyond the
// tenant's or the bucket's quota, or nil. Only a change that grows a
// measure is refused: one that shrinks or keeps it passes even above a
// quota (lowered below the usage), so deletes and smaller replacements
// always work and a tenant can get back under its quota.
func overQuota(tx *bolt.Tx, tenant, bucket string, d Usage) (*objapi.Error, error) {
	rows := []string{""}
	if bucket != "" {
		rows = append(rows, bucket)
	}
	for _, row := range rows {
		q, ok, err := readQuota(tx, tenant, row)
		if err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		var cur Usage
		read := false
		for i := range measures {
			m := &measures[i]
			limit, grow := m.limit(&q), m.value(&d)
			if limit <= 0 || grow <= 0 || row != "" && m.kind == objapi.KindTooManyBuckets {
				continue
			}
			if !read {
				if cur, err = readUsage(tx, tenant, row); err != nil {
					return nil, err
				}
				read = true
			}
			if after := m.value(&cur) + grow; after > limit {
				return &objapi.Error{Kind: m.kind, Msg: fmt.Sprintf("%s would have %d %s, beyond its quota of %d",
					owner(tenant, row), after, m.what, limit)}, nil
			}
		}
	}
	return nil, nil
}

// overPartQuota refuses a new part of an upload that has parts already
// when that reaches beyond the parts quota of its tenant or bucket.
func overPartQuota(tx *bolt.Tx, tenant, bucket string, parts int64) (*objapi.Error, error) {
	for _, row := range []string{"", bucket} {
		q, ok, err := readQuota(tx, tenant, row)
		if err != nil {
			return nil, err
		}
		if ok && q.Parts > 0 && parts+1 > q.Parts {
			return &objapi.Error{Kind: objapi.KindQuotaExceeded, Msg: fmt.Sprintf("the upload would have %d parts, beyond the quota of %d parts per upload of %s",
				parts+1, q.Parts, owner(tenant, row))}, nil
		}
	}
	return nil, nil
}

func refuse(e *objapi.Error) *Result { return &Result{Err: e} }

// dropRows deletes the rows under prefix in the usage and quotas buckets
// (a tenant's: tenant ‖ 0x00).
func dropRows(tx *bolt.Tx, prefix []byte) error {
	for _, name := range [][]byte{bUsage, bQuotas} {
		b := tx.Bucket(name)
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropRow deletes one row of the usage and quotas buckets.
func dropRow(tx *bolt.Tx, key []byte) error {
	if err := tx.Bucket(bUsage).Delete(key); err != nil {
		return err
	}
	return tx.Bucket(bQuotas).Delete(key)
}

// SetQuota sets (a zero Quota: removes) the quota of a tenant or, with
// Bucket set, of one of its buckets. It needs command level 2. The new
// quota binds what comes: what is stored already stays, even above it.
type SetQuota struct {
	Tenant string `cbor:"1,keyasint"`
	Bucket string `cbor:"2,keyasint,omitempty"`
	Quota  Quota  `cbor:"3,keyasint"`
}

func (s *SetQuota) apply(tx *bolt.Tx) (*Result, error) {
	if tx.Bucket(bTenants).Get([]byte(s.Tenant)) == nil {
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", s.Tenant)
	}
	if s.Bucket != "" {
		// An operator names the tenant: another tenant's bucket is
		// simply not one of its buckets.
		var b Bucket
		if ok, err := get(tx.Bucket(bBuckets), []byte(s.Bucket), &b); err != nil || !ok || b.Tenant != s.Tenant || b.Purging {
			if err != nil {
				return nil, err
			}
			return fail(objapi.KindNoSuchBucket, "tenant %q has no bucket %q", s.Tenant, s.Bucket)
		}
		if s.Quota.Buckets != 0 {
			return fail(objapi.KindInvalidArgument, "a bucket's quota does not bound buckets")
		}
	}
	if r, err := validQuota(&s.Quota); r != nil || err != nil {
		return r, err
	}
	q := s.Quota
	k := usageKey(s.Tenant, s.Bucket)
	if q.IsZero() {
		return &Result{}, tx.Bucket(bQuotas).Delete(k)
	}
	return &Result{}, put(tx.Bucket(bQuotas), k, &q)
}

// validQuota refuses a quota with a negative bound.
func validQuota(q *Quota) (*Result, error) {
	if q == nil {
		return nil, nil
	}
	for _, v := range []int64{q.Bytes, q.Objects, q.Buckets, q.Uploads, q.Parts, q.Inline} {
		if v < 0 {
			return fail(objapi.KindInvalidArgument, "a quota's bounds are not negative (0 is no bound)")
		}
	}
	return nil, nil
}

// BucketUsage is one bucket's row.
type BucketUsage struct {
	Bucket string
	Usage  Usage
	Quota  *Quota // nil: none set
}

// TenantUsage is a tenant's row, its quota, and (from StoredUsage) its
// buckets' rows in name order.
type TenantUsage struct {
	Tenant  string
	Usage   Usage
	Quota   *Quota // nil: none set
	Buckets []BucketUsage
}

// Usage returns a tenant's (bucket "") or a bucket's row: zero for one
// that does not exist.
func (r *Reader) Usage(tenant, bucket string) (Usage, error) { return readUsage(r.tx, tenant, bucket) }

// Quota returns the quota set for a tenant (bucket "") or one of its
// buckets.
func (r *Reader) Quota(tenant, bucket string) (Quota, bool, error) {
	return readQuota(r.tx, tenant, bucket)
}

// StoredUsage returns a tenant's usage and quota with its buckets', from
// the rows alone (one range of keys): false if the tenant does not exist.
func (r *Reader) StoredUsage(tenant string) (*TenantUsage, bool, error) {
	if r.tx.Bucket(bTenants).Get([]byte(tenant)) == nil {
		return nil, false, nil
	}
	var out []TenantUsage
	err := r.scanUsage(usageKey(tenant, ""), true, func(t TenantUsage) error { out = append(out, t); return nil })
	if err != nil || len(out) == 0 {
		return &TenantUsage{Tenant: tenant}, true, err
	}
	return &out[0], true, nil
}

// AllUsage returns every tenant's row and quota, by tenant id, without
// the buckets': one pass over the usage and quotas buckets, for gauges.
func (r *Reader) AllUsage() ([]TenantUsage, error) {
	var out []TenantUsage
	err := r.scanUsage(nil, false, func(t TenantUsage) error { out = append(out, t); return nil })
	return out, err
}

// scanUsage walks the usage rows under prefix (nil: all) in key order
// with the quotas beside them, and hands each tenant's to fn, with its
// buckets' when buckets is set.
func (r *Reader) scanUsage(prefix []byte, buckets bool, fn func(TenantUsage) error) error {
	qb := r.tx.Bucket(bQuotas)
	quota := func(k []byte) (*Quota, error) {
		var q Quota
		ok, err := get(qb, k, &q)
		if !ok || err != nil {
			return nil, err
		}
		return &q, nil
	}
	var cur *TenantUsage
	c := r.tx.Bucket(bUsage).Cursor()
	k, v := c.First()
	if prefix != nil {
		k, v = c.Seek(prefix)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return fmt.Errorf("meta: usage key %q", k)
		}
		tenant, bucket := string(k[:i]), string(k[i+1:])
		if bucket != "" && !buckets {
			continue
		}
		var u Usage
		if err := unmarshal(v, &u); err != nil {
			return fmt.Errorf("meta: usage %q: %w", k, err)
		}
		q, err := quota(k)
		if err != nil {
			return err
		}
		if bucket == "" {
			if cur != nil {
				if err := fn(*cur); err != nil {
					return err
				}
			}
			cur = &TenantUsage{Tenant: tenant, Usage: u, Quota: q}
			continue
		}
		if cur == nil || cur.Tenant != tenant {
			return fmt.Errorf("meta: usage of bucket %q without its tenant %q's", bucket, tenant)
		}
		cur.Buckets = append(cur.Buckets, BucketUsage{Bucket: bucket, Usage: u, Quota: q})
	}
	if cur != nil {
		return fn(*cur)
	}
	return nil
}

// QuotaRefusal returns the refusal the FSM would give a change d to a
// bucket of tenant, as of this read: what a node checks before it writes
// any data (the FSM decides again at the commit).
func (r *Reader) QuotaRefusal(tenant, bucket string, d Usage) (*objapi.Error, error) {
	return overQuota(r.tx, tenant, bucket, d)
}

// PartQuotaRefusal returns the refusal of a new part for an upload of a
// bucket of tenant that has parts already, as of this read.
func (r *Reader) PartQuotaRefusal(tenant, bucket string, parts int64) (*objapi.Error, error) {
	return overPartQuota(r.tx, tenant, bucket, parts)
}
