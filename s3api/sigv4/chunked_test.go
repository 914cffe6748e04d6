package sigv4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// streamingRequest returns a request in payload mode mode (a STREAMING-*
// value), signed by aws-sdk-go-v2's signer, and the encoder that writes its
// body. The request carries no Content-Length (as with Transfer-Encoding:
// chunked), so tests can give it any body.
func streamingRequest(t testing.TB, mode string, decodedLen int, announce string, extra http.Header) (*http.Request, chunkedEncoder) {
	t.Helper()
	hdr := http.Header{"Content-Encoding": {"aws-chunked"}}
	if decodedLen >= 0 {
		hdr.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decodedLen))
	}
	if announce != "" {
		hdr.Set("X-Amz-Trailer", announce)
	}
	for k, v := range extra {
		hdr[k] = v
	}
	r := signedRequestUnknownLength(t, "PUT", "http://s3.local/bucket/key", hdr, mode)
	s := scope{exampleAccessKey, testNow.Format("20060102"), exampleRegion, "s3"}
	return r, chunkedEncoder{
		key:        deriveSigningKey(exampleSecret, s),
		amzDate:    testNow.Format(amzDateLayout),
		scope:      s,
		seed:       seedOf(t, r),
		signed:     mode != streamingUnsignedTrailer,
		trailerSig: mode == streamingSignedTrailer,
	}
}

func signedRequestUnknownLength(t testing.TB, method, target string, hdr http.Header, payloadHash string) *http.Request {
	t.Helper()
	r := signedRequest(t, method, target, hdr, nil, payloadHash, exampleRegion, exampleSecret, testNow)
	if strings.Contains(r.Header.Get("Authorization"), "=content-length;") {
		t.Fatal("content-length signed")
	}
	r.ContentLength = -1
	return r
}

func setBody(r *http.Request, b []byte) *http.Request {
	r.Body = io.NopCloser(bytes.NewReader(b))
	return r
}

// verifyBody runs Verify and reads the body to its end.
func verifyBody(r *http.Request) ([]byte, *Result, error) {
	res, err := testVerifier().Verify(r)
	if err != nil {
		return nil, nil, err
	}
	got, err := readAll(res.Body)
	return got, res, err
}

func checksumOf(alg string, payload []byte) string {
	h, _ := NewChecksum(alg)
	h.Write(payload)
	return EncodeChecksum(h.Sum(nil))
}

func TestChunkedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range []string{streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer} {
		for _, size := range []int{0, 1, 8191, 65536, 65537, 300_000} {
			for _, chunk := range []int{8192, 65536, 1 << 20} {
				payload := make([]byte, size)
				for i := range payload {
					payload[i] = byte(rng.Uint32())
				}
				name := fmt.Sprintf("%s/%d/%d", mode, size, chunk)
				t.Run(name, func(t *testing.T) {
					var announce string
					var trailers [][2]string
					if mode != streamingSigned {
						announce = "x-amz-checksum-crc32c"
						trailers = [][2]string{{announce, checksumOf("CRC32C", payload)}}
					}
					r, enc := streamingRequest(t, mode, size, announce, nil)
					got, res, err := verifyBody(setBody(r, enc.encode(payload, chunk, trailers)))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, payload) {
						t.Fatalf("decoded %d bytes, want %d", len(got), len(payload))
					}
					if res.Length != int64(size) {
						t.Errorf("Length %d", res.Length)
					}
					if cs := res.Checksums(); len(cs) != len(trailers) || len(cs) == 1 && cs[0].Value != trailers[0][1] {
						t.Errorf("checksums %v", cs)
					}
				})
			}
		}
	}
}

