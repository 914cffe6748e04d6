package node_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/metering"
)

// TestTenantTrafficSumsMembers: a report sums every member's counts (its
// own and its peers' over RPC) per hour and class, covers the whole hours
// that overlap the range, keeps tenants apart, and names the members
// without counts instead of reporting less traffic.
func TestTenantTrafficSumsMembers(t *testing.T) {
	h0 := time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(h0.Add(15 * time.Minute))
	meters := map[string]*metering.Meter{}
	c := startNodes(t, 3, func(cfg *node.Config) {
		if cfg.ID == "n2" {
			return // n2 keeps no counts
		}
		m, err := metering.Open(filepath.Join(cfg.MetaDir, "traffic.db"), metering.Options{Clock: clock, FlushEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() }) // after the nodes close
		cfg.Traffic, meters[cfg.ID] = m, m
	})
	ctx := context.Background()
	m0, m1 := meters["n0"], meters["n1"]
	m0.Record("gemeinde-a", metering.Write, 1000, 0)
	m1.Record("gemeinde-a", metering.Write, 500, 0)
	m1.Record("gemeinde-a", metering.Read, 0, 700)
	m1.Record("gemeinde-b", metering.Read, 0, 99)
	if err := m1.Flush(); err != nil { // stored and unflushed counts alike
		t.Fatal(err)
	}
	clock.Advance(time.Hour) // 11:15
	m0.Record("gemeinde-a", metering.Read, 0, 300)
	h1 := h0.Add(time.Hour)

	rep, err := c.nodes[1].TenantTraffic(ctx, "gemeinde-a", h0.Add(30*time.Minute), h1.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []metering.Row{
		{Hour: h0, Class: metering.Read, Counts: metering.Counts{Requests: 1, BytesOut: 700}},
		{Hour: h0, Class: metering.Write, Counts: metering.Counts{Requests: 2, BytesIn: 1500}},
		{Hour: h1, Class: metering.Read, Counts: metering.Counts{Requests: 1, BytesOut: 300}},
	}
	if !slices.Equal(rep.Hours, want) {
		t.Errorf("hours %+v, want %+v", rep.Hours, want)
	}
	if !rep.From.Equal(h0) || !rep.To.Equal(h1.Add(time.Hour)) {
		t.Errorf("covers [%v, %v), want the whole hours [%v, %v)", rep.From, rep.To, h0, h1.Add(time.Hour))
	}
	if rep.Total != (metering.Counts{Requests: 4, BytesIn: 1500, BytesOut: 1000}) || len(rep.Totals) != 2 {
		t.Errorf("totals %+v, total %+v", rep.Totals, rep.Total)
	}
	if !slices.Equal(rep.Nodes, []string{"n0", "n1"}) || !slices.Equal(rep.Missing, []string{"n2"}) || rep.Errors["n2"] == "" {
		t.Errorf("nodes %v, missing %v (%v): want n2 missing, for keeping no counts", rep.Nodes, rep.Missing, rep.Errors)
	}

	// Asked through the node without counts: the others' are summed, and
	// it names itself.
	rep, err = c.nodes[2].TenantTraffic(ctx, "gemeinde-b", h0, h1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != (metering.Counts{Requests: 1, BytesOut: 99}) || !slices.Equal(rep.Missing, []string{"n2"}) {
		t.Errorf("b through n2: %+v", rep)
	}

	// A stopped member is missing too; a tenant that never existed has an
	// empty report; a malformed name or range is refused.
	c.nodes[0].Close()
	rep, err = c.nodes[1].TenantTraffic(ctx, "gemeinde-a", h0, h1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Missing, []string{"n0", "n2"}) || rep.Total != (metering.Counts{Requests: 2, BytesIn: 500, BytesOut: 700}) {
		t.Errorf("with n0 stopped: missing %v, total %+v", rep.Missing, rep.Total)
	}
	if rep, err := c.nodes[1].TenantTraffic(ctx, "nie-gewesen", h0, h1); err != nil || len(rep.Hours) != 0 || rep.Hours == nil {
		t.Errorf("a tenant that never was: %+v, %v", rep, err)
	}
	for _, bad := range []struct {
		tenant   string
		from, to time.Time
	}{{"A", h0, h1}, {"../x", h0, h1}, {"gemeinde-a", h1, h0}, {"gemeinde-a", h0, h0}} {
		if _, err := c.nodes[1].TenantTraffic(ctx, bad.tenant, bad.from, bad.to); !node.IsKind(err, node.KindInvalidArgument) {
			t.Errorf("%q [%v, %v): %v, want InvalidArgument", bad.tenant, bad.from, bad.to, err)
		}
	}
}
