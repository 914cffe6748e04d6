package s3api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// Browser-based uploads: forms signed by the aws-sdk-go-v2 presign client,
// minio-go, boto3 and by hand, posted by a plain net/http client as a
// browser posts them.

// field is one form field, in the order a form sends it.
type field struct{ name, value string }

// form is a POST form: fields, then the file.
type form struct {
	fields    []field
	fileName  string
	file      io.Reader
	fileFirst bool // a broken form: the file before the fields
	noFile    bool
}

// fieldsOf orders a client's form values (a map) as a form would: any
// order, the file last.
func fieldsOf(m map[string]string) []field {
	var out []field
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, field{k, m[k]})
	}
	return out
}

// set replaces (or adds) a field.
func (f *form) set(name, value string) {
	for i := range f.fields {
		if strings.EqualFold(f.fields[i].name, name) {
			f.fields[i].value = value
			return
		}
	}
	f.fields = append(f.fields, field{name, value})
}

// post sends a form to target, streaming the body as a browser does.
func (h *harness) post(client *http.Client, target string, f form) rawResponse {
	h.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		writeFile := func() error {
			if f.noFile {
				return nil
			}
			w, err := mw.CreateFormFile("file", f.fileName)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, f.file)
			return err
		}
		var err error
		if f.fileFirst {
			err = writeFile()
		}
		for _, fld := range f.fields {
			if err == nil {
				err = mw.WriteField(fld.name, fld.value)
			}
		}
		if err == nil && !f.fileFirst {
			err = writeFile()
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest(http.MethodPost, target, pr)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	// Look at redirects instead of following them.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pr.Close()
	return rawResponse{resp, b}
}

