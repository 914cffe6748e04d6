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

// DeleteBucket deletes an empty bucket of the caller's.
func (n *Node) DeleteBucket(ctx context.Context, c Caller, bucket string) error {
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.DeleteBucket{Name: bucket, Tenant: c.Tenant}))
	_, err = result("DeleteBucket", bucket, "", res, err)
	return err
}
