package meta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// SchemaVersion is the layout of the FSM's bbolt database:
//
//	sys      "schema" → u32; "applied" → u64 index of the last applied log
//	         entry; "cluster" → Cluster; "layout" → Layout; "nextset" → u32;
//	         "shred" → 1 while a deleted tenant's key awaits shredding here
//	tenants  id → Tenant
//	akeys    access key id → AccessKey
//	buckets  name → Bucket (without its configuration)
//	tenantbuckets  tenant ‖ 0x00 ‖ bucket name → "": each tenant's buckets
//	bucketcfg      bucket name ‖ 0x00 ‖ kind ("cors") → that configuration
//	objects  one nested bucket per S3 bucket: object key → Object
//	uploads  upload id → Upload
//	parts    upload id ‖ 0x00 ‖ part number (u32) → Part
//	uploadusage    upload id → UploadUsage: its parts' running totals
//	bucketuploads  nested per S3 bucket: object key ‖ 0x00 ‖ upload id → ""
//	dataids  data id of every referenced stream → DataRef (its record)
//	nodes    node id → Node
//	sets     set id (u32) → Set
//	cmds     command id → outcome (Index, Time, the Result's error):
//	         commands applied lately, so a repeat gets the first outcome
//	cmdlog   index (u64) ‖ command id → "" : cmds in the order applied,
//	         for forgetting the oldest
//	degraded data id → []int: streams committed with shards not durable
//	         (Part.Lost) that are not rebuilt yet
//	usage    tenant ‖ 0x00 → Usage: what the tenant stores;
//	         tenant ‖ 0x00 ‖ bucket name → Usage: what the bucket stores
//	quotas   the same keys → Quota, where one is set
//	setstreams  set id (u32) ‖ data id → "": the coded streams of each
//	         erasure set (redundancy.go)
//	setstats set id (u32) → SetStats: how many streams a set holds, and
//	         their physical bytes
//	removed  node id → u64 unix ns: members removed from the cluster
//	versions one nested bucket per S3 bucket: object key ‖ 0x00 ‖ ^Seq
//	         (u64) → Object: noncurrent versions and delete markers
//	         (versions.go); sys "vseq" → u64 the last Seq assigned
//
// sys also holds "clock" → u64: the latest proposer clock (unix ns) seen
// in a command, the FSM's deterministic notion of time.
//
// Schema 2 added tenantbuckets, bucketcfg and uploadusage, and moved CORS
// rules out of the bucket records into bucketcfg, so that no request pays
// for another tenant's buckets or configuration. All three are derived
// from what schema 1 holds: a database of schema 1 is migrated when it is
// opened, which includes a snapshot installed from a leader that runs an
// older binary (see migrate.go). A binary of schema 1 refuses a database
// of schema 2.
//
// Schema 3 added usage and quotas (usage.go). The usage rows derive from
// what schema 2 holds, and a database of schema 1 or 2 is migrated to
// them when it is opened, as schema 2 was; a binary of schema 2 refuses a
// database of schema 3.
//
// Schema 4 added setstreams, setstats and removed (redundancy.go). The
// set index derives from the dataids index and the part records, and is
// computed when a database of an older schema is opened; removed starts
// empty.
//
// Schema 5 added versions (versions.go), empty in a migrated database.
//
// Integers are big-endian; records are CBOR (see records.go).
const SchemaVersion = 5

var (
	bSys           = []byte("sys")
	bTenants       = []byte("tenants")
	bAccessKeys    = []byte("akeys")
	bBuckets       = []byte("buckets")
	bTenantBuckets = []byte("tenantbuckets")
	bBucketCfg     = []byte("bucketcfg")
	bUploadUsage   = []byte("uploadusage")
	bObjects       = []byte("objects")
	bUploads       = []byte("uploads")
	bParts         = []byte("parts")
	bBucketUploads = []byte("bucketuploads")
	bNodes         = []byte("nodes")
	bSets          = []byte("sets")
	bDataIDs       = []byte("dataids")
	bCmds          = []byte("cmds")
	bCmdLog        = []byte("cmdlog")
	bDegraded      = []byte("degraded")
	bUsage         = []byte("usage")
	bQuotas        = []byte("quotas")
	bSetStreams    = []byte("setstreams")
	bSetStats      = []byte("setstats")
	bRemoved       = []byte("removed")

	kSchema  = []byte("schema")
	kApplied = []byte("applied")
	kCluster = []byte("cluster")
	kLayout  = []byte("layout")
	kNextSet = []byte("nextset")
	kClock   = []byte("clock")
	// kShredPending counts the commits that destroyed key material (a
	// tenant's deletion, a retired tenant key version, the last batch of
	// a master key rewrap); each node deletes it once it has shredded its
	// copies (Store.Shred), unless a newer mark came meanwhile. A node
	// that crashes in between shreds when it comes back.
	kShredPending = []byte("shred")
)

