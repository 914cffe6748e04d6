package s3api

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
)

func tagMap(ts []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func TestSDKTagging(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	bucket, key := aws.String("akten"), aws.String("bescheid.pdf")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("%PDF"),
		Tagging: aws.String("stelle=Bauamt%20Greiz&frist=2025-01-31&leer=&ä=ö")})
	if err != nil {
		t.Fatal(err)
	}
	wantTags := map[string]string{"stelle": "Bauamt Greiz", "frist": "2025-01-31", "leer": "", "ä": "ö"}
	got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
	if err != nil || !maps.Equal(tagMap(got.TagSet), wantTags) {
		t.Fatalf("tags %v, want %v (%v)", tagMap(got.TagSet), wantTags, err)
	}
	for _, mode := range []types.ChecksumMode{"", types.ChecksumModeEnabled} {
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key, ChecksumMode: mode})
		if err != nil || aws.ToInt32(head.TagCount) != 4 {
			t.Errorf("HEAD x-amz-tagging-count %d, %v", aws.ToInt32(head.TagCount), err)
		}
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
	if err != nil || aws.ToInt32(get.TagCount) != 4 {
		t.Errorf("GET x-amz-tagging-count %d, %v", aws.ToInt32(get.TagCount), err)
	} else {
		get.Body.Close()
	}

	// Replace, with the longest key and value S3 allows, in characters.
	longKey, longValue := strings.Repeat("ä", 128), strings.Repeat("ß", 256)
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: key,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(longKey), Value: aws.String(longValue)}}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
	if err != nil || !maps.Equal(tagMap(got.TagSet), map[string]string{longKey: longValue}) {
		t.Errorf("after PutObjectTagging: %v, %v", tagMap(got.TagSet), err)
	}
	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: bucket, Key: key}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
	if err != nil || len(got.TagSet) != 0 {
		t.Errorf("after DeleteObjectTagging: %v, %v", got.TagSet, err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil || head.TagCount != nil {
		t.Errorf("HEAD of an untagged object: x-amz-tagging-count %v, %v", head.TagCount, err)
	}

	many := make([]types.Tag, 11)
	var manyHeader []string
	for i := range many {
		many[i] = types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")}
		manyHeader = append(manyHeader, fmt.Sprintf("k%d=v", i))
	}
	put := func(tagging string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("neu"), Body: strings.NewReader("x"), Tagging: aws.String(tagging)})
		return err
	}
	putTags := func(ts ...types.Tag) error {
		_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: key, Tagging: &types.Tagging{TagSet: ts}})
		return err
	}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"eleven tags in the header", put(strings.Join(manyHeader, "&")), 400, "InvalidTag"},
		{"key too long in the header", put(url.QueryEscape(strings.Repeat("k", 129)) + "=v"), 400, "InvalidTag"},
		{"value too long in the header", put("k=" + strings.Repeat("v", 257)), 400, "InvalidTag"},
		{"duplicate key in the header", put("k=1&k=2"), 400, "InvalidTag"},
		{"empty key in the header", put("=v"), 400, "InvalidTag"},
		{"reserved prefix", put("aws:x=1"), 400, "InvalidTag"},
		{"header not URL-encoded", put("k=%zz"), 400, "InvalidArgument"},
		{"eleven tags", putTags(many...), 400, "InvalidTag"},
		{"key too long", putTags(tag(strings.Repeat("ä", 129), "v")), 400, "InvalidTag"},
		{"value too long", putTags(tag("k", strings.Repeat("ß", 257))), 400, "InvalidTag"},
		{"duplicate key", putTags(tag("k", "1"), tag("k", "2")), 400, "InvalidTag"},
		{"no such key", func() error {
			_, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("fehlt")})
			return err
		}(), 404, "NoSuchKey"},
		{"another tenant", func() error {
			_, err := h.sdk(keyB).GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
			return err
		}(), 403, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantAPIError(t, tc.err, tc.status, tc.code) })
	}
	if resp := h.do(rawReq{method: "HEAD", path: "/akten/neu"}); resp.StatusCode != 404 {
		t.Errorf("an upload with bad tags was stored: %d", resp.StatusCode)
	}
}

