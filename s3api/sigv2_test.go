package s3api

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// Signature Version 2 from the clients that still send it: boto3 (presigned
// URLs and POST forms by default in us-east-1, everything with
// signature_version "s3"), s3cmd (signature_v2 = True) and minio-go
// (credentials.SignatureV2), against a Server in us-east-1, kcs's default
// region.

// v2Harness is a Server in us-east-1 with a bucket for keyA.
func v2Harness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	o.region = DefaultRegion
	h := newHarness(t, o)
	h.mustCreateBucket(keyA, "buergerportal")
	return h
}

// needBoto3 skips t without python3 and boto3.
func needBoto3(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed")
	}
}

// python runs a script with args and returns what it printed.
func python(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("python3", append([]string{"-c", script}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s%s", err, out, stderr.Bytes())
	}
	return out
}

// send makes a request with a plain net/http client, as a browser or curl
// uses a presigned URL.
func (h *harness) send(client *http.Client, method, u string, body []byte, hdr http.Header) rawResponse {
	h.t.Helper()
	r, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, vs := range hdr {
		r.Header[k] = vs
	}
	resp, err := client.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp, b}
}

// v2ErrorDoc is the part of S3's error document that explains a Version 2
// SignatureDoesNotMatch.
type v2ErrorDoc struct {
	AWSAccessKeyID    string `xml:"AWSAccessKeyId"`
	StringToSign      string
	SignatureProvided string
	StringToSignBytes string
}

