//lint:file-ignore SA1019 feature/s3/manager is deprecated, but the municipal applications in the field use it: we test what they send.

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const mib = 1 << 20

// sizes every client uploads: empty, one byte, a plain PUT, and a large
// file the SDKs send in parts and fetch with ranges.
var e2eSizes = []struct {
	name string
	n    int
}{{"empty", 0}, {"one-byte", 1}, {"five-mib", 5 * mib}, {"hundred-mib", 100 * mib}}

// goClient is an aws-sdk-go-v2 client of one node. Like applications, it
// retries 503s (a request in the second a site fails may get one).
func goClient(endpoint, ak, sk string, hc *http.Client) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""), HTTPClient: hc,
		RetryMaxAttempts: 6,
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// awsCLI runs the aws CLI against a node's HTTPS endpoint.
func awsCLI(t *testing.T, c *cluster, endpoint, ak, sk string, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CA_BUNDLE="+c.ca.caFile, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// awsCLIFails runs the aws CLI expecting it to fail, and returns what it
// printed: the S3 error code must reach it.
func awsCLIFails(t *testing.T, c *cluster, endpoint, ak, sk string, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CA_BUNDLE="+c.ca.caFile, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("aws %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

func crc32b64(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// cleanEnv is the environment without AWS_* settings of the machine (a CA
// bundle, a profile), which would change what the tools do; tests set
// what they need.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

func needTool(t *testing.T, name string) {
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed; .ci/run installs what the tests need", name)
	}
}

// TestE2EClients drives a three-site cluster with the aws CLI and boto3
// over HTTPS (so they send aws-chunked bodies with trailing CRC32
// checksums), aws-sdk-go-v2 over HTTPS and minio-go over HTTP (signed
// streaming), always writing through one node and reading through another.
func TestE2EClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-clients")
	dir := t.TempDir()
	files := map[string][]byte{}
	paths := map[string]string{}
	for _, s := range e2eSizes {
		paths[s.name], files[s.name] = randomFile(t, dir, s.name, s.n)
	}
	https := func(s *server) string { return "https://" + s.s3tls() }
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]

	t.Run("aws-cli", func(t *testing.T) {
		needTool(t, "aws")
		awsCLI(t, c, https(n1), ak, sk, "s3", "mb", "s3://cli-bucket")
		for _, s := range e2eSizes {
			awsCLI(t, c, https(n1), ak, sk, "s3", "cp", paths[s.name], "s3://cli-bucket/files/"+s.name)
		}
		// The CLI sent the single-PUT files aws-chunked with a trailing
		// CRC32 (HTTPS): the server verified and kept it.
		head, err := goClient(https(n3), ak, sk, c.httpsClient()).HeadObject(context.Background(), &s3.HeadObjectInput{
			Bucket: aws.String("cli-bucket"), Key: aws.String("files/five-mib"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if want := crc32b64(files["five-mib"]); aws.ToString(head.ChecksumCRC32) != want {
			t.Fatalf("CRC32 of the CLI's upload: %q, want %q (trailing checksum not received?)", aws.ToString(head.ChecksumCRC32), want)
		}
		ls := awsCLI(t, c, https(n2), ak, sk, "s3", "ls", "--recursive", "s3://cli-bucket")
		for _, s := range e2eSizes {
			if !strings.Contains(ls, fmt.Sprintf("%d files/%s", s.n, s.name)) {
				t.Fatalf("listing lacks %s:\n%s", s.name, ls)
			}
		}
		for _, s := range e2eSizes {
			dst := filepath.Join(dir, "cli-"+s.name)
			awsCLI(t, c, https(n2), ak, sk, "s3", "cp", "s3://cli-bucket/files/"+s.name, dst)
			sameFile(t, dst, files[s.name])
		}
		awsCLI(t, c, https(n3), ak, sk, "s3", "rm", "--recursive", "s3://cli-bucket/files/")
		if ls := awsCLI(t, c, https(n1), ak, sk, "s3", "ls", "--recursive", "s3://cli-bucket"); strings.TrimSpace(ls) != "" {
			t.Fatalf("objects left after rm: %s", ls)
		}
		awsCLI(t, c, https(n1), ak, sk, "s3", "rb", "s3://cli-bucket")
		// Errors reach the CLI with S3's codes.
		if out := awsCLIFails(t, c, https(n2), ak, sk, "s3api", "get-object", "--bucket", "cli-bucket", "--key", "x", filepath.Join(dir, "x")); !strings.Contains(out, "NoSuchBucket") {
			t.Fatalf("error code did not reach the aws CLI:\n%s", out)
		}
	})

	t.Run("boto3", func(t *testing.T) {
		needTool(t, "python3")
		var args []string
		for _, s := range e2eSizes {
			args = append(args, s.name+"="+paths[s.name])
		}
		cmd := exec.Command("python3", append([]string{"testdata/boto3_roundtrip.py", https(n2), https(n3), c.ca.caFile, "boto3-bucket", dir}, args...)...)
		cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("boto3: %v\n%s", err, out)
		}
		for _, s := range e2eSizes {
			sameFile(t, filepath.Join(dir, "boto3-"+s.name), files[s.name])
		}
	})

	t.Run("aws-sdk-go-v2", func(t *testing.T) {
		ctx := context.Background()
		up := goClient(https(n3), ak, sk, c.httpsClient())
		down := goClient(https(n1), ak, sk, c.httpsClient())
		if _, err := up.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("go-bucket")}); err != nil {
			t.Fatal(err)
		}
		uploader := manager.NewUploader(up, func(u *manager.Uploader) { u.PartSize = 16 * mib })
		for _, s := range e2eSizes {
			if _, err := uploader.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("go-bucket"), Key: aws.String(s.name),
				Body: bytes.NewReader(files[s.name]), ContentType: aws.String("application/pdf"),
				Metadata: map[string]string{"antragsteller": "erika"}}); err != nil {
				t.Fatalf("upload %s: %v", s.name, err)
			}
		}
		list, err := down.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("go-bucket")})
		if err != nil || len(list.Contents) != len(e2eSizes) {
			t.Fatalf("list: %v %v", err, list)
		}
		downloader := manager.NewDownloader(down, func(d *manager.Downloader) { d.PartSize = 8 * mib })
		for _, s := range e2eSizes {
			buf := manager.NewWriteAtBuffer(nil)
			if _, err := downloader.Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("go-bucket"), Key: aws.String(s.name)}); err != nil {
				t.Fatalf("download %s: %v", s.name, err)
			}
			if !bytes.Equal(buf.Bytes(), files[s.name]) {
				t.Fatalf("%s differs after a ranged download", s.name)
			}
			head, err := down.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("go-bucket"), Key: aws.String(s.name)})
			if err != nil || aws.ToString(head.ContentType) != "application/pdf" || head.Metadata["antragsteller"] != "erika" || aws.ToInt64(head.ContentLength) != int64(s.n) {
				t.Fatalf("head %s: %v %+v", s.name, err, head)
			}
		}
		// A range in the middle of the multipart object, across a part
		// boundary (parts are 16 MiB).
		got, err := down.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("go-bucket"), Key: aws.String("hundred-mib"), Range: aws.String("bytes=16777000-16777999")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(b, files["hundred-mib"][16777000:16778000]) || aws.ToString(got.ContentRange) != fmt.Sprintf("bytes 16777000-16777999/%d", 100*mib) {
			t.Fatalf("range across parts: %d bytes, Content-Range %q", len(b), aws.ToString(got.ContentRange))
		}
		for _, s := range e2eSizes {
			if _, err := up.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("go-bucket"), Key: aws.String(s.name)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := down.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("go-bucket"), Key: aws.String("five-mib")}); apiCode(err) != "NoSuchKey" {
			t.Fatalf("get after delete: %v", err)
		}
	})

	t.Run("minio-go", func(t *testing.T) {
		ctx := context.Background()
		mc := func(s *server) *minio.Client {
			cl, err := minio.New(s.s3(), &minio.Options{Creds: miniocreds.NewStaticV4(ak, sk, ""), Secure: false, Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
			if err != nil {
				t.Fatal(err)
			}
			return cl
		}
		up, down := mc(n2), mc(n1)
		if err := up.MakeBucket(ctx, "minio-bucket", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, s := range e2eSizes {
			if _, err := up.PutObject(ctx, "minio-bucket", s.name, bytes.NewReader(files[s.name]), int64(s.n), minio.PutObjectOptions{PartSize: 16 * mib}); err != nil {
				t.Fatalf("put %s: %v", s.name, err)
			}
		}
		for _, s := range e2eSizes {
			obj, err := down.GetObject(ctx, "minio-bucket", s.name, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(b, files[s.name]) {
				t.Fatalf("get %s: %v (%d bytes)", s.name, err, len(b))
			}
			if err := up.RemoveObject(ctx, "minio-bucket", s.name, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := down.RemoveBucket(ctx, "minio-bucket"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestE2ESiteLoss kills one site's process with SIGKILL: every object still
// reads back from the other two, new uploads succeed (in the degraded
// geometry), and after a restart of everything all data is there.
func TestE2ESiteLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-siteloss")
	ctx := context.Background()
	client := func(s *server) *s3.Client { return goClient("http://"+s.s3(), ak, sk, http.DefaultClient) }
	objects := map[string][]byte{}
	put := func(s *server, key string, n int) {
		t.Helper()
		_, data := randomFile(t, t.TempDir(), "f", n)
		up := manager.NewUploader(client(s), func(u *manager.Uploader) { u.PartSize = 5 * mib })
		if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s via %s: %v", key, s.id, err)
		}
		objects[key] = data
	}
	check := func(s *server) {
		t.Helper()
		for key, data := range objects {
			out, err := client(s).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get %s via %s: %v", key, s.id, err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("%s via %s: %v, %d bytes differ", key, s.id, err, len(b))
			}
		}
	}
	if _, err := client(c.servers[0]).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{0, 1, 4096, 300 * 1024, 3 * mib, 12 * mib} {
		put(c.servers[i%3], fmt.Sprintf("before/%d", i), n)
	}
	check(c.servers[1])

	lost := c.servers[2]
	c.kill(lost)
	for _, s := range c.servers[:2] {
		check(s)
	}
	for i, n := range []int{1, 70 * 1024, 2 * mib, 11 * mib} {
		put(c.servers[i%2], fmt.Sprintf("during/%d", i), n)
	}
	for _, s := range c.servers[:2] {
		check(s)
	}

	// Everything down, everything up again: all data is there, on every node.
	c.stopAll()
	c.restartAll()
	for _, s := range c.servers {
		check(s)
	}
}

// TestE2ENoPlaintextOnDisk writes an object whose body and user metadata
// carry recognizable text and scans every file under the drives and the
// metadata directories: the text is nowhere.
func TestE2ENoPlaintextOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-geheim")
	ctx := context.Background()
	cl := goClient("http://"+c.servers[0].s3(), ak, sk, http.DefaultClient)
	const marker = "Hundesteuer-Bescheid-Erika-Mustermann-Flurstueck-4711"
	const metaMarker = "Geburtsdatum-1964-08-12-Musterstrasse-7"
	body := bytes.Repeat([]byte(marker+"\n"), 20000) // ~1 MiB, several stripes
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bescheide")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bescheide"), Key: aws.String("bescheid.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/x-hundesteuer"), Metadata: map[string]string{"person": metaMarker}}); err != nil {
		t.Fatal(err)
	}
	small := []byte(marker)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bescheide"), Key: aws.String("klein.txt"), Body: bytes.NewReader(small)}); err != nil {
		t.Fatal(err)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bescheide"), Key: aws.String("bescheid.txt")})
	if err != nil || head.Metadata["person"] != metaMarker || aws.ToString(head.ContentType) != "text/x-hundesteuer" {
		t.Fatalf("metadata did not come back: %v %+v", err, head)
	}
	// Stop the servers so that everything is flushed to the files scanned.
	c.stopAll()
	needles := [][]byte{[]byte(marker[:24]), []byte(metaMarker[:20]), []byte("text/x-hundesteuer")}
	scanned := 0
	err = filepath.Walk(c.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, "server.log") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("plaintext %q found in %s", n, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 20 {
		t.Fatalf("only %d files scanned; the drives and metadata were not found", scanned)
	}
}

// TestE2ETenantIsolation: another tenant gets AccessDenied on everything of
// the first tenant's, cannot take its bucket name, does not see it listed;
// bad signatures and unknown keys are refused; the server keeps serving.
func TestE2ETenantIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	akA, skA := c.tenant("gemeinde-a")
	akB, skB := c.tenant("gemeinde-b")
	ctx := context.Background()
	a := goClient("http://"+c.servers[0].s3(), akA, skA, http.DefaultClient)
	b := goClient("http://"+c.servers[1].s3(), akB, skB, http.DefaultClient)
	bucket, key := aws.String("gemeinde-a-akten"), aws.String("antrag.pdf")
	if _, err := a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("vertraulich")}); err != nil {
		t.Fatal(err)
	}
	denied := map[string]func() error{
		"ListObjectsV2": func() error { _, err := b.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket}); return err },
		"GetObject":     func() error { _, err := b.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key}); return err },
		"PutObject": func() error {
			_, err := b.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("x")})
			return err
		},
		"DeleteObject": func() error {
			_, err := b.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key})
			return err
		},
		"DeleteBucket": func() error { _, err := b.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); return err },
		"CreateMultipartUpload": func() error {
			_, err := b.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
			return err
		},
	}
	for op, call := range denied {
		if code := apiCode(call()); code != "AccessDenied" {
			t.Errorf("tenant B %s on A's bucket: %q, want AccessDenied", op, code)
		}
	}
	// HEAD has no body: the SDK sees the status only.
	if _, err := b.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); !statusIs(err, http.StatusForbidden) {
		t.Errorf("HeadBucket: %v", err)
	}
	if _, err := b.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key}); !statusIs(err, http.StatusForbidden) {
		t.Errorf("HeadObject: %v", err)
	}
	if _, err := b.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); apiCode(err) != "BucketAlreadyExists" {
		t.Errorf("B creating A's bucket name: %v", err)
	}
	lb, err := b.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range lb.Buckets {
		if aws.ToString(bk.Name) == *bucket {
			t.Error("B sees A's bucket in ListBuckets")
		}
	}
	badSig := goClient("http://"+c.servers[2].s3(), akA, skA+"x", http.DefaultClient)
	if _, err := badSig.ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("bad signature: %v", err)
	}
	unknown := goClient("http://"+c.servers[2].s3(), "KCSNOSUCHKEY00000000", skA, http.DefaultClient)
	if _, err := unknown.ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "InvalidAccessKeyId" {
		t.Errorf("unknown access key: %v", err)
	}
	// The server keeps serving, and A still reads its object through any node.
	for _, s := range c.servers {
		out, err := goClient("http://"+s.s3(), akA, skA, http.DefaultClient).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatalf("A via %s: %v", s.id, err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(body) != "vertraulich" {
			t.Fatalf("A via %s: %q", s.id, body)
		}
	}
}

