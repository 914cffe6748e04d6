package admin

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kommunal-cloud/kcs/node"
)

// Full redundancy: drains, removals, promotions and spreads (node's
// drain.go). Each changes the cluster through a metadata command, so any
// node serves them; the leader does the work that follows.

// redundancyRoutes adds the routes of this file to the handler.
func (h *Handler) redundancyRoutes() {
	h.mux.HandleFunc("POST "+Prefix+"/nodes/{node}/drain", h.drainNode)
	h.mux.HandleFunc("GET "+Prefix+"/nodes/{node}/removal", h.removalPlan)
	h.mux.HandleFunc("POST "+Prefix+"/nodes/{node}/remove", h.removeNode)
	h.mux.HandleFunc("POST "+Prefix+"/nodes/{node}/promote", h.promoteNode)
	h.mux.HandleFunc("POST "+Prefix+"/cluster/spread", h.spread)
}

// drainNode starts a drain of a node, or with ?drive=INDEX of one of its
// drives; ?cancel=1 ends it.
func (h *Handler) drainNode(w http.ResponseWriter, r *http.Request) {
	id, q := r.PathValue("node"), r.URL.Query()
	note(w, "node", id, "drive", q.Get("drive"), "cancel", q.Get("cancel") == "1")
	rep, err := h.svc.DrainNode(r.Context(), id, q.Get("drive"), q.Get("cancel") == "1")
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// removalPlan says what removing a node would do, changing nothing.
func (h *Handler) removalPlan(w http.ResponseWriter, r *http.Request) {
	rep, err := h.svc.RemovalPlan(r.Context(), r.PathValue("node"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// removeNode removes a node; ?force=1 even while streams have shards on
// it.
func (h *Handler) removeNode(w http.ResponseWriter, r *http.Request) {
	id, force := r.PathValue("node"), r.URL.Query().Get("force") == "1"
	note(w, "node", id, "force", force)
	rep, err := h.svc.RemoveNode(r.Context(), id, force)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *Handler) promoteNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("node")
	note(w, "node", id)
	if err := h.svc.PromoteNode(r.Context(), id); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// spread starts a spread; ?stop=1 ends it.
func (h *Handler) spread(w http.ResponseWriter, r *http.Request) {
	stop := r.URL.Query().Get("stop") == "1"
	note(w, "stop", stop)
	rep, err := h.svc.Spread(r.Context(), stop)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// DrainNode starts the drain of a node or (drive: its index or id) of one
// of its drives, or ends it (cancel).
func (c *Client) DrainNode(ctx context.Context, id, drive string, cancel bool) (*node.DrainReport, error) {
	q := url.Values{}
	if drive != "" {
		q.Set("drive", drive)
	}
	if cancel {
		q.Set("cancel", "1")
	}
	var out node.DrainReport
	err := c.do(ctx, http.MethodPost, "/nodes/"+url.PathEscape(id)+"/drain"+query(q), nil, &out)
	return &out, err
}

// RemovalPlan reports what removing a node would do.
func (c *Client) RemovalPlan(ctx context.Context, id string) (*node.RemovalReport, error) {
	var out node.RemovalReport
	err := c.do(ctx, http.MethodGet, "/nodes/"+url.PathEscape(id)+"/removal", nil, &out)
	return &out, err
}

// RemoveNode removes a node from the cluster.
func (c *Client) RemoveNode(ctx context.Context, id string, force bool) (*node.RemovalReport, error) {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	var out node.RemovalReport
	err := c.do(ctx, http.MethodPost, "/nodes/"+url.PathEscape(id)+"/remove"+query(q), nil, &out)
	return &out, err
}

// PromoteNode makes a node a Raft voter.
func (c *Client) PromoteNode(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/nodes/"+url.PathEscape(id)+"/promote", nil, nil)
}

// Spread starts (or, with stop, ends) a spread of existing data onto the
// current full family of erasure sets.
func (c *Client) Spread(ctx context.Context, stop bool) (*node.SpreadReport, error) {
	q := url.Values{}
	if stop {
		q.Set("stop", "1")
	}
	var out node.SpreadReport
	err := c.do(ctx, http.MethodPost, "/cluster/spread"+query(q), nil, &out)
	return &out, err
}

func query(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
