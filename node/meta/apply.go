package meta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/errs"
	"github.com/kommunal-cloud/kcs/node/placement"
)

// applyCommand applies a command's payload (see Payload) and keeps the
// indexes of the streams the metadata references in step with it.
func applyCommand(tx *bolt.Tx, c *Command) (*Result, error) {
	// The record that will hold the streams is named before the command
	// applies: completing an upload drops the upload record that names the
	// object's bucket and key.
	st, _ := c.Payload.(streamStorer)
	var home *DataRef
	if st != nil {
		var err error
		if home, err = st.streamHome(tx); err != nil {
			return nil, err
		}
	}
	r, err := c.Payload.apply(tx)
	if err != nil {
		return nil, err
	}
	if r.Err == nil {
		if err := indexStreams(tx, st, home, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func fail(k errs.Kind, format string, args ...any) (*Result, error) {
	return &Result{Err: errs.Errorf("", k, format, args...)}, nil
}

func (*Noop) apply(*bolt.Tx) (*Result, error) { return &Result{}, nil }

func (c *Init) apply(tx *bolt.Tx) (*Result, error) {
	sys := tx.Bucket(bSys)
	if sys.Get(kCluster) != nil {
		return fail(errs.KindConflict, "cluster already initialized")
	}
	return &Result{}, put(sys, kCluster, (*Cluster)(c))
}

func (c *CreateAccessKey) apply(tx *bolt.Tx) (*Result, error) {
	k := (*AccessKey)(c)
	if tx.Bucket(bTenants).Get([]byte(k.Tenant)) == nil {
		return fail(errs.KindNoSuchTenant, "tenant %q does not exist", k.Tenant)
	}
	if tx.Bucket(bAccessKeys).Get([]byte(k.ID)) != nil {
		return fail(errs.KindConflict, "access key %q exists", k.ID)
	}
	return &Result{}, put(tx.Bucket(bAccessKeys), []byte(k.ID), k)
}

func (d *DeleteAccessKey) apply(tx *bolt.Tx) (*Result, error) {
	var k AccessKey
	if ok, err := get(tx.Bucket(bAccessKeys), []byte(d.ID), &k); err != nil || !ok || k.Tenant != d.Tenant {
		if err != nil {
			return nil, err
		}
		return fail(errs.KindNoSuchAccessKey, "tenant %q has no access key %q", d.Tenant, d.ID)
	}
	return &Result{}, tx.Bucket(bAccessKeys).Delete([]byte(d.ID))
}

func (p *PutObject) apply(tx *bolt.Tx) (*Result, error) {
	return putObject(tx, p.Bucket, p.Key, p.Tenant, &p.Object, p.IfNoneMatch, p.IfMatch, nil)
}

func put(b *bolt.Bucket, k []byte, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func get(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := unmarshal(data, v); err != nil {
		return false, fmt.Errorf("meta: record %q: %w", k, err)
	}
	return true, nil
}

func (c *CreateTenant) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	if tb.Get([]byte(c.Tenant.ID)) != nil {
		return fail(errs.KindTenantExists, "tenant %q exists", c.Tenant.ID)
	}
	bs, err := bucketsOf(tx, c.Tenant.ID)
	if err != nil {
		return nil, err
	}
	if len(bs) > 0 {
		return fail(errs.KindConflict, "tenant %q was deleted and its %d buckets are still being purged; try again later", c.Tenant.ID, len(bs))
	}
	if c.FirstKey != nil && tx.Bucket(bAccessKeys).Get([]byte(c.FirstKey.ID)) != nil {
		return fail(errs.KindConflict, "access key %q exists", c.FirstKey.ID)
	}
	if err := put(tb, []byte(c.Tenant.ID), &c.Tenant); err != nil {
		return nil, err
	}
	if c.FirstKey != nil {
		if err := put(tx.Bucket(bAccessKeys), []byte(c.FirstKey.ID), c.FirstKey); err != nil {
			return nil, err
		}
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
		return fail(errs.KindNoSuchBucket, "")
	}
	if b.Purging {
		// Its tenant was deleted; a tenant made anew under the same id
		// does not inherit it.
		return fail(errs.KindAccessDenied, "")
	}
	if b.Tenant != tenant {
		return fail(errs.KindAccessDenied, "")
	}
	return nil, nil
}

func (c *CreateBucket) apply(tx *bolt.Tx) (*Result, error) {
	b := (*Bucket)(c)
	if tx.Bucket(bTenants).Get([]byte(b.Tenant)) == nil {
		return fail(errs.KindNoSuchTenant, "tenant %q does not exist", b.Tenant)
	}
	var old Bucket
	ok, err := get(tx.Bucket(bBuckets), []byte(b.Name), &old)
	if err != nil {
		return nil, err
	}
	if ok {
		if old.Tenant == b.Tenant {
			return fail(errs.KindBucketOwnedByYou, "")
		}
		return fail(errs.KindBucketExists, "")
	}
	if err := put(tx.Bucket(bBuckets), []byte(b.Name), b); err != nil {
		return nil, err
	}
	if _, err := tx.Bucket(bObjects).CreateBucketIfNotExists([]byte(b.Name)); err != nil {
		return nil, err
	}
	if _, err := tx.Bucket(bBucketUploads).CreateBucketIfNotExists([]byte(b.Name)); err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (d *DeleteBucket) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, d.Name, d.Tenant); r != nil || err != nil {
		return r, err
	}
	name := []byte(d.Name)
	if ob := tx.Bucket(bObjects).Bucket(name); ob != nil {
		if k, _ := ob.Cursor().First(); k != nil {
			return fail(errs.KindBucketNotEmpty, "")
		}
	}
	if ub := tx.Bucket(bBucketUploads).Bucket(name); ub != nil {
		if k, _ := ub.Cursor().First(); k != nil {
			return fail(errs.KindBucketNotEmpty, "multipart uploads in progress")
		}
	}
	for _, parent := range [][]byte{bObjects, bBucketUploads} {
		if tx.Bucket(parent).Bucket(name) != nil {
			if err := tx.Bucket(parent).DeleteBucket(name); err != nil {
				return nil, err
			}
		}
	}
	return &Result{}, tx.Bucket(bBuckets).Delete(name)
}

// putObject makes o the current version of bucket/key, checking the
// conditions against the version it replaces. extraGarbage is added to the
// result (unused parts of a completed upload).
func putObject(tx *bolt.Tx, bucket, key, tenant string, o *Object, ifNoneMatch bool, ifMatch string, extraGarbage []Part) (*Result, error) {
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
		return fail(errs.KindPrecondition, "the object exists")
	}
	if ifMatch != "" && (!exists || !etagMatch(ifMatch, old.ETag)) {
		if !exists {
			return fail(errs.KindNoSuchKey, "")
		}
		return fail(errs.KindPrecondition, "the object's ETag differs")
	}
	if exists && old.VersionID != "" && old.VersionID == o.VersionID {
		// The same command applied twice (a forwarded proposal retried
		// after its answer was lost): nothing was replaced.
		return &Result{}, nil
	}
	if err := put(ob, []byte(key), o); err != nil {
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
		return fail(errs.KindNoSuchKey, "")
	}
	if d.IfMatch != "" && !etagMatch(d.IfMatch, old.ETag) {
		return fail(errs.KindPrecondition, "the object's ETag differs")
	}
	if !exists {
		return &Result{}, nil
	}
	if err := ob.Delete([]byte(d.Key)); err != nil {
		return nil, err
	}
	return &Result{Replaced: &old, Garbage: old.Parts}, nil
}

func uploadIndexKey(key, uploadID string) []byte {
	return append(append([]byte(key), 0), uploadID...)
}

func partKey(uploadID string, n int) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(uploadID), 0), uint32(n))
}

