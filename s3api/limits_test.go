package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// These tests hold request documents to S3's limits, and check that a body beyond them costs little: it is refused after
// reading a little of it, or none of it when what it is about is not the
// caller's.
//
// S3's limits and codes, from the S3 API reference:
//   - DeleteObjects takes "a list of up to 1,000 keys"
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html);
//     S3 answers a longer list MalformedXML (https://github.com/aws/aws-sdk/issues/602).
//   - PutObjectTagging: "Amazon S3 limits the maximum number of tags to 10 tags
//     per object", refused with InvalidTag ("The tag provided was not a valid
//     tag"); a document that does not match the schema is MalformedXML
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectTagging.html).
//   - CORS: "You can add up to 100 rules to the configuration"
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CORSConfiguration.html);
//     "The document is limited to 64 KB in size"
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketCors.html).
//     S3 answers a 101st rule InvalidRequest, "The number of CORS rules should
//     not exceed allowed limit of 100 rules."
//   - CompleteMultipartUpload lists parts numbered 1 to 10 000 in ascending
//     order, so a 10 001st part is a part number beyond 10 000: InvalidArgument,
//     as for UploadPart. S3's TooManyParts
//     (https://docs.aws.amazon.com/botocore/latest/reference/services/s3/client/exceptions/TooManyParts.html)
//     is the error of appending to an object, not of this list.

// countingReader counts the bytes read of a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// served is the outcome of serveCounting.
type served struct {
	resp      rawResponse
	bytesRead int64         // of the request body
	allocated uint64        // bytes allocated while serving
	took      time.Duration // to serve
}

// serveCounting signs r and serves it straight from the handler, without a
// connection, counting the body bytes the server reads and the bytes
// allocated meanwhile.
func (h *harness) serveCounting(r rawReq) served {
	h.t.Helper()
	req := h.newRequest(r)
	body := &countingReader{r: bytes.NewReader(r.body)}
	req.Body = io.NopCloser(body)
	req.Host = req.URL.Host
	req.RequestURI = req.URL.RequestURI()
	w := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	h.server.ServeHTTP(w, req)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	resp := w.Result()
	resp.Request = req
	b, _ := io.ReadAll(resp.Body)
	return served{resp: rawResponse{resp, b}, bytesRead: body.n, allocated: after.TotalAlloc - before.TotalAlloc, took: took}
}

func md5Base64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// deleteDoc is a DeleteObjects document of n keys.
func deleteDoc(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for i := range n {
		fmt.Fprintf(&b, "<Object><Key>k%06d</Key></Object>", i)
	}
	b.WriteString("</Delete>")
	return b.Bytes()
}

// The measurement: an 8 MiB DeleteObjects body with 289 000 keys
// cost 45 MB of heap and 1.5 s of CPU before the 1000-key limit refused
// it. Now it is refused at the 1001st key, after reading a few dozen KiB.
func TestDeleteObjectsHugeBodyStopsEarly(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	body := []byte("<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", 289000) + "</Delete>")
	if len(body) < 8<<20-64<<10 || len(body) > maxDeleteBody {
		t.Fatalf("the body is %d bytes, want about 8 MiB", len(body))
	}
	s := h.serveCounting(rawReq{method: "POST", path: "/akten", query: "delete", body: body, header: map[string]string{"Content-MD5": md5Base64(body)}})
	doc := h.wantError(s.resp, 400, "MalformedXML")
	if !strings.Contains(doc.Message, "at most 1000 keys") {
		t.Errorf("message %q", doc.Message)
	}
	// 1001 keys of 29 bytes, and what the decoder reads ahead. (Decoding
	// the whole body, as before, allocated 238 MB.)
	if s.bytesRead > 64<<10 {
		t.Errorf("read %d bytes of the body before refusing it", s.bytesRead)
	}
	if s.allocated > 8<<20 {
		t.Errorf("allocated %d bytes serving the request", s.allocated)
	}
	t.Logf("refused after reading %d of %d bytes, %d bytes allocated, in %v", s.bytesRead, len(body), s.allocated, s.took)

	// The same over a connection, as a client sees it.
	resp := h.do(rawReq{method: "POST", path: "/akten", query: "delete", body: body, header: map[string]string{"Content-MD5": md5Base64(body)}})
	h.wantError(resp, 400, "MalformedXML")
}

