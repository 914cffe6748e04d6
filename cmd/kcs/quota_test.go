package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kommunal-cloud/kcs/node"
)

// kcsAdmin runs `kcs admin ARGS` against node s and returns its output.
func kcsAdmin(t *testing.T, c *cluster, s *server, args ...string) string {
	t.Helper()
	cmd := exec.Command(kcsBin, append([]string{"admin", "--endpoint", "http://" + s.s3()}, args...)...)
	cmd.Env = append(cleanEnv(), "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output() // warnings go to stderr, apart from --json
	if err != nil {
		t.Fatalf("kcs admin %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// shardFiles counts the files on every server's data drives.
func shardFiles(t *testing.T, c *cluster) int {
	t.Helper()
	n := 0
	for _, s := range c.servers {
		for _, d := range s.drives {
			filepath.WalkDir(d, func(_ string, e fs.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					n++
				}
				return nil
			})
		}
	}
	return n
}

// expectedUsage is what the test wrote and deleted, bucket by bucket.
type expectedUsage map[string]map[string]int64 // bucket → key → size

func (e expectedUsage) put(bucket, key string, size int64) {
	if e[bucket] == nil {
		e[bucket] = map[string]int64{}
	}
	e[bucket][key] = size
}

// check compares `kcs admin tenant usage NAME --json`, through node s,
// with what was written and deleted.
func (e expectedUsage) check(t *testing.T, c *cluster, s *server, tenant, when string) {
	t.Helper()
	var rep struct {
		Tenant string           `json:"tenant"`
		Stored node.TenantUsage `json:"stored"`
	}
	out := kcsAdmin(t, c, s, "tenant", "usage", tenant, "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%s: usage --json: %v\n%s", when, err, out)
	}
	u := rep.Stored
	var objects, bytes int64
	for _, keys := range e {
		for _, size := range keys {
			objects++
			bytes += size
		}
	}
	if u.Tenant != tenant || u.Objects != objects || u.Bytes != bytes || u.UsageReport.Buckets != int64(len(e)) ||
		u.Uploads != 0 || u.UploadParts != 0 || u.UploadBytes != 0 || u.PhysicalBytes < bytes || len(u.Buckets) != len(e) {
		t.Fatalf("%s: usage of %s through %s: %d objects, %d bytes, %d physical, %d buckets, %d uploads (%d parts, %d bytes); want %d objects, %d bytes, %d buckets\n%s",
			when, tenant, s.id, u.Objects, u.Bytes, u.PhysicalBytes, u.UsageReport.Buckets, u.Uploads, u.UploadParts, u.UploadBytes, objects, bytes, len(e), out)
	}
	for _, b := range u.Buckets {
		var objects, bytes int64
		for _, size := range e[b.Bucket] {
			objects++
			bytes += size
		}
		if b.Objects != objects || b.Bytes != bytes {
			t.Fatalf("%s: bucket %s: %d objects, %d bytes; want %d, %d", when, b.Bucket, b.Objects, b.Bytes, objects, bytes)
		}
	}
}

// TestE2EQuotasAndUsage: quotas refuse what crosses them while another
// tenant writes on, raising them lets the tenant go on, a multipart
// upload is refused at the part that crosses the quota with nothing of
// that part stored; and the stored usage the admin command shows equals
// what was written and deleted, after a restart of every node, a leader
// change and a snapshot restore.
func TestE2EQuotasAndUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ctx := context.Background()
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	akA, skA := c.tenant("amt-a")
	akB, skB := c.tenant("amt-b")
	c.tenant("amt-c") // deleted later: its deletion snapshots the log away
	hc := &http.Client{Transport: c.transport()}
	a1 := goClient(n1.endpoint(), akA, skA, hc)
	a2 := goClient(n2.endpoint(), akA, skA, hc)
	b3 := goClient(n3.endpoint(), akB, skB, hc)

	// New tenants start with the cluster's default quota.
	u, err := c.admin(n2).TenantUsage(ctx, "amt-b")
	if err != nil || u.Quota == nil || u.Quota.Buckets != 100 || u.Quota.Bytes != 1<<40 {
		t.Fatalf("a new tenant's quota: %+v, %v", u, err)
	}

	// Tenant B writes all along; none of its requests may fail.
	if _, err := b3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("b-akten")}); err != nil {
		t.Fatal(err)
	}
	var bWrites, bFailures atomic.Int64
	var bErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Small enough to be kept in the metadata: B writes no shard
		// files, so that A's refused writes can be seen to write none.
		body := bytes.Repeat([]byte("b"), 8<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := b3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-akten"), Key: aws.String(fmt.Sprintf("k%d", i%20)), Body: bytes.NewReader(body)})
			if err != nil {
				bFailures.Add(1)
				bErr.Store(err.Error())
			}
			bWrites.Add(1)
		}
	}()

	kcsAdmin(t, c, n1, "tenant", "quota", "set", "amt-a", "--buckets", "2", "--bytes", "1MiB", "--objects", "5")
	if out := kcsAdmin(t, c, n2, "tenant", "quota", "get", "amt-a"); !strings.Contains(out, "buckets=2") || !strings.Contains(out, "bytes=1MiB") {
		t.Fatalf("quota get: %s", out)
	}
	want := expectedUsage{}
	for _, b := range []string{"a-akten", "a-archiv"} {
		if _, err := a1.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		want[b] = map[string]int64{}
	}
	_, err = a2.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("a-third")})
	if apiCode(err) != "TooManyBuckets" || !statusIs(err, http.StatusBadRequest) {
		t.Fatalf("a third bucket beyond the quota of 2: %v", err)
	}
	put := func(cl *s3.Client, bucket, key string, size int) error {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(bytes.Repeat([]byte{'a'}, size))})
		if err == nil {
			want.put(bucket, key, int64(size))
		}
		return err
	}
	mustPut := func(cl *s3.Client, bucket, key string, size int) {
		t.Helper()
		if err := put(cl, bucket, key, size); err != nil {
			t.Fatalf("put %s/%s: %v", bucket, key, err)
		}
	}
	refused := func(err error, what string) {
		t.Helper()
		if apiCode(err) != "QuotaExceeded" || !statusIs(err, http.StatusForbidden) {
			t.Fatalf("%s: %v, want 403 QuotaExceeded", what, err)
		}
	}
	// Bytes: three objects of 300 KiB fit 1 MiB, a fourth does not.
	mustPut(a1, "a-akten", "k1", 300<<10)
	mustPut(a2, "a-akten", "k2", 300<<10)
	mustPut(a1, "a-archiv", "k3", 300<<10)
	before := shardFiles(t, c)
	refused(put(a2, "a-akten", "k4", 300<<10), "a PUT beyond the byte quota")
	// Objects: two small ones make five, a sixth is refused.
	mustPut(a1, "a-akten", "s1", 1<<10)
	mustPut(a2, "a-archiv", "s2", 1<<10)
	refused(put(a1, "a-akten", "s3", 1<<10), "a PUT beyond the object quota")
	if got := shardFiles(t, c); got != before {
		t.Fatalf("refused PUTs left shard files: %d before, %d after", before, got)
	}
	want.check(t, c, n3, "amt-a", "at the quota")
	// Prometheus sees the same, per tenant (n2 applied what n3 read: the
	// check above was linearizable, and every write was acknowledged).
	m := scrape(t, n2)
	if m["kcs_tenant_objects"]["tenant=amt-a"] != 5 || m["kcs_tenant_buckets"]["tenant=amt-a"] != 2 ||
		m["kcs_tenant_stored_bytes"]["tenant=amt-a"] != float64(3*300<<10+2<<10) || m["kcs_tenant_physical_bytes"]["tenant=amt-a"] < float64(3*300<<10) ||
		m["kcs_tenant_quota"]["resource=buckets,tenant=amt-a"] != 2 || m["kcs_tenant_quota"]["resource=bytes,tenant=amt-a"] != 1<<20 ||
		m["kcs_tenant_quota"]["resource=buckets,tenant=amt-b"] != 100 {
		t.Errorf("tenant gauges: objects %v, buckets %v, stored %v, physical %v, quota %v",
			m["kcs_tenant_objects"], m["kcs_tenant_buckets"], m["kcs_tenant_stored_bytes"], m["kcs_tenant_physical_bytes"], m["kcs_tenant_quota"])
	}
	// Raised, the tenant goes on.
	kcsAdmin(t, c, n2, "tenant", "quota", "set", "amt-a", "--bytes", "1GiB", "--objects", "100")
	mustPut(a2, "a-akten", "k4", 300<<10)
	mustPut(a1, "a-akten", "s3", 1<<10)

	// A multipart upload that crosses the byte quota is refused at the
	// part that crosses it; the refused part stores nothing.
	var stored int64
	for _, keys := range want {
		for _, size := range keys {
			stored += size
		}
	}
	kcsAdmin(t, c, n3, "tenant", "quota", "set", "amt-a", "--bytes", fmt.Sprint(stored+12<<20))
	mp, err := a1.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("a-archiv"), Key: aws.String("video")})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte{'p'}, 5<<20)
	var done []types.CompletedPart
	for n := int32(1); n <= 2; n++ {
		up, err := a2.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("a-archiv"), Key: aws.String("video"), UploadId: mp.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(part)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: up.ETag})
	}
	before = shardFiles(t, c)
	_, err = a1.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("a-archiv"), Key: aws.String("video"), UploadId: mp.UploadId, PartNumber: aws.Int32(3), Body: bytes.NewReader(part)})
	refused(err, "the part that crosses the byte quota")
	if got := shardFiles(t, c); got != before {
		t.Fatalf("the refused part left shard files: %d before, %d after", before, got)
	}
	parts, err := a2.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("a-archiv"), Key: aws.String("video"), UploadId: mp.UploadId})
	if err != nil || len(parts.Parts) != 2 {
		t.Fatalf("parts after the refusal: %+v, %v", parts, err)
	}
	us, err := c.admin(n1).TenantUsage(ctx, "amt-a")
	if err != nil || us.Uploads != 1 || us.UploadParts != 2 || us.UploadBytes != 10<<20 {
		t.Fatalf("usage with the open upload: %+v, %v", us, err)
	}
	if _, err := a2.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("a-archiv"), Key: aws.String("video"), UploadId: mp.UploadId}); err != nil {
		t.Fatal(err)
	}
	_ = done

	// Deletes count.
	if _, err := a1.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("a-akten"), Key: aws.String("k2")}); err != nil {
		t.Fatal(err)
	}
	delete(want["a-akten"], "k2")
	if _, err := a2.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("a-akten"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("s1")}, {Key: aws.String("s3")}, {Key: aws.String("none")}}}}); err != nil {
		t.Fatal(err)
	}
	delete(want["a-akten"], "s1")
	delete(want["a-akten"], "s3")
	mustPut(a1, "a-archiv", "k3", 7<<10) // a smaller replacement, inline
	want.check(t, c, n1, "amt-a", "after deletes")

	close(stop)
	wg.Wait()
	if bWrites.Load() == 0 || bFailures.Load() > 0 {
		t.Fatalf("tenant B: %d writes, %d failed (%v)", bWrites.Load(), bFailures.Load(), bErr.Load())
	}
	t.Logf("tenant B wrote %d objects meanwhile, none refused", bWrites.Load())

	// After a restart of every node.
	c.stopAll()
	c.restartAll()
	want.check(t, c, n2, "amt-a", "after a restart of every node")

	// After a leader change.
	st, err := c.admin(n1).ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var leader, other *server
	for _, s := range c.servers {
		if s.id == st.Leader {
			leader = s
		} else {
			other = s
		}
	}
	if leader == nil {
		t.Fatalf("no leader in %+v", st)
	}
	c.stop(leader)
	mustPutRetry := func(cl *s3.Client, bucket, key string, size int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := put(cl, bucket, key, size)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("put %s/%s after the leader change: %v", bucket, key, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	ao := goClient(other.endpoint(), akA, skA, hc)
	mustPutRetry(ao, "a-akten", "after-leader-change", 20<<10)
	want.check(t, c, other, "amt-a", "after a leader change")
	c.restart(leader)
	c.waitReady(leader)

	// After a snapshot restore: n3 misses writes, deletes and a tenant's
	// deletion (which snapshots the log away on the others), and catches
	// up from a snapshot.
	logCount := func(s *server, line string) int {
		b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		return strings.Count(string(b), line)
	}
	const restoredLine, shreddedLine = "restored metadata from a snapshot", "deleted tenants' keys shredded on this node"
	restored := logCount(n3, restoredLine)
	shredded := []int{logCount(n1, shreddedLine), logCount(n2, shreddedLine)}
	c.stop(n3)
	a1 = goClient(n1.endpoint(), akA, skA, hc)
	mustPutRetry(a1, "a-archiv", "while-n3-was-away", 40<<10)
	if _, err := a1.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("a-akten"), Key: aws.String("k1")}); err != nil {
		t.Fatal(err)
	}
	delete(want["a-akten"], "k1")
	if _, err := c.admin(n1).DeleteTenant(ctx, "amt-c"); err != nil {
		t.Fatal(err)
	}
	// The shred's snapshot keeps no log entries: n3 can only catch up from
	// it. An entry after it makes sure n3 is behind the snapshot.
	for i, s := range []*server{n1, n2} {
		deadline := time.Now().Add(30 * time.Second)
		for logCount(s, shreddedLine) <= shredded[i] {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not shred the deleted tenant's keys:\n%s", s.id, c.logTail(s))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mustPutRetry(a1, "a-archiv", "after-the-snapshot", 1<<10)
	c.restart(n3)
	c.waitReady(n3)
	want.check(t, c, n3, "amt-a", "after a snapshot restore")
	if logCount(n3, restoredLine) <= restored {
		t.Fatalf("n3 caught up without restoring a snapshot; its log:\n%s", c.logTail(n3))
	}
	if _, err := c.admin(n3).TenantUsage(ctx, "amt-c"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("the deleted tenant's usage: %v", err)
	}
}
