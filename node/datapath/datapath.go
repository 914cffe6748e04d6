package datapath

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
)

// PutRequest says how to store one stream (an object, or one part).
type PutRequest struct {
	ObjectID []byte         // binds the shard blocks to this stream; unique per stream
	DataKey  *crypt.DataKey // the object's (or upload's) data key
	StreamAD []byte         // binds the ciphertext to its place, e.g. the part number
	Cipher   crypt.EncryptOptions
	Coder    *erasure.Coder
	Shards   []io.Writer // k+m shard writers; nil for a shard that cannot be written
}

// PutResult is what the metadata records about a stored stream.
type PutResult struct {
	PlainSize int64
	MD5       [md5.Size]byte
	Header    crypt.Header   // the encryption stream's header
	Layout    erasure.Layout // of the ciphertext stream
	Failed    []erasure.ShardError
}

// PutBufferBytes is the most memory one Put holds: the hashing chunks, the
// stripe buffers and a package of encryption scratch.
func PutBufferBytes(c *erasure.Coder) int {
	return BufferBytes() + c.BufferBytes() + 2*(1<<crypt.DefaultPackageShift+crypt.TagLen)
}

// Put reads src to EOF and writes it, hashed, encrypted and coded, to the
// shard writers. The caller makes the shards durable and commits the
// metadata only if Put succeeded, the hashes match what the client sent and
// enough shards were written; otherwise it discards the shards.
func Put(ctx context.Context, src io.Reader, req PutRequest) (PutResult, error) {
	var res PutResult
	md := md5.New()
	// A client's checksums and the signed payload's hash are computed as
	// the body is read, before it gets here (s3api/sigv4); only the ETag's
	// MD5 is this pipeline's.
	hr := NewHashingReader(src, md)
	defer hr.Close()
	var plain io.Reader = hr
	if shift := req.Cipher.PackageShift; shift > 20 {
		plain = struct{ io.Reader }{hr} // packages larger than a chunk: no Peek
	}
	er, err := crypt.NewEncryptReader(plain, req.DataKey, req.StreamAD, req.Cipher)
	if err != nil {
		return res, err
	}
	enc, err := req.Coder.Encode(ctx, req.ObjectID, er, req.Shards)
	res.Layout, res.Failed = enc.Layout, enc.Failed
	if err != nil {
		return res, fmt.Errorf("datapath: put: %w", err)
	}
	hr.Close() // the hashers are done with every byte once it returns
	res.PlainSize = er.PlainSize()
	res.Header = er.Header()
	copy(res.MD5[:], md.Sum(nil))
	if want := res.Header.CiphertextSize(res.PlainSize); want != res.Layout.Size {
		return res, fmt.Errorf("datapath: put: coded %d bytes, expected %d", res.Layout.Size, want)
	}
	return res, nil
}

// GetRequest says what to read of a stored stream.
type GetRequest struct {
	ObjectID  []byte
	DataKey   *crypt.DataKey
	StreamAD  []byte
	Header    crypt.Header
	PlainSize int64
	Coder     *erasure.Coder
	Shards    []erasure.ShardSource // k+m; nil for unavailable shards
	Prefer    []int                 // shard read order, e.g. local site first
	Offset    int64
	Length    int64 // negative: to the end
}

// Get writes plaintext [Offset, Offset+Length) to w. It decodes only the
// stripes that hold the packages covering the range, and writes a package's
// bytes only after it authenticated. The report names shards that were bad,
// for repair.
func Get(ctx context.Context, w io.Writer, req GetRequest) (erasure.DecodeReport, error) {
	off, n := req.Offset, req.Length
	if n < 0 {
		n = req.PlainSize - off
	}
	dw, err := crypt.NewDecryptWriter(w, req.DataKey, req.Header, req.StreamAD, req.PlainSize, off, n)
	if err != nil {
		return erasure.DecodeReport{}, err
	}
	ctOff, ctLen := req.Header.CiphertextRange(req.PlainSize, off, n)
	rep, err := req.Coder.Decode(ctx, erasure.DecodeRequest{
		ObjectID: req.ObjectID,
		Size:     req.Header.CiphertextSize(req.PlainSize),
		Shards:   req.Shards,
		Prefer:   req.Prefer,
		Offset:   ctOff,
		Length:   ctLen,
	}, dw)
	if err != nil {
		return rep, fmt.Errorf("datapath: get: %w", err)
	}
	if err := dw.Close(); err != nil {
		return rep, fmt.Errorf("datapath: get: %w", err)
	}
	return rep, nil
}
