package crypt

import (
	"crypto/rand"
	"fmt"
	"io"
)

// A sealed blob is a small value (an object's user metadata, say) encrypted
// in one piece under a sub-key of its object's data key.
//
//	offset size  field
//	0      1     format version (1)
//	1      1     cipher (1 = AES-256-GCM)
//	2      12    nonce, random
//	14     n+16  ciphertext and tag
//
// The associated data is bytes [0, 2) followed by the caller's ad.
const (
	blobVersion1  = 1
	blobHeaderLen = 14
)

// SealMetadata encrypts pt (user metadata) under dk. One data key seals
// only a handful of blobs, so random 96-bit nonces are far from their limit.
func SealMetadata(dk *DataKey, pt, ad []byte) ([]byte, error) {
	k := dk.k.derive(purposeMetadata)
	aead, err := AES256GCM.newAEAD(k[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, blobHeaderLen, blobHeaderLen+len(pt)+TagLen)
	out[0], out[1] = blobVersion1, byte(AES256GCM)
	if _, err := io.ReadFull(rand.Reader, out[2:blobHeaderLen]); err != nil {
		return nil, fmt.Errorf("crypt: nonce: %w", err)
	}
	return aead.Seal(out, out[2:blobHeaderLen], pt, blobAD(out[:2], ad)), nil
}

// OpenMetadata decrypts a blob sealed by SealMetadata with the same ad.
func OpenMetadata(dk *DataKey, blob, ad []byte) ([]byte, error) {
	if len(blob) < blobHeaderLen+TagLen || blob[0] != blobVersion1 || Cipher(blob[1]) != AES256GCM {
		return nil, fmt.Errorf("%w: sealed blob", ErrFormat)
	}
	k := dk.k.derive(purposeMetadata)
	aead, err := AES256GCM.newAEAD(k[:])
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, blob[2:blobHeaderLen], blob[blobHeaderLen:], blobAD(blob[:2], ad))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed blob", ErrAuth)
	}
	return pt, nil
}

func blobAD(hdr, ad []byte) []byte {
	return append(append(make([]byte, 0, len(hdr)+len(ad)), hdr...), ad...)
}
