package bench

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	stdsha256 "crypto/sha256"
	"fmt"
	"io"
	"testing"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/sha256-simd"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/datapath"
)

// objectSize is the size of the object every streaming benchmark moves per
// operation: large enough that per-object costs vanish, small enough for a
// few operations a second.
const objectSize = 32 << 20

var data = RandomData(4 << 20)

var codes = []erasure.Params{
	{K: 4, M: 2, BlockSize: erasure.DefaultBlockSize},
	{K: 6, M: 3, BlockSize: erasure.DefaultBlockSize},
	{K: 8, M: 4, BlockSize: erasure.DefaultBlockSize},
}

func codeName(p erasure.Params) string { return fmt.Sprintf("RS(%d,%d)", p.K, p.M) }

func mustCoder(b *testing.B, p erasure.Params) *erasure.Coder {
	c, err := erasure.New(p)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func mustRS(b *testing.B, p erasure.Params) reedsolomon.Encoder {
	rs, err := reedsolomon.New(p.K, p.M)
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

func makeShards(p erasure.Params) [][]byte {
	s := make([][]byte, p.Shards())
	for i := range s {
		s[i] = make([]byte, p.BlockSize)
		copy(s[i], data[i*p.BlockSize%len(data):])
	}
	return s
}

func BenchmarkEncode(b *testing.B) {
	for _, p := range codes {
		b.Run(codeName(p)+"/raw", func(b *testing.B) {
			rs, shards := mustRS(b, p), makeShards(p)
			b.SetBytes(p.StripeSize())
			b.ReportAllocs()
			for b.Loop() {
				if err := rs.Encode(shards); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(codeName(p)+"/ceiling", func(b *testing.B) {
			// What any streaming encoder must do: read each stripe into
			// preallocated shards, encode, hash every shard block.
			rs, shards := mustRS(b, p), makeShards(p)
			src := NewSource(data, objectSize)
			sums := make([][sha256.Size]byte, p.Shards())
			b.SetBytes(objectSize)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(objectSize)
				for done := false; !done; {
					for i := range p.K {
						n, err := io.ReadFull(src, shards[i])
						if err != nil {
							clear(shards[i][n:])
							done = true
						}
					}
					if err := rs.Encode(shards); err != nil {
						b.Fatal(err)
					}
					for i, s := range shards {
						sums[i] = sha256.Sum256(s)
					}
				}
			}
		})
		b.Run(codeName(p)+"/ours", func(b *testing.B) { benchEncodeOurs(b, p) })
	}
}

// benchEncodeOurs streams objectSize bytes through our encoder to
// discarding writers.
func benchEncodeOurs(b *testing.B, p erasure.Params) {
	c := mustCoder(b, p)
	src := NewSource(data, objectSize)
	ws := Discard(p.Shards())
	b.SetBytes(objectSize)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(objectSize)
		if _, err := c.Encode(context.Background(), []byte("bench"), src, ws); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.BufferBytes()), "buf-B/stream")
}

// BenchmarkBlockSize is how the default block size was chosen.
func BenchmarkBlockSize(b *testing.B) {
	for _, bs := range []int{64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20} {
		p := erasure.Params{K: 4, M: 2, BlockSize: bs}
		b.Run(fmt.Sprintf("RS(4,2)/%dKiB/ours", bs>>10), func(b *testing.B) { benchEncodeOurs(b, p) })
	}
}

// memShard serves a shard stream from memory.
type memShard []byte

func (m memShard) OpenRange(_ context.Context, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(m[off : off+n])), nil
}

func encodeToMemory(b *testing.B, c *erasure.Coder, size int64) ([][]byte, erasure.Layout) {
	p := c.Params()
	bufs := make([]*bytes.Buffer, p.Shards())
	ws := make([]io.Writer, p.Shards())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	res, err := c.Encode(context.Background(), []byte("bench"), NewSource(data, size), ws)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, len(bufs))
	for i, buf := range bufs {
		out[i] = buf.Bytes()
	}
	return out, res.Layout
}

