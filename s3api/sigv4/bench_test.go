package sigv4

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// The cost of verification per payload byte, per mode: signed chunks hash
// and HMAC every chunk, a hex payload hash hashes the body once, checksums
// add their own pass.

func benchmarkBody(b *testing.B, mode string, chunk int, hdr http.Header) {
	const size = 16 << 20
	payload := bytes.Repeat([]byte("kcs "), size/4)
	var body []byte
	var r *http.Request
	switch mode {
	case streamingSigned, streamingUnsignedTrailer:
		var announce string
		var trailers [][2]string
		if mode == streamingUnsignedTrailer {
			announce = "x-amz-checksum-crc32c"
			trailers = [][2]string{{announce, checksumOf("CRC32C", payload)}}
		}
		var enc chunkedEncoder
		r, enc = streamingRequest(b, mode, size, announce, hdr)
		body = enc.encode(payload, chunk, trailers)
	default:
		sha := mode
		if mode == "hash" {
			sha = sha256Hex(payload)
		}
		r = signedRequest(b, "PUT", "http://s3.local/bucket/key", hdr, payload, sha, exampleRegion, exampleSecret, testNow)
		body = payload
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		r.Body = io.NopCloser(bytes.NewReader(body))
		res, err := testVerifier().Verify(r)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := res.Body.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkBody(b *testing.B) {
	for _, chunk := range []int{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("streaming-signed/chunk=%dKiB", chunk>>10), func(b *testing.B) { benchmarkBody(b, streamingSigned, chunk, nil) })
		b.Run(fmt.Sprintf("streaming-unsigned-trailer-crc32c/chunk=%dKiB", chunk>>10), func(b *testing.B) { benchmarkBody(b, streamingUnsignedTrailer, chunk, nil) })
	}
	b.Run("payload-sha256", func(b *testing.B) { benchmarkBody(b, "hash", 0, nil) })
	b.Run("unsigned", func(b *testing.B) { benchmarkBody(b, unsignedPayload, 0, nil) })
	for _, alg := range []string{"CRC32", "CRC32C", "CRC64NVME", "SHA256", "XXHASH3"} {
		hdr, _ := ChecksumHeader(alg)
		b.Run("unsigned+"+alg, func(b *testing.B) {
			payload := bytes.Repeat([]byte("kcs "), (16<<20)/4)
			benchmarkBody(b, unsignedPayload, 0, http.Header{http.CanonicalHeaderKey(hdr): {checksumOf(alg, payload)}})
		})
	}
}
