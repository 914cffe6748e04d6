package meta

import (
	"encoding/binary"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// StateSnapshot is the FSM's state at one applied index, for a metadata
// backup: a read transaction, streamed in the format of Raft snapshots
// (snapshotMagic ‖ the bbolt file), so that a backup restores through the
// same Restore as a snapshot a leader sends. Writers go on meanwhile; only
// a database rewrite (a shred's compaction) waits until it is closed.
type StateSnapshot struct {
	tx      *bolt.Tx
	applied uint64
	cluster string
	master  string
	size    int64
}

// OpenStateSnapshot opens a snapshot of the current state. Close it.
func (f *FSM) OpenStateSnapshot() (*StateSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("meta: state snapshot: %w", err)
	}
	s := &StateSnapshot{tx: tx, size: int64(len(snapshotMagic)) + tx.Size()}
	sys := tx.Bucket(bSys)
	if v := sys.Get(kApplied); len(v) == 8 {
		s.applied = binary.BigEndian.Uint64(v)
	}
	c, ok, err := (&Reader{tx: tx}).Cluster()
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("meta: state snapshot: %w", err)
	}
	if ok {
		s.cluster, s.master = c.ID, c.MasterKey
	}
	return s, nil
}

// Applied is the index of the last log entry the state holds.
func (s *StateSnapshot) Applied() uint64 { return s.applied }

// Cluster is the cluster's id ("" before the cluster was initialized).
func (s *StateSnapshot) Cluster() string { return s.cluster }

// MasterKey is the id of the cluster's current master key in the state
// ("" in clusters made before master key ids).
func (s *StateSnapshot) MasterKey() string { return s.master }

// Size is the number of bytes WriteTo writes.
func (s *StateSnapshot) Size() int64 { return s.size }

// WriteTo writes the snapshot: snapshotMagic, then the database file.
func (s *StateSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(snapshotMagic)
	if err != nil {
		return int64(n), err
	}
	m, err := s.tx.WriteTo(w)
	return int64(n) + m, err
}

// Close ends the read transaction.
func (s *StateSnapshot) Close() error { return s.tx.Rollback() }
