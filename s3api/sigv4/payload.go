package sigv4

import (
	"encoding/hex"
	"fmt"
	"github.com/kommunal-cloud/kcs/node/checksum"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// payloadMode is how the body travels, named by x-amz-content-sha256.
type payloadMode int

const (
	payloadHash                     payloadMode = iota // 64 hex digits: SHA-256 of the body
	payloadUnsigned                                    // UNSIGNED-PAYLOAD
	payloadStreamingSigned                             // aws-chunked, signed chunks
	payloadStreamingSignedTrailer                      // the same, then signed trailers
	payloadStreamingUnsignedTrailer                    // aws-chunked without signatures, then trailers
)

const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingECDSAPrefix     = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" // SigV4A, with or without -TRAILER
)

func (m payloadMode) chunked() bool { return m >= payloadStreamingSigned }
func (m payloadMode) signedChunks() bool {
	return m == payloadStreamingSigned || m == payloadStreamingSignedTrailer
}
func (m payloadMode) trailer() trailerMode {
	switch m {
	case payloadStreamingSignedTrailer:
		return trailerSigned
	case payloadStreamingUnsignedTrailer:
		return trailerUnsigned
	}
	return trailerNone
}

// parsePayloadMode reads x-amz-content-sha256.
func parsePayloadMode(v string) (payloadMode, [32]byte, error) {
	var sum [32]byte
	switch {
	case v == unsignedPayload:
		return payloadUnsigned, sum, nil
	case v == streamingSigned:
		return payloadStreamingSigned, sum, nil
	case v == streamingSignedTrailer:
		return payloadStreamingSignedTrailer, sum, nil
	case v == streamingUnsignedTrailer:
		return payloadStreamingUnsignedTrailer, sum, nil
	case strings.HasPrefix(v, streamingECDSAPrefix):
		return 0, sum, fmt.Errorf("%w: %s is SigV4A", ErrUnsupportedAuth, v)
	case len(v) == 2*len(sum):
		if _, err := hex.Decode(sum[:], []byte(v)); err == nil {
			return payloadHash, sum, nil
		}
	}
	return 0, sum, fmt.Errorf("%w: %q", ErrInvalidContentSHA256, v)
}

// hasAWSChunked reports whether Content-Encoding lists aws-chunked, alone or
// among others ("aws-chunked,gzip").
func hasAWSChunked(h http.Header) bool {
	for _, v := range h.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(e), "aws-chunked") {
				return true
			}
		}
	}
	return false
}

// StripAWSChunked returns a Content-Encoding value without aws-chunked, which
// describes the transfer, not the object: "aws-chunked,gzip" → "gzip",
// "aws-chunked" → "". s3api stores what remains with the object, as S3 does,
// and keeps the client's bytes of it: "deflate, gzip" stays "deflate, gzip"
// (not "deflate,gzip"), since clients compare what they read back with
// what they wrote.
func StripAWSChunked(contentEncoding string) string {
	if !strings.Contains(strings.ToLower(contentEncoding), "aws-chunked") {
		return contentEncoding
	}
	var keep []string
	for e := range strings.SplitSeq(contentEncoding, ",") {
		if t := strings.TrimSpace(e); t != "" && !strings.EqualFold(t, "aws-chunked") {
			keep = append(keep, e)
		}
	}
	return strings.TrimSpace(strings.Join(keep, ","))
}

