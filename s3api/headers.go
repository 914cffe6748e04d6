package s3api

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// This file translates HTTP headers into the object layer's options and
// object descriptions back into headers.

const (
	metaPrefix = "x-amz-meta-"
	// maxUserMetaBytes is S3's limit on user metadata: the UTF-8 bytes of
	// every name (without the x-amz-meta- prefix) and value, summed.
	maxUserMetaBytes = 2 << 10
	// maxStoredHeaderBytes is S3's limit on a PUT's request header ("The
	// PUT request header is limited to 8 KB in size. Within the PUT request
	// header, the user-defined metadata is limited to 2 KB in size.",
	// https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html),
	// applied to what a write keeps of it: storedHeaders and user
	// metadata, names and values as sent. They go into the Raft log and
	// every node's metadata, so net/http's much larger header limit is not
	// theirs.
	maxStoredHeaderBytes = 8 << 10
	// defaultContentType is what S3 stores when a PUT has no Content-Type.
	defaultContentType = "binary/octet-stream"
	// xmlTimeFormat is how S3 writes timestamps in XML bodies.
	xmlTimeFormat = "2006-01-02T15:04:05.000Z"
	// sseAlgorithm is what every object is: encrypted at rest with keys the
	// server manages. S3 reports that as SSE-S3, AES256.
	sseAlgorithm = "AES256"
)

// userMeta collects the x-amz-meta-* headers, names lowercased and the
// prefix cut. Repeated headers are joined with commas, as S3 does. Values
// are stored as text (metaValue), and S3's limit counts their UTF-8
// bytes.
func userMeta(h http.Header) (map[string]string, error) {
	var meta map[string]string
	size := 0
	for name, values := range h {
		lower := strings.ToLower(name)
		short, ok := strings.CutPrefix(lower, metaPrefix)
		if !ok {
			continue
		}
		if short == "" {
			return nil, errorf("InvalidArgument", "A metadata header needs a name after x-amz-meta-.")
		}
		v := metaValue(strings.Join(values, ","))
		size += len(short) + len(v)
		if size > maxUserMetaBytes {
			return nil, errorf("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size of 2048 bytes.")
		}
		if meta == nil {
			meta = make(map[string]string)
		}
		meta[short] = v
	}
	return meta, nil
}

// metaValue turns a metadata header's bytes into the text S3 stores.
// "Values of such headers are character decoded as per RFC 2047 before
// storing and encoded as per RFC 2047 [...] before returning"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html):
// encoded-words ("=?UTF-8?B?w6Q=?=") are decoded. Bytes that are not
// UTF-8 are read as ISO-8859-1, HTTP's historical charset for header
// values (RFC 9110 §5.5), so that a client's "ä" sent as the byte 0xE4
// is kept as "ä" rather than mangled.
func metaValue(raw string) string {
	v := raw
	if !utf8.ValidString(v) {
		var b strings.Builder
		for i := 0; i < len(raw); i++ {
			b.WriteRune(rune(raw[i]))
		}
		v = b.String()
	}
	if strings.Contains(v, "=?") {
		if dec, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
			v = dec
		}
	}
	return v
}

// setUserMeta writes an object's user metadata as S3 returns it: names
// in lower case, as stored ("Amazon S3 stores user-defined metadata keys
// in lowercase", UsingMetadata), written straight into the map so that
// net/http does not canonicalise them to X-Amz-Meta-Name, which clients
// such as boto3 hand on as the metadata's keys; values with characters
// beyond US-ASCII RFC 2047-encoded ("=?UTF-8?B?...?="), as S3 encodes
// them. A value no header can carry (control characters) is left out and
// counted in x-amz-missing-meta, as S3 does with metadata the REST API
// cannot return
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
func setUserMeta(h http.Header, meta map[string]string) {
	missing := 0
	for k, v := range meta {
		ascii, legal := true, true
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case c >= utf8.RuneSelf:
				ascii = false
			case c < ' ' && c != '\t', c == 0x7f:
				legal = false
			}
		}
		switch {
		case !legal:
			missing++
			continue
		case !ascii:
			// Go writes the encoding in lower case; S3 writes "B".
			v = strings.ReplaceAll(mime.BEncoding.Encode("UTF-8", v), "=?UTF-8?b?", "=?UTF-8?B?")
		}
		h[metaPrefix+strings.ToLower(k)] = []string{v}
	}
	if missing > 0 {
		h.Set("X-Amz-Missing-Meta", strconv.Itoa(missing))
	}
}