func (c *CreateUpload) apply(tx *bolt.Tx) (*Result, error) {
	u := (*Upload)(c)
	if r, err := ownBucket(tx, u.Bucket, u.Tenant); r != nil || err != nil {
		return r, err
	}
	if r, err := currentKey(tx, u.Tenant, u.KeyVersion); r != nil || err != nil {
		return r, err
	}
	if tx.Bucket(bUploads).Get([]byte(u.ID)) != nil {
		return fail(errs.KindConflict, "upload id %q exists", u.ID)
	}
	if err := put(tx.Bucket(bUploads), []byte(u.ID), u); err != nil {
		return nil, err
	}
	return &Result{}, tx.Bucket(bBucketUploads).Bucket([]byte(u.Bucket)).Put(uploadIndexKey(u.Key, u.ID), nil)
}

func ownUpload(tx *bolt.Tx, id, tenant string) (*Upload, *Result, error) {
	var u Upload
	ok, err := get(tx.Bucket(bUploads), []byte(id), &u)
	if err != nil {
		return nil, nil, err
	}
	if !ok || u.Tenant != tenant {
		r, _ := fail(errs.KindNoSuchUpload, "")
		return nil, r, nil
	}
	return &u, nil, nil
}

func (p *PutPart) apply(tx *bolt.Tx) (*Result, error) {
	if _, r, err := ownUpload(tx, p.UploadID, p.Tenant); r != nil || err != nil {
		return r, err
	}
	pb := tx.Bucket(bParts)
	k := partKey(p.UploadID, p.Part.Number)
	var old Part
	exists, err := get(pb, k, &old)
	if err != nil {
		return nil, err
	}
	if err := put(pb, k, &p.Part); err != nil {
		return nil, err
	}
	res := &Result{}
	if exists && !bytes.Equal(old.DataID, p.Part.DataID) {
		res.Garbage = []Part{old}
	}
	return res, nil
}

