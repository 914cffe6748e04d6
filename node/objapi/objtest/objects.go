package objtest

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

var objectTests = []test{
	{"PutGet", func(t *T) {
		b := t.bucket()
		body := data(100_000, 1)
		opts := objapi.PutOptions{
			ContentType: "application/pdf",
			Headers:     objapi.Headers{CacheControl: "no-cache", ContentDisposition: `attachment; filename="a.pdf"`, ContentEncoding: "gzip", ContentLanguage: "de", Expires: "Thu, 01 Dec 1994 16:00:00 GMT"},
			UserMeta:    map[string]string{"abteilung": "bauamt", "nummer": "42"},
			Tags:        []objapi.Tag{{Key: "akte", Value: "7"}},
		}
		want := objapi.ObjectInfo{Bucket: b, Key: "akten/2024/a.pdf", Size: int64(len(body)), ETag: md5hex(body),
			ContentType: opts.ContentType, Headers: opts.Headers, UserMeta: opts.UserMeta, TagCount: 1}
		info := t.put(b, want.Key, body, opts)
		t.checkInfo("PutObject's info", info, want)
		want.Modified = info.Modified
		obj, got := t.get(b, want.Key, objapi.GetOptions{})
		t.checkInfo("GetObject's info", obj.Info, want)
		if !bytes.Equal(got, body) || obj.Offset != 0 || obj.Length != int64(len(body)) || obj.Partial {
			t.Errorf("GetObject: offset %d length %d partial %v, %d bytes equal %v", obj.Offset, obj.Length, obj.Partial, len(got), bytes.Equal(got, body))
		}
	}},
	{"Empty", func(t *T) {
		b := t.bucket()
		info := t.put(b, "leer", nil, objapi.PutOptions{})
		t.checkInfo("PutObject's info", info, objapi.ObjectInfo{Bucket: b, Key: "leer", ETag: md5hex(nil)})
		obj, got := t.get(b, "leer", objapi.GetOptions{})
		if len(got) != 0 || obj.Length != 0 || obj.Info.Size != 0 {
			t.Errorf("empty object: %d bytes, length %d, size %d", len(got), obj.Length, obj.Info.Size)
		}
	}},
	{"UnknownSize", func(t *T) {
		b := t.bucket()
		body := data(3000, 2)
		info, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(body), objapi.PutOptions{Size: -1})
		t.must(err, "PutObject of unknown size")
		if info.Size != int64(len(body)) || info.ETag != md5hex(body) {
			t.Errorf("PutObject: size %d ETag %s", info.Size, info.ETag)
		}
		t.wantData(b, "k", body)
	}},
	{"Overwrite", func(t *T) {
		b := t.bucket()
		t.put(b, "k", data(500, 3), objapi.PutOptions{ContentType: "text/plain", UserMeta: map[string]string{"a": "1"}, Tags: []objapi.Tag{{Key: "t", Value: "1"}}})
		second := data(700, 4)
		info := t.put(b, "k", second, objapi.PutOptions{})
		t.checkInfo("the new version", info, objapi.ObjectInfo{Bucket: b, Key: "k", Size: 700, ETag: md5hex(second)})
		obj, got := t.get(b, "k", objapi.GetOptions{})
		t.checkInfo("GetObject after overwrite", obj.Info, objapi.ObjectInfo{Bucket: b, Key: "k", Size: 700, ETag: md5hex(second), Modified: info.Modified})
		if !bytes.Equal(got, second) {
			t.Error("GetObject returns the old bytes")
		}
		tags, err := t.l.GetObjectTagging(t.ctx, t.me, b, "k")
		t.must(err, "GetObjectTagging")
		if len(tags) != 0 {
			t.Errorf("the new version kept the old one's tags: %v", tags)
		}
	}},
	// Keys are any 1 to 1024 bytes of UTF-8 without U+0000, never paths.
	{"Keys", func(t *T) {
		b := t.bucket()
		keys := []string{"../../etc/passwd", "a//b", "/führend", "ende/", " ", "%2F", "a?b#c", "😀", strings.Repeat("k", objapi.MaxKeyLen)}
		for i, k := range keys {
			t.put(b, k, []byte{byte(i)}, objapi.PutOptions{})
		}
		for i, k := range keys {
			t.wantData(b, k, []byte{byte(i)})
		}
		if got, want := t.keys(b), slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
			t.Errorf("listed %q, want %q", got, want)
		}
	}},
	{"InvalidKeys", func(t *T) {
		b := t.bucket()
		for key, kind := range map[string]objapi.Kind{
			"": objapi.KindInvalidKey, "a\xffb": objapi.KindInvalidKey, "a\x00b": objapi.KindInvalidKey,
			strings.Repeat("k", objapi.MaxKeyLen+1): objapi.KindKeyTooLong,
		} {
			_, err := t.l.PutObject(t.ctx, t.me, b, key, bytes.NewReader(nil), objapi.PutOptions{Size: 0})
			t.wantKind(err, kind, "PutObject %.20q", key)
			_, err = t.l.CreateMultipartUpload(t.ctx, t.me, b, key, objapi.PutOptions{})
			t.wantKind(err, kind, "CreateMultipartUpload %.20q", key)
			t.wantKind(t.l.DeleteObject(t.ctx, t.me, b, key, objapi.DeleteOptions{}), kind, "DeleteObject %.20q", key)
		}
		if keys := t.keys(b); len(keys) != 0 {
			t.Errorf("invalid keys were stored: %q", keys)
		}
	}},
	{"Missing", func(t *T) {
		b := t.bucket()
		t.wantNoObject(b, "k")
		_, err := t.l.GetObjectTagging(t.ctx, t.me, b, "k")
		t.wantKind(err, objapi.KindNoSuchKey, "GetObjectTagging")
	}},
	{"IncompleteBody", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("alt"), objapi.PutOptions{})
		for _, n := range []int{5, 20} {
			_, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(data(n, 5)), objapi.PutOptions{Size: 10})
			t.wantKind(err, objapi.KindIncompleteBody, "PutObject of %d bytes announced as 10", n)
		}
		t.wantData(b, "k", []byte("alt"))
	}},
	{"ContentMD5", func(t *T) {
		b := t.bucket()
		body := []byte("inhalt")
		t.put(b, "k", body, objapi.PutOptions{ContentMD5: md5raw(body)})
		_, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader([]byte("anders")), objapi.PutOptions{Size: 6, ContentMD5: md5raw(body)})
		t.wantKind(err, objapi.KindBadDigest, "PutObject with another body's Content-MD5")
		t.wantData(b, "k", body)
		_, err = t.l.PutObject(t.ctx, t.me, b, "neu", bytes.NewReader([]byte("anders")), objapi.PutOptions{Size: 6, ContentMD5: md5raw(body)})
		t.wantKind(err, objapi.KindBadDigest, "PutObject of a new key with another body's Content-MD5")
		t.wantNoObject(b, "neu")
	}},
	// A body that fails at its end (a bad signature or checksum found at
	// EOF) stores nothing, and its error is found in the one returned.
	{"BodyFailsAtEnd", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("alt"), objapi.PutOptions{})
		bad := errors.New("the payload's signature does not match")
		body := data(70_000, 6)
		_, err := t.l.PutObject(t.ctx, t.me, b, "k", &failingBody{r: bytes.NewReader(body), err: bad}, objapi.PutOptions{Size: int64(len(body))})
		if !errors.Is(err, bad) {
			t.Errorf("PutObject: %v, want the body's error", err)
		}
		t.wantData(b, "k", []byte("alt"))
		_, err = t.l.PutObject(t.ctx, t.me, b, "neu", &failingBody{r: bytes.NewReader(body), err: bad}, objapi.PutOptions{Size: -1})
		if !errors.Is(err, bad) {
			t.Errorf("PutObject of a new key: %v, want the body's error", err)
		}
		t.wantNoObject(b, "neu")
	}},
	{"TooLarge", func(t *T) {
		b := t.bucket()
		_, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(nil), objapi.PutOptions{Size: 5<<30 + 1})
		t.wantKind(err, objapi.KindEntityTooLarge, "PutObject announcing 5 GiB + 1")
		t.wantNoObject(b, "k")
	}},
	{"UserMetaLimit", func(t *T) {
		b := t.bucket()
		meta := map[string]string{"a": strings.Repeat("x", 2047)} // 2048 bytes: S3's limit
		t.put(b, "k", nil, objapi.PutOptions{UserMeta: meta})
		meta["b"] = ""
		_, err := t.l.PutObject(t.ctx, t.me, b, "k2", bytes.NewReader(nil), objapi.PutOptions{UserMeta: meta})
		t.wantKind(err, objapi.KindInvalidArgument, "PutObject with 2049 bytes of user metadata")
		_, err = t.l.CreateMultipartUpload(t.ctx, t.me, b, "k2", objapi.PutOptions{UserMeta: meta})
		t.wantKind(err, objapi.KindInvalidArgument, "CreateMultipartUpload with 2049 bytes of user metadata")
	}},
	{"Delete", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("x"), objapi.PutOptions{})
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{}), "DeleteObject")
		t.wantNoObject(b, "k")
		// A key that does not exist is deleted already.
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{}), "DeleteObject of a deleted key")
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "nie-da", objapi.DeleteOptions{}), "DeleteObject of a key never written")
	}},
	{"DeleteObjects", func(t *T) {
		b := t.bucket()
		for _, k := range []string{"a", "b", "c", "bleibt"} {
			t.put(b, k, []byte(k), objapi.PutOptions{})
		}
		keys := []string{"a", "b", "c", "nie-da", "a\xff"}
		res, err := t.l.DeleteObjects(t.ctx, t.me, b, keys)
		t.must(err, "DeleteObjects")
		if len(res) != len(keys) {
			t.Fatalf("DeleteObjects: %d results for %d keys", len(res), len(keys))
		}
		for _, r := range res {
			switch {
			case r.Key == "a\xff":
				t.wantKind(r.Err, objapi.KindInvalidKey, "DeleteObjects' result for an invalid key")
			case !slices.Contains(keys, r.Key):
				t.Errorf("DeleteObjects: a result for %q, which was not asked for", r.Key)
			case r.Err != nil:
				t.Errorf("DeleteObjects %q: %v", r.Key, r.Err)
			}
		}
		if got := t.keys(b); !slices.Equal(got, []string{"bleibt"}) {
			t.Errorf("after DeleteObjects the bucket holds %q", got)
		}
		_, err = t.l.DeleteObjects(t.ctx, t.me, "objtest-never-created", []string{"a"})
		t.wantKind(err, objapi.KindNoSuchBucket, "DeleteObjects in a missing bucket")
	}},
}
