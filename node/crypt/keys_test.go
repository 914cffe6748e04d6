package crypt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func testMaster(t *testing.T, id string, version uint32, fill byte) *MasterKey {
	t.Helper()
	m, err := NewMasterKey(id, version, bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKeyHierarchy(t *testing.T) {
	m := testMaster(t, "master", 1, 7)
	tk, err := GenerateTenantKey("gemeinde-oberhof", 1)
	if err != nil {
		t.Fatal(err)
	}
	wtk, err := m.WrapTenantKey(tk)
	if err != nil {
		t.Fatal(err)
	}
	if id, v, err := wtk.WrappingKey(); err != nil || id != "master" || v != 1 {
		t.Fatalf("wrapped tenant key names %q v%d (%v)", id, v, err)
	}
	tk2, err := m.UnwrapTenantKey(wtk, "gemeinde-oberhof", 1)
	if err != nil || tk2.k != tk.k {
		t.Fatalf("unwrap tenant key: %v", err)
	}

	dk := mustDataKey(t)
	owner := ObjectOwner("gemeinde-oberhof", "antraege", "hund/2026/123.pdf", "v1")
	wdk, err := tk.WrapDataKey(dk, owner)
	if err != nil {
		t.Fatal(err)
	}
	if id, v, _ := wdk.WrappingKey(); id != "gemeinde-oberhof" || v != 1 {
		t.Fatalf("wrapped data key names %q v%d", id, v)
	}
	dk2, err := tk2.UnwrapDataKey(wdk, owner)
	if err != nil || dk2.k != dk.k {
		t.Fatalf("unwrap data key: %v", err)
	}

	// A wrapped key moved to another owner, in any field, fails.
	for _, o := range []Owner{
		ObjectOwner("gemeinde-suhl", "antraege", "hund/2026/123.pdf", "v1"),
		ObjectOwner("gemeinde-oberhof", "other", "hund/2026/123.pdf", "v1"),
		ObjectOwner("gemeinde-oberhof", "antraege", "hund/2026/124.pdf", "v1"),
		ObjectOwner("gemeinde-oberhof", "antraege", "hund/2026/123.pdf", "v2"),
		ObjectOwner("gemeinde-oberhofa", "ntraege", "hund/2026/123.pdf", "v1"), // shifted field boundary
		UploadOwner("gemeinde-oberhof", "antraege", "hund/2026/123.pdf", "v1"),
	} {
		if _, err := tk.UnwrapDataKey(wdk, o); !errors.Is(err, ErrAuth) {
			t.Errorf("data key unwrapped for another owner: %v", err)
		}
	}
	if _, err := m.UnwrapTenantKey(wtk, "gemeinde-suhl", 1); !errors.Is(err, ErrAuth) {
		t.Errorf("tenant key unwrapped for another tenant: %v", err)
	}
	if _, err := m.UnwrapTenantKey(wtk, "gemeinde-oberhof", 2); !errors.Is(err, ErrAuth) {
		t.Errorf("tenant key unwrapped as another version: %v", err)
	}

	// Wrong keys: another master key with the same name fails
	// authentication; another name or version is refused before trying.
	if _, err := testMaster(t, "master", 1, 8).UnwrapTenantKey(wtk, "gemeinde-oberhof", 1); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong master key: %v", err)
	}
	if _, err := testMaster(t, "master", 2, 7).UnwrapTenantKey(wtk, "gemeinde-oberhof", 1); !errors.Is(err, ErrWrongKey) {
		t.Errorf("other master version: %v", err)
	}
	other, _ := GenerateTenantKey("gemeinde-oberhof", 1)
	if _, err := other.UnwrapDataKey(wdk, owner); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong tenant key: %v", err)
	}
	// A data key presented as a tenant key is refused by kind.
	if _, err := m.UnwrapTenantKey(WrappedKey(wdk), "gemeinde-oberhof", 1); err == nil {
		t.Errorf("data key unwrapped as a tenant key")
	}

	// Every byte of a wrapped key is protected.
	for i := range wdk {
		bad := append(WrappedKey(nil), wdk...)
		bad[i] ^= 1
		if _, err := tk.UnwrapDataKey(bad, owner); err == nil {
			t.Fatalf("wrapped key with byte %d flipped unwrapped", i)
		}
	}
	for n := range len(wdk) {
		if _, err := tk.UnwrapDataKey(wdk[:n], owner); err == nil {
			t.Fatalf("wrapped key cut to %d bytes unwrapped", n)
		}
	}
}

func TestSecrets(t *testing.T) {
	m := testMaster(t, "m", 3, 1)
	o := SecretOwner("s3-secret", "AKIAEXAMPLE")
	w, err := m.WrapSecret([]byte("wJalrXUtnFEMI/K7MDENG"), o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.UnwrapSecret(w, o)
	if err != nil || string(got) != "wJalrXUtnFEMI/K7MDENG" {
		t.Fatalf("unwrap secret: %v", err)
	}
	if _, err := m.UnwrapSecret(w, SecretOwner("s3-secret", "AKIAOTHER")); !errors.Is(err, ErrAuth) {
		t.Fatalf("secret unwrapped for another access key: %v", err)
	}
	if _, err := m.WrapSecret(nil, o); err == nil {
		t.Fatal("empty secret wrapped")
	}
}

func TestMetadataBlob(t *testing.T) {
	dk := mustDataKey(t)
	ad := []byte("tenant/bucket/key/version")
	b, err := SealMetadata(dk, []byte(`{"x-amz-meta-name":"Erika"}`), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("Erika")) {
		t.Fatal("plaintext in sealed blob")
	}
	if got, err := OpenMetadata(dk, b, ad); err != nil || !bytes.Contains(got, []byte("Erika")) {
		t.Fatalf("open: %v", err)
	}
	if _, err := OpenMetadata(dk, b, []byte("other")); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong ad: %v", err)
	}
	b[len(b)-1] ^= 1
	if _, err := OpenMetadata(dk, b, ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered: %v", err)
	}
}

// No way of printing or logging a key shows its bytes.
func TestKeysNeverPrint(t *testing.T) {
	m := testMaster(t, "m", 1, 0xab)
	tk, _ := GenerateTenantKey("t", 1)
	dk := mustDataKey(t)
	secrets := map[string]string{
		"master": hex.EncodeToString(m.k[:]),
		"tenant": hex.EncodeToString(tk.k[:]),
		"data":   hex.EncodeToString(dk.k[:]),
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	for _, k := range []any{m, tk, dk, *m, *tk, *dk} {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out = append(out, fmt.Sprintf(verb, k))
		}
		out = append(out, fmt.Sprint(k), fmt.Sprintf("%v", []any{k}), fmt.Sprintf("%+v", struct{ K any }{k}))
		if j, err := json.Marshal(k); err == nil {
			out = append(out, string(j))
		}
		log.Info("key", "k", k)
		out = append(out, logged.String())
		for _, s := range out {
			for name, sec := range secrets {
				if strings.Contains(strings.ToLower(s), sec[:16]) || strings.Contains(s, string(m.k[:8])) {
					t.Fatalf("%s key bytes printed: %q", name, s)
				}
			}
			if strings.Contains(s, "171") && strings.Contains(s, "[171 171") {
				t.Fatalf("master key bytes printed in decimal: %q", s)
			}
		}
	}
}
