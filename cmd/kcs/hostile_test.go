package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestE2EHostileInput: bad input gets an S3 error and a log line; the
// server stays up and loses nothing.
func TestE2EHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-hostile")
	ctx := context.Background()
	n1, n2 := c.servers[0], c.servers[1]
	cl := goClient("http://"+n1.s3(), ak, sk, http.DefaultClient)
	bucket := aws.String("robust")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	// Hostile but valid keys are just keys: stored and read back, never a path.
	for _, key := range []string{"../../etc/passwd", "/abs/path", "..", "a//b/../c", "ä ö ü ß €/📄.pdf", "%2e%2e/x", strings.Repeat("k", 1024)} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: strings.NewReader("inhalt " + key)}); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
		if got := getBytes(t, goClient("http://"+n2.s3(), ak, sk, http.DefaultClient), *bucket, key, ""); string(got) != "inhalt "+key {
			t.Fatalf("%q read back as %q", key, got)
		}
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")}); apiCode(err) != "KeyTooLongError" {
		t.Fatalf("key of 1025 bytes: %v", err)
	}

	raw := func(method, path string, hdr map[string]string, body io.Reader) (int, string) {
		req, _ := http.NewRequest(method, "http://"+n1.s3()+path, body)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode, readBody(resp)
	}
	// Unsigned and malformed requests: S3 errors, not crashes.
	for _, tc := range []struct {
		method, path string
		hdr          map[string]string
		status       int
		code         string
	}{
		{"GET", "/robust", nil, 403, "AccessDenied"},
		{"GET", "/robust", map[string]string{"Authorization": "AWS4-HMAC-SHA256 garbage"}, 400, "AuthorizationHeaderMalformed"},
		{"GET", "/robust", map[string]string{"Authorization": strings.Repeat("A", 8000)}, 400, ""},
		{"PUT", "/robust/x", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=" + ak + "/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}, 400, "AuthorizationHeaderMalformed"},
	} {
		status, body := raw(tc.method, tc.path, tc.hdr, nil)
		if status != tc.status || (tc.code != "" && !strings.Contains(body, "<Code>"+tc.code+"</Code>")) {
			t.Errorf("%s %s %v: %d %s", tc.method, tc.path, tc.hdr, status, body)
		}
	}
	// Malformed XML in a signed request.
	cu, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	code, body := signedRequest(t, n1, ak, sk, http.MethodPost, "/robust/mp?uploadId="+aws.ToString(cu.UploadId), []byte("<CompleteMultipartUpload><Part><PartNumber>1"))
	if code != 400 || !strings.Contains(body, "MalformedXML") {
		t.Fatalf("malformed XML: %d %s", code, body)
	}
	// A body cut short: the server sees the connection end, refuses the
	// upload, keeps nothing, and keeps serving.
	conn, err := net.Dial("tcp", n1.s3())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /robust/truncated HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\nX-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n\r\n", n1.s3())
	conn.Write(bytes.Repeat([]byte("x"), 1000))
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("truncated")}); !statusIs(err, 404) {
		t.Fatalf("truncated upload left an object: %v", err)
	}
	// Everything stored before is still there, through every node.
	for _, s := range c.servers {
		if got := getBytes(t, goClient("http://"+s.s3(), ak, sk, http.DefaultClient), *bucket, "../../etc/passwd", ""); string(got) != "inhalt ../../etc/passwd" {
			t.Fatalf("after hostile input via %s: %q", s.id, got)
		}
	}
}

// signedRequest sends a SigV4-signed request with a body.
func signedRequest(t *testing.T, s *server, ak, sk, method, path string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.s3()+path, bytes.NewReader(body))
	return signAndDo(t, req, ak, sk, body)
}
