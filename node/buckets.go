package node

import (
	"context"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// ListBuckets lists the caller's buckets.
func (n *Node) ListBuckets(ctx context.Context, c Caller) ([]BucketInfo, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var out []BucketInfo
	err := n.store.FSM.View(func(r *meta.Reader) error {
		bs, err := r.BucketsOf(c.Tenant)
		for _, b := range bs {
			out = append(out, BucketInfo{Name: b.Name, Created: time.Unix(0, b.Created), Tenant: b.Tenant})
		}
		return err
	})
	return out, err
}

// CreateBucket creates a bucket for the caller's tenant. Names are global:
// BucketAlreadyExists when another tenant has it, BucketAlreadyOwnedByYou
// when the caller has.
func (n *Node) CreateBucket(ctx context.Context, c Caller, bucket string) error {
	if err := ValidBucketName(bucket); err != nil {
		return err
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.CreateBucket{Name: bucket, Tenant: c.Tenant, Created: n.now().UnixNano()}))
	_, err = result("CreateBucket", bucket, "", res, err)
	return err
}

// bucketFor checks that bucket exists and belongs to the caller.
func bucketFor(r *meta.Reader, op string, c Caller, bucket string) (*meta.Bucket, error) {
	b, ok, err := r.Bucket(bucket)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &objapi.Error{Op: op, Kind: objapi.KindNoSuchBucket, Bucket: bucket}
	}
	if b.Tenant != c.Tenant || b.Purging {
		// A purging bucket's tenant was deleted: nobody may use it, not
		// even a tenant made anew under the same name.
		return nil, &objapi.Error{Op: op, Kind: objapi.KindAccessDenied, Bucket: bucket}
	}
	return b, nil
}

// HeadBucket reports a bucket of the caller's.
func (n *Node) HeadBucket(ctx context.Context, c Caller, bucket string) (BucketInfo, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return BucketInfo{}, err
	}
	var info BucketInfo
	err := n.store.FSM.View(func(r *meta.Reader) error {
		b, err := bucketFor(r, "HeadBucket", c, bucket)
		if err == nil {
			info = BucketInfo{Name: b.Name, Created: time.Unix(0, b.Created), Tenant: b.Tenant}
		}
		return err
	})
	return info, err
}

// maxDeleteAbortParts bounds the parts of uploads in progress one
// DeleteBucket command aborts: as many as one upload may hold, so that the
// deletion costs the metadata no more than one AbortUpload does. A bucket
// whose uploads hold more has them aborted one by one first. (A variable
// so that tests can take that path without 10 000 parts.)
var maxDeleteAbortParts int64 = MaxParts

// DeleteBucket deletes a bucket of the caller's that holds no object.
// Its multipart uploads in progress are aborted with it, in the same
// metadata command, and their parts' shards collected: S3 requires only
// the objects gone
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html);
// uploads in progress hold up the deletion of directory buckets alone
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html).
// While a member's binary predates command level 2, uploads in progress
// refuse the deletion, as they always did.
func (n *Node) DeleteBucket(ctx context.Context, c Caller, bucket string) error {
	const op = "DeleteBucket"
	// Up to date, so that the parts this client just uploaded through
	// another node count.
	if err := n.cons.Linearize(ctx); err != nil {
		return err
	}
	var level meta.Level
	var usage meta.Usage
	err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		if level, err = r.MembersLevel(); err != nil {
			return err
		}
		usage, err = r.Usage(c.Tenant, bucket)
		return err
	})
	if err != nil {
		return err
	}
	cmd := &meta.DeleteBucket{Name: bucket, Tenant: c.Tenant}
	if level >= 2 {
		cmd.AbortUploads, cmd.MaxAbortParts = true, maxDeleteAbortParts
		if usage.UploadParts > maxDeleteAbortParts && usage.Objects == 0 {
			// Too many for one command: abort the uploads one by one,
			// each bounded. (Usage is this node's view; the command
			// decides on the leader's.)
			if err := n.abortBucketUploads(ctx, c, bucket); err != nil {
				return err
			}
		}
	}
	_, err = n.commit(ctx, op, bucket, "", meta.NewCommand(cmd), nil)
	return err
}

// abortBucketUploads aborts every upload in progress of a bucket of the
// caller's, one command each.
func (n *Node) abortBucketUploads(ctx context.Context, c Caller, bucket string) error {
	opts := ListUploadsOptions{MaxUploads: 1000}
	for {
		page, err := n.ListMultipartUploads(ctx, c, bucket, opts)
		if err != nil {
			return err
		}
		for _, u := range page.Uploads {
			if err := n.AbortMultipartUpload(ctx, c, bucket, u.Key, u.UploadID); err != nil && !objapi.IsKind(err, objapi.KindNoSuchUpload) {
				return err
			}
		}
		if !page.Truncated {
			return nil
		}
		opts.KeyMarker, opts.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
}
