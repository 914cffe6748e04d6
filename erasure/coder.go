package erasure

import (
	"context"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// stripeDepth is how many stripe buffers one stream may hold: one being
// filled, one being coded and hashed, one being written. A third buffer lets
// a slow shard writer fall one stripe behind without stalling the reader;
// benchmarks show no gain from more.
const stripeDepth = 3

// Coder encodes and decodes streams with one set of parameters. It is safe
// for concurrent use; callers keep one per Params (they are cheap to hold
// and pool their stripe buffers).
type Coder struct {
	p    Params
	rs   reedsolomon.Encoder
	bufs sync.Pool // *stripe
}

// New returns a Coder for p.
func New(p Params) (*Coder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Format == 0 {
		p.Format = FormatV1
	}
	c := &Coder{p: p}
	if p.M > 0 {
		// The default matrix (Vandermonde made systematic) is part of the
		// on-disk format: parity written with another matrix would decode
		// to garbage. See ARCHITECTURE.md.
		rs, err := reedsolomon.New(p.K, p.M)
		if err != nil {
			return nil, err
		}
		c.rs = rs
	}
	return c, nil
}

// Params returns the coder's parameters.
func (c *Coder) Params() Params { return c.p }

// BufferBytes is the most memory one Encode or Decode call holds for stripe
// data, whatever the object's size.
func (c *Coder) BufferBytes() int {
	return stripeDepth * c.p.Shards() * (FrameHeaderLen + c.p.BlockSize)
}

// stripe is one buffer of k+m frames, each a header followed by room for a
// full block. Frames are contiguous per shard so that a shard's frame goes
// out in one Write.
type stripe struct {
	buf      []byte
	slot     int   // FrameHeaderLen + BlockSize
	index    int64 // stripe index in the stream
	blockLen int   // bytes per block in this stripe
	dataLen  int64 // stream bytes this stripe carries
	pending  int32 // shard writers still holding the stripe (encode)
	shards   [][]byte
	good     []bool // decode: blocks read and verified
}

func (c *Coder) getStripe() *stripe {
	if s, ok := c.bufs.Get().(*stripe); ok {
		return s
	}
	slot := FrameHeaderLen + c.p.BlockSize
	return &stripe{buf: make([]byte, c.p.Shards()*slot), slot: slot}
}

func (c *Coder) putStripe(s *stripe) { c.bufs.Put(s) }

// frame is shard i's header and block.
func (s *stripe) frame(i int) []byte {
	off := i * s.slot
	return s.buf[off : off+FrameHeaderLen+s.blockLen : off+FrameHeaderLen+s.blockLen]
}

// block is shard i's block.
func (s *stripe) block(i int) []byte {
	off := i*s.slot + FrameHeaderLen
	return s.buf[off : off+s.blockLen : off+s.blockLen]
}

// fullBlock is shard i's block area at its full capacity.
func (s *stripe) fullBlock(i int) []byte {
	off := i*s.slot + FrameHeaderLen
	return s.buf[off : off+s.slot-FrameHeaderLen]
}

// blocks returns the first n blocks, reusing one slice per stripe buffer.
func (s *stripe) blocks(n int) [][]byte {
	if cap(s.shards) < n {
		s.shards = make([][]byte, n)
	}
	s.shards = s.shards[:n]
	for i := range s.shards {
		s.shards[i] = s.block(i)
	}
	return s.shards
}

// stripeSet is the bounded set of stripe buffers of one stream: at most
// stripeDepth, taken from the coder's pool as needed (a small object uses
// one) and handed back to it at the end.
type stripeSet struct {
	c      *Coder
	free   chan *stripe
	nalloc int
}

func newStripeSet(c *Coder) stripeSet {
	return stripeSet{c: c, free: make(chan *stripe, stripeDepth)}
}

// get returns a free stripe, waiting for one if all are in use.
func (ss *stripeSet) get(ctx context.Context) (*stripe, error) {
	select {
	case s := <-ss.free:
		return s, nil
	default:
	}
	if ss.nalloc < stripeDepth {
		ss.nalloc++
		return ss.c.getStripe(), nil
	}
	select {
	case s := <-ss.free:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put hands a stripe back; any goroutine may call it.
func (ss *stripeSet) put(s *stripe) { ss.free <- s }

// recycle returns every stripe to the coder's pool. All of them must have
// been put back.
func (ss *stripeSet) recycle() {
	for range ss.nalloc {
		ss.c.putStripe(<-ss.free)
	}
	ss.nalloc = 0
}
