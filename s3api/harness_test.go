package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/objapi/memlayer"
)

// testRegion is the region of test servers unless a test picks another.
const testRegion = "eu-central-1"

// testKey is an access key of the test credentials.
type testKey struct{ id, secret, tenant string }

var (
	keyA  = testKey{"AKIATENANTA000000001", "secret-of-tenant-a-0123456789abcdef", "gemeinde-a"}
	keyA2 = testKey{"AKIATENANTA000000002", "second-secret-of-tenant-a-01234567", "gemeinde-a"}
	keyB  = testKey{"AKIATENANTB000000001", "secret-of-tenant-b-0123456789abcdef", "landkreis-b"}
	// keyUnknown is a key the server does not know.
	keyUnknown = testKey{"AKIAUNKNOWN000000001", "whatever-secret-0123456789abcdefgh", ""}
)

// harness is a Server on the in-memory layer behind an httptest server.
type harness struct {
	t      *testing.T
	layer  *memlayer.Layer
	faults *faultLayer // around layer
	server *Server
	srv    *httptest.Server
	logs   *logSink
	region string
}

type harnessOpts struct {
	tls    bool
	region string
	domain string           // Config.Domain: virtual-hosted style
	now    func() time.Time // the server's clock
	// wrap, if set, puts a layer around the in-memory one (and its
	// faults).
	wrap func(ObjectLayer) ObjectLayer
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.region == "" {
		o.region = testRegion
	}
	h := &harness{t: t, layer: memlayer.New(time.Now), logs: &logSink{}, region: o.region}
	creds := memCreds{}
	for _, k := range []testKey{keyA, keyA2, keyB} {
		creds[k.id] = objapi.Credential{AccessKey: k.id, Secret: k.secret, Tenant: k.tenant}
	}
	h.faults = &faultLayer{Layer: h.layer}
	var layer ObjectLayer = h.faults
	if o.wrap != nil {
		layer = o.wrap(layer)
	}
	h.server = New(Config{
		Region: o.region,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    o.now,
		Domain: o.domain,
	}, layer, creds)
	if o.tls {
		h.srv = httptest.NewTLSServer(h.server)
	} else {
		h.srv = httptest.NewServer(h.server)
	}
	t.Cleanup(func() {
		h.srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// memCreds is an in-memory Credentials.
type memCreds map[string]objapi.Credential

func (m memCreds) LookupAccessKey(ctx context.Context, accessKey string) (objapi.Credential, error) {
	c, ok := m[accessKey]
	if !ok {
		return objapi.Credential{}, objapi.Errorf("LookupAccessKey", objapi.KindNoSuchAccessKey, "%q", accessKey)
	}
	return c, nil
}

// faultLayer puts faults a test switches on and off, while the server
// runs, around the in-memory layer.
type faultLayer struct {
	*memlayer.Layer

	mu       sync.Mutex
	panicOn  string // ListObjects or GetObject panics
	failWith error  // GetObject fails with this error
	sendFail bool   // GetObject's Send fails after writing half of the bytes
}

// inject changes the faults under the lock.
func (f *faultLayer) inject(change func(f *faultLayer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *faultLayer) faults() (panicOn string, failWith error, sendFail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.panicOn, f.failWith, f.sendFail
}

func (f *faultLayer) ListObjects(ctx context.Context, c objapi.Caller, bucket string, opts objapi.ListOptions) (objapi.ListResult, error) {
	if p, _, _ := f.faults(); p == "ListObjects" {
		panic("faultLayer: injected panic in ListObjects")
	}
	return f.Layer.ListObjects(ctx, c, bucket, opts)
}

func (f *faultLayer) GetObject(ctx context.Context, c objapi.Caller, bucket, key string, opts objapi.GetOptions) (*objapi.Object, error) {
	p, failWith, sendFail := f.faults()
	switch {
	case p == "GetObject":
		panic("faultLayer: injected panic in GetObject")
	case failWith != nil:
		return nil, failWith
	}
	o, err := f.Layer.GetObject(ctx, c, bucket, key, opts)
	if err != nil || !sendFail {
		return o, err
	}
	return objapi.NewObject(o.Info, o.Offset, o.Length, o.Partial, func(ctx context.Context, w io.Writer) error {
		var buf bytes.Buffer
		if err := o.Send(ctx, &buf); err != nil {
			return err
		}
		if _, err := w.Write(buf.Bytes()[:buf.Len()/2]); err != nil {
			return err
		}
		return &objapi.Error{Op: "GetObject", Kind: objapi.KindCorrupt, Err: errors.New("injected failure")}
	}), nil
}

// logSink collects the server's log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// sdk returns an aws-sdk-go-v2 S3 client for key, path style, trusting the
// test server's certificate, without retries (errors are what tests look
// at).
func (h *harness) sdk(key testKey, optFns ...func(*s3.Options)) *s3.Client {
	cfg := aws.Config{
		Region:      h.region,
		Credentials: credentials.NewStaticCredentialsProvider(key.id, key.secret, ""),
		HTTPClient:  h.srv.Client(),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(h.srv.URL)
	}}, optFns...)...)
}

// minio returns a minio-go client for key.
func (h *harness) minio(key testKey) *minio.Client {
	h.t.Helper()
	u, err := url.Parse(h.srv.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        miniocreds.NewStaticV4(key.id, key.secret, ""),
		Secure:       u.Scheme == "https",
		Region:       h.region,
		Transport:    h.srv.Client().Transport,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// s3Escape encodes a path the way SigV4 canonicalizes S3 paths: every
// byte but A-Z a-z 0-9 - _ . ~ and / as %XX.
func s3Escape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// rawRequest builds a request for path (decoded, sent exactly: never
// cleaned) and rawQuery, signed by key unless key.id is empty.
type rawReq struct {
	method   string
	path     string // decoded path, e.g. "/bucket/../../etc/passwd"
	query    string // raw query
	header   map[string]string
	multi    map[string][]string // headers sent several times
	body     []byte
	unsigned bool // send without any authentication
	key      testKey
	host     string // the Host header, if not the server's address (virtual-hosted style)
	// after changes the request after it was signed, for requests a
	// signer would not produce.
	after func(*http.Request)
}

func (h *harness) newRequest(r rawReq) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(r.method, h.srv.URL, bytes.NewReader(r.body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.URL.Path = r.path
	req.URL.RawPath = s3Escape(r.path)
	req.URL.RawQuery = r.query
	if r.host != "" {
		req.Host = r.host
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	for k, vs := range r.multi {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.unsigned {
		return req
	}
	key := r.key
	if key.id == "" {
		key = keyA
	}
	sum := sha256.Sum256(r.body)
	payload := hex.EncodeToString(sum[:])
	if v, ok := r.header["X-Amz-Content-Sha256"]; ok {
		payload = v
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: key.id, SecretAccessKey: key.secret}, req, payload, "s3", h.region, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if r.after != nil {
		r.after(req)
	}
	return req
}

// rawResponse is a response with its body read.
type rawResponse struct {
	*http.Response
	body []byte
}

func (h *harness) do(r rawReq) rawResponse {
	h.t.Helper()
	resp, err := h.srv.Client().Do(h.newRequest(r))
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", r.method, r.path, err)
	}
	return rawResponse{resp, b}
}

// errorDoc parses an S3 error document.
type errorDoc struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	Resource   string
	RequestID  string `xml:"RequestId"`
	HostID     string `xml:"HostId"`
	BucketName string
	Key        string
}

// wantError checks that resp is the S3 error code with status, and that
// the error document is complete and consistent with the headers.
func (h *harness) wantError(resp rawResponse, status int, code string) errorDoc {
	h.t.Helper()
	if resp.StatusCode != status {
		h.t.Errorf("status %d, want %d (body %q)", resp.StatusCode, status, clip(resp.body))
	}
	var doc errorDoc
	if resp.Request.Method == http.MethodHead || status == http.StatusNotModified {
		if len(resp.body) != 0 {
			h.t.Errorf("%s error has a body: %q", resp.Request.Method, clip(resp.body))
		}
		return doc
	}
	if !bytes.HasPrefix(resp.body, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		h.t.Errorf("error body does not start with the XML declaration: %q", clip(resp.body))
	}
	if err := xml.Unmarshal(resp.body, &doc); err != nil {
		h.t.Fatalf("error body does not parse: %v: %q", err, clip(resp.body))
	}
	if doc.Code != code {
		h.t.Errorf("code %q, want %q (message %q)", doc.Code, code, doc.Message)
	}
	if doc.Message == "" || doc.RequestID == "" || doc.HostID == "" {
		h.t.Errorf("incomplete error document: %+v", doc)
	}
	if got := resp.Header.Get("X-Amz-Request-Id"); got != doc.RequestID {
		h.t.Errorf("RequestId %q, header x-amz-request-id %q", doc.RequestID, got)
	}
	if got := resp.Header.Get("X-Amz-Id-2"); got != doc.HostID {
		h.t.Errorf("HostId %q, header x-amz-id-2 %q", doc.HostID, got)
	}
	return doc
}

// apiErr extracts the S3 code and HTTP status from an SDK error.
func apiErr(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantAPIError checks an SDK call's error.
func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	gotCode, gotStatus := apiErr(err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("error %d %q, want %d %q (%v)", gotStatus, gotCode, status, code, err)
	}
}

// mustCreateBucket creates a bucket through the SDK.
func (h *harness) mustCreateBucket(key testKey, bucket string) {
	h.t.Helper()
	if _, err := h.sdk(key).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		h.t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
}

// mustPut stores an object through the SDK.
func (h *harness) mustPut(key testKey, bucket, objKey string, data []byte) {
	h.t.Helper()
	_, err := h.sdk(key).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(objKey), Body: bytes.NewReader(data)})
	if err != nil {
		h.t.Fatalf("PutObject %s/%s: %v", bucket, objKey, err)
	}
}

// testData returns n bytes of a fixed pattern that differs per seed.
func testData(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// transports runs f once over HTTP and once over TLS: over TLS the AWS SDK
// sends trailing checksums with aws-chunked bodies, over HTTP it signs the
// payload's hash.
func transports(t *testing.T, f func(t *testing.T, h *harness)) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"http", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f(t, newHarness(t, harnessOpts{tls: tc.tls}))
		})
	}
}

// clip shortens a body for a test message.
func clip(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:300:300], "…"...)
	}
	return b
}
