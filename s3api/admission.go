package s3api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// Admission bounds what clients can make a node hold, so that one client
// (or one tenant) cannot take the node away from the others:
//
//   - time: every read of a request's headers or body and every write of
//     its response must make progress within Limits.IdleTimeout. A slow
//     but steady client is never cut; a stalled one is, with 400
//     RequestTimeout (or, for a response it does not read, by closing the
//     connection, which cancels the request's context and so every shard
//     stream the object layer opened for it). A POST form's fields before
//     the file must arrive within Limits.FormTimeout altogether.
//   - counts: open connections per node and per client address (Listener:
//     the excess is closed at once), requests in flight per node and per
//     tenant (Server: the excess is answered 503 SlowDown at once, never
//     queued). Requests not authenticated yet (POST forms until their
//     policy is verified, CORS preflights) count as one more tenant, as
//     does the admin API (Admit).
//   - memory: a node-wide budget that request bodies draw from for as long
//     as their handler runs (the object layer's buffers for a streamed
//     body, or the document of an XML request); beyond it 503 SlowDown.
//
// Behind a load balancer, the client's address and scheme come from a
// PROXY protocol header (v1 or v2) or from X-Forwarded-For and
// X-Forwarded-Proto, each believed only from Limits.TrustedProxies, so
// that the caps (and anything that later looks at addresses) see the real
// client.
//
// Wiring (cmd/kcs does this for the S3 listeners):
//
//	srv := &http.Server{Handler: adm.Handler(s3), ConnContext: adm.ConnContext,
//		ReadHeaderTimeout: adm.Limits().IdleTimeout}
//	srv.Serve(adm.Listener(ln, false))
//
// and the Server gets the same Admission in Config.Admission. A nil
// *Admission admits everything.
type Admission struct {
	lim Limits
	log *slog.Logger

	mu       sync.Mutex
	conns    int
	clients  map[netip.Prefix]int // open connections per client network
	requests int
	classes  map[class]int // requests in flight per tenant (or other class)
	body     int64         // bytes of the body budget drawn
	fair     fairShare     // the tenants' turns at the node's active slots

	refused  [nRefusal]atomic.Int64
	timeouts atomic.Int64
	logMu    sync.Mutex
	lastLog  time.Time
	logged   [nRefusal]int64
}

// Limits configures an Admission. A zero field takes its default; a
// negative one switches that limit off.
type Limits struct {
	// IdleTimeout is how long reading a request's headers, one read of its
	// body or one write of its response may take without a byte moving
	// (and how long a TLS handshake or a PROXY header may take).
	IdleTimeout time.Duration
	// FormTimeout is how long a POST form's fields before the file may
	// take altogether, however steadily they arrive.
	FormTimeout time.Duration
	// MaxConns caps the node's open connections (all listeners wrapped by
	// this Admission together); MaxConnsPerClient those of one client
	// address (an IPv6 client by its /64).
	MaxConns          int
	MaxConnsPerClient int
	// MaxRequests caps the requests in flight on the node,
	// MaxRequestsPerTenant those of one tenant (and of the requests not
	// authenticated yet, and of each API admitted with Admit).
	MaxRequests          int
	MaxRequestsPerTenant int
	// MaxActive is how many tenants' requests the node works on at once;
	// more wait their tenant's turn (see fairShare). It is what keeps one
	// tenant's flood from slowing the others: the node's disks, fsyncs and
	// Raft commits serve everyone in one queue, so only a small number of
	// requests at a time, handed out fairly, bounds that queue. Set it
	// from the node's capacity (a few per core).
	MaxActive int
	// MaxQueueWait is how long a request may wait for its turn before it
	// is answered 503 SlowDown.
	MaxQueueWait time.Duration
	// BodyMemory is the node-wide budget request bodies draw from.
	BodyMemory int64
	// StreamBodyBytes is what one streamed body (PutObject, UploadPart,
	// a POST form's file; copies too, which stream through the same
	// write path) draws: the most the object layer buffers for a stream.
	// A body declared at most SmallBodyBytes long, which the object layer
	// keeps whole, draws SmallBodyBytes instead.
	StreamBodyBytes int64
	SmallBodyBytes  int64
	// TrustedProxies are the load balancers whose PROXY headers and
	// X-Forwarded-For / X-Forwarded-Proto headers are believed. From any
	// other address they are not: a PROXY header is then not HTTP, and
	// the forwarding headers are ignored.
	TrustedProxies []netip.Prefix
}

