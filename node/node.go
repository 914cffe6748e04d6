// Package node is the object layer of kcs: one Node per process holds the
// node's drives, its member of the Raft group, the keys, and the logic that
// turns S3 operations into shard streams and metadata commands. s3api calls
// it through the small interfaces it declares; nothing here knows HTTP but
// the RPC between nodes (package rpc) and the admin API (package admin).
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/consensus"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/gc"
	"github.com/kommunal-cloud/kcs/node/liveness"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/metering"
	"github.com/kommunal-cloud/kcs/node/rpc"
	"github.com/kommunal-cloud/kcs/node/shardstore"
	"github.com/kommunal-cloud/kcs/node/transport"
)

// Config is what a node needs to start. cmd/kcs fills it from flags,
// environment and secret files.
type Config struct {
	ID       string
	Site     string
	Drives   []string // directories, one per drive
	MetaDir  string   // Raft state and the metadata database
	RaftAddr string   // listen and advertise address for Raft; port 0: any free port
	RPCAddr  string   // listen and advertise address for node-to-node RPC; port 0: any free port
	// RaftListener and RPCListener, when set, are used instead of listening
	// on RaftAddr and RPCAddr (tests pass listeners bound to port 0). The
	// addresses advertised are the listeners' ports with RaftAddr's and
	// RPCAddr's hosts.
	RaftListener, RPCListener net.Listener
	S3Addrs                   []string // the S3 endpoints this node serves, for status displays
	Bootstrap                 bool     // start a new cluster with this node as its first member
	Join                      string   // RPC address of a member to join through
	// ReplaceDrives and AddDrives are the explicit steps for drives the
	// node's record does not match (drives.go): entries of Drives (paths
	// as listed, or drive ids "<node>/<index>") accepted empty, as a
	// replacement of a recorded drive (formatted, then refilled by a
	// scrub pass) or as a new drive beyond the recorded ones.
	ReplaceDrives, AddDrives []string

	MasterKey *crypt.MasterKey
	// OldMasterKeys still unwrap what they wrapped: given during a master
	// key rotation, until `kcs admin master-key rotate` has rewrapped
	// everything under the new key.
	OldMasterKeys []*crypt.MasterKey
	ClusterSecret []byte

	Logger *slog.Logger
	// Fast shortens Raft's timeouts (tests, development cluster).
	Fast bool
	// GCGrace is how long shards of replaced or deleted versions are kept
	// for reads in flight before they are deleted. 0 means 5 minutes.
	GCGrace time.Duration
	// BlockSize of new objects' shards; 0 means erasure.DefaultBlockSize.
	BlockSize int
	// DefaultTenantQuota is the quota every tenant created through this
	// node starts with (an operator changes it per tenant afterwards); the
	// zero Quota is none. Carried in the creating command, so every member
	// stores the same whatever its own flag says.
	DefaultTenantQuota Quota
	// InlineLimit is the largest stream (plaintext bytes) stored inside the
	// metadata instead of as shards: one Raft commit instead of k+m shard
	// files with their fsyncs. Every member keeps a copy of inline data, so
	// it suits small objects in small clusters. 0 means 16 KiB; negative
	// turns inlining off.
	InlineLimit int
	// MaxUploadInline bounds the bytes of inline streams (parts of at most
	// InlineLimit bytes) that one multipart upload's parts keep in the
	// metadata together; a part beyond it is refused (EntityTooLarge).
	// 0 means DefaultMaxUploadInline (16 MiB); negative means no bound.
	MaxUploadInline int64
	// OrphanGrace is how old a shard file must be before the orphan scan
	// deletes it for not being referenced: well beyond the time between a
	// shard's last write and its stream's commit. 0 means one hour.
	OrphanGrace time.Duration
	// OrphanScanEvery is how often each node scans its drives for orphan
	// shards. 0 means hourly.
	OrphanScanEvery time.Duration
	// ShredEvery bounds how long the wrapped key of a deleted object
	// version may stay on a disk (a Raft log entry, a snapshot, a free
	// database page): the leader has every node shred this often when
	// anything was committed since the last time (default 24 h).
	ShredEvery time.Duration
	// ScrubEvery is the time from the end of one scrub pass to the start of
	// the next: each pass reads and checks every shard on the node's
	// drives and queues the repair of missing or corrupt ones. 0 means 7
	// days; negative turns the periodic scrub off (StartScrub still runs
	// a pass).
	ScrubEvery time.Duration
	// ScrubRate caps the bytes per second a scrub pass reads, leaving the
	// disks to clients. 0 means 64 MiB/s; negative means no cap.
	ScrubRate int64
	// UploadExpiry is the age after which unfinished multipart uploads are
	// aborted and their parts collected (a kcs policy; S3 leaves it to
	// lifecycle rules). 0 means 7 days.
	UploadExpiry time.Duration
	// DriveReserve is the free space (bytes) below which a data drive takes
	// no new shards: sets with such a drive are not chosen for new streams,
	// so a filling drive stops before it is full. 0 means 1 GiB; negative
	// means no reserve.
	DriveReserve uint64
	// MetaReserve is the free space (bytes) below which the drive holding
	// MetaDir counts as full: the node answers 503 at once and reports
	// itself not ready, and gives up Raft leadership, until space returns.
	// 0 means 256 MiB.
	MetaReserve uint64
	// Clock is the node's notion of time for everything measured in hours
	// and days: record timestamps, upload expiry, scrub and orphan-scan
	// schedules. Tests set a fake one and advance it instead of sleeping.
	// nil means the real clock. (Heartbeats, probes and deadlines of a few
	// seconds always run on real time.)
	Clock clockwork.Clock
	// ReportedClock is the wall clock this node tells its peers in probe
	// answers (nil: the real one). Tests set it to play a node whose
	// clock differs from the others'; commands are stamped on real time.
	ReportedClock func() time.Time
	// RestoreEvery is how often the leader retries rebuilding shards that
	// writes lost (when a drive was full or a node down at the first try).
	// 0 means 30 seconds.
	RestoreEvery time.Duration
	// ReprotectEvery is how often the leader looks for streams to re-code
	// onto the full family (below full protection, on a draining drive,
	// or, during a spread, outside it; redundancy.go); it also looks when
	// the topology changes. 0 means 10 seconds; negative turns it off.
	// ReprotectRate caps the ciphertext bytes per second it moves (0: 64
	// MiB/s; negative: no cap).
	ReprotectEvery time.Duration
	ReprotectRate  int64
	// LifecycleEvery is how often (on Clock) the leader runs a pass of
	// the buckets' lifecycle rules (lifecycle.go); 0 means hourly,
	// negative no periodic passes (LifecycleNow still runs one).
	// LifecycleRate caps the commands per second a pass proposes (0:
	// DefaultLifecycleRate; negative: no cap).
	LifecycleEvery time.Duration
	LifecycleRate  int64
	// Traffic is this node's traffic meter (its S3 server counts into it):
	// the node answers its peers' and the admin API's questions about
	// tenants' traffic from it (traffic.go). The caller opens and closes
	// it. Nil: the node keeps no counts, and reports name it as missing.
	Traffic *metering.Meter
}

