package erasure

import (
	"bufio"
	"context"
	"fmt"
	"io"
)

// VerifyShard reads one stored shard stream from r and checks every frame
// against its binding: the scrub of a shard nobody has read for a while.
// size is the encoded stream's size (Layout.Size). It returns nil, or an
// error wrapping ErrCorrupt (a bad frame, a short or a long stream), or
// the reader's own error.
func VerifyShard(ctx context.Context, p Params, objectID []byte, size int64, shard int, r io.Reader) error {
	l := Layout{Params: p, Size: size}
	if err := l.Validate(); err != nil {
		return err
	}
	if shard < 0 || shard >= p.Shards() {
		return fmt.Errorf("erasure: shard %d out of range", shard)
	}
	f, err := NewFramer(p, objectID)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	frame := make([]byte, FrameHeaderLen+p.BlockSize)
	for s := int64(0); s < l.Stripes(); s++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		fr := frame[:FrameHeaderLen+l.BlockLen(s)]
		if _, err := io.ReadFull(br, fr); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return corruptf("shard %d: ends in stripe %d", shard, s)
			}
			return err
		}
		if err := f.Verify(fr, shard, s, l.BlockLen(s)); err != nil {
			return err
		}
	}
	if n, _ := br.Read(frame[:1]); n > 0 {
		return corruptf("shard %d: bytes after the last stripe", shard)
	}
	return nil
}
