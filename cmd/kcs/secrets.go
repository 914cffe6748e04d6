package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/kommunal-cloud/kcs/node/crypt"
)

// Secret files hold the secret on one line; lines starting with '#' are
// comments (the development secrets say what they are in one).

// Secrets never come from flags (they would show in ps and shell
// histories): each comes from a file named by a flag, or from an
// environment variable holding the value itself.

// readSecret returns the secret from file (if given) or from the
// environment variable env. required makes its absence an error.
func readSecret(what, file, env string, required bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		s := strings.TrimSpace(string(stripComments(b)))
		if s == "" {
			return nil, fmt.Errorf("%s: %s is empty", what, file)
		}
		return []byte(s), nil
	}
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return []byte(v), nil
	}
	if required {
		return nil, fmt.Errorf("%s missing: give a file with --%s-file or set %s", what, strings.ReplaceAll(what, " ", "-"), env)
	}
	return nil, nil
}

// parseMasterKey reads a master key: 32 bytes as 64 hex digits or as
// base64. Lines starting with '#' are comments (the dev key file says what
// it is in one).
func parseMasterKey(raw []byte) (*crypt.MasterKey, error) {
	keys, err := parseMasterKeys(raw)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("master key: want one line of 64 hex digits or base64 of 32 bytes")
	}
	return keys[0], nil
}

// parseMasterKeys reads master keys, one per line (old keys during a
// rotation). Each is named by its derived id.
func parseMasterKeys(raw []byte) ([]*crypt.MasterKey, error) {
	var keys []*crypt.MasterKey
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		var key []byte
		if b, err := hex.DecodeString(l); err == nil && len(b) == crypt.KeySize {
			key = b
		} else if b, err := base64.StdEncoding.DecodeString(l); err == nil && len(b) == crypt.KeySize {
			key = b
		} else {
			return nil, fmt.Errorf("master key: want 64 hex digits or base64 of 32 bytes")
		}
		mk, err := crypt.NewMasterKeyFromMaterial(key)
		if err != nil {
			return nil, err
		}
		keys = append(keys, mk)
	}
	return keys, nil
}
