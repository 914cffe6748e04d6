package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// These tests drive the Server with aws-sdk-go-v2, as municipal
// applications do, and check what users rely on.

func TestSDKBuckets(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		a, b := h.sdk(keyA), h.sdk(keyB)

		h.mustCreateBucket(keyA, "akten")
		h.mustCreateBucket(keyA, "bauantraege")
		h.mustCreateBucket(keyB, "hundesteuer")

		if _, err := a.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("akten")}); err != nil {
			t.Fatalf("HeadBucket: %v", err)
		}
		out, err := a.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, bk := range out.Buckets {
			names = append(names, aws.ToString(bk.Name))
			if bk.CreationDate == nil || time.Since(*bk.CreationDate) > time.Minute {
				t.Errorf("bucket %s: CreationDate %v", aws.ToString(bk.Name), bk.CreationDate)
			}
		}
		if want := []string{"akten", "bauantraege"}; !slices.Equal(names, want) {
			t.Errorf("tenant A lists %v, want %v (never another tenant's)", names, want)
		}
		if aws.ToString(out.Owner.ID) != keyA.tenant {
			t.Errorf("owner %q, want %q", aws.ToString(out.Owner.ID), keyA.tenant)
		}
		// A second key of the same tenant sees the same buckets.
		out2, err := h.sdk(keyA2).ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil || len(out2.Buckets) != 2 {
			t.Errorf("second key of tenant A: %d buckets, %v", len(out2.Buckets), err)
		}

		loc, err := a.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("akten")})
		if err != nil {
			t.Fatal(err)
		}
		if string(loc.LocationConstraint) != testRegion {
			t.Errorf("location %q, want %q", loc.LocationConstraint, testRegion)
		}

		for _, tc := range []struct {
			name   string
			call   func() error
			status int
			code   string
		}{
			{"create own bucket again", func() error {
				_, err := a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")})
				return err
			}, 409, "BucketAlreadyOwnedByYou"},
			{"create another tenant's bucket", func() error {
				_, err := b.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")})
				return err
			}, 409, "BucketAlreadyExists"},
			{"invalid bucket name", func() error {
				_, err := a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Gross_Und_Klein")})
				return err
			}, 400, "InvalidBucketName"},
			{"location constraint of another region", func() error {
				_, err := a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("woanders"),
					CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintApSouth1}})
				return err
			}, 400, "IllegalLocationConstraintException"},
			{"list another tenant's bucket", func() error {
				_, err := b.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten")})
				return err
			}, 403, "AccessDenied"},
			{"put into another tenant's bucket", func() error {
				_, err := b.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("x"), Body: strings.NewReader("x")})
				return err
			}, 403, "AccessDenied"},
			{"delete another tenant's bucket", func() error {
				_, err := b.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("akten")})
				return err
			}, 403, "AccessDenied"},
			{"no such bucket", func() error {
				_, err := a.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("gibt-es-nicht")})
				return err
			}, 404, "NoSuchBucket"},
			// HEAD errors have no body: the SDK names them by status.
			{"head missing bucket", func() error {
				_, err := a.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("gibt-es-nicht")})
				return err
			}, 404, "NotFound"},
			{"head another tenant's bucket", func() error {
				_, err := b.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("akten")})
				return err
			}, 403, "Forbidden"},
		} {
			t.Run(tc.name, func(t *testing.T) { wantAPIError(t, tc.call(), tc.status, tc.code) })
		}

		h.mustPut(keyA, "akten", "antrag.pdf", []byte("%PDF"))
		_, err = a.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("akten")})
		wantAPIError(t, err, 409, "BucketNotEmpty")
		if _, err := a.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("akten"), Key: aws.String("antrag.pdf")}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("akten")}); err != nil {
			t.Fatalf("DeleteBucket of an empty bucket: %v", err)
		}
		_, err = a.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("akten")})
		wantAPIError(t, err, 404, "NotFound")
	})
}

func TestSDKGetBucketLocationUSEast1(t *testing.T) {
	h := newHarness(t, harnessOpts{region: "us-east-1"})
	h.mustCreateBucket(keyA, "akten")
	loc, err := h.sdk(keyA).GetBucketLocation(context.Background(), &s3.GetBucketLocationInput{Bucket: aws.String("akten")})
	if err != nil {
		t.Fatal(err)
	}
	if loc.LocationConstraint != "" {
		t.Errorf("us-east-1: LocationConstraint %q, want empty as S3 answers", loc.LocationConstraint)
	}
}

