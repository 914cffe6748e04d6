package sigv2

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

const (
	testKey    = "AKIAKCSTEST000000001"
	testSecret = "kcs/test+secret/0123456789abcdefghijklmn"
	testDomain = "s3.kcs.test"
)

// domainBucket is s3api's rule: "<bucket>.<testDomain>" names a bucket.
func domainBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	b, _ := strings.CutSuffix(host, "."+testDomain)
	if b == host {
		return ""
	}
	return b
}

func testVerifier(now func() time.Time) *Verifier {
	return &Verifier{
		Lookup:     staticLookup(map[string]string{testKey: testSecret}),
		Now:        now,
		HostBucket: domainBucket,
	}
}

// TestMinioSigner: requests signed by minio-go's Signature Version 2
// signer, an implementation independent of this one, sent over HTTP,
// verify, in path and virtual-hosted style, with subresources, encoded
// keys, metadata and presigned.
func TestMinioSigner(t *testing.T) {
	v := testVerifier(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := v.Verify(r, sigv4.Options{})
		if err == nil {
			var body []byte
			if body, err = io.ReadAll(res.Body); err == nil {
				w.Header().Set("X-Presigned", strconv.FormatBool(res.Presigned))
				w.Write(body)
				return
			}
		}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, err.Error())
	}))
	defer srv.Close()

	body := []byte("Antrag auf Wohngeld, Anlage 3\n")
	sum := md5.Sum(body)
	for _, tc := range []struct {
		name        string
		method      string
		target      string // encoded path and query
		host        string // virtual-hosted style: the Host to send
		header      http.Header
		body        []byte
		presign     bool
		unsignedHdr http.Header // sent but not signed (V2 does not cover them)
	}{
		{name: "get", method: "GET", target: "/akten/antrag.pdf"},
		{name: "list buckets", method: "GET", target: "/"},
		{name: "put with metadata", method: "PUT", target: "/akten/dir/a%20b%2Bc%C3%A4%21.txt", body: body, header: http.Header{
			"Content-Type":          {"text/plain; charset=utf-8"},
			"Content-Md5":           {base64.StdEncoding.EncodeToString(sum[:])},
			"X-Amz-Meta-Eingang":    {"2024-05-01"},
			"X-Amz-Acl":             {"private"},
			"X-Amz-Meta-Bearbeitet": {"Amt 1", "Amt 2"},
		}},
		{name: "response overrides", method: "GET", target: "/akten/k?response-content-disposition=attachment%3B%20filename%3D%22a%20b.pdf%22&response-content-type=application%2Fpdf"},
		{name: "upload part", method: "PUT", target: "/akten/k?partNumber=2&uploadId=abc%2Fdef", body: body},
		{name: "create upload", method: "POST", target: "/akten/k?uploads"},
		{name: "multi delete", method: "POST", target: "/akten?delete", body: body},
		{name: "listing", method: "GET", target: "/akten?list-type=2&prefix=a%2Fb&delimiter=%2F"},
		{name: "tagging", method: "PUT", target: "/akten/k?tagging", body: body},
		{name: "virtual hosted", method: "GET", target: "/dir/k?tagging", host: "akten." + testDomain},
		{name: "virtual hosted root", method: "GET", target: "/", host: "akten." + testDomain},
		{name: "unsigned headers", method: "GET", target: "/akten/k", unsignedHdr: http.Header{"Range": {"bytes=0-3"}, "Cache-Control": {"no-cache"}}},
		{name: "presigned get", method: "GET", target: "/akten/antrag%20%C3%A4.pdf", presign: true},
		{name: "presigned get vhost", method: "GET", target: "/antrag.pdf?response-content-type=text%2Fplain", host: "akten." + testDomain, presign: true},
		{name: "presigned put", method: "PUT", target: "/akten/upload.bin", body: body, presign: true, header: http.Header{"Content-Type": {"application/octet-stream"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.target, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
				req.Host = tc.host + ":" + port
			}
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			if tc.presign {
				req = signer.PreSignV2(*req, testKey, testSecret, 600, tc.host != "")
			} else {
				req = signer.SignV2(*req, testKey, testSecret, tc.host != "")
			}
			for k, vs := range tc.unsignedHdr {
				req.Header[k] = vs
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d: %s", resp.StatusCode, got)
			}
			if !bytes.Equal(got, tc.body) && !(len(got) == 0 && tc.body == nil) {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			if p := resp.Header.Get("X-Presigned"); p != strconv.FormatBool(tc.presign) {
				t.Errorf("presigned %s", p)
			}
		})
	}
}