// uploadParts returns an upload's stored parts by number.
func uploadParts(tx *bolt.Tx, id string) (map[int]Part, error) {
	parts := map[int]Part{}
	prefix := append([]byte(id), 0)
	c := tx.Bucket(bParts).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var p Part
		if err := unmarshal(v, &p); err != nil {
			return nil, err
		}
		parts[p.Number] = p
	}
	return parts, nil
}

func dropUpload(tx *bolt.Tx, u *Upload) error {
	prefix := append([]byte(u.ID), 0)
	pb := tx.Bucket(bParts)
	var keys [][]byte
	c := pb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := pb.Delete(k); err != nil {
			return err
		}
	}
	if ub := tx.Bucket(bBucketUploads).Bucket([]byte(u.Bucket)); ub != nil {
		if err := ub.Delete(uploadIndexKey(u.Key, u.ID)); err != nil {
			return err
		}
	}
	return tx.Bucket(bUploads).Delete([]byte(u.ID))
}

func (c *CompleteUpload) apply(tx *bolt.Tx) (*Result, error) {
	u, r, err := ownUpload(tx, c.UploadID, c.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	stored, err := uploadParts(tx, u.ID)
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, p := range c.Object.Parts {
		s, ok := stored[p.Number]
		if !ok || !bytes.Equal(s.DataID, p.DataID) {
			return fail(errs.KindInvalidPart, "part %d changed or is gone", p.Number)
		}
		used[p.Number] = true
	}
	var unused []Part
	nums := make([]int, 0, len(stored))
	for n := range stored {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		if !used[n] {
			unused = append(unused, stored[n])
		}
	}
	res, err := putObject(tx, u.Bucket, u.Key, u.Tenant, &c.Object, c.IfNoneMatch, c.IfMatch, unused)
	if err != nil || res.Err != nil {
		return res, err
	}
	return res, dropUpload(tx, u)
}

func (a *AbortUpload) apply(tx *bolt.Tx) (*Result, error) {
	u, r, err := ownUpload(tx, a.UploadID, a.Tenant)
	if r != nil || err != nil {
		return r, err
	}
	stored, err := uploadParts(tx, u.ID)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, p := range stored {
		res.Garbage = append(res.Garbage, p)
	}
	sort.Slice(res.Garbage, func(i, j int) bool { return res.Garbage[i].Number < res.Garbage[j].Number })
	return res, dropUpload(tx, u)
}

func (n *RegisterNode) apply(tx *bolt.Tx) (*Result, error) {
	if err := put(tx.Bucket(bNodes), []byte(n.ID), (*Node)(n)); err != nil {
		return nil, err
	}
	return &Result{}, recomputeLayout(tx)
}

// recomputeLayout plans the sets for the current members and starts a new
// topology epoch. Sets that already exist with the same geometry and drives
// keep their ids, so objects that name them are unaffected.
func recomputeLayout(tx *bolt.Tx) error {
	var drives []placement.Drive
	err := tx.Bucket(bNodes).ForEach(func(_, v []byte) error {
		var n Node
		if err := unmarshal(v, &n); err != nil {
			return err
		}
		for _, d := range n.Drives {
			drives = append(drives, placement.Drive{ID: d.ID, Node: n.ID, Site: n.Site})
		}
		return nil
	})
	if err != nil {
		return err
	}
	fams, err := placement.Plan(drives)
	if err != nil {
		return nil // no drives yet: no layout
	}
	sets := tx.Bucket(bSets)
	known := map[string]uint32{}
	err = sets.ForEach(func(k, v []byte) error {
		var s Set
		if err := unmarshal(v, &s); err != nil {
			return err
		}
		known[setKey(s.K, s.M, s.Drives)] = s.ID
		return nil
	})
	if err != nil {
		return err
	}
	sys := tx.Bucket(bSys)
	next := uint32(1)
	if v := sys.Get(kNextSet); v != nil {
		next = binary.BigEndian.Uint32(v)
	}
	var old Layout
	if _, err := get(sys, kLayout, &old); err != nil {
		return err
	}
	lay := Layout{Epoch: old.Epoch + 1}
	for _, f := range fams {
		fam := Family{Sites: f.Sites, K: f.K, M: f.M}
		for _, s := range f.Sets {
			key := setKey(s.K, s.M, s.Drives)
			id, ok := known[key]
			if !ok {
				id = next
				next++
				known[key] = id
				if err := put(sets, u32(id), &Set{ID: id, K: s.K, M: s.M, Drives: s.Drives}); err != nil {
					return err
				}
			}
			fam.Sets = append(fam.Sets, id)
		}
		lay.Families = append(lay.Families, fam)
	}
	if err := sys.Put(kNextSet, u32(next)); err != nil {
		return err
	}
	return put(sys, kLayout, &lay)
}

func setKey(k, m int, drives []string) string {
	return fmt.Sprintf("%d/%d/%s", k, m, strings.Join(drives, ","))
}

func (p *PutBucketCORS) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, p.Bucket, p.Tenant); r != nil || err != nil {
		return r, err
	}
	var b Bucket
	if _, err := get(tx.Bucket(bBuckets), []byte(p.Bucket), &b); err != nil {
		return nil, err
	}
	b.CORS = p.Rules
	return &Result{}, put(tx.Bucket(bBuckets), []byte(p.Bucket), &b)
}

