package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// getBytes reads an object through the SDK.
func (h *harness) getBytes(key testKey, bucket, objKey string) []byte {
	h.t.Helper()
	out, err := h.sdk(key).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(objKey)})
	if err != nil {
		h.t.Fatalf("GetObject %s/%s: %v", bucket, objKey, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestSDKCopyObject(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	h.mustCreateBucket(keyA, "archiv")
	h.mustCreateBucket(keyB, "kreis")
	data := testData(70<<10, 11)
	srcKey := "eingang/Antrag Müller 1+1.pdf"
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("akten"), Key: aws.String(srcKey), Body: bytes.NewReader(data),
		ContentType: aws.String("application/pdf"), Metadata: map[string]string{"aktenzeichen": "BA-17"},
		CacheControl: aws.String("no-cache"), ContentDisposition: aws.String(`attachment; filename="antrag.pdf"`),
		Tagging: aws.String("stelle=bauamt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The SDK sends CopySource as given: the caller URL-encodes it.
	source := "akten/" + url.PathEscape(srcKey)

	t.Run("COPY keeps metadata, headers and tags", func(t *testing.T) {
		for _, src := range []string{source, "/" + source, source + "?versionId=null"} {
			out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("archiv"), Key: aws.String("kopie"), CopySource: aws.String(src)})
			if err != nil {
				t.Fatalf("CopyObject %q: %v", src, err)
			}
			if got := aws.ToString(out.CopyObjectResult.ETag); got != `"`+md5Hex(data)+`"` {
				t.Errorf("CopyObjectResult ETag %s", got)
			}
			if out.CopyObjectResult.LastModified == nil || time.Since(*out.CopyObjectResult.LastModified) > time.Minute {
				t.Errorf("CopyObjectResult LastModified %v", out.CopyObjectResult.LastModified)
			}
			if !bytes.Equal(h.getBytes(keyA, "archiv", "kopie"), data) {
				t.Fatal("the copy's bytes differ")
			}
			hd, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("archiv"), Key: aws.String("kopie")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(hd.ContentType) != "application/pdf" || hd.Metadata["aktenzeichen"] != "BA-17" ||
				aws.ToString(hd.CacheControl) != "no-cache" || aws.ToString(hd.ContentDisposition) != `attachment; filename="antrag.pdf"` ||
				aws.ToInt32(hd.TagCount) != 1 {
				t.Errorf("copy lost what COPY keeps: %s %v %s %s tags %d", aws.ToString(hd.ContentType), hd.Metadata,
					aws.ToString(hd.CacheControl), aws.ToString(hd.ContentDisposition), aws.ToInt32(hd.TagCount))
			}
		}
	})
	t.Run("REPLACE takes the request's", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String("archiv"), Key: aws.String("ersetzt"), CopySource: aws.String(source),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/plain"),
			Metadata: map[string]string{"neu": "ja"}, ContentLanguage: aws.String("de"),
			TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("a=1&b=2"),
		})
		if err != nil {
			t.Fatal(err)
		}
		hd, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("archiv"), Key: aws.String("ersetzt")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(hd.ContentType) != "text/plain" || !maps.Equal(hd.Metadata, map[string]string{"neu": "ja"}) ||
			aws.ToString(hd.ContentLanguage) != "de" || aws.ToString(hd.CacheControl) != "" || aws.ToInt32(hd.TagCount) != 2 {
			t.Errorf("REPLACE: %s %v %q %q tags %d", aws.ToString(hd.ContentType), hd.Metadata, aws.ToString(hd.ContentLanguage),
				aws.ToString(hd.CacheControl), aws.ToInt32(hd.TagCount))
		}
	})
	t.Run("onto itself", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("akten"), Key: aws.String(srcKey), CopySource: aws.String(source)})
		wantAPIError(t, err, 400, "InvalidRequest")
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("akten"), Key: aws.String(srcKey), CopySource: aws.String(source),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/pdf"), Metadata: map[string]string{"geprueft": "ja"}})
		if err != nil {
			t.Fatalf("a copy onto itself that replaces the metadata: %v", err)
		}
	})
	hd, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String(srcKey)})
	if err != nil {
		t.Fatal(err)
	}
	srcETag, srcMod := aws.ToString(hd.ETag), *hd.LastModified

	// How the conditions combine is the object layer's to decide
	// (objapi/objtest's Copy/SourceConditions); these check that each
	// header reaches it and how its failure is answered.
	for _, tc := range []struct {
		name   string
		in     s3.CopyObjectInput
		status int
		code   string
	}{
		{"if-match holds", s3.CopyObjectInput{CopySourceIfMatch: aws.String(srcETag)}, 200, ""},
		{"if-match fails", s3.CopyObjectInput{CopySourceIfMatch: aws.String(`"0123"`)}, 412, "PreconditionFailed"},
		{"if-none-match fails", s3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(srcETag)}, 412, "PreconditionFailed"},
		{"if-none-match holds", s3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(`"0123"`)}, 200, ""},
		{"if-modified-since fails", s3.CopyObjectInput{CopySourceIfModifiedSince: aws.Time(srcMod.Add(time.Hour))}, 412, "PreconditionFailed"},
		{"if-modified-since holds", s3.CopyObjectInput{CopySourceIfModifiedSince: aws.Time(srcMod.Add(-time.Hour))}, 200, ""},
		{"if-unmodified-since fails", s3.CopyObjectInput{CopySourceIfUnmodifiedSince: aws.Time(srcMod.Add(-time.Hour))}, 412, "PreconditionFailed"},
		{"destination must not exist", s3.CopyObjectInput{Key: aws.String("kopie"), IfNoneMatch: aws.String("*")}, 412, "PreconditionFailed"},
		{"destination ETag", s3.CopyObjectInput{Key: aws.String("kopie"), IfMatch: aws.String(`"0123"`)}, 412, "PreconditionFailed"},
		{"no such source", s3.CopyObjectInput{CopySource: aws.String("akten/fehlt")}, 404, "NoSuchKey"},
		{"no such source bucket", s3.CopyObjectInput{CopySource: aws.String("gibt-es-nicht/k")}, 404, "NoSuchBucket"},
		{"another tenant's source", s3.CopyObjectInput{CopySource: aws.String("kreis/k")}, 403, "AccessDenied"},
		{"into another tenant's bucket", s3.CopyObjectInput{Bucket: aws.String("kreis")}, 403, "AccessDenied"},
		{"unknown directive", s3.CopyObjectInput{MetadataDirective: "MERGE"}, 400, "InvalidArgument"},
		{"bad tagging", s3.CopyObjectInput{TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("a=1&a=2")}, 400, "InvalidTag"},
		{"another version", s3.CopyObjectInput{CopySource: aws.String(source + "?versionId=abc")}, 404, "NoSuchVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Bucket = cmpOr(in.Bucket, aws.String("archiv"))
			in.Key = cmpOr(in.Key, aws.String("bedingt"))
			in.CopySource = cmpOr(in.CopySource, aws.String(source))
			_, err := c.CopyObject(ctx, &in)
			if tc.status == 200 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantAPIError(t, err, tc.status, tc.code)
		})
	}
}

