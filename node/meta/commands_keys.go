package meta

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of key rotation: tenant keys (rotate, rewrap the data
// keys, retire the old version) and the master key (switch, rewrap).

// A keyRotation is a payload after which the leader has keys to rewrap
// (FSM.Rotations).
type keyRotation interface {
	Payload
	startsRewrap()
}

// RotateTenantKey adds a new version of a tenant's key and makes it the one
// new data keys are wrapped with. From this commit on, objects and uploads
// are committed only with data keys wrapped by that version (KindStaleKey
// otherwise: the proposer rewraps and tries again), so the set of data keys
// under older versions only shrinks while the leader rewraps them.
type RotateTenantKey struct {
	Tenant string    `cbor:"1,keyasint"`
	Key    TenantKey `cbor:"2,keyasint"`
}

func (c *RotateTenantKey) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	var t Tenant
	ok, err := get(tb, []byte(c.Tenant), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", c.Tenant)
	}
	for _, k := range t.Keys {
		if k.Version >= c.Key.Version {
			// Two rotations raced; the proposer's key would shadow one.
			return fail(objapi.KindConflict, "tenant %q has key version %d already", c.Tenant, k.Version)
		}
	}
	t.Keys = append(t.Keys, c.Key)
	t.KeyVersion = c.Key.Version
	return &Result{}, put(tb, []byte(c.Tenant), &t)
}

func (*RotateTenantKey) startsRewrap() {}

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
		return fail(objapi.KindAccessDenied, "tenant %q does not exist", tenant)
	}
	if version != t.KeyVersion {
		return fail(objapi.KindStaleKey, "data key wrapped by key version %d of tenant %q; version %d is current", version, tenant, t.KeyVersion)
	}
	return nil, nil
}

// RewrapKeys replaces data keys wrapped by an old tenant key version with
// the same keys wrapped by the current one. An item whose record changed
// meanwhile (another version, already rewrapped, gone) is skipped.
type RewrapKeys struct {
	Tenant string   `cbor:"1,keyasint"`
	Items  []Rewrap `cbor:"2,keyasint"`
}

// Rewrap is one data key to rewrap: an object version (Bucket, Key,
// VersionID; Seq for versions other than the current one) or a multipart
// upload (Upload).
type Rewrap struct {
	Bucket    string `cbor:"1,keyasint,omitempty"`
	Key       string `cbor:"2,keyasint,omitempty"`
	VersionID string `cbor:"3,keyasint,omitempty"`
	Upload    string `cbor:"4,keyasint,omitempty"`
	From      uint32 `cbor:"5,keyasint"` // the version that wraps it now
	To        uint32 `cbor:"6,keyasint"` // the version of Wrapped
	Wrapped   []byte `cbor:"7,keyasint"`
	Seq       uint64 `cbor:"8,keyasint,omitempty"`

	pos   []byte // where StaleObjects found it
	phase string
}

func (c *RewrapKeys) apply(tx *bolt.Tx) (*Result, error) {
	var t Tenant
	ok, err := get(tx.Bucket(bTenants), []byte(c.Tenant), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", c.Tenant)
	}
	// Every record is read, and rewrapped in memory, before the first
	// write; an item sees what the items before it changed.
	type objectKey struct {
		bucket, key string
		seq         uint64
	}
	uploads, objects := map[string]*Upload{}, map[objectKey]*located{}
	var changedUploads []string
	var changedObjects []objectKey
	for _, it := range c.Items {
		if it.To != t.KeyVersion {
			continue // rotated again meanwhile: the next pass takes it
		}
		if it.Upload != "" {
			u, seen := uploads[it.Upload]
			if !seen {
				var rec Upload
				ok, err := get(tx.Bucket(bUploads), []byte(it.Upload), &rec)
				if err != nil {
					return nil, err
				}
				if ok {
					u = &rec
				}
				uploads[it.Upload] = u
			}
			if u != nil && u.Tenant == c.Tenant && u.KeyVersion == it.From {
				u.WrappedKey, u.KeyVersion = it.Wrapped, it.To
				changedUploads = append(changedUploads, it.Upload)
			}
			continue
		}
		if r, err := ownBucket(tx, it.Bucket, c.Tenant); r != nil || err != nil {
			if err != nil {
				return nil, err
			}
			continue // bucket gone
		}
		ok := objectKey{it.Bucket, it.Key, it.Seq}
		l, seen := objects[ok]
		if !seen {
			var rec Object
			found, err := get(tx.Bucket(bObjects).Bucket([]byte(it.Bucket)), []byte(it.Key), &rec)
			if err != nil {
				return nil, err
			}
			if found && rec.VersionID == it.VersionID {
				l = &located{o: rec, current: true}
			} else if l, found, err = versionBySeq(tx, it.Bucket, it.Key, it.Seq); err != nil {
				return nil, err
			} else if !found {
				l = nil
			}
			objects[ok] = l
		}
		if l != nil && l.o.VersionID == it.VersionID && l.o.KeyVersion == it.From {
			l.o.WrappedKey, l.o.KeyVersion = it.Wrapped, it.To
			changedObjects = append(changedObjects, ok)
		}
	}
	for _, id := range changedUploads {
		u := uploads[id]
		if err := put(tx.Bucket(bUploads), []byte(u.ID), u); err != nil {
			return nil, err
		}
	}
	for _, k := range changedObjects {
		if err := storeVersion(tx, k.bucket, k.key, objects[k]); err != nil {
			return nil, err
		}
	}
	return &Result{}, nil
}

