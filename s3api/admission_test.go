package s3api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/objapi/memlayer"
)

// The tests of admission.go run a Server with an Admission on a real
// loopback listener (port 0), its limits made small, and talk to it over
// raw connections where a client must misbehave (stall, not read).

type admOpts struct {
	wrap func(ObjectLayer) ObjectLayer
	// smallBuffers makes the server's socket send buffers small, so that
	// a client that does not read blocks the server's writes soon.
	smallBuffers bool
}

// newAdmHarness is newHarness with an Admission around the Server, wired as
// cmd/kcs wires it.
func newAdmHarness(t *testing.T, lim Limits, o admOpts) (*harness, *Admission) {
	t.Helper()
	h := &harness{t: t, layer: memlayer.New(time.Now), logs: &logSink{}, region: testRegion}
	creds := memCreds{}
	for _, k := range []testKey{keyA, keyA2, keyB} {
		creds[k.id] = objapi.Credential{AccessKey: k.id, Secret: k.secret, Tenant: k.tenant}
	}
	h.faults = &faultLayer{Layer: h.layer}
	var layer ObjectLayer = h.faults
	if o.wrap != nil {
		layer = o.wrap(layer)
	}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	adm := NewAdmission(lim, log)
	h.server = New(Config{Region: h.region, Logger: log, Admission: adm}, layer, creds)
	h.srv = serveAdmitted(t, adm, h.server, o.smallBuffers)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h, adm
}