// In us-east-1 S3 answers 200 to re-creating one's own bucket; another
// tenant's bucket stays 409, and so does a re-create that asks for
// object lock.
func TestSDKCreateOwnBucketAgainUSEast1(t *testing.T) {
	h := newHarness(t, harnessOpts{region: "us-east-1"})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	if _, err := h.sdk(keyA).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sdk(keyA).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatalf("re-create own bucket in us-east-1: %v", err)
	}
	if _, err := h.sdk(keyA).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("k")}); err != nil {
		t.Fatalf("the bucket's object after the re-create: %v", err)
	}
	_, err := h.sdk(keyA).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten"), ObjectLockEnabledForBucket: aws.Bool(true)})
	wantAPIError(t, err, 409, "BucketAlreadyOwnedByYou")
	_, err = h.sdk(keyB).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")})
	wantAPIError(t, err, 409, "BucketAlreadyExists")
}

func TestSDKObjectRoundTrip(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		data := testData(300<<10, 1)
		sum := md5.Sum(data)
		wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
		put, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String("akten"),
			Key:         aws.String("bauantrag/2024/plan.pdf"),
			Body:        bytes.NewReader(data),
			ContentType: aws.String("application/pdf"),
			Metadata:    map[string]string{"Antragsteller": "Müller", "aktenzeichen": "BA-2024-17"},
		})
		if err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		if aws.ToString(put.ETag) != wantETag {
			t.Errorf("PUT ETag %s, want %s", aws.ToString(put.ETag), wantETag)
		}
		if put.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Errorf("PUT x-amz-server-side-encryption %q", put.ServerSideEncryption)
		}

		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("bauantrag/2024/plan.pdf")})
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		got, err := io.ReadAll(get.Body)
		get.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET returned %d bytes (err %v), want the %d bytes put", len(got), err, len(data))
		}
		if aws.ToString(get.ETag) != wantETag || aws.ToString(get.ContentType) != "application/pdf" ||
			aws.ToInt64(get.ContentLength) != int64(len(data)) || aws.ToString(get.AcceptRanges) != "bytes" {
			t.Errorf("GET headers: ETag %s, Content-Type %s, Content-Length %d, Accept-Ranges %s",
				aws.ToString(get.ETag), aws.ToString(get.ContentType), aws.ToInt64(get.ContentLength), aws.ToString(get.AcceptRanges))
		}
		// A value beyond US-ASCII comes back RFC 2047-encoded, as S3
		// returns it (UsingMetadata in the S3 user guide); the SDK does
		// not decode it.
		wantMeta := map[string]string{"antragsteller": "=?UTF-8?B?TcO8bGxlcg==?=", "aktenzeichen": "BA-2024-17"}
		if !maps.Equal(get.Metadata, wantMeta) {
			t.Errorf("metadata %v, want %v", get.Metadata, wantMeta)
		}
		if get.LastModified == nil || time.Since(*get.LastModified) > time.Minute {
			t.Errorf("Last-Modified %v", get.LastModified)
		}

		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("bauantrag/2024/plan.pdf")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(head.ContentLength) != int64(len(data)) || aws.ToString(head.ETag) != wantETag || !maps.Equal(head.Metadata, wantMeta) {
			t.Errorf("HEAD: length %d, ETag %s, meta %v", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), head.Metadata)
		}

		// An empty object.
		h.mustPut(keyA, "akten", "leer", nil)
		get, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("leer")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(get.Body)
		get.Body.Close()
		if len(got) != 0 || aws.ToInt64(get.ContentLength) != 0 {
			t.Errorf("empty object: %d bytes, Content-Length %d", len(got), aws.ToInt64(get.ContentLength))
		}

		// Overwrite, then delete; deleting again still succeeds, as in S3.
		h.mustPut(keyA, "akten", "leer", []byte("jetzt nicht mehr"))
		for range 2 {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("akten"), Key: aws.String("leer")}); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("leer")})
		wantAPIError(t, err, 404, "NoSuchKey")
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("leer")})
		wantAPIError(t, err, 404, "NotFound")
	})
}

