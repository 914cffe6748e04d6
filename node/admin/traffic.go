package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kommunal-cloud/kcs/node"
)

// MaxTrafficRange is the longest range one traffic report covers: the
// default retention (400 days) and its hours, no more, so that a report's
// size stays bounded.
const MaxTrafficRange = 400 * 24 * time.Hour

// trafficRange reads a traffic report's from and to (RFC 3339): from
// defaults to the start of the current month (UTC), to to now.
func trafficRange(q url.Values, now time.Time) (from, to time.Time, err error) {
	now = now.UTC()
	to = now
	from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, node.Errorf("admin", node.KindInvalidArgument, "from %q: not an RFC 3339 time (e.g. 2025-01-01T00:00:00Z)", v)
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, node.Errorf("admin", node.KindInvalidArgument, "to %q: not an RFC 3339 time (e.g. 2025-02-01T00:00:00Z)", v)
		}
	}
	switch {
	case !to.After(from):
		return from, to, node.Errorf("admin", node.KindInvalidArgument, "the range is empty: to (%s) is not after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	case to.Sub(from) > MaxTrafficRange:
		return from, to, node.Errorf("admin", node.KindInvalidArgument, "the range %s to %s is longer than %d days; ask for it in parts", from.Format(time.RFC3339), to.Format(time.RFC3339), MaxTrafficRange/(24*time.Hour))
	}
	return from, to, nil
}

// tenantTraffic answers GET /tenants/{tenant}/traffic?from=&to=. The
// tenant need not exist (a deleted tenant's traffic is billing history).
func (h *Handler) tenantTraffic(w http.ResponseWriter, r *http.Request) {
	from, to, err := trafficRange(r.URL.Query(), h.now())
	if err != nil {
		h.fail(w, err)
		return
	}
	rep, err := h.svc.TenantTraffic(r.Context(), r.PathValue("tenant"), from, to)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// TenantTraffic returns a tenant's requests and bytes per hour and class,
// summed over the cluster's members, in the hours that overlap
// [from, to). A zero from means the start of the current month (UTC), a
// zero to the node's now. The report's Missing lists members that did not
// answer: their traffic is not in it.
func (c *Client) TenantTraffic(ctx context.Context, tenant string, from, to time.Time) (*node.TrafficReport, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339Nano))
	}
	path := "/tenants/" + url.PathEscape(tenant) + "/traffic"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out node.TrafficReport
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, fmt.Errorf("traffic of tenant %s: %w", tenant, err)
	}
	return &out, nil
}