// signedRequest returns a request as a server receives it (RequestURI as
// sent), signed by minio-go with the Date now, path style.
func signedRequest(t testing.TB, method, target string, body []byte, header http.Header) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, vs := range header {
		r.Header[k] = vs
	}
	signed := signer.SignV2(*r, testKey, testSecret, false)
	r.Header = signed.Header
	return r
}

// presignedRequest returns a request for a URL minio-go presigned for
// expires seconds from now.
func presignedRequest(t testing.TB, method, target string, expires int64) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	signed := signer.PreSignV2(*r, testKey, testSecret, expires, false)
	return httptest.NewRequest(method, signed.URL.RequestURI(), nil)
}

// TestTampering: any change to what Version 2 signs fails; changes to what
// it does not sign pass, which pins the protocol's limits (package
// comment).
func TestTampering(t *testing.T) {
	base := func() *http.Request {
		return signedRequest(t, "PUT", "/akten/k?uploadId=u1&partNumber=1", []byte("x"), http.Header{
			"Content-Type": {"text/plain"}, "Content-Md5": {"LXJ3hcXhtyy5a3ZQ9PdLhA=="}, "X-Amz-Meta-A": {"1"},
		})
	}
	for _, tc := range []struct {
		name   string
		mutate func(r *http.Request)
		ok     bool
	}{
		{name: "untouched", mutate: func(*http.Request) {}, ok: true},
		{name: "method", mutate: func(r *http.Request) { r.Method = "POST" }},
		{name: "path", mutate: func(r *http.Request) { r.RequestURI = strings.Replace(r.RequestURI, "/k?", "/K?", 1) }},
		{name: "path spelling", mutate: func(r *http.Request) { r.RequestURI = strings.Replace(r.RequestURI, "/k?", "/%6B?", 1) }},
		{name: "bucket", mutate: func(r *http.Request) { r.RequestURI = strings.Replace(r.RequestURI, "/akten/", "/aktem/", 1) }},
		{name: "subresource value", mutate: func(r *http.Request) { setQuery(r, "uploadId=u2&partNumber=1") }},
		{name: "subresource added", mutate: func(r *http.Request) { setQuery(r, "uploadId=u1&partNumber=1&acl") }},
		{name: "subresource removed", mutate: func(r *http.Request) { setQuery(r, "uploadId=u1") }},
		{name: "content type", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }},
		{name: "content md5", mutate: func(r *http.Request) { r.Header.Del("Content-Md5") }},
		{name: "amz header value", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "2") }},
		{name: "amz header added", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }},
		{name: "amz header removed", mutate: func(r *http.Request) { r.Header.Del("X-Amz-Meta-A") }},
		{name: "amz date added", mutate: func(r *http.Request) {
			d, _ := http.ParseTime(r.Header.Get("Date"))
			r.Header.Set("X-Amz-Date", d.Add(time.Second).Format(http.TimeFormat))
		}},
		// The documented alternative form (TestAmzDateForms): the same
		// time moved from Date to x-amz-date signs alike.
		{name: "date moved to x-amz-date", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", r.Header.Get("Date")) }, ok: true},
		{name: "date", mutate: func(r *http.Request) {
			d, _ := http.ParseTime(r.Header.Get("Date"))
			r.Header.Set("Date", d.Add(time.Second).Format(http.TimeFormat))
		}},
		{name: "access key", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKey, "AKIAKCSTEST000000002", 1))
		}},
		// Not signed in Version 2.
		{name: "other parameter", mutate: func(r *http.Request) { setQuery(r, "uploadId=u1&partNumber=1&x-id=UploadPart") }, ok: true},
		{name: "other header", mutate: func(r *http.Request) { r.Header.Set("Cache-Control", "no-store") }, ok: true},
		{name: "amz header case", mutate: func(r *http.Request) {
			r.Header["x-amz-meta-a"] = r.Header["X-Amz-Meta-A"]
			delete(r.Header, "X-Amz-Meta-A")
		}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(r)
			v := testVerifier(nil)
			v.Lookup = staticLookup(map[string]string{testKey: testSecret, "AKIAKCSTEST000000002": testSecret + "2"})
			_, err := v.Verify(r, sigv4.Options{})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && !errors.Is(err, sigv4.ErrSignatureMismatch):
				t.Fatalf("error %v, want a signature mismatch", err)
			}
			var me *MismatchError
			if errors.As(err, &me) && (me.AccessKey == "" || me.StringToSign == "" || me.SignatureProvided == "") {
				t.Errorf("mismatch without details: %+v", me)
			}
		})
	}
}

