package erasure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// EncodeResult is what an Encode produced.
type EncodeResult struct {
	Layout
	// Failed lists the shards whose writer was nil or failed, at most m of
	// them (more is ErrTooManyFailed). The object is readable, but with less
	// redundancy than asked for; the caller decides whether that is enough.
	Failed []ShardError
}

// ErrNoWriter is recorded for a shard whose writer was nil.
var ErrNoWriter = errors.New("erasure: no writer for shard")

// Encode reads r to EOF in one pass and writes k+m shard streams, shard i to
// ws[i]. Each stripe of k·BlockSize bytes becomes one framed block per shard;
// the last stripe is split evenly (see Layout.BlockLen).
//
// Each shard's frames go to its writer in order, one Write call per frame,
// from a goroutine of its own, which also computes that frame's hash: the
// k+m hashes of a stripe run in parallel, and a slow writer delays the others
// by at most the stripe depth. A writer that fails (or is nil) is dropped and
// reported in EncodeResult.Failed; if more than m fail, Encode stops with
// ErrTooManyFailed. On any error the shard streams are incomplete and the
// caller must discard them; Encode never closes the writers.
//
// objectID binds every block to its object (1..64 bytes); a decode must pass
// the same id.
func (c *Coder) Encode(ctx context.Context, objectID []byte, r io.Reader, ws []io.Writer) (EncodeResult, error) {
	n := c.p.Shards()
	res := EncodeResult{Layout: Layout{Params: c.p}}
	if len(ws) != n {
		return res, fmt.Errorf("erasure: encode needs %d writers, got %d", n, len(ws))
	}
	bind, err := NewFramer(c.p, objectID)
	if err != nil {
		return res, err
	}

	e := &encodeStream{c: c, bufs: newStripeSet(c), ws: ws}
	e.failed = make([]error, n)
	e.queues = make([]chan *stripe, n)
	for i := range n {
		if ws[i] == nil {
			e.failed[i] = ErrNoWriter
			e.nfailed.Add(1)
		}
		e.queues[i] = make(chan *stripe, stripeDepth)
	}
	if int(e.nfailed.Load()) > c.p.M {
		return res, fmt.Errorf("%w: %d of %d writers missing", ErrTooManyFailed, e.nfailed.Load(), n)
	}
	for i := range n {
		e.wg.Add(1)
		go e.writeShard(ctx, i, bind.Clone())
	}

	size, err := e.run(ctx, r)
	for _, q := range e.queues {
		close(q)
	}
	e.wg.Wait()
	e.bufs.recycle()

	res.Size = size
	for i, ferr := range e.failed {
		if ferr != nil {
			res.Failed = append(res.Failed, ShardError{Shard: i, Err: ferr})
		}
	}
	if err == nil && len(res.Failed) > c.p.M {
		err = fmt.Errorf("%w: %d of %d", ErrTooManyFailed, len(res.Failed), n)
	}
	return res, err
}

type encodeStream struct {
	c       *Coder
	ws      []io.Writer
	queues  []chan *stripe
	bufs    stripeSet
	wg      sync.WaitGroup
	nfailed atomic.Int32
	failed  []error // failed[i] is written only by shard i's goroutine until wg.Wait
}

// run is the reading and coding stage; it returns the number of bytes read.
func (e *encodeStream) run(ctx context.Context, r io.Reader) (int64, error) {
	p := e.c.p
	var size int64
	for index := int64(0); ; index++ {
		if err := ctx.Err(); err != nil {
			return size, err
		}
		if int(e.nfailed.Load()) > p.M {
			return size, ErrTooManyFailed
		}
		s, err := e.bufs.get(ctx)
		if err != nil {
			return size, err
		}
		n, err := e.fill(s, r)
		size += n
		if err != nil {
			e.bufs.put(s)
			return size, err
		}
		if n == 0 {
			e.bufs.put(s)
			return size, nil
		}
		s.index = index
		if p.M > 0 {
			if err := e.c.rs.Encode(s.blocks(p.Shards())); err != nil {
				e.bufs.put(s)
				return size, fmt.Errorf("erasure: encode stripe %d: %w", index, err)
			}
		}
		s.pending = int32(p.Shards())
		for _, q := range e.queues {
			q <- s
		}
		if n < p.StripeSize() {
			return size, nil
		}
	}
}

// fill reads the next stripe's data blocks. A short stripe (the stream's
// last) is laid out again with blocks of ceil(n/k) bytes and zero padding.
func (e *encodeStream) fill(s *stripe, r io.Reader) (int64, error) {
	p := e.c.p
	var total int64
	for i := range p.K {
		n, err := io.ReadFull(r, s.fullBlock(i))
		total += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return total, fmt.Errorf("erasure: read: %w", err)
		}
	}
	s.dataLen = total
	if total == p.StripeSize() {
		s.blockLen = p.BlockSize
		return total, nil
	}
	bl := int((total + int64(p.K) - 1) / int64(p.K))
	s.blockLen = bl
	// Move stream byte q from slot q/BlockSize to slot q/bl. Every byte
	// moves to an equal or higher address and a slot's sources all lie below
	// its target, so going from the last slot down never overwrites a byte
	// that is still to be moved.
	B := int64(p.BlockSize)
	for i := p.K - 1; i >= 0; i-- {
		start := int64(i) * int64(bl)
		end := min(start+int64(bl), total)
		dst := s.block(i)
		// Copy the part in the higher source slot first.
		for q := end; q > start; {
			from := max(start, ((q-1)/B)*B)
			src := s.fullBlock(int(from / B))
			copy(dst[from-start:q-start], src[from%B:from%B+(q-from)])
			q = from
		}
		clear(dst[max(end-start, 0):])
	}
	return total, nil
}

func (e *encodeStream) release(s *stripe) {
	if atomic.AddInt32(&s.pending, -1) == 0 {
		e.bufs.put(s)
	}
}

// writeShard frames and writes shard i's block of every stripe, in order.
func (e *encodeStream) writeShard(ctx context.Context, i int, b *Framer) {
	defer e.wg.Done()
	w := e.ws[i]
	for s := range e.queues[i] {
		if e.failed[i] == nil {
			if err := ctx.Err(); err != nil {
				e.fail(i, err)
			}
		}
		if e.failed[i] == nil {
			f := s.frame(i)
			b.Seal(f, i, s.index, f[FrameHeaderLen:])
			if _, err := w.Write(f); err != nil {
				e.fail(i, err)
			}
		}
		e.release(s)
	}
}

func (e *encodeStream) fail(i int, err error) {
	e.failed[i] = err
	e.nfailed.Add(1)
}