// newBody wires r.Body through what its payload mode needs: the aws-chunked
// decoder and its signatures, the payload hash, the checksums announced as
// headers or trailers, the declared length. Everything that can be checked
// before the body is read is checked here, so that Verify fails early.
func newBody(r *http.Request, mode payloadMode, payloadSum [32]byte, chain *chainSigner, o Options) (*body, int64, error) {
	b := &body{}
	if mode == payloadHash {
		b.payload = newSHA256()
		b.payloadWant = payloadSum
	}

	// Checksums sent as headers, known now.
	for name, vals := range r.Header {
		l := strings.ToLower(name)
		if !isChecksumValueHeader(l) || o.ObjectChecksumHeaders {
			continue
		}
		a := algorithmForHeader(l)
		if a == nil {
			return nil, 0, fmt.Errorf("%w: header %s", ErrUnsupportedChecksum, l)
		}
		if len(vals) != 1 {
			return nil, 0, fmt.Errorf("%w: %s sent %d times", ErrInvalidChecksum, l, len(vals))
		}
		want, err := decodeValue(a, vals[0])
		if err != nil {
			return nil, 0, err
		}
		b.sums = append(b.sums, &sumState{alg: a, h: a.New(), value: vals[0], want: want})
	}

	// Checksums announced as trailers, known at the end of the body.
	var announced []string
	for _, v := range r.Header.Values("X-Amz-Trailer") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			a := algorithmForHeader(name)
			if a == nil {
				return nil, 0, fmt.Errorf("%w: trailer %q", ErrUnsupportedChecksum, name)
			}
			if slices.ContainsFunc(b.sums, func(s *sumState) bool { return s.alg == a }) {
				return nil, 0, fmt.Errorf("%w: %s sent twice (header or x-amz-trailer)", ErrInvalidChecksum, name)
			}
			b.sums = append(b.sums, &sumState{alg: a, h: a.New(), trailer: true})
			announced = append(announced, a.Header)
		}
	}
	if len(announced) > 0 && mode.trailer() == trailerNone {
		return nil, 0, fmt.Errorf("%w: x-amz-trailer needs %s or %s", ErrInvalidContentSHA256, streamingSignedTrailer, streamingUnsignedTrailer)
	}
	slices.SortFunc(b.sums, func(x, y *sumState) int { return algIndex(x.alg) - algIndex(y.alg) })

	// x-amz-sdk-checksum-algorithm names the checksum the SDK sends; S3
	// rejects a request whose header or trailer is not that one.
	if v := r.Header.Get("X-Amz-Sdk-Checksum-Algorithm"); v != "" {
		a := lookupAlgorithm(v)
		if a == nil {
			return nil, 0, fmt.Errorf("%w: x-amz-sdk-checksum-algorithm %q", ErrUnsupportedChecksum, v)
		}
		if !slices.ContainsFunc(b.sums, func(s *sumState) bool { return s.alg == a }) {
			return nil, 0, fmt.Errorf("%w: x-amz-sdk-checksum-algorithm %s without %s header or trailer", ErrInvalidChecksum, a.Name, a.Header)
		}
	}

	raw := r.Body
	if raw == nil {
		raw = http.NoBody
	}
	if !mode.chunked() {
		// Content-Encoding may still list aws-chunked on a body that is
		// not framed: a client names it by hand, and the Go SDK sends a
		// caller's "gzip, aws-chunked" over TLS with UNSIGNED-PAYLOAD and
		// a plain body. It is read as sent, and aws-chunked is left out of
		// what is stored, as S3 does. A decoded length says the client
		// did frame the body: storing the framing as the object would
		// corrupt it without a word.
		if hasAWSChunked(r.Header) && r.Header.Get("X-Amz-Decoded-Content-Length") != "" {
			return nil, 0, fmt.Errorf("%w: Content-Encoding aws-chunked with x-amz-decoded-content-length needs a STREAMING-* x-amz-content-sha256", ErrInvalidContentSHA256)
		}
		b.src = raw
		b.length, b.left = -1, -1
		if r.ContentLength >= 0 {
			b.length, b.left = r.ContentLength, r.ContentLength
		}
		return b, b.length, nil
	}

	declared := int64(-1)
	if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || !isDigits(v, len(v)) {
			return nil, 0, fmt.Errorf("%w: x-amz-decoded-content-length %q", ErrMalformedChunk, v)
		}
		declared = n
	}
	b.chunked = newChunkedReader(raw, chunkedConfig{
		chain:     chain,
		trailers:  mode.trailer(),
		announced: announced,
		declared:  declared,
		// A request without a body (GET, HEAD, DELETE) may name any mode; it
		// has no chunks to frame. Only a body declared empty everywhere
		// qualifies, so that cutting a body off cannot pass for one.
		emptyOK: r.ContentLength == 0 && declared <= 0 && len(announced) == 0,
	})
	b.src = b.chunked
	b.length, b.left = declared, -1
	return b, declared, nil
}

// algIndex orders algorithms as the registry lists them.
func algIndex(a *algorithm) int {
	names := checksum.Names()
	for i, n := range names {
		if n == a.Name {
			return i
		}
	}
	return len(names)
}