// TestSigV2Boto3Presigned: URLs from boto3's generate_presigned_url with
// its defaults (Signature Version 2 in us-east-1), used from net/http as a
// citizen portal's browser uses them.
func TestSigV2Boto3Presigned(t *testing.T) {
	t.Parallel()
	needBoto3(t)
	h := v2Harness(t, harnessOpts{})
	h.mustPut(keyA, "buergerportal", "vorlage.txt", []byte("Vorlage"))
	const script = `
import json, sys
import boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=Config(s3={"addressing_style": "path"}))
b, k = "buergerportal", "anträge/Müller, Anna (2+1).pdf"
u = lambda op, exp=600, **p: c.generate_presigned_url(op, Params=dict(Bucket=b, **p), ExpiresIn=exp)
print(json.dumps({
  "put": u("put_object", Key=k, ContentType="application/pdf"),
  "put_meta": u("put_object", Key="meta.txt", Metadata={"aktenzeichen": "AZ-17"}),
  "get": u("get_object", Key=k, ResponseContentDisposition='attachment; filename="antrag.pdf"'),
  "head": u("head_object", Key=k),
  "expired": u("get_object", -60, Key=k),
  "expired_put": u("put_object", -60, Key=k),
  "list": u("list_objects_v2", Prefix="anträge/"),
  "copy": u("copy_object", Key="kopie.pdf", CopySource=b + "/" + k),
  "delete": u("delete_object", Key=k),
  "week": u("get_object", 7*24*3600, Key=k),
  "month": u("get_object", 30*24*3600, Key=k),
}))
`
	var urls map[string]string
	if err := json.Unmarshal(python(t, script, h.srv.URL, keyA.id, keyA.secret), &urls); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(urls["get"], "AWSAccessKeyId=") || strings.Contains(urls["get"], "X-Amz-") {
		t.Fatalf("boto3 did not presign with Signature Version 2: %s", urls["get"])
	}
	c := h.srv.Client()
	data := []byte("%PDF-1.4 Antrag auf Wohngeld\n")
	const key = "anträge/Müller, Anna (2+1).pdf"

	// The browser sends the Content-Type the URL was signed for.
	if resp := h.send(c, "PUT", urls["put"], data, http.Header{"Content-Type": {"application/pdf"}}); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, resp.body)
	}
	if got := h.getBytes(keyA, "buergerportal", key); !bytes.Equal(got, data) {
		t.Fatalf("stored %q", got)
	}
	resp := h.send(c, "GET", urls["get"], nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(resp.body, data) || resp.Header.Get("Content-Disposition") != `attachment; filename="antrag.pdf"` ||
		resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("presigned GET: %d %q %v", resp.StatusCode, resp.body, resp.Header)
	}
	if resp := h.send(c, "HEAD", urls["head"], nil, nil); resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
		t.Errorf("presigned HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	if resp := h.send(c, "GET", urls["week"], nil, nil); resp.StatusCode != 200 {
		t.Errorf("a URL valid for seven days: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.send(c, "GET", urls["list"], nil, nil); resp.StatusCode != 200 || !bytes.Contains(resp.body, []byte("<KeyCount>1</KeyCount>")) {
		t.Errorf("presigned listing: %d %s", resp.StatusCode, clip(resp.body))
	}

	// A URL signed with a Content-Type works without the header (curl -T
	// sends none): the query's counts, and is what the object gets.
	if resp := h.send(c, "PUT", urls["put"], data[:4], nil); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT without Content-Type: %d %s", resp.StatusCode, resp.body)
	}
	head, err := h.sdk(keyA).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("buergerportal"), Key: aws.String(key)})
	if err != nil || aws.ToString(head.ContentType) != "application/pdf" {
		t.Errorf("Content-Type from the URL: %v %v", aws.ToString(head.ContentType), err)
	}
	// ... but not with another one.
	resp = h.send(c, "PUT", urls["put"], data, http.Header{"Content-Type": {"text/html"}})
	h.wantError(resp, 403, "SignatureDoesNotMatch")
	// Metadata travels in the query too, and is stored.
	if resp := h.send(c, "PUT", urls["put_meta"], []byte("x"), nil); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT with metadata: %d %s", resp.StatusCode, resp.body)
	}
	head, err = h.sdk(keyA).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("buergerportal"), Key: aws.String("meta.txt")})
	if err != nil || head.Metadata["aktenzeichen"] != "AZ-17" {
		t.Errorf("metadata from the URL: %v %v", head.Metadata, err)
	}
	// x-amz-copy-source in the query makes the PUT a copy.
	if resp := h.send(c, "PUT", urls["copy"], nil, nil); resp.StatusCode != 200 || !bytes.Contains(resp.body, []byte("CopyObjectResult")) {
		t.Fatalf("presigned copy: %d %s", resp.StatusCode, resp.body)
	}
	if got := h.getBytes(keyA, "buergerportal", "kopie.pdf"); !bytes.Equal(got, data[:4]) {
		t.Errorf("copy holds %q", got)
	}

	// Expired.
	for _, name := range []string{"expired", "expired_put"} {
		method := map[string]string{"expired": "GET", "expired_put": "PUT"}[name]
		doc := h.wantError(h.send(c, method, urls[name], data, nil), 403, "AccessDenied")
		if doc.Message != "Request has expired" {
			t.Errorf("%s: message %q", name, doc.Message)
		}
	}
	// Longer than seven days.
	h.wantError(h.send(c, "GET", urls["month"], nil, nil), 400, "AuthorizationQueryParametersError")

	// Tampered: another key, another method, a changed signature, another
	// subresource. The error document shows the string kcs signed.
	u, _ := url.Parse(urls["get"])
	tampered := map[string]string{
		"other key":       strings.Replace(urls["get"], "M%C3%BCller", "Meier", 1),
		"signature":       strings.Replace(urls["get"], "Signature=", "Signature=A", 1),
		"disposition":     strings.Replace(urls["get"], "antrag.pdf", "virus.exe", 1),
		"added tagging":   urls["get"] + "&tagging",
		"expires changed": strings.Replace(urls["get"], "Expires=", "Expires=1", 1),
	}
	for name, tu := range tampered {
		t.Run("tampered "+name, func(t *testing.T) {
			resp := h.send(c, "GET", tu, nil, nil)
			if name == "expires changed" {
				h.wantError(resp, 400, "AuthorizationQueryParametersError") // 1… is far in the future
				return
			}
			h.wantError(resp, 403, "SignatureDoesNotMatch")
			var doc v2ErrorDoc
			if err := xml.Unmarshal(resp.body, &doc); err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if doc.AWSAccessKeyID != keyA.id || !strings.HasPrefix(doc.StringToSign, "GET\n\n\n"+q.Get("Expires")+"\n") && name != "expires changed" ||
				doc.SignatureProvided == "" || !strings.HasPrefix(doc.StringToSignBytes, "47 45 54 0a") {
				t.Errorf("error document %+v", doc)
			}
		})
	}
	h.wantError(h.send(c, "DELETE", urls["get"], nil, nil), 403, "SignatureDoesNotMatch")
	if resp := h.send(c, "DELETE", urls["delete"], nil, nil); resp.StatusCode != 204 {
		t.Errorf("presigned DELETE: %d %s", resp.StatusCode, resp.body)
	}
}