// signedForm signs a policy document by hand, as a web application's
// backend would, and returns the form's authentication fields.
func signedForm(key testKey, region string, at time.Time, policy string) []field {
	date := at.UTC().Format("20060102")
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	k := mac(mac(mac(mac([]byte("AWS4"+key.secret), date), region), "s3"), "aws4_request")
	b64 := base64.StdEncoding.EncodeToString([]byte(policy))
	return []field{
		{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
		{"X-Amz-Credential", key.id + "/" + date + "/" + region + "/s3/aws4_request"},
		{"X-Amz-Date", at.UTC().Format("20060102T150405Z")},
		{"Policy", b64},
		{"X-Amz-Signature", hex.EncodeToString(mac(k, b64))},
	}
}

// policyJSON builds a policy document expiring at exp.
func policyJSON(exp time.Time, conditions ...any) string {
	b, err := json.Marshal(map[string]any{"expiration": exp.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conditions})
	if err != nil {
		panic(err)
	}
	return string(b)
}

type postResult struct {
	Location, Bucket, Key, ETag string
}

func TestPostObjectSDKPresign(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "post")
	ps := s3.NewPresignClient(h.sdk(keyA))
	p, err := ps.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("post"), Key: aws.String("antraege/${filename}")},
		func(o *s3.PresignPostOptions) {
			o.Expires = 10 * time.Minute
			o.Conditions = []any{
				[]any{"starts-with", "$key", "antraege/"},
				[]any{"content-length-range", 1, 1 << 20},
				map[string]string{"success_action_status": "201"},
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	data := testData(300<<10, 51)
	f := form{fields: fieldsOf(p.Values), fileName: "hund foto.jpg", file: bytes.NewReader(data)}
	f.set("success_action_status", "201")
	resp := h.post(h.srv.Client(), p.URL, f)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	var res postResult
	if err := xml.Unmarshal(resp.body, &res); err != nil {
		t.Fatal(err)
	}
	wantETag := `"` + md5Hex(data) + `"`
	if res.Bucket != "post" || res.Key != "antraege/hund foto.jpg" || res.ETag != wantETag ||
		res.Location != h.srv.URL+"/post/antraege/hund%20foto.jpg" || resp.Header.Get("ETag") != wantETag {
		t.Errorf("PostResponse %+v, ETag header %s", res, resp.Header.Get("ETag"))
	}
	if !bytes.Equal(h.getBytes(keyA, "post", "antraege/hund foto.jpg"), data) {
		t.Error("the posted file differs")
	}
}

func TestPostObjectMinio(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "post")
	mc := h.minio(keyA)
	newPolicy := func(t *testing.T, exp time.Time) (*url.URL, map[string]string) {
		pp := minio.NewPostPolicy()
		for _, err := range []error{
			pp.SetBucket("post"), pp.SetKeyStartsWith("uploads/"), pp.SetContentLengthRange(1, 64<<10),
			pp.SetContentType("image/png"), pp.SetUserMetadata("antragsteller", "Schmidt"), pp.SetExpires(exp),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		u, fd, err := mc.PresignedPostPolicy(ctx, pp)
		if err != nil {
			t.Fatal(err)
		}
		return u, fd
	}
	u, fd := newPolicy(t, time.Now().Add(10*time.Minute))
	send := func(fd map[string]string, key string, data []byte) rawResponse {
		f := form{fields: fieldsOf(fd), fileName: "bild.png", file: bytes.NewReader(data)}
		f.set("key", key)
		return h.post(h.srv.Client(), u.String(), f)
	}
	data := testData(64<<10, 52)
	resp := send(fd, "uploads/bild.png", data)
	if resp.StatusCode != 204 || len(resp.body) != 0 || resp.Header.Get("ETag") != `"`+md5Hex(data)+`"` {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	head, err := h.sdk(keyA).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("post"), Key: aws.String("uploads/bild.png")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "image/png" || head.Metadata["antragsteller"] != "Schmidt" || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Errorf("stored %s %v %d", aws.ToString(head.ContentType), head.Metadata, aws.ToInt64(head.ContentLength))
	}

	expiredURL, expired := newPolicy(t, time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name     string
		resp     rawResponse
		status   int
		code     string
		msg      string
		notStore string
	}{
		{"one byte too large", send(fd, "uploads/gross.png", testData(64<<10+1, 53)), 400, "EntityTooLarge", "", "uploads/gross.png"},
		{"far too large", send(fd, "uploads/riesig.png", testData(3<<20, 53)), 400, "EntityTooLarge", "", "uploads/riesig.png"},
		{"empty", send(fd, "uploads/leer.png", nil), 400, "EntityTooSmall", "", "uploads/leer.png"},
		{"wrong key prefix", send(fd, "andere/bild.png", data), 403, "AccessDenied",
			`Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]`, "andere/bild.png"},
		{"expired", func() rawResponse {
			f := form{fields: fieldsOf(expired), fileName: "x.png", file: bytes.NewReader(data)}
			f.set("key", "uploads/alt.png")
			return h.post(h.srv.Client(), expiredURL.String(), f)
		}(), 403, "AccessDenied", "Invalid according to Policy: Policy expired.", "uploads/alt.png"},
		{"content type changed", func() rawResponse {
			fd2 := maps.Clone(fd)
			fd2["Content-Type"] = "text/html"
			return send(fd2, "uploads/html.png", data)
		}(), 403, "AccessDenied", `Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]`, "uploads/html.png"},
		{"field the policy does not cover", func() rawResponse {
			fd2 := maps.Clone(fd)
			fd2["x-amz-meta-extra"] = "1"
			return send(fd2, "uploads/extra.png", data)
		}(), 403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-extra", "uploads/extra.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := h.wantError(tc.resp, tc.status, tc.code)
			if tc.msg != "" && doc.Message != tc.msg {
				t.Errorf("message %q, want %q", doc.Message, tc.msg)
			}
			if r := h.do(rawReq{method: "HEAD", path: "/post/" + tc.notStore}); r.StatusCode != 404 {
				t.Errorf("a refused upload was stored: %d", r.StatusCode)
			}
		})
	}
}

