package sigv4

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// TestChecksumHeaders: x-amz-checksum-* headers of every algorithm are
// verified against the payload, in every payload mode that has no trailer.
func TestChecksumHeaders(t *testing.T) {
	payload := []byte(strings.Repeat("checksum me ", 1000))
	for _, alg := range ChecksumAlgorithms() {
		for _, mode := range []string{"hash", unsignedPayload} {
			hdr, _ := ChecksumHeader(alg)
			h := http.Header{http.CanonicalHeaderKey(hdr): {checksumOf(alg, payload)}, "X-Amz-Sdk-Checksum-Algorithm": {alg}}
			sha := mode
			if mode == "hash" {
				sha = sha256Hex(payload)
			}
			r := signedRequest(t, "PUT", "http://s3.local/bucket/key", h, payload, sha, exampleRegion, exampleSecret, testNow)
			res, err := testVerifier().Verify(r)
			if err != nil {
				t.Fatalf("%s %s: %v", alg, mode, err)
			}
			if res.Checksums() != nil {
				t.Errorf("%s: checksums before EOF", alg)
			}
			if _, err := readAll(res.Body); err != nil {
				t.Fatalf("%s %s: %v", alg, mode, err)
			}
			if cs := res.Checksums(); len(cs) != 1 || cs[0] != (objapi.Checksum{Algorithm: alg, Value: checksumOf(alg, payload)}) {
				t.Errorf("%s: checksums %v", alg, cs)
			}
		}
	}

	// Signed streaming with the checksum as a header (minio-go without
	// trailers, for instance).
	r, enc := streamingRequest(t, streamingSigned, len(payload), "", http.Header{"X-Amz-Checksum-Crc32c": {checksumOf("CRC32C", payload)}})
	if _, _, err := verifyBody(setBody(r, enc.encode(payload, 4096, nil))); err != nil {
		t.Fatal(err)
	}
	r, enc = streamingRequest(t, streamingSigned, len(payload), "", http.Header{"X-Amz-Checksum-Crc32c": {checksumOf("CRC32C", payload[1:])}})
	if _, _, err := verifyBody(setBody(r, enc.encode(payload, 4096, nil))); !isErr(err, ErrBadDigest) {
		t.Fatalf("streaming, wrong header checksum: %v", err)
	}
}

func TestChecksumHeaderRejects(t *testing.T) {
	payload := []byte("some payload")
	crc := checksumOf("CRC32", payload)
	for _, tc := range []struct {
		name string
		hdr  http.Header
		want error
	}{
		{"mismatch", http.Header{"X-Amz-Checksum-Crc32": {checksumOf("CRC32", []byte("other"))}}, ErrBadDigest},
		{"one of two mismatches", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Sha1": {checksumOf("SHA1", []byte("x"))}}, ErrBadDigest},
		{"malformed", http.Header{"X-Amz-Checksum-Crc32": {"not base64!"}}, ErrInvalidChecksum},
		{"wrong size", http.Header{"X-Amz-Checksum-Sha256": {crc}}, ErrInvalidChecksum},
		{"sent twice", http.Header{"X-Amz-Checksum-Crc32": {crc, crc}}, ErrInvalidChecksum},
		{"unknown algorithm", http.Header{"X-Amz-Checksum-Crc16": {"AAA="}}, ErrUnsupportedChecksum},
		{"sdk algorithm unknown", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"CRC16"}}, ErrUnsupportedChecksum},
		{"sdk algorithm without value", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"CRC32C"}, "X-Amz-Checksum-Crc32": {crc}}, ErrInvalidChecksum},
		{"two good ones", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Md5": {checksumOf("MD5", payload)}}, nil},
		{"not checksums", http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}, "X-Amz-Checksum-Type": {"FULL_OBJECT"}, "X-Amz-Checksum-Algorithm": {"CRC32"}}, nil},
		{"sdk algorithm lower case", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"crc32"}, "X-Amz-Checksum-Crc32": {crc}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signedRequest(t, "PUT", "http://s3.local/bucket/key", tc.hdr, payload, unsignedPayload, exampleRegion, exampleSecret, testNow)
			_, _, err := verifyBody(r)
			wantErr(t, err, tc.want)
		})
	}
}

// TestRawBodyLength: a raw body is read up to Content-Length and must have
// that many bytes.
func TestRawBodyLength(t *testing.T) {
	payload := []byte("0123456789")
	r := signedRequest(t, "PUT", "http://s3.local/bucket/key", nil, payload, unsignedPayload, exampleRegion, exampleSecret, testNow)
	r.Body = io.NopCloser(strings.NewReader("0123456789 and more"))
	got, res, err := verifyBody(r)
	if err != nil || string(got) != "0123456789" || res.Length != 10 {
		t.Fatalf("%q, %v", got, err)
	}
	r = signedRequest(t, "PUT", "http://s3.local/bucket/key", nil, payload, unsignedPayload, exampleRegion, exampleSecret, testNow)
	r.Body = io.NopCloser(strings.NewReader("01234"))
	if _, _, err := verifyBody(r); !isErr(err, ErrIncompleteBody) {
		t.Fatalf("short body: %v", err)
	}
}

func TestStripAWSChunked(t *testing.T) {
	for in, want := range map[string]string{
		"aws-chunked":            "",
		"aws-chunked,gzip":       "gzip",
		"gzip, aws-chunked":      "gzip",
		"gzip,AWS-Chunked,br":    "gzip,br",
		"":                       "",
		"identity":               "identity",
		" aws-chunked , deflate": "deflate",
		// The rest is kept as the client wrote it.
		"deflate, gzip":              "deflate, gzip",
		"deflate, gzip,aws-chunked":  "deflate, gzip",
		"aws-chunked, deflate, gzip": "deflate, gzip",
		"deflate, aws-chunked, br":   "deflate, br",
		"gzip ,  br":                 "gzip ,  br",
	} {
		if got := StripAWSChunked(in); got != want {
			t.Errorf("StripAWSChunked(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestContentEncodingCombined: aws-chunked combined with another encoding.
func TestContentEncodingCombined(t *testing.T) {
	payload := []byte("gzip bytes, notionally")
	r, enc := streamingRequest(t, streamingSigned, len(payload), "", http.Header{"Content-Encoding": {"aws-chunked,gzip"}})
	got, _, err := verifyBody(setBody(r, enc.encode(payload, 8, nil)))
	if err != nil || string(got) != string(payload) {
		t.Fatalf("%q, %v", got, err)
	}
}
