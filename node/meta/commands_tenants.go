package meta

import (
	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of tenants and their access keys.

// CreateTenant creates a tenant with its first access key and, with
// Quota set (command level 2), its quota: the proposer's default for new
// tenants, carried in the command so that every member stores the same.
type CreateTenant struct {
	Tenant   Tenant     `cbor:"1,keyasint"`
	FirstKey *AccessKey `cbor:"2,keyasint"`
	Quota    *Quota     `cbor:"3,keyasint,omitempty"`
}

func (c *CreateTenant) level() Level {
	if c.Quota != nil {
		return 2
	}
	return 1
}

func (c *CreateTenant) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	if tb.Get([]byte(c.Tenant.ID)) != nil {
		return fail(objapi.KindTenantExists, "tenant %q exists", c.Tenant.ID)
	}
	bs, err := bucketsOf(tx, c.Tenant.ID)
	if err != nil {
		return nil, err
	}
	if len(bs) > 0 {
		return fail(objapi.KindConflict, "tenant %q was deleted and its %d buckets are still being purged; try again later", c.Tenant.ID, len(bs))
	}
	if c.FirstKey != nil && tx.Bucket(bAccessKeys).Get([]byte(c.FirstKey.ID)) != nil {
		return fail(objapi.KindConflict, "access key %q exists", c.FirstKey.ID)
	}
	if r, err := validQuota(c.Quota); r != nil || err != nil {
		return r, err
	}
	if err := put(tb, []byte(c.Tenant.ID), &c.Tenant); err != nil {
		return nil, err
	}
	if err := put(tx.Bucket(bUsage), usageKey(c.Tenant.ID, ""), &Usage{}); err != nil {
		return nil, err
	}
	if c.Quota != nil && !c.Quota.IsZero() {
		if err := put(tx.Bucket(bQuotas), usageKey(c.Tenant.ID, ""), c.Quota); err != nil {
			return nil, err
		}
	}
	if c.FirstKey != nil {
		if err := put(tx.Bucket(bAccessKeys), []byte(c.FirstKey.ID), c.FirstKey); err != nil {
			return nil, err
		}
	}
	return &Result{}, nil
}

// DeleteTenant removes a tenant's record with every version of its key and
// its access keys, and marks its buckets for purging. Every node shreds
// its copies of the key once it applies the command.
type DeleteTenant struct {
	ID string `cbor:"1,keyasint"`
	// BypassGovernance lets the deletion remove versions under GOVERNANCE
	// retention (an operator's explicit override, level 2). Nothing lets
	// it remove versions under COMPLIANCE retention or legal hold: while
	// the tenant holds any, the deletion is refused.
	BypassGovernance bool `cbor:"2,keyasint,omitempty"`
}

func (d *DeleteTenant) level() Level {
	if d.BypassGovernance {
		return 2
	}
	return 1
}

// apply drops the tenant's keys and access keys at once, in
// this one commit, and leaves its buckets to the purge: a tenant with
// millions of objects cannot be deleted in one transaction, but once its
// key is gone its data is unreadable already.
func (d *DeleteTenant) apply(tx *bolt.Tx) (*Result, error) {
	tb := tx.Bucket(bTenants)
	if tb.Get([]byte(d.ID)) == nil {
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", d.ID)
	}
	keys, err := accessKeysOf(tx, d.ID)
	if err != nil {
		return nil, err
	}
	bs, err := bucketsOf(tx, d.ID)
	if err != nil {
		return nil, err
	}
	for i := range bs {
		if !bs[i].ObjectLock {
			continue
		}
		if e, err := lockedIn(tx, bs[i].Name, fsmClock(tx), d.BypassGovernance); e != nil || err != nil {
			return refuse(e), err
		}
	}
	// Everything is read: the writes begin.
	if err := tb.Delete([]byte(d.ID)); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := tx.Bucket(bAccessKeys).Delete([]byte(k.ID)); err != nil {
			return nil, err
		}
	}
	for i := range bs {
		bs[i].Purging = true
		if err := put(tx.Bucket(bBuckets), []byte(bs[i].Name), &bs[i]); err != nil {
			return nil, err
		}
	}
	// Its usage ends here, quotas and all: the purge counts nothing.
	if err := dropRows(tx, usageKey(d.ID, "")); err != nil {
		return nil, err
	}
	return &Result{}, markShred(tx)
}

// CreateAccessKey gives a tenant another access key.
type CreateAccessKey AccessKey

func (c *CreateAccessKey) apply(tx *bolt.Tx) (*Result, error) {
	k := (*AccessKey)(c)
	if tx.Bucket(bTenants).Get([]byte(k.Tenant)) == nil {
		return fail(objapi.KindNoSuchTenant, "tenant %q does not exist", k.Tenant)
	}
	if tx.Bucket(bAccessKeys).Get([]byte(k.ID)) != nil {
		return fail(objapi.KindConflict, "access key %q exists", k.ID)
	}
	return &Result{}, put(tx.Bucket(bAccessKeys), []byte(k.ID), k)
}

// DeleteAccessKey removes one of a tenant's access keys.
type DeleteAccessKey struct {
	ID     string `cbor:"1,keyasint"`
	Tenant string `cbor:"2,keyasint"`
}

func (d *DeleteAccessKey) apply(tx *bolt.Tx) (*Result, error) {
	var k AccessKey
	if ok, err := get(tx.Bucket(bAccessKeys), []byte(d.ID), &k); err != nil || !ok || k.Tenant != d.Tenant {
		if err != nil {
			return nil, err
		}
		return fail(objapi.KindNoSuchAccessKey, "tenant %q has no access key %q", d.Tenant, d.ID)
	}
	return &Result{}, tx.Bucket(bAccessKeys).Delete([]byte(d.ID))
}

// accessKeysOf returns the access keys of tenant.
func accessKeysOf(tx *bolt.Tx, tenant string) ([]AccessKey, error) {
	return records(tx.Bucket(bAccessKeys), func(k *AccessKey) bool { return k.Tenant == tenant })
}