// The defaults of Limits.
const (
	DefaultIdleTimeout          = 30 * time.Second
	DefaultFormTimeout          = 10 * time.Second
	DefaultMaxConns             = 4096
	DefaultMaxConnsPerClient    = 256
	DefaultMaxRequests          = 1024
	DefaultMaxRequestsPerTenant = 128
	DefaultBodyMemory           = 2 << 30
	DefaultMaxQueueWait         = 10 * time.Second
	DefaultStreamBodyBytes      = 8 << 20
)

// maxDocumentBytes is what an XML request body draws at most: the
// largest document s3api reads (DeleteObjects, CompleteMultipartUpload).
const maxDocumentBytes = 8 << 20

// writeSlice is the most one write of a response may carry under one
// deadline: at 64 kbit/s, 64 KiB take 8 s, well within IdleTimeout, so a
// slow but moving client is never cut in the middle of a large write.
const writeSlice = 64 << 10

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// NewAdmission returns an Admission enforcing lim (zero fields take their
// defaults), logging to log (nil: discard) a summary of what it refused,
// at most every ten seconds.
func NewAdmission(lim Limits, log *slog.Logger) *Admission {
	lim.IdleTimeout = orDefault(lim.IdleTimeout, DefaultIdleTimeout)
	lim.FormTimeout = orDefault(lim.FormTimeout, DefaultFormTimeout)
	lim.MaxConns = orDefault(lim.MaxConns, DefaultMaxConns)
	lim.MaxConnsPerClient = orDefault(lim.MaxConnsPerClient, DefaultMaxConnsPerClient)
	lim.MaxRequests = orDefault(lim.MaxRequests, DefaultMaxRequests)
	lim.MaxRequestsPerTenant = orDefault(lim.MaxRequestsPerTenant, DefaultMaxRequestsPerTenant)
	lim.BodyMemory = orDefault(lim.BodyMemory, DefaultBodyMemory)
	lim.MaxActive = orDefault(lim.MaxActive, 8*runtime.GOMAXPROCS(0))
	lim.MaxQueueWait = orDefault(lim.MaxQueueWait, DefaultMaxQueueWait)
	lim.StreamBodyBytes = orDefault(lim.StreamBodyBytes, DefaultStreamBodyBytes)
	lim.SmallBodyBytes = max(lim.SmallBodyBytes, 0)
	trusted := make([]netip.Prefix, 0, len(lim.TrustedProxies))
	for _, p := range lim.TrustedProxies {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		trusted = append(trusted, p.Masked())
	}
	lim.TrustedProxies = trusted
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Admission{lim: lim, log: log, clients: map[netip.Prefix]int{}, classes: map[class]int{}}
	a.fair = fairShare{max: lim.MaxActive, active: map[string]int{}, waiting: map[string][]chan struct{}{}}
	return a
}

// Limits returns the limits in force, defaults filled in.
func (a *Admission) Limits() Limits { return a.lim }

// AdmissionStats is what an Admission holds now and has refused so far.
type AdmissionStats struct {
	Conns     int   // open connections
	Requests  int   // requests in flight
	BodyBytes int64 // of the body budget, drawn

	RefusedConns    int64 // connections closed at once (node or client cap)
	RefusedRequests int64 // requests answered 503 SlowDown (node or tenant cap)
	RefusedBodies   int64 // requests answered 503 SlowDown (body budget)
	Timeouts        int64 // reads and writes cut for making no progress
}

// Stats returns the current counts.
func (a *Admission) Stats() AdmissionStats {
	a.mu.Lock()
	st := AdmissionStats{Conns: a.conns, Requests: a.requests, BodyBytes: a.body}
	a.mu.Unlock()
	st.RefusedConns = a.refused[refusedConn].Load()
	st.RefusedRequests = a.refused[refusedRequest].Load()
	st.RefusedBodies = a.refused[refusedBody].Load()
	st.Timeouts = a.timeouts.Load()
	return st
}

type refusal int

const (
	refusedConn refusal = iota
	refusedRequest
	refusedBody
	nRefusal
)

