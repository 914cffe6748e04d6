package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/errs"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
)

// Voters are spread over the sites: one per site first, at most maxVoters,
// and at least minVoters where there are that many nodes (so that a one- or
// two-site cluster of three nodes still tolerates a node loss).
const (
	maxVoters = 5
	minVoters = 3
)

// clusterTimeout bounds how long a request waits for a leader.
const clusterTimeout = 15 * time.Second

func (n *Node) self() meta.Node {
	rec := meta.Node{ID: n.cfg.ID, Site: n.cfg.Site, RaftAddr: n.cfg.RaftAddr, RPCAddr: n.cfg.RPCAddr,
		S3Addrs: n.cfg.S3Addrs, Joined: n.now().UnixNano(), MasterKeys: n.keys.IDs(),
		CommandLevel: meta.CommandLevel(), Version: meta.BinaryVersion}
	for i := range n.cfg.Drives {
		id := n.cfg.ID + "/" + strconv.Itoa(i)
		rec.Drives = append(rec.Drives, meta.Drive{ID: id, Index: i, Path: n.drives[id].Path})
	}
	return rec
}

// enterCluster bootstraps a new cluster, joins an existing one, or (on a
// restart) rejoins with the Raft state on disk.
func (n *Node) enterCluster(ctx context.Context) error {
	hasState, err := n.store.HasState()
	if err != nil {
		return err
	}
	switch {
	case hasState:
		n.log.Info("restarting with existing cluster state")
		if err := n.announceMovedAddrs(ctx); err != nil {
			return err
		}
	case n.cfg.Bootstrap:
		if err := n.store.Bootstrap(); err != nil {
			return fmt.Errorf("node: bootstrap: %w", err)
		}
		if err := n.initCluster(ctx); err != nil {
			return err
		}
	case n.cfg.Join != "":
		if err := n.joinVia(ctx, n.cfg.Join); err != nil {
			return err
		}
	default:
		return errors.New("node: new node needs --bootstrap (first node) or --join ADDR")
	}
	// Wait for the metadata to reach this node, then check the master key.
	if err := n.linearize(ctx); err != nil {
		return fmt.Errorf("node: waiting for the cluster: %w", err)
	}
	if err := n.checkMasterKey(); err != nil {
		return err
	}
	// A restarted node refreshes its record (addresses, drives) in the
	// background: the cluster may still be electing.
	if hasState {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.reregister()
		}()
	}
	return nil
}

func (n *Node) initCluster(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for !n.store.IsLeader() {
		if time.Now().After(deadline) {
			return errors.New("node: bootstrap: no leadership")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var initialized bool
	n.store.FSM.View(func(r *meta.Reader) error {
		_, initialized, _ = r.Cluster()
		return nil
	})
	if !initialized {
		id := newID()
		check := make([]byte, 32)
		rand.Read(check)
		mk := n.keys.First()
		wrapped, err := mk.WrapSecret(check, crypt.SecretOwner("key-check", id))
		if err != nil {
			return err
		}
		res, err := n.propose(ctx, meta.NewCommand(&meta.Init{ID: id, Created: n.now().UnixNano(), KeyCheck: wrapped, MasterKey: mk.ID()}))
		if err != nil {
			return err
		}
		if res.Err != nil && res.Err.Kind != errs.KindConflict {
			return res.Err
		}
	}
	return n.register(ctx, n.self())
}

func (n *Node) checkMasterKey() error {
	return n.store.FSM.View(func(r *meta.Reader) error {
		c, ok, err := r.Cluster()
		if err != nil || !ok {
			return fmt.Errorf("node: cluster not initialized (%v)", err)
		}
		if _, err := n.keys.UnwrapSecret(c.KeyCheck, crypt.SecretOwner("key-check", c.ID)); err != nil {
			return fmt.Errorf("node: the master key does not match the cluster's (%w); refusing to start", err)
		}
		if _, ok := n.keys.Key(c.MasterKey); c.MasterKey != "" && !ok {
			return fmt.Errorf("node: the cluster's master key is %s, this node was given %s; refusing to start (give the current key with --master-key-file)", c.MasterKey, strings.Join(n.keys.IDs(), ", "))
		}
		return nil
	})
}

func (n *Node) joinVia(ctx context.Context, addr string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.rpc.Join(cctx, addr, n.self())
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("node: join via %s: %w", addr, err)
		}
		n.log.Info("join: retrying", "via", addr, "err", err)
		time.Sleep(time.Second)
	}
}

