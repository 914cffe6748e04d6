package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// MaxShardStats is the most shards one stat request asks about: a page of
// the loss report's walk, per node.
const MaxShardStats = 10000

// ShardRef names one shard on one of a node's drives.
type ShardRef struct {
	Drive string
	Name  shardstore.Name
}

type shardStatRequest struct {
	Shards []shardStatItem `json:"shards"`
}

type shardStatItem struct {
	Drive string `json:"drive"`
	Name  string `json:"name"`
}

type shardStatAnswer struct {
	// Sizes holds each shard's size in bytes, -1 where it is missing.
	Sizes []int64 `json:"sizes"`
}

// shardStat answers POST /rpc/v1/shards/stat: the size of each shard
// asked about, -1 for one that is not there. A drive this node does not
// have, or one it cannot read, fails the whole request: the asker must not
// take a drive it could not look at for one without the shard.
func (s *server) shardStat(w http.ResponseWriter, r *http.Request) {
	b, err := readAtMost(r.Body, MaxShardStats*200, "a shard stat request", objapi.KindInvalidArgument)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req shardStatRequest
	if err := json.Unmarshal(b, &req); err != nil {
		s.fail(w, r, &objapi.Error{Op: "rpc", Kind: objapi.KindInvalidArgument, Msg: "bad shard stat request", Err: err})
		return
	}
	if len(req.Shards) > MaxShardStats {
		s.fail(w, r, objapi.Errorf("rpc", objapi.KindInvalidArgument, "%d shards in one stat request, at most %d", len(req.Shards), MaxShardStats))
		return
	}
	out := shardStatAnswer{Sizes: make([]int64, len(req.Shards))}
	for i, it := range req.Shards {
		if err := r.Context().Err(); err != nil {
			return
		}
		d, ok := s.h.Drive(it.Drive)
		if !ok {
			s.fail(w, r, objapi.Errorf("rpc", objapi.KindInvalidArgument, "no drive %q here", it.Drive))
			return
		}
		n, err := shardstore.ParseName(it.Name)
		if err != nil {
			s.fail(w, r, &objapi.Error{Op: "rpc", Kind: objapi.KindInvalidArgument, Err: err})
			return
		}
		size, err := d.Size(n)
		switch {
		case err == nil:
			out.Sizes[i] = size
		case errors.Is(err, os.ErrNotExist):
			out.Sizes[i] = -1
		default:
			s.fail(w, r, &objapi.Error{Op: "rpc", Kind: objapi.KindInternal, Msg: "drive " + it.Drive, Err: err})
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// ShardSizes asks the node at addr for the size of each shard (-1: not
// there), at most MaxShardStats at once.
func (c *Client) ShardSizes(ctx context.Context, addr string, shards []ShardRef) ([]int64, error) {
	if len(shards) > MaxShardStats {
		return nil, fmt.Errorf("rpc: %d shards in one stat request, at most %d", len(shards), MaxShardStats)
	}
	req := shardStatRequest{Shards: make([]shardStatItem, len(shards))}
	for i, s := range shards {
		req.Shards[i] = shardStatItem{Drive: s.Drive, Name: s.Name.String()}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(addr, "/shards/stat"), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readAtMost(resp.Body, int64(len(shards))*24+64, "a shard stat answer", objapi.KindInternal)
	if err != nil {
		return nil, err
	}
	var a shardStatAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, &objapi.Error{Op: "rpc", Kind: objapi.KindInternal, Msg: "shard stat answer from " + addr, Err: err}
	}
	if len(a.Sizes) != len(shards) {
		return nil, objapi.Errorf("rpc", objapi.KindInternal, "shard stat answer from %s: %d sizes for %d shards", addr, len(a.Sizes), len(shards))
	}
	return a.Sizes, nil
}