// storedHeaders are the system headers a write keeps with the object.
// x-amz-website-redirect-location is S3's too; kcs refuses it
// (checkWriteHeaders) but counts it as S3 does.
var storedHeaders = map[string]bool{
	"Content-Type": true, "Cache-Control": true, "Content-Disposition": true, "Content-Encoding": true,
	"Content-Language": true, "Expires": true, "X-Amz-Website-Redirect-Location": true,
}

// checkStoredHeaderSize refuses a write whose stored headers (storedHeaders
// and x-amz-meta-*), names and values summed, exceed S3's 8 KB: with
// MetadataTooLarge, S3's code for metadata headers beyond their allowed
// size.
func checkStoredHeaderSize(h http.Header) error {
	size := 0
	for name, values := range h {
		if !storedHeaders[http.CanonicalHeaderKey(name)] && !strings.HasPrefix(strings.ToLower(name), metaPrefix) {
			continue
		}
		for _, v := range values {
			size += len(name) + len(v)
		}
	}
	if size > maxStoredHeaderBytes {
		return errorf("MetadataTooLarge", fmt.Sprintf("Your metadata headers exceed the maximum allowed metadata size of %d bytes: "+
			"Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires and x-amz-meta-* count together, names and values.", maxStoredHeaderBytes))
	}
	return nil
}

// contentMD5 decodes a Content-MD5 header: nil if absent, InvalidDigest if
// it is not the base64 of 16 bytes.
func contentMD5(h http.Header) ([]byte, error) {
	vs, ok := h["Content-Md5"]
	if !ok {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(vs, "")))
	if err != nil || len(b) != md5.Size {
		return nil, errorf("InvalidDigest", "")
	}
	return b, nil
}

// quoteETag returns the ETag as HTTP and S3 write it, in double quotes.
func quoteETag(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag
	}
	return `"` + etag + `"`
}

func xmlTime(t time.Time) string { return t.UTC().Format(xmlTimeFormat) }

// setObjectHeaders writes the headers that describe an object on GET and
// HEAD. Content-Length and Content-Range depend on what is sent and are
// set by the caller.
func setObjectHeaders(h http.Header, info objapi.ObjectInfo) {
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", info.Modified.UTC().Format(http.TimeFormat))
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	if info.StorageClass != "" && info.StorageClass != "STANDARD" {
		h.Set("X-Amz-Storage-Class", info.StorageClass)
	}
	setUserMeta(h, info.UserMeta)
	for name, v := range map[string]string{
		"Cache-Control":       info.Headers.CacheControl,
		"Content-Disposition": info.Headers.ContentDisposition,
		"Content-Encoding":    info.Headers.ContentEncoding,
		"Content-Language":    info.Headers.ContentLanguage,
		"Expires":             info.Headers.Expires,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	if info.TagCount > 0 {
		h.Set("X-Amz-Tagging-Count", strconv.Itoa(info.TagCount))
	}
	setLockHeaders(h, info)
}

// objectHeaders collects the standard headers an object keeps (PutObject,
// CreateMultipartUpload, CopyObject with REPLACE, POST forms). aws-chunked
// describes the transfer, not the object, and is not kept.
func objectHeaders(h http.Header) objapi.Headers {
	return objapi.Headers{
		CacheControl:       strings.Join(h.Values("Cache-Control"), ", "),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentEncoding:    sigv4.StripAWSChunked(strings.Join(h.Values("Content-Encoding"), ", ")),
		ContentLanguage:    h.Get("Content-Language"),
		Expires:            h.Get("Expires"),
	}
}

// responseOverrides are the GET query parameters that replace a response
// header (S3 allows them on signed requests, which all of ours are).
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func applyResponseOverrides(h http.Header, q url.Values) {
	for param, header := range responseOverrides {
		if v := q.Get(param); v != "" {
			h.Set(header, v)
		}
	}
}

// parseRange parses a Range header. It returns nil when there is no
// header or S3 would ignore it and send the whole object: a unit other
// than bytes, several ranges, a syntax error, or last < first.
// unsatisfiable is set for "bytes=-0", which asks for nothing.
// Numbers beyond int64 saturate, so a huge first byte is unsatisfiable and
// a huge last byte means "to the end", as HTTP requires.
func parseRange(v string) (spec *objapi.RangeSpec, unsatisfiable bool) {
	unit, set, ok := strings.Cut(strings.TrimSpace(v), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(set, ",") {
		return nil, false
	}
	first, last, ok := strings.Cut(strings.TrimSpace(set), "-")
	if !ok {
		return nil, false
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, ok := parseDigits(last)
		switch {
		case !ok:
			return nil, false
		case n == 0:
			return nil, true
		}
		return &objapi.RangeSpec{Suffix: n}, false
	}
	f, ok := parseDigits(first)
	if !ok {
		return nil, false
	}
	if last == "" {
		return &objapi.RangeSpec{First: f, Last: -1}, false
	}
	l, ok := parseDigits(last)
	if !ok || l < f {
		return nil, false
	}
	return &objapi.RangeSpec{First: f, Last: l}, false
}

// parseDigits parses a non-empty run of ASCII digits, saturating at
// math.MaxInt64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// checkPreconditions evaluates a GET's or HEAD's conditional headers
// against the object, in the order RFC 9110 §13.2.2 gives and S3 follows:
// If-Match, else If-Unmodified-Since (412); then If-None-Match, else
// If-Modified-Since (304). Dates the client sends that do not parse are
// ignored, as HTTP says.
func checkPreconditions(h http.Header, info objapi.ObjectInfo) error {
	// HTTP dates have whole seconds; the stored time may not.
	mod := info.Modified.Truncate(time.Second)
	if v := h.Get("If-Match"); v != "" {
		if !objapi.ETagMatches(v, info.ETag) {
			return errorf("PreconditionFailed", "")
		}
	} else if v := h.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return errorf("PreconditionFailed", "")
		}
	}
	if v := h.Get("If-None-Match"); v != "" {
		if objapi.ETagMatches(v, info.ETag) {
			return errorf("NotModified", "")
		}
	} else if v := h.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			return errorf("NotModified", "")
		}
	}
	return nil
}

