package node

import (
	"context"
	"fmt"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
)

// Restoring lost shards. A write is acknowledged once k+1 of its k+m
// shards are durable; a shard lost mid-stream (a drive failed, a peer went
// away) leaves the stream below full protection. The commit records the
// lost shards (Part.Lost) and the FSM keeps the stream in its degraded
// index until they are rebuilt. The leader works the index off: at once
// when such a commit is applied, and every RestoreEvery, so a rebuild that
// failed (the drive still full, its node down) is tried again. Each
// rebuilt stream is committed (ShardsRestored); the index, and with it the
// count in the cluster status and metrics, thus survives restarts and
// leader changes.

// restoreBatch is how many degraded streams one look at the index takes.
const restoreBatch = 64

// restoreLost rebuilds the lost shards of every degraded stream whose
// drives can take them now.
func (n *Node) restoreLost(ctx context.Context) {
	var after []byte
	for {
		var batch []meta.DegradedStream
		if err := n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			batch, err = r.Degraded(after, restoreBatch)
			return err
		}); err != nil {
			n.log.Warn("reading the degraded streams", "err", err)
			return
		}
		for _, d := range batch {
			if ctx.Err() != nil {
				return
			}
			if err := n.restoreStream(ctx, d); err != nil {
				n.log.Warn("rebuilding lost shards failed; tried again later", "data_id", fmt.Sprintf("%x", d.DataID), "shards", d.Lost, "err", err)
			}
		}
		if len(batch) < restoreBatch || !n.store.IsLeader() {
			return
		}
		after = batch[len(batch)-1].DataID
	}
}

func (n *Node) restoreStream(ctx context.Context, d meta.DegradedStream) error {
	var part *meta.Part
	var ok bool
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		part, ok, err = r.PartOf(d.DataID)
		return err
	}); err != nil {
		return err
	}
	if !ok {
		return nil // replaced or deleted meanwhile: its entry goes with it
	}
	want := map[int]bool{}
	for _, s := range d.Lost {
		if s < 0 || s >= len(part.Drives) {
			continue
		}
		drive := part.Drives[s]
		if !n.live.IsUp(nodeOfDrive(drive)) {
			return fmt.Errorf("shard %d: node of drive %s is down", s, drive)
		}
		if !n.live.HasRoom(drive) {
			return fmt.Errorf("shard %d: drive %s is below its free-space reserve", s, drive)
		}
		want[s] = true
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if len(want) > 0 {
		if err := n.repairPart(ctx, part, want); err != nil {
			n.counters.repairFailures.Add(1)
			return err
		}
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.ShardsRestored{DataID: d.DataID, Shards: d.Lost}))
	if _, err := result("ShardsRestored", "", "", res, err); err != nil {
		return err
	}
	n.log.Info("lost shards rebuilt; stream back at full protection", "data_id", fmt.Sprintf("%x", d.DataID), "part", part.Number, "shards", d.Lost)
	return nil
}