// noteRefused counts a refusal and, at most every ten seconds, logs how
// many of each kind there were since the last line: load shedding must be
// visible without a log line per refused request.
func (a *Admission) noteRefused(k refusal) {
	a.refused[k].Add(1)
	a.logMu.Lock()
	defer a.logMu.Unlock()
	now := time.Now()
	if now.Sub(a.lastLog) < 10*time.Second {
		return
	}
	a.lastLog = now
	var d [nRefusal]int64
	for i := range d {
		v := a.refused[i].Load()
		d[i], a.logged[i] = v-a.logged[i], v
	}
	st := a.Stats()
	a.log.Warn("admission: shedding load", "refused_conns", d[refusedConn], "refused_requests", d[refusedRequest],
		"refused_bodies", d[refusedBody], "conns", st.Conns, "requests", st.Requests, "body_bytes", st.BodyBytes)
}

// --- Connections ---------------------------------------------------------

// Listener wraps ln (a TCP listener; secure if TLS is layered on top of the
// returned listener) so that connections beyond MaxConns, or beyond
// MaxConnsPerClient for one client, are closed as soon as they are
// accepted: on a plain listener after a canned 503 SlowDown, on a TLS one
// without a word (a handshake is not cheap). Connections from a trusted
// proxy are read for a PROXY header first (on their own goroutine, within
// IdleTimeout); the client it names is the one capped. A trusted proxy
// that sends none (it forwards with X-Forwarded-For) is capped by
// MaxConns only.
func (a *Admission) Listener(ln net.Listener, secure bool) net.Listener {
	return &listener{Listener: ln, a: a, secure: secure}
}

type listener struct {
	net.Listener
	a      *Admission
	secure bool
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.a.accept(raw, l.secure); c != nil {
			return c, nil
		}
	}
}

func (a *Admission) accept(raw net.Conn, secure bool) net.Conn {
	peer := addrOf(raw.RemoteAddr())
	a.mu.Lock()
	if a.lim.MaxConns > 0 && a.conns >= a.lim.MaxConns {
		a.mu.Unlock()
		a.refuseConn(raw, secure)
		return nil
	}
	a.conns++
	a.mu.Unlock()
	c := &conn{Conn: raw, a: a, secure: secure}
	if a.trusted(peer) {
		c.pp = proxyproto.NewConn(raw, proxyproto.WithPolicy(proxyproto.USE), proxyproto.SetReadHeaderTimeout(a.headerTimeout()))
		c.Conn = c.pp
		return c
	}
	c.once.Do(func() {}) // the client is the peer
	if !a.takeClient(peer) {
		a.releaseConn()
		a.refuseConn(raw, secure)
		return nil
	}
	c.client, c.counted = peer, true
	return c
}

// headerTimeout is how long a connection from a trusted proxy may take to
// send its PROXY header (or its first bytes without one). It is read
// before net/http sets any deadline, so it is never off: with
// IdleTimeout off it is the default.
func (a *Admission) headerTimeout() time.Duration {
	if a.lim.IdleTimeout < 0 {
		return DefaultIdleTimeout
	}
	return a.lim.IdleTimeout
}

// slowDownResponse is what a plain-HTTP connection refused at accept gets.
var slowDownResponse = func() string {
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>SlowDown</Code><Message>" + codes["SlowDown"].Message + "</Message></Error>"
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nRetry-After: " + retryAfter +
		"\r\nConnection: close\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
}()

func (a *Admission) refuseConn(c net.Conn, secure bool) {
	a.noteRefused(refusedConn)
	if !secure {
		// A fresh connection's send buffer is empty: this never blocks for
		// long, and the deadline makes sure of it.
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		io.WriteString(c, slowDownResponse)
	}
	c.Close()
}

func (a *Admission) releaseConn() {
	a.mu.Lock()
	a.conns--
	a.mu.Unlock()
}

// clientNet is what MaxConnsPerClient counts by: an IPv4 address, or an
// IPv6 client's /64 (one subscriber's prefix: addresses within it cost a
// client nothing to change).
func clientNet(ip netip.Addr) netip.Prefix {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, 32)
}

func (a *Admission) takeClient(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true // not an IP connection (tests on pipes): nothing to count
	}
	k := clientNet(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lim.MaxConnsPerClient > 0 && a.clients[k] >= a.lim.MaxConnsPerClient {
		return false
	}
	a.clients[k]++
	return true
}

