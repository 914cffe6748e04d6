package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  *objapi.RangeSpec
		unsat bool
	}{
		{"", nil, false},
		{"bytes=0-0", &objapi.RangeSpec{First: 0, Last: 0}, false},
		{"bytes=10-20", &objapi.RangeSpec{First: 10, Last: 20}, false},
		{"bytes=10-", &objapi.RangeSpec{First: 10, Last: -1}, false},
		{"bytes=-7", &objapi.RangeSpec{Suffix: 7}, false},
		{"Bytes = 1 - 2", &objapi.RangeSpec{First: 1, Last: 2}, false},
		{"bytes=-0", nil, true},
		{"bytes=99999999999999999999-", &objapi.RangeSpec{First: math.MaxInt64, Last: -1}, false},
		{"bytes=0-99999999999999999999", &objapi.RangeSpec{First: 0, Last: math.MaxInt64}, false},
		{"bytes=-99999999999999999999", &objapi.RangeSpec{Suffix: math.MaxInt64}, false},
		{"bytes=20-10", nil, false},
		{"bytes=0-1,2-3", nil, false},
		{"bytes=0-1, 2-3", nil, false},
		{"bytes=a-", nil, false},
		{"bytes=1-b", nil, false},
		{"bytes=+1-2", nil, false},
		{"bytes=-", nil, false},
		{"bytes=5", nil, false},
		{"bytes", nil, false},
		{"octets=1-2", nil, false},
		{"bytes=0x10-20", nil, false},
	} {
		got, unsat := parseRange(tc.in)
		if unsat != tc.unsat || (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("parseRange(%q) = %+v, %v; want %+v, %v", tc.in, got, unsat, tc.want, tc.unsat)
		}
	}
}

func TestUserMeta(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Meta-Aktenzeichen", "BA-1")
	h.Add("x-amz-meta-liste", "a")
	h.Add("x-amz-meta-liste", "b")
	h.Set("X-Amz-Date", "nicht meta")
	h.Set("Content-Type", "text/plain")
	m, err := userMeta(h)
	if err != nil || len(m) != 2 || m["aktenzeichen"] != "BA-1" || m["liste"] != "a,b" {
		t.Errorf("userMeta = %v, %v", m, err)
	}
	if m, err := userMeta(http.Header{"Content-Type": {"x"}}); m != nil || err != nil {
		t.Errorf("no metadata: %v, %v", m, err)
	}
	exact := http.Header{}
	exact.Set("X-Amz-Meta-K", strings.Repeat("v", maxUserMetaBytes-1))
	if _, err := userMeta(exact); err != nil {
		t.Errorf("2048 bytes exactly: %v", err)
	}
	exact.Set("X-Amz-Meta-K", strings.Repeat("v", maxUserMetaBytes))
	if _, err := userMeta(exact); toAPIError(err).Code != "MetadataTooLarge" {
		t.Errorf("2049 bytes: %v", err)
	}
	empty := http.Header{"X-Amz-Meta-": {"v"}}
	if _, err := userMeta(empty); toAPIError(err).Code != "InvalidArgument" {
		t.Errorf("empty name: %v", err)
	}
}

