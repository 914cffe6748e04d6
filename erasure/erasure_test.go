package erasure

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: from the clock)")

func testSeed(t *testing.T) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// memShard is an in-memory shard with injectable faults.
type memShard struct {
	data      []byte
	openErr   error
	failAfter int64 // a read error after this many bytes of a range; <0: none
	mu        sync.Mutex
	opened    [][2]int64
}

func (m *memShard) OpenRange(_ context.Context, off, n int64) (io.ReadCloser, error) {
	m.mu.Lock()
	m.opened = append(m.opened, [2]int64{off, n})
	m.mu.Unlock()
	if m.openErr != nil {
		return nil, m.openErr
	}
	if off > int64(len(m.data)) {
		off = int64(len(m.data))
	}
	end := min(off+n, int64(len(m.data)))
	var r io.Reader = bytes.NewReader(m.data[off:end])
	if m.failAfter >= 0 {
		r = io.MultiReader(io.LimitReader(r, m.failAfter), errReader{errors.New("injected read error")})
	}
	return io.NopCloser(r), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type encoded struct {
	p      Params
	id     []byte
	data   []byte
	shards [][]byte
	layout Layout
}

func encode(t testing.TB, p Params, id, data []byte) *encoded {
	t.Helper()
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	bufs := make([]*bytes.Buffer, p.Shards())
	ws := make([]io.Writer, p.Shards())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	res, err := c.Encode(context.Background(), id, bytes.NewReader(data), ws)
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != int64(len(data)) || len(res.Failed) != 0 {
		t.Fatalf("encode: size %d failed %v, want size %d", res.Size, res.Failed, len(data))
	}
	e := &encoded{p: p, id: id, data: data, layout: res.Layout}
	for i, b := range bufs {
		if int64(b.Len()) != res.ShardSize() {
			t.Fatalf("shard %d is %d bytes, layout says %d", i, b.Len(), res.ShardSize())
		}
		e.shards = append(e.shards, b.Bytes())
	}
	return e
}

func (e *encoded) sources() []*memShard {
	ss := make([]*memShard, len(e.shards))
	for i, b := range e.shards {
		ss[i] = &memShard{data: append([]byte(nil), b...), failAfter: -1}
	}
	return ss
}

func (e *encoded) decode(t testing.TB, ss []*memShard, off, n int64) ([]byte, DecodeReport, error) {
	t.Helper()
	c, err := New(e.p)
	if err != nil {
		t.Fatal(err)
	}
	srcs := make([]ShardSource, len(ss))
	for i, s := range ss {
		if s != nil {
			srcs[i] = s
		}
	}
	var out bytes.Buffer
	rep, err := c.Decode(context.Background(), DecodeRequest{
		ObjectID: e.id, Size: e.layout.Size, Shards: srcs, Offset: off, Length: n,
	}, &out)
	return out.Bytes(), rep, err
}

func sizesAround(p Params) []int {
	B, S := p.BlockSize, p.K*p.BlockSize
	return []int{0, 1, 2, p.K - 1, p.K, p.K + 1, B - 1, B, B + 1, S - 1, S, S + 1, 2*S - 1, 2 * S, 2*S + 1, 7*S + B/2 + 3}
}

func TestRoundTripSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Params{{K: 4, M: 2, BlockSize: 256}, {K: 1, M: 0, BlockSize: 64}, {K: 3, M: 1, BlockSize: 100}, {K: 8, M: 4, BlockSize: 512}, {K: 2, M: 2, BlockSize: 64}} {
		for _, size := range sizesAround(p) {
			t.Run(fmt.Sprintf("%v/%d", p, size), func(t *testing.T) {
				data := randBytes(r, size)
				e := encode(t, p, []byte("obj"), data)
				got, rep, err := e.decode(t, e.sources(), 0, -1)
				if err != nil || len(rep.Bad) != 0 || rep.Reconstructed {
					t.Fatalf("decode: %v, report %+v", err, rep)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("round trip differs")
				}
			})
		}
	}
}

