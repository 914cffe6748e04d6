package sigv2

import (
	"context"
	"errors"
	"fmt"

	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// PostForm is what authenticates a browser's POST form with Signature
// Version 2: the base64 policy document and its signature, base64
// HMAC-SHA1(secret, Policy), by the access key AccessKeyID.
type PostForm struct {
	AccessKeyID string // the AWSAccessKeyId field
	Policy      string // the policy field, exactly as sent
	Signature   string // the signature field
}

// VerifyPost checks the signature of a POST form's policy and returns the
// access key that signed it. The policy's expiration and conditions are
// the caller's to enforce; as for Version 4 there is no clock check, the
// policy's expiration is the form's lifetime.
//
// Errors: sigv4.ErrUnknownAccessKey (wrapped by Lookup) for an unknown or
// empty key, a *MismatchError for a wrong signature, Lookup's other errors.
func (v *Verifier) VerifyPost(ctx context.Context, f PostForm) (accessKey string, err error) {
	if v.Lookup == nil {
		return "", errors.New("sigv2: Verifier needs Lookup")
	}
	if f.AccessKeyID == "" {
		return "", fmt.Errorf("%w: empty AWSAccessKeyId", sigv4.ErrUnknownAccessKey)
	}
	secret, err := v.Lookup(ctx, f.AccessKeyID)
	if err != nil {
		return "", fmt.Errorf("sigv2: access key %q: %w", f.AccessKeyID, err)
	}
	if !signatureMatches(secret, f.Policy, f.Signature) {
		return "", &MismatchError{AccessKey: f.AccessKeyID, StringToSign: f.Policy, SignatureProvided: f.Signature}
	}
	return f.AccessKeyID, nil
}
