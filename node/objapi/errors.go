package objapi

import (
	"errors"
	"fmt"
)

// Kind classifies an object-layer error. s3api maps kinds to S3 codes and
// HTTP statuses in one place; nodes pass kinds to each other over RPC, so
// the numbers are append-only: never reuse or renumber one.
type Kind uint16

const (
	KindInternal         Kind = 0  // a bug or an unexpected failure
	KindNoSuchBucket     Kind = 1  // the bucket does not exist
	KindNoSuchKey        Kind = 2  // the object does not exist
	KindNoSuchUpload     Kind = 3  // the multipart upload does not exist
	KindBucketExists     Kind = 4  // another tenant owns a bucket of that name
	KindBucketOwnedByYou Kind = 5  // the caller already owns the bucket
	KindBucketNotEmpty   Kind = 6  // the bucket still holds objects (uploads, while a member predates command level 2)
	KindAccessDenied     Kind = 7  // the caller may not touch this
	KindInvalidBucket    Kind = 8  // the bucket name breaks S3's rules
	KindKeyTooLong       Kind = 9  // object key over 1024 bytes
	KindInvalidRange     Kind = 10 // the range is not satisfiable
	KindEntityTooSmall   Kind = 11 // a non-last part under 5 MiB
	KindEntityTooLarge   Kind = 12 // an object or part beyond S3's limits
	KindInvalidPart      Kind = 13 // a completed part is missing or its ETag differs
	KindInvalidPartOrder Kind = 14 // completed parts not in ascending order
	KindBadDigest        Kind = 15 // a checksum or Content-MD5 did not match
	KindInvalidArgument  Kind = 16 // a parameter is malformed
	KindUnavailable      Kind = 17 // not enough drives, nodes or sites, or no leader
	KindCorrupt          Kind = 18 // stored data failed verification beyond repair
	KindIncompleteBody   Kind = 19 // the request body ended early
	KindInvalidKey       Kind = 20 // the object key is not valid (e.g. not UTF-8)
	KindNoSuchTenant     Kind = 21 // admin: the tenant does not exist
	KindTenantExists     Kind = 22 // admin: a tenant of that name exists
	KindNoSuchAccessKey  Kind = 23 // the access key does not exist
	KindMalformedXML     Kind = 24 // a request document does not parse
	KindNotImplemented   Kind = 25 // a feature kcs does not offer (yet)
	KindPrecondition     Kind = 26 // a condition (If-Match, If-None-Match, ...) failed
	KindNotModified      Kind = 27 // a read condition says the client's copy is current
	KindTooManyParts     Kind = 28 // more than 10 000 parts
	KindInvalidUploadID  Kind = 29 // reserved
	KindConflict         Kind = 30 // a concurrent change won (e.g. upload completed meanwhile)
	KindNoSuchCORS       Kind = 31 // the bucket has no CORS configuration
	KindInvalidTag       Kind = 32 // a tag set breaks S3's rules
	KindInvalidRequest   Kind = 33 // a request S3 refuses as a whole (e.g. copying an object onto itself unchanged)
	KindStaleKey         Kind = 34 // a data key wrapped by a tenant key version that was rotated meanwhile
	KindQuotaExceeded    Kind = 35 // the write would take the tenant or bucket beyond a quota (bytes, objects, uploads, parts, inline bytes)
	KindTooManyBuckets   Kind = 36 // the tenant has as many buckets as its quota allows
	// Versioning, object lock and lifecycle.
	KindNoSuchVersion          Kind = 37 // the version id names no version of the key (or is malformed)
	KindMethodNotAllowed       Kind = 38 // the version asked for is a delete marker (GET/HEAD by version id)
	KindNoSuchBucketLockConfig Kind = 39 // the bucket has no object lock configuration
	KindNoSuchObjectLockConfig Kind = 40 // the version has no retention (or legal hold) set
	KindNoSuchLifecycle        Kind = 41 // the bucket has no lifecycle configuration
	KindInvalidBucketState     Kind = 42 // the bucket's state refuses the request (suspending versioning under object lock)
	KindNoSuchTagSet           Kind = 43 // the bucket has no tags
)

var kindNames = map[Kind]string{
	KindInternal: "internal error", KindNoSuchBucket: "no such bucket", KindNoSuchKey: "no such key",
	KindNoSuchUpload: "no such upload", KindBucketExists: "bucket exists", KindBucketOwnedByYou: "bucket already owned by you",
	KindBucketNotEmpty: "bucket not empty", KindAccessDenied: "access denied", KindInvalidBucket: "invalid bucket name",
	KindKeyTooLong: "key too long", KindInvalidRange: "invalid range", KindEntityTooSmall: "entity too small",
	KindEntityTooLarge: "entity too large", KindInvalidPart: "invalid part", KindInvalidPartOrder: "invalid part order",
	KindBadDigest: "bad digest", KindInvalidArgument: "invalid argument", KindUnavailable: "unavailable",
	KindCorrupt: "corrupt data", KindIncompleteBody: "incomplete body", KindInvalidKey: "invalid key",
	KindNoSuchTenant: "no such tenant", KindTenantExists: "tenant exists", KindNoSuchAccessKey: "no such access key",
	KindMalformedXML: "malformed XML", KindNotImplemented: "not implemented", KindPrecondition: "precondition failed",
	KindNotModified: "not modified", KindTooManyParts: "too many parts", KindConflict: "conflict",
	KindNoSuchCORS: "no CORS configuration", KindInvalidTag: "invalid tag", KindInvalidRequest: "invalid request",
	KindStaleKey: "tenant key rotated meanwhile", KindQuotaExceeded: "quota exceeded", KindTooManyBuckets: "too many buckets",
	KindNoSuchVersion: "no such version", KindMethodNotAllowed: "method not allowed on a delete marker",
	KindNoSuchBucketLockConfig: "no object lock configuration", KindNoSuchObjectLockConfig: "no retention or legal hold",
	KindNoSuchLifecycle: "no lifecycle configuration", KindInvalidBucketState: "invalid bucket state",
	KindNoSuchTagSet: "no bucket tags",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind %d", uint16(k))
}

// Error is the object layer's error: what was being done, what kind of
// failure it is, and the underlying error.
type Error struct {
	Op     string // e.g. "PutObject"
	Kind   Kind
	Bucket string
	Key    string
	Msg    string // a detail safe to show a client
	Err    error  // the cause, for logs; never shown to clients
	// DeleteMarker and VersionID describe the delete marker a read met
	// (KindNoSuchKey for the current version, KindMethodNotAllowed for a
	// version id): S3 answers them in x-amz-delete-marker and
	// x-amz-version-id.
	DeleteMarker bool
	VersionID    string
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Kind.String()
	if e.Bucket != "" {
		s += " (" + e.Bucket
		if e.Key != "" {
			s += "/" + e.Key
		}
		s += ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind.
func Errorf(op string, k Kind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or
// KindInternal if there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