func TestShardSizeOfSmallObjects(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 1 << 20}
	l := Layout{Params: p, Size: 1}
	if got := l.ShardSize(); got != FrameHeaderLen+1 {
		t.Fatalf("1-byte object: shard size %d, want %d", got, FrameHeaderLen+1)
	}
	l.Size = 0
	if got := l.ShardSize(); got != 0 {
		t.Fatalf("empty object: shard size %d", got)
	}
}

// fault damages one shard in a way the decoder must notice.
type fault struct {
	name  string
	apply func(e *encoded, s *memShard, i int) *memShard
}

func faults() []fault {
	mid := func(e *encoded) int64 { return e.layout.ShardSize() / 2 }
	return []fault{
		{"missing", func(*encoded, *memShard, int) *memShard { return nil }},
		{"open-error", func(_ *encoded, s *memShard, _ int) *memShard { s.openErr = errors.New("drive gone"); return s }},
		{"read-error", func(e *encoded, s *memShard, _ int) *memShard { s.failAfter = mid(e); return s }},
		{"bitflip-middle", func(e *encoded, s *memShard, _ int) *memShard { s.data[mid(e)] ^= 0x40; return s }},
		{"bitflip-header", func(e *encoded, s *memShard, _ int) *memShard { s.data[e.layout.BlockOffset(1)+9] ^= 1; return s }},
		{"length-field", func(e *encoded, s *memShard, _ int) *memShard { s.data[e.layout.BlockOffset(1)+7]++; return s }},
		{"truncated", func(e *encoded, s *memShard, _ int) *memShard { s.data = s.data[:mid(e)]; return s }},
		{"swapped-blocks", func(e *encoded, s *memShard, _ int) *memShard {
			a, b := e.layout.BlockOffset(0), e.layout.BlockOffset(1)
			n := b - a
			tmp := append([]byte(nil), s.data[a:b]...)
			copy(s.data[a:b], s.data[b:b+n])
			copy(s.data[b:b+n], tmp)
			return s
		}},
		{"misplaced-shard", func(e *encoded, s *memShard, i int) *memShard {
			// The same position of another shard: intact, but not this shard's.
			other := e.shards[(i+1)%len(e.shards)]
			s.data = append([]byte(nil), other...)
			return s
		}},
		{"other-object", func(e *encoded, s *memShard, i int) *memShard {
			// A stale or foreign shard: same parameters and size, other id.
			o := encodeQuiet(e.p, []byte("another-object"), e.data)
			s.data = o[i]
			return s
		}},
	}
}

func encodeQuiet(p Params, id, data []byte) [][]byte {
	c, _ := New(p)
	bufs := make([]*bytes.Buffer, p.Shards())
	ws := make([]io.Writer, p.Shards())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	if _, err := c.Encode(context.Background(), id, bytes.NewReader(data), ws); err != nil {
		panic(err)
	}
	out := make([][]byte, len(bufs))
	for i, b := range bufs {
		out[i] = b.Bytes()
	}
	return out
}

