package crypt

import "fmt"

// A metadata backup belongs to no tenant: its stream is sealed under a
// random data key of its own, wrapped directly by the master key (under a
// sub-key of its own purpose) and bound to the cluster and the backup. So
// a backup cannot be read without the master key, and a backup key can
// neither be taken for a tenant's data key nor be moved to another backup.
const (
	purposeWrapBackupKey = "kcs/v1/wrap/backup-key"
	ownerBackup          = "kcs/v1/owner/backup"
)

// BackupOwner binds a backup's key to its cluster and its id.
func BackupOwner(cluster, id string) Owner { return newOwner(ownerBackup, cluster, id) }

// NewBackupKey makes a random data key for a metadata backup and wraps it
// under m for o.
func (m *MasterKey) NewBackupKey(o Owner) (*DataKey, WrappedKey, error) {
	d, err := GenerateDataKey()
	if err != nil {
		return nil, nil, err
	}
	kek := m.k.derive(purposeWrapBackupKey)
	w, err := wrap(&kek, kindDataKey, m.id, m.version, d.k[:], o)
	if err != nil {
		return nil, nil, err
	}
	return d, w, nil
}

// UnwrapBackupKey recovers the key of a metadata backup wrapped for o.
func (m *MasterKey) UnwrapBackupKey(w WrappedKey, o Owner) (*DataKey, error) {
	kek := m.k.derive(purposeWrapBackupKey)
	pt, err := unwrap(&kek, kindDataKey, m.id, m.version, w, o)
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap backup key: %w", err)
	}
	k, err := openKey(pt)
	if err != nil {
		return nil, err
	}
	return &DataKey{k: k}, nil
}

// UnwrapBackupKey unwraps a backup's key with the master key that wrapped
// it.
func (r *Keyring) UnwrapBackupKey(w WrappedKey, o Owner) (*DataKey, error) {
	ks, err := r.candidates(w)
	if err != nil {
		return nil, fmt.Errorf("crypt: unwrap backup key: %w", err)
	}
	for _, k := range ks {
		var d *DataKey
		if d, err = k.UnwrapBackupKey(w, o); err == nil {
			return d, nil
		}
	}
	return nil, err
}
