package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Cipher identifies an AEAD. The numbers are part of the formats.
type Cipher uint8

const (
	// AES256GCM is the default for object data: with AES-NI and CLMUL it
	// runs at about 5 GB/s per core here, against 2.2 GB/s for
	// ChaCha20-Poly1305 (see `make bench`).
	AES256GCM Cipher = 1
	// ChaCha20Poly1305 is for CPUs without AES instructions.
	ChaCha20Poly1305 Cipher = 2
	// XChaCha20Poly1305 wraps keys, where its random 192-bit nonces matter
	// more than speed.
	XChaCha20Poly1305 Cipher = 3
)

func (c Cipher) String() string {
	switch c {
	case AES256GCM:
		return "AES-256-GCM"
	case ChaCha20Poly1305:
		return "ChaCha20-Poly1305"
	case XChaCha20Poly1305:
		return "XChaCha20-Poly1305"
	}
	return fmt.Sprintf("Cipher(%d)", uint8(c))
}

func (c Cipher) newAEAD(k []byte) (cipher.AEAD, error) {
	switch c {
	case AES256GCM:
		b, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	case ChaCha20Poly1305:
		return chacha20poly1305.New(k)
	}
	return nil, fmt.Errorf("%w: cipher %d is not a stream cipher", ErrFormat, c)
}

// Stream format constants.
const (
	HeaderLen                = 16
	TagLen                   = 16
	DefaultPackageShift      = 16 // 64 KiB packages
	minPackageShift          = 10
	maxPackageShift          = 24
	streamVersion1           = 1
	noncePrefixLen           = 7
	maxPackages              = 1 << 32
	finalFlag           byte = 1
)

// ErrTruncated is returned when a ciphertext stream ends early or its last
// package is not marked final.
var ErrTruncated = errors.New("crypt: ciphertext truncated")

// Header is the 16 bytes that start every encrypted stream.
//
//	offset size  field
//	0      1     format version (1)
//	1      1     cipher (1 = AES-256-GCM, 2 = ChaCha20-Poly1305)
//	2      1     log2 of the package size P (10..24; 16 = 64 KiB)
//	3      1     reserved, zero
//	4      7     nonce prefix, random for every stream
//	11     5     reserved, zero
//
// Packages follow: plaintext cut into P-byte pieces, each sealed on its own,
// so a range decrypts only the packages covering it. There are always
// floor(size/P)+1 packages; the last one is marked final and holds the
// remaining size mod P bytes (it is empty when the size is a multiple of P),
// so the ciphertext size is HeaderLen + size + TagLen·(floor(size/P)+1).
// Package i (from 0) is sealed with
//
//	nonce = prefix (7) || i as uint32 big-endian (4) || 1 if final else 0 (1)
//	ad    = the 16 header bytes || the stream's associated data
//
// so a reordered, dropped, duplicated or appended package, a cut stream, or
// a changed header fails authentication. The stream's associated data binds
// it to its place (a multipart part number, say); it is not stored.
type Header [HeaderLen]byte

// ParseHeader checks b and returns it as a Header.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderLen {
		return h, fmt.Errorf("%w: stream header is %d bytes", ErrFormat, len(b))
	}
	copy(h[:], b)
	if h[0] != streamVersion1 || h[3] != 0 || h[11]|h[12]|h[13]|h[14]|h[15] != 0 ||
		h[2] < minPackageShift || h[2] > maxPackageShift ||
		(Cipher(h[1]) != AES256GCM && Cipher(h[1]) != ChaCha20Poly1305) {
		return h, fmt.Errorf("%w: stream header % x", ErrFormat, b)
	}
	return h, nil
}

func newHeader(c Cipher, shift uint8) (Header, error) {
	var h Header
	h[0], h[1], h[2] = streamVersion1, byte(c), shift
	if _, err := io.ReadFull(rand.Reader, h[4:4+noncePrefixLen]); err != nil {
		return h, fmt.Errorf("crypt: nonce prefix: %w", err)
	}
	return h, nil
}

// Cipher is the stream's cipher.
func (h Header) Cipher() Cipher { return Cipher(h[1]) }

// PackageSize is the plaintext size of the stream's packages.
func (h Header) PackageSize() int { return 1 << h[2] }

// CiphertextSize is the size of the whole stream, header included, for
// plainSize bytes of plaintext.
func (h Header) CiphertextSize(plainSize int64) int64 {
	return HeaderLen + plainSize + TagLen*(plainSize/int64(h.PackageSize())+1)
}

// CiphertextRange returns the part of the stream (offsets counted from its
// header's first byte) that holds the packages covering plaintext
// [off, off+n). A range that reaches the end of the plaintext includes the
// final package, even when that is an empty one, so that reading to the end
// proves the stream ends there. For n == 0 it returns an empty range.
func (h Header) CiphertextRange(plainSize, off, n int64) (ctOff, ctLen int64) {
	if n <= 0 {
		return HeaderLen, 0
	}
	first, last := h.packageRange(plainSize, off, n)
	P := int64(h.PackageSize())
	ctOff = HeaderLen + first*(P+TagLen)
	end := HeaderLen + last*(P+TagLen) + h.packageLen(plainSize, last)
	return ctOff, end - ctOff
}

// packageRange returns the packages CiphertextRange covers; n > 0.
func (h Header) packageRange(plainSize, off, n int64) (first, last int64) {
	P := int64(h.PackageSize())
	first, last = off/P, (off+n-1)/P
	if off+n == plainSize {
		last = plainSize / P
	}
	return first, last
}

// packageLen is the ciphertext length of package i.
func (h Header) packageLen(plainSize, i int64) int64 {
	P := int64(h.PackageSize())
	if i < plainSize/P {
		return P + TagLen
	}
	return plainSize - i*P + TagLen
}

// packer seals and opens the packages of one stream.
type packer struct {
	aead  cipher.AEAD
	ad    []byte // header || stream AD
	nonce [12]byte
}

func newPacker(dk *DataKey, h Header, streamAD []byte) (*packer, error) {
	k := dk.k.derive(purposeContent)
	aead, err := h.Cipher().newAEAD(k[:])
	if err != nil {
		return nil, err
	}
	p := &packer{aead: aead}
	p.ad = append(append(make([]byte, 0, HeaderLen+len(streamAD)), h[:]...), streamAD...)
	copy(p.nonce[:], h[4:4+noncePrefixLen])
	return p, nil
}

func (p *packer) setNonce(seq int64, final bool) error {
	if seq < 0 || seq >= maxPackages {
		return fmt.Errorf("crypt: package %d beyond the stream's limit", seq)
	}
	binary.BigEndian.PutUint32(p.nonce[noncePrefixLen:], uint32(seq))
	p.nonce[11] = 0
	if final {
		p.nonce[11] = finalFlag
	}
	return nil
}

func (p *packer) seal(dst, pt []byte, seq int64, final bool) ([]byte, error) {
	if err := p.setNonce(seq, final); err != nil {
		return nil, err
	}
	return p.aead.Seal(dst, p.nonce[:], pt, p.ad), nil
}

func (p *packer) open(dst, ct []byte, seq int64, final bool) ([]byte, error) {
	if err := p.setNonce(seq, final); err != nil {
		return nil, err
	}
	pt, err := p.aead.Open(dst, p.nonce[:], ct, p.ad)
	if err != nil {
		return nil, fmt.Errorf("%w: package %d", ErrAuth, seq)
	}
	return pt, nil
}
