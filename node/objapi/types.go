package objapi

import (
	"context"
	"io"
	"time"
)

// This file holds the types the object layer speaks: what s3api passes in
// and gets back. They carry no HTTP; s3api translates headers to these and
// back.
//
// Tag and Headers are also part of node's sealed-metadata format (JSON, with
// the field names in their tags): never rename those names.

// Caller is who a request acts for: the tenant behind the access key that
// signed it.
type Caller struct {
	Tenant    string
	AccessKey string
}

// Credential is an S3 access key with the secret SigV4 needs.
type Credential struct {
	AccessKey string
	Secret    string
	Tenant    string
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
	Tenant  string
}

// Checksum is a full-object or part checksum as S3 names and encodes it.
type Checksum struct {
	Algorithm string // "CRC32", "CRC32C", ...
	Value     string // base64 of the big-endian digest; composite values end in "-N"
}

// ObjectInfo describes one object version.
type ObjectInfo struct {
	Bucket       string
	Key          string
	VersionID    string // S3 version id: "null" for the null version (see versions.go)
	Size         int64
	ETag         string // hex MD5, or hex MD5 of part MD5s + "-N"; without quotes
	Modified     time.Time
	ContentType  string
	UserMeta     map[string]string // x-amz-meta-* with the prefix cut and names lowercased
	Checksums    []Checksum
	PartsCount   int // 0 for objects not uploaded in parts
	Owner        string
	StorageClass string
	Headers      Headers
	TagCount     int
	ChecksumType string // "FULL_OBJECT" or "COMPOSITE" when Checksums is set
	// Part describes the part a GetObject with PartNumber resolved to, in
	// an object uploaded in parts: its number as uploaded, size and
	// checksums (a part read answers with the part's checksum). nil
	// otherwise.
	Part *PartInfo
	// Parts lists an object's parts in order, with their numbers as
	// uploaded, sizes and checksums, when GetOptions.Parts asked for them
	// (GetObjectAttributes); nil for objects not uploaded in parts.
	Parts []PartInfo
	// IsLatest: the version is its key's current one. DeleteMarker: the
	// version is a delete marker (ListObjectVersions).
	IsLatest     bool
	DeleteMarker bool
	// Lock is the version's retention and legal hold.
	Lock ObjectLock
	// Expiration is the x-amz-expiration value when a lifecycle rule
	// expires this version: `expiry-date="…", rule-id="…"`.
	Expiration string
	// CopySourceVersionID is the version a CopyObject or UploadPartCopy
	// read (x-amz-copy-source-version-id); empty otherwise.
	CopySourceVersionID string
}

// Tag is an object tag.
type Tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// Headers are the standard headers an object keeps and returns.
type Headers struct {
	CacheControl       string `json:"cc,omitempty"`
	ContentDisposition string `json:"cd,omitempty"`
	ContentEncoding    string `json:"ce,omitempty"` // as stored: aws-chunked already stripped
	ContentLanguage    string `json:"cl,omitempty"`
	Expires            string `json:"ex,omitempty"` // kept verbatim, as S3 does
}

