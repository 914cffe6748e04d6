// Package sigv4 authenticates S3 requests signed with AWS Signature Version 4
// and hands back their payload verified, in every payload mode real clients send.
//
// [Verifier.Verify] checks the credentials of a request (the Authorization
// header or a presigned URL's query) before any byte of the body is read, and
// returns a [Result] whose Body replaces r.Body. The body is checked while it
// streams: a signed payload's SHA-256, aws-chunked framing and each chunk's
// chained signature, trailing headers and their signature, x-amz-checksum-*
// values sent as headers or trailers, and the declared decoded length. Body
// releases bytes before the end of the chunk (or payload) that proves them, so
// nothing is buffered beyond one chunk-header line and a 4 KiB read buffer; the
// price is that a consumer must treat the payload as unverified until Body
// returns io.EOF. Any mismatch makes Body return an error wrapping one of this
// package's sentinels in place of io.EOF, so a consumer that reads to EOF (as
// the object layer does before committing) never stores a bad body.
//
// Payload modes, chosen by x-amz-content-sha256:
//
//	<64 hex digits>                              SHA-256 of the payload, checked at EOF
//	UNSIGNED-PAYLOAD                             the body as is (presigned URLs always)
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD           aws-chunked, each chunk signed
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER   the same, then signed trailing headers
//	STREAMING-UNSIGNED-PAYLOAD-TRAILER           aws-chunked without signatures, then trailers
//
// Besides the signed headers, Verify reads Authorization, X-Amz-Date (or
// Date), X-Amz-Content-Sha256, X-Amz-Security-Token (refused), Content-Encoding,
// X-Amz-Decoded-Content-Length, X-Amz-Trailer, X-Amz-Sdk-Checksum-Algorithm,
// X-Amz-Checksum-* (except -Mode, -Type and -Algorithm), r.Host,
// r.ContentLength, r.URL.Path and r.URL.RawQuery. It never reads the body, so
// a rejected request is answered before a client waiting on
// "Expect: 100-continue" sends it. Content-MD5 is left to the caller, which
// computes MD5 for the ETag anyway.
//
// [Verifier.VerifyWith] takes [Options] for requests whose headers mean
// something else: CompleteMultipartUpload's x-amz-checksum-* headers
// describe the whole object, not the XML payload. [Verifier.VerifyPost]
// checks the other way S3 is signed: a browser's POST form, whose policy
// document (not the request) carries the SigV4 signature. [VerifyPayload]
// gives a request that another scheme authenticated (Signature Version 2,
// package s3api/sigv2, which signs no payload) the same verified Body.
//
// The errors are sentinels; s3api's errors.go maps each to an S3 code and HTTP
// status (each sentinel's comment names the one AWS uses). The package knows
// nothing of buckets, objects or storage: it reads headers, the query and the
// body, and asks a [SecretLookup] for the secret of an access key. The
// checksums it verified come back as objapi.Checksum values, the type the
// object layer keeps, so they reach it without a conversion.
package sigv4
