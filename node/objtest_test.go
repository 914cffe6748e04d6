package node_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/objapi/objtest"
)

// TestConformance runs the object layer's conformance suite — the one
// s3api's in-memory double passes too — against a three-node cluster,
// each call through the next node in turn, so that every behaviour holds
// whichever node a client reaches and whichever wrote before.
func TestConformance(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objtest.Env {
		c := startNodes(t, 3)
		ctx := context.Background()
		var callers []objapi.Caller
		for _, tenant := range []string{"gemeinde-conform", "landkreis-conform"} {
			info, err := c.nodes[0].CreateTenant(ctx, tenant, "", "")
			if err != nil {
				t.Fatal(err)
			}
			callers = append(callers, objapi.Caller{Tenant: tenant, AccessKey: info.AccessKey})
		}
		colleague, err := c.nodes[1].CreateAccessKey(ctx, callers[0].Tenant, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return objtest.Env{Layer: &roundRobin{nodes: c.nodes}, Caller: callers[0], Other: callers[1],
			Versioning: true, Colleague: objapi.Caller{Tenant: callers[0].Tenant, AccessKey: colleague.AccessKey},
			AllowBypass: func(accessKey string) {
				if err := c.nodes[2].SetKeyBypass(ctx, callers[0].Tenant, accessKey, true); err != nil {
					t.Fatal(err)
				}
			}}
	})
}

// roundRobin sends each call to the next node.
type roundRobin struct {
	nodes []*node.Node
	next  atomic.Uint64
}

func (r *roundRobin) n() *node.Node {
	return r.nodes[(r.next.Add(1)-1)%uint64(len(r.nodes))]
}

func (r *roundRobin) ListBuckets(ctx context.Context, c objapi.Caller) ([]objapi.BucketInfo, error) {
	return r.n().ListBuckets(ctx, c)
}

func (r *roundRobin) CreateBucket(ctx context.Context, c objapi.Caller, bucket string) error {
	return r.n().CreateBucket(ctx, c, bucket)
}

func (r *roundRobin) HeadBucket(ctx context.Context, c objapi.Caller, bucket string) (objapi.BucketInfo, error) {
	return r.n().HeadBucket(ctx, c, bucket)
}

func (r *roundRobin) DeleteBucket(ctx context.Context, c objapi.Caller, bucket string) error {
	return r.n().DeleteBucket(ctx, c, bucket)
}

func (r *roundRobin) PutObject(ctx context.Context, c objapi.Caller, bucket, key string, body io.Reader, opts objapi.PutOptions) (objapi.ObjectInfo, error) {
	return r.n().PutObject(ctx, c, bucket, key, body, opts)
}

func (r *roundRobin) GetObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.GetOptions) (*objapi.Object, error) {
	return r.n().GetObject(ctx, c, bucket, key, opts)
}

func (r *roundRobin) DeleteObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.DeleteOptions) error {
	return r.n().DeleteObject(ctx, c, bucket, key, opts)
}

func (r *roundRobin) DeleteObjects(ctx context.Context, c objapi.Caller, bucket string, keys []string) ([]objapi.DeleteResult, error) {
	return r.n().DeleteObjects(ctx, c, bucket, keys)
}

func (r *roundRobin) ListObjects(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListOptions) (objapi.ListResult, error) {
	return r.n().ListObjects(ctx, c, bucket, opts)
}

func (r *roundRobin) CopyObject(ctx context.Context, c objapi.Caller, src objapi.CopySource, bucket, key string, opts objapi.CopyOptions) (objapi.ObjectInfo, error) {
	return r.n().CopyObject(ctx, c, src, bucket, key, opts)
}

func (r *roundRobin) CreateMultipartUpload(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.PutOptions) (string, error) {
	return r.n().CreateMultipartUpload(ctx, c, bucket, key, opts)
}