// BenchmarkDecode reads with the first m data shards missing, so every
// stripe is reconstructed.
func BenchmarkDecode(b *testing.B) {
	for _, p := range codes {
		b.Run(codeName(p)+"/raw", func(b *testing.B) {
			rs, shards := mustRS(b, p), makeShards(p)
			if err := rs.Encode(shards); err != nil {
				b.Fatal(err)
			}
			work := make([][]byte, len(shards))
			b.SetBytes(p.StripeSize())
			b.ReportAllocs()
			for b.Loop() {
				copy(work, shards)
				for i := range p.M {
					work[i] = shards[i][:0]
				}
				if err := rs.ReconstructData(work); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(codeName(p)+"/ceiling", func(b *testing.B) {
			// Read k blocks per stripe out of the stored shards, hash each,
			// rebuild the m missing ones, write the data out.
			c, rs := mustCoder(b, p), mustRS(b, p)
			stored, l := encodeToMemory(b, c, objectSize)
			work := make([][]byte, p.Shards())
			bufs := makeShards(p)
			b.SetBytes(objectSize)
			b.ReportAllocs()
			for b.Loop() {
				for s := int64(0); s < l.Stripes(); s++ {
					bl := l.BlockLen(s)
					off := l.BlockOffset(s) + erasure.FrameHeaderLen
					for i := range p.Shards() {
						if i < p.M { // missing
							work[i] = bufs[i][:0]
							continue
						}
						work[i] = bufs[i][:bl]
						copy(work[i], stored[i][off:off+int64(bl)])
						_ = sha256.Sum256(work[i])
					}
					if err := rs.ReconstructData(work); err != nil {
						b.Fatal(err)
					}
					for i := range p.K {
						io.Discard.Write(work[i])
					}
				}
			}
		})
		b.Run(codeName(p)+"/ours", func(b *testing.B) {
			c := mustCoder(b, p)
			stored, l := encodeToMemory(b, c, objectSize)
			srcs := make([]erasure.ShardSource, p.Shards())
			for i := p.M; i < p.Shards(); i++ {
				srcs[i] = memShard(stored[i])
			}
			b.SetBytes(objectSize)
			b.ReportAllocs()
			for b.Loop() {
				_, err := c.Decode(context.Background(), erasure.DecodeRequest{ObjectID: []byte("bench"), Size: l.Size, Shards: srcs, Length: -1}, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	block := data[:erasure.DefaultBlockSize]
	b.Run("sha256-simd", func(b *testing.B) {
		b.SetBytes(int64(len(block)))
		b.ReportAllocs()
		for b.Loop() {
			_ = sha256.Sum256(block)
		}
	})
	b.Run("crypto-sha256", func(b *testing.B) {
		b.SetBytes(int64(len(block)))
		b.ReportAllocs()
		for b.Loop() {
			_ = stdsha256.Sum256(block)
		}
	})
	b.Run("bitrot-frame", func(b *testing.B) {
		f, err := erasure.NewFramer(codes[0], []byte("bench-object-id"))
		if err != nil {
			b.Fatal(err)
		}
		var hdr [erasure.FrameHeaderLen]byte
		b.SetBytes(int64(len(block)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f.Seal(hdr[:], i%6, int64(i), block)
		}
	})
	b.Run("md5", func(b *testing.B) {
		b.SetBytes(int64(len(block)))
		b.ReportAllocs()
		for b.Loop() {
			_ = md5.Sum(block)
		}
	})
}

func rawAEAD(b *testing.B, c crypt.Cipher) cipher.AEAD {
	key := make([]byte, 32)
	switch c {
	case crypt.AES256GCM:
		blk, err := aes.NewCipher(key)
		if err != nil {
			b.Fatal(err)
		}
		a, err := cipher.NewGCM(blk)
		if err != nil {
			b.Fatal(err)
		}
		return a
	default:
		a, err := chacha20poly1305.New(key)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
}

func BenchmarkCipher(b *testing.B) {
	const pkg = 1 << crypt.DefaultPackageShift
	for _, c := range []crypt.Cipher{crypt.AES256GCM, crypt.ChaCha20Poly1305} {
		b.Run(c.String()+"/seal-raw", func(b *testing.B) {
			a := rawAEAD(b, c)
			nonce, ad := make([]byte, 12), make([]byte, crypt.HeaderLen)
			ct := make([]byte, 0, pkg+crypt.TagLen)
			b.SetBytes(pkg)
			b.ReportAllocs()
			for b.Loop() {
				ct = a.Seal(ct[:0], nonce, data[:pkg], ad)
			}
		})
		b.Run(c.String()+"/ceiling", func(b *testing.B) {
			// Read a package, seal it: the least an encryption stream does.
			a := rawAEAD(b, c)
			nonce, ad := make([]byte, 12), make([]byte, crypt.HeaderLen)
			pt, ct := make([]byte, pkg), make([]byte, 0, pkg+crypt.TagLen)
			src := NewSource(data, objectSize)
			b.SetBytes(objectSize)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(objectSize)
				for {
					n, err := io.ReadFull(src, pt)
					ct = a.Seal(ct[:0], nonce, pt[:n], ad)
					if err != nil {
						break
					}
				}
			}
		})
		b.Run(c.String()+"/ours", func(b *testing.B) {
			dk, _ := crypt.GenerateDataKey()
			src := NewSource(data, objectSize)
			b.SetBytes(objectSize)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(objectSize)
				er, err := crypt.NewEncryptReader(src, dk, nil, crypt.EncryptOptions{Cipher: c})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, er); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.String()+"/decrypt-ours", func(b *testing.B) {
			dk, _ := crypt.GenerateDataKey()
			er, _ := crypt.NewEncryptReader(NewSource(data, objectSize), dk, nil, crypt.EncryptOptions{Cipher: c})
			ct, _ := io.ReadAll(er)
			h := er.Header()
			b.SetBytes(objectSize)
			b.ReportAllocs()
			for b.Loop() {
				dw, err := crypt.NewDecryptWriter(io.Discard, dk, h, nil, objectSize, 0, objectSize)
				if err != nil {
					b.Fatal(err)
				}
				for body := ct[crypt.HeaderLen:]; len(body) > 0; {
					n := min(len(body), erasure.DefaultBlockSize) // as the decoder hands it over
					dw.Write(body[:n])
					body = body[n:]
				}
				if err := dw.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPut measures the PUT pipeline (body → MD5 → encryption →
// RS(4,2) with bitrot hashes → discarding shard writers) and each of its
// three stages alone. Run it with -cpu 1,2.
func BenchmarkPut(b *testing.B) {
	p := codes[0]
	b.Run("md5-raw", func(b *testing.B) {
		src := NewSource(data, objectSize)
		buf := make([]byte, 1<<20)
		b.SetBytes(objectSize)
		for b.Loop() {
			src.Reset(objectSize)
			h := md5.New()
			io.CopyBuffer(h, src, buf)
		}
	})
	b.Run("md5-stage", func(b *testing.B) {
		src := NewSource(data, objectSize)
		b.SetBytes(objectSize)
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(objectSize)
			hr := datapath.NewHashingReader(src, md5.New())
			if _, err := io.Copy(io.Discard, hr); err != nil {
				b.Fatal(err)
			}
			hr.Close()
		}
	})
	b.Run("encrypt-stage", func(b *testing.B) {
		dk, _ := crypt.GenerateDataKey()
		src := NewSource(data, objectSize)
		b.SetBytes(objectSize)
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(objectSize)
			er, _ := crypt.NewEncryptReader(src, dk, nil, crypt.EncryptOptions{})
			if _, err := io.Copy(io.Discard, er); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-stage", func(b *testing.B) {
		c := mustCoder(b, p)
		src := NewSource(data, objectSize)
		ws := Discard(p.Shards())
		b.SetBytes(objectSize)
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(objectSize)
			if _, err := c.Encode(context.Background(), []byte("bench"), src, ws); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pipeline", func(b *testing.B) {
		c := mustCoder(b, p)
		dk, _ := crypt.GenerateDataKey()
		src := NewSource(data, objectSize)
		req := datapath.PutRequest{ObjectID: []byte("bench"), DataKey: dk, Coder: c, Shards: Discard(p.Shards())}
		b.SetBytes(objectSize)
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(objectSize)
			if _, err := datapath.Put(context.Background(), src, req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(datapath.PutBufferBytes(c)), "buf-B/stream")
	})
}

// BenchmarkGet measures a whole-object GET: decode from memory shards
// (one data shard missing) and decrypt.
func BenchmarkGet(b *testing.B) {
	p := codes[0]
	c := mustCoder(b, p)
	dk, _ := crypt.GenerateDataKey()
	bufs := make([]*bytes.Buffer, p.Shards())
	ws := make([]io.Writer, p.Shards())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	res, err := datapath.Put(context.Background(), NewSource(data, objectSize), datapath.PutRequest{ObjectID: []byte("bench"), DataKey: dk, Coder: c, Shards: ws})
	if err != nil {
		b.Fatal(err)
	}
	srcs := make([]erasure.ShardSource, p.Shards())
	for i := 1; i < p.Shards(); i++ {
		srcs[i] = memShard(bufs[i].Bytes())
	}
	b.Run("pipeline", func(b *testing.B) {
		b.SetBytes(objectSize)
		b.ReportAllocs()
		for b.Loop() {
			_, err := datapath.Get(context.Background(), io.Discard, datapath.GetRequest{
				ObjectID: []byte("bench"), DataKey: dk, Header: res.Header, PlainSize: res.PlainSize,
				Coder: c, Shards: srcs, Length: -1,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
