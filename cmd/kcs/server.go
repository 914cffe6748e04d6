package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/admin"
	"github.com/kommunal-cloud/kcs/node/datapath"
	"github.com/kommunal-cloud/kcs/node/fsutil"
	"github.com/kommunal-cloud/kcs/node/metering"
	"github.com/kommunal-cloud/kcs/node/metrics"
	"github.com/kommunal-cloud/kcs/s3api"
)

// The node implements what s3api consumes.
var (
	_ s3api.ObjectLayer = (*node.Node)(nil)
	_ s3api.Credentials = (*node.Node)(nil)
)

// serveOptions are what a serving node needs beyond node.Config.
type serveOptions struct {
	node        node.Config
	s3Addr      string
	s3TLSAddr   string
	tlsCert     string
	tlsKey      string
	region      string
	domain      string
	adminSecret []byte
	metricsAddr string       // Prometheus /metrics; "" for none
	limits      s3api.Limits // what the S3 listeners admit; zero fields take the defaults
	// trafficRetention is how long traffic counts are kept (traffic.go);
	// 0 means metering.DefaultRetention.
	trafficRetention time.Duration
}

// serving is a node with its S3 and admin listeners.
type serving struct {
	node    *node.Node
	meter   *metering.Meter // tenants' traffic, closed after the node
	servers []*http.Server
	log     *slog.Logger
	done    chan error
	addrs   boundAddrs
}

// boundAddrs are the addresses a serving node bound: what --addresses-file
// records, so that whoever started it with port 0 learns the ports.
type boundAddrs struct {
	S3      string `json:"s3,omitempty"`
	S3TLS   string `json:"s3_tls,omitempty"`
	Raft    string `json:"raft"`
	RPC     string `json:"rpc"`
	Metrics string `json:"metrics,omitempty"`
}

