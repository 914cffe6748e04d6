package s3api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// These tests send requests the SDKs will not send: malformed, hostile or
// unsupported. Each must get a clear S3 error, never a panic, a hang or a
// wrong success.

func TestRawErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", testData(100, 1))
	md5Of := func(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }
	bigXML := "<CreateBucketConfiguration><LocationConstraint>" + strings.Repeat(" ", 70<<10) + "</LocationConstraint></CreateBucketConfiguration>"
	// CompleteMultipartUpload reads its body only for an upload that
	// exists (and is the caller's).
	up, err := h.sdk(keyA).CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	upload := "uploadId=" + url.QueryEscape(aws.ToString(up.UploadId))

	for _, tc := range []struct {
		name   string
		req    rawReq
		status int
		code   string
	}{
		{"anonymous", rawReq{method: "GET", path: "/", unsigned: true}, 403, "AccessDenied"},
		{"anonymous object", rawReq{method: "GET", path: "/akten/k", unsigned: true}, 403, "AccessDenied"},
		{"unknown access key", rawReq{method: "GET", path: "/", key: keyUnknown}, 403, "InvalidAccessKeyId"},
		{"method on service", rawReq{method: "DELETE", path: "/"}, 405, "MethodNotAllowed"},
		{"PATCH object", rawReq{method: "PATCH", path: "/akten/k"}, 405, "MethodNotAllowed"},
		{"POST object without subresource", rawReq{method: "POST", path: "/akten/k"}, 405, "MethodNotAllowed"},
		{"POST that is not a form", rawReq{method: "POST", path: "/akten"}, 412, "PreconditionFailed"},
		{"OPTIONS without Origin", rawReq{method: "OPTIONS", path: "/akten/k"}, 400, "BadRequest"},
		{"bucket logging", rawReq{method: "GET", path: "/akten", query: "logging"}, 501, "NotImplemented"},
		{"bucket policy", rawReq{method: "PUT", path: "/akten", query: "policy"}, 501, "NotImplemented"},
		{"bucket versioning without a document", rawReq{method: "PUT", path: "/akten", query: "versioning="}, 400, "MalformedXML"},
		{"bucket lifecycle", rawReq{method: "GET", path: "/akten", query: "lifecycle"}, 404, "NoSuchLifecycleConfiguration"},
		{"bucket without tags", rawReq{method: "GET", path: "/akten", query: "tagging"}, 404, "NoSuchTagSet"},
		{"object cors", rawReq{method: "GET", path: "/akten/k", query: "cors"}, 501, "NotImplemented"},
		{"GET ?delete", rawReq{method: "GET", path: "/akten", query: "delete"}, 501, "NotImplemented"},
		{"website", rawReq{method: "GET", path: "/akten", query: "website"}, 501, "NotImplemented"},
		{"object retention without object lock", rawReq{method: "GET", path: "/akten/k", query: "retention"}, 400, "InvalidRequest"},
		{"object retention without Content-MD5", rawReq{method: "PUT", path: "/akten/k", query: "retention"}, 400, "InvalidRequest"},
		{"bucket retention", rawReq{method: "GET", path: "/akten", query: "retention"}, 501, "NotImplemented"},
		{"object lifecycle", rawReq{method: "GET", path: "/akten/k", query: "lifecycle"}, 501, "NotImplemented"},
		{"version id", rawReq{method: "GET", path: "/akten/k", query: "versionId=3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"}, 404, "NoSuchVersion"},
		{"empty version id", rawReq{method: "GET", path: "/akten/k", query: "versionId="}, 400, "InvalidArgument"},
		{"version id on PUT", rawReq{method: "PUT", path: "/akten/k", query: "versionId=abc"}, 400, "InvalidArgument"},
		{"copy of another version", rawReq{method: "PUT", path: "/akten/kopie", header: map[string]string{"X-Amz-Copy-Source": "/akten/k?versionId=3HL4kq"}}, 404, "NoSuchVersion"},
		{"If-None-Match with an ETag on PUT", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"If-None-Match": `"abc"`}}, 501, "NotImplemented"},
		{"If-Match * on PUT", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"If-Match": "*"}}, 501, "NotImplemented"},
		{"If-Match list on PUT", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"If-Match": `"a", "b"`}}, 501, "NotImplemented"},
		{"conditional CreateMultipartUpload", rawReq{method: "POST", path: "/akten/neu", query: "uploads", header: map[string]string{"If-None-Match": "*"}}, 501, "NotImplemented"},
		{"delete condition of directory buckets", rawReq{method: "DELETE", path: "/akten/k", header: map[string]string{"X-Amz-If-Match-Size": "100"}}, 501, "NotImplemented"},
		{"complete with object size check", rawReq{method: "POST", path: "/akten/k", query: "uploadId=x", header: map[string]string{"X-Amz-Mp-Object-Size": "5"}}, 501, "NotImplemented"},
		{"website redirect", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"X-Amz-Website-Redirect-Location": "/x"}}, 501, "NotImplemented"},
		{"SSE-C", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256"}}, 501, "NotImplemented"},
		{"SSE-KMS", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"X-Amz-Server-Side-Encryption": "aws:kms"}}, 501, "NotImplemented"},
		{"object lock mode without date", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"X-Amz-Object-Lock-Mode": "GOVERNANCE"}}, 400, "InvalidArgument"},
		{"public-read ACL", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"X-Amz-Acl": "public-read"}}, 501, "NotImplemented"},
		{"glacier", rawReq{method: "PUT", path: "/akten/neu", header: map[string]string{"X-Amz-Storage-Class": "GLACIER"}}, 501, "NotImplemented"},
		{"bucket with object lock of no boolean", rawReq{method: "PUT", path: "/gesperrt", header: map[string]string{"X-Amz-Bucket-Object-Lock-Enabled": "ja"}}, 400, "InvalidArgument"},

		{"list type 3", rawReq{method: "GET", path: "/akten", query: "list-type=3"}, 400, "InvalidArgument"},
		{"max-keys not a number", rawReq{method: "GET", path: "/akten", query: "list-type=2&max-keys=viele"}, 400, "InvalidArgument"},
		{"max-keys negative", rawReq{method: "GET", path: "/akten", query: "max-keys=-1"}, 400, "InvalidArgument"},
		{"bad continuation token", rawReq{method: "GET", path: "/akten", query: "list-type=2&continuation-token=%21%21%21"}, 400, "InvalidArgument"},
		{"empty continuation token", rawReq{method: "GET", path: "/akten", query: "list-type=2&continuation-token="}, 400, "InvalidArgument"},
		{"bad encoding type", rawReq{method: "GET", path: "/akten", query: "list-type=2&encoding-type=base64"}, 400, "InvalidArgument"},
		{"huge prefix", rawReq{method: "GET", path: "/akten", query: "list-type=2&prefix=" + strings.Repeat("p", 100<<10)}, 400, "KeyTooLongError"},
		{"max-buckets 0", rawReq{method: "GET", path: "/", query: "max-buckets=0"}, 400, "InvalidArgument"},
		{"malformed query", rawReq{method: "GET", path: "/akten", query: "list-type=2",
			after: func(r *http.Request) { r.URL.RawQuery = "list-type=2&prefix=%zz" }}, 400, "AuthorizationHeaderMalformed"},
		{"expected bucket owner differs", rawReq{method: "GET", path: "/akten/k", header: map[string]string{"X-Amz-Expected-Bucket-Owner": keyB.tenant}}, 403, "AccessDenied"},
		{"huge metadata header", rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{"X-Amz-Meta-X": strings.Repeat("m", 100<<10)}}, 400, "MetadataTooLarge"},

		{"key not UTF-8", rawReq{method: "PUT", path: "/akten/\xff\xfe", body: []byte("x")}, 400, "InvalidURI"},
		{"GET of a key not UTF-8", rawReq{method: "GET", path: "/akten/\xae\x8a-"}, 400, "InvalidURI"},
		{"DELETE of a key not UTF-8", rawReq{method: "DELETE", path: "/akten/\xae\x8a-"}, 400, "InvalidURI"},
		{"key too long", rawReq{method: "PUT", path: "/akten/" + strings.Repeat("ä", 513), body: []byte("x")}, 400, "KeyTooLongError"},
		{"GET key too long", rawReq{method: "GET", path: "/akten/" + strings.Repeat("k", 1025)}, 400, "KeyTooLongError"},
		{"Content-MD5 not base64", rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{"Content-MD5": "nicht base64!"}}, 400, "InvalidDigest"},
		{"Content-MD5 wrong length", rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{"Content-MD5": "AAAA"}}, 400, "InvalidDigest"},
		{"Content-MD5 mismatch", rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{"Content-MD5": md5Of([]byte("y"))}}, 400, "BadDigest"},
		{"part Content-MD5 invalid", rawReq{method: "PUT", path: "/akten/neu", query: "partNumber=1&uploadId=x", body: []byte("x"), header: map[string]string{"Content-MD5": "AAAA"}}, 400, "InvalidDigest"},
		{"metadata too large", rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{"X-Amz-Meta-Gross": strings.Repeat("m", 2100)}}, 400, "MetadataTooLarge"},
		{"metadata too large in sum", rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{
			"X-Amz-Meta-A": strings.Repeat("m", 700), "X-Amz-Meta-B": strings.Repeat("m", 700), "X-Amz-Meta-C": strings.Repeat("m", 700)}}, 400, "MetadataTooLarge"},

		{"create bucket malformed XML", rawReq{method: "PUT", path: "/neu-1", body: []byte("<CreateBucketConfiguration><LocationConstraint>")}, 400, "MalformedXML"},
		{"create bucket wrong root", rawReq{method: "PUT", path: "/neu-2", body: []byte("<Foo/>")}, 400, "MalformedXML"},
		{"create bucket not XML", rawReq{method: "PUT", path: "/neu-3", body: []byte("{\"json\": true}")}, 400, "MalformedXML"},
		{"create bucket other region", rawReq{method: "PUT", path: "/neu-4", body: []byte("<CreateBucketConfiguration><LocationConstraint>us-west-2</LocationConstraint></CreateBucketConfiguration>")}, 400, "IllegalLocationConstraintException"},
		{"create bucket invalid location", rawReq{method: "PUT", path: "/neu-5", body: []byte("<CreateBucketConfiguration><LocationConstraint>Mond, Krater 3</LocationConstraint></CreateBucketConfiguration>")}, 400, "InvalidLocationConstraint"},
		{"create bucket huge body", rawReq{method: "PUT", path: "/neu-6", body: []byte(bigXML)}, 400, "MaxMessageLengthExceeded"},
		{"invalid bucket name", rawReq{method: "PUT", path: "/ab"}, 400, "InvalidBucketName"},
		{"IP bucket name", rawReq{method: "PUT", path: "/192.168.1.1"}, 400, "InvalidBucketName"},
		{"admin prefix is not ours", rawReq{method: "GET", path: "/_kcs/health"}, 404, "NoSuchBucket"},
		{"empty bucket segment", rawReq{method: "GET", path: "//k"}, 400, "InvalidURI"},

		{"complete malformed XML", rawReq{method: "POST", path: "/akten/k", query: upload, body: []byte("<CompleteMultipartUpload><Part>")}, 400, "MalformedXML"},
		{"complete empty body", rawReq{method: "POST", path: "/akten/k", query: upload}, 400, "MalformedXML"},
		{"complete no parts", rawReq{method: "POST", path: "/akten/k", query: upload, body: []byte("<CompleteMultipartUpload></CompleteMultipartUpload>")}, 400, "MalformedXML"},
		{"complete part number not a number", rawReq{method: "POST", path: "/akten/k", query: upload, body: []byte(`<CompleteMultipartUpload><Part><PartNumber>eins</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`)}, 400, "InvalidArgument"},
		{"complete unknown upload", rawReq{method: "POST", path: "/akten/k", query: "uploadId=x", body: []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`)}, 404, "NoSuchUpload"},
		{"upload part without upload id", rawReq{method: "PUT", path: "/akten/k", query: "partNumber=1", body: []byte("x")}, 400, "InvalidArgument"},
		{"upload part number not a number", rawReq{method: "PUT", path: "/akten/k", query: "partNumber=x&uploadId=y", body: []byte("x")}, 400, "InvalidArgument"},
		{"abort unknown upload", rawReq{method: "DELETE", path: "/akten/k", query: "uploadId=x"}, 404, "NoSuchUpload"},

		{"part number 0", rawReq{method: "GET", path: "/akten/k", query: "partNumber=0"}, 400, "InvalidArgument"},
		{"part number and range", rawReq{method: "GET", path: "/akten/k", query: "partNumber=1", header: map[string]string{"Range": "bytes=0-1"}}, 400, "InvalidRequest"},
		{"range beyond the end", rawReq{method: "GET", path: "/akten/k", header: map[string]string{"Range": "bytes=100-"}}, 416, "InvalidRange"},
		{"range -0", rawReq{method: "GET", path: "/akten/k", header: map[string]string{"Range": "bytes=-0"}}, 416, "InvalidRange"},
		{"range huge first byte", rawReq{method: "GET", path: "/akten/k", header: map[string]string{"Range": "bytes=99999999999999999999999-"}}, 416, "InvalidRange"},
		{"missing key", rawReq{method: "GET", path: "/akten/fehlt"}, 404, "NoSuchKey"},
		{"HEAD missing key", rawReq{method: "HEAD", path: "/akten/fehlt"}, 404, "NoSuchKey"},
		{"HEAD range beyond the end", rawReq{method: "HEAD", path: "/akten/k", header: map[string]string{"Range": "bytes=100-"}}, 416, "InvalidRange"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(tc.req)
			doc := h.wantError(resp, tc.status, tc.code)
			if tc.req.method != "HEAD" && utf8.ValidString(tc.req.path) && doc.Resource != tc.req.path {
				t.Errorf("Resource %q, want %q", doc.Resource, tc.req.path)
			}
		})
	}
	// None of that created anything.
	out, err := h.sdk(keyA).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("akten")})
	if err != nil || len(out.Contents) != 1 {
		t.Errorf("after the bad requests: %d objects, %v", len(out.Contents), err)
	}
	if strings.Contains(h.logs.String(), "panic") {
		t.Errorf("a bad request panicked")
	}
}

func TestRawErrorDocument(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	resp := h.do(rawReq{method: "GET", path: "/akten/fehlt/../../x"})
	doc := h.wantError(resp, 404, "NoSuchKey")
	if doc.Key != "fehlt/../../x" || doc.Resource != "/akten/fehlt/../../x" {
		t.Errorf("Key %q Resource %q", doc.Key, doc.Resource)
	}
	// S3's <Error> has no namespace; botocore reads the code only then
	// (TestErrorDocumentNamespace).
	var ns struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal(resp.body, &ns); err != nil || ns.XMLName.Space != "" || ns.XMLName.Local != "Error" {
		t.Errorf("error document element %v", ns.XMLName)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Server") != "kcs" {
		t.Errorf("Server header %q", resp.Header.Get("Server"))
	}
	resp = h.do(rawReq{method: "GET", path: "/gibt-es-nicht"})
	if doc := h.wantError(resp, 404, "NoSuchBucket"); doc.BucketName != "gibt-es-nicht" {
		t.Errorf("BucketName %q", doc.BucketName)
	}
	resp = h.do(rawReq{method: "DELETE", path: "/"})
	if allow := resp.Header.Get("Allow"); allow != "GET" {
		t.Errorf("405 Allow %q", allow)
	}
}

func TestRawRanges(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	data := testData(100, 2)
	h.mustPut(keyA, "akten", "k", data)
	for _, tc := range []struct {
		rng          string
		status       int
		first, last  int
		contentRange string
	}{
		{"bytes=0-4", 206, 0, 4, "bytes 0-4/100"},
		{"bytes=99-99", 206, 99, 99, "bytes 99-99/100"},
		{"bytes=0-99999999999999999999", 206, 0, 99, "bytes 0-99/100"},
		{" bytes = 3 - 5 ", 206, 3, 5, "bytes 3-5/100"},
		// S3 ignores what it cannot use and sends the whole object.
		{"bytes=5-2", 200, 0, 99, ""},
		{"bytes=0-1,3-4", 200, 0, 99, ""},
		{"items=0-1", 200, 0, 99, ""},
		{"bytes=a-b", 200, 0, 99, ""},
		{"bytes=", 200, 0, 99, ""},
		{"bytes=--1", 200, 0, 99, ""},
		{"garbage", 200, 0, 99, ""},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			resp := h.do(rawReq{method: "GET", path: "/akten/k", header: map[string]string{"Range": tc.rng}})
			if resp.StatusCode != tc.status || !bytes.Equal(resp.body, data[tc.first:tc.last+1]) {
				t.Fatalf("status %d, %d bytes; want %d, bytes %d-%d", resp.StatusCode, len(resp.body), tc.status, tc.first, tc.last)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
			}
			if resp.ContentLength != int64(tc.last-tc.first+1) || resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("Content-Length %d, Accept-Ranges %q", resp.ContentLength, resp.Header.Get("Accept-Ranges"))
			}
		})
	}
	for _, method := range []string{"GET", "HEAD"} {
		resp := h.do(rawReq{method: method, path: "/akten/k", header: map[string]string{"Range": "bytes=200-300"}})
		if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */100" {
			t.Errorf("%s unsatisfiable: %d, Content-Range %q", method, resp.StatusCode, resp.Header.Get("Content-Range"))
		}
	}
	// Preconditions come before the range.
	resp := h.do(rawReq{method: "GET", path: "/akten/k", header: map[string]string{"Range": "bytes=200-300", "If-Match": `"nope"`}})
	h.wantError(resp, 412, "PreconditionFailed")
}

func TestRawObjectHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	// No Content-Type: S3 stores binary/octet-stream.
	resp := h.do(rawReq{method: "PUT", path: "/akten/ohne-typ", body: []byte("x")})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, resp.body)
	}
	sum := md5.Sum([]byte("x"))
	wantETag := fmt.Sprintf(`"%x"`, sum)
	if resp.Header.Get("ETag") != wantETag {
		t.Errorf("PUT ETag %q, want %q", resp.Header.Get("ETag"), wantETag)
	}
	resp = h.do(rawReq{method: "HEAD", path: "/akten/ohne-typ"})
	if ct := resp.Header.Get("Content-Type"); ct != "binary/octet-stream" {
		t.Errorf("default Content-Type %q", ct)
	}
	if lm := resp.Header.Get("Last-Modified"); !strings.HasSuffix(lm, " GMT") {
		t.Errorf("Last-Modified %q is not RFC 1123 GMT", lm)
	} else if _, err := time.Parse(http.TimeFormat, lm); err != nil {
		t.Errorf("Last-Modified %q: %v", lm, err)
	}
	if resp.Header.Get("ETag") != wantETag || resp.ContentLength != 1 {
		t.Errorf("HEAD ETag %q Content-Length %d", resp.Header.Get("ETag"), resp.ContentLength)
	}
	// Repeated metadata headers are joined; names are lowercased.
	resp = h.do(rawReq{method: "PUT", path: "/akten/meta", body: []byte("x"),
		header: map[string]string{"X-Amz-Meta-GROSS": "Wert"}, multi: map[string][]string{"X-Amz-Meta-Liste": {"a", "b"}}})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT with metadata: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(rawReq{method: "GET", path: "/akten/meta", query: "response-content-type=text/plain&response-cache-control=no-store"})
	if resp.Header.Get("X-Amz-Meta-Liste") != "a,b" || resp.Header.Get("X-Amz-Meta-Gross") != "Wert" {
		t.Errorf("metadata headers %v", resp.Header)
	}
	if resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("response overrides: Content-Type %q Cache-Control %q", resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	// The expected owner is the caller's tenant.
	resp = h.do(rawReq{method: "GET", path: "/akten/meta", header: map[string]string{"X-Amz-Expected-Bucket-Owner": keyA.tenant}})
	if resp.StatusCode != 200 {
		t.Errorf("x-amz-expected-bucket-owner of the caller: %d", resp.StatusCode)
	}
	// versionId=null names the only version of an unversioned object.
	resp = h.do(rawReq{method: "GET", path: "/akten/meta", query: "versionId=null"})
	if resp.StatusCode != 200 {
		t.Errorf("versionId=null: %d", resp.StatusCode)
	}
	// Every response has a request id.
	for _, r := range []rawReq{{method: "GET", path: "/"}, {method: "GET", path: "/akten/meta"}, {method: "GET", path: "/", unsigned: true}} {
		resp := h.do(r)
		if id := resp.Header.Get("X-Amz-Request-Id"); len(id) != 16 || resp.Header.Get("X-Amz-Id-2") == "" {
			t.Errorf("%s %s: request id %q", r.method, r.path, id)
		}
	}
}

// TestRawLogLine checks the one structured log line per request.
func TestRawLogLine(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	resp := h.do(rawReq{method: "PUT", path: "/akten/log-mich", body: []byte("12345")})
	id := resp.Header.Get("X-Amz-Request-Id")
	line := h.logLine(t, id)
	for k, want := range map[string]any{"method": "PUT", "path": "/akten/log-mich", "op": "PutObject", "status": float64(200),
		"bytes_in": float64(5), "access_key": keyA.id, "tenant": keyA.tenant} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("log line without duration: %v", line)
	}
	resp = h.do(rawReq{method: "GET", path: "/akten/fehlt"})
	line = h.logLine(t, resp.Header.Get("X-Amz-Request-Id"))
	if line["code"] != "NoSuchKey" || line["error"] == nil || line["bytes"] != float64(len(resp.body)) {
		t.Errorf("error log line %v", line)
	}
}

// logLine finds the log line of a request id.
func (h *harness) logLine(t *testing.T, id string) map[string]any {
	t.Helper()
	for l := range strings.SplitSeq(h.logs.String(), "\n") {
		if !strings.Contains(l, id) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "s3 request" {
			return m
		}
	}
	t.Fatalf("no log line for request %s", id)
	return nil
}

func TestPanicIsInternalError(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.faults.inject(func(f *faultLayer) { f.panicOn = "ListObjects" })
	resp := h.do(rawReq{method: "GET", path: "/akten", query: "list-type=2"})
	h.wantError(resp, 500, "InternalError")
	if bytes.Contains(resp.body, []byte("panic")) || bytes.Contains(resp.body, []byte(".go:")) {
		t.Errorf("the client sees panic details: %s", resp.body)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "injected panic in ListObjects") || !strings.Contains(logs, "goroutine") {
		t.Errorf("the panic and its stack are not logged")
	}
	// The server keeps serving.
	h.faults.inject(func(f *faultLayer) { f.panicOn = "" })
	if resp := h.do(rawReq{method: "GET", path: "/akten", query: "list-type=2"}); resp.StatusCode != 200 {
		t.Errorf("after a panic: %d", resp.StatusCode)
	}
}

func TestLayerErrors(t *testing.T) {
	for _, tc := range []struct {
		kind   objapi.Kind
		status int
		code   string
	}{
		{objapi.KindUnavailable, 503, "ServiceUnavailable"},
		{objapi.KindCorrupt, 500, "InternalError"},
		{objapi.KindInternal, 500, "InternalError"},
		{objapi.KindConflict, 409, "OperationAborted"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			h.mustCreateBucket(keyA, "akten")
			h.faults.inject(func(f *faultLayer) {
				f.failWith = &objapi.Error{Op: "X", Kind: tc.kind, Msg: "disk sdb3 on node th-erf-7 failed", Err: errors.New("secret detail")}
			})
			resp := h.do(rawReq{method: "GET", path: "/akten/k"})
			h.wantError(resp, tc.status, tc.code)
			if bytes.Contains(resp.body, []byte("secret detail")) || tc.status >= 500 && bytes.Contains(resp.body, []byte("sdb3")) {
				t.Errorf("internal details reach the client: %s", resp.body)
			}
			if !strings.Contains(h.logs.String(), "secret detail") {
				t.Errorf("internal details are not logged")
			}
			// A 503 says when to try again; a 500 is a fault, logged as an
			// error, while a 503 (nodes out of reach) is a warning.
			if got := resp.Header.Get("Retry-After"); (tc.status == 503) != (got != "") {
				t.Errorf("Retry-After %q on a %d", got, tc.status)
			}
			level := `"level":"ERROR"`
			if tc.status < 500 {
				level = `"level":"INFO"`
			} else if tc.status == 503 {
				level = `"level":"WARN"`
			}
			if !strings.Contains(h.logs.String(), level) {
				t.Errorf("a %d is not logged at %s:\n%s", tc.status, level, h.logs.String())
			}
		})
	}
}

// TestSendFailure: a GET whose object fails after some bytes were sent must
// be cut off, never completed with a wrong or short body that looks whole.
func TestSendFailure(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", testData(1<<20, 4))
	h.faults.inject(func(f *faultLayer) { f.sendFail = true })
	resp, err := h.srv.Client().Do(h.newRequest(rawReq{method: "GET", path: "/akten/k"}))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || n >= 1<<20 {
		t.Fatalf("read %d bytes, err %v: want a cut-off body", n, err)
	}
	line := h.logLine(t, resp.Header.Get("X-Amz-Request-Id"))
	if !strings.Contains(fmt.Sprint(line["error"]), "injected failure") {
		t.Errorf("log %v", line)
	}
	// A failure before the first byte still gets an error response.
	h.mustPut(keyA, "akten", "ein-byte", []byte{1})
	resp2 := h.do(rawReq{method: "GET", path: "/akten/ein-byte"})
	h.wantError(resp2, 500, "InternalError")
}

// TestTruncatedBodies sends bodies that end before their declared length,
// and declared lengths beyond S3's limits, over raw connections.
func TestTruncatedBodies(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	for _, tc := range []struct {
		name   string
		length int64
		send   string
		query  string
		status int
		code   string
	}{
		{"declared 6 GiB", 6 << 30, "", "", 400, "EntityTooLarge"},
		{"part declared 6 GiB", 6 << 30, "", "partNumber=1&uploadId=x", 400, "EntityTooLarge"},
		// The client half-closes: net/http takes that as the client
		// leaving, yet the client must still read an error, not a 200.
		{"body cut short", 100, "only fifty bytes..................................", "", 400, "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := h.newRequest(rawReq{method: "PUT", path: "/akten/abgeschnitten", query: tc.query,
				header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}})
			req.ContentLength = tc.length
			conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(), req.Host, tc.length)
			req.Header.Write(conn)
			io.WriteString(conn, "\r\n"+tc.send)
			conn.(*net.TCPConn).CloseWrite()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			h.wantError(rawResponse{resp, body}, tc.status, tc.code)
		})
	}
	if resp := h.do(rawReq{method: "HEAD", path: "/akten/abgeschnitten"}); resp.StatusCode != 404 {
		t.Errorf("a truncated upload left an object: %d", resp.StatusCode)
	}
}

// TestBodyReadErrorMidUpload: the client's body fails half-way; nothing is
// stored and the server logs a client error, not a server fault.
func TestBodyReadErrorMidUpload(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	req := h.newRequest(rawReq{method: "PUT", path: "/akten/halb", header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}})
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(testData(256<<10, 1)), errReader{errors.New("disk of the client failed")}))
	req.ContentLength = 1 << 20
	if _, err := h.srv.Client().Do(req); err == nil {
		t.Fatal("the client's failing body went unnoticed")
	}
	waitFor(t, func() bool { return strings.Contains(h.logs.String(), `"path":"/akten/halb"`) })
	line := h.logs.String()
	if strings.Contains(line, `"status":500`) || strings.Contains(line, `"level":"ERROR"`) {
		t.Errorf("a client's failure is logged as a server fault:\n%s", line)
	}
	if resp := h.do(rawReq{method: "HEAD", path: "/akten/halb"}); resp.StatusCode != 404 {
		t.Errorf("a failed upload left an object: %d", resp.StatusCode)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestClientGoneDuringGet: a client that hangs up is logged as such (499),
// not as a server fault.
func TestClientGoneDuringGet(t *testing.T) {
	entered := make(chan struct{})
	h := newHarness(t, harnessOpts{wrap: func(l ObjectLayer) ObjectLayer { return &blockingLayer{ObjectLayer: l, entered: entered} }})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", testData(10, 1))
	ctx, cancel := context.WithCancel(context.Background())
	req := h.newRequest(rawReq{method: "GET", path: "/akten/k"}).WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := h.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("request succeeded")
	}
	waitFor(t, func() bool { return strings.Contains(h.logs.String(), `"client_gone":true`) })
	if strings.Contains(h.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a client hanging up is logged as an error:\n%s", h.logs.String())
	}
}

// blockingLayer's objects block in Send until the request is canceled.
type blockingLayer struct {
	ObjectLayer
	entered chan struct{}
}

func (b *blockingLayer) GetObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.GetOptions) (*objapi.Object, error) {
	o, err := b.ObjectLayer.GetObject(ctx, c, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return objapi.NewObject(o.Info, o.Offset, o.Length, o.Partial, func(ctx context.Context, w io.Writer) error {
		close(b.entered)
		<-ctx.Done()
		return ctx.Err()
	}), nil
}

// waitFor polls cond: the server logs after it answered, so a test that
// looks at the log right after a response must wait for it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOversizedHeaders: net/http refuses headers beyond MaxHeaderBytes
// (431) before Server sees them; the server keeps serving.
func TestOversizedHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp := h.do(rawReq{method: "GET", path: "/", header: map[string]string{"X-Filler": strings.Repeat("f", 2<<20)}, unsigned: true})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("2 MiB of headers: %d", resp.StatusCode)
	}
	if resp := h.do(rawReq{method: "GET", path: "/"}); resp.StatusCode != 200 {
		t.Errorf("afterwards: %d", resp.StatusCode)
	}
}

// ListObjects (version 1) with encoding-type=url encodes keys, prefixes
// and markers but echoes the request's Prefix as given: S3 does, and
// botocore decodes the others only.
func TestListV1EchoesPrefixUnencoded(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "a b/c d", []byte("x"))
	resp := h.do(rawReq{method: "GET", path: "/akten", query: "encoding-type=url&prefix=a%20b%2F&delimiter=%20"})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	for _, want := range []string{"<Prefix>a b/</Prefix>", "<Prefix>a+b/c+</Prefix>", "<Delimiter>+</Delimiter>"} {
		if !bytes.Contains(resp.body, []byte(want)) {
			t.Errorf("no %s in %s", want, resp.body)
		}
	}
}
