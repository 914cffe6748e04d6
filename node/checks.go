package node

import (
	"context"

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
		if !ok || u.Tenant != c.Tenant || u.Bucket != bucket || u.Key != key {
			return &objapi.Error{Op: "HeadUpload", Kind: objapi.KindNoSuchUpload, Bucket: bucket, Key: key}
		}
		info = n.uploadInfo(u)
		return nil
	})
	return info, err
}