// Metadata values are stored as text and returned as S3 returns them
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html):
// RFC 2047 encoded-words decoded on the way in, values beyond US-ASCII
// encoded on the way out, names in lower case exactly as stored.
func TestUserMetaAsS3(t *testing.T) {
	for raw, want := range map[string]string{
		"az-17":                     "az-17",
		"Müller":                    "Müller",              // UTF-8 as sent
		"M\xfcller":                 "Müller",              // ISO-8859-1: HTTP's charset
		"=?UTF-8?B?TcO8bGxlcg==?=":  "Müller",              // RFC 2047, B
		"=?utf-8?q?M=C3=BCller?=":   "Müller",              // RFC 2047, Q
		"=?ISO-8859-1?Q?M=FCller?=": "Müller",              // another charset Go knows
		"=?x-unknown?Q?abc?=":       "=?x-unknown?Q?abc?=", // kept as sent
		"a =?UTF-8?B?w6Q=?= b":      "a ä b",
	} {
		if got := metaValue(raw); got != want {
			t.Errorf("metaValue(%q) = %q, want %q", raw, got, want)
		}
	}
	h := http.Header{}
	setUserMeta(h, map[string]string{"aktenzeichen": "az-17", "antragsteller": "Müller", "steuer": "a\x01b", "leer": ""})
	want := http.Header{
		"x-amz-meta-aktenzeichen":  {"az-17"},
		"x-amz-meta-antragsteller": {"=?UTF-8?B?TcO8bGxlcg==?="},
		"x-amz-meta-leer":          {""},
		"X-Amz-Missing-Meta":       {"1"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers %v, want %v", h, want)
	}
	// The 2 KB count the stored UTF-8 bytes.
	long := http.Header{"X-Amz-Meta-K": {"=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("v", maxUserMetaBytes-1))) + "?="}}
	if m, err := userMeta(long); err != nil || m["k"] != strings.Repeat("v", maxUserMetaBytes-1) {
		t.Errorf("an encoded value of 2047 bytes: %v", err)
	}
}

func TestCheckPreconditions(t *testing.T) {
	mod := time.Date(2024, 5, 1, 12, 0, 0, 500e6, time.UTC)
	info := objapi.ObjectInfo{ETag: "abc", Modified: mod}
	date := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   string
	}{
		{"none", nil, ""},
		{"if-match", map[string]string{"If-Match": `"abc"`}, ""},
		{"if-match list", map[string]string{"If-Match": `"x", "abc"`}, ""},
		{"if-match star", map[string]string{"If-Match": `*`}, ""},
		{"if-match other", map[string]string{"If-Match": `"x"`}, "PreconditionFailed"},
		{"if-none-match", map[string]string{"If-None-Match": `"abc"`}, "NotModified"},
		{"if-none-match weak", map[string]string{"If-None-Match": `W/"abc"`}, "NotModified"},
		{"if-none-match other", map[string]string{"If-None-Match": `"x"`}, ""},
		{"modified since before", map[string]string{"If-Modified-Since": date(mod.Add(-time.Hour))}, ""},
		{"modified since same second", map[string]string{"If-Modified-Since": date(mod)}, "NotModified"},
		{"unmodified since same second", map[string]string{"If-Unmodified-Since": date(mod)}, ""},
		{"unmodified since before", map[string]string{"If-Unmodified-Since": date(mod.Add(-time.Hour))}, "PreconditionFailed"},
		{"bad date ignored", map[string]string{"If-Unmodified-Since": "gestern"}, ""},
		{"if-match beats unmodified-since", map[string]string{"If-Match": `"abc"`, "If-Unmodified-Since": date(mod.Add(-time.Hour))}, ""},
		{"if-none-match beats modified-since", map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": date(mod.Add(time.Hour))}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			code := ""
			if err := checkPreconditions(h, info); err != nil {
				code = toAPIError(err).Code
			}
			if code != tc.code {
				t.Errorf("got %q, want %q", code, tc.code)
			}
		})
	}
}

func TestS3URLEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a/b c+d":     "a/b+c%2Bd",
		"ä":           "%C3%A4",
		"x*y~z":       "x*y%7Ez",
		"\x01\n":      "%01%0A",
		"A-Z_a.z/0-9": "A-Z_a.z/0-9",
	} {
		got := s3URLEncode(in)
		if got != want {
			t.Errorf("s3URLEncode(%q) = %q, want %q", in, got, want)
		}
		if back, err := url.QueryUnescape(got); err != nil || back != in {
			t.Errorf("QueryUnescape(%q) = %q, %v", got, back, err)
		}
	}
}

func TestContinuationToken(t *testing.T) {
	for _, name := range []string{"a", "dir/", "äöü/日本", strings.Repeat("k", 1024), "\x00\xff"} {
		got, err := decodeToken(encodeToken(name))
		if err != nil || got != name {
			t.Errorf("token round trip of %q: %q, %v", name, got, err)
		}
		if tok := encodeToken(name); url.QueryEscape(tok) != tok {
			t.Errorf("token %q needs escaping in a URL", tok)
		}
	}
	for _, bad := range []string{"", "!!!", "AA", encodeToken("x")[1:]} {
		if _, err := decodeToken(bad); toAPIError(err).Code != "InvalidArgument" {
			t.Errorf("decodeToken(%q): %v", bad, err)
		}
	}
}

