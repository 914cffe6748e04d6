package objtest

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

var bucketTests = []test{
	{"CreateHeadList", func(t *T) {
		b := t.bucket()
		info, err := t.l.HeadBucket(t.ctx, t.me, b)
		t.must(err, "HeadBucket")
		if info.Name != b || info.Tenant != t.me.Tenant || info.Created.IsZero() {
			t.Errorf("HeadBucket: %+v", info)
		}
		mine, err := t.l.ListBuckets(t.ctx, t.me)
		t.must(err, "ListBuckets")
		if !slices.ContainsFunc(mine, func(i objapi.BucketInfo) bool { return i.Name == b && i.Tenant == t.me.Tenant }) {
			t.Errorf("ListBuckets lacks %s: %+v", b, mine)
		}
		theirs, err := t.l.ListBuckets(t.ctx, t.other)
		t.must(err, "ListBuckets (other tenant)")
		for _, i := range theirs {
			if i.Tenant != t.other.Tenant || i.Name == b {
				t.Errorf("the other tenant's ListBuckets shows %+v", i)
			}
		}
	}},
	{"CreateTwice", func(t *T) {
		b := t.bucket()
		t.wantKind(t.l.CreateBucket(t.ctx, t.me, b), objapi.KindBucketOwnedByYou, "CreateBucket again")
		t.wantKind(t.l.CreateBucket(t.ctx, t.other, b), objapi.KindBucketExists, "CreateBucket by another tenant")
	}},
	{"InvalidNames", func(t *T) {
		for _, name := range []string{"ab", "Akten", "akten_2024", "-akten", "akten.", "ak..ten", "192.168.0.1", "xn--akten"} {
			t.wantKind(t.l.CreateBucket(t.ctx, t.me, name), objapi.KindInvalidBucket, "CreateBucket %q", name)
		}
	}},
	{"Missing", func(t *T) {
		const b = "objtest-never-created"
		_, err := t.l.HeadBucket(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchBucket, "HeadBucket")
		t.wantKind(t.l.DeleteBucket(t.ctx, t.me, b), objapi.KindNoSuchBucket, "DeleteBucket")
		_, err = t.l.ListObjects(t.ctx, t.me, b, objapi.ListOptions{MaxKeys: 10})
		t.wantKind(err, objapi.KindNoSuchBucket, "ListObjects")
		_, err = t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(nil), objapi.PutOptions{Size: 0})
		t.wantKind(err, objapi.KindNoSuchBucket, "PutObject")
		_, err = t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{})
		t.wantKind(err, objapi.KindNoSuchBucket, "GetObject")
		_, err = t.l.CreateMultipartUpload(t.ctx, t.me, b, "k", objapi.PutOptions{})
		t.wantKind(err, objapi.KindNoSuchBucket, "CreateMultipartUpload")
		_, err = t.l.ListMultipartUploads(t.ctx, t.me, b, objapi.ListUploadsOptions{MaxUploads: 10})
		t.wantKind(err, objapi.KindNoSuchBucket, "ListMultipartUploads")
	}},
	// Another tenant's bucket is AccessDenied for every operation.
	{"OtherTenant", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("hallo"), objapi.PutOptions{})
		o := t.other
		_, err := t.l.HeadBucket(t.ctx, o, b)
		t.wantKind(err, objapi.KindAccessDenied, "HeadBucket")
		t.wantKind(t.l.DeleteBucket(t.ctx, o, b), objapi.KindAccessDenied, "DeleteBucket")
		_, err = t.l.PutObject(t.ctx, o, b, "k2", bytes.NewReader(nil), objapi.PutOptions{Size: 0})
		t.wantKind(err, objapi.KindAccessDenied, "PutObject")
		_, err = t.l.GetObject(t.ctx, o, b, "k", objapi.GetOptions{})
		t.wantKind(err, objapi.KindAccessDenied, "GetObject")
		t.wantKind(t.l.DeleteObject(t.ctx, o, b, "k", objapi.DeleteOptions{}), objapi.KindAccessDenied, "DeleteObject")
		_, err = t.l.DeleteObjects(t.ctx, o, b, []string{"k"})
		t.wantKind(err, objapi.KindAccessDenied, "DeleteObjects")
		_, err = t.l.ListObjects(t.ctx, o, b, objapi.ListOptions{MaxKeys: 10})
		t.wantKind(err, objapi.KindAccessDenied, "ListObjects")
		_, err = t.l.CopyObject(t.ctx, o, objapi.CopySource{Bucket: b, Key: "k"}, b, "k3", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindAccessDenied, "CopyObject")
		_, err = t.l.CreateMultipartUpload(t.ctx, o, b, "k", objapi.PutOptions{})
		t.wantKind(err, objapi.KindAccessDenied, "CreateMultipartUpload")
		_, err = t.l.ListMultipartUploads(t.ctx, o, b, objapi.ListUploadsOptions{MaxUploads: 10})
		t.wantKind(err, objapi.KindAccessDenied, "ListMultipartUploads")
		_, err = t.l.GetObjectTagging(t.ctx, o, b, "k")
		t.wantKind(err, objapi.KindAccessDenied, "GetObjectTagging")
		t.wantKind(t.l.PutObjectTagging(t.ctx, o, b, "k", nil), objapi.KindAccessDenied, "PutObjectTagging")
		t.wantKind(t.l.DeleteObjectTagging(t.ctx, o, b, "k"), objapi.KindAccessDenied, "DeleteObjectTagging")
		t.wantKind(t.l.PutBucketCors(t.ctx, o, b, []objapi.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}),
			objapi.KindAccessDenied, "PutBucketCors")
		_, err = t.l.GetBucketCors(t.ctx, o, b)
		t.wantKind(err, objapi.KindAccessDenied, "GetBucketCors")
		t.wantKind(t.l.DeleteBucketCors(t.ctx, o, b), objapi.KindAccessDenied, "DeleteBucketCors")
		t.wantKind(t.l.PutBucketTagging(t.ctx, o, b, []objapi.Tag{{Key: "k", Value: "v"}}), objapi.KindAccessDenied, "PutBucketTagging")
		_, err = t.l.GetBucketTagging(t.ctx, o, b)
		t.wantKind(err, objapi.KindAccessDenied, "GetBucketTagging")
		t.wantKind(t.l.DeleteBucketTagging(t.ctx, o, b), objapi.KindAccessDenied, "DeleteBucketTagging")
		// Nothing changed.
		t.wantData(b, "k", []byte("hallo"))
		if keys := t.keys(b); !slices.Equal(keys, []string{"k"}) {
			t.Errorf("after the other tenant's attempts the bucket holds %q", keys)
		}
	}},
	{"DeleteEmpty", func(t *T) {
		b := t.bucket()
		t.must(t.l.DeleteBucket(t.ctx, t.me, b), "DeleteBucket")
		_, err := t.l.HeadBucket(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchBucket, "HeadBucket after DeleteBucket")
		// The name is free again, for anyone.
		t.must(t.l.CreateBucket(t.ctx, t.other, b), "CreateBucket by another tenant after DeleteBucket")
	}},
	{"DeleteNotEmpty", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("x"), objapi.PutOptions{})
		t.wantKind(t.l.DeleteBucket(t.ctx, t.me, b), objapi.KindBucketNotEmpty, "DeleteBucket with an object")
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{}), "DeleteObject")
		t.must(t.l.DeleteBucket(t.ctx, t.me, b), "DeleteBucket once empty")
	}},
	// A bucket's tags: replaced whole, removed, and gone with the bucket.
	{"Tagging", func(t *T) {
		b := t.bucket()
		_, err := t.l.GetBucketTagging(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchTagSet, "GetBucketTagging without tags")
		tags := []objapi.Tag{{Key: "kostenstelle", Value: "4711"}, {Key: "amt", Value: ""}, {Key: "Zuständig", Value: "Bürgeramt"}}
		t.must(t.l.PutBucketTagging(t.ctx, t.me, b, tags), "PutBucketTagging")
		got, err := t.l.GetBucketTagging(t.ctx, t.me, b)
		t.must(err, "GetBucketTagging")
		if !slices.Equal(got, tags) {
			t.Errorf("GetBucketTagging: %v, want %v", got, tags)
		}
		t.must(t.l.PutBucketTagging(t.ctx, t.me, b, tags[:1]), "PutBucketTagging again")
		if got, _ := t.l.GetBucketTagging(t.ctx, t.me, b); !slices.Equal(got, tags[:1]) {
			t.Errorf("tags after replacing them: %v", got)
		}
		many := make([]objapi.Tag, 51)
		for i := range many {
			many[i] = objapi.Tag{Key: fmt.Sprint("k", i)}
		}
		t.wantKind(t.l.PutBucketTagging(t.ctx, t.me, b, many), objapi.KindInvalidTag, "PutBucketTagging with 51 tags")
		t.must(t.l.PutBucketTagging(t.ctx, t.me, b, many[:50]), "PutBucketTagging with 50 tags")
		t.wantKind(t.l.PutBucketTagging(t.ctx, t.me, b, []objapi.Tag{{Key: "a"}, {Key: "a"}}), objapi.KindInvalidTag, "PutBucketTagging with a repeated key")
		t.must(t.l.DeleteBucketTagging(t.ctx, t.me, b), "DeleteBucketTagging")
		_, err = t.l.GetBucketTagging(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchTagSet, "GetBucketTagging after DeleteBucketTagging")
		t.must(t.l.PutBucketTagging(t.ctx, t.me, b, tags), "PutBucketTagging")
		t.must(t.l.DeleteBucket(t.ctx, t.me, b), "DeleteBucket")
		t.must(t.l.CreateBucket(t.ctx, t.me, b), "CreateBucket again")
		_, err = t.l.GetBucketTagging(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchTagSet, "a new bucket of the same name")
		_, err = t.l.GetBucketTagging(t.ctx, t.me, "objtest-never-created")
		t.wantKind(err, objapi.KindNoSuchBucket, "GetBucketTagging of a missing bucket")
	}},
	// Uploads in progress do not keep a bucket: as S3 does, DeleteBucket
	// aborts them with it. An object with them does.
	{"DeleteWithUploads", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "u", objapi.PutOptions{})
		t.part(b, "u", id, 1, []byte("teil"))
		t.upload(b, "v", objapi.PutOptions{})
		t.put(b, "k", []byte("x"), objapi.PutOptions{})
		t.wantKind(t.l.DeleteBucket(t.ctx, t.me, b), objapi.KindBucketNotEmpty, "DeleteBucket with an object and uploads")
		if _, err := t.l.HeadUpload(t.ctx, t.me, b, "u", id); err != nil {
			t.Errorf("a refused DeleteBucket aborted an upload: %v", err)
		}
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{}), "DeleteObject")
		t.must(t.l.DeleteBucket(t.ctx, t.me, b), "DeleteBucket with uploads in progress")
		_, err := t.l.HeadBucket(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchBucket, "HeadBucket after DeleteBucket")
		// Made anew, the bucket has none of the old uploads.
		t.must(t.l.CreateBucket(t.ctx, t.me, b), "CreateBucket again")
		_, err = t.l.HeadUpload(t.ctx, t.me, b, "u", id)
		t.wantKind(err, objapi.KindNoSuchUpload, "an upload of the deleted bucket")
		res, err := t.l.ListMultipartUploads(t.ctx, t.me, b, objapi.ListUploadsOptions{MaxUploads: 10})
		t.must(err, "ListMultipartUploads")
		if len(res.Uploads) != 0 {
			t.Errorf("the new bucket lists the old one's uploads: %+v", res.Uploads)
		}
	}},
}