// serveAdmitted serves handler behind adm on a loopback port.
func serveAdmitted(t *testing.T, adm *Admission, handler http.Handler, smallBuffers bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(adm.Handler(handler))
	var ln net.Listener = srv.Listener
	if smallBuffers {
		ln = smallBufListener{ln}
	}
	srv.Listener = adm.Listener(ln, false)
	srv.Config.ConnContext = adm.ConnContext
	srv.Config.ReadHeaderTimeout = adm.Limits().IdleTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// rawConn is a client connection the test drives by hand.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, srv *httptest.Server) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes req (headers, then its body as its Body gives it) in the
// background: the body may stall.
func (rc *rawConn) send(req *http.Request) {
	go req.Write(rc.c)
}

// response reads the response to req, waiting at most wait.
func (rc *rawConn) response(req *http.Request, wait time.Duration) (rawResponse, error) {
	rc.c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(rc.br, req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResponse{resp, b}, err
}

// closedSoon reports whether the server closes (or answers and closes)
// the connection within wait, without the client sending anything more.
func (rc *rawConn) closedSoon(wait time.Duration) bool {
	rc.c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, rc.br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// stallingBody gives its first n bytes of data, then blocks until stop is
// closed (the test's end).
type stallingBody struct {
	data []byte
	n    int
	stop chan struct{}
}

func newStallingBody(t *testing.T, data []byte, n int) *stallingBody {
	b := &stallingBody{data: data, n: n, stop: make(chan struct{})}
	t.Cleanup(func() { close(b.stop) })
	return b
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		<-b.stop
		return 0, errors.New("test over")
	}
	k := copy(p, b.data[:b.n])
	b.data, b.n = b.data[k:], b.n-k
	return k, nil
}

func (b *stallingBody) Close() error { return nil }

// stalledPut is a signed PUT of size bytes of which only sent arrive.
func (h *harness) stalledPut(t *testing.T, path string, size, sent int) (*rawConn, *http.Request) {
	data := testData(size, 7)
	req := h.newRequest(rawReq{method: "PUT", path: path, body: data, header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}})
	req.Body = newStallingBody(t, data, sent)
	rc := dialRaw(t, h.srv)
	rc.send(req)
	return rc, req
}

// TestAdmissionStalledBody: a body that stops arriving is answered 400
// RequestTimeout after the idle time (not before), the upload leaves
// nothing, and the log says RequestTimeout rather than a client gone.
// Headers that stop arriving get the connection closed.
func TestAdmissionStalledBody(t *testing.T) {
	const idle = 400 * time.Millisecond
	h, adm := newAdmHarness(t, Limits{IdleTimeout: idle}, admOpts{})
	h.mustCreateBucket(keyA, "akten")

	start := time.Now()
	rc, req := h.stalledPut(t, "/akten/stalled", 100<<10, 40<<10)
	resp, err := rc.response(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	h.wantError(resp, http.StatusBadRequest, "RequestTimeout")
	if took < idle || took > idle+5*time.Second {
		t.Errorf("cut after %v, idle timeout %v", took, idle)
	}
	if r := h.do(rawReq{method: "HEAD", path: "/akten/stalled"}); r.StatusCode != 404 {
		t.Errorf("a stalled upload left an object: %d", r.StatusCode)
	}
	if st := adm.Stats(); st.Timeouts == 0 {
		t.Errorf("no timeout counted: %+v", st)
	}
	waitFor(t, func() bool { return strings.Contains(h.logs.String(), `"code":"RequestTimeout"`) })
	if strings.Contains(h.logs.String(), `"client_gone":true`) {
		t.Errorf("a timed-out body is logged as a client gone:\n%s", h.logs.String())
	}

	// Headers that stall: net/http's ReadHeaderTimeout, set to the idle time.
	hc := dialRaw(t, h.srv)
	io.WriteString(hc.c, "GET /akten HTTP/1.1\r\nHost: x\r\n")
	if !hc.closedSoon(idle + 5*time.Second) {
		t.Error("a connection whose headers stalled is still open")
	}
}

// slowReader gives chunk bytes of data every interval.
type slowReader struct {
	data     []byte
	chunk    int
	interval time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.interval)
	n := copy(p[:min(len(p), s.chunk)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestAdmissionSlowButSteady: a body that arrives slowly but steadily, and
// a response read slowly but steadily, are never cut, however long they
// take in all.
func TestAdmissionSlowButSteady(t *testing.T) {
	const idle = time.Second
	h, _ := newAdmHarness(t, Limits{IdleTimeout: idle}, admOpts{smallBuffers: true})
	h.mustCreateBucket(keyA, "akten")

	// 64 bytes every 100 ms: 2.5 s for the body, well over the idle time.
	data := testData(25*64, 3)
	req := h.newRequest(rawReq{method: "PUT", path: "/akten/slow", body: data})
	req.Body = io.NopCloser(&slowReader{data: data, chunk: 64, interval: 100 * time.Millisecond})
	start := time.Now()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) < 2*time.Second {
		t.Fatalf("slow upload: %d after %v", resp.StatusCode, time.Since(start))
	}
	if got := h.do(rawReq{method: "GET", path: "/akten/slow"}); !bytes.Equal(got.body, data) {
		t.Fatalf("slow upload stored %d bytes, want %d", len(got.body), len(data))
	}

	// A download read 32 KiB every 50 ms through small socket buffers:
	// the server's writes block all along, and move.
	big := testData(1<<20, 4)
	h.mustPut(keyA, "akten", "big", big)
	greq := h.newRequest(rawReq{method: "GET", path: "/akten/big"})
	rc := dialRaw(t, h.srv)
	rc.c.(*net.TCPConn).SetReadBuffer(16 << 10)
	rc.send(greq)
	gresp, err := http.ReadResponse(rc.br, greq)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 32<<10)
	start = time.Now()
	for {
		n, err := io.ReadFull(gresp.Body, buf)
		got.Write(buf[:n])
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if err != nil {
			if err != io.EOF {
				t.Fatalf("slow download cut after %d bytes and %v: %v", got.Len(), time.Since(start), err)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !bytes.Equal(got.Bytes(), big) || time.Since(start) < idle {
		t.Fatalf("slow download: %d bytes in %v", got.Len(), time.Since(start))
	}

	// A handler that writes the whole megabyte in one Write: the deadline
	// is renewed within it.
	adm := NewAdmission(Limits{IdleTimeout: idle}, nil)
	srv := serveAdmitted(t, adm, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	}), true)
	rc = dialRaw(t, srv)
	rc.c.(*net.TCPConn).SetReadBuffer(16 << 10)
	greq, _ = http.NewRequest("GET", srv.URL, nil)
	rc.send(greq)
	if gresp, err = http.ReadResponse(rc.br, greq); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	start = time.Now()
	for {
		n, err := io.ReadFull(gresp.Body, buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !bytes.Equal(got.Bytes(), big) || time.Since(start) < idle {
		t.Fatalf("slow download of one large write: %d bytes in %v", got.Len(), time.Since(start))
	}
}

// sendWatchLayer reports, for every GetObject whose Send returns, the
// error it returned and whether its context was canceled by then.
type sendWatchLayer struct {
	ObjectLayer
	done chan sendResult
}

type sendResult struct {
	err       error
	ctxDone   bool
	wroteSome bool
}

func (l *sendWatchLayer) GetObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.GetOptions) (*objapi.Object, error) {
	o, err := l.ObjectLayer.GetObject(ctx, c, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return objapi.NewObject(o.Info, o.Offset, o.Length, o.Partial, func(ctx context.Context, w io.Writer) error {
		cw := &countWriter{w: w}
		err := o.Send(ctx, cw)
		l.done <- sendResult{err: err, ctxDone: ctx.Err() != nil, wroteSome: cw.n > 0}
		return err
	}), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// TestAdmissionUnreadResponse: a client that reads the headers of a large
// GET and then nothing has the response cut after the idle time, and the
// request's context is canceled (which is what stops the object layer's
// shard streams).
func TestAdmissionUnreadResponse(t *testing.T) {
	const idle = 400 * time.Millisecond
	done := make(chan sendResult, 1)
	h, adm := newAdmHarness(t, Limits{IdleTimeout: idle}, admOpts{
		smallBuffers: true,
		wrap:         func(l ObjectLayer) ObjectLayer { return &sendWatchLayer{ObjectLayer: l, done: done} },
	})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "big", testData(8<<20, 5))

	req := h.newRequest(rawReq{method: "GET", path: "/akten/big"})
	rc := dialRaw(t, h.srv)
	rc.c.(*net.TCPConn).SetReadBuffer(16 << 10)
	start := time.Now()
	rc.send(req)
	resp, err := http.ReadResponse(rc.br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	select {
	case r := <-done:
		if r.err == nil || !r.ctxDone || !r.wroteSome {
			t.Errorf("Send of an unread response: %+v", r)
		}
		if took := time.Since(start); took < idle {
			t.Errorf("cut after %v, idle timeout %v", took, idle)
		}
	case <-time.After(idle + 10*time.Second):
		t.Fatal("the response to a client that reads nothing was never cut")
	}
	if st := adm.Stats(); st.Timeouts == 0 {
		t.Errorf("no timeout counted: %+v", st)
	}
	waitFor(t, func() bool { return adm.Stats().Requests == 0 })
}

// TestAdmissionStalledPostForm: a POST form whose fields before the file
// do not arrive within the form timeout is answered 400 RequestTimeout,
// even when they trickle in steadily; while one is waiting, the requests
// not yet authenticated are capped like a tenant, and tenants are not.
func TestAdmissionStalledPostForm(t *testing.T) {
	const formTimeout = 300 * time.Millisecond
	h, adm := newAdmHarness(t, Limits{IdleTimeout: 10 * time.Second, FormTimeout: formTimeout, MaxRequestsPerTenant: 1}, admOpts{})
	h.mustCreateBucket(keyA, "akten")

	form := "--xyz\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nakte.pdf\r\n--xyz\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n" + strings.Repeat("p", 2000)
	newPost := func(body io.Reader) *http.Request {
		req, err := http.NewRequest("POST", h.srv.URL+"/akten", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 1 << 20
		req.Header.Set("Content-Type", "multipart/form-data; boundary=xyz")
		return req
	}

	// Stalled after the first field.
	stalled := newPost(newStallingBody(t, []byte(form), 60))
	rc := dialRaw(t, h.srv)
	start := time.Now()
	rc.send(stalled)
	waitFor(t, func() bool { return adm.Stats().Requests == 1 })
	// Meanwhile: a second unauthenticated form is over the cap of one,
	// a tenant's request is not.
	if r := h.do(rawReq{method: "POST", path: "/akten", unsigned: true, header: map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"}, body: []byte(form)}); r.StatusCode != 503 {
		t.Errorf("a second unauthenticated form: %d %s", r.StatusCode, r.body)
	} else {
		h.wantError(r, 503, "SlowDown")
		if r.Header.Get("Retry-After") == "" {
			t.Error("SlowDown without Retry-After")
		}
	}
	// Refused at once even when its (small) body never comes: the answer
	// does not wait for net/http to read the body first.
	refused := newPost(newStallingBody(t, nil, 0))
	refused.ContentLength = 1000
	rc2 := dialRaw(t, h.srv)
	refusedAt := time.Now()
	rc2.send(refused)
	if r, err := rc2.response(refused, 5*time.Second); err != nil || r.StatusCode != 503 {
		t.Errorf("a refused form whose body stalls: %v %v", err, r.Response)
	} else if took := time.Since(refusedAt); took > 2*time.Second {
		t.Errorf("a refused form whose body stalls was answered after %v", took)
	}
	if r := h.do(rawReq{method: "GET", path: "/akten"}); r.StatusCode != 200 {
		t.Errorf("a tenant's request while forms wait: %d %s", r.StatusCode, r.body)
	}
	resp, err := rc.response(stalled, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.wantError(resp, http.StatusBadRequest, "RequestTimeout")
	if took := time.Since(start); took < formTimeout || took > formTimeout+5*time.Second {
		t.Errorf("stalled form cut after %v, form timeout %v", took, formTimeout)
	}

	// Trickling: a byte every 20 ms never stalls a read, but the fields
	// take too long altogether.
	trickle := newPost(&slowReader{data: []byte(form), chunk: 1, interval: 20 * time.Millisecond})
	rc = dialRaw(t, h.srv)
	start = time.Now()
	rc.send(trickle)
	resp, err = rc.response(trickle, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.wantError(resp, http.StatusBadRequest, "RequestTimeout")
	if took := time.Since(start); took < formTimeout || took > formTimeout+5*time.Second {
		t.Errorf("trickling form cut after %v, form timeout %v", took, formTimeout)
	}
	waitFor(t, func() bool { return adm.Stats().Requests == 0 })
}

// TestAdmissionConnCaps: connections over the per-client cap, or over the
// node's, are closed at once (with a 503 on plain HTTP); a slot freed is
// usable again.
func TestAdmissionConnCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		lim  Limits
	}{
		{"per client", Limits{MaxConnsPerClient: 2}},
		{"per node", Limits{MaxConns: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, adm := newAdmHarness(t, tc.lim, admOpts{})
			a, b := dialRaw(t, h.srv), dialRaw(t, h.srv)
			waitFor(t, func() bool { return adm.Stats().Conns == 2 })
			c := dialRaw(t, h.srv)
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ := io.ReadAll(c.br)
			if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 503 ")) || !c.closedSoon(time.Second) {
				t.Fatalf("third connection: %q", got)
			}
			if len(got) > 0 && !bytes.Contains(got, []byte("<Code>SlowDown</Code>")) {
				t.Errorf("refusal: %q", got)
			}
			if st := adm.Stats(); st.RefusedConns != 1 || st.Conns != 2 {
				t.Errorf("stats: %+v", st)
			}
			a.c.Close()
			waitFor(t, func() bool { return adm.Stats().Conns == 1 })
			req := h.newRequest(rawReq{method: "GET", path: "/"})
			d := dialRaw(t, h.srv)
			d.send(req)
			if resp, err := d.response(req, 5*time.Second); err != nil || resp.StatusCode != 200 {
				t.Fatalf("a connection after one closed: %v %v", err, resp.Response)
			}
			b.c.Close()
		})
	}
}

// getBlockingLayer's GetObject blocks until release is closed.
type getBlockingLayer struct {
	ObjectLayer
	entered chan string // the caller's tenant
	release chan struct{}
}

func (b *getBlockingLayer) GetObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.GetOptions) (*objapi.Object, error) {
	b.entered <- c.Tenant
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.ObjectLayer.GetObject(ctx, c, bucket, key, opts)
}

// TestAdmissionRequestCaps: a tenant over its cap of requests in flight
// gets 503 SlowDown at once, while another tenant is served as before;
// the node's cap refuses everyone; slots come back when requests end.
func TestAdmissionRequestCaps(t *testing.T) {
	entered, release := make(chan string, 10), make(chan struct{})
	h, adm := newAdmHarness(t, Limits{MaxRequests: 3, MaxRequestsPerTenant: 2}, admOpts{
		wrap: func(l ObjectLayer) ObjectLayer {
			return &getBlockingLayer{ObjectLayer: l, entered: entered, release: release}
		},
	})
	h.mustCreateBucket(keyA, "akten")
	h.mustCreateBucket(keyB, "kreis")
	h.mustPut(keyA, "akten", "k", []byte("a"))
	h.mustPut(keyB, "kreis", "k", []byte("b"))

	var wg sync.WaitGroup
	held := func(r rawReq) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp := h.do(r); resp.StatusCode != 200 {
				t.Errorf("held request %s: %d %s", r.path, resp.StatusCode, resp.body)
			}
		}()
		<-entered
	}
	held(rawReq{method: "GET", path: "/akten/k"})
	held(rawReq{method: "GET", path: "/akten/k", key: keyA2}) // the same tenant, another key
	start := time.Now()
	h.wantError(h.do(rawReq{method: "GET", path: "/akten"}), 503, "SlowDown")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusal took %v: it must not wait", took)
	}
	if r := h.do(rawReq{method: "GET", path: "/kreis", key: keyB}); r.StatusCode != 200 {
		t.Fatalf("another tenant while one is at its cap: %d %s", r.StatusCode, r.body)
	}
	held(rawReq{method: "GET", path: "/kreis/k", key: keyB})
	// Three in flight: the node's cap.
	h.wantError(h.do(rawReq{method: "HEAD", path: "/kreis", key: keyB}), 503, "")
	h.wantError(h.do(rawReq{method: "GET", path: "/kreis", key: keyB}), 503, "SlowDown")
	close(release)
	wg.Wait()
	waitFor(t, func() bool { return adm.Stats().Requests == 0 })
	for _, k := range []testKey{keyA, keyB} {
		if r := h.do(rawReq{method: "GET", path: "/", key: k}); r.StatusCode != 200 {
			t.Errorf("after the flood: %d %s", r.StatusCode, r.body)
		}
	}
	if st := adm.Stats(); st.RefusedRequests != 3 {
		t.Errorf("refused %d requests, want 3", st.RefusedRequests)
	}
	if strings.Contains(h.logs.String(), `"level":"WARN","msg":"s3 request"`) {
		t.Errorf("a SlowDown is logged as a warning per request:\n%s", h.logs.String())
	}
}

// TestAdmissionBodyBudget: bodies in flight draw from the node's budget;
// a body beyond it gets 503 SlowDown at once, requests without one go on,
// and the budget comes back when a body's request ends.
func TestAdmissionBodyBudget(t *testing.T) {
	h, adm := newAdmHarness(t, Limits{IdleTimeout: 30 * time.Second, BodyMemory: 2 << 20, StreamBodyBytes: 1 << 20, SmallBodyBytes: 1 << 10}, admOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "small", []byte("klein")) // draws 1 KiB, gives it back

	first, _ := h.stalledPut(t, "/akten/one", 10<<20, 1<<10)
	h.stalledPut(t, "/akten/two", 10<<20, 1<<10)
	waitFor(t, func() bool { return adm.Stats().BodyBytes == 2<<20 })

	start := time.Now()
	h.wantError(h.do(rawReq{method: "PUT", path: "/akten/three", body: testData(3<<20, 1)}), 503, "SlowDown")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusal took %v: it must not wait", took)
	}
	h.wantError(h.do(rawReq{method: "PUT", path: "/akten/tiny", body: []byte("x")}), 503, "SlowDown")
	if r := h.do(rawReq{method: "GET", path: "/akten/small"}); r.StatusCode != 200 {
		t.Errorf("a request without a body while the budget is spent: %d %s", r.StatusCode, r.body)
	}
	first.c.Close()
	waitFor(t, func() bool { return adm.Stats().BodyBytes == 1<<20 })
	if r := h.do(rawReq{method: "PUT", path: "/akten/three", body: testData(3<<20, 1)}); r.StatusCode != 200 {
		t.Errorf("a body once the budget has room: %d %s", r.StatusCode, r.body)
	}
	if st := adm.Stats(); st.RefusedBodies != 2 || st.BodyBytes != 1<<20 {
		t.Errorf("stats: %+v", st)
	}
}

// whoHandler answers with what the Admission made of the request's client.
func whoHandler(calls *int64, mu *sync.Mutex) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*calls++
		mu.Unlock()
		cl, _ := ClientOf(r.Context())
		json.NewEncoder(w).Encode(map[string]any{"addr": cl.Addr.String(), "secure": cl.Secure, "proxy": cl.Proxy.String(), "remote": r.RemoteAddr})
	})
}

