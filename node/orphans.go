package node

import (
	"context"
	"fmt"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// The orphan scan collects shard files that no metadata references: the
// shards of a write whose node crashed between making them durable and
// committing (or cleaning up after a failed commit), and garbage whose
// collection was lost with a restart (the garbage queue lives in memory).
// The metadata keeps an index of every referenced stream's data id, so a
// file is an orphan when its data id is missing there and the file is
// older than OrphanGrace — far longer than a shard waits for its commit.
//
// "Not referenced" means not referenced by this cluster's metadata: on a
// drive of another cluster every shard looks like an orphan. So a drive is
// scanned only while its format file, read again at each scan, names this
// node, this drive and this cluster (drives.go keeps other drives out at
// start; this covers a disk swapped under a running node).

// scanOrphans deletes this node's orphan shards and returns how many.
func (n *Node) scanOrphans(ctx context.Context) (int, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return 0, err
	}
	cutoff := n.now().Add(-n.cfg.OrphanGrace)
	removed := 0
	cluster := n.clusterID()
	for _, d := range n.drives {
		if err := d.CheckIdentity(cluster); err != nil {
			n.log.Warn("orphan scan skips a drive that is not this node's in this cluster", "drive", d.ID, "path", d.Path, "err", err)
			continue
		}
		err := d.Walk(func(name shardstore.Name, modified time.Time) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if modified.After(cutoff) {
				return nil
			}
			var referenced bool
			n.store.FSM.View(func(r *meta.Reader) error {
				referenced = r.Referenced(name.DataID[:])
				return nil
			})
			if referenced {
				return nil
			}
			if err := d.Remove(name); err != nil {
				return err
			}
			removed++
			n.counters.orphansRemoved.Add(1)
			n.log.Info("orphan shard removed", "shard", name.String(), "drive", d.ID, "modified", modified.UTC())
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("orphan scan of %s: %w", d.ID, err)
		}
	}
	return removed, nil
}

// scanOrphansLogged runs one scan and logs a failure (the node runs it
// every OrphanScanEvery on its clock).
func (n *Node) scanOrphansLogged(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OrphanScanEvery)
	defer cancel()
	if _, err := n.scanOrphans(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("orphan scan", "err", err)
	}
}