// Defaults of the free-space reserves.
const (
	DefaultDriveReserve = 1 << 30
	DefaultMetaReserve  = 256 << 20
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Node is a running kcs node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	sec    *transport.Security
	store  *meta.Store
	rpc    *rpc.Client
	drives map[string]*shardstore.Drive
	keys   *crypt.Keyring // master keys: the cluster's current one wraps, any unwraps what it wrapped

	rpcLn  net.Listener
	rpcSrv *http.Server

	coders sync.Map // erasure.Params → *erasure.Coder
	tkeys  sync.Map // tenant "\x00" version → cachedKey

	live     *liveness.Tracker
	meta     *metaGuard
	gc       *gc.Collector
	cons     *consensus.Consensus
	repairs  *repairer
	scrubNow chan struct{}
	// shredRequested asks for a shred (at start, when one is pending).
	shredRequested chan struct{}
	clockWarned    atomic.Int64 // when the clock-ahead error was last logged (unix ns; at most once a minute)
	purgeNow       chan struct{}
	rewrapNow      chan struct{}
	shredCycleNow  chan struct{} // the leader's periodic shred (shred.go)
	lastShredCycle atomic.Uint64 // applied index after the last ShredCycle this node proposed
	counters       counters
	started        time.Time
	ready          readiness // the last readiness check (health.go)

	// redundancy keeps full redundancy: re-protection, drains, spreads,
	// voters (redundancy.go).
	redundancy *redundancy
	// lifecycle applies the buckets' lifecycle rules (lifecycle.go).
	lifecycle *lifecycle

	// ctx is the node's root context, cancelled by Close: background work
	// and calls made on behalf of no client derive from it.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Start opens the drives and metadata, starts Raft and the RPC server, and
// bootstraps, joins, or rejoins the cluster. It returns once this node has
// the cluster's metadata and is ready to serve.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if !idPattern.MatchString(cfg.ID) {
		return nil, fmt.Errorf("node: id %q: use 1-63 lowercase letters, digits, '.', '_' or '-'", cfg.ID)
	}
	if !idPattern.MatchString(cfg.Site) {
		return nil, fmt.Errorf("node: site %q: use 1-63 lowercase letters, digits, '.', '_' or '-'", cfg.Site)
	}
	if len(cfg.Drives) == 0 {
		return nil, errors.New("node: no drives")
	}
	if cfg.MasterKey == nil {
		return nil, errors.New("node: no master key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.GCGrace == 0 {
		cfg.GCGrace = 5 * time.Minute
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = erasure.DefaultBlockSize
	}
	if cfg.InlineLimit == 0 {
		cfg.InlineLimit = 16 << 10
	}
	if cfg.MaxUploadInline == 0 {
		cfg.MaxUploadInline = DefaultMaxUploadInline
	}
	if cfg.OrphanGrace == 0 {
		cfg.OrphanGrace = time.Hour
	}
	if cfg.ShredEvery == 0 {
		cfg.ShredEvery = 24 * time.Hour
	}
	if cfg.OrphanScanEvery == 0 {
		cfg.OrphanScanEvery = time.Hour
	}
	if cfg.ScrubEvery == 0 {
		cfg.ScrubEvery = 7 * 24 * time.Hour
	}
	if cfg.ScrubRate == 0 {
		cfg.ScrubRate = 64 << 20
	}
	if cfg.UploadExpiry == 0 {
		cfg.UploadExpiry = 7 * 24 * time.Hour
	}
	if cfg.DriveReserve == 0 {
		cfg.DriveReserve = DefaultDriveReserve
	}
	if cfg.MetaReserve == 0 {
		cfg.MetaReserve = DefaultMetaReserve
	}
	if cfg.RestoreEvery == 0 {
		cfg.RestoreEvery = 30 * time.Second
	}
	if cfg.ReportedClock == nil {
		cfg.ReportedClock = time.Now
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	keys, err := crypt.NewKeyring(append([]*crypt.MasterKey{cfg.MasterKey}, cfg.OldMasterKeys...)...)
	if err != nil {
		return nil, err
	}
	sec, err := transport.New(cfg.ClusterSecret, cfg.Logger)
	if err != nil {
		return nil, err
	}
	n := &Node{
		keys: keys, cfg: cfg, log: cfg.Logger.With("node", cfg.ID), sec: sec,
		drives: map[string]*shardstore.Drive{}, started: time.Now(), stop: make(chan struct{}),
		redundancy: newRedundancy(), lifecycle: newLifecycle(),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	// The drives are checked before anything is created, and opened
	// once the metadata is (drives.go).
	drivePlan, err := inspectDrives(cfg)
	if err != nil {
		return nil, err
	}
	n.rpc = rpc.NewClient(sec.Dial)

	raftLn, err := listen("raft", &n.cfg.RaftAddr, cfg.RaftListener)
	if err != nil {
		return nil, err
	}
	rpcLn, err := listen("rpc", &n.cfg.RPCAddr, cfg.RPCListener)
	if err != nil {
		raftLn.Close()
		return nil, err
	}
	cfg = n.cfg
	raftLn = sec.Wrap(raftLn)
	n.store, err = meta.OpenStore(meta.StoreConfig{
		ID: cfg.ID, Dir: cfg.MetaDir, Listener: raftLn, Dial: sec.Dial,
		Advertise: cfg.RaftAddr, Logger: n.log, Fast: cfg.Fast,
	})
	if err != nil {
		raftLn.Close()
		rpcLn.Close()
		return nil, err
	}
	// Before RPC serves: peers' shard requests find the drives open.
	replaced, err := n.openDrives(drivePlan)
	if err != nil {
		n.store.Close()
		rpcLn.Close()
		return nil, err
	}
	n.rpcLn = sec.Wrap(rpcLn)
	n.meta = newMetaGuard(n)
	n.cons = consensus.New(n.ctx, n.store, n.rpc, n.metaHealthy)
	n.cons.SetClockCheck(n.clockCheck)
	n.rpcSrv = &http.Server{Handler: rpc.NewServer(n, n.log), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.rpcSrv.Serve(n.rpcLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("rpc server stopped", "err", err)
		}
	}()
	n.live = liveness.New(n.ctx, liveness.Config{
		Self: cfg.ID, Members: n.members, Status: n.rpc.Status, Local: n.driveStatus, Reserve: cfg.DriveReserve, Log: n.log,
	})
	n.gc = gc.New(gc.Config{
		Grace: cfg.GCGrace, Linearize: n.cons.Linearize, Delete: n.deleteShards, Log: n.log,
		Referenced: func(dataID []byte) (ok bool) {
			n.store.FSM.View(func(r *meta.Reader) error { ok = r.Referenced(dataID); return nil })
			return ok
		},
	})
	n.repairs = newRepairer(n)
	n.scrubNow = make(chan struct{}, 1)
	n.shredRequested = make(chan struct{}, 1)
	n.purgeNow = make(chan struct{}, 1)
	n.rewrapNow = make(chan struct{}, 1)

	if err := n.enterCluster(ctx); err != nil {
		n.Close()
		return nil, err
	}
	// A new node knows its cluster id only now.
	if err := n.stampDrives(n.clusterID()); err != nil {
		n.Close()
		return nil, err
	}
	if len(replaced) > 0 {
		n.refill(replaced)
	}
	// Background work, all of it ended by Close through n.ctx.
	real := clockwork.NewRealClock()
	n.every(real, liveness.Every, nil, nil, n.live.ProbeAll)
	n.every(real, metaCheckEvery, nil, nil, n.meta.check)
	n.every(real, time.Second, nil, nil, n.gc.CollectDue)
	n.every(real, time.Hour, n.repairs.wake, nil, n.repairs.work)
	n.every(real, time.Hour, n.store.FSM.ShredRequests(), n.shredRequested, n.shredNow)
	n.onLeader(n.cfg.RestoreEvery, n.store.FSM.Degraded(), nil, n.restoreLost)
	n.startRedundancy()
	n.startLifecycle()
	n.onLeader(30*time.Second, n.purgeNow, nil, n.purgeAll)
	n.onLeader(30*time.Second, n.rewrapNow, n.store.FSM.Rotations(), n.rewrapAll)
	n.every(n.cfg.Clock, n.cfg.OrphanScanEvery, nil, nil, n.scanOrphansLogged)
	n.shredCycleNow = make(chan struct{}, 1)
	n.every(n.cfg.Clock, n.cfg.ShredEvery, n.shredCycleNow, nil, n.shredCycle)
	n.every(n.cfg.Clock, uploadExpiryEvery(n.cfg.UploadExpiry), nil, nil, n.expireUploads)
	n.background(n.runScrubs)
	if n.store.FSM.ShredPending() {
		// A deletion was applied but not shredded here (a crash between).
		poke(n.shredRequested)
	}
	n.log.Info("node ready", "site", cfg.Site, "raft", cfg.RaftAddr, "rpc", cfg.RPCAddr, "drives", len(n.drives), "master_keys", n.keys.IDs())
	return n, nil
}

// Close stops the node: RPC, Raft and the metadata database. Shard writes
// in progress are aborted by their callers' contexts.
func (n *Node) Close() error {
	select {
	case <-n.stop:
		return nil
	default:
	}
	close(n.stop)
	n.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.rpcSrv != nil {
		n.rpcSrv.Shutdown(ctx)
	}
	n.wg.Wait()
	n.rpc.Close()
	return n.store.Close()
}

// listen returns ln, or a listener on *addr; *addr becomes the address to
// advertise: its host with the port actually bound (port 0 means any).
func listen(what string, addr *string, ln net.Listener) (net.Listener, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", *addr); err != nil {
			return nil, fmt.Errorf("node: %s listener: %w", what, err)
		}
	}
	host, _, err := net.SplitHostPort(*addr)
	_, port, perr := net.SplitHostPort(ln.Addr().String())
	if err != nil || perr != nil || host == "" {
		*addr = ln.Addr().String()
	} else {
		*addr = net.JoinHostPort(host, port)
	}
	return ln, nil
}