// setQuery replaces a request's query, in RequestURI and URL alike.
func setQuery(r *http.Request, q string) {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	r.RequestURI = p + "?" + q
	r.URL.RawQuery = q
}

// TestPresignedExpiry: a URL works until Expires, not after, and not at
// all if it reaches further than MaxExpiresAhead.
func TestPresignedExpiry(t *testing.T) {
	start := time.Now()
	r := presignedRequest(t, "GET", "/akten/k", 600)
	for _, tc := range []struct {
		at   time.Duration
		want error
	}{
		{0, nil},
		{-time.Hour, nil}, // no start: a server clock behind is no problem
		{599 * time.Second, nil},
		{602 * time.Second, sigv4.ErrPresignExpired},
		{24 * time.Hour, sigv4.ErrPresignExpired},
	} {
		v := testVerifier(func() time.Time { return start.Add(tc.at) })
		if _, err := v.Verify(r, sigv4.Options{}); !errors.Is(err, tc.want) {
			t.Errorf("at %v: %v, want %v", tc.at, err, tc.want)
		}
	}
	week := int64(MaxExpiresAhead / time.Second)
	if _, err := testVerifier(nil).Verify(presignedRequest(t, "GET", "/akten/k", week), sigv4.Options{}); err != nil {
		t.Errorf("seven days: %v", err)
	}
	if _, err := testVerifier(nil).Verify(presignedRequest(t, "GET", "/akten/k", week+3600), sigv4.Options{}); !errors.Is(err, ErrExpiresTooFar) {
		t.Errorf("seven days and an hour: %v", err)
	}
	// The same URL becomes usable once it is within seven days of expiring.
	far := presignedRequest(t, "GET", "/akten/k", week+3600)
	later := testVerifier(func() time.Time { return time.Now().Add(2 * time.Hour) })
	if _, err := later.Verify(far, sigv4.Options{}); err != nil {
		t.Errorf("two hours later: %v", err)
	}
}

// TestHeaderTime: the date of a header-signed request must be within
// MaxSkew, whichever header carries it and in whichever HTTP format.
func TestHeaderTime(t *testing.T) {
	now := time.Now().UTC()
	for _, tc := range []struct {
		date, amzDate string
		want          error
	}{
		{date: now.Format(http.TimeFormat)},
		{date: now.Format(time.RFC1123Z)},
		{date: now.Format(time.RFC850)},
		{date: now.Format(time.ANSIC)},
		{date: now.Format("Mon, 2 Jan 2006 15:04:05 -0700")},
		{amzDate: now.Format(time.RFC1123Z)},
		{amzDate: now.Format("20060102T150405Z")},
		{date: "Mon, 01 Jan 2001 00:00:00 GMT", amzDate: now.Format(http.TimeFormat)},
		{date: now.Add(-14 * time.Minute).Format(http.TimeFormat)},
		{date: now.Add(16 * time.Minute).Format(http.TimeFormat), want: sigv4.ErrRequestTimeTooSkewed},
		{date: now.Add(-16 * time.Minute).Format(http.TimeFormat), want: sigv4.ErrRequestTimeTooSkewed},
		{amzDate: now.Add(-time.Hour).Format(http.TimeFormat), date: now.Format(http.TimeFormat), want: sigv4.ErrRequestTimeTooSkewed},
		{want: sigv4.ErrMissingDate},
		{date: "yesterday", want: sigv4.ErrMissingDate},
		{amzDate: "1700000000", date: now.Format(http.TimeFormat), want: sigv4.ErrMissingDate},
	} {
		r := httptest.NewRequest("GET", "/akten/k", nil)
		if tc.date != "" {
			r.Header.Set("Date", tc.date)
		}
		if tc.amzDate != "" {
			r.Header.Set("X-Amz-Date", tc.amzDate)
		}
		signWith(r, testSecret, testKey)
		if _, err := testVerifier(nil).Verify(r, sigv4.Options{}); !errors.Is(err, tc.want) {
			t.Errorf("Date %q, x-amz-date %q: %v, want %v", tc.date, tc.amzDate, err, tc.want)
		}
	}
}

