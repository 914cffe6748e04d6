package main

// The checker behind TestE2ELinearizable (linearizable_test.go): the values
// clients write, the history of every call with its invocation and return
// time on one monotonic clock, the register model porcupine checks each
// key's history against, and the report.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// linOp is what a client does to one key, seen as a register.
type linOp uint8

const (
	linPut    linOp = iota // PUT of a new value
	linCreate              // PUT with If-None-Match: *, only if the key is absent
	linDelete              // DELETE: the key becomes absent
	linGet                 // GET: the value, or absent on NoSuchKey
	linList                // ListObjectsV2 with the key as prefix: the value by its ETag, or absent
	linOps
)

func (o linOp) String() string { return [...]string{"put", "create", "delete", "get", "list"}[o] }

// outcome is what a call's answer tells about its effect.
type outcome uint8

const (
	outOK           outcome = iota
	outPrecondition         // 412 to a create: the key existed, nothing written
	outFailed               // a definite failure (4xx, or a connection never made): no effect
	outUnknown              // no definite answer (5xx, timeout, reset): it may have taken effect
	outReadFailed           // a read without an answer: carries no information, not in the history
	outcomes
)

func (o outcome) String() string {
	return [...]string{"ok", "412", "failed", "indeterminate", "read failed"}[o]
}

// absent is the register's value while the object does not exist.
const absent = ""

type linInput struct {
	op    linOp
	value string // the value id a put or create writes
}

type linOutput struct {
	out   outcome
	value string // the value id a read saw, or absent
}

