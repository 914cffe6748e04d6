package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kommunal-cloud/kcs/node"
)

func TestCheckSecret(t *testing.T) {
	for _, tc := range []struct {
		secret string
		ok     bool
	}{
		{strings.Repeat("ab", 32), true},                       // 64 hex digits: 32 bytes
		{strings.Repeat("ab", 31), false},                      // 31 bytes
		{"a-short-secret", false},                              // 14 bytes, neither hex nor base64
		{strings.Repeat("x-", 20), true},                       // raw (neither hex nor base64), 40 bytes
		{"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=", true}, // base64 of 32 bytes
	} {
		err := CheckSecret([]byte(tc.secret))
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.secret, err)
		}
		if err != nil && !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("the refusal does not say how to make a new secret: %v", err)
		}
	}
}

// lockService answers what object lock's admin actions need: access keys
// that may or may not bypass governance retention, and a tenant whose
// deletion object lock refuses unless GOVERNANCE retention is bypassed
// ("kept"), or always ("compliant").
type lockService struct {
	actionService
	mu       sync.Mutex
	bypass   map[string]bool // access key of gemeinde-a → may bypass
	deletes  []string        // tenant and whether the deletion bypassed
	refusals int
}

func newLockService() *lockService {
	return &lockService{bypass: map[string]bool{"KCSONE": false, "KCSTWO": false}}
}

func (s *lockService) SetKeyBypass(_ context.Context, tenant, accessKey string, allow bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.bypass[accessKey]; !ok || tenant != "gemeinde-a" {
		return node.Errorf("SetKeyBypass", node.KindNoSuchAccessKey, "tenant %q has no access key %q", tenant, accessKey)
	}
	s.bypass[accessKey] = allow
	return nil
}

func (s *lockService) ListAccessKeys(_ context.Context, tenant string) ([]node.AccessKeyInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []node.AccessKeyInfo
	for _, k := range []string{"KCSONE", "KCSTWO"} {
		out = append(out, node.AccessKeyInfo{AccessKey: k, Tenant: tenant, BypassGovernance: s.bypass[k]})
	}
	return out, nil
}

func (s *lockService) deleteTenant(id string, bypass bool) (*node.TenantDeletion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes = append(s.deletes, fmt.Sprintf("%s bypass=%v", id, bypass))
	if id == "compliant" || id == "kept" && !bypass {
		s.refusals++
		return nil, node.Errorf("", node.KindAccessDenied,
			"bucket %q holds 3 versions under object lock (e.g. %s/report.pdf); retention runs until 2031-01-02T03:04:05Z", id+"-b", id+"-b")
	}
	return &node.TenantDeletion{Tenant: id, Buckets: 2}, nil
}

func (s *lockService) DeleteTenant(_ context.Context, id string) (*node.TenantDeletion, error) {
	return s.deleteTenant(id, false)
}

func (s *lockService) DeleteTenantBypassingGovernance(_ context.Context, id string) (*node.TenantDeletion, error) {
	return s.deleteTenant(id, true)
}

func newLockAPI(t *testing.T) (*lockService, *Client, *syncBuffer) {
	t.Helper()
	svc := newLockService()
	logs := &syncBuffer{}
	secret := []byte(strings.Repeat("s", 32))
	srv := httptest.NewServer(NewHandler(svc, secret, slog.New(slog.NewJSONHandler(logs, nil))))
	t.Cleanup(srv.Close)
	return svc, &Client{Endpoint: srv.URL, Secret: secret}, logs
}

