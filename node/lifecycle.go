package node

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Lifecycle rules, applied by the leader. Every Config.LifecycleEvery (on
// the node's clock) and when asked (LifecycleNow), the leader runs one
// pass over the buckets that have rules: it reads each bucket's versions
// key by key, a key's newest first, and its uploads, and proposes what
// the enabled rules whose filters match call for:
//
//   - Expiration (Days, rounded up to the next midnight UTC as S3 does,
//     or Date): the current version, if it is an object, is deleted as a
//     DeleteObject without version id does — a delete marker in a
//     versioned bucket, even over a locked version; gone in an
//     unversioned one. The command holds the version's Seq (or ETag), so
//     a version written meanwhile is left alone.
//   - ExpiredObjectDeleteMarker: a delete marker that is the only version
//     of its key left is removed.
//   - NoncurrentDays (counted from when the next newer version was
//     written, rounded up to midnight) and NewerNoncurrentVersions (that
//     many newest noncurrent versions stay): noncurrent versions are
//     removed by id. Object lock keeps locked ones (the metadata refuses
//     their removal); they are skipped and counted.
//   - AbortIncompleteDays: uploads initiated that long ago (rounded up to
//     midnight) under the rule's prefix are aborted and their parts
//     collected. The cluster-wide --upload-expiry goes on aborting every
//     upload older than it, rule or not.
//
// A version matches a rule when its key has the rule's prefix, it carries
// every tag of the rule (tags are sealed with the object's metadata: they
// are opened only for versions every other condition already selects) and
// its size is within the rule's bounds. Delete markers have no tags nor
// size: they match rules without tags, whatever their size bounds.
//
// Passes are paced (Config.LifecycleRate commands per second) and never
// overlap. A pass keeps its place (bucket, key) in memory only: it stops
// when the node stops leading or closes, and the next leader — or this
// node after a restart — simply starts a new pass from the first bucket.
// Nothing is done twice: every action is a metadata command, durable once
// committed, and a new pass finds only what is still due (an expired
// version already has its marker, a removed version is gone).

// Defaults of the lifecycle worker.
const (
	DefaultLifecycleEvery = time.Hour
	DefaultLifecycleRate  = 1000
)

// lifecycleBatch is how many versions or uploads one read takes.
const lifecycleBatch = 500

// errLifecycleStop ends a pass: the node no longer leads, or closes.
var errLifecycleStop = errors.New("lifecycle pass stopped: not the leader")

// LifecycleCounts are what lifecycle passes did.
type LifecycleCounts struct {
	Buckets  int64 `json:"buckets"`  // buckets with rules a pass went through
	Versions int64 `json:"versions"` // versions and delete markers it looked at
	Uploads  int64 `json:"uploads"`  // uploads in progress it looked at
	// Expired counts current versions expired (a delete marker added, or,
	// unversioned, the object deleted); NoncurrentRemoved noncurrent
	// versions removed; MarkersRemoved expired delete markers removed;
	// UploadsAborted incomplete uploads aborted.
	Expired           int64 `json:"expired"`
	NoncurrentRemoved int64 `json:"noncurrent_removed"`
	MarkersRemoved    int64 `json:"delete_markers_removed"`
	UploadsAborted    int64 `json:"uploads_aborted"`
	// LockedSkipped counts noncurrent versions due for removal that object
	// lock keeps (retention or legal hold); Failed commands that failed
	// (tried again by the next pass).
	LockedSkipped int64 `json:"locked_skipped"`
	Failed        int64 `json:"failed"`
}

// LifecycleStatus is the lifecycle part of the cluster status: the passes
// of the node that generated it, which runs them while it leads.
type LifecycleStatus struct {
	Node   string `json:"node"`
	Leader bool   `json:"leader"` // the node leads: passes run there
	// Running is set while a pass runs; Bucket and Key say where it is.
	Running bool   `json:"running"`
	Bucket  string `json:"bucket,omitempty"`
	Key     string `json:"key,omitempty"`
	// LastStart and LastEnd are the start and end of the last pass on
	// this node (node clock); LastComplete whether it went through every
	// bucket (a pass stops when the node stops leading).
	LastStart    time.Time `json:"last_start,omitzero"`
	LastEnd      time.Time `json:"last_end,omitzero"`
	LastComplete bool      `json:"last_complete"`
	// Last counts the last pass (the running one while Running); Total
	// every pass this node ran since it started; Passes the passes it
	// completed.
	Last   LifecycleCounts `json:"last_pass"`
	Total  LifecycleCounts `json:"total"`
	Passes int64           `json:"passes"`
}

// lifecycle is the node's part in applying lifecycle rules.
type lifecycle struct {
	wake chan struct{}
	run  sync.Mutex // held by the pass running

	// Totals since the start, for metrics.
	expired, noncurrent, markers, aborted, locked, failed, passes atomic.Int64

	mu     sync.Mutex // guards the fields below
	status LifecycleStatus
}

func newLifecycle() *lifecycle { return &lifecycle{wake: make(chan struct{}, 1)} }

// startLifecycle starts the leader's loop: a pass every LifecycleEvery on
// the node's clock, and at once when poked. The loop looks at the clock on
// real time (a sixtieth of the period, at most a minute apart) so that a
// fake clock in tests has no waiter it must know of; a node that becomes
// leader starts a pass at its first look.
func (n *Node) startLifecycle() {
	if n.cfg.LifecycleEvery == 0 {
		n.cfg.LifecycleEvery = DefaultLifecycleEvery
	}
	if n.cfg.LifecycleRate == 0 {
		n.cfg.LifecycleRate = DefaultLifecycleRate
	}
	every := n.cfg.LifecycleEvery
	look := time.Minute
	if every > 0 {
		look = max(min(every/60, time.Minute), 10*time.Millisecond)
	}
	lc := n.lifecycle
	t := time.NewTicker(look)
	n.background(func(ctx context.Context) {
		defer t.Stop()
		var last time.Time // start of this node's last pass, node clock
		for {
			poked := false
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-lc.wake:
				poked = true
			}
			if !n.store.IsLeader() {
				last = time.Time{} // leading again later: a pass at once
				continue
			}
			if !poked && (every < 0 || !last.IsZero() && n.now().Before(last.Add(every))) {
				continue
			}
			last = n.now()
			if _, err := n.lifecyclePass(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errLifecycleStop) {
				n.log.Warn("lifecycle pass", "err", err)
			}
		}
	})
}