func (s *SetObjectMeta) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, s.Bucket, s.Tenant); r != nil || err != nil {
		return r, err
	}
	ob := tx.Bucket(bObjects).Bucket([]byte(s.Bucket))
	var o Object
	ok, err := get(ob, []byte(s.Key), &o)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(errs.KindNoSuchKey, "")
	}
	if o.VersionID != s.VersionID {
		return fail(errs.KindConflict, "the object changed meanwhile")
	}
	o.SealedMeta = s.SealedMeta
	return &Result{}, put(ob, []byte(s.Key), &o)
}

func (d *DeleteObjects) apply(tx *bolt.Tx) (*Result, error) {
	if r, err := ownBucket(tx, d.Bucket, d.Tenant); r != nil || err != nil {
		return r, err
	}
	ob := tx.Bucket(bObjects).Bucket([]byte(d.Bucket))
	res := &Result{}
	for _, k := range d.Keys {
		if k == "" {
			continue
		}
		var old Object
		ok, err := get(ob, []byte(k), &old)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := ob.Delete([]byte(k)); err != nil {
			return nil, err
		}
		res.Garbage = append(res.Garbage, old.Parts...)
	}
	return res, nil
}

// A streamStorer is a payload whose commit makes streams referenced: the
// FSM enters them into the dataids index, and those written with lost
// shards into the degraded one.
type streamStorer interface {
	Payload
	// streamHome names the record that will hold the streams. It is
	// called before the command applies.
	streamHome(tx *bolt.Tx) (*DataRef, error)
	// storedStreams returns the parts the command stores, and whether
	// they were written for it (their lost shards enter the degraded
	// index) rather than moved (a completed upload's parts keep their
	// entries: their data ids do not change).
	storedStreams() (parts []Part, written bool)
}

