// The transfer manager in feature/s3/manager is deprecated in favour of
// feature/s3/transfermanager, but it is what existing applications use, so
// it is what these tests drive.
//
//lint:file-ignore SA1019 testing against the manager applications use today

package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestSDKMultipart uploads with the transfer manager (multipart, parts in
// parallel) and downloads with it (ranged GETs in parallel).
func TestSDKMultipart(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		data := testData(12<<20+12345, 9) // three parts of 5 MiB, 5 MiB, rest

		up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 3 })
		res, err := up.Upload(ctx, &s3.PutObjectInput{
			Bucket: aws.String("akten"), Key: aws.String("scan/gross.tiff"), Body: bytes.NewReader(data),
			ContentType: aws.String("image/tiff"), Metadata: map[string]string{"seiten": "120"},
		})
		if err != nil {
			t.Fatalf("manager upload: %v", err)
		}
		var md5s []byte
		for off := 0; off < len(data); off += 5 << 20 {
			s := md5.Sum(data[off:min(off+5<<20, len(data))])
			md5s = append(md5s, s[:]...)
		}
		all := md5.Sum(md5s)
		wantETag := `"` + hex.EncodeToString(all[:]) + `-3"`
		if aws.ToString(res.ETag) != wantETag {
			t.Errorf("multipart ETag %s, want %s", aws.ToString(res.ETag), wantETag)
		}
		if !strings.HasSuffix(res.Location, "/akten/scan/gross.tiff") {
			t.Errorf("Location %q", res.Location)
		}

		dl := manager.NewDownloader(c, func(d *manager.Downloader) { d.PartSize = 2 << 20; d.Concurrency = 4 })
		buf := manager.NewWriteAtBuffer(nil)
		n, err := dl.Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("scan/gross.tiff")})
		if err != nil {
			t.Fatalf("manager download: %v", err)
		}
		if n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("ranged download: %d bytes, want %d identical", n, len(data))
		}

		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("scan/gross.tiff")})
		if err != nil || aws.ToString(head.ContentType) != "image/tiff" || head.Metadata["seiten"] != "120" {
			t.Errorf("HEAD after multipart: %v %v %v", aws.ToString(head.ContentType), head.Metadata, err)
		}

		// An empty object: the downloader's first range gets 416 and it
		// knows the object is empty.
		h.mustPut(keyA, "akten", "leer", nil)
		buf = manager.NewWriteAtBuffer(nil)
		if n, err := dl.Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("leer")}); err != nil || n != 0 {
			t.Errorf("download of an empty object: %d bytes, %v", n, err)
		}

		// One part by number.
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("scan/gross.tiff"), PartNumber: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(get.Body)
		get.Body.Close()
		if !bytes.Equal(part, data[5<<20:10<<20]) || aws.ToInt32(get.PartsCount) != 3 ||
			aws.ToString(get.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", 5<<20, 10<<20-1, len(data)) {
			t.Errorf("part 2: %d bytes, PartsCount %d, Content-Range %q", len(part), aws.ToInt32(get.PartsCount), aws.ToString(get.ContentRange))
		}
	})
}