// PutOptions go with a PutObject or CreateMultipartUpload (and, for a
// CopyObject with MetadataDirective REPLACE, describe the destination).
type PutOptions struct {
	ContentType string
	Headers     Headers
	UserMeta    map[string]string
	Tags        []Tag // x-amz-tagging
	// Size is the decoded body length the client announced, -1 if unknown.
	Size int64
	// Checksums returns the checksums the client sent and s3api verified,
	// once the body has been read to EOF (trailers come last). May be nil.
	Checksums func() []Checksum
	// ContentMD5 is the Content-MD5 the client sent (16 bytes), if any. The
	// object layer computes the MD5 anyway (for the ETag) and refuses the
	// write with KindBadDigest before committing if it differs.
	ContentMD5 []byte
	// Conditional writes, decided in the metadata commit so that racing
	// writers cannot both win: IfNoneMatch (If-None-Match: *) fails with
	// KindPrecondition if the key exists; IfMatch fails with
	// KindPrecondition unless the current version's ETag matches (and with
	// KindNoSuchKey if there is none).
	IfNoneMatch bool
	IfMatch     string
	// ChecksumAlgorithm and ChecksumType (CreateMultipartUpload): the
	// algorithm every part carries ("CRC32", ...) and how the object's
	// checksum is formed: "COMPOSITE" (a checksum of the part checksums,
	// "-N") or "FULL_OBJECT" (the CRC of the whole object, combined from
	// the parts'). Empty type: S3's default for the algorithm.
	ChecksumAlgorithm string
	ChecksumType      string
	// Lock is the new version's retention and legal hold
	// (x-amz-object-lock-*); nil takes the bucket's default retention.
	// A lock on a bucket without object lock is KindInvalidRequest.
	Lock *ObjectLock
	// NoChecksum says, before the body is read, that the request brings
	// neither a checksum header nor a checksum trailer: a locked write
	// without Content-MD5 is then refused before a byte is stored.
	NoChecksum bool
}

// PartOptions go with an UploadPart.
type PartOptions struct {
	Size       int64
	Checksums  func() []Checksum
	ContentMD5 []byte
	// NoChecksum: as PutOptions.NoChecksum, for a part of an object that
	// object lock will hold.
	NoChecksum bool
}

// RangeSpec is a parsed HTTP Range header: bytes=First-Last, bytes=First-
// (Last < 0), or bytes=-Suffix (Suffix > 0).
type RangeSpec struct {
	First  int64
	Last   int64
	Suffix int64
}

// GetOptions go with a GetObject or HeadObject.
type GetOptions struct {
	Range      *RangeSpec
	PartNumber int // 0: the whole object
	// Parts asks for Info.Parts, the list of the object's parts
	// (GetObjectAttributes); other reads leave it out.
	Parts bool
	// VersionID reads that version ("null" included) instead of the
	// current one: KindNoSuchVersion if there is none, KindMethodNotAllowed
	// if it is a delete marker.
	VersionID string
}

// Object is an object version ready to be sent: its description and the
// byte range that will be sent.
type Object struct {
	Info    ObjectInfo
	Offset  int64 // first byte sent
	Length  int64 // bytes sent
	Partial bool  // a range or part was asked for: answer 206 with Content-Range
	send    func(ctx context.Context, w io.Writer) error
}

// Send writes the object's bytes [Offset, Offset+Length) to w. Bytes reach
// w only after they were verified and authenticated; an error after some
// bytes were written means the response must be cut off.
func (o *Object) Send(ctx context.Context, w io.Writer) error {
	if o.send == nil || o.Length == 0 {
		return nil
	}
	return o.send(ctx, w)
}

// ListOptions go with a ListObjects call.
type ListOptions struct {
	Prefix    string
	Delimiter string
	After     string // list keys (and prefixes) strictly after this one
	MaxKeys   int    // 1..1000
}

// ListResult is one page of a listing in UTF-8 byte order.
type ListResult struct {
	Objects   []ObjectInfo
	Prefixes  []string // common prefixes, when a delimiter was given
	Truncated bool
	// Next is the last key or prefix of this page; a continuation lists
	// After it.
	Next string
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number    int
	ETag      string
	Size      int64
	Modified  time.Time
	Checksums []Checksum
}

// CompletePart names a part in a CompleteMultipartUpload request.
type CompletePart struct {
	Number    int
	ETag      string
	Checksums []Checksum // the part checksums the client lists; checked against the stored ones
}

// CompleteOptions go with a CompleteMultipartUpload.
type CompleteOptions struct {
	IfNoneMatch bool
	IfMatch     string
	// Checksums the client sent for the whole object (x-amz-checksum-* on
	// the request), checked against the combined value.
	Checksums    []Checksum
	ChecksumType string // x-amz-checksum-type, if sent: must be the upload's
}

