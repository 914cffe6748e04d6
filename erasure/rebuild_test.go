package erasure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// A rebuilt shard is byte for byte the shard the encoder wrote: framing is
// deterministic, so repair restores exactly what was lost.
func TestRebuildRestoresShardsExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct {
		p       Params
		size    int
		targets []int
	}{
		{Params{K: 4, M: 2, BlockSize: 128}, 5*4*128 + 77, []int{2, 4}},
		{Params{K: 4, M: 2, BlockSize: 128}, 1, []int{0}},
		{Params{K: 4, M: 2, BlockSize: 128}, 0, []int{5}},
		{Params{K: 6, M: 3, BlockSize: 64}, 3000, []int{0, 5, 8}},
		{Params{K: 2, M: 2, BlockSize: 64}, 999, []int{1, 3}},
	} {
		t.Run(fmt.Sprintf("%v/%d/%v", tc.p, tc.size, tc.targets), func(t *testing.T) {
			data := randBytes(r, tc.size)
			e := encode(t, tc.p, []byte("repair-me"), data)
			c, _ := New(tc.p)
			srcs := make([]ShardSource, tc.p.Shards())
			for i, s := range e.sources() {
				srcs[i] = s
			}
			targets := map[int]io.Writer{}
			outs := map[int]*bytes.Buffer{}
			for _, i := range tc.targets {
				srcs[i] = nil
				outs[i] = new(bytes.Buffer)
				targets[i] = outs[i]
			}
			if _, err := c.Rebuild(context.Background(), DecodeRequest{ObjectID: e.id, Size: e.layout.Size, Shards: srcs}, targets); err != nil {
				t.Fatal(err)
			}
			for _, i := range tc.targets {
				if !bytes.Equal(outs[i].Bytes(), e.shards[i]) {
					t.Fatalf("rebuilt shard %d differs from the original (%d vs %d bytes)", i, outs[i].Len(), len(e.shards[i]))
				}
			}
		})
	}
}

func TestRebuildRefusals(t *testing.T) {
	p := Params{K: 2, M: 1, BlockSize: 64}
	e := encode(t, p, []byte("x"), randBytes(rand.New(rand.NewPCG(1, 1)), 500))
	c, _ := New(p)
	srcs := []ShardSource{e.sources()[0], e.sources()[1], e.sources()[2]}
	if _, err := c.Rebuild(context.Background(), DecodeRequest{ObjectID: e.id, Size: e.layout.Size, Shards: srcs}, map[int]io.Writer{1: io.Discard}); err == nil {
		t.Fatal("rebuild of a shard that still has a source accepted")
	}
	srcs[0], srcs[1] = nil, nil
	_, err := c.Rebuild(context.Background(), DecodeRequest{ObjectID: e.id, Size: e.layout.Size, Shards: srcs}, map[int]io.Writer{0: io.Discard, 1: io.Discard})
	if !errors.Is(err, ErrTooFewReachable) {
		t.Fatalf("rebuild from fewer than k shards: %v", err)
	}
	c0, _ := New(Params{K: 2, M: 0, BlockSize: 64})
	if _, err := c0.Rebuild(context.Background(), DecodeRequest{Shards: make([]ShardSource, 2)}, map[int]io.Writer{0: io.Discard}); !errors.Is(err, ErrNoParity) {
		t.Fatalf("no parity: %v", err)
	}
}