// allBuckets are the top-level buckets of the current schema.
var allBuckets = [][]byte{bSys, bTenants, bAccessKeys, bBuckets, bTenantBuckets, bBucketCfg, bObjects, bUploads, bParts,
	bUploadUsage, bBucketUploads, bNodes, bSets, bDataIDs, bCmds, bCmdLog, bDegraded, bUsage, bQuotas, bSetStreams, bSetStats, bRemoved, bVersions}

// snapshotMagic starts every snapshot: "KCSM" and a format version byte.
var snapshotMagic = []byte{'K', 'C', 'S', 'M', 1}

// FSM applies commands to the bbolt database. It implements
// raft.BatchingFSM: a batch of log entries is one bbolt transaction, one
// fsync. The database records the index of the last entry it applied, in
// the same transaction, so that after a restart the entries Raft replays
// are recognised and skipped: the state on disk need not be rebuilt from a
// snapshot at every start.
type FSM struct {
	path string
	log  *slog.Logger

	mu sync.RWMutex // the db handle; Restore swaps it
	db *bolt.DB

	applied  atomic.Uint64
	nmu      sync.Mutex
	notify   chan struct{} // closed and replaced whenever applied moves
	shred    chan struct{} // signalled when a tenant deletion or key retirement was applied
	rotated  chan struct{} // signalled when a tenant key rotation was applied
	degraded chan struct{} // signalled when a stream with lost shards was committed
	topology chan struct{} // signalled when members, drains, voters or a spread changed (redundancy.go)
	closing  chan struct{} // closed by Close: a halted apply loop gives up
	stalled  atomic.Pointer[error]
}

// OpenFSM opens (or creates) the FSM database at path.
func OpenFSM(path string, log *slog.Logger) (*FSM, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &FSM{path: path, log: log, notify: make(chan struct{}), shred: make(chan struct{}, 1), rotated: make(chan struct{}, 1),
		degraded: make(chan struct{}, 1), topology: make(chan struct{}, 1), closing: make(chan struct{})}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

// LockTimeout bounds the wait for a database file's lock. bbolt holds an
// exclusive lock while a database is open, so a second process on the
// same files (a second kcs server on the same --meta-dir) would otherwise
// wait for ever, deaf to signals.
const LockTimeout = 5 * time.Second

// openError says why a bbolt file did not open, naming the lock when
// another process holds it.
func openError(path string, err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("meta: %s is locked by another process (waited %v): is another kcs server running on this --meta-dir? "+
			"Stop it first (fuser %s names it)", path, LockTimeout, path)
	}
	return fmt.Errorf("meta: open %s: %w", path, err)
}

func (f *FSM) open() error {
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return openError(f.path, err)
	}
	var applied uint64
	var migrated *migration
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		sys := tx.Bucket(bSys)
		switch v := sys.Get(kSchema); {
		case v == nil:
			if err := sys.Put(kSchema, u32(SchemaVersion)); err != nil {
				return err
			}
		case len(v) != 4:
			return fmt.Errorf("meta: database schema record of %d bytes", len(v))
		case binary.BigEndian.Uint32(v) < SchemaVersion:
			from := binary.BigEndian.Uint32(v)
			var err error
			if migrated, err = migrate(tx, from); err != nil {
				return fmt.Errorf("meta: migrate the database from schema %d to %d: %w", from, SchemaVersion, err)
			}
		case binary.BigEndian.Uint32(v) != SchemaVersion:
			return fmt.Errorf("meta: database schema %d, this binary reads schemas 1 to %d: it was written by a newer kcs binary",
				binary.BigEndian.Uint32(v), SchemaVersion)
		}
		if v := sys.Get(kApplied); v != nil {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return err
	}
	f.db = db
	f.applied.Store(applied)
	if migrated != nil {
		f.log.Info("migrated the metadata database", "from_schema", migrated.from, "to_schema", SchemaVersion,
			"buckets", migrated.buckets, "cors", migrated.cors, "uploads", migrated.uploads, "tenants", migrated.tenants)
	}
	return nil
}

// Abandon makes a halted apply loop give up (see ApplyBatch), so that Raft
// can shut down; call it before Raft's Shutdown.
func (f *FSM) Abandon() {
	select {
	case <-f.closing:
	default:
		close(f.closing)
	}
}

