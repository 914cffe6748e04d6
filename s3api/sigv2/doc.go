// Package sigv2 authenticates S3 requests signed with AWS Signature Version 2,
// which boto3 still uses by default for presigned URLs and POST forms in
// us-east-1, and which s3cmd (signature_v2 = True) and older tools send.
//
// Three forms are accepted, as the S3 documentation defines them ("Signing
// and authenticating REST requests", its "Query string request
// authentication alternative", and "Browser-based uploads using POST (AWS
// signature version 2)"):
//
//	Authorization: AWS AccessKeyId:Signature       [Verifier.Verify], every operation
//	?AWSAccessKeyId=…&Expires=…&Signature=…        [Verifier.Verify], a presigned URL
//	form fields AWSAccessKeyId, policy, signature  [Verifier.VerifyPost]
//
// Signature is base64 HMAC-SHA1(secret, StringToSign), where
//
//	StringToSign = HTTP-Verb \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders CanonicalizedResource
//
// and, for a POST form, StringToSign is the base64 policy itself.
//
// Verify hands back the same *sigv4.Result as sigv4's Verify, its Body built
// by sigv4.VerifyPayload, so that the server treats a request alike whichever
// version signed it. Errors are sigv4's sentinels where the versions share a
// failure and this package's own where they do not; s3api's errors.go maps
// both.
//
// # Decisions
//
// Header authentication is accepted for every operation, as S3 (in the
// regions that still take Signature Version 2) and MinIO accept it: the tools
// that send it (s3cmd, old SDKs, backup scripts) use it for everything.
//
// Version 2 signs less than Version 4, and that is the protocol, not this
// package: the payload is not signed (Content-MD5, when sent, protects it,
// and s3api checks it; x-amz-checksum-* values are verified as for Version 4),
// and neither are headers other than Content-MD5, Content-Type, Date and
// x-amz-*, nor query parameters other than the subresources. Someone who can
// change a request in flight can change a listing's prefix or a Range, so
// such clients belong behind TLS. The date (or Expires) is signed, so a
// captured request can be replayed only within its window.
//
// A presigned URL may not expire more than [MaxExpiresAhead] (seven days)
// after the server's time. S3 sets no limit for Version 2, but a presigned URL
// is a bearer credential that cannot be revoked short of deleting its key,
// and kcs already refuses Version 4 URLs that live longer; Version 2 must
// not be the way around that.
//
// The subresources signed in CanonicalizedResource are the union of those
// the documentation, botocore, minio-go and s3cmd sign (they differ: the
// documentation's list predates tagging, cors, delete and others). Signing
// more is the strict choice: a client that leaves one of them out fails
// (SignatureDoesNotMatch) rather than having a parameter it did not sign
// accepted. The operations kcs serves (cors, delete, location, tagging,
// uploads, uploadId, partNumber, versionId, response-*) are signed alike by
// all of them.
//
// A path-style request that names only a bucket ("/akten") is signed as
// "/akten/" by botocore, which says S3 wants it so, and as "/akten" by the
// documentation's rule; both are accepted, as they name the same bucket.
//
// When x-amz-date is sent, the page's text says to leave the Date line
// empty (x-amz-date is then one of the CanonicalizedAmzHeaders), which boto,
// s3cmd and the AWS SDK for Java do; the page's own example instead puts
// x-amz-date's value on the Date line and leaves the header out. Both are
// accepted: they cannot be confused with each other, and either signs the
// same time.
//
// botocore moves a presigned request's Content-Type, Content-MD5 and
// x-amz-* headers into the URL's query and signs them as headers, so that
// whoever uses the URL need not send them. [QueryHeaders] returns them; Verify
// signs them as headers when the request does not send the header itself,
// and s3api acts on them as headers.
package sigv2
