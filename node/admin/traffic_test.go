package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/metering"
)

// trafficService is a Service that answers traffic reports only (the
// embedded nil Service panics on anything else).
type trafficService struct {
	Service
	tenant   string
	from, to time.Time
}

func (s *trafficService) TenantTraffic(_ context.Context, tenant string, from, to time.Time) (*node.TrafficReport, error) {
	s.tenant, s.from, s.to = tenant, from, to
	if tenant == "bad!" {
		return nil, node.Errorf("TenantTraffic", node.KindInvalidArgument, "tenant %q", tenant)
	}
	hour := from.Truncate(time.Hour)
	rows := []metering.Row{{Hour: hour, Class: metering.Write, Counts: metering.Counts{Requests: 3, BytesIn: 300}}}
	totals, total := metering.Totals(rows)
	return &node.TrafficReport{Tenant: tenant, From: hour, To: to, Hours: rows, Totals: totals, Total: total,
		Nodes: []string{"n1"}, Missing: []string{"n2"}, Errors: map[string]string{"n2": "unreachable"}}, nil
}

func TestTenantTraffic(t *testing.T) {
	svc := &trafficService{}
	secret := []byte(strings.Repeat("s", 32))
	h := NewHandler(svc, secret, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, Secret: secret}
	ctx := context.Background()

	// Defaults: from the start of the month (UTC) to now.
	rep, err := c.TenantTraffic(ctx, "gemeinde-a", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	real := time.Now().UTC()
	if month := time.Date(real.Year(), real.Month(), 1, 0, 0, 0, 0, time.UTC); !svc.from.Equal(month) || real.Sub(svc.to) > time.Minute || svc.to.After(real) {
		t.Errorf("defaults: [%v, %v), want [%v, now)", svc.from, svc.to, month)
	}
	if svc.tenant != "gemeinde-a" || rep.Tenant != "gemeinde-a" || rep.Total.Requests != 3 || len(rep.Hours) != 1 ||
		rep.Hours[0].Class != metering.Write || len(rep.Missing) != 1 || rep.Errors["n2"] != "unreachable" {
		t.Errorf("report %+v", rep)
	}

	// A range given: passed on as given. A deleted tenant's name is as
	// good as any: the node, not the API, decides what a name may be.
	from, to := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := c.TenantTraffic(ctx, "geloescht", from, to); err != nil {
		t.Fatal(err)
	}
	if !svc.from.Equal(from) || !svc.to.Equal(to) {
		t.Errorf("asked for [%v, %v), the node was asked for [%v, %v)", from, to, svc.from, svc.to)
	}

	// Bad input: 400 with a reason.
	for name, call := range map[string]func() error{
		"to before from": func() error { _, err := c.TenantTraffic(ctx, "gemeinde-a", to, from); return err },
		"empty range":    func() error { _, err := c.TenantTraffic(ctx, "gemeinde-a", from, from); return err },
		"over 400 days": func() error {
			_, err := c.TenantTraffic(ctx, "gemeinde-a", from, from.Add(MaxTrafficRange+time.Hour))
			return err
		},
		"bad tenant": func() error { _, err := c.TenantTraffic(ctx, "bad!", from, to); return err },
		"bad from":   func() error { return c.do(ctx, http.MethodGet, "/tenants/gemeinde-a/traffic?from=yesterday", nil, nil) },
		"bad to":     func() error { return c.do(ctx, http.MethodGet, "/tenants/gemeinde-a/traffic?to=2025-13-01", nil, nil) },
	} {
		var ae *Error
		if err := call(); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("%s: %v, want HTTP 400", name, err)
		}
	}
	// Exactly 400 days is allowed.
	if _, err := c.TenantTraffic(ctx, "gemeinde-a", from, from.Add(MaxTrafficRange)); err != nil {
		t.Errorf("400 days: %v", err)
	}
}

func TestTrafficRangeDefaults(t *testing.T) {
	now := time.Date(2025, 3, 10, 10, 30, 0, 0, time.FixedZone("CET", 3600))
	from, to, err := trafficRange(nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC); !from.Equal(want) || !to.Equal(now) {
		t.Errorf("[%v, %v)", from, to)
	}
	// Just after midnight on the first, the month has begun in UTC.
	now = time.Date(2025, 4, 1, 0, 0, 1, 0, time.UTC)
	if from, _, _ := trafficRange(nil, now); !from.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("on the first: from %v", from)
	}
}
