package erasure

import (
	"errors"
	"fmt"
)

// FormatV1 is the shard block framing written by this version: a 40-byte
// frame header (version, hash algorithm, block length, SHA-256) before every
// block. See ARCHITECTURE.md, "Shard block framing".
const FormatV1 = 1

// Limits on the parameters. They keep every index in one byte of the frame
// binding and every block length in 32 bits, and stay far inside what
// klauspost/reedsolomon's GF(2^8) code supports (k+m ≤ 256).
const (
	MaxDataShards   = 64
	MaxParityShards = 32
	MinBlockSize    = 64
	MaxBlockSize    = 16 << 20
	MaxObjectIDLen  = 64
)

// DefaultBlockSize is the per-shard block size of new objects. 128 KiB gives
// RS(4,2) 512 KiB stripes. `make bench` (BenchmarkBlockSize) shows 128 and
// 256 KiB encoding equally fast and 64 KiB and 1 MiB a few percent slower:
// per-block costs (frame header, goroutine hand-offs, one write call per
// shard) have vanished next to hashing by 128 KiB, and the smaller block
// halves the memory each of thousands of concurrent streams holds.
const DefaultBlockSize = 128 << 10

// Params are the coding parameters of one object (or one multipart part).
// They are recorded with the object's metadata so that objects written with
// different parameters, or an older format, stay readable.
type Params struct {
	Format    uint8 // shard framing version; 0 means FormatV1
	K         int   // data shards
	M         int   // parity shards
	BlockSize int   // bytes of data per shard per stripe
}

// Validate reports whether p can be used to encode or decode.
func (p Params) Validate() error {
	switch {
	case p.format() != FormatV1:
		return fmt.Errorf("erasure: unsupported shard format %d", p.Format)
	case p.K < 1 || p.K > MaxDataShards:
		return fmt.Errorf("erasure: data shards %d out of range 1..%d", p.K, MaxDataShards)
	case p.M < 0 || p.M > MaxParityShards:
		return fmt.Errorf("erasure: parity shards %d out of range 0..%d", p.M, MaxParityShards)
	case p.BlockSize < MinBlockSize || p.BlockSize > MaxBlockSize:
		return fmt.Errorf("erasure: block size %d out of range %d..%d", p.BlockSize, MinBlockSize, MaxBlockSize)
	}
	return nil
}

func (p Params) format() uint8 {
	if p.Format == 0 {
		return FormatV1
	}
	return p.Format
}

// Shards is k+m.
func (p Params) Shards() int { return p.K + p.M }

// StripeSize is the number of object bytes one full stripe carries.
func (p Params) StripeSize() int64 { return int64(p.K) * int64(p.BlockSize) }

func (p Params) String() string {
	return fmt.Sprintf("RS(%d,%d)/%d", p.K, p.M, p.BlockSize)
}

// Layout is what an encode produced and what a decode needs: the parameters
// and the number of bytes that were encoded. Every other size follows from
// these two.
type Layout struct {
	Params
	Size int64 // bytes of the encoded stream
}

// Stripes is the number of stripes. A zero-length stream has none: its
// shards are empty.
func (l Layout) Stripes() int64 {
	ss := l.StripeSize()
	return (l.Size + ss - 1) / ss
}

// stripeDataLen is the number of stream bytes stripe s carries.
func (l Layout) stripeDataLen(s int64) int64 {
	ss := l.StripeSize()
	if rest := l.Size - s*ss; rest < ss {
		return rest
	}
	return ss
}

// BlockLen is the length of every shard's block in stripe s. All stripes but
// the last use BlockSize; the last one splits its bytes evenly over the k
// data shards (rounded up, zero padded), as reedsolomon's Split does, so a
// small object costs (k+m)·ceil(size/k) bytes plus frame headers, not k+m
// full blocks.
func (l Layout) BlockLen(s int64) int {
	n := l.stripeDataLen(s)
	if n == l.StripeSize() {
		return l.BlockSize
	}
	return int((n + int64(l.K) - 1) / int64(l.K))
}

// BlockOffset is where stripe s's block starts in every shard stream.
func (l Layout) BlockOffset(s int64) int64 {
	return s * int64(FrameHeaderLen+l.BlockSize)
}

// ShardSize is the length in bytes of each shard stream.
func (l Layout) ShardSize() int64 {
	n := l.Stripes()
	if n == 0 {
		return 0
	}
	return l.BlockOffset(n-1) + FrameHeaderLen + int64(l.BlockLen(n-1))
}

// Validate checks the parameters and the size.
func (l Layout) Validate() error {
	if err := l.Params.Validate(); err != nil {
		return err
	}
	if l.Size < 0 {
		return errors.New("erasure: negative size")
	}
	return nil
}

// stripeRange returns the stripes that cover stream bytes [off, off+n).
func (l Layout) stripeRange(off, n int64) (first, last int64) {
	ss := l.StripeSize()
	return off / ss, (off + n - 1) / ss
}