// TestChunkedWireVariants: what different clients put after the last chunk.
func TestChunkedWireVariants(t *testing.T) {
	payload := []byte("the quick brown fox")
	crc := checksumOf("CRC32", payload)
	signedTrailer := func(lines func(sig string) string) func(chunkedEncoder) []byte {
		return func(e chunkedEncoder) []byte {
			s := newSignerForTest(e.key, e.amzDate, e.scope, e.seed)
			head := fmt.Sprintf("%x;chunk-signature=%s\r\n%s\r\n0;chunk-signature=%s\r\n", len(payload), s.chunk(payload), payload, s.chunk(nil))
			return []byte(head + lines(s.trailer("x-amz-checksum-crc32:"+crc+"\n")))
		}
	}
	unsigned := func(tail string) func(chunkedEncoder) []byte {
		return func(chunkedEncoder) []byte {
			return []byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(payload), payload) + tail)
		}
	}
	for _, tc := range []struct {
		name, mode string
		body       func(chunkedEncoder) []byte
	}{
		// The AWS page: an empty line (the last chunk's CRLF) before the trailers.
		{"aws documentation", streamingSignedTrailer, signedTrailer(func(sig string) string {
			return "\r\nx-amz-checksum-crc32:" + crc + "\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n"
		})},
		// The AWS SDK for .NET: trailers right after the last chunk.
		{"compact", streamingSignedTrailer, signedTrailer(func(sig string) string {
			return "x-amz-checksum-crc32:" + crc + "\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n"
		})},
		// minio-go: trailer lines end in a bare LF, then CRLF before the signature.
		{"minio-go signed", streamingSignedTrailer, signedTrailer(func(sig string) string {
			return "x-amz-checksum-crc32:" + crc + "\n\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n"
		})},
		{"no final empty line", streamingSignedTrailer, signedTrailer(func(sig string) string {
			return "x-amz-checksum-crc32:" + crc + "\r\nx-amz-trailer-signature:" + sig + "\r\n"
		})},
		{"unterminated signature line", streamingSignedTrailer, signedTrailer(func(sig string) string {
			return "x-amz-checksum-crc32:" + crc + "\r\nx-amz-trailer-signature:" + sig
		})},
		{"blank around colon", streamingSignedTrailer, signedTrailer(func(sig string) string {
			return "x-amz-checksum-crc32: " + crc + "\r\nx-amz-trailer-signature: " + sig + "\r\n\r\n"
		})},
		// aws-sdk-go-v2, botocore and the AWS CLI.
		{"sdk unsigned", streamingUnsignedTrailer, unsigned("x-amz-checksum-crc32:" + crc + "\r\n\r\n")},
		{"minio-go unsigned", streamingUnsignedTrailer, unsigned("x-amz-checksum-crc32:" + crc + "\n\r\n\r\n")},
		{"capitalized trailer name", streamingUnsignedTrailer, unsigned("X-Amz-Checksum-Crc32:" + crc + "\r\n\r\n")},
		{"unsigned, no final empty line", streamingUnsignedTrailer, unsigned("x-amz-checksum-crc32:" + crc + "\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, enc := streamingRequest(t, tc.mode, len(payload), "x-amz-checksum-crc32", nil)
			got, res, err := verifyBody(setBody(r, tc.body(enc)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload %q", got)
			}
			if cs := res.Checksums(); len(cs) != 1 || cs[0] != (objapi.Checksum{Algorithm: "CRC32", Value: crc}) {
				t.Errorf("checksums %v", cs)
			}
		})
	}
}