// UploadInfo describes a multipart upload in progress.
type UploadInfo struct {
	Bucket            string
	Key               string
	UploadID          string
	Initiated         time.Time
	Owner             string
	StorageClass      string
	ChecksumAlgorithm string
	ChecksumType      string
	// Completed marks an upload HeadUpload found completed into its key's
	// current version rather than in progress: a CompleteMultipartUpload
	// retried after it succeeded, which CompleteMultipartUpload answers
	// with that version, as S3 does.
	Completed bool
}

// DeleteOptions go with a DeleteObject.
type DeleteOptions struct {
	IfMatch string // delete only if the current ETag matches (KindPrecondition otherwise)
	// VersionID removes that version for good (see Versions.DeleteVersion).
	VersionID string
	// BypassGovernance is x-amz-bypass-governance-retention: honoured for
	// access keys an operator allowed it, KindAccessDenied for others
	// when a GOVERNANCE retention is in the way.
	BypassGovernance bool
}

// DeleteResult is the outcome for one key of a DeleteObjects.
type DeleteResult struct {
	Key string
	// VersionID is the version asked for; DeleteMarker and
	// DeleteMarkerVersionID say whether a delete marker was removed or
	// added, and which (as S3's DeleteResult answers them).
	VersionID             string
	DeleteMarker          bool
	DeleteMarkerVersionID string
	Err                   error
}

// CopySource names the object a copy reads, with S3's copy conditions.
type CopySource struct {
	Bucket            string
	Key               string
	IfMatch           string     // x-amz-copy-source-if-match as sent: "*" or ETags (ETagMatches)
	IfNoneMatch       string     // x-amz-copy-source-if-none-match as sent
	IfModifiedSince   time.Time  // zero: none
	IfUnmodifiedSince time.Time  // zero: none
	Range             *RangeSpec // UploadPartCopy: x-amz-copy-source-range (bytes=first-last only)
	VersionID         string     // the source's version (?versionId= in x-amz-copy-source); "" for the current one
}

// CopyOptions go with a CopyObject.
type CopyOptions struct {
	ReplaceMetadata bool // x-amz-metadata-directive: REPLACE takes Put's content type, headers and user metadata
	ReplaceTags     bool // x-amz-tagging-directive: REPLACE takes Put's tags
	// Put describes the destination: metadata when replaced, and the
	// destination's conditions (IfNoneMatch, IfMatch).
	Put PutOptions
}

// ListPartsOptions go with a ListParts.
type ListPartsOptions struct {
	Marker   int // list parts after this number
	MaxParts int // 1..1000
}

// ListPartsResult is one page of an upload's parts.
type ListPartsResult struct {
	Upload     UploadInfo
	Parts      []PartInfo
	Truncated  bool
	NextMarker int
}

// ListUploadsOptions go with a ListMultipartUploads.
type ListUploadsOptions struct {
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int // 1..1000
}

// ListUploadsResult is one page of a bucket's uploads in progress, by key
// then initiation.
type ListUploadsResult struct {
	Uploads            []UploadInfo
	Prefixes           []string
	Truncated          bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	ID             string
	AllowedOrigins []string // may contain one '*' wildcard each
	AllowedMethods []string // GET, PUT, POST, DELETE, HEAD
	AllowedHeaders []string // may contain '*' wildcards
	ExposeHeaders  []string
	MaxAgeSeconds  int // 0: not sent
}

// NewObject builds an Object: its description, the range [offset,
// offset+length) that will be sent, whether that is a range or part
// (partial), and send, which writes those bytes.
func NewObject(info ObjectInfo, offset, length int64, partial bool, send func(ctx context.Context, w io.Writer) error) *Object {
	return &Object{Info: info, Offset: offset, Length: length, Partial: partial, send: send}
}
