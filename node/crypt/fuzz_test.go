package crypt

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the checked-in fuzz seed corpus")

// The fuzz targets decrypt hostile bytes under a fixed key. Only the one
// plaintext below was ever encrypted under it, so any successful decryption
// must return exactly (a slice of) that plaintext.
func fuzzKey() *DataKey {
	var k keyBytes
	for i := range k {
		k[i] = byte(i * 7)
	}
	return &DataKey{k: k}
}

var (
	fuzzAD    = []byte("fuzz")
	fuzzPlain = func() []byte {
		r := rand.New(rand.NewPCG(11, 12))
		return randBytes(r, 2*1024+300) // two full 1 KiB packages and a final one
	}()
)

func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	ct := encrypt(t, fuzzKey(), fuzzPlain, fuzzAD, EncryptOptions{PackageShift: 10})
	seeds = append(seeds, ct, ct[:len(ct)-1], ct[:HeaderLen+1040], append(append([]byte(nil), ct...), ct[HeaderLen:HeaderLen+1040]...))
	return seeds
}

func writeCorpus(t *testing.T, name string, entries [][]any) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range e {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case uint32:
				fmt.Fprintf(&b, "uint32(%d)\n", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	var reader, writer [][]any
	for _, s := range fuzzSeeds(t) {
		reader = append(reader, []any{s})
		writer = append(writer, []any{s, uint32(1000), uint32(500)}, []any{s, uint32(0), uint32(len(fuzzPlain))})
	}
	writeCorpus(t, "FuzzDecryptReader", reader)
	writeCorpus(t, "FuzzDecryptWriter", writer)
}

func FuzzDecryptReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	dk := fuzzKey()
	f.Fuzz(func(t *testing.T, ct []byte) {
		got, err := decryptAll(dk, ct, fuzzAD)
		if !bytes.HasPrefix(fuzzPlain, got) {
			t.Fatalf("returned %d bytes that are not the plaintext's", len(got))
		}
		if err == nil && !bytes.Equal(got, fuzzPlain) {
			t.Fatalf("decrypted to %d bytes without error", len(got))
		}
	})
}

func FuzzDecryptWriter(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint32(1000), uint32(500))
	}
	dk := fuzzKey()
	size := int64(len(fuzzPlain))
	f.Fuzz(func(t *testing.T, ct []byte, off, n uint32) {
		o, l := int64(off)%(size+1), int64(n)
		l = min(l, size-o)
		if len(ct) < HeaderLen {
			return
		}
		h, err := ParseHeader(ct[:HeaderLen])
		if err != nil {
			return
		}
		var out bytes.Buffer
		dw, err := NewDecryptWriter(&out, dk, h, fuzzAD, size, o, l)
		if err != nil {
			t.Fatal(err)
		}
		co, cl := h.CiphertextRange(size, o, l)
		body := ct[min(int64(len(ct)), co):]
		body = body[:min(int64(len(body)), cl+int64(off%3))] // sometimes too much
		_, werr := dw.Write(body)
		cerr := dw.Close()
		want := fuzzPlain[o : o+l]
		if !bytes.HasPrefix(want, out.Bytes()) {
			t.Fatalf("wrote bytes that are not the plaintext's")
		}
		if werr == nil && cerr == nil && !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("range [%d,+%d) decrypted short without error", o, l)
		}
	})
}
