package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kommunal-cloud/kcs/node"
)

// actionService answers tenant creation and deletion (the embedded nil
// Service panics on anything else).
type actionService struct {
	Service
}

func (actionService) RequestDone(context.Context, [16]byte) (bool, error) { return false, nil }

func (actionService) CreateTenant(_ context.Context, id, _, _ string) (*node.AccessKeyInfo, error) {
	if id == "" {
		id = "generated"
	}
	if id == "exists" {
		return nil, node.Errorf("CreateTenant", node.KindTenantExists, "tenant %s exists", id)
	}
	return &node.AccessKeyInfo{Tenant: id, AccessKey: "KCSACCESS", Secret: "very-secret-value"}, nil
}

func (actionService) DeleteTenant(_ context.Context, id string) (*node.TenantDeletion, error) {
	return nil, errors.New("the disk is on fire")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// Every authenticated admin request leaves one line: the caller's
// address, the action, its target and how it ended; never a secret.
// Refused requests keep their warnings.
func TestAdminActionLog(t *testing.T) {
	var logs syncBuffer
	secret := []byte(strings.Repeat("s", 32))
	h := NewHandler(actionService{}, secret, slog.New(slog.NewJSONHandler(&logs, nil)))
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, Secret: secret}
	ctx := context.Background()

	if _, err := c.CreateTenant(ctx, "gemeinde-a", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTenant(ctx, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTenant(ctx, "exists", "", ""); err == nil {
		t.Fatal("created a tenant that exists")
	}
	if _, err := c.DeleteTenant(ctx, "gemeinde-b"); err == nil {
		t.Fatal("deleted on a burning disk")
	}
	bad := &Client{Endpoint: srv.URL, Secret: []byte(strings.Repeat("x", 32))}
	if _, err := bad.CreateTenant(ctx, "intruder", "", ""); err == nil {
		t.Fatal("a wrong secret was accepted")
	}

	lines := logs.lines(t)
	if len(lines) != 5 {
		t.Fatalf("%d log lines for 5 requests:\n%v", len(lines), lines)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "admin action", "action": "POST /tenants", "tenant": "gemeinde-a", "access_key": "KCSACCESS", "status": float64(201)},
		{"level": "INFO", "msg": "admin action", "action": "POST /tenants", "tenant": "generated", "status": float64(201)},
		{"level": "INFO", "msg": "admin action", "action": "POST /tenants", "tenant": "exists", "status": float64(409), "err": "tenant exists exists"},
		{"level": "ERROR", "msg": "admin action", "action": "DELETE /tenants/{tenant}", "tenant": "gemeinde-b", "status": float64(500), "err": "the disk is on fire"},
		{"level": "WARN", "msg": "admin request refused", "path": Prefix + "/tenants"},
	}
	for i, w := range want {
		for k, v := range w {
			if k == "err" {
				if got, _ := lines[i][k].(string); !strings.Contains(got, v.(string)) {
					t.Errorf("line %d: err %q, want it to say %q", i, got, v)
				}
				continue
			}
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
		if r, _ := lines[i]["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("line %d: remote %q", i, r)
		}
	}
	for _, l := range lines {
		for k, v := range l {
			if s, _ := v.(string); strings.Contains(s, "very-secret-value") {
				t.Errorf("a secret in the log (%s): %v", k, l)
			}
		}
	}
}
