package s3api

import (
	"net/http"
	"net/url"
	"testing"
)

func TestRoute(t *testing.T) {
	s := New(Config{}, nil, nil)
	for _, tc := range []struct {
		method string
		path   string // decoded
		query  string
		header string // X-Amz-Copy-Source, if set
		op     string
		bucket string
		key    string
		code   string // the route's error code, if it has one
	}{
		{"GET", "/", "", "", "ListBuckets", "", "", ""},
		{"PUT", "/", "", "", "MethodNotAllowed", "", "", "MethodNotAllowed"},
		{"GET", "/b", "", "", "ListObjects", "b", "", ""},
		{"GET", "/b/", "", "", "ListObjects", "b", "", ""},
		{"GET", "/b", "list-type=2", "", "ListObjectsV2", "b", "", ""},
		{"GET", "/b", "list-type=1", "", "ListObjectsV2", "b", "", "InvalidArgument"},
		{"GET", "/b", "location", "", "GetBucketLocation", "b", "", ""},
		{"GET", "/b", "uploads", "", "ListMultipartUploads", "b", "", ""},
		{"GET", "/b", "cors", "", "GetBucketCors", "b", "", ""},
		{"PUT", "/b", "cors", "", "PutBucketCors", "b", "", ""},
		{"DELETE", "/b", "cors", "", "DeleteBucketCors", "b", "", ""},
		{"POST", "/b", "cors", "", "MethodNotAllowed", "b", "", "MethodNotAllowed"},
		{"GET", "/b", "tagging", "", "GetBucketTagging", "b", "", ""},
		{"PUT", "/b", "tagging", "", "PutBucketTagging", "b", "", ""},
		{"DELETE", "/b", "tagging", "", "DeleteBucketTagging", "b", "", ""},
		{"POST", "/b", "tagging", "", "MethodNotAllowed", "b", "", "MethodNotAllowed"},
		{"POST", "/b", "", "", "PostObject", "b", "", ""},
		{"OPTIONS", "/b", "", "", "PreflightCORS", "b", "", ""},
		{"OPTIONS", "/b/k", "acl", "", "PreflightCORS", "b", "k", ""},
		{"GET", "/b", "x-id=ListObjects&cachebuster=1", "", "ListObjects", "b", "", ""},
		{"HEAD", "/b", "", "", "HeadBucket", "b", "", ""},
		{"PUT", "/b", "", "", "CreateBucket", "b", "", ""},
		{"DELETE", "/b", "", "", "DeleteBucket", "b", "", ""},
		{"PUT", "/b", "logging", "", "PUT ?logging", "b", "", "NotImplemented"},
		{"PUT", "/b", "acl", "", "PutBucketAcl", "b", "", ""},
		{"GET", "/b", "policy&list-type=2", "", "GET ?policy", "b", "", "NotImplemented"},
		{"POST", "/b", "delete", "", "DeleteObjects", "b", "", ""},
		{"PUT", "/b", "delete", "", "PUT ?delete", "b", "", "NotImplemented"},
		{"POST", "/b/k", "delete", "", "POST ?delete", "b", "k", "NotImplemented"},
		{"GET", "/b/k", "cors", "", "GET ?cors", "b", "k", "NotImplemented"},
		{"GET", "/b/k", "", "", "GetObject", "b", "k", ""},
		{"GET", "/b/k", "partNumber=2", "", "GetObject", "b", "k", ""},
		{"GET", "/b/k", "versionId=null", "", "GetObject", "b", "k", ""},
		{"GET", "/b/k", "versionId=v1", "", "GetObject", "b", "k", ""},
		{"PUT", "/b/k", "versionId=v1", "", "PutObject", "b", "k", "InvalidArgument"},
		{"PUT", "/b/k", "versionId=null", "", "PutObject", "b", "k", ""},
		{"DELETE", "/b/k", "versionId=v1", "", "DeleteObject", "b", "k", ""},
		{"GET", "/b", "versioning", "", "GetBucketVersioning", "b", "", ""},
		{"PUT", "/b", "versioning", "", "PutBucketVersioning", "b", "", ""},
		{"DELETE", "/b", "versioning", "", "MethodNotAllowed", "b", "", "MethodNotAllowed"},
		{"GET", "/b", "object-lock", "", "GetObjectLockConfiguration", "b", "", ""},
		{"PUT", "/b", "object-lock", "", "PutObjectLockConfiguration", "b", "", ""},
		{"GET", "/b", "lifecycle", "", "GetBucketLifecycleConfiguration", "b", "", ""},
		{"PUT", "/b", "lifecycle", "", "PutBucketLifecycleConfiguration", "b", "", ""},
		{"DELETE", "/b", "lifecycle", "", "DeleteBucketLifecycle", "b", "", ""},
		{"GET", "/b", "retention", "", "GET ?retention", "b", "", "NotImplemented"},
		{"GET", "/b/k", "retention&versionId=v1", "", "GetObjectRetention", "b", "k", ""},
		{"PUT", "/b/k", "retention", "", "PutObjectRetention", "b", "k", ""},
		{"GET", "/b/k", "legal-hold", "", "GetObjectLegalHold", "b", "k", ""},
		{"PUT", "/b/k", "legal-hold", "", "PutObjectLegalHold", "b", "k", ""},
		{"DELETE", "/b/k", "legal-hold", "", "MethodNotAllowed", "b", "k", "MethodNotAllowed"},
		{"GET", "/b/k", "object-lock", "", "GET ?object-lock", "b", "k", "NotImplemented"},
		{"PUT", "/b/k", "lifecycle", "", "PUT ?lifecycle", "b", "k", "NotImplemented"},
		{"GET", "/b/k", "uploadId=u", "", "ListParts", "b", "k", ""},
		{"HEAD", "/b/k", "", "", "HeadObject", "b", "k", ""},
		{"PUT", "/b/k", "", "", "PutObject", "b", "k", ""},
		{"PUT", "/b/k", "", "/b/src", "CopyObject", "b", "k", ""},
		{"PUT", "/b/k", "partNumber=1&uploadId=u", "", "UploadPart", "b", "k", ""},
		{"PUT", "/b/k", "partNumber=1&uploadId=u", "/b/src", "UploadPartCopy", "b", "k", ""},
		{"PUT", "/b/k", "partNumber=1", "/b/src", "UploadPartCopy", "b", "k", "InvalidArgument"},
		{"PUT", "/b/k", "uploadId=u", "", "UploadPart", "b", "k", "InvalidArgument"},
		{"POST", "/b/k", "uploads", "", "CreateMultipartUpload", "b", "k", ""},
		{"POST", "/b/k", "uploadId=u", "", "CompleteMultipartUpload", "b", "k", ""},
		{"POST", "/b/k", "", "", "MethodNotAllowed", "b", "k", "MethodNotAllowed"},
		{"DELETE", "/b/k", "", "", "DeleteObject", "b", "k", ""},
		{"DELETE", "/b/k", "uploadId=u", "", "AbortMultipartUpload", "b", "k", ""},
		{"PUT", "/b/k", "tagging", "", "PutObjectTagging", "b", "k", ""},
		{"GET", "/b/k", "tagging", "", "GetObjectTagging", "b", "k", ""},
		{"DELETE", "/b/k", "tagging", "", "DeleteObjectTagging", "b", "k", ""},
		{"HEAD", "/b/k", "tagging", "", "MethodNotAllowed", "b", "k", "MethodNotAllowed"},
		{"PATCH", "/b/k", "", "", "MethodNotAllowed", "b", "k", "MethodNotAllowed"},
		// Keys are taken byte for byte: no cleaning.
		{"GET", "/b/../../etc/passwd", "", "", "GetObject", "b", "../../etc/passwd", ""},
		{"GET", "/b//a/./b/", "", "", "GetObject", "b", "/a/./b/", ""},
		{"GET", "/b/a/b", "", "", "GetObject", "b", "a/b", ""},
		{"GET", "//k", "", "", "Unknown", "", "", "InvalidURI"},
		{"GET", "/_kcs/health", "", "", "GetObject", "_kcs", "health", ""},
		{"GET", "/b", "prefix=%zz", "", "Unknown", "b", "", "InvalidArgument"},
		{"GET", "/b", "a=1;b=2", "", "Unknown", "b", "", "InvalidArgument"},
	} {
		t.Run(tc.method+" "+tc.path+"?"+tc.query, func(t *testing.T) {
			r := &http.Request{Method: tc.method, URL: &url.URL{Path: tc.path, RawQuery: tc.query}, Header: http.Header{}}
			if tc.header != "" {
				r.Header.Set("X-Amz-Copy-Source", tc.header)
			}
			rt := s.route(r)
			if rt.op != tc.op || rt.bucket != tc.bucket || rt.key != tc.key {
				t.Errorf("route %q %q %q, want %q %q %q", rt.op, rt.bucket, rt.key, tc.op, tc.bucket, tc.key)
			}
			code := ""
			if rt.err != nil {
				code = toAPIError(rt.err).Code
			}
			if code != tc.code {
				t.Errorf("error code %q, want %q", code, tc.code)
			}
			if rt.err == nil && rt.serve == nil {
				t.Error("no handler and no error")
			}
			if public := tc.op == "PostObject" || tc.op == "PreflightCORS"; rt.public != public {
				t.Errorf("public %v, want %v", rt.public, public)
			}
		})
	}
}