// registerModel is one key as a register of value ids.
//
// An indeterminate write has its return time at +infinity (math.MaxInt64)
// and outcome outUnknown; the model steps it as if it took effect. That
// covers both outcomes: if it took effect, porcupine linearizes it where it
// did; if it did not, porcupine can linearize it after every other
// operation (nothing returns after +infinity), where its effect is seen by
// nobody. A definitely failed write changes nothing.
var registerModel = porcupine.Model{
	Init: func() any { return absent },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(linInput), output.(linOutput)
		switch in.op {
		case linGet, linList:
			return out.value == s, s
		case linPut:
			if out.out == outFailed {
				return true, s
			}
			return true, in.value
		case linDelete:
			if out.out == outFailed {
				return true, s
			}
			return true, absent
		case linCreate:
			switch out.out {
			case outOK:
				return s == absent, in.value
			case outPrecondition:
				return s != absent, s
			case outFailed:
				return true, s
			default: // took effect only if the key was absent
				if s == absent {
					return true, in.value
				}
				return true, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		switch in.op {
		case linGet, linList:
			return fmt.Sprintf("%s → %s", in.op, describeValue(out.value))
		case linDelete:
			return fmt.Sprintf("delete → %s", out.out)
		}
		return fmt.Sprintf("%s %s → %s", in.op, in.value, out.out)
	},
	DescribeState:             func(state any) string { return describeValue(state.(string)) },
	DescribeOperationMetadata: func(m any) string { s, _ := m.(string); return s },
}

func describeValue(v string) string {
	if v == absent {
		return "absent"
	}
	return v
}

// linValues are the bodies writers sent, by value id. A body begins with a
// line naming its value id and continues with bytes derived from
// the id, so a read identifies the value it got from the body itself and
// checks the whole body against what that value's writer sent, without
// keeping every body in memory.
type linValues struct {
	mu    sync.Mutex
	size  map[string]int
	md5   map[string]string // value id → hex MD5 of its body (a single PUT's ETag)
	byMD5 map[string]string // and back
}

func newLinValues() *linValues {
	return &linValues{size: map[string]int{}, md5: map[string]string{}, byMD5: map[string]string{}}
}

const linMagic = "kcs-lin/1 "

// linBody is the body of value id, size bytes long (at least its first line).
func linBody(id string, size int) []byte {
	head := linMagic + id + "\n"
	b := make([]byte, max(size, len(head)))
	copy(b, head)
	rand.NewChaCha8(sha256.Sum256([]byte(id))).Read(b[len(head):])
	return b
}

// add registers a body before it is sent: a read may see it before its
// PUT returns.
func (v *linValues) add(id string, body []byte) string {
	sum := md5.Sum(body)
	etag := hex.EncodeToString(sum[:])
	v.mu.Lock()
	defer v.mu.Unlock()
	v.size[id] = len(body)
	v.md5[id] = etag
	v.byMD5[etag] = id
	return etag
}

// etagOf returns the MD5 of a value's body.
func (v *linValues) etagOf(id string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.md5[id]
}

// identify returns the value id of a body read back, or an error if the
// body is not, byte for byte, one a writer sent.
func (v *linValues) identify(body []byte) (string, error) {
	line, _, _ := bytes.Cut(body[:min(len(body), 200)], []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte(linMagic))
	f := strings.Fields(string(rest))
	if !ok || len(f) != 1 {
		return "", fmt.Errorf("%d bytes that begin with no value id: %q", len(body), body[:min(len(body), 40)])
	}
	id := f[0]
	v.mu.Lock()
	size, known := v.size[id]
	v.mu.Unlock()
	if !known {
		return "", fmt.Errorf("value id %q was never written", id)
	}
	want := linBody(id, size)
	if !bytes.Equal(body, want) {
		at := 0
		for at < min(len(body), len(want)) && body[at] == want[at] {
			at++
		}
		return "", fmt.Errorf("%d bytes of %s differ from the %d its writer sent (first difference at byte %d)", len(body), id, len(want), at)
	}
	return id, nil
}

// byETag maps a listing's ETag and size back to a value id.
func (v *linValues) byETag(etag string, size int64) (string, error) {
	etag = strings.Trim(etag, `"`)
	v.mu.Lock()
	defer v.mu.Unlock()
	id, ok := v.byMD5[etag]
	if !ok {
		return "", fmt.Errorf("ETag %s is the MD5 of no body a writer sent", etag)
	}
	if int64(v.size[id]) != size {
		return "", fmt.Errorf("listed with size %d, but %s has %d bytes", size, id, v.size[id])
	}
	return id, nil
}

// linRecord is one call.
type linRecord struct {
	key       string
	proc      int // the calling process; a client that saw an indeterminate answer goes on as a new one
	node      int // the server it called
	in        linInput
	out       linOutput
	call, ret int64 // ns since the run started; ret = math.MaxInt64 for indeterminate writes
	err       string
	final     bool // a read after the run, with every fault healed
}

// linHistory collects the calls of every client. Times come from one
// process's monotonic clock (time.Since of one start).
type linHistory struct {
	start time.Time

	mu      sync.Mutex
	recs    []linRecord
	counts  [linOps][outcomes]int
	codes   map[string]int // error codes of non-ok answers, by op: "put 503 ServiceUnavailable"
	answers []int64        // return times of the calls that got an answer from a serving cluster
	corrupt []string       // bodies, ETags or sizes no writer sent
}

func newLinHistory() *linHistory { return &linHistory{start: time.Now(), codes: map[string]int{}} }

func (h *linHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *linHistory) add(r linRecord, code string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.in.op][r.out.out]++
	if code != "" {
		h.codes[r.in.op.String()+" "+code]++
	}
	if r.out.out == outReadFailed {
		return // no information
	}
	if r.out.out == outUnknown {
		r.ret = math.MaxInt64
	}
	if r.out.out == outOK || r.out.out == outPrecondition {
		h.answers = append(h.answers, r.ret)
	}
	h.recs = append(h.recs, r)
}

func (h *linHistory) corruption(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.corrupt = append(h.corrupt, fmt.Sprintf(format, args...))
}

// byKey returns each key's calls in order of invocation.
func (h *linHistory) byKey() map[string][]linRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]linRecord{}
	for _, r := range h.recs {
		out[r.key] = append(out[r.key], r)
	}
	for _, rs := range out {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].call < rs[j].call })
	}
	return out
}