// PokeLifecycle has the leader start a lifecycle pass soon.
func (n *Node) PokeLifecycle() { poke(n.lifecycle.wake) }

// LifecycleNow runs a lifecycle pass on this node, which must lead, and
// returns what it did; it waits for a pass already running to end first.
func (n *Node) LifecycleNow(ctx context.Context) (LifecycleCounts, error) {
	if !n.store.IsLeader() {
		return LifecycleCounts{}, objapi.Errorf("Lifecycle", objapi.KindUnavailable, "%s does not lead: lifecycle passes run on the leader", n.cfg.ID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	return n.lifecyclePass(ctx)
}

// LifecycleStatus reports this node's lifecycle passes.
func (n *Node) LifecycleStatus() LifecycleStatus {
	lc := n.lifecycle
	lc.mu.Lock()
	st := lc.status
	lc.mu.Unlock()
	st.Node = n.cfg.ID
	st.Leader = n.store.IsLeader()
	st.Passes = lc.passes.Load()
	st.Total = LifecycleCounts{Expired: lc.expired.Load(), NoncurrentRemoved: lc.noncurrent.Load(), MarkersRemoved: lc.markers.Load(),
		UploadsAborted: lc.aborted.Load(), LockedSkipped: lc.locked.Load(), Failed: lc.failed.Load()}
	return st
}

// lifecycleMetrics fills the lifecycle counters of m.
func (n *Node) lifecycleMetrics(m *Metrics) {
	lc := n.lifecycle
	if lc == nil {
		return
	}
	m.LifecycleExpired, m.LifecycleNoncurrentRemoved, m.LifecycleMarkersRemoved = lc.expired.Load(), lc.noncurrent.Load(), lc.markers.Load()
	m.LifecycleUploadsAborted, m.LifecycleLockedSkipped, m.LifecycleFailed = lc.aborted.Load(), lc.locked.Load(), lc.failed.Load()
	m.LifecyclePasses = lc.passes.Load()
	lc.mu.Lock()
	if lc.status.LastComplete {
		m.LifecycleLastPass = lc.status.LastEnd
	}
	lc.mu.Unlock()
}

// pass is one lifecycle pass in progress.
type pass struct {
	n     *Node
	ctx   context.Context
	pace  *pacer
	now   time.Time // the node's clock at the start: what is due
	count LifecycleCounts
}

// lifecyclePass runs one pass over every bucket with rules.
func (n *Node) lifecyclePass(ctx context.Context) (LifecycleCounts, error) {
	lc := n.lifecycle
	lc.run.Lock()
	defer lc.run.Unlock()
	p := &pass{n: n, ctx: ctx, pace: newPacer(n.cfg.LifecycleRate), now: n.now()}
	lc.mu.Lock()
	lc.status.Running, lc.status.LastStart, lc.status.LastEnd, lc.status.LastComplete = true, p.now, time.Time{}, false
	lc.status.Last, lc.status.Bucket, lc.status.Key = LifecycleCounts{}, "", ""
	lc.mu.Unlock()
	err := p.run()
	lc.mu.Lock()
	lc.status.Running, lc.status.LastEnd, lc.status.LastComplete = false, n.now(), err == nil
	lc.status.Last, lc.status.Bucket, lc.status.Key = p.count, "", ""
	lc.mu.Unlock()
	if err == nil {
		lc.passes.Add(1)
	}
	if c := p.count; c.Expired+c.NoncurrentRemoved+c.MarkersRemoved+c.UploadsAborted+c.LockedSkipped+c.Failed > 0 {
		n.log.Info("lifecycle pass", "complete", err == nil, "buckets", c.Buckets, "expired", c.Expired, "noncurrent_removed", c.NoncurrentRemoved,
			"delete_markers_removed", c.MarkersRemoved, "uploads_aborted", c.UploadsAborted, "locked_skipped", c.LockedSkipped, "failed", c.Failed)
	}
	return p.count, err
}

func (p *pass) run() error {
	var names []string
	if err := p.n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		names, err = r.LifecycleBuckets()
		return err
	}); err != nil {
		return err
	}
	for _, name := range names {
		if err := p.stop(); err != nil {
			return err
		}
		var b *meta.Bucket
		var rules []meta.LifecycleRule
		var ok bool
		if err := p.n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			if b, ok, err = r.Bucket(name); err != nil || !ok {
				return err
			}
			rules, err = r.Lifecycle(name)
			return err
		}); err != nil {
			return err
		}
		if !ok || b.Purging {
			continue
		}
		if err := p.bucket(b, rules); err != nil {
			return err
		}
	}
	return nil
}

