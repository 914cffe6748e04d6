package node

import (
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

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

// OnForwardedApply makes this node, as leader, run hook after applying a
// command another node forwarded; when hook returns true the connection
// breaks before the answer is sent (the forwarder retries the command).
func (n *Node) OnForwardedApply(hook func(op meta.Op) bool) {
	if hook == nil {
		n.cons.SetForwardHook(nil)
		return
	}
	n.cons.SetForwardHook(func(c *meta.Command) bool { return hook(c.Op()) })
}

// IsLeader reports whether this node leads the Raft group.
func (n *Node) IsLeader() bool { return n.store.IsLeader() }

// ShardFiles counts the shard files on one of this node's drives.
func (n *Node) ShardFiles(drive int) int {
	count := 0
	for _, d := range n.drives {
		if d.Path == n.cfg.Drives[drive] {
			d.Walk(func(shardstore.Name, time.Time) error { count++; return nil })
		}
	}
	return count
}

// SetDriveReserve changes this node's free-space reserve for data drives.
func (n *Node) SetDriveReserve(b uint64) { n.live.SetReserve(b) }

// SetMaxDeleteAbortParts changes how many parts of uploads in progress one
// DeleteBucket command aborts, and returns a func that restores it.
func SetMaxDeleteAbortParts(n int64) (restore func()) {
	old := maxDeleteAbortParts
	maxDeleteAbortParts = n
	return func() { maxDeleteAbortParts = old }
}

// VersionWrappedKey returns the wrapped data key of a version of
// bucket/key (S3 version id), for tests that look for copies on disk.
func (n *Node) VersionWrappedKey(bucket, key, id string) []byte {
	var out []byte
	n.store.FSM.View(func(r *meta.Reader) error {
		o, _, ok, err := r.Version(bucket, key, id)
		if ok {
			out = o.WrappedKey
		}
		return err
	})
	return out
}