// TestSDKHostileKeys stores keys that would be dangerous as file names or
// that path cleaning would change, and reads and lists them back exactly.
func TestSDKHostileKeys(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		keys := []string{
			"../../etc/passwd",
			"a//b",
			"dir/./x",
			"dir/../y",
			"/leading-slash",
			"trailing-slash/",
			"%2F-literal-percent",
			"spaces and +plus & ampersand",
			"query?x=1#frag",
			"Umlaute äöüß 日本語 🙂",
			"..",
			".",
			strings.Repeat("k", 1024),
		}
		for i, k := range keys {
			data := testData(100+i, byte(i))
			h.mustPut(keyA, "akten", k, data)
			get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(k)})
			if err != nil {
				t.Fatalf("GET %q: %v", k, err)
			}
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if !bytes.Equal(got, data) {
				t.Errorf("GET %q: wrong bytes", k)
			}
		}
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten")})
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, o := range out.Contents {
			listed = append(listed, aws.ToString(o.Key))
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		if !slices.Equal(listed, want) {
			t.Errorf("listed %q\nwant   %q", listed, want)
		}
		// A key one byte too long.
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
		wantAPIError(t, err, 400, "KeyTooLongError")
	})
}

func TestSDKRanges(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		data := testData(1000, 7)
		h.mustPut(keyA, "akten", "k", data)
		for _, tc := range []struct {
			rng          string
			first, last  int // of data
			contentRange string
		}{
			{"bytes=0-9", 0, 9, "bytes 0-9/1000"},
			{"bytes=990-", 990, 999, "bytes 990-999/1000"},
			{"bytes=-5", 995, 999, "bytes 995-999/1000"},
			{"bytes=500-5000", 500, 999, "bytes 500-999/1000"},
			{"bytes=-5000", 0, 999, "bytes 0-999/1000"},
		} {
			t.Run(tc.rng, func(t *testing.T) {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), Range: aws.String(tc.rng)})
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if !bytes.Equal(got, data[tc.first:tc.last+1]) {
					t.Errorf("got %d bytes, want bytes %d-%d", len(got), tc.first, tc.last)
				}
				if aws.ToString(out.ContentRange) != tc.contentRange || aws.ToInt64(out.ContentLength) != int64(tc.last-tc.first+1) {
					t.Errorf("Content-Range %q, Content-Length %d", aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength))
				}
			})
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), Range: aws.String("bytes=1000-")})
		wantAPIError(t, err, 416, "InvalidRange")
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), PartNumber: aws.Int32(2)})
		wantAPIError(t, err, 416, "InvalidPartNumber")
	})
}

func TestSDKChecksums(t *testing.T) {
	// Over TLS the SDK sends the CRC32 as a trailer of an aws-chunked
	// body; over HTTP as a header with a signed payload hash.
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		data := testData(200<<10, 3)
		for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256} {
			t.Run(string(alg), func(t *testing.T) {
				key := "mit-pruefsumme-" + string(alg)
				put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: alg})
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				sent := checksumOf(alg, put.ChecksumCRC32, put.ChecksumCRC32C, put.ChecksumSHA256)
				if sent == "" {
					t.Fatalf("PUT response has no %s checksum", alg)
				}
				// Without x-amz-checksum-mode the checksum is not sent.
				out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				if got := checksumOf(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumSHA256); got != "" {
					t.Errorf("HEAD without checksum mode returned %s", got)
				}
				// With it, the SDK gets it and validates the body against it.
				get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(get.Body)
				get.Body.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("GET with checksum validation: %v", err)
				}
				if g := checksumOf(alg, get.ChecksumCRC32, get.ChecksumCRC32C, get.ChecksumSHA256); g != sent {
					t.Errorf("GET checksum %q, PUT said %q", g, sent)
				}
				// A range gets no whole-object checksum, or the SDK's
				// validation of the partial body would fail.
				get, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key), Range: aws.String("bytes=0-99"), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadAll(get.Body); err != nil {
					t.Errorf("ranged GET with checksum mode: %v", err)
				}
				get.Body.Close()
			})
		}
	})
}

func checksumOf(alg types.ChecksumAlgorithm, crc32, crc32c, sha256 *string) string {
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		return aws.ToString(crc32)
	case types.ChecksumAlgorithmCrc32c:
		return aws.ToString(crc32c)
	case types.ChecksumAlgorithmSha256:
		return aws.ToString(sha256)
	}
	return ""
}

