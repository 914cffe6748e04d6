package objapi

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is S3's limit on object keys, in bytes of UTF-8.
const MaxKeyLen = 1024

// ValidBucketName checks S3's rules for general purpose bucket names:
// 3..63 characters of lowercase letters, digits, dots and hyphens, starting
// and ending with a letter or digit, no two adjacent dots, not shaped like
// an IP address, and none of the reserved prefixes and suffixes.
func ValidBucketName(name string) error {
	bad := func(msg string) error { return Errorf("CreateBucket", KindInvalidBucket, "%q: %s", name, msg) }
	if len(name) < 3 || len(name) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("may hold only lowercase letters, digits, dots and hyphens")
		}
	}
	isAlnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return bad("must not have adjacent dots or a dot next to a hyphen")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad("must not start with " + p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("must not end with " + s)
		}
	}
	return nil
}

// ValidObjectKey checks an object key: 1..1024 bytes of valid UTF-8. Keys
// such as "../../etc/passwd" are valid S3 keys and harmless here: keys are
// never used as file names (shards are named by random ids).
func ValidObjectKey(key string) error {
	switch {
	case key == "":
		return Errorf("", KindInvalidKey, "empty object key")
	case len(key) > MaxKeyLen:
		return Errorf("", KindKeyTooLong, "key is %d bytes, the limit is %d", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return Errorf("", KindInvalidKey, "key is not valid UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		// XML 1.0 cannot carry U+0000, so no listing could name the key.
		return Errorf("", KindInvalidKey, "key contains U+0000")
	}
	return nil
}