func (a *Admission) releaseClient(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	k := clientNet(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients[k]--; a.clients[k] <= 0 {
		delete(a.clients, k)
	}
}

func (a *Admission) trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.lim.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrOf returns the IP of a TCP address (unmapped), or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// errConnRefused is what a connection refused after its PROXY header
// reads and writes.
var errConnRefused = errors.New("s3api: connection refused: too many connections from this client")

// conn is an admitted connection: it gives its slots back when closed.
type conn struct {
	net.Conn
	a      *Admission
	secure bool
	pp     *proxyproto.Conn // from a trusted proxy: may start with a PROXY header

	once    sync.Once // resolves the client (reads the PROXY header)
	proxied bool      // a PROXY header named the client
	ssl     bool      // ... and said it connected with TLS
	refused bool      // over its client's cap: every read and write fails

	mu       sync.Mutex
	closed   bool
	answered bool // the refusal was written
	client   netip.Addr
	counted  bool // client holds a slot of MaxConnsPerClient
}

// resolve reads the PROXY header of a connection from a trusted proxy
// (net/http asks for RemoteAddr first thing on the connection's own
// goroutine) and charges the client it names.
func (c *conn) resolve() {
	c.once.Do(func() {
		h := c.pp.ProxyHeader()
		if h == nil || !h.Command.IsProxy() {
			return
		}
		ip := addrOf(h.SourceAddr)
		if !ip.IsValid() {
			return
		}
		c.proxied = true
		if tlvs, err := h.TLVs(); err == nil {
			if s, ok := tlvparse.FindSSL(tlvs); ok && s.ClientSSL() {
				c.ssl = true
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		if !c.a.takeClient(ip) {
			c.refused = true
			c.a.noteRefused(refusedConn)
			return
		}
		c.client, c.counted = ip, true
	})
}

func (c *conn) Read(p []byte) (int, error) {
	if c.pp != nil {
		c.resolve()
		if c.refused {
			return 0, c.refuse()
		}
	}
	return c.Conn.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	if c.pp != nil {
		c.resolve()
		if c.refused {
			return 0, c.refuse()
		}
	}
	return c.Conn.Write(p)
}

// refuse answers a connection over its client's cap once (plain HTTP
// only) and fails it.
func (c *conn) refuse() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.secure && !c.closed && !c.answered {
		c.answered = true
		c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		io.WriteString(c.Conn, slowDownResponse)
	}
	return errConnRefused
}

func (c *conn) RemoteAddr() net.Addr {
	if c.pp != nil {
		c.resolve()
	}
	return c.Conn.RemoteAddr()
}

func (c *conn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		if c.counted {
			c.a.releaseClient(c.client)
		}
		c.a.releaseConn()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

type connKey struct{}

// ConnContext is http.Server's ConnContext: it lets Handler see what the
// connection learnt from a PROXY header (whether the client used TLS).
func (a *Admission) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if c, ok := nc.(*conn); ok {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// --- Clients -------------------------------------------------------------

// Client is who sent a request, as far as the node can tell.
type Client struct {
	// Addr is the client's address: the connection's peer, or the client
	// a trusted proxy named (PROXY header, X-Forwarded-For).
	Addr netip.Addr
	// Secure reports that the client's connection was TLS: to this node,
	// or to a trusted proxy that said so (PROXY v2's SSL TLV,
	// X-Forwarded-Proto: https).
	Secure bool
	// Proxy is the trusted proxy the request came through, if any.
	Proxy netip.Addr
}

type clientKey struct{}

// ClientOf returns the client of a request that passed through an
// Admission's Handler.
func ClientOf(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(clientKey{}).(Client)
	return c, ok
}

// client works out who sent r. The peer is the connection's (after a
// PROXY header, if a trusted proxy sent one). A peer that is a trusted
// proxy speaks for the next hop: X-Forwarded-For is read from its end,
// skipping further trusted proxies, and the first other address is the
// client.
func (a *Admission) client(r *http.Request) Client {
	var cl Client
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		cl.Addr = ap.Addr().Unmap()
	}
	cl.Secure = r.TLS != nil
	if c, ok := r.Context().Value(connKey{}).(*conn); ok && c.proxied {
		cl.Secure = c.ssl
		cl.Proxy = addrOf(c.pp.Raw().RemoteAddr())
	}
	if !a.trusted(cl.Addr) {
		return cl
	}
	if v := r.Header.Values("X-Forwarded-Proto"); len(v) > 0 {
		// The nearest proxy's word: the last value.
		parts := strings.Split(v[len(v)-1], ",")
		cl.Secure = strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https")
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	if len(hops) == 0 {
		return cl
	}
	proxy := cl.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].IsValid() {
			break // garbage: the last hop we could read is the client
		}
		proxy, cl.Addr = cl.Addr, hops[i]
		if !a.trusted(cl.Addr) {
			break
		}
	}
	if cl.Addr != proxy {
		cl.Proxy = proxy
	}
	return cl
}

// forwardedFor parses X-Forwarded-For lines into addresses, in order; an
// entry that is no address (a port is allowed, as some proxies add one)
// is the zero Addr.
func forwardedFor(lines []string) []netip.Addr {
	var out []netip.Addr
	for _, l := range lines {
		for _, f := range strings.Split(l, ",") {
			f = strings.TrimSpace(f)
			ip, err := netip.ParseAddr(f)
			if err != nil {
				if ap, err := netip.ParseAddrPort(f); err == nil {
					ip = ap.Addr()
				}
			}
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// --- Progress deadlines --------------------------------------------------

// Handler wraps next (the S3 server and whatever else shares its
// listeners) so that every request sees its real client (ClientOf;
// r.RemoteAddr is set to it) and every read of its body and write of its
// response has IdleTimeout to make progress. A body read that times out
// fails with RequestTimeout; a write that times out fails the connection,
// which cancels the request's context.
func (a *Admission) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl := a.client(r)
		ctx := context.WithValue(r.Context(), clientKey{}, cl)
		idle := a.lim.IdleTimeout
		var p *progress
		if idle > 0 {
			p = &progress{rc: http.NewResponseController(w), idle: idle, a: a}
			ctx = context.WithValue(ctx, progressKey{}, p)
		}
		r = r.WithContext(ctx)
		if cl.Addr.IsValid() && addrOfString(r.RemoteAddr) != cl.Addr {
			// Named by X-Forwarded-For, which gives no port.
			r.RemoteAddr = netip.AddrPortFrom(cl.Addr, 0).String()
		}
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		// Writes made for the handler by net/http (100 Continue, the
		// headers at the end) fall under this one until a Write renews it.
		p.rc.SetWriteDeadline(now.Add(idle))
		var body *progressBody
		if r.Body != nil && r.Body != http.NoBody {
			// Also covers a body the handler never reads, which net/http
			// discards (up to 256 KiB) before it answers. Only a request
			// with a body: without one, net/http is already waiting in a
			// read for the client to go away, and a deadline there would
			// cancel the request.
			p.rc.SetReadDeadline(now.Add(idle))
			body = &progressBody{ReadCloser: r.Body, p: p}
			r.Body = body
		}
		defer func() {
			// The end of the response, flushed after the handler returns,
			// and a rest of the body net/http discards.
			t := time.Now().Add(idle)
			p.rc.SetWriteDeadline(t)
			if body != nil && !body.done {
				p.rc.SetReadDeadline(t)
			}
		}()
		next.ServeHTTP(&progressWriter{ResponseWriter: w, p: p}, r)
	})
}

func addrOfString(s string) netip.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

type progressKey struct{}

// progress is a request's deadlines.
type progress struct {
	rc       *http.ResponseController
	idle     time.Duration
	a        *Admission
	until    time.Time // a deadline reads must meet however they progress (POST form fields)
	timedOut bool      // a read of the body timed out
}

func (p *progress) readDeadline(now time.Time) time.Time {
	d := now.Add(p.idle)
	if !p.until.IsZero() && p.until.Before(d) {
		d = p.until
	}
	return d
}

// progressBody renews the read deadline before each read of the body
// until the body ends.
type progressBody struct {
	io.ReadCloser
	p       *progress
	started bool
	done    bool // ended or failed: from now on the connection's deadlines are net/http's
}

func (b *progressBody) Read(buf []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(buf)
	}
	now := time.Now()
	b.p.rc.SetReadDeadline(b.p.readDeadline(now))
	if !b.started {
		// The first read may answer Expect: 100-continue.
		b.started = true
		b.p.rc.SetWriteDeadline(now.Add(b.p.idle))
	}
	n, err := b.ReadCloser.Read(buf)
	if err != nil {
		b.done = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.p.a.timeouts.Add(1)
			b.p.timedOut = true
			return n, requestTimeout(err)
		}
	}
	return n, err
}