// stop says whether the pass must end now.
func (p *pass) stop() error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if !p.n.store.IsLeader() {
		return errLifecycleStop
	}
	return nil
}

// at records where the pass is, for the status.
func (p *pass) at(bucket, key string) {
	lc := p.n.lifecycle
	lc.mu.Lock()
	lc.status.Bucket, lc.status.Key, lc.status.Last = bucket, key, p.count
	lc.mu.Unlock()
}

// bucket applies a bucket's enabled rules.
func (p *pass) bucket(b *meta.Bucket, rules []meta.LifecycleRule) error {
	var versionRules, uploadRules []*meta.LifecycleRule
	for i := range rules {
		r := &rules[i]
		if !r.Enabled {
			continue
		}
		if r.ExpirationDays > 0 || r.ExpirationDate != 0 || r.ExpiredObjectDeleteMarker || r.NoncurrentDays > 0 {
			versionRules = append(versionRules, r)
		}
		if r.AbortIncompleteDays > 0 && len(r.Tags) == 0 {
			uploadRules = append(uploadRules, r)
		}
	}
	if len(versionRules)+len(uploadRules) == 0 {
		return nil
	}
	p.count.Buckets++
	p.at(b.Name, "")
	if len(versionRules) > 0 {
		if err := p.versions(b, versionRules); err != nil {
			return err
		}
	}
	if len(uploadRules) > 0 {
		return p.uploads(b, uploadRules)
	}
	return nil
}

