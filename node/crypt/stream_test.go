package crypt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func mustDataKey(t testing.TB) *DataKey {
	t.Helper()
	dk, err := GenerateDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func encrypt(t testing.TB, dk *DataKey, pt, ad []byte, opt EncryptOptions) []byte {
	t.Helper()
	er, err := NewEncryptReader(bytes.NewReader(pt), dk, ad, opt)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(er)
	if err != nil {
		t.Fatal(err)
	}
	if er.PlainSize() != int64(len(pt)) {
		t.Fatalf("PlainSize %d, want %d", er.PlainSize(), len(pt))
	}
	return ct
}

func decryptAll(dk *DataKey, ct, ad []byte) ([]byte, error) {
	return io.ReadAll(NewDecryptReader(bytes.NewReader(ct), dk, ad))
}

// decryptRange feeds the packages covering [off, off+n) to a DecryptWriter
// in pieces of the given size.
func decryptRange(dk *DataKey, ct, ad []byte, size, off, n int64, piece int) ([]byte, error) {
	h, err := ParseHeader(ct[:HeaderLen])
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	dw, err := NewDecryptWriter(&out, dk, h, ad, size, off, n)
	if err != nil {
		return nil, err
	}
	co, cl := h.CiphertextRange(size, off, n)
	part := ct[co : co+cl]
	for len(part) > 0 {
		c := min(piece, len(part))
		if _, err := dw.Write(part[:c]); err != nil {
			return out.Bytes(), err
		}
		part = part[c:]
	}
	return out.Bytes(), dw.Close()
}

func sizes(P int) []int {
	return []int{0, 1, P - 1, P, P + 1, 2*P - 1, 2 * P, 2*P + 1, 5*P + P/3}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	dk := mustDataKey(t)
	for _, c := range []Cipher{AES256GCM, ChaCha20Poly1305} {
		for _, shift := range []uint8{10, DefaultPackageShift} {
			P := 1 << shift
			for _, size := range sizes(P) {
				t.Run(fmt.Sprintf("%v/P=%d/%d", c, P, size), func(t *testing.T) {
					pt := randBytes(r, size)
					opt := EncryptOptions{Cipher: c, PackageShift: shift}
					ct := encrypt(t, dk, pt, []byte("part 1"), opt)
					h, _ := ParseHeader(ct[:HeaderLen])
					if int64(len(ct)) != h.CiphertextSize(int64(size)) {
						t.Fatalf("ciphertext %d bytes, CiphertextSize says %d", len(ct), h.CiphertextSize(int64(size)))
					}
					got, err := decryptAll(dk, ct, []byte("part 1"))
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("decrypt: %v", err)
					}
					// The same through WriteTo, a bufio source (Peek path) and
					// one-byte reads.
					for name, src := range map[string]io.Reader{
						"peek":     bufio.NewReaderSize(bytes.NewReader(pt), 3*P),
						"one-byte": iotest.OneByteReader(bytes.NewReader(pt)),
					} {
						er, _ := NewEncryptReader(src, dk, []byte("part 1"), opt)
						var buf bytes.Buffer
						if _, err := er.WriteTo(&buf); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						got, err := decryptAll(dk, buf.Bytes(), []byte("part 1"))
						if err != nil || !bytes.Equal(got, pt) {
							t.Fatalf("%s: decrypt: %v", name, err)
						}
					}
				})
			}
		}
	}
}

func TestFreshNoncePrefixPerStream(t *testing.T) {
	dk := mustDataKey(t)
	pt := []byte("the same part, uploaded again")
	a := encrypt(t, dk, pt, nil, EncryptOptions{})
	b := encrypt(t, dk, pt, nil, EncryptOptions{})
	if bytes.Equal(a[4:11], b[4:11]) || bytes.Equal(a[HeaderLen:], b[HeaderLen:]) {
		t.Fatal("two streams under one key share a nonce prefix")
	}
}

func TestRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	dk := mustDataKey(t)
	const shift = 10
	P := int64(1) << shift
	for _, size := range []int64{0, 1, P - 1, P, P + 1, 4*P + 7} {
		pt := randBytes(r, int(size))
		ct := encrypt(t, dk, pt, nil, EncryptOptions{PackageShift: shift})
		points := []int64{0, 1, P - 1, P, P + 1, 2*P - 1, 2 * P, size - 1, size}
		for _, off := range points {
			for _, end := range points {
				if off < 0 || off > end || end > size {
					continue
				}
				for _, piece := range []int{1, 100, int(P) + TagLen, 1 << 20} {
					got, err := decryptRange(dk, ct, nil, size, off, end-off, piece)
					if err != nil || !bytes.Equal(got, pt[off:end]) {
						t.Fatalf("size %d [%d,%d) piece %d: %v", size, off, end, piece, err)
					}
				}
			}
		}
	}
}

