package meta

// Offline surgery on a stopped node's Raft state, for disaster recovery:
// Recover rewrites the Raft configuration of a surviving member after the
// majority was lost for good (hashicorp/raft's RecoverCluster), and
// RestoreSnapshot makes the state of a member of a new cluster from a
// metadata backup. Both take the files' locks, so they refuse to run
// beside a running kcs server on the same directory.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// Peer is a member of the Raft configuration that Recover or
// RestoreSnapshot sets: a voter.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

// RaftState is what a stopped node's Raft state and metadata hold.
type RaftState struct {
	LastIndex uint64 `json:"last_index"` // the last entry of the log, or the snapshot's
	LastTerm  uint64 `json:"last_term"`
	Applied   uint64 `json:"applied"` // the last entry the metadata database holds
	// Voters and NonVoters are the latest Raft configuration the log or
	// the snapshot holds, committed or not.
	Voters    []Peer `json:"voters"`
	NonVoters []Peer `json:"non_voters,omitempty"`
	Cluster   string `json:"cluster"`
	Nodes     []Node `json:"-"` // the members the metadata records
}

// offline is a stopped node's Raft stores and FSM.
type offline struct {
	dir   string
	fsm   *FSM
	logs  *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
	log   *slog.Logger
}

// openOffline opens the Raft state in dir, which must hold one (raft.db).
func openOffline(dir string, log *slog.Logger) (*offline, error) {
	if log == nil {
		log = slog.Default()
	}
	raftPath := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(raftPath); err != nil {
		return nil, fmt.Errorf("meta: no Raft state in %s (%v): is this the node's --meta-dir?", dir, err)
	}
	fsm, err := OpenFSM(filepath.Join(dir, "fsm.db"), log)
	if err != nil {
		return nil, err
	}
	logs, err := raftboltdb.New(raftboltdb.Options{Path: raftPath, BoltOptions: &bolt.Options{Timeout: LockTimeout}})
	if err != nil {
		fsm.Close()
		return nil, fmt.Errorf("meta: raft log: %w", openError(raftPath, err))
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, hclogger("raft-snapshots", log))
	if err != nil {
		fsm.Close()
		logs.Close()
		return nil, fmt.Errorf("meta: snapshots: %w", err)
	}
	return &offline{dir: dir, fsm: fsm, logs: logs, snaps: snaps, log: log}, nil
}

func (o *offline) close() error {
	return errors.Join(o.logs.Close(), o.fsm.Close())
}

// state reads what the stores hold.
func (o *offline) state() (*RaftState, error) {
	st := &RaftState{Applied: o.fsm.Applied()}
	var conf raft.Configuration
	snaps, err := o.snaps.List()
	if err != nil {
		return nil, fmt.Errorf("meta: list snapshots: %w", err)
	}
	from := uint64(1)
	if len(snaps) > 0 {
		conf = snaps[0].Configuration
		st.LastIndex, st.LastTerm = snaps[0].Index, snaps[0].Term
		from = snaps[0].Index + 1
	}
	last, err := o.logs.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("meta: raft log: %w", err)
	}
	if first, err := o.logs.FirstIndex(); err == nil && first > from {
		from = first
	}
	for i := from; i <= last && last > 0; i++ {
		var l raft.Log
		if err := o.logs.GetLog(i, &l); err != nil {
			return nil, fmt.Errorf("meta: raft log entry %d: %w", i, err)
		}
		st.LastIndex, st.LastTerm = l.Index, l.Term
		if l.Type == raft.LogConfiguration {
			conf = raft.DecodeConfiguration(l.Data)
		}
	}
	for _, s := range conf.Servers {
		p := Peer{ID: string(s.ID), RaftAddr: string(s.Address)}
		if s.Suffrage == raft.Voter {
			st.Voters = append(st.Voters, p)
		} else {
			st.NonVoters = append(st.NonVoters, p)
		}
	}
	err = o.fsm.View(func(r *Reader) error {
		if c, ok, err := r.Cluster(); err != nil {
			return err
		} else if ok {
			st.Cluster = c.ID
		}
		var err error
		st.Nodes, err = r.Nodes()
		return err
	})
	return st, err
}

// InspectRaft reports what the stopped node's state in dir holds.
func InspectRaft(dir string, log *slog.Logger) (*RaftState, error) {
	o, err := openOffline(dir, log)
	if err != nil {
		return nil, err
	}
	st, err := o.state()
	return st, errors.Join(err, o.close())
}

