// Package rpc is the protocol nodes speak to each other over their RPC
// address: shard streams (write, read a range, delete), forwarding of
// metadata commands and read-index requests to the Raft leader, joining,
// and status. It is HTTP/1.1 on connections that package transport has
// authenticated with the cluster secret; every path starts with the protocol
// version (/rpc/v1/), and errors carry the object layer's kinds.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// Version is the RPC protocol version, the first element of every path.
const Version = "v1"

const prefix = "/rpc/" + Version

// ErrNotLeader is returned when the node asked is not the Raft leader.
var ErrNotLeader = errors.New("rpc: not the leader")

// DriveStatus reports one drive.
type DriveStatus struct {
	ID    string `json:"id"`
	Path  string `json:"path"`
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"`
	Err   string `json:"error,omitempty"`
}

// Status reports one node.
type Status struct {
	ID         string        `json:"id"`
	Site       string        `json:"site"`
	RaftState  string        `json:"raft_state"`
	Leader     string        `json:"leader"`
	Term       uint64        `json:"term"`
	Applied    uint64        `json:"applied"`
	Drives     []DriveStatus `json:"drives"`
	Started    time.Time     `json:"started"`
	S3Addrs    []string      `json:"s3_addrs"`
	GoRoutines int           `json:"goroutines"`
	// Now is the node's wall clock (unix ns) as it answered: its peers
	// compare their clocks with it (liveness.Tracker.ClockAhead).
	Now int64 `json:"now,omitempty"`
	// Problem says why the node cannot serve (its metadata drive is full,
	// say); empty when it can.
	Problem string `json:"problem,omitempty"`
	// StreamsMoved counts the streams this node re-coded onto other sets
	// (as leader: re-protection, drains, spreads) since it started, and
	// StreamsMovedLastMinute those of the last minute.
	StreamsMoved           int64 `json:"streams_moved,omitempty"`
	StreamsMovedLastMinute int64 `json:"streams_moved_last_minute,omitempty"`
	// Lifecycle is the node's lifecycle passes (node.LifecycleStatus in
	// JSON), so that any node's cluster status shows the leader's.
	Lifecycle json.RawMessage `json:"lifecycle,omitempty"`
}

// Handler is what a node offers its peers.
type Handler interface {
	Drive(id string) (*shardstore.Drive, bool)
	// Apply applies an encoded meta command on the leader and returns the
	// encoded meta.Result; meta.ErrNotLeader on a follower.
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	ReadIndex(ctx context.Context) (uint64, error)
	// Join adds a node to the cluster, or promotes it (join.go).
	Join(ctx context.Context, req JoinRequest) error
	// Identity is what a joining node checks its master key against.
	Identity(ctx context.Context) (Identity, error)
	Status(ctx context.Context) Status
}

type errorBody struct {
	Kind      uint16 `json:"kind"`
	Msg       string `json:"msg"`
	NotLeader bool   `json:"not_leader,omitempty"`
}

// NewServer returns the HTTP handler of the RPC endpoints.
func NewServer(h Handler, log *slog.Logger) http.Handler {
	s := &server{h: h, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+prefix+"/shard/{drive}/{name}", s.putShard)
	mux.HandleFunc("GET "+prefix+"/shard/{drive}/{name}", s.getShard)
	mux.HandleFunc("DELETE "+prefix+"/shard/{drive}/{name}", s.deleteShard)
	mux.HandleFunc("POST "+prefix+"/apply", s.apply)
	mux.HandleFunc("GET "+prefix+"/readindex", s.readIndex)
	mux.HandleFunc("POST "+prefix+"/join", s.join)        // join.go
	mux.HandleFunc("GET "+prefix+"/identity", s.identity) // join.go
	mux.HandleFunc("GET "+prefix+"/status", s.status)
	mux.HandleFunc("GET "+prefix+"/traffic", s.traffic)        // traffic.go
	mux.HandleFunc("POST "+prefix+"/shards/stat", s.shardStat) // shardstat.go
	return mux
}

