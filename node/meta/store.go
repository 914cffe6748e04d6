package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// ErrNotLeader is returned by leader-only calls on a follower. Callers
// forward to the leader instead.
var ErrNotLeader = errors.New("meta: not the Raft leader")

// ErrNotReady is returned while a new leader has not yet applied what
// earlier leaders committed; reads must wait.
var ErrNotReady = errors.New("meta: leader not ready for linearizable reads")

// StoreConfig configures a Store.
type StoreConfig struct {
	ID        string
	Dir       string       // raft log, stable store, snapshots and the FSM database
	Listener  net.Listener // authenticated listener for Raft traffic (transport.Security)
	Dial      func(ctx context.Context, addr string) (net.Conn, error)
	Advertise string // the Raft address others reach this node at
	Logger    *slog.Logger
	// Fast shortens Raft's timeouts, for tests and the development cluster.
	Fast bool
}

// Store is a node's member of the Raft group and its FSM.
type Store struct {
	cfg    StoreConfig
	Raft   *raft.Raft
	FSM    *FSM
	logs   *raftboltdb.BoltStore
	stable *patientStable
	snaps  raft.SnapshotStore
	trans  *raft.NetworkTransport
	log    *slog.Logger

	mu            sync.Mutex
	readyTerm     uint64        // the term in which this node, as leader, is ready for reads
	leaderChanged chan struct{} // closed and replaced whenever the known leader changes
	observations  chan raft.Observation
	observer      *raft.Observer
	stop          chan struct{}
	wg            sync.WaitGroup
}

// OpenStore opens the node's Raft state and FSM (creating them if new) and
// starts Raft. It does not bootstrap; see Bootstrap.
func OpenStore(cfg StoreConfig) (*Store, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	fsmPath := filepath.Join(cfg.Dir, "fsm.db")
	_, statErr := os.Stat(fsmPath)
	fsmExisted := statErr == nil
	fsm, err := OpenFSM(fsmPath, log)
	if err != nil {
		return nil, err
	}
	raftPath := filepath.Join(cfg.Dir, "raft.db")
	logs, err := raftboltdb.New(raftboltdb.Options{Path: raftPath, BoltOptions: &bolt.Options{Timeout: LockTimeout}})
	if err != nil {
		fsm.Close()
		return nil, fmt.Errorf("meta: raft log: %w", openError(raftPath, err))
	}
	// One snapshot is kept: a second, older one would keep a deleted
	// tenant's key after Shred.
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 1, hclogger("raft-snapshots", log))
	if err != nil {
		fsm.Close()
		logs.Close()
		return nil, err
	}
	stream := &streamLayer{Listener: cfg.Listener, dial: cfg.Dial, advertise: cfg.Advertise}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 4,
		// 1 turns pipelined replication off. Its netPipeline can deadlock
		// (a follower answering Success=false ends the response reader
		// while the sender parks on a full in-flight channel): that
		// follower then gets heartbeats but never another entry, and
		// Raft.Shutdown waits forever. Raft's own measurements found
		// pipelining worth little next to batching (hashicorp/raft#541).
		MaxRPCsInFlight: 1,
		Timeout:         10 * time.Second,
		Logger:          hclogger("raft-net", log),
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hclogger("raft", log)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 128
	rc.SnapshotThreshold = 16384
	rc.TrailingLogs = 10240
	// The FSM is on disk and knows what it applied: no need to rebuild it
	// from the last snapshot at every start (only when its database is new).
	rc.NoSnapshotRestoreOnStart = fsmExisted && fsm.Applied() > 0
	if cfg.Fast {
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
		rc.CommitTimeout = 20 * time.Millisecond
	}
	stable := &patientStable{StableStore: logs, stop: make(chan struct{}), log: log}
	r, err := raft.NewRaft(rc, fsm, logs, stable, snaps, trans)
	if err != nil {
		fsm.Close()
		logs.Close()
		trans.Close()
		return nil, fmt.Errorf("meta: start raft: %w", err)
	}
	s := &Store{cfg: cfg, Raft: r, FSM: fsm, logs: logs, stable: stable, snaps: snaps, trans: trans, log: log, stop: make(chan struct{}),
		leaderChanged: make(chan struct{}), observations: make(chan raft.Observation, 16)}
	s.observer = raft.NewObserver(s.observations, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(s.observer)
	s.wg.Add(2)
	go s.watchLeadership()
	go s.watchLeader()
	return s, nil
}