func (r *roundRobin) UploadPart(ctx context.Context, c objapi.Caller, bucket, key, uploadID string, part int, body io.Reader, opts objapi.PartOptions) (objapi.PartInfo, error) {
	return r.n().UploadPart(ctx, c, bucket, key, uploadID, part, body, opts)
}

func (r *roundRobin) UploadPartCopy(ctx context.Context, c objapi.Caller, src objapi.CopySource, bucket, key, uploadID string, part int) (objapi.PartInfo, error) {
	return r.n().UploadPartCopy(ctx, c, src, bucket, key, uploadID, part)
}

func (r *roundRobin) CompleteMultipartUpload(ctx context.Context, c objapi.Caller, bucket, key, uploadID string, parts []objapi.CompletePart, opts objapi.CompleteOptions) (objapi.ObjectInfo, error) {
	return r.n().CompleteMultipartUpload(ctx, c, bucket, key, uploadID, parts, opts)
}

func (r *roundRobin) AbortMultipartUpload(ctx context.Context, c objapi.Caller, bucket, key, uploadID string) error {
	return r.n().AbortMultipartUpload(ctx, c, bucket, key, uploadID)
}

func (r *roundRobin) ListParts(ctx context.Context, c objapi.Caller, bucket, key, uploadID string, opts objapi.ListPartsOptions) (objapi.ListPartsResult, error) {
	return r.n().ListParts(ctx, c, bucket, key, uploadID, opts)
}

func (r *roundRobin) ListMultipartUploads(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListUploadsOptions) (objapi.ListUploadsResult, error) {
	return r.n().ListMultipartUploads(ctx, c, bucket, opts)
}

func (r *roundRobin) GetObjectTagging(ctx context.Context, c objapi.Caller, bucket, key string) ([]objapi.Tag, error) {
	return r.n().GetObjectTagging(ctx, c, bucket, key)
}

func (r *roundRobin) PutObjectTagging(ctx context.Context, c objapi.Caller, bucket, key string, tags []objapi.Tag) error {
	return r.n().PutObjectTagging(ctx, c, bucket, key, tags)
}

func (r *roundRobin) DeleteObjectTagging(ctx context.Context, c objapi.Caller, bucket, key string) error {
	return r.n().DeleteObjectTagging(ctx, c, bucket, key)
}

func (r *roundRobin) PutBucketCors(ctx context.Context, c objapi.Caller, bucket string, rules []objapi.CORSRule) error {
	return r.n().PutBucketCors(ctx, c, bucket, rules)
}

func (r *roundRobin) GetBucketCors(ctx context.Context, c objapi.Caller, bucket string) ([]objapi.CORSRule, error) {
	return r.n().GetBucketCors(ctx, c, bucket)
}

func (r *roundRobin) DeleteBucketCors(ctx context.Context, c objapi.Caller, bucket string) error {
	return r.n().DeleteBucketCors(ctx, c, bucket)
}

func (r *roundRobin) PutBucketTagging(ctx context.Context, c objapi.Caller, bucket string, tags []objapi.Tag) error {
	return r.n().PutBucketTagging(ctx, c, bucket, tags)
}

func (r *roundRobin) GetBucketTagging(ctx context.Context, c objapi.Caller, bucket string) ([]objapi.Tag, error) {
	return r.n().GetBucketTagging(ctx, c, bucket)
}

func (r *roundRobin) DeleteBucketTagging(ctx context.Context, c objapi.Caller, bucket string) error {
	return r.n().DeleteBucketTagging(ctx, c, bucket)
}

func (r *roundRobin) BucketCORS(ctx context.Context, bucket string) ([]objapi.CORSRule, error) {
	return r.n().BucketCORS(ctx, bucket)
}

func (r *roundRobin) CreateBucketWith(ctx context.Context, c objapi.Caller, bucket string, opts objapi.CreateBucketOptions) error {
	return r.n().CreateBucketWith(ctx, c, bucket, opts)
}

func (r *roundRobin) PutBucketVersioning(ctx context.Context, c objapi.Caller, bucket, status string) error {
	return r.n().PutBucketVersioning(ctx, c, bucket, status)
}

