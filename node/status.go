package node

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
)

// NodeStatus is one member as the cluster status shows it.
type NodeStatus struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Role      string    `json:"role"` // leader, voter, non-voter, or none (not in the Raft configuration)
	Reachable bool      `json:"reachable"`
	Error     string    `json:"error,omitempty"`
	RaftAddr  string    `json:"raft_addr"`
	RPCAddr   string    `json:"rpc_addr"`
	S3Addrs   []string  `json:"s3_addrs"`
	Applied   uint64    `json:"applied"`
	Started   time.Time `json:"started,omitempty"`
	// ClockOffsetMS is how far the node's wall clock was ahead (negative:
	// behind) of the answering node's, in milliseconds, estimated at the
	// middle of the status request. A node more than a minute ahead of a
	// majority commits nothing (liveness.Tracker.ClockAhead).
	ClockOffsetMS int64             `json:"clock_offset_ms"`
	Drives        []rpc.DriveStatus `json:"drives"`
	// Problem says why a reachable node cannot serve (a full metadata
	// drive); empty when it serves.
	Problem string `json:"problem,omitempty"`
	// Draining is set while the node is being emptied (kcs admin node
	// drain).
	Draining bool `json:"draining,omitempty"`

	moved, movedLastMinute int64 // streams the node re-coded, for Redundancy
}

// SiteStatus groups a site's members.
type SiteStatus struct {
	Name  string       `json:"name"`
	Nodes []NodeStatus `json:"nodes"`
}

// FamilyStatus summarises one family of erasure sets.
type FamilyStatus struct {
	Sites    []string `json:"sites"`
	Geometry string   `json:"geometry"`
	Sets     int      `json:"sets"`
}

// ClusterStatus is what `kcs admin cluster status` shows.
type ClusterStatus struct {
	ClusterID   string         `json:"cluster_id"`
	Leader      string         `json:"leader"`
	Epoch       uint64         `json:"topology_epoch"`
	Sites       []SiteStatus   `json:"sites"`
	Families    []FamilyStatus `json:"layout"`
	GeneratedBy string         `json:"generated_by"`
	// MasterKey is the id of the master key that wraps; MasterKeyPending
	// counts keys an older one still wraps (a rotation in progress).
	MasterKey        string `json:"master_key"`
	MasterKeyPending int    `json:"master_key_pending"`
	// BelowFullProtection counts streams below full protection: written
	// while a site was down, on a draining or removed drive, of an older
	// geometry, or with shards lost while they were written (the leader
	// re-codes or rebuilds them). Redundancy says more.
	BelowFullProtection int               `json:"below_full_protection"`
	Redundancy          *RedundancyStatus `json:"redundancy,omitempty"`
	// Lifecycle reports the lifecycle passes of the leader, where they
	// run (of the node that generated the status if the leader did not
	// answer).
	Lifecycle *LifecycleStatus `json:"lifecycle,omitempty"`
}

// ClusterStatus asks every member for its status.
func (n *Node) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var (
		nodes   []meta.Node
		lay     *meta.Layout
		cid     string
		mkey    string
		pending int
		prot    *meta.Protection
	)
	err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		if nodes, err = r.Nodes(); err != nil {
			return err
		}
		if c, ok, _ := r.Cluster(); ok {
			cid, mkey = c.ID, c.MasterKey
		}
		if pending, err = r.MasterPending(); err != nil {
			return err
		}
		if prot, err = r.Protection(); err != nil {
			return err
		}
		lay, err = r.Layout()
		return err
	})
	if err != nil {
		return nil, err
	}
	servers, _ := n.store.Servers()
	role := map[string]string{}
	for _, s := range servers {
		role[string(s.ID)] = map[raft.ServerSuffrage]string{raft.Voter: "voter", raft.Nonvoter: "non-voter", raft.Staging: "staging"}[s.Suffrage]
	}
	leader, _ := n.store.Leader()
	if leader != "" {
		role[leader] = "leader"
	}
	out := &ClusterStatus{ClusterID: cid, Leader: leader, Epoch: lay.Epoch, GeneratedBy: n.cfg.ID, MasterKey: mkey, MasterKeyPending: pending, BelowFullProtection: int(prot.Below)}
	statuses := make([]NodeStatus, len(nodes))
	var leaderLC *LifecycleStatus // written by the leader's goroutine only
	var wg sync.WaitGroup
	for i, rec := range nodes {
		ns := NodeStatus{ID: rec.ID, Site: rec.Site, Role: role[rec.ID], RaftAddr: rec.RaftAddr, RPCAddr: rec.RPCAddr, S3Addrs: rec.S3Addrs,
			Draining: rec.Draining}
		if ns.Role == "" {
			ns.Role = "none"
		}
		statuses[i] = ns
		wg.Add(1)
		go func(i int, rec meta.Node) {
			defer wg.Done()
			var st rpc.Status
			var err error
			sent := time.Now()
			if rec.ID == n.cfg.ID {
				st = n.Status(ctx)
			} else {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				st, err = n.rpc.Status(cctx, rec.RPCAddr)
				cancel()
			}
			if err != nil {
				statuses[i].Error = err.Error()
				return
			}
			if st.Now != 0 && rec.ID != n.cfg.ID {
				mid := sent.Add(time.Since(sent) / 2)
				statuses[i].ClockOffsetMS = (st.Now - mid.UnixNano()) / int64(time.Millisecond)
			}
			statuses[i].Reachable, statuses[i].Applied, statuses[i].Drives, statuses[i].Started = true, st.Applied, st.Drives, st.Started
			statuses[i].Problem = st.Problem
			if rec.ID == leader && len(st.Lifecycle) > 0 {
				var lc LifecycleStatus
				if json.Unmarshal(st.Lifecycle, &lc) == nil {
					leaderLC = &lc
				}
			}
			statuses[i].moved, statuses[i].movedLastMinute = st.StreamsMoved, st.StreamsMovedLastMinute
		}(i, rec)
	}
	wg.Wait()
	out.Redundancy = redundancyStatus(prot, statuses)
	// The leader's passes, where it answered; this node's otherwise.
	if out.Lifecycle = leaderLC; out.Lifecycle == nil {
		lc := n.LifecycleStatus()
		out.Lifecycle = &lc
	}
	bySite := map[string][]NodeStatus{}
	for _, s := range statuses {
		bySite[s.Site] = append(bySite[s.Site], s)
	}
	names := make([]string, 0, len(bySite))
	for s := range bySite {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		ns := bySite[s]
		sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
		out.Sites = append(out.Sites, SiteStatus{Name: s, Nodes: ns})
	}
	for _, f := range lay.Families {
		out.Families = append(out.Families, FamilyStatus{Sites: f.Sites, Geometry: geometryName(f.K, f.M), Sets: len(f.Sets)})
	}
	return out, nil
}

func geometryName(k, m int) string {
	return "RS(" + strconv.Itoa(k) + "," + strconv.Itoa(m) + ")"
}
