package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/crc64nvme"
	sha256 "github.com/minio/sha256-simd"
	"github.com/zeebo/xxh3"
)

// algorithm is one S3 checksum algorithm: its name as S3 spells it in
// x-amz-sdk-checksum-algorithm and XML, the header that carries its value, the
// digest size and a constructor. Every digest travels as standard base64 of its
// big-endian bytes, which is what each constructor's Sum appends.
type algorithm struct {
	name   string
	header string
	size   int
	new    func() hash.Hash
}

// algorithms is the registry: botocore's S3 model (ChecksumAlgorithm enum of
// service-2.json) lists these ten; add a row to support another. It is a
// table, not a registration hook, so that no package state can change.
//
// The xxhash encodings were checked against awscrt, which botocore uses for
// them: aws-c-checksums finalizes XXH64 and XXH3-64 as the canonical
// big-endian 8 bytes and XXH3-128 as high then low 64 bits big-endian (its
// tests: "Hello world" → c500b0c912b376d8, b6acb9d84a38ff74,
// 7351f89812f97382b91d05b31e04dd7f; see TestChecksumVectors).
var algorithms = [...]algorithm{
	{"CRC32", "x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"CRC32C", "x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	{"CRC64NVME", "x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64nvme.New() }},
	{"SHA1", "x-amz-checksum-sha1", 20, sha1.New},
	{"SHA256", "x-amz-checksum-sha256", 32, sha256.New},
	{"SHA512", "x-amz-checksum-sha512", 64, sha512.New},
	{"MD5", "x-amz-checksum-md5", 16, md5.New},
	{"XXHASH64", "x-amz-checksum-xxhash64", 8, func() hash.Hash { return xxhash.New() }},
	{"XXHASH3", "x-amz-checksum-xxhash3", 8, func() hash.Hash { return xxh3.New() }},
	{"XXHASH128", "x-amz-checksum-xxhash128", 16, func() hash.Hash { return xxh3.New128() }},
}

// checksumHeaderPrefix starts every checksum header, and a few that are not
// checksums.
const checksumHeaderPrefix = "x-amz-checksum-"

// isChecksumValueHeader reports whether a lower-case header name carries a
// checksum value: it has the prefix and is none of the headers that share it
// without carrying one (GetObject's mode, CreateMultipartUpload's algorithm
// and type).
func isChecksumValueHeader(name string) bool {
	switch name {
	case "x-amz-checksum-mode", "x-amz-checksum-algorithm", "x-amz-checksum-type":
		return false
	}
	return strings.HasPrefix(name, checksumHeaderPrefix)
}

// lookupAlgorithm finds an algorithm by name, ignoring case.
func lookupAlgorithm(name string) *algorithm {
	for i := range algorithms {
		if strings.EqualFold(algorithms[i].name, name) {
			return &algorithms[i]
		}
	}
	return nil
}

// algorithmForHeader finds an algorithm by the name of the header (or
// trailer) that carries its value, ignoring case.
func algorithmForHeader(name string) *algorithm {
	for i := range algorithms {
		if strings.EqualFold(algorithms[i].header, name) {
			return &algorithms[i]
		}
	}
	return nil
}

// ChecksumAlgorithms returns the names of the supported checksum algorithms,
// as S3 spells them ("CRC32", "CRC32C", …).
func ChecksumAlgorithms() []string {
	names := make([]string, len(algorithms))
	for i := range algorithms {
		names[i] = algorithms[i].name
	}
	return names
}

// NewChecksum returns a new hash computing the S3 checksum alg (a name as
// ChecksumAlgorithms returns, in any case). Its Sum is the digest that
// EncodeChecksum turns into the header value. An algorithm this package does
// not implement is an error wrapping ErrUnsupportedChecksum.
func NewChecksum(alg string) (hash.Hash, error) {
	a := lookupAlgorithm(alg)
	if a == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedChecksum, alg)
	}
	return a.new(), nil
}

// ChecksumHeader returns the lower-case name of the header that carries the
// value of checksum alg, e.g. "x-amz-checksum-crc32c".
func ChecksumHeader(alg string) (string, error) {
	a := lookupAlgorithm(alg)
	if a == nil {
		return "", fmt.Errorf("%w: %q", ErrUnsupportedChecksum, alg)
	}
	return a.header, nil
}

// EncodeChecksum returns a digest as S3 sends it in headers, trailers and XML:
// standard base64 with padding.
func EncodeChecksum(digest []byte) string {
	return base64.StdEncoding.EncodeToString(digest)
}

// DecodeChecksum parses a checksum value of algorithm alg. It accepts only the
// canonical encoding (what EncodeChecksum returns) of a digest of the
// algorithm's size, so that one digest has one spelling; anything else is an
// error wrapping ErrInvalidChecksum.
func DecodeChecksum(alg, value string) ([]byte, error) {
	a := lookupAlgorithm(alg)
	if a == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedChecksum, alg)
	}
	return a.decode(value)
}

func (a *algorithm) decode(value string) ([]byte, error) {
	if len(value) != base64.StdEncoding.EncodedLen(a.size) {
		return nil, fmt.Errorf("%w: %s value %q is not the base64 of %d bytes", ErrInvalidChecksum, a.header, value, a.size)
	}
	digest, err := base64.StdEncoding.Strict().DecodeString(value)
	// The length check above rules out most malleability; re-encoding rules
	// out the rest (base64 decoders skip CR and LF).
	if err != nil || len(digest) != a.size || EncodeChecksum(digest) != value {
		return nil, fmt.Errorf("%w: %s value %q is not canonical base64", ErrInvalidChecksum, a.header, value)
	}
	return digest, nil
}