// TestSigV2Boto3Client: boto3 with signature_version "s3" signs every
// request with an Authorization: AWS header; a session of ordinary
// operations, multipart and tagging included, works.
func TestSigV2Boto3Client(t *testing.T) {
	t.Parallel()
	needBoto3(t)
	h := v2Harness(t, harnessOpts{})
	const script = `
import io, os, sys
import boto3
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
b = "boto-v2"
c.create_bucket(Bucket=b)
k = "Bescheide/2024 ä+ö #1.txt"
c.put_object(Bucket=b, Key=k, Body=b"Bescheid", ContentType="text/plain", Metadata={"az": "17"})
o = c.get_object(Bucket=b, Key=k)
# botocore spells the key as it likes ("Az"); the header is x-amz-meta-az.
meta = {n.lower(): v for n, v in o["Metadata"].items()}
assert o["Body"].read() == b"Bescheid" and meta["az"] == "17" and o["ContentType"] == "text/plain", o
assert c.get_object(Bucket=b, Key=k, Range="bytes=0-3")["Body"].read() == b"Besc"
assert c.list_objects_v2(Bucket=b, Prefix="Bescheide/")["KeyCount"] == 1
c.put_object_tagging(Bucket=b, Key=k, Tagging={"TagSet": [{"Key": "amt", "Value": "bau"}]})
assert c.get_object_tagging(Bucket=b, Key=k)["TagSet"] == [{"Key": "amt", "Value": "bau"}]
data = os.urandom(6 << 20)
c.upload_fileobj(io.BytesIO(data), b, "gross.bin", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
assert c.get_object(Bucket=b, Key="gross.bin")["Body"].read() == data
assert c.get_bucket_location(Bucket=b)["LocationConstraint"] in (None, "")
c.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "gross.bin"}, {"Key": k}]})
assert c.list_objects_v2(Bucket=b)["KeyCount"] == 0
c.delete_bucket(Bucket=b)
try:
    boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2],
                 aws_secret_access_key="wrong", config=Config(signature_version="s3", s3={"addressing_style": "path"},
                 retries={"max_attempts": 1})).list_buckets()
    print("wrong secret accepted")
except c.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
`
	if out := strings.TrimSpace(string(python(t, script, h.srv.URL, keyA.id, keyA.secret))); out != "SignatureDoesNotMatch" {
		t.Fatalf("boto3 printed %q", out)
	}
}

