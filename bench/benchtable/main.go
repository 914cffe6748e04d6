// Command benchtable reads `go test -bench` output of package bench and
// prints the table `make bench` ends with: throughput of each stage, and the
// ratios of our streaming stages to ceiling loops built from the raw
// libraries, next to the targets they are held to.
//
// Of repeated runs (-count) of a benchmark it takes the best: on a shared
// machine noise only ever slows a run down, and ours and ceiling loops are
// treated alike.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

type result struct {
	mbps    []float64
	bufB    float64
	allocB  []float64
	allocsN []float64
}

func best(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}

func least(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Min(xs)
}

func read(r io.Reader, name string) (map[string]*result, error) {
	out := map[string]*result{}
	br := benchfmt.NewReader(r, name)
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		n := "Benchmark" + res.Name.String() // benchfmt drops the prefix
		e := out[n]
		if e == nil {
			e = &result{}
			out[n] = e
		}
		for _, v := range res.Values {
			switch v.Unit {
			case "B/s":
				e.mbps = append(e.mbps, v.Value/1e6)
			case "B/op":
				e.allocB = append(e.allocB, v.Value)
			case "allocs/op":
				e.allocsN = append(e.allocsN, v.Value)
			case "buf-B/stream":
				e.bufB = v.Value
			}
		}
	}
	return out, br.Err()
}

type table struct {
	res    map[string]*result
	w      io.Writer
	missed int
}

func (t *table) mbps(name string) float64 {
	if r := t.res[name]; r != nil {
		return best(r.mbps)
	}
	return 0
}

func (t *table) ratio(label, ours, ceiling string, target float64) {
	o, c := t.mbps(ours), t.mbps(ceiling)
	t.row(label, o, c, target)
}

func (t *table) row(label string, o, c, target float64) {
	if o == 0 || c == 0 {
		fmt.Fprintf(t.w, "%-44s %10s %10s %7s\n", label, "-", "-", "missing")
		return
	}
	r := o / c
	mark := "ok"
	if r < target {
		mark = "BELOW TARGET"
		t.missed++
	}
	fmt.Fprintf(t.w, "%-44s %10.0f %10.0f %7.2f  ≥%.2f %s\n", label, o, c, r, target, mark)
}

func main() {
	flag.Parse()
	var in io.Reader = os.Stdin
	name := "stdin"
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		in, name = f, flag.Arg(0)
	}
	res, err := read(in, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t := &table{res: res, w: os.Stdout}
	w := t.w

	fmt.Fprintln(w, "\n== Raw library speeds (MB/s, one core) ==")
	for _, n := range []string{
		"BenchmarkEncode/RS(4,2)/raw", "BenchmarkEncode/RS(6,3)/raw", "BenchmarkEncode/RS(8,4)/raw",
		"BenchmarkDecode/RS(4,2)/raw",
		"BenchmarkHash/sha256-simd", "BenchmarkHash/crypto-sha256", "BenchmarkHash/md5",
		"BenchmarkCipher/AES-256-GCM/seal-raw", "BenchmarkCipher/ChaCha20-Poly1305/seal-raw",
	} {
		fmt.Fprintf(w, "%-44s %10.0f\n", strings.TrimPrefix(n, "Benchmark"), t.mbps(n))
	}

	fmt.Fprintln(w, "\n== Ours against ceiling loops (MB/s of object data, GOMAXPROCS=1, best of the runs) ==")
	fmt.Fprintf(w, "%-44s %10s %10s %7s  %s\n", "stage", "ours", "ceiling", "ratio", "target")
	for _, c := range []string{"RS(4,2)", "RS(6,3)", "RS(8,4)"} {
		t.ratio("streaming encode "+c, "BenchmarkEncode/"+c+"/ours", "BenchmarkEncode/"+c+"/ceiling", 0.9)
	}
	for _, c := range []string{"RS(4,2)", "RS(6,3)", "RS(8,4)"} {
		t.ratio("streaming decode "+c+", m missing", "BenchmarkDecode/"+c+"/ours", "BenchmarkDecode/"+c+"/ceiling", 0.9)
	}
	t.ratio("bitrot framing vs raw sha256-simd", "BenchmarkHash/bitrot-frame", "BenchmarkHash/sha256-simd", 0.95)
	for _, c := range []string{"AES-256-GCM", "ChaCha20-Poly1305"} {
		t.ratio("encryption stream "+c+" vs read+Seal", "BenchmarkCipher/"+c+"/ours", "BenchmarkCipher/"+c+"/ceiling", 0.9)
	}
	t.ratio("MD5 stage vs crypto/md5 loop", "BenchmarkPut/md5-stage", "BenchmarkPut/md5-raw", 0.9)

	md, enc, code := t.mbps("BenchmarkPut/md5-stage"), t.mbps("BenchmarkPut/encrypt-stage"), t.mbps("BenchmarkPut/encode-stage")
	var stages float64
	if md > 0 && enc > 0 && code > 0 {
		stages = 1 / (1/md + 1/enc + 1/code)
	}
	p1, p2 := t.mbps("BenchmarkPut/pipeline"), t.mbps("BenchmarkPut/pipeline-2")
	fmt.Fprintf(w, "\n== PUT pipeline: body → MD5 → AES-256-GCM → RS(4,2)+SHA-256 → shard writers ==\n")
	fmt.Fprintf(w, "stages alone: MD5 %.0f, encryption %.0f, encode+bitrot %.0f MB/s → serial ceiling 1/Σ(1/stage) = %.0f MB/s\n", md, enc, code, stages)
	t.row("pipeline GOMAXPROCS=1 vs serial ceiling", p1, stages, 0.9)
	t.row("pipeline GOMAXPROCS=2 vs GOMAXPROCS=1", p2, p1, 1.5)
	if g1, g2 := t.mbps("BenchmarkGet/pipeline"), t.mbps("BenchmarkGet/pipeline-2"); g1 > 0 {
		fmt.Fprintf(w, "GET pipeline (decode with a shard missing + decrypt): %.0f MB/s on one core, %.0f on two\n", g1, g2)
	}

	fmt.Fprintln(w, "\n== Memory per stream (stripe, chunk and package buffers held at once; bounded, whatever the object size) ==")
	for _, n := range []string{"BenchmarkEncode/RS(4,2)/ours", "BenchmarkEncode/RS(8,4)/ours", "BenchmarkPut/pipeline"} {
		if r := res[n]; r != nil {
			fmt.Fprintf(w, "%-44s %8.1f MiB buffers, %8.0f B allocated per 32 MiB object\n",
				strings.TrimPrefix(n, "Benchmark"), r.bufB/(1<<20), least(r.allocB))
		}
	}
	for _, bs := range []string{"64", "128", "256", "512", "1024"} {
		n := "BenchmarkBlockSize/RS(4,2)/" + bs + "KiB/ours"
		if r := res[n]; r != nil {
			fmt.Fprintf(w, "encode RS(4,2) with %4s KiB blocks: %6.0f MB/s, %5.1f MiB buffers\n", bs, best(r.mbps), r.bufB/(1<<20))
		}
	}
	if t.missed > 0 {
		fmt.Fprintf(w, "\n%d ratio(s) below target (a busy machine shows as noise; rerun `make bench`).\n", t.missed)
	}
}