func TestChunkedRejects(t *testing.T) {
	payload := []byte(strings.Repeat("0123456789", 2000)) // 20000 bytes
	crc := checksumOf("CRC32", payload)
	trailer := [][2]string{{"x-amz-checksum-crc32", crc}}
	big := strings.Repeat("f", 10_000)
	for _, tc := range []struct {
		name     string
		mode     string
		announce string
		declared int // -1: no x-amz-decoded-content-length
		extra    http.Header
		body     func(e chunkedEncoder) []byte
		want     error
	}{
		{name: "oversized size line", mode: streamingUnsignedTrailer, body: raw(big + "\r\n"), want: ErrMalformedChunk},
		{name: "oversized size line, no newline", mode: streamingUnsignedTrailer, body: raw(big), want: ErrMalformedChunk},
		{name: "17 hex digits", mode: streamingUnsignedTrailer, body: raw("00000000000004e20\r\n"), want: ErrMalformedChunk},
		{name: "size overflows int64", mode: streamingUnsignedTrailer, declared: -1, body: raw("8000000000000000\r\n"), want: ErrMalformedChunk},
		{name: "size not hex", mode: streamingUnsignedTrailer, body: raw("4e2g\r\n"), want: ErrMalformedChunk},
		{name: "size with blank", mode: streamingUnsignedTrailer, body: raw(" 4e20\r\n"), want: ErrMalformedChunk},
		{name: "empty size", mode: streamingUnsignedTrailer, body: raw("\r\n"), want: ErrMalformedChunk},
		{name: "empty body", mode: streamingUnsignedTrailer, body: raw(""), want: ErrIncompleteBody},
		{name: "truncated in size line", mode: streamingUnsignedTrailer, body: raw("4e2"), want: ErrIncompleteBody},
		{name: "truncated in data", mode: streamingSigned, body: cut(8192, 5000), want: ErrIncompleteBody},
		{name: "truncated before CRLF", mode: streamingUnsignedTrailer, body: raw("4e20\r\n" + string(payload)), want: ErrIncompleteBody},
		{name: "truncated before last chunk", mode: streamingSigned, body: func(e chunkedEncoder) []byte {
			b := e.encode(payload, 8192, nil)
			return b[:bytes.LastIndex(b, []byte("0;chunk-signature"))]
		}, want: ErrIncompleteBody},
		{name: "chunk longer than size", mode: streamingUnsignedTrailer, body: raw("4e1f\r\n" + string(payload) + "\r\n0\r\n\r\n"), want: ErrMalformedChunk},
		{name: "data without CRLF", mode: streamingUnsignedTrailer, body: raw("4e20\r\n" + string(payload) + "0\r\n\r\n"), want: ErrMalformedChunk},
		{name: "more than declared", mode: streamingUnsignedTrailer, declared: 19999, body: raw("4e20\r\n" + string(payload) + "\r\n0\r\n\r\n"), want: ErrMalformedChunk},
		{name: "less than declared", mode: streamingUnsignedTrailer, declared: 20001, body: raw("4e20\r\n" + string(payload) + "\r\n0\r\n\r\n"), want: ErrIncompleteBody},
		{name: "declared not a number", mode: streamingUnsignedTrailer, extra: http.Header{"X-Amz-Decoded-Content-Length": {"20k"}}, body: raw(""), want: ErrMalformedChunk},
		{name: "declared negative", mode: streamingUnsignedTrailer, extra: http.Header{"X-Amz-Decoded-Content-Length": {"-1"}}, body: raw(""), want: ErrMalformedChunk},
		{name: "no chunk signature", mode: streamingSigned, body: raw("4e20\r\n" + string(payload) + "\r\n"), want: ErrMalformedChunk},
		{name: "chunk signature short", mode: streamingSigned, body: raw("4e20;chunk-signature=abc\r\n"), want: ErrMalformedChunk},
		{name: "other extension", mode: streamingSigned, body: raw("4e20;chunk-sig=" + emptySHA256Hex + "\r\n"), want: ErrMalformedChunk},
		{name: "wrong chunk signature", mode: streamingSigned, body: raw("4e20;chunk-signature=" + emptySHA256Hex + "\r\n" + string(payload) + "\r\n"), want: ErrSignatureMismatch},
		{name: "chunks reordered", mode: streamingSigned, body: func(e chunkedEncoder) []byte {
			b := e.encode(payload, 10000, nil)
			i := bytes.Index(b[1:], []byte("2710;")) + 1
			j := bytes.Index(b, []byte("\r\n0;chunk")) + 2
			first, second := b[:i], b[i:j]
			return append(append(append([]byte{}, second...), first...), b[j:]...)
		}, want: ErrSignatureMismatch},
		{name: "chunk dropped", mode: streamingSigned, declared: -1, body: func(e chunkedEncoder) []byte {
			b := e.encode(payload, 10000, nil)
			i := bytes.Index(b[1:], []byte("2710;")) + 1
			return b[i:]
		}, want: ErrSignatureMismatch},
		{name: "last chunk dropped", mode: streamingSigned, declared: -1, body: func(e chunkedEncoder) []byte {
			b := e.encode(payload, 10000, nil)
			return b[:bytes.LastIndex(b, []byte("2710;"))]
		}, want: ErrIncompleteBody},
		{name: "final chunk signature wrong", mode: streamingSigned, body: func(e chunkedEncoder) []byte {
			b := e.encode(payload, 10000, nil)
			i := bytes.LastIndex(b, []byte("0;chunk-signature=")) + len("0;chunk-signature=")
			b[i] ^= 1
			return b
		}, want: ErrSignatureMismatch},
		{name: "junk after last chunk", mode: streamingSigned, body: func(e chunkedEncoder) []byte { return append(e.encode(payload, 10000, nil), "more"...) }, want: ErrMalformedTrailer},
		{name: "trailer in mode without", mode: streamingSigned, body: func(e chunkedEncoder) []byte { return e.encode(payload, 10000, trailer) }, want: ErrMalformedTrailer},
		{name: "wrong trailer checksum", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith([][2]string{{"x-amz-checksum-crc32", "AAAAAA=="}}), want: ErrBadDigest},
		{name: "malformed trailer checksum", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith([][2]string{{"x-amz-checksum-crc32", "AAAA"}}), want: ErrInvalidChecksum},
		{name: "trailer missing", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith(nil), want: ErrMalformedTrailer},
		{name: "trailer not announced", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith(append(trailer, [2]string{"x-amz-checksum-sha1", checksumOf("SHA1", payload)})), want: ErrMalformedTrailer},
		{name: "other trailer than announced", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32c", body: encodeWith(trailer), want: ErrMalformedTrailer},
		{name: "trailer twice", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith(append(trailer, trailer[0])), want: ErrMalformedTrailer},
		{name: "trailer without colon", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: raw("4e20\r\n" + string(payload) + "\r\n0\r\nx-amz-checksum-crc32 " + crc + "\r\n\r\n"), want: ErrMalformedTrailer},
		{name: "trailer section too long", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: func(e chunkedEncoder) []byte {
			return append(e.encode(payload, 8192, trailer), strings.Repeat("\r\n", 9000)...)
		}, want: ErrMalformedTrailer},
		{name: "trailer line too long", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith([][2]string{{"x-amz-checksum-crc32", big}}), want: ErrMalformedTrailer},
		{name: "signature in unsigned stream", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: encodeWith(append(trailer, [2]string{"x-amz-trailer-signature", emptySHA256Hex})), want: ErrMalformedTrailer},
		{name: "signed trailer without signature", mode: streamingSignedTrailer, announce: "x-amz-checksum-crc32", body: func(e chunkedEncoder) []byte {
			e.trailerSig = false
			return e.encode(payload, 8192, trailer)
		}, want: ErrSignatureMismatch},
		{name: "signed trailer changed", mode: streamingSignedTrailer, announce: "x-amz-checksum-crc32", body: func(e chunkedEncoder) []byte {
			return bytes.Replace(e.encode(payload, 8192, trailer), []byte(crc), []byte("AAAAAA=="), 1)
		}, want: ErrSignatureMismatch},
		{name: "line after trailer signature", mode: streamingSignedTrailer, announce: "x-amz-checksum-crc32", body: func(e chunkedEncoder) []byte {
			return append(e.encode(payload, 8192, trailer), "x-amz-checksum-crc32:"+crc+"\r\n"...)
		}, want: ErrMalformedTrailer},
		{name: "tampered data, unsigned", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", body: func(e chunkedEncoder) []byte {
			return bytes.Replace(e.encode(payload, 8192, trailer), []byte("3456"), []byte("3457"), 1)
		}, want: ErrBadDigest},
		{name: "tampered data, signed", mode: streamingSignedTrailer, announce: "x-amz-checksum-crc32", body: func(e chunkedEncoder) []byte {
			return bytes.Replace(e.encode(payload, 8192, trailer), []byte("3456"), []byte("3457"), 1)
		}, want: ErrSignatureMismatch},
		{name: "unknown trailer announced", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc16", body: raw(""), want: ErrUnsupportedChecksum},
		{name: "non-checksum trailer announced", mode: streamingUnsignedTrailer, announce: "x-amz-meta-a", body: raw(""), want: ErrUnsupportedChecksum},
		{name: "checksum announced twice", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32, x-amz-checksum-crc32", body: raw(""), want: ErrInvalidChecksum},
		{name: "header and trailer checksum", mode: streamingUnsignedTrailer, announce: "x-amz-checksum-crc32", extra: http.Header{"X-Amz-Checksum-Crc32": {crc}}, body: raw(""), want: ErrInvalidChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			declared := len(payload)
			if tc.declared != 0 {
				declared = tc.declared
			}
			r, enc := streamingRequest(t, tc.mode, declared, tc.announce, tc.extra)
			_, _, err := verifyBody(setBody(r, tc.body(enc)))
			wantErr(t, err, tc.want)
		})
	}
}

func raw(s string) func(chunkedEncoder) []byte {
	return func(chunkedEncoder) []byte { return []byte(s) }
}

func encodeWith(trailers [][2]string) func(chunkedEncoder) []byte {
	return func(e chunkedEncoder) []byte {
		return e.encode([]byte(strings.Repeat("0123456789", 2000)), 8192, trailers)
	}
}

// cut encodes the test payload in chunks of n bytes and cuts the result at m.
func cut(n, m int) func(chunkedEncoder) []byte {
	return func(e chunkedEncoder) []byte {
		return e.encode([]byte(strings.Repeat("0123456789", 2000)), n, nil)[:m]
	}
}

// TestEmptyBodyEveryMode: a request without a body works whatever
// x-amz-content-sha256 says, but a body cut to nothing does not pass for one.
func TestEmptyBodyEveryMode(t *testing.T) {
	for _, mode := range []string{emptySHA256Hex, unsignedPayload, streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer} {
		for _, method := range []string{"GET", "HEAD", "DELETE"} {
			r := signedRequest(t, method, "http://s3.local/bucket/key", nil, nil, mode, exampleRegion, exampleSecret, testNow)
			got, res, err := verifyBody(r)
			if err != nil || len(got) != 0 {
				t.Errorf("%s %s: %q, %v", method, mode, got, err)
				continue
			}
			if res.Length > 0 {
				t.Errorf("%s %s: Length %d", method, mode, res.Length)
			}
		}
	}
	// A streaming PUT that declares 5 bytes but has no body.
	r := signedRequest(t, "PUT", "http://s3.local/bucket/key", http.Header{"X-Amz-Decoded-Content-Length": {"5"}}, nil, streamingSigned, exampleRegion, exampleSecret, testNow)
	if _, _, err := verifyBody(r); !errors.Is(err, ErrIncompleteBody) {
		t.Errorf("declared 5, sent nothing: %v", err)
	}
	// An empty payload properly encoded is fine too.
	r, enc := streamingRequest(t, streamingSigned, 0, "", nil)
	if got, _, err := verifyBody(setBody(r, enc.encode(nil, 8192, nil))); err != nil || len(got) != 0 {
		t.Errorf("encoded empty payload: %q, %v", got, err)
	}
}

// TestChunkedStickyAndPassThrough: the first error repeats, and errors of the
// underlying body reach the caller.
func TestChunkedStickyAndPassThrough(t *testing.T) {
	errNet := errors.New("connection reset")
	r, enc := streamingRequest(t, streamingSigned, 20000, "", nil)
	b := enc.encode(bytes.Repeat([]byte("x"), 20000), 8192, nil)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b[:9000]), &errReader{errNet}))
	res, err := testVerifier().Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(res.Body)
	if !errors.Is(err, errNet) {
		t.Fatalf("got %v, want the body's error", err)
	}
	if _, again := res.Body.Read(make([]byte, 10)); again != err {
		t.Fatalf("second read: %v", again)
	}
	if res.Checksums() != nil {
		t.Error("checksums of a failed body")
	}
	// io.ErrUnexpectedEOF, as net/http reports a body shorter than its
	// Content-Length, is ErrIncompleteBody.
	r, _ = streamingRequest(t, streamingSigned, 20000, "", nil)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b[:9000]), &errReader{io.ErrUnexpectedEOF}))
	res, _ = testVerifier().Verify(r)
	if _, err := readAll(res.Body); !errors.Is(err, ErrIncompleteBody) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// repeatStream serves a chunked body of n chunks of the same data without
