package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kommunal-cloud/kcs/node/meta"
)

// A join request carries its proof and readiness to the member; a bare
// record (a binary before checked joins) still arrives as a request
// without a proof; the identity comes back as the member gives it.
func TestJoinAndIdentity(t *testing.T) {
	a := &applier{}
	c, addr := serve(t, NewServer(a, nil))
	ctx := context.Background()
	req := JoinRequest{Node: meta.Node{ID: "n2", Site: "s2", RaftAddr: "127.0.0.1:1", RPCAddr: "127.0.0.1:2"}, Proof: []byte("proof"), Time: 42, Ready: true}
	if err := c.Join(ctx, addr, req); err != nil {
		t.Fatal(err)
	}
	if got := a.joined.Load(); got == nil || got.Node.ID != "n2" || string(got.Proof) != "proof" || got.Time != 42 || !got.Ready {
		t.Fatalf("the member got %+v", got)
	}
	b, _ := json.Marshal(meta.Node{ID: "n3", Site: "s3"})
	resp, err := http.Post("http://"+addr+prefix+"/join", "application/json", bytes.NewReader(b))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a bare record: %v %v", resp, err)
	}
	if got := a.joined.Load(); got.Node.ID != "n3" || got.Proof != nil || got.Ready {
		t.Fatalf("a bare record arrives as %+v", got)
	}
	id, err := c.Identity(ctx, addr)
	if err != nil || id.ClusterID != "c1" || !bytes.Equal(id.KeyCheck, []byte{1, 2, 3}) || id.MasterKey != "mk-1" {
		t.Fatalf("identity %+v, %v", id, err)
	}
}
