package crypt

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the size of every key in the hierarchy: 256 bits.
const KeySize = 32

// keyBytes is secret key material. It is only ever held inside the key types
// below, each of which refuses to be printed, logged or marshalled, so that a
// key cannot leak through a log line or a debug dump.
type keyBytes [KeySize]byte

const redacted = "[REDACTED]"

func randomKey() (keyBytes, error) {
	var k keyBytes
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return k, fmt.Errorf("crypt: random key: %w", err)
	}
	return k, nil
}

// derive returns a per-purpose sub-key. Keys of the hierarchy are random,
// never derived, so that rotation can rewrap them; what is derived from them
// with HKDF-SHA256 are the keys actually handed to a cipher, one per purpose,
// so that no key is used for two things.
func (k *keyBytes) derive(purpose string) keyBytes {
	var out keyBytes
	r := hkdf.New(sha256.New, k[:], nil, []byte(purpose))
	if _, err := io.ReadFull(r, out[:]); err != nil {
		panic("crypt: hkdf: " + err.Error()) // cannot happen for 32 bytes
	}
	return out
}

// Purposes of derived sub-keys. They are part of the format: changing one
// makes every existing object unreadable.
const (
	purposeWrapTenantKey = "kcs/v1/wrap/tenant-key"
	purposeWrapDataKey   = "kcs/v1/wrap/data-key"
	purposeWrapSecret    = "kcs/v1/wrap/secret"
	purposeContent       = "kcs/v1/object/content"
	purposeMetadata      = "kcs/v1/object/metadata"
)

// MasterKey is the operator's key. It is given to each node at start, held
// only in memory, and wraps tenant keys and other secrets. ID and Version
// name it in everything it wraps, so that a node holding several (during a
// rotation) knows which one to use.
type MasterKey struct {
	id      string
	version uint32
	k       keyBytes
}

// NewMasterKey makes a master key from 32 bytes of operator-provided
// material. id is 1..255 bytes.
func NewMasterKey(id string, version uint32, material []byte) (*MasterKey, error) {
	if len(material) != KeySize {
		return nil, fmt.Errorf("crypt: master key must be %d bytes, got %d", KeySize, len(material))
	}
	if len(id) == 0 || len(id) > 255 {
		return nil, fmt.Errorf("crypt: master key id must be 1..255 bytes")
	}
	m := &MasterKey{id: id, version: version}
	copy(m.k[:], material)
	return m, nil
}

// ID names the key.
func (m *MasterKey) ID() string { return m.id }

// Version is the key's version.
func (m *MasterKey) Version() uint32 { return m.version }

// TenantKey is one version of a municipality's key. It wraps the data keys
// of the tenant's objects and is itself stored only wrapped by the master
// key.
type TenantKey struct {
	tenant  string
	version uint32
	k       keyBytes
}

// GenerateTenantKey makes a random tenant key.
func GenerateTenantKey(tenant string, version uint32) (*TenantKey, error) {
	if len(tenant) == 0 || len(tenant) > 255 {
		return nil, fmt.Errorf("crypt: tenant id must be 1..255 bytes")
	}
	k, err := randomKey()
	if err != nil {
		return nil, err
	}
	return &TenantKey{tenant: tenant, version: version, k: k}, nil
}

// Tenant is the id of the tenant the key belongs to.
func (t *TenantKey) Tenant() string { return t.tenant }

// Version is the key's version within its tenant.
func (t *TenantKey) Version() uint32 { return t.version }

// DataKey encrypts one object's data and user metadata (or all parts of one
// multipart upload). It is random, and stored only wrapped by its tenant's
// key, bound to the object it belongs to.
type DataKey struct {
	k keyBytes
}

// GenerateDataKey makes a random data key.
func GenerateDataKey() (*DataKey, error) {
	k, err := randomKey()
	if err != nil {
		return nil, err
	}
	return &DataKey{k: k}, nil
}

// Redaction: every way fmt, slog or encoding/json could print a key prints
// [REDACTED] instead. (JSON sees no exported fields; the text marshallers
// refuse.) The methods have value receivers so that a key copied into a
// struct by value redacts itself too: fmt calls no methods on unexported
// fields, so the outer type must.

func (m MasterKey) String() string             { return "MasterKey(" + m.id + ")" + redacted }
func (m MasterKey) GoString() string           { return m.String() }
func (m MasterKey) Format(f fmt.State, _ rune) { io.WriteString(f, m.String()) }
func (m MasterKey) LogValue() slog.Value       { return slog.StringValue(m.String()) }
func (m MasterKey) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("crypt: refusing to marshal a master key")
}

func (t TenantKey) String() string             { return "TenantKey(" + t.tenant + ")" + redacted }
func (t TenantKey) GoString() string           { return t.String() }
func (t TenantKey) Format(f fmt.State, _ rune) { io.WriteString(f, t.String()) }
func (t TenantKey) LogValue() slog.Value       { return slog.StringValue(t.String()) }
func (t TenantKey) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("crypt: refusing to marshal a tenant key")
}

func (d DataKey) String() string             { return "DataKey" + redacted }
func (d DataKey) GoString() string           { return d.String() }
func (d DataKey) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }
func (d DataKey) LogValue() slog.Value       { return slog.StringValue(d.String()) }
func (d DataKey) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("crypt: refusing to marshal a data key")
}