// commonPrefix is the longest prefix the rules' prefixes share: a pass
// reads only the keys under it.
func commonPrefix(rules []*meta.LifecycleRule) string {
	pre := rules[0].Prefix
	for _, r := range rules[1:] {
		i := 0
		for i < len(pre) && i < len(r.Prefix) && pre[i] == r.Prefix[i] {
			i++
		}
		pre = pre[:i]
	}
	return pre
}

// versions goes through a bucket's versions key by key. A key's versions
// may span reads; they are acted on once all are read (the next key
// shows), the newest first.
func (p *pass) versions(b *meta.Bucket, rules []*meta.LifecycleRule) error {
	prefix := commonPrefix(rules)
	keyMarker, versionMarker := "", ""
	var group []meta.VersionEntry
	for {
		if err := p.stop(); err != nil {
			return err
		}
		var entries []meta.VersionEntry
		var truncated bool
		if err := p.n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			entries, _, truncated, keyMarker, versionMarker, err = r.ListVersions(b.Name, prefix, "", keyMarker, versionMarker, lifecycleBatch)
			return err
		}); err != nil {
			return err
		}
		for _, e := range entries {
			if len(group) > 0 && group[0].Key != e.Key {
				if err := p.key(b, rules, group); err != nil {
					return err
				}
				group = group[:0]
			}
			group = append(group, e)
		}
		if !truncated || len(entries) == 0 {
			break
		}
	}
	if len(group) > 0 {
		return p.key(b, rules, group)
	}
	return nil
}

// midnightAfter is S3's due date of an action days after t (unix ns): the
// first midnight UTC at or after it.
func midnightAfter(t int64, days int) time.Time {
	due := time.Unix(0, t).UTC().AddDate(0, 0, days)
	m := due.Truncate(24 * time.Hour)
	if m.Before(due) {
		m = m.Add(24 * time.Hour)
	}
	return m
}

// matcher decides whether versions of one key match rules, opening a
// version's sealed tags only when a rule with tags asks.
type matcher struct {
	p    *pass
	b    *meta.Bucket
	key  string
	tags map[string][]Tag // version id → its tags
}

func (m *matcher) matches(r *meta.LifecycleRule, o *meta.Object) bool {
	return ruleMatches(r, m.key, o, func() ([]Tag, bool) { return m.tagsOf(o) })
}

// ruleMatches reports whether rule r's filter takes version o of key:
// the prefix, the size bounds and every tag of the filter (tags, called
// only when the rule has tags, returns the version's; false: unknown). A
// delete marker has no size and no tags.
func ruleMatches(r *meta.LifecycleRule, key string, o *meta.Object, tags func() ([]Tag, bool)) bool {
	if !strings.HasPrefix(key, r.Prefix) {
		return false
	}
	if o.DeleteMarker {
		return len(r.Tags) == 0
	}
	if r.SizeGreaterThan > 0 && o.Size <= r.SizeGreaterThan || r.SizeLessThan > 0 && o.Size >= r.SizeLessThan {
		return false
	}
	if len(r.Tags) == 0 {
		return true
	}
	have, ok := tags()
	return ok && hasTags(have, r.Tags)
}

