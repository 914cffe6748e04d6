package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

func TestSDKDeleteObjects(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.sdk(keyA)
		h.mustCreateBucket(keyA, "akten")
		for _, k := range []string{"a", "b", "c/d", "e f"} {
			h.mustPut(keyA, "akten", k, []byte(k))
		}
		ids := func(keys ...string) []types.ObjectIdentifier {
			var out []types.ObjectIdentifier
			for _, k := range keys {
				out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
			}
			return out
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("akten"),
			Delete: &types.Delete{Objects: ids("a", "c/d", "fehlt", strings.Repeat("k", 1025), "a")}})
		if err != nil {
			t.Fatal(err)
		}
		var deleted []string
		for _, d := range out.Deleted {
			deleted = append(deleted, aws.ToString(d.Key))
		}
		// Every entry is answered, a missing key as deleted, a repeated one twice.
		if !slices.Equal(deleted, []string{"a", "c/d", "fehlt", "a"}) {
			t.Errorf("deleted %v", deleted)
		}
		if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "KeyTooLongError" || aws.ToString(out.Errors[0].Message) == "" {
			t.Errorf("errors %+v", out.Errors)
		}
		// Quiet: only failures are reported.
		out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("akten"),
			Delete: &types.Delete{Objects: append(ids("b"), types.ObjectIdentifier{Key: aws.String("e f"), VersionId: aws.String("v7")}), Quiet: aws.Bool(true)}})
		if err != nil {
			t.Fatal(err)
		}
		// A version that does not exist is gone already, as a missing key
		// is: nothing to report, and the current version stays.
		if len(out.Deleted) != 0 || len(out.Errors) != 0 {
			t.Errorf("quiet: deleted %v, errors %+v", out.Deleted, out.Errors)
		}
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten")})
		if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "e f" {
			t.Errorf("left: %d objects, %v", len(list.Contents), err)
		}
		_, err = h.sdk(keyB).DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("akten"), Delete: &types.Delete{Objects: ids("e f")}})
		wantAPIError(t, err, 403, "AccessDenied")
		_, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("gibt-es-nicht"), Delete: &types.Delete{Objects: ids("x")}})
		wantAPIError(t, err, 404, "NoSuchBucket")

		// minio-go sends Content-MD5.
		mc := h.minio(keyA)
		for _, k := range []string{"m1", "m2", "m3"} {
			h.mustPut(keyA, "akten", k, []byte(k))
		}
		objs := make(chan minio.ObjectInfo, 3)
		for _, k := range []string{"m1", "m2", "m3"} {
			objs <- minio.ObjectInfo{Key: k}
		}
		close(objs)
		for e := range mc.RemoveObjects(ctx, "akten", objs, minio.RemoveObjectsOptions{}) {
			t.Errorf("minio-go RemoveObjects: %v", e.Err)
		}
		list, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("akten"), Prefix: aws.String("m")})
		if err != nil || len(list.Contents) != 0 {
			t.Errorf("after RemoveObjects: %d objects, %v", len(list.Contents), err)
		}
	})
}

func TestRawDeleteObjects(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "akten")
	h.mustPut(keyA, "akten", "k", []byte("x"))
	doc := func(n int) string {
		var b strings.Builder
		b.WriteString("<Delete>")
		for i := range n {
			fmt.Fprintf(&b, "<Object><Key>k%d</Key></Object>", i)
		}
		b.WriteString("</Delete>")
		return b.String()
	}
	md5Of := func(s string) string { m := md5.Sum([]byte(s)); return base64.StdEncoding.EncodeToString(m[:]) }
	for _, tc := range []struct {
		name   string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"no digest", doc(1), nil, 400, "InvalidRequest"},
		{"wrong Content-MD5", doc(1), map[string]string{"Content-MD5": md5Of("other")}, 400, "BadDigest"},
		{"invalid Content-MD5", doc(1), map[string]string{"Content-MD5": "kaputt"}, 400, "InvalidDigest"},
		{"wrong checksum", doc(1), map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, 400, "BadDigest"},
		{"malformed XML", "<Delete><Object>", nil, 400, "MalformedXML"},
		{"no objects", "<Delete></Delete>", nil, 400, "MalformedXML"},
		{"empty body", "", nil, 400, "MalformedXML"},
		{"object without key", "<Delete><Object></Object></Delete>", nil, 400, "MalformedXML"},
		{"quiet not a boolean", "<Delete><Quiet>vielleicht</Quiet><Object><Key>k</Key></Object></Delete>", nil, 400, "MalformedXML"},
		{"1001 keys", doc(1001), nil, 400, "MalformedXML"},
		{"1000 keys", doc(1000), nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.name != "no digest" {
				hdr["Content-MD5"] = md5Of(tc.body)
			}
			for k, v := range tc.header {
				hdr[k] = v
			}
			if _, ok := tc.header["X-Amz-Checksum-Crc32"]; ok {
				delete(hdr, "Content-MD5")
			}
			resp := h.do(rawReq{method: "POST", path: "/akten", query: "delete", body: []byte(tc.body), header: hdr})
			if tc.status == 200 {
				var res struct {
					Deleted []struct{ Key string }
				}
				if err := xml.Unmarshal(resp.body, &res); err != nil || resp.StatusCode != 200 || len(res.Deleted) != 1000 {
					t.Errorf("%d, %d deleted, %v", resp.StatusCode, len(res.Deleted), err)
				}
				return
			}
			doc := h.wantError(resp, tc.status, tc.code)
			if tc.name == "no digest" && doc.Message != "Missing required header for this request: Content-MD5 OR x-amz-checksum-*" {
				t.Errorf("message %q", doc.Message)
			}
		})
	}
	// A per-key condition kcs cannot honour fails that key only.
	body := "<Delete><Object><Key>k</Key><ETag>\"abc\"</ETag></Object></Delete>"
	resp := h.do(rawReq{method: "POST", path: "/akten", query: "delete", body: []byte(body), header: map[string]string{"Content-MD5": md5Of(body)}})
	if resp.StatusCode != 200 || !strings.Contains(string(resp.body), "<Error><Key>k</Key><Code>NotImplemented</Code>") {
		t.Errorf("per-key ETag: %d %s", resp.StatusCode, resp.body)
	}
	if got := h.getBytes(keyA, "akten", "k"); string(got) != "x" {
		t.Error("a key with a condition was deleted")
	}
}
