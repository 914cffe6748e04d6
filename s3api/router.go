package s3api

import (
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// route is what a request asks for: an S3 operation on a bucket and key.
// err, if set, is answered instead of running serve (after the request was
// authenticated, unless the route is public).
type route struct {
	op     string
	bucket string
	key    string
	query  url.Values
	serve  handler
	err    error
	// public routes are served without SigV4 authentication: browsers'
	// CORS preflights, which carry no credentials, and POST form uploads,
	// whose handler verifies the policy signature in the form.
	public    bool
	preflight bool // an OPTIONS preflight: answers CORS itself
}

// resource splits a request's target into bucket and key. It is the one
// place that knows the addressing style. In path style the first segment
// of the decoded path is the bucket and everything after the next slash,
// byte for byte, is the key. In virtual-hosted style (Host is
// "<bucket>.<Config.Domain>") the bucket comes from Host and the whole path
// after its first slash is the key. The path is never cleaned: "..", "//",
// "%2F" and the like are parts of S3 keys.
func (s *Server) resource(r *http.Request) (bucket, key string, err error) {
	p, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		// "OPTIONS *" and absolute-form oddities: nothing S3 addresses.
		return "", "", errorf("InvalidURI", "")
	}
	if b := s.hostBucket(r.Host); b != "" {
		bucket, key = b, p
	} else if bucket, key, _ = strings.Cut(p, "/"); bucket == "" && key != "" {
		return "", "", errorf("InvalidURI", "")
	}
	// A path that does not decode to UTF-8 names no key S3 could hold: S3
	// answers it InvalidURI, whatever the operation.
	if !utf8.ValidString(key) {
		return "", "", errorf("InvalidURI", "")
	}
	return bucket, key, nil
}

