package node

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Deleting a tenant is crypto-shredding: one Raft commit removes the
// tenant's wrapped keys and access keys, after which none of its objects
// can be decrypted anywhere; then every node destroys its own copies of
// the keys (Store.Shred: the metadata database rewritten without free
// pages, a snapshot that keeps no log entries before it), and the leader
// purges the tenant's buckets in batches, collecting their shards.

// DeleteTenant deletes a tenant: its keys at once, its data after.
func (n *Node) DeleteTenant(ctx context.Context, id string) (*TenantDeletion, error) {
	if !tenantPattern.MatchString(id) {
		return nil, objapi.Errorf("DeleteTenant", objapi.KindNoSuchTenant, "tenant %q does not exist", id)
	}
	var buckets int
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	n.store.FSM.View(func(r *meta.Reader) error {
		bs, err := r.BucketsOf(id)
		buckets = len(bs)
		return err
	})
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.DeleteTenant{ID: id}))
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	n.log.Warn("tenant deleted: its keys are shredded on every node, its buckets purged", "tenant", id, "buckets", buckets)
	return &TenantDeletion{Tenant: id, Buckets: buckets}, nil
}

// TenantDeletion reports a tenant's deletion.
type TenantDeletion struct {
	Tenant  string `json:"tenant"`
	Buckets int    `json:"buckets_to_purge"` // removed in the background
}

// shredNow shreds if a tenant deletion or key retirement applied here
// still waits for it (the node runs it when one is applied, at start when
// one was applied but not yet shredded, and hourly).
func (n *Node) shredNow(ctx context.Context) {
	if !n.store.FSM.ShredPending() {
		return
	}
	n.shred(ctx.Done())
	// A deletion was applied: if this node leads, its purge starts now
	// rather than at the next tick.
	poke(n.purgeNow)
}

func (n *Node) shred(stop <-chan struct{}) {
	// Unwrapped tenant keys cached in memory go first; the records are
	// gone, so they cannot come back.
	n.tkeys.Clear()
	for attempt := 0; ; attempt++ {
		err := n.store.Shred()
		if err == nil {
			n.log.Info("deleted tenants' keys shredded on this node")
			return
		}
		if errors.Is(err, raft.ErrNothingNewToSnapshot) {
			// Commit an entry so that a snapshot can be taken.
			ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
			n.cons.Propose(ctx, meta.NewCommand(&meta.Noop{}))
			cancel()
		} else {
			n.log.Error("shredding deleted tenants' keys failed; retrying", "err", err, "attempt", attempt)
		}
		select {
		case <-stop:
			return
		case <-time.After(min(time.Duration(attempt+1)*time.Second, time.Minute)):
		}
	}
}

// purgeBatch is how many objects one purge command removes.
const purgeBatch = 1000

// purgeAll has the leader purge the buckets of deleted tenants.
func (n *Node) purgeAll(ctx context.Context) {
	var buckets []string
	n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		buckets, err = r.PurgingBuckets()
		return err
	})
	for _, b := range buckets {
		if err := n.purgeBucket(ctx.Done(), b); err != nil {
			n.log.Warn("bucket purge interrupted", "bucket", b, "err", err)
		}
	}
}

// purgeBucket removes a purging bucket batch by batch.
func (n *Node) purgeBucket(stop <-chan struct{}, bucket string) error {
	for objects := 0; ; {
		select {
		case <-stop:
			return errors.New("node stopping")
		default:
		}
		ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
		res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.PurgeBucket{Bucket: bucket, Max: purgeBatch}))
		cancel()
		if err != nil {
			return err
		}
		if res.Err != nil {
			if objapi.IsKind(res.Err, objapi.KindNoSuchBucket) {
				return nil // done meanwhile
			}
			return res.Err
		}
		n.gc.Add(res.Garbage)
		objects += len(res.Garbage)
		var gone bool
		n.store.FSM.View(func(r *meta.Reader) error {
			_, ok, err := r.Bucket(bucket)
			gone = !ok
			return err
		})
		if gone {
			n.log.Info("bucket of a deleted tenant purged", "bucket", bucket, "streams", objects)
			return nil
		}
	}
}
