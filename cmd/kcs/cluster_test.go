package main

// The end-to-end harness: real `kcs server` processes on loopback, one per
// site, with a test CA for HTTPS, driven by real S3 clients.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/admin"
)

// kcsBin is the binary built once for all end-to-end tests.
var kcsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kcs-e2e-bin")
	if err != nil {
		panic(err)
	}
	kcsBin = filepath.Join(dir, "kcs")
	// Built without -race: the servers are the system under test, and a
	// race-instrumented server would be several times slower.
	out, err := exec.Command("go", "build", "-o", kcsBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building kcs: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testCA makes a CA and a server certificate for 127.0.0.1 and localhost.
type testCA struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newTestCA(t testing.TB, dir string) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kcs test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	ca := &testCA{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	os.WriteFile(ca.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(ca.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(ca.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	ca.pool.AddCert(caCert)
	return ca
}

// server is one `kcs server` process.
type server struct {
	id, site string
	dir      string
	drives   []string
	cmd      *exec.Cmd
	logf     *os.File
	exited   chan struct{}
	// addrs are the addresses the server bound at its last start: it
	// listens on port 0 everywhere and reports them in its addresses file,
	// so tests never guess free ports. A restart binds new ones.
	addrs atomic.Pointer[boundAddrs]
}

func (s *server) bound() boundAddrs {
	if a := s.addrs.Load(); a != nil {
		return *a
	}
	return boundAddrs{}
}

// The server's current addresses.
func (s *server) s3() string      { return s.bound().S3 }
func (s *server) s3tls() string   { return s.bound().S3TLS }
func (s *server) rpc() string     { return s.bound().RPC }
func (s *server) metrics() string { return s.bound().Metrics }

func (s *server) addressesFile() string { return filepath.Join(s.dir, "addresses.json") }

// endpoint names s's S3 endpoint in a way that survives restarts, which
// move s to new ports: a client whose transport comes from c.transport
// resolves it to s's current address at every new connection.
func (s *server) endpoint() string { return "http://" + s.id + ".kcs.test" }

// transport is an HTTP transport that resolves server endpoints (see
// endpoint) to the servers' current S3 addresses.
func (c *cluster) transport() *http.Transport { return c.transportFrom("") }

// transportFrom is transport with connections from the loopback source
// address src ("": the system's choice), so that per-client caps can tell
// clients apart.
func (c *cluster) transportFrom(src string) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			for _, s := range c.servers {
				if host == s.id+".kcs.test" {
					addr = s.s3()
				}
			}
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

// cluster is a set of kcs server processes, one per site.
type cluster struct {
	t           testing.TB
	dir         string
	ca          *testCA
	servers     []*server
	masterFile  string
	secretFile  string
	adminFile   string
	adminSecret []byte
	extraEnv    []string // for servers started from now on
	extraArgs   []string // server flags, for servers started from now on
	// tmpfs reports whether every server's drives and metadata directory
	// are tmpfs mounts of their own (clusterOptions.tmpfs), which a test
	// can fill up to make one drive full.
	tmpfs bool
}

// clusterOptions changes how startClusterWith sets up the servers.
type clusterOptions struct {
	extraArgs []string // appended to every server's flags
	// perSite puts this many servers in each of the n sites (default 1):
	// the first of each site becomes a Raft voter, the others non-voters.
	perSite int
	// tmpfs, if set, mounts a tmpfs of the given sizes (mount's size=
	// syntax, e.g. "256m") on each server's drives and on its --meta-dir
	// before the server first starts, so that a test can fill exactly one
	// of them. Mounting needs root; where it is not permitted the cluster
	// runs on plain directories and cluster.tmpfs stays false.
	tmpfs *tmpfsSizes
}

type tmpfsSizes struct{ drive, meta string }

func writeSecret(t testing.TB, path string) []byte {
	b := make([]byte, 32)
	rand.Read(b)
	s := []byte(hex.EncodeToString(b))
	if err := os.WriteFile(path, s, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// startCluster starts n servers in n sites and waits until all serve.
func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	return startClusterWith(t, n, clusterOptions{})
}

// startClusterWith is startCluster with options.
func startClusterWith(t testing.TB, n int, opts clusterOptions) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, ca: newTestCA(t, dir), extraArgs: opts.extraArgs,
		masterFile: filepath.Join(dir, "master.key"), secretFile: filepath.Join(dir, "cluster.secret"), adminFile: filepath.Join(dir, "admin.secret")}
	writeSecret(t, c.masterFile)
	writeSecret(t, c.secretFile)
	c.adminSecret = writeSecret(t, c.adminFile)
	// Servers are numbered site by site within a round: with two per site
	// in three sites, n1–n3 are the sites' first (the voters), n4–n6 the
	// seconds.
	for i := range n * max(opts.perSite, 1) {
		s := &server{id: fmt.Sprintf("n%d", i+1), site: fmt.Sprintf("site-%c", 'a'+i%n), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		s.drives = []string{filepath.Join(s.dir, "d1"), filepath.Join(s.dir, "d2")}
		c.servers = append(c.servers, s)
	}
	if opts.tmpfs != nil {
		// Registered before stopAll, so it runs after the servers stopped
		// (and before t.TempDir's removal, which cannot remove a mount).
		c.tmpfs = c.mountTmpfs(*opts.tmpfs)
	}
	t.Cleanup(c.stopAll)
	// The first server bootstraps; the others join through the RPC port
	// it bound.
	c.start(c.servers[0], true, "")
	c.waitReady(c.servers[0])
	// One site's first after the other, so that each site's first member
	// becomes its voter.
	for i, s := range c.servers[1:] {
		c.start(s, false, c.servers[0].rpc())
		if i+2 <= n {
			c.waitReady(s)
		}
	}
	for _, s := range c.servers[1:] {
		c.waitReady(s)
	}
	return c
}

// start launches s. Secrets go in through files and the environment,
// never flags.
func (c *cluster) start(s *server, bootstrap bool, join string) {
	c.t.Helper()
	c.startAt(s, bootstrap, join, boundAddrs{})
}

// startAt is start on the given addresses; empty ones are port 0.
func (c *cluster) startAt(s *server, bootstrap bool, join string, at boundAddrs) {
	c.t.Helper()
	or := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	args := []string{"server", "--id", s.id, "--site", s.site, "--drives", strings.Join(s.drives, ","),
		"--meta-dir", filepath.Join(s.dir, "meta"), "--s3-addr", or(at.S3), "--s3-tls-addr", or(at.S3TLS),
		"--tls-cert", c.ca.certFile, "--tls-key", c.ca.keyFile, "--raft-addr", or(at.Raft), "--rpc-addr", or(at.RPC),
		"--metrics-addr", or(at.Metrics), "--addresses-file", s.addressesFile(), "--fast-raft", "--log-level", "info"}
	if bootstrap {
		args = append(args, "--bootstrap")
	}
	if join != "" {
		args = append(args, "--join", join)
	}
	args = append(args, c.extraArgs...)
	cmd := exec.Command(kcsBin, args...)
	cmd.Env = append(os.Environ(), "KCS_MASTER_KEY_FILE="+c.masterFile, "KCS_CLUSTER_SECRET_FILE="+c.secretFile, "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	cmd.Env = append(cmd.Env, c.extraEnv...)
	os.MkdirAll(s.dir, 0o700)
	os.Remove(s.addressesFile()) // the last start's
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	s.cmd, s.logf, s.exited = cmd, logf, make(chan struct{})
	go func(ch chan struct{}) { cmd.Wait(); close(ch) }(s.exited)
	// Learn the new addresses as soon as the server reports them, whether
	// or not the test waits for it.
	go func(exited chan struct{}) {
		for {
			if s.loadAddrs() {
				return
			}
			select {
			case <-exited:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}(s.exited)
}

// loadAddrs reads the server's addresses file, if it is there yet.
func (s *server) loadAddrs() bool {
	b, err := os.ReadFile(s.addressesFile())
	if err != nil {
		return false
	}
	var a boundAddrs
	if json.Unmarshal(b, &a) != nil || a.S3 == "" {
		return false
	}
	s.addrs.Store(&a)
	return true
}

// mountTmpfs mounts a tmpfs on every server's drives and metadata
// directory and reports whether it could; on the first refusal it undoes
// what it mounted and logs why.
func (c *cluster) mountTmpfs(sizes tmpfsSizes) bool {
	c.t.Helper()
	var mounted []string
	unmount := func() {
		for _, p := range mounted {
			if out, err := exec.Command("umount", p).CombinedOutput(); err != nil {
				// Something still holds it open: detach it lazily, so
				// that removing the temporary directory does not fail.
				c.t.Logf("umount %s: %v %s", p, err, out)
				exec.Command("umount", "-l", p).Run()
			}
		}
	}
	for _, s := range c.servers {
		for _, m := range append([]string{s.metaDir()}, s.drives...) {
			size := sizes.drive
			if m == s.metaDir() {
				size = sizes.meta
			}
			if err := os.MkdirAll(m, 0o700); err != nil {
				c.t.Fatal(err)
			}
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", m).CombinedOutput(); err != nil {
				c.t.Logf("tmpfs not available (%v: %s): servers run on plain directories", err, bytes.TrimSpace(out))
				unmount()
				return false
			}
			mounted = append(mounted, m)
		}
	}
	c.t.Cleanup(unmount)
	return true
}

// metaDir is s's --meta-dir.
func (s *server) metaDir() string { return filepath.Join(s.dir, "meta") }

// waitReady waits until s answers S3 requests (any S3 answer will do).
func (c *cluster) waitReady(s *server) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			c.t.Fatalf("%s exited during start:\n%s", s.id, c.logTail(s))
		default:
		}
		// The server writes its addresses once it serves.
		if s.loadAddrs() {
			resp, err := http.Get("http://" + s.s3() + "/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusForbidden {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s not ready:\n%s", s.id, c.logTail(s))
}

func (c *cluster) logTail(s *server) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// goroutineDump returns what the Go runtime wrote to s's log on SIGQUIT
// (at most 60 KB of it), or the log's tail if there is none.
func (c *cluster) goroutineDump(s *server) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	i := bytes.LastIndex(b, []byte("SIGQUIT"))
	if i < 0 {
		return c.logTail(s)
	}
	return string(b[i:min(len(b), i+60_000)])
}

// kill stops s with SIGKILL: no shutdown, no flush.
func (c *cluster) kill(s *server) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.logf.Close()
	s.cmd = nil
}

// stop stops s gracefully (SIGTERM).
func (c *cluster) stop(s *server) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		// SIGQUIT first: the Go runtime writes every goroutine's stack to
		// the log, which says what the shutdown waited for.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
		c.t.Errorf("%s did not stop on SIGINT; its goroutines:\n%s", s.id, c.goroutineDump(s))
	}
	s.logf.Close()
	s.cmd = nil
}

func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, s := range c.servers {
		wg.Add(1)
		go func() { defer wg.Done(); c.stop(s) }()
	}
	wg.Wait()
	if c.t.Failed() {
		for _, s := range c.servers {
			c.t.Logf("--- log of %s ---\n%s", s.id, c.logTail(s))
		}
	}
}