// progressWriter renews the write deadline before each write of the
// response, in slices of at most writeSlice bytes.
type progressWriter struct {
	http.ResponseWriter
	p *progress
}

func (w *progressWriter) Write(b []byte) (int, error) {
	var n int
	for len(b) > 0 {
		k := min(len(b), writeSlice)
		w.p.rc.SetWriteDeadline(time.Now().Add(w.p.idle))
		m, err := w.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				w.p.a.timeouts.Add(1)
			}
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

func (w *progressWriter) FlushError() error {
	w.p.rc.SetWriteDeadline(time.Now().Add(w.p.idle))
	return w.p.rc.Flush()
}

func (w *progressWriter) Flush() { w.FlushError() }

// Unwrap lets http.ResponseController reach the connection.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestTimeout is the error of a body read that made no progress in
// time.
func requestTimeout(err error) error {
	return &s3Error{Code: "RequestTimeout", Err: err}
}

// isRequestTimeout reports whether err is a read that timed out, as
// requestTimeout made it or as the connection returned it.
func isRequestTimeout(err error) bool {
	var se *s3Error
	return errors.As(err, &se) && se.Code == "RequestTimeout" || errors.Is(err, os.ErrDeadlineExceeded)
}

// limitReads holds the reads of r's body to the deadline d from now,
// however steadily they progress, until end is called; end reports
// whether a read timed out meanwhile (a reader that does not pass read
// errors on, as mime/multipart's header parsing does not, needs to ask).
// Without an Admission (or with FormTimeout off) it does nothing.
func (a *Admission) limitReads(w http.ResponseWriter, r *http.Request, d time.Duration) (end func() (timedOut bool)) {
	if a == nil || d <= 0 {
		return func() bool { return false }
	}
	until := time.Now().Add(d)
	if p, ok := r.Context().Value(progressKey{}).(*progress); ok {
		p.until = until
		return func() bool {
			p.until = time.Time{}
			return p.timedOut
		}
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(until)
	return func() bool {
		rc.SetReadDeadline(time.Time{})
		if !time.Now().Before(until) {
			a.timeouts.Add(1)
			return true
		}
		return false
	}
}

// --- Requests and bodies -------------------------------------------------

// class is what MaxRequestsPerTenant counts by.
type class struct {
	kind byte // 't' a tenant, 'a' not authenticated yet, 'x' another API (Admit)
	name string
}

var anonymous = class{kind: 'a'}

func (a *Admission) enterNode() bool {
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lim.MaxRequests > 0 && a.requests >= a.lim.MaxRequests {
		return false
	}
	a.requests++
	return true
}

func (a *Admission) leaveNode() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.requests--
	a.mu.Unlock()
}

func (a *Admission) enterClass(k class) bool {
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lim.MaxRequestsPerTenant > 0 && a.classes[k] >= a.lim.MaxRequestsPerTenant {
		return false
	}
	a.classes[k]++
	return true
}

func (a *Admission) leaveClass(k class) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.classes[k]--; a.classes[k] <= 0 {
		delete(a.classes, k)
	}
}