// hostBucket returns the bucket a virtual-hosted-style Host names, or ""
// for path style: no domain configured, the domain itself, or another
// host (an IP address, a load balancer's name).
func (s *Server) hostBucket(host string) string {
	if s.domain == "" || host == "" {
		return ""
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	b, ok := strings.CutSuffix(host, "."+s.domain)
	if !ok {
		return ""
	}
	return b
}

// VirtualHosted reports whether r names its bucket in Host (virtual-hosted
// style, with Config.Domain). Its whole path is then a key of that bucket,
// one that begins with /_kcs/ included: whoever mounts other handlers
// under /_kcs/ beside Server must send such requests to Server.
func (s *Server) VirtualHosted(r *http.Request) bool { return s.hostBucket(r.Host) != "" }

// unsupportedSubresources are query parameters that select an S3
// operation kcs does not offer. Answering them with the operation the
// request would otherwise map to (a listing for GET /bucket?acl, an
// overwrite for PUT /key?retention) would be a wrong success, so they get
// 501 NotImplemented. Other unknown parameters are ignored, as S3 ignores
// them (cache busters, the SDKs' x-id). "cors", "delete", "tagging",
// "versioning", "object-lock", "lifecycle", "retention" and "legal-hold"
// are served where S3 offers them and refused elsewhere by the routes.
var unsupportedSubresources = map[string]bool{
	"accelerate": true, "analytics": true,
	"intelligent-tiering": true, "inventory": true,
	"logging": true, "metadataConfiguration": true,
	"metadataTable": true, "metrics": true, "notification": true,
	"ownershipControls": true, "policy": true, "policyStatus": true, "publicAccessBlock": true,
	"renameObject": true, "replication": true, "requestPayment": true, "restore": true,
	"select": true, "select-type": true, "session": true,
	"torrent": true, "website": true,
}

// route picks the operation for a request from its method, its resource
// and the query parameters that select operations (S3 "subresources").
func (s *Server) route(r *http.Request) route {
	bucket, key, err := s.resource(r)
	if err != nil {
		return route{op: "Unknown", err: err}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// url.URL.Query would drop the malformed pair silently: a listing
		// whose prefix went missing would list more than was asked for.
		return route{op: "Unknown", bucket: bucket, key: key, err: &s3Error{Code: "InvalidArgument", Msg: "The query string is malformed.", Err: err}}
	}
	rt := route{bucket: bucket, key: key, query: q}
	if r.Method == http.MethodOptions {
		// A browser asks before a cross-origin request, whatever that
		// request's subresources; the answer depends on the bucket's CORS
		// rules alone.
		rt.public, rt.preflight = true, true
		return rt.to("PreflightCORS", (*Server).preflight)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if unsupportedSubresources[k] {
			return rt.unsupported(subresourceOp(r.Method, k), "The '"+k+"' subresource is not implemented.")
		}
	}
	switch {
	case bucket == "":
		return rt.serviceRoute(r)
	case key == "":
		return rt.bucketRoute(r, q)
	default:
		return rt.objectRoute(r, q)
	}
}

func (rt route) serviceRoute(r *http.Request) route {
	if r.Method == http.MethodGet {
		return rt.to("ListBuckets", (*Server).listBuckets)
	}
	return rt.notAllowed()
}

func (rt route) bucketRoute(r *http.Request, q url.Values) route {
	switch {
	case q.Has("acl"):
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetBucketAcl", (*Server).getBucketACL)
		case http.MethodPut:
			return rt.to("PutBucketAcl", (*Server).putACL)
		}
		return rt.notAllowed()
	case q.Has("versioning"):
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetBucketVersioning", (*Server).getBucketVersioning)
		case http.MethodPut:
			return rt.to("PutBucketVersioning", (*Server).putBucketVersioning)
		}
		return rt.notAllowed()
	case q.Has("object-lock"):
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetObjectLockConfiguration", (*Server).getObjectLockConfiguration)
		case http.MethodPut:
			return rt.to("PutObjectLockConfiguration", (*Server).putObjectLockConfiguration)
		}
		return rt.notAllowed()
	case q.Has("lifecycle"):
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetBucketLifecycleConfiguration", (*Server).getBucketLifecycle)
		case http.MethodPut:
			return rt.to("PutBucketLifecycleConfiguration", (*Server).putBucketLifecycle)
		case http.MethodDelete:
			return rt.to("DeleteBucketLifecycle", (*Server).deleteBucketLifecycle)
		}
		return rt.notAllowed()
	case q.Has("retention"), q.Has("legal-hold"):
		sub := "retention"
		if q.Has("legal-hold") {
			sub = "legal-hold"
		}
		return rt.unsupported(subresourceOp(r.Method, sub), "The '"+sub+"' subresource is not implemented on buckets.")
	case q.Has("encryption"):
		if r.Method == http.MethodGet {
			return rt.to("GetBucketEncryption", (*Server).getBucketEncryption)
		}
		return rt.unsupported(subresourceOp(r.Method, "encryption"), "Every object is encrypted at rest with service-managed keys; the bucket's encryption cannot be changed.")
	case q.Has("attributes"):
		return rt.unsupported(subresourceOp(r.Method, "attributes"), "The 'attributes' subresource is not implemented on buckets.")
	case q.Has("versions"):
		if r.Method == http.MethodGet {
			return rt.to("ListObjectVersions", (*Server).listObjectVersions)
		}
		return rt.notAllowed()
	case q.Has("tagging"):
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetBucketTagging", (*Server).getBucketTagging)
		case http.MethodPut:
			return rt.to("PutBucketTagging", (*Server).putBucketTagging)
		case http.MethodDelete:
			return rt.to("DeleteBucketTagging", (*Server).deleteBucketTagging)
		}
		return rt.notAllowed()
	case q.Has("cors"):
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetBucketCors", (*Server).getBucketCors)
		case http.MethodPut:
			return rt.to("PutBucketCors", (*Server).putBucketCors)
		case http.MethodDelete:
			return rt.to("DeleteBucketCors", (*Server).deleteBucketCors)
		}
		return rt.notAllowed()
	case q.Has("delete"):
		if r.Method == http.MethodPost {
			return rt.to("DeleteObjects", (*Server).deleteObjects)
		}
		return rt.unsupported(subresourceOp(r.Method, "delete"), "The 'delete' subresource takes POST.")
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Has("location"):
			return rt.to("GetBucketLocation", (*Server).getBucketLocation)
		case q.Has("uploads"):
			return rt.to("ListMultipartUploads", (*Server).listMultipartUploads)
		case q.Has("list-type"):
			if q.Get("list-type") != "2" {
				return rt.fail("ListObjectsV2", errorf("InvalidArgument", "Invalid List Type specified in Request"))
			}
			return rt.to("ListObjectsV2", (*Server).listObjectsV2)
		default:
			return rt.to("ListObjects", (*Server).listObjectsV1)
		}
	case http.MethodHead:
		return rt.to("HeadBucket", (*Server).headBucket)
	case http.MethodPut:
		return rt.to("CreateBucket", (*Server).createBucket)
	case http.MethodDelete:
		return rt.to("DeleteBucket", (*Server).deleteBucket)
	case http.MethodPost:
		rt.public = true
		return rt.to("PostObject", (*Server).postObject)
	}
	return rt.notAllowed()
}

// versionedOps are the object operations that take a versionId query
// parameter (the handlers read it with versionParam).
var versionedOps = map[string]bool{
	"GetObject": true, "HeadObject": true, "DeleteObject": true,
	"GetObjectTagging": true, "PutObjectTagging": true, "DeleteObjectTagging": true,
	"GetObjectAttributes": true, "GetObjectAcl": true, "PutObjectAcl": true,
	"GetObjectRetention": true, "PutObjectRetention": true,
	"GetObjectLegalHold": true, "PutObjectLegalHold": true,
}

