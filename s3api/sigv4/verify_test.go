package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Requests signed by aws-sdk-go-v2's signer, an implementation independent of
// this package, verify; every way of getting them wrong fails with its
// sentinel.

var testNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func testVerifier() *Verifier { return exampleVerifier(testNow) }

func TestVerifySDKSigned(t *testing.T) {
	payload := []byte("hello, kcs")
	for _, tc := range []struct {
		name, method, target string
		hdr                  http.Header
		body                 []byte
		payloadHash          string
	}{
		{name: "put signed payload", method: "PUT", target: "http://s3.local/bucket/key", body: payload, payloadHash: sha256Hex(payload)},
		{name: "put unsigned payload", method: "PUT", target: "http://s3.local/bucket/key", body: payload, payloadHash: unsignedPayload},
		{name: "get", method: "GET", target: "http://s3.local/bucket/key", payloadHash: emptySHA256Hex},
		{name: "head", method: "HEAD", target: "http://s3.local/bucket/key", payloadHash: emptySHA256Hex},
		{name: "delete", method: "DELETE", target: "http://s3.local/bucket/key?versionId=3", payloadHash: emptySHA256Hex},
		{name: "port in host", method: "GET", target: "http://127.0.0.1:9000/bucket/key", payloadHash: emptySHA256Hex},
		// Keys as S3 clients encode them: every byte but A-Z a-z 0-9 - _ . ~ and '/'.
		{name: "key with specials", method: "PUT", target: "http://s3.local/bucket/a%20b%2Bc%24d%25e%3Df%40g%21h%27i%28j%29%2A~k%3Al%2Cm%3Bn", body: payload, payloadHash: sha256Hex(payload)},
		{name: "unicode key", method: "GET", target: "http://s3.local/bucket/d%C3%A9j%C3%A0/%E2%9C%93", payloadHash: emptySHA256Hex},
		{name: "double slash", method: "GET", target: "http://s3.local/bucket//a/./b/../c", payloadHash: emptySHA256Hex},
		{name: "root", method: "GET", target: "http://s3.local/", payloadHash: emptySHA256Hex},
		{name: "list query", method: "GET", target: "http://s3.local/bucket?list-type=2&prefix=a%20b%2F&delimiter=%2F&continuation-token=x%2By%3D&max-keys=5", payloadHash: emptySHA256Hex},
		{name: "query with plus", method: "GET", target: "http://s3.local/bucket?prefix=a+b&marker=", payloadHash: emptySHA256Hex},
		{name: "query flag", method: "GET", target: "http://s3.local/bucket?versioning", payloadHash: emptySHA256Hex},
		{name: "query tilde and star", method: "GET", target: "http://s3.local/bucket?prefix=~%2A", payloadHash: emptySHA256Hex},
		{
			name: "header values", method: "PUT", target: "http://s3.local/bucket/key",
			hdr: http.Header{
				"X-Amz-Meta-Spaces":   {"  a   lot  of   space "},
				"X-Amz-Meta-Twice":    {"one", "two"},
				"Content-Type":        {"text/plain"},
				"X-Amz-Storage-Class": {"STANDARD"},
			},
			body: payload, payloadHash: sha256Hex(payload),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signedRequest(t, tc.method, tc.target, tc.hdr, tc.body, tc.payloadHash, exampleRegion, exampleSecret, testNow)
			res, err := testVerifier().Verify(r)
			if err != nil {
				t.Fatalf("%v\nAuthorization: %s", err, r.Header.Get("Authorization"))
			}
			got, err := readAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.body) {
				t.Fatalf("body %q, want %q", got, tc.body)
			}
			if res.Length != int64(len(tc.body)) || res.Presigned || res.AccessKey != exampleAccessKey {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestAuthorizationSpelling: the spacing and ordering variants clients send.
func TestAuthorizationSpelling(t *testing.T) {
	r := signedRequest(t, "GET", "http://s3.local/bucket/key", nil, nil, emptySHA256Hex, exampleRegion, exampleSecret, testNow)
	auth := r.Header.Get("Authorization") // the SDK writes "…, SignedHeaders=…, Signature=…"
	_, fields, _ := strings.Cut(auth, " ")
	parts := strings.Split(fields, ", ")
	for name, a := range map[string]string{
		"sdk":           auth,
		"no blanks":     "AWS4-HMAC-SHA256 " + strings.Join(parts, ","),
		"many blanks":   "AWS4-HMAC-SHA256    " + strings.Join(parts, " ,  "),
		"reordered":     "AWS4-HMAC-SHA256 " + parts[2] + "," + parts[0] + "," + parts[1],
		"trailing":      auth + ",",
		"outer blanks":  "  " + auth + "  ",
		"newline comma": "AWS4-HMAC-SHA256 " + strings.Join(parts, ",\t"),
	} {
		r.Header.Set("Authorization", a)
		if _, err := testVerifier().Verify(r); err != nil {
			t.Errorf("%s (%q): %v", name, a, err)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	good := func() *http.Request {
		return signedRequest(t, "PUT", "http://s3.local/bucket/key", http.Header{"X-Amz-Meta-A": {"b"}}, []byte("data"), sha256Hex([]byte("data")), exampleRegion, exampleSecret, testNow)
	}
	setAuth := func(old, new string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		mutate func(*http.Request)
		v      func(*Verifier)
		want   error
	}{
		{name: "no credentials", req: func() *http.Request { return httptest.NewRequest("GET", "/bucket/key", nil) }, want: ErrMissingAuth},
		{name: "empty authorization", mutate: func(r *http.Request) { r.Header.Set("Authorization", " ") }, want: ErrMissingAuth},
		{name: "sigv2 header", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
		}, want: ErrUnsupportedAuth},
		{name: "sigv4a header", mutate: setAuth("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), want: ErrUnsupportedAuth},
		{name: "other algorithm", mutate: setAuth("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), want: ErrUnsupportedAuth},
		{name: "sigv2 query", req: func() *http.Request {
			return httptest.NewRequest("GET", "/bucket/key?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D", nil)
		}, want: ErrUnsupportedAuth},
		{name: "header and query", mutate: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" }, want: ErrUnsupportedAuth},
		{name: "two authorization headers", mutate: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, want: ErrAuthHeaderMalformed},
		{name: "session token", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "token") }, want: ErrUnsupportedAuth},
		{name: "unknown access key", mutate: setAuth("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLF"), want: ErrUnknownAccessKey},
		{name: "wrong secret", v: func(v *Verifier) { v.Lookup = staticLookup(map[string]string{exampleAccessKey: "other"}) }, want: ErrSignatureMismatch},
		{name: "wrong region", req: func() *http.Request {
			return signedRequest(t, "GET", "http://s3.local/bucket/key", nil, nil, emptySHA256Hex, "eu-west-1", exampleSecret, testNow)
		}, want: ErrAuthHeaderMalformed},
		{name: "wrong service", mutate: setAuth("/s3/", "/sts/"), want: ErrAuthHeaderMalformed},
		{name: "scope terminal", mutate: setAuth("aws4_request", "aws5_request"), want: ErrAuthHeaderMalformed},
		{name: "scope date", mutate: setAuth("/20250314/", "/20250313/"), want: ErrAuthHeaderMalformed},
		{name: "short credential", mutate: setAuth("/us-east-1/s3/aws4_request", "/us-east-1/aws4_request"), want: ErrAuthHeaderMalformed},
		{name: "no access key", mutate: setAuth("Credential=AKIAIOSFODNN7EXAMPLE/", "Credential=/"), want: ErrAuthHeaderMalformed},
		{name: "missing signature", mutate: setAuth(", Signature=", ", Sig="), want: ErrAuthHeaderMalformed},
		{name: "short signature", mutate: func(r *http.Request) { a := r.Header.Get("Authorization"); r.Header.Set("Authorization", a[:len(a)-2]) }, want: ErrAuthHeaderMalformed},
		{name: "signature not hex", mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+"g")
		}, want: ErrAuthHeaderMalformed},
		{name: "repeated field", mutate: func(r *http.Request) { r.Header.Set("Authorization", r.Header.Get("Authorization")+", Signature=00") }, want: ErrAuthHeaderMalformed},
		{name: "upper-case signed header", mutate: setAuth("SignedHeaders=content-length;host", "SignedHeaders=Content-Length;host"), want: ErrAuthHeaderMalformed},
		{name: "host not signed", mutate: setAuth(";host;", ";"), want: ErrHeadersNotSigned},
		{name: "clock ahead", v: func(v *Verifier) { v.Now = func() time.Time { return testNow.Add(16 * time.Minute) } }, want: ErrRequestTimeTooSkewed},
		{name: "clock behind", v: func(v *Verifier) { v.Now = func() time.Time { return testNow.Add(-16 * time.Minute) } }, want: ErrRequestTimeTooSkewed},
		{name: "tighter skew", v: func(v *Verifier) {
			v.MaxSkew = time.Minute
			v.Now = func() time.Time { return testNow.Add(2 * time.Minute) }
		}, want: ErrRequestTimeTooSkewed},
		{name: "no date", mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, want: ErrMissingDate},
		{name: "bad date", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2025-03-14T15:09:26Z") }, want: ErrMissingDate},
		{name: "no content sha256", mutate: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, want: ErrMissingContentSHA256},
		{name: "bad content sha256", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "SIGNED-PAYLOAD") }, want: ErrInvalidContentSHA256},
		{name: "short content sha256", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex[:63]) }, want: ErrInvalidContentSHA256},
		{name: "sigv4a streaming", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
		}, want: ErrUnsupportedAuth},
		{name: "sigv4a streaming trailer", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")
		}, want: ErrUnsupportedAuth},
		{name: "unsigned x-amz header, strict", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/other/key") }, v: func(v *Verifier) { v.StrictHeaders = true }, want: ErrHeadersNotSigned},
		{name: "changed signed header", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "c") }, want: ErrSignatureMismatch},
		{name: "changed method", mutate: func(r *http.Request) { r.Method = "POST" }, want: ErrSignatureMismatch},
		{name: "changed host", mutate: func(r *http.Request) { r.Host = "s3.other" }, want: ErrSignatureMismatch},
		{name: "added query", mutate: func(r *http.Request) { r.URL.RawQuery = "acl" }, want: ErrSignatureMismatch},
		{name: "bad query escape", mutate: func(r *http.Request) { r.URL.RawQuery = "a=%zz" }, want: ErrAuthHeaderMalformed},
		{name: "tampered body", mutate: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("dat4")) }, want: ErrContentSHA256Mismatch},
		{name: "short body", mutate: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("dat")) }, want: ErrIncompleteBody},
		{name: "aws-chunked with a decoded length but no STREAMING mode", mutate: func(r *http.Request) {
			r.Header.Set("Content-Encoding", "aws-chunked")
			r.Header.Set("X-Amz-Decoded-Content-Length", "4")
		}, want: ErrInvalidContentSHA256},
		{name: "trailer without streaming", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32") }, want: ErrInvalidContentSHA256},
		{name: "lookup failure", v: func(v *Verifier) {
			v.Lookup = func(context.Context, string) (string, error) { return "", errLookupDown }
		}, want: errLookupDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *http.Request
			if tc.req != nil {
				r = tc.req()
			} else {
				r = good()
			}
			if tc.mutate != nil {
				tc.mutate(r)
			}
			v := testVerifier()
			if tc.v != nil {
				tc.v(v)
			}
			res, err := v.Verify(r)
			if err == nil {
				_, err = readAll(res.Body)
			}
			wantErr(t, err, tc.want)
		})
	}
}