// combinations returns every subset of {0..n-1} with at most max members.
func combinations(n, max int) [][]int {
	var out [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		out = append(out, append([]int(nil), cur...))
		if len(cur) == max {
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
	return out
}

// checkFaults damages the shards in bad with the given faults and checks that
// the decode returns the original bytes and reports exactly the damaged shards
// it tried to read.
func checkFaults(t *testing.T, e *encoded, bad []int, fs []fault) {
	t.Helper()
	ss := e.sources()
	for j, i := range bad {
		ss[i] = fs[j%len(fs)].apply(e, ss[i], i)
	}
	got, rep, err := e.decode(t, ss, 0, -1)
	if err != nil {
		t.Fatalf("bad %v: %v", bad, err)
	}
	if !bytes.Equal(got, e.data) {
		t.Fatalf("bad %v: wrong data", bad)
	}
	reported := map[int]bool{}
	for _, b := range rep.Bad {
		reported[b.Shard] = true
	}
	for _, i := range bad {
		if ss[i] == nil {
			continue // a nil source is known missing; the decoder does not report it
		}
		// Data shards are read from the first stripe on, so their damage
		// must be seen; a parity shard may be opened after its damage.
		if !reported[i] && i < e.p.K {
			t.Fatalf("bad %v: data shard %d damaged but not reported (report %v)", bad, i, rep.Bad)
		}
	}
	for i := range reported {
		found := false
		for _, b := range bad {
			found = found || b == i
		}
		if !found {
			t.Fatalf("bad %v: healthy shard %d reported: %v", bad, i, rep.Bad)
		}
	}
}

func TestEveryFaultCombinationRS42(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 128}
	r := rand.New(rand.NewPCG(3, 4))
	data := randBytes(r, 5*p.K*p.BlockSize+77) // 6 stripes, the last one short
	e := encode(t, p, []byte("rs42"), data)
	for _, f := range faults() {
		t.Run(f.name, func(t *testing.T) {
			for _, bad := range combinations(p.Shards(), p.M) {
				checkFaults(t, e, bad, []fault{f})
			}
		})
	}
	t.Run("mixed", func(t *testing.T) {
		fs := faults()
		for _, bad := range combinations(p.Shards(), p.M) {
			for k := range fs {
				checkFaults(t, e, bad, append(fs[k:], fs[:k]...))
			}
		}
	})
}

func TestRandomFaultsLargerCodes(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fs := faults()
	for _, p := range []Params{{K: 6, M: 3, BlockSize: 96}, {K: 8, M: 4, BlockSize: 64}, {K: 10, M: 4, BlockSize: 64}} {
		data := randBytes(r, 3*p.K*p.BlockSize+r.IntN(p.K*p.BlockSize))
		e := encode(t, p, []byte("big"), data)
		for range 60 {
			nbad := r.IntN(p.M + 1)
			bad := r.Perm(p.Shards())[:nbad]
			var chosen []fault
			for range bad {
				chosen = append(chosen, fs[r.IntN(len(fs))])
			}
			checkFaults(t, e, bad, chosen)
		}
	}
}

func TestTooManyBadShardsFailCleanly(t *testing.T) {
	for _, p := range []Params{{K: 4, M: 2, BlockSize: 128}, {K: 6, M: 3, BlockSize: 64}, {K: 3, M: 0, BlockSize: 64}} {
		r := rand.New(rand.NewPCG(5, 6))
		data := randBytes(r, 4*p.K*p.BlockSize+5)
		e := encode(t, p, []byte("x"), data)
		for _, f := range faults() {
			// Damage m+1 shards, from the third stripe on where the fault
			// allows, so that some stripes decode before the failure.
			ss := e.sources()
			for _, i := range rand.New(rand.NewPCG(7, 8)).Perm(p.Shards())[:p.M+1] {
				ss[i] = f.apply(e, ss[i], i)
			}
			got, _, err := e.decode(t, ss, 0, -1)
			want := ErrTooManyBad
			if f.name == "missing" { // no source: unreachable, not known damaged
				want = ErrTooFewReachable
			}
			if !errors.Is(err, want) {
				t.Fatalf("%v %s: err %v, want %v", p, f.name, err, want)
			}
			if !bytes.HasPrefix(data, got) || len(got)%int(p.StripeSize()) != 0 {
				t.Fatalf("%v %s: wrote %d bytes that are not whole, correct stripes", p, f.name, len(got))
			}
		}
	}
}

func TestRanges(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 64}
	S := int64(p.StripeSize())
	B := int64(p.BlockSize)
	r := rand.New(rand.NewPCG(9, 10))
	for _, size := range []int64{1, B, S - 1, S, S + 1, 5*S + 3} {
		data := randBytes(r, int(size))
		e := encode(t, p, []byte("r"), data)
		points := []int64{0, 1, B - 1, B, B + 1, S - 1, S, S + 1, 2*S - 1, 2 * S, size - 1, size}
		for _, degraded := range []bool{false, true} {
			ss := e.sources()
			if degraded {
				ss[0], ss[2] = nil, nil // data shards: every stripe is rebuilt
			}
			for _, off := range points {
				for _, end := range points {
					if off < 0 || end > size || off > end || off > size {
						continue
					}
					got, _, err := e.decode(t, ss, off, end-off)
					if err != nil {
						t.Fatalf("size %d [%d,%d) degraded=%v: %v", size, off, end, degraded, err)
					}
					if !bytes.Equal(got, data[off:end]) {
						t.Fatalf("size %d [%d,%d) degraded=%v: wrong bytes", size, off, end, degraded)
					}
				}
			}
		}
	}
}