// holding it: precomputed chunk headers, then the data, CRLF, and so on.
type repeatStream struct {
	parts [][]byte
	i     int
	off   int
}

func (s *repeatStream) Read(p []byte) (int, error) {
	for s.i < len(s.parts) && s.off == len(s.parts[s.i]) {
		s.i, s.off = s.i+1, 0
	}
	if s.i == len(s.parts) {
		return 0, io.EOF
	}
	n := copy(p, s.parts[s.i][s.off:])
	s.off += n
	return n, nil
}

// TestChunkedMemory: decoding does not grow with the chunk size or the
// payload: 16 MiB in 2 MiB signed chunks allocate a few KiB.
func TestChunkedMemory(t *testing.T) {
	const chunk, chunks = 2 << 20, 8
	data := bytes.Repeat([]byte{'k'}, chunk)
	r, enc := streamingRequest(t, streamingSigned, chunk*chunks, "", nil)
	s := newSignerForTest(enc.key, enc.amzDate, enc.scope, enc.seed)
	var parts [][]byte
	crlf := []byte("\r\n")
	for range chunks {
		parts = append(parts, []byte(fmt.Sprintf("%x;chunk-signature=%s\r\n", chunk, s.chunk(data))), data, crlf)
	}
	parts = append(parts, []byte("0;chunk-signature="+s.chunk(nil)+"\r\n\r\n"))
	r.Body = io.NopCloser(&repeatStream{parts: parts})
	buf := make([]byte, 256<<10)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := testVerifier().Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for {
		m, err := res.Body.Read(buf)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if n != chunk*chunks {
		t.Fatalf("decoded %d bytes", n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("verifying %d MiB allocated %d bytes", n>>20, alloc)
	}
}
