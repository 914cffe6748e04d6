package s3api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// What the SDKs see where S3's answers are subtle (issue 15): metadata
// names as stored, the parts of an object and their checksums, part reads
// with the part's checksum, a retried completion, and a bucket deleted
// with its uploads. cmd/kcs's TestE2EBoto3Fidelity checks the same with
// boto3 against a real cluster.

// multipartObject uploads parts with alg checksums (of type typ) to
// akten/key, completes it and returns the parts as completed.
func multipartObject(t *testing.T, c *s3.Client, key string, alg types.ChecksumAlgorithm, typ types.ChecksumType, parts [][]byte) (*string, []types.CompletedPart, *s3.CompleteMultipartUploadOutput) {
	t.Helper()
	ctx := context.Background()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String(key),
		ChecksumAlgorithm: alg, ChecksumType: typ})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
	}
	out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	return up.UploadId, done, out
}

func TestSDKObjectParts(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	data := testData(10<<20+999, 33)
	parts := splitParts(data, 5<<20)
	b64 := func(alg string, p []byte) string { return base64.StdEncoding.EncodeToString(digest(t, alg, p)) }
	multipartObject(t, c, "composite", types.ChecksumAlgorithmCrc32, "", parts)
	multipartObject(t, c, "full", types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject, parts)

	t.Run("GetObjectAttributes", func(t *testing.T) {
		at, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("akten"), Key: aws.String("composite"),
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesChecksum}})
		if err != nil {
			t.Fatal(err)
		}
		op := at.ObjectParts
		if op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || len(op.Parts) != 3 || aws.ToBool(op.IsTruncated) ||
			aws.ToInt32(op.MaxParts) != 1000 || aws.ToString(op.PartNumberMarker) != "0" || aws.ToString(op.NextPartNumberMarker) != "3" {
			t.Fatalf("ObjectParts %+v", op)
		}
		for i, p := range op.Parts {
			if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToInt64(p.Size) != int64(len(parts[i])) || aws.ToString(p.ChecksumCRC32) != b64("CRC32", parts[i]) {
				t.Errorf("part %d: %d, %d bytes, CRC32 %q", i+1, aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), aws.ToString(p.ChecksumCRC32))
			}
		}
		// The object's COMPOSITE checksum without its "-N".
		want, _, _ := strings.Cut(composite(t, "CRC32", parts), "-")
		if at.Checksum == nil || aws.ToString(at.Checksum.ChecksumCRC32) != want || at.Checksum.ChecksumType != types.ChecksumTypeComposite {
			t.Errorf("Checksum %+v, want %s", at.Checksum, want)
		}
		// A page at a time.
		at, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("akten"), Key: aws.String("composite"),
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}, MaxParts: aws.Int32(1), PartNumberMarker: aws.String("1")})
		if err != nil {
			t.Fatal(err)
		}
		if op := at.ObjectParts; len(op.Parts) != 1 || aws.ToInt32(op.Parts[0].PartNumber) != 2 || !aws.ToBool(op.IsTruncated) ||
			aws.ToString(op.NextPartNumberMarker) != "2" || aws.ToString(op.PartNumberMarker) != "1" || aws.ToInt32(op.MaxParts) != 1 {
			t.Errorf("the second page: %+v", op)
		}
		// A FULL_OBJECT object: the count alone, as S3 gives it.
		at, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("akten"), Key: aws.String("full"),
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}})
		if err != nil {
			t.Fatal(err)
		}
		if op := at.ObjectParts; op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || len(op.Parts) != 0 || op.MaxParts != nil {
			t.Errorf("a FULL_OBJECT object's parts: %+v", op)
		}
		resp := h.do(rawReq{method: "GET", path: "/akten/composite", query: "attributes",
			header: map[string]string{"X-Amz-Object-Attributes": "ObjectParts", "X-Amz-Max-Parts": "zwei"}})
		h.wantError(resp, 400, "InvalidArgument")
	})

	t.Run("part reads", func(t *testing.T) {
		for n, p := range parts {
			// The SDK checks the part's body against the part's checksum.
			get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("composite"),
				PartNumber: aws.Int32(int32(n + 1)), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(get.Body)
			get.Body.Close()
			if err != nil || !bytes.Equal(got, p) || aws.ToString(get.ChecksumCRC32) != b64("CRC32", p) || get.ChecksumType != types.ChecksumTypeComposite {
				t.Errorf("part %d: %d bytes (%v), CRC32 %q %q", n+1, len(got), err, aws.ToString(get.ChecksumCRC32), get.ChecksumType)
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("composite"),
				PartNumber: aws.Int32(int32(n + 1)), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || aws.ToString(head.ChecksumCRC32) != b64("CRC32", p) || head.ChecksumType != types.ChecksumTypeComposite {
				t.Errorf("HEAD part %d: %v, CRC32 %q %q", n+1, err, aws.ToString(head.ChecksumCRC32), head.ChecksumType)
			}
		}
		// Without checksum mode, none.
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("composite"), PartNumber: aws.Int32(1)})
		if err != nil || head.ChecksumCRC32 != nil || head.ChecksumType != "" {
			t.Errorf("HEAD part without checksum mode: %v, %+v", err, head)
		}
		// A part of a FULL_OBJECT object: S3 keeps no checksum to send.
		head, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("full"), PartNumber: aws.Int32(1),
			ChecksumMode: types.ChecksumModeEnabled})
		if err != nil || head.ChecksumCRC64NVME != nil || head.ChecksumType != "" {
			t.Errorf("HEAD part of a FULL_OBJECT object: %v, %+v", err, head)
		}
	})
}

