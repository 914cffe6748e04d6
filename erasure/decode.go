package erasure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// ShardSource is read access to one stored shard stream.
type ShardSource interface {
	// OpenRange returns a reader over bytes [off, off+n) of the shard
	// stream. The decoder reads it sequentially from one goroutine and
	// closes it when done. The reader must honour ctx: Decode waits for its
	// readers before it returns. Any error marks the shard unusable for the
	// rest of the decode.
	OpenRange(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// DecodeRequest says what to decode.
type DecodeRequest struct {
	ObjectID []byte        // the id the stream was encoded with
	Size     int64         // Layout.Size of the encoded stream
	Shards   []ShardSource // k+m sources; nil marks a shard known to be unavailable
	Offset   int64         // first stream byte to write
	Length   int64         // bytes to write; negative means to the end
	// Prefer orders the shards to read, for example local ones first.
	// Shards it leaves out are tried after it, data shards first. Without
	// it, data shards come first because they need no reconstruction.
	Prefer []int
}

// DecodeReport says which shards failed during a decode, so that the caller
// can queue their repair.
type DecodeReport struct {
	Bad           []ShardError // each failing shard once, with its first error
	Reconstructed bool         // some bytes were rebuilt from parity
}

// ErrRange is returned for a range outside the stream.
var ErrRange = errors.New("erasure: range outside the stream")

// Decode writes bytes [Offset, Offset+Length) of the encoded stream to w.
// It reads only the stripes covering the range and, normally, only k shards:
// the first k usable ones in preference order. Every block is verified
// before use; a shard that fails to open, read or verify is dropped for the
// rest of the decode and replaced by the next one, and the stripe is rebuilt
// from parity. If a stripe has fewer than k good blocks, Decode returns an
// error wrapping ErrTooManyBad (more than m shards missing or corrupt) or
// ErrTooFewReachable (too many merely unreachable) and writes nothing of
// that stripe: it never writes data it could not verify. Bytes of earlier
// stripes have been written by then.
//
// Reading the next stripe overlaps writing the previous one; the k block
// reads of a stripe, and their hashing, run in parallel.
func (c *Coder) Decode(ctx context.Context, req DecodeRequest, w io.Writer) (DecodeReport, error) {
	return c.decode(ctx, req, func(off, n int64) func(st *stripe) error {
		end, ss := off+n, c.p.StripeSize()
		return func(st *stripe) error { return writeStripe(w, st, st.index*ss, off, end) }
	})
}

// decode runs the reading stages for the stripes covering the request's
// range and hands each verified stripe to the emit function newEmit
// returns for the resolved range; emit runs on the output goroutine.
func (c *Coder) decode(ctx context.Context, req DecodeRequest, newEmit func(off, n int64) func(st *stripe) error) (DecodeReport, error) {
	var rep DecodeReport
	p := c.p
	l := Layout{Params: p, Size: req.Size}
	if err := l.Validate(); err != nil {
		return rep, err
	}
	if len(req.Shards) != p.Shards() {
		return rep, fmt.Errorf("erasure: decode needs %d shard sources, got %d", p.Shards(), len(req.Shards))
	}
	off, n := req.Offset, req.Length
	if n < 0 {
		n = req.Size - off
	}
	if off < 0 || n < 0 || off > req.Size || n > req.Size-off {
		return rep, fmt.Errorf("%w: [%d,+%d) of %d", ErrRange, off, n, req.Size)
	}
	if n == 0 {
		return rep, nil
	}
	bind, err := NewFramer(p, req.ObjectID)
	if err != nil {
		return rep, err
	}
	order, err := shardOrder(p, req.Prefer)
	if err != nil {
		return rep, err
	}
	first, last := l.stripeRange(off, n)
	d := &decodeStream{
		c:       c,
		l:       l,
		req:     &req,
		bind:    bind,
		order:   order,
		end:     l.BlockOffset(last) + FrameHeaderLen + int64(l.BlockLen(last)),
		readers: make([]*shardReader, p.Shards()),
		results: make(chan shardResult, p.Shards()),
		bufs:    newStripeSet(c),
		out:     make(chan *stripe, stripeDepth),
	}
	d.outWG.Add(1)
	go d.write(newEmit(off, n))

	err = d.run(ctx, first, last)
	close(d.out)
	d.outWG.Wait()
	d.stopReaders()
	d.bufs.recycle()
	if err == nil {
		if werr := d.outErr.Load(); werr != nil {
			err = *werr
		}
	}
	rep.Bad = d.bad
	rep.Reconstructed = d.rebuilt
	return rep, err
}

func shardOrder(p Params, prefer []int) ([]int, error) {
	seen := make([]bool, p.Shards())
	order := make([]int, 0, p.Shards())
	for _, i := range prefer {
		if i < 0 || i >= p.Shards() || seen[i] {
			return nil, fmt.Errorf("erasure: bad shard preference %v", prefer)
		}
		seen[i] = true
		order = append(order, i)
	}
	for i := range p.Shards() {
		if !seen[i] {
			order = append(order, i)
		}
	}
	return order, nil
}

type shardResult struct {
	shard int
	err   error
}

type shardReader struct {
	shard int
	rc    io.ReadCloser
	reqs  chan *stripe
}

type decodeStream struct {
	c       *Coder
	l       Layout
	req     *DecodeRequest
	bind    *Framer
	order   []int
	next    int   // index into order of the next shard to try
	end     int64 // shard stream offset after the last stripe needed
	readers []*shardReader
	active  int
	results chan shardResult
	readWG  sync.WaitGroup
	bad     []ShardError
	rebuilt bool

	bufs   stripeSet
	out    chan *stripe
	outWG  sync.WaitGroup
	outErr atomic.Pointer[error]
}

func (d *decodeStream) run(ctx context.Context, first, last int64) error {
	for s := first; s <= last; s++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.outErr.Load() != nil {
			return nil // Decode reports it
		}
		st, err := d.bufs.get(ctx)
		if err != nil {
			return err
		}
		st.index = s
		st.blockLen = d.l.BlockLen(s)
		st.dataLen = d.l.stripeDataLen(s)
		if err := d.readStripe(ctx, st); err != nil {
			d.bufs.put(st)
			return err
		}
		d.out <- st
	}
	return nil
}

// readStripe fills at least k verified blocks of st and rebuilds missing
// data blocks from parity.
func (d *decodeStream) readStripe(ctx context.Context, st *stripe) error {
	p := d.c.p
	if cap(st.good) < p.Shards() {
		st.good = make([]bool, p.Shards())
	}
	good := st.good[:p.Shards()]
	clear(good)
	st.good = good
	ngood, waiting := 0, 0
	for _, r := range d.readers {
		if r != nil {
			r.reqs <- st
			waiting++
		}
	}
	for {
		for ; waiting > 0; waiting-- {
			var res shardResult
			select {
			case res = <-d.results:
			case <-ctx.Done():
				return ctx.Err()
			}
			if res.err != nil {
				d.drop(res.shard, res.err)
				continue
			}
			good[res.shard] = true
			ngood++
		}
		if ngood >= p.K {
			break
		}
		for need := p.K - ngood; need > 0 && d.next < len(d.order); {
			i := d.order[d.next]
			d.next++
			if d.req.Shards[i] == nil {
				continue
			}
			if err := d.open(ctx, i, st.index); err != nil {
				d.bad = append(d.bad, ShardError{Shard: i, Err: err})
				continue
			}
			d.readers[i].reqs <- st
			waiting++
			need--
		}
		if waiting == 0 {
			cause := ErrTooFewReachable
			if d.damaged() > p.M {
				cause = ErrTooManyBad
			}
			return fmt.Errorf("%w: stripe %d has %d of the %d good blocks it needs (bad: %v)",
				cause, st.index, ngood, p.K, d.bad)
		}
	}
	for i := range p.K {
		if !good[i] {
			return d.reconstruct(st, good)
		}
	}
	return nil
}

func (d *decodeStream) reconstruct(st *stripe, good []bool) error {
	shards := st.blocks(d.c.p.Shards())
	for i := range shards {
		if !good[i] {
			shards[i] = shards[i][:0]
		}
	}
	if err := d.c.rs.ReconstructData(shards); err != nil {
		return fmt.Errorf("erasure: reconstruct stripe %d: %w", st.index, err)
	}
	d.rebuilt = true
	return nil
}

// open starts a reader for shard i from stripe s to the end of the range.
func (d *decodeStream) open(ctx context.Context, i int, s int64) error {
	start := d.l.BlockOffset(s)
	rc, err := d.req.Shards[i].OpenRange(ctx, start, d.end-start)
	if err != nil {
		return err
	}
	r := &shardReader{shard: i, rc: rc, reqs: make(chan *stripe, 1)}
	d.readers[i] = r
	d.active++
	d.readWG.Add(1)
	go d.readShard(r, d.bind.Clone())
	return nil
}

func (d *decodeStream) readShard(r *shardReader, b *Framer) {
	defer d.readWG.Done()
	defer r.rc.Close()
	for st := range r.reqs {
		f := st.frame(r.shard)
		_, err := io.ReadFull(r.rc, f)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = corruptf("shard %d block %d: truncated", r.shard, st.index)
		}
		if err == nil {
			err = b.Verify(f, r.shard, st.index, st.blockLen)
		}
		d.results <- shardResult{shard: r.shard, err: err}
	}
}

