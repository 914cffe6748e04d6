package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Joins are checked before anything about the joining node is committed:
// it first asks a member for the cluster's Identity, unwraps the key check
// with its own master key (a node given another key fails here, and says
// so), and proves the result in its JoinRequest. Holding the cluster
// secret is proven by the connection itself (package transport).

// Identity names a cluster and carries its key check: a secret wrapped by
// the cluster's master key, which only a holder of that key can unwrap.
// Wrapped, it may travel to any peer that proved the cluster secret.
type Identity struct {
	ClusterID string `json:"cluster_id"`
	KeyCheck  []byte `json:"key_check"`
	MasterKey string `json:"master_key"` // id of the cluster's current master key
}

// JoinRequest asks to add a node to the cluster (Ready false: as a
// non-voter, which costs no quorum) or to give it its vote (Ready true:
// it has caught up). Proof is an HMAC under the unwrapped key check over
// the node's record and Time (see node.joinProof).
type JoinRequest struct {
	Node  meta.Node `json:"node"`
	Proof []byte    `json:"proof,omitempty"`
	Time  int64     `json:"time,omitempty"` // unix nanoseconds, the proof's
	Ready bool      `json:"ready,omitempty"`
}

func (s *server) join(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var req JoinRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err == nil && req.Node.ID == "" {
		// A binary before checked joins sends its bare record (a member
		// announcing moved addresses during a rolling upgrade).
		req = JoinRequest{}
		err = json.Unmarshal(body, &req.Node)
	}
	if err != nil {
		s.fail(w, r, &objapi.Error{Op: "join", Kind: objapi.KindInvalidArgument, Err: err})
		return
	}
	if err := s.h.Join(r.Context(), req); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) identity(w http.ResponseWriter, r *http.Request) {
	id, err := s.h.Identity(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(id)
}

// Join asks the member at addr to add (or promote) a node.
func (c *Client) Join(ctx context.Context, addr string, req JoinRequest) error {
	b, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(addr, "/join"), bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := c.do(hr)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Identity asks the member at addr for its cluster's identity.
func (c *Client) Identity(ctx context.Context, addr string) (Identity, error) {
	var id Identity
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(addr, "/identity"), nil)
	if err != nil {
		return id, err
	}
	resp, err := c.do(hr)
	if err != nil {
		return id, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&id); err != nil {
		return id, &objapi.Error{Op: "rpc", Kind: objapi.KindUnavailable, Msg: "the answer is no cluster identity: is this a kcs RPC address?", Err: err}
	}
	return id, nil
}
