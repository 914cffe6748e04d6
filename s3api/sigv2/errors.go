package sigv2

import (
	"errors"
	"fmt"

	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// The package's own sentinels, for what only Signature Version 2 can get
// wrong. Everything the two versions share is one of sigv4's sentinels,
// wrapped: ErrUnknownAccessKey, ErrSignatureMismatch (as a *MismatchError),
// ErrMissingDate, ErrRequestTimeTooSkewed, ErrPresignExpired,
// ErrUnsupportedAuth and the payload's errors. As in sigv4, each comment
// names the S3 code and status for s3api's errors.go to map.
var (
	// ErrMalformedHeader: an Authorization header of the AWS scheme that is
	// not "AWS AccessKeyId:Signature", or more than one Authorization
	// header. S3: InvalidArgument, 400 ("AWS authorization header is
	// invalid.  Expected AwsAccessKeyId:signature").
	ErrMalformedHeader = errors.New("sigv2: malformed authorization header")

	// ErrQueryIncomplete: query-string authentication without one of
	// AWSAccessKeyId, Signature and Expires, or with one of them twice.
	// S3: AccessDenied, 403 ("Query-string authentication requires the
	// Signature, Expires and AWSAccessKeyId parameters").
	ErrQueryIncomplete = errors.New("sigv2: incomplete query-string authentication")

	// ErrInvalidExpires: an Expires parameter that is not a number of
	// seconds since the epoch. S3: AccessDenied, 403 ("Invalid date (should
	// be seconds since epoch)").
	ErrInvalidExpires = errors.New("sigv2: Expires is not seconds since the epoch")

	// ErrExpiresTooFar: an Expires more than MaxExpiresAhead after the
	// server's time. S3 has no such limit for Signature Version 2; kcs
	// applies Signature Version 4's seven days (see MaxExpiresAhead) and
	// answers as S3 does for a too long X-Amz-Expires:
	// AuthorizationQueryParametersError, 400.
	ErrExpiresTooFar = errors.New("sigv2: Expires is too far in the future")

	// ErrMixedAuth: a request authenticated in two ways at once (an
	// Authorization header and query parameters, or Signature Version 2
	// and 4 parameters, in a request or a POST form). S3: InvalidArgument,
	// 400 ("Only one auth mechanism allowed; only the X-Amz-Algorithm query
	// parameter, Signature query string parameter or the Authorization
	// header should be specified").
	ErrMixedAuth = errors.New("sigv2: more than one authentication mechanism")
)

// MismatchError is the signature mismatch of Signature Version 2. S3's
// SignatureDoesNotMatch document for such a request shows the string it
// signed, and s3api shows it too: a client's author compares it with the
// string the client signed to find the header or parameter they disagree
// on. Nothing in it is secret; it is made of the request itself.
// errors.Is(err, sigv4.ErrSignatureMismatch) holds.
type MismatchError struct {
	AccessKey         string
	StringToSign      string
	SignatureProvided string
}

// Error names the access key only: the string to sign holds the request's
// x-amz-meta-* values, which may be personal data, and errors end up in
// the server's log. The client is shown the string in the error document.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("sigv2: signature does not match for access key %q", e.AccessKey)
}

// Unwrap makes a MismatchError a sigv4.ErrSignatureMismatch.
func (e *MismatchError) Unwrap() error { return sigv4.ErrSignatureMismatch }