func TestPostObjectForms(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "post")
	h.mustCreateBucket(keyA, "andere")
	h.mustCreateBucket(keyB, "fremd")
	now := time.Now()
	auth := []any{
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": keyA.id + "/" + now.UTC().Format("20060102") + "/" + h.region + "/s3/aws4_request"},
		map[string]string{"x-amz-date": now.UTC().Format("20060102T150405Z")},
	}
	base := func(extra ...any) string {
		return policyJSON(now.Add(time.Hour), append(append([]any{map[string]string{"bucket": "post"}, []any{"starts-with", "$key", "f/"}}, auth...), extra...)...)
	}
	mkForm := func(policy string, data []byte, fields ...field) form {
		f := form{fields: append([]field{{"key", "f/${filename}"}}, signedForm(keyA, h.region, now, policy)...), fileName: "datei.txt", file: bytes.NewReader(data)}
		for _, fl := range fields {
			f.set(fl.name, fl.value)
		}
		return f
	}
	data := []byte("Antrag auf Genehmigung eines Osterfeuers")
	sum := sha256.Sum256(data)
	sha := base64.StdEncoding.EncodeToString(sum[:])
	m5 := md5.Sum(data)
	target := h.srv.URL + "/post"

	t.Run("redirect", func(t *testing.T) {
		redirect := "https://portal.greiz.de/danke?x=1"
		resp := h.post(h.srv.Client(), target, mkForm(base(map[string]string{"success_action_redirect": redirect}), data,
			field{"success_action_redirect", redirect}))
		if resp.StatusCode != 303 {
			t.Fatalf("%d %s", resp.StatusCode, resp.body)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		if loc.Host != "portal.greiz.de" || loc.Path != "/danke" || q.Get("x") != "1" || q.Get("bucket") != "post" ||
			q.Get("key") != "f/datei.txt" || q.Get("etag") != `"`+md5Hex(data)+`"` {
			t.Errorf("Location %s", loc)
		}
	})
	t.Run("status 200", func(t *testing.T) {
		resp := h.post(h.srv.Client(), target, mkForm(base(map[string]string{"success_action_status": "200"}), data, field{"success_action_status", "200"}))
		if resp.StatusCode != 200 || len(resp.body) != 0 {
			t.Fatalf("%d %s", resp.StatusCode, resp.body)
		}
	})
	t.Run("headers, metadata, tags, checksum and x-ignore-", func(t *testing.T) {
		tagging := "<Tagging><TagSet><Tag><Key>art</Key><Value>osterfeuer</Value></Tag></TagSet></Tagging>"
		pol := base(
			[]any{"starts-with", "$Content-Type", "text/"},
			map[string]string{"Cache-Control": "no-cache"},
			map[string]string{"Content-Disposition": "attachment"},
			[]any{"starts-with", "$x-amz-meta-gemeinde", ""},
			map[string]string{"tagging": tagging},
			map[string]string{"x-amz-checksum-algorithm": "SHA256"},
			map[string]string{"x-amz-checksum-sha256": sha},
			map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(m5[:])},
		)
		resp := h.post(h.srv.Client(), target, mkForm(pol, data,
			field{"Content-Type", "text/plain; charset=utf-8"}, field{"Cache-Control", "no-cache"}, field{"Content-Disposition", "attachment"},
			field{"x-amz-meta-gemeinde", "Weida"}, field{"tagging", tagging}, field{"x-amz-checksum-algorithm", "SHA256"},
			field{"x-amz-checksum-sha256", sha}, field{"Content-MD5", base64.StdEncoding.EncodeToString(m5[:])},
			field{"x-ignore-submit", "Absenden"}))
		if resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, resp.body)
		}
		head, err := h.sdk(keyA).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("post"), Key: aws.String("f/datei.txt"),
			ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(head.ContentType) != "text/plain; charset=utf-8" || aws.ToString(head.CacheControl) != "no-cache" ||
			aws.ToString(head.ContentDisposition) != "attachment" || head.Metadata["gemeinde"] != "Weida" || aws.ToInt32(head.TagCount) != 1 ||
			aws.ToString(head.ChecksumSHA256) != sha {
			t.Errorf("stored %s %s %s %v tags %d sha %s", aws.ToString(head.ContentType), aws.ToString(head.CacheControl),
				aws.ToString(head.ContentDisposition), head.Metadata, aws.ToInt32(head.TagCount), aws.ToString(head.ChecksumSHA256))
		}
	})
	t.Run("streams a large file", func(t *testing.T) {
		big := testData(12<<20, 54)
		resp := h.post(h.srv.Client(), target, mkForm(base(), big))
		if resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, resp.body)
		}
		if !bytes.Equal(h.getBytes(keyA, "post", "f/datei.txt"), big) {
			t.Error("the large file differs")
		}
	})

	tampered := mkForm(base(), data)
	for i, f := range tampered.fields {
		if f.name == "Policy" {
			tampered.fields[i].value = base64.StdEncoding.EncodeToString([]byte(base([]any{"content-length-range", 0, 1 << 40})))
		}
	}
	fileFirst := mkForm(base(), data)
	fileFirst.fileFirst = true
	noFile := mkForm(base(), data)
	noFile.noFile = true
	withoutSig := mkForm(base(), data)
	withoutSig.fields = slices.DeleteFunc(withoutSig.fields, func(f field) bool { return f.name == "X-Amz-Signature" })
	anonymous := form{fields: []field{{"key", "f/anonym"}}, fileName: "a", file: bytes.NewReader(data)}
	unknownKey := form{fields: append([]field{{"key", "f/x"}}, signedForm(keyUnknown, h.region, now, base())...), fileName: "a", file: bytes.NewReader(data)}
	otherRegion := form{fields: append([]field{{"key", "f/x"}}, signedForm(keyA, "us-west-2", now, base())...), fileName: "a", file: bytes.NewReader(data)}
	bigFields := mkForm(base(), data, field{"x-ignore-filler", strings.Repeat("x", 21<<10)})

	for _, tc := range []struct {
		name   string
		target string
		f      form
		status int
		code   string
		msg    string
	}{
		{"tampered policy", target, tampered, 403, "SignatureDoesNotMatch", ""},
		{"file before the fields", target, fileFirst, 400, "InvalidArgument",
			"Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."},
		{"no file", target, noFile, 400, "InvalidArgument", "POST requires exactly one file upload per request."},
		{"no signature", target, withoutSig, 400, "InvalidArgument", ""},
		{"anonymous", target, anonymous, 403, "AccessDenied", ""},
		{"unknown access key", target, unknownKey, 403, "InvalidAccessKeyId", ""},
		{"credential of another region", target, otherRegion, 400, "AuthorizationHeaderMalformed", ""},
		{"another bucket", h.srv.URL + "/andere", mkForm(base(), data), 403, "AccessDenied",
			`Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "post"]`},
		{"another tenant's bucket", h.srv.URL + "/fremd", mkForm(policyJSON(now.Add(time.Hour), append([]any{map[string]string{"bucket": "fremd"},
			[]any{"starts-with", "$key", ""}}, auth...)...), data), 403, "AccessDenied", ""},
		{"wrong checksum", target, mkForm(base(map[string]string{"x-amz-checksum-sha256": sha}), []byte("anderer Inhalt"),
			field{"x-amz-checksum-sha256", sha}), 400, "BadDigest", ""},
		{"wrong Content-MD5", target, mkForm(base(map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(m5[:])}), []byte("anderer Inhalt"),
			field{"Content-MD5", base64.StdEncoding.EncodeToString(m5[:])}), 400, "BadDigest", ""},
		{"public-read", target, mkForm(base(map[string]string{"acl": "public-read"}), data, field{"acl", "public-read"}), 501, "NotImplemented", ""},
		{"policy not JSON", target, mkForm("{kaputt", data), 400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON."},
		{"policy without expiration", target, mkForm(`{"conditions":[]}`, data), 400, "InvalidPolicyDocument", "Invalid Policy: Policy missing expiration."},
		// Valid for longer than a presigned URL may be.
		{"policy for eight days", target, mkForm(policyJSON(now.Add(8*24*time.Hour), append([]any{map[string]string{"bucket": "post"},
			[]any{"starts-with", "$key", "f/"}}, auth...)...), data), 403, "AccessDenied", ""},
		{"unknown condition", target, mkForm(base([]any{"ends-with", "$key", "x"}), data), 400, "InvalidPolicyDocument", ""},
		{"fields too large", target, bigFields, 400, "MaxPostPreDataLengthExceededError", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := h.wantError(h.post(h.srv.Client(), tc.target, tc.f), tc.status, tc.code)
			if tc.msg != "" && doc.Message != tc.msg {
				t.Errorf("message %q, want %q", doc.Message, tc.msg)
			}
		})
	}
	out, err := h.sdk(keyA).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("post")})
	if err != nil || len(out.Contents) != 1 {
		t.Errorf("after the refused forms: %d objects, %v", len(out.Contents), err)
	}

	// Not a form at all.
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader("key=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.wantError(rawResponse{resp, body}, 412, "PreconditionFailed")
	// A body cut off in the middle of the file stores nothing.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, fl := range mkForm(base(), data, field{"key", "f/abgebrochen"}).fields {
			mw.WriteField(fl.name, fl.value)
		}
		w, _ := mw.CreateFormFile("file", "x")
		w.Write(testData(1<<20, 55))
		pw.CloseWithError(fmt.Errorf("the browser closed"))
	}()
	req, _ = http.NewRequest(http.MethodPost, target, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if resp, err := h.srv.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	waitFor(t, func() bool {
		return strings.Contains(h.logs.String(), `"op":"PostObject","status":400`) || strings.Contains(h.logs.String(), `"client_gone":true`)
	})
	if r := h.do(rawReq{method: "HEAD", path: "/post/f/abgebrochen"}); r.StatusCode != 404 {
		t.Errorf("a cut-off upload was stored: %d", r.StatusCode)
	}
}

