//lint:file-ignore SA1019 testing against the transfer manager applications use today

package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// digest computes checksum alg of data.
func digest(t *testing.T, alg string, data []byte) []byte {
	t.Helper()
	h, err := sigv4.NewChecksum(alg)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(data)
	return h.Sum(nil)
}

// composite is S3's COMPOSITE checksum of parts: the checksum of the
// parts' checksums, "-N".
func composite(t *testing.T, alg string, parts [][]byte) string {
	var sums []byte
	for _, p := range parts {
		sums = append(sums, digest(t, alg, p)...)
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(digest(t, alg, sums)), len(parts))
}

func splitParts(data []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(data); off += size {
		out = append(out, data[off:min(off+size, len(data))])
	}
	return out
}

// TestSDKMultipartChecksumComposite: the transfer manager uploads with a
// CRC32 per part; the object's checksum is the COMPOSITE "-N" value, and
// GET and HEAD with checksum mode return it as stored.
func TestSDKMultipartChecksumComposite(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		data := testData(11<<20+777, 31)
		up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 2 })
		res, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("gross"), Body: bytes.NewReader(data),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		want := composite(t, "CRC32", splitParts(data, 5<<20))
		if aws.ToString(res.ChecksumCRC32) != want || res.ChecksumType != types.ChecksumTypeComposite {
			t.Errorf("complete: CRC32 %q type %q, want %q COMPOSITE", aws.ToString(res.ChecksumCRC32), res.ChecksumType, want)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("gross"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(head.ChecksumCRC32) != want || head.ChecksumType != types.ChecksumTypeComposite {
			t.Errorf("HEAD: CRC32 %q type %q", aws.ToString(head.ChecksumCRC32), head.ChecksumType)
		}
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("gross"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(get.Body)
		get.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET: %d bytes, %v", len(got), err)
		}
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten")})
		if err != nil || len(list.Contents) != 1 || list.Contents[0].ChecksumType != types.ChecksumTypeComposite ||
			len(list.Contents[0].ChecksumAlgorithm) != 1 || list.Contents[0].ChecksumAlgorithm[0] != types.ChecksumAlgorithmCrc32 {
			t.Errorf("listing: %+v, %v", list.Contents, err)
		}
	})
}

// TestSDKMultipartChecksumModes drives CreateMultipartUpload, UploadPart
// and CompleteMultipartUpload directly: SHA256 COMPOSITE and CRC64NVME
// FULL_OBJECT, whose whole-object value the SDK then checks on GET.
func TestSDKMultipartChecksumModes(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	data := testData(10<<20+999, 32)
	parts := splitParts(data, 5<<20)
	fullCRC := base64.StdEncoding.EncodeToString(digest(t, "CRC64NVME", data))

	upload := func(t *testing.T, key string, alg types.ChecksumAlgorithm, typ types.ChecksumType) (*string, []types.CompletedPart) {
		t.Helper()
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String(key),
			ChecksumAlgorithm: alg, ChecksumType: typ})
		if err != nil {
			t.Fatal(err)
		}
		wantType := typ
		if wantType == "" {
			wantType = types.ChecksumTypeComposite
		}
		if up.ChecksumAlgorithm != alg || up.ChecksumType != wantType {
			t.Errorf("CreateMultipartUpload answered %q %q", up.ChecksumAlgorithm, up.ChecksumType)
		}
		var done []types.CompletedPart
		for i, p := range parts {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String(key), UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
				ChecksumSHA256: out.ChecksumSHA256, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
		}
		return up.UploadId, done
	}

	t.Run("SHA256 COMPOSITE", func(t *testing.T) {
		id, done := upload(t, "sha", types.ChecksumAlgorithmSha256, "")
		out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("sha"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		if err != nil {
			t.Fatal(err)
		}
		if want := composite(t, "SHA256", parts); aws.ToString(out.ChecksumSHA256) != want || out.ChecksumType != types.ChecksumTypeComposite {
			t.Errorf("SHA256 %q %q, want %q", aws.ToString(out.ChecksumSHA256), out.ChecksumType, want)
		}
	})
	t.Run("CRC64NVME FULL_OBJECT", func(t *testing.T) {
		id, done := upload(t, "crc", types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject)
		// A wrong whole-object value refuses the upload and keeps it open.
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("crc"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}, ChecksumType: types.ChecksumTypeFullObject,
			ChecksumCRC64NVME: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 8)))})
		wantAPIError(t, err, 400, "BadDigest")
		// So does the wrong mode.
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("crc"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}, ChecksumType: types.ChecksumTypeComposite})
		wantAPIError(t, err, 400, "InvalidRequest")
		// And a part checksum that is not the part's.
		bad := append([]types.CompletedPart{}, done...)
		bad[0].ChecksumCRC64NVME = bad[1].ChecksumCRC64NVME
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("crc"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
		wantAPIError(t, err, 400, "InvalidPart")

		out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("crc"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}, ChecksumType: types.ChecksumTypeFullObject, ChecksumCRC64NVME: aws.String(fullCRC)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ChecksumCRC64NVME) != fullCRC || out.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("CRC64NVME %q %q, want %q FULL_OBJECT", aws.ToString(out.ChecksumCRC64NVME), out.ChecksumType, fullCRC)
		}
		// The SDK validates a full-object checksum against the body.
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("crc"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(get.Body)
		get.Body.Close()
		if err != nil || !bytes.Equal(got, data) || aws.ToString(get.ChecksumCRC64NVME) != fullCRC || get.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("GET: %d bytes, %v, CRC64NVME %q %q", len(got), err, aws.ToString(get.ChecksumCRC64NVME), get.ChecksumType)
		}
	})
	t.Run("part without the upload's checksum", func(t *testing.T) {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("ohne"),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
		if err != nil {
			t.Fatal(err)
		}
		resp := h.do(rawReq{method: "PUT", path: "/akten/ohne", query: "partNumber=1&uploadId=" + aws.ToString(up.UploadId), body: []byte("teil")})
		h.wantError(resp, 400, "InvalidRequest")
	})
}

func TestRawChecksumHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	for _, tc := range []struct {
		name       string
		header     map[string]string
		status     int
		code       string
		alg, mode  string // answered on success
		msgContain string
	}{
		{"CRC32 default", map[string]string{"X-Amz-Checksum-Algorithm": "crc32"}, 200, "", "CRC32", "COMPOSITE", ""},
		{"CRC64NVME default", map[string]string{"X-Amz-Checksum-Algorithm": "CRC64NVME"}, 200, "", "CRC64NVME", "FULL_OBJECT", ""},
		{"CRC32C full object", map[string]string{"X-Amz-Checksum-Algorithm": "CRC32C", "X-Amz-Checksum-Type": "FULL_OBJECT"}, 200, "", "CRC32C", "FULL_OBJECT", ""},
		{"SHA256 full object", map[string]string{"X-Amz-Checksum-Algorithm": "SHA256", "X-Amz-Checksum-Type": "FULL_OBJECT"}, 400, "InvalidRequest", "", "",
			"The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."},
		{"CRC64NVME composite", map[string]string{"X-Amz-Checksum-Algorithm": "CRC64NVME", "X-Amz-Checksum-Type": "COMPOSITE"}, 400, "InvalidRequest", "", "", ""},
		{"type without algorithm", map[string]string{"X-Amz-Checksum-Type": "COMPOSITE"}, 400, "InvalidRequest", "", "", ""},
		{"unknown type", map[string]string{"X-Amz-Checksum-Algorithm": "CRC32", "X-Amz-Checksum-Type": "HALF"}, 400, "InvalidRequest", "", "", ""},
		{"unknown algorithm", map[string]string{"X-Amz-Checksum-Algorithm": "ADLER32"}, 400, "InvalidRequest", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(rawReq{method: "POST", path: "/akten/k", query: "uploads", header: tc.header})
			if tc.status != 200 {
				doc := h.wantError(resp, tc.status, tc.code)
				if !strings.Contains(doc.Message, tc.msgContain) {
					t.Errorf("message %q", doc.Message)
				}
				return
			}
			if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Checksum-Algorithm") != tc.alg || resp.Header.Get("X-Amz-Checksum-Type") != tc.mode {
				t.Errorf("%d, algorithm %q type %q", resp.StatusCode, resp.Header.Get("X-Amz-Checksum-Algorithm"), resp.Header.Get("X-Amz-Checksum-Type"))
			}
		})
	}
	// Whole-object values on CompleteMultipartUpload are checked for form,
	// not against the XML body.
	for _, v := range []string{"nicht base64", "AAAAAA==-0", "AAAAAA==-x", "AAAA"} {
		resp := h.do(rawReq{method: "POST", path: "/akten/k", query: "uploadId=x", header: map[string]string{"X-Amz-Checksum-Crc32": v},
			body: []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`)})
		h.wantError(resp, 400, "InvalidRequest")
	}
	// A part's checksum in the body is checked for form too, once the
	// upload is found.
	up, err := h.sdk(keyA).CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	resp := h.do(rawReq{method: "POST", path: "/akten/k", query: "uploadId=" + url.QueryEscape(aws.ToString(up.UploadId)), header: map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA==-2"},
		body: []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag><ChecksumCRC32>kaputt</ChecksumCRC32></Part></CompleteMultipartUpload>`)})
	h.wantError(resp, 400, "InvalidRequest")
	resp = h.do(rawReq{method: "POST", path: "/akten/k", query: "uploadId=x", header: map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA==-2"},
		body: []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`)})
	h.wantError(resp, 404, "NoSuchUpload")
}