// signWith signs r's header as the verifier computes the string, for
// cases no client library produces. The vectors and the client tests
// check that computation; this only saves building each string by hand.
func signWith(r *http.Request, secret, key string) {
	date := r.Header.Get("Date")
	if r.Header.Get("X-Amz-Date") != "" {
		date = ""
	}
	sts := stringToSign(r.Method, r.Header.Get("Content-Md5"), r.Header.Get("Content-Type"), date,
		amzHeaders(r.Header, ""), canonicalResources(r, domainBucket(r.Host))[0])
	r.Header.Set("Authorization", "AWS "+key+":"+sign(secret, sts))
}

// TestPayload: the payload is not signed, but whatever the request states
// about it is checked as for Version 4: a hex x-amz-content-sha256, an
// x-amz-checksum-* header (also from a presigned URL's query), the length.
func TestPayload(t *testing.T) {
	body := []byte("Bauantrag, 3 Seiten")
	sha := sha256.Sum256(body)
	crc := "TPdbaA==" // a CRC32 of other bytes
	for _, tc := range []struct {
		name     string
		header   http.Header
		body     []byte
		verify   error // from Verify
		read     error // from reading the body
		presign  string
		checksum string
	}{
		{name: "plain", body: body},
		{name: "sha256", header: http.Header{"X-Amz-Content-Sha256": {hex.EncodeToString(sha[:])}}, body: body},
		{name: "sha256 of other bytes", header: http.Header{"X-Amz-Content-Sha256": {hex.EncodeToString(sha[:])}}, body: []byte("Bauantrag, 4 Seiten"), read: sigv4.ErrContentSHA256Mismatch},
		{name: "unsigned payload", header: http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}}, body: body},
		{name: "v4 chunks", header: http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}}, body: body, verify: sigv4.ErrUnsupportedAuth},
		{name: "bad checksum", header: http.Header{"X-Amz-Checksum-Crc32": {crc}}, body: body, read: sigv4.ErrBadDigest},
		{name: "checksum", header: http.Header{"X-Amz-Checksum-Crc32": {checksum(t, body)}}, body: body, checksum: "CRC32"},
		{name: "presigned checksum", presign: "x-amz-checksum-crc32=" + url.QueryEscape(crc), body: body, read: sigv4.ErrBadDigest},
		{name: "presigned good checksum", presign: "x-amz-checksum-crc32=" + url.QueryEscape(checksum(t, body)), body: body, checksum: "CRC32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *http.Request
			if tc.presign != "" {
				r = httptest.NewRequest("PUT", "/akten/k?"+tc.presign, bytes.NewReader(tc.body))
				presignWith(r, time.Now().Add(time.Minute))
			} else {
				r = httptest.NewRequest("PUT", "/akten/k", bytes.NewReader(tc.body))
				for k, vs := range tc.header {
					r.Header[k] = vs
				}
				r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
				signWith(r, testSecret, testKey)
			}
			res, err := testVerifier(nil).Verify(r, sigv4.Options{})
			if !errors.Is(err, tc.verify) {
				t.Fatalf("Verify: %v, want %v", err, tc.verify)
			}
			if err != nil {
				return
			}
			if res.Length != int64(len(tc.body)) {
				t.Errorf("length %d", res.Length)
			}
			got, err := io.ReadAll(res.Body)
			if !errors.Is(err, tc.read) {
				t.Fatalf("body: %v, want %v", err, tc.read)
			}
			if err == nil && !bytes.Equal(got, tc.body) {
				t.Errorf("body %q", got)
			}
			if cs := res.Checksums(); err == nil && (tc.checksum == "") != (len(cs) == 0) || len(cs) > 0 && cs[0].Algorithm != tc.checksum {
				t.Errorf("checksums %v, want %s", cs, tc.checksum)
			}
		})
	}
}

