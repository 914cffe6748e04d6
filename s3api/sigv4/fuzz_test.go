package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzChunkedDecoder feeds the aws-chunked decoder hostile bytes. The property
// is "an error, or exactly the payload": a correctly encoded payload is
// damaged by edits (set, insert or delete a byte) and must then either fail or
// still decode to the original, since chunk signatures, trailer signatures or
// a SHA-256 trailer protect it; in raw mode the fuzzer's bytes are the whole
// body, and the decoder must merely survive them. Panics, hangs and unbounded
// allocation are failures in every mode. `make fuzz`-style runs:
//
//	go test ./s3api/sigv4 -run '^$' -fuzz '^FuzzChunkedDecoder$' -fuzztime 60s
func FuzzChunkedDecoder(f *testing.F) {
	f.Add([]byte("hello, world"), uint16(5), []byte{}, uint8(0))
	f.Add([]byte("hello, world"), uint16(4), []byte{0, 0, 3, 'x'}, uint8(1))
	f.Add(bytes.Repeat([]byte("abc"), 300), uint16(100), []byte{1, 0, 40, '\n', 2, 1, 0, 0}, uint8(2))
	f.Add([]byte{}, uint16(8), []byte{}, uint8(2))
	f.Add([]byte("x"), uint16(1), []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), uint8(3))
	f.Add([]byte("x"), uint16(1), []byte("ffffffffffffffff\r\n"), uint8(3))
	f.Add([]byte("x"), uint16(1), bytes.Repeat([]byte("f"), 5000), uint8(3))
	f.Fuzz(fuzzChunked)
}

func fuzzChunked(t *testing.T, payload []byte, chunk uint16, edits []byte, mode uint8) {
	{
		mode %= 4
		// Bound the work per input: with one-byte chunks every byte costs
		// two HMACs in the encoder and the decoder.
		if len(payload) > 1024 {
			payload = payload[:1024]
		}
		if len(edits) > 64<<10 {
			edits = edits[:64<<10]
		}
		modes := [...]payloadMode{payloadStreamingSigned, payloadStreamingSignedTrailer, payloadStreamingUnsignedTrailer, payloadStreamingUnsignedTrailer}
		pm := modes[mode]

		s := scope{exampleAccessKey, "20250314", exampleRegion, "s3"}
		key := deriveSigningKey(exampleSecret, s)
		var seed [32]byte
		copy(seed[:], "seed signature of the fuzz target")
		enc := chunkedEncoder{key: key, amzDate: "20250314T150926Z", scope: s, seed: seed,
			signed: pm.signedChunks(), trailerSig: pm == payloadStreamingSignedTrailer}

		hdr := http.Header{}
		var body []byte
		if mode == 3 {
			body = edits
			hdr.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		} else {
			var trailers [][2]string
			if pm.trailer() != trailerNone {
				hdr.Set("X-Amz-Trailer", "x-amz-checksum-sha256")
				trailers = [][2]string{{"x-amz-checksum-sha256", checksumOf("SHA256", payload)}}
			}
			if chunk%2 == 0 {
				hdr.Set("X-Amz-Decoded-Content-Length", itoa(len(payload)))
			}
			body = applyEdits(enc.encode(payload, 1+int(chunk)%1024, trailers), edits)
		}

		var chain *chainSigner
		if pm.signedChunks() {
			chain = newChainSigner(key, enc.amzDate, s, seed)
		}
		r := &http.Request{Method: "PUT", Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1}
		b, _, err := newBody(r, pm, [32]byte{}, chain, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(b)
		if len(got) > len(body) {
			t.Fatalf("decoded %d bytes out of %d", len(got), len(body))
		}
		if err == nil && mode != 3 && !bytes.Equal(got, payload) {
			t.Fatalf("accepted a wrong payload: %q, want %q", got, payload)
		}
	}
}

// applyEdits applies 4-byte edits (op, position high and low byte, value):
// op%3 is 0 set, 1 insert, 2 delete.
func applyEdits(b, edits []byte) []byte {
	b = bytes.Clone(b)
	for ; len(edits) >= 4 && len(b) > 0; edits = edits[4:] {
		pos := (int(edits[1])<<8 | int(edits[2])) % len(b)
		switch edits[0] % 3 {
		case 0:
			b[pos] = edits[3]
		case 1:
			b = append(b[:pos], append([]byte{edits[3]}, b[pos:]...)...)
		case 2:
			b = append(b[:pos], b[pos+1:]...)
		}
	}
	return b
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