// porcupineOps turns a key's records into porcupine's operations, with
// the processes numbered from 0 for the visualization.
func porcupineOps(rs []linRecord) []porcupine.Operation {
	procs := map[int]int{}
	ops := make([]porcupine.Operation, 0, len(rs))
	for _, r := range rs {
		p, ok := procs[r.proc]
		if !ok {
			p = len(procs)
			procs[r.proc] = p
		}
		meta := fmt.Sprintf("n%d", r.node+1)
		if r.err != "" {
			meta += ": " + r.err
		}
		ops = append(ops, porcupine.Operation{ClientId: p, Input: r.in, Output: r.out, Call: r.call, Return: r.ret, Metadata: meta})
	}
	return ops
}

// linVerdict is porcupine's answer for one key.
type linVerdict struct {
	key    string
	result porcupine.CheckResult
	ops    int
	took   time.Duration
}

// checkKeys checks every key's history separately, on every core, and
// returns the verdicts in key order.
func checkKeys(hist map[string][]linRecord, timeout time.Duration) []linVerdict {
	keys := make([]string, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]linVerdict, len(keys))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				res := porcupine.CheckOperationsTimeout(registerModel, porcupineOps(hist[keys[i]]), timeout)
				out[i] = linVerdict{key: keys[i], result: res, ops: len(hist[keys[i]]), took: time.Since(t0)}
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (v linVerdict) String() string {
	switch v.result {
	case porcupine.Ok:
		return "linearizable"
	case porcupine.Illegal:
		return "NOT linearizable"
	}
	return "undecided: the check could not decide"
}

// dumpHistory writes a key's calls, one a line, in order of invocation.
func dumpHistory(rs []linRecord, vals *linValues) string {
	var b strings.Builder
	at := func(ns int64) string {
		if ns == math.MaxInt64 {
			return "∞"
		}
		return fmt.Sprintf("%.3fs", float64(ns)/1e9)
	}
	for _, r := range rs {
		what := r.in.op.String()
		if r.in.value != "" {
			vals.mu.Lock()
			what += fmt.Sprintf(" %s (%d B)", r.in.value, vals.size[r.in.value])
			vals.mu.Unlock()
		}
		res := r.out.out.String()
		if r.in.op == linGet || r.in.op == linList {
			res = describeValue(r.out.value)
		}
		line := fmt.Sprintf("  %9s … %-9s n%d p%-4d %-32s → %s", at(r.call), at(r.ret), r.node+1, r.proc, what, res)
		if r.final {
			line += " (final)"
		}
		if r.err != "" {
			line += "   [" + r.err + "]"
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// linFault is one fault injected, with its time relative to the run start.
type linFault struct {
	kind, target string
	start, end   time.Duration
}

// linWindow is a stretch in which no call on any node got an answer.
type linWindow struct{ start, end time.Duration }

// unavailability returns the stretches longer than min, within [0, until],
// between successive answers.
func unavailability(answers []int64, until time.Duration, minGap time.Duration) []linWindow {
	ts := slices.Clone(answers)
	slices.Sort(ts)
	ts = append(ts, int64(until))
	var out []linWindow
	prev := int64(0)
	for _, t := range ts {
		if t > int64(until) {
			t = int64(until)
		}
		if time.Duration(t-prev) > minGap {
			out = append(out, linWindow{time.Duration(prev), time.Duration(t)})
		}
		prev = max(prev, t)
	}
	return out
}

// faultsDuring names the faults active at some time in w.
func faultsDuring(w linWindow, faults []linFault) string {
	var names []string
	for _, f := range faults {
		if f.start <= w.end && (f.end == 0 || f.end >= w.start) {
			names = append(names, f.kind+" "+f.target)
		}
	}
	if len(names) == 0 {
		return "no fault"
	}
	return strings.Join(names, ", ")
}

// linOutDir is where a failed check leaves its visualizations, histories
// and server logs: $KCS_CHECK_OUT, or a new directory under the system's
// temporary directory (kept, unlike the test's own).
func linOutDir(t *testing.T, seed uint64) string {
	dir := os.Getenv("KCS_CHECK_OUT")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("kcs-check-%d-%s", seed, time.Now().Format("20060102-150405")))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// linClient is an aws-sdk-go-v2 client that makes exactly one attempt per
// call (no SDK retries: every call recorded is one request) and gives up
// after timeout.
// linClient is a client of endpoint that never retries; tr, if not nil,
// is its transport (the cluster's, which follows restarted servers).
func linClient(endpoint, ak, sk string, timeout time.Duration, tr *http.Transport) *s3.Client {
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.MaxIdleConnsPerHost = 4
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:  &http.Client{Timeout: timeout, Transport: tr},
		Retryer:     aws.NopRetryer{},
	})
}

// writeOutcome classifies a write's error. Only an S3 answer of 4xx is a
// definite failure (412 the definite "it existed" of a create), and a
// connection that was refused, for then no byte of the request left. A
// 5xx, a timeout, a reset, an answer cut short: the write may have
// committed.
func writeOutcome(err error) (outcome, string) {
	if err == nil {
		return outOK, ""
	}
	// The SDK wraps transport errors in response errors too, with status 0.
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		st := re.HTTPStatusCode()
		code := strconv.Itoa(st) + " " + apiCode(err)
		switch {
		case st == http.StatusPreconditionFailed:
			return outPrecondition, code
		case st >= 400 && st < 500:
			return outFailed, code
		}
		return outUnknown, code
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return outFailed, "connection refused"
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return outUnknown, "timeout"
	}
	return outUnknown, "transport error"
}

