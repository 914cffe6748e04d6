package s3api

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Server-side copies: CopyObject (PUT with x-amz-copy-source) and
// UploadPartCopy (the same on a part). No object byte passes through
// s3api: the object layer reads the source and writes the destination.

// copyObjectResult answers CopyObject.
type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string
	LastModified string
	ChecksumType string        `xml:",omitempty"`
	Checksums    []xmlChecksum `xml:",any"`
}

// copyPartResult answers UploadPartCopy.
type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string
	LastModified string
	Checksums    []xmlChecksum `xml:",any"`
}

// copySource reads x-amz-copy-source and the source's conditions
// (x-amz-copy-source-if-*), which the object layer evaluates.
func copySource(h http.Header) (objapi.CopySource, error) {
	var src objapi.CopySource
	var err error
	if src.Bucket, src.Key, src.VersionID, err = parseCopySource(h.Get("X-Amz-Copy-Source")); err != nil {
		return src, err
	}
	// ETag lists as sent: the object layer matches them (objapi.ETagMatches).
	src.IfMatch = strings.TrimSpace(h.Get("X-Amz-Copy-Source-If-Match"))
	src.IfNoneMatch = strings.TrimSpace(h.Get("X-Amz-Copy-Source-If-None-Match"))
	// Dates that do not parse are ignored, as HTTP and S3 ignore them.
	if t, err := http.ParseTime(h.Get("X-Amz-Copy-Source-If-Modified-Since")); err == nil {
		src.IfModifiedSince = t
	}
	if t, err := http.ParseTime(h.Get("X-Amz-Copy-Source-If-Unmodified-Since")); err == nil {
		src.IfUnmodifiedSince = t
	}
	return src, nil
}

// parseCopySource splits x-amz-copy-source, "bucket/key" URL-encoded, with
// or without a leading slash, optionally followed by "?versionId=…", the
// source's version ("" for the current one). An unencoded '?' starts that
// query, as in S3: a key's own '?' arrives as %3F.
func parseCopySource(v string) (bucket, key, versionID string, err error) {
	bad := errorf("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	path, query, hasQuery := strings.Cut(v, "?")
	if hasQuery {
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", "", bad
		}
		for name := range q {
			if name != "versionId" {
				return "", "", "", bad
			}
		}
		if versionID, err = versionParam(q); err != nil {
			return "", "", "", err
		}
	}
	dec, err := url.PathUnescape(path)
	if err != nil || !utf8.ValidString(dec) {
		return "", "", "", bad
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(dec, "/"), "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", bad
	}
	if err := objapi.ValidObjectKey(key); err != nil {
		return "", "", "", err
	}
	return bucket, key, versionID, nil
}

// copyObject copies an object (CopyObject). x-amz-metadata-directive
// COPY (the default) keeps the source's content type, standard headers
// and user metadata; REPLACE takes the request's. x-amz-tagging-directive
// does the same for tags.
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	src, err := copySource(r.Header)
	if err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	var opts objapi.CopyOptions
	if opts.ReplaceMetadata, err = directive(r.Header, "X-Amz-Metadata-Directive", "metadata"); err != nil {
		return err
	}
	if opts.ReplaceTags, err = directive(r.Header, "X-Amz-Tagging-Directive", "tagging"); err != nil {
		return err
	}
	if opts.Put, err = putOptions(r.Header); err != nil {
		return err
	}
	if opts.Put.IfNoneMatch, opts.Put.IfMatch, err = writeConditions(r.Header); err != nil {
		return err
	}
	if v := r.Header.Get("X-Amz-Checksum-Algorithm"); v != "" {
		if opts.Put.ChecksumAlgorithm, err = parseChecksumAlgorithm(v); err != nil {
			return err
		}
	}
	if opts.Put.Lock, err = lockHeaders(r.Header, s.now()); err != nil {
		return err
	}
	info, err := s.layer.CopyObject(r.Context(), rq.caller, src, rq.bucket, rq.key, opts)
	if err != nil {
		return err
	}
	res := copyObjectResult{
		ETag:         quoteETag(info.ETag),
		LastModified: xmlTime(info.Modified),
		Checksums:    xmlChecksums(info.Checksums),
	}
	if len(info.Checksums) > 0 {
		res.ChecksumType = info.ChecksumType
	}
	h := w.Header()
	h.Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	setWriteVersion(h, info)
	setCopySourceVersion(h, src, info.CopySourceVersionID)
	return writeXML(w, http.StatusOK, &res)
}

// setCopySourceVersion writes x-amz-copy-source-version-id: the version
// the layer copied (copied), or, if it does not say, the one the request
// named. A null version is named only when the request named it.
func setCopySourceVersion(h http.Header, src objapi.CopySource, copied string) {
	switch {
	case copied != "" && copied != "null":
		h.Set("X-Amz-Copy-Source-Version-Id", copied)
	case src.VersionID != "":
		h.Set("X-Amz-Copy-Source-Version-Id", src.VersionID)
	}
}

// directive parses x-amz-metadata-directive or x-amz-tagging-directive:
// COPY (or absent) is false, REPLACE true.
func directive(h http.Header, name, what string) (replace bool, err error) {
	switch v := h.Get(name); v {
	case "", "COPY":
		return false, nil
	case "REPLACE":
		return true, nil
	}
	return false, errorf("InvalidArgument", "Unknown "+what+" directive.")
}

// uploadPartCopy makes a part from an existing object or a range of it
// (UploadPartCopy).
func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	part, err := parsePartNumber(rq.query.Get("partNumber"))
	if err != nil {
		return err
	}
	src, err := copySource(r.Header)
	if err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	if v, ok := r.Header["X-Amz-Copy-Source-Range"]; ok {
		if src.Range, err = parseCopyRange(strings.Join(v, ",")); err != nil {
			return err
		}
	}
	info, err := s.layer.UploadPartCopy(r.Context(), rq.caller, src, rq.bucket, rq.key, rq.query.Get("uploadId"), part)
	if objapi.IsKind(err, objapi.KindInvalidRange) {
		return s.badCopyRange(r, rq, src, err)
	}
	if err != nil {
		return err
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	setCopySourceVersion(w.Header(), src, "")
	return writeXML(w, http.StatusOK, &copyPartResult{
		ETag:         quoteETag(info.ETag),
		LastModified: xmlTime(info.Modified),
		Checksums:    xmlChecksums(info.Checksums),
	})
}

// parseCopyRange parses x-amz-copy-source-range, which unlike Range takes
// only "bytes=first-last".
func parseCopyRange(v string) (*objapi.RangeSpec, error) {
	bad := errorf("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	set, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return nil, bad
	}
	first, last, ok := strings.Cut(set, "-")
	f, okF := parseDigits(first)
	l, okL := parseDigits(last)
	if !ok || !okF || !okL || l < f {
		return nil, bad
	}
	return &objapi.RangeSpec{First: f, Last: l}, nil
}

// badCopyRange answers a copy range beyond the source as S3 does: 400
// InvalidArgument naming the source's size (not 416: the range is a
// parameter of the copy, not of a response). The object layer's error
// does not carry the size, so the source is looked up.
func (s *Server) badCopyRange(r *http.Request, rq *request, src objapi.CopySource, cause error) error {
	msg := "Range specified is not valid for source object"
	if obj, err := s.layer.GetObject(r.Context(), rq.caller, src.Bucket, src.Key, objapi.GetOptions{VersionID: src.VersionID}); err == nil {
		msg = fmt.Sprintf("Range specified is not valid for source object of size: %d", obj.Info.Size)
	}
	return &s3Error{Code: "InvalidArgument", Msg: msg, Err: cause}
}
