package node

import (
	"context"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// A bucket's CORS rules are public configuration: browsers send preflight
// requests unsigned, so the rules are kept in clear, apart from the bucket
// record (meta.Reader.BucketCORS), so that listing buckets never reads
// them.

func toMetaCORS(rules []CORSRule) []meta.CORSRule {
	out := make([]meta.CORSRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, meta.CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	return out
}

func fromMetaCORS(rules []meta.CORSRule) []CORSRule {
	var out []CORSRule
	for _, r := range rules {
		out = append(out, CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	return out
}

// PutBucketCors sets a bucket's CORS rules (s3api validated them).
func (n *Node) PutBucketCors(ctx context.Context, c Caller, bucket string, rules []CORSRule) error {
	if len(rules) == 0 {
		return objapi.Errorf("PutBucketCors", objapi.KindMalformedXML, "a CORS configuration needs at least one rule")
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.PutBucketCORS{Bucket: bucket, Tenant: c.Tenant, Rules: toMetaCORS(rules)}))
	_, err = result("PutBucketCors", bucket, "", res, err)
	return err
}

// GetBucketCors returns a bucket's CORS rules, or KindNoSuchCORS.
func (n *Node) GetBucketCors(ctx context.Context, c Caller, bucket string) ([]CORSRule, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var rules []CORSRule
	err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, err := bucketFor(r, "GetBucketCors", c, bucket); err != nil {
			return err
		}
		stored, err := r.BucketCORS(bucket)
		if err != nil {
			return err
		}
		if len(stored) == 0 {
			return &objapi.Error{Op: "GetBucketCors", Kind: objapi.KindNoSuchCORS, Bucket: bucket}
		}
		rules = fromMetaCORS(stored)
		return nil
	})
	return rules, err
}

// DeleteBucketCors removes a bucket's CORS rules.
func (n *Node) DeleteBucketCors(ctx context.Context, c Caller, bucket string) error {
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.PutBucketCORS{Bucket: bucket, Tenant: c.Tenant}))
	_, err = result("DeleteBucketCors", bucket, "", res, err)
	return err
}

// BucketCORS returns a bucket's CORS rules for a request that is not signed
// (a browser's preflight): no caller, no ownership check; nil if the bucket
// or its configuration does not exist.
func (n *Node) BucketCORS(ctx context.Context, bucket string) ([]CORSRule, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var rules []CORSRule
	err := n.store.FSM.View(func(r *meta.Reader) error {
		stored, err := r.BucketCORS(bucket)
		rules = fromMetaCORS(stored)
		return err
	})
	return rules, err
}
