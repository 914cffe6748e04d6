package sigv2

import (
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// subresources are the query parameters CanonicalizedResource includes:
// the union of the lists of the S3 documentation (acl, lifecycle, location,
// logging, notification, partNumber, policy, requestPayment, uploadId,
// uploads, versionId, versioning, versions, website, delete and the
// response-* overrides), botocore (auth.py, HmacV1Auth.QSAOfInterest),
// minio-go (pkg/signer, resourceList) and s3cmd (Crypto.py,
// SUBRESOURCES_TO_INCLUDE). See the package comment for why the union.
var subresources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "cors": true,
	"defaultObjectAcl": true, "delete": true, "encryption": true,
	"inventory": true, "legal-hold": true, "lifecycle": true, "location": true,
	"logging": true, "metrics": true, "notification": true, "object-lock": true,
	"partNumber": true, "policy": true, "replication": true,
	"requestPayment": true, "restore": true, "retention": true, "select": true,
	"select-type": true, "storageClass": true, "tagging": true, "torrent": true,
	"uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true,
	"response-content-encoding": true, "response-content-language": true,
	"response-content-type": true, "response-expires": true,
}

// Query parameters of query-string authentication.
const (
	qAccessKey = "AWSAccessKeyId"
	qSignature = "Signature"
	qExpires   = "Expires"
)

// queryParam is one parameter of a raw query, its name and value decoded.
type queryParam struct{ name, value string }

// queryParams splits a raw query. A name or value that does not decode is
// kept as sent, as botocore's unquote keeps it: the signature then covers
// it literally, and the router refuses the malformed query once the request
// is authenticated, which is when S3 tells a caller what is wrong with it.
func queryParams(raw string) []queryParam {
	var out []queryParam
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		out = append(out, queryParam{unescape(k), unescape(v)})
	}
	return out
}

