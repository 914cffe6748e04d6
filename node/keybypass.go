package node

import (
	"context"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// SetKeyBypass grants one of a tenant's access keys the right to override
// GOVERNANCE retention (requests with x-amz-bypass-governance-retention:
// true), or takes it back: an operator's decision, since whoever holds
// such a key can shorten or remove what GOVERNANCE retention protects.
// COMPLIANCE retention and legal holds yield to no key. A key of another
// tenant, or none, is KindNoSuchAccessKey.
func (n *Node) SetKeyBypass(ctx context.Context, tenant, accessKey string, allow bool) error {
	const op = "SetKeyBypass"
	if err := n.cons.Linearize(ctx); err != nil {
		return err
	}
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, ok, err := r.Tenant(tenant); err != nil {
			return err
		} else if !ok {
			return objapi.Errorf(op, objapi.KindNoSuchTenant, "tenant %q does not exist", tenant)
		}
		k, ok, err := r.AccessKey(accessKey)
		if err != nil {
			return err
		}
		if !ok || k.Tenant != tenant {
			return objapi.Errorf(op, objapi.KindNoSuchAccessKey, "tenant %q has no access key %q", tenant, accessKey)
		}
		return nil
	}); err != nil {
		return err
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.SetKeyBypass{ID: accessKey, Bypass: allow, Tenant: tenant}))
	if _, err := result(op, "", "", res, err); err != nil {
		return err
	}
	if allow {
		n.log.Warn("access key may now bypass governance retention", "tenant", tenant, "access_key", accessKey)
	} else {
		n.log.Info("access key may no longer bypass governance retention", "tenant", tenant, "access_key", accessKey)
	}
	return nil
}