func checksum(t testing.TB, b []byte) string {
	h, err := sigv4.NewChecksum("CRC32")
	if err != nil {
		t.Fatal(err)
	}
	h.Write(b)
	return sigv4.EncodeChecksum(h.Sum(nil))
}

// presignWith presigns r (its query may already carry parameters) as
// botocore does: headers in the query count as headers.
func presignWith(r *http.Request, expires time.Time) {
	exp := strconv.FormatInt(expires.Unix(), 10)
	h := r.Header.Clone()
	maps.Copy(h, hoistedHeaders(r))
	sts := stringToSign(r.Method, h.Get("Content-Md5"), h.Get("Content-Type"), exp, amzHeaders(h, "x-amz-date"), canonicalResources(r, "")[0])
	q := "AWSAccessKeyId=" + testKey + "&Expires=" + exp + "&Signature=" + url.QueryEscape(sign(testSecret, sts))
	if r.URL.RawQuery != "" {
		q = r.URL.RawQuery + "&" + q
	}
	setQuery(r, q)
}

// TestQueryHeaders: botocore's presigned URLs carry Content-Type,
// Content-MD5 and x-amz-* in the query; those the request does not send as
// headers count as headers, for the signature and for the server.
func TestQueryHeaders(t *testing.T) {
	const q = "content-type=text%2Fplain&x-amz-acl=private&x-amz-meta-a=1&x-amz-meta-a=2&Content-MD5=abc&prefix=x"
	r := httptest.NewRequest("PUT", "/akten/k?"+q+"&AWSAccessKeyId=AK&Signature=s&Expires=1", nil)
	r.Header.Set("X-Amz-Acl", "public-read")
	got := QueryHeaders(r)
	want := http.Header{"Content-Type": {"text/plain"}, "X-Amz-Meta-A": {"1", "2"}, "Content-Md5": {"abc"}}
	if len(got) != len(want) {
		t.Fatalf("QueryHeaders %v, want %v", got, want)
	}
	for k, vs := range want {
		if strings.Join(got[k], "|") != strings.Join(vs, "|") {
			t.Errorf("%s: %q, want %q", k, got[k], vs)
		}
	}
	// Only a Version 2 presigned request hoists headers.
	for _, target := range []string{"/akten/k?" + q, "/akten/k?" + q + "&X-Amz-Signature=x", "/akten/k"} {
		if h := QueryHeaders(httptest.NewRequest("GET", target, nil)); h != nil {
			t.Errorf("%s: %v", target, h)
		}
	}

	// A URL presigned with a Content-Type works with the header or without
	// it, not with another one.
	r = httptest.NewRequest("PUT", "/akten/k?content-type=application%2Fpdf", strings.NewReader("%PDF"))
	presignWith(r, time.Now().Add(time.Minute))
	for ct, ok := range map[string]bool{"": true, "application/pdf": true, "text/html": false} {
		r.Header.Del("Content-Type")
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		_, err := testVerifier(nil).Verify(r, sigv4.Options{})
		if ok != (err == nil) {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
}

// TestCanonicalResource: the path as sent, the bucket of a virtual host,
// and the subresources sorted and decoded.
func TestCanonicalResource(t *testing.T) {
	for _, tc := range []struct {
		target, host string
		want         []string
	}{
		{"/", "", []string{"/"}},
		{"/akten", "", []string{"/akten/", "/akten"}},
		{"/akten?uploads=&prefix=a", "", []string{"/akten/?uploads", "/akten?uploads"}},
		{"/akten/", "", []string{"/akten/"}},
		{"/akten/a%2Fb%20c%c3%a4", "", []string{"/akten/a%2Fb%20c%c3%a4"}},
		{"/akten/k?versionId=null&acl", "", []string{"/akten/k?acl&versionId=null"}},
		{"/akten/k?uploadId=a%2Bb&partNumber=3&x-id=UploadPart", "", []string{"/akten/k?partNumber=3&uploadId=a+b"}},
		{"/akten/k?response-content-disposition=attachment%3B%20filename%3D%22a%20b%22", "", []string{`/akten/k?response-content-disposition=attachment; filename="a b"`}},
		{"/akten/?tagging&cors&delete&location&list-type=2", "", []string{"/akten/?cors&delete&location&tagging"}},
		{"/akten/k?acl=b&acl=a", "", []string{"/akten/k?acl=b&acl=a"}},
		{"/k?tagging", "akten." + testDomain + ":9000", []string{"/akten/k?tagging"}},
		{"/", "akten." + testDomain, []string{"/akten/"}},
		{"/akten/k", testDomain, []string{"/akten/k"}},
		{"/akten/k?versionId=%zz", "", []string{"/akten/k?versionId=%zz"}},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.host != "" {
			r.Host = tc.host
		}
		if got := canonicalResources(r, domainBucket(r.Host)); strings.Join(got, " | ") != strings.Join(tc.want, " | ") {
			t.Errorf("%s (host %q): %q, want %q", tc.target, tc.host, got, tc.want)
		}
	}
	// A request built in-process, without RequestURI, signs its URL's
	// spelling.
	r, _ := http.NewRequest("GET", "http://x/akten/a%2Fb?acl", nil)
	if got := canonicalResources(r, ""); len(got) != 1 || got[0] != "/akten/a%2Fb?acl" {
		t.Errorf("without RequestURI: %q", got)
	}
}

// TestBucketOnlyPath: for "/akten", botocore signs "/akten/" and the
// documentation's rule "/akten"; both are accepted, and a mismatch shows
// botocore's.
func TestBucketOnlyPath(t *testing.T) {
	for _, signed := range []string{"/akten/?uploads", "/akten?uploads"} {
		r := httptest.NewRequest("GET", "/akten?uploads", nil)
		r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		r.Header.Set("Authorization", "AWS "+testKey+":"+sign(testSecret, "GET\n\n\n"+r.Header.Get("Date")+"\n"+signed))
		if _, err := testVerifier(nil).Verify(r, sigv4.Options{}); err != nil {
			t.Errorf("signed %q: %v", signed, err)
		}
		r.Header.Set("Authorization", "AWS "+testKey+":"+sign("other", "x"))
		var me *MismatchError
		if _, err := testVerifier(nil).Verify(r, sigv4.Options{}); !errors.As(err, &me) || !strings.HasSuffix(me.StringToSign, "\n/akten/?uploads") {
			t.Errorf("mismatch %v", err)
		}
	}
}

// malformedCases are requests that must fail with the given error, never
// succeed and never panic; FuzzVerify starts from them.
var malformedCases = []struct {
	name   string
	auth   []string // Authorization headers
	query  string
	date   string // "" for now
	header map[string]string
	want   error
}{
	{name: "no credentials", want: sigv4.ErrMissingAuth},
	{name: "scheme only", auth: []string{"AWS"}, want: sigv4.ErrUnsupportedAuth},
	{name: "scheme and blank", auth: []string{"AWS "}, want: sigv4.ErrUnsupportedAuth},
	{name: "no colon", auth: []string{"AWS " + testKey}, want: ErrMalformedHeader},
	{name: "colon only", auth: []string{"AWS :"}, want: ErrMalformedHeader},
	{name: "no key", auth: []string{"AWS :c2lnbmF0dXJl"}, want: ErrMalformedHeader},
	{name: "no signature", auth: []string{"AWS " + testKey + ":"}, want: ErrMalformedHeader},
	{name: "blank in key", auth: []string{"AWS AKIA KCS:c2ln"}, want: ErrMalformedHeader},
	{name: "blank in signature", auth: []string{"AWS " + testKey + ":c2ln c2ln"}, want: ErrMalformedHeader},
	{name: "lower-case scheme", auth: []string{"aws " + testKey + ":c2ln"}, want: sigv4.ErrUnsupportedAuth},
	{name: "two headers", auth: []string{"AWS " + testKey + ":c2ln", "AWS " + testKey + ":c2ln"}, want: ErrMalformedHeader},
	{name: "v4 header", auth: []string{"AWS4-HMAC-SHA256 Credential=x"}, want: sigv4.ErrUnsupportedAuth},
	{name: "not base64", auth: []string{"AWS " + testKey + ":!!!!"}, want: sigv4.ErrSignatureMismatch},
	{name: "short signature", auth: []string{"AWS " + testKey + ":c2ln"}, want: sigv4.ErrSignatureMismatch},
	{name: "huge signature", auth: []string{"AWS " + testKey + ":" + strings.Repeat("A", 1<<14)}, want: sigv4.ErrSignatureMismatch},
	{name: "unknown key", auth: []string{"AWS AKIAUNKNOWN:c2ln"}, want: sigv4.ErrUnknownAccessKey},
	{name: "no date", auth: []string{"AWS " + testKey + ":c2ln"}, date: "-", want: sigv4.ErrMissingDate},
	{name: "bad date", auth: []string{"AWS " + testKey + ":c2ln"}, date: "32 Mar 2007", want: sigv4.ErrMissingDate},
	{name: "old date", auth: []string{"AWS " + testKey + ":c2ln"}, date: "Tue, 27 Mar 2007 19:36:42 +0000", want: sigv4.ErrRequestTimeTooSkewed},
	{name: "header and query", auth: []string{"AWS " + testKey + ":c2ln"}, query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=9999999999", want: ErrMixedAuth},
	{name: "header and v4 query", auth: []string{"AWS " + testKey + ":c2ln"}, query: "X-Amz-Signature=abc", want: ErrMixedAuth},
	{name: "v4 header and v2 query", auth: []string{"AWS4-HMAC-SHA256 Credential=x"}, query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=1", want: ErrMixedAuth},
	{name: "v2 and v4 query", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=9999999999&X-Amz-Algorithm=AWS4-HMAC-SHA256", want: ErrMixedAuth},
	{name: "session token", auth: []string{"AWS " + testKey + ":c2ln"}, header: map[string]string{"X-Amz-Security-Token": "t"}, want: sigv4.ErrUnsupportedAuth},
	{name: "query session token", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires={soon}&x-amz-security-token=t", want: sigv4.ErrUnsupportedAuth},
	{name: "query without key", query: "Signature=c2ln&Expires=9999999999", want: ErrQueryIncomplete},
	{name: "query without signature", query: "AWSAccessKeyId=" + testKey + "&Expires=9999999999", want: ErrQueryIncomplete},
	{name: "query without expires", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln", want: ErrQueryIncomplete},
	{name: "query key twice", query: "AWSAccessKeyId=a&AWSAccessKeyId=b&Signature=c2ln&Expires=9999999999", want: ErrQueryIncomplete},
	{name: "query signature twice", query: "AWSAccessKeyId=" + testKey + "&Signature=a&Signature=b&Expires=9999999999", want: ErrQueryIncomplete},
	{name: "query empty key", query: "AWSAccessKeyId=&Signature=c2ln&Expires=9999999999", want: ErrQueryIncomplete},
	{name: "expires not a number", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=tomorrow", want: ErrInvalidExpires},
	{name: "expires negative", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=-1", want: ErrInvalidExpires},
	{name: "expires signed", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=%2B1900000000", want: ErrInvalidExpires},
	{name: "expires float", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=1.9e9", want: ErrInvalidExpires},
	{name: "expires overflow", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=99999999999999999999", want: ErrInvalidExpires},
	{name: "expires empty", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=", want: ErrInvalidExpires},
	{name: "expired", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires=1175139620", want: sigv4.ErrPresignExpired},
	{name: "expires in a year", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires={year}", want: ErrExpiresTooFar},
	{name: "query bad signature", query: "AWSAccessKeyId=" + testKey + "&Signature=c2ln&Expires={soon}", want: sigv4.ErrSignatureMismatch},
	{name: "query bad escapes", query: "AWSAccessKeyId=" + testKey + "&Signature=%zz&Expires={soon}&acl=%", want: sigv4.ErrSignatureMismatch},
	{name: "query unknown key", query: "AWSAccessKeyId=AKIAUNKNOWN&Signature=c2ln&Expires={soon}", want: sigv4.ErrUnknownAccessKey},
	{name: "signature only", query: "Signature=x", want: ErrQueryIncomplete},
	{name: "streaming", auth: []string{"AWS " + testKey + ":{sign}"}, header: map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, want: sigv4.ErrUnsupportedAuth},
	{name: "bad content sha", auth: []string{"AWS " + testKey + ":{sign}"}, header: map[string]string{"X-Amz-Content-Sha256": "xyz"}, want: sigv4.ErrInvalidContentSHA256},
	{name: "bad checksum value", auth: []string{"AWS " + testKey + ":{sign}"}, header: map[string]string{"X-Amz-Checksum-Crc32": "xyz"}, want: sigv4.ErrInvalidChecksum},
}

// malformedRequest builds a malformedCases request. "{soon}" and "{year}"
// in the query become an Expires a minute and a year ahead; "{sign}" in a
// header becomes the request's valid signature.
func malformedRequest(auth []string, query, date string, header map[string]string) *http.Request {
	query = strings.NewReplacer(
		"{soon}", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10),
		"{year}", strconv.FormatInt(time.Now().AddDate(1, 0, 0).Unix(), 10),
	).Replace(query)
	r := &http.Request{
		Method:     "GET",
		URL:        &url.URL{Path: "/akten/k", RawQuery: query},
		RequestURI: "/akten/k",
		Header:     http.Header{},
		Host:       "127.0.0.1",
		Body:       http.NoBody,
	}
	if query != "" {
		r.RequestURI += "?" + query
	}
	switch date {
	case "":
		r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	case "-":
	default:
		r.Header.Set("Date", date)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	for _, a := range auth {
		if strings.Contains(a, "{sign}") {
			signWith(r, testSecret, testKey)
			continue
		}
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestMalformed(t *testing.T) {
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			r := malformedRequest(tc.auth, tc.query, tc.date, tc.header)
			res, err := testVerifier(nil).Verify(r, sigv4.Options{})
			if err == nil {
				t.Fatalf("accepted (%+v)", res)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
}

// FuzzVerify feeds the verifier hostile Authorization headers, queries,
// dates and paths. The property: an error, never a panic, never success (a
// fuzzer does not find HMAC-SHA1 signatures).
//
//	go test ./s3api/sigv2 -run '^$' -fuzz '^FuzzVerify$' -fuzztime 60s
func FuzzVerify(f *testing.F) {
	for _, tc := range malformedCases {
		a := ""
		if len(tc.auth) > 0 {
			a = tc.auth[0]
		}
		f.Add(a, tc.query, tc.date, "/akten/k")
	}
	f.Add("AWS "+testKey+":qgk2+6Sv9/oM7G3qLEjTH1a1l1g=", "acl&uploadId=%&versionId=%C3", "", "/%zz/..//k%2F")
	f.Fuzz(func(t *testing.T, auth, query, date, path string) {
		r := malformedRequest(nil, query, date, nil)
		r.URL.Path = path
		r.RequestURI = path
		if query != "" {
			r.RequestURI += "?" + r.URL.RawQuery
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r.Host = date // a hostile Host for HostBucket too
		if _, err := testVerifier(nil).Verify(r, sigv4.Options{}); err == nil {
			t.Fatalf("accepted Authorization %q, query %q", auth, query)
		}
		QueryHeaders(r)
		Signed(r)
	})
}

// TestSigned: which requests are Version 2's.
func TestSigned(t *testing.T) {
	for target, auth := range map[string]string{
		"/k?AWSAccessKeyId=a":                   "",
		"/k?Signature=a":                        "",
		"/k?AWSAccessKeyId=a&X-Amz-Signature=b": "",
		"/k":                                    "AWS a:b",
		"/k?x=1":                                " AWS a:b",
	} {
		r := httptest.NewRequest("GET", target, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if !Signed(r) {
			t.Errorf("%s %q: not Signed", target, auth)
		}
	}
	for target, auth := range map[string]string{
		"/k":                    "",
		"/k?Expires=1":          "",
		"/k?X-Amz-Signature=1":  "AWS4-HMAC-SHA256 Credential=x",
		"/k?awsaccesskeyid=a":   "",
		"/k?response-expires=1": "AWSX a:b",
	} {
		r := httptest.NewRequest("GET", target, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if Signed(r) {
			t.Errorf("%s %q: Signed", target, auth)
		}
	}
}

// TestVerifierNeedsLookup: a Verifier without Lookup fails, not panics.
func TestVerifierNeedsLookup(t *testing.T) {
	r := malformedRequest([]string{"AWS a:b"}, "", "", nil)
	if _, err := (&Verifier{}).Verify(r, sigv4.Options{}); err == nil {
		t.Error("Verify without Lookup succeeded")
	}
	if _, err := (&Verifier{}).VerifyPost(context.Background(), PostForm{AccessKeyID: "a"}); err == nil {
		t.Error("VerifyPost without Lookup succeeded")
	}
}