func unescape(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// queryAuth is what a query holds of the parameters that authenticate.
type queryAuth struct {
	v2     bool                // AWSAccessKeyId or Signature
	v4     bool                // X-Amz-Algorithm, X-Amz-Credential or X-Amz-Signature
	params map[string][]string // values of AWSAccessKeyId, Signature and Expires
	token  bool                // x-amz-security-token, in any case
}

func scanQuery(raw string) queryAuth {
	var q queryAuth
	for _, p := range queryParams(raw) {
		switch p.name {
		case qAccessKey, qSignature:
			q.v2 = true
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature":
			q.v4 = true
		}
		switch p.name {
		case qAccessKey, qSignature, qExpires:
			if q.params == nil {
				q.params = map[string][]string{}
			}
			q.params[p.name] = append(q.params[p.name], p.value)
		}
		if strings.EqualFold(p.name, "x-amz-security-token") {
			q.token = true
		}
	}
	return q
}

// Signed reports whether r carries Signature Version 2 credentials: an
// Authorization header of the AWS scheme ("AWS AccessKeyId:Signature"), or
// an AWSAccessKeyId or Signature query parameter. Such a request is
// Verify's to authenticate; any other is sigv4's. A request that mixes
// both versions is Signed, and Verify refuses it.
func Signed(r *http.Request) bool {
	for _, a := range r.Header.Values("Authorization") {
		if strings.HasPrefix(strings.TrimSpace(a), scheme+" ") {
			return true
		}
	}
	return r.URL.RawQuery != "" && scanQuery(r.URL.RawQuery).v2
}

// scheme is the Authorization header's scheme of Signature Version 2.
const scheme = "AWS"

// hoistable reports whether a lower-case query parameter name is one that a
// presigned URL may carry in place of a header of that name.
func hoistable(name string) bool {
	return name == "content-type" || name == "content-md5" || strings.HasPrefix(name, "x-amz-")
}

// QueryHeaders returns the headers that a request presigned with Signature
// Version 2 carries as query parameters and does not send as headers
// itself: Content-Type, Content-MD5 and x-amz-*, which botocore moves into
// the query and signs as headers. Verify signs them as headers; a server
// should act on them as headers too, before routing (x-amz-copy-source
// selects an operation). The result is nil for any other request. Names are
// in canonical form; a header sent in the query several times keeps every
// value.
func QueryHeaders(r *http.Request) http.Header {
	if r.URL.RawQuery == "" {
		return nil
	}
	if q := scanQuery(r.URL.RawQuery); !q.v2 {
		return nil
	}
	return hoistedHeaders(r)
}

// hoistedHeaders is QueryHeaders for any query, as a signer sees it
// before it adds its parameters.
func hoistedHeaders(r *http.Request) http.Header {
	var out http.Header
	for _, p := range queryParams(r.URL.RawQuery) {
		name := strings.ToLower(p.name)
		if !hoistable(name) {
			continue
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if _, sent := r.Header[key]; sent {
			continue
		}
		if out == nil {
			out = http.Header{}
		}
		out[key] = append(out[key], p.value)
	}
	return out
}

// signingHeaders are the headers a request is signed with: its own, and
// for a presigned request those it carries in the query.
func signingHeaders(r *http.Request, presigned bool) http.Header {
	if !presigned {
		return r.Header
	}
	extra := QueryHeaders(r)
	if len(extra) == 0 {
		return r.Header
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	maps.Copy(h, extra)
	return h
}

// amzHeader is one line of CanonicalizedAmzHeaders.
type amzHeader struct{ name, value string }

// amzHeaders builds CanonicalizedAmzHeaders: every x-amz-* header but
// those named in omit, its name lower case, its values trimmed and joined
// by ',' (several headers of one name become one line), sorted by name.
func amzHeaders(h http.Header, omit string) []amzHeader {
	var out []amzHeader
	for name, vals := range h {
		l := strings.ToLower(name)
		if !strings.HasPrefix(l, "x-amz-") || l == omit {
			continue
		}
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.TrimSpace(v)
		}
		// http.Header keys are canonical, so one lower-case name has one
		// entry; a hand-built Header might have two spellings of a name.
		if i := slices.IndexFunc(out, func(a amzHeader) bool { return a.name == l }); i >= 0 {
			out[i].value += "," + strings.Join(trimmed, ",")
			continue
		}
		out = append(out, amzHeader{l, strings.Join(trimmed, ",")})
	}
	slices.SortFunc(out, func(a, b amzHeader) int { return strings.Compare(a.name, b.name) })
	return out
}

// rawPath is the path of the Request-URI as the client sent it, not decoded:
// Signature Version 2 signs it literally, percent-encoding and its case
// included ("/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re").
func rawPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	// A request built in-process, or one in absolute form ("GET
	// http://host/path"): its URL keeps the spelling when it differs from
	// the default encoding.
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// canonicalResources builds CanonicalizedResource: "/" and the bucket if
// the Host names it (virtual-hosted style), the raw path, then the
// subresources among the query parameters, sorted by name (stably: values
// of one name keep their order), decoded, "name" or "name=value".
//
// A path-style request that names only a bucket ("/akten", no slash after
// it) has two: botocore signs "/akten/" ("to generate a signature that the
// server will accept", it says of S3), the documentation's rule gives the
// raw "/akten". Both name the same bucket, so both are returned, botocore's
// first; for any other request the slice has one element.
func canonicalResources(r *http.Request, bucket string) []string {
	var sub strings.Builder
	var subs []queryParam
	for _, p := range queryParams(r.URL.RawQuery) {
		if subresources[p.name] {
			subs = append(subs, p)
		}
	}
	slices.SortStableFunc(subs, func(x, y queryParam) int { return strings.Compare(x.name, y.name) })
	for i, p := range subs {
		if i == 0 {
			sub.WriteByte('?')
		} else {
			sub.WriteByte('&')
		}
		sub.WriteString(p.name)
		if p.value != "" {
			sub.WriteByte('=')
			sub.WriteString(p.value)
		}
	}
	path := rawPath(r)
	if bucket != "" {
		return []string{"/" + bucket + path + sub.String()}
	}
	if len(path) > 1 && strings.Count(path, "/") == 1 {
		return []string{path + "/" + sub.String(), path + sub.String()}
	}
	return []string{path + sub.String()}
}

// stringToSign assembles the string to sign from its parts; date is the
// fourth line (the Date header, "" when x-amz-date is sent, or Expires).
func stringToSign(method, contentMD5, contentType, date string, amz []amzHeader, resource string) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(contentMD5)
	b.WriteByte('\n')
	b.WriteString(contentType)
	b.WriteByte('\n')
	b.WriteString(date)
	b.WriteByte('\n')
	for _, a := range amz {
		b.WriteString(a.name)
		b.WriteByte(':')
		b.WriteString(a.value)
		b.WriteByte('\n')
	}
	b.WriteString(resource)
	return b.String()
}
