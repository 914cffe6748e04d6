package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Readiness: whether a load balancer should send this node clients'
// requests now (GET /_kcs/health/ready).
const (
	// ReadyTimeout bounds one readiness check: a node whose leader does
	// not confirm a read index within it is not ready.
	ReadyTimeout = 2 * time.Second
	// readyFresh is how long a check's answer is given again before the
	// next check: probes from many load balancers cost one check a second.
	readyFresh = time.Second
)

// readiness holds the last readiness check: one runs at a time, and its
// answer serves every probe for readyFresh.
type readiness struct {
	mu      sync.Mutex
	at      time.Time // when the last check ended; zero before the first
	err     error
	running chan struct{} // closed when the check under way ends; nil when none is
}

// Ready returns nil when this node can serve clients now, or why not:
//
//   - its metadata drive can be written (not below --meta-reserve);
//   - at least one of its data drives can be measured (a node whose drives
//     all fail serves from the others' drives, but something is wrong with
//     it); full drives do not count against it: it still serves reads and
//     deletes, and writes go to drives with room;
//   - it knows a Raft leader; and
//   - the leader confirmed a read index within ReadyTimeout, and this node
//     has applied the metadata up to it: it is caught up, and a read here
//     now sees every acknowledged write.
//
// Each check's answer is reused for a second, so a probe costs at most
// one read index a second whatever the number of probes; a probe waits at
// most ReadyTimeout, or until ctx ends.
func (n *Node) Ready(ctx context.Context) error {
	r := &n.ready
	r.mu.Lock()
	if !r.at.IsZero() && time.Since(r.at) < readyFresh {
		err := r.err
		r.mu.Unlock()
		return err
	}
	ch := r.running
	if ch == nil {
		ch = make(chan struct{})
		r.running = ch
		go func() {
			cctx, cancel := context.WithTimeout(n.ctx, ReadyTimeout)
			err := n.checkReady(cctx)
			cancel()
			r.mu.Lock()
			r.at, r.err, r.running = time.Now(), err, nil
			r.mu.Unlock()
			close(ch)
		}()
	}
	r.mu.Unlock()
	select {
	case <-ch:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	case <-ctx.Done():
		return errors.New("the readiness check did not finish in time")
	}
}

// checkReady is one readiness check, cheap tests first.
func (n *Node) checkReady(ctx context.Context) error {
	if err := n.metaHealthy(); err != nil {
		return fmt.Errorf("metadata not writable: %v", err)
	}
	var failed []string
	for _, d := range n.driveStatus() {
		if d.Err == "" {
			failed = nil
			break
		}
		failed = append(failed, d.Path+": "+d.Err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("no data drive usable: %s", strings.Join(failed, "; "))
	}
	if id, _ := n.store.Leader(); id == "" {
		return errors.New("no Raft leader known (no quorum of voters reachable?)")
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return fmt.Errorf("metadata not caught up with the leader: %v", err)
	}
	return nil
}
