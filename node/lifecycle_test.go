package node_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// versionsOf lists a bucket's versions by key, newest first, as "M" for a
// delete marker and the version id otherwise.
func versionsOf(t *testing.T, n *node.Node, c node.Caller, bucket string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	opts := objapi.ListVersionsOptions{MaxKeys: 1000}
	for {
		res, err := n.ListObjectVersions(context.Background(), c, bucket, opts)
		if err != nil {
			t.Fatalf("list versions via %s: %v", n.ID(), err)
		}
		for _, v := range res.Versions {
			id := v.VersionID
			if v.DeleteMarker {
				id = "M"
			}
			out[v.Key] = append(out[v.Key], id)
		}
		if !res.Truncated {
			return out
		}
		opts.KeyMarker, opts.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
}

func sameVersions(got, want []string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// A versioned bucket with object lock and lifecycle rules, on a fake
// clock: nothing is due a day too early; two days on, current versions
// get delete markers, noncurrent versions go, the tag filter picks its
// object, incomplete uploads are aborted, and locked noncurrent versions
// stay (whether the node's check or the metadata's refusal keeps them);
// the next pass removes what became noncurrent, then the delete marker
// left alone.
func TestLifecycleVersionedBucket(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	c := startNodes(t, 1, func(cfg *node.Config) { cfg.Clock = clock; cfg.LifecycleEvery = -1 })
	ctx := context.Background()
	n := c.nodes[0]
	info, err := n.CreateTenant(ctx, "gemeinde-lc", "", "")
	if err != nil {
		t.Fatal(err)
	}
	caller := node.Caller{Tenant: "gemeinde-lc", AccessKey: info.AccessKey}
	const bucket = "archiv"
	if err := n.CreateBucketWith(ctx, caller, bucket, objapi.CreateBucketOptions{ObjectLock: true}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, opts node.PutOptions) string {
		t.Helper()
		data := random(100)
		opts.Size = -1
		if opts.Lock != nil {
			sum := md5.Sum(data)
			opts.ContentMD5 = sum[:]
		}
		info, err := n.PutObject(ctx, caller, bucket, key, bytes.NewReader(data), opts)
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return info.VersionID
	}
	// The metadata decides object lock on real time, the node's check on
	// its clock: b1 is locked on both, c1 on real time only once the fake
	// clock is four days on.
	put("docs/a", node.PutOptions{})
	a2 := put("docs/a", node.PutOptions{})
	b1 := put("docs/b", node.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: time.Now().Add(365 * 24 * time.Hour)}})
	b2 := put("docs/b", node.PutOptions{})
	c1 := put("docs/c", node.PutOptions{Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: time.Now().Add(3 * 24 * time.Hour)}})
	c2 := put("docs/c", node.PutOptions{})
	other := put("other/z", node.PutOptions{})
	yes := put("tagged/yes", node.PutOptions{Tags: []node.Tag{{Key: "expire", Value: "yes"}, {Key: "dept", Value: "bau"}}})
	no := put("tagged/no", node.PutOptions{Tags: []node.Tag{{Key: "expire", Value: "no"}}})
	up, err := n.CreateMultipartUpload(ctx, caller, bucket, "docs/upload", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A part big enough for shards: the abort must collect them.
	if _, err := n.UploadPart(ctx, caller, bucket, "docs/upload", up, 1, bytes.NewReader(random(100<<10)), node.PartOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if shardFiles(c) == 0 {
		t.Fatal("the upload's part has no shard files: the check below proves nothing")
	}
	if _, err := n.CreateMultipartUpload(ctx, caller, bucket, "other/upload", node.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rules := []objapi.LifecycleRule{
		{ID: "docs", Enabled: true, Filter: objapi.LifecycleFilter{Prefix: "docs/"}, ExpirationDays: 1, NoncurrentDays: 1, AbortIncompleteDays: 1},
		{ID: "docs-markers", Enabled: true, Filter: objapi.LifecycleFilter{Prefix: "docs/"}, ExpiredObjectDeleteMarker: true},
		{ID: "tagged", Enabled: true, Filter: objapi.LifecycleFilter{Prefix: "tagged/", Tags: []node.Tag{{Key: "expire", Value: "yes"}}}, ExpirationDays: 1},
		{ID: "off", Enabled: false, Filter: objapi.LifecycleFilter{Prefix: "other/"}, ExpirationDays: 1, AbortIncompleteDays: 1},
	}
	if err := n.PutBucketLifecycle(ctx, caller, bucket, rules); err != nil {
		t.Fatal(err)
	}
	before := versionsOf(t, n, caller, bucket)

	// 23 hours on, nothing is due: a day rounds up to the next midnight.
	clock.Advance(23 * time.Hour)
	got, err := n.LifecycleNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expired+got.NoncurrentRemoved+got.MarkersRemoved+got.UploadsAborted+got.LockedSkipped+got.Failed != 0 {
		t.Fatalf("a pass after 23 hours did %+v", got)
	}
	if after := versionsOf(t, n, caller, bucket); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("versions changed after 23 hours: %v, were %v", after, before)
	}

	// Two days on.
	clock.Advance(25 * time.Hour)
	got, err = n.LifecycleNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := node.LifecycleCounts{Buckets: 1, Versions: 9, Uploads: 1, Expired: 4, NoncurrentRemoved: 1, LockedSkipped: 2, UploadsAborted: 1}
	if got != want {
		t.Fatalf("first pass: %+v, want %+v", got, want)
	}
	vs := versionsOf(t, n, caller, bucket)
	for key, w := range map[string][]string{
		"docs/a": {"M", a2}, "docs/b": {"M", b2, b1}, "docs/c": {"M", c2, c1},
		"other/z": {other}, "tagged/yes": {"M", yes}, "tagged/no": {no},
	} {
		if !sameVersions(vs[key], w) {
			t.Errorf("after the first pass %s has %v, want %v", key, vs[key], w)
		}
	}
	ups, err := n.ListMultipartUploads(ctx, caller, bucket, node.ListUploadsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 1 || ups.Uploads[0].Key != "other/upload" {
		t.Fatalf("uploads after the first pass: %+v", ups.Uploads)
	}
	// The aborted upload's shards are collected (every object here is
	// small enough to live in the metadata).
	for deadline := time.Now().Add(10 * time.Second); shardFiles(c) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d shard files left after the abort", shardFiles(c))
		}
	}

	// Two more days: what the markers made noncurrent goes, docs/a's
	// marker is then alone and goes too; the locked versions stay, c1 now
	// by the metadata's refusal.
	clock.Advance(48 * time.Hour)
	got, err = n.LifecycleNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = node.LifecycleCounts{Buckets: 1, Versions: 12, Uploads: 0, NoncurrentRemoved: 3, MarkersRemoved: 1, LockedSkipped: 2}
	if got != want {
		t.Fatalf("second pass: %+v, want %+v", got, want)
	}
	vs = versionsOf(t, n, caller, bucket)
	for key, w := range map[string][]string{
		"docs/a": nil, "docs/b": {"M", b1}, "docs/c": {"M", c1},
		"other/z": {other}, "tagged/yes": {"M", yes}, "tagged/no": {no},
	} {
		if !sameVersions(vs[key], w) {
			t.Errorf("after the second pass %s has %v, want %v", key, vs[key], w)
		}
	}
	if data, obj := get(t, n, caller, bucket, "docs/b", node.GetOptions{VersionID: b1}); len(data) != 100 || obj.Info.VersionID != b1 {
		t.Fatalf("locked version: %d bytes, version %s", len(data), obj.Info.VersionID)
	}

	// A third pass finds nothing new to do but the locked versions.
	got, err = n.LifecycleNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expired+got.NoncurrentRemoved+got.MarkersRemoved+got.UploadsAborted+got.Failed != 0 || got.LockedSkipped != 2 {
		t.Fatalf("third pass: %+v", got)
	}

	m := n.Metrics()
	if m.LifecycleExpired != 4 || m.LifecycleNoncurrentRemoved != 4 || m.LifecycleMarkersRemoved != 1 || m.LifecycleUploadsAborted != 1 ||
		m.LifecycleLockedSkipped != 6 || m.LifecyclePasses != 4 || m.LifecycleLastPass.IsZero() {
		t.Fatalf("metrics: %+v", m)
	}
	st, err := n.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := st.Lifecycle; l == nil || !l.Leader || l.Running || !l.LastComplete || l.Passes != 4 || l.Total.Expired != 4 || l.LastEnd.IsZero() {
		t.Fatalf("status: %+v", st.Lifecycle)
	}
}