// configuration makes the Raft configuration of peers, all voters, after
// checking that self is one of them and that no id or address repeats.
func configuration(self string, peers []Peer) (raft.Configuration, error) {
	var conf raft.Configuration
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, p := range peers {
		if p.ID == "" || p.RaftAddr == "" {
			return conf, fmt.Errorf("meta: a member needs an id and a Raft address (%q=%q)", p.ID, p.RaftAddr)
		}
		if ids[p.ID] || addrs[p.RaftAddr] {
			return conf, fmt.Errorf("meta: member %s or its address %s is named twice", p.ID, p.RaftAddr)
		}
		ids[p.ID], addrs[p.RaftAddr] = true, true
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
	}
	if !ids[self] {
		return conf, fmt.Errorf("meta: this node (%s) must be one of the members", self)
	}
	// The same order on every member, whichever one lists itself first.
	slices.SortFunc(conf.Servers, func(a, b raft.Server) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return conf, nil
}

// Recover rewrites the Raft configuration of the stopped node self, in
// dir, to peers — the members that survived, self among them — with
// hashicorp/raft's RecoverCluster: every entry of the node's log is
// applied to its metadata, committed or not, a snapshot with the new
// configuration is taken, and the log is emptied. Started again, the node
// (with the other peers, recovered alike) forms a cluster of its own.
//
// Run it on one side only: two groups of survivors recovered separately
// would each go on as the cluster, and their metadata would fork.
func Recover(dir, self string, peers []Peer, log *slog.Logger) (before, after *RaftState, err error) {
	conf, err := configuration(self, peers)
	if err != nil {
		return nil, nil, err
	}
	o, err := openOffline(dir, log)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, o.close()) }()
	if before, err = o.state(); err != nil {
		return nil, nil, err
	}
	if before.LastIndex == 0 {
		return before, nil, fmt.Errorf("meta: %s holds no Raft log or snapshot: nothing to recover", dir)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self)
	rc.Logger = hclogger("raft", o.log)
	snaps, err := o.snaps.List()
	if err != nil {
		return before, nil, err
	}
	rf := &recoveryFSM{FSM: o.fsm}
	if len(snaps) > 0 && o.fsm.Applied() >= snaps[0].Index {
		// The database already holds the snapshot's state and more:
		// restoring the snapshot would only throw that away and apply the
		// entries after it again.
		rf.skipRestore = true
	}
	stop := rf.watch()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(peers[0].RaftAddr))
	defer trans.Close()
	err = raft.RecoverCluster(rc, rf, o.logs, o.logs, o.snaps, trans, conf)
	stop()
	if err != nil {
		return before, nil, fmt.Errorf("meta: recover: %w", err)
	}
	after, err = o.state()
	return before, after, err
}

// recoveryFSM is the FSM as RecoverCluster drives it. RecoverCluster
// applies each entry and ignores the outcome, then snapshots the FSM and
// deletes the log: were the FSM to halt on an entry it cannot apply (its
// disk full, an entry of a newer binary), the entries it did not apply
// would be lost with the log. So a halt ends the recovery before the
// snapshot, with nothing of the Raft state changed.
type recoveryFSM struct {
	*FSM
	skipRestore bool
	mu          sync.Mutex
	failed      error
}

// watch gives up the apply loop when it halts, and records why.
func (f *recoveryFSM) watch() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if err := f.Stalled(); err != nil {
				f.mu.Lock()
				f.failed = err
				f.mu.Unlock()
				f.Abandon()
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (f *recoveryFSM) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *recoveryFSM) Apply(l *raft.Log) any {
	if f.err() != nil {
		return nil
	}
	return f.FSM.Apply(l)
}

func (f *recoveryFSM) Restore(rc io.ReadCloser) error {
	if f.skipRestore {
		return rc.Close()
	}
	return f.FSM.Restore(rc)
}

func (f *recoveryFSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.err(); err != nil {
		return nil, fmt.Errorf("the metadata could not apply every entry of the log (nothing was changed): %w", err)
	}
	s, err := f.FSM.Snapshot()
	if err != nil {
		return nil, err
	}
	return releasing{s}, nil
}

// releasing releases a snapshot once persisted: RecoverCluster never
// calls Release, and the read transaction it holds would keep the
// database from closing.
type releasing struct{ raft.FSMSnapshot }

