package node

import (
	"context"
	"errors"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Rotating the master key: the operator restarts every node with the new
// key (--master-key-file) and the old one (--old-master-key-file); each
// node's record lists the ids of the keys it holds. RotateMasterKey then
// commits the new key as the cluster's (refused while a member lacks it),
// after which new tenant keys and secrets are wrapped by it, and the leader
// rewraps every tenant key version, access key secret and the key check
// in batches. When none is left under an old key, every node shreds the
// old wrappings, and the old key can be dropped from the nodes' settings.

// MasterKeyRotation reports a master key rotation.
type MasterKeyRotation struct {
	MasterKey string `json:"master_key"`
	Pending   int    `json:"pending"` // wrapped keys still to rewrap, in the background
}

// RotateMasterKey makes the master key with this id (by default the one
// this node was given first) the cluster's.
func (n *Node) RotateMasterKey(ctx context.Context, id string) (*MasterKeyRotation, error) {
	if id == "" {
		id = n.keys.First().ID()
	}
	if _, ok := n.keys.Key(id); !ok {
		return nil, objapi.Errorf("RotateMasterKey", objapi.KindInvalidArgument, "this node was not given master key %s", id)
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.SetMasterKey{ID: id}))
	if _, err := result("RotateMasterKey", "", "", res, err); err != nil {
		return nil, err
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	out := &MasterKeyRotation{MasterKey: id}
	err = n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		out.Pending, err = r.MasterPending()
		return err
	})
	n.log.Info("master key rotated; tenant keys and secrets are rewrapped in the background", "master_key", id, "pending", out.Pending)
	return out, err
}

// rewrapMaster rewraps, on the leader, what an old master key wraps.
func (n *Node) rewrapMaster(stop <-chan struct{}) error {
	var (
		target  string
		cluster *meta.Cluster
		tenants []meta.Tenant
		keys    []meta.AccessKey
	)
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		var ok bool
		if cluster, ok, err = r.Cluster(); err != nil || !ok {
			return err
		}
		target = cluster.MasterKey
		if tenants, err = r.Tenants(); err != nil {
			return err
		}
		keys, err = r.AccessKeys()
		return err
	}); err != nil || target == "" {
		return err
	}
	mk, ok := n.keys.Key(target)
	if !ok {
		return errors.New("the leader lacks the cluster's master key " + target)
	}
	cmd := &meta.RewrapMaster{MasterKey: target}
	size := 0
	flush := func() error {
		if size == 0 {
			return nil
		}
		select {
		case <-stop:
			return errors.New("node stopping")
		default:
		}
		ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
		defer cancel()
		res, err := n.cons.Propose(ctx, meta.NewCommand(cmd))
		if _, err := result("RewrapMaster", "", "", res, err); err != nil {
			return err
		}
		n.log.Info("rewrapped under the new master key", "master_key", target, "items", size)
		cmd, size = &meta.RewrapMaster{MasterKey: target}, 0
		return nil
	}
	if !crypt.WrappedBy(cluster.KeyCheck, target) {
		owner := crypt.SecretOwner("key-check", cluster.ID)
		check, err := n.keys.UnwrapSecret(cluster.KeyCheck, owner)
		if err != nil {
			return err
		}
		if cmd.KeyCheck, err = mk.WrapSecret(check, owner); err != nil {
			return err
		}
		size++
	}
	for _, t := range tenants {
		for _, k := range t.Keys {
			if crypt.WrappedBy(k.Wrapped, target) {
				continue
			}
			tk, err := n.keys.UnwrapTenantKey(k.Wrapped, t.ID, k.Version)
			if err != nil {
				return err
			}
			w, err := mk.WrapTenantKey(tk)
			if err != nil {
				return err
			}
			cmd.TenantKeys = append(cmd.TenantKeys, meta.RewrappedTenant{Tenant: t.ID, Version: k.Version, Wrapped: w, Old: k.Wrapped})
			if size++; size >= rewrapBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	for _, k := range keys {
		if crypt.WrappedBy(k.WrappedSecret, target) {
			continue
		}
		secret, err := n.keys.UnwrapSecret(k.WrappedSecret, secretOwner(k.ID))
		if err != nil {
			return err
		}
		w, err := mk.WrapSecret(secret, secretOwner(k.ID))
		clear(secret)
		if err != nil {
			return err
		}
		cmd.AccessKeys = append(cmd.AccessKeys, meta.RewrappedSecret{ID: k.ID, Wrapped: w, Old: k.WrappedSecret})
		if size++; size >= rewrapBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// wrappingKey returns the master key new tenant keys and secrets are
// wrapped with: the cluster's current one (a node started without it
// refuses to start, and a rotation waits until every member has it).
func (n *Node) wrappingKey(ctx context.Context) (*crypt.MasterKey, error) {
	// Linearized: a key wrapped under the master key the cluster just
	// replaced would need another rewrap pass.
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var id string
	n.store.FSM.View(func(r *meta.Reader) error {
		c, ok, err := r.Cluster()
		if ok {
			id = c.MasterKey
		}
		return err
	})
	if id == "" {
		return n.keys.First(), nil // a cluster from before key ids
	}
	if mk, ok := n.keys.Key(id); ok {
		return mk, nil
	}
	return nil, objapi.Errorf("wrap", objapi.KindUnavailable, "this node lacks the cluster's master key %s", id)
}