func TestSDKListObjectsV2(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	var all []string
	for _, dir := range []string{"2023", "2024", "2025"} {
		for i := range 7 {
			all = append(all, fmt.Sprintf("%s/antrag-%02d.pdf", dir, i))
		}
	}
	all = append(all, "index.html", "zz-ende", "ä-umlaut", "Z-gross")
	for i, k := range all {
		h.mustPut(keyA, "akten", k, testData(i, byte(i)))
	}
	slices.Sort(all) // UTF-8 byte order: "Z" < "i" < "z" < "ä"

	t.Run("pages with continuation", func(t *testing.T) {
		var got []string
		var pages int
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), MaxKeys: aws.Int32(10)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if aws.ToInt32(out.KeyCount) != int32(len(out.Contents)) || aws.ToInt32(out.MaxKeys) != 10 {
				t.Errorf("page %d: KeyCount %d for %d keys, MaxKeys %d", pages, aws.ToInt32(out.KeyCount), len(out.Contents), aws.ToInt32(out.MaxKeys))
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
				if aws.ToString(o.ETag) == "" || o.ETag == nil || (*o.ETag)[0] != '"' || o.LastModified == nil || o.StorageClass != types.ObjectStorageClassStandard {
					t.Errorf("%s: ETag %s, LastModified %v, StorageClass %s", aws.ToString(o.Key), aws.ToString(o.ETag), o.LastModified, o.StorageClass)
				}
				if o.Owner != nil {
					t.Errorf("Owner without fetch-owner")
				}
			}
		}
		if !slices.Equal(got, all) || pages != 3 {
			t.Errorf("%d pages listed %q\nwant %q", pages, got, all)
		}
	})

	t.Run("delimiter", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var prefixes, keys []string
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !slices.Equal(prefixes, []string{"2023/", "2024/", "2025/"}) || !slices.Equal(keys, []string{"Z-gross", "index.html", "zz-ende", "ä-umlaut"}) {
			t.Errorf("prefixes %q keys %q", prefixes, keys)
		}
		if aws.ToInt32(out.KeyCount) != 7 {
			t.Errorf("KeyCount %d, want 7 (keys and prefixes)", aws.ToInt32(out.KeyCount))
		}
	})

	t.Run("delimiter pages continue after a prefix", func(t *testing.T) {
		var got []string
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range out.CommonPrefixes {
				got = append(got, aws.ToString(pr.Prefix))
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
		}
		want := []string{"2023/", "2024/", "2025/", "Z-gross", "index.html", "zz-ende", "ä-umlaut"}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("prefix and start-after", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), Prefix: aws.String("2024/"), StartAfter: aws.String("2024/antrag-04.pdf")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !slices.Equal(keys, []string{"2024/antrag-05.pdf", "2024/antrag-06.pdf"}) || aws.ToString(out.StartAfter) != "2024/antrag-04.pdf" || aws.ToString(out.Prefix) != "2024/" {
			t.Errorf("keys %q, StartAfter %q, Prefix %q", keys, aws.ToString(out.StartAfter), aws.ToString(out.Prefix))
		}
	})

	t.Run("fetch-owner", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), FetchOwner: aws.Bool(true), MaxKeys: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 1 || out.Contents[0].Owner == nil || aws.ToString(out.Contents[0].Owner.ID) != keyA.tenant {
			t.Errorf("owner not listed: %+v", out.Contents)
		}
	})

	t.Run("max-keys above 1000 is capped", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), MaxKeys: aws.Int32(5000)})
		if err != nil || aws.ToInt32(out.MaxKeys) != 1000 || len(out.Contents) != len(all) {
			t.Errorf("MaxKeys %d, %d keys, %v", aws.ToInt32(out.MaxKeys), len(out.Contents), err)
		}
	})

	t.Run("max-keys 0", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 || aws.ToBool(out.IsTruncated) {
			t.Errorf("%d keys, truncated %v, %v", len(out.Contents), aws.ToBool(out.IsTruncated), err)
		}
	})

	t.Run("encoding-type url", func(t *testing.T) {
		h.mustPut(keyA, "akten", "enc/a b+c\x01ü", []byte("x"))
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), Prefix: aws.String("enc/"), EncodingType: types.EncodingTypeUrl, Delimiter: aws.String("+")})
		if err != nil {
			t.Fatal(err)
		}
		// The key rolls up at "+": the prefix is encoded, "/" kept.
		if len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "enc/a+b%2B" {
			t.Errorf("CommonPrefixes %+v", out.CommonPrefixes)
		}
		if aws.ToString(out.Delimiter) != "%2B" || out.EncodingType != types.EncodingTypeUrl {
			t.Errorf("Delimiter %q EncodingType %q", aws.ToString(out.Delimiter), out.EncodingType)
		}
		out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), Prefix: aws.String("enc/"), EncodingType: types.EncodingTypeUrl})
		if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "enc/a+b%2Bc%01%C3%BC" {
			t.Errorf("encoded key %+v, %v", out.Contents, err)
		}
	})
}

