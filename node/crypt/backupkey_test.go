package crypt

import (
	"bytes"
	"errors"
	"testing"
)

func TestBackupKeyWrapping(t *testing.T) {
	mk, err := NewMasterKeyFromMaterial(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewMasterKeyFromMaterial(bytes.Repeat([]byte{8}, KeySize))
	owner := BackupOwner("cluster-a", "backup-1")
	dk, w, err := mk.NewBackupKey(owner)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := NewKeyring(other, mk)
	got, err := ring.UnwrapBackupKey(w, owner)
	if err != nil {
		t.Fatal(err)
	}
	if got.k != dk.k {
		t.Fatal("unwrapped another key")
	}
	// Bound to its owner, its master key and its purpose.
	if _, err := ring.UnwrapBackupKey(w, BackupOwner("cluster-a", "backup-2")); !errors.Is(err, ErrAuth) {
		t.Errorf("another backup's owner: %v", err)
	}
	if _, err := ring.UnwrapBackupKey(w, BackupOwner("cluster-b", "backup-1")); !errors.Is(err, ErrAuth) {
		t.Errorf("another cluster's owner: %v", err)
	}
	otherRing, _ := NewKeyring(other)
	if _, err := otherRing.UnwrapBackupKey(w, owner); !errors.Is(err, ErrWrongKey) {
		t.Errorf("another master key: %v", err)
	}
	if _, err := mk.UnwrapSecret(w, SecretOwner("meta-backup", "backup-1")); err == nil {
		t.Error("a backup key unwraps as a secret")
	}
	// A data key wrapped by a tenant key is no backup key, whatever the
	// owner says.
	tk, _ := GenerateTenantKey(mk.ID(), mk.Version())
	tw, _ := tk.WrapDataKey(dk, owner)
	if _, err := mk.UnwrapBackupKey(tw, owner); !errors.Is(err, ErrAuth) {
		t.Errorf("a tenant's data key: %v", err)
	}
	tampered := append(WrappedKey(nil), w...)
	tampered[len(tampered)-1] ^= 1
	if _, err := ring.UnwrapBackupKey(tampered, owner); !errors.Is(err, ErrAuth) {
		t.Errorf("tampered: %v", err)
	}
}
