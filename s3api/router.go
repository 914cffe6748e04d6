package s3api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// route is what a request asks for: an S3 operation on a bucket and key.
// err, if set, is answered instead of running serve (after the request was
// authenticated).
type route struct {
	op     string
	bucket string
	key    string
	query  url.Values
	serve  handler
	err    error
}

// resource splits a request's target into bucket and key. It is the one
// place that knows the addressing style. Today that is path style: the
// first segment of the decoded path is the bucket and everything after the
// next slash, byte for byte, is the key. The path is never cleaned: "..",
// "//", "%2F" and the like are parts of S3 keys.
//
// Virtual-hosted style goes here too: when Host is "<bucket>.<domain>" for
// a configured domain, the bucket comes from Host and the whole path after
// its first slash is the key.
func (s *Server) resource(r *http.Request) (bucket, key string, err error) {
	p, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		// "OPTIONS *" and absolute-form oddities: nothing S3 addresses.
		return "", "", errorf("InvalidURI", "")
	}
	bucket, key, _ = strings.Cut(p, "/")
	if bucket == "" && key != "" {
		return "", "", errorf("InvalidURI", "")
	}
	return bucket, key, nil
}

// unsupportedSubresources are query parameters that select an S3
// operation kcs does not offer. Answering them with the operation the
// request would otherwise map to (a listing for GET /bucket?acl, an
// overwrite for PUT /key?tagging) would be a wrong success, so they get
// 501 NotImplemented. Other unknown parameters are ignored, as S3 ignores
// them (cache busters, the SDKs' x-id).
var unsupportedSubresources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "attributes": true, "cors": true,
	"delete": true, "encryption": true, "intelligent-tiering": true, "inventory": true,
	"legal-hold": true, "lifecycle": true, "logging": true, "metadataConfiguration": true,
	"metadataTable": true, "metrics": true, "notification": true, "object-lock": true,
	"ownershipControls": true, "policy": true, "policyStatus": true, "publicAccessBlock": true,
	"renameObject": true, "replication": true, "requestPayment": true, "restore": true,
	"retention": true, "select": true, "select-type": true, "session": true, "tagging": true,
	"torrent": true, "versioning": true, "versions": true, "website": true,
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
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Has("location"):
			return rt.to("GetBucketLocation", (*Server).getBucketLocation)
		case q.Has("uploads"):
			return rt.unsupported("ListMultipartUploads", "Listing multipart uploads is not implemented.")
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
		return rt.unsupported("PostObject", "Browser-based uploads with POST are not implemented.")
	case http.MethodOptions:
		return rt.unsupported("OPTIONS", "CORS is not implemented.")
	}
	return rt.notAllowed()
}

func (rt route) objectRoute(r *http.Request, q url.Values) route {
	if v, ok := q["versionId"]; ok && (len(v) != 1 || v[0] != "null") {
		// Buckets are unversioned: "null" names the only version there is;
		// any other id would need versioning.
		return rt.unsupported(objectOp(r.Method), "Object versioning is not implemented.")
	}
	copySource := r.Header.Get("X-Amz-Copy-Source") != ""
	switch r.Method {
	case http.MethodGet:
		if q.Has("uploadId") {
			return rt.unsupported("ListParts", "Listing parts is not implemented.")
		}
		return rt.to("GetObject", (*Server).getObject)
	case http.MethodHead:
		return rt.to("HeadObject", (*Server).headObject)
	case http.MethodPut:
		if q.Has("uploadId") || q.Has("partNumber") {
			if copySource {
				return rt.unsupported("UploadPartCopy", "Copying into a part is not implemented.")
			}
			if !q.Has("uploadId") || !q.Has("partNumber") {
				return rt.fail("UploadPart", errorf("InvalidArgument", "An upload part needs both partNumber and uploadId."))
			}
			return rt.to("UploadPart", (*Server).uploadPart)
		}
		if copySource {
			// Without this check a copy would store the empty body under
			// the key: a wrong success.
			return rt.unsupported("CopyObject", "Copying objects is not implemented.")
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
	case http.MethodOptions:
		return rt.unsupported("OPTIONS", "CORS is not implemented.")
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
		return "GET, HEAD, PUT, DELETE"
	default:
		return "GET, HEAD, PUT, POST, DELETE"
	}
}

// subresourceOp names an unsupported operation for the log, e.g.
// "PUT ?tagging".
func subresourceOp(method, sub string) string { return method + " ?" + sub }

func objectOp(method string) string {
	switch method {
	case http.MethodGet:
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		return "DeleteObject"
	case http.MethodPut:
		return "PutObject"
	}
	return method
}
