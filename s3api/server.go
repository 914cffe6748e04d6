package s3api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv2"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// ObjectLayer is what s3api needs of the object layer: every S3 operation
// on buckets and objects, in objapi's six roles (objapi.Buckets, Objects,
// Uploads, Tagging, CORS, Versions), whose comments are the contract. The object
// layer, not s3api, decides what the caller may touch; errors are
// *objapi.Error values whose Kind picks the S3 code (errors.go).
// *node.Node implements it; objapi/objtest checks an implementation
// against the contract.
type ObjectLayer = objapi.Layer

// Credentials resolves access keys for SigV4.
type Credentials interface {
	// LookupAccessKey returns the key's secret and tenant, or an error of
	// kind objapi.KindNoSuchAccessKey.
	LookupAccessKey(ctx context.Context, accessKey string) (objapi.Credential, error)
}

// Config configures a Server.
type Config struct {
	// Region is the region SigV4 signatures are scoped to and that buckets
	// live in (GetBucketLocation, CreateBucket's LocationConstraint).
	// Empty means "us-east-1".
	Region string
	// Logger receives one line per request, and panics. Nil discards.
	Logger *slog.Logger
	// MaxSkew is how far a request's signing time may be from Now. Zero
	// means S3's 15 minutes.
	MaxSkew time.Duration
	// Now is the clock SigV4 checks request times against, and POST
	// policies' expirations; nil means time.Now.
	Now func() time.Time
	// Domain, if set, enables virtual-hosted-style addressing: a request
	// for Host "<bucket>.<Domain>" (any port) addresses that bucket, and
	// its whole path is the key. Requests for Domain itself, or any other
	// host, are path style. E.g. "s3.kcs.example".
	Domain string
	// Observer, if set, is told of every request once it is answered:
	// the hook for metrics.
	Observer RequestObserver
	// Meter, if set, counts each tenant's requests and bytes (metering.go).
	Meter TrafficMeter
	// Admission, if set, caps the requests in flight (on the node and per
	// tenant) and the memory their bodies hold, and limits how long a
	// POST form's fields may take (admission.go). Its Handler and
	// Listener, around this Server, do the rest. Nil admits everything.
	Admission *Admission
}

// RequestObserver receives each request's outcome: its S3 operation
// ("PutObject"; "" when the request matched none), HTTP status (499 when
// the client went away), body bytes received and sent, and duration.
type RequestObserver interface {
	ObserveRequest(op string, status int, bytesIn, bytesOut int64, d time.Duration)
}

// DefaultRegion is the region a Config without one uses.
const DefaultRegion = "us-east-1"

// Server answers S3 requests in path style (/bucket/key) and, with
// Config.Domain, in virtual-hosted style (bucket.domain/key) on the object
// layer. It is an http.Handler and safe for concurrent use.
//
// Mount it as the root handler of an http.Server, not under
// http.ServeMux: ServeMux cleans paths and redirects requests whose path
// holds "..", "." or "//", which are valid parts of S3 keys. Server does
// not claim the /_kcs/ prefix of path-style requests, where the kcs binary
// mounts its admin API and health checks: the binary must send those
// requests elsewhere before they reach Server (which would treat them as
// requests for the bucket "_kcs", a name S3's rules never allow), except
// virtual-hosted ones (VirtualHosted), whose paths are keys. Set
// http.Server's ReadHeaderTimeout and MaxHeaderBytes; oversized request
// lines and headers are refused by net/http before Server sees them. An
// Admission (Config.Admission, its Handler around Server and its Listener
// under the http.Server) bounds what clients can hold.
type Server struct {
	region string
	domain string // lower case, without a trailing dot; "" for path style only
	log    *slog.Logger
	layer  ObjectLayer
	auth   *sigv4.Verifier // its lookup asks the Credentials
	authV2 *sigv2.Verifier // the same lookup, for Signature Version 2
	now    func() time.Time
	hostID string // x-amz-id-2 and HostId: which server instance answered
	obs    RequestObserver
	meter  TrafficMeter
	adm    *Admission // nil: no caps
}

