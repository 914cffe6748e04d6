package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Real clients (aws-sdk-go-v2's S3 client and minio-go) against an
// httptest.Server whose handler calls Verify and reads the body, over plain
// HTTP and over TLS, where both SDKs switch to unsigned payloads with
// trailing checksums.

// received is what the test server saw of one request.
type received struct {
	method, path string
	mode         string // x-amz-content-sha256
	header       http.Header
	body         []byte
	checksums    []objapi.Checksum
	err          error
}

type s3Server struct {
	*httptest.Server
	v      *Verifier
	tamper func(r *http.Request) // changes the request before Verify, as a man in the middle would

	mu  sync.Mutex
	got []received
}

func newS3Server(t *testing.T, tls bool) *s3Server {
	s := &s3Server{v: &Verifier{
		Region: exampleRegion,
		Lookup: staticLookup(map[string]string{exampleAccessKey: exampleSecret}),
		// As s3api runs it: real clients sign every x-amz-* header they send.
		StrictHeaders: true,
	}}
	if tls {
		s.Server = httptest.NewTLSServer(s)
	} else {
		s.Server = httptest.NewServer(s)
	}
	t.Cleanup(s.Close)
	return s
}

// last returns what the server saw of the last request.
func (s *s3Server) last(t *testing.T) received {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		t.Fatal("the server saw no request")
	}
	return s.got[len(s.got)-1]
}

func (s *s3Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.tamper != nil {
		s.tamper(r)
	}
	rec := received{method: r.Method, path: r.URL.Path, mode: r.Header.Get("X-Amz-Content-Sha256"), header: r.Header.Clone()}
	res, err := s.v.Verify(r)
	if err == nil {
		// Read as the object layer does: to EOF, and nothing counts before it.
		rec.body, err = readAll(res.Body)
		rec.checksums = res.Checksums()
	}
	rec.err = err
	s.mu.Lock()
	s.got = append(s.got, rec)
	s.mu.Unlock()
	if err != nil {
		writeS3Error(w, err)
		return
	}
	sum := md5.Sum(rec.body)
	w.Header().Set("X-Test-Body-Sha256", sha256Hex(rec.body))
	switch {
	case r.Method == http.MethodPut:
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && r.URL.Query().Has("list-type"):
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	}
}

// writeS3Error answers as s3api will: the sentinel's S3 code in an XML error.
func writeS3Error(w http.ResponseWriter, err error) {
	code, status := "InvalidRequest", http.StatusBadRequest
	for _, m := range []struct {
		err    error
		code   string
		status int
	}{
		{ErrSignatureMismatch, "SignatureDoesNotMatch", 403},
		{ErrAuthHeaderMalformed, "AuthorizationHeaderMalformed", 400},
		{ErrRequestTimeTooSkewed, "RequestTimeTooSkewed", 403},
		{ErrUnknownAccessKey, "InvalidAccessKeyId", 403},
		{ErrPresignExpired, "AccessDenied", 403},
		{ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400},
		{ErrBadDigest, "BadDigest", 400},
		{ErrIncompleteBody, "IncompleteBody", 400},
	} {
		if errors.Is(err, m.err) {
			code, status = m.code, m.status
			break
		}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, err)
}

func sdkClient(s *s3Server, region, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           region,
		Credentials:      aws.NewCredentialsCache(staticCreds{secret}),
		BaseEndpoint:     aws.String(s.URL),
		UsePathStyle:     true,
		HTTPClient:       s.Client(),
		RetryMaxAttempts: 1,
		// What the SDK's config loader sets by default; s3.New leaves it unset.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

type staticCreds struct{ secret string }

func (c staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: exampleAccessKey, SecretAccessKey: c.secret}, nil
}