// serve opens the S3 listeners (so a busy port fails before anything else
// starts), starts the node, and serves S3 and the admin API.
func serve(ctx context.Context, o serveOptions) (*serving, error) {
	log := o.node.Logger
	type listener struct {
		ln  net.Listener
		tls bool
	}
	var lns []listener
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	if o.s3Addr != "" {
		ln, err := net.Listen("tcp", o.s3Addr)
		if err != nil {
			return nil, fmt.Errorf("s3 listener: %w", err)
		}
		lns = append(lns, listener{ln, false})
	}
	var tlsCfg *tls.Config
	if o.s3TLSAddr != "" {
		if o.tlsCert == "" || o.tlsKey == "" {
			closeAll()
			return nil, errors.New("--s3-tls-addr needs --tls-cert and --tls-key")
		}
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln, err := net.Listen("tcp", o.s3TLSAddr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("s3 tls listener: %w", err)
		}
		lns = append(lns, listener{ln, true})
	}
	if len(lns) == 0 {
		return nil, errors.New("no S3 listener: give --s3-addr, --s3-tls-addr or both")
	}
	var metricsLn net.Listener
	if o.metricsAddr != "" {
		var err error
		if metricsLn, err = net.Listen("tcp", o.metricsAddr); err != nil {
			closeAll()
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
	}
	for _, l := range lns {
		scheme := "http://"
		if l.tls {
			scheme = "https://"
		}
		o.node.S3Addrs = append(o.node.S3Addrs, scheme+l.ln.Addr().String())
	}
	s := &serving{log: log, done: make(chan error, len(lns)+1)}
	for _, l := range lns {
		if l.tls {
			s.addrs.S3TLS = l.ln.Addr().String()
		} else {
			s.addrs.S3 = l.ln.Addr().String()
		}
	}
	if metricsLn != nil {
		s.addrs.Metrics = metricsLn.Addr().String()
	}
	// The listeners serve from the start: while the node starts — checks
	// its drives, opens its metadata, waits for a quorum, which after a
	// power cut of every site may take long — /_kcs/health/live answers
	// 200 and everything else 503 with the reason, so that supervisors and
	// load balancers see a starting node, not a dead one (health.go).
	var s3Handler, metricsHandler atomic.Pointer[http.Handler]
	adm := s3api.NewAdmission(admissionLimits(o), log.With("component", "admission"))
	gate := func(h *atomic.Pointer[http.Handler]) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := h.Load(); p != nil {
				(*p).ServeHTTP(w, r)
				return
			}
			starting(w, r)
		})
	}
	headerTimeout := adm.Limits().IdleTimeout
	if headerTimeout <= 0 {
		headerTimeout = 30 * time.Second
	}
	for _, l := range lns {
		srv := &http.Server{
			// Progress deadlines for bodies and responses, the real client
			// behind a trusted proxy, and the caps (s3api.Admission).
			Handler:           adm.Handler(gate(&s3Handler)),
			ConnContext:       adm.ConnContext,
			ReadHeaderTimeout: headerTimeout,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		ln := adm.Listener(l.ln, l.tls)
		if l.tls {
			srv.TLSConfig = tlsCfg
			ln = tls.NewListener(ln, tlsCfg)
		}
		s.start(srv, ln)
	}
	if metricsLn != nil {
		s.start(&http.Server{Handler: gate(&metricsHandler), ReadHeaderTimeout: 10 * time.Second}, metricsLn)
	}

	// The drives are checked before anything is made in --meta-dir, whose
	// default lies on the first drive (node/drives.go).
	err := node.CheckDrives(o.node)
	if err == nil {
		s.meter, err = openMeter(o, log)
	}
	if err == nil {
		o.node.Traffic = s.meter
		if s.node, err = node.Start(ctx, o.node); err != nil {
			s.meter.Close()
		}
	}
	if err != nil {
		for _, srv := range s.servers {
			srv.Close()
		}
		return nil, err
	}
	n := s.node
	s.addrs.Raft, s.addrs.RPC = n.Addrs()
	s3cfg := s3api.Config{Region: o.region, Domain: o.domain, Logger: log.With("component", "s3"), Admission: adm, Meter: s.meter}
	if metricsLn != nil {
		reg := metrics.New(n)
		s3cfg.Observer = reg
		admissionMetrics(reg, adm)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", reg.Handler())
		mux.Handle(healthPrefix, healthHandler(n))
		var h http.Handler = mux
		metricsHandler.Store(&h)
		log.Info("metrics listening", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
	}
	s3 := s3api.New(s3cfg, n, n)
	adminAPI := admin.NewHandler(n, o.adminSecret, log.With("component", "admin"))
	health := healthHandler(n)
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ownPath(s3, r) {
			if strings.HasPrefix(r.URL.Path, healthPrefix) {
				// Before the request caps: a loaded node still answers
				// its load balancer (health.go).
				health.ServeHTTP(w, r)
				return
			}
			// The admin API reads its body before it checks the signature:
			// its requests count as one tenant of their own.
			release, ok := adm.Admit("admin")
			if !ok {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":"too many requests in flight; retry later","kind":"slow down"}`+"\n")
				return
			}
			defer release()
			adminAPI.ServeHTTP(w, r)
			return
		}
		s3.ServeHTTP(w, r)
	})
	s3Handler.Store(&handler)
	return s, nil
}

// start serves srv on ln until stop; a listener that fails ends serving.
func (s *serving) start(srv *http.Server, ln net.Listener) {
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.done <- err
		}
	}()
}

// stop shuts the listeners down gracefully (requests in flight get a few
// seconds), then the node.
func (s *serving) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		srv.Shutdown(ctx)
	}
	s.node.Close()
	if err := s.meter.Close(); err != nil {
		s.log.Error("traffic counts of the last seconds not saved", "err", err)
	}
}

// admissionLimits are o's limits with what only the binary knows filled
// in: what the object layer buffers for one streamed body (the PUT
// pipeline of the widest geometry, RS(4,2), and the inline buffer it reads
// first) and the size of the bodies it keeps whole.
func admissionLimits(o serveOptions) s3api.Limits {
	lim := o.limits
	inline := int64(o.node.InlineLimit)
	if inline == 0 {
		inline = 16 << 10 // node.Config's default
	}
	if lim.StreamBodyBytes == 0 {
		c, err := erasure.New(erasure.Params{K: 4, M: 2, BlockSize: erasure.DefaultBlockSize})
		if err == nil {
			lim.StreamBodyBytes = int64(datapath.PutBufferBytes(c)) + max(inline, 0)
		}
	}
	if lim.SmallBodyBytes == 0 && inline > 0 {
		lim.SmallBodyBytes = inline
	}
	return lim
}

