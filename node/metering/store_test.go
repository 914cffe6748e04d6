package metering

import (
	"encoding/binary"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"
)

// t0 is a known hour's start: 2025-03-10 10:00 UTC.
var t0 = time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)

// open opens a Meter without periodic flushes on a fake clock at t0.
func open(t *testing.T, path string, clock *clockwork.FakeClock) *Meter {
	t.Helper()
	m, err := Open(path, Options{Clock: clock, FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func flush(t *testing.T, m *Meter) {
	t.Helper()
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, m *Meter, tenant string, from, to time.Time) []Row {
	t.Helper()
	rows, err := m.Query(tenant, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func row(hour time.Time, c Class, req, in, out uint64) Row {
	return Row{Hour: hour, Class: c, Counts: Counts{Requests: req, BytesIn: in, BytesOut: out}}
}

func sameRows(t *testing.T, what string, got, want []Row) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestCountsAddUpAcrossFlushes(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0.Add(5 * time.Minute))
	m := open(t, filepath.Join(t.TempDir(), "traffic.db"), clock)
	m.Record("a", Write, 100, 0)
	m.Record("a", Write, 50, 0)
	m.Record("a", Read, 0, 70)
	all := func() []Row { return query(t, m, "a", t0, t0.Add(time.Hour)) }
	// Visible before any flush.
	sameRows(t, "unflushed", all(), []Row{row(t0, Read, 1, 0, 70), row(t0, Write, 2, 150, 0)})
	flush(t, m)
	sameRows(t, "flushed", all(), []Row{row(t0, Read, 1, 0, 70), row(t0, Write, 2, 150, 0)})
	// Stored and unflushed counts of the same hour add up.
	m.Record("a", Write, 1, 2)
	m.Record("a", Delete, 0, 0)
	m.MeterRequest("a", "ListObjectsV2", 200, 0, 300)
	m.MeterRequest("a", "ListObjectsV2", 503, 0, 300) // shed: not billed
	m.MeterRequest("a", "PUT ?policy", 501, 0, 300)   // not built: not billed
	sameRows(t, "stored plus unflushed", all(), []Row{
		row(t0, Read, 1, 0, 70), row(t0, Write, 3, 151, 2), row(t0, List, 1, 0, 300), row(t0, Delete, 1, 0, 0)})
	flush(t, m)
	flush(t, m) // an empty flush changes nothing
	sameRows(t, "after the second flush", all(), []Row{
		row(t0, Read, 1, 0, 70), row(t0, Write, 3, 151, 2), row(t0, List, 1, 0, 300), row(t0, Delete, 1, 0, 0)})
	totals, total := Totals(all())
	if want := (Counts{Requests: 6, BytesIn: 151, BytesOut: 372}); total != want {
		t.Errorf("total %+v, want %+v", total, want)
	}
	if len(totals) != 4 || totals[0].Class != Read || totals[3].Class != Delete {
		t.Errorf("totals %+v", totals)
	}
	// No tenant, no class beyond the last, negative sizes: nothing, or
	// nothing negative.
	m.Record("", Read, 1, 1)
	m.Record("a", Class(NumClasses), 1, 1)
	m.Record("b", Admin, -5, -5)
	sameRows(t, "b", query(t, m, "b", t0, t0.Add(time.Hour)), []Row{row(t0, Admin, 1, 0, 0)})
}

func TestHourBoundaries(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour - time.Second)) // 10:59:59
	m := open(t, filepath.Join(t.TempDir(), "traffic.db"), clock)
	m.Record("a", Read, 0, 1)
	clock.Advance(time.Second) // 11:00:00, the next hour
	m.Record("a", Read, 0, 2)
	flush(t, m)
	clock.Advance(time.Hour - 1) // 11:59:59.999999999
	m.Record("a", Read, 0, 4)
	h10, h11 := t0, t0.Add(time.Hour)
	sameRows(t, "both hours", query(t, m, "a", h10, h11.Add(time.Hour)), []Row{row(h10, Read, 1, 0, 1), row(h11, Read, 2, 0, 6)})
	// Every hour that overlaps [from, to) is in, whole.
	sameRows(t, "[10:30, 11:00)", query(t, m, "a", h10.Add(30*time.Minute), h11), []Row{row(h10, Read, 1, 0, 1)})
	sameRows(t, "[10:59:59, 11:00:01)", query(t, m, "a", h11.Add(-time.Second), h11.Add(time.Second)), []Row{row(h10, Read, 1, 0, 1), row(h11, Read, 2, 0, 6)})
	sameRows(t, "[11:00, 11:00:00.5)", query(t, m, "a", h11, h11.Add(time.Second/2)), []Row{row(h11, Read, 2, 0, 6)})
	sameRows(t, "[11:00, 12:00)", query(t, m, "a", h11, h11.Add(time.Hour)), []Row{row(h11, Read, 2, 0, 6)})
	// Rows come back in UTC whatever zone the range is given in.
	cet := time.FixedZone("CET", 3600)
	rows := query(t, m, "a", h10.In(cet), h11.In(cet))
	if len(rows) != 1 || rows[0].Hour.Location() != time.UTC || !rows[0].Hour.Equal(h10) {
		t.Errorf("rows for a range in CET: %v", rows)
	}
}

func TestReopenKeepsCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traffic.db")
	clock := clockwork.NewFakeClockAt(t0)
	m, err := Open(path, Options{Clock: clock, FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	m.Record("a", Write, 10, 0)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	m.Record("a", Write, 5, 0) // flushed by Close
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	m.Record("a", Write, 1000, 0) // after Close: not counted
	m2 := open(t, path, clock)
	sameRows(t, "after reopening", query(t, m2, "a", t0, t0.Add(time.Hour)), []Row{row(t0, Write, 2, 15, 0)})
	m2.Record("a", Write, 1, 0)
	flush(t, m2)
	sameRows(t, "added to after reopening", query(t, m2, "a", t0, t0.Add(time.Hour)), []Row{row(t0, Write, 3, 16, 0)})
}

func TestPruning(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	m, err := Open(filepath.Join(t.TempDir(), "traffic.db"), Options{Clock: clock, FlushEvery: -1, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	old, newer := t0, t0.Add(2*time.Hour)
	m.Record("a", Read, 0, 1)
	m.Record("b", Read, 0, 1)
	flush(t, m) // prunes (nothing): the first flush
	clock.Advance(2 * time.Hour)
	m.Record("a", Read, 0, 2)
	flush(t, m) // prunes (nothing) again: an hour has passed
	ever := func(tenant string) []Row { return query(t, m, tenant, old, newer.Add(time.Hour)) }
	sameRows(t, "before", ever("a"), []Row{row(old, Read, 1, 0, 1), row(newer, Read, 1, 0, 2)})

	// 400 days, 1 hour and 5 minutes after t0, the old hour has ended
	// more than the retention ago; the newer has not.
	clock.Advance(400*24*time.Hour - 2*time.Hour + time.Hour + 5*time.Minute)
	sameRows(t, "untouched until a flush", ever("a"), []Row{row(old, Read, 1, 0, 1), row(newer, Read, 1, 0, 2)})
	flush(t, m)
	if got := ever("a"); len(got) != 1 || !got[0].Hour.Equal(newer) {
		t.Errorf("after the retention: %v, want only the newer hour", got)
	}
	sameRows(t, "b's old hour", ever("b"), nil)
	// Rows that remain are still added to.
	m.Record("a", Read, 0, 0)
	flush(t, m)
	if n := countKeys(t, m); n != 2 {
		t.Errorf("%d rows stored, want 2 (a's newer hour and the current one)", n)
	}
}

// TestPruneAtMostHourly checks that a flush within an hour of the last
// prune leaves rows past the retention for the next.
func TestPruneAtMostHourly(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	m, err := Open(filepath.Join(t.TempDir(), "traffic.db"), Options{Clock: clock, FlushEvery: -1, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Record("a", Read, 0, 1)
	clock.Advance(24*time.Hour + 30*time.Minute) // the row is past the retention from 11:00 on
	flush(t, m)                                  // prunes at 10:30 the next day: the row is kept
	clock.Advance(40 * time.Minute)              // 11:10: past the retention
	m.Record("a", Read, 0, 1)
	flush(t, m) // within the hour since the last prune: no prune
	if n := countKeys(t, m); n != 2 {
		t.Fatalf("%d rows, want 2: pruned within the hour", n)
	}
	clock.Advance(20 * time.Minute) // 11:30: an hour since the last prune
	flush(t, m)
	if n := countKeys(t, m); n != 1 {
		t.Fatalf("%d rows, want 1 after the hourly prune", n)
	}
}

func countKeys(t *testing.T, m *Meter) int {
	t.Helper()
	n := 0
	m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(_, _ []byte) error { n++; return nil })
	})
	return n
}

func TestQueryRanges(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	m := open(t, filepath.Join(t.TempDir(), "traffic.db"), clock)
	// Tenant "a" in hours 0, 1 and 3 (stored), and 4 (in memory); "ab"
	// and "b" alongside: keys that share a prefix must not mix.
	for h := range 5 {
		if h != 2 {
			m.Record("a", Read, 0, int64(h)+1)
			m.Record("ab", Read, 0, 1000)
			m.Record("b", Write, 1000, 0)
		}
		if h < 4 {
			flush(t, m)
		}
		clock.Advance(time.Hour)
	}
	hr := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
	for _, tc := range []struct {
		name     string
		from, to time.Time
		hours    []int
	}{
		{"all", hr(0), hr(5), []int{0, 1, 3, 4}},
		{"a wide range", hr(-24 * 800), hr(24 * 800), []int{0, 1, 3, 4}},
		{"the middle", hr(1), hr(4), []int{1, 3}},
		{"an empty hour", hr(2), hr(3), nil},
		{"the memory's hour alone", hr(4), hr(5), []int{4}},
		{"before everything", hr(-10), hr(0), nil},
		{"after everything", hr(5), hr(10), nil},
		{"to before from", hr(3), hr(1), nil},
		{"empty", hr(3), hr(3), nil},
	} {
		var want []Row
		for _, h := range tc.hours {
			want = append(want, row(hr(h), Read, 1, 0, uint64(h)+1))
		}
		sameRows(t, tc.name, query(t, m, "a", tc.from, tc.to), want)
	}
	if rows := query(t, m, "nobody", hr(0), hr(5)); rows == nil || len(rows) != 0 {
		t.Errorf("an unknown tenant: %#v, want an empty, non-nil slice", rows)
	}
	if rows := query(t, m, "b", hr(0), hr(5)); len(rows) != 4 || rows[0].Class != Write {
		t.Errorf("b: %v", rows)
	}
}

// TestConcurrentRecord races Record against Flush and Query (go test
// -race): every request is counted exactly once, and a query during
// flushes never sees a count twice or not at all.
func TestConcurrentRecord(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	m := open(t, filepath.Join(t.TempDir(), "traffic.db"), clock)
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := []string{"a", "b"}[w%2]
			for i := range each {
				m.Record(tenant, Class(i%NumClasses), 3, 5)
			}
		}()
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.Flush(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer bg.Done()
		last := uint64(0)
		for {
			select {
			case <-stop:
				return
			default:
			}
			rows, err := m.Query("a", t0, t0.Add(time.Hour))
			if err != nil {
				t.Error(err)
				return
			}
			_, total := Totals(rows)
			if total.Requests < last || total.Requests > workers/2*each || total.BytesIn != 3*total.Requests {
				t.Errorf("a query during flushes saw %+v after %d requests", total, last)
				return
			}
			last = total.Requests
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	for _, tenant := range []string{"a", "b"} {
		_, total := Totals(query(t, m, tenant, t0, t0.Add(time.Hour)))
		want := Counts{Requests: workers / 2 * each, BytesIn: 3 * workers / 2 * each, BytesOut: 5 * workers / 2 * each}
		if total != want {
			t.Errorf("%s: %+v, want %+v", tenant, total, want)
		}
	}
}

// TestRecordDoesNotAllocate: the hot path costs a lock and a map lookup
// once the tenant's hour has its entry.
func TestRecordDoesNotAllocate(t *testing.T) {
	m := open(t, filepath.Join(t.TempDir(), "traffic.db"), clockwork.NewFakeClockAt(t0))
	tenant := strings.Repeat("x", 40)
	m.Record(tenant, Read, 1, 1)
	if n := testing.AllocsPerRun(1000, func() { m.MeterRequest(tenant, "GetObject", 200, 1, 1) }); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func TestPeriodicFlush(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	m, err := Open(filepath.Join(t.TempDir(), "traffic.db"), Options{Clock: clock, FlushEvery: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Record("a", Write, 1, 0)
	if n := countKeys(t, m); n != 0 {
		t.Fatalf("%d rows before the flush interval", n)
	}
	clock.Advance(10 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for countKeys(t, m) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no flush after the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSecondOpenFails: a second process (here, a second open) on the same
// file is told who holds it instead of hanging.
func TestSecondOpenFails(t *testing.T) {
	defer func(d time.Duration) { openTimeout = d }(openTimeout)
	openTimeout = 100 * time.Millisecond
	path := filepath.Join(t.TempDir(), "traffic.db")
	open(t, path, clockwork.NewFakeClockAt(t0))
	_, err := Open(path, Options{FlushEvery: -1})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
}

func TestRecordEncoding(t *testing.T) {
	rec := [NumClasses]Counts{{Requests: 1, BytesIn: 1 << 40, BytesOut: 3}, {}, {Requests: ^uint64(0)}, {}, {BytesOut: 7}}
	b := encodeRecord(&rec)
	got, err := decodeRecord(b)
	if err != nil || got != rec {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {2}, b[:len(b)-1], append(b[:len(b):len(b)], 0)} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
	k := encodeKey(t0.Unix(), "a")
	if binary.BigEndian.Uint64(k) != uint64(t0.Unix()) || string(k[8:]) != "a" {
		t.Errorf("key %x", k)
	}
}

// TestUnreadableRecordReplaced: a record the flush cannot read is
// replaced, so that flushes go on.
func TestUnreadableRecordReplaced(t *testing.T) {
	m := open(t, filepath.Join(t.TempDir(), "traffic.db"), clockwork.NewFakeClockAt(t0))
	err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketName).Put(encodeKey(t0.Unix(), "a"), []byte{9, 9}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Query("a", t0, t0.Add(time.Hour)); err == nil {
		t.Error("a query read an unreadable record")
	}
	m.Record("a", Read, 0, 1)
	flush(t, m)
	sameRows(t, "replaced", query(t, m, "a", t0, t0.Add(time.Hour)), []Row{row(t0, Read, 1, 0, 1)})
}

func TestMerge(t *testing.T) {
	h1 := t0.Add(time.Hour)
	cet := time.FixedZone("CET", 3600)
	got := Merge(
		[]Row{row(h1, Write, 1, 10, 0), row(t0, Read, 2, 0, 20)},
		[]Row{row(t0.In(cet), Read, 1, 0, 5), row(h1, Admin, 1, 0, 0)},
		nil,
	)
	sameRows(t, "merged", got, []Row{row(t0, Read, 3, 0, 25), row(h1, Write, 1, 10, 0), row(h1, Admin, 1, 0, 0)})
}