// TestRouteVirtualHost: with a domain, Host "<bucket>.<domain>" names the
// bucket and the whole path is the key; the domain itself, other hosts
// and IP addresses are path style.
func TestRouteVirtualHost(t *testing.T) {
	s := New(Config{Domain: "S3.kcs.example."}, nil, nil)
	for _, tc := range []struct {
		host   string
		path   string
		bucket string
		key    string
		code   string
	}{
		{"akten.s3.kcs.example", "/", "akten", "", ""},
		{"akten.s3.kcs.example:8443", "/bauantrag/plan.pdf", "akten", "bauantrag/plan.pdf", ""},
		{"AKTEN.S3.KCS.EXAMPLE.", "/k", "akten", "k", ""},
		{"my.dotted.bucket.s3.kcs.example", "/k", "my.dotted.bucket", "k", ""},
		{"akten.s3.kcs.example", "//doppelt/", "akten", "/doppelt/", ""},
		{"akten.s3.kcs.example", "/../../etc/passwd", "akten", "../../etc/passwd", ""},
		{"s3.kcs.example", "/akten/k", "akten", "k", ""},
		{"s3.kcs.example:9000", "/akten", "akten", "", ""},
		{"127.0.0.1:9000", "/akten/k", "akten", "k", ""},
		{"[::1]:9000", "/akten/k", "akten", "k", ""},
		{"akten.s3.other.example", "/akten/k", "akten", "k", ""},
		{"evils3.kcs.example", "/akten/k", "akten", "k", ""},
		{"", "/akten/k", "akten", "k", ""},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			r := &http.Request{Method: "GET", Host: tc.host, URL: &url.URL{Path: tc.path}, Header: http.Header{}}
			b, k, err := s.resource(r)
			code := ""
			if err != nil {
				code = toAPIError(err).Code
			}
			if b != tc.bucket || k != tc.key || code != tc.code {
				t.Errorf("bucket %q key %q (%q), want %q %q (%q)", b, k, code, tc.bucket, tc.key, tc.code)
			}
		})
	}
}