func (p *PutObject) streamHome(*bolt.Tx) (*DataRef, error) {
	return &DataRef{Bucket: p.Bucket, Key: p.Key}, nil
}

func (p *PutObject) storedStreams() ([]Part, bool) { return p.Object.Parts, true }

func (p *PutPart) streamHome(*bolt.Tx) (*DataRef, error) { return &DataRef{Upload: p.UploadID}, nil }

func (p *PutPart) storedStreams() ([]Part, bool) { return []Part{p.Part}, true }

func (c *CompleteUpload) streamHome(tx *bolt.Tx) (*DataRef, error) {
	var u Upload
	ok, err := get(tx.Bucket(bUploads), []byte(c.UploadID), &u)
	if err != nil || !ok {
		return nil, err // a missing upload fails in apply
	}
	return &DataRef{Bucket: u.Bucket, Key: u.Key}, nil
}

func (c *CompleteUpload) storedStreams() ([]Part, bool) { return c.Object.Parts, false }

// indexStreams keeps the dataids bucket equal to the set of streams the
// metadata references: a command's garbage leaves it, the parts it stored
// (st, in the record home) enter it, each with a DataRef saying where its
// record lives. The orphan scan deletes shard files whose data id is not
// there (a writer that crashed between its shards and its commit); the
// scrub follows the DataRef to the part record it needs to check and
// repair a shard.
//
// The degraded index follows the same streams: a stream stored with lost
// shards enters it, and leaves it when they are rebuilt or the stream
// becomes garbage.
func indexStreams(tx *bolt.Tx, st streamStorer, home *DataRef, r *Result) error {
	idx := tx.Bucket(bDataIDs)
	deg := tx.Bucket(bDegraded)
	for _, p := range r.Garbage {
		if err := idx.Delete(p.DataID); err != nil {
			return err
		}
		if err := deg.Delete(p.DataID); err != nil {
			return err
		}
	}
	if st == nil || r.Duplicate {
		return nil
	}
	stored, written := st.storedStreams()
	if len(stored) > 0 && home == nil {
		return fmt.Errorf("meta: %T stores streams but names no record for them", st)
	}
	for _, p := range stored {
		if !written || len(p.DataID) == 0 || len(p.Lost) == 0 {
			continue
		}
		if err := put(deg, p.DataID, p.Lost); err != nil {
			return err
		}
	}
	for _, p := range stored {
		if len(p.DataID) == 0 {
			continue
		}
		home.Part = p.Number
		v, err := encMode.Marshal(home)
		if err != nil {
			return err
		}
		if err := idx.Put(p.DataID, v); err != nil {
			return err
		}
	}
	return nil
}