func TestSDKListObjectsV1(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	for _, k := range []string{"a/1", "a/2", "b/1", "c", "d", "e/1"} {
		h.mustPut(keyA, "akten", k, []byte(k))
	}
	// Without a delimiter: no NextMarker; the last key is the marker.
	out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("akten"), MaxKeys: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(out.IsTruncated) || len(out.Contents) != 4 || out.NextMarker != nil {
		t.Fatalf("truncated %v, %d keys, NextMarker %v", aws.ToBool(out.IsTruncated), len(out.Contents), out.NextMarker)
	}
	if out.Contents[0].Owner == nil || aws.ToString(out.Contents[0].Owner.ID) != keyA.tenant {
		t.Errorf("v1 lists the owner")
	}
	out, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("akten"), Marker: out.Contents[3].Key})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 2 || aws.ToString(out.Contents[0].Key) != "d" || aws.ToString(out.Marker) != "c" {
		t.Errorf("after marker c: %d keys, marker %q", len(out.Contents), aws.ToString(out.Marker))
	}
	// With a delimiter: NextMarker, which may be a prefix.
	var got []string
	marker := ""
	for {
		out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("akten"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2), Marker: aws.String(marker)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, aws.ToString(p.Prefix))
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if out.NextMarker == nil {
			t.Fatal("truncated listing with a delimiter has no NextMarker")
		}
		marker = aws.ToString(out.NextMarker)
	}
	if want := []string{"a/", "b/", "c", "d", "e/"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSDKMultipartErrors: how multipart failures reach an SDK client.
// Which failure is which is the object layer's to decide, and
// objapi/objtest's Multipart tests check that against the in-memory layer
// and a real cluster alike.
func TestSDKMultipartErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	bucket, key := aws.String("akten"), aws.String("teile")

	create := func(t *testing.T) *string {
		t.Helper()
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return out.UploadId
	}
	part := func(t *testing.T, id *string, n int32, data []byte) types.CompletedPart {
		t.Helper()
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		sum := md5.Sum(data)
		if want := `"` + hex.EncodeToString(sum[:]) + `"`; aws.ToString(out.ETag) != want {
			t.Errorf("part ETag %s, want %s", aws.ToString(out.ETag), want)
		}
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}
	}
	complete := func(id *string, parts ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	big, small := testData(5<<20, 1), testData(1000, 2)

	t.Run("part number out of range", func(t *testing.T) {
		id := create(t)
		for _, n := range []int32{0, 10001} {
			_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(n), Body: bytes.NewReader(small)})
			wantAPIError(t, err, 400, "InvalidArgument")
		}
	})
	t.Run("non-last part too small", func(t *testing.T) {
		id := create(t)
		p1, p2 := part(t, id, 1, small), part(t, id, 2, small)
		wantAPIError(t, complete(id, p1, p2), 400, "EntityTooSmall")
	})
	t.Run("wrong part ETag", func(t *testing.T) {
		id := create(t)
		p1 := part(t, id, 1, small)
		p1.ETag = aws.String(`"00000000000000000000000000000000"`)
		wantAPIError(t, complete(id, p1), 400, "InvalidPart")
	})
	t.Run("parts out of order", func(t *testing.T) {
		id := create(t)
		p1, p2 := part(t, id, 1, big), part(t, id, 2, small)
		wantAPIError(t, complete(id, p2, p1), 400, "InvalidPartOrder")
	})
	t.Run("no such upload", func(t *testing.T) {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: aws.String("nope"), PartNumber: aws.Int32(1), Body: bytes.NewReader(small)})
		wantAPIError(t, err, 404, "NoSuchUpload")
		wantAPIError(t, complete(aws.String("nope"), types.CompletedPart{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}), 404, "NoSuchUpload")
	})
	t.Run("abort", func(t *testing.T) {
		id := create(t)
		p1 := part(t, id, 1, small)
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id}); err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, complete(id, p1), 404, "NoSuchUpload")
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id})
		wantAPIError(t, err, 404, "NoSuchUpload")
	})
	t.Run("another tenant's upload", func(t *testing.T) {
		id := create(t)
		_, err := h.sdk(keyB).UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(1), Body: bytes.NewReader(small)})
		wantAPIError(t, err, 403, "AccessDenied")
	})
}