func TestCheckLocation(t *testing.T) {
	s := New(Config{Region: "eu-central-1"}, nil, nil)
	us := New(Config{}, nil, nil)
	for _, tc := range []struct {
		s    *Server
		lc   string
		code string
	}{
		{s, "", ""},
		{s, "eu-central-1", ""},
		{s, " eu-central-1 ", ""},
		{s, "us-east-1", "IllegalLocationConstraintException"},
		{s, "EU", "IllegalLocationConstraintException"},
		{s, "Mond!", "InvalidLocationConstraint"},
		{us, "", ""},
		{us, "us-east-1", ""},
		{us, "eu-west-1", "IllegalLocationConstraintException"},
	} {
		code := ""
		if err := tc.s.checkLocation(tc.lc); err != nil {
			code = toAPIError(err).Code
		}
		if code != tc.code {
			t.Errorf("region %s, constraint %q: %q, want %q", tc.s.region, tc.lc, code, tc.code)
		}
	}
}

func TestDecodeXMLBody(t *testing.T) {
	type doc struct {
		XMLName xml.Name `xml:"Doc"`
		V       string
	}
	for _, tc := range []struct {
		name  string
		body  io.Reader
		empty bool
		code  string
	}{
		{"document", strings.NewReader("<Doc><V>x</V></Doc>"), false, ""},
		{"with namespace", strings.NewReader(`<Doc xmlns="` + s3NS + `"><V>x</V></Doc>`), false, ""},
		{"empty", strings.NewReader(""), true, ""},
		{"whitespace", strings.NewReader(" \n\t"), true, ""},
		{"text", strings.NewReader("hallo"), false, "MalformedXML"},
		{"truncated", strings.NewReader("<Doc><V>"), false, "MalformedXML"},
		{"other root", strings.NewReader("<Other/>"), false, "MalformedXML"},
		{"too long", strings.NewReader("<Doc><V>" + strings.Repeat("x", 2000) + "</V></Doc>"), false, "MaxMessageLengthExceeded"},
		{"trailing garbage too long", io.MultiReader(strings.NewReader("<Doc/>"), bytes.NewReader(make([]byte, 2000))), false, "MaxMessageLengthExceeded"},
		{"entity bomb stays small", strings.NewReader(`<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]><Doc><V>&a;&a;</V></Doc>`), false, "MalformedXML"},
		{"body fails", iotest.ErrReader(errors.New("connection reset")), false, "InternalError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			empty, err := decodeXMLBody(tc.body, 1024, &d)
			code := ""
			if err != nil {
				code = toAPIError(err).Code
			}
			if empty != tc.empty || code != tc.code {
				t.Errorf("empty %v, code %q (%v); want %v, %q", empty, code, err, tc.empty, tc.code)
			}
		})
	}
}

// TestBodyReader checks the limits the body reader enforces.
func TestBodyReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     io.Reader
		declared int64
		limit    int64
		n        int64  // bytes delivered
		code     string // of the error instead of io.EOF
	}{
		{"exact", strings.NewReader("12345"), 5, 10, 5, ""},
		{"unknown length", strings.NewReader("12345"), -1, 10, 5, ""},
		{"short", strings.NewReader("123"), 5, 10, 3, "IncompleteBody"},
		{"long", strings.NewReader("1234567"), 5, 10, 5, "InvalidRequest"},
		{"over the limit", strings.NewReader("12345678901"), -1, 10, 10, "EntityTooLarge"},
		{"at the limit", strings.NewReader("1234567890"), -1, 10, 10, ""},
		{"unexpected EOF", iotest.DataErrReader(iotest.ErrReader(io.ErrUnexpectedEOF)), 5, 10, 0, "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &bodyReader{r: tc.body, declared: tc.declared, max: tc.limit}
			if tc.declared >= 0 {
				b.max = tc.declared
			}
			n, err := io.Copy(io.Discard, iotest.OneByteReader(b))
			code := ""
			if err != nil {
				code = toAPIError(err).Code
			}
			if n != tc.n || code != tc.code {
				t.Errorf("read %d bytes, code %q (%v); want %d, %q", n, code, err, tc.n, tc.code)
			}
			// Errors stick.
			if tc.code != "" {
				if _, err2 := b.Read(make([]byte, 1)); !errors.Is(err2, b.err) {
					t.Errorf("second read: %v", err2)
				}
			}
		})
	}
}