// A DeleteObjects for a bucket that is not the caller's is refused before
// its body is read.
func TestDeleteObjectsChecksBucketFirst(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	body := deleteDoc(200000)
	hdr := map[string]string{"Content-MD5": md5Base64(body)}
	for _, tc := range []struct {
		name   string
		key    testKey
		path   string
		status int
		code   string
	}{
		{"another tenant's bucket", keyB, "/akten", 403, "AccessDenied"},
		{"no such bucket", keyA, "/gibt-es-nicht", 404, "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.serveCounting(rawReq{method: "POST", path: tc.path, query: "delete", body: body, header: hdr, key: tc.key})
			h.wantError(s.resp, tc.status, tc.code)
			if s.bytesRead != 0 {
				t.Errorf("read %d bytes of the body", s.bytesRead)
			}
		})
	}
}

// Hostile DeleteObjects documents: each is refused, having read little.
func TestRawDeleteObjectsHostile(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	pad := func(n int) string { return strings.Repeat("x", n) }
	deep := strings.Repeat("<a>", 100000)
	for _, tc := range []struct {
		name string
		body string
		code string
	}{
		{"1001 keys", string(deleteDoc(1001)), "MalformedXML"},
		{"deep nesting", "<Delete><Object>" + deep, "MalformedXML"},
		{"a 1 MiB key", "<Delete><Object><Key>" + pad(1<<20) + "</Key></Object></Delete>", "MalformedXML"},
		{"a key in comments", "<Delete><Object><Key>" + strings.Repeat(pad(1000)+"<!-- -->", 100) + "</Key></Object></Delete>", "MalformedXML"},
		{"a key in CDATA", "<Delete><Object><Key><![CDATA[" + strings.Repeat("]>", 1<<19) + "]]></Key></Object></Delete>", "MalformedXML"},
		{"a long tag", "<Delete><Object a=\"" + strings.Repeat(">", 1<<20) + "\"><Key>k</Key></Object></Delete>", "MalformedXML"},
		{"a long comment", "<Delete><!--" + strings.Repeat("->", 1<<19) + "--><Object><Key>k</Key></Object></Delete>", "MalformedXML"},
		{"many unknown elements", "<Delete><Object><Key>k</Key>" + strings.Repeat("<x/>", 1<<18) + "</Object></Delete>", "MalformedXML"},
		{"many Quiet elements", "<Delete>" + strings.Repeat("<Quiet>true</Quiet>", 100000) + "</Delete>", "MalformedXML"},
		{"document type declaration", `<!DOCTYPE Delete [<!ENTITY k "k">]><Delete><Object><Key>&k;</Key></Object></Delete>`, "MalformedXML"},
		{"over 8 MiB", "<Delete>" + strings.Repeat("<Object><Key>"+pad(9000)+"</Key></Object>", 1000) + "</Delete>", "MaxMessageLengthExceeded"},
		{"a long run of whitespace", "<Delete><Object><Key>k</Key></Object>" + strings.Repeat(" ", 1<<20) + "</Delete>", "MalformedXML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			s := h.serveCounting(rawReq{method: "POST", path: "/akten", query: "delete", body: body, header: map[string]string{"Content-MD5": md5Base64(body)}})
			h.wantError(s.resp, 400, tc.code)
			if limit := int64(160 << 10); tc.code == "MalformedXML" && s.bytesRead > limit {
				t.Errorf("read %d bytes of %d before refusing the body", s.bytesRead, len(body))
			}
		})
	}
	// Each limit is where it should be: the largest document within them
	// all is accepted.
	key := strings.Repeat("ä", 512) // 1024 bytes
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><!-- Löschliste --><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>`)
	for i := range maxDeleteKeys {
		fmt.Fprintf(&b, "<Object><Key>%s%04d</Key><VersionId>null</VersionId></Object>", key[:1016], i)
	}
	b.WriteString("</Delete>")
	body := []byte(b.String())
	resp := h.do(rawReq{method: "POST", path: "/akten", query: "delete", body: body, header: map[string]string{"Content-MD5": md5Base64(body)}})
	if resp.StatusCode != 200 {
		t.Errorf("1000 keys of 1020 bytes: %d %s", resp.StatusCode, clip(resp.body))
	}
}

func TestSDKDeleteObjectsLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	ids := make([]types.ObjectIdentifier, maxDeleteKeys+1)
	for i := range ids {
		ids[i] = types.ObjectIdentifier{Key: aws.String(fmt.Sprint("k", i))}
	}
	c := h.sdk(keyA)
	_, err := c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: aws.String("akten"), Delete: &types.Delete{Objects: ids}})
	wantAPIError(t, err, 400, "MalformedXML")
	out, err := c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: aws.String("akten"), Delete: &types.Delete{Objects: ids[:maxDeleteKeys]}})
	if err != nil || len(out.Deleted) != maxDeleteKeys {
		t.Errorf("1000 keys: %d deleted, %v", len(out.Deleted), err)
	}
}

// completeDoc is a CompleteMultipartUpload document of n parts.
func completeDoc(n int) []byte {
	var b bytes.Buffer
	b.WriteString("<CompleteMultipartUpload>")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `<Part><PartNumber>%d</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part>`, i)
	}
	b.WriteString("</CompleteMultipartUpload>")
	return b.Bytes()
}

func TestCompleteMultipartUploadLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	c := h.sdk(keyA)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(up.UploadId)
	query := "uploadId=" + url.QueryEscape(id)
	huge := completeDoc(100000) // 8.5 MB
	if len(huge) <= maxCompleteBody {
		t.Fatalf("the body is only %d bytes", len(huge))
	}

	// Someone else's upload, or none: refused before the body is read.
	for _, tc := range []struct {
		name   string
		key    testKey
		path   string
		query  string
		status int
		code   string
	}{
		{"unknown upload", keyA, "/akten/k", "uploadId=gibt-es-nicht", 404, "NoSuchUpload"},
		{"another key", keyA, "/akten/anders", query, 404, "NoSuchUpload"},
		{"another tenant", keyB, "/akten/k", query, 403, "AccessDenied"},
		{"no such bucket", keyA, "/fehlt/k", query, 404, "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.serveCounting(rawReq{method: "POST", path: tc.path, query: tc.query, body: huge, key: tc.key})
			h.wantError(s.resp, tc.status, tc.code)
			if s.bytesRead != 0 {
				t.Errorf("read %d bytes of the body", s.bytesRead)
			}
		})
	}

	// The caller's upload: a list beyond 10 000 parts is refused at the
	// 10 001st, other hostile lists as early.
	long := func(n int) string { return strings.Repeat("0", n) }
	for _, tc := range []struct {
		name string
		body []byte
		code string
		max  int64 // bytes the server may read
	}{
		{"10 001 parts", completeDoc(maxParts + 1), "InvalidArgument", 1 << 20},
		{"100 000 parts", huge, "InvalidArgument", 1 << 20},
		{"a 1 MiB ETag", []byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + long(1<<20) + "</ETag></Part></CompleteMultipartUpload>"), "MalformedXML", 64 << 10},
		{"deep nesting", []byte("<CompleteMultipartUpload><Part>" + strings.Repeat("<a>", 1<<20)), "MalformedXML", 64 << 10},
		{"many checksums", []byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>" + strings.Repeat("<ChecksumCRC32>AAAAAA==</ChecksumCRC32>", 200000) + "</Part></CompleteMultipartUpload>"), "MalformedXML", 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.serveCounting(rawReq{method: "POST", path: "/akten/k", query: query, body: tc.body})
			h.wantError(s.resp, 400, tc.code)
			if s.bytesRead > tc.max {
				t.Errorf("read %d bytes of %d before refusing the body", s.bytesRead, len(tc.body))
			}
		})
	}

	// The SDK's list of 10 001 parts.
	parts := make([]types.CompletedPart, maxParts+1)
	for i := range parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(`"0123456789abcdef0123456789abcdef"`)}
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantAPIError(t, err, 400, "InvalidArgument")
	// The upload is still there, and completes.
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("teil")}); err != nil {
		t.Fatal(err)
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("akten"), Key: aws.String("k"), UploadId: up.UploadId})
	if err != nil || len(lp.Parts) != 1 {
		t.Fatalf("ListParts: %v", err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: lp.Parts[0].ETag}}}}); err != nil {
		t.Errorf("CompleteMultipartUpload: %v", err)
	}
}

func TestPutBucketCorsLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "portal")
	rule := "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"
	doc := func(n int) []byte {
		return []byte("<CORSConfiguration>" + strings.Repeat(rule, n) + "</CORSConfiguration>")
	}
	for _, tc := range []struct {
		name   string
		key    testKey
		path   string
		body   []byte
		status int
		code   string
		max    int64
	}{
		{"101 rules", keyA, "/portal", doc(101), 400, "InvalidRequest", 32 << 10},
		{"700 rules", keyA, "/portal", doc(700), 400, "InvalidRequest", 32 << 10},
		{"over 64 KiB", keyA, "/portal", []byte("<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>" +
			strings.Repeat("<AllowedOrigin>https://portal.example</AllowedOrigin>", 2000) + "</CORSRule></CORSConfiguration>"), 400, "MaxMessageLengthExceeded", 64<<10 + 1},
		{"a long origin", keyA, "/portal", []byte("<CORSConfiguration><CORSRule><AllowedOrigin>" + strings.Repeat("a", 60<<10) + "</AllowedOrigin></CORSRule></CORSConfiguration>"), 400, "MalformedXML", 32 << 10},
		{"another tenant's bucket", keyB, "/portal", doc(1), 403, "AccessDenied", 0},
		{"no such bucket", keyA, "/fehlt", doc(1), 404, "NoSuchBucket", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.serveCounting(rawReq{method: "PUT", path: tc.path, query: "cors", body: tc.body, key: tc.key})
			h.wantError(s.resp, tc.status, tc.code)
			if s.bytesRead > tc.max {
				t.Errorf("read %d bytes of %d", s.bytesRead, len(tc.body))
			}
		})
	}
	// 100 rules are S3's limit, and kcs's.
	resp := h.do(rawReq{method: "PUT", path: "/portal", query: "cors", body: doc(100)})
	if resp.StatusCode != 200 {
		t.Errorf("100 rules: %d %s", resp.StatusCode, clip(resp.body))
	}
	rules := make([]types.CORSRule, 101)
	for i := range rules {
		rules[i] = types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}
	}
	_, err := h.sdk(keyA).PutBucketCors(context.Background(), &s3.PutBucketCorsInput{Bucket: aws.String("portal"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}})
	wantAPIError(t, err, 400, "InvalidRequest")
}

func TestPutObjectTaggingLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", []byte("x"))
	tag := "<Tag><Key>k%d</Key><Value>v</Value></Tag>"
	doc := func(n int) []byte {
		var b strings.Builder
		b.WriteString("<Tagging><TagSet>")
		for i := range n {
			fmt.Fprintf(&b, tag, i)
		}
		b.WriteString("</TagSet></Tagging>")
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name   string
		key    testKey
		path   string
		body   []byte
		status int
		code   string
		max    int64
	}{
		{"11 tags", keyA, "/akten/k", doc(11), 400, "InvalidTag", 8 << 10},
		{"2000 tags", keyA, "/akten/k", doc(2000), 400, "InvalidTag", 8 << 10},
		{"11 tags in two tag sets", keyA, "/akten/k", []byte("<Tagging>" + string(doc(6)[9:len(doc(6))-10]) + string(doc(5)[9:len(doc(5))-10]) + "</Tagging>"), 400, "InvalidTag", 8 << 10},
		{"many unknown elements", keyA, "/akten/k", []byte("<Tagging><TagSet>" + strings.Repeat("<x/>", 10000) + "</TagSet></Tagging>"), 400, "MalformedXML", 8 << 10},
		{"a long value", keyA, "/akten/k", []byte("<Tagging><TagSet><Tag><Key>k</Key><Value>" + strings.Repeat("v", 60<<10) + "</Value></Tag></TagSet></Tagging>"), 400, "MalformedXML", 24 << 10},
		{"another tenant's bucket", keyB, "/akten/k", doc(1), 403, "AccessDenied", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.serveCounting(rawReq{method: "PUT", path: tc.path, query: "tagging", body: tc.body, key: tc.key})
			h.wantError(s.resp, tc.status, tc.code)
			if s.bytesRead > tc.max {
				t.Errorf("read %d bytes of %d", s.bytesRead, len(tc.body))
			}
		})
	}
	// Ten tags are S3's limit, and kcs's.
	if resp := h.do(rawReq{method: "PUT", path: "/akten/k", query: "tagging", body: doc(10)}); resp.StatusCode != 200 {
		t.Errorf("10 tags: %d %s", resp.StatusCode, clip(resp.body))
	}
}

// TestXMLGuard follows documents through the guard with small limits.
func TestXMLGuard(t *testing.T) {
	lim := xmlLimits{bytes: 4096, depth: 3, text: 10, markup: 40, elements: 8}
	type doc struct {
		XMLName xml.Name `xml:"D"`
		V       []string `xml:"V"`
	}
	for _, tc := range []struct {
		name, body string
		code       string
		v          []string
	}{
		{"plain", "<D><V>0123456789</V></D>", "", []string{"0123456789"}},
		{"declaration, comment, namespace", `<?xml version="1.0"?><!-- c --><D xmlns="urn:x"><V>a</V></D>`, "", []string{"a"}},
		{"quoted > in an attribute", `<D a=">>>>"><V b='>'>a</V></D>`, "", []string{"a"}},
		{"CDATA", "<D><V><![CDATA[<>]]>x</V></D>", "", []string{"<>x"}},
		{"CDATA with ]>", "<D><V><![CDATA[]>]]]></V></D>", "", []string{"]>]"}},
		{"comment with >", "<D><!-- > - > --><V>a</V></D>", "", []string{"a"}},
		{"self-closing elements do not nest", "<D><V/><V/><V/><V>a</V></D>", "", []string{"", "", "", "a"}},
		{"entities count as sent", "<D><V>&amp;&amp;</V></D>", "", []string{"&&"}},
		{"text too long", "<D><V>0123456789a</V></D>", "MalformedXML", nil},
		{"text too long across a comment", "<D><V>012345<!-- -->6789a</V></D>", "MalformedXML", nil},
		{"text too long in CDATA", "<D><V><![CDATA[0123456789]]></V></D>", "MalformedXML", nil},
		{"text between elements", "<D>01234567890<V>a</V></D>", "MalformedXML", nil},
		{"tag too long", `<D><V a="0123456789012345678901234567890123456789">a</V></D>`, "MalformedXML", nil},
		{"comment too long", "<D><!--0123456789012345678901234567890123456789--></D>", "MalformedXML", nil},
		{"processing instruction too long", "<?pi 0123456789012345678901234567890123456789?><D/>", "MalformedXML", nil},
		{"too deep", "<D><V><x><y></y></x></V></D>", "MalformedXML", nil},
		{"too many elements", "<D>" + strings.Repeat("<V/>", 8) + "</D>", "MalformedXML", nil},
		{"doctype", "<!DOCTYPE D><D/>", "MalformedXML", nil},
		{"-- in a comment", "<D><!-- a -- b --></D>", "MalformedXML", nil},
		{"too long", "<D>" + strings.Repeat("<!-- -->", 600) + "</D>", "MaxMessageLengthExceeded", nil},
		// What follows the document is read for its length only.
		{"junk after the document", "<D><V>a</V></D><!DOCTYPE x>" + strings.Repeat("y", 100), "", []string{"a"}},
		{"too long after the document", "<D/>" + strings.Repeat(" ", 5000), "MaxMessageLengthExceeded", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			body := &countingReader{r: strings.NewReader(tc.body)}
			_, err := readXML(body, lim, decodeRoot(&d))
			code := ""
			if err != nil {
				code = toAPIError(err).Code
			}
			if code != tc.code {
				t.Fatalf("code %q (%v), want %q", code, err, tc.code)
			}
			if tc.code == "" && strings.Join(d.V, "|") != strings.Join(tc.v, "|") {
				t.Errorf("decoded %q, want %q", d.V, tc.v)
			}
		})
	}
	// A failing body is reported as it failed, even mid-document.
	fail := errors.New("connection reset")
	_, err := readXML(io.MultiReader(strings.NewReader("<D><V>"), iotestErrReader{fail}), lim, decodeRoot(&struct{}{}))
	if !errors.Is(err, fail) {
		t.Errorf("failing body: %v", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// HTTP-level check that a client sending a refused body gets the answer:
// the server stops reading, answers and closes the connection.
func TestRefusedBodyAnswered(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	body := completeDoc(100000)
	req := h.newRequest(rawReq{method: "POST", path: "/akten/k", query: "uploadId=x", body: body})
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !bytes.Contains(b, []byte("<Code>NoSuchUpload</Code>")) {
		t.Errorf("%d %s", resp.StatusCode, clip(b))
	}
}

// An If-Match on a write names one of the store's ETags; a long value
// would travel into the replicated metadata for nothing.
func TestWriteConditionLength(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", []byte("eins"))
	long := `"` + strings.Repeat("a", 200) + `"`
	h.wantError(h.do(rawReq{method: "PUT", path: "/akten/k", header: map[string]string{"If-Match": long}, body: []byte("zwei")}), 400, "InvalidArgument")
	h.wantError(h.do(rawReq{method: "DELETE", path: "/akten/k", header: map[string]string{"If-Match": long}}), 400, "InvalidArgument")
}