func TestSDKConditionalGet(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", []byte("inhalt"))
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("akten"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	etag, mod := head.ETag, *head.LastModified
	for _, tc := range []struct {
		name   string
		in     s3.GetObjectInput
		status int
		code   string
	}{
		{"If-None-Match matches", s3.GetObjectInput{IfNoneMatch: etag}, 304, "NotModified"},
		{"If-Match differs", s3.GetObjectInput{IfMatch: aws.String(`"abc"`)}, 412, "PreconditionFailed"},
		{"If-Modified-Since now", s3.GetObjectInput{IfModifiedSince: aws.Time(mod.Add(time.Hour))}, 304, "NotModified"},
		{"If-Unmodified-Since before", s3.GetObjectInput{IfUnmodifiedSince: aws.Time(mod.Add(-time.Hour))}, 412, "PreconditionFailed"},
		{"If-Match matches", s3.GetObjectInput{IfMatch: etag}, 200, ""},
		{"If-None-Match differs", s3.GetObjectInput{IfNoneMatch: aws.String(`"abc"`)}, 200, ""},
		{"If-Match wins over If-Unmodified-Since", s3.GetObjectInput{IfMatch: etag, IfUnmodifiedSince: aws.Time(mod.Add(-time.Hour))}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Bucket, in.Key = aws.String("akten"), aws.String("k")
			out, err := c.GetObject(ctx, &in)
			if tc.status == 200 {
				if err != nil {
					t.Fatal(err)
				}
				out.Body.Close()
				return
			}
			wantAPIError(t, err, tc.status, tc.code)
		})
	}
}

func TestSDKAuthErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	_, err := h.sdk(keyUnknown).ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, err, 403, "InvalidAccessKeyId")
	wrong := keyA
	wrong.secret = "not-the-secret-of-tenant-a-0123456789"
	_, err = h.sdk(wrong).ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, err, 403, "SignatureDoesNotMatch")
	_, err = h.sdk(wrong).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantAPIError(t, err, 403, "SignatureDoesNotMatch")

	skewed := newHarness(t, harnessOpts{now: func() time.Time { return time.Now().Add(time.Hour) }})
	_, err = skewed.sdk(keyA).ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, err, 403, "RequestTimeTooSkewed")
}