func cmpOr(a, b *string) *string {
	if a != nil {
		return a
	}
	return b
}

func TestRawCopySource(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "a b/ä?x", []byte("inhalt"))
	for _, tc := range []struct {
		source string
		status int
		code   string
	}{
		{"akten/a%20b/%C3%A4%3Fx", 200, ""},
		{"/akten/a%20b/%C3%A4%3Fx?versionId=null", 200, ""},
		{"", 0, ""}, // no copy source: a PutObject
		{"akten", 400, "InvalidArgument"},
		{"akten/", 400, "InvalidArgument"},
		{"/akten", 400, "InvalidArgument"},
		{"//k", 400, "InvalidArgument"},
		{"akten/%zz", 400, "InvalidArgument"},
		{"akten/%FF", 400, "InvalidArgument"},
		{"akten/k?partNumber=1", 400, "InvalidArgument"},
		{"akten/a%20b/%C3%A4%3Fx?versionId=v1", 404, "NoSuchVersion"},
		{"akten/k?versionId=", 400, "InvalidArgument"},
		{"akten/" + strings.Repeat("k", 1025), 400, "KeyTooLongError"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			if tc.status == 0 {
				return
			}
			resp := h.do(rawReq{method: "PUT", path: "/akten/kopie", header: map[string]string{"X-Amz-Copy-Source": tc.source}})
			if tc.status == 200 {
				if resp.StatusCode != 200 || !bytes.Contains(resp.body, []byte("<CopyObjectResult")) {
					t.Fatalf("%d %s", resp.StatusCode, resp.body)
				}
				return
			}
			h.wantError(resp, tc.status, tc.code)
		})
	}
	if got := h.getBytes(keyA, "akten", "kopie"); string(got) != "inhalt" {
		t.Errorf("copy holds %q", got)
	}
}

