package objapi

import (
	"context"
	"io"
)

// Layer is the object layer as s3api uses it: every S3 operation on
// buckets and objects, in five roles. *node.Node implements it; so does
// objapi/memlayer, the in-memory double s3api's tests run on, and
// objapi/objtest checks both against the same behaviour.
//
// Every method but BucketCORS takes the authenticated caller; the object
// layer, not s3api, decides what the caller may touch (KindAccessDenied
// for another tenant's bucket, KindBucketExists when another tenant owns
// the name). Errors are *Error values; their Kind picks the S3 code. All
// methods may be called concurrently.
type Layer interface {
	Buckets
	Objects
	Uploads
	Tagging
	BucketTagging
	CORS
	Versions
}

// Buckets creates, describes, lists and deletes a tenant's buckets.
type Buckets interface {
	// ListBuckets lists the caller's buckets, in any order.
	ListBuckets(ctx context.Context, c Caller) ([]BucketInfo, error)
	// CreateBucket creates a bucket for the caller's tenant. Names are
	// global and follow ValidBucketName (KindInvalidBucket):
	// KindBucketOwnedByYou when the caller has the name already,
	// KindBucketExists when another tenant has.
	CreateBucket(ctx context.Context, c Caller, bucket string) error
	// HeadBucket describes a bucket of the caller's.
	HeadBucket(ctx context.Context, c Caller, bucket string) (BucketInfo, error)
	// DeleteBucket deletes a bucket that holds no object
	// (KindBucketNotEmpty otherwise), and aborts its uploads in progress
	// with it, as S3 does.
	DeleteBucket(ctx context.Context, c Caller, bucket string) error
}

// Objects writes, reads, lists, copies and deletes objects.
//
// PutObject (and Uploads' UploadPart) must read body until it returns
// io.EOF before committing anything: the last read is where s3api and
// sigv4 verify the signature, the declared length and the client's
// checksums, and a body that fails returns an error instead of io.EOF. An
// error from body must abort the write and be returned (wrapped is fine).
// Keys follow ValidObjectKey (KindInvalidKey, KindKeyTooLong).
type Objects interface {
	// PutObject stores an object. A body of another length than a known
	// opts.Size is KindIncompleteBody, one whose MD5 is not
	// opts.ContentMD5 KindBadDigest; neither stores anything.
	// opts.IfNoneMatch and opts.IfMatch are decided in the commit, so that
	// of racing conditional writers exactly one wins (KindPrecondition for
	// the others; KindNoSuchKey for IfMatch on a missing key). opts.Tags
	// and opts.Headers are kept with the object and come back in
	// ObjectInfo (TagCount, Headers); the checksums opts.Checksums returns
	// (verified by s3api) are kept and returned as FULL_OBJECT.
	PutObject(ctx context.Context, c Caller, bucket, key string, body io.Reader, opts PutOptions) (ObjectInfo, error)
	// GetObject resolves the object, range and part; the returned
	// Object's Send streams the bytes. A range of which no byte exists,
	// or a part the object does not have (an object not uploaded in parts
	// has part 1), is KindInvalidRange. HEAD uses GetObject too and does
	// not call Send. Info carries what GET and HEAD answer with: Headers,
	// TagCount, PartsCount, Checksums and their ChecksumType (FULL_OBJECT
	// or COMPOSITE); with PartNumber, Part (the part's own checksums) for an
	// object uploaded in parts; with opts.Parts, Parts.
	GetObject(ctx context.Context, c Caller, bucket, key string, opts GetOptions) (*Object, error)
	// DeleteObject removes a key. Deleting a key that does not exist
	// succeeds, as in S3, unless opts.IfMatch is given: then a missing key
	// is KindNoSuchKey and another ETag KindPrecondition.
	DeleteObject(ctx context.Context, c Caller, bucket, key string, opts DeleteOptions) error
	// DeleteObjects deletes up to 1000 distinct keys. A key that does not
	// exist counts as deleted (nil Err). Errors of the whole request (no
	// such bucket, access denied) are the error; a failure of one key (an
	// invalid key) is its DeleteResult.Err. There is one result per key,
	// in any order.
	DeleteObjects(ctx context.Context, c Caller, bucket string, keys []string) ([]DeleteResult, error)
	// ListObjects lists keys in UTF-8 byte order, at most opts.MaxKeys
	// (1…1000) keys and common prefixes together: keys that start with
	// opts.Prefix and sort after opts.After, keys holding opts.Delimiter
	// after the prefix rolled up into one common prefix each, listed only
	// if it too sorts after After (so a continuation after a prefix skips
	// the keys under it, and so does an After within one). Objects carry Key,
	// Size, ETag, Modified, Owner, StorageClass, Checksums and
	// ChecksumType. Next is the last key or prefix of the page; Truncated
	// says whether more follow.
	ListObjects(ctx context.Context, c Caller, bucket string, opts ListOptions) (ListResult, error)
	// CopyObject copies src to bucket/key, both the caller's. The source's
	// conditions (src.IfMatch …) are evaluated as S3 does (an If-Match that
	// holds wins over If-Unmodified-Since, an If-None-Match that fails
	// loses even when If-Modified-Since holds) and any that fails is
	// KindPrecondition, never KindNotModified. opts.Put's IfNoneMatch and
	// IfMatch guard the destination like PutObject's. Without
	// ReplaceMetadata the source's content type, headers and user metadata
	// are kept; without ReplaceTags its tags. A FULL_OBJECT checksum of the
	// source is kept, a COMPOSITE one dropped; opts.Put.ChecksumAlgorithm
	// asks for a new one over the copied bytes. Copying an object onto
	// itself without changing anything (no REPLACE, no checksum algorithm)
	// is KindInvalidRequest; a source over 5 GiB too.
	CopyObject(ctx context.Context, c Caller, src CopySource, bucket, key string, opts CopyOptions) (ObjectInfo, error)
}