// RetireTenantKey removes an old version of a tenant's key once no data key
// is wrapped by it any more; every node then shreds its copies, as after a
// tenant's deletion.
type RetireTenantKey struct {
	Tenant  string `cbor:"1,keyasint"`
	Version uint32 `cbor:"2,keyasint"`
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
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", c.Tenant)
	}
	if c.Version == t.KeyVersion {
		return fail(objapi.KindConflict, "key version %d of tenant %q is current", c.Version, c.Tenant)
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

// SetMasterKey makes the master key with this id the one that wraps tenant
// keys and secrets. It is refused unless every member was started with
// that key (their records list the ids), so no node is left unable to
// unwrap; the leader then rewraps everything the old keys wrapped.
type SetMasterKey struct {
	ID string `cbor:"1,keyasint"`
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
		return fail(objapi.KindConflict, "nodes %s were not started with master key %s; restart them with it (and the old key as --old-master-key-file) first", strings.Join(lacking, ", "), c.ID)
	}
	cl.MasterKey = c.ID
	return &Result{}, put(tx.Bucket(bSys), kCluster, &cl)
}

func (*SetMasterKey) startsRewrap() {}

// RewrapMaster replaces tenant keys, access key secrets and the key check
// wrapped by an older master key with the same keys wrapped by MasterKey.
// Items are skipped if MasterKey is no longer current. Once nothing is left
// under another master key, every node shreds the old wrappings.
type RewrapMaster struct {
	MasterKey  string            `cbor:"1,keyasint"`
	TenantKeys []RewrappedTenant `cbor:"2,keyasint"`
	AccessKeys []RewrappedSecret `cbor:"3,keyasint"`
	KeyCheck   []byte            `cbor:"4,keyasint,omitempty"`
}

// RewrappedTenant is one version of a tenant's key wrapped anew. Old is
// the wrapping it replaces: a record that changed meanwhile (a tenant
// deleted and made anew under the same name) is left alone.
type RewrappedTenant struct {
	Tenant  string `cbor:"1,keyasint"`
	Version uint32 `cbor:"2,keyasint"`
	Wrapped []byte `cbor:"3,keyasint"`
	Old     []byte `cbor:"4,keyasint"`
}

// RewrappedSecret is an access key's secret wrapped anew, replacing Old.
type RewrappedSecret struct {
	ID      string `cbor:"1,keyasint"`
	Wrapped []byte `cbor:"2,keyasint"`
	Old     []byte `cbor:"3,keyasint"`
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
	// Every tenant and access key is read (what is left under old keys
	// counts them all) and rewrapped in memory before the first write.
	tb, ab := tx.Bucket(bTenants), tx.Bucket(bAccessKeys)
	tenants, err := recordsByKey[Tenant](tb)
	if err != nil {
		return nil, err
	}
	keys, err := recordsByKey[AccessKey](ab)
	if err != nil {
		return nil, err
	}
	var changedTenants, changedKeys []string
	for _, it := range c.TenantKeys {
		t := tenants[it.Tenant]
		if t == nil {
			continue
		}
		for i := range t.Keys {
			if t.Keys[i].Version == it.Version && bytes.Equal(t.Keys[i].Wrapped, it.Old) {
				t.Keys[i].Wrapped = it.Wrapped
			}
		}
		changedTenants = append(changedTenants, it.Tenant)
	}
	for _, it := range c.AccessKeys {
		if k := keys[it.ID]; k != nil && bytes.Equal(k.WrappedSecret, it.Old) {
			k.WrappedSecret = it.Wrapped
			changedKeys = append(changedKeys, it.ID)
		}
	}
	if c.KeyCheck != nil {
		cl.KeyCheck = c.KeyCheck
	}
	pending := notWrappedBy(cl.MasterKey, &cl, slices.Collect(maps.Values(tenants)), slices.Collect(maps.Values(keys)))
	for _, id := range changedTenants {
		if err := put(tb, []byte(id), tenants[id]); err != nil {
			return nil, err
		}
	}
	for _, id := range changedKeys {
		if err := put(ab, []byte(id), keys[id]); err != nil {
			return nil, err
		}
	}
	if c.KeyCheck != nil {
		if err := put(tx.Bucket(bSys), kCluster, &cl); err != nil {
			return nil, err
		}
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
	tenants, err := records[Tenant](tx.Bucket(bTenants), nil)
	if err != nil {
		return 0, err
	}
	keys, err := records[AccessKey](tx.Bucket(bAccessKeys), nil)
	if err != nil {
		return 0, err
	}
	return notWrappedBy(id, &cl, pointers(tenants), pointers(keys)), nil
}

// notWrappedBy counts the key check, tenant key versions and access key
// secrets that the master key id does not wrap.
func notWrappedBy(id string, cl *Cluster, tenants []*Tenant, keys []*AccessKey) int {
	n := 0
	if !crypt.WrappedBy(cl.KeyCheck, id) {
		n++
	}
	for _, t := range tenants {
		for _, k := range t.Keys {
			if !crypt.WrappedBy(k.Wrapped, id) {
				n++
			}
		}
	}
	for _, k := range keys {
		if !crypt.WrappedBy(k.WrappedSecret, id) {
			n++
		}
	}
	return n
}

func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}
