package objtest

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"slices"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// minPart is S3's minimum size of every part but the last.
const minPart = 5 << 20

// upload starts a multipart upload of bucket/key.
func (t *T) upload(bucket, key string, opts objapi.PutOptions) string {
	t.Helper()
	id, err := t.l.CreateMultipartUpload(t.ctx, t.me, bucket, key, opts)
	t.must(err, "CreateMultipartUpload %s/%s", bucket, key)
	if id == "" {
		t.Fatal("CreateMultipartUpload: empty upload id")
	}
	return id
}

// part uploads one part.
func (t *T) part(bucket, key, id string, n int, body []byte, sums ...objapi.Checksum) objapi.PartInfo {
	t.Helper()
	opts := objapi.PartOptions{Size: int64(len(body))}
	if sums != nil {
		opts.Checksums = func() []objapi.Checksum { return sums }
	}
	info, err := t.l.UploadPart(t.ctx, t.me, bucket, key, id, n, bytes.NewReader(body), opts)
	t.must(err, "UploadPart %d", n)
	if info.Number != n || info.Size != int64(len(body)) || info.ETag != md5hex(body) {
		t.Errorf("UploadPart %d: %+v", n, info)
	}
	return info
}

// multipartETag is S3's ETag of an object made of these parts.
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		h.Write(md5raw(p))
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
}

func completeParts(infos ...objapi.PartInfo) []objapi.CompletePart {
	var out []objapi.CompletePart
	for _, p := range infos {
		out = append(out, objapi.CompletePart{Number: p.Number, ETag: p.ETag})
	}
	return out
}

