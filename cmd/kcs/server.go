package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/admin"
	"github.com/kommunal-cloud/kcs/node/fsutil"
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
	metricsAddr string // Prometheus /metrics; "" for none
}

// serving is a node with its S3 and admin listeners.
type serving struct {
	node    *node.Node
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
	n, err := node.Start(ctx, o.node)
	if err != nil {
		closeAll()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return nil, err
	}
	s := &serving{node: n, log: log, done: make(chan error, len(lns)+1)}
	s.addrs.Raft, s.addrs.RPC = n.Addrs()
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
	s3cfg := s3api.Config{Region: o.region, Domain: o.domain, Logger: log.With("component", "s3")}
	if metricsLn != nil {
		reg := metrics.New(n)
		s3cfg.Observer = reg
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", reg.Handler())
		s.start(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, metricsLn)
		log.Info("metrics listening", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
	}
	s3 := s3api.New(s3cfg, n, n)
	adm := admin.NewHandler(n, o.adminSecret, log.With("component", "admin"))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_kcs/") {
			adm.ServeHTTP(w, r)
			return
		}
		s3.ServeHTTP(w, r)
	})
	for _, l := range lns {
		srv := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		ln := l.ln
		if l.tls {
			srv.TLSConfig = tlsCfg
			ln = tls.NewListener(ln, tlsCfg)
		}
		s.start(srv, ln)
	}
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

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func newServerCmd() *cobra.Command {
	var (
		o                                 serveOptions
		drives, logLevel                  string
		masterFile, secretFile, adminFile string
		oldMasterFile                     string
		fastRaft                          bool
		debugAddr                         string
		scrubMiB                          int64
		driveReserve, metaReserve         string
		addressesFile                     string
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
			log, err := newLogger(logLevel)
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
			if o.node.DriveReserve, err = parseReserve("--drive-reserve", driveReserve); err != nil {
				return err
			}
			if o.node.MetaReserve, err = parseReserve("--meta-reserve", metaReserve); err != nil {
				return err
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
	f.StringVar(&o.s3Addr, "s3-addr", "", "S3 over HTTP listen address, e.g. :9000")
	f.StringVar(&o.s3TLSAddr, "s3-tls-addr", "", "S3 over HTTPS listen address, e.g. :9443")
	f.StringVar(&o.tlsCert, "tls-cert", "", "certificate file (PEM) for --s3-tls-addr")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key file (PEM) for --s3-tls-addr")
	f.StringVar(&o.node.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft listen and advertise address (host:port reachable by the other nodes)")
	f.StringVar(&o.node.RPCAddr, "rpc-addr", "127.0.0.1:7001", "node-to-node RPC listen and advertise address")
	f.StringVar(&o.region, "region", "us-east-1", "region used in SigV4 scopes")
	f.StringVar(&o.domain, "domain", "", "domain for virtual-host-style requests (bucket.DOMAIN); path style always works")
	f.BoolVar(&o.node.Bootstrap, "bootstrap", false, "start a new cluster with this node as its first member")
	f.StringVar(&o.node.Join, "join", "", "RPC address of any member, to join its cluster")
	f.StringVar(&masterFile, "master-key-file", "", "file holding the master key (64 hex digits or base64 of 32 bytes)")
	f.StringVar(&oldMasterFile, "old-master-key-file", "", "file holding previous master keys, one per line, that still unwrap what they wrapped (during a master key rotation)")
	f.StringVar(&secretFile, "cluster-secret-file", "", "file holding the cluster secret (at least 16 characters)")
	f.StringVar(&adminFile, "admin-secret-file", "", "file holding the admin secret for the admin API")
	f.IntVar(&o.node.InlineLimit, "inline-limit", 16<<10, "objects and parts up to this many bytes are kept, encrypted, in the replicated metadata instead of as shards (-1: never)")
	f.DurationVar(&o.node.GCGrace, "gc-grace", 5*time.Minute, "how long the shards of replaced or deleted versions stay readable for downloads in flight before they are deleted")
	f.DurationVar(&o.node.UploadExpiry, "upload-expiry", 7*24*time.Hour, "abort multipart uploads left unfinished this long, and collect their parts")
	f.DurationVar(&o.node.ScrubEvery, "scrub-every", 7*24*time.Hour, "time between scrub passes, which read every local shard and have missing or corrupt ones rebuilt (0: no scrub)")
	f.Int64Var(&scrubMiB, "scrub-rate", 64, "MiB/s a scrub pass may read (0: no cap)")
	f.StringVar(&driveReserve, "drive-reserve", "1GiB", "free space a data drive keeps: below it, the drive takes no new shards (new writes go to sets with room)")
	f.StringVar(&metaReserve, "meta-reserve", "256MiB", "free space the metadata drive keeps: below it, the node answers 503 and hands over Raft leadership until space returns")
	f.StringVar(&addressesFile, "addresses-file", "", "once serving, write the addresses bound (JSON: s3, s3_tls, raft, rpc, metrics) to this file; with port 0 in an address flag, how to learn the port")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics, no authentication) on this address, e.g. 127.0.0.1:9100")
	f.StringVar(&debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof) on this address; keep it on loopback")
	f.BoolVar(&fastRaft, "fast-raft", false, "shorter Raft timeouts (tests; loopback clusters)")
	f.MarkHidden("fast-raft")
	annotateEnv(cmd)
	return cmd
}