// parseLimits turns the admission flags into s3api.Limits: 0 in a flag
// means "no limit", which Limits spells negative.
func parseLimits(lim *s3api.Limits, bodyMemory string, trusted []string) error {
	off := func(v *int) {
		if *v == 0 {
			*v = -1
		}
	}
	off(&lim.MaxConns)
	off(&lim.MaxConnsPerClient)
	off(&lim.MaxRequests)
	off(&lim.MaxRequestsPerTenant)
	off(&lim.MaxActive)
	if lim.MaxQueueWait <= 0 {
		lim.MaxQueueWait = s3api.DefaultMaxQueueWait
	}
	if lim.IdleTimeout <= 0 {
		lim.IdleTimeout = -1
	}
	if lim.FormTimeout <= 0 {
		lim.FormTimeout = -1
	}
	n, err := parseSize(bodyMemory)
	if err != nil {
		return fmt.Errorf("--body-memory: %w", err)
	}
	lim.BodyMemory = n
	if n == 0 {
		lim.BodyMemory = -1
	}
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR prefix", t)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		lim.TrustedProxies = append(lim.TrustedProxies, p)
	}
	return nil
}

// parseReserve reads a free-space reserve such as "1GiB"; 0 means none (a
// reserve of one byte: 0 would select the default).
func parseReserve(flag, v string) (uint64, error) {
	n, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", flag, err)
	}
	return max(uint64(n), 1), nil
}

