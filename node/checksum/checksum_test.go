package checksum

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
)

func digest(a *Algorithm, b []byte) []byte {
	h := a.New()
	h.Write(b)
	return h.Sum(nil)
}

// FULL_OBJECT combination equals the CRC of the concatenation, for every
// CRC and part sizes that include empty and odd ones.
func TestFullObjectEqualsWholeCRC(t *testing.T) {
	sizes := []int{0, 1, 7, 8192, 5 << 20, 3, 100000}
	var parts [][]byte
	var whole []byte
	for _, n := range sizes {
		b := make([]byte, n)
		rand.Read(b)
		parts = append(parts, b)
		whole = append(whole, b...)
	}
	for _, name := range []string{"CRC32", "CRC32C", "CRC64NVME"} {
		a, _ := Lookup(name)
		var ps []Part
		for _, p := range parts {
			ps = append(ps, Part{CRC: digest(a, p), Size: int64(len(p))})
		}
		got, err := a.FullObjectOf(ps)
		if err != nil {
			t.Fatal(err)
		}
		if want := Encode(digest(a, whole)); got != want {
			t.Fatalf("%s: combined %s, whole %s", name, got, want)
		}
	}
	if a, _ := Lookup("SHA256"); a.IsCRC() {
		t.Fatal("SHA256 is not a CRC")
	}
}

// COMPOSITE: a checksum of the binary part checksums, "-N" — as S3
// documents and the SDKs compute.
func TestComposite(t *testing.T) {
	a, _ := Lookup("SHA256")
	p1, p2 := digest(a, []byte("part one")), digest(a, []byte("part two"))
	want := base64.StdEncoding.EncodeToString(digest(a, append(append([]byte(nil), p1...), p2...))) + "-2"
	if got := a.CompositeOf([][]byte{p1, p2}); got != want {
		t.Fatalf("composite %s, want %s", got, want)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	a, _ := Lookup("crc32")
	if _, err := a.Decode("AAAAAA=="); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"AAAAAA", "AAAAAAA=", "AAAAAAAA", "!!!!!!==", ""} {
		if _, err := a.Decode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !a.AllowsType(FullObject) || !a.AllowsType(Composite) {
		t.Fatal("CRC32 types")
	}
	if c, _ := Lookup("CRC64NVME"); c.AllowsType(Composite) {
		t.Fatal("CRC64NVME is full-object only")
	}
}