// Addrs returns the Raft and RPC addresses this node advertises (the
// ports it bound, where port 0 was asked for).
func (n *Node) Addrs() (raft, rpc string) { return n.cfg.RaftAddr, n.cfg.RPCAddr }

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

func (n *Node) coder(p erasure.Params) (*erasure.Coder, error) {
	if c, ok := n.coders.Load(p); ok {
		return c.(*erasure.Coder), nil
	}
	c, err := erasure.New(p)
	if err != nil {
		return nil, err
	}
	v, _ := n.coders.LoadOrStore(p, c)
	return v.(*erasure.Coder), nil
}

// newID returns a random 128-bit id in hex: version ids, upload ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newDataID() [16]byte {
	var b [16]byte
	rand.Read(b[:])
	return b
}

// nodeOfDrive returns the node id a drive id belongs to.
func nodeOfDrive(drive string) string {
	for i := len(drive) - 1; i >= 0; i-- {
		if drive[i] == '/' {
			return drive[:i]
		}
	}
	return drive
}

// background runs fn in a goroutine that Close waits for; fn must return
// once ctx (the node's root context) is done.
func (n *Node) background(fn func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn(n.ctx)
	}()
}

// every is the shape of the node's periodic work: fn runs every interval
// on clock, and at once whenever wake1 or wake2 signals (a nil channel
// never does), until the node closes. Runs never overlap.
func (n *Node) every(clock clockwork.Clock, interval time.Duration, wake1, wake2 <-chan struct{}, fn func(ctx context.Context)) {
	t := clock.NewTicker(interval) // before Start returns: a test's clock sees it
	n.background(func(ctx context.Context) {
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.Chan():
			case <-wake1:
			case <-wake2:
			}
			fn(ctx)
		}
	})
}

