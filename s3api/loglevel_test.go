package s3api

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The level of a request's log line follows whose fault the answer is:
// the client's (4xx, and 501 for what kcs does not offer) at INFO, a node
// out of reach for now (503) at WARN, the server's (other 5xx) at ERROR.
// Load shed on purpose (SlowDown) is at INFO; the Admission summarizes it
// at WARN.
func TestRequestLogLevels(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	level := func(resp rawResponse) any {
		t.Helper()
		return h.logLine(t, resp.Header.Get("X-Amz-Request-Id"))["level"]
	}
	for _, tc := range []struct {
		name   string
		req    rawReq
		status int
	}{
		{"404", rawReq{method: "GET", path: "/akten/fehlt"}, 404},
		{"403 unsigned", rawReq{method: "GET", path: "/akten/fehlt", unsigned: true}, 403},
		{"400 bad bucket name", rawReq{method: "PUT", path: "/A_B"}, 400},
		{"501 logging", rawReq{method: "GET", path: "/akten", query: "logging"}, 501},
		{"404 versionId", rawReq{method: "GET", path: "/akten/k", query: "versionId=abc"}, 404},
	} {
		resp := h.do(tc.req)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
			continue
		}
		if l := level(resp); l != "INFO" {
			t.Errorf("%s: logged at %v, want INFO", tc.name, l)
		}
	}

	h.faults.inject(func(f *faultLayer) {
		f.failWith = &objapi.Error{Op: "get", Kind: objapi.KindUnavailable, Msg: "no quorum"}
	})
	if resp := h.do(rawReq{method: "GET", path: "/akten/k"}); resp.StatusCode != 503 || level(resp) != "WARN" {
		t.Errorf("unavailable: %d at %v, want 503 at WARN", resp.StatusCode, level(resp))
	}
	h.faults.inject(func(f *faultLayer) { f.failWith = errors.New("disk on fire") })
	if resp := h.do(rawReq{method: "GET", path: "/akten/k"}); resp.StatusCode != 500 || level(resp) != "ERROR" {
		t.Errorf("internal: %d at %v, want 500 at ERROR", resp.StatusCode, level(resp))
	}
}

// VirtualHosted tells the binary which /_kcs/ paths are keys.
func TestVirtualHosted(t *testing.T) {
	s := New(Config{Domain: testDomain}, nil, nil)
	for host, want := range map[string]bool{
		"health." + testDomain:           true,
		"health." + testDomain + ":9000": true,
		testDomain:                       false,
		"127.0.0.1:9000":                 false,
		"lb.example":                     false,
	} {
		r := httptest.NewRequest("GET", "/_kcs/health/ready", nil)
		r.Host = host
		if got := s.VirtualHosted(r); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
	r := httptest.NewRequest("GET", "/_kcs/health/ready", nil)
	r.Host = "health." + testDomain
	if got := New(Config{}, nil, nil).VirtualHosted(r); got {
		t.Error("without a domain, every request is path style")
	}
}
