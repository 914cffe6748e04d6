package node

import "github.com/kommunal-cloud/kcs/node/errs"

// The object layer's error type and kinds live in node/errs so that every
// part of node can use them; these aliases are what s3api and cmd use.

// Kind classifies an object-layer error (see errs.Kind).
type Kind = errs.Kind

// Error is the object layer's error (see errs.Error).
type Error = errs.Error

// Kinds, re-exported from errs; the numbers are append-only.
const (
	KindInternal         = errs.KindInternal
	KindNoSuchBucket     = errs.KindNoSuchBucket
	KindNoSuchKey        = errs.KindNoSuchKey
	KindNoSuchUpload     = errs.KindNoSuchUpload
	KindBucketExists     = errs.KindBucketExists
	KindBucketOwnedByYou = errs.KindBucketOwnedByYou
	KindBucketNotEmpty   = errs.KindBucketNotEmpty
	KindAccessDenied     = errs.KindAccessDenied
	KindInvalidBucket    = errs.KindInvalidBucket
	KindKeyTooLong       = errs.KindKeyTooLong
	KindInvalidRange     = errs.KindInvalidRange
	KindEntityTooSmall   = errs.KindEntityTooSmall
	KindEntityTooLarge   = errs.KindEntityTooLarge
	KindInvalidPart      = errs.KindInvalidPart
	KindInvalidPartOrder = errs.KindInvalidPartOrder
	KindBadDigest        = errs.KindBadDigest
	KindInvalidArgument  = errs.KindInvalidArgument
	KindUnavailable      = errs.KindUnavailable
	KindCorrupt          = errs.KindCorrupt
	KindIncompleteBody   = errs.KindIncompleteBody
	KindInvalidKey       = errs.KindInvalidKey
	KindNoSuchTenant     = errs.KindNoSuchTenant
	KindTenantExists     = errs.KindTenantExists
	KindNoSuchAccessKey  = errs.KindNoSuchAccessKey
	KindMalformedXML     = errs.KindMalformedXML
	KindNotImplemented   = errs.KindNotImplemented
	KindPrecondition     = errs.KindPrecondition
	KindNotModified      = errs.KindNotModified
	KindTooManyParts     = errs.KindTooManyParts
	KindInvalidUploadID  = errs.KindInvalidUploadID
	KindConflict         = errs.KindConflict
	KindNoSuchCORS       = errs.KindNoSuchCORS
	KindInvalidTag       = errs.KindInvalidTag
	KindInvalidRequest   = errs.KindInvalidRequest
	KindStaleKey         = errs.KindStaleKey
)

// Errorf returns an *Error of the given kind.
func Errorf(op string, k Kind, format string, args ...any) *Error {
	return errs.Errorf(op, k, format, args...)
}

// KindOf returns the kind of the first *Error in err's chain, or
// KindInternal if there is none.
func KindOf(err error) Kind { return errs.KindOf(err) }

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool { return errs.IsKind(err, k) }
