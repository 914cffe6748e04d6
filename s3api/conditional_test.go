package s3api

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The object layer decides conditional writes, racing ones included
// (objapi/objtest's Conditional tests run against the in-memory layer and
// a real cluster); TestConditionalWrites checks how s3api reads the
// conditions from headers and answers their failures.
func TestConditionalWrites(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	put := func(key string, in s3.PutObjectInput) (string, error) {
		in.Bucket, in.Key, in.Body = aws.String("akten"), aws.String(key), strings.NewReader("inhalt "+key)
		out, err := c.PutObject(ctx, &in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	etag, err := put("k", s3.PutObjectInput{IfNoneMatch: aws.String("*")})
	if err != nil {
		t.Fatalf("If-None-Match on a new key: %v", err)
	}
	_, err = put("k", s3.PutObjectInput{IfNoneMatch: aws.String("*")})
	wantAPIError(t, err, 412, "PreconditionFailed")
	_, err = put("k", s3.PutObjectInput{IfMatch: aws.String(`"00000000000000000000000000000000"`)})
	wantAPIError(t, err, 412, "PreconditionFailed")
	_, err = put("fehlt", s3.PutObjectInput{IfMatch: aws.String(etag)})
	wantAPIError(t, err, 404, "NoSuchKey")
	if _, err := put("k", s3.PutObjectInput{IfMatch: aws.String(etag)}); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if got := h.getBytes(keyA, "akten", "k"); string(got) != "inhalt k" {
		t.Errorf("k holds %q", got)
	}

	// DeleteObject with If-Match.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), IfMatch: aws.String(`"0123"`)})
	wantAPIError(t, err, 412, "PreconditionFailed")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("akten"), Key: aws.String("fehlt"), IfMatch: aws.String(etag)})
	wantAPIError(t, err, 404, "NoSuchKey")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), IfMatch: aws.String(etag)}); err != nil {
		t.Fatalf("DeleteObject with the current ETag: %v", err)
	}

	// CompleteMultipartUpload with If-None-Match and If-Match.
	complete := func(key string, in s3.CompleteMultipartUploadInput) error {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("teil")})
		if err != nil {
			t.Fatal(err)
		}
		in.Bucket, in.Key, in.UploadId = aws.String("akten"), aws.String(key), up.UploadId
		in.MultipartUpload = &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}
		_, err = c.CompleteMultipartUpload(ctx, &in)
		return err
	}
	if err := complete("mp", s3.CompleteMultipartUploadInput{IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("complete If-None-Match on a new key: %v", err)
	}
	wantAPIError(t, complete("mp", s3.CompleteMultipartUploadInput{IfNoneMatch: aws.String("*")}), 412, "PreconditionFailed")
	wantAPIError(t, complete("mp", s3.CompleteMultipartUploadInput{IfMatch: aws.String(`"0123"`)}), 412, "PreconditionFailed")
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	if err := complete("mp", s3.CompleteMultipartUploadInput{IfMatch: head.ETag}); err != nil {
		t.Fatalf("complete If-Match with the current ETag: %v", err)
	}
}

// TestObjectHeaders: the standard headers a PUT sets come back on GET and
// HEAD; response-* parameters still override them; aws-chunked, which
// describes the transfer, is not kept.
func TestObjectHeaders(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		expires := "Thu, 01 Dec 2044 16:00:00 GMT"
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("akten"), Key: aws.String("k"), Body: bytes.NewReader([]byte("inhalt")),
			CacheControl: aws.String("max-age=3600, private"), ContentDisposition: aws.String(`inline; filename="bescheid.txt"`),
			ContentEncoding: aws.String("identity"), ContentLanguage: aws.String("de-DE"),
			ContentType: aws.String("text/plain; charset=utf-8"),
		})
		if err != nil {
			t.Fatal(err)
		}
		// Expires is kept verbatim, even when it is not a date.
		resp := h.do(rawReq{method: "PUT", path: "/akten/roh", body: []byte("x"), header: map[string]string{"Expires": expires}})
		if resp.StatusCode != 200 {
			t.Fatalf("PUT with Expires: %d", resp.StatusCode)
		}
		want := map[string]string{
			"Cache-Control":       "max-age=3600, private",
			"Content-Disposition": `inline; filename="bescheid.txt"`,
			"Content-Encoding":    "identity",
			"Content-Language":    "de-DE",
			"Content-Type":        "text/plain; charset=utf-8",
		}
		for _, method := range []string{"GET", "HEAD"} {
			resp := h.do(rawReq{method: method, path: "/akten/k"})
			for name, v := range want {
				if got := resp.Header.Get(name); got != v {
					t.Errorf("%s %s %q, want %q", method, name, got, v)
				}
			}
		}
		if resp := h.do(rawReq{method: "HEAD", path: "/akten/roh"}); resp.Header.Get("Expires") != expires || resp.Header.Get("Cache-Control") != "" {
			t.Errorf("Expires %q, Cache-Control %q", resp.Header.Get("Expires"), resp.Header.Get("Cache-Control"))
		}
		resp = h.do(rawReq{method: "GET", path: "/akten/k", query: "response-cache-control=no-store&response-content-disposition=attachment"})
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Disposition") != "attachment" || resp.Header.Get("Content-Language") != "de-DE" {
			t.Errorf("overrides: %v", resp.Header)
		}
		// Over TLS the SDK sends this body aws-chunked, with a trailing
		// checksum: only gzip describes the object.
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("gz"), Body: bytes.NewReader([]byte("nicht wirklich gzip")),
			ContentEncoding: aws.String("gzip")})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.do(rawReq{method: "HEAD", path: "/akten/gz"}).Header.Get("Content-Encoding"); got != "gzip" {
			t.Errorf("Content-Encoding %q, want gzip", got)
		}
		// aws-chunked named by hand on a body that is not framed (over
		// HTTP the SDK signs the body's hash): read as sent, left out of
		// what is stored.
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("gz2"), Body: bytes.NewReader([]byte("nicht wirklich gzip")),
			ContentEncoding: aws.String("gzip, aws-chunked")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("gz2")})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.Body)
		if aws.ToString(got.ContentEncoding) != "gzip" || string(body) != "nicht wirklich gzip" {
			t.Errorf("gzip, aws-chunked: Content-Encoding %q, body %q", aws.ToString(got.ContentEncoding), body)
		}
		h.mustPut(keyA, "akten", "plain", []byte("x"))
		if got := h.do(rawReq{method: "HEAD", path: "/akten/plain"}).Header.Values("Content-Encoding"); len(got) != 0 {
			t.Errorf("Content-Encoding %q of an object stored without one", got)
		}
	})
	// A raw aws-chunked encoding alone leaves none.
	if got := objectHeaders(map[string][]string{"Content-Encoding": {"aws-chunked"}}).ContentEncoding; got != "" {
		t.Errorf("aws-chunked kept as %q", got)
	}
	// What remains is the client's, as written (lines joined as HTTP
	// joins them).
	if got := objectHeaders(map[string][]string{"Content-Encoding": {"aws-chunked, gzip", "br"}}).ContentEncoding; got != "gzip, br" {
		t.Errorf("aws-chunked, gzip + br kept as %q", got)
	}
	if got := objectHeaders(map[string][]string{"Content-Encoding": {"deflate, gzip"}}).ContentEncoding; got != "deflate, gzip" {
		t.Errorf("deflate, gzip kept as %q", got)
	}
}
