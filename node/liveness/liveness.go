// Package liveness keeps a node's view of its peers: which answer, which
// are slow to, and how much room their drives have. New streams go to
// erasure sets whose nodes all answer and whose drives are above the
// free-space reserve (or to a degraded geometry while a site is down), and
// reads skip shards on nodes known to be down and try slow ones last.
//
// Only the node's own probes judge a peer. A request that failed because
// its client went away, or that ran into its own deadline, says nothing
// about the peer: a failed request only makes the peer be probed at once
// (Suspect).
package liveness

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
)

// Probe timing: every member is probed every Every; one that has not
// answered within Timeout is down; one whose probe is unanswered after
// SlowAfter is slow (still up, but read last).
const (
	Every     = time.Second
	Timeout   = 2 * time.Second
	SlowAfter = 500 * time.Millisecond
)

// Config is what a Tracker needs.
type Config struct {
	Self    string                                                     // this node's id
	Members func() []meta.Node                                         // the cluster's members now
	Status  func(ctx context.Context, addr string) (rpc.Status, error) // a probe of a peer's RPC address
	Local   func() []rpc.DriveStatus                                   // this node's drives, measured
	Reserve uint64                                                     // free bytes a drive keeps
	Log     *slog.Logger
}

// Tracker is a node's view of its peers.
type Tracker struct {
	cfg     Config
	ctx     context.Context // for probes started by Suspect
	mu      sync.Mutex
	down    map[string]time.Time // node id → since when it has not answered
	free    map[string]uint64    // drive id → free bytes at the last probe
	probing map[string]time.Time // node id → since when a probe waits
	clocks  map[string]peerClock // node id → its wall clock at the last probe (members only)
	members int                  // how many members the last ProbeAll saw, this node included
	reserve atomic.Uint64
}

// peerClock is a peer's wall clock as a probe saw it: wall (unix ns) at
// the local instant at, the middle of the probe's round trip. at carries
// Go's monotonic reading, so the peer's clock now is estimated as wall +
// time.Since(at) even when this node's wall clock was stepped meanwhile.
type peerClock struct {
	wall int64
	at   time.Time
}

// New returns a Tracker; probes it starts on its own end with ctx.
func New(ctx context.Context, cfg Config) *Tracker {
	t := &Tracker{cfg: cfg, ctx: ctx, down: map[string]time.Time{}, free: map[string]uint64{}, probing: map[string]time.Time{}, clocks: map[string]peerClock{}}
	t.reserve.Store(cfg.Reserve)
	return t
}

// IsUp reports whether node id answered its last probe. This node, and
// nodes never probed, count as up.
func (t *Tracker) IsUp(id string) bool {
	if id == t.cfg.Self {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, down := t.down[id]
	return !down
}

// IsSlow reports whether a probe of node id has waited for an answer
// longer than SlowAfter: a peer that hangs is avoided by reads before its
// probe times out.
func (t *Tracker) IsSlow(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	since, busy := t.probing[id]
	return busy && time.Since(since) > SlowAfter
}

// HasRoom reports whether drive id had at least the free-space reserve at
// its last measurement. Drives never measured count as having room.
func (t *Tracker) HasRoom(drive string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	free, ok := t.free[drive]
	return !ok || free >= t.reserve.Load()
}

// SetReserve changes the free-space reserve.
func (t *Tracker) SetReserve(b uint64) { t.reserve.Store(b) }

func (t *Tracker) set(id string, up bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, wasDown := t.down[id]
	switch {
	case up && wasDown:
		delete(t.down, id)
		t.cfg.Log.Info("peer is back", "peer", id)
	case !up && !wasDown:
		t.down[id] = time.Now()
		t.cfg.Log.Warn("peer does not answer", "peer", id)
	}
}

func (t *Tracker) setFree(drives []rpc.DriveStatus) {
	reserve := t.reserve.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range drives {
		if d.Err != "" {
			continue
		}
		old, ok := t.free[d.ID]
		if wasOK, isOK := !ok || old >= reserve, d.Free >= reserve; wasOK != isOK {
			if !isOK {
				t.cfg.Log.Warn("drive below its free-space reserve: no new shards go to it", "drive", d.ID, "free", d.Free, "reserve", reserve)
			} else {
				t.cfg.Log.Info("drive has room again", "drive", d.ID, "free", d.Free)
			}
		}
		t.free[d.ID] = d.Free
	}
}

// probe asks one peer for its status now, unless a probe of it is under
// way.
func (t *Tracker) probe(ctx context.Context, rec meta.Node) {
	t.mu.Lock()
	if _, busy := t.probing[rec.ID]; busy {
		t.mu.Unlock()
		return
	}
	t.probing[rec.ID] = time.Now()
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.probing, rec.ID)
		t.mu.Unlock()
	}()
	cctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	sent := time.Now()
	st, err := t.cfg.Status(cctx, rec.RPCAddr)
	if ctx.Err() != nil {
		return // stopping: no verdict
	}
	t.set(rec.ID, err == nil)
	if err == nil {
		t.setFree(st.Drives)
		if st.Now != 0 {
			t.mu.Lock()
			t.clocks[rec.ID] = peerClock{wall: st.Now, at: sent.Add(time.Since(sent) / 2)}
			t.mu.Unlock()
		}
	}
}

// ClockFresh bounds the age of a probe whose clock reading ClockAhead uses.
const ClockFresh = 30 * time.Second

// ClockAhead reports whether this node's wall clock is more than limit
// ahead of the clocks of a majority of the members (this node counted
// among them, never behind itself), and by how much it is ahead of the
// nearest of those. Members not probed lately count as not behind: only a
// majority known to be behind decides. A node ahead of the cluster's time
// must not stamp metadata commands: the FSM's clock follows the latest
// proposer clock and never goes back, so one such command would end
// retention periods early.
//
// It runs before every metadata command, so it reads no metadata: the
// member count and readings are those ProbeAll keeps.
func (t *Tracker) ClockAhead(limit time.Duration) (time.Duration, bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.members == 0 {
		return 0, false
	}
	behind, least := 0, time.Duration(0)
	for _, c := range t.clocks {
		if now.Sub(c.at) > ClockFresh {
			continue
		}
		peerNow := c.wall + int64(now.Sub(c.at))
		if ahead := time.Duration(now.UnixNano() - peerNow); ahead > limit {
			if behind == 0 || ahead < least {
				least = ahead
			}
			behind++
		}
	}
	return least, behind >= t.members/2+1
}

// Suspect has a peer probed at once, after a request to it failed.
func (t *Tracker) Suspect(id string) {
	if id == t.cfg.Self {
		return
	}
	for _, rec := range t.cfg.Members() {
		if rec.ID == id && rec.RPCAddr != "" {
			go t.probe(t.ctx, rec)
			return
		}
	}
}

// ProbeAll measures this node's drives and probes every other member once,
// in parallel (the node runs it every Every).
func (t *Tracker) ProbeAll(ctx context.Context) {
	t.setFree(t.cfg.Local())
	members := t.cfg.Members()
	t.mu.Lock()
	t.members = len(members)
	for id := range t.clocks { // readings of removed members go
		if !slices.ContainsFunc(members, func(m meta.Node) bool { return m.ID == id }) {
			delete(t.clocks, id)
		}
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, rec := range members {
		if rec.ID == t.cfg.Self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.probe(ctx, rec)
		}()
	}
	wg.Wait()
}
