// Package metering counts each tenant's S3 traffic — requests, bytes in,
// bytes out — per hour and operation class (class.go), on the node that
// served it, for billing and for `kcs admin tenant usage`.
//
// The counts are not replicated: every node keeps its own in a bbolt file
// next to its metadata (cmd/kcs puts it at <meta-dir>/traffic.db), and a
// report sums the nodes' rows (node.TenantTraffic asks every member over
// RPC). Putting them in Raft would cost a replicated commit for what is
// only ever added up, and billing needs no agreement on order.
//
// Record, on the hot path of every request, adds to a map in memory under
// a mutex: no I/O and, once a tenant's hour has its entry, no allocation.
// The map is added to the file every flush interval (10 s by default) and
// at Close. That is the durability trade-off: a crash (kill -9, power
// loss) loses at most the last flush interval's counts of that node; a
// graceful stop loses nothing. Query sees the stored rows and the counts
// not yet flushed together, so nothing waits for a flush to be visible.
//
// Memory holds one entry per tenant and hour since the last flush (a
// failed flush keeps its counts for the next, up to maxPending entries).
// The file holds one record per tenant and hour with traffic, and rows
// older than the retention (400 days by default: 13 months and a margin)
// are deleted at most once an hour, when a flush runs. Deleted tenants'
// rows stay until the retention ends: they are billing history.
package metering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults of Options.
const (
	DefaultFlushEvery = 10 * time.Second
	DefaultRetention  = 400 * 24 * time.Hour
)

// openTimeout bounds the wait for the file's lock: a second process on
// the same directory fails with a message instead of hanging. A variable
// for the test of that message.
var openTimeout = 5 * time.Second

const (
	// maxPending bounds the tenant-hours held in memory when flushes keep
	// failing (a full disk): beyond it, counts of new tenant-hours are
	// dropped and the drops logged, rather than growing without end.
	maxPending = 1 << 18
	// pruneBatch bounds the rows one flush deletes, so that the first
	// flush after a long downtime does not hold one huge transaction; the
	// next flush continues.
	pruneBatch = 100_000
	// recordVersion is the first byte of every stored record.
	recordVersion = 1
	hourSeconds   = 3600
)

// bucketName holds the records: key = hour (big-endian uint64 of the
// hour's start in Unix seconds) ‖ tenant, value = recordVersion and then
// requests, bytes in and bytes out of each class in class order, as
// uvarints. Keys sort by hour first, so pruning is a delete from the start.
var bucketName = []byte("traffic-hourly")

// Options configure a Meter.
type Options struct {
	// Clock stamps each request with its hour and schedules flushes; nil
	// means the real clock. Tests use a fake one.
	Clock clockwork.Clock
	// FlushEvery is how often counts in memory are added to the file.
	// 0 means DefaultFlushEvery; negative means only at Flush and Close.
	FlushEvery time.Duration
	// Retention is how long rows are kept. 0 means DefaultRetention.
	Retention time.Duration
	// Logger receives flush failures; nil discards.
	Logger *slog.Logger
}

// Meter counts tenants' traffic in memory and keeps it in a bbolt file. It
// is safe for concurrent use.
type Meter struct {
	db        *bolt.DB
	path      string
	clock     clockwork.Clock
	retention time.Duration
	log       *slog.Logger

	mu      sync.Mutex
	pending map[pendingKey]*[NumClasses]Counts
	dropped uint64 // requests not counted since the last log line (maxPending)
	closed  bool

	// flushMu is held for writing by a flush from the moment it takes the
	// pending counts until they are committed (or given back), and for
	// reading by Query while it reads the file and then memory: a query
	// never sees counts in both places, nor in neither.
	flushMu     sync.RWMutex
	lastPrune   time.Time // under flushMu
	failingFrom time.Time // under flushMu: when flushes began to fail; zero when they work
	lastFailLog time.Time // under flushMu

	stop chan struct{}
	done chan struct{}
}

type pendingKey struct {
	hour   int64 // Unix seconds of the hour's start
	tenant string
}

// Open opens (creating it if need be) the traffic file at path and starts
// the periodic flush. Close it when the requests it counts have ended.
func Open(path string, opts Options) (*Meter, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.FlushEvery == 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Retention < time.Hour {
		return nil, fmt.Errorf("metering: retention %v is shorter than an hour", opts.Retention)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("metering: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("metering: %s is locked by another process (another kcs server on the same --meta-dir?); gave up after %v: %w", path, openTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("metering: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("metering: initialise %s: %w", path, err)
	}
	m := &Meter{
		db: db, path: path, clock: opts.Clock, retention: opts.Retention, log: opts.Logger,
		pending: map[pendingKey]*[NumClasses]Counts{},
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	if opts.FlushEvery < 0 {
		close(m.done)
		return m, nil
	}
	t := m.clock.NewTicker(opts.FlushEvery) // before Open returns: a test's fake clock sees it
	go func() {
		defer close(m.done)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.Chan():
				m.flushLogged()
			}
		}
	}()
	return m, nil
}