// takeBody draws n bytes from the body budget. A request that alone
// exceeds the budget draws the whole budget, so that it can still run
// when nothing else does.
func (a *Admission) takeBody(n int64) (int64, bool) {
	if a == nil || n <= 0 || a.lim.BodyMemory < 0 {
		return 0, true
	}
	n = min(n, a.lim.BodyMemory)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.body+n > a.lim.BodyMemory {
		return 0, false
	}
	a.body += n
	return n, true
}

func (a *Admission) releaseBody(n int64) {
	if a == nil || n == 0 {
		return
	}
	a.mu.Lock()
	a.body -= n
	a.mu.Unlock()
}

// Admit admits a request of another API served on the same listeners
// (the kcs admin API) under the node's cap and a per-tenant cap of its
// own, named api. If ok, release must be called when the request is done;
// if not, answer 503 at once.
func (a *Admission) Admit(api string) (release func(), ok bool) {
	if a == nil {
		return func() {}, true
	}
	if !a.enterNode() {
		a.noteRefused(refusedRequest)
		return nil, false
	}
	k := class{kind: 'x', name: api}
	if !a.enterClass(k) {
		a.leaveNode()
		a.noteRefused(refusedRequest)
		return nil, false
	}
	return func() { a.leaveClass(k); a.leaveNode() }, true
}

