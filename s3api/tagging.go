package s3api

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Object tags: the x-amz-tagging header of writes, the ?tagging
// subresource (GetObjectTagging, PutObjectTagging, DeleteObjectTagging),
// and S3's limits on them; and a bucket's tags (Get/Put/DeleteBucketTagging).

const (
	maxTags        = 10  // tags per object
	maxBucketTags  = 50  // tags per bucket
	maxTagKeyLen   = 128 // Unicode characters
	maxTagValueLen = 256 // Unicode characters
	// maxTaggingBody bounds a Tagging document: ten tags of at most 384
	// characters of up to 4 bytes, with room for markup and whitespace.
	maxTaggingBody = 64 << 10
)

// tagging is the Tagging document of PutObjectTagging (and of POST forms'
// tagging field).
type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  *tagSet  `xml:"TagSet"`
	bucket  bool     // a bucket's tags (up to maxBucketTags), not an object's
}

// limit is how many tags the document may hold.
func (doc *tagging) limit() int {
	if doc.bucket {
		return maxBucketTags
	}
	return maxTags
}

// taggingLimits bound PutObjectTagging's document while it is read,
// bucketTaggingLimits PutBucketTagging's.
var (
	taggingLimits       = listDocLimits(maxTaggingBody, 16*maxTags)
	bucketTaggingLimits = listDocLimits(maxTaggingBody*maxBucketTags/maxTags, 16*maxBucketTags)
)

// read reads the document from its root, one Tag at a time, and stops at
// the first beyond maxTags.
func (doc *tagging) read(d *xml.Decoder, root xml.StartElement) error {
	if root.Name.Local != "Tagging" {
		return malformedXML("the root element is not Tagging.")
	}
	return eachChild(d, func(child xml.StartElement) error {
		if child.Name.Local != "TagSet" {
			return d.Skip()
		}
		if doc.TagSet == nil {
			// Tags of several TagSets add up, as they do when decoded
			// whole.
			doc.TagSet = &tagSet{}
		}
		return eachChild(d, func(child xml.StartElement) error {
			if child.Name.Local != "Tag" {
				return d.Skip()
			}
			if len(doc.TagSet.Tags) == doc.limit() {
				return tooManyTags(doc.limit())
			}
			var t xmlTag
			if err := d.DecodeElement(&t, &child); err != nil {
				return err
			}
			doc.TagSet.Tags = append(doc.TagSet.Tags, t)
			return nil
		})
	})
}

func tooManyTags(limit int) error {
	of := "Object"
	if limit == maxBucketTags {
		of = "Bucket"
	}
	return errorf("InvalidTag", fmt.Sprintf("%s tags cannot be greater than %d", of, limit))
}

type tagSet struct {
	Tags []xmlTag `xml:"Tag"`
}

type xmlTag struct {
	Key   *string `xml:"Key"`
	Value *string `xml:"Value"`
}

// taggingResult answers GetObjectTagging.
type taggingResult struct {
	XMLName xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	Tags    []resultTag `xml:"TagSet>Tag"`
}

type resultTag struct {
	Key   string
	Value string
}