func (s releasing) Persist(sink raft.SnapshotSink) error {
	defer s.Release()
	return s.FSMSnapshot.Persist(sink)
}

// RestoreSnapshot makes the Raft state of a member of a new cluster in
// dir, which must hold none yet: the metadata database from snap (a
// snapshot of the FSM as StateSnapshot writes it, of size bytes and the
// log entry index)
// and a Raft snapshot of it at that index whose configuration is peers —
// the members of the new cluster, self among them, each restored from the
// same backup with the same peers. Started, each finds the same state at
// the same index and the same configuration: they elect a leader and go on
// from the backup. The metadata must record self and every peer as a node
// (the new cluster's nodes take the old ids). It returns the restored
// state; on an error nothing stays in dir.
func RestoreSnapshot(dir, self string, peers []Peer, index uint64, size int64, snap io.Reader, log *slog.Logger) (st *RaftState, err error) {
	if log == nil {
		log = slog.Default()
	}
	conf, err := configuration(self, peers)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"raft.db", "fsm.db", "snapshots"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("meta: %s already holds metadata (%s): a backup is restored only into an empty --meta-dir", dir, f)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, f := range []string{"raft.db", "fsm.db", "fsm.db.restore", "snapshots"} {
				os.RemoveAll(filepath.Join(dir, f))
			}
		}
	}()
	fsm, err := OpenFSM(filepath.Join(dir, "fsm.db"), log)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, fsm.Close()) }()
	// A database file cut short would be mapped beyond its end when it is
	// opened: its length is checked while it is written.
	if err := fsm.Restore(io.NopCloser(&exactReader{r: snap, want: size})); err != nil {
		return nil, fmt.Errorf("meta: restore the backup's database: %w", err)
	}
	if fsm.Applied() != index {
		return nil, fmt.Errorf("meta: the backup says it holds log entry %d, its database holds %d: it is damaged", index, fsm.Applied())
	}
	st = &RaftState{LastIndex: index, LastTerm: 1, Applied: index}
	err = fsm.View(func(r *Reader) error {
		c, ok, err := r.Cluster()
		if err != nil || !ok {
			return fmt.Errorf("meta: the backup holds no cluster record (%v)", err)
		}
		st.Cluster = c.ID
		st.Nodes, err = r.Nodes()
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		if !slices.ContainsFunc(st.Nodes, func(n Node) bool { return n.ID == p.ID }) {
			var ids []string
			for _, n := range st.Nodes {
				ids = append(ids, n.ID)
			}
			return nil, fmt.Errorf("meta: the backup's cluster has no node %s (it has %v): the new cluster's nodes take the old ones' ids and drives", p.ID, ids)
		}
	}
	st.Voters = peers
	// The Raft snapshot: the configuration as of the snapshot's own
	// index, in term 1 (the new cluster's first; its first election moves
	// on from there).
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, hclogger("raft-snapshots", log))
	if err != nil {
		return nil, fmt.Errorf("meta: snapshots: %w", err)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(peers[0].RaftAddr))
	defer trans.Close()
	sink, err := snaps.Create(1, index, 1, conf, index, trans)
	if err != nil {
		return nil, fmt.Errorf("meta: create the Raft snapshot: %w", err)
	}
	fs, err := fsm.Snapshot()
	if err != nil {
		sink.Cancel()
		return nil, err
	}
	err = fs.Persist(sink) // closes the sink
	fs.Release()
	if err != nil {
		return nil, err
	}
	// An empty log and stable store: the node then counts as having
	// state (a restart, not a new node).
	raftPath := filepath.Join(dir, "raft.db")
	logs, err := raftboltdb.New(raftboltdb.Options{Path: raftPath, BoltOptions: &bolt.Options{Timeout: LockTimeout}})
	if err != nil {
		return nil, fmt.Errorf("meta: raft log: %w", openError(raftPath, err))
	}
	if err := logs.Close(); err != nil {
		return nil, err
	}
	return st, syncDir(dir)
}

// exactReader fails a stream that does not hold exactly want bytes.
type exactReader struct {
	r    io.Reader
	got  int64
	want int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.got += int64(n)
	if e.got > e.want || err == io.EOF && e.got != e.want {
		return n, fmt.Errorf("meta: the snapshot holds %d bytes, %d were announced: it is damaged", e.got, e.want)
	}
	return n, err
}
