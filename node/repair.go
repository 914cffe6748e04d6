package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// repairer rebuilds shards that reads found missing or corrupt, so that
// an object's redundancy comes back without waiting for a scrub: the read
// that noticed the damage already had to reconstruct around it. Jobs are
// deduplicated per stream and run one at a time in the background; a job
// whose shard's node is unreachable is dropped (that node is down, not its
// disk bad, and comes back with its shards).
type repairer struct {
	n       *Node
	mu      sync.Mutex
	pending map[string]repairJob
	wake    chan struct{}
}

type repairJob struct {
	part   meta.Part
	shards map[int]bool
}

func newRepairer(n *Node) *repairer {
	return &repairer{n: n, pending: map[string]repairJob{}, wake: make(chan struct{}, 1)}
}

func (r *repairer) add(p *meta.Part, shard int) {
	key := fmt.Sprintf("%x/%d", p.DataID, p.Number)
	r.mu.Lock()
	job, ok := r.pending[key]
	if !ok {
		job = repairJob{part: *p, shards: map[int]bool{}}
	}
	job.shards[shard] = true
	r.pending[key] = job
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *repairer) next() (repairJob, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, job := range r.pending {
		delete(r.pending, k)
		return job, true
	}
	return repairJob{}, false
}

// work runs the queued jobs one after the other, until the queue is empty
// or the node closes (the node runs it whenever a job is queued).
func (r *repairer) work(ctx context.Context) {
	for ctx.Err() == nil {
		job, ok := r.next()
		if !ok {
			return
		}
		jctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		err := r.n.repairPart(jctx, &job.part, job.shards)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.n.counters.repairFailures.Add(1)
			r.n.log.Warn("shard repair failed", "data_id", fmt.Sprintf("%x", job.part.DataID), "part", job.part.Number, "err", err)
		}
	}
}

// repairPart rebuilds the given shards of a coded stream from the others
// and puts them in place (a rename over the bad file, on its own drive).
func (n *Node) repairPart(ctx context.Context, p *meta.Part, shards map[int]bool) error {
	h, err := crypt.ParseHeader(p.Cipher)
	if err != nil {
		return err
	}
	coder, err := n.coder(erasure.Params{Format: p.Format, K: p.K, M: p.M, BlockSize: p.BlockSize})
	if err != nil {
		return err
	}
	var id [16]byte
	copy(id[:], p.DataID)
	srcs, prefer := n.sources(p, nil)
	targets := map[int]io.Writer{}
	writers := map[int]shardWriter{}
	for i := range shards {
		srcs[i] = nil
		w, err := n.openShardWriter(ctx, p.Drives[i], shardstore.Name{DataID: id, Part: uint32(p.Number), Shard: uint8(i)})
		if err != nil {
			for _, w := range writers {
				w.Abort()
			}
			return fmt.Errorf("repair shard %d on %s: %w", i, p.Drives[i], err)
		}
		targets[i], writers[i] = w, w
	}
	var order []int
	for _, i := range prefer {
		if !shards[i] {
			order = append(order, i)
		}
	}
	_, err = coder.Rebuild(ctx, erasure.DecodeRequest{ObjectID: p.DataID, Size: h.CiphertextSize(p.Size), Shards: srcs, Prefer: order}, targets)
	if err != nil {
		for _, w := range writers {
			w.Abort()
		}
		return err
	}
	for i, w := range writers {
		if err := w.Commit(); err != nil {
			return fmt.Errorf("repair shard %d on %s: %w", i, p.Drives[i], err)
		}
		n.counters.shardsRepaired.Add(1)
		n.log.Info("shard repaired", "data_id", fmt.Sprintf("%x", p.DataID), "part", p.Number, "shard", i, "drive", p.Drives[i])
	}
	return nil
}

// queueRepairs queues the bad shards a read reported, except those on
// nodes that could not be reached.
func (n *Node) queueRepairs(p *meta.Part, bad []erasure.ShardError) {
	if p.M == 0 {
		return
	}
	for _, b := range bad {
		if errors.Is(b.Err, erasure.ErrShardUnreachable) || objapi.IsKind(b.Err, objapi.KindUnavailable) || !n.live.IsUp(nodeOfDrive(p.Drives[b.Shard])) {
			continue
		}
		n.repairs.add(p, b.Shard)
	}
}