func minioClient(t *testing.T, s *s3Server, region, secret string, trailers bool) *minio.Client {
	t.Helper()
	mc, err := minio.New(strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://"), &minio.Options{
		Creds:           miniocreds.NewStaticV4(exampleAccessKey, secret, ""),
		Secure:          strings.HasPrefix(s.URL, "https://"),
		Transport:       s.Client().Transport,
		Region:          region,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: trailers,
		MaxRetries:      1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func randomPayload(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// unseekable hides Seek, so the SDK cannot hash the body in advance.
type unseekable struct{ io.Reader }

func TestSDKPutObject(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		tls      bool
		size     int
		seekable bool
		wantMode string // "" for a hex hash
	}{
		{name: "http", size: 100_000, seekable: true},
		{name: "http empty", size: 0, seekable: true},
		{name: "tls", tls: true, size: 3 << 20, seekable: true, wantMode: streamingUnsignedTrailer},
		{name: "tls unseekable", tls: true, size: 200_001, wantMode: streamingUnsignedTrailer},
		// An empty body gets its CRC32 as a header.
		{name: "tls empty", tls: true, size: 0, seekable: true, wantMode: unsignedPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newS3Server(t, tc.tls)
			payload := randomPayload(tc.size, uint64(tc.size))
			var body io.Reader = bytes.NewReader(payload)
			if !tc.seekable {
				body = unseekable{body}
			}
			out, err := sdkClient(srv, exampleRegion, exampleSecret).PutObject(ctx, &s3.PutObjectInput{
				Bucket:        aws.String("bucket"),
				Key:           aws.String("dir/a key+with~odd=chars&ü"),
				Body:          body,
				ContentLength: aws.Int64(int64(tc.size)),
			})
			got := srv.last(t)
			if err != nil {
				t.Fatalf("PutObject: %v (server: %v)", err, got.err)
			}
			if !bytes.Equal(got.body, payload) {
				t.Fatalf("server read %d bytes, client sent %d", len(got.body), len(payload))
			}
			if echo, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); !ok || echo.Header.Get("X-Test-Body-Sha256") != sha256Hex(payload) {
				t.Error("the echoed hash is not the payload's")
			}
			if tc.wantMode != "" && got.mode != tc.wantMode || tc.wantMode == "" && len(got.mode) != 64 {
				t.Errorf("payload mode %q, want %q", got.mode, tc.wantMode)
			}
			if got.path != "/bucket/dir/a key+with~odd=chars&ü" {
				t.Errorf("path %q", got.path)
			}
			// The SDK adds a CRC32 by default: as a header over HTTP, a trailer over TLS.
			if len(got.checksums) != 1 || got.checksums[0].Algorithm != "CRC32" || got.checksums[0].Value != checksumOf("CRC32", payload) {
				t.Errorf("checksums %v", got.checksums)
			}
			t.Logf("mode %s, trailer %q, checksums %v", got.mode, got.header.Get("X-Amz-Trailer"), got.checksums)
		})
	}
}

// TestSDKOtherOperations: requests without a body, query strings and
// checksum algorithms chosen by the caller.
func TestSDKOtherOperations(t *testing.T) {
	ctx := context.Background()
	for _, tls := range []bool{false, true} {
		srv := newS3Server(t, tls)
		c := sdkClient(srv, exampleRegion, exampleSecret)
		key := aws.String("photos/2024/ünïcödé (1).jpg")
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bucket"), Key: key}); err != nil {
			t.Fatalf("tls=%v HeadObject: %v (server: %v)", tls, err, srv.last(t).err)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bucket"), Key: key, VersionId: aws.String("v/1+2")}); err != nil {
			t.Fatalf("tls=%v DeleteObject: %v (server: %v)", tls, err, srv.last(t).err)
		}
		if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String("bucket"), Prefix: aws.String("a b/c+d=e&f"), Delimiter: aws.String("/"),
			StartAfter: aws.String("~*'()!"), MaxKeys: aws.Int32(7),
		}); err != nil {
			t.Fatalf("tls=%v ListObjectsV2: %v (server: %v)", tls, err, srv.last(t).err)
		}
		for _, alg := range []s3.PutObjectInput{
			{ChecksumAlgorithm: "CRC32C"}, {ChecksumAlgorithm: "SHA1"}, {ChecksumAlgorithm: "SHA256"}, {ChecksumAlgorithm: "CRC64NVME"},
		} {
			payload := randomPayload(70_000, 3)
			in := alg
			in.Bucket, in.Key, in.Body = aws.String("bucket"), key, bytes.NewReader(payload)
			if _, err := c.PutObject(ctx, &in); err != nil {
				t.Fatalf("tls=%v PutObject %s: %v (server: %v)", tls, alg.ChecksumAlgorithm, err, srv.last(t).err)
			}
			got := srv.last(t)
			if !bytes.Equal(got.body, payload) || len(got.checksums) != 1 || got.checksums[0].Algorithm != string(alg.ChecksumAlgorithm) {
				t.Errorf("tls=%v %s: %d bytes, checksums %v", tls, alg.ChecksumAlgorithm, len(got.body), got.checksums)
			}
		}
	}
}

