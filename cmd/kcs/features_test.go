package main

// End-to-end: what browsers and careful applications rely on — multipart
// across nodes, conditional writes racing, presigned URLs, POST uploads,
// CORS, ranges at every internal boundary.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/crc64nvme"
	"github.com/zeebo/xxh3"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
)

func TestE2EFeatures(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-features")
	ctx := context.Background()
	cl := func(s *server) *s3.Client { return goClient("http://"+s.s3(), ak, sk, http.DefaultClient) }
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	bucket := aws.String("portal")
	if _, err := cl(n1).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}

	t.Run("multipart-across-three-nodes", func(t *testing.T) {
		key := aws.String("bauantrag/plaene.zip")
		cu, err := cl(n1).CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key, ContentType: aws.String("application/zip")})
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := bytes.Repeat([]byte("A"), 5*mib), []byte("und der Rest")
		u1, err := cl(n1).UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: cu.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p1)})
		if err != nil {
			t.Fatal(err)
		}
		u2, err := cl(n2).UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: cu.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(p2)})
		if err != nil {
			t.Fatal(err)
		}
		lp, err := cl(n3).ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: cu.UploadId})
		if err != nil || len(lp.Parts) != 2 {
			t.Fatalf("list parts via a third node: %v %+v", err, lp)
		}
		if _, err := cl(n3).CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: cu.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: u1.ETag}, {PartNumber: aws.Int32(2), ETag: u2.ETag}}}}); err != nil {
			t.Fatal(err)
		}
		got := getBytes(t, cl(n2), *bucket, *key, "")
		if !bytes.Equal(got, append(p1, p2...)) {
			t.Fatal("multipart object completed on a third node differs")
		}
	})

	t.Run("racing-if-none-match", func(t *testing.T) {
		for round := range 5 {
			key := aws.String(fmt.Sprintf("einmal/%d", round))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, s := range []*server{n1, n3} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = cl(s).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, IfNoneMatch: aws.String("*"),
						Body: strings.NewReader(fmt.Sprintf("writer %d", i))})
				}()
			}
			wg.Wait()
			won, lost := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case apiCode(err) == "PreconditionFailed":
					lost++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if won != 1 || lost != 1 {
				t.Fatalf("round %d: %d won, %d lost; want exactly one winner", round, won, lost)
			}
		}
	})

	t.Run("presigned-urls", func(t *testing.T) {
		ps := s3.NewPresignClient(cl(n2))
		put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("scan.pdf")}, s3.WithPresignExpires(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, put.URL, strings.NewReader("%PDF-1.7 Scan"))
		resp := mustDo(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("presigned PUT: %d %s", resp.StatusCode, readBody(resp))
		}
		get, _ := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("scan.pdf")}, s3.WithPresignExpires(5*time.Minute))
		resp = mustDo(t, mustReq(http.MethodGet, get.URL))
		if body := readBody(resp); resp.StatusCode != 200 || body != "%PDF-1.7 Scan" {
			t.Fatalf("presigned GET: %d %q", resp.StatusCode, body)
		}
		short, _ := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("scan.pdf")}, s3.WithPresignExpires(time.Second))
		time.Sleep(2100 * time.Millisecond)
		resp = mustDo(t, mustReq(http.MethodGet, short.URL))
		if body := readBody(resp); resp.StatusCode != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "Request has expired") {
			t.Fatalf("expired presigned URL: %d %s", resp.StatusCode, body)
		}
		tooLong := strings.Replace(get.URL, "X-Amz-Expires=300", "X-Amz-Expires=604801", 1)
		resp = mustDo(t, mustReq(http.MethodGet, tooLong))
		if body := readBody(resp); resp.StatusCode != 400 || !strings.Contains(body, "AuthorizationQueryParametersError") {
			t.Fatalf("X-Amz-Expires beyond a week: %d %s", resp.StatusCode, body)
		}
	})

	// boto3 signs POST policies with Signature V2 by default in us-east-1,
	// and with V4 when configured so: both must land.
	for _, sigVersion := range []string{"", "s3v4"} {
		t.Run("browser-post-upload-"+map[string]string{"": "boto3-default-v2", "s3v4": "v4"}[sigVersion], func(t *testing.T) {
			needTool(t, "python3")
			prefix := "antraege" + sigVersion + "/"
			post := func(key, cond string, expires int) (string, map[string]string) {
				t.Helper()
				script := `
import json, sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, signature_version=sys.argv[6] or None))
p = c.generate_presigned_post(Bucket=sys.argv[2], Key=sys.argv[3], Conditions=json.loads(sys.argv[4]), ExpiresIn=int(sys.argv[5]))
print(json.dumps(p))`
				cmd := exec.Command("python3", "-c", script, "http://"+n3.s3(), *bucket, key, cond, fmt.Sprint(expires), sigVersion)
				cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("generate_presigned_post: %v\n%s", err, out)
				}
				var p struct {
					URL    string            `json:"url"`
					Fields map[string]string `json:"fields"`
				}
				if err := json.Unmarshal(out, &p); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				return p.URL, p.Fields
			}
			send := func(url string, fields map[string]string, filename string, body []byte) (int, string) {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				for k, v := range fields {
					mw.WriteField(k, v)
				}
				fw, _ := mw.CreateFormFile("file", filename)
				fw.Write(body)
				mw.Close()
				req, _ := http.NewRequest(http.MethodPost, url, &buf)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				resp := mustDo(t, req)
				return resp.StatusCode, readBody(resp)
			}
			conds := `[["content-length-range", 1, 2048], ["starts-with", "$key", "` + prefix + `"]]`
			url, fields := post(prefix+"${filename}", conds, 300)
			if code, body := send(url, fields, "hund.txt", []byte("Hundesteuer-Anmeldung für Bello")); code != 204 {
				t.Fatalf("POST upload: %d %s", code, body)
			}
			if got := getBytes(t, cl(n1), *bucket, prefix+"hund.txt", ""); string(got) != "Hundesteuer-Anmeldung für Bello" {
				t.Fatalf("POSTed object: %q", got)
			}
			if code, body := send(url, fields, "gross.bin", bytes.Repeat([]byte("x"), 5000)); code != 400 || !strings.Contains(body, "EntityTooLarge") {
				t.Fatalf("POST over content-length-range: %d %s", code, body)
			}
			bad := map[string]string{}
			for k, v := range fields {
				bad[k] = v
			}
			bad["key"] = "anderswo/hund.txt"
			if code, body := send(url, bad, "hund.txt", []byte("x")); code != 403 || !strings.Contains(body, "AccessDenied") {
				t.Fatalf("POST with a key outside the policy: %d %s", code, body)
			}
			url, fields = post(prefix+"spaet.txt", conds, 1)
			time.Sleep(2100 * time.Millisecond)
			if code, body := send(url, fields, "spaet.txt", []byte("x")); code != 403 || !strings.Contains(body, "AccessDenied") {
				t.Fatalf("POST with an expired policy: %d %s", code, body)
			}
		})
	}

	t.Run("cors", func(t *testing.T) {
		_, err := cl(n1).PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: bucket, CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: []string{"https://buergerportal.example"}, AllowedMethods: []string{"GET", "PUT"},
			AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(600)}}}})
		if err != nil {
			t.Fatal(err)
		}
		preflight := func(s *server, origin, method string) *http.Response {
			req := mustReq(http.MethodOptions, "http://"+s.s3()+"/portal/antraege/hund.txt")
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", method)
			req.Header.Set("Access-Control-Request-Headers", "content-type,x-amz-meta-az")
			return mustDo(t, req)
		}
		resp := preflight(n2, "https://buergerportal.example", "PUT")
		readBody(resp)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://buergerportal.example" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") || resp.Header.Get("Access-Control-Max-Age") != "600" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
		for _, bad := range [][2]string{{"https://evil.example", "PUT"}, {"https://buergerportal.example", "DELETE"}} {
			resp := preflight(n3, bad[0], bad[1])
			if body := readBody(resp); resp.StatusCode != 403 || !strings.Contains(body, "AccessForbidden") {
				t.Fatalf("preflight %v: %d %s", bad, resp.StatusCode, body)
			}
		}
		// The actual request carries the rule's headers, so browser code can
		// read the ETag of what it uploaded.
		if _, err := cl(n2).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("antraege/hund.txt"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		ps := s3.NewPresignClient(cl(n1))
		get, _ := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("antraege/hund.txt")})
		req := mustReq(http.MethodGet, get.URL)
		req.Header.Set("Origin", "https://buergerportal.example")
		resp = mustDo(t, req)
		readBody(resp)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://buergerportal.example" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") {
			t.Fatalf("CORS headers on GET: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("checksums-every-algorithm", func(t *testing.T) {
		data := bytes.Repeat([]byte("Gewerbeschein 2026 "), 40000)
		// The SDK computes CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 itself.
		for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
			key := aws.String("summe/" + string(alg))
			if _, err := cl(n1).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data), ChecksumAlgorithm: alg}); err != nil {
				t.Fatalf("%s: %v", alg, err)
			}
			head, err := cl(n2).HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key, ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got := map[types.ChecksumAlgorithm]*string{types.ChecksumAlgorithmCrc32: head.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: head.ChecksumCRC32C,
				types.ChecksumAlgorithmCrc64nvme: head.ChecksumCRC64NVME, types.ChecksumAlgorithmSha1: head.ChecksumSHA1, types.ChecksumAlgorithmSha256: head.ChecksumSHA256}[alg]
			if want := independentChecksum(string(alg), data); aws.ToString(got) != want {
				t.Fatalf("%s: stored %q, computed %q", alg, aws.ToString(got), want)
			}
		}
		// The newer algorithms, which the SDK cannot compute: sent as
		// headers on a signed request; a wrong value is BadDigest.
		for _, alg := range []string{"SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128"} {
			header := "x-amz-checksum-" + strings.ToLower(alg)
			code, body := signedPut(t, n3, ak, sk, "/portal/summe/"+alg, data, map[string]string{header: independentChecksum(alg, data)})
			if code != 200 {
				t.Fatalf("%s: %d %s", alg, code, body)
			}
			code, body = signedPut(t, n3, ak, sk, "/portal/summe/falsch-"+alg, data, map[string]string{header: independentChecksum(alg, []byte("anders"))})
			if code != 400 || !strings.Contains(body, "BadDigest") {
				t.Fatalf("%s with a wrong value: %d %s", alg, code, body)
			}
		}
		// FULL_OBJECT multipart: the CRC64NVME of the whole object, combined
		// from the parts' by the server, equals the one computed here.
		key := aws.String("summe/mehrteilig")
		cu, err := cl(n1).CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
		if err != nil {
			t.Fatal(err)
		}
		whole := append(bytes.Repeat([]byte("Teil eins "), 600000), []byte("und Teil zwei")...)
		var parts []types.CompletedPart
		for i, chunk := range [][]byte{whole[:5*mib], whole[5*mib:]} {
			u, err := cl(c.servers[i+1]).UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: cu.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: bytes.NewReader(chunk), ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: u.ETag, ChecksumCRC64NVME: u.ChecksumCRC64NVME})
		}
		done, err := cl(n3).CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: cu.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if err != nil {
			t.Fatal(err)
		}
		if want := independentChecksum("CRC64NVME", whole); aws.ToString(done.ChecksumCRC64NVME) != want || done.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("FULL_OBJECT CRC64NVME: %q (%s), want %q", aws.ToString(done.ChecksumCRC64NVME), done.ChecksumType, want)
		}
	})

	t.Run("ranges-at-every-boundary", func(t *testing.T) {
		data := make([]byte, 12*mib+777)
		for i := range data {
			data[i] = byte(i*7 + i>>9)
		}
		key := aws.String("grenzen.bin")
		up := cl(n1)
		cu, err := up.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		var parts []types.CompletedPart
		for i, off := 0, 0; off < len(data); i++ {
			end := min(off+5*mib, len(data))
			u, err := cl(c.servers[i%3]).UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: cu.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data[off:end])})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: u.ETag})
			off = end
		}
		if _, err := up.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			t.Fatal(err)
		}
		single := data[:3*mib+100]
		if _, err := up.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("einteilig.bin"), Body: bytes.NewReader(single)}); err != nil {
			t.Fatal(err)
		}
		for _, obj := range []struct {
			key       string
			data      []byte
			partSizes []int
		}{{*key, data, []int{5 * mib, 5 * mib, len(data) - 10*mib}}, {"einteilig.bin", single, []int{len(single)}}} {
			for _, r := range boundaryRanges(obj.partSizes) {
				want := obj.data[r[0] : r[1]+1]
				got := getBytes(t, cl(c.servers[r[0]%3]), *bucket, obj.key, fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
				if !bytes.Equal(got, want) {
					t.Fatalf("%s bytes=%d-%d: %d bytes differ", obj.key, r[0], r[1], len(got))
				}
			}
			off := 0
			for i, n := range obj.partSizes {
				out, err := cl(n3).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(obj.key), PartNumber: aws.Int32(int32(i + 1))})
				if err != nil {
					t.Fatalf("%s part %d: %v", obj.key, i+1, err)
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if !bytes.Equal(b, obj.data[off:off+n]) {
					t.Fatalf("%s part %d differs", obj.key, i+1)
				}
				off += n
			}
		}
	})
}

