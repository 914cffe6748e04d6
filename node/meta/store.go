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

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
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
	cfg   StoreConfig
	Raft  *raft.Raft
	FSM   *FSM
	logs  *raftboltdb.BoltStore
	snaps raft.SnapshotStore
	trans *raft.NetworkTransport
	log   *slog.Logger

	mu        sync.Mutex
	readyTerm uint64 // the term in which this node, as leader, is ready for reads
	stop      chan struct{}
	wg        sync.WaitGroup
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
	logs, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		fsm.Close()
		return nil, fmt.Errorf("meta: raft log: %w", err)
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
		Timeout: 10 * time.Second,
		Logger:  hclogger("raft-net", log),
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
	r, err := raft.NewRaft(rc, fsm, logs, logs, snaps, trans)
	if err != nil {
		fsm.Close()
		logs.Close()
		trans.Close()
		return nil, fmt.Errorf("meta: start raft: %w", err)
	}
	s := &Store{cfg: cfg, Raft: r, FSM: fsm, logs: logs, snaps: snaps, trans: trans, log: log, stop: make(chan struct{})}
	s.wg.Add(1)
	go s.watchLeadership()
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
	err := s.Raft.Shutdown().Error()
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

// Apply proposes a command on the leader and waits until it is applied
// here. It returns ErrNotLeader on a follower.
func (s *Store) Apply(ctx context.Context, data []byte) (*Result, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := s.Raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, ErrNotLeader
		}
		return nil, fmt.Errorf("meta: apply: %w", err)
	}
	r, ok := f.Response().(*Result)
	if !ok {
		return nil, fmt.Errorf("meta: apply returned %T", f.Response())
	}
	return r, nil
}

// ReadIndex returns an index that covers every write acknowledged so far:
// after the local FSM has applied it, a read sees them all. Only the leader
// answers, after confirming it still leads.
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
	// Acknowledged writes were applied by this leader's FSM before they
	// were acknowledged (or, from earlier terms, before the barrier).
	idx := s.FSM.Applied()
	if err := s.Raft.VerifyLeader().Error(); err != nil {
		return 0, ErrNotLeader
	}
	return idx, nil
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

// hclogger routes Raft's logs into slog, at warning level and above for
// the chatty parts.
func hclogger(name string, log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   name,
		Level:  hclog.Warn,
		Output: slogWriter{log: log.With("component", name)},
	})
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Info(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
