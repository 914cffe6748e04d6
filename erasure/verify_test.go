package erasure

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestVerifyShard(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 128}
	data := randBytes(rand.New(rand.NewPCG(3, 1)), 3*4*128+55)
	e := encode(t, p, []byte("scrub"), data)
	ctx := context.Background()
	for i, s := range e.shards {
		if err := VerifyShard(ctx, p, e.id, e.layout.Size, i, bytes.NewReader(s)); err != nil {
			t.Fatalf("intact shard %d: %v", i, err)
		}
	}
	flip := append([]byte(nil), e.shards[2]...)
	flip[len(flip)-3] ^= 1
	for name, bad := range map[string][]byte{
		"bit flip":    flip,
		"truncated":   e.shards[2][:len(e.shards[2])-1],
		"extended":    append(append([]byte(nil), e.shards[2]...), 0),
		"other shard": e.shards[3],
		"empty":       nil,
	} {
		if err := VerifyShard(ctx, p, e.id, e.layout.Size, 2, bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := VerifyShard(ctx, p, []byte("other-object"), e.layout.Size, 0, bytes.NewReader(e.shards[0])); !errors.Is(err, ErrCorrupt) {
		t.Errorf("shard of another object: %v", err)
	}
}