// Every kind of damage is an error, and no byte of a damaged package is
// ever written.
func TestTamperingIsDetected(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	dk := mustDataKey(t)
	const shift = 10
	P := 1 << shift
	pkg := P + TagLen
	pt := randBytes(r, 3*P+100) // packages 0..2 full, 3 final
	ad := []byte("part 7")
	ct := encrypt(t, dk, pt, ad, EncryptOptions{PackageShift: shift})
	at := func(i int) int { return HeaderLen + i*pkg }
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), ct...)) }
	cases := map[string][]byte{
		"flip-header-version": mutate(func(b []byte) []byte { b[0] ^= 1; return b }),
		"flip-header-cipher":  mutate(func(b []byte) []byte { b[1] = byte(ChaCha20Poly1305); return b }),
		"flip-nonce-prefix":   mutate(func(b []byte) []byte { b[5] ^= 1; return b }),
		"flip-body":           mutate(func(b []byte) []byte { b[at(1)+17] ^= 0x80; return b }),
		"flip-tag":            mutate(func(b []byte) []byte { b[at(2)-1] ^= 1; return b }),
		"flip-final-package":  mutate(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }),
		"swap-packages": mutate(func(b []byte) []byte {
			tmp := append([]byte(nil), b[at(0):at(1)]...)
			copy(b[at(0):at(1)], b[at(1):at(2)])
			copy(b[at(1):at(2)], tmp)
			return b
		}),
		"duplicate-package": mutate(func(b []byte) []byte {
			return append(b[:at(2)], append(append([]byte(nil), b[at(1):at(2)]...), b[at(2):]...)...)
		}),
		"drop-package":    mutate(func(b []byte) []byte { return append(b[:at(1)], b[at(2):]...) }),
		"truncate-final":  mutate(func(b []byte) []byte { return b[:at(3)] }),
		"truncate-mid":    mutate(func(b []byte) []byte { return b[:at(2)+10] }),
		"truncate-tag":    mutate(func(b []byte) []byte { return b[:len(b)-1] }),
		"truncate-header": mutate(func(b []byte) []byte { return b[:5] }),
		"extend-byte":     mutate(func(b []byte) []byte { return append(b, 0) }),
		"extend-package":  mutate(func(b []byte) []byte { return append(b, b[at(1):at(2)]...) }),
		"empty":           {},
		"other-stream-first": mutate(func(b []byte) []byte {
			o := encrypt(t, dk, pt, ad, EncryptOptions{PackageShift: shift})
			copy(b[at(0):at(1)], o[at(0):at(1)])
			return b
		}),
	}
	for name, bad := range cases {
		got, err := decryptAll(dk, bad, ad)
		if err == nil {
			t.Errorf("%s: decrypted without error", name)
		}
		if !bytes.HasPrefix(pt, got) || len(got)%P != 0 {
			t.Errorf("%s: wrote %d bytes that are not whole authentic packages", name, len(got))
		}
	}
	if _, err := decryptAll(mustDataKey(t), ct, ad); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := decryptAll(dk, ct, []byte("part 8")); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong stream ad (part moved): %v", err)
	}
	// The range writer: damage inside the range, and short or long input.
	if _, err := decryptRange(dk, cases["flip-body"], ad, int64(len(pt)), int64(P), 10, 1<<20); !errors.Is(err, ErrAuth) {
		t.Errorf("range over a flipped package: %v", err)
	}
	h, _ := ParseHeader(ct[:HeaderLen])
	dw, _ := NewDecryptWriter(io.Discard, dk, h, ad, int64(len(pt)), 0, int64(len(pt)))
	dw.Write(ct[HeaderLen : len(ct)-1])
	if err := dw.Close(); !errors.Is(err, ErrTruncated) {
		t.Errorf("range writer, one byte short: %v", err)
	}
	dw, _ = NewDecryptWriter(io.Discard, dk, h, ad, int64(len(pt)), 0, int64(len(pt)))
	if _, err := dw.Write(append(append([]byte(nil), ct[HeaderLen:]...), 1)); err == nil {
		t.Errorf("range writer accepted a byte past the end")
	}
	// A plaintext size that lies about where the final package is.
	dw, _ = NewDecryptWriter(io.Discard, dk, h, ad, int64(3*P), 0, int64(3*P))
	dw.Write(ct[HeaderLen:at(3)])
	if err := dw.Close(); err == nil {
		t.Errorf("stream cut after a full package passed as complete")
	}
}

func TestHeaderValidation(t *testing.T) {
	good := encrypt(t, mustDataKey(t), nil, nil, EncryptOptions{})[:HeaderLen]
	if _, err := ParseHeader(good); err != nil {
		t.Fatal(err)
	}
	for i := range HeaderLen {
		if i >= 4 && i < 11 {
			continue // nonce prefix: any value
		}
		b := append([]byte(nil), good...)
		b[i] ^= 0x20
		if _, err := ParseHeader(b); err == nil {
			t.Errorf("header with byte %d changed accepted", i)
		}
	}
	if _, err := ParseHeader(good[:15]); err == nil {
		t.Error("short header accepted")
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("client reset") }

func TestSourceErrorsPropagate(t *testing.T) {
	er, _ := NewEncryptReader(io.MultiReader(bytes.NewReader(make([]byte, 5000)), failReader{}), mustDataKey(t), nil, EncryptOptions{PackageShift: 10})
	if _, err := io.ReadAll(er); err == nil {
		t.Fatal("source error swallowed")
	}
}