// statusIs reports whether err is an HTTP response error with the status.
func statusIs(err error, status int) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == status
}

// TestE2EAdminCLI runs the operator commands of the kcs binary.
func TestE2EAdminCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kcsBin, append([]string{"admin", "--endpoint", "https://" + c.servers[1].s3tls(), "--ca-cert", c.ca.caFile}, args...)...)
		cmd.Env = append(cleanEnv(), "KCS_ADMIN_SECRET_FILE="+c.adminFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kcs admin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var created struct {
		AccessKey string `json:"access_key"`
		Secret    string `json:"secret"`
		Tenant    string `json:"tenant"`
	}
	if err := json.Unmarshal([]byte(run("tenant", "create", "stadt-suhl", "--json")), &created); err != nil || created.Secret == "" {
		t.Fatalf("tenant create: %v %+v", err, created)
	}
	if out := run("tenant", "list"); !strings.Contains(out, "stadt-suhl") {
		t.Fatalf("tenant list: %s", out)
	}
	var second struct {
		AccessKey string `json:"access_key"`
		Secret    string `json:"secret"`
	}
	json.Unmarshal([]byte(run("key", "create", "stadt-suhl", "--json")), &second)
	if out := run("key", "list", "stadt-suhl"); !strings.Contains(out, created.AccessKey) || !strings.Contains(out, second.AccessKey) {
		t.Fatalf("key list: %s", out)
	}
	ctx := context.Background()
	cl := goClient("http://"+c.servers[2].s3(), second.AccessKey, second.Secret, http.DefaultClient)
	if _, err := cl.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("new key: %v", err)
	}
	run("key", "delete", "stadt-suhl", second.AccessKey)
	if _, err := cl.ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("deleted key still works: %v", err)
	}
	var st struct {
		Leader string `json:"leader"`
		Sites  []struct {
			Name  string `json:"name"`
			Nodes []struct {
				ID        string `json:"id"`
				Role      string `json:"role"`
				Reachable bool   `json:"reachable"`
				Drives    []struct {
					Total uint64 `json:"total"`
				} `json:"drives"`
			} `json:"nodes"`
		} `json:"sites"`
	}
	if err := json.Unmarshal([]byte(run("cluster", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, s := range st.Sites {
		for _, n := range s.Nodes {
			roles[n.Role]++
			if !n.Reachable || len(n.Drives) != 2 || n.Drives[0].Total == 0 {
				t.Fatalf("node %s: %+v", n.ID, n)
			}
		}
	}
	if len(st.Sites) != 3 || roles["leader"] != 1 || roles["voter"] != 2 {
		t.Fatalf("status: %d sites, roles %v", len(st.Sites), roles)
	}
	if out := run("cluster", "status"); !strings.Contains(out, "leader") || !strings.Contains(out, "RS(4,2)") {
		t.Fatalf("status table:\n%s", out)
	}
	// `node scrub` has the node at the endpoint check its shards now and
	// rebuild one that went missing.
	owner := goClient("http://"+c.servers[0].s3(), created.AccessKey, created.Secret, http.DefaultClient)
	if _, err := owner.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 200<<10)
	rand.Read(body)
	if _, err := owner.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("a"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	var shard string
	for _, d := range c.servers[1].drives {
		files, _ := filepath.Glob(filepath.Join(d, "kcs", "shards", "*", "*", "*"))
		if len(files) > 0 {
			shard = files[0]
		}
	}
	orig, err := os.ReadFile(shard)
	if err != nil {
		t.Fatalf("no shard on %s: %v", c.servers[1].id, err)
	}
	os.Remove(shard)
	if out := run("node", "scrub"); !strings.Contains(out, "scrub pass started") {
		t.Fatalf("node scrub: %s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(shard); err == nil && bytes.Equal(b, orig) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scrub did not rebuild %s\n%s", shard, c.logTail(c.servers[1]))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Rotating the tenant's key: the object stays readable, and the old
	// version is retired once its data key is rewrapped.
	if out := run("tenant", "rotate-key", "stadt-suhl"); !strings.Contains(out, "now uses key version 2") {
		t.Fatalf("tenant rotate-key: %s", out)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		var ts []struct {
			ID         string   `json:"id"`
			KeyVersion uint32   `json:"key_version"`
			Retiring   []uint32 `json:"retiring_versions"`
		}
		json.Unmarshal([]byte(run("tenant", "list", "--json")), &ts)
		if len(ts) == 1 && ts[0].KeyVersion == 2 && len(ts[0].Retiring) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not finished: %+v", ts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, err := owner.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	if !bytes.Equal(data, body) {
		t.Fatal("the object changed across the key rotation")
	}

	// Deleting a tenant needs its name twice; then its keys stop working.
	refuse := exec.Command(kcsBin, "admin", "--endpoint", "http://"+c.servers[0].s3(), "tenant", "delete", "stadt-suhl")
	refuse.Env = append(cleanEnv(), "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	if out, err := refuse.CombinedOutput(); err == nil || !strings.Contains(string(out), "--confirm") {
		t.Fatalf("tenant delete without --confirm: %v %s", err, out)
	}
	if _, err := owner.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("the refused deletion deleted: %v", err)
	}
	if out := run("tenant", "delete", "stadt-suhl", "--confirm", "stadt-suhl"); !strings.Contains(out, "deleted tenant stadt-suhl") || !strings.Contains(out, "1 bucket(s)") {
		t.Fatalf("tenant delete: %s", out)
	}
	if _, err := owner.ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("the deleted tenant's key still works: %v", err)
	}
	if out := run("tenant", "list"); strings.Contains(out, "stadt-suhl") {
		t.Fatalf("tenant list after deletion: %s", out)
	}

	// A wrong admin secret is refused.
	cmd := exec.Command(kcsBin, "admin", "--endpoint", "http://"+c.servers[0].s3(), "tenant", "list")
	cmd.Env = append(cleanEnv(), "KCS_ADMIN_SECRET=not-the-secret")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "403") {
		t.Fatalf("wrong admin secret: %v %s", err, out)
	}
}

