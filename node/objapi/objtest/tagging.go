package objtest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// badTagSets break S3's rules for tags.
var badTagSets = map[string][]objapi.Tag{
	"eleven tags":          elevenTags(),
	"an empty key":         {{Key: "", Value: "x"}},
	"a repeated key":       {{Key: "a", Value: "1"}, {Key: "a", Value: "2"}},
	"a key of 129 runes":   {{Key: strings.Repeat("ä", 129), Value: "x"}},
	"a value of 257 runes": {{Key: "a", Value: strings.Repeat("ä", 257)}},
	"a key not UTF-8":      {{Key: "a\xff", Value: "x"}},
}

func elevenTags() []objapi.Tag {
	var out []objapi.Tag
	for i := range 11 {
		out = append(out, objapi.Tag{Key: fmt.Sprint("k", i), Value: "v"})
	}
	return out
}

var taggingTests = []test{
	{"PutGetDelete", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("x"), objapi.PutOptions{})
		tags, err := t.l.GetObjectTagging(t.ctx, t.me, b, "k")
		t.must(err, "GetObjectTagging")
		if len(tags) != 0 {
			t.Errorf("a new object has tags %v", tags)
		}
		set := []objapi.Tag{{Key: "projekt", Value: "Ausbau B88"}, {Key: "leer", Value: ""}, {Key: strings.Repeat("ä", 128), Value: strings.Repeat("ö", 256)}}
		t.must(t.l.PutObjectTagging(t.ctx, t.me, b, "k", set), "PutObjectTagging")
		tags, err = t.l.GetObjectTagging(t.ctx, t.me, b, "k")
		t.must(err, "GetObjectTagging")
		if !sameTags(tags, set) {
			t.Errorf("tags %v, want %v", tags, set)
		}
		obj, _ := t.get(b, "k", objapi.GetOptions{})
		if obj.Info.TagCount != 3 {
			t.Errorf("TagCount %d", obj.Info.TagCount)
		}
		// Replaced, not merged.
		t.must(t.l.PutObjectTagging(t.ctx, t.me, b, "k", set[:1]), "PutObjectTagging")
		if tags, _ := t.l.GetObjectTagging(t.ctx, t.me, b, "k"); !sameTags(tags, set[:1]) {
			t.Errorf("tags %v after replacing them", tags)
		}
		t.must(t.l.DeleteObjectTagging(t.ctx, t.me, b, "k"), "DeleteObjectTagging")
		tags, err = t.l.GetObjectTagging(t.ctx, t.me, b, "k")
		t.must(err, "GetObjectTagging after DeleteObjectTagging")
		if len(tags) != 0 {
			t.Errorf("tags %v after DeleteObjectTagging", tags)
		}
		if obj, _ := t.get(b, "k", objapi.GetOptions{}); obj.Info.TagCount != 0 {
			t.Errorf("TagCount %d after DeleteObjectTagging", obj.Info.TagCount)
		}
		// Tagging does not change the object.
		t.wantData(b, "k", []byte("x"))
	}},
	{"Missing", func(t *T) {
		b := t.bucket()
		_, err := t.l.GetObjectTagging(t.ctx, t.me, b, "nie-da")
		t.wantKind(err, objapi.KindNoSuchKey, "GetObjectTagging")
		t.wantKind(t.l.PutObjectTagging(t.ctx, t.me, b, "nie-da", []objapi.Tag{{Key: "a", Value: "b"}}), objapi.KindNoSuchKey, "PutObjectTagging")
		t.wantKind(t.l.DeleteObjectTagging(t.ctx, t.me, b, "nie-da"), objapi.KindNoSuchKey, "DeleteObjectTagging")
		t.wantNoObject(b, "nie-da")
	}},
	{"Invalid", func(t *T) {
		b := t.bucket()
		t.put(b, "k", []byte("x"), objapi.PutOptions{Tags: []objapi.Tag{{Key: "gut", Value: "1"}}})
		for what, tags := range badTagSets {
			t.wantKind(t.l.PutObjectTagging(t.ctx, t.me, b, "k", tags), objapi.KindInvalidTag, "PutObjectTagging with %s", what)
			_, err := t.l.PutObject(t.ctx, t.me, b, "neu", bytes.NewReader(nil), objapi.PutOptions{Tags: tags})
			t.wantKind(err, objapi.KindInvalidTag, "PutObject with %s", what)
			_, err = t.l.CreateMultipartUpload(t.ctx, t.me, b, "neu", objapi.PutOptions{Tags: tags})
			t.wantKind(err, objapi.KindInvalidTag, "CreateMultipartUpload with %s", what)
			_, err = t.l.CopyObject(t.ctx, t.me, objapi.CopySource{Bucket: b, Key: "k"}, b, "neu", objapi.CopyOptions{ReplaceTags: true, Put: objapi.PutOptions{Tags: tags}})
			t.wantKind(err, objapi.KindInvalidTag, "CopyObject replacing tags with %s", what)
		}
		if tags, _ := t.l.GetObjectTagging(t.ctx, t.me, b, "k"); !sameTags(tags, []objapi.Tag{{Key: "gut", Value: "1"}}) {
			t.Errorf("refused tag sets changed the tags: %v", tags)
		}
		t.wantNoObject(b, "neu")
		// Ten are allowed.
		t.must(t.l.PutObjectTagging(t.ctx, t.me, b, "k", elevenTags()[:10]), "PutObjectTagging with ten tags")
	}},
}
