package datapath

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Chunks of plaintext move through the PUT pipeline in buffers of chunkSize
// bytes, a multiple of every package size the encryption uses (64 KiB by
// default), so that a package never straddles two chunks and is sealed
// straight out of the chunk. chunkDepth chunks per stream let the hashers
// fall a few MiB behind the encryption without stalling it.
const (
	chunkSize  = 1 << 20
	chunkDepth = 4
)

var chunkPool = sync.Pool{New: func() any { return &chunk{buf: make([]byte, chunkSize)} }}

type chunk struct {
	buf  []byte
	n    int
	last bool  // the source ended in or right after this chunk
	err  error // a read error after buf[:n]
	refs atomic.Int32
}

// HashingReader reads a source in chunks on a goroutine of its own and feeds
// every chunk to each hash on a goroutine per hash, while the consumer reads
// the same bytes: MD5 for the ETag, a client's checksum or a signed payload
// hash run in parallel with encryption and coding instead of in series. The
// consumer gets the bytes without a copy through Peek and Discard (the
// crypt.Peeker interface), or with one through Read and WriteTo.
//
// Close must be called; it waits for the goroutines. Sums are valid after
// the consumer has seen io.EOF.
type HashingReader struct {
	src    io.Reader
	hashes []hash.Hash
	toCons chan *chunk
	toHash []chan *chunk
	free   chan *chunk
	stop   chan struct{}
	wg     sync.WaitGroup

	cur     *chunk
	ahead   *chunk // fetched by a Peek across the end of cur
	pos     int
	scratch []byte // Peek across a chunk boundary (not on the fast path)
	err     error
	closed  bool
	n       int64
}

// NewHashingReader starts reading src. The hashes must not be used until the
// consumer has read to EOF and called Close.
func NewHashingReader(src io.Reader, hashes ...hash.Hash) *HashingReader {
	h := &HashingReader{
		src:    src,
		hashes: hashes,
		toCons: make(chan *chunk, chunkDepth),
		free:   make(chan *chunk, chunkDepth),
		stop:   make(chan struct{}),
	}
	for _, hh := range hashes {
		ch := make(chan *chunk, chunkDepth)
		h.toHash = append(h.toHash, ch)
		h.wg.Add(1)
		go h.hash(hh, ch)
	}
	h.wg.Add(1)
	go h.read()
	return h
}

// BufferBytes is the most memory a HashingReader holds.
func BufferBytes() int { return chunkDepth * chunkSize }

func (h *HashingReader) read() {
	defer h.wg.Done()
	defer func() {
		close(h.toCons)
		for _, ch := range h.toHash {
			close(ch)
		}
	}()
	for alloc := 0; ; {
		var c *chunk
		select {
		case c = <-h.free:
		default:
			if alloc < chunkDepth {
				alloc++
				c = chunkPool.Get().(*chunk)
				break
			}
			select {
			case c = <-h.free:
			case <-h.stop:
				return
			}
		}
		n, err := io.ReadFull(h.src, c.buf)
		c.n, c.last, c.err = n, false, nil
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			c.last = true
		default:
			c.last, c.err = true, err
		}
		c.refs.Store(int32(1 + len(h.toHash)))
		for _, ch := range h.toHash {
			ch <- c
		}
		select {
		case h.toCons <- c:
		case <-h.stop:
			h.release(c)
			return
		}
		if c.last {
			return
		}
	}
}

func (h *HashingReader) hash(hh hash.Hash, ch chan *chunk) {
	defer h.wg.Done()
	for c := range ch {
		if c.err == nil {
			hh.Write(c.buf[:c.n])
		}
		h.release(c)
	}
}

func (h *HashingReader) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		select {
		case h.free <- c:
		default:
			chunkPool.Put(c)
		}
	}
}

// next makes cur a chunk with unread bytes; it returns io.EOF at the end.
func (h *HashingReader) next() error {
	for h.cur == nil || h.pos == h.cur.n {
		if h.err != nil {
			return h.err
		}
		if h.cur != nil {
			c := h.cur
			h.cur = nil
			last, err := c.last, endErr(c) // read before the chunk goes back
			h.release(c)
			if last {
				h.err = err
				return h.err
			}
		}
		if h.ahead != nil {
			h.cur, h.ahead, h.pos = h.ahead, nil, 0
			continue
		}
		c, ok := <-h.toCons
		if !ok {
			h.err = errStopped
			return h.err
		}
		h.cur, h.pos = c, 0
	}
	return nil
}

var (
	errStopped      = errors.New("datapath: hashing reader stopped")
	errPeekTooLarge = errors.New("datapath: peek larger than a chunk")
)

func endErr(c *chunk) error {
	if c.err != nil {
		return fmt.Errorf("datapath: read body: %w", c.err)
	}
	return io.EOF
}

// Peek returns the next n bytes (n ≤ 1 MiB) without consuming them; they
// stay valid until the next call. It returns fewer only with an error
// (io.EOF at the end). Bytes within one chunk come without a copy; chunks
// are a multiple of every package size up to 1 MiB, so a consumer that
// peeks whole packages never straddles two.
func (h *HashingReader) Peek(n int) ([]byte, error) {
	if n > chunkSize {
		return nil, errPeekTooLarge
	}
	if err := h.next(); err != nil {
		return nil, err
	}
	rest := h.cur.buf[h.pos:h.cur.n]
	if len(rest) >= n {
		return rest[:n], nil
	}
	if h.cur.last {
		return rest, endErr(h.cur)
	}
	if h.ahead == nil {
		c, ok := <-h.toCons
		if !ok {
			return rest, errStopped
		}
		h.ahead = c
	}
	h.scratch = append(append(h.scratch[:0], rest...), h.ahead.buf[:min(n-len(rest), h.ahead.n)]...)
	if len(h.scratch) < n {
		return h.scratch, endErr(h.ahead)
	}
	return h.scratch, nil
}

// Discard consumes n bytes that Peek returned.
func (h *HashingReader) Discard(n int) (int, error) {
	done := 0
	for done < n {
		if err := h.next(); err != nil {
			return done, err
		}
		c := min(n-done, h.cur.n-h.pos)
		h.pos += c
		done += c
	}
	h.n += int64(done)
	return done, nil
}

func (h *HashingReader) Read(p []byte) (int, error) {
	if err := h.next(); err != nil {
		return 0, err
	}
	c := copy(p, h.cur.buf[h.pos:h.cur.n])
	h.pos += c
	h.n += int64(c)
	return c, nil
}

// WriteTo writes the rest of the source to w, a chunk per Write.
func (h *HashingReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := h.next(); err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
		c, err := w.Write(h.cur.buf[h.pos:h.cur.n])
		h.pos += c
		h.n += int64(c)
		total += int64(c)
		if err != nil {
			return total, err
		}
	}
}

// Size is the number of bytes consumed so far.
func (h *HashingReader) Size() int64 { return h.n }

// Close stops reading and waits for the reader and hash goroutines. After a
// Close that follows EOF the hashes hold the digest of the whole source.
func (h *HashingReader) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	close(h.stop)
	for _, c := range []*chunk{h.cur, h.ahead} {
		if c != nil {
			h.release(c)
		}
	}
	h.cur, h.ahead = nil, nil
	// Drain what the reader already handed over so the hashers finish.
	for c := range h.toCons {
		h.release(c)
	}
	h.wg.Wait()
	for {
		select {
		case c := <-h.free:
			chunkPool.Put(c)
		default:
			return nil
		}
	}
}
