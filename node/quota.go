package node

import (
	"context"
	"fmt"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Quotas are decided by the FSM, at the commit of each command that
// stores something (meta/usage.go): that is exact whatever races. A node
// checks them once more before it writes any data, from its own state, so
// that a write the commit would refuse costs no shard streams: the
// refusal comes before the body is read. The FSM still decides; a write
// that passes here and loses a race is refused at the commit and its
// streams collected as any failed write's.

// inlineEstimate is what a stream of size plaintext bytes would keep in
// the metadata: its ciphertext when it is small enough to be kept inline.
func (n *Node) inlineEstimate(size int64) int64 {
	if size < 0 || size > int64(n.cfg.InlineLimit) {
		return 0
	}
	var h crypt.Header
	h[2] = crypt.DefaultPackageShift
	return h.CiphertextSize(size)
}

// quotaRefusal turns the FSM's refusal into the request's error.
func quotaRefusal(op, bucket, key string, e *objapi.Error) error {
	if e == nil {
		return nil
	}
	return &objapi.Error{Op: op, Kind: e.Kind, Bucket: bucket, Key: key, Msg: e.Msg}
}

// checkObjectQuota refuses a new version of bucket/key of size bytes (-1:
// unknown, counted as none) that would take the tenant or the bucket
// beyond a quota, counting the version it replaces.
func (n *Node) checkObjectQuota(op string, c Caller, bucket, key string, size int64) error {
	return n.store.FSM.View(func(r *meta.Reader) error {
		d := meta.Usage{Objects: 1, Bytes: max(size, 0), Inline: n.inlineEstimate(size)}
		old, ok, err := r.Object(bucket, key)
		if err != nil {
			return err
		}
		if ok {
			d.Objects--
			d.Bytes -= old.Size
			for i := range old.Parts {
				d.Inline -= int64(len(old.Parts[i].Inline))
			}
		}
		e, err := r.QuotaRefusal(c.Tenant, bucket, d)
		if err != nil {
			return err
		}
		return quotaRefusal(op, bucket, key, e)
	})
}

// checkPartQuota refuses a part of size bytes that would take the upload
// beyond the parts per upload, or the tenant or the bucket beyond a
// quota, counting the part it replaces.
func (n *Node) checkPartQuota(op string, c Caller, u *meta.Upload, part int, size int64) error {
	return n.store.FSM.View(func(r *meta.Reader) error {
		old, exists, err := r.Part(u.ID, part)
		if err != nil {
			return err
		}
		d := meta.Usage{UploadParts: 1, UploadBytes: max(size, 0), UploadInline: n.inlineEstimate(size)}
		if exists {
			d.UploadParts--
			d.UploadBytes -= old.Size
			d.UploadInline -= int64(len(old.Inline))
		} else {
			usage, err := r.UploadUsage(u.ID)
			if err != nil {
				return err
			}
			e, err := r.PartQuotaRefusal(c.Tenant, u.Bucket, int64(usage.Parts))
			if err != nil || e != nil {
				if err != nil {
					return err
				}
				return quotaRefusal(op, u.Bucket, u.Key, e)
			}
		}
		e, err := r.QuotaRefusal(c.Tenant, u.Bucket, d)
		if err != nil {
			return err
		}
		return quotaRefusal(op, u.Bucket, u.Key, e)
	})
}

// Quota is what an operator bounds a tenant or a bucket to; zero fields
// are no bound.
type Quota = meta.Quota

// Usage is what a tenant or a bucket stores.
type Usage = meta.Usage

// BucketUsage is a bucket's usage and quota.
type BucketUsage struct {
	Bucket string `json:"bucket"`
	UsageReport
	Quota *QuotaReport `json:"quota,omitempty"`
}

// UsageReport is a Usage as operators read it (JSON).
type UsageReport struct {
	Objects        int64 `json:"objects"`
	Bytes          int64 `json:"bytes"`          // logical: the objects' sizes
	PhysicalBytes  int64 `json:"physical_bytes"` // on the drives and in the metadata, erasure overhead included
	InlineBytes    int64 `json:"inline_bytes"`   // kept in the replicated metadata
	Uploads        int64 `json:"uploads"`        // open multipart uploads
	UploadParts    int64 `json:"upload_parts"`
	UploadBytes    int64 `json:"upload_bytes"`
	UploadPhysical int64 `json:"upload_physical_bytes"`
	UploadInline   int64 `json:"upload_inline_bytes"`
	Buckets        int64 `json:"buckets,omitempty"` // a tenant's only
}

func usageReport(u meta.Usage) UsageReport {
	return UsageReport{Objects: u.Objects, Bytes: u.Bytes, PhysicalBytes: u.Physical, InlineBytes: u.Inline, Uploads: u.Uploads,
		UploadParts: u.UploadParts, UploadBytes: u.UploadBytes, UploadPhysical: u.UploadPhysical, UploadInline: u.UploadInline, Buckets: u.Buckets}
}

// QuotaReport is a Quota as operators set and read it (JSON); 0 or an
// absent field is no bound.
type QuotaReport struct {
	Bytes   int64 `json:"bytes,omitempty"`   // logical bytes of objects and open uploads' parts
	Objects int64 `json:"objects,omitempty"` // stored object versions
	Buckets int64 `json:"buckets,omitempty"` // a tenant's only
	Uploads int64 `json:"uploads,omitempty"` // open multipart uploads
	Parts   int64 `json:"parts,omitempty"`   // parts of any one upload
	Inline  int64 `json:"inline_bytes,omitempty"`
}

// Quota converts a report into the quota it states.
func (q QuotaReport) Quota() meta.Quota {
	return meta.Quota{Bytes: q.Bytes, Objects: q.Objects, Buckets: q.Buckets, Uploads: q.Uploads, Parts: q.Parts, Inline: q.Inline}
}

func quotaReport(q *meta.Quota) *QuotaReport {
	if q == nil {
		return nil
	}
	return &QuotaReport{Bytes: q.Bytes, Objects: q.Objects, Buckets: q.Buckets, Uploads: q.Uploads, Parts: q.Parts, Inline: q.Inline}
}

// TenantUsage is what a tenant stores, in all and per bucket, with the
// quotas set: exact as of a linearizable read.
type TenantUsage struct {
	Tenant string `json:"tenant"`
	UsageReport
	Quota   *QuotaReport  `json:"quota,omitempty"`
	Buckets []BucketUsage `json:"by_bucket"`
}

// TenantUsage returns a tenant's stored usage and quotas, as of a
// linearizable read: what every write acknowledged before the call
// counts.
func (n *Node) TenantUsage(ctx context.Context, tenant string) (*TenantUsage, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var out *TenantUsage
	err := n.store.FSM.View(func(r *meta.Reader) error {
		tu, ok, err := r.StoredUsage(tenant)
		if err != nil {
			return err
		}
		if !ok {
			return objapi.Errorf("TenantUsage", objapi.KindNoSuchTenant, "tenant %q does not exist", tenant)
		}
		out = &TenantUsage{Tenant: tenant, UsageReport: usageReport(tu.Usage), Quota: quotaReport(tu.Quota), Buckets: []BucketUsage{}}
		for _, b := range tu.Buckets {
			out.Buckets = append(out.Buckets, BucketUsage{Bucket: b.Bucket, UsageReport: usageReport(b.Usage), Quota: quotaReport(b.Quota)})
		}
		return nil
	})
	return out, err
}

// SetQuota sets the quota of a tenant or, with bucket set, of one of its
// buckets; a zero quota removes it. What is stored stays, even above a
// lowered quota; only growth is refused.
func (n *Node) SetQuota(ctx context.Context, tenant, bucket string, q QuotaReport) error {
	const op = "SetQuota"
	quota := q.Quota()
	if bucket != "" && quota.Buckets != 0 {
		return objapi.Errorf(op, objapi.KindInvalidArgument, "a bucket's quota does not bound buckets")
	}
	_, err := n.commit(ctx, op, bucket, "", meta.NewCommand(&meta.SetQuota{Tenant: tenant, Bucket: bucket, Quota: quota}), nil)
	if err != nil {
		return fmt.Errorf("set the quota of tenant %q: %w", tenant, err)
	}
	return nil
}
