package erasure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
)

// ErrNoParity is returned by Rebuild for a code without parity shards.
var ErrNoParity = errors.New("erasure: a code without parity cannot rebuild shards")

// Rebuild writes the shards named in targets anew, whole, from the others:
// for every stripe it reads k verified blocks (as Decode does), computes
// the missing blocks and writes each target's frame, framed exactly as the
// encoder would have, to its writer. The sources of the targets must be
// nil (they are the shards being replaced). It is the repair step of a
// shard found missing or corrupt; the caller makes the new shards durable
// and puts them in place only if Rebuild succeeded. req's range is
// ignored: a rebuild covers the whole stream.
func (c *Coder) Rebuild(ctx context.Context, req DecodeRequest, targets map[int]io.Writer) (DecodeReport, error) {
	p := c.p
	if p.M == 0 {
		return DecodeReport{}, ErrNoParity
	}
	if len(req.Shards) != p.Shards() {
		return DecodeReport{}, fmt.Errorf("erasure: rebuild needs %d shard sources, got %d", p.Shards(), len(req.Shards))
	}
	order := make([]int, 0, len(targets))
	for i := range targets {
		if i < 0 || i >= p.Shards() || req.Shards[i] != nil {
			return DecodeReport{}, fmt.Errorf("erasure: rebuild target %d must be a shard index whose source is nil", i)
		}
		order = append(order, i)
	}
	sort.Ints(order)
	framer, err := NewFramer(p, req.ObjectID)
	if err != nil {
		return DecodeReport{}, err
	}
	req.Offset, req.Length = 0, -1
	return c.decode(ctx, req, func(int64, int64) func(st *stripe) error {
		return func(st *stripe) error {
			shards := st.blocks(p.Shards())
			for i := range shards {
				if !st.good[i] {
					shards[i] = shards[i][:0]
				}
			}
			if err := c.rs.Reconstruct(shards); err != nil {
				return fmt.Errorf("erasure: rebuild stripe %d: %w", st.index, err)
			}
			for _, i := range order {
				f := st.frame(i)
				framer.Seal(f[:FrameHeaderLen], i, st.index, f[FrameHeaderLen:])
				if _, err := targets[i].Write(f); err != nil {
					return fmt.Errorf("erasure: rebuild shard %d: %w", i, err)
				}
			}
			return nil
		}
	})
}
