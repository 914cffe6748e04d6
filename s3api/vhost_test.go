package s3api

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// testDomain is the Config.Domain of virtual-hosted-style tests. No
// resolver knows it: clients dial the test server whatever the host.
const testDomain = "s3.kcs.test"

// vhostClient is an HTTP client that sends every request to the test
// server, whatever host its URL names, as a wildcard DNS record would.
func (h *harness) vhostClient() *http.Client {
	addr := h.srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// vhostEndpoint is the domain's endpoint on the test server's port.
func (h *harness) vhostEndpoint() string {
	_, port, _ := net.SplitHostPort(h.srv.Listener.Addr().String())
	return "http://" + testDomain + ":" + port
}

func TestSDKVirtualHostedStyle(t *testing.T) {
	h := newHarness(t, harnessOpts{domain: testDomain})
	ctx := context.Background()
	c := s3.NewFromConfig(aws.Config{
		Region:      h.region,
		Credentials: credentials.NewStaticCredentialsProvider(keyA.id, keyA.secret, ""),
		HTTPClient:  h.vhostClient(),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(h.vhostEndpoint())
		o.UsePathStyle = false
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	data := testData(100<<10, 41)
	keys := []string{"bauantrag/plan.pdf", "/führend", "a//b", "akten/x"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("PUT %q: %v", k, err)
		}
	}
	// Path style and virtual-hosted style name the same objects.
	for _, k := range keys {
		if !bytes.Equal(h.getBytes(keyA, "akten", k), data) {
			t.Errorf("path style reads %q differently", k)
		}
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(get.Body)
		get.Body.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("virtual-hosted GET %q: %d bytes", k, len(got))
		}
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten")})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range list.Contents {
		listed = append(listed, aws.ToString(o.Key))
	}
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(listed, want) {
		t.Errorf("listed %q, want %q", listed, want)
	}
	// Location names the object as it was addressed.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	if loc := aws.ToString(done.Location); loc != "http://akten."+testDomain+strings.TrimPrefix(h.vhostEndpoint(), "http://"+testDomain)+"/mp" {
		t.Errorf("Location %q", loc)
	}
	// Presigned URLs in virtual-hosted style.
	ps := s3.NewPresignClient(c)
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("bauantrag/plan.pdf")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(get.URL); !strings.HasPrefix(u.Host, "akten."+testDomain) {
		t.Fatalf("not a virtual-hosted URL: %s", get.URL)
	}
	resp, err := h.vhostClient().Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Errorf("presigned virtual-hosted GET: %d, %d bytes", resp.StatusCode, len(got))
	}
}

// TestRawVirtualHostedStyle sets the Host header by hand, as a proxy or
// curl --resolve would send it.
func TestRawVirtualHostedStyle(t *testing.T) {
	h := newHarness(t, harnessOpts{domain: testDomain})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "dir/k", []byte("inhalt"))
	for _, tc := range []struct {
		name, host, path string
		status           int
		body             string
	}{
		{"bucket from the host", "akten." + testDomain, "/dir/k", 200, "inhalt"},
		{"with a port", "akten." + testDomain + ":443", "/dir/k", 200, "inhalt"},
		{"upper case", "AKTEN.S3.KCS.TEST", "/dir/k", 200, "inhalt"},
		{"the domain itself is path style", testDomain, "/akten/dir/k", 200, "inhalt"},
		{"another host is path style", "localhost", "/akten/dir/k", 200, "inhalt"},
		{"the path is all key", "akten." + testDomain, "/akten/dir/k", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(rawReq{method: "GET", path: tc.path, host: tc.host})
			if resp.StatusCode != tc.status || tc.body != "" && string(resp.body) != tc.body {
				t.Errorf("%d %q", resp.StatusCode, resp.body)
			}
		})
	}
	resp := h.do(rawReq{method: "GET", path: "/", query: "list-type=2", host: "akten." + testDomain})
	if resp.StatusCode != 200 || !strings.Contains(string(resp.body), "<Key>dir/k</Key>") {
		t.Errorf("listing through the host: %d %s", resp.StatusCode, resp.body)
	}
	doc := h.wantError(h.do(rawReq{method: "GET", path: "/k", host: "gibt-es-nicht." + testDomain}), 404, "NoSuchBucket")
	if doc.BucketName != "gibt-es-nicht" {
		t.Errorf("BucketName %q", doc.BucketName)
	}
}