// boundaryRanges returns byte ranges [first, last] around every boundary
// inside an object made of parts of the given sizes: part boundaries,
// encryption package boundaries (64 KiB of plaintext), and the plaintext
// offsets where the ciphertext crosses an erasure stripe (RS(4,2) with
// 128 KiB blocks: 512 KiB of ciphertext; RS(2,2) while a site is down:
// 256 KiB) — one byte before, at, and after each, and ranges spanning them.
func boundaryRanges(partSizes []int) [][2]int {
	total := 0
	for _, n := range partSizes {
		total += n
	}
	const pkg = 1 << crypt.DefaultPackageShift
	points := map[int]bool{0: true, total: true}
	base := 0
	for _, n := range partSizes {
		points[base] = true
		for p := 0; p <= n; p += pkg {
			points[base+p] = true
		}
		// ciphertext offset of plaintext p within the part's stream
		ct := func(p int) int { return crypt.HeaderLen + p + crypt.TagLen*(p/pkg) }
		for _, stripe := range []int{4 * erasure.DefaultBlockSize, 2 * erasure.DefaultBlockSize} {
			for p := 1; p <= n; p++ {
				if ct(p)/stripe != ct(p-1)/stripe {
					points[base+p] = true
				}
			}
		}
		base += n
	}
	var out [][2]int
	add := func(a, b int) {
		if a >= 0 && b < total && a <= b {
			out = append(out, [2]int{a, b})
		}
	}
	for p := range points {
		add(p-1, p-1)    // the last byte before
		add(p, p)        // the first byte after
		add(p-100, p+99) // across
		add(p, p+pkg+16) // a package and a bit from here
	}
	add(0, total-1)
	return out
}