func TestRangeReadsOnlyItsStripes(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 64}
	S := p.StripeSize()
	data := randBytes(rand.New(rand.NewPCG(1, 1)), int(10*S))
	e := encode(t, p, []byte("r"), data)
	ss := e.sources()
	got, _, err := e.decode(t, ss, 3*S+10, S) // stripes 3 and 4
	if err != nil || !bytes.Equal(got, data[3*S+10:4*S+10]) {
		t.Fatalf("range: %v", err)
	}
	for i, s := range ss {
		for _, o := range s.opened {
			if o[0] != e.layout.BlockOffset(3) || o[1] != 2*int64(FrameHeaderLen+p.BlockSize) {
				t.Fatalf("shard %d opened at %v, want stripes 3..4 only", i, o)
			}
		}
		if i >= p.K && len(s.opened) > 0 {
			t.Fatalf("parity shard %d read although all data shards were good", i)
		}
	}
}

func TestPreferOrder(t *testing.T) {
	p := Params{K: 2, M: 2, BlockSize: 64}
	data := randBytes(rand.New(rand.NewPCG(2, 2)), 1000)
	e := encode(t, p, []byte("pref"), data)
	ss := e.sources()
	c, _ := New(p)
	var out bytes.Buffer
	srcs := []ShardSource{ss[0], ss[1], ss[2], ss[3]}
	rep, err := c.Decode(context.Background(), DecodeRequest{ObjectID: e.id, Size: e.layout.Size, Shards: srcs, Length: -1, Prefer: []int{3, 2}}, &out)
	if err != nil || !bytes.Equal(out.Bytes(), data) || !rep.Reconstructed {
		t.Fatalf("decode with parity preferred: %v %v", err, rep)
	}
	if len(ss[0].opened)+len(ss[1].opened) != 0 {
		t.Fatalf("data shards read although parity shards were preferred")
	}
	if _, err := c.Decode(context.Background(), DecodeRequest{ObjectID: e.id, Size: e.layout.Size, Shards: srcs, Length: -1, Prefer: []int{4}}, io.Discard); err == nil {
		t.Fatal("bad preference accepted")
	}
}

func TestBadRequests(t *testing.T) {
	p := Params{K: 2, M: 1, BlockSize: 64}
	e := encode(t, p, []byte("id"), []byte("hello"))
	for _, r := range [][2]int64{{-1, 1}, {0, 6}, {6, 0}, {3, 3}} {
		if _, _, err := e.decode(t, e.sources(), r[0], r[1]); !errors.Is(err, ErrRange) {
			t.Fatalf("range %v: %v", r, err)
		}
	}
	c, _ := New(p)
	if _, err := c.Encode(context.Background(), nil, bytes.NewReader(nil), make([]io.Writer, 3)); err == nil {
		t.Fatal("empty object id accepted")
	}
	if _, err := c.Encode(context.Background(), []byte("x"), bytes.NewReader(nil), make([]io.Writer, 2)); err == nil {
		t.Fatal("wrong writer count accepted")
	}
	for _, bad := range []Params{{K: 0, M: 1, BlockSize: 64}, {K: 65, M: 1, BlockSize: 64}, {K: 2, M: 33, BlockSize: 64}, {K: 2, M: 1, BlockSize: 1}, {K: 2, M: 1, BlockSize: 64, Format: 9}} {
		if _, err := New(bad); err == nil {
			t.Fatalf("params %+v accepted", bad)
		}
	}
	// A decode with the wrong id fails on every shard.
	c2, _ := New(p)
	srcs := []ShardSource{}
	for _, s := range e.sources() {
		srcs = append(srcs, s)
	}
	_, err := c2.Decode(context.Background(), DecodeRequest{ObjectID: []byte("other"), Size: 5, Shards: srcs, Length: -1}, io.Discard)
	if !errors.Is(err, ErrTooManyBad) {
		t.Fatalf("wrong id: %v", err)
	}
}

type failingWriter struct {
	n   int
	err error
}

func (f *failingWriter) Write(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	f.n--
	return len(b), nil
}

