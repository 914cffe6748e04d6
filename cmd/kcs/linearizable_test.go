package main

// A consistency checker in Jepsen's manner. Clients call every node of a
// real three-site cluster at once, each key a register that they put,
// create (If-None-Match: *), delete, get and list, while a seeded schedule
// kills, pauses and restarts nodes (the Raft leader among them), takes a
// site down and fills drives. Every call is recorded with its invocation
// and return time; a write without a definite answer is open-ended (it may
// take effect at any time after its call). After the faults are healed and
// the GC grace has passed several times, every key is read through every
// node. Porcupine then checks each key's history for linearizability.
//
// `make test` runs a short round (KCS_CHECK_DURATION, 45 s of load, with
// kills and pauses); `make check` runs ten minutes with every kind of
// fault. KCS_SEED=N replays a run's schedule of calls and faults, as far as
// timing allows.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	linGCGrace = 3 * time.Second
	// Keys are owned by groups of clients, so that few clients share a key
	// and its history stays short enough for porcupine to decide, while
	// each key sees enough concurrent calls to expose anomalies.
	linGroupSizes  = "323232323232" // clients per group
	linKeysPerGrp  = 4
	linCallTimeout = 10 * time.Second
	// Besides, one reader per node reads any key: a client that calls a
	// paused node waits out its timeout, and once every client of the
	// groups does, nothing would show whether the other nodes serve.
	linProbeTimeout = 2 * time.Second
	linProbeEvery   = 50 * time.Millisecond
	// A key is retired for a fresh one after this many calls or this many
	// indeterminate writes: each open-ended write stays concurrent with
	// everything after it, and the search grows with their number.
	linMaxCallsPerKey   = 150
	linMaxUnknownPerKey = 6
	linCheckTimeout     = 60 * time.Second // per key
)

func checkDuration(t *testing.T) time.Duration {
	if v := os.Getenv("KCS_CHECK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("KCS_CHECK_DURATION: %v", err)
		}
		return d
	}
	return 45 * time.Second
}

// linRun is one run of the checker.
type linRun struct {
	t      *testing.T
	c      *cluster
	bucket *string
	hist   *linHistory
	vals   *linValues
	procs  atomic.Int64 // the next process number for a client that saw an indeterminate answer

	mu    sync.Mutex
	slots []linSlot
}

// linSlot is one key slot: its current key is k<slot>/g<gen>. Fixed widths
// keep any key from being a prefix of another, so listing a key's prefix
// lists that key alone.
type linSlot struct{ gen, calls, unknown int }

func (r *linRun) key(slot int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("k%03d/g%03d", slot, r.slots[slot].gen)
}

// called counts a call on a slot's key and moves the slot to a fresh key
// when this one's history is long enough.
func (r *linRun) called(slot int, key string, out outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.slots[slot]
	if key != fmt.Sprintf("k%03d/g%03d", slot, s.gen) {
		return // already retired
	}
	s.calls++
	if out == outUnknown {
		s.unknown++
	}
	if s.calls >= linMaxCallsPerKey || s.unknown >= linMaxUnknownPerKey {
		*s = linSlot{gen: s.gen + 1}
	}
}

func (r *linRun) allKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for i, s := range r.slots {
		for g := 0; g <= s.gen; g++ {
			keys = append(keys, fmt.Sprintf("k%03d/g%03d", i, g))
		}
	}
	return keys
}

// linWorker is one client: its own connections to every node, its own
// random stream from the seed.
type linWorker struct {
	id   int
	proc int
	rnd  *rand.Rand
	cl   []*s3.Client // by node
	seq  int
}

func (r *linRun) newWorker(id int, ak, sk string, seed uint64, timeout time.Duration) *linWorker {
	w := &linWorker{id: id, proc: id, rnd: rand.New(rand.NewPCG(seed, uint64(id)))}
	for _, s := range r.c.servers {
		// Through the cluster's transport: a restarted server listens on
		// new ports.
		w.cl = append(w.cl, linClient(s.endpoint(), ak, sk, timeout, r.c.transport()))
	}
	return w
}

// valueSize draws a body size: half small enough to be stored inline in
// the metadata, the rest erasure-coded, and now and then either side of
// the inline limit.
func valueSize(rnd *rand.Rand) int {
	switch x := rnd.IntN(100); {
	case x < 4:
		return 16384 + x%2 // the largest inline object, the smallest coded one
	case x < 50:
		return 64 + rnd.IntN(16384-64)
	default:
		return 40<<10 + rnd.IntN(160<<10)
	}
}