func TestSDKPresigned(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	data := testData(5000, 5)
	h.mustPut(keyA, "akten", "bescheid/2024 Nr. 1.pdf", data)
	ps := s3.NewPresignClient(h.sdk(keyA))
	req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("bescheid/2024 Nr. 1.pdf"),
		ResponseContentDisposition: aws.String(`attachment; filename="bescheid.pdf"`)}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// A browser: a plain GET of the URL, no SDK.
	resp, err := h.srv.Client().Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="bescheid.pdf"` {
		t.Errorf("Content-Disposition %q", cd)
	}

	// A presigned PUT.
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("upload.bin")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPut, put.URL, bytes.NewReader(data))
	resp, err = h.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d", resp.StatusCode)
	}

	// Expired.
	expired, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("upload.bin")},
		func(o *s3.PresignOptions) {
			o.Expires = time.Minute
			o.Presigner = pastPresigner{v4.NewSigner(), time.Now().Add(-time.Hour)}
		})
	if err != nil {
		t.Fatal(err)
	}
	r, _ = http.NewRequest(http.MethodGet, expired.URL, nil)
	raw, err := h.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	doc := h.wantError(rawResponse{raw, body}, 403, "AccessDenied")
	if doc.Message != "Request has expired" {
		t.Errorf("message %q", doc.Message)
	}
}

// pastPresigner presigns as if it were at, to make URLs that expired.
type pastPresigner struct {
	inner *v4.Signer
	at    time.Time
}

func (p pastPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.inner.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.at, optFns...)
}

// GetBucketVersioning, GetBucketEncryption and GetObjectAttributes answer
// truthfully: never versioned, always encrypted, and the object's ETag,
// size, parts and checksum.
func TestReadOnlyConfigurations(t *testing.T) {
	code := func(err error) string { c, _ := apiErr(err); return c }
	h := newHarness(t, harnessOpts{})
	c := h.sdk(keyA)
	ctx := context.Background()
	bucket := aws.String("konfig")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: bucket})
	if err != nil || v.Status != "" {
		t.Fatalf("versioning: %v %+v", err, v)
	}
	e, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: bucket})
	if err != nil || len(e.ServerSideEncryptionConfiguration.Rules) != 1 ||
		e.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAes256 {
		t.Fatalf("encryption: %v %+v", err, e)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: bucket, VersioningConfiguration: &types.VersioningConfiguration{
		Status: types.BucketVersioningStatusEnabled, MFADelete: types.MFADeleteEnabled}}); code(err) != "NotImplemented" {
		t.Fatalf("enabling MFA delete: %v", err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("a"), Body: strings.NewReader("hallo"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	at, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("a"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectSize, types.ObjectAttributesChecksum, types.ObjectAttributesStorageClass}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(at.ETag) != strings.Trim(aws.ToString(put.ETag), `"`) || aws.ToInt64(at.ObjectSize) != 5 || at.Checksum == nil ||
		aws.ToString(at.Checksum.ChecksumCRC32) != aws.ToString(put.ChecksumCRC32) || at.StorageClass != types.StorageClassStandard {
		t.Fatalf("attributes: %+v (put %+v)", at, put)
	}
	if _, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("fehlt"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag}}); code(err) != "NoSuchKey" {
		t.Fatalf("attributes of a missing object: %v", err)
	}
}

// ListObjectVersions on an unversioned bucket lists each object's one
// version, "null", as the latest.
func TestListObjectVersionsUnversioned(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.sdk(keyA)
	ctx := context.Background()
	bucket := aws.String("versionen")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b/c", "b/d", "e"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: bucket, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 1 || aws.ToString(out.Versions[0].Key) != "a" || aws.ToString(out.Versions[0].VersionId) != "null" || !aws.ToBool(out.Versions[0].IsLatest) ||
		len(out.CommonPrefixes) != 1 || !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextKeyMarker) != "b/" {
		t.Fatalf("page 1: %+v", out)
	}
	out, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: bucket, Delimiter: aws.String("/"), KeyMarker: out.NextKeyMarker, VersionIdMarker: out.NextVersionIdMarker})
	if err != nil || len(out.Versions) != 1 || aws.ToString(out.Versions[0].Key) != "e" || aws.ToBool(out.IsTruncated) {
		t.Fatalf("page 2: %v %+v", err, out)
	}
}

// ACLs read as what they are, private to the tenant; setting a private ACL
// is accepted, sharing is not offered.
func TestPrivateACLs(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.sdk(keyA)
	ctx := context.Background()
	code := func(err error) string { c, _ := apiErr(err); return c }
	bucket := aws.String("privat")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("a"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() (*types.Owner, []types.Grant, error){
		func() (*types.Owner, []types.Grant, error) {
			o, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: bucket})
			if err != nil {
				return nil, nil, err
			}
			return o.Owner, o.Grants, nil
		},
		func() (*types.Owner, []types.Grant, error) {
			o, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: bucket, Key: aws.String("a")})
			if err != nil {
				return nil, nil, err
			}
			return o.Owner, o.Grants, nil
		},
	} {
		owner, grants, err := get()
		if err != nil || aws.ToString(owner.ID) == "" || len(grants) != 1 || grants[0].Permission != types.PermissionFullControl ||
			aws.ToString(grants[0].Grantee.ID) != aws.ToString(owner.ID) || grants[0].Grantee.Type != types.TypeCanonicalUser {
			t.Fatalf("ACL: %v %+v %+v", err, owner, grants)
		}
	}
	if _, err := c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: bucket, Key: aws.String("a"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatalf("private ACL: %v", err)
	}
	if _, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: bucket, ACL: types.BucketCannedACLPublicRead}); code(err) != "NotImplemented" {
		t.Fatalf("public-read ACL: %v", err)
	}
	if _, err := h.sdk(keyB).GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: bucket}); code(err) != "AccessDenied" {
		t.Fatalf("another tenant reads the ACL: %v", err)
	}
}
