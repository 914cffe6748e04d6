package node

import "github.com/kommunal-cloud/kcs/node/objapi"

// The object layer's error type and kinds are defined in node/objapi;
// these aliases are the names node's code and cmd use.

// Kind classifies an object-layer error (see objapi.Kind).
type Kind = objapi.Kind

// Error is the object layer's error (see objapi.Error).
type Error = objapi.Error

// Kinds, re-exported from objapi; the numbers are append-only.
const (
	KindInternal         = objapi.KindInternal
	KindNoSuchBucket     = objapi.KindNoSuchBucket
	KindNoSuchKey        = objapi.KindNoSuchKey
	KindNoSuchUpload     = objapi.KindNoSuchUpload
	KindBucketExists     = objapi.KindBucketExists
	KindBucketOwnedByYou = objapi.KindBucketOwnedByYou
	KindBucketNotEmpty   = objapi.KindBucketNotEmpty
	KindAccessDenied     = objapi.KindAccessDenied
	KindInvalidBucket    = objapi.KindInvalidBucket
	KindKeyTooLong       = objapi.KindKeyTooLong
	KindInvalidRange     = objapi.KindInvalidRange
	KindEntityTooSmall   = objapi.KindEntityTooSmall
	KindEntityTooLarge   = objapi.KindEntityTooLarge
	KindInvalidPart      = objapi.KindInvalidPart
	KindInvalidPartOrder = objapi.KindInvalidPartOrder
	KindBadDigest        = objapi.KindBadDigest
	KindInvalidArgument  = objapi.KindInvalidArgument
	KindUnavailable      = objapi.KindUnavailable
	KindCorrupt          = objapi.KindCorrupt
	KindIncompleteBody   = objapi.KindIncompleteBody
	KindInvalidKey       = objapi.KindInvalidKey
	KindNoSuchTenant     = objapi.KindNoSuchTenant
	KindTenantExists     = objapi.KindTenantExists
	KindNoSuchAccessKey  = objapi.KindNoSuchAccessKey
	KindMalformedXML     = objapi.KindMalformedXML
	KindNotImplemented   = objapi.KindNotImplemented
	KindPrecondition     = objapi.KindPrecondition
	KindNotModified      = objapi.KindNotModified
	KindTooManyParts     = objapi.KindTooManyParts
	KindInvalidUploadID  = objapi.KindInvalidUploadID
	KindConflict         = objapi.KindConflict
	KindNoSuchCORS       = objapi.KindNoSuchCORS
	KindInvalidTag       = objapi.KindInvalidTag
	KindInvalidRequest   = objapi.KindInvalidRequest
	KindStaleKey         = objapi.KindStaleKey
	KindQuotaExceeded    = objapi.KindQuotaExceeded
	KindTooManyBuckets   = objapi.KindTooManyBuckets
)

// Errorf returns an *Error of the given kind.
func Errorf(op string, k Kind, format string, args ...any) *Error {
	return objapi.Errorf(op, k, format, args...)
}

// KindOf returns the kind of the first *Error in err's chain, or
// KindInternal if there is none.
func KindOf(err error) Kind { return objapi.KindOf(err) }

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool { return objapi.IsKind(err, k) }