// write puts (or creates, or deletes) and records the call.
func (r *linRun) write(w *linWorker, node int, key string, op linOp, size int) outcome {
	ctx := context.Background()
	rec := linRecord{key: key, proc: w.proc, node: node, in: linInput{op: op}}
	var err error
	if op == linDelete {
		rec.call = r.hist.now()
		_, err = w.cl[node].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: r.bucket, Key: aws.String(key)})
	} else {
		id := fmt.Sprintf("c%02d-%05d", w.id, w.seq)
		w.seq++
		body := linBody(id, size)
		etag := r.vals.add(id, body)
		in := &s3.PutObjectInput{Bucket: r.bucket, Key: aws.String(key), Body: bytes.NewReader(body)}
		if op == linCreate {
			in.IfNoneMatch = aws.String("*")
		}
		rec.in.value = id
		rec.call = r.hist.now()
		var out *s3.PutObjectOutput
		out, err = w.cl[node].PutObject(ctx, in)
		if err == nil && strings.Trim(aws.ToString(out.ETag), `"`) != etag {
			r.hist.corruption("%s: PUT of %s via n%d answered ETag %s, the body's MD5 is %s", key, id, node+1, aws.ToString(out.ETag), etag)
		}
	}
	rec.ret = r.hist.now()
	var code string
	rec.out.out, code = writeOutcome(err)
	if err != nil {
		rec.err = shortErr(err)
	}
	if op != linCreate && rec.out.out == outPrecondition {
		rec.out.out = outFailed // a 412 to an unconditional write is a definite refusal all the same
	}
	r.hist.add(rec, code)
	if rec.out.out == outUnknown {
		// Like a crashed process in Jepsen: the client goes on as a new
		// process, since its last call may still be in flight.
		w.proc = int(r.procs.Add(1))
	}
	return rec.out.out
}

// read gets or lists a key and records what it saw. Every body is checked
// byte for byte against what its value's writer sent.
func (r *linRun) read(w *linWorker, node int, key string, op linOp, final bool) (outcome, error) {
	ctx := context.Background()
	rec := linRecord{key: key, proc: w.proc, node: node, in: linInput{op: op}, final: final}
	rec.call = r.hist.now()
	var err error
	var body []byte
	var etag string
	var listed []string // value ids the listing shows for the key
	var badList error
	if op == linGet {
		var out *s3.GetObjectOutput
		out, err = w.cl[node].GetObject(ctx, &s3.GetObjectInput{Bucket: r.bucket, Key: aws.String(key)})
		if err == nil {
			etag = strings.Trim(aws.ToString(out.ETag), `"`)
			body, err = io.ReadAll(out.Body)
			out.Body.Close()
		}
	} else {
		var out *s3.ListObjectsV2Output
		out, err = w.cl[node].ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: r.bucket, Prefix: aws.String(key)})
		if err == nil {
			for _, o := range out.Contents {
				if aws.ToString(o.Key) != key {
					badList = fmt.Errorf("listing prefix %s shows key %s", key, aws.ToString(o.Key))
					continue
				}
				id, e := r.vals.byETag(aws.ToString(o.ETag), aws.ToInt64(o.Size))
				if e != nil {
					badList = e
					continue
				}
				listed = append(listed, id)
			}
		}
	}
	rec.ret = r.hist.now()
	code := ""
	switch {
	case err == nil && op == linGet:
		id, e := r.vals.identify(body)
		if e != nil {
			r.hist.corruption("%s: GET via n%d at %.3fs: %v", key, node+1, float64(rec.call)/1e9, e)
			return outReadFailed, e
		}
		if sum := r.vals.etagOf(id); etag != sum {
			r.hist.corruption("%s: GET via n%d of %s answered ETag %s, the body's MD5 is %s", key, node+1, id, etag, sum)
		}
		rec.out = linOutput{out: outOK, value: id}
	case err == nil:
		if badList != nil || len(listed) > 1 {
			e := fmt.Errorf("listing via n%d: %v (values %v)", node+1, badList, listed)
			r.hist.corruption("%s: %v", key, e)
			return outReadFailed, e
		}
		rec.out = linOutput{out: outOK}
		if len(listed) == 1 {
			rec.out.value = listed[0]
		}
	case op == linGet && apiCode(err) == "NoSuchKey":
		rec.out = linOutput{out: outOK, value: absent}
	default:
		rec.out.out = outReadFailed
		rec.err = shortErr(err)
		_, code = writeOutcome(err)
	}
	r.hist.add(rec, code)
	return rec.out.out, err
}

