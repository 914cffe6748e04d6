package admin

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/kommunal-cloud/kcs/node"
)

// Quotas and stored usage.

func (h *Handler) tenantUsage(w http.ResponseWriter, r *http.Request) {
	u, err := h.svc.TenantUsage(r.Context(), r.PathValue("tenant"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// setQuota sets a tenant's quota, or a bucket's with the bucket in the
// path. The body is the whole quota: a field left out is no bound, so
// `{}` removes the quota.
func (h *Handler) setQuota(w http.ResponseWriter, r *http.Request) {
	// Strictly: a misspelt field would otherwise be no bound.
	var q node.QuotaReport
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		h.fail(w, node.Errorf("admin", node.KindInvalidArgument, "bad quota: %v", err))
		return
	}
	tenant, bucket := r.PathValue("tenant"), r.PathValue("bucket")
	if err := h.svc.SetQuota(r.Context(), tenant, bucket, q); err != nil {
		h.fail(w, err)
		return
	}
	note(w, "quota", q)
	w.WriteHeader(http.StatusNoContent)
}

// TenantUsage returns what a tenant stores, in all and per bucket, with
// the quotas set.
func (c *Client) TenantUsage(ctx context.Context, tenant string) (*node.TenantUsage, error) {
	var out node.TenantUsage
	err := c.do(ctx, http.MethodGet, "/tenants/"+tenant+"/usage", nil, &out)
	return &out, err
}

// SetQuota sets the quota of a tenant or (bucket not "") of one of its
// buckets; the zero quota removes it.
func (c *Client) SetQuota(ctx context.Context, tenant, bucket string, q node.QuotaReport) error {
	path := "/tenants/" + tenant + "/quota"
	if bucket != "" {
		path = "/tenants/" + tenant + "/buckets/" + bucket + "/quota"
	}
	return c.do(ctx, http.MethodPut, path, q, nil)
}