type server struct {
	h   Handler
	log *slog.Logger
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{Kind: uint16(objapi.KindOf(err)), Msg: err.Error()}
	status := http.StatusInternalServerError
	if errors.Is(err, meta.ErrNotLeader) || errors.Is(err, meta.ErrNotReady) {
		body.NotLeader = true
		status = http.StatusServiceUnavailable
	} else if errors.Is(err, meta.ErrUncertain) || body.Kind == uint16(objapi.KindUnavailable) {
		// Worth retrying (a forwarded command with its same id).
		body.Kind = uint16(objapi.KindUnavailable)
		status = http.StatusServiceUnavailable
	} else if body.Kind != uint16(objapi.KindInternal) {
		status = http.StatusBadRequest
	}
	if status == http.StatusInternalServerError {
		s.log.Warn("rpc failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (s *server) shardTarget(w http.ResponseWriter, r *http.Request) (*shardstore.Drive, shardstore.Name, bool) {
	d, ok := s.h.Drive(r.PathValue("drive"))
	if !ok {
		s.fail(w, r, objapi.Errorf("rpc", objapi.KindInvalidArgument, "no drive %q here", r.PathValue("drive")))
		return nil, shardstore.Name{}, false
	}
	n, err := shardstore.ParseName(r.PathValue("name"))
	if err != nil {
		s.fail(w, r, &objapi.Error{Op: "rpc", Kind: objapi.KindInvalidArgument, Err: err})
		return nil, n, false
	}
	return d, n, true
}

// putShard writes a shard stream; it answers only once the shard is
// durable, and leaves nothing behind if the stream breaks off.
func (s *server) putShard(w http.ResponseWriter, r *http.Request) {
	d, n, ok := s.shardTarget(w, r)
	if !ok {
		return
	}
	sw, err := d.Create(n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(sw, r.Body, buf); err != nil {
		sw.Abort()
		s.fail(w, r, fmt.Errorf("rpc: receive shard %s: %w", n, err))
		return
	}
	if err := sw.Commit(); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *server) getShard(w http.ResponseWriter, r *http.Request) {
	d, n, ok := s.shardTarget(w, r)
	if !ok {
		return
	}
	off, err1 := strconv.ParseInt(r.URL.Query().Get("off"), 10, 64)
	length, err2 := strconv.ParseInt(r.URL.Query().Get("len"), 10, 64)
	if err1 != nil || err2 != nil || off < 0 || length < 0 {
		s.fail(w, r, objapi.Errorf("rpc", objapi.KindInvalidArgument, "bad range"))
		return
	}
	rc, err := d.OpenRange(n, off, length)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 256<<10)
	io.CopyBuffer(w, rc, buf)
}

func (s *server) deleteShard(w http.ResponseWriter, r *http.Request) {
	d, n, ok := s.shardTarget(w, r)
	if !ok {
		return
	}
	if err := d.Remove(n); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Bounds of the messages that forward a command: the command (the
// metadata's own bound, meta.MaxCommand) and its result. Results hold no
// inline bytes (meta.Result), so even the garbage of a purge batch fits.
// A message beyond its bound is an error at both ends, never cut short.
const (
	maxCommand = meta.MaxCommand
	maxResult  = 16 << 20
)

// readAtMost reads all of r if it holds at most limit bytes, and fails
// with a *objapi.Error of kind if it holds more.
func readAtMost(r io.Reader, limit int64, what string, kind objapi.Kind) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &objapi.Error{Op: "rpc", Kind: kind, Msg: fmt.Sprintf("%s of more than %d bytes", what, limit)}
	}
	return b, nil
}

func (s *server) apply(w http.ResponseWriter, r *http.Request) {
	cmd, err := readAtMost(r.Body, maxCommand, "a metadata command", objapi.KindEntityTooLarge)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.h.Apply(r.Context(), cmd)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(res) > maxResult {
		// Applied, but the proposer cannot have the result: it learns the
		// outcome by the command's id, and the garbage goes to the orphan
		// scan.
		s.fail(w, r, &objapi.Error{Op: "rpc", Kind: objapi.KindInternal,
			Msg: fmt.Sprintf("the command was applied, but its result of %d bytes exceeds the limit of %d", len(res), maxResult)})
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Write(res)
}

func (s *server) readIndex(w http.ResponseWriter, r *http.Request) {
	idx, err := s.h.ReadIndex(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	json.NewEncoder(w).Encode(map[string]uint64{"index": idx})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.h.Status(r.Context()))
}

// Client calls other nodes.
type Client struct {
	hc *http.Client
}

// NewClient returns a client that opens connections with dial (an
// authenticated dialer from package transport).
func NewClient(dial func(ctx context.Context, addr string) (net.Conn, error)) *Client {
	tr := &http.Transport{
		DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
		DisableCompression:  true,
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func endpoint(addr, path string) string { return "http://" + addr + prefix + path }

func shardPath(drive string, n shardstore.Name) string {
	return "/shard/" + url.PathEscape(drive) + "/" + n.String()
}

// check turns an error response into an error.
func check(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var e errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil {
		return fmt.Errorf("rpc: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if e.NotLeader {
		return fmt.Errorf("%w: %s", ErrNotLeader, e.Msg)
	}
	return &objapi.Error{Op: "rpc", Kind: objapi.Kind(e.Kind), Msg: e.Msg}
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &objapi.Error{Op: "rpc", Kind: objapi.KindUnavailable, Err: err}
	}
	if err := check(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// Progress deadlines of shard streams. A peer that stops taking or giving
// bytes (paused, hung, partitioned) fails the stream after these, instead
// of holding it, its memory and the client's request for ever: the writer
// drops the shard (the write needs k+1 of k+m) and the reader moves on to
// another shard. They bound a stall, not a stream: a slow but moving
// stream is never cut.
const (
	ShardWriteStall  = 5 * time.Second  // one Write not taken by the peer
	ShardCommitStall = 20 * time.Second // the peer's fsync and rename after the last byte
	ShardReadStall   = 3 * time.Second  // one Read not answered by the peer
)

// errStalled is the cause of a stream cut for making no progress.
var errStalled = errors.New("rpc: peer made no progress")

// ShardWriter streams a shard to another node. The receiver writes it to a
// temporary file; Commit returns once the receiver has made it durable.
type ShardWriter struct {
	pw     *io.PipeWriter
	done   chan error
	cancel context.CancelCauseFunc
	stall  *time.Timer
}

var errAborted = errors.New("rpc: shard write aborted")

// CreateShard starts writing shard n to drive on the node at addr.
func (c *Client) CreateShard(ctx context.Context, addr, drive string, n shardstore.Name) *ShardWriter {
	ctx, cancel := context.WithCancelCause(ctx)
	pr, pw := io.Pipe()
	sw := &ShardWriter{pw: pw, done: make(chan error, 1), cancel: cancel}
	sw.stall = time.AfterFunc(time.Hour, func() { cancel(errStalled) })
	sw.stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, endpoint(addr, shardPath(drive, n)), pr)
	if err != nil {
		pw.CloseWithError(err)
		sw.done <- err
		return sw
	}
	req.ContentLength = -1
	go func() {
		resp, err := c.do(req)
		if err == nil {
			resp.Body.Close()
		}
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			err = &objapi.Error{Op: "rpc", Kind: objapi.KindUnavailable, Msg: "shard stream to " + addr + " stalled", Err: cause}
		}
		// Unblock a writer still waiting on the pipe, with the reason.
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.CloseWithError(errAborted)
		}
		sw.done <- err
	}()
	return sw
}

// Write sends p; a peer that does not take it within ShardWriteStall
// fails the stream.
func (w *ShardWriter) Write(p []byte) (int, error) {
	w.stall.Reset(ShardWriteStall)
	n, err := w.pw.Write(p)
	w.stall.Stop()
	return n, err
}

// Commit ends the stream and waits until the shard is durable remotely,
// for at most ShardCommitStall.
func (w *ShardWriter) Commit() error {
	w.pw.Close()
	w.stall.Reset(ShardCommitStall)
	defer w.stall.Stop()
	return <-w.done
}

// Abort breaks the stream off; the receiver discards what it got.
func (w *ShardWriter) Abort() {
	w.pw.CloseWithError(errAborted)
	w.cancel(errAborted)
	<-w.done
	w.stall.Stop()
}

// OpenShard reads bytes [off, off+n) of a shard on the node at addr. A
// Read the peer leaves unanswered for ShardReadStall fails.
func (c *Client) OpenShard(ctx context.Context, addr, drive string, name shardstore.Name, off, n int64) (io.ReadCloser, error) {
	u := endpoint(addr, shardPath(drive, name)) + "?off=" + strconv.FormatInt(off, 10) + "&len=" + strconv.FormatInt(n, 10)
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel(err)
		return nil, err
	}
	stall := time.AfterFunc(ShardReadStall, func() { cancel(errStalled) })
	resp, err := c.do(req)
	stall.Stop()
	if err != nil {
		cancel(err)
		return nil, err
	}
	return &stallReader{rc: resp.Body, stall: stall, cancel: cancel, addr: addr, ctx: ctx}, nil
}

// stallReader fails a Read that the peer leaves unanswered too long.
type stallReader struct {
	rc     io.ReadCloser
	stall  *time.Timer
	cancel context.CancelCauseFunc
	ctx    context.Context
	addr   string
}

func (r *stallReader) Read(p []byte) (int, error) {
	r.stall.Reset(ShardReadStall)
	n, err := r.rc.Read(p)
	r.stall.Stop()
	if err != nil && err != io.EOF && errors.Is(context.Cause(r.ctx), errStalled) {
		err = &objapi.Error{Op: "rpc", Kind: objapi.KindUnavailable, Msg: "shard stream from " + r.addr + " stalled", Err: errStalled}
	}
	return n, err
}

func (r *stallReader) Close() error {
	r.stall.Stop()
	err := r.rc.Close()
	r.cancel(errAborted)
	return err
}

// DeleteShard removes a shard on the node at addr.
func (c *Client) DeleteShard(ctx context.Context, addr, drive string, n shardstore.Name) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, endpoint(addr, shardPath(drive, n)), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Apply forwards an encoded command to the leader at addr. A command or a
// result beyond its bound fails (the command, before it is sent).
func (c *Client) Apply(ctx context.Context, addr string, cmd []byte) (*meta.Result, error) {
	if len(cmd) > maxCommand {
		return nil, &objapi.Error{Op: "rpc", Kind: objapi.KindEntityTooLarge,
			Msg: fmt.Sprintf("a metadata command of %d bytes, beyond the limit of %d", len(cmd), maxCommand)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(addr, "/apply"), bytes.NewReader(cmd))
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readAtMost(resp.Body, maxResult, "a command's result", objapi.KindInternal)
	if err != nil {
		if objapi.IsKind(err, objapi.KindInternal) {
			return nil, err
		}
		return nil, &objapi.Error{Op: "rpc", Kind: objapi.KindUnavailable, Err: err}
	}
	return meta.DecodeResult(b)
}

// ReadIndex asks the leader at addr for a read index.
func (c *Client) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(addr, "/readindex"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Index uint64 `json:"index"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, &objapi.Error{Op: "rpc", Kind: objapi.KindUnavailable, Err: err}
	}
	return v.Index, nil
}

// Status asks the node at addr for its status.
func (c *Client) Status(ctx context.Context, addr string) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(addr, "/status"), nil)
	if err != nil {
		return st, err
	}
	resp, err := c.do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}