// slowDown is the error of a request refused for load. The connection is
// closed after the answer: net/http would otherwise first read (and wait
// for) up to 256 KiB of a body nobody wants before it answers, and a
// client told to slow down frees its connection slot too.
func slowDown(format string, args ...any) error {
	return &s3Error{Code: "SlowDown", Header: map[string]string{"Connection": "close"}, Err: fmt.Errorf(format, args...)}
}

// admitNode takes rq's slot of the node's requests in flight.
func (s *Server) admitNode(rq *request) error {
	if s.adm == nil {
		return nil
	}
	if !s.adm.enterNode() {
		s.adm.noteRefused(refusedRequest)
		return slowDown("the node has %d requests in flight", s.adm.lim.MaxRequests)
	}
	rq.onDone(s.adm.leaveNode)
	return nil
}

// admitClass takes rq's slot of its tenant's requests in flight (or of
// the requests not authenticated yet), giving back the one it held.
func (s *Server) admitClass(rq *request, k class) error {
	if !s.adm.enterClass(k) {
		s.adm.noteRefused(refusedRequest)
		if k.kind == 't' {
			return slowDown("tenant %s has %d requests in flight", k.name, s.adm.lim.MaxRequestsPerTenant)
		}
		return slowDown("%d requests not authenticated yet are in flight", s.adm.lim.MaxRequestsPerTenant)
	}
	if rq.leaveClass != nil {
		rq.leaveClass()
	}
	done := false
	rq.leaveClass = func() {
		if !done {
			done = true
			s.adm.leaveClass(k)
		}
	}
	return nil
}

// admitTenant takes the slot of rq's authenticated tenant, then waits for
// the tenant's turn at the node's active slots.
func (s *Server) admitTenant(rq *request) error {
	if err := s.admitClass(rq, class{kind: 't', name: rq.caller.Tenant}); err != nil {
		return err
	}
	if s.adm.lim.MaxActive < 0 || rq.activated {
		return nil
	}
	release, err := s.adm.fair.enter(rq.ctx, rq.caller.Tenant, s.adm.lim.MaxQueueWait)
	if err != nil {
		s.adm.noteRefused(refusedRequest)
		return slowDown("tenant %s waited %v for its turn: %v", rq.caller.Tenant, s.adm.lim.MaxQueueWait, err)
	}
	rq.activated = true
	rq.onDone(release)
	return nil
}

// fairShare hands the node's active slots to tenants in turn. A tenant
// below its fair share (max divided among the tenants active or waiting)
// always starts at once, even beyond max; one at or above it starts when
// a slot is free, and waits otherwise. Freed slots go to the waiting
// tenants round robin, one request each, so a tenant with a thousand
// requests queued and one with a single request take turns. Total active
// requests stay below max plus the number of tenants.
type fairShare struct {
	mu      sync.Mutex
	max     int
	total   int
	active  map[string]int
	waiting map[string][]chan struct{}
	ring    []string // tenants with waiters, in turn order
}

// enter waits for tenant's turn (at most wait, or until ctx ends) and
// returns the function that gives the slot back.
func (f *fairShare) enter(ctx context.Context, tenant string, wait time.Duration) (func(), error) {
	f.mu.Lock()
	if f.total < f.max || f.active[tenant] < f.shareLocked(tenant) {
		f.startLocked(tenant)
		f.mu.Unlock()
		return f.releaser(tenant), nil
	}
	ch := make(chan struct{})
	if len(f.waiting[tenant]) == 0 {
		f.ring = append(f.ring, tenant)
	}
	f.waiting[tenant] = append(f.waiting[tenant], ch)
	f.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-ch:
		return f.releaser(tenant), nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errors.New("timed out")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-ch: // started meanwhile: give the slot on
		f.stopLocked(tenant)
		f.dispatchLocked()
	default:
		f.dropLocked(tenant, ch)
	}
	return nil, err
}

