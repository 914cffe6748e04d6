package node_test

import (
	"context"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

func (r *roundRobin) HeadUpload(ctx context.Context, c objapi.Caller, bucket, key, uploadID string) (objapi.UploadInfo, error) {
	return r.n().HeadUpload(ctx, c, bucket, key, uploadID)
}
