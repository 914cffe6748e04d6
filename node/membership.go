package node

// Membership: a node bootstraps a cluster, joins one, or rejoins with its
// state on disk (telling the others if its addresses moved); the leader
// records members and gives them their place in the Raft group.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/consensus"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/rpc"
	"github.com/kommunal-cloud/kcs/node/transport"
)

// Voters are spread over the sites: one per site first, at most maxVoters,
// and at least minVoters where there are that many nodes (so that a one- or
// two-site cluster of three nodes still tolerates a node loss).
const (
	maxVoters = 5
	minVoters = 3
)

// clusterTimeout bounds how long a request waits for the metadata cluster.
const clusterTimeout = consensus.Timeout

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
// restart) rejoins with the Raft state on disk. A joining node enters as
// a non-voter, after proving the cluster's master key, and asks for its
// vote once it has caught up: a join that fails at any step costs no
// quorum. Without a leader (every node restarting after a power cut) it
// waits, saying so, until one is elected or it is stopped.
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
		return errors.New("node: a new node needs --bootstrap (the first node of a new cluster) or --join ADDR (the RPC address of a member)")
	}
	// Wait for the metadata to reach this node, then check the master key.
	if err := n.awaitCluster(ctx); err != nil {
		return err
	}
	if err := n.checkMasterKey(); err != nil {
		return err
	}
	if !hasState && n.cfg.Join != "" {
		// Caught up: now it may vote.
		if err := n.promoteSelf(ctx); err != nil {
			return err
		}
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

// backoff returns the wait before retry number attempt (from 1): doubling
// from one second up to half a minute.
func backoff(attempt int) time.Duration {
	return min(time.Second<<min(attempt-1, 5), 30*time.Second)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// awaitCluster waits until this node has the metadata up to the leader's
// commit index (a read index), however long the cluster takes to elect a
// leader: after a power cut of every site each node must wait for the
// others, not exit. It says so while it waits.
func (n *Node) awaitCluster(ctx context.Context) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		// Each attempt is short, so that the wait is reported while it
		// lasts.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.cons.Linearize(cctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				n.log.Info("the metadata cluster answers again", "waited", time.Since(start).Round(time.Second))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("node: stopped while waiting for the metadata cluster: %w", err)
		}
		n.log.Warn("waiting for the metadata cluster: no leader reachable yet; a majority of the voters must be up. Retrying",
			"waited", time.Since(start).Round(time.Second), "voters", n.voterList(), "err", err)
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("node: stopped while waiting for the metadata cluster: %w", err)
		}
	}
}

// voterList names the voters of the Raft configuration as this node has it.
func (n *Node) voterList() string {
	servers, err := n.store.Servers()
	if err != nil {
		return "?"
	}
	var out []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			out = append(out, string(s.ID))
		}
	}
	return strings.Join(out, ",")
}

// promoteSelf asks the leader for this node's vote, now that it has caught
// up; the leader gives it if the site spread wants another voter.
func (n *Node) promoteSelf(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, clusterTimeout)
		req, err := n.selfJoin(true)
		if err == nil {
			err = n.register(cctx, req)
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("node: stopped while asking for its vote: %w", err)
		}
		n.log.Warn("caught up with the cluster; asking for this node's vote failed, retrying", "err", err)
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

func (n *Node) initCluster(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for !n.store.IsLeader() {
		if time.Now().After(deadline) {
			return errors.New("node: bootstrap: no leadership")
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("node: bootstrap: %w", err)
		}
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
		res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.Init{ID: id, Created: n.now().UnixNano(), KeyCheck: wrapped, MasterKey: mk.ID()}))
		if err != nil {
			return err
		}
		if res.Err != nil && res.Err.Kind != objapi.KindConflict {
			return res.Err
		}
	}
	req, err := n.selfJoin(true)
	if err != nil {
		return err
	}
	return n.register(ctx, req)
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