var errLookupDown = errors.New("key store unreachable")

// TestUnsignedHeadersLenient: without StrictHeaders an unsigned x-amz-*
// header passes, and Result.SignedHeaders tells s3api it was not signed.
func TestUnsignedHeadersLenient(t *testing.T) {
	r := signedRequest(t, "GET", "http://s3.local/bucket/key", nil, nil, emptySHA256Hex, exampleRegion, exampleSecret, testNow)
	r.Header.Set("X-Amz-Request-Payer", "requester")
	res, err := testVerifier().Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.SignedHeaders {
		if h == "x-amz-request-payer" {
			t.Error("reported as signed")
		}
	}
}

// TestDateHeader: without X-Amz-Date the Date header dates the request, and
// then it must be signed.
func TestDateHeader(t *testing.T) {
	r := httptest.NewRequest("GET", "http://s3.local/bucket/key", nil)
	r.Header.Set("Date", testNow.Format(http.TimeFormat))
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
	// The SDK signer always adds X-Amz-Date; sign by hand for the Date case.
	s := scope{exampleAccessKey, "20250314", exampleRegion, "s3"}
	signed := []string{"date", "host", "x-amz-content-sha256"}
	canon, err := canonicalRequest(r, signed, emptySHA256Hex, false)
	if err != nil {
		t.Fatal(err)
	}
	sig := sign(deriveSigningKey(exampleSecret, s), stringToSign("20250314T150926Z", s, canon))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+exampleAccessKey+"/"+s.String()+", SignedHeaders=date;host;x-amz-content-sha256, Signature="+hexString(sig[:]))
	if _, err := testVerifier().Verify(r); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "date;", "", 1))
	if _, err := testVerifier().Verify(r); !errors.Is(err, ErrHeadersNotSigned) {
		t.Fatalf("unsigned Date: %v", err)
	}
}