func (rt route) objectRoute(r *http.Request, q url.Values) route {
	rt = rt.objectOperation(r, q)
	if v, ok := q["versionId"]; ok && rt.err == nil && !versionedOps[rt.op] && (len(v) != 1 || v[0] != "null") {
		// A write makes a new version, an upload's parts belong to no
		// version: an id there would be ignored, and the client would
		// believe it was honoured. ("null" was always accepted.)
		return rt.fail(rt.op, errorf("InvalidArgument", "This operation does not take a versionId."))
	}
	return rt
}

func (rt route) objectOperation(r *http.Request, q url.Values) route {
	for _, sub := range []string{"cors", "delete", "versioning", "encryption", "versions", "object-lock", "lifecycle"} {
		if q.Has(sub) {
			return rt.unsupported(subresourceOp(r.Method, sub), "The '"+sub+"' subresource is not implemented on objects.")
		}
	}
	if q.Has("retention") {
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetObjectRetention", (*Server).getObjectRetention)
		case http.MethodPut:
			return rt.to("PutObjectRetention", (*Server).putObjectRetention)
		}
		return rt.notAllowed()
	}
	if q.Has("legal-hold") {
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetObjectLegalHold", (*Server).getObjectLegalHold)
		case http.MethodPut:
			return rt.to("PutObjectLegalHold", (*Server).putObjectLegalHold)
		}
		return rt.notAllowed()
	}
	if q.Has("tagging") {
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetObjectTagging", (*Server).getObjectTagging)
		case http.MethodPut:
			return rt.to("PutObjectTagging", (*Server).putObjectTagging)
		case http.MethodDelete:
			return rt.to("DeleteObjectTagging", (*Server).deleteObjectTagging)
		}
		return rt.notAllowed()
	}
	if q.Has("attributes") {
		if r.Method == http.MethodGet {
			return rt.to("GetObjectAttributes", (*Server).getObjectAttributes)
		}
		return rt.notAllowed()
	}
	if q.Has("acl") {
		switch r.Method {
		case http.MethodGet:
			return rt.to("GetObjectAcl", (*Server).getObjectACL)
		case http.MethodPut:
			return rt.to("PutObjectAcl", (*Server).putACL)
		}
		return rt.notAllowed()
	}
	copySource := r.Header.Get("X-Amz-Copy-Source") != ""
	switch r.Method {
	case http.MethodGet:
		if q.Has("uploadId") {
			return rt.to("ListParts", (*Server).listParts)
		}
		return rt.to("GetObject", (*Server).getObject)
	case http.MethodHead:
		return rt.to("HeadObject", (*Server).headObject)
	case http.MethodPut:
		if q.Has("uploadId") || q.Has("partNumber") {
			op, h := "UploadPart", (*Server).uploadPart
			if copySource {
				op, h = "UploadPartCopy", (*Server).uploadPartCopy
			}
			if !q.Has("uploadId") || !q.Has("partNumber") {
				return rt.fail(op, errorf("InvalidArgument", "An upload part needs both partNumber and uploadId."))
			}
			return rt.to(op, h)
		}
		if copySource {
			return rt.to("CopyObject", (*Server).copyObject)
		}
		return rt.to("PutObject", (*Server).putObject)
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return rt.to("CreateMultipartUpload", (*Server).createMultipartUpload)
		case q.Has("uploadId"):
			return rt.to("CompleteMultipartUpload", (*Server).completeMultipartUpload)
		}
	case http.MethodDelete:
		if q.Has("uploadId") {
			return rt.to("AbortMultipartUpload", (*Server).abortMultipartUpload)
		}
		return rt.to("DeleteObject", (*Server).deleteObject)
	}
	return rt.notAllowed()
}

func (rt route) to(op string, h handler) route {
	rt.op, rt.serve = op, h
	return rt
}

func (rt route) fail(op string, err error) route {
	rt.op, rt.err = op, err
	return rt
}

func (rt route) unsupported(op, msg string) route {
	return rt.fail(op, errorf("NotImplemented", msg))
}

func (rt route) notAllowed() route {
	return rt.fail("MethodNotAllowed", errorf("MethodNotAllowed", ""))
}

// allowedMethods is the Allow header of a 405 answer for rq's resource.
func allowedMethods(rq *request) string {
	switch {
	case rq.bucket == "":
		return "GET"
	case rq.key == "":
		return "GET, HEAD, PUT, POST, DELETE"
	default:
		return "GET, HEAD, PUT, POST, DELETE"
	}
}

// subresourceOp names an unsupported operation for the log, e.g.
// "PUT ?tagging".
func subresourceOp(method, sub string) string { return method + " ?" + sub }
