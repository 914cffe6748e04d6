package rpc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node/metering"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// trafficNode is a Handler that keeps traffic rows.
type trafficNode struct {
	applier
	rows     []metering.Row
	tenant   string
	from, to time.Time
	fail     error
}

func (n *trafficNode) TrafficRows(ctx context.Context, tenant string, from, to time.Time) ([]metering.Row, error) {
	n.tenant, n.from, n.to = tenant, from, to
	return n.rows, n.fail
}

func TestTrafficRows(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hour := time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)
	n := &trafficNode{rows: []metering.Row{
		{Hour: hour, Class: metering.Read, Counts: metering.Counts{Requests: 2, BytesOut: 1 << 40}},
		{Hour: hour, Class: metering.Admin, Counts: metering.Counts{Requests: 1}},
	}}
	c, addr := serve(t, NewServer(n, quiet))
	ctx := context.Background()
	// The range crosses whole, to the nanosecond, in UTC.
	from, to := hour.Add(-time.Nanosecond).In(time.FixedZone("CET", 3600)), hour.Add(time.Hour)
	rows, err := c.Traffic(ctx, addr, "gemeinde-a", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows, n.rows) {
		t.Errorf("rows %+v, want %+v", rows, n.rows)
	}
	if n.tenant != "gemeinde-a" || !n.from.Equal(from) || !n.to.Equal(to) {
		t.Errorf("asked for %q [%v, %v)", n.tenant, n.from, n.to)
	}

	// No rows: an empty list, not an error.
	n.rows = nil
	if rows, err := c.Traffic(ctx, addr, "gemeinde-a", from, to); err != nil || len(rows) != 0 {
		t.Errorf("no rows: %v, %v", rows, err)
	}
	// The node's failure crosses with its kind.
	n.fail = objapi.Errorf("traffic", objapi.KindInvalidArgument, "bad tenant")
	if _, err := c.Traffic(ctx, addr, "x", from, to); !objapi.IsKind(err, objapi.KindInvalidArgument) {
		t.Errorf("a failing node: %v", err)
	}
	// A malformed range is refused.
	resp, err := http.Get("http://" + addr + prefix + "/traffic?tenant=a&from=yesterday&to=now")
	if err != nil {
		t.Fatal(err)
	}
	if err := check(resp); resp.StatusCode != http.StatusBadRequest || !objapi.IsKind(err, objapi.KindInvalidArgument) {
		t.Errorf("a malformed range: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	// A node that keeps no counts says so: an error, not zero traffic.
	c2, addr2 := serve(t, NewServer(&applier{}, quiet))
	if _, err := c2.Traffic(ctx, addr2, "gemeinde-a", from, to); !objapi.IsKind(err, objapi.KindUnavailable) {
		t.Errorf("a node without counts: %v", err)
	}
}