// tagsOf opens a version's sealed tags, once per version.
func (m *matcher) tagsOf(o *meta.Object) ([]Tag, bool) {
	id := o.S3VersionID()
	tags, ok := m.tags[id]
	if !ok {
		err := m.p.n.store.FSM.View(func(rd *meta.Reader) error {
			_, _, _, sm, err := m.p.n.openVersion(rd, "Lifecycle", Caller{Tenant: m.b.Tenant}, m.b.Name, m.key, id)
			tags = sm.Tags
			return err
		})
		if err != nil {
			if !objapi.IsKind(err, objapi.KindNoSuchVersion) && !objapi.IsKind(err, objapi.KindNoSuchKey) {
				m.p.n.log.Warn("lifecycle: reading a version's tags", "bucket", m.b.Name, "key", m.key, "version", id, "err", err)
			}
			return nil, false
		}
		if m.tags == nil {
			m.tags = map[string][]Tag{}
		}
		m.tags[id] = tags
	}
	return tags, true
}

// key applies the rules to one key's versions, the newest (current)
// first.
func (p *pass) key(b *meta.Bucket, rules []*meta.LifecycleRule, vs []meta.VersionEntry) error {
	key := vs[0].Key
	p.count.Versions += int64(len(vs))
	p.at(b.Name, key)
	m := &matcher{p: p, b: b, key: key}
	cur := &vs[0].Object
	current := vs[0].Latest
	// The current version expires.
	if current && !cur.DeleteMarker {
		for _, r := range rules {
			if r.ExpirationDays == 0 && r.ExpirationDate == 0 {
				continue
			}
			due := time.Unix(0, r.ExpirationDate)
			if r.ExpirationDate == 0 {
				due = midnightAfter(cur.Modified, r.ExpirationDays)
			}
			if p.now.Before(due) || !m.matches(r, cur) {
				continue
			}
			d := &meta.DeleteObject{Bucket: b.Name, Key: key, Tenant: b.Tenant, IfSeq: cur.Seq}
			if cur.Seq == 0 {
				d.IfMatch = cur.ETag // a version without Seq (unversioned): its ETag stands for it
			}
			if b.Versioning != meta.VersioningOff {
				d.MarkerID = newID()
			}
			if err := p.propose(d, &p.n.lifecycle.expired, &p.count.Expired); err != nil {
				return err
			}
			break
		}
	}
	// Noncurrent versions go.
	kept := false
	for i := 1; i < len(vs); i++ {
		v := &vs[i].Object
		since := vs[i-1].Object.Modified
		due := false
		for _, r := range rules {
			if r.NoncurrentDays > 0 && i-1 >= r.NewerNoncurrentVersions && !p.now.Before(midnightAfter(since, r.NoncurrentDays)) && m.matches(r, v) {
				due = true
				break
			}
		}
		if !due {
			kept = true
			continue
		}
		// Object lock is decided by the metadata on its own time; a
		// version locked on the node's clock is not even proposed.
		if v.LegalHold || v.LockMode != "" && v.LockUntil > p.now.UnixNano() {
			p.count.LockedSkipped++
			p.n.lifecycle.locked.Add(1)
			kept = true
			continue
		}
		removed, err := p.remove(b, key, v, &p.n.lifecycle.noncurrent, &p.count.NoncurrentRemoved)
		if err != nil {
			return err
		}
		kept = kept || !removed
	}
	// A delete marker left alone goes.
	if !current || !cur.DeleteMarker || kept {
		return nil
	}
	for _, r := range rules {
		if !r.ExpiredObjectDeleteMarker || !m.matches(r, cur) {
			continue
		}
		// The versions read may be stale (a write since, or a key read
		// in pages): the marker goes only if it is still all there is.
		var alone bool
		if err := p.n.store.FSM.View(func(rd *meta.Reader) error {
			es, _, _, _, _, err := rd.ListVersions(b.Name, key, "", "", "", 2)
			alone = len(es) > 0 && es[0].Key == key && es[0].Object.DeleteMarker && es[0].Object.Seq == cur.Seq &&
				es[0].Object.VersionID == cur.VersionID && (len(es) == 1 || es[1].Key != key)
			return err
		}); err != nil || !alone {
			return err
		}
		_, err := p.remove(b, key, cur, &p.n.lifecycle.markers, &p.count.MarkersRemoved)
		return err
	}
	return nil
}