// Close closes the database.
func (f *FSM) Close() error {
	f.Abandon()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

// Applied is the index of the last log entry the FSM applied.
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// WaitApplied returns once the FSM has applied index idx.
func (f *FSM) WaitApplied(done <-chan struct{}, idx uint64) bool {
	for {
		f.nmu.Lock()
		ch := f.notify
		f.nmu.Unlock()
		if f.applied.Load() >= idx {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

func (f *FSM) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.nmu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.nmu.Unlock()
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// commandError is a command that failed part-way through its writes: the
// batch is applied again without it.
type commandError struct {
	i   int
	err error
}

func (e *commandError) Error() string { return fmt.Sprintf("command %d of the batch: %v", e.i, e.err) }

// tooNewEntry is a log entry this binary cannot apply (TooNewError).
type tooNewEntry struct {
	index uint64
	err   *TooNewError
}

func (e *tooNewEntry) Error() string { return fmt.Sprintf("log entry %d: %v", e.index, e.err) }
func (e *tooNewEntry) Unwrap() error { return e.err }

// ApplyBatch implements raft.BatchingFSM. The batch is one bbolt
// transaction. A command that fails part-way (see applyCommand) rolls the
// transaction back, and the batch is applied again with that command
// answered KindInternal, so no half-applied command is ever committed and
// every node decides alike. A transaction that cannot be committed (disk
// full, I/O error) is retried until it can be: the apply loop halts,
// nothing is skipped, and Stalled reports why meanwhile.
//
// An entry written by a newer binary, of a command level this one does
// not know (TooNewError), halts the apply loop the same way, with nothing
// of its batch applied, until the node is restarted with a binary that
// knows it: Stalled names the release needed, the node answers 503 and
// hands leadership on, and the rest of the cluster goes on without it. A
// panic would do as well for safety, but a node that crash-loops on every
// restart reports nothing; a halted one says why in its status and its
// log. (An entry that does not decode at all is
// corruption and still panics.)
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	failed := map[int]error{}
	for attempt := 0; ; attempt++ {
		out, last, sig, err := f.applyOnce(logs, failed)
		var ce *commandError
		switch {
		case err == nil:
			f.setStalled(nil)
			f.setApplied(last)
			f.signal(sig)
			return out
		case errors.As(err, &ce):
			f.log.Error("metadata command failed part-way; rolled back and answered as an internal error on every node",
				"index", logs[ce.i].Index, "err", ce.err)
			failed[ce.i] = ce.err
		default:
			f.setStalled(err)
			var tooNew *TooNewError
			switch {
			case attempt%30 != 0:
			case errors.As(err, &tooNew):
				f.log.Error("this node's kcs binary is too old for the metadata log; applying halts until the node runs one that knows the entry (it answers 503 meanwhile)",
					"err", err)
			default:
				f.log.Error("metadata database cannot be written; applying halts until it can (this node answers 503 meanwhile)",
					"entries_up_to", logs[len(logs)-1].Index, "err", err)
			}
			select {
			case <-f.closing:
				// Shutting down: nothing of this batch is stored, and Raft
				// replays it after a restart.
				for i := range out {
					out[i] = &Result{Err: &objapi.Error{Op: "apply", Kind: objapi.KindUnavailable, Msg: "node shutting down"}}
				}
				return out
			case <-time.After(time.Second):
			}
		}
	}
}

// applySignals are what a batch asks the node to do once it is committed.
type applySignals struct{ shred, rotated, degraded, topology bool }

func (f *FSM) applyOnce(logs []*raft.Log, failed map[int]error) ([]any, uint64, applySignals, error) {
	out := make([]any, len(logs))
	var sig applySignals
	f.mu.RLock()
	defer f.mu.RUnlock()
	last := f.applied.Load()
	err := f.db.Update(func(tx *bolt.Tx) error {
		gen := shredGeneration(tx)
		for i, l := range logs {
			if l.Index <= last {
				out[i] = &Result{} // replayed after a restart: already in the database
				continue
			}
			last = l.Index
			if l.Type != raft.LogCommand {
				continue
			}
			cmd, err := DecodeCommand(l.Data)
			if tooNew := (*TooNewError)(nil); errors.As(err, &tooNew) {
				return &tooNewEntry{index: l.Index, err: tooNew} // halts (ApplyBatch)
			}
			if err != nil {
				// A log entry that does not decode is corruption. Applying
				// anything else would fork this node's state from the
				// others': stop.
				panic(fmt.Sprintf("meta: log entry %d: %v", l.Index, err))
			}
			res, err := applyOnceByID(tx, l.Index, cmd, failed[i])
			if err != nil {
				return &commandError{i: i, err: err}
			}
			out[i] = res.withoutInline()
			if _, ok := cmd.Payload.(keyRotation); ok {
				sig.rotated = true
			}
			if res.Err == nil && !res.Duplicate && storesLostShards(cmd.Payload) {
				sig.degraded = true
			}
			if _, ok := cmd.Payload.(topologyChange); ok && res.Err == nil {
				sig.topology = true
			}
		}
		if err := forgetOutcomes(tx, last); err != nil {
			return err
		}
		sig.shred = shredGeneration(tx) != gen
		return tx.Bucket(bSys).Put(kApplied, u64(last))
	})
	return out, last, sig, err
}

func (f *FSM) signal(sig applySignals) {
	for _, c := range []struct {
		ch  chan struct{}
		set bool
	}{{f.shred, sig.shred}, {f.rotated, sig.rotated}, {f.degraded, sig.degraded}, {f.topology, sig.topology}} {
		if c.set {
			select {
			case c.ch <- struct{}{}:
			default: // one is pending already
			}
		}
	}
}

// Stalled reports why the FSM cannot apply (its database cannot be
// written), or nil.
func (f *FSM) Stalled() error {
	if e := f.stalled.Load(); e != nil {
		return *e
	}
	return nil
}

func (f *FSM) setStalled(err error) {
	if err == nil {
		f.stalled.Store(nil)
		return
	}
	f.stalled.Store(&err)
}

// Degraded delivers a signal after a commit stored a stream with lost
// shards: the leader should have them rebuilt.
func (f *FSM) Degraded() <-chan struct{} { return f.degraded }

// ShredRequests delivers a signal after a commit marked key material for
// shredding (a tenant's deletion, a retired tenant key version, the last
// batch of a master key rewrap): the node should call Store.Shred.
func (f *FSM) ShredRequests() <-chan struct{} { return f.shred }

// Rotations delivers a signal after a tenant key rotation was applied: the
// leader should rewrap the tenant's data keys.
func (f *FSM) Rotations() <-chan struct{} { return f.rotated }

// ShredPending reports whether a deleted tenant's key may still have
// copies on this node (a deletion applied, no Shred since).
func (f *FSM) ShredPending() bool {
	pending := false
	f.View(func(r *Reader) error {
		pending = r.tx.Bucket(bSys).Get(kShredPending) != nil
		return nil
	})
	return pending
}

// compact rewrites the database into a new file without its free pages —
// where bbolt leaves the bytes of deleted records until it reuses them —
// and swaps it in. Applies wait meanwhile.
func (f *FSM) compact() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	tmp := f.path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("meta: compact: %w", err)
	}
	if err := bolt.Compact(dst, f.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("meta: compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := f.db.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return err
	}
	return f.open()
}

// clearShredPending records that this node has shredded.
func (f *FSM) clearShredPending(gen uint64) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.Update(func(tx *bolt.Tx) error {
		if shredGeneration(tx) != gen {
			return nil // marked again while shredding: its signal is queued
		}
		return tx.Bucket(bSys).Delete(kShredPending)
	})
}

// shredGeneration reads the shred mark: 0 when no shred is pending.
func (f *FSM) shredGeneration() uint64 {
	var gen uint64
	f.View(func(r *Reader) error {
		gen = shredGeneration(r.tx)
		return nil
	})
	return gen
}

func shredGeneration(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bSys).Get(kShredPending)
	if len(v) != 8 {
		return uint64(len(v)) // absent: 0; a one-byte mark of an older version: 1
	}
	return binary.BigEndian.Uint64(v)
}