func newServerCmd() *cobra.Command {
	var (
		o                                 serveOptions
		drives, logLevel, logFormat       string
		masterFile, secretFile, adminFile string
		oldMasterFile                     string
		fastRaft                          bool
		debugAddr                         string
		scrubMiB, reprotectMiB            int64
		driveReserve, metaReserve         string
		addressesFile                     string
		bodyMemory                        string
		trustedProxies                    []string
		maxUploadInline                   string
		defaultQuota                      string
		allowOpenSecrets                  bool
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one kcs node",
		Long: `Run one kcs node: its drives, its member of the metadata Raft group, and S3 over HTTP
and/or HTTPS. The first node of a new cluster starts with --bootstrap, the others with
--join (the RPC address of any member); a restarted node needs neither.

Secrets are read from files (--master-key-file, --cluster-secret-file, --admin-secret-file)
or from the environment (KCS_MASTER_KEY, KCS_CLUSTER_SECRET, KCS_ADMIN_SECRET), never from
flags. The master key is held in memory only; kcs server never writes it to the drives.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			o.node.Logger = log
			o.node.Fast = fastRaft
			for _, d := range strings.Split(drives, ",") {
				if d = strings.TrimSpace(d); d != "" {
					o.node.Drives = append(o.node.Drives, d)
				}
			}
			if o.node.ID == "" || o.node.Site == "" || len(o.node.Drives) == 0 {
				return errors.New("--id, --site and --drives are required")
			}
			if o.node.Bootstrap && o.node.Join != "" {
				return errors.New("--bootstrap and --join exclude each other")
			}
			if o.node.MetaDir == "" {
				o.node.MetaDir = filepath.Join(o.node.Drives[0], ".kcs-meta")
			}
			if o.node.ScrubEvery <= 0 {
				o.node.ScrubEvery = -1 // off
			}
			o.node.ScrubRate = scrubMiB << 20
			if scrubMiB <= 0 {
				o.node.ScrubRate = -1 // no cap
			}
			if o.node.ReprotectEvery <= 0 {
				o.node.ReprotectEvery = -1 // off
			}
			if o.node.ReprotectRate = reprotectMiB << 20; reprotectMiB <= 0 {
				o.node.ReprotectRate = -1 // no cap
			}
			if o.node.LifecycleEvery <= 0 {
				o.node.LifecycleEvery = -1 // off
			}
			if o.node.LifecycleRate <= 0 {
				o.node.LifecycleRate = -1 // no cap
			}
			if o.node.DriveReserve, err = parseReserve("--drive-reserve", driveReserve); err != nil {
				return err
			}
			if o.node.MetaReserve, err = parseReserve("--meta-reserve", metaReserve); err != nil {
				return err
			}
			if o.node.MaxUploadInline = -1; maxUploadInline != "-1" {
				if o.node.MaxUploadInline, err = parseSize(maxUploadInline); err != nil {
					return fmt.Errorf("--max-upload-inline: %w", err)
				}
			}
			q, err := parseQuota(defaultQuota)
			if err != nil {
				return fmt.Errorf("--default-tenant-quota: %w", err)
			}
			o.node.DefaultTenantQuota = q.Quota()
			if err := parseLimits(&o.limits, bodyMemory, trustedProxies); err != nil {
				return err
			}
			if err := checkJoinAddr(o.node.Join); err != nil {
				return err
			}
			for _, f := range []struct{ what, path string }{
				{"master key", masterFile}, {"old master key", oldMasterFile}, {"cluster secret", secretFile}, {"admin secret", adminFile},
			} {
				if err := checkSecretFile(f.what, f.path, allowOpenSecrets, log); err != nil {
					return err
				}
			}
			mk, err := readSecret("master key", masterFile, "KCS_MASTER_KEY", true)
			if err != nil {
				return err
			}
			if o.node.MasterKey, err = parseMasterKey(mk); err != nil {
				return err
			}
			old, err := readSecret("old master key", oldMasterFile, "KCS_OLD_MASTER_KEY", false)
			if err != nil {
				return err
			}
			if o.node.OldMasterKeys, err = parseMasterKeys(old); err != nil {
				return err
			}
			if o.node.ClusterSecret, err = readSecret("cluster secret", secretFile, "KCS_CLUSTER_SECRET", true); err != nil {
				return err
			}
			if o.adminSecret, err = readSecret("admin secret", adminFile, "KCS_ADMIN_SECRET", false); err != nil {
				return err
			}
			if o.adminSecret == nil {
				log.Warn("no admin secret: the admin API refuses every request on this node")
			} else if err := admin.CheckSecret(o.adminSecret); err != nil {
				return err
			}
			if err := serveDebug(debugAddr, log); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := serve(ctx, o)
			if err != nil {
				return err
			}
			log.Info("kcs server up", "id", o.node.ID, "site", o.node.Site, "s3", strings.Join(s.node.Status(ctx).S3Addrs, " "))
			if addressesFile != "" {
				b, _ := json.Marshal(s.addrs)
				if err := fsutil.WriteFile(addressesFile, append(b, '\n'), 0o644); err != nil {
					s.stop()
					return fmt.Errorf("--addresses-file: %w", err)
				}
			}
			select {
			case <-ctx.Done():
				log.Info("shutting down")
			case err = <-s.done:
				log.Error("listener failed", "err", err)
			}
			s.stop()
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node.ID, "id", "", "node id, unique in the cluster (lowercase letters, digits, '.', '_', '-')")
	f.StringVar(&o.node.Site, "site", "", "site (data center) of this node")
	f.StringVar(&drives, "drives", "", "comma-separated drive directories")
	f.StringVar(&o.node.MetaDir, "meta-dir", "", "directory for Raft and metadata state (default <first drive>/.kcs-meta)")
	f.StringSliceVar(&o.node.ReplaceDrives, "replace-drive", nil, "accept these drives (paths as in --drives, or ids NODE/INDEX), found empty, as replacements of the recorded drives: they are formatted and a scrub pass refills them; remove the flag once the node runs")
	f.StringSliceVar(&o.node.AddDrives, "add-drive", nil, "accept these drives (paths as in --drives, listed after the recorded ones), found empty, as new drives of this node; remove the flag once the node runs")
	f.StringVar(&o.s3Addr, "s3-addr", "", "S3 over HTTP listen address, e.g. :9000")
	f.StringVar(&o.s3TLSAddr, "s3-tls-addr", "", "S3 over HTTPS listen address, e.g. :9443")
	f.StringVar(&o.tlsCert, "tls-cert", "", "certificate file (PEM) for --s3-tls-addr")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key file (PEM) for --s3-tls-addr")
	f.StringVar(&o.node.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft listen and advertise address (host:port reachable by the other nodes)")
	f.StringVar(&o.node.RPCAddr, "rpc-addr", "127.0.0.1:7001", "node-to-node RPC listen and advertise address")
	f.StringVar(&o.region, "region", "us-east-1", "region used in SigV4 scopes")
	f.StringVar(&o.domain, "domain", "", "domain for virtual-host-style requests (bucket.DOMAIN); path style always works")
	f.BoolVar(&o.node.Bootstrap, "bootstrap", false, "start a new cluster with this node as its first member")
	f.StringVar(&o.node.Join, "join", "", "RPC address of any member (host:port, its --rpc-addr), to join its cluster")
	f.BoolVar(&allowOpenSecrets, "allow-open-secret-files", false, "start even when a secret file is readable by others than its owner (warns instead of refusing)")
	f.StringVar(&masterFile, "master-key-file", "", "file holding the master key (64 hex digits or base64 of 32 bytes)")
	f.StringVar(&oldMasterFile, "old-master-key-file", "", "file holding previous master keys, one per line, that still unwrap what they wrapped (during a master key rotation)")
	f.StringVar(&secretFile, "cluster-secret-file", "", "file holding the cluster secret (at least 16 characters)")
	f.StringVar(&adminFile, "admin-secret-file", "", "file holding the admin secret for the admin API")
	f.IntVar(&o.node.InlineLimit, "inline-limit", 16<<10, "objects and parts up to this many bytes are kept, encrypted, in the replicated metadata instead of as shards (-1: never)")
	f.DurationVar(&o.node.GCGrace, "gc-grace", 5*time.Minute, "how long the shards of replaced or deleted versions stay readable for downloads in flight before they are deleted")
	f.DurationVar(&o.node.ShredEvery, "shred-every", 24*time.Hour, "how long the wrapped key of a deleted object version may stay on a disk: this often, when anything was committed since, every node rewrites its metadata database and compacts its Raft log so that no log entry, snapshot or free page holds deleted records' keys")
	f.DurationVar(&o.node.UploadExpiry, "upload-expiry", 7*24*time.Hour, "abort multipart uploads left unfinished this long, and collect their parts")
	f.DurationVar(&o.node.ScrubEvery, "scrub-every", 7*24*time.Hour, "time between scrub passes, which read every local shard and have missing or corrupt ones rebuilt (0: no scrub)")
	f.Int64Var(&scrubMiB, "scrub-rate", 64, "MiB/s a scrub pass may read (0: no cap)")
	f.DurationVar(&o.node.ReprotectEvery, "reprotect-every", node.DefaultReprotectEvery, "how often the leader looks for streams to re-code onto the full erasure family: below full protection (written while a site was down, on a draining drive), or outside it during a spread; it also looks at once when the topology changes (0: never)")
	f.Int64Var(&reprotectMiB, "reprotect-rate", node.DefaultReprotectRate>>20, "MiB/s of ciphertext the leader re-codes (re-protection, drains, spreads), leaving the disks and the network to clients (0: no cap)")
	f.DurationVar(&o.node.LifecycleEvery, "lifecycle-every", node.DefaultLifecycleEvery, "how often the leader applies the buckets' lifecycle rules (expirations, noncurrent versions, expired delete markers, incomplete uploads) in one pass over every bucket with rules (0: never)")
	f.Int64Var(&o.node.LifecycleRate, "lifecycle-rate", node.DefaultLifecycleRate, "metadata commands per second a lifecycle pass may propose (deletions, delete markers, aborts) (0: no cap)")
	f.StringVar(&driveReserve, "drive-reserve", "1GiB", "free space a data drive keeps: below it, the drive takes no new shards (new writes go to sets with room)")
	f.StringVar(&metaReserve, "meta-reserve", "256MiB", "free space the metadata drive keeps: below it, the node answers 503 and hands over Raft leadership until space returns")
	f.DurationVar(&o.limits.IdleTimeout, "idle-timeout", s3api.DefaultIdleTimeout, "S3 and admin connections: how long request headers, one read of a body or one write of a response may take without a byte moving; a stalled body gets 400 RequestTimeout (0: none)")
	f.DurationVar(&o.limits.FormTimeout, "form-timeout", s3api.DefaultFormTimeout, "how long a POST form's fields before the file may take altogether (0: none)")
	f.IntVar(&o.limits.MaxConns, "max-conns", s3api.DefaultMaxConns, "open S3 connections on this node; more are closed at once (0: no cap)")
	f.IntVar(&o.limits.MaxConnsPerClient, "max-conns-per-client", s3api.DefaultMaxConnsPerClient, "open S3 connections from one client address (IPv6: one /64); more are closed at once (0: no cap)")
	f.IntVar(&o.limits.MaxRequests, "max-requests", s3api.DefaultMaxRequests, "S3 and admin requests in flight on this node; more get 503 SlowDown at once (0: no cap)")
	f.IntVar(&o.limits.MaxRequestsPerTenant, "max-requests-per-tenant", s3api.DefaultMaxRequestsPerTenant, "requests in flight of one tenant (also of unauthenticated POST forms and preflights together, and of the admin API); more get 503 SlowDown at once (0: no cap)")
	f.IntVar(&o.limits.MaxActive, "max-active", 8*runtime.GOMAXPROCS(0), "tenants' requests this node works on at once; more wait their tenant's turn (a tenant below its fair share always starts), so one tenant's flood cannot slow the others beyond a bound; set from the node's capacity, a few per core (0: no scheduling)")
	f.DurationVar(&o.limits.MaxQueueWait, "max-queue-wait", s3api.DefaultMaxQueueWait, "how long a request may wait for its tenant's turn before it gets 503 SlowDown")
	f.StringVar(&defaultQuota, "default-tenant-quota", DefaultTenantQuota, "the quota every tenant created through this node starts with, as name=value,… "+
		"(bytes, objects, buckets, uploads, parts, inline; sizes with units); \"none\" for none. Change a tenant's with kcs admin tenant quota set")
	f.StringVar(&maxUploadInline, "max-upload-inline", "16MiB", "what one multipart upload may keep inline in the replicated metadata (its small parts); beyond it a part is refused with EntityTooLarge (-1: no bound)")
	f.StringVar(&bodyMemory, "body-memory", "2GiB", "memory request bodies in flight may hold on this node (each streamed body counts what the PUT pipeline buffers); beyond it 503 SlowDown (0: no cap)")
	f.StringSliceVar(&trustedProxies, "trusted-proxies", nil, "comma-separated addresses or CIDR prefixes of load balancers whose PROXY protocol headers and X-Forwarded-For/-Proto are believed")
	f.StringVar(&addressesFile, "addresses-file", "", "once serving, write the addresses bound (JSON: s3, s3_tls, raft, rpc, metrics) to this file; with port 0 in an address flag, how to learn the port")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", logFormatText, logFormatUsage)
	f.DurationVar(&o.trafficRetention, "traffic-retention", metering.DefaultRetention, "how long each tenant's hourly traffic counts (requests, bytes in and out, for kcs admin tenant usage and billing) are kept in <meta-dir>/traffic.db; at least 13 months for a year's comparison")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics, no authentication) on this address, e.g. 127.0.0.1:9100")
	f.StringVar(&debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof) on this address; keep it on loopback")
	f.BoolVar(&fastRaft, "fast-raft", false, "shorter Raft timeouts (tests; loopback clusters)")
	f.MarkHidden("fast-raft")
	logFailure(cmd, &logFormat)
	annotateEnv(cmd)
	return cmd
}

// admissionMetrics exports what the admission holds and refused: an
// operator sees load shedding (and a cap set too low) without reading logs.
func admissionMetrics(reg *metrics.Registry, adm *s3api.Admission) {
	stat := func(f func(s3api.AdmissionStats) float64) func() float64 {
		return func() float64 { return f(adm.Stats()) }
	}
	reg.GaugeFunc("kcs_admission_connections", "Open S3 connections.", stat(func(s s3api.AdmissionStats) float64 { return float64(s.Conns) }))
	reg.GaugeFunc("kcs_admission_requests", "S3 and admin requests in flight.", stat(func(s s3api.AdmissionStats) float64 { return float64(s.Requests) }))
	reg.GaugeFunc("kcs_admission_body_bytes", "Bytes of the request body budget drawn.", stat(func(s s3api.AdmissionStats) float64 { return float64(s.BodyBytes) }))
	reg.CounterFunc("kcs_admission_refused_connections_total", "Connections closed at once (node or per-client cap).", stat(func(s s3api.AdmissionStats) float64 { return float64(s.RefusedConns) }))
	reg.CounterFunc("kcs_admission_refused_requests_total", "Requests answered 503 SlowDown (node or tenant cap, or a turn not come in time).", stat(func(s s3api.AdmissionStats) float64 { return float64(s.RefusedRequests) }))
	reg.CounterFunc("kcs_admission_refused_bodies_total", "Requests answered 503 SlowDown for the body budget.", stat(func(s s3api.AdmissionStats) float64 { return float64(s.RefusedBodies) }))
	reg.CounterFunc("kcs_admission_timeouts_total", "Reads and writes cut for making no progress (400 RequestTimeout, or a closed connection).", stat(func(s s3api.AdmissionStats) float64 { return float64(s.Timeouts) }))
}