// taggingHeader parses x-amz-tagging: tags as URL query parameters
// ("a=1&b=2"), in order. A parameter without "=" is a tag with an empty
// value, as S3 takes it.
func taggingHeader(h http.Header) ([]objapi.Tag, error) {
	vs, ok := h["X-Amz-Tagging"]
	if !ok {
		return nil, nil
	}
	bad := errorf("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	if len(vs) != 1 {
		return nil, bad
	}
	var tags []objapi.Tag
	for piece := range strings.SplitSeq(vs[0], "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, bad
		}
		tags = append(tags, objapi.Tag{Key: key, Value: value})
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// parseTagging reads a Tagging document. Every Tag needs a Key and a
// Value (which may be empty).
func parseTagging(doc tagging) ([]objapi.Tag, error) {
	if doc.TagSet == nil {
		return nil, errorf("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: Tagging needs a TagSet.")
	}
	tags := make([]objapi.Tag, 0, len(doc.TagSet.Tags))
	for _, t := range doc.TagSet.Tags {
		if t.Key == nil || t.Value == nil {
			return nil, errorf("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: every Tag needs a Key and a Value.")
		}
		tags = append(tags, objapi.Tag{Key: *t.Key, Value: *t.Value})
	}
	if err := validateTagSet(tags, doc.limit()); err != nil {
		return nil, err
	}
	return tags, nil
}

// validateTags applies S3's limits on object tags.
func validateTags(tags []objapi.Tag) error { return validateTagSet(tags, maxTags) }

// validateTagSet applies S3's limits on tags, at most limit of them.
func validateTagSet(tags []objapi.Tag, limit int) error {
	if len(tags) > limit {
		return tooManyTags(limit)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || !utf8.ValidString(t.Key):
			return errorf("InvalidTag", "The TagKey you have provided is invalid")
		case !utf8.ValidString(t.Value):
			return errorf("InvalidTag", "The TagValue you have provided is invalid")
		case utf8.RuneCountInString(t.Key) > maxTagKeyLen:
			return errorf("InvalidTag", fmt.Sprintf("The TagKey you have provided is too long, max %d", maxTagKeyLen))
		case utf8.RuneCountInString(t.Value) > maxTagValueLen:
			return errorf("InvalidTag", fmt.Sprintf("The TagValue you have provided is too long, max %d", maxTagValueLen))
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return errorf("InvalidTag", "Your TagKey cannot be prefixed with aws:")
		case seen[t.Key]:
			return errorf("InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// getObjectTagging answers the tags of an object's current version, or
// of the version named (GetObjectTagging).
func (s *Server) getObjectTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	tags, version, err := s.layer.GetVersionTagging(r.Context(), rq.caller, rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	setVersionID(w.Header(), version, vid)
	return writeXML(w, http.StatusOK, tagSetResult(tags))
}

// putObjectTagging replaces an object's tags (PutObjectTagging).
func (s *Server) putObjectTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	tags, err := s.readTagging(r, rq, false)
	if err != nil {
		return err
	}
	version, err := s.layer.PutVersionTagging(r.Context(), rq.caller, rq.bucket, rq.key, vid, tags)
	if err != nil {
		return err
	}
	setVersionID(w.Header(), version, vid)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteObjectTagging removes an object's tags (DeleteObjectTagging).
func (s *Server) deleteObjectTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	version, err := s.layer.DeleteVersionTagging(r.Context(), rq.caller, rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	setVersionID(w.Header(), version, vid)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketTagging answers a bucket's tags (GetBucketTagging).
func (s *Server) getBucketTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	tags, err := s.layer.GetBucketTagging(r.Context(), rq.caller, rq.bucket)
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, tagSetResult(tags))
}

// putBucketTagging replaces a bucket's tags (PutBucketTagging). S3 answers
// 204.
func (s *Server) putBucketTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	tags, err := s.readTagging(r, rq, true)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return errorf("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: a bucket's TagSet needs a Tag.")
	}
	if err := s.layer.PutBucketTagging(r.Context(), rq.caller, rq.bucket, tags); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteBucketTagging removes a bucket's tags (DeleteBucketTagging).
func (s *Server) deleteBucketTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.layer.DeleteBucketTagging(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tagSetResult is a Tagging answer: tags in key order, as S3 lists them
// whatever order they were written in.
func tagSetResult(tags []objapi.Tag) *taggingResult {
	res := taggingResult{Tags: make([]resultTag, len(tags))}
	for i, t := range tags {
		res.Tags[i] = resultTag(t)
	}
	slices.SortFunc(res.Tags, func(a, b resultTag) int { return strings.Compare(a.Key, b.Key) })
	return &res
}

// readTagging reads and checks the Tagging document of PutObjectTagging
// or (bucket) PutBucketTagging. The bucket must be the caller's before the
// document is read. (The object is not looked up: that would read and
// unseal its metadata, more than reading its tags costs.)
func (s *Server) readTagging(r *http.Request, rq *request, bucket bool) ([]objapi.Tag, error) {
	want, err := requestDigest(r.Header, false)
	if err != nil {
		return nil, err
	}
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return nil, err
	}
	doc, limits := tagging{bucket: bucket}, taggingLimits
	if bucket {
		limits = bucketTaggingLimits
	}
	empty, err := readXMLRequest(rq, want, limits, doc.read)
	if err != nil {
		return nil, err
	}
	if empty {
		return nil, errorf("MalformedXML", "")
	}
	return parseTagging(doc)
}
