package sigv4

import (
	"fmt"
	"net/http"
)

// VerifyPayload returns the Result of a request whose credentials another
// scheme has checked: AWS Signature Version 2 (package s3api/sigv2), which
// signs no payload. Its Body checks the payload exactly as Verify's does
// (a hex x-amz-content-sha256, x-amz-checksum-* headers, the trailers of an
// unsigned aws-chunked body, the declared length), so that a server treats
// both kinds of request alike. AccessKey, Presigned and SignedHeaders are
// left for the caller to fill in.
//
// A STREAMING-AWS4-HMAC-SHA256-* payload is refused (ErrUnsupportedAuth):
// its chunk signatures chain from a Signature Version 4 seed that such a
// request does not have. Like Verify, VerifyPayload reads headers only,
// never the body, and does not modify r.
func VerifyPayload(r *http.Request, o Options) (*Result, error) {
	mode := payloadUnsigned
	var sum [32]byte
	if p := r.Header.Get("X-Amz-Content-Sha256"); p != "" {
		var err error
		if mode, sum, err = parsePayloadMode(p); err != nil {
			return nil, err
		}
		if mode.signedChunks() {
			return nil, fmt.Errorf("%w: %s needs Signature Version 4", ErrUnsupportedAuth, p)
		}
	}
	b, length, err := newBody(r, mode, sum, nil, o)
	if err != nil {
		return nil, err
	}
	return &Result{Body: b, Length: length, Checksums: b.checksums}, nil
}