// storesLostShards reports whether a command stores a stream some of whose
// shards were lost while it was written.
func storesLostShards(p Payload) bool {
	st, ok := p.(streamStorer)
	if !ok {
		return false
	}
	parts, written := st.storedStreams()
	for _, p := range parts {
		if written && len(p.Lost) > 0 {
			return true
		}
	}
	return false
}

// A keyRotation is a payload after which the leader has keys to rewrap
// (FSM.Rotations).
type keyRotation interface {
	Payload
	startsRewrap()
}

func (*RotateTenantKey) startsRewrap() {}
func (*SetMasterKey) startsRewrap()    {}

// records decodes the records of bucket b that keep accepts (all with a
// nil keep), in key order.
func records[T any](b *bolt.Bucket, keep func(*T) bool) ([]T, error) {
	var out []T
	err := b.ForEach(func(k, v []byte) error {
		var rec T
		if err := unmarshal(v, &rec); err != nil {
			return fmt.Errorf("meta: record %q: %w", k, err)
		}
		if keep == nil || keep(&rec) {
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// accessKeysOf returns the access keys of tenant.
func accessKeysOf(tx *bolt.Tx, tenant string) ([]AccessKey, error) {
	return records(tx.Bucket(bAccessKeys), func(k *AccessKey) bool { return k.Tenant == tenant })
}

// bucketsOf returns the buckets whose records name tenant, in name order.
func bucketsOf(tx *bolt.Tx, tenant string) ([]Bucket, error) {
	return records(tx.Bucket(bBuckets), func(b *Bucket) bool { return b.Tenant == tenant })
}

// apply drops the tenant's keys and access keys at once, in
// this one commit, and leaves its buckets to the purge: a tenant with
// millions of objects cannot be deleted in one transaction, but once its
// key is gone its data is unreadable already.
func (d *DeleteTenant) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	if tb.Get([]byte(d.ID)) == nil {
		return fail(errs.KindNoSuchTenant, "tenant %q does not exist", d.ID)
	}
	if err := tb.Delete([]byte(d.ID)); err != nil {
		return nil, err
	}
	keys, err := accessKeysOf(tx, d.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := tx.Bucket(bAccessKeys).Delete([]byte(k.ID)); err != nil {
			return nil, err
		}
	}
	bs, err := bucketsOf(tx, d.ID)
	if err != nil {
		return nil, err
	}
	for i := range bs {
		bs[i].Purging = true
		if err := put(tx.Bucket(bBuckets), []byte(bs[i].Name), &bs[i]); err != nil {
			return nil, err
		}
	}
	return &Result{}, markShred(tx)
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
		return fail(errs.KindNoSuchBucket, "bucket %q is not being purged", p.Bucket)
	}
	name := []byte(p.Bucket)
	res := &Result{}
	left := max(p.Max, 1)
	if ob := tx.Bucket(bObjects).Bucket(name); ob != nil {
		var keys [][]byte
		c := ob.Cursor()
		for k, v := c.First(); k != nil && len(keys) < left; k, v = c.Next() {
			var o Object
			if err := unmarshal(v, &o); err != nil {
				return nil, err
			}
			res.Garbage = append(res.Garbage, o.Parts...)
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := ob.Delete(k); err != nil {
				return nil, err
			}
		}
		left -= len(keys)
	}
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
			for _, part := range parts {
				res.Garbage = append(res.Garbage, part)
			}
			if err := dropUpload(tx, &u); err != nil {
				return nil, err
			}
		}
		left -= len(ids)
	}
	if left <= 0 {
		return res, nil // perhaps more: the next command goes on
	}
	for _, parent := range [][]byte{bObjects, bBucketUploads} {
		if tx.Bucket(parent).Bucket(name) != nil {
			if err := tx.Bucket(parent).DeleteBucket(name); err != nil {
				return nil, err
			}
		}
	}
	return res, tx.Bucket(bBuckets).Delete(name)
}