// HasState reports whether this node has Raft state already (a restart).
func (s *Store) HasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.logs, s.snaps)
}

// Bootstrap makes this node the first member of a new cluster.
func (s *Store) Bootstrap() error {
	f := s.Raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(s.cfg.ID), Address: raft.ServerAddress(s.cfg.Advertise),
	}}})
	if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return err
	}
	return nil
}

// Close stops Raft and closes the stores.
func (s *Store) Close() error {
	close(s.stop)
	close(s.stable.stop)
	s.FSM.Abandon()
	s.Raft.DeregisterObserver(s.observer)
	shut := make(chan error, 1)
	go func() { shut <- s.Raft.Shutdown().Error() }()
	var err error
	select {
	case err = <-shut:
	case <-time.After(raftShutdownWait):
		// A safety net: hashicorp/raft has deadlocked its own shutdown
		// (its pipelined replication, now off, left a replication
		// goroutine blocked for good). The process is ending; the stores
		// stay open under the goroutines left behind rather than holding
		// the exit forever.
		s.log.Error("raft did not shut down in time; its stores are left open", "waited", raftShutdownWait)
		s.wg.Wait()
		return fmt.Errorf("meta: raft did not shut down within %s", raftShutdownWait)
	}
	s.wg.Wait()
	s.trans.Close()
	s.logs.Close()
	s.FSM.Close()
	return err
}

// watchLeadership marks this node ready for linearizable reads once, as a
// new leader, it has applied everything committed before its term: a
// barrier in its own term does that.
func (s *Store) watchLeadership() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case isLeader := <-s.Raft.LeaderCh():
			s.mu.Lock()
			s.readyTerm = 0
			s.mu.Unlock()
			if !isLeader {
				continue
			}
			term := s.term()
			go func() {
				if err := s.Raft.Barrier(30 * time.Second).Error(); err != nil {
					s.log.Warn("leader barrier failed", "err", err)
					return
				}
				if s.Raft.State() == raft.Leader && s.term() == term {
					s.mu.Lock()
					s.readyTerm = term
					s.mu.Unlock()
				}
			}()
		}
	}
}

func (s *Store) term() uint64 { return s.Raft.CurrentTerm() }

// watchLeader turns Raft's leader observations into LeaderChanged.
func (s *Store) watchLeader() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.observations:
			s.mu.Lock()
			close(s.leaderChanged)
			s.leaderChanged = make(chan struct{})
			s.mu.Unlock()
		}
	}
}

// LeaderChanged returns a channel that is closed when this node next sees
// the leader change (or an election start): a call waiting on the old
// leader can give up at once and go to the new one.
func (s *Store) LeaderChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderChanged
}

// Shred destroys this node's copies of deleted tenants' keys, once their
// deletion is applied: the FSM database is rewritten without free pages
// (bbolt leaves deleted records' bytes in them), then a snapshot is taken
// with no trailing log entries kept, so that the log entries that carried
// the keys and the snapshot that held them are deleted too. Applies wait
// while the database is rewritten; tenant deletions are rare.
//
// What Shred cannot reach: pages the Raft log store (raft-boltdb) freed
// may keep deleted entries' bytes until bbolt reuses them. Those bytes are
// the tenant keys wrapped by the master key, which never touches a disk.
func (s *Store) Shred() error {
	gen := s.FSM.shredGeneration()
	if err := s.FSM.compact(); err != nil {
		return err
	}
	cfg := s.Raft.ReloadableConfig()
	keepNone := cfg
	keepNone.TrailingLogs = 0
	if err := s.Raft.ReloadConfig(keepNone); err != nil {
		return fmt.Errorf("meta: shred: %w", err)
	}
	err := s.Raft.Snapshot().Error()
	if rerr := s.Raft.ReloadConfig(cfg); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		// ErrNothingNewToSnapshot: a snapshot that kept trailing entries
		// came first; the caller commits an entry and calls again.
		return fmt.Errorf("meta: shred snapshot: %w", err)
	}
	if err := wipeFreePages(s.logs); err != nil {
		return fmt.Errorf("meta: shred log store: %w", err)
	}
	return s.FSM.clearShredPending(gen)
}