// TestE2EBench runs `kcs bench` against a cluster: it reports PUTs and
// GETs without errors, in JSON for scripts.
func TestE2EBench(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-bench")
	cmd := exec.Command(kcsBin, "bench", "--endpoint", "https://"+c.servers[1].s3tls(), "--ca-cert", c.ca.caFile,
		"--size", "64KiB", "--concurrency", "4", "--duration", "2s", "--objects", "50", "--cleanup", "--json")
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcs bench: %v\n%s", err, out)
	}
	var rep struct {
		Ops []struct {
			Op     string  `json:"op"`
			Count  int     `json:"count"`
			Errors int     `json:"errors"`
			MBPerS float64 `json:"mb_per_s"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	seen := map[string]bool{}
	for _, o := range rep.Ops {
		if o.Count == 0 || o.Errors != 0 || o.MBPerS <= 0 {
			t.Fatalf("kcs bench %s: %+v", o.Op, o)
		}
		seen[o.Op] = true
	}
	if !seen["PUT"] || !seen["GET"] {
		t.Fatalf("kcs bench ran %v", rep.Ops)
	}
}

// scrape reads the Prometheus metrics of s: metric name → label set
// ("code=200,op=PutObject") → value.
func scrape(t *testing.T, s *server) map[string]map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.metrics() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics of %s do not parse: %v", s.id, err)
	}
	out := map[string]map[string]float64{}
	for name, f := range families {
		out[name] = map[string]float64{}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			out[name][strings.Join(labels, ",")] = v
		}
	}
	return out
}

// TestE2EMetrics checks what an operator's Prometheus sees: S3 requests by
// operation and status with their bytes, one Raft leader, drive sizes, and
// a scrub pass with what it checked.
func TestE2EMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-zahlen")
	ctx := context.Background()
	cl := goClient("http://"+c.servers[0].s3(), ak, sk, http.DefaultClient)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("statistik")}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 300<<10)
	rand.Read(body)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("statistik"), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("statistik"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, out.Body)
	out.Body.Close()
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("statistik"), Key: aws.String("nope")}); apiCode(err) != "NoSuchKey" {
		t.Fatalf("missing key: %v", err)
	}
	if err := c.admin(c.servers[0]).StartScrub(ctx); err != nil {
		t.Fatal(err)
	}

	var m map[string]map[string]float64
	deadline := time.Now().Add(20 * time.Second)
	for {
		m = scrape(t, c.servers[0])
		if m["kcs_scrub_passes_total"][""] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrub pass counted: %v", m["kcs_scrub_passes_total"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	req := m["kcs_s3_requests_total"]
	if req["code=200,op=PutObject"] != 1 || req["code=200,op=GetObject"] != 1 || req["code=404,op=GetObject"] != 1 {
		t.Errorf("kcs_s3_requests_total: %v", req)
	}
	if got := m["kcs_s3_received_bytes_total"]["op=PutObject"]; got < float64(len(body)) {
		t.Errorf("received bytes of PutObject %v, want at least %d", got, len(body))
	}
	if got := m["kcs_s3_sent_bytes_total"]["op=GetObject"]; got < float64(len(body)) {
		t.Errorf("sent bytes of GetObject %v, want at least %d", got, len(body))
	}
	if m["kcs_s3_request_duration_seconds"]["op=PutObject"] != 1 {
		t.Errorf("PutObject latency samples: %v", m["kcs_s3_request_duration_seconds"])
	}
	if len(m["kcs_drive_size_bytes"]) != 2 || m["kcs_drive_size_bytes"]["drive=n1/0"] == 0 {
		t.Errorf("drive sizes: %v", m["kcs_drive_size_bytes"])
	}
	// n1 holds two of the object's six shards, on its two drives.
	if m["kcs_scrub_shards_checked_total"][""] != 2 || m["kcs_scrub_bad_shards_total"][""] != 0 {
		t.Errorf("scrub: %v checked, %v bad", m["kcs_scrub_shards_checked_total"], m["kcs_scrub_bad_shards_total"])
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	leaders := 0.0
	for _, s := range c.servers {
		leaders += scrape(t, s)["kcs_raft_leader"][""]
	}
	if leaders != 1 {
		t.Errorf("%v nodes report themselves Raft leader, want 1", leaders)
	}
}

// The master key rotation as an operator runs it: every server restarted
// with the new key and the old one, `kcs admin master-key rotate`, wait
// until status shows nothing left, restart on the new key alone; the
// tenant's object and access key work throughout.
func TestE2EMasterKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("stadt-gera")
	ctx := context.Background()
	body := make([]byte, 200<<10)
	rand.Read(body)
	check := func(s *server) {
		t.Helper()
		cl := goClient("http://"+s.s3(), ak, sk, http.DefaultClient)
		got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("a")})
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
		data, _ := io.ReadAll(got.Body)
		if !bytes.Equal(data, body) {
			t.Fatalf("%s: the object differs", s.id)
		}
	}
	cl := goClient("http://"+c.servers[0].s3(), ak, sk, http.DefaultClient)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("a"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	restartAll := func() {
		for _, s := range c.servers {
			c.stop(s)
			c.restart(s)
			c.waitReady(s)
		}
	}
	admin := func(args ...string) (string, error) {
		cmd := exec.Command(kcsBin, append([]string{"admin", "--endpoint", "http://" + c.servers[1].s3()}, args...)...)
		cmd.Env = append(cleanEnv(), "KCS_ADMIN_SECRET_FILE="+c.adminFile)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	oldFile, newFile := c.masterFile, filepath.Join(c.dir, "master-neu.key")
	writeSecret(t, newFile)
	c.masterFile, c.extraEnv = newFile, []string{"KCS_OLD_MASTER_KEY_FILE=" + oldFile}
	restartAll()
	check(c.servers[2])
	// n3 is down for the rotation: its own copy of the key check stays
	// wrapped under the old key until it catches up, yet it comes back
	// with the new key alone (and on new ports, which it must announce
	// before it can catch up).
	down := c.servers[2]
	c.stop(down)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := admin("master-key", "rotate")
		if err == nil && strings.Contains(out, "master key is now mk-") {
			break
		}
		// Restarted servers update their records in the background.
		if time.Now().After(deadline) {
			t.Fatalf("master-key rotate: %v\n%s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for {
		var st struct {
			MasterKey string `json:"master_key"`
			Pending   int    `json:"master_key_pending"`
		}
		out, err := admin("cluster", "status", "--json")
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && strings.HasPrefix(st.MasterKey, "mk-") && st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not finished: %v %s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	c.extraEnv = nil
	c.restart(down)
	c.waitReady(down)
	check(down)
	restartAll()
	for _, s := range c.servers {
		check(s)
	}
}