// currentKey checks that a data key about to be committed is wrapped by the
// tenant's current key version: after a rotation, nothing new may be
// wrapped by an old version, or the rewrap could never finish.
func currentKey(tx *bolt.Tx, tenant string, version uint32) (*Result, error) {
	var t Tenant
	ok, err := get(tx.Bucket(bTenants), []byte(tenant), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(errs.KindAccessDenied, "tenant %q does not exist", tenant)
	}
	if version != t.KeyVersion {
		return fail(errs.KindStaleKey, "data key wrapped by key version %d of tenant %q; version %d is current", version, tenant, t.KeyVersion)
	}
	return nil, nil
}

func (c *RotateTenantKey) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	var t Tenant
	ok, err := get(tb, []byte(c.Tenant), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(errs.KindNoSuchTenant, "tenant %q does not exist", c.Tenant)
	}
	for _, k := range t.Keys {
		if k.Version >= c.Key.Version {
			// Two rotations raced; the proposer's key would shadow one.
			return fail(errs.KindConflict, "tenant %q has key version %d already", c.Tenant, k.Version)
		}
	}
	t.Keys = append(t.Keys, c.Key)
	t.KeyVersion = c.Key.Version
	return &Result{}, put(tb, []byte(c.Tenant), &t)
}

func (c *RewrapKeys) apply(tx *bolt.Tx) (*Result, error) {
	var t Tenant
	ok, err := get(tx.Bucket(bTenants), []byte(c.Tenant), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(errs.KindNoSuchTenant, "tenant %q does not exist", c.Tenant)
	}
	for _, it := range c.Items {
		if it.To != t.KeyVersion {
			continue // rotated again meanwhile: the next pass takes it
		}
		if it.Upload != "" {
			var u Upload
			ok, err := get(tx.Bucket(bUploads), []byte(it.Upload), &u)
			if err != nil {
				return nil, err
			}
			if ok && u.Tenant == c.Tenant && u.KeyVersion == it.From {
				u.WrappedKey, u.KeyVersion = it.Wrapped, it.To
				if err := put(tx.Bucket(bUploads), []byte(u.ID), &u); err != nil {
					return nil, err
				}
			}
			continue
		}
		if r, err := ownBucket(tx, it.Bucket, c.Tenant); r != nil || err != nil {
			if err != nil {
				return nil, err
			}
			continue // bucket gone
		}
		ob := tx.Bucket(bObjects).Bucket([]byte(it.Bucket))
		var o Object
		ok, err := get(ob, []byte(it.Key), &o)
		if err != nil {
			return nil, err
		}
		if ok && o.VersionID == it.VersionID && o.KeyVersion == it.From {
			o.WrappedKey, o.KeyVersion = it.Wrapped, it.To
			if err := put(ob, []byte(it.Key), &o); err != nil {
				return nil, err
			}
		}
	}
	return &Result{}, nil
}

// apply drops an old key version. The leader proposes it
// only after a full pass found no data key wrapped by it, and since the
// rotation nothing new can be (currentKey), so nothing becomes unreadable.
func (c *RetireTenantKey) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	var t Tenant
	ok, err := get(tb, []byte(c.Tenant), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(errs.KindNoSuchTenant, "tenant %q does not exist", c.Tenant)
	}
	if c.Version == t.KeyVersion {
		return fail(errs.KindConflict, "key version %d of tenant %q is current", c.Version, c.Tenant)
	}
	keys := t.Keys[:0]
	for _, k := range t.Keys {
		if k.Version != c.Version {
			keys = append(keys, k)
		}
	}
	t.Keys = keys
	if err := put(tb, []byte(c.Tenant), &t); err != nil {
		return nil, err
	}
	return &Result{}, markShred(tx)
}

