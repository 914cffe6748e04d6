package sigv4

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The canonical request, as the AWS reference for S3 defines it:
//
//	HTTPMethod \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//
// Each part is rebuilt from the request as the server received it; a client
// that built it differently (or a proxy that changed the request) fails the
// signature, which is the point.

const hexUpper = "0123456789ABCDEF"

// unreserved reports whether S3's URI encoding leaves c as is.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// appendURIEncoded appends s percent-encoded with S3's rules: every byte but
// the unreserved ones (and '/' when keepSlash) becomes %XX, upper-case hex.
// Bytes of multi-byte UTF-8 characters are encoded one by one.
func appendURIEncoded(dst []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

// canonicalURI is the request path encoded once. It comes from r.URL.Path,
// which net/http has already decoded: S3 clients sign the object key encoded
// exactly once, and re-encoding the decoded path reproduces that whatever
// spelling (RawPath) the client chose on the wire. S3 does not normalize the
// path ("a//b", "a/./b" stay), so neither does this.
func appendCanonicalURI(dst []byte, r *http.Request) []byte {
	p := r.URL.Path
	if p == "" {
		return append(dst, '/')
	}
	return appendURIEncoded(dst, p, true)
}

// appendCanonicalQuery appends the canonical query string: every parameter
// decoded, then encoded with S3's rules, sorted by encoded name then value and
// joined as name=value with '&'. A parameter without '=' has an empty value
// (GET ?lifecycle signs "lifecycle="). dropSignature leaves out
// X-Amz-Signature, which a presigned URL cannot sign.
func appendCanonicalQuery(dst []byte, rawQuery string, dropSignature bool) ([]byte, error) {
	if rawQuery == "" {
		return dst, nil
	}
	type param struct{ k, v string }
	var params []param
	var enc []byte
	for piece := range strings.SplitSeq(rawQuery, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return dst, fmt.Errorf("query parameter %q: %v", k, err)
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return dst, fmt.Errorf("query parameter %q: %v", k, err)
		}
		if dropSignature && dk == "X-Amz-Signature" {
			continue
		}
		enc = appendURIEncoded(enc[:0], dk, false)
		ek := string(enc)
		enc = appendURIEncoded(enc[:0], dv, false)
		params = append(params, param{ek, string(enc)})
	}
	slices.SortFunc(params, func(a, b param) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range params {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.k...)
		dst = append(dst, '=')
		dst = append(dst, p.v...)
	}
	return dst, nil
}

// headerValues returns the values of header name (lower case) as the client
// sent them. net/http moves Host, and on the server Transfer-Encoding, out of
// r.Header, and a request built in-process may carry its length only in
// r.ContentLength, so those come from the request's fields.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if v := r.Header.Values("Transfer-Encoding"); len(v) > 0 {
			return v
		}
		return r.TransferEncoding
	}
	return r.Header.Values(name)
}

// appendTrimmed appends v without leading and trailing blanks and with every
// inner run of spaces collapsed to one, the AWS "Trimall".
func appendTrimmed(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// appendCanonicalHeaders appends "name:value\n" for each signed header, in
// the order of the signed-header list (which the client also used for the
// SignedHeaders line), several values of one header joined by ','.
func appendCanonicalHeaders(dst []byte, r *http.Request, signed []string) []byte {
	for _, name := range signed {
		dst = append(dst, name...)
		dst = append(dst, ':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendTrimmed(dst, v)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// canonicalRequest builds the canonical request of r for the signed headers
// and the payload hash line (x-amz-content-sha256's value, or
// UNSIGNED-PAYLOAD for a presigned URL).
func canonicalRequest(r *http.Request, signed []string, payload string, presigned bool) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, r)
	b = append(b, '\n')
	b, err := appendCanonicalQuery(b, r.URL.RawQuery, presigned)
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, signed)
	b = append(b, '\n')
	for i, name := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	b = append(b, payload...)
	return b, nil
}

// parseSignedHeaders splits a SignedHeaders list. Names must be lower-case
// header tokens without repeats; AWS lists them sorted, but the order is taken
// as given since it is the order the client canonicalized in.
func parseSignedHeaders(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("empty signed-header list")
	}
	names := strings.Split(s, ";")
	for i, n := range names {
		if n == "" {
			return nil, fmt.Errorf("empty name in signed-header list %q", s)
		}
		for j := 0; j < len(n); j++ {
			c := n[j]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_!#$%&'*+.^`|~", c) >= 0) {
				return nil, fmt.Errorf("signed header %q is not a lower-case header name", n)
			}
		}
		if slices.Contains(names[:i], n) {
			return nil, fmt.Errorf("signed header %q listed twice", n)
		}
	}
	return names, nil
}