// New returns a Server that serves layer to the holders of creds.
func New(cfg Config, layer ObjectLayer, creds Credentials) *Server {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var id [24]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	s := &Server{
		region: cfg.Region,
		domain: strings.TrimSuffix(strings.ToLower(cfg.Domain), "."),
		log:    cfg.Logger,
		now:    cfg.Now,
		layer:  layer,
		hostID: base64.StdEncoding.EncodeToString(id[:]),
		obs:    cfg.Observer,
		meter:  cfg.Meter,
		adm:    cfg.Admission,
	}
	lookup := secretLookup(creds)
	s.auth = newVerifier(cfg, lookup)
	s.authV2 = newVerifierV2(cfg, lookup, s.hostBucket)
	return s
}

// request is one request's state, shared by the dispatcher, the handler
// and the log line.
type request struct {
	id      string
	op      string // S3 operation name, e.g. "PutObject"
	bucket  string
	key     string
	query   url.Values // parsed once by the router
	caller  objapi.Caller
	auth    *sigv4.Result
	body    *bodyReader // set by handlers that stream a body: bytes in, for the log
	errCode string      // the S3 code answered, for the log
	gone    bool        // the client went away: logged, not a server fault
	err     error       // what went wrong in detail, for the log only

	ctx        context.Context // the request's, for waits on admission
	done       []func()        // admission slots to give back when the handler returns
	leaveClass func()          // gives back the tenant's (or unauthenticated) slot
	activated  bool            // holds one of the node's active slots
}

// onDone has f run when the request's handler has returned.
func (rq *request) onDone(f func()) { rq.done = append(rq.done, f) }

// release gives back what the request held of the admission's caps.
func (rq *request) release() {
	if rq.leaveClass != nil {
		rq.leaveClass()
	}
	for i := len(rq.done) - 1; i >= 0; i-- {
		rq.done[i]()
	}
	rq.done = nil
}

// handler serves one S3 operation. It either writes a complete response
// and returns nil, or returns an error before writing anything (the
// dispatcher answers with the S3 error). An error returned after the
// response was started cuts the response off.
type handler func(s *Server, w http.ResponseWriter, r *http.Request, rq *request) error

// ServeHTTP answers one S3 request: it gives it a request id, routes it,
// authenticates it, runs the operation and logs one line. A panic is
// logged with its stack and answered with 500 InternalError.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rq := &request{id: fmt.Sprintf("%016X", mathrand.Uint64()), ctx: r.Context()}
	rw := &responseWriter{ResponseWriter: w}
	h := rw.Header()
	h.Set("Server", "kcs")
	h.Set("X-Amz-Request-Id", rq.id)
	h.Set("X-Amz-Id-2", s.hostID)

	defer func() {
		p := recover()
		switch {
		case p == nil:
		case p == http.ErrAbortHandler:
			// A response cut off on purpose (see serve); net/http closes
			// the connection quietly.
			s.logRequest(r, rq, rw, start)
			panic(p)
		default:
			rq.err = fmt.Errorf("panic: %v", p)
			s.log.Error("s3api: panic serving request", "request_id", rq.id, "op", rq.op, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rw.wroteHeader {
				s.writeError(rw, r, rq, errorf("InternalError", ""))
			} else {
				s.logRequest(r, rq, rw, start)
				panic(http.ErrAbortHandler)
			}
		}
		s.logRequest(r, rq, rw, start)
	}()
	s.serve(rw, r, rq)
}