func (c *SetMasterKey) apply(tx *bolt.Tx) (*Result, error) {
	var cl Cluster
	ok, err := get(tx.Bucket(bSys), kCluster, &cl)
	if err != nil || !ok {
		return nil, fmt.Errorf("meta: cluster record: %v", err)
	}
	var lacking []string
	err = tx.Bucket(bNodes).ForEach(func(_, v []byte) error {
		var n Node
		if err := unmarshal(v, &n); err != nil {
			return err
		}
		if !slices.Contains(n.MasterKeys, c.ID) {
			lacking = append(lacking, n.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(lacking) > 0 {
		return fail(errs.KindConflict, "nodes %s were not started with master key %s; restart them with it (and the old key as --old-master-key-file) first", strings.Join(lacking, ", "), c.ID)
	}
	cl.MasterKey = c.ID
	return &Result{}, put(tx.Bucket(bSys), kCluster, &cl)
}

func (c *RewrapMaster) apply(tx *bolt.Tx) (*Result, error) {
	var cl Cluster
	ok, err := get(tx.Bucket(bSys), kCluster, &cl)
	if err != nil || !ok {
		return nil, fmt.Errorf("meta: cluster record: %v", err)
	}
	if cl.MasterKey != c.MasterKey {
		return &Result{}, nil // rotated again meanwhile; the next pass redoes it
	}
	tb := tx.Bucket(bTenants)
	for _, it := range c.TenantKeys {
		var t Tenant
		ok, err := get(tb, []byte(it.Tenant), &t)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for i := range t.Keys {
			if t.Keys[i].Version == it.Version && bytes.Equal(t.Keys[i].Wrapped, it.Old) {
				t.Keys[i].Wrapped = it.Wrapped
			}
		}
		if err := put(tb, []byte(it.Tenant), &t); err != nil {
			return nil, err
		}
	}
	ab := tx.Bucket(bAccessKeys)
	for _, it := range c.AccessKeys {
		var k AccessKey
		ok, err := get(ab, []byte(it.ID), &k)
		if err != nil {
			return nil, err
		}
		if ok && bytes.Equal(k.WrappedSecret, it.Old) {
			k.WrappedSecret = it.Wrapped
			if err := put(ab, []byte(it.ID), &k); err != nil {
				return nil, err
			}
		}
	}
	if c.KeyCheck != nil {
		cl.KeyCheck = c.KeyCheck
		if err := put(tx.Bucket(bSys), kCluster, &cl); err != nil {
			return nil, err
		}
	}
	pending, err := masterPending(tx, cl.MasterKey)
	if err != nil {
		return nil, err
	}
	if pending == 0 {
		// The last batch: the old master key's wrappings are gone from
		// the records; every node shreds the copies left elsewhere.
		return &Result{}, markShred(tx)
	}
	return &Result{}, nil
}

// masterPending counts what a master key other than id still wraps.
func masterPending(tx *bolt.Tx, id string) (int, error) {
	var cl Cluster
	if _, err := get(tx.Bucket(bSys), kCluster, &cl); err != nil {
		return 0, err
	}
	n := 0
	if !crypt.WrappedBy(cl.KeyCheck, id) {
		n++
	}
	if _, err := records(tx.Bucket(bTenants), func(t *Tenant) bool {
		for _, k := range t.Keys {
			if !crypt.WrappedBy(k.Wrapped, id) {
				n++
			}
		}
		return false
	}); err != nil {
		return 0, err
	}
	keys, err := records(tx.Bucket(bAccessKeys), func(k *AccessKey) bool { return !crypt.WrappedBy(k.WrappedSecret, id) })
	return n + len(keys), err
}

// apply takes rebuilt shards off a stream's degraded entry,
// and the entry off the index once no shard is missing.
func (c *ShardsRestored) apply(tx *bolt.Tx) (*Result, error) {
	deg := tx.Bucket(bDegraded)
	var lost []int
	ok, err := get(deg, c.DataID, &lost)
	if err != nil || !ok {
		return &Result{}, err
	}
	lost = slices.DeleteFunc(lost, func(s int) bool { return slices.Contains(c.Shards, s) })
	if len(lost) == 0 {
		return &Result{}, deg.Delete(c.DataID)
	}
	return &Result{}, put(deg, c.DataID, lost)
}
