package sigv4

import (
	"encoding/base64"
	"fmt"
	"hash"
	"strings"

	"github.com/kommunal-cloud/kcs/node/checksum"
)

// algorithm is one S3 checksum algorithm. The table of algorithms (names,
// headers, digest sizes, constructors, and how multipart checksums combine)
// lives in node/checksum, shared with the object layer; every digest
// travels as standard base64 of its big-endian bytes.
type algorithm = checksum.Algorithm

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
	a, _ := checksum.Lookup(name)
	return a
}

// algorithmForHeader finds an algorithm by the name of the header (or
// trailer) that carries its value, ignoring case.
func algorithmForHeader(name string) *algorithm {
	a, _ := checksum.ByHeader(name)
	return a
}

// ChecksumAlgorithms returns the names of the supported checksum algorithms,
// as S3 spells them ("CRC32", "CRC32C", …).
func ChecksumAlgorithms() []string { return checksum.Names() }

// NewChecksum returns a new hash computing the S3 checksum alg (a name as
// ChecksumAlgorithms returns, in any case). Its Sum is the digest that
// EncodeChecksum turns into the header value. An algorithm this package does
// not implement is an error wrapping ErrUnsupportedChecksum.
func NewChecksum(alg string) (hash.Hash, error) {
	a := lookupAlgorithm(alg)
	if a == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedChecksum, alg)
	}
	return a.New(), nil
}

// ChecksumHeader returns the lower-case name of the header that carries the
// value of checksum alg, e.g. "x-amz-checksum-crc32c".
func ChecksumHeader(alg string) (string, error) {
	a := lookupAlgorithm(alg)
	if a == nil {
		return "", fmt.Errorf("%w: %q", ErrUnsupportedChecksum, alg)
	}
	return a.Header, nil
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
	return decodeValue(a, value)
}

func decodeValue(a *algorithm, value string) ([]byte, error) {
	if len(value) != base64.StdEncoding.EncodedLen(a.Size) {
		return nil, fmt.Errorf("%w: %s value %q is not the base64 of %d bytes", ErrInvalidChecksum, a.Header, value, a.Size)
	}
	digest, err := base64.StdEncoding.Strict().DecodeString(value)
	// The length check above rules out most malleability; re-encoding rules
	// out the rest (base64 decoders skip CR and LF).
	if err != nil || len(digest) != a.Size || EncodeChecksum(digest) != value {
		return nil, fmt.Errorf("%w: %s value %q is not canonical base64", ErrInvalidChecksum, a.Header, value)
	}
	return digest, nil
}
