package node

import (
	"log/slog"

	"github.com/kommunal-cloud/kcs/node/meta"
)

// Offline disaster recovery on a stopped node's metadata directory (the
// kcs meta commands): node/meta does the work (recover.go there); these
// are its names for cmd/kcs, which speaks to the object layer only.

// RaftPeer is a voter of the Raft configuration a recovery or a restore
// sets: a node id and the Raft address it will be started on.
type RaftPeer = meta.Peer

// RaftState is what a stopped node's Raft state and metadata hold.
type RaftState = meta.RaftState

// InspectMeta reports what the stopped node's metadata directory holds.
func InspectMeta(dir string, log *slog.Logger) (*RaftState, error) {
	return meta.InspectRaft(dir, log)
}

// RecoverMeta makes the stopped node self a member of a cluster of peers
// alone (self among them), after the Raft majority was lost for good:
// every entry of its log is applied, committed or not, and its Raft
// configuration becomes peers (meta.Recover). Run it on the survivors of
// one side only.
func RecoverMeta(dir, self string, peers []RaftPeer, log *slog.Logger) (before, after *RaftState, err error) {
	return meta.Recover(dir, self, peers, log)
}
