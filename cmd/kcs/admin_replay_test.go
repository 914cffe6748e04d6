package main

// A captured admin request cannot be replayed: not to the node that served
// it, not to another node; the original worked once.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/kommunal-cloud/kcs/node/admin"
)

// capture records the requests a client sends, with their bodies.
type capture struct {
	reqs   []*http.Request
	bodies [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.reqs = append(c.reqs, r.Clone(context.Background()))
	c.bodies = append(c.bodies, body)
	return http.DefaultTransport.RoundTrip(r)
}

// replay sends a captured request again, unchanged, to the node at
// endpoint.
func (c *capture) replay(t *testing.T, i int, endpoint string) *http.Response {
	t.Helper()
	r := c.reqs[i].Clone(context.Background())
	u, _ := url.Parse(endpoint)
	r.URL.Host, r.Host = u.Host, u.Host
	r.Body = io.NopCloser(bytes.NewReader(c.bodies[i]))
	r.RequestURI = ""
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestE2EAdminReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ctx := context.Background()
	c.tenant("gemeinde-replay")
	rec := &capture{}
	cl := &admin.Client{Endpoint: "http://" + c.servers[0].s3(), Secret: c.adminSecret, HTTP: &http.Client{Transport: rec}}
	if _, err := cl.CreateAccessKey(ctx, "gemeinde-replay", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ListTenants(ctx); err != nil {
		t.Fatal(err)
	}
	keys := func() int {
		ks, err := c.admin(c.servers[1]).ListAccessKeys(ctx, "gemeinde-replay")
		if err != nil {
			t.Fatal(err)
		}
		return len(ks)
	}
	if n := keys(); n != 2 {
		t.Fatalf("%d access keys after one creation, want 2", n)
	}
	// The state change, replayed to the same node and to the others.
	for _, s := range c.servers {
		if resp := rec.replay(t, 0, "http://"+s.s3()); resp.StatusCode != http.StatusConflict {
			t.Fatalf("replayed key creation at %s: %s, want 409", s.id, resp.Status)
		}
	}
	if n := keys(); n != 2 {
		t.Fatalf("%d access keys after replays, want 2: a replay minted a key", n)
	}
	// A read, replayed to the node that served it, is refused; the window
	// for others is the request's validity (a minute).
	if resp := rec.replay(t, 1, "http://"+c.servers[0].s3()); resp.StatusCode != http.StatusConflict {
		t.Fatalf("replayed listing on the same node: %s, want 409", resp.Status)
	}
	// A tampered request id breaks the signature.
	r := rec.reqs[0].Clone(ctx)
	r.Header.Set("X-Kcs-Request-Id", "00112233445566778899aabbccddeeff")
	r.URL.Host, r.Host = c.servers[2].s3(), c.servers[2].s3()
	r.Body, r.RequestURI = io.NopCloser(bytes.NewReader(rec.bodies[0])), ""
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("request with a changed id: %s, want 403", resp.Status)
	}
}
