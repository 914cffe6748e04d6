package erasure

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the checked-in fuzz seed corpus")

var (
	fuzzParams = Params{K: 4, M: 2, BlockSize: 64}
	fuzzID     = []byte("fuzz-object")
	fuzzData   = randBytes(rand.New(rand.NewPCG(21, 22)), 3*256+100)
)

// FuzzDecode replaces up to three of the six shards of a known object with
// hostile bytes. With at most m replaced the decode must succeed; with more
// it may fail, but whatever it writes must be the object's own bytes.
func FuzzDecode(f *testing.F) {
	orig := encodeQuiet(fuzzParams, fuzzID, fuzzData)
	for _, s := range fuzzSeedShards(orig) {
		f.Add(s.sel, s.a, s.b, s.c, s.off, s.n)
	}
	c, err := New(fuzzParams)
	if err != nil {
		f.Fatal(err)
	}
	size := int64(len(fuzzData))
	f.Fuzz(func(t *testing.T, sel uint32, a, b, cc []byte, off, n uint32) {
		shards := make([][]byte, len(orig))
		copy(shards, orig)
		replaced := map[int]bool{}
		for k, repl := range [][]byte{a, b, cc} {
			if k > 0 && sel&(1<<(8+k)) == 0 {
				continue
			}
			i := int(sel>>(4*k)) % 6 % len(shards)
			shards[i] = repl
			replaced[i] = !bytes.Equal(repl, orig[i])
		}
		nbad := 0
		for _, r := range replaced {
			if r {
				nbad++
			}
		}
		srcs := make([]ShardSource, len(shards))
		for i, s := range shards {
			srcs[i] = &memShard{data: s, failAfter: -1}
		}
		o := int64(off) % (size + 1)
		l := min(int64(n), size-o)
		var out bytes.Buffer
		_, err := c.Decode(context.Background(), DecodeRequest{ObjectID: fuzzID, Size: size, Shards: srcs, Offset: o, Length: l}, &out)
		if !bytes.HasPrefix(fuzzData[o:o+l], out.Bytes()) {
			t.Fatalf("wrote bytes that are not the object's")
		}
		if err == nil && !bytes.Equal(out.Bytes(), fuzzData[o:o+l]) {
			t.Fatalf("short output without error")
		}
		if err != nil && (nbad <= fuzzParams.M || !errors.Is(err, ErrTooManyBad)) {
			t.Fatalf("%d shards replaced: %v", nbad, err)
		}
	})
}

type fuzzSeed struct {
	sel     uint32
	a, b, c []byte
	off, n  uint32
}

func fuzzSeedShards(orig [][]byte) []fuzzSeed {
	flip := func(b []byte, i int) []byte { c := append([]byte(nil), b...); c[i%len(c)] ^= 1; return c }
	return []fuzzSeed{
		{sel: 0, a: orig[0], off: 0, n: 1 << 20},
		{sel: 0x0201, a: flip(orig[1], 100), b: flip(orig[0], 3), off: 10, n: 300},
		{sel: 0x0610 | 0x0005, a: nil, b: orig[3][:50], c: flip(orig[5], 7), off: 0, n: 1 << 20},
		{sel: 0x0003, a: orig[2], off: 256, n: 256},
		{sel: 0x0230, a: orig[1], b: orig[0], off: 5, n: 1000},
	}
}

func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeedShards(encodeQuiet(fuzzParams, fuzzID, fuzzData)) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "go test fuzz v1\nuint32(%d)\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\nuint32(%d)\nuint32(%d)\n", s.sel, s.a, s.b, s.c, s.off, s.n)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
