// Package checksum knows the checksum algorithms S3 clients send
// (x-amz-checksum-*): their names, digests and encodings, and how a
// multipart object's checksum is formed from its parts' — COMPOSITE, a
// checksum of the part checksums ("-N"), or FULL_OBJECT, the CRC of the
// whole object combined from the parts' CRCs without reading them again.
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/crc64nvme"
	sha256 "github.com/minio/sha256-simd"
	"github.com/zeebo/xxh3"
)

// Checksum types of multipart uploads.
const (
	Composite  = "COMPOSITE"
	FullObject = "FULL_OBJECT"
)

// Algorithm is one S3 checksum algorithm.
type Algorithm struct {
	Name   string // as S3 spells it: "CRC32", "CRC32C", ...
	Header string // the header (or trailer) carrying its value
	Size   int    // digest bytes
	New    func() hash.Hash
	// poly is the reflected polynomial of a CRC (0 for the others): CRCs
	// can be combined (FULL_OBJECT), hashes cannot.
	poly  uint64
	width int
}

// algorithms is botocore's S3 model's list. Every digest travels as
// standard base64 of its big-endian bytes, which each constructor's Sum
// appends. (xxhash encodings checked against awscrt; see s3api/sigv4.)
var algorithms = [...]Algorithm{
	{"CRC32", "x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }, 0xEDB88320, 32},
	{"CRC32C", "x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }, 0x82F63B78, 32},
	{"CRC64NVME", "x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64nvme.New() }, 0x9A6C9329AC4BC9B5, 64},
	{"SHA1", "x-amz-checksum-sha1", 20, sha1.New, 0, 0},
	{"SHA256", "x-amz-checksum-sha256", 32, sha256.New, 0, 0},
	{"SHA512", "x-amz-checksum-sha512", 64, sha512.New, 0, 0},
	{"MD5", "x-amz-checksum-md5", 16, md5.New, 0, 0},
	{"XXHASH64", "x-amz-checksum-xxhash64", 8, func() hash.Hash { return xxhash.New() }, 0, 0},
	{"XXHASH3", "x-amz-checksum-xxhash3", 8, func() hash.Hash { return xxh3.New() }, 0, 0},
	{"XXHASH128", "x-amz-checksum-xxhash128", 16, func() hash.Hash { return xxh3.New128() }, 0, 0},
}

// Lookup finds an algorithm by name, ignoring case.
func Lookup(name string) (*Algorithm, bool) {
	for i := range algorithms {
		if strings.EqualFold(algorithms[i].Name, name) {
			return &algorithms[i], true
		}
	}
	return nil, false
}

// ByHeader finds an algorithm by the header that carries its value.
func ByHeader(header string) (*Algorithm, bool) {
	for i := range algorithms {
		if strings.EqualFold(algorithms[i].Header, header) {
			return &algorithms[i], true
		}
	}
	return nil, false
}

// Names lists the algorithms as S3 spells them.
func Names() []string {
	out := make([]string, len(algorithms))
	for i := range algorithms {
		out[i] = algorithms[i].Name
	}
	return out
}

// IsCRC reports whether the algorithm is a CRC, which FULL_OBJECT needs.
func (a *Algorithm) IsCRC() bool { return a.poly != 0 }

// Encode is a digest as S3 sends it: standard base64 with padding.
func Encode(digest []byte) string { return base64.StdEncoding.EncodeToString(digest) }

// Decode parses a value of the algorithm: only the canonical base64 of a
// digest of the right size, so that one digest has one spelling.
func (a *Algorithm) Decode(value string) ([]byte, error) {
	if len(value) != base64.StdEncoding.EncodedLen(a.Size) {
		return nil, fmt.Errorf("checksum: %s value %q is not the base64 of %d bytes", a.Name, value, a.Size)
	}
	d, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil || len(d) != a.Size || Encode(d) != value {
		return nil, fmt.Errorf("checksum: %s value %q is not canonical base64", a.Name, value)
	}
	return d, nil
}

// Types returns the multipart checksum types S3 allows for the algorithm,
// the default first: CRC32 and CRC32C allow both (COMPOSITE by default),
// CRC64NVME only FULL_OBJECT, the hashes only COMPOSITE.
func (a *Algorithm) Types() []string {
	switch a.Name {
	case "CRC32", "CRC32C":
		return []string{Composite, FullObject}
	case "CRC64NVME":
		return []string{FullObject}
	}
	return []string{Composite}
}

// AllowsType reports whether t is one of Types.
func (a *Algorithm) AllowsType(t string) bool {
	for _, x := range a.Types() {
		if x == t {
			return true
		}
	}
	return false
}

// CompositeOf is S3's COMPOSITE checksum of a multipart object: the
// algorithm over the concatenated binary part checksums, then "-N".
func (a *Algorithm) CompositeOf(parts [][]byte) string {
	h := a.New()
	for _, p := range parts {
		h.Write(p)
	}
	return fmt.Sprintf("%s-%d", Encode(h.Sum(nil)), len(parts))
}

// Part is one part's CRC and length, for FullObjectOf.
type Part struct {
	CRC  []byte
	Size int64
}

// FullObjectOf is S3's FULL_OBJECT checksum of a multipart object: the CRC
// of the whole object, combined from the parts' CRCs and lengths.
func (a *Algorithm) FullObjectOf(parts []Part) (string, error) {
	if !a.IsCRC() {
		return "", fmt.Errorf("checksum: %s cannot be combined", a.Name)
	}
	var crc uint64
	for i, p := range parts {
		if len(p.CRC) != a.Size {
			return "", fmt.Errorf("checksum: part %d's %s has %d bytes", i+1, a.Name, len(p.CRC))
		}
		v := beUint(p.CRC)
		if i == 0 {
			crc = v
			continue
		}
		crc = combine(crc, v, p.Size, a.poly, a.width)
	}
	out := make([]byte, a.Size)
	if a.Size == 4 {
		binary.BigEndian.PutUint32(out, uint32(crc))
	} else {
		binary.BigEndian.PutUint64(out, crc)
	}
	return Encode(out), nil
}

func beUint(b []byte) uint64 {
	if len(b) == 4 {
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// combine returns CRC(A‖B) from CRC(A), CRC(B) and len(B), for a reflected
// CRC of the given width whose initial value and final XOR are all ones (as
// CRC-32, CRC-32C and CRC-64/NVME are): zlib's crc32_combine, by squaring a
// GF(2) matrix that appends zero bits, generalised to 64 bits.
func combine(crcA, crcB uint64, lenB int64, poly uint64, width int) uint64 {
	if lenB <= 0 {
		return crcA
	}
	var odd, even [64]uint64
	odd[0] = poly // the operator for one zero bit
	row := uint64(1)
	for n := 1; n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	square(even[:width], odd[:width]) // two zero bits
	square(odd[:width], even[:width]) // four zero bits
	for {
		square(even[:width], odd[:width]) // one zero byte, then more
		if lenB&1 != 0 {
			crcA = times(even[:width], crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		square(odd[:width], even[:width])
		if lenB&1 != 0 {
			crcA = times(odd[:width], crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func square(dst, mat []uint64) {
	for n := range mat {
		dst[n] = times(mat, mat[n])
	}
}
