package node

import "github.com/kommunal-cloud/kcs/node/meta"

// WrappedTenantKeys returns the stored (wrapped) versions of a tenant's
// key, for tests that look for copies of them on disk.
func (n *Node) WrappedTenantKeys(tenant string) [][]byte {
	var out [][]byte
	n.store.FSM.View(func(r *meta.Reader) error {
		t, ok, err := r.Tenant(tenant)
		if ok {
			for _, k := range t.Keys {
				out = append(out, k.Wrapped)
			}
		}
		return err
	})
	return out
}

// ShredPending reports whether this node still has to shred.
func (n *Node) ShredPending() bool { return n.store.FSM.ShredPending() }

// KeyVersionOf returns the tenant key version that wraps the data key of
// bucket/key's current version, or of an upload when key is empty and
// upload is not.
func (n *Node) KeyVersionOf(bucket, key, upload string) uint32 {
	var v uint32
	n.store.FSM.View(func(r *meta.Reader) error {
		if upload != "" {
			u, ok, err := r.Upload(upload)
			if ok {
				v = u.KeyVersion
			}
			return err
		}
		o, ok, err := r.Object(bucket, key)
		if ok {
			v = o.KeyVersion
		}
		return err
	})
	return v
}
