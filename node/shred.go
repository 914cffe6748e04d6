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

// DeleteTenant deletes a tenant: its keys at once, its data after. It is
// refused while object lock protects any of the tenant's versions.
func (n *Node) DeleteTenant(ctx context.Context, id string) (*TenantDeletion, error) {
	return n.deleteTenant(ctx, id, false)
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

// shredCycle is the leader's periodic shred: when anything was committed
// since the last one, a ShredCycle command has every node shred, so that
// the wrapped key of a version deleted since leaves the Raft log, the
// snapshots and the databases' free pages within ShredEvery (plus the
// shred's own run). A new leader shreds at its first tick: it does not
// know when the last one was.
func (n *Node) shredCycle(ctx context.Context) {
	if !n.store.IsLeader() {
		return
	}
	applied := n.store.FSM.Applied()
	if last := n.lastShredCycle.Load(); last != 0 && applied <= last+1 {
		return // nothing but the last cycle's own entry since
	}
	pctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	res, err := n.cons.Propose(pctx, meta.NewCommand(&meta.ShredCycle{}))
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		n.log.Warn("periodic shred not started; next tick retries", "err", err)
		return
	}
	n.lastShredCycle.Store(n.store.FSM.Applied())
	n.log.Info("periodic shred: every node destroys the keys of records deleted since the last one")
}

// ShredCycleNow has the leader start a periodic shred now (tests, and an
// operator who wants deleted records' keys gone before the next tick).
func (n *Node) ShredCycleNow() { poke(n.shredCycleNow) }
