package node

// Membership: a node bootstraps a cluster, joins one, or rejoins with its
// state on disk (telling the others if its addresses moved); the leader
// records members and gives them their place in the Raft group.

import (
	"context"
	"crypto/rand"
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
	if err := n.cons.Linearize(ctx); err != nil {
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
		res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.Init{ID: id, Created: n.now().UnixNano(), KeyCheck: wrapped, MasterKey: mk.ID()}))
		if err != nil {
			return err
		}
		if res.Err != nil && res.Err.Kind != objapi.KindConflict {
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
		var failures []error
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
			failures = append(failures, fmt.Errorf("via %s: %w", m.ID, err))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("node: announcing the new addresses: %w", errors.Join(failures...))
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
		return objapi.Errorf("join", objapi.KindConflict, "node %s is registered in site %s, not %s", rec.ID, old.Site, rec.Site)
	}
	if old == nil || old.RaftAddr != rec.RaftAddr || old.RPCAddr != rec.RPCAddr || len(old.Drives) != len(rec.Drives) || fmt.Sprint(old.S3Addrs) != fmt.Sprint(rec.S3Addrs) ||
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
	return n.addToRaft(ctx, rec)
}

// addToRaft makes a member a voter or non-voter, on the leader (forwarding
// the join there otherwise).
func (n *Node) addToRaft(ctx context.Context, rec meta.Node) error {
	if !n.store.IsLeader() {
		addr, err := n.cons.LeaderRPC()
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
		return objapi.Errorf("join", objapi.KindInvalidArgument, "bad node record")
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	if !n.store.IsLeader() {
		addr, err := n.cons.LeaderRPC()
		if err != nil {
			return err
		}
		return n.rpc.Join(ctx, addr, rec)
	}
	return n.register(ctx, rec)
}
