package objapi

import "strings"

// UnquoteETag strips what clients put around an ETag they send back:
// surrounding space, a weak marker (W/) and the double quotes.
func UnquoteETag(etag string) string {
	etag = strings.TrimSpace(etag)
	etag = strings.TrimPrefix(etag, "W/")
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		etag = etag[1 : len(etag)-1]
	}
	return etag
}

// ETagMatches reports whether list — the value of an If-Match or
// If-None-Match header (or x-amz-copy-source-if-match, …) — names etag:
// it is "*", or one of its comma-separated entity tags, quoted or not,
// strong or weak (the W/ marker is ignored, as S3 ignores it), is etag.
// etag is an object's ETag as the object layer keeps it, without quotes.
func ETagMatches(list, etag string) bool {
	for e := range strings.SplitSeq(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || UnquoteETag(e) == etag {
			return true
		}
	}
	return false
}
