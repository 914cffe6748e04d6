package sigv4

import "errors"

// The sentinel errors of the package. Verify and Result.Body return them
// wrapped with detail (fmt.Errorf("%w: …")); test with errors.Is. Each comment
// names the S3 error code and HTTP status AWS answers with, for s3api's
// errors.go to map; the codes are those of the S3 API reference's error list.
var (
	// ErrMissingAuth: the request carries no credentials at all, neither an
	// Authorization header nor query-string authentication. S3: AccessDenied, 403
	// (an anonymous request to a resource that is not public).
	ErrMissingAuth = errors.New("sigv4: request carries no credentials")

	// ErrAuthHeaderMalformed: the Authorization header cannot be parsed, or its
	// credential scope is wrong (another region, service or date than the
	// request's). S3: AuthorizationHeaderMalformed, 400.
	ErrAuthHeaderMalformed = errors.New("sigv4: authorization header malformed")

	// ErrUnsupportedAuth: a scheme other than AWS4-HMAC-SHA256 (Signature
	// Version 2, which package s3api/sigv2 verifies instead, SigV4A's
	// AWS4-ECDSA-P256-SHA256 and its STREAMING-AWS4-ECDSA-* payloads,
	// anything else), both header and query authentication in one request,
	// or a session token (kcs issues no temporary credentials).
	// S3: InvalidRequest, 400 ("Please use AWS4-HMAC-SHA256"); NotImplemented
	// (501) also fits SigV4A.
	ErrUnsupportedAuth = errors.New("sigv4: unsupported authentication")

	// ErrUnknownAccessKey: SecretLookup does not know the access key; a
	// SecretLookup wraps it in its own error. S3: InvalidAccessKeyId, 403.
	ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

	// ErrSignatureMismatch: the signature does not match the one computed from
	// the request and the secret; also a bad chunk signature or trailer
	// signature in a streaming payload. S3: SignatureDoesNotMatch, 403.
	ErrSignatureMismatch = errors.New("sigv4: signature does not match")

	// ErrRequestTimeTooSkewed: the request time differs from the server's clock
	// by more than Verifier.MaxSkew. S3: RequestTimeTooSkewed, 403.
	ErrRequestTimeTooSkewed = errors.New("sigv4: request time too skewed")

	// ErrMissingDate: neither a valid X-Amz-Date nor a valid Date header.
	// S3: AccessDenied, 403 ("AWS authentication requires a valid Date or
	// x-amz-date header").
	ErrMissingDate = errors.New("sigv4: missing or invalid request date")

	// ErrMissingContentSHA256: a header-signed request without
	// x-amz-content-sha256. S3: InvalidRequest, 400 ("Missing required header
	// for this request: x-amz-content-sha256").
	ErrMissingContentSHA256 = errors.New("sigv4: missing x-amz-content-sha256")

	// ErrInvalidContentSHA256: x-amz-content-sha256 is neither a hex SHA-256 nor
	// a known payload mode, or it contradicts another header (aws-chunked
	// without a STREAMING-* mode, x-amz-trailer without a -TRAILER mode).
	// S3: InvalidArgument, 400.
	ErrInvalidContentSHA256 = errors.New("sigv4: invalid x-amz-content-sha256")

	// ErrContentSHA256Mismatch: the payload's SHA-256 differs from the signed
	// x-amz-content-sha256. S3: XAmzContentSHA256Mismatch, 400.
	ErrContentSHA256Mismatch = errors.New("sigv4: payload does not match x-amz-content-sha256")

	// ErrBadDigest: the payload does not match an x-amz-checksum-* value sent
	// as a header or trailer. S3: BadDigest, 400.
	ErrBadDigest = errors.New("sigv4: payload does not match checksum")

	// ErrInvalidChecksum: a checksum value that is not well-formed base64 of
	// the algorithm's digest size, a checksum sent twice, or an
	// x-amz-sdk-checksum-algorithm without the checksum it announces.
	// S3: InvalidRequest, 400 ("Value for x-amz-checksum-crc32 header is invalid").
	ErrInvalidChecksum = errors.New("sigv4: invalid checksum")

	// ErrUnsupportedChecksum: a checksum algorithm this package does not
	// implement, in an x-amz-checksum-* header, x-amz-trailer or
	// x-amz-sdk-checksum-algorithm. S3: InvalidRequest, 400.
	ErrUnsupportedChecksum = errors.New("sigv4: unsupported checksum algorithm")

	// ErrIncompleteBody: the body, a chunk or the aws-chunked stream ended
	// before the length it declared. S3: IncompleteBody, 400.
	ErrIncompleteBody = errors.New("sigv4: incomplete body")

	// ErrMalformedChunk: aws-chunked framing that cannot be parsed (a bad size
	// or signature line, a line longer than 4 KiB, chunk data not followed by
	// CRLF, more data than x-amz-decoded-content-length, an invalid
	// x-amz-decoded-content-length). S3 has no dedicated code for it:
	// InvalidRequest, 400.
	ErrMalformedChunk = errors.New("sigv4: malformed aws-chunked body")

	// ErrMalformedTrailer: the trailing headers after the last chunk are not
	// what x-amz-trailer announced (one missing, unannounced or repeated, a
	// line without ':', a signature in an unsigned stream, more than 16 KiB).
	// S3: MalformedTrailerError, 400.
	ErrMalformedTrailer = errors.New("sigv4: malformed trailing headers")

	// ErrPresignExpired: a presigned URL used after X-Amz-Date + X-Amz-Expires.
	// S3: AccessDenied, 403 ("Request has expired").
	ErrPresignExpired = errors.New("sigv4: presigned URL has expired")

	// ErrPresignNotYetValid: a presigned URL whose X-Amz-Date lies further in
	// the future than Verifier.MaxSkew. S3: AccessDenied, 403 ("Request is not
	// valid yet").
	ErrPresignNotYetValid = errors.New("sigv4: presigned URL is not valid yet")

	// ErrPresignMalformed: query-string authentication with a missing,
	// repeated or malformed X-Amz-* parameter, a wrong credential scope, or
	// X-Amz-Expires outside 1…604800 seconds.
	// S3: AuthorizationQueryParametersError, 400.
	ErrPresignMalformed = errors.New("sigv4: malformed presigned URL")

	// ErrHeadersNotSigned: with Verifier.StrictHeaders, an x-amz-* header was
	// sent but not signed. S3: AccessDenied, 403 ("There were headers present
	// in the request which were not signed").
	ErrHeadersNotSigned = errors.New("sigv4: headers present in the request were not signed")
)
