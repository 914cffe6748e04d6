package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// metaGuard watches the drive that holds the node's metadata (the Raft
// log and the FSM database). When it runs below MetaReserve, or the FSM
// cannot commit (see meta.FSM.ApplyBatch), the node cannot keep its copy
// of the metadata current: it answers every request with 503 at once
// instead of letting it wait for an apply that cannot happen, reports
// itself not ready, and, if it leads, hands leadership to another voter
// (Raft itself steps a leader down whose log append fails). It recovers by
// itself once space returns.
type metaGuard struct {
	n            *Node
	problem      atomic.Pointer[string] // why the metadata cannot be written; nil when it can
	lastTransfer time.Time              // of leadership, by check only
}

// metaCheckEvery is how often the metadata drive is measured: a full
// drive is noticed within this time.
const metaCheckEvery = 250 * time.Millisecond

func newMetaGuard(n *Node) *metaGuard { return &metaGuard{n: n} }

// measure looks at the drive and the FSM and returns the problem, or "".
func (g *metaGuard) measure() string {
	if err := g.n.store.FSM.Stalled(); err != nil {
		return fmt.Sprintf("the metadata database cannot be written: %v", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(g.n.cfg.MetaDir, &st); err != nil {
		return fmt.Sprintf("the metadata directory cannot be measured: %v", err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < g.n.cfg.MetaReserve {
		return fmt.Sprintf("the metadata drive (%s) has %d bytes free, below the reserve of %d", g.n.cfg.MetaDir, free, g.n.cfg.MetaReserve)
	}
	return ""
}

// check measures, records the problem, and hands leadership over while
// there is one (the node runs it every metaCheckEvery).
func (g *metaGuard) check(context.Context) {
	problem := g.measure()
	old := g.problem.Load()
	switch {
	case problem != "" && old == nil:
		g.n.log.Error("metadata drive full or not writable: answering 503 until it recovers", "reason", problem)
	case problem == "" && old != nil:
		g.n.log.Info("metadata drive writable again: serving", "was", *old)
	}
	if problem == "" {
		g.problem.Store(nil)
		return
	}
	g.problem.Store(&problem)
	if g.n.store.IsLeader() && time.Since(g.lastTransfer) > 5*time.Second {
		g.lastTransfer = time.Now()
		if err := g.n.store.Raft.LeadershipTransfer().Error(); err != nil {
			g.n.log.Warn("handing over Raft leadership failed", "err", err)
		} else {
			g.n.log.Warn("handed over Raft leadership: this node cannot write its metadata")
		}
	}
}

// metaHealthy returns a KindUnavailable error while this node cannot keep
// its metadata current.
func (n *Node) metaHealthy() error {
	if p := n.meta.problem.Load(); p != nil {
		return &objapi.Error{Op: "metadata", Kind: objapi.KindUnavailable, Msg: *p}
	}
	return nil
}