// joinVia joins the cluster of the member at addr: it fetches the
// cluster's identity, proves its master key against the key check, and
// asks to be added as a non-voter. Errors no retry mends (another master
// key or cluster secret, an address that is no RPC port) end the start
// with what to do; the cluster being unreachable or without a leader is
// retried, backed off and said, until the node is stopped.
func (n *Node) joinVia(ctx context.Context, addr string) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.joinOnce(cctx, addr)
		cancel()
		if err == nil {
			n.log.Info("joined the cluster as a non-voter; catching up", "via", addr)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("node: stopped while joining via %s: %w", addr, err)
		}
		hint, permanent := joinHint(addr, err)
		if permanent {
			return fmt.Errorf("node: join via %s: %s", addr, hint)
		}
		n.log.Warn("join: retrying", "via", addr, "problem", hint, "waited", time.Since(start).Round(time.Second), "attempt", attempt)
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("node: stopped while joining via %s: %w", addr, err)
		}
	}
}

// errKeyMismatch is a master key that is not the cluster's.
var errKeyMismatch = errors.New("the master key differs from the cluster's")

func (n *Node) joinOnce(ctx context.Context, addr string) error {
	id, err := n.rpc.Identity(ctx, addr)
	if err != nil {
		return err
	}
	check, err := n.keys.UnwrapSecret(id.KeyCheck, crypt.SecretOwner("key-check", id.ClusterID))
	if err != nil {
		if _, ok := n.keys.Key(id.MasterKey); id.MasterKey != "" && !ok {
			return fmt.Errorf("%w: the cluster's master key is %s, this node was given %s (--master-key-file)", errKeyMismatch, id.MasterKey, strings.Join(n.keys.IDs(), ", "))
		}
		return fmt.Errorf("%w: this node's key (%s) cannot open the cluster's key check (--master-key-file)", errKeyMismatch, strings.Join(n.keys.IDs(), ", "))
	}
	rec := n.self()
	t := n.now().UnixNano()
	return n.rpc.Join(ctx, addr, rpc.JoinRequest{Node: rec, Proof: joinProof(check, rec, t), Time: t})
}

// joinHint says what a join error means for an operator, and whether a
// retry can mend it.
func joinHint(addr string, err error) (string, bool) {
	msg := err.Error()
	var rh tls.RecordHeaderError
	switch {
	case errors.Is(err, errKeyMismatch):
		return err.Error() + "; refusing to join (nothing was recorded)", true
	case objapi.IsKind(err, objapi.KindAccessDenied):
		return "the cluster refused this node: " + msg, true
	case errors.Is(err, transport.ErrAuth):
		return "the cluster secret differs from the member's (--cluster-secret-file): the connection was refused", true
	case errors.As(err, &rh) || strings.Contains(msg, "does not look like a TLS handshake") || strings.Contains(msg, "HTTP response"):
		return addr + " is not a kcs RPC port: something else answered there (the S3 port?); give a member's --rpc-addr", true
	case strings.Contains(msg, "malformed HTTP") || strings.Contains(msg, "is no cluster identity"):
		return addr + " answered, but not as a kcs RPC port (the Raft port?); give a member's --rpc-addr", true
	case strings.Contains(msg, "connection refused"):
		return "nothing listens at " + addr + " (is the member up, and is this its --rpc-addr?)", false
	case strings.Contains(msg, "no such host"):
		return "the host of " + addr + " is unknown (DNS)", false
	case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
		return addr + " does not answer (down, or a firewall drops the traffic)", false
	}
	return msg, false
}

// joinProof is what a joining node shows for its master key: an HMAC
// under the cluster's unwrapped key check over its record and the time.
func joinProof(check []byte, rec meta.Node, t int64) []byte {
	m := hmac.New(sha256.New, check)
	fmt.Fprintf(m, "kcs-join-v1\n%s\n%s\n%s\n%s\n%d", rec.ID, rec.Site, rec.RaftAddr, rec.RPCAddr, t)
	return m.Sum(nil)
}

// joinProofSkew is how far a join proof's time may be from the member's
// clock: the proof travels over authenticated connections only, so this
// bounds only the replay of a request a member itself saw.
const joinProofSkew = 2 * time.Minute