func (r *roundRobin) GetBucketVersioning(ctx context.Context, c objapi.Caller, bucket string) (string, error) {
	return r.n().GetBucketVersioning(ctx, c, bucket)
}

func (r *roundRobin) DeleteVersion(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.DeleteOptions) (objapi.DeleteInfo, error) {
	return r.n().DeleteVersion(ctx, c, bucket, key, opts)
}

func (r *roundRobin) DeleteVersions(ctx context.Context, c objapi.Caller, bucket string, objs []objapi.ObjectVersion, bypassGovernance bool) ([]objapi.DeleteResult, error) {
	return r.n().DeleteVersions(ctx, c, bucket, objs, bypassGovernance)
}

func (r *roundRobin) ListObjectVersions(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListVersionsOptions) (objapi.ListVersionsResult, error) {
	return r.n().ListObjectVersions(ctx, c, bucket, opts)
}

func (r *roundRobin) PutObjectLockConfiguration(ctx context.Context, c objapi.Caller, bucket string, cfg objapi.ObjectLockConfig) error {
	return r.n().PutObjectLockConfiguration(ctx, c, bucket, cfg)
}

func (r *roundRobin) GetObjectLockConfiguration(ctx context.Context, c objapi.Caller, bucket string) (objapi.ObjectLockConfig, error) {
	return r.n().GetObjectLockConfiguration(ctx, c, bucket)
}

func (r *roundRobin) PutObjectRetention(ctx context.Context, c objapi.Caller, bucket, key, versionID string, ret objapi.Retention, bypassGovernance bool) error {
	return r.n().PutObjectRetention(ctx, c, bucket, key, versionID, ret, bypassGovernance)
}

func (r *roundRobin) GetObjectRetention(ctx context.Context, c objapi.Caller, bucket, key, versionID string) (objapi.Retention, error) {
	return r.n().GetObjectRetention(ctx, c, bucket, key, versionID)
}

func (r *roundRobin) PutObjectLegalHold(ctx context.Context, c objapi.Caller, bucket, key, versionID string, on bool) error {
	return r.n().PutObjectLegalHold(ctx, c, bucket, key, versionID, on)
}

func (r *roundRobin) GetObjectLegalHold(ctx context.Context, c objapi.Caller, bucket, key, versionID string) (bool, error) {
	return r.n().GetObjectLegalHold(ctx, c, bucket, key, versionID)
}

func (r *roundRobin) PutBucketLifecycle(ctx context.Context, c objapi.Caller, bucket string, rules []objapi.LifecycleRule) error {
	return r.n().PutBucketLifecycle(ctx, c, bucket, rules)
}

func (r *roundRobin) GetBucketLifecycle(ctx context.Context, c objapi.Caller, bucket string) ([]objapi.LifecycleRule, error) {
	return r.n().GetBucketLifecycle(ctx, c, bucket)
}

func (r *roundRobin) DeleteBucketLifecycle(ctx context.Context, c objapi.Caller, bucket string) error {
	return r.n().DeleteBucketLifecycle(ctx, c, bucket)
}

func (r *roundRobin) GetVersionTagging(ctx context.Context, c objapi.Caller, bucket, key, versionID string) ([]objapi.Tag, string, error) {
	return r.n().GetVersionTagging(ctx, c, bucket, key, versionID)
}

func (r *roundRobin) PutVersionTagging(ctx context.Context, c objapi.Caller, bucket, key, versionID string, tags []objapi.Tag) (string, error) {
	return r.n().PutVersionTagging(ctx, c, bucket, key, versionID, tags)
}

func (r *roundRobin) DeleteVersionTagging(ctx context.Context, c objapi.Caller, bucket, key, versionID string) (string, error) {
	return r.n().DeleteVersionTagging(ctx, c, bucket, key, versionID)
}

var _ objapi.Layer = (*roundRobin)(nil)
