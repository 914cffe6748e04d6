package node

import (
	"context"
	"unicode/utf8"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// S3's limits on object and bucket tags.
const (
	maxTags        = 10 // on an object
	maxBucketTags  = 50
	maxTagKeyLen   = 128 // Unicode characters
	maxTagValueLen = 256
)

// validTags checks an object's tag set against S3's rules.
func validTags(tags []Tag) error { return validTagSet(tags, maxTags, "object") }

// validTagSet checks a tag set against S3's rules, at most limit tags.
func validTagSet(tags []Tag, limit int, of string) error {
	if len(tags) > limit {
		return objapi.Errorf("tagging", objapi.KindInvalidTag, "%s tags cannot be greater than %d", of, limit)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKeyLen || !utf8.ValidString(t.Key):
			return objapi.Errorf("tagging", objapi.KindInvalidTag, "the TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > maxTagValueLen || !utf8.ValidString(t.Value):
			return objapi.Errorf("tagging", objapi.KindInvalidTag, "the TagValue you have provided is invalid")
		case seen[t.Key]:
			return objapi.Errorf("tagging", objapi.KindInvalidTag, "cannot provide multiple tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// GetObjectTagging returns an object's tags (empty if it has none).
func (n *Node) GetObjectTagging(ctx context.Context, c Caller, bucket, key string) ([]Tag, error) {
	tags, _, err := n.GetVersionTagging(ctx, c, bucket, key, "")
	return tags, err
}

// GetVersionTagging returns a version's tags and its version id.
func (n *Node) GetVersionTagging(ctx context.Context, c Caller, bucket, key, versionID string) ([]Tag, string, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, "", err
	}
	var tags []Tag
	var id string
	err := n.store.FSM.View(func(r *meta.Reader) error {
		o, _, _, sm, err := n.openVersion(r, "GetObjectTagging", c, bucket, key, versionID)
		if err == nil {
			tags, id = sm.Tags, o.S3VersionID()
		}
		return err
	})
	return tags, id, err
}

// PutObjectTagging replaces an object's tags. Tags are sealed with the
// object's metadata, so this re-seals it for the current version; a version
// replaced meanwhile makes it retry on the new one.
func (n *Node) PutObjectTagging(ctx context.Context, c Caller, bucket, key string, tags []Tag) error {
	_, err := n.PutVersionTagging(ctx, c, bucket, key, "", tags)
	return err
}

// PutVersionTagging replaces a version's tags.
func (n *Node) PutVersionTagging(ctx context.Context, c Caller, bucket, key, versionID string, tags []Tag) (string, error) {
	if err := validTags(tags); err != nil {
		return "", err
	}
	return n.updateMeta(ctx, "PutObjectTagging", c, bucket, key, versionID, func(sm *sealedMeta) { sm.Tags = tags })
}

// DeleteObjectTagging removes an object's tags.
func (n *Node) DeleteObjectTagging(ctx context.Context, c Caller, bucket, key string) error {
	_, err := n.DeleteVersionTagging(ctx, c, bucket, key, "")
	return err
}

// DeleteVersionTagging removes a version's tags.
func (n *Node) DeleteVersionTagging(ctx context.Context, c Caller, bucket, key, versionID string) (string, error) {
	return n.updateMeta(ctx, "DeleteObjectTagging", c, bucket, key, versionID, func(sm *sealedMeta) { sm.Tags = nil })
}

// updateMeta re-seals a version's metadata after change: the current
// version (retried if it is replaced meanwhile) or the one with S3 version
// id versionID. It answers the version id.
func (n *Node) updateMeta(ctx context.Context, op string, c Caller, bucket, key, versionID string, change func(*sealedMeta)) (string, error) {
	for attempt := 0; ; attempt++ {
		if err := n.cons.Linearize(ctx); err != nil {
			return "", err
		}
		var (
			o      *meta.Object
			dk     *crypt.DataKey
			sm     sealedMeta
			sealed []byte
			limits *meta.Limits
		)
		err := n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			o, _, dk, sm, err = n.openVersion(r, op, c, bucket, key, versionID)
			limits = n.limits(r)
			return err
		})
		if err != nil {
			return "", err
		}
		change(&sm)
		if sealed, err = sealMeta(dk, sm, objectAD(c.Tenant, bucket, key, o.VersionID)); err != nil {
			return "", err
		}
		cmd := &meta.SetObjectMeta{Bucket: bucket, Key: key, Tenant: c.Tenant, VersionID: o.VersionID, SealedMeta: sealed, Limits: limits, Seq: o.Seq}
		res, err := n.cons.Propose(ctx, meta.NewCommand(cmd))
		_, err = result(op, bucket, key, res, err)
		if objapi.IsKind(err, objapi.KindConflict) && attempt < 3 && versionID == "" {
			continue // the object was replaced meanwhile: tag the new version
		}
		return o.S3VersionID(), err
	}
}

// PutBucketTagging replaces a bucket's tags.
func (n *Node) PutBucketTagging(ctx context.Context, c Caller, bucket string, tags []Tag) error {
	if len(tags) == 0 {
		return objapi.Errorf("PutBucketTagging", objapi.KindMalformedXML, "a TagSet needs at least one Tag")
	}
	if err := validTagSet(tags, maxBucketTags, "bucket"); err != nil {
		return err
	}
	return n.propose(ctx, "PutBucketTagging", bucket, "", &meta.SetBucketTags{Bucket: bucket, Tenant: c.Tenant, Tags: toMetaTags(tags)})
}

// GetBucketTagging returns a bucket's tags, or KindNoSuchTagSet.
func (n *Node) GetBucketTagging(ctx context.Context, c Caller, bucket string) ([]Tag, error) {
	var tags []Tag
	err := n.bucketView(ctx, "GetBucketTagging", c, bucket, func(r *meta.Reader, _ *meta.Bucket) error {
		stored, err := r.BucketTags(bucket)
		if err != nil {
			return err
		}
		if len(stored) == 0 {
			return &objapi.Error{Op: "GetBucketTagging", Kind: objapi.KindNoSuchTagSet, Bucket: bucket}
		}
		tags = fromMetaTags(stored)
		return nil
	})
	return tags, err
}

// DeleteBucketTagging removes a bucket's tags.
func (n *Node) DeleteBucketTagging(ctx context.Context, c Caller, bucket string) error {
	return n.propose(ctx, "DeleteBucketTagging", bucket, "", &meta.SetBucketTags{Bucket: bucket, Tenant: c.Tenant})
}

// toMetaTags and fromMetaTags convert tag sets between the object layer
// and the metadata records (nil for none).
func toMetaTags(tags []Tag) []meta.Tag {
	var out []meta.Tag
	for _, t := range tags {
		out = append(out, meta.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func fromMetaTags(tags []meta.Tag) []Tag {
	var out []Tag
	for _, t := range tags {
		out = append(out, Tag{Key: t.Key, Value: t.Value})
	}
	return out
}