// onLeader is every for the leader's work (purges, rewraps, rebuilds):
// fn runs only while this node leads.
func (n *Node) onLeader(interval time.Duration, wake1, wake2 <-chan struct{}, fn func(ctx context.Context)) {
	n.every(clockwork.NewRealClock(), interval, wake1, wake2, func(ctx context.Context) {
		if n.store.IsLeader() {
			fn(ctx)
		}
	})
}

// members returns the cluster's members as this node's metadata has them.
func (n *Node) members() []meta.Node {
	var nodes []meta.Node
	n.store.FSM.View(func(r *meta.Reader) error {
		nodes, _ = r.Nodes()
		return nil
	})
	return nodes
}

// now is the node's clock's time (see Config.Clock).
func (n *Node) now() time.Time { return n.cfg.Clock.Now() }

// clockCheck refuses to stamp metadata commands while this node's wall
// clock is more than meta.MaxClockAhead ahead of a majority of the
// members' (as its probes saw them): the FSM's clock follows the latest
// proposer clock and never goes back, so one command stamped by a clock
// set ahead would end retention periods early (COMPLIANCE included). The
// leader refuses proposers ahead of its own clock; this covers the leader
// itself and a node whose clock was stepped since (the peers' clocks are
// extrapolated on the monotonic clock).
func (n *Node) clockCheck() error {
	if n.live == nil {
		return nil
	}
	ahead, refused := n.live.ClockAhead(meta.MaxClockAhead)
	if !refused {
		return nil
	}
	if last := n.clockWarned.Load(); time.Since(time.Unix(0, last)) > time.Minute && n.clockWarned.CompareAndSwap(last, time.Now().UnixNano()) {
		n.log.Error("this node's clock is ahead of the cluster's: it commits nothing until its time is fixed (NTP)", "ahead", ahead.Round(time.Second))
	}
	return &Error{Op: "propose", Kind: KindUnavailable,
		Msg: fmt.Sprintf("this node's clock is %s ahead of a majority of the cluster's: fix its time (NTP)", ahead.Round(time.Second))}
}