// An operator grants an access key the right to bypass governance
// retention and takes it back; the key list shows it; a key the tenant
// does not have is 404; each request leaves its action line with the
// grant.
func TestKeyBypassGovernance(t *testing.T) {
	svc, c, logs := newLockAPI(t)
	ctx := context.Background()
	if err := c.SetKeyBypass(ctx, "gemeinde-a", "KCSTWO", true); err != nil {
		t.Fatal(err)
	}
	ks, err := c.ListAccessKeys(ctx, "gemeinde-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].BypassGovernance || !ks[1].BypassGovernance {
		t.Fatalf("keys after the grant: %+v", ks)
	}
	if err := c.SetKeyBypass(ctx, "gemeinde-a", "KCSTWO", false); err != nil {
		t.Fatal(err)
	}
	if svc.bypass["KCSTWO"] {
		t.Fatal("the revocation did not reach the node")
	}
	var ae *Error
	err = c.SetKeyBypass(ctx, "gemeinde-b", "KCSONE", true)
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Kind != node.KindNoSuchAccessKey.String() {
		t.Fatalf("another tenant's key: %v, want 404 no such access key", err)
	}
	if svc.bypass["KCSONE"] {
		t.Fatal("another tenant's key was granted the bypass")
	}

	lines := logs.lines(t)
	action := "PUT /tenants/{tenant}/keys/{key}/bypass-governance"
	want := []map[string]any{
		{"msg": "admin action", "action": action, "tenant": "gemeinde-a", "access_key": "KCSTWO", "bypass_governance": true, "status": float64(204)},
		{"msg": "admin action", "action": "GET /tenants/{tenant}/keys", "tenant": "gemeinde-a", "status": float64(200)},
		{"msg": "admin action", "action": action, "tenant": "gemeinde-a", "access_key": "KCSTWO", "bypass_governance": false, "status": float64(204)},
		{"msg": "admin action", "action": action, "tenant": "gemeinde-b", "access_key": "KCSONE", "bypass_governance": true, "status": float64(404)},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines for %d requests:\n%v", len(lines), len(want), lines)
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
	}
}

// A tenant's deletion passes the operator's bypass of governance
// retention to the node only when asked; object lock's refusal reaches
// the client as 409 with the node's message (until when); the bypass is
// in the action's log line; and it is under the signature: added to a
// signed request, or malformed, it is refused.
func TestDeleteTenantBypassGovernance(t *testing.T) {
	svc, c, logs := newLockAPI(t)
	ctx := context.Background()

	_, err := c.DeleteTenant(ctx, "kept")
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Kind != node.KindAccessDenied.String() ||
		!strings.Contains(ae.Msg, "until 2031-01-02T03:04:05Z") || !strings.Contains(ae.Msg, "kept-b/report.pdf") {
		t.Fatalf("deleting a tenant under retention: %v, want 409 access denied with the node's message", err)
	}
	if !strings.Contains(err.Error(), "until 2031-01-02T03:04:05Z") {
		t.Fatalf("the error printed does not say until when: %v", err)
	}
	d, err := c.DeleteTenantBypassingGovernance(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if d.Tenant != "kept" || d.Buckets != 2 {
		t.Fatalf("deletion: %+v", d)
	}
	if _, err := c.DeleteTenantBypassingGovernance(ctx, "compliant"); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("bypassing compliance retention: %v, want 409", err)
	}
	if _, err := c.DeleteTenant(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	wantDeletes := []string{"kept bypass=false", "kept bypass=true", "compliant bypass=true", "plain bypass=false"}
	if fmt.Sprint(svc.deletes) != fmt.Sprint(wantDeletes) {
		t.Fatalf("deletions reaching the node: %v, want %v", svc.deletes, wantDeletes)
	}

	// The parameter is signed: added to a request signed without it, the
	// request is refused; a malformed value is a bad request.
	h := NewHandler(svc, c.Secret, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req, err := c.request(ctx, http.MethodDelete, "/tenants/kept", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = bypassGovernanceParam + "=true"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("the bypass added to a signed request: %d, want 403", rec.Code)
	}
	req, err = c.request(ctx, http.MethodDelete, "/tenants/kept?"+bypassGovernanceParam+"=maybe", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("%s=maybe: %d, want 400", bypassGovernanceParam, rec.Code)
	}
	if len(svc.deletes) != len(wantDeletes) {
		t.Fatalf("refused requests reached the node: %v", svc.deletes)
	}

	lines := logs.lines(t)
	if len(lines) != 4 {
		t.Fatalf("%d log lines for 4 requests:\n%v", len(lines), lines)
	}
	for i, w := range []struct {
		tenant string
		bypass any
		status float64
	}{{"kept", nil, 409}, {"kept", true, 200}, {"compliant", true, 409}, {"plain", nil, 200}} {
		l := lines[i]
		if l["action"] != "DELETE /tenants/{tenant}" || l["tenant"] != w.tenant || l["bypass_governance"] != w.bypass || l["status"] != w.status {
			t.Errorf("line %d: %v, want tenant %s, bypass_governance %v, status %v", i, l, w.tenant, w.bypass, w.status)
		}
	}
	if got, _ := lines[0]["err"].(string); !strings.Contains(got, "2031-01-02T03:04:05Z") {
		t.Errorf("the refusal's log line does not say why: %v", lines[0])
	}
}