// presigned returns a URL presigned by aws-sdk-go-v2's signer at time at for
// expires seconds.
func presigned(t *testing.T, method, target string, expires string, at time.Time, region string) *http.Request {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if expires != "" {
		q.Set("X-Amz-Expires", expires)
	}
	u.RawQuery = q.Encode()
	cr := httptest.NewRequest(method, u.String(), nil)
	creds := aws.Credentials{AccessKeyID: exampleAccessKey, SecretAccessKey: exampleSecret}
	signed, _, err := sdkSigner.PresignHTTP(context.Background(), creds, cr, unsignedPayload, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewRequest(method, signed, nil)
}

func TestPresigned(t *testing.T) {
	r := presigned(t, "GET", "http://s3.local/bucket/a%20key?versionId=7", "3600", testNow, exampleRegion)
	res, err := testVerifier().Verify(r)
	if err != nil {
		t.Fatalf("%v\n%s", err, r.URL)
	}
	if !res.Presigned {
		t.Error("not marked presigned")
	}
	if _, err := readAll(res.Body); err != nil {
		t.Fatal(err)
	}

	at := func(d time.Duration) func(*Verifier) {
		return func(v *Verifier) { v.Now = func() time.Time { return testNow.Add(d) } }
	}
	for _, tc := range []struct {
		name    string
		expires string
		region  string
		mutate  func(*http.Request)
		v       func(*Verifier)
		want    error
	}{
		{name: "at the end", v: at(time.Hour)},
		{name: "expired", v: at(time.Hour + time.Second), want: ErrPresignExpired},
		{name: "signed a little ahead", v: at(-10 * time.Minute)},
		{name: "not yet valid", v: at(-16 * time.Minute), want: ErrPresignNotYetValid},
		{name: "seven days", expires: "604800", v: at(6 * 24 * time.Hour)},
		{name: "expires too long", expires: "604801", want: ErrPresignMalformed},
		{name: "expires zero", expires: "0", want: ErrPresignMalformed},
		{name: "expires negative", expires: "-5", want: ErrPresignMalformed},
		{name: "expires not a number", expires: "1h", want: ErrPresignMalformed},
		{name: "expires missing", expires: "-", want: ErrPresignMalformed},
		{name: "wrong region", region: "eu-west-1", want: ErrPresignMalformed},
		{name: "signature missing", mutate: delQuery("X-Amz-Signature"), want: ErrPresignMalformed},
		{name: "credential missing", mutate: delQuery("X-Amz-Credential"), want: ErrPresignMalformed},
		{name: "date missing", mutate: delQuery("X-Amz-Date"), want: ErrPresignMalformed},
		{name: "signed headers missing", mutate: delQuery("X-Amz-SignedHeaders"), want: ErrPresignMalformed},
		{name: "algorithm missing", mutate: delQuery("X-Amz-Algorithm"), want: ErrPresignMalformed},
		{name: "sigv4a", mutate: setQuery("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256"), want: ErrUnsupportedAuth},
		{name: "signature twice", mutate: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }, want: ErrPresignMalformed},
		{name: "security token", mutate: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Security-Token=t" }, want: ErrUnsupportedAuth},
		{name: "tampered signature", mutate: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
			r.URL.RawQuery = r.URL.RawQuery[:len(r.URL.RawQuery)-1]
		}, want: ErrSignatureMismatch},
		{name: "other object", mutate: func(r *http.Request) { r.URL.Path = "/bucket/other" }, want: ErrSignatureMismatch},
		{name: "other version", mutate: setQuery("versionId", "8"), want: ErrSignatureMismatch},
		{name: "extended", mutate: setQuery("X-Amz-Expires", "7200"), v: at(90 * time.Minute), want: ErrSignatureMismatch},
		{name: "bad date", mutate: setQuery("X-Amz-Date", "20250314"), want: ErrPresignMalformed},
		{name: "unknown key", mutate: setQuery("X-Amz-Credential", "AKIDOTHER/20250314/us-east-1/s3/aws4_request"), want: ErrUnknownAccessKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := "3600"
			if tc.expires != "" {
				exp = tc.expires
			}
			region := exampleRegion
			if tc.region != "" {
				region = tc.region
			}
			var r *http.Request
			if exp == "-" {
				r = presigned(t, "GET", "http://s3.local/bucket/key?versionId=7", "", testNow, region)
			} else {
				r = presigned(t, "GET", "http://s3.local/bucket/key?versionId=7", exp, testNow, region)
			}
			if tc.mutate != nil {
				tc.mutate(r)
			}
			v := testVerifier()
			if tc.v != nil {
				tc.v(v)
			}
			_, err := v.Verify(r)
			wantErr(t, err, tc.want)
		})
	}
}

