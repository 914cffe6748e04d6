package erasure

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/minio/sha256-simd"
)

// FrameHeaderLen is the size of the header stored before every shard block.
//
//	offset size  field
//	0      1     format version (FormatV1 = 1)
//	1      1     hash algorithm (1 = SHA-256)
//	2      2     reserved, zero
//	4      4     block length n, big-endian
//	8      32    SHA-256(binding || block)
//	40     n     block
//
// The binding is not stored: the reader knows it, so a block that is intact
// but belongs to another object, shard or position fails its hash exactly
// like a flipped bit. Its layout is in bindingLen.
const FrameHeaderLen = 40

const hashSHA256 = 1

// Binding layout, hashed before the block bytes:
//
//	offset size  field
//	0      4     "KCSB"
//	4      1     format version
//	5      1     hash algorithm
//	6      1     k
//	7      1     m
//	8      1     shard index (0..k+m-1)
//	9      1     object id length L (1..64)
//	10     8     block (stripe) index, big-endian
//	18     4     block length, big-endian
//	22     L     object id
const bindingFixedLen = 22

// Framer computes and checks the frame hashes of one object's blocks. It is
// not safe for concurrent use; every goroutine that hashes owns one (see
// Clone). Tools that scrub or repair shards use it directly.
type Framer struct {
	buf [bindingFixedLen + MaxObjectIDLen]byte
	n   int
	h   hash.Hash
}

// NewFramer returns a Framer for the object objectID coded with p.
func NewFramer(p Params, objectID []byte) (*Framer, error) {
	if len(objectID) == 0 || len(objectID) > MaxObjectIDLen {
		return nil, fmt.Errorf("erasure: object id must be 1..%d bytes, got %d", MaxObjectIDLen, len(objectID))
	}
	b := &Framer{h: sha256.New()}
	copy(b.buf[:4], "KCSB")
	b.buf[4] = p.format()
	b.buf[5] = hashSHA256
	b.buf[6] = byte(p.K)
	b.buf[7] = byte(p.M)
	b.buf[9] = byte(len(objectID))
	copy(b.buf[bindingFixedLen:], objectID)
	b.n = bindingFixedLen + len(objectID)
	return b, nil
}

// Clone returns a Framer for the same object with its own hash state.
func (b *Framer) Clone() *Framer {
	c := *b
	c.h = sha256.New()
	return &c
}

func (b *Framer) sum(shard int, block int64, data []byte, out []byte) []byte {
	b.buf[8] = byte(shard)
	binary.BigEndian.PutUint64(b.buf[10:18], uint64(block))
	binary.BigEndian.PutUint32(b.buf[18:22], uint32(len(data)))
	b.h.Reset()
	b.h.Write(b.buf[:b.n])
	b.h.Write(data)
	return b.h.Sum(out)
}

// Seal writes the frame header for data, shard's block number block, into
// hdr[:FrameHeaderLen].
func (b *Framer) Seal(hdr []byte, shard int, block int64, data []byte) {
	hdr[0] = b.buf[4]
	hdr[1] = hashSHA256
	hdr[2], hdr[3] = 0, 0
	binary.BigEndian.PutUint32(hdr[4:8], uint32(len(data)))
	b.sum(shard, block, data, hdr[8:8])
}

// Verify checks a frame (header followed by exactly wantLen bytes) read from
// the given shard and block. It returns an error wrapping ErrCorrupt on any
// mismatch.
func (b *Framer) Verify(frame []byte, shard int, block int64, wantLen int) error {
	if len(frame) != FrameHeaderLen+wantLen {
		return corruptf("shard %d block %d: frame is %d bytes, want %d", shard, block, len(frame), FrameHeaderLen+wantLen)
	}
	if frame[0] != b.buf[4] || frame[1] != hashSHA256 || frame[2] != 0 || frame[3] != 0 {
		return corruptf("shard %d block %d: bad frame header % x", shard, block, frame[:4])
	}
	if n := binary.BigEndian.Uint32(frame[4:8]); n != uint32(wantLen) {
		return corruptf("shard %d block %d: block length %d, want %d", shard, block, n, wantLen)
	}
	var sum [sha256.Size]byte
	b.sum(shard, block, frame[FrameHeaderLen:], sum[:0])
	if subtle.ConstantTimeCompare(sum[:], frame[8:FrameHeaderLen]) != 1 {
		return corruptf("shard %d block %d: hash mismatch", shard, block)
	}
	return nil
}

// SealFrame frames one block exactly as the encoder does. It exists for tools
// and tests that build or repair shards by hand; hdr must hold
// FrameHeaderLen bytes.
func SealFrame(p Params, objectID []byte, shard int, block int64, data, hdr []byte) error {
	b, err := NewFramer(p, objectID)
	if err != nil {
		return err
	}
	b.Seal(hdr, shard, block, data)
	return nil
}
