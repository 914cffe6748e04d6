package node_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// A versioned bucket on a real in-process cluster: versions of both kinds
// of stream (inline and coded), read by id through every node, delete
// markers, and a version deleted for good whose wrapped key leaves every
// node's metadata directory after the periodic shred.
func TestVersionsOnACluster(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	c := startNodes(t, 3, func(cfg *node.Config) { cfg.Clock = clock })
	ctx := context.Background()
	info, err := c.nodes[0].CreateTenant(ctx, "gemeinde-v", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cl := node.Caller{Tenant: "gemeinde-v", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, cl, "akten"); err != nil {
		t.Fatal(err)
	}
	// An object from before versioning becomes the null version.
	old := random(100)
	if _, err := c.nodes[1].PutObject(ctx, cl, "akten", "akte", bytes.NewReader(old), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[2].PutBucketVersioning(ctx, cl, "akten", objapi.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	if s, err := c.nodes[0].GetBucketVersioning(ctx, cl, "akten"); err != nil || s != objapi.VersioningEnabled {
		t.Fatalf("versioning %q %v", s, err)
	}
	bodies := [][]byte{random(200 << 10), random(50), random(300 << 10)}
	var ids []string
	for i, b := range bodies {
		oi, err := c.nodes[i].PutObject(ctx, cl, "akten", "akte", bytes.NewReader(b), node.PutOptions{Size: -1})
		if err != nil {
			t.Fatal(err)
		}
		if oi.VersionID == "" || oi.VersionID == "null" {
			t.Fatalf("version id %q", oi.VersionID)
		}
		ids = append(ids, oi.VersionID)
	}
	for i, n := range c.nodes {
		for j, id := range ids {
			got, obj := get(t, n, cl, "akten", "akte", node.GetOptions{VersionID: id})
			if !bytes.Equal(got, bodies[j]) || obj.Info.VersionID != id || obj.Info.IsLatest != (j == 2) {
				t.Fatalf("node %d version %d: %d bytes, id %s latest %v", i, j, len(got), obj.Info.VersionID, obj.Info.IsLatest)
			}
		}
		if got, _ := get(t, n, cl, "akten", "akte", node.GetOptions{VersionID: "null"}); !bytes.Equal(got, old) {
			t.Fatalf("node %d: the null version differs", i)
		}
	}
	// A DELETE adds a marker; the key is gone, its versions are not.
	d, err := c.nodes[1].DeleteVersion(ctx, cl, "akten", "akte", objapi.DeleteOptions{})
	if err != nil || !d.DeleteMarker || d.VersionID == "" {
		t.Fatalf("delete: %+v %v", d, err)
	}
	_, err = c.nodes[2].GetObject(ctx, cl, "akten", "akte", node.GetOptions{})
	var oe *objapi.Error
	if !objapi.IsKind(err, objapi.KindNoSuchKey) || !asError(err, &oe) || !oe.DeleteMarker || oe.VersionID != d.VersionID {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := c.nodes[2].GetObject(ctx, cl, "akten", "akte", node.GetOptions{VersionID: d.VersionID}); !objapi.IsKind(err, objapi.KindMethodNotAllowed) {
		t.Fatalf("get the marker: %v", err)
	}
	lr, err := c.nodes[0].ListObjects(ctx, cl, "akten", objapi.ListOptions{MaxKeys: 10})
	if err != nil || len(lr.Objects) != 0 {
		t.Fatalf("list: %+v %v", lr, err)
	}
	lv, err := c.nodes[0].ListObjectVersions(ctx, cl, "akten", objapi.ListVersionsOptions{MaxKeys: 10})
	if err != nil || len(lv.Versions) != 5 || !lv.Versions[0].DeleteMarker || !lv.Versions[0].IsLatest || lv.Versions[4].VersionID != "null" {
		t.Fatalf("versions: %+v %v", lv, err)
	}
	// Removing the marker brings the newest version back.
	if d2, err := c.nodes[0].DeleteVersion(ctx, cl, "akten", "akte", objapi.DeleteOptions{VersionID: d.VersionID}); err != nil || !d2.DeleteMarker {
		t.Fatalf("remove the marker: %+v %v", d2, err)
	}
	if got, _ := get(t, c.nodes[1], cl, "akten", "akte", node.GetOptions{}); !bytes.Equal(got, bodies[2]) {
		t.Fatal("the newest version did not come back")
	}
	// Copy from an old version.
	ci, err := c.nodes[2].CopyObject(ctx, cl, objapi.CopySource{Bucket: "akten", Key: "akte", VersionID: ids[0]}, "akten", "kopie", objapi.CopyOptions{})
	if err != nil || ci.CopySourceVersionID != ids[0] {
		t.Fatalf("copy: %+v %v", ci, err)
	}
	if got, _ := get(t, c.nodes[0], cl, "akten", "kopie", node.GetOptions{}); !bytes.Equal(got, bodies[0]) {
		t.Fatal("the copy of an old version differs")
	}
	// Tags by version.
	if _, err := c.nodes[0].PutVersionTagging(ctx, cl, "akten", "akte", ids[1], []objapi.Tag{{Key: "k", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	if tags, id, err := c.nodes[1].GetVersionTagging(ctx, cl, "akten", "akte", ids[1]); err != nil || len(tags) != 1 || id != ids[1] {
		t.Fatalf("tags %v %s %v", tags, id, err)
	}
	if tags, _, err := c.nodes[1].GetVersionTagging(ctx, cl, "akten", "akte", ""); err != nil || len(tags) != 0 {
		t.Fatalf("the current version's tags %v %v", tags, err)
	}

	// Deleting a version for good: unreadable at once, and after the
	// periodic shred its wrapped key is in no file of any node.
	wrapped := c.nodes[0].VersionWrappedKey("akten", "akte", ids[0])
	if len(wrapped) == 0 {
		t.Fatal("no wrapped key")
	}
	for i, cfg := range c.cfgs {
		if len(filesHolding(cfg.MetaDir, wrapped)) == 0 {
			t.Fatalf("node %d: the wrapped key is in no file before the deletion: the search proves nothing", i)
		}
	}
	if _, err := c.nodes[1].DeleteVersion(ctx, cl, "akten", "akte", objapi.DeleteOptions{VersionID: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[2].GetObject(ctx, cl, "akten", "akte", node.GetOptions{VersionID: ids[0]}); !objapi.IsKind(err, objapi.KindNoSuchVersion) {
		t.Fatalf("a deleted version: %v", err)
	}
	// The stated bound: ShredEvery (24 h by default) on the nodes' clock.
	clock.Advance(24 * time.Hour)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for i, cfg := range c.cfgs {
			if c.nodes[i].ShredPending() {
				left = append(left, fmt.Sprintf("node %d: shred pending", i))
			}
			left = append(left, filesHolding(cfg.MetaDir, wrapped)...)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the deletion and a shred cycle: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, _ := get(t, c.nodes[0], cl, "akten", "akte", node.GetOptions{VersionID: ids[1]}); !bytes.Equal(got, bodies[1]) {
		t.Fatal("another version changed")
	}
	// x-amz-expiration: the earliest matching rule's expiry, rounded to
	// midnight UTC, on PUT and GET of the current version.
	if err := c.nodes[0].PutBucketLifecycle(ctx, cl, "akten", []objapi.LifecycleRule{
		{ID: "short", Enabled: true, Filter: objapi.LifecycleFilter{Prefix: "tmp/"}, ExpirationDays: 1},
		{ID: "long", Enabled: true, ExpirationDays: 30},
		{ID: "off", Enabled: false, ExpirationDays: 2},
	}); err != nil {
		t.Fatal(err)
	}
	pi, err := c.nodes[0].PutObject(ctx, cl, "akten", "tmp/x", bytes.NewReader([]byte("x")), node.PutOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`expiry-date="%s", rule-id="short"`, pi.Modified.AddDate(0, 0, 2).Truncate(24*time.Hour).Format(http.TimeFormat))
	if pi.Expiration != want {
		t.Fatalf("PUT x-amz-expiration %q, want %q", pi.Expiration, want)
	}
	if _, obj := get(t, c.nodes[2], cl, "akten", "akte", node.GetOptions{}); !strings.Contains(obj.Info.Expiration, `rule-id="long"`) {
		t.Fatalf("GET x-amz-expiration %q", obj.Info.Expiration)
	}
}

// Object lock on a cluster: a COMPLIANCE version cannot be deleted by id,
// a DELETE without one adds a marker, GOVERNANCE yields to a permitted
// bypass only, and the tenant's deletion is refused.
func TestObjectLockOnACluster(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, err := c.nodes[0].CreateTenant(ctx, "gemeinde-l", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cl := node.Caller{Tenant: "gemeinde-l", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucketWith(ctx, cl, "sicher", objapi.CreateBucketOptions{ObjectLock: true}); err != nil {
		t.Fatal(err)
	}
	body := random(1000)
	sum := md5.Sum(body)
	until := time.Now().Add(24 * time.Hour)
	if _, err := c.nodes[1].PutObject(ctx, cl, "sicher", "x", bytes.NewReader(body), node.PutOptions{Size: -1,
		Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: until}}); !objapi.IsKind(err, objapi.KindInvalidRequest) {
		t.Fatalf("a locked PUT without Content-MD5: %v", err)
	}
	oi, err := c.nodes[1].PutObject(ctx, cl, "sicher", "x", bytes.NewReader(body), node.PutOptions{Size: -1, ContentMD5: sum[:],
		Lock: &objapi.ObjectLock{Mode: objapi.LockCompliance, Until: until}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[2].DeleteVersion(ctx, cl, "sicher", "x", objapi.DeleteOptions{VersionID: oi.VersionID}); !objapi.IsKind(err, objapi.KindAccessDenied) {
		t.Fatalf("deleting a COMPLIANCE version: %v", err)
	}
	if err := c.nodes[2].PutObjectRetention(ctx, cl, "sicher", "x", oi.VersionID, objapi.Retention{Mode: objapi.LockCompliance, Until: until.Add(-time.Hour)}, false); !objapi.IsKind(err, objapi.KindAccessDenied) {
		t.Fatalf("shortening COMPLIANCE: %v", err)
	}
	if d, err := c.nodes[0].DeleteVersion(ctx, cl, "sicher", "x", objapi.DeleteOptions{}); err != nil || !d.DeleteMarker {
		t.Fatalf("a DELETE without version id: %+v %v", d, err)
	}
	if _, err := c.nodes[0].DeleteTenant(ctx, "gemeinde-l"); !objapi.IsKind(err, objapi.KindAccessDenied) {
		t.Fatalf("deleting the tenant: %v", err)
	}
	if got, _ := get(t, c.nodes[2], cl, "sicher", "x", node.GetOptions{VersionID: oi.VersionID}); !bytes.Equal(got, body) {
		t.Fatal("the locked version differs")
	}
	r, err := c.nodes[1].GetObjectRetention(ctx, cl, "sicher", "x", oi.VersionID)
	if err != nil || r.Mode != objapi.LockCompliance || !r.Until.Equal(until.UTC().Truncate(0)) && r.Until.Sub(until).Abs() > time.Microsecond {
		t.Fatalf("retention %+v %v", r, err)
	}
	// GOVERNANCE by default retention: refused without bypass, and with a
	// bypass the key is not allowed.
	if err := c.nodes[0].PutObjectLockConfiguration(ctx, cl, "sicher", objapi.ObjectLockConfig{Enabled: true, Mode: objapi.LockGovernance, Days: 1}); err != nil {
		t.Fatal(err)
	}
	gi, err := c.nodes[1].PutObject(ctx, cl, "sicher", "g", bytes.NewReader(body), node.PutOptions{Size: -1, ContentMD5: sum[:]})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.nodes[1].GetObjectRetention(ctx, cl, "sicher", "g", gi.VersionID); err != nil || r.Mode != objapi.LockGovernance {
		t.Fatalf("default retention: %+v %v", r, err)
	}
	if _, err := c.nodes[2].DeleteVersion(ctx, cl, "sicher", "g", objapi.DeleteOptions{VersionID: gi.VersionID}); !objapi.IsKind(err, objapi.KindAccessDenied) {
		t.Fatalf("deleting a GOVERNANCE version: %v", err)
	}
	if _, err := c.nodes[2].DeleteVersion(ctx, cl, "sicher", "g", objapi.DeleteOptions{VersionID: gi.VersionID, BypassGovernance: true}); !objapi.IsKind(err, objapi.KindAccessDenied) {
		t.Fatalf("a bypass by a key not allowed it: %v", err)
	}
	// Legal hold.
	if err := c.nodes[0].PutObjectLegalHold(ctx, cl, "sicher", "g", gi.VersionID, true); err != nil {
		t.Fatal(err)
	}
	if on, err := c.nodes[1].GetObjectLegalHold(ctx, cl, "sicher", "g", gi.VersionID); err != nil || !on {
		t.Fatalf("legal hold %v %v", on, err)
	}
	// Parts of an object the default retention will lock need an
	// integrity header too.
	up, err := c.nodes[0].CreateMultipartUpload(ctx, cl, "sicher", "mp", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[1].UploadPart(ctx, cl, "sicher", "mp", up, 1, bytes.NewReader(body), node.PartOptions{Size: -1}); !objapi.IsKind(err, objapi.KindInvalidRequest) {
		t.Fatalf("a part without Content-MD5: %v", err)
	}
	// A request that announces no checksum is refused before its body is
	// read: not a byte of it is taken.
	unread := bytes.NewReader(body)
	if _, err := c.nodes[1].UploadPart(ctx, cl, "sicher", "mp", up, 1, unread, node.PartOptions{Size: -1, NoChecksum: true}); !objapi.IsKind(err, objapi.KindInvalidRequest) {
		t.Fatalf("a part announcing no checksum: %v", err)
	}
	if unread.Len() != len(body) {
		t.Errorf("%d bytes of a refused part were read", len(body)-unread.Len())
	}
	if _, err := c.nodes[1].UploadPart(ctx, cl, "sicher", "mp", up, 1, bytes.NewReader(body), node.PartOptions{Size: -1, ContentMD5: sum[:]}); err != nil {
		t.Fatalf("a part with Content-MD5: %v", err)
	}
}

func asError(err error, target **objapi.Error) bool {
	e, ok := err.(*objapi.Error)
	if ok {
		*target = e
	}
	return ok
}

// A node whose clock is set an hour ahead of the others' commits nothing:
// one command stamped by it would move the metadata's clock, which never
// goes back, an hour on and end retention periods early. The others go on
// serving, and it still answers reads.
func TestClockAheadOfTheClusterCommitsNothing(t *testing.T) {
	var behind atomic.Int64 // how far n0 and n1 tell their clocks behind the real one
	c := startNodes(t, 3, func(cfg *node.Config) {
		if cfg.ID != "n2" {
			cfg.ReportedClock = func() time.Time { return time.Now().Add(-time.Duration(behind.Load())) }
		}
	})
	ctx := context.Background()
	info, err := c.nodes[0].CreateTenant(ctx, "gemeinde-z", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cl := node.Caller{Tenant: "gemeinde-z", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, cl, "akten"); err != nil {
		t.Fatal(err)
	}
	put := func(n int, key string) error {
		_, err := c.nodes[n].PutObject(ctx, cl, "akten", key, strings.NewReader("x"), node.PutOptions{Size: 1})
		return err
	}
	if err := put(2, "vorher"); err != nil {
		t.Fatal(err)
	}
	// From n2's point of view its clock is now an hour ahead of both
	// others'; from theirs, one peer of two is odd.
	behind.Store(int64(time.Hour))
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := put(2, "nachher")
		if objapi.IsKind(err, objapi.KindUnavailable) && strings.Contains(err.Error(), "clock") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n2, an hour ahead, still commits: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range []int{0, 1} {
		if err := put(n, fmt.Sprint("von-n", n)); err != nil {
			t.Fatalf("n%d refused: %v", n, err)
		}
	}
	var got bytes.Buffer
	if o, err := c.nodes[2].GetObject(ctx, cl, "akten", "von-n0", node.GetOptions{}); err != nil || o.Send(ctx, &got) != nil || got.String() != "x" {
		t.Fatalf("n2 does not answer a read: %v %q", err, got.String())
	}
	// The cluster's status, asked of n2, shows the others an hour behind.
	st, err := c.nodes[2].ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Sites {
		for _, ns := range s.Nodes {
			want := -time.Hour
			if ns.ID == "n2" {
				want = 0
			}
			if got := time.Duration(ns.ClockOffsetMS) * time.Millisecond; got < want-5*time.Second || got > want+5*time.Second {
				t.Errorf("status: %s's clock offset %v, want about %v", ns.ID, got, want)
			}
		}
	}
	// Its time fixed, it commits again.
	behind.Store(0)
	deadline = time.Now().Add(15 * time.Second)
	for err := put(2, "danach"); err != nil; err = put(2, "danach") {
		if time.Now().After(deadline) {
			t.Fatalf("n2 still refuses after its clock was fixed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