// markShred records a commit that destroyed key material: every node must
// shred its copies of it.
func markShred(tx *bolt.Tx) error {
	return tx.Bucket(bSys).Put(kShredPending, u64(shredGeneration(tx)+1))
}

// View runs fn in a read transaction of the current state.
func (f *FSM) View(fn func(r *Reader) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.View(func(tx *bolt.Tx) error { return fn(&Reader{tx: tx}) })
}

// Snapshot captures a read transaction; Persist streams it. Snapshot runs
// between applies, so the transaction holds exactly the state at the
// snapshot's index, and writers go on while it streams.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, err
	}
	return &snapshot{tx: tx}, nil
}

type snapshot struct{ tx *bolt.Tx }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	_, err := w.Write(snapshotMagic)
	if err == nil {
		_, err = s.tx.WriteTo(w)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("meta: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.tx.Rollback() }

// Restore replaces the state with a snapshot: it is written next to the
// database, fsynced, and renamed over it. A snapshot of an older schema (a
// leader that runs an older binary sent it) is migrated as it is opened.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != string(snapshotMagic) {
		return fmt.Errorf("meta: snapshot has an unknown format (%q)", magic)
	}
	tmp := f.path + ".restore"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, br); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("meta: restore: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	out.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	if err := f.open(); err != nil {
		return err
	}
	f.setApplied(f.applied.Load())
	f.log.Info("restored metadata from a snapshot", "applied", f.applied.Load())
	// The snapshot may postdate a tenant's deletion whose entries this
	// node's log still holds (Raft keeps trailing entries after an
	// install): shred them.
	select {
	case f.shred <- struct{}{}:
	default:
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
