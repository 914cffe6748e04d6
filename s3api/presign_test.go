package s3api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPresignedMethods: a browser or curl uses presigned URLs for every
// method without an SDK; expired and over-long URLs are refused as S3
// refuses them.
func TestPresignedMethods(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	ps := s3.NewPresignClient(h.sdk(keyA))
	data := testData(3000, 21)
	key := aws.String("scan/Antrag Nr. 7 (ä).pdf")
	bucket := aws.String("akten")
	send := func(method, u string, body []byte, hdr http.Header) rawResponse {
		t.Helper()
		r, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			r.Header[k] = vs
		}
		resp, err := h.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return rawResponse{resp, b}
	}
	valid := s3.WithPresignExpires(time.Minute)

	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, ContentType: aws.String("application/pdf")}, valid)
	if err != nil {
		t.Fatal(err)
	}
	if resp := send(http.MethodPut, put.URL, data, put.SignedHeader); resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5Hex(data)+`"` {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, resp.body)
	}
	head, err := ps.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key}, valid)
	if err != nil {
		t.Fatal(err)
	}
	if resp := send(http.MethodHead, head.URL, nil, head.SignedHeader); resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) ||
		resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("presigned HEAD: %d, length %d, type %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, Range: aws.String("bytes=10-19")}, valid)
	if err != nil {
		t.Fatal(err)
	}
	if resp := send(http.MethodGet, get.URL, nil, get.SignedHeader); resp.StatusCode != 206 || !bytes.Equal(resp.body, data[10:20]) {
		t.Fatalf("presigned ranged GET: %d, %d bytes", resp.StatusCode, len(resp.body))
	}
	del, err := ps.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key}, valid)
	if err != nil {
		t.Fatal(err)
	}
	if resp := send(http.MethodDelete, del.URL, nil, del.SignedHeader); resp.StatusCode != 204 {
		t.Fatalf("presigned DELETE: %d %s", resp.StatusCode, resp.body)
	}
	if resp := send(http.MethodHead, head.URL, nil, head.SignedHeader); resp.StatusCode != 404 {
		t.Errorf("HEAD after the presigned DELETE: %d", resp.StatusCode)
	}

	// A presigned URL covers its method and resource only.
	r, _ := http.NewRequest(http.MethodDelete, get.URL, nil)
	if resp, err := h.srv.Client().Do(r); err != nil || resp.StatusCode != 403 {
		t.Errorf("GET URL used for DELETE: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	past := func(o *s3.PresignOptions) {
		o.Expires = time.Minute
		o.Presigner = pastPresigner{v4.NewSigner(), time.Now().Add(-time.Hour)}
	}
	expired := map[string]*v4.PresignedHTTPRequest{}
	if expired["GET"], err = ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key}, past); err != nil {
		t.Fatal(err)
	}
	if expired["PUT"], err = ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key}, past); err != nil {
		t.Fatal(err)
	}
	if expired["HEAD"], err = ps.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key}, past); err != nil {
		t.Fatal(err)
	}
	if expired["DELETE"], err = ps.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key}, past); err != nil {
		t.Fatal(err)
	}
	for method, p := range expired {
		t.Run("expired "+method, func(t *testing.T) {
			resp := send(method, p.URL, []byte("x"), p.SignedHeader)
			doc := h.wantError(resp, 403, "AccessDenied")
			if method != "HEAD" && doc.Message != "Request has expired" {
				t.Errorf("message %q", doc.Message)
			}
		})
	}

	// Seven days is the longest a presigned URL may live.
	for _, tc := range []struct {
		expires string
		status  int
	}{{"604800", 200}, {"604801", 400}} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/akten", nil)
		req.URL.RawQuery = url.Values{"X-Amz-Expires": {tc.expires}}.Encode()
		signed, hdr, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: keyA.id, SecretAccessKey: keyA.secret},
			req, "UNSIGNED-PAYLOAD", "s3", h.region, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp := send(http.MethodGet, signed, nil, hdr)
		if tc.status == 200 {
			if resp.StatusCode != 200 {
				t.Errorf("X-Amz-Expires %s: %d %s", tc.expires, resp.StatusCode, resp.body)
			}
			continue
		}
		h.wantError(resp, 400, "AuthorizationQueryParametersError")
	}
}