func (s *Server) serve(w *responseWriter, r *http.Request, rq *request) {
	// A URL presigned with Signature Version 2 may carry headers in its
	// query (botocore moves Content-Type, Content-MD5 and x-amz-* there
	// and signs them as headers). They count as sent, for routing
	// (x-amz-copy-source picks CopyObject) as for the handlers; a header
	// the request does send wins. The client chose both places, so this
	// grants nothing: sigv2 signs what is promoted. The copy leaves
	// net/http's request as it was.
	if extra := sigv2.QueryHeaders(r); extra != nil {
		h := r.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		maps.Copy(h, extra)
		r = r.WithContext(r.Context())
		r.Header = h
	}
	rt := s.route(r)
	rq.op, rq.bucket, rq.key, rq.query = rt.op, rt.bucket, rt.key, rt.query
	defer rq.release()
	// A node over its cap answers at once, before any work (not even the
	// bucket lookup of the CORS headers below).
	err := s.admitNode(rq)
	if err == nil && rt.bucket != "" && !rt.preflight {
		// Before anything can fail, so that browser code can read errors
		// too. Requests without Origin (all but browsers') cost nothing.
		if origin := r.Header.Get("Origin"); origin != "" {
			s.setCORSHeaders(r.Context(), w.Header(), rt.bucket, origin, r.Method)
		}
	}
	switch {
	case err != nil:
	case rt.public:
		// Preflights carry no credentials at all; POST forms carry them in
		// the form, which the handler verifies (and then admits the
		// tenant: admitForm). Until then they count as one tenant more.
		err = rt.err
		if err == nil && s.adm != nil {
			err = s.admitClass(rq, anonymous)
		}
	default:
		err = s.authenticate(r, rq)
		if err == nil {
			// Route errors (unsupported subresources, wrong methods) are
			// only told to authenticated callers, as S3 does.
			err = rt.err
		}
		if err == nil {
			err = checkExpectedOwner(r, rq)
		}
		if err == nil && s.adm != nil {
			err = s.admitTenant(rq)
		}
		if err == nil {
			err = s.admitBody(r, rq)
		}
	}
	if err == nil {
		err = rt.serve(s, w, r, rq)
	}
	if err == nil {
		return
	}
	if rq.err == nil {
		rq.err = err
	}
	rq.gone = clientGone(r, err)
	if w.wroteHeader {
		if isRequestTimeout(err) {
			rq.errCode = "RequestTimeout"
		}
		// The status line and perhaps some bytes are out: the only honest
		// signal left is to cut the response off, so the client sees a
		// short body instead of a complete-looking wrong one.
		panic(http.ErrAbortHandler)
	}
	// Answered even when the client seems gone: one that only half-closed
	// its connection still reads the answer, and must not be left with
	// net/http's default 200 for a request that failed.
	s.writeError(w, r, rq, err)
}

// logRequest writes the request's one log line.
func (s *Server) logRequest(r *http.Request, rq *request, w *responseWriter, start time.Time) {
	took := time.Since(start)
	status := w.status
	switch {
	case rq.gone:
		status = statusClientClosed
	case status == 0:
		status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("request_id", rq.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("op", rq.op),
		slog.Int("status", status),
		slog.Int64("bytes", w.bytes),
		slog.Duration("duration", took),
		slog.String("remote", r.RemoteAddr),
	}
	if rq.body != nil {
		attrs = append(attrs, slog.Int64("bytes_in", rq.body.n))
	}
	if rq.caller.AccessKey != "" {
		attrs = append(attrs, slog.String("access_key", rq.caller.AccessKey), slog.String("tenant", rq.caller.Tenant))
	}
	level := slog.LevelInfo
	if rq.gone {
		attrs = append(attrs, slog.Bool("client_gone", true))
	}
	if rq.err != nil {
		attrs = append(attrs, slog.String("code", rq.errCode), slog.String("error", rq.err.Error()))
		switch {
		case rq.gone:
		case rq.errCode == "SlowDown":
			// Load shed on purpose; the Admission logs a summary.
		case status == http.StatusServiceUnavailable:
			level = slog.LevelWarn // out of reach for now; the node says why in its own log
		case status >= 500 && status != http.StatusNotImplemented:
			level = slog.LevelError
		}
	}
	s.log.LogAttrs(r.Context(), level, "s3 request", attrs...)
	var in int64
	if rq.body != nil {
		in = rq.body.n
	}
	if s.obs != nil {
		s.obs.ObserveRequest(rq.op, status, in, w.bytes, took)
	}
	if s.meter != nil && rq.caller.Tenant != "" {
		s.meter.MeterRequest(rq.caller.Tenant, rq.op, status, in, w.bytes)
	}
}

// responseWriter records the status and the body bytes for the log, and
// whether the response has started (after which errors cannot be
// answered, only cut off).
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.status, w.wroteHeader = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// deadlines).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
