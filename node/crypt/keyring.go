package crypt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// legacyMasterID is the id every master key had before ids were derived
// from the key: what such a key wrapped names "master" v1.
const legacyMasterID = "master"

// MasterKeyID derives a master key's id from its material: an operator
// never has to name or number keys, and a node can tell which of its keys
// wrapped something. The id reveals nothing usable about the key (HKDF
// output under its own purpose).
func MasterKeyID(material []byte) string {
	var out [6]byte
	r := hkdf.New(sha256.New, material, nil, []byte("kcs/v1/master-key-id"))
	if _, err := io.ReadFull(r, out[:]); err != nil {
		panic("crypt: hkdf: " + err.Error())
	}
	return "mk-" + hex.EncodeToString(out[:])
}

// NewMasterKeyFromMaterial makes a master key named by MasterKeyID.
func NewMasterKeyFromMaterial(material []byte) (*MasterKey, error) {
	if len(material) != KeySize {
		return nil, fmt.Errorf("crypt: master key must be %d bytes, got %d", KeySize, len(material))
	}
	return NewMasterKey(MasterKeyID(material), 1, material)
}

// Keyring holds the master keys a node was given: one that wraps (the
// cluster's current one) and older ones that still unwrap what they
// wrapped while a rotation rewraps it. Unwrapping picks the key the
// wrapped key names.
type Keyring struct {
	keys []*MasterKey // as given; the first is the node's preferred one
}

// NewKeyring makes a keyring of at least one key.
func NewKeyring(keys ...*MasterKey) (*Keyring, error) {
	if len(keys) == 0 || keys[0] == nil {
		return nil, fmt.Errorf("crypt: a keyring needs a master key")
	}
	return &Keyring{keys: keys}, nil
}

// First returns the key given first: the one a new cluster uses.
func (r *Keyring) First() *MasterKey { return r.keys[0] }

// IDs lists the ids of the keys, first key first.
func (r *Keyring) IDs() []string {
	out := make([]string, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.id
	}
	return out
}

// Key returns the key with this id.
func (r *Keyring) Key(id string) (*MasterKey, bool) {
	for _, k := range r.keys {
		if k.id == id {
			return k, true
		}
	}
	return nil, false
}

// candidates returns the keys that may have wrapped w: the one it names,
// or, for keys wrapped before ids were derived, every key under the old
// name (a wrong one fails authentication, it never unwraps wrongly).
func (r *Keyring) candidates(w WrappedKey) ([]*MasterKey, error) {
	id, version, err := w.WrappingKey()
	if err != nil {
		return nil, err
	}
	if k, ok := r.Key(id); ok && k.version == version {
		return []*MasterKey{k}, nil
	}
	if id == legacyMasterID && version == 1 {
		out := make([]*MasterKey, len(r.keys))
		for i, k := range r.keys {
			out[i] = &MasterKey{id: legacyMasterID, version: 1, k: k.k}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: wrapped under master key %q v%d, which this node was not given", ErrWrongKey, id, version)
}

// UnwrapTenantKey unwraps w with the master key that wrapped it.
func (r *Keyring) UnwrapTenantKey(w WrappedKey, tenant string, version uint32) (*TenantKey, error) {
	ks, err := r.candidates(w)
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap key of tenant %q: %w", tenant, err)
	}
	for _, k := range ks {
		var t *TenantKey
		if t, err = k.UnwrapTenantKey(w, tenant, version); err == nil {
			return t, nil
		}
	}
	return nil, err
}

// UnwrapSecret unwraps w with the master key that wrapped it.
func (r *Keyring) UnwrapSecret(w WrappedKey, o Owner) ([]byte, error) {
	ks, err := r.candidates(w)
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap secret: %w", err)
	}
	for _, k := range ks {
		var s []byte
		if s, err = k.UnwrapSecret(w, o); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// WrappedBy reports whether master key id wrapped w.
func WrappedBy(w WrappedKey, id string) bool {
	got, _, err := w.WrappingKey()
	return err == nil && got == id
}
