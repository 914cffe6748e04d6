package crypt

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden-v1.txt")

var (
	goldenMaster = bytes.Repeat([]byte{0x42}, KeySize)
	goldenOwner  = ObjectOwner("gemeinde-golden", "akten", "bauantrag.pdf", "v-1")
	goldenPlain  = []byte(strings.Repeat("Bauantrag Flurstück 12/3, Gemarkung Golden. ", 60))
	goldenMeta   = []byte(`{"x-amz-meta-antragsteller":"Erika Mustermann"}`)
)

// TestGoldenV1 keeps version 1 of every crypt format readable: a tenant key,
// a data key, an encryption stream (1 KiB packages) and a sealed metadata
// blob, written once and checked in, must still unwrap and decrypt.
func TestGoldenV1(t *testing.T) {
	path := filepath.Join("testdata", "golden-v1.txt")
	m, err := NewMasterKey("golden-master", 1, goldenMaster)
	if err != nil {
		t.Fatal(err)
	}
	if *updateGolden {
		tk, _ := GenerateTenantKey("gemeinde-golden", 1)
		dk, _ := GenerateDataKey()
		wtk, _ := m.WrapTenantKey(tk)
		wdk, _ := tk.WrapDataKey(dk, goldenOwner)
		ct := encrypt(t, dk, goldenPlain, []byte("part 1"), EncryptOptions{PackageShift: 10})
		meta, _ := SealMetadata(dk, goldenMeta, []byte("meta-ad"))
		out := fmt.Sprintf("tenant-key %x\ndata-key %x\nstream %x\nmetadata %x\n", []byte(wtk), []byte(wdk), ct, meta)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		b, err := hex.DecodeString(f[1])
		if err != nil {
			t.Fatal(err)
		}
		g[f[0]] = b
	}
	tk, err := m.UnwrapTenantKey(g["tenant-key"], "gemeinde-golden", 1)
	if err != nil {
		t.Fatalf("v1 tenant key: %v", err)
	}
	dk, err := tk.UnwrapDataKey(g["data-key"], goldenOwner)
	if err != nil {
		t.Fatalf("v1 data key: %v", err)
	}
	pt, err := io.ReadAll(NewDecryptReader(bytes.NewReader(g["stream"]), dk, []byte("part 1")))
	if err != nil || !bytes.Equal(pt, goldenPlain) {
		t.Fatalf("v1 stream: %v", err)
	}
	meta, err := OpenMetadata(dk, g["metadata"], []byte("meta-ad"))
	if err != nil || !bytes.Equal(meta, goldenMeta) {
		t.Fatalf("v1 metadata: %v", err)
	}
}
