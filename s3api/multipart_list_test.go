package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestSDKListParts(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("teile"),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		type sent struct {
			etag, crc string
			size      int64
		}
		want := map[int32]sent{}
		for _, n := range []int32{7, 1, 3, 2, 9} {
			data := testData(1000+int(n), byte(n))
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String("teile"), UploadId: up.UploadId,
				PartNumber: aws.Int32(n), Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.ChecksumCRC32) == "" {
				t.Errorf("part %d: UploadPart did not echo its CRC32", n)
			}
			want[n] = sent{aws.ToString(out.ETag), aws.ToString(out.ChecksumCRC32), int64(len(data))}
		}
		var numbers []int32
		var markers []string
		p := s3.NewListPartsPaginator(c, &s3.ListPartsInput{Bucket: aws.String("akten"), Key: aws.String("teile"), UploadId: up.UploadId, MaxParts: aws.Int32(2)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			markers = append(markers, aws.ToString(page.PartNumberMarker)+">"+aws.ToString(page.NextPartNumberMarker))
			if page.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 || page.ChecksumType != types.ChecksumTypeComposite ||
				aws.ToString(page.Owner.ID) != keyA.tenant || aws.ToInt32(page.MaxParts) != 2 || page.StorageClass != types.StorageClassStandard {
				t.Errorf("page %+v", page)
			}
			for _, part := range page.Parts {
				n := aws.ToInt32(part.PartNumber)
				numbers = append(numbers, n)
				w := want[n]
				if aws.ToString(part.ETag) != w.etag || aws.ToInt64(part.Size) != w.size || aws.ToString(part.ChecksumCRC32) != w.crc || part.LastModified == nil {
					t.Errorf("part %d: %s %d %s, want %+v", n, aws.ToString(part.ETag), aws.ToInt64(part.Size), aws.ToString(part.ChecksumCRC32), w)
				}
			}
		}
		if !slices.Equal(numbers, []int32{1, 2, 3, 7, 9}) {
			t.Errorf("listed parts %v", numbers)
		}
		if want := []string{"0>2", "2>7", "7>9"}; !slices.Equal(markers, want) {
			t.Errorf("markers %v, want %v", markers, want)
		}

		_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("akten"), Key: aws.String("teile"), UploadId: aws.String("nope")})
		wantAPIError(t, err, 404, "NoSuchUpload")
		_, err = h.sdk(keyB).ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("akten"), Key: aws.String("teile"), UploadId: up.UploadId})
		wantAPIError(t, err, 403, "AccessDenied")
		for _, q := range []string{"max-parts=viele", "max-parts=-1", "part-number-marker=x", "part-number-marker=-3"} {
			resp := h.do(rawReq{method: "GET", path: "/akten/teile", query: "uploadId=" + aws.ToString(up.UploadId) + "&" + q})
			h.wantError(resp, 400, "InvalidArgument")
		}
		resp := h.do(rawReq{method: "GET", path: "/akten/teile", query: "uploadId=" + aws.ToString(up.UploadId) + "&max-parts=0"})
		var doc struct {
			IsTruncated bool
			Parts       []struct{ PartNumber int } `xml:"Part"`
		}
		if err := xml.Unmarshal(resp.body, &doc); err != nil || resp.StatusCode != 200 || !doc.IsTruncated || len(doc.Parts) != 0 {
			t.Errorf("max-parts=0: %d %+v %v", resp.StatusCode, doc, err)
		}
	})
}

func TestSDKListMultipartUploads(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	type upload struct{ key, id string }
	var all []upload
	for _, k := range []string{"b/2", "a/1", "b/2", "c", "a/2", "b/1", "d e+f"} {
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, upload{k, aws.ToString(out.UploadId)})
	}
	// By key, then by initiation.
	slices.SortStableFunc(all, func(x, y upload) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return 0
	})

	for _, pageSize := range []int32{1, 2, 3, 1000} {
		t.Run(fmt.Sprint("page size ", pageSize), func(t *testing.T) {
			var got []upload
			in := &s3.ListMultipartUploadsInput{Bucket: aws.String("akten"), MaxUploads: aws.Int32(pageSize)}
			for range 20 {
				page, err := c.ListMultipartUploads(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range page.Uploads {
					got = append(got, upload{aws.ToString(u.Key), aws.ToString(u.UploadId)})
					if u.Initiated == nil || aws.ToString(u.Owner.ID) != keyA.tenant || aws.ToString(u.Initiator.ID) != keyA.tenant || u.StorageClass != types.StorageClassStandard {
						t.Errorf("upload %+v", u)
					}
				}
				if !aws.ToBool(page.IsTruncated) {
					break
				}
				in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
			}
			if !slices.Equal(got, all) {
				t.Errorf("listed\n%v\nwant\n%v", got, all)
			}
		})
	}

	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("akten"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes, keys []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	if !slices.Equal(prefixes, []string{"a/", "b/"}) || !slices.Equal(keys, []string{"c", "d e+f"}) || aws.ToString(out.Delimiter) != "/" {
		t.Errorf("with delimiter: prefixes %v, keys %v", prefixes, keys)
	}
	out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("akten"), Prefix: aws.String("b/")})
	if err != nil || len(out.Uploads) != 3 || aws.ToString(out.Prefix) != "b/" {
		t.Errorf("with prefix: %d uploads, %v", len(out.Uploads), err)
	}

	// encoding-type=url encodes keys, prefixes and markers.
	resp := h.do(rawReq{method: "GET", path: "/akten", query: "uploads&encoding-type=url&prefix=d%20"})
	if resp.StatusCode != 200 || !bytes.Contains(resp.body, []byte("<Key>d+e%2Bf</Key>")) ||
		!bytes.Contains(resp.body, []byte("<Prefix>d+</Prefix>")) || !bytes.Contains(resp.body, []byte("<EncodingType>url</EncodingType>")) {
		t.Errorf("encoding-type=url: %s", resp.body)
	}
	for _, q := range []string{"uploads&max-uploads=x", "uploads&max-uploads=-1", "uploads&encoding-type=base64"} {
		h.wantError(h.do(rawReq{method: "GET", path: "/akten", query: q}), 400, "InvalidArgument")
	}
	_, err = h.sdk(keyB).ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("akten")})
	wantAPIError(t, err, 403, "AccessDenied")

	// minio-go finds and removes leftover uploads through these listings.
	mc := h.minio(keyA)
	var found []string
	for u := range mc.ListIncompleteUploads(ctx, "akten", "b/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		found = append(found, u.Key)
	}
	if !slices.Equal(found, []string{"b/1", "b/2", "b/2"}) {
		t.Errorf("minio-go ListIncompleteUploads: %v", found)
	}
	if err := mc.RemoveIncompleteUpload(ctx, "akten", "b/2"); err != nil {
		t.Fatal(err)
	}
	out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("akten"), Prefix: aws.String("b/")})
	if err != nil || len(out.Uploads) != 1 {
		t.Errorf("after RemoveIncompleteUpload: %d uploads, %v", len(out.Uploads), err)
	}
}