// shortErr keeps an SDK error's gist for the history.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ", "); i >= 0 && strings.HasPrefix(s, "operation error") {
		s = s[i+2:]
	}
	return s
}

// work is one client's loop: a random key of its group, a random node, a
// random call, until stop.
func (r *linRun) work(w *linWorker, stop <-chan struct{}, slots []int) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		// Draw the same numbers every round, so that a seed replays the
		// same sequence of calls whatever the answers were.
		slot := slots[w.rnd.IntN(len(slots))]
		node := w.rnd.IntN(len(w.cl))
		kind := w.rnd.IntN(100)
		size := valueSize(w.rnd)
		key := r.key(slot)
		var out outcome
		switch {
		case kind < 30:
			out = r.write(w, node, key, linPut, size)
		case kind < 40:
			out = r.write(w, node, key, linCreate, size)
		case kind < 52:
			out = r.write(w, node, key, linDelete, 0)
		case kind < 88:
			out, _ = r.read(w, node, key, linGet, false)
		default:
			out, _ = r.read(w, node, key, linList, false)
		}
		r.called(slot, key, out)
		if out == outUnknown || out == outFailed || out == outReadFailed {
			time.Sleep(200 * time.Millisecond) // no busy loop against a node that is down
		}
	}
}

// probe is a node's reader: a GET or LIST of any key through that node
// alone, every linProbeEvery, until stop.
func (r *linRun) probe(w *linWorker, node int, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(linProbeEvery):
		}
		slot := w.rnd.IntN(len(r.slots))
		op := linGet
		if w.rnd.IntN(5) == 0 {
			op = linList
		}
		key := r.key(slot)
		out, _ := r.read(w, node, key, op, false)
		r.called(slot, key, out)
	}
}

