package s3api

import (
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv2"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// This file is the one place where errors become S3 error codes and HTTP
// statuses. Three sources feed it: the object layer's
// objapi.Kind, the sentinel errors of the authentication packages (sigv4 and
// sigv2), and the errors s3api raises itself while parsing a request
// (*s3Error). Codes, statuses and default messages follow the S3 API
// reference's "Error responses" list.

// s3Code is how one S3 error code answers.
type s3Code struct {
	Status  int
	Message string // the default message, shown when nothing more specific is safe to show
}

// codes lists every S3 error code s3api answers with. A map literal, so
// the compiler refuses a code defined twice.
var codes = map[string]s3Code{
	"AccessDenied": {http.StatusForbidden, "Access Denied"},
	// AccessForbidden answers CORS requests no rule allows; the message is
	// S3's, typo included, as browsers' consoles and forums quote it.
	"AccessForbidden":                    {http.StatusForbidden, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."},
	"AuthorizationHeaderMalformed":       {http.StatusBadRequest, "The authorization header that you provided is not valid."},
	"AuthorizationQueryParametersError":  {http.StatusBadRequest, "The authorization query parameters that you provided are not valid."},
	"BadRequest":                         {http.StatusBadRequest, "Bad Request"},
	"BadDigest":                          {http.StatusBadRequest, "The Content-MD5 or checksum value that you specified did not match what the server received."},
	"BucketAlreadyExists":                {http.StatusConflict, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Select a different name and try again."},
	"BucketAlreadyOwnedByYou":            {http.StatusConflict, "The bucket that you tried to create already exists, and you own it."},
	"BucketNotEmpty":                     {http.StatusConflict, "The bucket that you tried to delete is not empty."},
	"EntityTooLarge":                     {http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."},
	"EntityTooSmall":                     {http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size."},
	"IllegalLocationConstraintException": {http.StatusBadRequest, "The location constraint is incompatible with the region of the endpoint this request was sent to."},
	"IncompleteBody":                     {http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	"InternalError":                      {http.StatusInternalServerError, "We encountered an internal error. Please try again."},
	"InvalidAccessKeyId":                 {http.StatusForbidden, "The AWS access key ID that you provided does not exist in our records."},
	"InvalidArgument":                    {http.StatusBadRequest, "Invalid Argument"},
	"InvalidBucketName":                  {http.StatusBadRequest, "The specified bucket is not valid."},
	"InvalidDigest":                      {http.StatusBadRequest, "The Content-MD5 you specified is not valid."},
	"InvalidLocationConstraint":          {http.StatusBadRequest, "The specified location constraint is not valid."},
	"InvalidPart":                        {http.StatusBadRequest, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."},
	"InvalidPartNumber":                  {http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable"},
	"InvalidPolicyDocument":              {http.StatusBadRequest, "The content of the form does not meet the conditions specified in the policy document."},
	"InvalidPartOrder":                   {http.StatusBadRequest, "The list of parts was not in ascending order. The parts list must be specified in order by part number."},
	"InvalidRange":                       {http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"},
	"InvalidRequest":                     {http.StatusBadRequest, "Invalid Request"},
	"InvalidStorageClass":                {http.StatusBadRequest, "The storage class you specified is not valid."},
	"InvalidURI":                         {http.StatusBadRequest, "Couldn't parse the specified URI."},
	"KeyTooLongError":                    {http.StatusBadRequest, "Your key is too long."},
	"MalformedXML":                       {http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."},
	"MalformedTrailerError":              {http.StatusBadRequest, "The request contained trailing data that was not well-formed or did not conform to our published schema."},
	"MalformedPOSTRequest":               {http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data."},
	"MaxPostPreDataLengthExceededError":  {http.StatusBadRequest, "Your POST request fields preceding the upload file were too large."},
	"MaxMessageLengthExceeded":           {http.StatusBadRequest, "Your request was too big."},
	"MetadataTooLarge":                   {http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size."},
	"MethodNotAllowed":                   {http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."},
	"NoSuchBucket":                       {http.StatusNotFound, "The specified bucket does not exist."},
	"NoSuchKey":                          {http.StatusNotFound, "The specified key does not exist."},
	"NoSuchUpload":                       {http.StatusNotFound, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."},
	"NotImplemented":                     {http.StatusNotImplemented, "A header or query parameter you provided implies functionality that is not implemented."},
	"NotModified":                        {http.StatusNotModified, "Not Modified"},
	"OperationAborted":                   {http.StatusConflict, "A conflicting conditional operation is currently in progress against this resource. Try again."},
	"NoSuchCORSConfiguration":            {http.StatusNotFound, "The CORS configuration does not exist."},
	"InvalidTag":                         {http.StatusBadRequest, "The tag provided was not a valid tag."},
	"PreconditionFailed":                 {http.StatusPreconditionFailed, "At least one of the preconditions that you specified did not hold."},
	"QuotaExceeded":                      {http.StatusForbidden, "The quota of the bucket or its owner would be exceeded."},
	"RequestTimeTooSkewed":               {http.StatusForbidden, "The difference between the request time and the server's time is too large."},
	"RequestTimeout":                     {http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period."},
	"ServiceUnavailable":                 {http.StatusServiceUnavailable, "Service is unable to handle request. Please try again."},
	"SlowDown":                           {http.StatusServiceUnavailable, "Please reduce your request rate."},
	"TooManyBuckets":                     {http.StatusBadRequest, "You have attempted to create more buckets than allowed."},
	"SignatureDoesNotMatch":              {http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	"XAmzContentSHA256Mismatch":          {http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	// Versioning, object lock and lifecycle.
	"NoSuchVersion":                        {http.StatusNotFound, "The specified version does not exist."},
	"ObjectLockConfigurationNotFoundError": {http.StatusNotFound, "Object Lock configuration does not exist for this bucket"},
	"NoSuchObjectLockConfiguration":        {http.StatusNotFound, "The specified object does not have a ObjectLock configuration"},
	"NoSuchLifecycleConfiguration":         {http.StatusNotFound, "The lifecycle configuration does not exist."},
	"NoSuchTagSet":                         {http.StatusNotFound, "The TagSet does not exist."},
	"InvalidBucketState":                   {http.StatusConflict, "The request is not valid with the current state of the bucket."},
}

// kindCodes maps the object layer's kinds. A kind missing here is a bug
// in this table and answers InternalError; TestKindsAreMapped checks that
// every kind objapi defines is listed.
var kindCodes = map[objapi.Kind]string{
	objapi.KindInternal:         "InternalError",
	objapi.KindNoSuchBucket:     "NoSuchBucket",
	objapi.KindNoSuchKey:        "NoSuchKey",
	objapi.KindNoSuchUpload:     "NoSuchUpload",
	objapi.KindBucketExists:     "BucketAlreadyExists",
	objapi.KindBucketOwnedByYou: "BucketAlreadyOwnedByYou",
	objapi.KindBucketNotEmpty:   "BucketNotEmpty",
	objapi.KindAccessDenied:     "AccessDenied",
	objapi.KindInvalidBucket:    "InvalidBucketName",
	objapi.KindKeyTooLong:       "KeyTooLongError",
	objapi.KindInvalidRange:     "InvalidRange",
	objapi.KindEntityTooSmall:   "EntityTooSmall",
	objapi.KindEntityTooLarge:   "EntityTooLarge",
	objapi.KindInvalidPart:      "InvalidPart",
	objapi.KindInvalidPartOrder: "InvalidPartOrder",
	objapi.KindBadDigest:        "BadDigest",
	objapi.KindInvalidArgument:  "InvalidArgument",
	objapi.KindUnavailable:      "ServiceUnavailable",
	// Corrupt data is our fault and its details are for operators only.
	objapi.KindCorrupt:        "InternalError",
	objapi.KindIncompleteBody: "IncompleteBody",
	// S3 has no code for a key that is not UTF-8; InvalidArgument with
	// the object layer's message says what is wrong.
	objapi.KindInvalidKey: "InvalidArgument",
	// A credential whose tenant is gone must not work.
	objapi.KindNoSuchTenant:    "AccessDenied",
	objapi.KindTenantExists:    "InternalError", // admin only; never expected here
	objapi.KindNoSuchAccessKey: "InvalidAccessKeyId",
	objapi.KindMalformedXML:    "MalformedXML",
	objapi.KindNotImplemented:  "NotImplemented",
	objapi.KindPrecondition:    "PreconditionFailed",
	objapi.KindNotModified:     "NotModified",
	objapi.KindTooManyParts:    "InvalidArgument",
	objapi.KindInvalidUploadID: "NoSuchUpload",
	objapi.KindConflict:        "OperationAborted",
	objapi.KindNoSuchCORS:      "NoSuchCORSConfiguration",
	objapi.KindInvalidTag:      "InvalidTag",
	objapi.KindInvalidRequest:  "InvalidRequest",
	// The node rewraps and retries itself; should a rotation race it
	// every time, the client retries a 503.
	objapi.KindStaleKey: "ServiceUnavailable",
	// As Ceph RGW answers: 403 is a refusal no retry changes (SDKs retry
	// 5xx and SlowDown); S3's own code for a bucket count is TooManyBuckets.
	objapi.KindQuotaExceeded: "QuotaExceeded", objapi.KindTooManyBuckets: "TooManyBuckets",
	// A version id that names nothing, and a read by version id of a
	// delete marker (S3 answers 405 for a GET or HEAD of one).
	objapi.KindNoSuchVersion:          "NoSuchVersion",
	objapi.KindMethodNotAllowed:       "MethodNotAllowed",
	objapi.KindNoSuchBucketLockConfig: "ObjectLockConfigurationNotFoundError",
	objapi.KindNoSuchObjectLockConfig: "NoSuchObjectLockConfiguration",
	objapi.KindNoSuchLifecycle:        "NoSuchLifecycleConfiguration",
	objapi.KindInvalidBucketState:     "InvalidBucketState",
	objapi.KindNoSuchTagSet:           "NoSuchTagSet",
}

// clientKinds are the kinds whose objapi.Error.Msg is shown to the client.
// For server-side kinds the default message is shown and the details go to
// the log only.
func clientKind(k objapi.Kind) bool {
	switch k {
	case objapi.KindInternal, objapi.KindUnavailable, objapi.KindCorrupt, objapi.KindTenantExists, objapi.KindStaleKey:
		return false
	}
	return true
}

// authCodes maps the authentication packages' sentinels (sigv4's, and
// sigv2's for what only Signature Version 2 can get wrong), in the order
// they are tested: a more specific sentinel comes before a general one so
// that an error wrapping both gets the specific code.
var authCodes = []struct {
	err  error
	code string
	msg  string // overrides the code's default message when set
}{
	{sigv2.ErrMalformedHeader, "InvalidArgument", "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
	{sigv2.ErrQueryIncomplete, "AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"},
	{sigv2.ErrInvalidExpires, "AccessDenied", "Invalid date (should be seconds since epoch)"},
	{sigv2.ErrExpiresTooFar, "AuthorizationQueryParametersError", "Expires must be at most 604800 seconds (seven days) after the current time."},
	{sigv2.ErrMixedAuth, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"},
	{sigv4.ErrUnknownAccessKey, "InvalidAccessKeyId", ""},
	{sigv4.ErrPresignExpired, "AccessDenied", "Request has expired"},
	{sigv4.ErrPresignNotYetValid, "AccessDenied", "Request is not valid yet"},
	{sigv4.ErrPresignMalformed, "AuthorizationQueryParametersError", ""},
	{sigv4.ErrHeadersNotSigned, "AccessDenied", "There were headers present in the request which were not signed"},
	{sigv4.ErrRequestTimeTooSkewed, "RequestTimeTooSkewed", ""},
	{sigv4.ErrSignatureMismatch, "SignatureDoesNotMatch", ""},
	{sigv4.ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch", ""},
	{sigv4.ErrInvalidContentSHA256, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a hex SHA-256 of the payload."},
	{sigv4.ErrMissingContentSHA256, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"},
	{sigv4.ErrBadDigest, "BadDigest", ""},
	{sigv4.ErrInvalidChecksum, "InvalidRequest", "The checksum that you specified is not valid."},
	{sigv4.ErrUnsupportedChecksum, "InvalidRequest", "The checksum algorithm that you specified is not supported."},
	{sigv4.ErrIncompleteBody, "IncompleteBody", ""},
	{sigv4.ErrMalformedChunk, "InvalidRequest", "The chunked encoding of the request body is malformed."},
	{sigv4.ErrMalformedTrailer, "MalformedTrailerError", ""},
	{sigv4.ErrAuthHeaderMalformed, "AuthorizationHeaderMalformed", ""},
	{sigv4.ErrUnsupportedAuth, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
	{sigv4.ErrMissingDate, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"},
	{sigv4.ErrMissingAuth, "AccessDenied", "Anonymous access is not allowed."},
}

// s3Error is an error s3api raises itself, with its S3 code. Msg is shown
// to the client; Err (if any) only goes to the log.
type s3Error struct {
	Code   string
	Msg    string
	Header map[string]string // extra response headers, e.g. Content-Range on InvalidRange
	Err    error
}

func (e *s3Error) Error() string {
	s := e.Code
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *s3Error) Unwrap() error { return e.Err }

// errorf returns an s3Error of the given code and client-safe message.
func errorf(code, msg string) *s3Error { return &s3Error{Code: code, Msg: msg} }

// apiError is what the client is told.
type apiError struct {
	Code     string
	Status   int
	Message  string
	Header   map[string]string
	mismatch *sigv2.MismatchError // a Signature Version 2 SignatureDoesNotMatch
}

// toAPIError maps err to the S3 error the client gets. Internal details
// never reach the message: only an s3Error's Msg, a client kind's
// objapi.Error Msg and the table's defaults do.
func toAPIError(err error) apiError {
	var se *s3Error
	if errors.As(err, &se) {
		e := lookupCode(se.Code)
		if se.Msg != "" {
			e.Message = se.Msg
		}
		e.Header = se.Header
		return e
	}
	for _, m := range authCodes {
		if errors.Is(err, m.err) {
			e := lookupCode(m.code)
			if m.msg != "" {
				e.Message = m.msg
			}
			var me *sigv2.MismatchError
			if errors.As(err, &me) {
				// What S3's document shows for Signature Version 2: how the
				// server canonicalized the request, for the client's author
				// to compare with what the client signed.
				e.mismatch = me
			}
			return e
		}
	}
	var ne *objapi.Error
	if errors.As(err, &ne) {
		code, ok := kindCodes[ne.Kind]
		if !ok {
			code = "InternalError"
		}
		e := lookupCode(code)
		if ne.Msg != "" && clientKind(ne.Kind) {
			e.Message = ne.Msg
		}
		// A read that met a delete marker says so, as S3 does: a 404 for
		// the current version, a 405 for one asked for by id.
		if ne.DeleteMarker || ne.VersionID != "" {
			e.Header = map[string]string{}
			if ne.DeleteMarker {
				e.Header["X-Amz-Delete-Marker"] = "true"
			}
			if ne.VersionID != "" {
				e.Header["X-Amz-Version-Id"] = ne.VersionID
			}
		}
		return e
	}
	return lookupCode("InternalError")
}

func lookupCode(code string) apiError {
	c, ok := codes[code]
	if !ok {
		// A code used in s3api but missing from the table is a bug;
		// answering 500 makes it loud (TestErrorCodesDefined).
		code, c = "InternalError", codes["InternalError"]
	}
	return apiError{Code: code, Status: c.Status, Message: c.Message}
}

// hexBytes writes s as S3's StringToSignBytes does: two hex digits per
// byte, separated by blanks, so that a stray \r or a non-ASCII byte shows.
func hexBytes(s string) string {
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = hex.AppendEncode(b, []byte{s[i]})
	}
	return string(b)
}

// clientGone reports whether a request failed because its client went
// away: the request context is done. Such failures are logged, not
// reported as server faults, and no response is attempted.
func clientGone(r *http.Request, err error) bool {
	// Whatever error the handler saw (a canceled context, a body read that
	// failed as the connection closed), once the request's context is done
	// nobody is listening for the answer. Except when the server cut the
	// body off itself for making no progress (net/http cancels the context
	// then too): that client is told, and the log says RequestTimeout.
	return err != nil && r.Context().Err() != nil && !isRequestTimeout(err)
}

// statusClientClosed is what the log records as the status of a request
// whose client went away (nginx's convention; never sent).
const statusClientClosed = 499

// errorDocument is S3's XML error body. S3 adds BucketName and Key for
// some codes; the SDKs show them.
//
// Unlike S3's other documents, Error has no namespace, and must not:
// botocore (boto3, the aws CLI) recognizes an error document only by the
// bare tag name "Error" and otherwise reports the code as "".
type errorDocument struct {
	XMLName xml.Name `xml:"Error"`
	Code    string
	Message string
	// S3 explains a Signature Version 2 SignatureDoesNotMatch with these.
	AWSAccessKeyID    string `xml:"AWSAccessKeyId,omitempty"`
	StringToSign      string `xml:",omitempty"`
	SignatureProvided string `xml:",omitempty"`
	StringToSignBytes string `xml:",omitempty"` // hex bytes, blank-separated, as S3 writes them

	BucketName string `xml:",omitempty"`
	Key        string `xml:",omitempty"`
	Resource   string
	RequestID  string `xml:"RequestId"`
	HostID     string `xml:"HostId"`
}

// keepOnError are the headers an error response keeps of those a handler
// may have set before it failed. The CORS headers stay so that browser
// code can read the error.
var keepOnError = map[string]bool{
	"X-Amz-Request-Id": true, "X-Amz-Id-2": true, "Server": true,
	"Access-Control-Allow-Origin": true, "Access-Control-Allow-Credentials": true,
	"Access-Control-Allow-Methods": true, "Access-Control-Expose-Headers": true,
	"Access-Control-Max-Age": true, "Vary": true,
}

// retryAfter is the Retry-After of a 503, in seconds: about an election
// and a probe round, after which the cluster has routed around a node.
const retryAfter = "2"

// writeError answers with the S3 error for err. Headers a handler set
// before failing (object headers, Content-Length) are dropped; a 304 keeps
// ETag and Last-Modified as HTTP requires. HEAD and 304 answers have no
// body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	e := toAPIError(err)
	rq.errCode = e.Code
	h := w.Header()
	for k := range h {
		if keepOnError[k] || e.Status == http.StatusNotModified && (k == "Etag" || k == "Last-Modified") {
			continue
		}
		delete(h, k)
	}
	for k, v := range e.Header {
		h.Set(k, v)
	}
	if e.Status == http.StatusMethodNotAllowed {
		h.Set("Allow", allowedMethods(rq))
	}
	if e.Status == http.StatusServiceUnavailable {
		// The data or the metadata cluster is out of reach for now (nodes
		// down, an election, a full metadata drive): worth a retry soon.
		h.Set("Retry-After", retryAfter)
	}
	if r.Method == http.MethodHead || e.Status == http.StatusNotModified {
		w.WriteHeader(e.Status)
		return
	}
	doc := errorDocument{
		Code:      e.Code,
		Message:   e.Message,
		Resource:  r.URL.Path,
		RequestID: rq.id,
		HostID:    s.hostID,
	}
	if m := e.mismatch; m != nil {
		doc.AWSAccessKeyID, doc.StringToSign, doc.SignatureProvided = m.AccessKey, m.StringToSign, m.SignatureProvided
		doc.StringToSignBytes = hexBytes(m.StringToSign)
	}
	switch e.Code {
	case "NoSuchBucket", "BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "InvalidBucketName":
		doc.BucketName = rq.bucket
	case "NoSuchKey":
		doc.Key = rq.key
	}
	writeXML(w, e.Status, &doc)
}
