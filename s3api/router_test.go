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
		{"GET", "/b", "uploads", "", "ListMultipartUploads", "b", "", "NotImplemented"},
		{"GET", "/b", "x-id=ListObjects&cachebuster=1", "", "ListObjects", "b", "", ""},
		{"HEAD", "/b", "", "", "HeadBucket", "b", "", ""},
		{"PUT", "/b", "", "", "CreateBucket", "b", "", ""},
		{"DELETE", "/b", "", "", "DeleteBucket", "b", "", ""},
		{"PUT", "/b", "acl", "", "PUT ?acl", "b", "", "NotImplemented"},
		{"GET", "/b", "policy&list-type=2", "", "GET ?policy", "b", "", "NotImplemented"},
		{"POST", "/b", "delete", "", "POST ?delete", "b", "", "NotImplemented"},
		{"GET", "/b/k", "", "", "GetObject", "b", "k", ""},
		{"GET", "/b/k", "partNumber=2", "", "GetObject", "b", "k", ""},
		{"GET", "/b/k", "versionId=null", "", "GetObject", "b", "k", ""},
		{"GET", "/b/k", "versionId=v1", "", "GetObject", "b", "k", "NotImplemented"},
		{"GET", "/b/k", "uploadId=u", "", "ListParts", "b", "k", "NotImplemented"},
		{"HEAD", "/b/k", "", "", "HeadObject", "b", "k", ""},
		{"PUT", "/b/k", "", "", "PutObject", "b", "k", ""},
		{"PUT", "/b/k", "", "/b/src", "CopyObject", "b", "k", "NotImplemented"},
		{"PUT", "/b/k", "partNumber=1&uploadId=u", "", "UploadPart", "b", "k", ""},
		{"PUT", "/b/k", "partNumber=1&uploadId=u", "/b/src", "UploadPartCopy", "b", "k", "NotImplemented"},
		{"PUT", "/b/k", "uploadId=u", "", "UploadPart", "b", "k", "InvalidArgument"},
		{"POST", "/b/k", "uploads", "", "CreateMultipartUpload", "b", "k", ""},
		{"POST", "/b/k", "uploadId=u", "", "CompleteMultipartUpload", "b", "k", ""},
		{"POST", "/b/k", "", "", "MethodNotAllowed", "b", "k", "MethodNotAllowed"},
		{"DELETE", "/b/k", "", "", "DeleteObject", "b", "k", ""},
		{"DELETE", "/b/k", "uploadId=u", "", "AbortMultipartUpload", "b", "k", ""},
		{"PUT", "/b/k", "tagging", "", "PUT ?tagging", "b", "k", "NotImplemented"},
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
		})
	}
}