// Uploads are multipart uploads: started, filled part by part, listed,
// completed into an object or aborted.
type Uploads interface {
	// CreateMultipartUpload starts an upload. opts.ChecksumAlgorithm and
	// ChecksumType (empty: the algorithm's default, FULL_OBJECT for
	// CRC64NVME and COMPOSITE for the others) fix how parts and the object
	// are checksummed: a type without an algorithm, or one the algorithm
	// does not allow, is KindInvalidRequest. opts' content type, headers,
	// user metadata and tags go to the completed object.
	CreateMultipartUpload(ctx context.Context, c Caller, bucket, key string, opts PutOptions) (uploadID string, err error)
	// UploadPart stores part number part (1…10000, KindInvalidArgument
	// otherwise), replacing an earlier upload of that number. Its body is
	// read as PutObject's. In an upload with a ChecksumAlgorithm the part
	// must bring that checksum (KindInvalidRequest otherwise); the part's
	// checksums come back in PartInfo. An upload id unknown for this
	// bucket and key is KindNoSuchUpload.
	UploadPart(ctx context.Context, c Caller, bucket, key, uploadID string, part int, body io.Reader, opts PartOptions) (PartInfo, error)
	// UploadPartCopy makes part `part` of an upload from src, or from the
	// bytes src.Range names (First and Last both set, inclusive). A range
	// beyond the source is KindInvalidRange; conditions as CopyObject's.
	// In an upload with a ChecksumAlgorithm the part's checksum is
	// computed over the copied bytes.
	UploadPartCopy(ctx context.Context, c Caller, src CopySource, bucket, key, uploadID string, part int) (PartInfo, error)
	// CompleteMultipartUpload joins the listed parts into the object and
	// ends the upload. Parts must be listed in ascending order without
	// repeats (KindInvalidPartOrder), be uploaded with the ETags given
	// (KindInvalidPart), and all but the last be at least 5 MiB
	// (KindEntityTooSmall); no parts at all is KindMalformedXML. The ETag
	// is the MD5 of the parts' MD5s followed by "-N". Part checksums the
	// client lists must equal the stored ones (KindInvalidPart),
	// whole-object checksums the combined value (KindBadDigest),
	// opts.ChecksumType the upload's (KindInvalidRequest). The object's
	// Checksums are returned as stored: COMPOSITE values end in "-N".
	// opts.IfNoneMatch and IfMatch are decided as PutObject's. An upload
	// already completed into bucket/key's current version is answered
	// again with that version (its ETag and checksums) when parts lists
	// the parts it was completed from: the retry of a completion whose
	// answer was lost, which S3 answers so; any other list is
	// KindNoSuchUpload, as is an upload whose version was replaced.
	CompleteMultipartUpload(ctx context.Context, c Caller, bucket, key, uploadID string, parts []CompletePart, opts CompleteOptions) (ObjectInfo, error)
	// HeadUpload describes an upload in progress without reading its
	// parts: KindNoSuchUpload unless uploadID is an upload of bucket/key
	// started by the caller's tenant, or one completed into bucket/key's
	// current version (UploadInfo.Completed), and the bucket's errors
	// (KindNoSuchBucket, KindAccessDenied) as the other methods give them.
	// s3api asks it before reading a CompleteMultipartUpload's list of
	// parts, which may be megabytes, so it must be cheap: a read (as
	// linearizable as any) of the bucket's and the upload's records (or
	// the object's, for a completed upload), not of the parts.
	HeadUpload(ctx context.Context, c Caller, bucket, key, uploadID string) (UploadInfo, error)
	// AbortMultipartUpload ends an upload and drops its parts.
	AbortMultipartUpload(ctx context.Context, c Caller, bucket, key, uploadID string) error
	// ListParts lists parts numbered after opts.Marker in ascending order,
	// at most opts.MaxParts (1…1000). NextMarker is the number of the last
	// part listed; Truncated says whether parts follow it.
	ListParts(ctx context.Context, c Caller, bucket, key, uploadID string, opts ListPartsOptions) (ListPartsResult, error)
	// ListMultipartUploads lists uploads in progress by key, then by
	// initiation. With KeyMarker alone it lists keys after it; with
	// UploadIDMarker too, the uploads of KeyMarker after that one and
	// then later keys. A delimiter rolls keys up into Prefixes, as
	// ListObjects does. When Truncated, NextKeyMarker and
	// NextUploadIDMarker name the last upload (or prefix, with an empty
	// upload id) of the page.
	ListMultipartUploads(ctx context.Context, c Caller, bucket string, opts ListUploadsOptions) (ListUploadsResult, error)
}