func TestEncodeWriterFailures(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 64}
	data := randBytes(rand.New(rand.NewPCG(4, 4)), 3000)
	c, _ := New(p)
	bufs := make([]*bytes.Buffer, 6)
	ws := make([]io.Writer, 6)
	for i := range ws {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	ws[1] = &failingWriter{n: 3, err: errors.New("disk full")}
	ws[4] = nil
	res, err := c.Encode(context.Background(), []byte("w"), bytes.NewReader(data), ws)
	if err != nil || len(res.Failed) != 2 || res.Failed[0].Shard != 1 || res.Failed[1].Shard != 4 {
		t.Fatalf("two failed writers: %v %+v", err, res.Failed)
	}
	dec, _ := New(p)
	srcs := make([]ShardSource, 6)
	for i, b := range bufs {
		if i != 1 && i != 4 {
			srcs[i] = &memShard{data: b.Bytes(), failAfter: -1}
		}
	}
	var out bytes.Buffer
	if _, err := dec.Decode(context.Background(), DecodeRequest{ObjectID: []byte("w"), Size: res.Size, Shards: srcs, Length: -1}, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("decode after writer failures: %v", err)
	}
	ws[0] = &failingWriter{err: errors.New("gone")}
	ws[1] = &failingWriter{err: errors.New("gone")}
	if _, err := c.Encode(context.Background(), []byte("w"), bytes.NewReader(data), ws); !errors.Is(err, ErrTooManyFailed) {
		t.Fatalf("three failed writers: %v", err)
	}
}

func TestEncodeReadErrorAndCancel(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 64}
	c, _ := New(p)
	ws := make([]io.Writer, 6)
	for i := range ws {
		ws[i] = io.Discard
	}
	boom := errors.New("client went away")
	r := io.MultiReader(bytes.NewReader(make([]byte, 1000)), errReader{boom})
	if _, err := c.Encode(context.Background(), []byte("e"), r, ws); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Encode(ctx, []byte("e"), bytes.NewReader(make([]byte, 1000)), ws); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

// Many concurrent streams through one Coder share its buffer pool.
func TestConcurrentStreams(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 256}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5 {
				data := randBytes(r, r.IntN(5000))
				e := encode(t, p, []byte{byte(g)}, data)
				ss := e.sources()
				ss[r.IntN(6)] = nil
				got, _, err := e.decode(t, ss, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("stream %d: %v", g, err)
				}
			}
		}()
	}
	wg.Wait()
}

// A stripe short of k good blocks is reported as damaged data only when
// more than m shards are missing or corrupt; when unreachable shards make
// up the shortfall, the data may be read later (a 503, not a 500).
func TestUnreachableIsNotDamage(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 128}
	r := rand.New(rand.NewPCG(3, 4))
	data := randBytes(r, 3*p.K*p.BlockSize)
	e := encode(t, p, []byte("u"), data)
	unreachable := func(s *memShard) *memShard {
		s.openErr = fmt.Errorf("%w: node down", ErrShardUnreachable)
		return s
	}
	corrupt := func(s *memShard) *memShard { s.data[FrameHeaderLen+1] ^= 1; return s }
	for _, tc := range []struct {
		name  string
		hurt  []func(*memShard) *memShard
		want  error
		works bool
	}{
		{"m unreachable", []func(*memShard) *memShard{unreachable, unreachable}, nil, true},
		{"m+1 unreachable", []func(*memShard) *memShard{unreachable, unreachable, unreachable}, ErrTooFewReachable, false},
		{"two unreachable, one corrupt", []func(*memShard) *memShard{unreachable, unreachable, corrupt}, ErrTooFewReachable, false},
		{"one unreachable, two corrupt", []func(*memShard) *memShard{unreachable, corrupt, corrupt}, ErrTooFewReachable, false},
		{"m+1 corrupt", []func(*memShard) *memShard{corrupt, corrupt, corrupt}, ErrTooManyBad, false},
	} {
		ss := e.sources()
		for i, h := range tc.hurt {
			ss[i] = h(ss[i])
		}
		got, _, err := e.decode(t, ss, 0, -1)
		if tc.works {
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