// checkWriteHeaders refuses the headers of a PUT, CreateMultipartUpload,
// CopyObject or CreateBucket that ask for something kcs does not do.
// Ignoring them would be a wrong success: an object the client believes is
// public, encrypted under its own key or redirecting. (Object lock headers
// are read by lockHeaders.)
func checkWriteHeaders(h http.Header) error {
	notImpl := func(what string) error { return errorf("NotImplemented", what+" is not implemented.") }
	if v := h.Get("X-Amz-Server-Side-Encryption"); v != "" && v != sseAlgorithm {
		return notImpl("Server-side encryption " + v)
	}
	for name := range h {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, "x-amz-server-side-encryption-"):
			// SSE-C and SSE-KMS: every object is already encrypted with
			// its tenant's key; client-supplied or KMS keys are not.
			return notImpl("Server-side encryption with customer or KMS keys")
		case strings.HasPrefix(lower, "x-amz-copy-source-server-side-encryption-"):
			return notImpl("Copying from an object encrypted with a customer key")
		case strings.HasPrefix(lower, "x-amz-grant-"):
			return notImpl("Access control grants")
		case lower == "x-amz-website-redirect-location":
			return notImpl("Website redirects")
		}
	}
	switch acl := h.Get("X-Amz-Acl"); acl {
	case "", "private", "bucket-owner-full-control":
		// What every bucket and object is: its tenant's alone.
	default:
		return notImpl("The canned ACL " + acl)
	}
	if sc := h.Get("X-Amz-Storage-Class"); sc != "" && sc != "STANDARD" {
		return notImpl("The storage class " + sc)
	}
	return nil
}

// writeConditions parses the conditions of a write (PutObject,
// CompleteMultipartUpload, CopyObject's destination) as S3 takes them:
// If-None-Match only as "*" (the key must not exist) and If-Match as one
// ETag (the current version must have it). Anything else is refused, as
// S3 refuses it: ignoring a condition could overwrite what the client
// meant to protect.
func writeConditions(h http.Header) (ifNoneMatch bool, ifMatch string, err error) {
	if vs, ok := h["If-None-Match"]; ok {
		if len(vs) != 1 || strings.TrimSpace(vs[0]) != "*" {
			return false, "", errorf("NotImplemented", "A header you provided implies functionality that is not implemented: If-None-Match on a write takes only '*'.")
		}
		ifNoneMatch = true
	}
	if vs, ok := h["If-Match"]; ok {
		v := strings.TrimSpace(strings.Join(vs, ","))
		if len(vs) != 1 || v == "" || v == "*" || strings.Contains(v, ",") {
			return false, "", errorf("NotImplemented", "A header you provided implies functionality that is not implemented: If-Match on a write takes one ETag.")
		}
		if ifMatch = objapi.UnquoteETag(v); len(ifMatch) > maxETagLen {
			return false, "", errorf("InvalidArgument", "If-Match is not an entity tag of this store.")
		}
	}
	return ifNoneMatch, ifMatch, nil
}

// maxETagLen bounds an entity tag a write's condition may name: the
// condition travels in the replicated metadata command, and no ETag kcs
// makes (32 hex digits, "-" and a part count) comes near it.
const maxETagLen = 64