func delQuery(k string) func(*http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Del(k)
		r.URL.RawQuery = q.Encode()
	}
}

func setQuery(k, v string) func(*http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Set(k, v)
		r.URL.RawQuery = q.Encode()
	}
}

// TestPresignedPut: a presigned PUT with a body; with an x-amz-content-sha256
// hash the body is checked against it even though the URL does not sign it.
func TestPresignedPut(t *testing.T) {
	body := []byte("uploaded through a presigned URL")
	for _, tc := range []struct {
		name, sha string
		send      []byte
		want      error
	}{
		{name: "plain", send: body},
		{name: "with hash", sha: sha256Hex(body), send: body},
		{name: "hash mismatch", sha: sha256Hex(body), send: []byte("something else entirely........."), want: ErrContentSHA256Mismatch},
		{name: "signed streaming", sha: streamingSigned, send: body, want: ErrUnsupportedAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := presigned(t, "PUT", "http://s3.local/bucket/key", "600", testNow, exampleRegion)
			r.Body = io.NopCloser(bytes.NewReader(tc.send))
			r.ContentLength = int64(len(tc.send))
			if tc.sha != "" {
				r.Header.Set("X-Amz-Content-Sha256", tc.sha)
			}
			res, err := testVerifier().Verify(r)
			if err == nil {
				var got []byte
				got, err = readAll(res.Body)
				if err == nil && !bytes.Equal(got, body) {
					t.Fatalf("body %q", got)
				}
			}
			wantErr(t, err, tc.want)
		})
	}
}