// announceMovedAddrs tells the cluster this node's new addresses when it
// restarted on others than its record holds (a new IP, or port 0 in
// tests). Until the leader has them it cannot reach this node, so this
// node would never learn of a leader: the record goes through any member
// it can reach, which forwards it to the leader.
func (n *Node) announceMovedAddrs(ctx context.Context) error {
	var old *meta.Node
	var members []meta.Node
	n.store.FSM.View(func(r *meta.Reader) error {
		old, _, _ = r.Node(n.cfg.ID)
		members, _ = r.Nodes()
		return nil
	})
	if old == nil || old.ID == "" || (old.RaftAddr == n.cfg.RaftAddr && old.RPCAddr == n.cfg.RPCAddr) {
		return nil
	}
	n.log.Warn("this node's addresses changed; telling the cluster", "raft_was", old.RaftAddr, "raft", n.cfg.RaftAddr, "rpc_was", old.RPCAddr, "rpc", n.cfg.RPCAddr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n.store.IsLeader() {
			// Elected meanwhile (its log is as long as anyone's): the
			// others follow it, but forward to the old address.
			cctx, cancel := context.WithTimeout(ctx, clusterTimeout)
			err := n.register(cctx, n.self())
			cancel()
			if err == nil {
				return nil
			}
		}
		var errs []error
		for _, m := range members {
			if m.ID == n.cfg.ID {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := n.rpc.Join(cctx, m.RPCAddr, n.self())
			cancel()
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("via %s: %w", m.ID, err))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("node: announcing the new addresses: %w", errors.Join(errs...))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (n *Node) reregister() {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
		err := n.register(ctx, n.self())
		cancel()
		if err == nil {
			return
		}
		select {
		case <-n.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// register records a member and gives it its place in the Raft group.
func (n *Node) register(ctx context.Context, rec meta.Node) error {
	var old *meta.Node
	n.store.FSM.View(func(r *meta.Reader) error {
		if o, ok, _ := r.Node(rec.ID); ok {
			old = o
		}
		return nil
	})
	if old != nil && old.Site != rec.Site {
		return errs.Errorf("join", errs.KindConflict, "node %s is registered in site %s, not %s", rec.ID, old.Site, rec.Site)
	}
	if old == nil || old.RaftAddr != rec.RaftAddr || old.RPCAddr != rec.RPCAddr || len(old.Drives) != len(rec.Drives) || fmt.Sprint(old.S3Addrs) != fmt.Sprint(rec.S3Addrs) ||
		fmt.Sprint(old.MasterKeys) != fmt.Sprint(rec.MasterKeys) || old.CommandLevel != rec.CommandLevel || old.Version != rec.Version {
		if old != nil {
			rec.Joined = old.Joined
		}
		res, err := n.propose(ctx, meta.NewCommand((*meta.RegisterNode)(&rec)))
		if err != nil {
			return err
		}
		if res.Err != nil {
			return res.Err
		}
	}
	return n.addToRaft(ctx, rec)
}

// addToRaft makes a member a voter or non-voter, on the leader (forwarding
// the join there otherwise).
func (n *Node) addToRaft(ctx context.Context, rec meta.Node) error {
	if !n.store.IsLeader() {
		addr, err := n.leaderRPC()
		if err != nil {
			return err
		}
		return n.rpc.Join(ctx, addr, rec)
	}
	servers, err := n.store.Servers()
	if err != nil {
		return err
	}
	voter := n.shouldVote(rec, servers)
	return n.store.AddServer(rec.ID, rec.RaftAddr, voter)
}

// shouldVote decides the suffrage of a member: voters spread over sites.
func (n *Node) shouldVote(rec meta.Node, servers []raft.Server) bool {
	site := map[string]string{}
	n.store.FSM.View(func(r *meta.Reader) error {
		nodes, _ := r.Nodes()
		for _, x := range nodes {
			site[x.ID] = x.Site
		}
		return nil
	})
	voters, sitesWithVoter := 0, map[string]bool{}
	for _, s := range servers {
		if string(s.ID) == rec.ID {
			if s.Suffrage == raft.Voter {
				return true // never demote by rejoining
			}
			continue
		}
		if s.Suffrage == raft.Voter {
			voters++
			sitesWithVoter[site[string(s.ID)]] = true
		}
	}
	if voters >= maxVoters {
		return false
	}
	return !sitesWithVoter[rec.Site] || voters < minVoters
}

// Join handles a node's request to join (rpc.Handler).
func (n *Node) Join(ctx context.Context, rec meta.Node) error {
	if !idPattern.MatchString(rec.ID) || !idPattern.MatchString(rec.Site) || rec.RaftAddr == "" || rec.RPCAddr == "" {
		return errs.Errorf("join", errs.KindInvalidArgument, "bad node record")
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	if !n.store.IsLeader() {
		addr, err := n.leaderRPC()
		if err != nil {
			return err
		}
		return n.rpc.Join(ctx, addr, rec)
	}
	return n.register(ctx, rec)
}

// leaderRPC returns the leader's RPC address.
func (n *Node) leaderRPC() (string, error) {
	id, _ := n.store.Leader()
	if id == "" {
		return "", &errs.Error{Op: "cluster", Kind: errs.KindUnavailable, Msg: "no Raft leader"}
	}
	var addr string
	n.store.FSM.View(func(r *meta.Reader) error {
		if rec, ok, _ := r.Node(id); ok {
			addr = rec.RPCAddr
		}
		return nil
	})
	if addr == "" {
		return "", &errs.Error{Op: "cluster", Kind: errs.KindUnavailable, Msg: "leader " + id + " not known yet"}
	}
	return addr, nil
}

// retryable reports whether an attempt to reach the leader may succeed
// later: no leader, leadership moving, a leader not yet ready, a call cut
// off by its attempt deadline, an outcome unknown (commands are retried
// with their id, so a repeat is answered with the first outcome).
func retryable(err error) bool {
	return errors.Is(err, meta.ErrNotLeader) || errors.Is(err, meta.ErrNotReady) || errors.Is(err, rpc.ErrNotLeader) ||
		errors.Is(err, meta.ErrUncertain) || errs.IsKind(err, errs.KindUnavailable)
}

// Attempt deadlines: how long one call to the leader may take before it is
// given up and tried again. A paused or partitioned leader thus costs a
// request at most one attempt, or less: an attempt is also cut off as soon
// as this node sees the leader change. A read index needs one heartbeat
// round; a command, an append and an fsync on a quorum.
const (
	readIndexAttempt = 2 * time.Second
	applyAttempt     = 4 * time.Second
)

// withLeader runs fn until it succeeds or fails for good, waiting out
// elections, for at most clusterTimeout. Each call of fn gets its own
// deadline (attempt), and is cut off when the leader changes.
func (n *Node) withLeader(ctx context.Context, op string, attempt time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	delay := 10 * time.Millisecond
	for {
		changed := n.store.LeaderChanged()
		actx, acancel := context.WithTimeout(ctx, attempt)
		go func() {
			select {
			case <-changed:
				acancel()
			case <-actx.Done():
			}
		}()
		err := fn(actx)
		acancel()
		if err == nil || !retryable(err) && actx.Err() == nil {
			return err
		}
		if ctx.Err() != nil {
			return &errs.Error{Op: op, Kind: errs.KindUnavailable, Msg: "the metadata cluster did not answer in time", Err: err}
		}
		select {
		case <-changed: // a new leader (or an election): try at once
		case <-ctx.Done():
			return &errs.Error{Op: op, Kind: errs.KindUnavailable, Msg: "the metadata cluster did not answer in time", Err: err}
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// propose applies a command through the leader, wherever it is. The
// command gets an id once; every retry and forward carries it, so the FSM
// applies the command at most once and answers repeats with the first
// outcome.
//
// A nil error means the result is the command's true outcome. An error
// means the outcome is unknown (the command may yet be committed): callers
// must not clean up what a committed command would reference, such as
// shards; the orphan scan collects those if it never commits.
func (n *Node) propose(ctx context.Context, c *meta.Command) (*meta.Result, error) {
	if c.ID.IsZero() {
		rand.Read(c.ID[:])
	}
	if c.Proposed == 0 {
		c.Proposed = time.Now().UnixNano()
	}
	// A kind of command some member's binary does not know waits for its upgrade.
	if err := n.store.FSM.View(func(r *meta.Reader) error { return meta.CheckProposable(r, c) }); err != nil {
		return nil, err
	}
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	var res *meta.Result
	err = n.withLeader(ctx, "propose", applyAttempt, func(ctx context.Context) error {
		if n.store.IsLeader() {
			res, err = n.store.Apply(ctx, data)
			return err
		}
		addr, err := n.leaderRPC()
		if err != nil {
			return err
		}
		res, err = n.rpc.Apply(ctx, addr, data)
		return err
	})
	if err == nil {
		return res, nil
	}
	// Maybe it was committed and only the answer was lost.
	if res, ok := n.outcomeOf(c.ID); ok {
		return res, nil
	}
	return nil, err
}

// outcomeOf asks the metadata, linearizably, whether the command with id
// was applied, and how it ended.
func (n *Node) outcomeOf(id meta.CommandID) (*meta.Result, bool) {
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
	defer cancel()
	if n.linearize(ctx) != nil {
		return nil, false
	}
	var res *meta.Result
	var ok bool
	n.store.FSM.View(func(r *meta.Reader) error {
		res, ok, _ = r.Outcome(id)
		return nil
	})
	return res, ok
}

// linearize waits until this node's metadata reflects every write
// acknowledged anywhere before the call: reads that follow are
// linearizable.
func (n *Node) linearize(ctx context.Context) error { return n.linearizeWith(ctx, n.reads) }

// linearizeAuth is linearize for access-key lookups: they have their own
// batch, so authentication never queues behind a batch of data reads.
func (n *Node) linearizeAuth(ctx context.Context) error { return n.linearizeWith(ctx, n.authReads) }

func (n *Node) linearizeWith(ctx context.Context, b *readBatcher) error {
	if err := n.metaHealthy(); err != nil {
		return err
	}
	idx, err := b.index(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	if err := n.store.WaitApplied(ctx, idx); err != nil {
		return &errs.Error{Op: "read", Kind: errs.KindUnavailable, Msg: "metadata not caught up", Err: err}
	}
	return nil
}

// fetchReadIndex asks the leader (this node or another) for a read index.
func (n *Node) fetchReadIndex(ctx context.Context) (uint64, error) {
	var idx uint64
	err := n.withLeader(ctx, "read", readIndexAttempt, func(ctx context.Context) error {
		var err error
		if n.store.IsLeader() {
			idx, err = n.store.ReadIndex(ctx)
			return err
		}
		addr, err := n.leaderRPC()
		if err != nil {
			return err
		}
		idx, err = n.rpc.ReadIndex(ctx, addr)
		return err
	})
	return idx, err
}

// readBatcher shares read-index requests among concurrent readers: every
// reader waits for a request issued after it arrived (so it sees every
// write acknowledged before it), but one request serves all readers that
// arrived while the previous one was in flight. Under load a linearizable
// read costs a fraction of a round trip to the leader.
type readBatcher struct {
	n       *Node
	mu      sync.Mutex
	waiting []chan readResult
	running bool
}

type readResult struct {
	idx uint64
	err error
}

func (b *readBatcher) index(ctx context.Context) (uint64, error) {
	ch := make(chan readResult, 1)
	b.mu.Lock()
	b.waiting = append(b.waiting, ch)
	if !b.running {
		b.running = true
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case r := <-ch:
		return r.idx, r.err
	case <-ctx.Done():
		return 0, &errs.Error{Op: "read", Kind: errs.KindUnavailable, Err: ctx.Err()}
	}
}

// loop fetches read indexes while readers wait. It ends when none do, and
// when the node closes (its fetch is cut off by the node's context).
func (b *readBatcher) loop() {
	for {
		b.mu.Lock()
		batch := b.waiting
		b.waiting = nil
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(b.n.ctx, clusterTimeout)
		idx, err := b.n.fetchReadIndex(ctx)
		cancel()
		for _, ch := range batch {
			ch <- readResult{idx, err}
		}
	}
}

// Apply applies a forwarded command (rpc.Handler).
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	res, err := n.store.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if hook := n.forwardHook.Load(); hook != nil {
		if c, derr := meta.DecodeCommand(cmd); derr == nil && (*hook)(c) {
			panic(http.ErrAbortHandler) // the connection breaks; the answer is lost
		}
	}
	return meta.EncodeResult(res)
}

// ReadIndex answers a follower's read-index request (rpc.Handler).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) { return n.store.ReadIndex(ctx) }

// Status reports this node (rpc.Handler).
func (n *Node) Status(ctx context.Context) rpc.Status {
	st := rpc.Status{ID: n.cfg.ID, Site: n.cfg.Site, RaftState: n.store.Raft.State().String(),
		Term: n.store.Raft.CurrentTerm(), Applied: n.store.FSM.Applied(), Started: n.started,
		S3Addrs: n.cfg.S3Addrs, GoRoutines: runtime.NumGoroutine()}
	st.Leader, _ = n.store.Leader()
	st.Drives = n.driveStatus()
	if err := n.metaHealthy(); err != nil {
		st.Problem = err.Error()
	}
	return st
}

// driveStatus reports this node's drives with their usage, by id.
func (n *Node) driveStatus() []rpc.DriveStatus {
	ids := make([]string, 0, len(n.drives))
	for id := range n.drives {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]rpc.DriveStatus, 0, len(ids))
	for _, id := range ids {
		d := n.drives[id]
		ds := rpc.DriveStatus{ID: id, Path: d.Path}
		if total, free, err := d.Usage(); err != nil {
			ds.Err = err.Error()
		} else {
			ds.Total, ds.Free = total, free
		}
		out = append(out, ds)
	}
	return out
}

// wrappingKey returns the master key new tenant keys and secrets are
// wrapped with: the cluster's current one (a node started without it
// refuses to start, and a rotation waits until every member has it).
func (n *Node) wrappingKey(ctx context.Context) (*crypt.MasterKey, error) {
	// Linearized: a key wrapped under the master key the cluster just
	// replaced would need another rewrap pass.
	if err := n.linearize(ctx); err != nil {
		return nil, err
	}
	var id string
	n.store.FSM.View(func(r *meta.Reader) error {
		c, ok, err := r.Cluster()
		if ok {
			id = c.MasterKey
		}
		return err
	})
	if id == "" {
		return n.keys.First(), nil // a cluster from before key ids
	}
	if mk, ok := n.keys.Key(id); ok {
		return mk, nil
	}
	return nil, errs.Errorf("wrap", errs.KindUnavailable, "this node lacks the cluster's master key %s", id)
}