func TestE2ELinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("KCS_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	duration := checkDuration(t)
	t.Logf("seed %d (rerun with KCS_SEED=%d), %v of load", seed, seed, duration)
	// Site loss and full drives take tens of seconds each; they come with
	// runs long enough to hold them between the other faults.
	long := duration >= 2*time.Minute
	opts := clusterOptions{extraArgs: []string{"--gc-grace", linGCGrace.String()}}
	if long {
		// Larger than the space a node keeps free on its drives, so that
		// only the ballast makes one full. tmpfs takes memory only for
		// what is written.
		opts.tmpfs = &tmpfsSizes{drive: "2g", meta: "1g"}
	}
	c := startClusterWith(t, 3, opts)
	faults := &linFaults{t: t, c: c, paused: map[*server]bool{}, rnd: rand.New(rand.NewPCG(seed, 0xfa17))}
	t.Cleanup(faults.resume) // before the harness stops the servers: a stopped process ignores SIGINT
	kinds := []string{"kill", "kill-leader", "pause-leader", "pause-follower"}
	if long {
		kinds = append(kinds, "site-down")
		if c.tmpfs {
			kinds = append(kinds, "data-drive-full", "meta-drive-full")
		} else {
			t.Log("full-drive faults skipped: no tmpfs to fill")
		}
	}

	ak, sk := c.tenant("gemeinde-jepsen")
	r := &linRun{t: t, c: c, bucket: aws.String("linearizable"), vals: newLinValues()}
	setup := linClient(c.servers[0].endpoint(), ak, sk, linCallTimeout, c.transport())
	if _, err := setup.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: r.bucket}); err != nil {
		t.Fatal(err)
	}

	var workers []*linWorker
	var groups [][]int // slots of each worker
	for g, ch := range linGroupSizes {
		var slots []int
		for k := range linKeysPerGrp {
			slots = append(slots, g*linKeysPerGrp+k)
		}
		for range int(ch - '0') {
			workers = append(workers, r.newWorker(len(workers), ak, sk, seed, linCallTimeout))
			groups = append(groups, slots)
		}
	}
	var probes []*linWorker
	for range c.servers {
		probes = append(probes, r.newWorker(len(workers)+len(probes), ak, sk, seed, linProbeTimeout))
	}
	r.slots = make([]linSlot, len(linGroupSizes)*linKeysPerGrp)
	r.procs.Store(int64(len(workers) + len(probes)))

	r.hist = newLinHistory()
	faults.start = r.hist.start
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); r.work(w, stop, groups[i]) }()
	}
	for n, w := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); r.probe(w, n, stop) }()
	}
	faults.run(kinds, duration)
	faults.heal()
	close(stop)
	wg.Wait()
	loadEnd := time.Since(r.hist.start)
	t.Logf("load ran %v with %d clients and %d readers on %d keys", loadEnd.Round(time.Millisecond), len(workers), len(probes), len(r.allKeys()))

	// Every fault is healed: the cluster must serve again, and every key
	// must read back through every node once the GC grace has passed
	// several times (so a current version whose shards were collected as
	// garbage shows).
	final := r.newWorker(len(workers)+len(probes), ak, sk, seed, linCallTimeout)
	final.proc = int(r.procs.Add(1))
	for n, s := range c.servers {
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := final.cl[n].ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: r.bucket, MaxKeys: aws.Int32(1)})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not serve 60 s after every fault was healed: %v", s.id, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	time.Sleep(3 * linGCGrace)
	var unreadable []string
	for _, key := range r.allKeys() {
		for n, s := range c.servers {
			for _, op := range []linOp{linGet, linList} {
				var err error
				for attempt := range 5 {
					var out outcome
					if out, err = r.read(final, n, key, op, true); out == outOK {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil && apiCode(err) != "NoSuchKey" {
					unreadable = append(unreadable, fmt.Sprintf("%s %s via %s: %v", op, key, s.id, err))
				}
			}
		}
	}

	// Check every key's history.
	byKey := r.hist.byKey()
	t0 := time.Now()
	verdicts := checkKeys(byKey, linCheckTimeout)
	checkTook := time.Since(t0)

	r.report(faults, verdicts, loadEnd, checkTook)

	// Verdicts.
	var out string
	outDir := func() string {
		if out == "" {
			out = linOutDir(t, seed)
		}
		return out
	}
	for _, v := range verdicts {
		if v.result == porcupine.Ok {
			continue
		}
		rs := byKey[v.key]
		dump := dumpHistory(rs, r.vals)
		name := strings.ReplaceAll(v.key, "/", "-")
		os.WriteFile(filepath.Join(outDir(), name+".history.txt"), []byte(dump), 0o644)
		html := filepath.Join(outDir(), name+".html")
		if v.result == porcupine.Illegal {
			res, info := porcupine.CheckOperationsVerbose(registerModel, porcupineOps(rs), linCheckTimeout)
			if res == porcupine.Illegal {
				info.AddAnnotations(faults.annotations())
				if err := porcupine.VisualizePath(registerModel, info, html); err != nil {
					t.Logf("visualization of %s: %v", v.key, err)
				}
			}
		}
		t.Errorf("key %s: %s (%d calls); visualization %s\n%s", v.key, v, v.ops, html, dump)
	}
	for _, s := range r.hist.corrupt {
		t.Errorf("corruption: %s", s)
	}
	for _, s := range unreadable {
		t.Errorf("not readable after the run: %s", s)
	}
	for _, s := range c.servers {
		if p := panics(filepath.Join(s.dir, "server.log")); p != "" {
			t.Errorf("%s panicked:\n%s", s.id, p)
		}
	}
	acked := r.hist.counts[linPut][outOK] + r.hist.counts[linCreate][outOK]
	if acked < 20 {
		t.Errorf("only %d acknowledged writes: the cluster did not keep serving", acked)
	}
	if t.Failed() {
		for _, s := range c.servers {
			b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			os.WriteFile(filepath.Join(outDir(), s.id+".server.log"), b, 0o644)
		}
		t.Logf("seed %d; histories, visualizations and server logs in %s", seed, outDir())
	}
}

// report logs the calls by kind and outcome, the faults, the stretches in
// which nothing answered, and the check.
func (r *linRun) report(f *linFaults, verdicts []linVerdict, loadEnd, checkTook time.Duration) {
	t, h := r.t, r.hist
	var b strings.Builder
	fmt.Fprintf(&b, "calls        %8s %8s %8s %14s %12s\n", "ok", "412", "failed", "indeterminate", "read failed")
	for op := range linOps {
		c := h.counts[op]
		fmt.Fprintf(&b, "  %-10s %8d %8d %8d %14d %12d\n", op, c[outOK], c[outPrecondition], c[outFailed], c[outUnknown], c[outReadFailed])
	}
	b.WriteString("errors (by call):\n")
	for _, k := range slices.Sorted(maps.Keys(h.codes)) {
		fmt.Fprintf(&b, "  %-50s %d\n", k, h.codes[k])
	}
	fmt.Fprintf(&b, "faults (times since the run started at %s, as in the server logs):\n", h.start.UTC().Format("15:04:05.000"))
	slices.SortStableFunc(f.events, func(a, b linFault) int { return cmp.Compare(a.start, b.start) })
	for _, x := range f.events {
		fmt.Fprintf(&b, "  %7.1fs … %7.1fs  %-16s %s\n", x.start.Seconds(), x.end.Seconds(), x.kind, x.target)
	}
	b.WriteString("unavailable (no call answered on any node for more than 1 s):\n")
	var down time.Duration
	for _, w := range unavailability(h.answers, loadEnd, time.Second) {
		down += w.end - w.start
		fmt.Fprintf(&b, "  %7.1fs … %7.1fs  %5.1fs  during: %s\n", w.start.Seconds(), w.end.Seconds(), (w.end - w.start).Seconds(), faultsDuring(w, f.events))
	}
	fmt.Fprintf(&b, "  %.1fs of %.1fs in all\n", down.Seconds(), loadEnd.Seconds())
	longest, most, bad := 0, linVerdict{}, 0
	for _, v := range verdicts {
		if v.ops > longest {
			longest = v.ops
		}
		if v.took > most.took {
			most = v
		}
		if v.result != porcupine.Ok {
			bad++
		}
	}
	fmt.Fprintf(&b, "check: %d keys, longest history %d calls, %d not linearizable or undecided; %v (slowest key %s: %v)",
		len(verdicts), longest, bad, checkTook.Round(time.Millisecond), most.key, most.took.Round(time.Millisecond))
	t.Logf("report\n%s", b.String())
}

// panics returns the lines around every panic or fatal runtime error in a
// server log.
func panics(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var out []string
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	re := regexp.MustCompile(`^(panic: |fatal error: )`)
	for i, l := range lines {
		if re.MatchString(l) {
			out = append(out, strings.Join(lines[i:min(i+30, len(lines))], "\n"))
		}
	}
	return strings.Join(out, "\n…\n")
}

// linFaults injects faults from a seeded schedule and heals them.
type linFaults struct {
	t       *testing.T
	c       *cluster
	rnd     *rand.Rand
	start   time.Time
	paused  map[*server]bool
	ballast []string
	events  []linFault
}

func (f *linFaults) since() time.Duration { return time.Since(f.start) }

// run injects faults until duration has passed since the start: rounds in
// which every kind comes once, in a seeded order, with quiet spells
// between them. The fault under way when time runs out is finished and
// healed.
func (f *linFaults) run(kinds []string, duration time.Duration) {
	for {
		order := make([]string, len(kinds))
		for i, j := range f.rnd.Perm(len(kinds)) {
			order[i] = kinds[j]
		}
		for _, kind := range order {
			// Every number is drawn whatever the kind, so that the
			// schedule a seed gives does not depend on timing.
			quiet := time.Duration(2000+f.rnd.IntN(2000)) * time.Millisecond
			pick := f.rnd.IntN(1 << 20)
			short := time.Duration(1000+f.rnd.IntN(2000)) * time.Millisecond
			pause := time.Duration(3000+f.rnd.IntN(5000)) * time.Millisecond
			outage := time.Duration(20000+f.rnd.IntN(10000)) * time.Millisecond
			full := time.Duration(10000+f.rnd.IntN(10000)) * time.Millisecond
			time.Sleep(quiet)
			if f.since() >= duration {
				return
			}
			f.inject(kind, pick, short, pause, outage, full)
		}
	}
}

func (f *linFaults) inject(kind string, pick int, short, pause, outage, full time.Duration) {
	t, c := f.t, f.c
	f.reap()
	victim := c.servers[pick%len(c.servers)]
	switch kind {
	case "kill-leader", "pause-leader":
		if l := f.leader(); l != nil {
			victim = l
		} else {
			t.Logf("fault %s: no single leader found; taking %s", kind, victim.id)
		}
	case "pause-follower":
		if l := f.leader(); l != nil && l == victim {
			victim = c.servers[(pick+1)%len(c.servers)]
		}
	}
	ev := linFault{kind: kind, target: victim.id, start: f.since()}
	t.Logf("fault at %.1fs: %s %s", ev.start.Seconds(), kind, victim.id)
	switch kind {
	case "kill", "kill-leader":
		c.kill(victim)
		time.Sleep(short)
		c.restart(victim)
		c.waitReady(victim)
	case "site-down":
		c.kill(victim)
		time.Sleep(outage)
		c.restart(victim)
		c.waitReady(victim)
	case "pause-leader", "pause-follower":
		f.signal(victim, syscall.SIGSTOP)
		time.Sleep(pause)
		f.signal(victim, syscall.SIGCONT)
	case "data-drive-full", "meta-drive-full":
		dir := victim.drives[pick/len(c.servers)%len(victim.drives)]
		if kind == "meta-drive-full" {
			dir = victim.metaDir()
		}
		ev.target += " " + filepath.Base(dir)
		n, err := f.fill(dir)
		if err != nil {
			t.Logf("filling %s: %v", dir, err)
		}
		t.Logf("  %s: %d MiB of ballast, drive full", dir, n>>20)
		time.Sleep(full)
		f.removeBallast()
		f.reap()
	}
	ev.end = f.since()
	f.events = append(f.events, ev)
}

// leader returns the server whose metrics say it leads Raft, if exactly
// one of the running ones does.
func (f *linFaults) leader() *server {
	hc := &http.Client{Timeout: time.Second}
	for range 10 {
		var leaders []*server
		for _, s := range f.c.servers {
			if s.cmd == nil || f.paused[s] {
				continue
			}
			resp, err := hc.Get("http://" + s.metrics() + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if regexp.MustCompile(`(?m)^kcs_raft_leader 1$`).Match(b) {
				leaders = append(leaders, s)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

func (f *linFaults) signal(s *server, sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		f.t.Logf("%v to %s: %v", sig, s.id, err)
	}
	f.paused[s] = sig == syscall.SIGSTOP
}

// fill writes a ballast file into dir until its file system is full.
func (f *linFaults) fill(dir string) (int64, error) {
	p := filepath.Join(dir, "kcs-check-ballast")
	f.ballast = append(f.ballast, p)
	fh, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for chunk := len(buf); chunk > 0; {
		k, err := fh.Write(buf[:chunk])
		n += int64(k)
		if err != nil {
			chunk /= 2 // the last pages
		}
	}
	return n, nil
}

func (f *linFaults) removeBallast() {
	for _, p := range f.ballast {
		os.Remove(p)
	}
	f.ballast = nil
}

// reap restarts a server that exited by itself (a crash is a finding,
// logged; a panic fails the test later).
func (f *linFaults) reap() {
	for _, s := range f.c.servers {
		if s.cmd == nil {
			continue
		}
		select {
		case <-s.exited:
			f.t.Logf("at %.1fs: %s had exited by itself (%v); restarting it", f.since().Seconds(), s.id, s.cmd.ProcessState)
			f.events = append(f.events, linFault{kind: "exited", target: s.id, start: f.since(), end: f.since()})
			s.logf.Close()
			s.cmd = nil
			f.c.restart(s)
			f.c.waitReady(s)
		default:
		}
	}
}

// resume continues paused servers and frees full drives.
func (f *linFaults) resume() {
	for s, p := range f.paused {
		if p {
			f.signal(s, syscall.SIGCONT)
		}
	}
	f.removeBallast()
}

// heal undoes every fault: resumes paused servers, frees full drives,
// restarts stopped servers.
func (f *linFaults) heal() {
	f.resume()
	f.reap()
	for _, s := range f.c.servers {
		if s.cmd == nil {
			f.c.restart(s)
			f.c.waitReady(s)
		}
	}
}

// annotations shows the faults in porcupine's visualization.
func (f *linFaults) annotations() []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, x := range f.events {
		out = append(out, porcupine.Annotation{Tag: "faults", Start: int64(x.start), End: int64(x.end),
			Description: x.kind + " " + x.target, BackgroundColor: "#f8d7da"})
	}
	return out
}
