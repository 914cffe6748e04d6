package node

import (
	"context"
	"errors"
	"slices"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Rotating a tenant's key: one commit adds a new random version and makes
// it current, so every data key wrapped from then on is wrapped by it (the
// commit refuses others, and proposeWrapped rewraps in-flight writes). The
// leader then rewraps the data keys of the tenant's objects and uploads in
// batches, and once a pass finds none left under an old version, retires
// that version, after which every node shreds its copies as after a
// tenant's deletion. Object data is not rewritten: a data key only changes
// its wrapping.

// rewrapBatch is how many data keys one rewrap command carries.
const rewrapBatch = 500

// KeyRotation reports a tenant key rotation.
type KeyRotation struct {
	Tenant     string   `json:"tenant"`
	KeyVersion uint32   `json:"key_version"`
	Retiring   []uint32 `json:"retiring_versions"` // rewrapped and retired in the background
}

// RotateTenantKey gives a tenant a new key version for everything written
// from now on and has the older versions' data keys rewrapped.
func (n *Node) RotateTenantKey(ctx context.Context, tenant string) (*KeyRotation, error) {
	if !tenantPattern.MatchString(tenant) {
		return nil, objapi.Errorf("RotateTenantKey", objapi.KindNoSuchTenant, "tenant %q does not exist", tenant)
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var t *meta.Tenant
	var ok bool
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		t, ok, err = r.Tenant(tenant)
		return err
	}); err != nil {
		return nil, err
	}
	if !ok {
		return nil, objapi.Errorf("RotateTenantKey", objapi.KindNoSuchTenant, "tenant %q does not exist", tenant)
	}
	version := t.KeyVersion
	var old []uint32
	for _, k := range t.Keys {
		version = max(version, k.Version)
		old = append(old, k.Version)
	}
	version++
	key, err := n.newTenantKey(ctx, tenant, version)
	if err != nil {
		return nil, err
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.RotateTenantKey{Tenant: tenant, Key: key}))
	if _, err := result("RotateTenantKey", "", "", res, err); err != nil {
		return nil, err
	}
	// The leader starts rewrapping once it applies the rotation.
	n.log.Info("tenant key rotated; older versions are rewrapped and retired in the background", "tenant", tenant, "version", version, "retiring", old)
	return &KeyRotation{Tenant: tenant, KeyVersion: version, Retiring: old}, nil
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// rewrapAll has the leader rewrap the data keys of rotated tenants and
// the keys an old master key wraps.
func (n *Node) rewrapAll(ctx context.Context) {
	stop := ctx.Done()
	if err := n.rewrapMaster(stop); err != nil {
		n.log.Warn("rewrapping under the new master key interrupted", "err", err)
	}
	var tenants []meta.Tenant
	n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		tenants, err = r.Tenants()
		return err
	})
	for _, t := range tenants {
		if len(t.Keys) < 2 {
			continue
		}
		if err := n.rewrapTenant(stop, t.ID); err != nil {
			n.log.Warn("rewrapping a tenant's data keys interrupted", "tenant", t.ID, "err", err)
		}
	}
}

// rewrapTenant rewraps every data key of a tenant that an old key version
// wraps, then retires the old versions.
func (n *Node) rewrapTenant(stop <-chan struct{}, tenant string) error {
	var t *meta.Tenant
	var buckets []meta.Bucket
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		if t, _, err = r.Tenant(tenant); err != nil {
			return err
		}
		buckets, err = r.BucketsOf(tenant)
		return err
	}); err != nil {
		return err
	}
	current := t.KeyVersion
	rewrapped := 0
	// Uploads first (few), then each bucket's objects batch by batch.
	var stale []meta.Rewrap
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		stale, err = r.StaleUploads(tenant, current)
		return err
	}); err != nil {
		return err
	}
	for len(stale) > 0 {
		batch := stale[:min(len(stale), rewrapBatch)]
		stale = stale[len(batch):]
		if err := n.rewrap(stop, tenant, current, batch); err != nil {
			return err
		}
		rewrapped += len(batch)
	}
	for _, b := range buckets {
		for after := ""; ; {
			var batch []meta.Rewrap
			if err := n.store.FSM.View(func(r *meta.Reader) error {
				var err error
				batch, after, err = r.StaleObjects(b.Name, current, after, rewrapBatch)
				return err
			}); err != nil {
				return err
			}
			if len(batch) > 0 {
				if err := n.rewrap(stop, tenant, current, batch); err != nil {
					return err
				}
				rewrapped += len(batch)
			}
			if after == "" {
				break
			}
		}
	}
	// A second look decides: an item the commit skipped (overwritten,
	// rotated again) or a bucket created meanwhile shows up here.
	left, err := n.staleCount(tenant, current)
	if err != nil {
		return err
	}
	if left > 0 {
		poke(n.rewrapNow)
		return nil
	}
	for _, k := range t.Keys {
		if k.Version == current {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
		res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.RetireTenantKey{Tenant: tenant, Version: k.Version}))
		cancel()
		if _, err := result("RetireTenantKey", "", "", res, err); err != nil {
			return err
		}
	}
	n.log.Info("tenant's data keys rewrapped and old key versions retired", "tenant", tenant, "version", current, "rewrapped", rewrapped)
	return nil
}

// rewrap unwraps a batch of data keys with their old tenant key version,
// wraps them with the current one, and commits the batch.
func (n *Node) rewrap(stop <-chan struct{}, tenant string, current uint32, items []meta.Rewrap) error {
	select {
	case <-stop:
		return errors.New("node stopping")
	default:
	}
	items = slices.Clone(items)
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		to, err := n.tenantKey(r, tenant, current)
		if err != nil {
			return err
		}
		for i := range items {
			it := &items[i]
			from, err := n.tenantKey(r, tenant, it.From)
			if err != nil {
				return err
			}
			owner := crypt.ObjectOwner(tenant, it.Bucket, it.Key, it.VersionID)
			if it.Upload != "" {
				owner = crypt.UploadOwner(tenant, it.Bucket, it.Key, it.Upload)
			}
			dk, err := from.UnwrapDataKey(it.Wrapped, owner)
			if err != nil {
				return &objapi.Error{Op: "rewrap", Kind: objapi.KindCorrupt, Bucket: it.Bucket, Key: it.Key, Err: err}
			}
			if it.Wrapped, err = to.WrapDataKey(dk, owner); err != nil {
				return err
			}
			it.To = current
		}
		return nil
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
	defer cancel()
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.RewrapKeys{Tenant: tenant, Items: items}))
	_, err = result("RewrapKeys", "", "", res, err)
	return err
}

// staleCount counts a tenant's data keys not wrapped by version current.
func (n *Node) staleCount(tenant string, current uint32) (int, error) {
	count := 0
	err := n.store.FSM.View(func(r *meta.Reader) error {
		ups, err := r.StaleUploads(tenant, current)
		if err != nil {
			return err
		}
		count += len(ups)
		bs, err := r.BucketsOf(tenant)
		if err != nil {
			return err
		}
		for _, b := range bs {
			for after := ""; ; {
				var batch []meta.Rewrap
				batch, after, err = r.StaleObjects(b.Name, current, after, rewrapBatch)
				if err != nil {
					return err
				}
				count += len(batch)
				if after == "" {
					break
				}
			}
		}
		return nil
	})
	return count, err
}
