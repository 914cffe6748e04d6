package sigv4

import (
	"context"
	"crypto/hmac"
	"fmt"
)

// PostForm is what authenticates a browser-based upload (S3's POST Object
// with an HTML form): the form fields that sign its policy document. The
// browser sends no Authorization header; whoever made the form signed the
// base64 policy with the signing key of the credential's scope, and the
// policy's conditions bind the rest of the form (s3api checks them).
type PostForm struct {
	Algorithm  string // x-amz-algorithm: AWS4-HMAC-SHA256
	Credential string // x-amz-credential: AK/20151229/us-east-1/s3/aws4_request
	Date       string // x-amz-date: 20151229T000000Z, on the credential's day
	Signature  string // x-amz-signature: hex HMAC-SHA256(signing key, Policy)
	Policy     string // policy: the base64 policy document exactly as sent
}

// VerifyPost checks the signature of a POST form's policy and returns the
// access key that signed it. It does not read the policy: its expiration
// and conditions are the caller's to enforce. There is no clock check
// either, as S3 has none: a form is valid until its policy expires, which
// may be days after the signing date.
//
// Errors wrap the package's sentinels: ErrUnsupportedAuth for another
// algorithm, ErrAuthHeaderMalformed for a malformed credential, scope or
// date (S3 answers a POST with a wrong region that way too),
// ErrUnknownAccessKey from the lookup, ErrSignatureMismatch.
func (v *Verifier) VerifyPost(ctx context.Context, f PostForm) (accessKey string, err error) {
	if v.Region == "" || v.Lookup == nil {
		return "", fmt.Errorf("sigv4: Verifier needs Region and Lookup")
	}
	switch f.Algorithm {
	case algorithmHMAC:
	case algorithmECDSA:
		return "", fmt.Errorf("%w: SigV4A (%s) POST policy; use %s", ErrUnsupportedAuth, algorithmECDSA, algorithmHMAC)
	default:
		return "", fmt.Errorf("%w: x-amz-algorithm %q; use %s", ErrUnsupportedAuth, f.Algorithm, algorithmHMAC)
	}
	s, err := parseCredential(f.Credential, v.Region, v.service())
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrAuthHeaderMalformed, err)
	}
	if _, ok := parseAmzDate(f.Date); !ok {
		return "", fmt.Errorf("%w: x-amz-date %q is not YYYYMMDDTHHMMSSZ", ErrAuthHeaderMalformed, f.Date)
	}
	if f.Date[:scopeDateLen] != s.date {
		return "", fmt.Errorf("%w: credential date %s is not the x-amz-date %s", ErrAuthHeaderMalformed, s.date, f.Date[:scopeDateLen])
	}
	sent, ok := parseSignature(f.Signature)
	if !ok {
		return "", fmt.Errorf("%w: x-amz-signature is not %d hex digits", ErrAuthHeaderMalformed, signatureLen)
	}
	secret, err := v.Lookup(ctx, s.accessKey)
	if err != nil {
		return "", fmt.Errorf("sigv4: access key %q: %w", s.accessKey, err)
	}
	// The string to sign of a POST is the base64 policy itself.
	want := sign(v.keys.signingKey(secret, s), f.Policy)
	if !hmac.Equal(want[:], sent[:]) {
		return "", fmt.Errorf("%w: POST policy signed by access key %q", ErrSignatureMismatch, s.accessKey)
	}
	return s.accessKey, nil
}