// hourOf is the Unix second of the start of t's hour.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	return s - ((s%hourSeconds)+hourSeconds)%hourSeconds
}

// Record counts one request of tenant in class, with the body bytes it
// received and sent, in the current hour. Requests of no tenant, and
// counts after Close, are not counted.
func (m *Meter) Record(tenant string, class Class, bytesIn, bytesOut int64) {
	if tenant == "" || int(class) >= NumClasses {
		return
	}
	k := pendingKey{hour: hourOf(m.clock.Now()), tenant: tenant}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	p := m.pending[k]
	if p == nil {
		if len(m.pending) >= maxPending {
			m.dropped++
			return
		}
		p = new([NumClasses]Counts)
		m.pending[k] = p
	}
	c := &p[class]
	c.Requests++
	c.BytesIn += uint64(max(bytesIn, 0))
	c.BytesOut += uint64(max(bytesOut, 0))
}

// MeterRequest counts one S3 request by its operation's name ("GetObject";
// ClassOf picks the class): it is s3api's TrafficMeter. Requests answered
// with a 5xx status are not counted: the service failed them (or shed
// them, 503 SlowDown, or lacks the feature, 501), and a tenant is not
// billed for that. Refusals of the client's making (4xx, and 499 for a
// client that went away) are counted, as S3 bills them.
func (m *Meter) MeterRequest(tenant, op string, status int, bytesIn, bytesOut int64) {
	if status >= 500 {
		return
	}
	m.Record(tenant, ClassOf(op), bytesIn, bytesOut)
}

// Flush adds the counts in memory to the file now, and deletes rows past
// the retention if that was not done in the last hour. On failure the
// counts stay in memory for the next flush.
func (m *Meter) Flush() error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	batch := m.pending
	dropped := m.dropped
	m.pending = make(map[pendingKey]*[NumClasses]Counts, len(batch))
	m.dropped = 0
	m.mu.Unlock()
	if dropped > 0 {
		m.log.Error("traffic metering: requests not counted: too many tenant-hours waiting for a flush", "requests", dropped, "limit", maxPending)
	}
	now := m.clock.Now()
	prune := now.Sub(m.lastPrune) >= time.Hour || now.Before(m.lastPrune)
	if len(batch) == 0 && !prune {
		return nil
	}
	pruned := false
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		// New keys come at the end (the current hour sorts last): full
		// pages, where bbolt's default half-full splits would leave the
		// file twice the size.
		b.FillPercent = 0.9
		for k, add := range batch {
			key := encodeKey(k.hour, k.tenant)
			var rec [NumClasses]Counts
			if old := b.Get(key); old != nil {
				var err error
				if rec, err = decodeRecord(old); err != nil {
					// Unreadable (a newer format, damage): keeping it would
					// stop every later flush of this tenant-hour, so it is
					// replaced, and said so.
					m.log.Error("traffic metering: unreadable record replaced", "file", m.path, "tenant", k.tenant, "hour", time.Unix(k.hour, 0).UTC(), "err", err)
					rec = [NumClasses]Counts{}
				}
			}
			for c := range rec {
				rec[c].Add(add[c])
			}
			if err := b.Put(key, encodeRecord(&rec)); err != nil {
				return fmt.Errorf("put %s at %v: %w", k.tenant, time.Unix(k.hour, 0).UTC(), err)
			}
		}
		if prune {
			var err error
			pruned, err = pruneBefore(b, hourOf(now.Add(-m.retention)))
			return err
		}
		return nil
	})
	if err != nil {
		m.mu.Lock()
		for k, add := range batch {
			p := m.pending[k]
			if p == nil {
				p = new([NumClasses]Counts)
				m.pending[k] = p
			}
			for c := range p {
				p[c].Add(add[c])
			}
		}
		m.mu.Unlock()
		return fmt.Errorf("metering: flush to %s: %w", m.path, err)
	}
	if pruned {
		m.lastPrune = now
	}
	return nil
}

// pruneBefore deletes the rows of hours before cutoff, at most pruneBatch
// of them, and reports whether it reached the first row to keep.
func pruneBefore(b *bolt.Bucket, cutoff int64) (bool, error) {
	c := b.Cursor()
	for i := 0; i < pruneBatch; i++ {
		// First again after every Delete: a bbolt cursor may skip the
		// entry after one it deleted.
		k, _ := c.First()
		if k == nil || int64(binary.BigEndian.Uint64(k)) >= cutoff {
			return true, nil
		}
		if err := c.Delete(); err != nil {
			return false, fmt.Errorf("prune: %w", err)
		}
	}
	return false, nil
}

