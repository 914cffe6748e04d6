package objapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidBucketName(t *testing.T) {
	for _, name := range []string{"abc", "akten-2024", "a.b.c", "0-9", strings.Repeat("a", 63)} {
		if err := ValidBucketName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"ab", strings.Repeat("a", 64), "Akten", "a_b", "-ab", "ab-", ".ab", "a..b", "a.-b", "a-.b",
		"192.168.1.1", "xn--abc", "sthree-abc", "amzn-s3-demo-x", "abc-s3alias", "abc--ol-s3", "abc.mrap", "abc--x-s3", "abc--table-s3"} {
		if err := ValidBucketName(name); !IsKind(err, KindInvalidBucket) {
			t.Errorf("%q: %v, want KindInvalidBucket", name, err)
		}
	}
}

func TestValidObjectKey(t *testing.T) {
	for _, key := range []string{"a", "../../etc/passwd", "ä/ö/ü", " ", strings.Repeat("k", MaxKeyLen)} {
		if err := ValidObjectKey(key); err != nil {
			t.Errorf("%q: %v", key, err)
		}
	}
	for key, kind := range map[string]Kind{"": KindInvalidKey, "a\xffb": KindInvalidKey, "a\x00b": KindInvalidKey,
		strings.Repeat("k", MaxKeyLen+1): KindKeyTooLong} {
		if err := ValidObjectKey(key); !IsKind(err, kind) {
			t.Errorf("%.20q: %v, want %v", key, err, kind)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{Op: "GetObject", Kind: KindNoSuchKey, Bucket: "b", Key: "k", Err: errors.New("cause")})
	if KindOf(err) != KindNoSuchKey || !IsKind(err, KindNoSuchKey) || IsKind(err, KindNoSuchBucket) {
		t.Errorf("kind of %v: %v", err, KindOf(err))
	}
	if KindOf(errors.New("plain")) != KindInternal {
		t.Error("an error without a kind is not KindInternal")
	}
	if got := err.Error(); got != "wrapped: GetObject: no such key (b/k): cause" {
		t.Errorf("Error() = %q", got)
	}
}
