package erasure

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden-*.txt from the current encoder")

func goldenInput() (Params, []byte, []byte) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte((i*31 + 7) % 251)
	}
	return Params{K: 4, M: 2, BlockSize: 64}, []byte("golden-object"), data
}

// TestGoldenShardsV1 pins the on-disk shard format: today's encoder must
// write exactly the checked-in shards (a change in framing or in the
// library's coding matrix would fail here), and the checked-in shards must
// decode, with any two of them missing, for as long as format v1 exists.
func TestGoldenShardsV1(t *testing.T) {
	p, id, data := goldenInput()
	path := filepath.Join("testdata", "golden-v1.txt")
	if *updateGolden {
		var b strings.Builder
		for i, s := range encodeQuiet(p, id, data) {
			fmt.Fprintf(&b, "shard %d %s\n", i, hex.EncodeToString(s))
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var golden [][]byte
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		b, err := hex.DecodeString(f[2])
		if err != nil {
			t.Fatal(err)
		}
		golden = append(golden, b)
	}
	for i, s := range encodeQuiet(p, id, data) {
		if !bytes.Equal(s, golden[i]) {
			t.Fatalf("shard %d differs from the v1 golden file: the on-disk format changed", i)
		}
	}
	c, _ := New(p)
	for _, missing := range combinations(p.Shards(), p.M) {
		srcs := make([]ShardSource, len(golden))
		for i, g := range golden {
			srcs[i] = &memShard{data: g, failAfter: -1}
		}
		for _, i := range missing {
			srcs[i] = nil
		}
		var out bytes.Buffer
		if _, err := c.Decode(context.Background(), DecodeRequest{ObjectID: id, Size: int64(len(data)), Shards: srcs, Length: -1}, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("golden v1 shards, missing %v: %v", missing, err)
		}
	}
}