// TestPostObjectBoto3: a form from boto3's generate_presigned_post, as
// Python web applications make them, lands.
func TestPostObjectBoto3(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed")
	}
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "post")
	const script = `
import json, sys
import boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name=sys.argv[2],
                 aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4],
                 config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
p = c.generate_presigned_post(
    Bucket="post", Key="boto/${filename}",
    Fields={"success_action_status": "201", "Content-Type": "text/plain"},
    Conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "text/"],
                ["content-length-range", 1, 1048576]],
    ExpiresIn=600)
print(json.dumps(p))
`
	out, err := exec.Command("python3", "-c", script, h.srv.URL, h.region, keyA.id, keyA.secret).Output()
	if err != nil {
		t.Fatalf("boto3: %v", err)
	}
	var p struct {
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("boto3 printed %q: %v", out, err)
	}
	data := []byte("Gewerbeanmeldung, eingereicht über das Bürgerportal\n")
	resp := h.post(h.srv.Client(), p.URL, form{fields: fieldsOf(p.Fields), fileName: "gewerbe.txt", file: bytes.NewReader(data)})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	if !bytes.Equal(h.getBytes(keyA, "post", "boto/gewerbe.txt"), data) {
		t.Error("the posted file differs")
	}
}

// TestPostObjectVirtualHosted: a form posted to https://<bucket>.<domain>/.
func TestPostObjectVirtualHosted(t *testing.T) {
	h := newHarness(t, harnessOpts{domain: testDomain})
	h.mustCreateBucket(keyA, "post")
	now := time.Now()
	pol := policyJSON(now.Add(time.Hour), map[string]string{"bucket": "post"}, map[string]string{"key": "vh"},
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": keyA.id + "/" + now.UTC().Format("20060102") + "/" + h.region + "/s3/aws4_request"},
		map[string]string{"x-amz-date": now.UTC().Format("20060102T150405Z")},
		map[string]string{"success_action_status": "201"})
	f := form{fields: append([]field{{"key", "vh"}, {"success_action_status", "201"}}, signedForm(keyA, h.region, now, pol)...),
		fileName: "x", file: strings.NewReader("inhalt")}
	endpoint := strings.Replace(h.vhostEndpoint(), "://", "://post.", 1)
	resp := h.post(h.vhostClient(), endpoint+"/", f)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	var res postResult
	if err := xml.Unmarshal(resp.body, &res); err != nil || res.Location != endpoint+"/vh" {
		t.Errorf("Location %q (%v)", res.Location, err)
	}
	if got := h.getBytes(keyA, "post", "vh"); string(got) != "inhalt" {
		t.Errorf("stored %q", got)
	}
}
