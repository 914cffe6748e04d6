package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The operators' side of full redundancy: drains, removals, promotions
// and spreads (kcs admin node drain|remove|promote, kcs admin cluster
// spread), and what the cluster status and the metrics show of it. The
// work itself is the leader's (redundancy.go).

// RedundancyStatus is the redundancy part of the cluster status.
type RedundancyStatus struct {
	// StreamsInSetsBelow counts streams on sets below full protection (a
	// degraded family's, a draining or removed drive's, an older
	// geometry's); StreamsWithLostShards those whose shards lost at the
	// write are not rebuilt yet. The cluster status's
	// below_full_protection counts both, each stream once.
	StreamsInSetsBelow    int64 `json:"streams_in_sets_below_full_protection"`
	StreamsWithLostShards int64 `json:"streams_with_lost_shards"`
	// Spreading is set while a spread runs; SpreadLeft counts the streams
	// with full protection outside the current full family (what a spread
	// moves).
	Spreading  bool  `json:"spreading"`
	SpreadLeft int64 `json:"spread_streams_left"`
	// Draining is, for each draining node or drive, the streams that
	// still have a shard on it.
	Draining map[string]int64 `json:"draining,omitempty"`
	// StreamsMoved counts the streams re-coded onto other sets by the
	// nodes that answered, since each started; StreamsMovedLastMinute
	// those of the last minute: how fast the counts above fall.
	StreamsMoved           int64 `json:"streams_moved"`
	StreamsMovedLastMinute int64 `json:"streams_moved_last_minute"`
}

func redundancyStatus(p *meta.Protection, nodes []NodeStatus) *RedundancyStatus {
	out := &RedundancyStatus{StreamsInSetsBelow: p.InBelowSets, StreamsWithLostShards: p.LostShards, Spreading: p.Spreading,
		SpreadLeft: p.Outside}
	if len(p.Draining) > 0 {
		out.Draining = p.Draining
	}
	for _, s := range nodes {
		out.StreamsMoved += s.moved
		out.StreamsMovedLastMinute += s.movedLastMinute
	}
	return out
}

// protection reads the metadata's counts of streams to move.
func (n *Node) protection() (*meta.Protection, error) {
	var p *meta.Protection
	err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		p, err = r.Protection()
		return err
	})
	return p, err
}

// redundancyMetrics fills the metrics of full redundancy: the counts from
// the metadata (a few set rows and the degraded index, cheap enough for
// every scrape) and this node's moves.
func (n *Node) redundancyMetrics(m *Metrics) {
	if rd := n.redundancy; rd != nil {
		m.StreamsMoved, m.StreamMovedBytes, m.StreamMovesFailed = rd.moved.Load(), rd.movedBytes.Load(), rd.failed.Load()
	}
	p, err := n.protection()
	if err != nil {
		n.log.Warn("metrics: counting the streams below full protection", "err", err)
		return
	}
	m.BelowFullProtection, m.StreamsOutsideFamily = int(p.Below), p.Outside
	for _, left := range p.Draining {
		m.StreamsDraining += left
	}
}

// DrainReport answers a drain request.
type DrainReport struct {
	Node     string `json:"node"`
	Drive    string `json:"drive,omitempty"`
	Draining bool   `json:"draining"`
	// StreamsLeft counts the streams with a shard on the node (or drive)
	// still to move.
	StreamsLeft int64 `json:"streams_left"`
}

// DrainNode starts (or, with cancel, ends) the drain of a member or, with
// drive (its id NODE/INDEX, or the index), of one of its drives: no new
// shards go there, and the leader moves every stream with a shard there
// onto sets without it, keeping full protection. A drained node can be
// removed (RemoveNode); a drained drive holds nothing.
func (n *Node) DrainNode(ctx context.Context, id, drive string, cancel bool) (*DrainReport, error) {
	const op = "DrainNode"
	if drive != "" && !strings.Contains(drive, "/") {
		drive = id + "/" + drive
	}
	if drive != "" && nodeOfDrive(drive) != id {
		return nil, objapi.Errorf(op, objapi.KindInvalidArgument, "drive %s is not one of node %s's", drive, id)
	}
	cmd := &meta.SetDraining{Node: id, Drive: drive, Draining: !cancel}
	if _, err := n.commit(ctx, op, "", "", meta.NewCommand(cmd), nil); err != nil {
		return nil, fmt.Errorf("drain %s: %w", orDrive(id, drive), err)
	}
	out := &DrainReport{Node: id, Drive: drive, Draining: !cancel}
	// The counts as of the drain's commit, which this node may not have
	// applied yet.
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	p, err := n.protection()
	if err != nil {
		return nil, err
	}
	out.StreamsLeft = p.Draining[orDrive(id, drive)]
	if cancel {
		n.log.Info("drain ended", "node", id, "drive", drive)
	} else {
		n.log.Info("drain started: streams move off", "node", id, "drive", drive, "streams", out.StreamsLeft)
	}
	return out, nil
}