// TestSigV2Boto3PresignedPost: boto3's generate_presigned_post with its
// default (Signature Version 2 in us-east-1), a size range and a key
// prefix, posted as a browser posts the form.
func TestSigV2Boto3PresignedPost(t *testing.T) {
	t.Parallel()
	needBoto3(t)
	h := v2Harness(t, harnessOpts{})
	const script = `
import json, sys
import boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=Config(s3={"addressing_style": "path"}))
print(json.dumps(c.generate_presigned_post(
    Bucket="buergerportal", Key="uploads/${filename}",
    Fields={"success_action_status": "201"},
    Conditions=[["content-length-range", 1, 1000], ["starts-with", "$key", "uploads/"], {"success_action_status": "201"}],
    ExpiresIn=600)))
`
	var p struct {
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(python(t, script, h.srv.URL, keyA.id, keyA.secret), &p); err != nil {
		t.Fatal(err)
	}
	if p.Fields["AWSAccessKeyId"] != keyA.id || p.Fields["signature"] == "" || p.Fields["x-amz-signature"] != "" {
		t.Fatalf("boto3 did not sign with Signature Version 2: %v", p.Fields)
	}
	newForm := func(file []byte) form {
		return form{fields: fieldsOf(p.Fields), fileName: "Meldebescheinigung.txt", file: bytes.NewReader(file)}
	}
	data := []byte("Meldebescheinigung, beantragt über das Bürgerportal\n")
	resp := h.post(h.srv.Client(), p.URL, newForm(data))
	if resp.StatusCode != 201 || !bytes.Contains(resp.body, []byte("<Key>uploads/Meldebescheinigung.txt</Key>")) {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	if !bytes.Equal(h.getBytes(keyA, "buergerportal", "uploads/Meldebescheinigung.txt"), data) {
		t.Error("the posted file differs")
	}

	h.wantError(h.post(h.srv.Client(), p.URL, newForm(testData(1001, 3))), 400, "EntityTooLarge")
	f := newForm(data)
	f.set("key", "andere/x.txt")
	if doc := h.wantError(h.post(h.srv.Client(), p.URL, f), 403, "AccessDenied"); !strings.Contains(doc.Message, `"$key", "uploads/"`) {
		t.Errorf("message %q", doc.Message)
	}
	f = newForm(data)
	// Another first character, whatever boto3's signature starts with.
	tampered := "A" + p.Fields["signature"][1:]
	if tampered == p.Fields["signature"] {
		tampered = "B" + p.Fields["signature"][1:]
	}
	f.set("signature", tampered)
	h.wantError(h.post(h.srv.Client(), p.URL, f), 403, "SignatureDoesNotMatch")
	f = newForm(data)
	f.set("AWSAccessKeyId", keyB.id) // another tenant's key, not the signer's
	h.wantError(h.post(h.srv.Client(), p.URL, f), 403, "SignatureDoesNotMatch")
	f = newForm(data)
	f.set("AWSAccessKeyId", keyUnknown.id)
	h.wantError(h.post(h.srv.Client(), p.URL, f), 403, "InvalidAccessKeyId")
	f = newForm(data)
	f.fields = slicesDelete(f.fields, "AWSAccessKeyId")
	if doc := h.wantError(h.post(h.srv.Client(), p.URL, f), 400, "InvalidArgument"); !strings.Contains(doc.Message, "'AWSAccessKeyId'") {
		t.Errorf("message %q", doc.Message)
	}
	f = newForm(data)
	f.set("x-amz-signature", "00")
	h.wantError(h.post(h.srv.Client(), p.URL, f), 400, "InvalidArgument")
}

// slicesDelete drops a field by name.
func slicesDelete(fs []field, name string) []field {
	var out []field
	for _, f := range fs {
		if !strings.EqualFold(f.name, name) {
			out = append(out, f)
		}
	}
	return out
}

// TestSigV2S3cmd: s3cmd with signature_v2 = True, as many operators'
// scripts run it: bucket, put (single and multipart), ls, get, signurl,
// del.
func TestSigV2S3cmd(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("s3cmd"); err != nil {
		t.Skip("s3cmd is not installed")
	}
	h := newHarness(t, harnessOpts{region: DefaultRegion})
	dir := t.TempDir()
	hostPort := strings.TrimPrefix(h.srv.URL, "http://")
	cfg := filepath.Join(dir, "s3cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
use_https = False
signature_v2 = True
bucket_location = us-east-1
multipart_chunk_size_mb = 5
`, keyA.id, keyA.secret, hostPort, hostPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	s3c := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("s3cmd", append([]string{"-c", cfg, "--no-progress"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("s3cmd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	small := filepath.Join(dir, "Satzung 2024 (ä).txt")
	large := filepath.Join(dir, "gross.bin")
	smallData, largeData := []byte("Satzung der Gemeinde\n"), testData(6<<20, 9)
	os.WriteFile(small, smallData, 0o600)
	os.WriteFile(large, largeData, 0o600)

	s3c("mb", "s3://s3cmd-v2")
	s3c("put", small, "s3://s3cmd-v2/satzung/Satzung 2024 (ä).txt")
	s3c("put", large, "s3://s3cmd-v2/gross.bin") // multipart: uploads, partNumber, uploadId
	if out := s3c("ls", "-r", "s3://s3cmd-v2"); !strings.Contains(out, "satzung/Satzung 2024 (ä).txt") || !strings.Contains(out, "gross.bin") {
		t.Fatalf("s3cmd ls: %s", out)
	}
	back := filepath.Join(dir, "back")
	s3c("get", "s3://s3cmd-v2/satzung/Satzung 2024 (ä).txt", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, smallData) {
		t.Errorf("s3cmd get: %q", got)
	}
	s3c("get", "--force", "s3://s3cmd-v2/gross.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, largeData) {
		t.Errorf("s3cmd get of the multipart object: %d bytes", len(got))
	}
	// s3cmd's own Version 2 presigned URL.
	signed := strings.TrimSpace(s3c("signurl", "s3://s3cmd-v2/gross.bin", "+600"))
	if resp := h.send(h.srv.Client(), "GET", signed, nil, nil); resp.StatusCode != 200 || !bytes.Equal(resp.body, largeData) {
		t.Errorf("s3cmd signurl %s: %d, %d bytes", signed, resp.StatusCode, len(resp.body))
	}
	s3c("del", "s3://s3cmd-v2/gross.bin", "s3://s3cmd-v2/satzung/Satzung 2024 (ä).txt")
	if out := s3c("ls", "-r", "s3://s3cmd-v2"); strings.TrimSpace(out) != "" {
		t.Errorf("s3cmd ls after del: %q", out)
	}
	s3c("rb", "s3://s3cmd-v2")
}

// minioV2 returns a minio-go client that signs with Signature Version 2.
func (h *harness) minioV2(key testKey, lookup minio.BucketLookupType, client *http.Client, endpoint string) *minio.Client {
	h.t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        miniocreds.NewStaticV2(key.id, key.secret, ""),
		Secure:       u.Scheme == "https",
		Region:       DefaultRegion,
		Transport:    client.Transport,
		BucketLookup: lookup,
		MaxRetries:   1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestSigV2Minio: minio-go with credentials.SignatureV2, path and
// virtual-hosted style: objects, multipart, listing, presigned URLs and a
// POST policy.
func TestSigV2Minio(t *testing.T) {
	t.Parallel()
	h := v2Harness(t, harnessOpts{domain: testDomain})
	ctx := context.Background()
	for _, style := range []struct {
		name     string
		lookup   minio.BucketLookupType
		client   *http.Client
		endpoint string
	}{
		{"path", minio.BucketLookupPath, h.srv.Client(), h.srv.URL},
		{"virtual hosted", minio.BucketLookupDNS, h.vhostClient(), h.vhostEndpoint()},
	} {
		t.Run(style.name, func(t *testing.T) {
			c := h.minioV2(keyA, style.lookup, style.client, style.endpoint)
			prefix := strings.ReplaceAll(style.name, " ", "-") + "/"
			small := []byte("Haushaltsplan 2025")
			_, err := c.PutObject(ctx, "buergerportal", prefix+"plan (ä).txt", bytes.NewReader(small), int64(len(small)),
				minio.PutObjectOptions{ContentType: "text/plain", UserMetadata: map[string]string{"Amt": "Kämmerei"}})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			big := testData(6<<20, 4)
			if _, err := c.PutObject(ctx, "buergerportal", prefix+"gross", bytes.NewReader(big), -1, minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
				t.Fatalf("multipart PutObject: %v", err)
			}
			st, err := c.StatObject(ctx, "buergerportal", prefix+"plan (ä).txt", minio.StatObjectOptions{})
			if err != nil || st.ContentType != "text/plain" || st.UserMetadata["Amt"] != "Kämmerei" {
				t.Fatalf("StatObject %+v %v", st, err)
			}
			obj, err := c.GetObject(ctx, "buergerportal", prefix+"gross", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("GetObject: %d bytes, %v", len(got), err)
			}
			var keys []string
			for o := range c.ListObjects(ctx, "buergerportal", minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				keys = append(keys, o.Key)
			}
			if len(keys) != 2 {
				t.Errorf("ListObjects: %v", keys)
			}

			pu, err := c.PresignedPutObject(ctx, "buergerportal", prefix+"presigned", 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(pu.RawQuery, "AWSAccessKeyId=") {
				t.Fatalf("not a Version 2 URL: %s", pu)
			}
			if resp := h.send(style.client, "PUT", pu.String(), small, nil); resp.StatusCode != 200 {
				t.Fatalf("presigned PUT: %d %s", resp.StatusCode, resp.body)
			}
			pg, err := c.PresignedGetObject(ctx, "buergerportal", prefix+"presigned", 10*time.Minute, url.Values{"response-content-type": {"text/csv"}})
			if err != nil {
				t.Fatal(err)
			}
			if resp := h.send(style.client, "GET", pg.String(), nil, nil); resp.StatusCode != 200 || !bytes.Equal(resp.body, small) || resp.Header.Get("Content-Type") != "text/csv" {
				t.Fatalf("presigned GET: %d %q %q", resp.StatusCode, resp.body, resp.Header.Get("Content-Type"))
			}

			pp := minio.NewPostPolicy()
			for _, err := range []error{pp.SetBucket("buergerportal"), pp.SetKey(prefix + "post"), pp.SetExpires(time.Now().Add(time.Hour)), pp.SetContentLengthRange(1, 100)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			postURL, fields, err := c.PresignedPostPolicy(ctx, pp)
			if err != nil {
				t.Fatal(err)
			}
			if fields["signature"] == "" || fields["AWSAccessKeyId"] != keyA.id {
				t.Fatalf("not a Version 2 form: %v", fields)
			}
			if resp := h.post(style.client, postURL.String(), form{fields: fieldsOf(fields), fileName: "f", file: bytes.NewReader(small)}); resp.StatusCode != 204 {
				t.Fatalf("POST: %d %s", resp.StatusCode, resp.body)
			}
			if got := h.getBytes(keyA, "buergerportal", prefix+"post"); !bytes.Equal(got, small) {
				t.Errorf("posted %q", got)
			}

			for _, k := range []string{"plan (ä).txt", "gross", "presigned", "post"} {
				if err := c.RemoveObject(ctx, "buergerportal", prefix+k, minio.RemoveObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSigV2Errors: how Version 2 failures answer, over HTTP, with the
// codes, statuses and messages S3 gives them.
func TestSigV2Errors(t *testing.T) {
	t.Parallel()
	h := v2Harness(t, harnessOpts{})
	h.mustPut(keyA, "buergerportal", "k", []byte("x"))
	now := time.Now().UTC()
	soon := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
	signed := func(method, target string, hdr http.Header, key testKey) *http.Request {
		r, err := http.NewRequest(method, h.srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			r.Header[k] = vs
		}
		return signer.SignV2(*r, key.id, key.secret, false)
	}
	raw := func(method, target string, hdr http.Header) *http.Request {
		r, err := http.NewRequest(method, h.srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			r.Header[k] = vs
		}
		return r
	}
	date := http.Header{"Date": {now.Format(http.TimeFormat)}}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		code   string
		msg    string
	}{
		{"good", signed("GET", "/buergerportal/k", nil, keyA), 200, "", ""},
		{"other tenant's bucket", signed("GET", "/buergerportal/k", nil, keyB), 403, "AccessDenied", ""},
		{"unknown key", signed("GET", "/buergerportal/k", nil, keyUnknown), 403, "InvalidAccessKeyId", ""},
		{"wrong secret", signed("GET", "/buergerportal/k", nil, testKey{keyA.id, "falsch", ""}), 403, "SignatureDoesNotMatch", ""},
		{"malformed", raw("GET", "/buergerportal/k", http.Header{"Authorization": {"AWS " + keyA.id}, "Date": date["Date"]}), 400, "InvalidArgument",
			"AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
		{"no date", raw("GET", "/buergerportal/k", http.Header{"Authorization": {"AWS " + keyA.id + ":c2ln"}}), 403, "AccessDenied",
			"AWS authentication requires a valid Date or x-amz-date header"},
		{"skewed", signed("GET", "/buergerportal/k", http.Header{"Date": {now.Add(-time.Hour).Format(http.TimeFormat)}}, keyA), 403, "RequestTimeTooSkewed", ""},
		{"incomplete query", raw("GET", "/buergerportal/k?AWSAccessKeyId="+keyA.id+"&Expires="+soon, nil), 403, "AccessDenied",
			"Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"},
		{"bad expires", raw("GET", "/buergerportal/k?AWSAccessKeyId="+keyA.id+"&Signature=c2ln&Expires=morgen", nil), 403, "AccessDenied",
			"Invalid date (should be seconds since epoch)"},
		{"header and query", signed("GET", "/buergerportal/k?AWSAccessKeyId="+keyA.id+"&Signature=c2ln&Expires="+soon, nil, keyA), 400, "InvalidArgument", ""},
		{"session token", signed("GET", "/buergerportal/k", http.Header{"X-Amz-Security-Token": {"t"}}, keyA), 400, "InvalidRequest", ""},
		{"unimplemented subresource", signed("GET", "/buergerportal?logging", nil, keyA), 501, "NotImplemented", ""},
		{"service", signed("GET", "/", nil, keyA), 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.srv.Client().Do(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rr := rawResponse{resp, b}
			if tc.code == "" {
				if resp.StatusCode != tc.status {
					t.Fatalf("%d %s", resp.StatusCode, b)
				}
				return
			}
			doc := h.wantError(rr, tc.status, tc.code)
			if tc.msg != "" && doc.Message != tc.msg {
				t.Errorf("message %q, want %q", doc.Message, tc.msg)
			}
			if tc.code == "SignatureDoesNotMatch" {
				var d v2ErrorDoc
				xml.Unmarshal(b, &d)
				if want := "GET\n\n\n" + tc.req.Header.Get("Date") + "\n/buergerportal/k"; d.StringToSign != want || d.AWSAccessKeyID != keyA.id {
					t.Errorf("error document %+v, want StringToSign %q", d, want)
				}
			}
		})
	}
}