func TestMinioPutObject(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		tls      bool
		trailers bool
		size     int
		wantMode string
	}{
		{name: "http", size: 1<<20 + 12345, wantMode: streamingSigned},
		{name: "http trailers", trailers: true, size: 1<<20 + 12345, wantMode: streamingSignedTrailer},
		{name: "http small", size: 10, wantMode: streamingSigned},
		{name: "tls trailers", tls: true, trailers: true, size: 300_000, wantMode: streamingUnsignedTrailer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newS3Server(t, tc.tls)
			payload := randomPayload(tc.size, 11)
			var opts minio.PutObjectOptions
			if tc.trailers {
				opts.Checksum = minio.ChecksumCRC32C
			}
			_, err := minioClient(t, srv, exampleRegion, exampleSecret, tc.trailers).PutObject(ctx, "bucket", "some/key with spaces", bytes.NewReader(payload), int64(len(payload)), opts)
			got := srv.last(t)
			if err != nil {
				t.Fatalf("PutObject: %v (server: %v)", err, got.err)
			}
			if !bytes.Equal(got.body, payload) {
				t.Fatalf("server read %d bytes, client sent %d", len(got.body), len(payload))
			}
			if got.mode != tc.wantMode {
				t.Errorf("payload mode %q, want %q", got.mode, tc.wantMode)
			}
			if tc.trailers && (len(got.checksums) != 1 || got.checksums[0] != (objapi.Checksum{Algorithm: "CRC32C", Value: checksumOf("CRC32C", payload)})) {
				t.Errorf("checksums %v", got.checksums)
			}
			t.Logf("mode %s, trailer %q, checksums %v", got.mode, got.header.Get("X-Amz-Trailer"), got.checksums)
		})
	}
}

// flipAt returns a tamper function that flips one byte of the body, at the
// first occurrence of after plus off.
func flipAt(after string, off int) func(r *http.Request) {
	return func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		i := bytes.Index(b, []byte(after))
		if i < 0 {
			i = 0
		} else {
			i += len(after)
		}
		if i+off < len(b) {
			b[i+off] ^= 0x20
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
}

var trailerValue = regexp.MustCompile(`(x-amz-checksum-[a-z0-9]+:)([A-Za-z0-9+/=]+)`)

// replaceTrailer sets the checksum trailer to a valid checksum of other data.
func replaceTrailer(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	b = trailerValue.ReplaceAll(b, []byte("${1}"+checksumOf("CRC32", []byte("other data"))))
	r.Body = io.NopCloser(bytes.NewReader(b))
}

// TestClientsRejected: the ways a real client's request goes wrong, each with
// its sentinel.
func TestClientsRejected(t *testing.T) {
	ctx := context.Background()
	payload := randomPayload(200_000, 5)
	sdkPut := func(region, secret string) func(*s3Server) error {
		return func(s *s3Server) error {
			_, err := sdkClient(s, region, secret).PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(payload),
			})
			return err
		}
	}
	minioPut := func(trailers bool) func(*s3Server) error {
		return func(s *s3Server) error {
			var opts minio.PutObjectOptions
			if trailers {
				opts.Checksum = minio.ChecksumCRC32C
			}
			_, err := minioClient(t, s, exampleRegion, exampleSecret, trailers).PutObject(ctx, "bucket", "key", bytes.NewReader(payload), int64(len(payload)), opts)
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		tls    bool
		do     func(*s3Server) error
		tamper func(*http.Request)
		now    time.Duration // server clock offset
		want   error
	}{
		{name: "sdk http tampered body", do: sdkPut(exampleRegion, exampleSecret), tamper: flipAt("", 1000), want: ErrContentSHA256Mismatch},
		{name: "sdk tls tampered body", tls: true, do: sdkPut(exampleRegion, exampleSecret), tamper: flipAt("\r\n", 1000), want: ErrBadDigest},
		{name: "sdk tls wrong trailer checksum", tls: true, do: sdkPut(exampleRegion, exampleSecret), tamper: replaceTrailer, want: ErrBadDigest},
		{name: "minio http tampered chunk", do: minioPut(false), tamper: flipAt("\r\n", 1000), want: ErrSignatureMismatch},
		{name: "minio http trailer tampered chunk", do: minioPut(true), tamper: flipAt("\r\n", 1000), want: ErrSignatureMismatch},
		{name: "minio http wrong trailer checksum", do: minioPut(true), tamper: replaceTrailer, want: ErrSignatureMismatch},
		{name: "minio tls wrong trailer checksum", tls: true, do: minioPut(true), tamper: replaceTrailer, want: ErrBadDigest},
		{name: "wrong secret", do: sdkPut(exampleRegion, "not the secret"), want: ErrSignatureMismatch},
		{name: "wrong region", do: sdkPut("eu-north-1", exampleSecret), want: ErrAuthHeaderMalformed},
		{name: "skewed clock", do: sdkPut(exampleRegion, exampleSecret), now: time.Hour, want: ErrRequestTimeTooSkewed},
		{name: "minio skewed clock", do: minioPut(false), now: -time.Hour, want: ErrRequestTimeTooSkewed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newS3Server(t, tc.tls)
			srv.tamper = tc.tamper
			if tc.now != 0 {
				srv.v.Now = func() time.Time { return time.Now().Add(tc.now) }
			}
			if err := tc.do(srv); err == nil {
				t.Fatal("the client saw no error")
			}
			wantErr(t, srv.last(t).err, tc.want)
		})
	}
}