// TestLinModel checks the checker: the register model accepts histories a
// linearizable store can produce and rejects the anomalies the end-to-end
// checker is there to find.
func TestLinModel(t *testing.T) {
	put := func(v string, out outcome, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: linInput{op: linPut, value: v}, Output: linOutput{out: out}, Call: call, Return: ret}
	}
	create := func(v string, out outcome, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: linInput{op: linCreate, value: v}, Output: linOutput{out: out}, Call: call, Return: ret}
	}
	del := func(out outcome, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: linInput{op: linDelete}, Output: linOutput{out: out}, Call: call, Return: ret}
	}
	get := func(v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: linInput{op: linGet}, Output: linOutput{value: v}, Call: call, Return: ret}
	}
	const inf = math.MaxInt64
	for _, tc := range []struct {
		name string
		ok   bool
		ops  []porcupine.Operation
	}{
		{"read your write", true, []porcupine.Operation{put("a", outOK, 0, 1), get("a", 2, 3)}},
		{"stale read", false, []porcupine.Operation{put("a", outOK, 0, 1), put("b", outOK, 2, 3), get("a", 4, 5)}},
		{"concurrent read sees either", true, []porcupine.Operation{put("a", outOK, 0, 1), put("b", outOK, 2, 6), get("a", 3, 4), get("b", 5, 7)}},
		{"value flips back", false, []porcupine.Operation{put("a", outOK, 0, 1), put("b", outOK, 2, 9), get("b", 3, 4), get("a", 5, 6)}},
		{"indeterminate put never applied", true, []porcupine.Operation{put("a", outOK, 0, 1), put("b", outUnknown, 2, inf), get("a", 3, 4)}},
		{"indeterminate put applied late", true, []porcupine.Operation{put("a", outOK, 0, 1), put("b", outUnknown, 2, inf), get("a", 3, 4), get("b", 5, 6)}},
		{"indeterminate put applied, then lost", false, []porcupine.Operation{put("a", outOK, 0, 1), put("b", outUnknown, 2, inf), get("b", 3, 4), get("a", 5, 6)}},
		{"failed put has no effect", false, []porcupine.Operation{put("a", outFailed, 0, 1), get("a", 2, 3)}},
		{"acknowledged delete", false, []porcupine.Operation{put("a", outOK, 0, 1), del(outOK, 2, 3), get("a", 4, 5)}},
		{"indeterminate delete", true, []porcupine.Operation{put("a", outOK, 0, 1), del(outUnknown, 2, inf), get("a", 4, 5), get(absent, 6, 7)}},
		{"create on absent", true, []porcupine.Operation{create("a", outOK, 0, 1), get("a", 2, 3)}},
		{"two creates both win", false, []porcupine.Operation{create("a", outOK, 0, 3), create("b", outOK, 1, 4), get("b", 5, 6)}},
		{"create refused on absent", false, []porcupine.Operation{create("a", outPrecondition, 0, 1)}},
		{"create refused on present", true, []porcupine.Operation{put("a", outOK, 0, 1), create("b", outPrecondition, 2, 3), get("a", 4, 5)}},
		{"indeterminate create on present never applies", false, []porcupine.Operation{put("a", outOK, 0, 1), create("b", outUnknown, 2, inf), get("b", 3, 4)}},
	} {
		if got := porcupine.CheckOperations(registerModel, tc.ops); got != tc.ok {
			t.Errorf("%s: linearizable = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestLinValues checks that a body identifies its value and that any
// change to it is caught.
func TestLinValues(t *testing.T) {
	v := newLinValues()
	for _, size := range []int{1, 40, 16384, 16385, 200 << 10} {
		id := fmt.Sprintf("c01-%05d", size)
		body := linBody(id, size)
		etag := v.add(id, body)
		if got, err := v.identify(body); err != nil || got != id {
			t.Fatalf("size %d: %q, %v", size, got, err)
		}
		if got, err := v.byETag(`"`+etag+`"`, int64(len(body))); err != nil || got != id {
			t.Fatalf("size %d: by ETag %q, %v", size, got, err)
		}
		if _, err := v.byETag(etag, int64(len(body))+1); err == nil {
			t.Fatalf("size %d: a wrong size was accepted", size)
		}
		bad := bytes.Clone(body)
		bad[len(bad)-1] ^= 1
		if _, err := v.identify(bad); err == nil {
			t.Fatalf("size %d: a flipped last byte was accepted", size)
		}
		if _, err := v.identify(body[:len(body)-1]); err == nil {
			t.Fatalf("size %d: a truncated body was accepted", size)
		}
	}
	if _, err := v.identify(linBody("c09-00001", 100)); err == nil {
		t.Fatal("a value never registered was accepted")
	}
}

// TestLinWriteOutcome checks the classification of write errors against a
// fake S3 endpoint: only 4xx answers and refused connections are definite.
func TestLinWriteOutcome(t *testing.T) {
	// The key is the status to answer; "slow" answers after the client gave up.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := 200
		switch key := strings.TrimPrefix(r.URL.Path, "/b/"); key {
		case "slow":
			time.Sleep(2 * time.Second)
		case "ok":
		default:
			st, _ = strconv.Atoi(key)
		}
		w.WriteHeader(st)
		if st >= 400 {
			fmt.Fprintf(w, "<Error><Code>C%d</Code><Message>m</Message></Error>", st)
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	cl := linClient("http://"+addr, "ak", "sk", 500*time.Millisecond, nil)
	put := func(cl *s3.Client, key string) error {
		_, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
		return err
	}
	for key, want := range map[string]outcome{"ok": outOK, "412": outPrecondition, "400": outFailed, "403": outFailed, "404": outFailed,
		"500": outUnknown, "503": outUnknown, "slow": outUnknown} {
		if got, code := writeOutcome(put(cl, key)); got != want {
			t.Errorf("%s: %v (%s), want %v", key, got, code, want)
		}
	}
	// An address nobody listens on any more: the connection is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	refused := linClient("http://"+ln.Addr().String(), "ak", "sk", 500*time.Millisecond, nil)
	if got, code := writeOutcome(put(refused, "k")); got != outFailed {
		t.Errorf("refused connection: %v (%s), want %v", got, code, outFailed)
	}
}
