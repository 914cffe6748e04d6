package node

import (
	"context"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Checks s3api makes before it reads a request's body: whether what the
// body is about exists and is the caller's, so that a stranger's or a
// mistaken request is refused before its document is parsed.

// HeadUpload describes an upload in progress of the caller's without
// reading its parts (objapi.Uploads): a linearizable read, as every read
// is, of the bucket's and the upload's records.
func (n *Node) HeadUpload(ctx context.Context, c Caller, bucket, key, uploadID string) (UploadInfo, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return UploadInfo{}, err
	}
	var info UploadInfo
	err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, err := bucketFor(r, "HeadUpload", c, bucket); err != nil {
			return err
		}
		u, ok, err := r.Upload(uploadID)
		if err != nil {
			return err
		}
		if ok && u.Tenant == c.Tenant && u.Bucket == bucket && u.Key == key {
			info = n.uploadInfo(u)
			return nil
		}
		// Completed already: a retried CompleteMultipartUpload, which
		// CompleteMultipartUpload answers with the version it made.
		o, done, err := completedVersion(r, bucket, key, uploadID)
		if err != nil {
			return err
		}
		if !done {
			return &objapi.Error{Op: "HeadUpload", Kind: objapi.KindNoSuchUpload, Bucket: bucket, Key: key}
		}
		info = UploadInfo{Bucket: bucket, Key: key, UploadID: uploadID, Initiated: time.Unix(0, o.Modified).UTC(),
			Owner: c.Tenant, StorageClass: storageStd, ChecksumType: o.ChecksumType, Completed: true}
		if len(o.Checksums) > 0 {
			info.ChecksumAlgorithm = o.Checksums[0].Alg
		}
		return nil
	})
	return info, err
}
