package crypt

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// WrappedKey is a key encrypted under another key and bound to its owner.
// It is what the metadata stores; it is not a key and cannot be used as one.
//
// Format v1, byte by byte:
//
//	offset   size  field
//	0        1     format version (1)
//	1        1     cipher (3 = XChaCha20-Poly1305)
//	2        1     kind (1 tenant key, 2 data key, 3 secret)
//	3        1     L, length of the wrapping key's id
//	4        L     wrapping key id (master key id, or tenant id for data keys)
//	4+L      4     wrapping key version, big-endian
//	8+L      24    nonce, random
//	32+L     n+16  sealed key (n = 32 for keys, 1..1024 for secrets) and tag
//
// The associated data is bytes [0, 8+L) followed by the owner binding (see
// Owner), so a wrapped key copied into another owner's record, or with its
// header edited, fails to unwrap. XChaCha20-Poly1305's 192-bit random nonces
// leave no practical limit on how many keys one key may wrap, which 96-bit
// GCM nonces would (2^32).
type WrappedKey []byte

// Kinds of wrapped keys.
const (
	kindTenantKey = 1
	kindDataKey   = 2
	kindSecret    = 3
)

const (
	wrapVersion1   = 1
	maxSecretLen   = 1024
	wrapNonceLen   = chacha20poly1305.NonceSizeX
	wrapFixedLen   = 8 + wrapNonceLen
	wrapMinLen     = wrapFixedLen + 1 + chacha20poly1305.Overhead
	ownerTenantKey = "kcs/v1/owner/tenant-key"
	ownerObject    = "kcs/v1/owner/object"
	ownerUpload    = "kcs/v1/owner/upload"
	ownerSecret    = "kcs/v1/owner/secret"
)

var (
	// ErrAuth is returned when authentication fails: the data was changed,
	// the key is wrong, or a wrapped key is presented for another owner.
	ErrAuth = errors.New("crypt: message authentication failed")
	// ErrFormat is returned for bytes that are not a known format.
	ErrFormat = errors.New("crypt: unknown or malformed format")
	// ErrWrongKey is returned when a wrapped key names another wrapping key
	// than the one offered.
	ErrWrongKey = errors.New("crypt: wrapped under another key")
)

// Owner binds a wrapped key to what it belongs to. Its encoding is a label
// followed by each field as a 4-byte big-endian length and its bytes, so no
// two different owners encode alike.
type Owner struct{ b []byte }

func newOwner(label string, fields ...string) Owner {
	n := len(label)
	for _, f := range fields {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, label...)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return Owner{b: b}
}

// ObjectOwner binds a data key to one object version.
func ObjectOwner(tenant, bucket, key, versionID string) Owner {
	return newOwner(ownerObject, tenant, bucket, key, versionID)
}

// UploadOwner binds a data key to a multipart upload in progress; on
// completion the key is rewrapped for the object version.
func UploadOwner(tenant, bucket, key, uploadID string) Owner {
	return newOwner(ownerUpload, tenant, bucket, key, uploadID)
}

// SecretOwner binds a wrapped secret (an S3 secret key, say) to its use.
func SecretOwner(kind, id string) Owner {
	return newOwner(ownerSecret, kind, id)
}

func tenantKeyOwner(tenant string, version uint32) Owner {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], version)
	return newOwner(ownerTenantKey, tenant, string(v[:]))
}

// WrappingKey returns the id and version of the key that wrapped w.
func (w WrappedKey) WrappingKey() (id string, version uint32, err error) {
	h, err := parseWrapped(w)
	if err != nil {
		return "", 0, err
	}
	return h.keyID, h.keyVersion, nil
}

// String keeps wrapped keys out of logs too: they are not secret, but there
// is nothing in them a log reader needs.
func (w WrappedKey) String() string { return fmt.Sprintf("WrappedKey(%d bytes)", len(w)) }

type wrapHeader struct {
	kind       byte
	keyID      string
	keyVersion uint32
	hdrLen     int
}

func parseWrapped(w []byte) (wrapHeader, error) {
	var h wrapHeader
	if len(w) < 4 || w[0] != wrapVersion1 || w[1] != byte(XChaCha20Poly1305) {
		return h, fmt.Errorf("%w: wrapped key header", ErrFormat)
	}
	l := int(w[3])
	if l == 0 || len(w) < wrapMinLen+l {
		return h, fmt.Errorf("%w: wrapped key too short", ErrFormat)
	}
	h.kind = w[2]
	h.keyID = string(w[4 : 4+l])
	h.keyVersion = binary.BigEndian.Uint32(w[4+l:])
	h.hdrLen = 8 + l
	return h, nil
}

