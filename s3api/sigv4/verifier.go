package sigv4

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// SecretLookup returns the secret key of an access key. For an unknown key it
// returns an error wrapping ErrUnknownAccessKey; any other error (the key store
// is unreachable) is returned by Verify as it is, for s3api to answer 500 or
// 503. It is called once per request, from the request's goroutine, with the
// request's context, and must be safe for concurrent use.
type SecretLookup func(ctx context.Context, accessKey string) (secret string, err error)

// Verifier authenticates requests for one region and service. Set the fields
// before the first Verify and do not change them afterwards; Verify may then
// be called from many goroutines. A Verifier must not be copied after first
// use (it holds a cache of derived signing keys).
type Verifier struct {
	Region  string           // the server's region, e.g. "us-east-1"; the credential scope must name it
	Service string           // "" means "s3"
	Lookup  SecretLookup     // required
	Now     func() time.Time // nil: time.Now
	MaxSkew time.Duration    // 0: 15 minutes

	// StrictHeaders rejects requests that carry x-amz-* headers they did not
	// sign (ErrHeadersNotSigned), as AWS does. Off, only host, the date header
	// and x-amz-content-sha256 must be signed, and s3api should not act on an
	// x-amz-* header missing from Result.SignedHeaders: a man in the middle
	// could have added it.
	StrictHeaders bool

	keys keyCache
}

// Result is an authenticated request.
type Result struct {
	AccessKey string
	Presigned bool
	// Body replaces r.Body: the payload de-chunked (aws-chunked) and verified. Whatever the
	// mode, when the payload does not match (payload SHA-256, a chunk signature, a checksum
	// header or trailer, the declared decoded length) Body returns an error in place of io.EOF,
	// so a consumer that reads to EOF never mistakes a bad body for a good one.
	//
	// Bytes are released before the chunk or payload that contains them is verified: nothing
	// read is trustworthy until io.EOF. Errors are sticky. Errors of r.Body pass through (a
	// body cut short is ErrIncompleteBody). Body is not safe for concurrent reads.
	Body io.Reader
	// Length is the payload's decoded length if the client declared it
	// (x-amz-decoded-content-length, else Content-Length), -1 if unknown.
	Length int64
	// Checksums returns the checksums the client sent (x-amz-checksum-* header or trailer),
	// each verified, as the object layer keeps them: the algorithm as S3 spells it and the
	// value as sent. Complete only after Body returned io.EOF; before that it returns nil.
	// It may be called from any goroutine.
	Checksums func() []objapi.Checksum
	// SignedHeaders are the names of the headers the signature covers, lower case.
	SignedHeaders []string
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return "s3"
	}
	return v.Service
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return 15 * time.Minute
	}
	return v.MaxSkew
}

// Options adjust what Verify checks for one request, for operations whose
// headers mean something else than they usually do.
type Options struct {
	// ObjectChecksumHeaders says that the request's x-amz-checksum-* headers
	// describe an object, not the payload: CompleteMultipartUpload sends the
	// whole object's checksum that way, and its payload is the XML list of
	// parts. Such headers are neither verified against the payload nor
	// returned by Result.Checksums; the caller passes them on. Trailers still
	// are payload checksums.
	ObjectChecksumHeaders bool
}

// Verify authenticates r (Authorization header or presigned query) and returns the verified body.
//
// Verify reads headers and the query only; it never reads r.Body, so a
// request it rejects can be answered without reading the body (and without
// sending 100 Continue to a client that asked for it). r is not modified.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	return v.VerifyWith(r, Options{})
}

// VerifyWith is Verify with options.
func (v *Verifier) VerifyWith(r *http.Request, o Options) (*Result, error) {
	if v.Region == "" || v.Lookup == nil {
		return nil, errors.New("sigv4: Verifier needs Region and Lookup")
	}
	now := v.now()
	var auth []string
	for _, a := range r.Header.Values("Authorization") {
		if strings.TrimSpace(a) != "" { // an empty header carries no credentials
			auth = append(auth, a)
		}
	}
	kind := queryAuthKind(r.URL.RawQuery)
	var c *authInfo
	var err error
	switch {
	case len(auth) > 0 && kind != "":
		return nil, fmt.Errorf("%w: both an Authorization header and query-string authentication", ErrUnsupportedAuth)
	case len(auth) > 1:
		return nil, fmt.Errorf("%w: %d Authorization headers", ErrAuthHeaderMalformed, len(auth))
	case len(auth) == 1:
		c, err = v.fromHeader(r, auth[0], now)
	case kind == "v4":
		c, err = v.fromQuery(r, now)
	case kind == "v2":
		return nil, fmt.Errorf("%w: Signature Version 2 query authentication; use %s", ErrUnsupportedAuth, algorithmHMAC)
	default:
		return nil, ErrMissingAuth
	}
	if err != nil {
		return nil, err
	}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		return nil, fmt.Errorf("%w: X-Amz-Security-Token (temporary credentials are not supported)", ErrUnsupportedAuth)
	}

	// The payload mode: the signed line itself for header authentication; a
	// presigned request signs UNSIGNED-PAYLOAD but may still send a hash or
	// an unsigned aws-chunked body.
	mode := payloadUnsigned
	var sum [32]byte
	if p := r.Header.Get("X-Amz-Content-Sha256"); p != "" {
		if mode, sum, err = parsePayloadMode(p); err != nil {
			return nil, err
		}
		if c.presigned && mode.signedChunks() {
			return nil, fmt.Errorf("%w: %s with a presigned URL", ErrUnsupportedAuth, p)
		}
	}
	if v.StrictHeaders {
		if u := unsignedAmzHeaders(r, c.signed); len(u) > 0 {
			return nil, fmt.Errorf("%w: %s", ErrHeadersNotSigned, strings.Join(u, ", "))
		}
	}

	secret, err := v.Lookup(r.Context(), c.scope.accessKey)
	if err != nil {
		return nil, fmt.Errorf("sigv4: access key %q: %w", c.scope.accessKey, err)
	}
	key := v.keys.signingKey(secret, c.scope)
	canonical, err := canonicalRequest(r, c.signed, c.payload, c.presigned)
	if err != nil {
		if c.presigned {
			return nil, fmt.Errorf("%w: %v", ErrPresignMalformed, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrAuthHeaderMalformed, err)
	}
	want := sign(key, stringToSign(c.amzDate, c.scope, canonical))
	if !hmac.Equal(want[:], c.signature[:]) {
		return nil, fmt.Errorf("%w: for access key %q", ErrSignatureMismatch, c.scope.accessKey)
	}

	var chain *chainSigner
	if mode.signedChunks() {
		chain = newChainSigner(key, c.amzDate, c.scope, c.signature)
	}
	b, length, err := newBody(r, mode, sum, chain, o)
	if err != nil {
		return nil, err
	}
	return &Result{
		AccessKey:     c.scope.accessKey,
		Presigned:     c.presigned,
		Body:          b,
		Length:        length,
		Checksums:     b.checksums,
		SignedHeaders: c.signed,
	}, nil
}