// Tagging reads and replaces an object's tags: KindNoSuchKey without an
// object. Tags belong to the object version: a new PutObject replaces
// them with its own.
type Tagging interface {
	GetObjectTagging(ctx context.Context, c Caller, bucket, key string) ([]Tag, error)
	// PutObjectTagging replaces the tags. A set that breaks S3's rules
	// (more than 10 tags, an empty or repeated key, keys over 128 or
	// values over 256 characters) is KindInvalidTag.
	PutObjectTagging(ctx context.Context, c Caller, bucket, key string, tags []Tag) error
	DeleteObjectTagging(ctx context.Context, c Caller, bucket, key string) error
}

// BucketTagging keeps a bucket's tags (cost centres, owners: labels for
// the tenant's own bookkeeping; nothing in kcs acts on them).
type BucketTagging interface {
	// PutBucketTagging replaces the tags. A set that breaks S3's rules
	// (more than 50 tags, an empty or repeated key, keys over 128 or
	// values over 256 characters) is KindInvalidTag.
	PutBucketTagging(ctx context.Context, c Caller, bucket string, tags []Tag) error
	// GetBucketTagging answers KindNoSuchTagSet for a bucket without tags.
	GetBucketTagging(ctx context.Context, c Caller, bucket string) ([]Tag, error)
	DeleteBucketTagging(ctx context.Context, c Caller, bucket string) error
}

// CORS keeps a bucket's CORS configuration.
type CORS interface {
	// PutBucketCors replaces the bucket's rules; s3api validated them.
	// No rule at all is KindMalformedXML.
	PutBucketCors(ctx context.Context, c Caller, bucket string, rules []CORSRule) error
	// GetBucketCors answers KindNoSuchCORS without a configuration.
	GetBucketCors(ctx context.Context, c Caller, bucket string) ([]CORSRule, error)
	DeleteBucketCors(ctx context.Context, c Caller, bucket string) error
	// BucketCORS returns a bucket's rules for requests that carry no
	// signature (a browser's preflight) or before one is checked: no
	// caller, no ownership check; nil without a bucket or configuration.
	// It is called for every request with an Origin header, so it should
	// be cheap (a local read).
	BucketCORS(ctx context.Context, bucket string) ([]CORSRule, error)
}
