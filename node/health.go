package node

import (
	"context"
	"sync"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// liveness tracks which peers answer, so that new objects go to erasure
// sets whose drives are all reachable (or to a degraded geometry while a
// site is down) and reads skip shards on nodes known to be down.
type liveness struct {
	n    *Node
	mu   sync.Mutex
	down map[string]time.Time // node id → since when it has not answered
}

const (
	pingEvery   = time.Second
	pingTimeout = 2 * time.Second
)

func newLiveness(n *Node) *liveness { return &liveness{n: n, down: map[string]time.Time{}} }

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

// pingAll pings every other member once, in parallel.
func (l *liveness) pingAll(ctx context.Context) {
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
			cctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			_, err := l.n.rpc.Status(cctx, rec.RPCAddr)
			l.set(rec.ID, err == nil)
		}(rec)
	}
	wg.Wait()
}

func (l *liveness) run(stop <-chan struct{}) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-stop:
				case <-ctx.Done():
				}
				cancel()
			}()
			l.pingAll(ctx)
			cancel()
		}
	}
}

// collector deletes the shards of streams nothing references any more —
// replaced and deleted versions, replaced and unused parts — after a grace
// period that lets reads already in flight finish. The queue lives in
// memory: what a crash drops stays on disk until the self-healing scan
// (a later issue) collects it.
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

func (c *collector) run(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := time.Now()
			c.mu.Lock()
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
			c.mu.Unlock()
			for _, it := range due {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c.n.deleteShards(ctx, it.part)
				cancel()
				c.n.counters.garbageStreams.Add(1)
			}
		}
	}
}

// flush is called at shutdown; items not yet due stay on disk.
func (c *collector) flush(context.Context) {}

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