// wipeFiller is the size of one filler value: four fit one bbolt page, so
// that every node of fillers is a single page and can take any free page
// (bbolt keeps nodes of up to four keys unsplit; larger values would need
// runs of free pages).
const wipeFiller = 960

// wipeFreePages overwrites the free pages of the Raft log database. bbolt
// frees the pages of deleted log entries without clearing them, so the
// bytes of a compacted entry (a wrapped tenant key) stay in the file until
// the pages are reused. raft-boltdb hides its handle, so this goes through
// its stable store: filler values, one per transaction, until more pages
// were taken than were free (bbolt allocates free pages first, each page
// written whole), then the fillers are emptied, freeing pages that hold
// only zeros. Each step is one fsynced transaction: a few seconds for a
// log of tens of megabytes, on a path taken only by tenant deletions and
// key retirements.
func wipeFreePages(logs *raftboltdb.BoltStore) error {
	st := logs.Stats()
	n := 4*(st.FreePageN+st.PendingPageN) + 64
	filler := make([]byte, wipeFiller)
	key := func(i int) []byte { return fmt.Appendf(nil, "kcs-wipe-%08d", i) }
	for i := range n {
		if err := logs.Set(key(i), filler); err != nil {
			return err
		}
	}
	for i := range n {
		if err := logs.Set(key(i), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// IsLeader reports whether this node leads.
func (s *Store) IsLeader() bool { return s.Raft.State() == raft.Leader }

// Leader returns the leader's id and Raft address, empty if none is known.
func (s *Store) Leader() (id, addr string) {
	a, i := s.Raft.LeaderWithID()
	return string(i), string(a)
}

// ErrUncertain is returned when a command was handed to Raft but its
// outcome is not known: the caller's deadline passed first, or leadership
// was lost after the entry was appended. It may still be committed; a
// retry with the same command id is answered with the first outcome.
var ErrUncertain = errors.New("meta: outcome of the command unknown")

// raftShutdownWait bounds how long Close waits for Raft to stop (see
// Close).
const raftShutdownWait = 10 * time.Second

// MaxClockAhead is how far ahead of the leader's clock a command's
// proposer clock may be (see Apply).
const MaxClockAhead = time.Minute

// Apply proposes a command on the leader and waits until it is applied
// here, or until ctx ends (ErrUncertain). It returns ErrNotLeader on a
// follower, and when leadership is lost before the entry was appended.
func (s *Store) Apply(ctx context.Context, data []byte) (*Result, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	if err := s.FSM.Stalled(); err != nil {
		return nil, &objapi.Error{Op: "apply", Kind: objapi.KindUnavailable, Msg: "the leader cannot write its metadata", Err: err}
	}
	if len(data) > MaxCommand {
		return nil, &objapi.Error{Op: "apply", Kind: objapi.KindEntityTooLarge,
			Msg: fmt.Sprintf("a metadata command of %d bytes, beyond the limit of %d", len(data), MaxCommand)}
	}
	if p, ok := proposedAt(data); ok && time.Duration(p-time.Now().UnixNano()) > MaxClockAhead {
		// The FSM's clock is the latest proposer clock and never goes
		// back: one node's clock years ahead would end every retention
		// at once. The leader refuses what a clock ahead of its own by
		// more than this proposes.
		return nil, &objapi.Error{Op: "apply", Kind: objapi.KindUnavailable,
			Msg: fmt.Sprintf("the proposing node's clock is %s ahead of the leader's: fix its time (NTP)", time.Duration(p-time.Now().UnixNano()).Round(time.Second))}
	}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := s.Raft.Apply(data, timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrUncertain, ctx.Err())
	}
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, ErrNotLeader // never appended
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrAbortedByRestore):
			return nil, fmt.Errorf("%w: %v", ErrUncertain, err)
		}
		return nil, fmt.Errorf("meta: apply: %w", err)
	}
	r, ok := f.Response().(*Result)
	if !ok {
		return nil, fmt.Errorf("meta: apply returned %T", f.Response())
	}
	return r, nil
}