// keyCheck returns the cluster's id and unwrapped key check.
func (n *Node) keyCheck() (string, []byte, error) {
	var id string
	var check []byte
	err := n.store.FSM.View(func(r *meta.Reader) error {
		c, ok, err := r.Cluster()
		if err != nil || !ok {
			return objapi.Errorf("join", objapi.KindUnavailable, "this node has no cluster yet (%v)", err)
		}
		id = c.ID
		check, err = n.keys.UnwrapSecret(c.KeyCheck, crypt.SecretOwner("key-check", c.ID))
		return err
	})
	return id, check, err
}

// selfJoin is this node's own join request, proven with its key.
func (n *Node) selfJoin(ready bool) (rpc.JoinRequest, error) {
	_, check, err := n.keyCheck()
	if err != nil {
		return rpc.JoinRequest{}, err
	}
	rec, t := n.self(), n.now().UnixNano()
	return rpc.JoinRequest{Node: rec, Proof: joinProof(check, rec, t), Time: t, Ready: ready}, nil
}

// verifyJoin checks a join request's proof of the master key. A request
// without one (a binary before checked joins) is taken only from a node
// already in the Raft configuration: it proved its key when it joined.
func (n *Node) verifyJoin(req rpc.JoinRequest) error {
	if len(req.Proof) == 0 {
		servers, err := n.store.Servers()
		if err != nil {
			return err
		}
		for _, s := range servers {
			if string(s.ID) == req.Node.ID {
				return nil
			}
		}
		return objapi.Errorf("join", objapi.KindAccessDenied, "node %s brought no proof of the master key (upgrade its kcs binary)", req.Node.ID)
	}
	_, check, err := n.keyCheck()
	if err != nil {
		return err
	}
	if d := n.now().Sub(time.Unix(0, req.Time)); d > joinProofSkew || d < -joinProofSkew {
		return objapi.Errorf("join", objapi.KindAccessDenied, "node %s's join proof is %v old: check both clocks (NTP)", req.Node.ID, d.Round(time.Second))
	}
	if !hmac.Equal(req.Proof, joinProof(check, req.Node, req.Time)) {
		return objapi.Errorf("join", objapi.KindAccessDenied, "node %s does not hold the cluster's master key", req.Node.ID)
	}
	return nil
}

// Identity returns the cluster's identity to a joining node (rpc.Handler).
func (n *Node) Identity(context.Context) (rpc.Identity, error) {
	var id rpc.Identity
	err := n.store.FSM.View(func(r *meta.Reader) error {
		c, ok, err := r.Cluster()
		if err != nil || !ok {
			return objapi.Errorf("identity", objapi.KindUnavailable, "this node has no cluster yet (%v)", err)
		}
		id = rpc.Identity{ClusterID: c.ID, KeyCheck: c.KeyCheck, MasterKey: c.MasterKey}
		return nil
	})
	return id, err
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
	// Not ready: the vote it has stays, one it lacks waits for reregister,
	// after it has caught up. The proof is made per attempt below: a node
	// stopped just after a master key rotation, before it applied the
	// rewrapped key check, cannot open its own copy with the new key
	// alone. Its request then goes without a proof, which members take
	// only from a node already in the Raft configuration; its key is
	// checked once it has caught up (checkMasterKey).
	req := rpc.JoinRequest{Node: n.self()}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		req.Time = n.now().UnixNano()
		req.Proof = nil
		if _, check, err := n.keyCheck(); err == nil {
			req.Proof = joinProof(check, req.Node, req.Time)
		}
		if n.store.IsLeader() {
			// Elected meanwhile (its log is as long as anyone's): the
			// others follow it, but forward to the old address.
			cctx, cancel := context.WithTimeout(ctx, clusterTimeout)
			err := n.register(cctx, req)
			cancel()
			if err == nil {
				return nil
			}
		}
		var failures []error
		if attempt > 1 {
			// The members' records as they are now: after a restore from
			// a backup they name old addresses until each member has
			// registered its new ones.
			n.store.FSM.View(func(r *meta.Reader) error {
				members, _ = r.Nodes()
				return nil
			})
		}
		for _, m := range members {
			if m.ID == n.cfg.ID {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := n.rpc.Join(cctx, m.RPCAddr, req)
			cancel()
			if err == nil {
				return nil
			}
			failures = append(failures, fmt.Errorf("via %s: %w", m.ID, err))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("node: stopped while announcing the new addresses: %w", errors.Join(failures...))
		}
		n.log.Warn("no member took the new addresses yet (a majority must be up); retrying", "waited", time.Since(start).Round(time.Second), "err", errors.Join(failures...))
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("node: stopped while announcing the new addresses: %w", err)
		}
	}
}