func (f *fairShare) releaser(tenant string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.stopLocked(tenant)
			f.dispatchLocked()
		})
	}
}

// shareLocked is a tenant's fair share of the slots now.
func (f *fairShare) shareLocked(tenant string) int {
	n := len(f.active)
	if _, ok := f.active[tenant]; !ok {
		n++
	}
	for t := range f.waiting {
		if _, ok := f.active[t]; !ok && t != tenant {
			n++
		}
	}
	return max(1, f.max/max(n, 1))
}

func (f *fairShare) startLocked(tenant string) {
	f.total++
	f.active[tenant]++
}

func (f *fairShare) stopLocked(tenant string) {
	f.total--
	if f.active[tenant]--; f.active[tenant] <= 0 {
		delete(f.active, tenant)
	}
}

// dispatchLocked starts waiting requests, round robin over their tenants,
// while there is a free slot or the tenant next in turn is below its share.
func (f *fairShare) dispatchLocked() {
	for len(f.ring) > 0 {
		started := false
		for i := 0; i < len(f.ring); i++ {
			tenant := f.ring[0]
			f.ring = append(f.ring[1:], tenant)
			if f.total >= f.max && f.active[tenant] >= f.shareLocked(tenant) {
				continue
			}
			q := f.waiting[tenant]
			ch := q[0]
			if len(q) == 1 {
				delete(f.waiting, tenant)
				f.ring = f.ring[:len(f.ring)-1] // it went to the end
			} else {
				f.waiting[tenant] = q[1:]
			}
			f.startLocked(tenant)
			close(ch)
			started = true
			break
		}
		if !started {
			return
		}
	}
}

// dropLocked removes a waiter that gave up.
func (f *fairShare) dropLocked(tenant string, ch chan struct{}) {
	q := f.waiting[tenant]
	for i, c := range q {
		if c == ch {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		f.waiting[tenant] = q
		return
	}
	delete(f.waiting, tenant)
	for i, t := range f.ring {
		if t == tenant {
			f.ring = append(f.ring[:i], f.ring[i+1:]...)
			break
		}
	}
}

// bodyCost is what rq's body draws from the budget: the object layer's
// stream buffers for a body it streams (or what it keeps of a small one),
// the document for an XML request, nothing without a body.
func (s *Server) bodyCost(r *http.Request, rq *request) int64 {
	lim := &s.adm.lim
	switch rq.op {
	case "CopyObject", "UploadPartCopy":
		return lim.StreamBodyBytes
	}
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	declared := r.ContentLength
	if rq.auth != nil {
		declared = rq.auth.Length
	}
	switch rq.op {
	case "PutObject", "UploadPart", "PostObject":
		if declared >= 0 && declared <= lim.SmallBodyBytes {
			return lim.SmallBodyBytes
		}
		return lim.StreamBodyBytes
	}
	if declared < 0 || declared > maxDocumentBytes {
		return maxDocumentBytes
	}
	return declared
}

// admitBody draws rq's body from the budget until the request is done.
func (s *Server) admitBody(r *http.Request, rq *request) error {
	if s.adm == nil {
		return nil
	}
	want := s.bodyCost(r, rq)
	n, ok := s.adm.takeBody(want)
	if !ok {
		s.adm.noteRefused(refusedBody)
		return slowDown("the node's budget for request bodies (%d bytes) has no %d bytes left", s.adm.lim.BodyMemory, want)
	}
	rq.onDone(func() { s.adm.releaseBody(n) })
	return nil
}

// admitForm admits a POST form's file once its policy is verified: the
// tenant's slot instead of the unauthenticated one, and the file's body.
func (s *Server) admitForm(r *http.Request, rq *request) error {
	if s.adm == nil {
		return nil
	}
	if err := s.admitTenant(rq); err != nil {
		return err
	}
	return s.admitBody(r, rq)
}

// limitFormReads holds the reads of a POST form's fields before the file
// to FormTimeout altogether, until end is called; end reports whether a
// read timed out meanwhile.
func (s *Server) limitFormReads(w http.ResponseWriter, r *http.Request) (end func() (timedOut bool)) {
	if s.adm == nil {
		return func() bool { return false }
	}
	return s.adm.limitReads(w, r, s.adm.lim.FormTimeout)
}
