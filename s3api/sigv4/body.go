package sigv4

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync/atomic"

	sha256 "github.com/minio/sha256-simd"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

func newSHA256() hash.Hash { return sha256.New() }

// sumState is one checksum being verified: the hash running over the
// payload, and the value the client sent (a trailer's arrives at the end).
type sumState struct {
	alg     *algorithm
	h       hash.Hash
	trailer bool
	value   string // as sent
	want    []byte // decoded value; for a trailer, set at the end
}

// body is Result.Body: it reads the payload (raw, or decoded by a
// chunkedReader), feeds every hash the request asked for, and turns io.EOF
// into an error when anything fails to match. It keeps no payload bytes.
type body struct {
	src     io.Reader
	chunked *chunkedReader // nil unless aws-chunked

	length int64 // declared length of a raw body, -1 if unknown
	left   int64 // bytes of a raw body still to come, -1 if unknown
	n      int64 // bytes delivered

	payload     hash.Hash // SHA-256 of the payload when x-amz-content-sha256 is one
	payloadWant [32]byte
	sums        []*sumState

	err  error                             // sticky: the first error, or io.EOF once verified
	done atomic.Pointer[[]objapi.Checksum] // set once the payload is verified
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		// A raw body is over once it delivered Content-Length bytes, as
		// net/http's own body reader sees it.
		b.err = b.finish()
		return 0, b.err
	}
	if b.left > 0 && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.src.Read(p)
	if n > 0 {
		data := p[:n]
		if b.payload != nil {
			b.payload.Write(data)
		}
		for _, s := range b.sums {
			s.h.Write(data)
		}
		b.n += int64(n)
		if b.left > 0 {
			b.left -= int64(n)
		}
	}
	switch {
	case err == io.EOF:
		b.err = b.finish()
		return n, b.err
	case err != nil:
		b.err = readError(err)
		return n, b.err
	case b.left == 0:
		b.err = b.finish()
		return n, b.err
	}
	return n, nil
}

// readError translates an error of the request body: a body cut short is
// ErrIncompleteBody; anything else (a client gone, http.MaxBytesReader's
// limit) passes through for the caller to recognize.
func readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrIncompleteBody, err)
	}
	return err
}

// finish runs the checks that need the whole payload and returns io.EOF if
// they all pass.
func (b *body) finish() error {
	if b.chunked == nil && b.length >= 0 && b.n != b.length {
		return fmt.Errorf("%w: got %d of %d bytes", ErrIncompleteBody, b.n, b.length)
	}
	if b.payload != nil {
		var got [32]byte
		b.payload.Sum(got[:0])
		if got != b.payloadWant {
			return fmt.Errorf("%w: payload has SHA-256 %x, x-amz-content-sha256 is %x", ErrContentSHA256Mismatch, got, b.payloadWant)
		}
	}
	for _, s := range b.sums {
		if s.trailer {
			s.value = b.chunked.trailerValue(s.alg.Header)
			want, err := decodeValue(s.alg, s.value)
			if err != nil {
				return err
			}
			s.want = want
		}
		if got := s.h.Sum(nil); !bytes.Equal(got, s.want) {
			return fmt.Errorf("%w: %s: payload has %s, client sent %s", ErrBadDigest, s.alg.Header, EncodeChecksum(got), s.value)
		}
	}
	sums := make([]objapi.Checksum, len(b.sums))
	for i, s := range b.sums {
		sums[i] = objapi.Checksum{Algorithm: s.alg.Name, Value: s.value}
	}
	b.done.Store(&sums)
	return io.EOF
}

// checksums is Result.Checksums.
func (b *body) checksums() []objapi.Checksum {
	if p := b.done.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}