func (n *Node) reregister() {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(n.ctx, clusterTimeout)
		req, err := n.selfJoin(true)
		if err == nil {
			err = n.register(ctx, req)
		}
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

// register records a member and gives it its place in the Raft group:
// a vote only once it is ready (caught up).
func (n *Node) register(ctx context.Context, req rpc.JoinRequest) error {
	rec := req.Node
	var old *meta.Node
	n.store.FSM.View(func(r *meta.Reader) error {
		if o, ok, _ := r.Node(rec.ID); ok {
			old = o
		}
		return nil
	})
	if old != nil && old.Site != rec.Site {
		return objapi.Errorf("join", objapi.KindConflict, "node %s is registered in site %s, not %s", rec.ID, old.Site, rec.Site)
	}
	if old == nil || old.RaftAddr != rec.RaftAddr || old.RPCAddr != rec.RPCAddr || fmt.Sprint(old.Drives) != fmt.Sprint(rec.Drives) || fmt.Sprint(old.S3Addrs) != fmt.Sprint(rec.S3Addrs) ||
		fmt.Sprint(old.MasterKeys) != fmt.Sprint(rec.MasterKeys) || old.CommandLevel != rec.CommandLevel || old.Version != rec.Version {
		if old != nil {
			rec.Joined = old.Joined
		}
		res, err := n.cons.Propose(ctx, meta.NewCommand((*meta.RegisterNode)(&rec)))
		if err != nil {
			return err
		}
		if res.Err != nil {
			return res.Err
		}
	}
	return n.addToRaft(ctx, req)
}

// addToRaft makes a member a voter or non-voter, on the leader (forwarding
// the request there otherwise).
func (n *Node) addToRaft(ctx context.Context, req rpc.JoinRequest) error {
	if !n.store.IsLeader() {
		addr, err := n.cons.LeaderRPC()
		if err != nil {
			return err
		}
		return n.rpc.Join(ctx, addr, req)
	}
	servers, err := n.store.Servers()
	if err != nil {
		return err
	}
	voter := n.shouldVote(req.Node, servers, req.Ready)
	if voter {
		n.log.Info("member gets a vote", "member", req.Node.ID, "site", req.Node.Site)
	}
	return n.store.AddServer(req.Node.ID, req.Node.RaftAddr, voter)
}

// shouldVote decides the suffrage of a member: voters spread over sites,
// and only members that have caught up (ready) get a vote.
func (n *Node) shouldVote(rec meta.Node, servers []raft.Server, ready bool) bool {
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
		if !ready {
			continue
		}
		if s.Suffrage == raft.Voter {
			voters++
			sitesWithVoter[site[string(s.ID)]] = true
		}
	}
	if !ready || voters >= maxVoters {
		return false
	}
	return !sitesWithVoter[rec.Site] || voters < minVoters
}

// Join handles a node's request to join, or to get its vote
// (rpc.Handler). The proof of the master key is checked before anything
// about the node is committed.
func (n *Node) Join(ctx context.Context, req rpc.JoinRequest) error {
	rec := req.Node
	if !idPattern.MatchString(rec.ID) || !idPattern.MatchString(rec.Site) || rec.RaftAddr == "" || rec.RPCAddr == "" {
		return objapi.Errorf("join", objapi.KindInvalidArgument, "bad node record")
	}
	if err := n.verifyJoin(req); err != nil {
		n.log.Warn("join refused", "joining", rec.ID, "site", rec.Site, "rpc", rec.RPCAddr, "err", err)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	if !n.store.IsLeader() {
		addr, err := n.cons.LeaderRPC()
		if err != nil {
			return err
		}
		return n.rpc.Join(ctx, addr, req)
	}
	return n.register(ctx, req)
}