// remove removes one version by id: false when it stays (locked, gone
// meanwhile, failed).
func (p *pass) remove(b *meta.Bucket, key string, v *meta.Object, total *atomic.Int64, count *int64) (bool, error) {
	d := &meta.DeleteObject{Bucket: b.Name, Key: key, Tenant: b.Tenant, VersionID: v.S3VersionID()}
	err := p.propose(d, total, count)
	if errors.Is(err, errLocked) {
		return false, nil
	}
	return err == nil, err
}

// errLocked is a removal object lock refused.
var errLocked = errors.New("locked")

// propose commits one command of the pass, paced, and counts it done in
// total and count. A refusal because the version changed or is gone
// meanwhile counts nothing, one for object lock counts as locked
// (errLocked); others count as failed. Only the pass's end is an error.
func (p *pass) propose(cmd meta.Payload, total *atomic.Int64, count *int64) error {
	if err := p.stop(); err != nil {
		return err
	}
	p.pace.wait(p.ctx, 1)
	if err := p.stop(); err != nil {
		return err
	}
	var bucket, key string
	switch c := cmd.(type) {
	case *meta.DeleteObject:
		bucket, key = c.Bucket, c.Key
	}
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	_, err := p.n.commit(ctx, "Lifecycle", bucket, key, meta.NewCommand(cmd), nil)
	switch {
	case err == nil:
		total.Add(1)
		*count++
		return nil
	case objapi.IsKind(err, objapi.KindAccessDenied):
		p.count.LockedSkipped++
		p.n.lifecycle.locked.Add(1)
		return errLocked
	case objapi.IsKind(err, objapi.KindConflict), objapi.IsKind(err, objapi.KindPrecondition), objapi.IsKind(err, objapi.KindNoSuchKey),
		objapi.IsKind(err, objapi.KindNoSuchVersion), objapi.IsKind(err, objapi.KindNoSuchUpload), objapi.IsKind(err, objapi.KindNoSuchBucket):
		return nil
	}
	if serr := p.stop(); serr != nil {
		return serr
	}
	p.count.Failed++
	p.n.lifecycle.failed.Add(1)
	p.n.log.Warn("lifecycle: a command failed; the next pass tries again", "bucket", bucket, "key", key, "err", err)
	return nil
}

// uploads aborts a bucket's incomplete uploads that rules say are due.
func (p *pass) uploads(b *meta.Bucket, rules []*meta.LifecycleRule) error {
	prefix := commonPrefix(rules)
	keyMarker, idMarker := "", ""
	for {
		if err := p.stop(); err != nil {
			return err
		}
		var entries []meta.UploadEntry
		var truncated bool
		if err := p.n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			entries, _, truncated, err = r.ListUploads(b.Name, prefix, "", keyMarker, idMarker, lifecycleBatch)
			return err
		}); err != nil {
			return err
		}
		for _, e := range entries {
			p.count.Uploads++
			u := &e.Upload
			for _, r := range rules {
				if !strings.HasPrefix(e.Key, r.Prefix) || p.now.Before(midnightAfter(u.Initiated, r.AbortIncompleteDays)) {
					continue
				}
				p.at(b.Name, e.Key)
				before := p.count.UploadsAborted
				if err := p.propose(&meta.AbortUpload{UploadID: u.ID, Tenant: u.Tenant}, &p.n.lifecycle.aborted, &p.count.UploadsAborted); err != nil {
					return err
				}
				if p.count.UploadsAborted > before {
					p.n.log.Info("lifecycle: aborted an incomplete multipart upload", "bucket", b.Name, "key", e.Key, "upload", u.ID,
						"initiated", time.Unix(0, u.Initiated).UTC(), "rule", r.ID)
				}
				break
			}
		}
		if !truncated || len(entries) == 0 {
			return nil
		}
		last := entries[len(entries)-1]
		keyMarker, idMarker = last.Key, last.Upload.ID
	}
}