func wrap(kek *keyBytes, kind byte, keyID string, keyVersion uint32, secret []byte, o Owner) (WrappedKey, error) {
	aead, err := chacha20poly1305.NewX(kek[:])
	if err != nil {
		return nil, err
	}
	l := len(keyID)
	out := make([]byte, 8+l+wrapNonceLen, 8+l+wrapNonceLen+len(secret)+aead.Overhead())
	out[0], out[1], out[2], out[3] = wrapVersion1, byte(XChaCha20Poly1305), kind, byte(l)
	copy(out[4:], keyID)
	binary.BigEndian.PutUint32(out[4+l:], keyVersion)
	nonce := out[8+l:]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("crypt: nonce: %w", err)
	}
	return aead.Seal(out, nonce, secret, wrapAD(out[:8+l], o)), nil
}

func unwrap(kek *keyBytes, kind byte, keyID string, keyVersion uint32, w WrappedKey, o Owner) ([]byte, error) {
	h, err := parseWrapped(w)
	if err != nil {
		return nil, err
	}
	if h.kind != kind {
		return nil, fmt.Errorf("%w: wrapped key of kind %d, want %d", ErrFormat, h.kind, kind)
	}
	if h.keyID != keyID || h.keyVersion != keyVersion {
		return nil, fmt.Errorf("%w: wrapped under %q v%d, offered %q v%d", ErrWrongKey, h.keyID, h.keyVersion, keyID, keyVersion)
	}
	aead, err := chacha20poly1305.NewX(kek[:])
	if err != nil {
		return nil, err
	}
	nonce := w[h.hdrLen : h.hdrLen+wrapNonceLen]
	pt, err := aead.Open(nil, nonce, w[h.hdrLen+wrapNonceLen:], wrapAD(w[:h.hdrLen], o))
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

func wrapAD(hdr []byte, o Owner) []byte {
	ad := make([]byte, 0, len(hdr)+len(o.b))
	return append(append(ad, hdr...), o.b...)
}

func openKey(pt []byte) (keyBytes, error) {
	var k keyBytes
	if len(pt) != KeySize {
		return k, fmt.Errorf("%w: wrapped key holds %d bytes", ErrFormat, len(pt))
	}
	copy(k[:], pt)
	clear(pt)
	return k, nil
}

// WrapTenantKey wraps t under the master key, bound to t's tenant and version.
func (m *MasterKey) WrapTenantKey(t *TenantKey) (WrappedKey, error) {
	kek := m.k.derive(purposeWrapTenantKey)
	return wrap(&kek, kindTenantKey, m.id, m.version, t.k[:], tenantKeyOwner(t.tenant, t.version))
}

// UnwrapTenantKey recovers version of tenant's key from w.
func (m *MasterKey) UnwrapTenantKey(w WrappedKey, tenant string, version uint32) (*TenantKey, error) {
	kek := m.k.derive(purposeWrapTenantKey)
	pt, err := unwrap(&kek, kindTenantKey, m.id, m.version, w, tenantKeyOwner(tenant, version))
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap key of tenant %q: %w", tenant, err)
	}
	k, err := openKey(pt)
	if err != nil {
		return nil, err
	}
	return &TenantKey{tenant: tenant, version: version, k: k}, nil
}

// WrapSecret seals a small secret (1..1024 bytes) under the master key.
func (m *MasterKey) WrapSecret(secret []byte, o Owner) (WrappedKey, error) {
	if len(secret) == 0 || len(secret) > maxSecretLen {
		return nil, fmt.Errorf("crypt: secret must be 1..%d bytes", maxSecretLen)
	}
	kek := m.k.derive(purposeWrapSecret)
	return wrap(&kek, kindSecret, m.id, m.version, secret, o)
}

// UnwrapSecret recovers a secret sealed by WrapSecret for the same owner.
func (m *MasterKey) UnwrapSecret(w WrappedKey, o Owner) ([]byte, error) {
	kek := m.k.derive(purposeWrapSecret)
	pt, err := unwrap(&kek, kindSecret, m.id, m.version, w, o)
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap secret: %w", err)
	}
	return pt, nil
}

// WrapDataKey wraps d under the tenant key, bound to o.
func (t *TenantKey) WrapDataKey(d *DataKey, o Owner) (WrappedKey, error) {
	kek := t.k.derive(purposeWrapDataKey)
	return wrap(&kek, kindDataKey, t.tenant, t.version, d.k[:], o)
}

// UnwrapDataKey recovers a data key wrapped for o.
func (t *TenantKey) UnwrapDataKey(w WrappedKey, o Owner) (*DataKey, error) {
	kek := t.k.derive(purposeWrapDataKey)
	pt, err := unwrap(&kek, kindDataKey, t.tenant, t.version, w, o)
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap data key: %w", err)
	}
	k, err := openKey(pt)
	if err != nil {
		return nil, err
	}
	return &DataKey{k: k}, nil
}