type who struct {
	Addr, Proxy, Remote string
	Secure              bool
}

func proxyHeader(t *testing.T, src string, ssl bool) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:443")))
	if ssl {
		tlv, err := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL, TLV: []proxyproto.TLV{{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")}}}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.SetTLVs([]proxyproto.TLV{tlv}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ask sends a GET with extra headers after prefix (a PROXY header) on
// rc, and returns what the server made of the client.
func (rc *rawConn) ask(prefix []byte, hdr map[string]string) (who, rawResponse, error) {
	var b bytes.Buffer
	b.Write(prefix)
	b.WriteString("GET / HTTP/1.1\r\nHost: kcs\r\n")
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := rc.c.Write(b.Bytes()); err != nil {
		return who{}, rawResponse{}, err
	}
	req, _ := http.NewRequest("GET", "/", nil)
	resp, err := rc.response(req, 5*time.Second)
	if err != nil {
		return who{}, resp, err
	}
	var w who
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(resp.body, &w); err != nil {
			return w, resp, err
		}
	}
	return w, resp, nil
}

// TestAdmissionTrustedProxies: the client's address and scheme come from a
// PROXY v2 header or X-Forwarded-For / -Proto only when the connection is
// from a trusted proxy; the per-client cap then counts the real client.
func TestAdmissionTrustedProxies(t *testing.T) {
	var mu sync.Mutex
	var calls int64
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	elsewhere := netip.MustParsePrefix("10.0.0.0/8")

	t.Run("PROXY v2 from a trusted proxy", func(t *testing.T) {
		adm := NewAdmission(Limits{TrustedProxies: []netip.Prefix{loopback}, MaxConnsPerClient: 1}, nil)
		srv := serveAdmitted(t, adm, whoHandler(&calls, &mu), false)
		c1 := dialRaw(t, srv)
		w, resp, err := c1.ask(proxyHeader(t, "203.0.113.7:4711", true), nil)
		if err != nil || w.Addr != "203.0.113.7" || !w.Secure || w.Proxy != "127.0.0.1" || w.Remote != "203.0.113.7:4711" {
			t.Fatalf("client behind PROXY v2: %+v %v %q", w, err, resp.body)
		}
		// The same client on a second connection, c1 still open: over its cap.
		c2 := dialRaw(t, srv)
		_, resp, err = c2.ask(proxyHeader(t, "203.0.113.7:4712", false), nil)
		if err == nil && resp.StatusCode != 503 {
			t.Fatalf("second connection of one client behind the proxy: %d %q", resp.StatusCode, resp.body)
		}
		// Another client through the same proxy is not.
		c3 := dialRaw(t, srv)
		w, _, err = c3.ask(proxyHeader(t, "203.0.113.8:4711", false), nil)
		if err != nil || w.Addr != "203.0.113.8" || w.Secure {
			t.Fatalf("another client behind the proxy: %+v %v", w, err)
		}
		// The proxy's own connections without a header are the proxy's.
		w, _, err = dialRaw(t, srv).ask(nil, nil)
		if err != nil || w.Addr != "127.0.0.1" || w.Proxy != "invalid IP" {
			t.Fatalf("a trusted proxy's own request: %+v %v", w, err)
		}
	})

	t.Run("PROXY v2 from anyone else", func(t *testing.T) {
		adm := NewAdmission(Limits{TrustedProxies: []netip.Prefix{elsewhere}}, nil)
		srv := serveAdmitted(t, adm, whoHandler(&calls, &mu), false)
		mu.Lock()
		before := calls
		mu.Unlock()
		_, resp, err := dialRaw(t, srv).ask(proxyHeader(t, "203.0.113.7:4711", true), nil)
		if err == nil && resp.StatusCode != 400 {
			t.Fatalf("PROXY header from an untrusted peer: %d %q", resp.StatusCode, resp.body)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls != before {
			t.Fatal("a request behind an untrusted PROXY header reached the handler")
		}
	})

	fwd := map[string]string{"X-Forwarded-For": "198.51.100.9, 10.1.2.3", "X-Forwarded-Proto": "https"}
	t.Run("X-Forwarded-For from a trusted proxy", func(t *testing.T) {
		adm := NewAdmission(Limits{TrustedProxies: []netip.Prefix{loopback, elsewhere}}, nil)
		srv := serveAdmitted(t, adm, whoHandler(&calls, &mu), false)
		w, _, err := dialRaw(t, srv).ask(nil, fwd)
		if err != nil || w.Addr != "198.51.100.9" || !w.Secure || w.Proxy != "10.1.2.3" || w.Remote != "198.51.100.9:0" {
			t.Fatalf("client behind two trusted proxies: %+v %v", w, err)
		}
		// A client that claims an address itself, through the proxy: the
		// proxy appends the real one, which is what counts.
		w, _, err = dialRaw(t, srv).ask(nil, map[string]string{"X-Forwarded-For": "192.0.2.66, 198.51.100.9"})
		if err != nil || w.Addr != "198.51.100.9" || w.Secure {
			t.Fatalf("spoofed X-Forwarded-For behind a trusted proxy: %+v %v", w, err)
		}
	})

	t.Run("X-Forwarded-For from anyone else", func(t *testing.T) {
		adm := NewAdmission(Limits{TrustedProxies: []netip.Prefix{elsewhere}}, nil)
		srv := serveAdmitted(t, adm, whoHandler(&calls, &mu), false)
		w, _, err := dialRaw(t, srv).ask(nil, fwd)
		if err != nil || w.Addr != "127.0.0.1" || w.Secure || w.Proxy != "invalid IP" || !strings.HasPrefix(w.Remote, "127.0.0.1:") {
			t.Fatalf("forwarding headers from an untrusted peer: %+v %v", w, err)
		}
	})
}

// TestAdmissionAdmit: another API on the same listeners (the admin API)
// has a cap of its own and shares the node's.
func TestAdmissionAdmit(t *testing.T) {
	adm := NewAdmission(Limits{MaxRequests: 3, MaxRequestsPerTenant: 2}, nil)
	r1, ok1 := adm.Admit("admin")
	r2, ok2 := adm.Admit("admin")
	if _, ok := adm.Admit("admin"); !ok1 || !ok2 || ok {
		t.Fatalf("admin cap: %v %v %v", ok1, ok2, ok)
	}
	r3, ok := adm.Admit("other")
	if !ok {
		t.Fatal("another API refused")
	}
	if _, ok := adm.Admit("third"); ok {
		t.Fatal("node cap not applied")
	}
	r1()
	r2()
	r3()
	if st := adm.Stats(); st.Requests != 0 || st.RefusedRequests != 2 {
		t.Fatalf("stats: %+v", st)
	}
}
