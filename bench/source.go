// Package bench measures the paths every object byte takes (hashing,
// encryption, erasure coding with bitrot hashes, and the whole PUT and GET
// pipelines) next to ceiling loops built from the raw libraries doing the
// same work on the same data. `make bench` runs the benchmarks and prints a
// table of MB/s and of the ratios ours/ceiling (see benchtable).
package bench

import (
	"io"
	"math/rand/v2"
)

// Source yields n bytes copied out of a fixed random buffer, as a request
// body would: every benchmark, ours and ceiling alike, pays the same copy.
type Source struct {
	buf  []byte
	pos  int
	left int64
}

// NewSource returns a source of n bytes drawn from data.
func NewSource(data []byte, n int64) *Source { return &Source{buf: data, left: n} }

// Reset rewinds the source to yield n more bytes.
func (s *Source) Reset(n int64) { s.pos, s.left = 0, n }

func (s *Source) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n := 0
	for n < len(p) {
		if s.pos == len(s.buf) {
			s.pos = 0
		}
		c := copy(p[n:], s.buf[s.pos:])
		s.pos += c
		n += c
	}
	s.left -= int64(n)
	return n, nil
}

// RandomData returns n deterministic pseudo-random bytes.
func RandomData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// Discard is k+m writers that drop what they get.
func Discard(n int) []io.Writer {
	ws := make([]io.Writer, n)
	for i := range ws {
		ws[i] = io.Discard
	}
	return ws
}
