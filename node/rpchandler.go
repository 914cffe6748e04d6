package node

import (
	"context"
	"encoding/json"
	"runtime"
	"sort"

	"github.com/kommunal-cloud/kcs/node/rpc"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// Node's side of the node-to-node protocol (rpc.Handler): what its peers
// ask of it.

// Apply applies a command another node forwarded (rpc.Handler).
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) { return n.cons.Apply(ctx, cmd) }

// ReadIndex answers a follower's read-index request (rpc.Handler).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) { return n.cons.ReadIndex(ctx) }

// Status reports this node (rpc.Handler).
func (n *Node) Status(ctx context.Context) rpc.Status {
	st := rpc.Status{ID: n.cfg.ID, Site: n.cfg.Site, RaftState: n.store.Raft.State().String(),
		Term: n.store.Raft.CurrentTerm(), Applied: n.store.FSM.Applied(), Started: n.started,
		S3Addrs: n.cfg.S3Addrs, GoRoutines: runtime.NumGoroutine(), Now: n.cfg.ReportedClock().UnixNano()}
	st.Leader, _ = n.store.Leader()
	st.Drives = n.driveStatus()
	if err := n.metaHealthy(); err != nil {
		st.Problem = err.Error()
	}
	if rd := n.redundancy; rd != nil {
		st.StreamsMoved, st.StreamsMovedLastMinute = rd.moved.Load(), rd.lastMinute()
	}
	if n.lifecycle != nil {
		st.Lifecycle, _ = json.Marshal(n.LifecycleStatus())
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

// Drive returns one of this node's drives (rpc.Handler).
func (n *Node) Drive(id string) (*shardstore.Drive, bool) {
	d, ok := n.drives[id]
	return d, ok
}
