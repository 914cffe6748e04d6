package sigv4

import (
	"encoding/hex"
	"slices"
	"testing"
)

// TestChecksumVectors pins each algorithm's digest and byte order on published
// check values.
func TestChecksumVectors(t *testing.T) {
	for _, tc := range []struct {
		alg, input, hex string
		source          string
	}{
		// The "check" values of the CRC catalogue (reveng.sourceforge.io/crc-catalogue).
		{"CRC32", "123456789", "cbf43926", "CRC-32/ISO-HDLC check"},
		{"CRC32C", "123456789", "e3069283", "CRC-32/ISCSI check"},
		{"CRC64NVME", "123456789", "ae8b14860a799888", "CRC-64/NVME check"},
		// FIPS 180 / RFC 1321 test vectors.
		{"SHA1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d", "FIPS 180"},
		{"SHA256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "FIPS 180"},
		{"SHA512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", "FIPS 180"},
		{"MD5", "abc", "900150983cd24fb0d6963f7d28e17f72", "RFC 1321"},
		// awscrt, which botocore uses for the xxhash family: aws-c-checksums
		// tests/xxhash_test.c and aws-crt-python test/test_checksums.py.
		{"XXHASH64", "Hello world", "c500b0c912b376d8", "aws-c-checksums"},
		{"XXHASH3", "Hello world", "b6acb9d84a38ff74", "aws-c-checksums"},
		{"XXHASH128", "Hello world", "7351f89812f97382b91d05b31e04dd7f", "aws-c-checksums"},
	} {
		h, err := NewChecksum(tc.alg)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(tc.input))
		got := h.Sum(nil)
		if hex.EncodeToString(got) != tc.hex {
			t.Errorf("%s(%q) = %x, want %s (%s)", tc.alg, tc.input, got, tc.hex, tc.source)
		}
		a := lookupAlgorithm(tc.alg)
		if a.Size != len(got) || h.Size() != a.Size {
			t.Errorf("%s: registry size %d, digest %d, Size() %d", tc.alg, a.Size, len(got), h.Size())
		}
		// The value round-trips through its wire form.
		back, err := DecodeChecksum(tc.alg, EncodeChecksum(got))
		if err != nil || !slices.Equal(back, got) {
			t.Errorf("%s: decode(encode) = %x, %v", tc.alg, back, err)
		}
	}
}

// TestChecksumRegistry: every algorithm of botocore's S3 model (the
// ChecksumAlgorithm enum of data/s3/2006-03-01/service-2.json, botocore
// 1.43) is registered, with the header botocore sends.
func TestChecksumRegistry(t *testing.T) {
	botocore := []string{"CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME", "SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128"}
	for _, name := range botocore {
		hdr, err := ChecksumHeader(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if a := algorithmForHeader(hdr); a == nil || a.Name != name {
			t.Errorf("%s: header %s does not lead back", name, hdr)
		}
	}
	if got := ChecksumAlgorithms(); len(got) != len(botocore) {
		t.Errorf("ChecksumAlgorithms() = %v", got)
	}
	if _, err := NewChecksum("crc32c"); err != nil {
		t.Errorf("names are case-insensitive: %v", err)
	}
	for _, bad := range []string{"", "CRC16", "SHA3", "x-amz-checksum-crc32"} {
		if _, err := NewChecksum(bad); !isErr(err, ErrUnsupportedChecksum) {
			t.Errorf("NewChecksum(%q) = %v", bad, err)
		}
	}
}

func TestDecodeChecksumRejects(t *testing.T) {
	for _, tc := range []struct{ alg, value string }{
		{"CRC32", ""},
		{"CRC32", "AAAAAA="},      // short
		{"CRC32", "AAAAAAA="},     // 5 bytes
		{"CRC32", "AAAAAA"},       // no padding
		{"CRC32", "AAAAAB=="},     // non-zero padding bits: another spelling of AAAAAA==
		{"CRC32", "AA\nAAA=="},    // decoders skip newlines
		{"CRC32", "AAAA AA=="},    // blank
		{"CRC32", "AAAA-_=="},     // URL alphabet
		{"SHA256", "AAAAAA=="},    // a CRC32 value for SHA256
		{"CRC64NVME", "AAAAAA=="}, // too short
	} {
		if _, err := DecodeChecksum(tc.alg, tc.value); !isErr(err, ErrInvalidChecksum) {
			t.Errorf("DecodeChecksum(%s, %q) = %v, want ErrInvalidChecksum", tc.alg, tc.value, err)
		}
	}
	if _, err := DecodeChecksum("CRC32", "AAAAAA=="); err != nil {
		t.Errorf("valid value: %v", err)
	}
}
