package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// liveness tracks which peers answer, so that new objects go to erasure
// sets whose drives are all reachable (or to a degraded geometry while a
// site is down) and reads skip shards on nodes known to be down. Only the
// node's own probes judge a peer: a request that failed because its
// client went away, or that ran into its own deadline, says nothing about
// the peer, so a failed request only makes the peer be probed at once.
//
// The probes also bring each drive's free space, so that new streams avoid
// drives below the free-space reserve.
type liveness struct {
	n    *Node
	mu   sync.Mutex
	down map[string]time.Time // node id → since when it has not answered
	free map[string]uint64    // drive id → free bytes at the last probe
	// probing holds the peers with a probe in flight, since when.
	probing map[string]time.Time
	reserve atomic.Uint64 // Config.DriveReserve
}

const (
	pingEvery   = time.Second
	pingTimeout = 2 * time.Second
)

func newLiveness(n *Node) *liveness {
	l := &liveness{n: n, down: map[string]time.Time{}, free: map[string]uint64{}, probing: map[string]time.Time{}}
	l.reserve.Store(n.cfg.DriveReserve)
	return l
}

// isUp reports whether node id answered its last ping. Nodes never pinged
// count as up.
func (l *liveness) isUp(id string) bool {
	if id == l.n.cfg.ID {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, down := l.down[id]
	return !down
}

// slowAfter is how long a probe may go unanswered before its peer counts
// as slow: still up (a probe has 2 s), but reads go to other shards first.
const slowAfter = 500 * time.Millisecond

// isSlow reports whether a probe of node id has been waiting for an
// answer longer than slowAfter: a peer that hangs is avoided by reads
// before its probe times out.
func (l *liveness) isSlow(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since, busy := l.probing[id]
	return busy && time.Since(since) > slowAfter
}

// hasRoom reports whether drive id had at least the free-space reserve at
// its last measurement. Drives never measured count as having room.
func (l *liveness) hasRoom(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	free, ok := l.free[id]
	return !ok || free >= l.reserve.Load()
}

func (l *liveness) set(id string, up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, wasDown := l.down[id]
	switch {
	case up && wasDown:
		delete(l.down, id)
		l.n.log.Info("peer is back", "peer", id)
	case !up && !wasDown:
		l.down[id] = time.Now()
		l.n.log.Warn("peer does not answer", "peer", id)
	}
}

func (l *liveness) setFree(drives []rpc.DriveStatus) {
	reserve := l.reserve.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range drives {
		if d.Err != "" {
			continue
		}
		old, ok := l.free[d.ID]
		if wasOK, isOK := !ok || old >= reserve, d.Free >= reserve; wasOK != isOK {
			if !isOK {
				l.n.log.Warn("drive below its free-space reserve: no new shards go to it", "drive", d.ID, "free", d.Free, "reserve", reserve)
			} else {
				l.n.log.Info("drive has room again", "drive", d.ID, "free", d.Free)
			}
		}
		l.free[d.ID] = d.Free
	}
}

// probe pings one peer now, unless a probe of it is under way.
func (l *liveness) probe(ctx context.Context, rec meta.Node) {
	l.mu.Lock()
	if _, busy := l.probing[rec.ID]; busy {
		l.mu.Unlock()
		return
	}
	l.probing[rec.ID] = time.Now()
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.probing, rec.ID)
		l.mu.Unlock()
	}()
	cctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	st, err := l.n.rpc.Status(cctx, rec.RPCAddr)
	if ctx.Err() != nil {
		return // the node is stopping: no verdict
	}
	l.set(rec.ID, err == nil)
	if err == nil {
		l.setFree(st.Drives)
	}
}

// suspect has a peer probed at once after a request to it failed.
func (l *liveness) suspect(id string) {
	if id == l.n.cfg.ID {
		return
	}
	var rec *meta.Node
	l.n.store.FSM.View(func(r *meta.Reader) error {
		rec, _, _ = r.Node(id)
		return nil
	})
	if rec == nil || rec.RPCAddr == "" {
		return
	}
	go l.probe(l.n.ctx, *rec)
}

