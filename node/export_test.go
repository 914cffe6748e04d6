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