var multipartTests = []test{
	{"Complete", func(t *T) {
		b := t.bucket()
		opts := objapi.PutOptions{ContentType: "video/mp4", Headers: objapi.Headers{ContentLanguage: "de"},
			UserMeta: map[string]string{"quelle": "kamera"}, Tags: []objapi.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}
		id := t.upload(b, "film.mp4", opts)
		p1, p2, p3 := data(minPart, 20), data(minPart+1, 21), data(1234, 22)
		i2 := t.part(b, "film.mp4", id, 2, p2)
		i1 := t.part(b, "film.mp4", id, 1, p1)
		i3 := t.part(b, "film.mp4", id, 3, p3)
		want := objapi.ObjectInfo{Bucket: b, Key: "film.mp4", Size: int64(len(p1) + len(p2) + len(p3)), ETag: multipartETag(p1, p2, p3),
			ContentType: opts.ContentType, Headers: opts.Headers, UserMeta: opts.UserMeta, TagCount: 2, PartsCount: 3}
		info, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "film.mp4", id, completeParts(i1, i2, i3), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload")
		t.checkInfo("CompleteMultipartUpload's info", info, want)
		want.Modified = info.Modified
		obj, got := t.get(b, "film.mp4", objapi.GetOptions{})
		t.checkInfo("GetObject's info", obj.Info, want)
		if !bytes.Equal(got, slices.Concat(p1, p2, p3)) {
			t.Error("the object is not its parts")
		}
		for n, p := range map[int][]byte{1: p1, 2: p2, 3: p3} {
			obj, got := t.get(b, "film.mp4", objapi.GetOptions{PartNumber: n})
			off := map[int]int{1: 0, 2: len(p1), 3: len(p1) + len(p2)}[n]
			if !bytes.Equal(got, p) || obj.Offset != int64(off) || obj.Length != int64(len(p)) || !obj.Partial {
				t.Errorf("part %d: offset %d length %d partial %v", n, obj.Offset, obj.Length, obj.Partial)
			}
			if part := obj.Info.Part; part == nil || part.Number != n || part.Size != int64(len(p)) || part.ETag != md5hex(p) {
				t.Errorf("part %d's description: %+v", n, part)
			}
		}
		if obj.Info.Parts != nil {
			t.Errorf("a GetObject without Parts lists them: %+v", obj.Info.Parts)
		}
		obj, _ = t.get(b, "film.mp4", objapi.GetOptions{Parts: true})
		if ps := obj.Info.Parts; len(ps) != 3 || ps[0].Number != 1 || ps[0].Size != int64(len(p1)) || ps[1].Number != 2 ||
			ps[1].Size != int64(len(p2)) || ps[2].Number != 3 || ps[2].Size != int64(len(p3)) || ps[2].ETag != md5hex(p3) {
			t.Errorf("the object's parts: %+v", ps)
		}
		_, err = t.l.GetObject(t.ctx, t.me, b, "film.mp4", objapi.GetOptions{PartNumber: 4})
		t.wantKind(err, objapi.KindInvalidRange, "part 4 of 3")
		r := objapi.RangeSpec{First: int64(len(p1)) - 10, Last: int64(len(p1)) + 9}
		if _, got := t.get(b, "film.mp4", objapi.GetOptions{Range: &r}); !bytes.Equal(got, slices.Concat(p1[len(p1)-10:], p2[:10])) {
			t.Error("a range across two parts reads wrong bytes")
		}
		tags, err := t.l.GetObjectTagging(t.ctx, t.me, b, "film.mp4")
		t.must(err, "GetObjectTagging")
		if !sameTags(tags, opts.Tags) {
			t.Errorf("tags %v, want the upload's %v", tags, opts.Tags)
		}
		// The upload is over.
		_, err = t.l.ListParts(t.ctx, t.me, b, "film.mp4", id, objapi.ListPartsOptions{MaxParts: 10})
		t.wantKind(err, objapi.KindNoSuchUpload, "ListParts after completion")
		_, err = t.l.UploadPart(t.ctx, t.me, b, "film.mp4", id, 4, bytes.NewReader(nil), objapi.PartOptions{})
		t.wantKind(err, objapi.KindNoSuchUpload, "UploadPart after completion")
	}},
	// A completion retried after it succeeded (its answer lost) is
	// answered as S3 does, with the object it made; a retry that lists
	// other parts, or one after the object was replaced, is not.
	{"CompleteAgain", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{ChecksumAlgorithm: "SHA256", UserMeta: map[string]string{"az": "17"}})
		p1, p2 := data(minPart, 26), data(10, 27)
		i1 := t.part(b, "k", id, 1, p1, sumOf("SHA256", p1))
		i2 := t.part(b, "k", id, 2, p2, sumOf("SHA256", p2))
		first, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(i1, i2), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload")
		info, err := t.l.HeadUpload(t.ctx, t.me, b, "k", id)
		t.must(err, "HeadUpload of the completed upload")
		if !info.Completed || info.UploadID != id {
			t.Errorf("HeadUpload after completion: %+v", info)
		}
		again, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(i1, i2), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload again")
		if again.ETag != first.ETag || again.Size != first.Size || !slices.Equal(again.Checksums, first.Checksums) ||
			again.ChecksumType != first.ChecksumType || again.UserMeta["az"] != "17" {
			t.Errorf("the retry answers %+v, the completion answered %+v", again, first)
		}
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(i1), objapi.CompleteOptions{})
		t.wantKind(err, objapi.KindNoSuchUpload, "a retry listing other parts")
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "other", id, completeParts(i1, i2), objapi.CompleteOptions{})
		t.wantKind(err, objapi.KindNoSuchUpload, "a retry for another key")
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.other, b, "k", id, completeParts(i1, i2), objapi.CompleteOptions{})
		t.wantKind(err, objapi.KindAccessDenied, "a retry by another tenant")
		t.put(b, "k", []byte("replaced"), objapi.PutOptions{})
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(i1, i2), objapi.CompleteOptions{})
		t.wantKind(err, objapi.KindNoSuchUpload, "a retry after the object was replaced")
		_, err = t.l.HeadUpload(t.ctx, t.me, b, "k", id)
		t.wantKind(err, objapi.KindNoSuchUpload, "HeadUpload after the object was replaced")
	}},
	// HeadUpload finds an upload of the caller's by its id, bucket and key
	// alone, until it is aborted, or completed and its object replaced.
	{"HeadUpload", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{ChecksumAlgorithm: "CRC32"})
		info, err := t.l.HeadUpload(t.ctx, t.me, b, "k", id)
		t.must(err, "HeadUpload")
		if info.UploadID != id || info.Bucket != b || info.Key != "k" || info.Owner != t.me.Tenant || info.Initiated.IsZero() ||
			info.ChecksumAlgorithm != "CRC32" || info.ChecksumType != "COMPOSITE" {
			t.Errorf("HeadUpload: %+v", info)
		}
		_, err = t.l.HeadUpload(t.ctx, t.me, b, "other", id)
		t.wantKind(err, objapi.KindNoSuchUpload, "HeadUpload with another key")
		_, err = t.l.HeadUpload(t.ctx, t.me, b, "k", "no-such-upload")
		t.wantKind(err, objapi.KindNoSuchUpload, "HeadUpload of an unknown id")
		_, err = t.l.HeadUpload(t.ctx, t.other, b, "k", id)
		t.wantKind(err, objapi.KindAccessDenied, "HeadUpload by another tenant")
		_, err = t.l.HeadUpload(t.ctx, t.me, "objtest-never-created", "k", id)
		t.wantKind(err, objapi.KindNoSuchBucket, "HeadUpload in a missing bucket")
		t.must(t.l.AbortMultipartUpload(t.ctx, t.me, b, "k", id), "AbortMultipartUpload")
		_, err = t.l.HeadUpload(t.ctx, t.me, b, "k", id)
		t.wantKind(err, objapi.KindNoSuchUpload, "HeadUpload after abort")
		id = t.upload(b, "k", objapi.PutOptions{})
		p := t.part(b, "k", id, 1, []byte("x"))
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(p), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload")
		// Completed into the key's current version: a retried completion
		// is answered (CompleteAgain).
		info, err = t.l.HeadUpload(t.ctx, t.me, b, "k", id)
		t.must(err, "HeadUpload after completion")
		if !info.Completed {
			t.Errorf("HeadUpload after completion: %+v", info)
		}
		t.put(b, "k", []byte("y"), objapi.PutOptions{})
		_, err = t.l.HeadUpload(t.ctx, t.me, b, "k", id)
		t.wantKind(err, objapi.KindNoSuchUpload, "HeadUpload after its object was replaced")
	}},
	// The completed object is the parts listed, in their order, not every
	// part uploaded; one part alone may be of any size.
	{"CompleteSome", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		p1, p2, p3 := data(minPart, 23), data(100, 24), data(200, 25)
		i1 := t.part(b, "k", id, 1, p1)
		t.part(b, "k", id, 2, p2)
		i3 := t.part(b, "k", id, 3, p3)
		info, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(i1, i3), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload of parts 1 and 3")
		if info.ETag != multipartETag(p1, p3) || info.Size != int64(len(p1)+len(p3)) || info.PartsCount != 2 {
			t.Errorf("completed: %+v", info)
		}
		t.wantData(b, "k", slices.Concat(p1, p3))

		id = t.upload(b, "klein", objapi.PutOptions{})
		small := t.part(b, "klein", id, 7, []byte("klein"))
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "klein", id, completeParts(small), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload of one small part")
		t.wantData(b, "klein", []byte("klein"))
	}},
	// A part uploaded again replaces the earlier one.
	{"PartReplaced", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		t.part(b, "k", id, 1, []byte("erste Fassung"))
		second := t.part(b, "k", id, 1, []byte("zweite"))
		res, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{MaxParts: 10})
		t.must(err, "ListParts")
		if len(res.Parts) != 1 || res.Parts[0].ETag != second.ETag || res.Parts[0].Size != 6 {
			t.Errorf("ListParts: %+v", res.Parts)
		}
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(second), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload")
		t.wantData(b, "k", []byte("zweite"))
	}},
	{"CompleteErrors", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		p1, p2, p3 := data(minPart, 26), data(minPart-1, 27), data(10, 28)
		i1, i2, i3 := t.part(b, "k", id, 1, p1), t.part(b, "k", id, 2, p2), t.part(b, "k", id, 3, p3)
		for _, tc := range []struct {
			what  string
			parts []objapi.CompletePart
			kind  objapi.Kind
		}{
			{"no parts", nil, objapi.KindMalformedXML},
			{"a small part before the last", completeParts(i1, i2, i3), objapi.KindEntityTooSmall},
			{"descending", completeParts(i3, i1), objapi.KindInvalidPartOrder},
			{"a part twice", completeParts(i1, i1), objapi.KindInvalidPartOrder},
			{"a part not uploaded", []objapi.CompletePart{{Number: 1, ETag: i1.ETag}, {Number: 4, ETag: i3.ETag}}, objapi.KindInvalidPart},
			{"another part's ETag", []objapi.CompletePart{{Number: 1, ETag: i3.ETag}}, objapi.KindInvalidPart},
		} {
			_, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, tc.parts, objapi.CompleteOptions{})
			t.wantKind(err, tc.kind, "CompleteMultipartUpload with %s", tc.what)
		}
		// Failed completions leave the upload as it was.
		res, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{MaxParts: 10})
		t.must(err, "ListParts")
		if len(res.Parts) != 3 {
			t.Errorf("after failed completions: %d parts", len(res.Parts))
		}
		t.wantNoObject(b, "k")
		_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, completeParts(i1, i3), objapi.CompleteOptions{})
		t.must(err, "CompleteMultipartUpload after failed attempts")
		t.wantData(b, "k", slices.Concat(p1, p3))
	}},
	{"UnknownUpload", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		for _, tc := range []struct{ key, id string }{{"k", "0000000000000000deadbeefdeadbeef"}, {"k", ""}, {"anderer-key", id}} {
			_, err := t.l.UploadPart(t.ctx, t.me, b, tc.key, tc.id, 1, bytes.NewReader([]byte("x")), objapi.PartOptions{Size: 1})
			t.wantKind(err, objapi.KindNoSuchUpload, "UploadPart to %s/%q", tc.key, tc.id)
			_, err = t.l.ListParts(t.ctx, t.me, b, tc.key, tc.id, objapi.ListPartsOptions{MaxParts: 10})
			t.wantKind(err, objapi.KindNoSuchUpload, "ListParts of %s/%q", tc.key, tc.id)
			_, err = t.l.CompleteMultipartUpload(t.ctx, t.me, b, tc.key, tc.id, []objapi.CompletePart{{Number: 1, ETag: md5hex([]byte("x"))}}, objapi.CompleteOptions{})
			t.wantKind(err, objapi.KindNoSuchUpload, "CompleteMultipartUpload of %s/%q", tc.key, tc.id)
			t.wantKind(t.l.AbortMultipartUpload(t.ctx, t.me, b, tc.key, tc.id), objapi.KindNoSuchUpload, "AbortMultipartUpload of %s/%q", tc.key, tc.id)
		}
		// Another tenant cannot reach the upload, even knowing its id.
		_, err := t.l.UploadPart(t.ctx, t.other, b, "k", id, 1, bytes.NewReader([]byte("x")), objapi.PartOptions{Size: 1})
		t.wantKind(err, objapi.KindAccessDenied, "UploadPart by another tenant")
		_, err = t.l.ListParts(t.ctx, t.other, b, "k", id, objapi.ListPartsOptions{MaxParts: 10})
		t.wantKind(err, objapi.KindAccessDenied, "ListParts by another tenant")
		t.wantKind(t.l.AbortMultipartUpload(t.ctx, t.other, b, "k", id), objapi.KindAccessDenied, "AbortMultipartUpload by another tenant")
		// The upload is still there.
		t.must(t.l.AbortMultipartUpload(t.ctx, t.me, b, "k", id), "AbortMultipartUpload")
	}},
	{"PartNumbers", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		for _, n := range []int{0, -1, 10001} {
			_, err := t.l.UploadPart(t.ctx, t.me, b, "k", id, n, bytes.NewReader([]byte("x")), objapi.PartOptions{Size: 1})
			t.wantKind(err, objapi.KindInvalidArgument, "UploadPart number %d", n)
		}
		t.part(b, "k", id, 10000, []byte("x"))
	}},
	{"Abort", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		t.part(b, "k", id, 1, []byte("teil"))
		t.must(t.l.AbortMultipartUpload(t.ctx, t.me, b, "k", id), "AbortMultipartUpload")
		_, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{MaxParts: 10})
		t.wantKind(err, objapi.KindNoSuchUpload, "ListParts after abort")
		_, err = t.l.UploadPart(t.ctx, t.me, b, "k", id, 2, bytes.NewReader([]byte("x")), objapi.PartOptions{Size: 1})
		t.wantKind(err, objapi.KindNoSuchUpload, "UploadPart after abort")
		t.wantKind(t.l.AbortMultipartUpload(t.ctx, t.me, b, "k", id), objapi.KindNoSuchUpload, "AbortMultipartUpload again")
		t.wantNoObject(b, "k")
		res, err := t.l.ListMultipartUploads(t.ctx, t.me, b, objapi.ListUploadsOptions{MaxUploads: 10})
		t.must(err, "ListMultipartUploads")
		if len(res.Uploads) != 0 {
			t.Errorf("an aborted upload is listed: %+v", res.Uploads)
		}
	}},
	{"PartBody", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{})
		body := data(1000, 29)
		_, err := t.l.UploadPart(t.ctx, t.me, b, "k", id, 1, bytes.NewReader(body), objapi.PartOptions{Size: 999})
		t.wantKind(err, objapi.KindIncompleteBody, "UploadPart of 1000 bytes announced as 999")
		_, err = t.l.UploadPart(t.ctx, t.me, b, "k", id, 1, bytes.NewReader(body), objapi.PartOptions{Size: 1000, ContentMD5: md5raw([]byte("x"))})
		t.wantKind(err, objapi.KindBadDigest, "UploadPart with another body's Content-MD5")
		bad := errors.New("chunk signature mismatch")
		_, err = t.l.UploadPart(t.ctx, t.me, b, "k", id, 1, &failingBody{r: bytes.NewReader(body), err: bad}, objapi.PartOptions{Size: 1000})
		if !errors.Is(err, bad) {
			t.Errorf("UploadPart with a failing body: %v, want the body's error", err)
		}
		_, err = t.l.UploadPart(t.ctx, t.me, b, "k", id, 1, bytes.NewReader(nil), objapi.PartOptions{Size: 5<<30 + 1})
		t.wantKind(err, objapi.KindEntityTooLarge, "UploadPart announcing 5 GiB + 1")
		res, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{MaxParts: 10})
		t.must(err, "ListParts")
		if len(res.Parts) != 0 {
			t.Errorf("failed part uploads left parts: %+v", res.Parts)
		}
		t.part(b, "k", id, 1, body)
	}},
	{"ListParts", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{ContentType: "text/plain"})
		nums := []int{1, 2, 5, 9, 10, 11}
		for _, n := range slices.Backward(nums) {
			t.part(b, "k", id, n, data(n, byte(n)))
		}
		res, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{MaxParts: 1000})
		t.must(err, "ListParts")
		u := res.Upload
		if u.Bucket != b || u.Key != "k" || u.UploadID != id || u.Initiated.IsZero() || u.Owner != t.me.Tenant || u.StorageClass != "STANDARD" {
			t.Errorf("ListParts' upload: %+v", u)
		}
		var got []int
		for _, p := range res.Parts {
			got = append(got, p.Number)
			if p.Size != int64(p.Number) || p.ETag != md5hex(data(p.Number, byte(p.Number))) || p.Modified.IsZero() {
				t.Errorf("part %+v", p)
			}
		}
		if !slices.Equal(got, nums) || res.Truncated || res.NextMarker != 11 {
			t.Errorf("ListParts: %v truncated %v next %d", got, res.Truncated, res.NextMarker)
		}
		// Pages of two, after each NextMarker.
		got = nil
		for marker, page := 0, 0; ; page++ {
			res, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{Marker: marker, MaxParts: 2})
			t.must(err, "ListParts after %d", marker)
			if len(res.Parts) > 2 || page > len(nums) {
				t.Fatalf("ListParts after %d: %d parts", marker, len(res.Parts))
			}
			for _, p := range res.Parts {
				got = append(got, p.Number)
			}
			if len(res.Parts) > 0 && res.NextMarker != res.Parts[len(res.Parts)-1].Number {
				t.Errorf("ListParts after %d: NextMarker %d", marker, res.NextMarker)
			}
			if !res.Truncated {
				break
			}
			marker = res.NextMarker
		}
		if !slices.Equal(got, nums) {
			t.Errorf("ListParts page by page: %v", got)
		}
		res, err = t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{Marker: 5, MaxParts: 3})
		t.must(err, "ListParts after 5")
		if len(res.Parts) != 3 || res.Parts[0].Number != 9 || res.Truncated {
			t.Errorf("ListParts after 5, 3 parts: %+v truncated %v", res.Parts, res.Truncated)
		}
	}},
}