func orDrive(node, drive string) string {
	if drive != "" {
		return drive
	}
	return node
}

// RemovalReport says what removing a member does: how many streams still
// have a shard on it, which of them would be lost (fewer than k of their
// shards elsewhere), and why a removal is refused.
type RemovalReport struct {
	Node     string `json:"node"`
	Site     string `json:"site"`
	Draining bool   `json:"draining"`
	// StreamsOnNode counts the streams with a shard on the node: they
	// lose that shard with it (--force), and are re-coded from the
	// others if at least k are left.
	StreamsOnNode int64 `json:"streams_on_node"`
	// Lost names the objects and upload parts a removal would lose (at
	// most maxLostListed; LostCount counts them all).
	Lost      []string `json:"lost,omitempty"`
	LostCount int64    `json:"lost_count"`
	// Refused says why a removal is refused now; empty when it is not.
	Refused string `json:"refused,omitempty"`
	// Removed is set once the node is out of the cluster.
	Removed bool `json:"removed"`
}

// maxLostListed bounds the streams a removal report names.
const maxLostListed = 1000

// RemovalPlan reports what removing member id would do, without doing it.
func (n *Node) RemovalPlan(ctx context.Context, id string) (*RemovalReport, error) {
	rep, _, err := n.removalPlan(ctx, id)
	return rep, err
}

// removalPlan is RemovalPlan, and the reason a removal is refused even
// with force (the site's voter), if any.
func (n *Node) removalPlan(ctx context.Context, id string) (*RemovalReport, string, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, "", err
	}
	rep := &RemovalReport{Node: id}
	var nodes []meta.Node
	err := n.store.FSM.View(func(r *meta.Reader) error {
		rec, ok, err := r.Node(id)
		if err != nil {
			return err
		}
		if !ok {
			return objapi.Errorf("RemoveNode", objapi.KindInvalidArgument, "no member %s", id)
		}
		rep.Site, rep.Draining = rec.Site, rec.Draining
		if nodes, err = r.Nodes(); err != nil {
			return err
		}
		drives := make([]string, len(rec.Drives))
		for i, d := range rec.Drives {
			drives[i] = d.ID
		}
		if rep.StreamsOnNode, err = r.StreamsOn(drives); err != nil {
			return err
		}
		return n.lossOf(r, id, drives, rep)
	})
	if err != nil {
		return nil, "", err
	}
	voter := n.voterRefusal(id, rep.Site, nodes)
	switch {
	case voter != "":
		rep.Refused = voter
	case rep.StreamsOnNode > 0:
		rep.Refused = fmt.Sprintf("node %s still holds shards of %d streams: drain it first (kcs admin node drain %s) and wait until none are left, or remove it with --force",
			id, rep.StreamsOnNode, id)
	}
	return rep, voter, nil
}

// lossOf finds the streams with a shard on drives that would keep fewer
// than k readable shards without them: shards on removed members, and
// shards lost at the write and not rebuilt, do not count.
func (n *Node) lossOf(r *meta.Reader, id string, drives []string, rep *RemovalReport) error {
	sets, err := r.SetsOn(drives)
	if err != nil {
		return err
	}
	members := map[string]bool{}
	nodes, err := r.Nodes()
	if err != nil {
		return err
	}
	for _, m := range nodes {
		if m.ID != id {
			members[m.ID] = true
		}
	}
	for _, set := range sets {
		var after []byte
		for {
			ids := r.SetStreams(set.ID, after, 1000)
			if len(ids) == 0 {
				break
			}
			after = ids[len(ids)-1]
			for _, dataID := range ids {
				s, ok, err := r.Stream(dataID)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				var lost []int
				if d, ok, err := r.DegradedOf(dataID); err != nil {
					return err
				} else if ok {
					lost = d
				}
				left := 0
				for i, d := range s.Part.Drives {
					if members[nodeOfDrive(d)] && !slices.Contains(lost, i) {
						left++
					}
				}
				if left >= s.Part.K {
					continue
				}
				rep.LostCount++
				if len(rep.Lost) < maxLostListed {
					rep.Lost = append(rep.Lost, s.Where())
				}
			}
		}
	}
	return nil
}

// voterRefusal says why removing member id would hurt the metadata's
// quorum: it is its site's only Raft voter while the site has other
// members (one of them must be promoted first), or the last voter.
func (n *Node) voterRefusal(id, site string, nodes []meta.Node) string {
	servers, err := n.store.Servers()
	if err != nil {
		return fmt.Sprintf("the Raft configuration cannot be read: %v", err)
	}
	siteOf := map[string]string{}
	for _, m := range nodes {
		siteOf[m.ID] = m.Site
	}
	isVoter, voters, siteVoters := false, 0, 0
	for _, s := range servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		if string(s.ID) == id {
			isVoter = true
			continue
		}
		voters++
		if siteOf[string(s.ID)] == site {
			siteVoters++
		}
	}
	if !isVoter {
		return ""
	}
	if voters == 0 {
		return fmt.Sprintf("node %s is the cluster's only Raft voter: promote another member first (kcs admin node promote ID)", id)
	}
	var others []string
	for _, m := range nodes {
		if m.Site == site && m.ID != id {
			others = append(others, m.ID)
		}
	}
	if siteVoters == 0 && len(others) > 0 {
		return fmt.Sprintf("node %s is the only Raft voter of site %s, whose other members (%s) would have none: promote one of them first (kcs admin node promote %s), then remove %s",
			id, site, strings.Join(others, ", "), others[0], id)
	}
	return ""
}