// The headers a write stores count together against S3's 8 KB; user
// metadata alone against its 2 KB. "The PUT request header is limited to
// 8 KB in size. Within the PUT request header, the user-defined metadata is
// limited to 2 KB in size."
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html);
// beyond it S3 answers MetadataTooLarge, "Your metadata headers exceed the
// maximum allowed metadata size"
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
func TestStoredHeaderLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "quelle", []byte("x"))
	c := h.sdk(keyA)
	big := strings.Repeat("x", 60<<10)
	third := strings.Repeat("y", 3<<10)
	for _, tc := range []struct {
		name string
		in   s3.PutObjectInput
	}{
		{"Content-Type", s3.PutObjectInput{ContentType: aws.String("text/plain; x=" + big)}},
		{"Content-Disposition", s3.PutObjectInput{ContentDisposition: aws.String("attachment; filename=" + big)}},
		{"Content-Encoding", s3.PutObjectInput{ContentEncoding: aws.String(big)}},
		{"Content-Language", s3.PutObjectInput{ContentLanguage: aws.String(big)}},
		{"Cache-Control", s3.PutObjectInput{CacheControl: aws.String(big)}},
		{"three of 3 KiB", s3.PutObjectInput{ContentType: aws.String(third), ContentDisposition: aws.String(third), CacheControl: aws.String(third)}},
		{"2 KiB of user metadata and 6 KiB of headers", s3.PutObjectInput{Metadata: map[string]string{"a": strings.Repeat("m", 2040)},
			ContentType: aws.String(third), ContentDisposition: aws.String(third)}},
		{"user metadata over 2 KiB", s3.PutObjectInput{Metadata: map[string]string{"a": strings.Repeat("m", 2048)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Bucket, in.Key, in.Body = aws.String("akten"), aws.String("neu"), strings.NewReader("x")
			_, err := c.PutObject(ctx, &in)
			wantAPIError(t, err, 400, "MetadataTooLarge")
			_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("neu"),
				ContentType: in.ContentType, ContentDisposition: in.ContentDisposition, ContentEncoding: in.ContentEncoding,
				ContentLanguage: in.ContentLanguage, CacheControl: in.CacheControl, Metadata: in.Metadata})
			wantAPIError(t, err, 400, "MetadataTooLarge")
			_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("akten"), Key: aws.String("neu"), CopySource: aws.String("akten/quelle"),
				MetadataDirective: types.MetadataDirectiveReplace, ContentType: in.ContentType, ContentDisposition: in.ContentDisposition,
				ContentEncoding: in.ContentEncoding, ContentLanguage: in.ContentLanguage, CacheControl: in.CacheControl, Metadata: in.Metadata})
			wantAPIError(t, err, 400, "MetadataTooLarge")
		})
	}
	if resp := h.do(rawReq{method: "HEAD", path: "/akten/neu"}); resp.StatusCode != 404 {
		t.Errorf("a write with too large headers stored something: %d", resp.StatusCode)
	}
	// Expires too, sent as the client wrote it.
	resp := h.do(rawReq{method: "PUT", path: "/akten/neu", body: []byte("x"), header: map[string]string{"Expires": big}})
	h.wantError(resp, 400, "MetadataTooLarge")

	// The limit is 8 KiB of names and values: at it a write is stored,
	// one byte beyond it refused.
	for _, tc := range []struct {
		extra  int
		status int
	}{{0, 200}, {1, 400}} {
		hdr := map[string]string{"X-Amz-Meta-A": strings.Repeat("m", 1000)}
		used := len("X-Amz-Meta-A") + 1000 + len("Content-Type") + len("Cache-Control")
		ct := strings.Repeat("t", 4000)
		hdr["Content-Type"] = ct
		hdr["Cache-Control"] = strings.Repeat("c", maxStoredHeaderBytes-used-len(ct)+tc.extra)
		resp := h.do(rawReq{method: "PUT", path: "/akten/grenze", body: []byte("x"), header: hdr})
		if resp.StatusCode != tc.status {
			t.Errorf("%d bytes of stored headers: %d %s", maxStoredHeaderBytes+tc.extra, resp.StatusCode, clip(resp.body))
		}
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("grenze")})
	if err != nil || len(aws.ToString(head.ContentType)) != 4000 {
		t.Errorf("HEAD: %v", err)
	}
	// With COPY, the source's headers are kept, whatever their size was
	// allowed to be.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("akten"), Key: aws.String("kopie"), CopySource: aws.String("akten/grenze")}); err != nil {
		t.Errorf("CopyObject: %v", err)
	}
}