func getBytes(t *testing.T, cl *s3.Client, bucket, key, rng string) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := cl.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("get %s %s: %v", key, rng, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustReq(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func mustDo(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

// independentChecksum computes a checksum with the libraries directly, not
// through kcs's registry.
func independentChecksum(alg string, b []byte) string {
	var sum []byte
	switch alg {
	case "CRC32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b))
	case "CRC32C":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	case "CRC64NVME":
		sum = binary.BigEndian.AppendUint64(nil, crc64nvme.Checksum(b))
	case "SHA1":
		s := sha1.Sum(b)
		sum = s[:]
	case "SHA256":
		s := sha256.Sum256(b)
		sum = s[:]
	case "SHA512":
		s := sha512.Sum512(b)
		sum = s[:]
	case "MD5":
		s := md5.Sum(b)
		sum = s[:]
	case "XXHASH64":
		sum = binary.BigEndian.AppendUint64(nil, xxhash.Sum64(b))
	case "XXHASH3":
		sum = binary.BigEndian.AppendUint64(nil, xxh3.Hash(b))
	case "XXHASH128":
		h := xxh3.Hash128(b)
		sum = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, h.Hi), h.Lo)
	default:
		panic(alg)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

// signedPut sends a PUT signed with SigV4 (payload hash signed) carrying
// the given extra headers, as an SDK would.
func signedPut(t *testing.T, s *server, ak, sk, path string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.s3()+path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return signAndDo(t, req, ak, sk, body)
}

// signAndDo signs req with SigV4 over body's hash and sends it.
func signAndDo(t *testing.T, req *http.Request, ak, sk string, body []byte) (int, string) {
	t.Helper()
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, payload, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp := mustDo(t, req)
	return resp.StatusCode, readBody(resp)
}