func TestSDKUploadPartCopy(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	big := testData(10<<20+4321, 12)
	small := testData(1000, 13)
	h.mustPut(keyA, "akten", "gross", big)
	h.mustPut(keyA, "akten", "klein", small)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("zusammen")})
	if err != nil {
		t.Fatal(err)
	}
	half := 5 << 20
	var parts []types.CompletedPart
	for i, tc := range []struct {
		source, rng string
		want        []byte
	}{
		{"akten/gross", fmt.Sprintf("bytes=0-%d", half-1), big[:half]},
		{"akten/gross", fmt.Sprintf("bytes=%d-%d", half, len(big)-1), big[half:]},
		{"/akten/klein", "", small},
	} {
		in := &s3.UploadPartCopyInput{Bucket: aws.String("akten"), Key: aws.String("zusammen"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(tc.source)}
		if tc.rng != "" {
			in.CopySourceRange = aws.String(tc.rng)
		}
		out, err := c.UploadPartCopy(ctx, in)
		if err != nil {
			t.Fatalf("UploadPartCopy %d: %v", i+1, err)
		}
		if got := aws.ToString(out.CopyPartResult.ETag); got != `"`+md5Hex(tc.want)+`"` {
			t.Errorf("part %d ETag %s, want the MD5 of the range", i+1, got)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	for _, tc := range []struct {
		name, source, rng, ifMatch string
		status                     int
		code, msg                  string
	}{
		{"range beyond the source", "akten/klein", "bytes=500-1000", "", 400, "InvalidArgument", "Range specified is not valid for source object of size: 1000"},
		{"open range", "akten/klein", "bytes=500-", "", 400, "InvalidArgument", ""},
		{"suffix range", "akten/klein", "bytes=-5", "", 400, "InvalidArgument", ""},
		{"reversed range", "akten/klein", "bytes=5-4", "", 400, "InvalidArgument", ""},
		{"condition", "akten/klein", "", `"0123"`, 412, "PreconditionFailed", ""},
		{"no such source", "akten/fehlt", "", "", 404, "NoSuchKey", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &s3.UploadPartCopyInput{Bucket: aws.String("akten"), Key: aws.String("zusammen"), UploadId: up.UploadId,
				PartNumber: aws.Int32(9), CopySource: aws.String(tc.source)}
			if tc.rng != "" {
				in.CopySourceRange = aws.String(tc.rng)
			}
			if tc.ifMatch != "" {
				in.CopySourceIfMatch = aws.String(tc.ifMatch)
			}
			_, err := c.UploadPartCopy(ctx, in)
			wantAPIError(t, err, tc.status, tc.code)
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message: %v", err)
			}
		})
	}
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("akten"), Key: aws.String("zusammen"), UploadId: aws.String("nope"),
		PartNumber: aws.Int32(1), CopySource: aws.String("akten/klein")})
	wantAPIError(t, err, 404, "NoSuchUpload")

	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("zusammen"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, big...), small...)
	if !bytes.Equal(h.getBytes(keyA, "akten", "zusammen"), want) {
		t.Fatal("the object made of copied parts differs")
	}
}