// RemoveNode takes member id out of the cluster: out of the metadata's
// records and layout (its id can never register again) and out of the
// Raft configuration. Refused while it would leave a site's other members
// without a voter (promote one first), and, without force, while any
// stream has a shard on it (drain it first). With force it goes anyway;
// the report names what is lost (streams with fewer than k shards
// elsewhere) — ask for RemovalPlan first to see it before acting.
func (n *Node) RemoveNode(ctx context.Context, id string, force bool) (*RemovalReport, error) {
	const op = "RemoveNode"
	rep, voter, err := n.removalPlan(ctx, id)
	if err != nil {
		return nil, err
	}
	// A site's voter is refused even with force: force is about data.
	if voter != "" || rep.Refused != "" && !force {
		return rep, objapi.Errorf(op, objapi.KindConflict, "%s", rep.Refused)
	}
	if force && rep.StreamsOnNode > 0 {
		n.log.Warn("removing a member that still holds shards (--force)", "node", id, "streams", rep.StreamsOnNode, "lost", rep.LostCount)
	}
	cmd := &meta.RemoveNode{Node: id, Force: force, Removed: n.now().UnixNano()}
	if _, err := n.commit(ctx, op, "", "", meta.NewCommand(cmd), nil); err != nil {
		return rep, fmt.Errorf("remove %s: %w", id, err)
	}
	n.log.Info("member removed from the cluster", "node", id, "site", rep.Site, "forced", force)
	// The leader takes it out of the Raft configuration on applying the
	// removal; wait until this node sees it.
	for ctx.Err() == nil {
		servers, err := n.store.Servers()
		if err == nil && !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id }) {
			rep.Removed, rep.Refused = true, ""
			return rep, nil
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			break
		}
	}
	return rep, objapi.Errorf(op, objapi.KindUnavailable, "%s is out of the metadata's records, but still in the Raft configuration: the leader takes it out (kcs admin cluster status shows it)", id)
}

// PromoteNode makes member id a Raft voter: the way to give a site
// another voter before its only one is removed. The member must answer.
func (n *Node) PromoteNode(ctx context.Context, id string) error {
	const op = "PromoteNode"
	var rec *meta.Node
	var ok bool
	if err := n.cons.Linearize(ctx); err != nil {
		return err
	}
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		rec, ok, err = r.Node(id)
		return err
	}); err != nil {
		return err
	}
	if !ok {
		return objapi.Errorf(op, objapi.KindInvalidArgument, "no member %s", id)
	}
	if !n.live.IsUp(id) {
		return objapi.Errorf(op, objapi.KindUnavailable, "member %s does not answer: a voter that is down weakens the quorum", id)
	}
	if _, err := n.commit(ctx, op, "", "", meta.NewCommand(&meta.PromoteNode{Node: id}), nil); err != nil {
		return fmt.Errorf("promote %s: %w", id, err)
	}
	for ctx.Err() == nil {
		servers, err := n.store.Servers()
		if err == nil && slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id && s.Suffrage == raft.Voter }) {
			n.log.Info("member is a voter", "node", id, "site", rec.Site)
			return nil
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			break
		}
	}
	return objapi.Errorf(op, objapi.KindUnavailable, "the promotion of %s is recorded; the leader makes it a voter (kcs admin cluster status shows its role)", id)
}

// SpreadReport answers a spread request.
type SpreadReport struct {
	Spreading bool `json:"spreading"`
	// StreamsLeft counts the streams outside the current full family.
	StreamsLeft int64 `json:"streams_left"`
}

// Spread starts (or, with stop, ends) a spread: the leader moves every
// stream that lives outside the current full family — written before
// nodes, drives or sites were added — onto its sets, paced, so that a
// cluster that grew holds its data on all of its capacity.
func (n *Node) Spread(ctx context.Context, stop bool) (*SpreadReport, error) {
	const op = "Spread"
	if _, err := n.commit(ctx, op, "", "", meta.NewCommand(&meta.Spread{Stop: stop}), nil); err != nil {
		return nil, fmt.Errorf("spread: %w", err)
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	p, err := n.protection()
	if err != nil {
		return nil, err
	}
	n.log.Info("spread", "started", !stop, "streams", p.Outside)
	return &SpreadReport{Spreading: p.Spreading, StreamsLeft: p.Outside}, nil
}
