package rpc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// applier answers forwarded commands with a fixed result.
type applier struct {
	result []byte
	got    atomic.Int64 // bytes of the last command it applied
	calls  atomic.Int64
	joined atomic.Pointer[JoinRequest] // the last join request
}

func (a *applier) Drive(string) (*shardstore.Drive, bool) { return nil, false }
func (a *applier) Apply(_ context.Context, cmd []byte) ([]byte, error) {
	a.calls.Add(1)
	a.got.Store(int64(len(cmd)))
	return a.result, nil
}
func (a *applier) ReadIndex(context.Context) (uint64, error) { return 0, nil }
func (a *applier) Join(_ context.Context, req JoinRequest) error {
	a.joined.Store(&req)
	return nil
}
func (a *applier) Identity(context.Context) (Identity, error) {
	return Identity{ClusterID: "c1", KeyCheck: []byte{1, 2, 3}, MasterKey: "mk-1"}, nil
}
func (a *applier) Status(context.Context) Status { return Status{} }

func serve(t *testing.T, h http.Handler) (*Client, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	var d net.Dialer
	c := NewClient(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) })
	t.Cleanup(c.Close)
	return c, strings.TrimPrefix(srv.URL, "http://")
}

func encoded(t *testing.T, r *meta.Result) []byte {
	t.Helper()
	b, err := meta.EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A forwarded command and its result cross whole; one beyond its bound is
// an error at either end, never a message cut short.
func TestApplyMessagesAreWholeOrRefused(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &applier{}
	c, addr := serve(t, NewServer(a, quiet))
	ctx := context.Background()

	a.result = encoded(t, &meta.Result{Garbage: []meta.Part{{Number: 1, DataID: bytes.Repeat([]byte{1}, 16)}}})
	res, err := c.Apply(ctx, addr, bytes.Repeat([]byte{7}, maxCommand))
	if err != nil || len(res.Garbage) != 1 || a.got.Load() != maxCommand {
		t.Fatalf("a command of the largest size: %+v, %v (the leader got %d bytes)", res, err, a.got.Load())
	}

	// A command too large is refused before it is sent...
	calls := a.calls.Load()
	_, err = c.Apply(ctx, addr, make([]byte, maxCommand+1))
	if !objapi.IsKind(err, objapi.KindEntityTooLarge) || a.calls.Load() != calls {
		t.Fatalf("a command too large: %v (applied: %v)", err, a.calls.Load() != calls)
	}
	// ...and by the leader, should a sender not check.
	resp, err := http.Post("http://"+addr+prefix+"/apply", "application/cbor", bytes.NewReader(make([]byte, maxCommand+1)))
	if err != nil {
		t.Fatal(err)
	}
	err = check(resp)
	resp.Body.Close()
	if !objapi.IsKind(err, objapi.KindEntityTooLarge) || a.calls.Load() != calls {
		t.Fatalf("the leader, sent a command too large: %v (applied: %v)", err, a.calls.Load() != calls)
	}

	// A result too large: the leader says so instead of sending it.
	a.result = make([]byte, maxResult+1)
	_, err = c.Apply(ctx, addr, []byte{1})
	if !objapi.IsKind(err, objapi.KindInternal) || !strings.Contains(err.Error(), "the command was applied") {
		t.Fatalf("a result too large: %v", err)
	}

	// A leader that sends one anyway (an older binary): the forwarder
	// fails instead of decoding the first 16 MiB.
	c2, addr2 := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(make([]byte, maxResult+1))
	}))
	_, err = c2.Apply(ctx, addr2, []byte{1})
	if !objapi.IsKind(err, objapi.KindInternal) || !strings.Contains(err.Error(), "of more than 16777216 bytes") {
		t.Fatalf("an oversize result: %v", err)
	}
}
