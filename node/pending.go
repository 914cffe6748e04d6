package node

import "context"

// Operations declared for s3api whose implementation is in progress; each
// answers KindNotImplemented until it lands.

func notYet(op string) error { return Errorf(op, KindNotImplemented, "not implemented yet") }

// DeleteObjects deletes up to 1000 keys of a bucket in one metadata commit.
func (n *Node) DeleteObjects(ctx context.Context, c Caller, bucket string, keys []string) ([]DeleteResult, error) {
	return nil, notYet("DeleteObjects")
}

// CopyObject copies an object within or across the caller's buckets.
func (n *Node) CopyObject(ctx context.Context, c Caller, src CopySource, bucket, key string, opts CopyOptions) (ObjectInfo, error) {
	return ObjectInfo{}, notYet("CopyObject")
}

// UploadPartCopy makes a part from (a range of) an existing object.
func (n *Node) UploadPartCopy(ctx context.Context, c Caller, src CopySource, bucket, key, uploadID string, part int) (PartInfo, error) {
	return PartInfo{}, notYet("UploadPartCopy")
}

// ListParts lists an upload's parts.
func (n *Node) ListParts(ctx context.Context, c Caller, bucket, key, uploadID string, opts ListPartsOptions) (ListPartsResult, error) {
	return ListPartsResult{}, notYet("ListParts")
}

// ListMultipartUploads lists a bucket's uploads in progress.
func (n *Node) ListMultipartUploads(ctx context.Context, c Caller, bucket string, opts ListUploadsOptions) (ListUploadsResult, error) {
	return ListUploadsResult{}, notYet("ListMultipartUploads")
}

// GetObjectTagging returns an object's tags.
func (n *Node) GetObjectTagging(ctx context.Context, c Caller, bucket, key string) ([]Tag, error) {
	return nil, notYet("GetObjectTagging")
}

// PutObjectTagging replaces an object's tags.
func (n *Node) PutObjectTagging(ctx context.Context, c Caller, bucket, key string, tags []Tag) error {
	return notYet("PutObjectTagging")
}

// DeleteObjectTagging removes an object's tags.
func (n *Node) DeleteObjectTagging(ctx context.Context, c Caller, bucket, key string) error {
	return notYet("DeleteObjectTagging")
}

// PutBucketCors sets a bucket's CORS rules.
func (n *Node) PutBucketCors(ctx context.Context, c Caller, bucket string, rules []CORSRule) error {
	return notYet("PutBucketCors")
}

// GetBucketCors returns a bucket's CORS rules (KindNoSuchCORS if none).
func (n *Node) GetBucketCors(ctx context.Context, c Caller, bucket string) ([]CORSRule, error) {
	return nil, notYet("GetBucketCors")
}

// DeleteBucketCors removes a bucket's CORS rules.
func (n *Node) DeleteBucketCors(ctx context.Context, c Caller, bucket string) error {
	return notYet("DeleteBucketCors")
}

// BucketCORS returns a bucket's CORS rules for a request that is not signed
// (a browser's preflight): no caller, no ownership check; nil if the bucket
// or its configuration does not exist.
func (n *Node) BucketCORS(ctx context.Context, bucket string) ([]CORSRule, error) {
	return nil, nil
}