// damaged counts the shards found missing or corrupt, as opposed to
// merely unreachable.
func (d *decodeStream) damaged() int {
	seen := map[int]bool{}
	for _, b := range d.bad {
		if !errors.Is(b.Err, ErrShardUnreachable) {
			seen[b.Shard] = true
		}
	}
	return len(seen)
}

func (d *decodeStream) drop(i int, err error) {
	d.bad = append(d.bad, ShardError{Shard: i, Err: err})
	close(d.readers[i].reqs)
	d.readers[i] = nil
	d.active--
}

func (d *decodeStream) stopReaders() {
	for i, r := range d.readers {
		if r != nil {
			close(r.reqs)
			d.readers[i] = nil
		}
	}
	d.readWG.Wait()
}

// write is the output stage: it emits each stripe, in order, and hands the
// buffer back.
func (d *decodeStream) write(emit func(st *stripe) error) {
	defer d.outWG.Done()
	for st := range d.out {
		if d.outErr.Load() == nil {
			if err := emit(st); err != nil {
				d.outErr.Store(&err)
			}
		}
		d.bufs.put(st)
	}
}

// writeStripe writes the bytes of st that fall in [off, end) of the stream;
// base is the stream offset of the stripe's first byte.
func writeStripe(w io.Writer, st *stripe, base, off, end int64) error {
	bl := int64(st.blockLen)
	lo := max(off, base) - base
	hi := min(end, base+st.dataLen) - base
	for lo < hi {
		i := lo / bl
		b := st.block(int(i))
		stop := min(hi, (i+1)*bl)
		if _, err := w.Write(b[lo-i*bl : stop-i*bl]); err != nil {
			return err
		}
		lo = stop
	}
	return nil
}
