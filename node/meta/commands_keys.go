package meta

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/errs"
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
		return fail(errs.KindAccessDenied, "tenant %q does not exist", tenant)
	}
	if version != t.KeyVersion {
		return fail(errs.KindStaleKey, "data key wrapped by key version %d of tenant %q; version %d is current", version, tenant, t.KeyVersion)
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

// Rewrap is one data key to rewrap: an object's current version (Bucket,
// Key, VersionID) or a multipart upload (Upload).
type Rewrap struct {
	Bucket    string `cbor:"1,keyasint,omitempty"`
	Key       string `cbor:"2,keyasint,omitempty"`
	VersionID string `cbor:"3,keyasint,omitempty"`
	Upload    string `cbor:"4,keyasint,omitempty"`
	From      uint32 `cbor:"5,keyasint"` // the version that wraps it now
	To        uint32 `cbor:"6,keyasint"` // the version of Wrapped
	Wrapped   []byte `cbor:"7,keyasint"`
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
		return fail(errs.KindConflict, "nodes %s were not started with master key %s; restart them with it (and the old key as --old-master-key-file) first", strings.Join(lacking, ", "), c.ID)
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