// ReadIndex returns an index that covers every write committed so far:
// once the local FSM has applied it, a read sees every acknowledged write
// and everything any node may already have served. Only the leader
// answers: it takes its commit index, then confirms with a quorum that it
// still leads (VerifyLeader), so no newer leader can have committed past
// it. A new leader answers only once a barrier in its own term is applied,
// so its commit index covers every entry of earlier terms.
//
// Not the leader's applied index: a follower may apply a committed entry
// before the leader's FSM does, so a read through the leader could go
// back behind what a read through that follower already returned.
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	s.mu.Lock()
	ready := s.readyTerm != 0 && s.readyTerm == s.term()
	s.mu.Unlock()
	if !ready {
		return 0, ErrNotReady
	}
	commit := s.Raft.CommitIndex()
	if err := s.Raft.VerifyLeader().Error(); err != nil {
		return 0, ErrNotLeader
	}
	return s.visibleIndex(commit), nil
}

// visibleIndex maps a commit index to the index an FSM's Applied reaches
// once it has applied everything up to it. Raft hands the FSM commands and
// configuration changes only; barriers and the no-op a new leader appends
// never reach it, so the last of those entries at or below commit is the
// one to wait for. The search stops at what this node's FSM applied: that
// index covers every entry below it, on every node.
func (s *Store) visibleIndex(commit uint64) uint64 {
	applied := s.FSM.Applied()
	if applied >= commit {
		return applied
	}
	var l raft.Log
	for i := commit; i > applied; i-- {
		if err := s.logs.GetLog(i, &l); err != nil {
			// Compacted into a snapshot, which the FSM has applied: every
			// entry from here down is covered by applied.
			break
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return applied
}

// WaitApplied waits until the local FSM has applied idx.
func (s *Store) WaitApplied(ctx context.Context, idx uint64) error {
	if !s.FSM.WaitApplied(ctx.Done(), idx) {
		return ctx.Err()
	}
	return nil
}

// Servers returns the Raft configuration.
func (s *Store) Servers() ([]raft.Server, error) {
	f := s.Raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// AddServer adds (or re-adds, idempotently) a member as voter or non-voter.
func (s *Store) AddServer(id, addr string, voter bool) error {
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	for _, sv := range servers {
		if string(sv.ID) == id && string(sv.Address) == addr && (sv.Suffrage == raft.Voter) == voter {
			return nil
		}
	}
	var f raft.IndexFuture
	if voter {
		f = s.Raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 30*time.Second)
	} else {
		f = s.Raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 30*time.Second)
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return ErrNotLeader
		}
		return err
	}
	return nil
}

// streamLayer carries Raft over the cluster's authenticated connections.
type streamLayer struct {
	net.Listener
	dial      func(ctx context.Context, addr string) (net.Conn, error)
	advertise string
}

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dial(ctx, string(addr))
}

func (s *streamLayer) Addr() net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", s.advertise); err == nil {
		return a
	}
	return s.Listener.Addr()
}

// patientStable is Raft's stable store (term and vote) that waits out a
// full disk instead of failing: Raft panics when it cannot persist a new
// term, and a metadata drive that filled up must stop the node's part in
// Raft until space returns, not crash it. While it waits, Raft's main loop
// waits with it, so the node takes no part in elections or replication:
// to the others it is a node that does not answer. (The log store needs
// no such care: Raft treats a failed append as a failed append.)
type patientStable struct {
	raft.StableStore
	stop chan struct{} // closed at shutdown: give up, Raft is stopping
	log  *slog.Logger
}

func (p *patientStable) retry(what string, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			if attempt > 0 {
				p.log.Info("Raft state persisted again", "what", what)
			}
			return nil
		}
		if attempt == 0 {
			p.log.Error("cannot persist Raft state; waiting for the metadata drive", "what", what, "err", err)
		}
		select {
		case <-p.stop:
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (p *patientStable) Set(key, val []byte) error {
	return p.retry(string(key), func() error { return p.StableStore.Set(key, val) })
}

func (p *patientStable) SetUint64(key []byte, val uint64) error {
	return p.retry(string(key), func() error { return p.StableStore.SetUint64(key, val) })
}
