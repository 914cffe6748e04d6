package objtest

import (
	"bytes"
	"slices"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// copyBucket holds "quelle", with metadata, tags and a CRC32 checksum.
func (t *T) copyBucket() (bucket string, body []byte, src objapi.ObjectInfo, opts objapi.PutOptions) {
	t.Helper()
	bucket = t.bucket()
	body = data(50_000, 60)
	opts = objapi.PutOptions{ContentType: "text/csv", Headers: objapi.Headers{CacheControl: "max-age=60"},
		UserMeta: map[string]string{"stand": "2024"}, Tags: []objapi.Tag{{Key: "quelle", Value: "ja"}},
		Checksums: func() []objapi.Checksum { return []objapi.Checksum{sumOf("CRC32", body)} }}
	src = t.put(bucket, "quelle", body, opts)
	return bucket, body, src, opts
}

var copyTests = []test{
	// Without REPLACE a copy keeps the source's metadata, tags and
	// full-object checksum.
	{"Copy", func(t *T) {
		b, body, src, opts := t.copyBucket()
		dst := t.bucket()
		info, err := t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "quelle"}, dst, "kopie", objapi.CopyOptions{})
		t.must(err, "CopyObject")
		want := objapi.ObjectInfo{Bucket: dst, Key: "kopie", Size: src.Size, ETag: src.ETag, ContentType: opts.ContentType,
			Headers: opts.Headers, UserMeta: opts.UserMeta, TagCount: 1, Checksums: src.Checksums, ChecksumType: "FULL_OBJECT"}
		t.checkInfo("CopyObject's info", info, want)
		want.Modified = info.Modified
		obj, got := t.get(dst, "kopie", objapi.GetOptions{})
		t.checkInfo("the copy", obj.Info, want)
		if !bytes.Equal(got, body) {
			t.Error("the copy's bytes differ")
		}
		tags, err := t.l.GetObjectTagging(t.ctx, t.me, dst, "kopie")
		t.must(err, "GetObjectTagging")
		if !sameTags(tags, opts.Tags) {
			t.Errorf("the copy's tags: %v", tags)
		}
		// The copy is a version of its own.
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "quelle", objapi.DeleteOptions{}), "DeleteObject of the source")
		t.wantData(dst, "kopie", body)
	}},
	{"Replace", func(t *T) {
		b, body, src, opts := t.copyBucket()
		put := objapi.PutOptions{ContentType: "text/plain", Headers: objapi.Headers{ContentLanguage: "en"}, UserMeta: map[string]string{"neu": "1"},
			Tags: []objapi.Tag{{Key: "x", Value: "1"}, {Key: "y", Value: "2"}}}
		for _, tc := range []struct {
			name        string
			meta, tags  bool
			contentType string
			headers     objapi.Headers
			userMeta    map[string]string
			wantTags    []objapi.Tag
		}{
			{"metadata", true, false, put.ContentType, put.Headers, put.UserMeta, opts.Tags},
			{"tags", false, true, opts.ContentType, opts.Headers, opts.UserMeta, put.Tags},
			{"both", true, true, put.ContentType, put.Headers, put.UserMeta, put.Tags},
		} {
			key := "ersetzt-" + tc.name
			info, err := t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "quelle"}, b, key,
				objapi.CopyOptions{ReplaceMetadata: tc.meta, ReplaceTags: tc.tags, Put: put})
			t.must(err, "CopyObject replacing %s", tc.name)
			t.checkInfo("CopyObject replacing "+tc.name, info, objapi.ObjectInfo{Bucket: b, Key: key, Size: src.Size, ETag: src.ETag,
				ContentType: tc.contentType, Headers: tc.headers, UserMeta: tc.userMeta, TagCount: len(tc.wantTags),
				Checksums: src.Checksums, ChecksumType: "FULL_OBJECT"})
			tags, err := t.l.GetObjectTagging(t.ctx, t.me, b, key)
			t.must(err, "GetObjectTagging")
			if !sameTags(tags, tc.wantTags) {
				t.Errorf("replacing %s: tags %v, want %v", tc.name, tags, tc.wantTags)
			}
			t.wantData(b, key, body)
		}
	}},
	// Copying an object onto itself must change something.
	{"OntoItself", func(t *T) {
		b, body, src, _ := t.copyBucket()
		self := objapi.CopySource{Bucket: b, Key: "quelle"}
		_, err := t.l.CopyObject(t.ctx, t.me, self, b, "quelle", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindInvalidRequest, "CopyObject onto itself unchanged")
		info, err := t.l.CopyObject(t.ctx, t.me, self, b, "quelle", objapi.CopyOptions{ReplaceMetadata: true, Put: objapi.PutOptions{ContentType: "text/plain"}})
		t.must(err, "CopyObject onto itself with new metadata")
		if info.ContentType != "text/plain" || info.ETag != src.ETag {
			t.Errorf("copied onto itself: %+v", info)
		}
		_, err = t.l.CopyObject(t.ctx, t.me, self, b, "quelle", objapi.CopyOptions{Put: objapi.PutOptions{ChecksumAlgorithm: "SHA256"}})
		t.must(err, "CopyObject onto itself with a new checksum algorithm")
		t.wantData(b, "quelle", body)
	}},
	// A new checksum algorithm is computed over the copied bytes; a
	// COMPOSITE checksum described parts the copy does not have.
	{"Checksums", func(t *T) {
		b, body, _, _ := t.copyBucket()
		info, err := t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "quelle"}, b, "sha",
			objapi.CopyOptions{Put: objapi.PutOptions{ChecksumAlgorithm: "SHA256"}})
		t.must(err, "CopyObject with SHA256")
		if !sameChecksums(info.Checksums, []objapi.Checksum{sumOf("SHA256", body)}) || info.ChecksumType != "FULL_OBJECT" {
			t.Errorf("CopyObject with SHA256: %v %q", info.Checksums, info.ChecksumType)
		}
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "quelle"}, b, "md4",
			objapi.CopyOptions{Put: objapi.PutOptions{ChecksumAlgorithm: "MD4"}})
		t.wantKind(err, objapi.KindInvalidArgument, "CopyObject with an unknown checksum algorithm")

		p1, p2 := data(minPart, 61), data(10, 62)
		t.checksummedUpload(b, "teile", "CRC32", "COMPOSITE", p1, p2)
		info, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "teile"}, b, "teile-kopie", objapi.CopyOptions{})
		t.must(err, "CopyObject of a multipart object")
		if len(info.Checksums) != 0 || info.ChecksumType != "" || info.PartsCount != 0 || info.ETag != md5hex(slices.Concat(p1, p2)) {
			t.Errorf("copy of a multipart object: %+v", info)
		}
	}},
	{"Errors", func(t *T) {
		b, _, _, _ := t.copyBucket()
		_, err := t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "nie-da"}, b, "k", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindNoSuchKey, "CopyObject of a missing key")
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: "objtest-never-created", Key: "k"}, b, "k", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindNoSuchBucket, "CopyObject from a missing bucket")
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "quelle"}, "objtest-never-created", "k", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindNoSuchBucket, "CopyObject into a missing bucket")
		// Another tenant's object cannot be copied, nor copied into its bucket.
		ob := b + "-o"
		t.must(t.l.CreateBucket(t.ctx, t.other, ob), "CreateBucket by the other tenant")
		_, err = t.l.PutObject(t.ctx, t.other, ob, "fremd", bytes.NewReader([]byte("x")), objapi.PutOptions{Size: 1})
		t.must(err, "PutObject by the other tenant")
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: ob, Key: "fremd"}, b, "k", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindAccessDenied, "CopyObject from another tenant's bucket")
		_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "quelle"}, ob, "k", objapi.CopyOptions{})
		t.wantKind(err, objapi.KindAccessDenied, "CopyObject into another tenant's bucket")
		t.wantNoObject(b, "k")
	}},
	// The source's conditions, as S3 evaluates them; a failed one is
	// KindPrecondition, never KindNotModified.
	{"SourceConditions", func(t *T) {
		b, _, src, _ := t.copyBucket()
		mod := src.Modified.Truncate(time.Second)
		before, after := mod.Add(-time.Hour), mod.Add(time.Hour)
		etag, other := src.ETag, md5hex([]byte("anders"))
		id := t.upload(b, "teil", objapi.PutOptions{})
		for i, tc := range []struct {
			src objapi.CopySource
			ok  bool
		}{
			{objapi.CopySource{IfMatch: etag}, true},
			{objapi.CopySource{IfMatch: `"` + etag + `"`}, true},
			{objapi.CopySource{IfMatch: "*"}, true},
			{objapi.CopySource{IfMatch: `"` + other + `", "` + etag + `"`}, true},
			{objapi.CopySource{IfMatch: other}, false},
			{objapi.CopySource{IfNoneMatch: other}, true},
			{objapi.CopySource{IfNoneMatch: etag}, false},
			{objapi.CopySource{IfNoneMatch: `W/"` + etag + `"`}, false},
			{objapi.CopySource{IfNoneMatch: "*"}, false},
			{objapi.CopySource{IfModifiedSince: before}, true},
			{objapi.CopySource{IfModifiedSince: mod}, false},
			{objapi.CopySource{IfModifiedSince: after}, false},
			{objapi.CopySource{IfUnmodifiedSince: after}, true},
			{objapi.CopySource{IfUnmodifiedSince: mod}, true},
			{objapi.CopySource{IfUnmodifiedSince: before}, false},
			// An If-Match that holds wins over a failing If-Unmodified-Since.
			{objapi.CopySource{IfMatch: etag, IfUnmodifiedSince: before}, true},
			{objapi.CopySource{IfMatch: other, IfUnmodifiedSince: after}, false},
			// If-None-Match decides alone: If-Modified-Since is ignored beside it.
			{objapi.CopySource{IfNoneMatch: etag, IfModifiedSince: before}, false},
			{objapi.CopySource{IfNoneMatch: other, IfModifiedSince: after}, true},
			{objapi.CopySource{IfMatch: etag, IfNoneMatch: other, IfModifiedSince: after, IfUnmodifiedSince: before}, true},
		} {
			s := tc.src
			s.Bucket, s.Key = b, "quelle"
			_, err := t.l.CopyObject(t.ctx, t.me, s, b, "ziel", objapi.CopyOptions{})
			if tc.ok {
				t.must(err, "case %d: CopyObject %+v", i, s)
			} else {
				t.wantKind(err, objapi.KindPrecondition, "case %d: CopyObject %+v", i, s)
			}
			_, err = t.l.UploadPartCopy(t.ctx, t.me, s, b, "teil", id, 1)
			if tc.ok {
				t.must(err, "case %d: UploadPartCopy %+v", i, s)
			} else {
				t.wantKind(err, objapi.KindPrecondition, "case %d: UploadPartCopy %+v", i, s)
			}
		}
	}},
	// Destination conditions guard the copy as PutObject's guard a write.
	{"DestinationConditions", func(t *T) {
		b, body, _, _ := t.copyBucket()
		src := objapi.CopySource{Bucket: b, Key: "quelle"}
		t.put(b, "ziel", []byte("alt"), objapi.PutOptions{})
		_, err := t.l.CopyObject(t.ctx, t.me, src, b, "ziel", objapi.CopyOptions{Put: objapi.PutOptions{IfNoneMatch: true}})
		t.wantKind(err, objapi.KindPrecondition, "CopyObject If-None-Match: * onto an existing key")
		_, err = t.l.CopyObject(t.ctx, t.me, src, b, "ziel", objapi.CopyOptions{Put: objapi.PutOptions{IfMatch: md5hex([]byte("x"))}})
		t.wantKind(err, objapi.KindPrecondition, "CopyObject If-Match of another ETag")
		t.wantData(b, "ziel", []byte("alt"))
		_, err = t.l.CopyObject(t.ctx, t.me, src, b, "neu", objapi.CopyOptions{Put: objapi.PutOptions{IfMatch: md5hex([]byte("x"))}})
		t.wantKind(err, objapi.KindNoSuchKey, "CopyObject If-Match onto a missing key")
		_, err = t.l.CopyObject(t.ctx, t.me, src, b, "ziel", objapi.CopyOptions{Put: objapi.PutOptions{IfMatch: md5hex([]byte("alt"))}})
		t.must(err, "CopyObject If-Match of the current ETag")
		_, err = t.l.CopyObject(t.ctx, t.me, src, b, "neu", objapi.CopyOptions{Put: objapi.PutOptions{IfNoneMatch: true}})
		t.must(err, "CopyObject If-None-Match: * onto a new key")
		t.wantData(b, "ziel", body)
		t.wantData(b, "neu", body)
	}},
	{"UploadPartCopy", func(t *T) {
		b, body, _, _ := t.copyBucket()
		src := objapi.CopySource{Bucket: b, Key: "quelle"}
		id := t.upload(b, "ziel", objapi.PutOptions{ChecksumAlgorithm: "SHA256"})
		r := objapi.RangeSpec{First: 100, Last: 1099}
		withRange := src
		withRange.Range = &r
		p1, err := t.l.UploadPartCopy(t.ctx, t.me, withRange, b, "ziel", id, 1)
		t.must(err, "UploadPartCopy of a range")
		part := body[100:1100]
		if p1.Number != 1 || p1.Size != 1000 || p1.ETag != md5hex(part) || !sameChecksums(p1.Checksums, []objapi.Checksum{sumOf("SHA256", part)}) {
			t.Errorf("UploadPartCopy of a range: %+v", p1)
		}
		p2, err := t.l.UploadPartCopy(t.ctx, t.me, src, b, "ziel", id, 2)
		t.must(err, "UploadPartCopy of a whole object")
		if p2.Size != int64(len(body)) || p2.ETag != md5hex(body) {
			t.Errorf("UploadPartCopy of a whole object: %+v", p2)
		}
		size := int64(len(body))
		for _, bad := range []objapi.RangeSpec{{First: 0, Last: size}, {First: size, Last: size + 10}} {
			s := src
			s.Range = &bad
			_, err := t.l.UploadPartCopy(t.ctx, t.me, s, b, "ziel", id, 3)
			t.wantKind(err, objapi.KindInvalidRange, "UploadPartCopy of range %+v of %d bytes", bad, size)
		}
		for _, n := range []int{0, 10001} {
			_, err := t.l.UploadPartCopy(t.ctx, t.me, src, b, "ziel", id, n)
			t.wantKind(err, objapi.KindInvalidArgument, "UploadPartCopy number %d", n)
		}
		_, err = t.l.UploadPartCopy(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "nie-da"}, b, "ziel", id, 3)
		t.wantKind(err, objapi.KindNoSuchKey, "UploadPartCopy of a missing key")
		_, err = t.l.UploadPartCopy(t.ctx, t.me, src, b, "ziel", "0000000000000000deadbeefdeadbeef", 3)
		t.wantKind(err, objapi.KindNoSuchUpload, "UploadPartCopy into a missing upload")
		// The first part is small: only as the last part.
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "ziel", id, []objapi.CompletePart{{Number: 2, ETag: p2.ETag}, {Number: 1, ETag: p1.ETag}}, objapi.CompleteOptions{})
		t.wantKind(err, objapi.KindInvalidPartOrder, "CompleteMultipartUpload out of order")
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "ziel", id, completeParts(p1), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload")
		t.wantData(b, "ziel", part)
	}},
}
