package crypt

import (
	"bytes"
	"errors"
	"testing"
)

// A keyring unwraps with whichever of its keys wrapped, including keys
// wrapped before ids were derived ("master" v1), and refuses what none of
// its keys wrapped.
func TestKeyringPicksTheWrappingKey(t *testing.T) {
	m1, _ := NewMasterKeyFromMaterial(bytes.Repeat([]byte{1}, 32))
	m2, _ := NewMasterKeyFromMaterial(bytes.Repeat([]byte{2}, 32))
	m3, _ := NewMasterKeyFromMaterial(bytes.Repeat([]byte{3}, 32))
	if m1.ID() == m2.ID() || m1.ID() != MasterKeyID(bytes.Repeat([]byte{1}, 32)) {
		t.Fatalf("ids %s %s", m1.ID(), m2.ID())
	}
	legacy, _ := NewMasterKey(legacyMasterID, 1, bytes.Repeat([]byte{1}, 32))
	ring, err := NewKeyring(m2, m1)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := GenerateTenantKey("t", 1)
	for _, m := range []*MasterKey{m1, m2, legacy} {
		w, _ := m.WrapTenantKey(tk)
		got, err := ring.UnwrapTenantKey(w, "t", 1)
		if err != nil || got.k != tk.k {
			t.Fatalf("wrapped by %s: %v", m.ID(), err)
		}
		s, _ := m.WrapSecret([]byte("geheim"), SecretOwner("s3-secret", "AK"))
		if p, err := ring.UnwrapSecret(s, SecretOwner("s3-secret", "AK")); err != nil || string(p) != "geheim" {
			t.Fatalf("secret wrapped by %s: %v", m.ID(), err)
		}
		if !WrappedBy(w, m.ID()) || WrappedBy(w, m3.ID()) {
			t.Fatalf("WrappedBy for %s", m.ID())
		}
	}
	w3, _ := m3.WrapTenantKey(tk)
	if _, err := ring.UnwrapTenantKey(w3, "t", 1); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("a key none of the ring wrapped: %v", err)
	}
	legacy3, _ := NewMasterKey(legacyMasterID, 1, bytes.Repeat([]byte{3}, 32))
	wl, _ := legacy3.WrapTenantKey(tk)
	if _, err := ring.UnwrapTenantKey(wl, "t", 1); err == nil {
		t.Fatal("a legacy wrapping by a key outside the ring unwrapped")
	}
	if _, err := NewKeyring(); err == nil {
		t.Fatal("an empty keyring")
	}
}