// presignedCall is a request made from a presigned URL, as a browser or curl
// would make it.
type presignedCall struct {
	method, url string
	hdr         http.Header
	body        []byte
}

func (p presignedCall) send(t *testing.T, srv *s3Server) int {
	t.Helper()
	req, err := http.NewRequest(p.method, p.url, bytes.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p.hdr {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSDKPresigned(t *testing.T) {
	ctx := context.Background()
	srv := newS3Server(t, true)
	pc := s3.NewPresignClient(sdkClient(srv, exampleRegion, exampleSecret), s3.WithPresignExpires(time.Minute))
	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("a/b c.txt"), VersionId: aws.String("42")})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("put through a presigned URL")
	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("up load.bin")})
	if err != nil {
		t.Fatal(err)
	}
	getCall := presignedCall{get.Method, get.URL, get.SignedHeader, nil}
	if code := getCall.send(t, srv); code != 200 {
		t.Fatalf("presigned GET: %d, %v", code, srv.last(t).err)
	}
	if code := (presignedCall{put.Method, put.URL, put.SignedHeader, payload}).send(t, srv); code != 200 || !bytes.Equal(srv.last(t).body, payload) {
		t.Fatalf("presigned PUT: %d, %v", code, srv.last(t).err)
	}

	srv.v.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if code := getCall.send(t, srv); code != 403 {
		t.Fatalf("expired presigned GET: %d", code)
	}
	wantErr(t, srv.last(t).err, ErrPresignExpired)
	srv.v.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	getCall.send(t, srv)
	wantErr(t, srv.last(t).err, ErrPresignNotYetValid)
}

// rawExchange sends a request signed by the SDK signer over a plain TCP
// connection, with body as the bytes on the wire and contentLength as
// declared, half-closes the connection and returns the response status.
func rawExchange(t *testing.T, srv *s3Server, r *http.Request, body []byte, contentLength int) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), r.Host)
	r.Header.Write(&head)
	fmt.Fprintf(&head, "Content-Length: %d\r\nConnection: close\r\n\r\n", contentLength)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(append(head.Bytes(), body...)); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWireTruncation: what a broken or hostile client puts on the wire.
func TestWireTruncation(t *testing.T) {
	srv := newS3Server(t, false)
	payload := randomPayload(100_000, 9)
	newReq := func(mode string) (*http.Request, chunkedEncoder) {
		now := time.Now().UTC()
		hdr := http.Header{"Content-Encoding": {"aws-chunked"}, "X-Amz-Decoded-Content-Length": {strconv.Itoa(len(payload))}}
		r := signedRequest(t, "PUT", srv.URL+"/bucket/key", hdr, nil, mode, exampleRegion, exampleSecret, now)
		s := scope{exampleAccessKey, now.Format("20060102"), exampleRegion, "s3"}
		return r, chunkedEncoder{
			key: deriveSigningKey(exampleSecret, s), amzDate: now.Format(amzDateLayout), scope: s,
			seed: seedOf(t, r), signed: mode != streamingUnsignedTrailer,
		}
	}

	r, enc := newReq(streamingSigned)
	body := enc.encode(payload, 65536, nil)
	if code := rawExchange(t, srv, r, body, len(body)); code != 200 || !bytes.Equal(srv.last(t).body, payload) {
		t.Fatalf("complete body: %d, %v", code, srv.last(t).err)
	}

	r, enc = newReq(streamingSigned)
	body = enc.encode(payload, 65536, nil)
	rawExchange(t, srv, r, body[:30000], len(body)) // cut inside the first chunk
	wantErr(t, srv.last(t).err, ErrIncompleteBody)

	r, _ = newReq(streamingUnsignedTrailer)
	huge := bytes.Repeat([]byte("f"), 1<<20)
	rawExchange(t, srv, r, huge, len(huge)) // a chunk-size line of a MiB
	wantErr(t, srv.last(t).err, ErrMalformedChunk)
}