// restart starts a stopped server again with its state on disk, on new
// ports: it tells the running others its new addresses.
func (c *cluster) restart(s *server) {
	c.t.Helper()
	c.start(s, false, "")
}

// restartAll starts a wholly stopped cluster again. Nobody could tell the
// others new addresses then, so each server gets the ones it had.
func (c *cluster) restartAll() {
	c.t.Helper()
	for _, s := range c.servers {
		c.startAt(s, false, "", s.bound())
	}
	for _, s := range c.servers {
		c.waitReady(s)
	}
}

func (c *cluster) admin(s *server) *admin.Client {
	return &admin.Client{Endpoint: "http://" + s.s3(), Secret: c.adminSecret}
}

// tenant creates a tenant and returns its access key and secret.
func (c *cluster) tenant(name string) (string, string) {
	c.t.Helper()
	info, err := c.admin(c.servers[0]).CreateTenant(context.Background(), name, "", "")
	if err != nil {
		c.t.Fatalf("create tenant %s: %v", name, err)
	}
	return info.AccessKey, info.Secret
}

func (c *cluster) httpsClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.ca.pool}}}
}

// randomFile writes n pseudo-random bytes to a file and returns its path
// and contents.
func randomFile(t testing.TB, dir, name string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func sameFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d uploaded", path, len(got), len(want))
	}
}