// pingAll measures this node's drives and pings every other member once,
// in parallel.
func (l *liveness) pingAll(ctx context.Context) {
	l.setFree(l.n.driveStatus())
	var nodes []meta.Node
	l.n.store.FSM.View(func(r *meta.Reader) error {
		nodes, _ = r.Nodes()
		return nil
	})
	var wg sync.WaitGroup
	for _, rec := range nodes {
		if rec.ID == l.n.cfg.ID {
			continue
		}
		wg.Add(1)
		go func(rec meta.Node) {
			defer wg.Done()
			l.probe(ctx, rec)
		}(rec)
	}
	wg.Wait()
}

// collector deletes the shards of streams nothing references any more —
// replaced and deleted versions, replaced and unused parts — after a grace
// period that lets reads already in flight finish. Before deleting, it
// checks (after a linearizable read) that the metadata still does not
// reference the stream: garbage is only ever what the metadata no longer
// references at the moment of deletion. The queue lives in memory: what a
// crash drops stays on disk until the orphan scan collects it.
type collector struct {
	n     *Node
	mu    sync.Mutex
	queue []gcItem
}

type gcItem struct {
	due  time.Time
	part meta.Part
}

func newCollector(n *Node) *collector { return &collector{n: n} }

func (c *collector) add(parts []meta.Part) {
	if len(parts) == 0 {
		return
	}
	due := time.Now().Add(c.n.cfg.GCGrace)
	c.mu.Lock()
	for _, p := range parts {
		c.queue = append(c.queue, gcItem{due: due, part: p})
	}
	c.mu.Unlock()
}

// takeDue removes and returns the items whose grace period is over.
func (c *collector) takeDue(now time.Time) []gcItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due []gcItem
	rest := c.queue[:0]
	for _, it := range c.queue {
		if it.due.Before(now) {
			due = append(due, it)
		} else {
			rest = append(rest, it)
		}
	}
	c.queue = rest
	return due
}

func (c *collector) requeue(items []gcItem) {
	c.mu.Lock()
	c.queue = append(c.queue, items...)
	c.mu.Unlock()
}

// collectDue deletes the streams whose grace period is over (the node
// runs it every second).
func (c *collector) collectDue(ctx context.Context) {
	due := c.takeDue(time.Now())
	if len(due) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	err := c.n.linearize(lctx)
	cancel()
	if err != nil {
		c.requeue(due) // no current view of the metadata: later
		return
	}
	for _, it := range due {
		var referenced bool
		c.n.store.FSM.View(func(r *meta.Reader) error {
			referenced = r.Referenced(it.part.DataID)
			return nil
		})
		if referenced {
			c.n.log.Warn("garbage stream is referenced again; its shards are kept", "data_id", fmt.Sprintf("%x", it.part.DataID), "part", it.part.Number)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c.n.deleteShards(dctx, it.part)
		cancel()
		c.n.counters.garbageStreams.Add(1)
	}
}

// deleteShards removes every shard of a stream, best effort.
func (n *Node) deleteShards(ctx context.Context, p meta.Part) {
	drives := p.Drives
	var id [16]byte
	copy(id[:], p.DataID)
	var wg sync.WaitGroup
	for i, drive := range drives {
		name := shardstore.Name{DataID: id, Part: uint32(p.Number), Shard: uint8(i)}
		owner := nodeOfDrive(drive)
		if owner == n.cfg.ID {
			if d, ok := n.drives[drive]; ok {
				if err := d.Remove(name); err != nil {
					n.log.Warn("delete shard", "shard", name.String(), "err", err)
				}
			}
			continue
		}
		addr := n.nodeRPC(owner)
		if addr == "" || !n.live.isUp(owner) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.rpc.DeleteShard(ctx, addr, drive, name); err != nil {
				n.log.Warn("delete remote shard", "shard", name.String(), "drive", drive, "err", err)
			}
		}()
	}
	wg.Wait()
}

// nodeRPC returns a member's RPC address.
func (n *Node) nodeRPC(id string) string {
	var addr string
	n.store.FSM.View(func(r *meta.Reader) error {
		if rec, ok, _ := r.Node(id); ok {
			addr = rec.RPCAddr
		}
		return nil
	})
	return addr
}