// TestObjectChecksumHeaders: CompleteMultipartUpload's x-amz-checksum-*
// headers describe the object; with ObjectChecksumHeaders they are not
// checked against the (XML) payload, yet still signed.
func TestObjectChecksumHeaders(t *testing.T) {
	body := []byte("<CompleteMultipartUpload/>")
	hdr := http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA==-3"}}
	req := func() *http.Request {
		return signedRequest(t, "POST", "/b/k?uploadId=u", hdr.Clone(), body, sha256Hex(body), exampleRegion, exampleSecret, exampleTime)
	}
	v := exampleVerifier(exampleTime)
	// As a payload checksum, the composite value is not even well-formed.
	_, err := v.Verify(req())
	wantErr(t, err, ErrInvalidChecksum)
	res, err := v.VerifyWith(req(), Options{ObjectChecksumHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(res.Body)
	if err != nil || !bytes.Equal(got, body) || len(res.Checksums()) != 0 {
		t.Fatalf("%q, %v, checksums %v", got, err, res.Checksums())
	}
	// The header is still covered by the signature.
	r := req()
	r.Header.Set("X-Amz-Checksum-Crc32", "AAAAAB==-3")
	_, err = v.VerifyWith(r, Options{ObjectChecksumHeaders: true})
	wantErr(t, err, ErrSignatureMismatch)
}
