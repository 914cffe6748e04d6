package admin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// countingBody counts the bytes a handler reads of a request body.
type countingBody struct {
	r    io.Reader
	read *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (countingBody) Close() error { return nil }

// The signature covers the body's hash, sent in a header, and is checked
// before the body is read: a request signed with another secret is
// refused having read nothing of its body, and a body that differs from
// its signed hash is refused.
func TestSignatureBeforeBody(t *testing.T) {
	secret := bytes.Repeat([]byte("s"), 32)
	h := NewHandler(actionService{}, secret, slog.New(slog.NewTextHandler(io.Discard, nil)))
	body := []byte(`{"tenant":"gemeinde-a"}`)
	send := func(c *Client, mutate func(*http.Request)) (int, int64) {
		t.Helper()
		req, err := c.request(context.Background(), http.MethodPost, "/tenants", body)
		if err != nil {
			t.Fatal(err)
		}
		var read atomic.Int64
		mutate(req)
		req.Body = countingBody{r: req.Body, read: &read}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, read.Load()
	}
	good := &Client{Endpoint: "http://node", Secret: secret}
	if code, _ := send(good, func(*http.Request) {}); code != http.StatusCreated {
		t.Fatalf("a signed request: %d", code)
	}
	other := &Client{Endpoint: "http://node", Secret: bytes.Repeat([]byte("x"), 32)}
	code, read := send(other, func(r *http.Request) {
		r.Body = io.NopCloser(io.MultiReader(r.Body, bytes.NewReader(make([]byte, 900<<10))))
	})
	if code != http.StatusForbidden || read != 0 {
		t.Fatalf("another secret: %d after reading %d body bytes, want 403 after none", code, read)
	}
	code, _ = send(good, func(r *http.Request) { r.Body = io.NopCloser(bytes.NewReader([]byte(`{"tenant":"gemeinde-b"}`))) })
	if code != http.StatusForbidden {
		t.Fatalf("a body other than the signed one: %d, want 403", code)
	}
	code, read = send(good, func(r *http.Request) { r.Header.Del(contentHashHeader) })
	if code != http.StatusForbidden || read != 0 {
		t.Fatalf("no content hash: %d after reading %d bytes", code, read)
	}
}