// A CompleteMultipartUpload retried after it succeeded is answered 200
// with the same ETag and checksum; one listing other parts is not.
func TestSDKCompleteRetried(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	parts := splitParts(testData(5<<20+10, 34), 5<<20)
	id, done, first := multipartObject(t, c, "k", types.ChecksumAlgorithmCrc32, "", parts)
	again, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k"),
		UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.ETag) != aws.ToString(first.ETag) || aws.ToString(again.ChecksumCRC32) != aws.ToString(first.ChecksumCRC32) ||
		again.ChecksumType != first.ChecksumType {
		t.Errorf("the retry answers %s %s %s, the completion %s %s %s", aws.ToString(again.ETag), aws.ToString(again.ChecksumCRC32), again.ChecksumType,
			aws.ToString(first.ETag), aws.ToString(first.ChecksumCRC32), first.ChecksumType)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("k"),
		UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: done[:1]}})
	wantAPIError(t, err, 404, "NoSuchUpload")
}

// DeleteBucket of a bucket whose only content is uploads in progress
// deletes it and aborts them, as S3 does.
func TestSDKDeleteBucketWithUploads(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("halb")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	h.mustCreateBucket(keyA, "akten")
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("akten"), Key: aws.String("halb"), UploadId: up.UploadId})
	wantAPIError(t, err, 404, "NoSuchUpload")
}

// User metadata names come back in lower case as stored, not as net/http
// would canonicalise them: on the wire, not just as the SDK reads them.
func TestUserMetaNamesOnTheWire(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.do(rawReq{method: "PUT", path: "/akten/k", body: []byte("x"), header: map[string]string{"X-Amz-Meta-Aktenzeichen": "az-17"}})
	req := h.newRequest(rawReq{method: "HEAD", path: "/akten/k"})
	conn, err := h.srv.Client().Transport.(*http.Transport).DialContext(context.Background(), "tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	var head strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
		head.WriteString(line)
	}
	if !strings.Contains(head.String(), "\r\nx-amz-meta-aktenzeichen: az-17\r\n") {
		t.Errorf("the response's header:\n%s", head.String())
	}
}