// flushLogged is the periodic flush: a failure is logged when flushes
// begin to fail, then at most hourly while they keep failing, and once
// when they work again.
func (m *Meter) flushLogged() {
	err := m.Flush()
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	now := m.clock.Now()
	switch {
	case err == nil && !m.failingFrom.IsZero():
		m.log.Info("traffic metering: flushes work again", "file", m.path, "failing_since", m.failingFrom)
		m.failingFrom = time.Time{}
	case err == nil:
	case m.failingFrom.IsZero():
		m.failingFrom, m.lastFailLog = now, now
		m.log.Error("traffic metering: flush failed; counts stay in memory", "err", err)
	case now.Sub(m.lastFailLog) >= time.Hour:
		m.lastFailLog = now
		m.log.Error("traffic metering: flushes keep failing; counts stay in memory", "failing_since", m.failingFrom, "err", err)
	}
}

// Query returns tenant's traffic in every hour that overlaps [from, to):
// the rows in the file and the counts not yet flushed, one row per hour
// and class with traffic, sorted by hour and then class.
func (m *Meter) Query(tenant string, from, to time.Time) ([]Row, error) {
	first, end := hourOf(from), to.Unix()
	if to.Nanosecond() > 0 {
		end++ // the hour starting at to's whole second overlaps too
	}
	if !to.After(from) || tenant == "" {
		return []Row{}, nil
	}
	m.flushMu.RLock()
	defer m.flushMu.RUnlock()
	var stored []Row
	err := m.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		// Only the hours the file holds rows of at all are looked up: the
		// range asked for may be wide, the file's span is the retention.
		c := b.Cursor()
		k, _ := c.First()
		if k == nil {
			return nil
		}
		lo := int64(binary.BigEndian.Uint64(k))
		k, _ = c.Last()
		hi := int64(binary.BigEndian.Uint64(k))
		for h := max(first, lo); h < end && h <= hi; h += hourSeconds {
			v := b.Get(encodeKey(h, tenant))
			if v == nil {
				continue
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("record of %s at %v: %w", tenant, time.Unix(h, 0).UTC(), err)
			}
			stored = appendRows(stored, h, &rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metering: query %s: %w", m.path, err)
	}
	var mem []Row
	m.mu.Lock()
	for k, p := range m.pending {
		if k.tenant == tenant && k.hour >= first && k.hour < end {
			mem = appendRows(mem, k.hour, p)
		}
	}
	m.mu.Unlock()
	return Merge(stored, mem), nil
}

// appendRows appends a record's classes with traffic as rows.
func appendRows(rows []Row, hour int64, rec *[NumClasses]Counts) []Row {
	t := time.Unix(hour, 0).UTC()
	for c, n := range rec {
		if !n.IsZero() {
			rows = append(rows, Row{Hour: t, Class: Class(c), Counts: n})
		}
	}
	return rows
}

// Close flushes what is in memory and closes the file. Requests recorded
// after Close are not counted: close the Meter after the S3 listeners.
func (m *Meter) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	select {
	case <-m.done: // no periodic flush
	default:
		close(m.stop)
		<-m.done
	}
	err := m.Flush()
	if cerr := m.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("metering: close %s: %w", m.path, cerr)
	}
	return err
}

func encodeKey(hour int64, tenant string) []byte {
	k := make([]byte, 8+len(tenant))
	binary.BigEndian.PutUint64(k, uint64(hour))
	copy(k[8:], tenant)
	return k
}

func encodeRecord(rec *[NumClasses]Counts) []byte {
	b := make([]byte, 1, 1+NumClasses*3*binary.MaxVarintLen64)
	b[0] = recordVersion
	for _, c := range rec {
		b = binary.AppendUvarint(b, c.Requests)
		b = binary.AppendUvarint(b, c.BytesIn)
		b = binary.AppendUvarint(b, c.BytesOut)
	}
	return b
}

func decodeRecord(b []byte) ([NumClasses]Counts, error) {
	var rec [NumClasses]Counts
	if len(b) == 0 || b[0] != recordVersion {
		return rec, fmt.Errorf("metering: record format %v unknown", b[:min(len(b), 1)])
	}
	b = b[1:]
	for c := range rec {
		for _, f := range []*uint64{&rec[c].Requests, &rec[c].BytesIn, &rec[c].BytesOut} {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return rec, errors.New("metering: record cut short")
			}
			*f, b = v, b[n:]
		}
	}
	if len(b) != 0 {
		return rec, fmt.Errorf("metering: %d bytes after the record", len(b))
	}
	return rec, nil
}

// sortRows sorts rows by hour and then class.
func sortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Hour.Equal(rows[j].Hour) {
			return rows[i].Hour.Before(rows[j].Hour)
		}
		return rows[i].Class < rows[j].Class
	})
}