func TestRawTagging(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", []byte("x"))
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"empty tag set", "<Tagging><TagSet></TagSet></Tagging>", 200, ""},
		{"namespace", `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value></Value></Tag></TagSet></Tagging>`, 200, ""},
		{"malformed", "<Tagging><TagSet><Tag>", 400, "MalformedXML"},
		{"no tag set", "<Tagging></Tagging>", 400, "MalformedXML"},
		{"tag without value", "<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>", 400, "MalformedXML"},
		{"tag without key", "<Tagging><TagSet><Tag><Value>a</Value></Tag></TagSet></Tagging>", 400, "MalformedXML"},
		{"other root", "<Tags/>", 400, "MalformedXML"},
		{"empty body", "", 400, "MalformedXML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(rawReq{method: "PUT", path: "/akten/k", query: "tagging", body: []byte(tc.body)})
			if tc.status == 200 {
				if resp.StatusCode != 200 {
					t.Errorf("%d %s", resp.StatusCode, resp.body)
				}
				return
			}
			h.wantError(resp, tc.status, tc.code)
		})
	}
	resp := h.do(rawReq{method: "GET", path: "/akten/k", query: "tagging"})
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value></Value></Tag></TagSet></Tagging>`
	if resp.StatusCode != 200 || string(resp.body) != want {
		t.Errorf("GetObjectTagging document:\n%s\nwant\n%s", resp.body, want)
	}
}

func TestMinioTagging(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	mc := h.minio(keyA)
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", []byte("x"))
	ot, err := tags.NewTags(map[string]string{"projekt": "Breitband", "kreis": "SM"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.PutObjectTagging(ctx, "akten", "k", ot, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := mc.GetObjectTagging(ctx, "akten", "k", minio.GetObjectTaggingOptions{})
	if err != nil || !maps.Equal(got.ToMap(), ot.ToMap()) {
		t.Errorf("minio-go tags %v, %v", got, err)
	}
	if err := mc.RemoveObjectTagging(ctx, "akten", "k", minio.RemoveObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSDKBucketTagging: a bucket's tags as the SDK sets and reads them
// (cost centres are what municipalities put there), S3's codes for a
// bucket without tags and for too many.
func TestSDKBucketTagging(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "akten")
	bucket := aws.String("akten")
	_, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	wantAPIError(t, err, 404, "NoSuchTagSet")
	tags := []types.Tag{{Key: aws.String("kostenstelle"), Value: aws.String("4711")}, {Key: aws.String("amt"), Value: aws.String("Bürgeramt")}}
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: &types.Tagging{TagSet: tags}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	// In key order, as S3 answers.
	if err != nil || len(got.TagSet) != 2 || aws.ToString(got.TagSet[0].Key) != "amt" || aws.ToString(got.TagSet[0].Value) != "Bürgeramt" {
		t.Fatalf("GetBucketTagging: %+v, %v", got, err)
	}
	// Another tenant neither reads nor writes them.
	_, err = h.sdk(keyB).GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	wantAPIError(t, err, 403, "AccessDenied")
	many := make([]types.Tag, 51)
	for i := range many {
		many[i] = types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("")}
	}
	_, err = c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: &types.Tagging{TagSet: many}})
	wantAPIError(t, err, 400, "InvalidTag")
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: &types.Tagging{TagSet: many[:50]}}); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
	if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	wantAPIError(t, err, 404, "NoSuchTagSet")
	// An empty TagSet is malformed, as in S3.
	resp := h.do(xmlReq("/akten", "tagging", `<Tagging><TagSet></TagSet></Tagging>`))
	h.wantError(resp, 400, "MalformedXML")
}
