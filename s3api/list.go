package s3api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// maxListKeys is S3's default and cap for max-keys.
const maxListKeys = 1000

// listParams are the parameters ListObjects v1 and v2 share.
type listParams struct {
	prefix    string
	delimiter string
	maxKeys   int
	urlEncode bool // encoding-type=url
}

func parseListParams(q url.Values) (listParams, error) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxListKeys}
	if len(p.prefix) > objapi.MaxKeyLen || len(p.delimiter) > objapi.MaxKeyLen {
		return p, errorf("KeyTooLongError", "The prefix or delimiter is longer than the longest key.")
	}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errorf("InvalidArgument", "Provided max-keys not an integer or within integer range")
		}
		p.maxKeys = min(n, maxListKeys)
	}
	switch v := q.Get("encoding-type"); v {
	case "":
	case "url":
		p.urlEncode = true
	default:
		return p, errorf("InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	return p, nil
}

// list runs one listing page. max-keys=0 asks for nothing; S3 answers an
// empty page, but only for a bucket the caller may list.
func (s *Server) list(r *http.Request, rq *request, p listParams, after string) (objapi.ListResult, error) {
	if p.maxKeys == 0 {
		_, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket)
		return objapi.ListResult{}, err
	}
	return s.layer.ListObjects(r.Context(), rq.caller, rq.bucket, objapi.ListOptions{
		Prefix:    p.prefix,
		Delimiter: p.delimiter,
		After:     after,
		MaxKeys:   p.maxKeys,
	})
}

// listObjectsV2 answers ListObjectsV2: pages continue from an opaque
// continuation token that encodes the last key or prefix of the previous
// page; start-after is only honoured on the first page.
func (s *Server) listObjectsV2(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	startAfter := q.Get("start-after")
	after := startAfter
	if q.Has("continuation-token") {
		if after, err = decodeToken(q.Get("continuation-token")); err != nil {
			return err
		}
	}
	res, err := s.list(r, rq, p, after)
	if err != nil {
		return err
	}
	keyCount := len(res.Objects) + len(res.Prefixes)
	out := p.result(rq.bucket, res, strings.EqualFold(q.Get("fetch-owner"), "true"))
	out.KeyCount = &keyCount
	out.ContinuationToken = q.Get("continuation-token")
	out.StartAfter = p.encode(startAfter)
	if res.Truncated {
		out.NextContinuationToken = encodeToken(res.Next)
	}
	return writeXML(w, http.StatusOK, out)
}

// listObjectsV1 answers ListObjects (version 1): pages continue after a
// marker, a key the client picks. NextMarker is only sent with a delimiter,
// as S3 does; without one the last key of the page is the next marker.
func (s *Server) listObjectsV1(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	res, err := s.list(r, rq, p, marker)
	if err != nil {
		return err
	}
	out := p.result(rq.bucket, res, true)
	// Version 1 echoes the prefix as given: S3 does not encode it there,
	// and SDKs (botocore) do not decode it.
	out.Prefix = p.prefix
	m := p.encode(marker)
	out.Marker = &m
	if res.Truncated && p.delimiter != "" {
		out.NextMarker = p.encode(res.Next)
	}
	return writeXML(w, http.StatusOK, out)
}

// result builds the parts of a listing document both versions share.
func (p listParams) result(bucket string, res objapi.ListResult, withOwner bool) *listBucketResult {
	out := &listBucketResult{
		Name:           bucket,
		Prefix:         p.encode(p.prefix),
		Delimiter:      p.encode(p.delimiter),
		MaxKeys:        p.maxKeys,
		IsTruncated:    res.Truncated,
		Contents:       make([]objectItem, 0, len(res.Objects)),
		CommonPrefixes: make([]commonPrefix, 0, len(res.Prefixes)),
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	for _, o := range res.Objects {
		item := objectItem{
			Key:          p.encode(o.Key),
			LastModified: xmlTime(o.Modified),
			ETag:         quoteETag(o.ETag),
			Size:         o.Size,
			StorageClass: o.StorageClass,
		}
		if item.StorageClass == "" {
			item.StorageClass = "STANDARD"
		}
		for _, c := range o.Checksums {
			item.ChecksumAlgorithm = append(item.ChecksumAlgorithm, c.Algorithm)
		}
		if len(o.Checksums) > 0 {
			item.ChecksumType = o.ChecksumType
		}
		if withOwner {
			item.Owner = &owner{ID: o.Owner, DisplayName: o.Owner}
		}
		out.Contents = append(out.Contents, item)
	}
	for _, pre := range res.Prefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(pre)})
	}
	return out
}

// encode applies encoding-type=url to a name in a listing.
func (p listParams) encode(s string) string {
	if !p.urlEncode {
		return s
	}
	return s3URLEncode(s)
}

// s3URLEncode encodes a key the way S3 does for encoding-type=url: like
// a form value (space as "+", which clients decode with
// url.QueryUnescape and its kin), but keeping "/" and "*" readable.
// This is what lets keys with characters XML cannot carry (control
// characters) be listed.
func s3URLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '/', c == '*':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// tokenVersion starts every continuation token, so that the encoding can
// change later and old tokens are still understood.
const tokenVersion = 1

// encodeToken makes the opaque continuation token for "continue after
// name". It is not secret and needs no integrity: a forged token only
// lists after a key the client could name with start-after anyway.
func encodeToken(name string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{tokenVersion}, name...))
}

func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || b[0] != tokenVersion {
		return "", errorf("InvalidArgument", "The continuation token provided is incorrect")
	}
	return string(b[1:]), nil
}
