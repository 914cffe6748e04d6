package node

import (
	"context"
	"io"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The types the object layer speaks — what s3api passes in and gets back —
// are defined in node/objapi, which s3api imports without linking the
// rest of node. These aliases let node's code use them by their short
// names; they are the same types, not copies.

type (
	Caller             = objapi.Caller
	Credential         = objapi.Credential
	BucketInfo         = objapi.BucketInfo
	Checksum           = objapi.Checksum
	ObjectInfo         = objapi.ObjectInfo
	Tag                = objapi.Tag
	Headers            = objapi.Headers
	PutOptions         = objapi.PutOptions
	PartOptions        = objapi.PartOptions
	RangeSpec          = objapi.RangeSpec
	GetOptions         = objapi.GetOptions
	Object             = objapi.Object
	ListOptions        = objapi.ListOptions
	ListResult         = objapi.ListResult
	PartInfo           = objapi.PartInfo
	CompletePart       = objapi.CompletePart
	CompleteOptions    = objapi.CompleteOptions
	UploadInfo         = objapi.UploadInfo
	DeleteOptions      = objapi.DeleteOptions
	DeleteResult       = objapi.DeleteResult
	CopySource         = objapi.CopySource
	CopyOptions        = objapi.CopyOptions
	ListPartsOptions   = objapi.ListPartsOptions
	ListPartsResult    = objapi.ListPartsResult
	ListUploadsOptions = objapi.ListUploadsOptions
	ListUploadsResult  = objapi.ListUploadsResult
	CORSRule           = objapi.CORSRule
)

// NewObject builds an Object whose Send calls send (see objapi.NewObject).
func NewObject(info ObjectInfo, offset, length int64, partial bool, send func(ctx context.Context, w io.Writer) error) *Object {
	return objapi.NewObject(info, offset, length, partial, send)
}