// The leader stops in the middle of a paced pass; the new leader's pass
// does the rest, and nothing twice: every key ends with one delete marker
// over its last version, the one before removed; a locked noncurrent
// version stays; an incomplete upload is aborted.
func TestLifecycleLeaderChange(t *testing.T) {
	// Delete markers carry the metadata's (real) time: with the clock 36
	// hours behind and then 48 ahead, a version the first expiry made
	// noncurrent is not due in this test, as it would not be in a day.
	clock := clockwork.NewFakeClockAt(time.Now().Add(-36 * time.Hour))
	c := startNodes(t, 3, func(cfg *node.Config) {
		cfg.Clock = clock
		cfg.LifecycleEvery = 6 * time.Second // looked at every 100ms of real time
		cfg.LifecycleRate = 4
	})
	ctx := context.Background()
	caller := tenantWithBucket(t, c, "gemeinde-wechsel", "akten")
	n0 := c.nodes[0]
	if err := n0.PutBucketVersioning(ctx, caller, "akten", objapi.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	// Object lock, enabled on the versioned bucket, keeps one version.
	if err := n0.PutObjectLockConfiguration(ctx, caller, "akten", objapi.ObjectLockConfig{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	body := random(100)
	sum := md5.Sum(body)
	locked, err := n0.PutObject(ctx, caller, "akten", "zz-locked", bytes.NewReader(body), node.PutOptions{Size: -1, ContentMD5: sum[:],
		Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: time.Now().Add(365 * 24 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	over, err := n0.PutObject(ctx, caller, "akten", "zz-locked", bytes.NewReader(random(100)), node.PutOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n0.CreateMultipartUpload(ctx, caller, "akten", "zz-upload", node.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	const keys = 10
	last := map[string]string{}
	for i := range keys {
		key := fmt.Sprintf("k%02d", i)
		for range 2 {
			info, err := n0.PutObject(ctx, caller, "akten", key, bytes.NewReader(random(100)), node.PutOptions{Size: -1})
			if err != nil {
				t.Fatal(err)
			}
			last[key] = info.VersionID
		}
	}
	rules := []objapi.LifecycleRule{{ID: "all", Enabled: true, ExpirationDays: 1, NoncurrentDays: 1, AbortIncompleteDays: 1}}
	if err := n0.PutBucketLifecycle(ctx, caller, "akten", rules); err != nil {
		t.Fatal(err)
	}
	leader, _ := c.leaderAndFollower(t)
	clock.Advance(48 * time.Hour) // the leader's next look starts a pass: 20 commands at 4 a second
	deadline := time.Now().Add(20 * time.Second)
	for {
		tot := leader.LifecycleStatus().Total
		if tot.Expired+tot.NoncurrentRemoved >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader's pass did not start: %+v", leader.LifecycleStatus())
		}
		time.Sleep(20 * time.Millisecond)
	}
	leader.Close()
	old := leader.LifecycleStatus().Total
	if old.Expired+old.NoncurrentRemoved >= 2*keys {
		t.Fatalf("the pass ended before the leader stopped: %+v", old)
	}
	var rest *node.Node
	for _, n := range c.nodes {
		if n != leader {
			rest = n
			break
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		vs := versionsOf(t, rest, caller, "akten")
		done := len(vs) == keys+1 && sameVersions(vs["zz-locked"], []string{"M", over.VersionID, locked.VersionID})
		for key, v := range last {
			done = done && sameVersions(vs[key], []string{"M", v})
		}
		ups, err := rest.ListMultipartUploads(ctx, caller, "akten", node.ListUploadsOptions{})
		done = done && err == nil && len(ups.Uploads) == 0
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new leader did not finish the work: %v", vs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	next, _ := c.leaderAndFollower(t)
	if next == leader {
		t.Fatal("the stopped node still leads")
	}
	now := next.LifecycleStatus().Total
	// A command the old leader had in flight as it stopped may have
	// committed uncounted.
	// The locked key's current version expires into a marker too.
	if now.Expired+now.NoncurrentRemoved == 0 || old.Expired+now.Expired > keys+1 || old.NoncurrentRemoved+now.NoncurrentRemoved > keys ||
		old.Expired+old.NoncurrentRemoved+now.Expired+now.NoncurrentRemoved < 2*keys || old.UploadsAborted+now.UploadsAborted > 1 {
		t.Fatalf("old leader did %+v, new leader %+v", old, now)
	}
	// A follower's cluster status shows the leader's passes.
	for _, n := range c.nodes {
		if n == leader || n == next {
			continue
		}
		st, err := n.ClusterStatus(ctx)
		if err != nil || st.Lifecycle == nil || !st.Lifecycle.Leader || st.Lifecycle.Node != next.ID() || st.Lifecycle.Total.Expired != now.Expired {
			t.Fatalf("a follower's status: %+v %v", st.Lifecycle, err)
		}
	}
}
